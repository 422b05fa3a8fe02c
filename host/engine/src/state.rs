//! The state file: what Roster manages, as JSON next to the roster file. A format version, a
//! lineage (fixed at creation), a serial (bumped by every commit), and one record per object.
//! Every completed operation is committed before the next step — an operation about to start is
//! recorded as pending first, so a crash leaves a record that the next plan resolves by reading
//! the vendor — as one line appended to the journal beside the file (see [`crate::journal`]);
//! the file itself is rewritten atomically (temp file, fsync, rename, fsync of the directory)
//! when the journal is folded in. Sensitive attributes are never written.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The format this build writes and reads.
const FORMAT_VERSION: u32 = 1;

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
    format_version: u32,
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
        State {
            format_version: FORMAT_VERSION,
            lineage: new_lineage(),
            serial: 0,
            resources: Vec::new(),
        }
    }

    /// The record at `address` (the first, if a transient rename left two).
    pub fn get(&self, address: &str) -> Option<&Record> {
        self.resources.iter().find(|r| r.address == address)
    }

    /// The index of the record for the object `is_it` picks (identity is the id, not the address).
    pub(crate) fn position(&self, is_it: impl Fn(&Record) -> bool) -> Option<usize> {
        self.resources.iter().position(is_it)
    }

    /// Puts `record` in place of the record `is_it` picks, or adds it; records stay sorted by
    /// address, then id.
    pub(crate) fn put_object(&mut self, record: Record, is_it: impl Fn(&Record) -> bool) {
        let before = |r: &Record| {
            (r.address.as_str(), r.id.as_str()) < (record.address.as_str(), record.id.as_str())
        };
        if let Some(i) = self.position(is_it) {
            // Same address and id (as from pending to created): in place, where removing and
            // inserting would put it, without shifting every record after it.
            let r = &self.resources[i];
            if r.address == record.address
                && r.id == record.id
                && (i == 0 || before(&self.resources[i - 1]))
            {
                self.resources[i] = record;
                return;
            }
            self.resources.remove(i);
        }
        let at = self.resources.partition_point(before);
        self.resources.insert(at, record);
    }

    /// Removes the record `is_it` picks; true if there was one.
    pub(crate) fn remove_object(&mut self, is_it: impl Fn(&Record) -> bool) -> bool {
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
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn new_lineage() -> String {
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = (t ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// One commit: the changes that take the state of `lineage` to `serial`.
#[derive(Clone, Debug)]
pub struct Commit {
    /// The state's lineage.
    pub lineage: String,
    /// The serial the commit takes the state to.
    pub serial: u64,
    /// What changed.
    pub changes: Vec<Change>,
    /// The whole state after it, rendered (see [`render`]), when [`crate::store::StateStore::wants_whole`] said so.
    pub whole: Option<String>,
}

impl Commit {
    /// The commit that takes the state to `state` (its serial already set), carrying the whole
    /// state rendered when `whole` (the store's [`crate::store::StateStore::wants_whole`]); the
    /// `changes` are taken only once rendering has succeeded, so a failure loses none of them.
    pub fn after(
        state: &State,
        whole: bool,
        changes: impl FnOnce() -> Vec<Change>,
    ) -> Result<Commit> {
        let whole = if whole { Some(render(state)?) } else { None };
        Ok(Commit {
            lineage: state.lineage.clone(),
            serial: state.serial,
            changes: changes(),
            whole,
        })
    }
}

/// The identity of an object's record: provider, type and id, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Provider instance name.
    pub(crate) provider: String,
    /// Resource type.
    pub(crate) type_name: String,
    /// The id, exactly as recorded.
    pub(crate) id: String,
}

impl Identity {
    /// The identity of `record`.
    pub fn of(record: &Record) -> Identity {
        Identity {
            provider: record.provider.clone(),
            type_name: record.type_name.clone(),
            id: record.id.clone(),
        }
    }

    /// Whether `r` is the record of this identity.
    pub fn is(&self, r: &Record) -> bool {
        r.provider == self.provider && r.type_name == self.type_name && r.id == self.id
    }
}

/// One object's record changed: `was` (the record it replaces, if any) is removed, `now` (if any)
/// put in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The identity of the record replaced or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<Identity>,
    /// The record as it is now; none when removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<Record>,
}

impl State {
    /// Applies `change` (as `State::put_object` and `State::remove_object` do).
    pub fn apply_change(&mut self, change: &Change) {
        match (&change.was, &change.now) {
            (Some(was), Some(now)) => self.put_object(now.clone(), |r| was.is(r)),
            (None, Some(now)) => {
                let same = Identity::of(now);
                self.put_object(now.clone(), |r| same.is(r))
            }
            (Some(was), None) => {
                self.remove_object(|r| was.is(r));
            }
            (None, None) => {}
        }
    }
}

/// Parses a state file's text (`origin` names it in errors); one of another format version is
/// refused, naming both.
pub fn parse(text: &str, origin: &str) -> Result<State> {
    let mut state: State =
        serde_json::from_str(text).with_context(|| format!("state {origin} is not valid"))?;
    state.resources.sort_by(|a, b| {
        (a.address.as_str(), a.id.as_str()).cmp(&(b.address.as_str(), b.id.as_str()))
    });
    if state.format_version != FORMAT_VERSION {
        bail!(
            "state {origin} has format version {}; this roster reads version {FORMAT_VERSION}",
            state.format_version
        );
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
    use proptest::prelude::*;

    fn record(address: u8, id: u8, status: u8) -> Record {
        Record {
            address: format!("t.{}", address % 4),
            type_name: "t".into(),
            provider: "p".into(),
            id: format!("{}", id % 4),
            status: [
                Status::Created,
                Status::PendingCreate,
                Status::PendingDelete,
            ][status as usize % 3],
            desired: Map::new(),
            attributes: Map::new(),
            updated_at: String::new(),
            read_at: None,
        }
    }

    proptest! {
        /// Putting a record in place gives exactly what removing and inserting it gives.
        #[test]
        fn put_object_in_place_is_remove_then_insert(puts in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..40)) {
            let mut fast = State::new();
            let mut slow = fast.clone();
            for (a, i, st) in puts {
                let r = record(a, i, st);
                let same = |x: &Record| x.id == r.id;
                fast.put_object(r.clone(), same);
                if let Some(at) = slow.resources.iter().position(same) {
                    slow.resources.remove(at);
                }
                let at = slow.resources.partition_point(|x| (x.address.as_str(), x.id.as_str()) < (r.address.as_str(), r.id.as_str()));
                slow.resources.insert(at, r);
                prop_assert_eq!(&fast.resources, &slow.resources);
            }
        }
    }
}
