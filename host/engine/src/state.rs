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
    /// Records, sorted by address.
    pub resources: Vec<Record>,
}

impl State {
    /// An empty state with a new lineage.
    pub fn new() -> State {
        State { format_version: FORMAT_VERSION, lineage: new_lineage(), serial: 0, resources: Vec::new() }
    }

    fn find(&self, address: &str) -> Result<usize, usize> {
        self.resources.binary_search_by(|r| r.address.as_str().cmp(address))
    }

    /// The record at `address`.
    pub fn get(&self, address: &str) -> Option<&Record> {
        self.find(address).ok().map(|i| &self.resources[i])
    }

    /// The record at `address`, to change.
    pub fn get_mut(&mut self, address: &str) -> Option<&mut Record> {
        self.find(address).ok().map(|i| &mut self.resources[i])
    }

    /// Inserts or replaces the record at its address (records stay sorted by address).
    pub fn put(&mut self, record: Record) {
        match self.find(&record.address) {
            Ok(i) => self.resources[i] = record,
            Err(i) => self.resources.insert(i, record),
        }
    }

    /// Removes the record at `address`; true if there was one.
    pub fn remove(&mut self, address: &str) -> bool {
        match self.find(address) {
            Ok(i) => {
                self.resources.remove(i);
                true
            }
            Err(_) => false,
        }
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
        let mut state: State = serde_json::from_str(&text).with_context(|| format!("state {} is not valid", self.path.display()))?;
        state.resources.sort_by(|a, b| a.address.cmp(&b.address));
        if state.format_version != FORMAT_VERSION {
            bail!("state {} has format version {}; this roster reads version {FORMAT_VERSION}", self.path.display(), state.format_version);
        }
        Ok(state)
    }

    /// Writes `state` with its serial bumped: temp file, fsync, rename, fsync of the directory.
    pub fn save(&self, state: &mut State) -> Result<()> {
        state.serial += 1;
        self.write_text(&render(state)?)
    }

    /// Writes an already rendered state (see [`render`]) atomically.
    pub fn write_text(&self, text: &str) -> Result<()> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = self.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "state".into());
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().with_context(|| format!("writing state {}", self.path.display()))
    }
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
