//! The state file: what Roster manages, as JSON next to the roster file. A format version, a
//! lineage (fixed at creation), a serial (bumped by every write), and one record per object.
//! Written atomically (temp file, fsync, rename, fsync of the directory) after every completed
//! operation; an operation about to start is recorded as pending first, so a crash leaves a
//! record that the next plan resolves by reading the vendor. Sensitive attributes are never
//! written.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Where a record stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The object exists as recorded.
    Created,
    /// A create was started and not known to have finished.
    PendingCreate,
    /// A delete was started and not known to have finished.
    PendingDelete,
}

impl std::fmt::Display for Status {
    /// As the state file spells it: `created`, `pending_create`, `pending_delete`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::PendingCreate => "pending_create",
            Status::PendingDelete => "pending_delete",
        })
    }
}

/// One managed object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `TYPE.NAME` in the roster file.
    pub address: String,
    /// Resource type.
    pub type_name: String,
    /// Provider instance name.
    pub provider: String,
    /// The object's id at the vendor.
    pub id: String,
    /// Created or pending.
    pub status: Status,
    /// The attributes the user asked for (non-sensitive), to notice removals.
    #[serde(default)]
    pub desired: Map<String, Value>,
    /// The attributes as last known (non-sensitive).
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// When the record last changed (RFC 3339).
    pub updated_at: String,
    /// When Roster last read the object at the vendor, or learnt it from the vendor's answer to a
    /// create (RFC 3339); `roster plan --refresh-stale AGE` reads only records older than that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
}

/// The whole state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Identifies this state's history; plans made from another lineage are refused.
    pub lineage: String,
    /// Bumped by every write.
    pub serial: u64,
    /// Records, sorted by address, then id. An object is identified by (provider, type, id);
    /// the address is its label in the roster file.
    pub resources: Vec<Record>,
}

impl State {
    /// An empty state with a new lineage.
    pub fn new() -> State {
        State { format_version: FORMAT_VERSION, lineage: new_lineage(), serial: 0, resources: Vec::new() }
    }

    /// The record at `address` (the first, if a transient rename left two).
    pub fn get(&self, address: &str) -> Option<&Record> {
        self.resources.iter().find(|r| r.address == address)
    }

    /// The index of the record for the object `is_it` picks (identity is the id, not the address).
    pub fn position(&self, is_it: impl Fn(&Record) -> bool) -> Option<usize> {
        self.resources.iter().position(is_it)
    }

    /// Puts `record` in place of the record `is_it` picks, or adds it; records stay sorted by
    /// address, then id.
    pub fn put_object(&mut self, record: Record, is_it: impl Fn(&Record) -> bool) {
        if let Some(i) = self.position(is_it) {
            self.resources.remove(i);
        }
        let at = self.resources.partition_point(|r| (r.address.as_str(), r.id.as_str()) < (record.address.as_str(), record.id.as_str()));
        self.resources.insert(at, record);
    }

    /// Removes the record `is_it` picks; true if there was one.
    pub fn remove_object(&mut self, is_it: impl Fn(&Record) -> bool) -> bool {
        match self.position(is_it) {
            Some(i) => {
                self.resources.remove(i);
                true
            }
            None => false,
        }
    }

    /// Removes the record at `address`; true if there was one.
    pub fn remove(&mut self, address: &str) -> bool {
        self.remove_object(|r| r.address == address)
    }

    /// Puts `record` in place of the one at its address (for tests and `roster import`-style
    /// callers that know the address is free).
    pub fn put(&mut self, record: Record) {
        let address = record.address.clone();
        self.put_object(record, |r| r.address == address)
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// Now, as RFC 3339.
pub fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn new_lineage() -> String {
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = (t ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    let h = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Where the state lives: a file ([`StateFile`]), or anything else that can load and atomically
/// replace it (a test's store that can be "killed").
pub trait StateStore: Send + Sync {
    /// Reads it; none yet is an empty state with a new lineage.
    fn load(&self) -> Result<State>;
    /// Replaces it with `text` (see [`render`]) atomically: after a crash, the old or the new.
    fn write_text(&self, text: &str) -> Result<()>;
    /// Whether any state was written yet.
    fn exists(&self) -> bool;

    /// Writes `state` with its serial bumped.
    fn save(&self, state: &mut State) -> Result<()> {
        state.serial += 1;
        self.write_text(&render(state)?)
    }
}

impl StateStore for StateFile {
    fn load(&self) -> Result<State> {
        StateFile::load(self)
    }
    fn write_text(&self, text: &str) -> Result<()> {
        StateFile::write_text(self, text)
    }
    fn exists(&self) -> bool {
        self.path.exists()
    }
}

/// The state file on disk.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state at `path`.
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads it; a missing file is an empty state with a new lineage.
    pub fn load(&self) -> Result<State> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new()),
            Err(e) => return Err(e).with_context(|| format!("reading state {}", self.path.display())),
        };
        parse(&text, &self.path.display().to_string())
    }

    /// Writes `state` with its serial bumped: temp file, fsync, rename, fsync of the directory.
    pub fn save(&self, state: &mut State) -> Result<()> {
        state.serial += 1;
        self.write_text(&render(state)?)
    }

    /// Writes an already rendered state (see [`render`]) atomically.
    pub fn write_text(&self, text: &str) -> Result<()> {
        write_atomically(&self.path, text.as_bytes()).with_context(|| format!("writing state {}", self.path.display()))
    }
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old or the new: a temp
/// file beside it, fsync, rename, fsync of the directory. (Callers say what the file is.)
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write()
}

/// Parses a state file's text (`origin` names it in errors); one of another format version is
/// refused, naming both.
pub fn parse(text: &str, origin: &str) -> Result<State> {
    let mut state: State = serde_json::from_str(text).with_context(|| format!("state {origin} is not valid"))?;
    state.resources.sort_by(|a, b| (a.address.as_str(), a.id.as_str()).cmp(&(b.address.as_str(), b.id.as_str())));
    if state.format_version != FORMAT_VERSION {
        bail!("state {origin} has format version {}; this roster reads version {FORMAT_VERSION}", state.format_version);
    }
    Ok(state)
}

/// The state file's text.
pub fn render(state: &State) -> Result<String> {
    Ok(serde_json::to_string_pretty(state)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_serial() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        let mut s = file.load().unwrap();
        assert_eq!(s.serial, 0);
        s.put(Record {
            address: "b.x".into(),
            type_name: "b".into(),
            provider: "p".into(),
            id: "1".into(),
            status: Status::PendingCreate,
            desired: Map::new(),
            attributes: Map::new(),
            updated_at: now(),
            read_at: None,
        });
        file.save(&mut s).unwrap();
        file.save(&mut s).unwrap();
        let back = file.load().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.serial, 2);
        assert_eq!(back.lineage.len(), 36);
        std::fs::write(file.path(), "{}").unwrap();
        assert!(file.load().is_err(), "a damaged state is an error, never an empty state");
    }
}
