//! Where the state lives: a [`StateFile`] — the state file (the snapshot) and its journal — on
//! a [`Disk`]: the file system (`Files`), or a test's disk whose writes a simulated crash cuts
//! short. A commit appends one journal line ([`crate::journal`]); compaction rewrites the
//! snapshot atomically and removes the journal.

use crate::state::{parse, render, Commit, State};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the state lives: a [`StateFile`] on disk (or on a test's [`Disk`] that can be "killed").
pub trait StateStore: Send + Sync {
    /// Reads it; none yet is an empty state with a new lineage.
    fn load(&self) -> Result<State>;
    /// Whether any state was written yet.
    fn exists(&self) -> bool;
    /// Whether the next commit should carry the whole state (its first, or a compaction's).
    fn wants_whole(&self) -> bool;
    /// Makes a commit durable: on return it survives a crash.
    fn commit(&self, commit: &Commit) -> Result<()>;
    /// Writes `state` whole with its serial bumped (the journal folded in).
    fn save(&self, state: &mut State) -> Result<()>;
    /// Folds the journal into the snapshot, when it holds anything; `state` is the state now.
    fn compact(&self, state: &State) -> Result<()>;
    /// What reading found and dropped (a torn last journal line), said once.
    fn take_warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Which of the state's two files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The snapshot: the state file itself.
    Snapshot,
    /// The journal beside it.
    Journal,
}

/// Where a [`StateFile`] keeps its two files: the file system (`Files`), or a test's disk.
pub trait Disk: Send + Sync {
    /// The part's bytes; `None` when it does not exist.
    fn read(&self, part: Part) -> std::io::Result<Option<Vec<u8>>>;
    /// Replaces the part atomically and durably (after a crash: the old or the new).
    fn replace(&self, part: Part, bytes: &[u8]) -> std::io::Result<()>;
    /// Appends to the part (creating it), durably.
    fn append(&self, part: Part, bytes: &[u8]) -> std::io::Result<()>;
    /// Cuts the part to `len` bytes, durably.
    fn truncate(&self, part: Part, len: u64) -> std::io::Result<()>;
    /// Removes the part, durably; none is fine.
    fn remove(&self, part: Part) -> std::io::Result<()>;
    /// Whether the part exists.
    fn exists(&self, part: Part) -> bool;
    /// The part's name, for messages.
    fn name(&self, part: Part) -> String;
}

/// The state's files on the file system: the snapshot at a path, the journal beside it with
/// `.journal` added.
#[derive(Clone, Debug)]
struct Files {
    snapshot: PathBuf,
    journal: PathBuf,
}

impl Files {
    fn path(&self, part: Part) -> &Path {
        match part {
            Part::Snapshot => &self.snapshot,
            Part::Journal => &self.journal,
        }
    }
}

impl Disk for Files {
    fn read(&self, part: Part) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(part)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn replace(&self, part: Part, bytes: &[u8]) -> std::io::Result<()> {
        write_atomically(self.path(part), bytes)
    }
    fn append(&self, part: Part, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(part);
        let new = !path.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        if new {
            sync_dir(path)?;
        }
        Ok(())
    }
    fn truncate(&self, part: Part, len: u64) -> std::io::Result<()> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(self.path(part))?;
        f.set_len(len)?;
        f.sync_all()
    }
    fn remove(&self, part: Part) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(part)) {
            Ok(()) => sync_dir(self.path(part)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
    fn exists(&self, part: Part) -> bool {
        self.path(part).exists()
    }
    fn name(&self, part: Part) -> String {
        self.path(part).display().to_string()
    }
}

/// The journal grows to at least this before a commit compacts it.
const COMPACT_AT_LEAST: usize = 1 << 20;

/// The state on a [`Disk`]: a snapshot and a journal of commits since it (see
/// [`crate::journal`]). A commit appends one line; compaction rewrites the snapshot.
pub struct StateFile {
    disk: Box<dyn Disk>,
    path: PathBuf,
    /// The journal's good length as last read or written, when known.
    journal: std::sync::Mutex<Journal>,
    compact_at: usize,
}

#[derive(Default)]
struct Journal {
    /// Where the good lines end, when known (unknown after a failed append).
    good_len: Option<usize>,
    /// Whether bytes follow the good lines (a torn line read, to cut off before appending).
    torn_tail: bool,
    snapshot_len: usize,
    /// Warnings not yet taken, and every warning ever made (each is made once).
    warnings: Vec<String>,
    said: Vec<String>,
}

impl std::fmt::Debug for StateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFile")
            .field("path", &self.path)
            .finish()
    }
}

impl StateFile {
    /// The state at `path` (its journal at `path` + `.journal`).
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        let path: PathBuf = path.into();
        let mut journal = path.clone().into_os_string();
        journal.push(".journal");
        StateFile::on(
            Files {
                snapshot: path.clone(),
                journal: journal.into(),
            },
            path,
        )
    }

    /// The state on `disk` (`path` is what [`StateFile::path`] says).
    pub fn on(disk: impl Disk + 'static, path: impl Into<PathBuf>) -> StateFile {
        StateFile {
            disk: Box::new(disk),
            path: path.into(),
            journal: Default::default(),
            compact_at: COMPACT_AT_LEAST,
        }
    }

    /// Compacts once the journal is `bytes` long (and longer than the snapshot); 1 MiB by default.
    pub fn compact_at(mut self, bytes: usize) -> StateFile {
        self.compact_at = bytes;
        self
    }

    /// The snapshot's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads it: the snapshot, then the journal replayed; no snapshot is an empty state with a
    /// new lineage.
    pub fn load(&self) -> Result<State> {
        let name = self.disk.name(Part::Snapshot);
        let (snapshot, snapshot_len) = match self
            .disk
            .read(Part::Snapshot)
            .with_context(|| format!("reading state {name}"))?
        {
            None => (State::new(), 0),
            Some(bytes) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| anyhow::anyhow!("state {name} is not valid: not UTF-8"))?;
                (parse(&text, &name)?, text.len())
            }
        };
        let journal_name = self.disk.name(Part::Journal);
        let bytes = self
            .disk
            .read(Part::Journal)
            .with_context(|| format!("reading state journal {journal_name}"))?
            .unwrap_or_default();
        if snapshot_len == 0 && !bytes.is_empty() {
            bail!("state journal {journal_name} exists but the state file {name} does not: the journal only records changes to that file; restore the state file, or move the journal aside to start an empty state");
        }
        let replayed = crate::journal::replay(snapshot, &bytes, &journal_name)?;
        let mut j = self.journal.lock().unwrap();
        j.good_len = Some(replayed.good_len);
        j.torn_tail = bytes.len() > replayed.good_len;
        j.snapshot_len = snapshot_len;
        if let Some(torn) = replayed.torn {
            // Said once however often it is read before the next append cuts it off.
            let warning = format!("the state journal {journal_name} ended in an unfinished record, {torn}: a write cut short by a crash, never acted on; it is dropped");
            if !j.said.contains(&warning) {
                j.said.push(warning.clone());
                j.warnings.push(warning);
            }
        }
        Ok(replayed.state)
    }

    /// Writes `state` whole with its serial bumped: the snapshot replaced (temp file, fsync,
    /// rename, fsync of the directory), then the journal removed.
    fn save(&self, state: &mut State) -> Result<()> {
        state.serial += 1;
        self.write_snapshot(&render(state)?)
    }

    fn write_snapshot(&self, text: &str) -> Result<()> {
        self.disk
            .replace(Part::Snapshot, text.as_bytes())
            .with_context(|| format!("writing state {}", self.disk.name(Part::Snapshot)))?;
        self.disk.remove(Part::Journal).with_context(|| {
            format!(
                "removing state journal {} (the state file holds all it held)",
                self.disk.name(Part::Journal)
            )
        })?;
        let mut j = self.journal.lock().unwrap();
        j.good_len = Some(0);
        j.torn_tail = false;
        j.snapshot_len = text.len();
        Ok(())
    }

    /// Appends one commit's line, first cutting off a torn tail.
    fn append(&self, commit: &Commit) -> Result<()> {
        let line = crate::journal::encode(&commit.lineage, commit.serial, &commit.changes)?;
        let name = self.disk.name(Part::Journal);
        if self.journal.lock().unwrap().good_len.is_none() {
            // Not read by this store yet, or an append failed half-way: find where the good lines end.
            self.load()?;
        }
        let (good_len, torn_tail) = {
            let j = self.journal.lock().unwrap();
            (j.good_len.unwrap_or(0), j.torn_tail)
        };
        if torn_tail {
            self.disk
                .truncate(Part::Journal, good_len as u64)
                .with_context(|| {
                    format!("cutting the unfinished record off state journal {name}")
                })?;
            self.journal.lock().unwrap().torn_tail = false;
        }
        if let Err(e) = self.disk.append(Part::Journal, line.as_bytes()) {
            self.journal.lock().unwrap().good_len = None;
            return Err(anyhow::Error::new(e).context(format!("appending to state journal {name}")));
        }
        self.journal.lock().unwrap().good_len = Some(good_len + line.len());
        Ok(())
    }
}

impl StateStore for StateFile {
    fn load(&self) -> Result<State> {
        StateFile::load(self)
    }
    fn exists(&self) -> bool {
        self.disk.exists(Part::Snapshot)
    }
    fn wants_whole(&self) -> bool {
        // The first write of a state is its snapshot (a journal needs one to follow); a journal
        // grown past its bound and past the snapshot is folded in.
        let j = self.journal.lock().unwrap();
        !self.disk.exists(Part::Snapshot)
            || j.good_len
                .is_some_and(|n| n >= self.compact_at && n > j.snapshot_len)
    }
    fn commit(&self, commit: &Commit) -> Result<()> {
        match &commit.whole {
            Some(text) => self.write_snapshot(text),
            None => self.append(commit),
        }
    }
    fn save(&self, state: &mut State) -> Result<()> {
        StateFile::save(self, state)
    }
    fn compact(&self, state: &State) -> Result<()> {
        if self.disk.exists(Part::Journal) {
            self.write_snapshot(&render(state)?)?;
        }
        Ok(())
    }
    fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.journal.lock().unwrap().warnings)
    }
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old or the new: a temp
/// file beside it, fsync, rename, fsync of the directory. (Callers say what the file is.)
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Fsyncs the directory holding `path` (so a file created, renamed or removed there stays so).
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{now, Record, Status};
    use serde_json::Map;

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
        assert!(
            file.load().is_err(),
            "a damaged state is an error, never an empty state"
        );
    }

    fn record(address: &str, id: &str, status: Status) -> Record {
        Record {
            address: address.into(),
            type_name: "b".into(),
            provider: "p".into(),
            id: id.into(),
            status,
            desired: Map::new(),
            attributes: Map::new(),
            updated_at: now(),
            read_at: None,
        }
    }

    /// Commits `change` to `state` through `file` as apply does: applied, serial bumped, committed.
    fn commit(file: &StateFile, state: &mut State, change: crate::state::Change) {
        state.apply_change(&change);
        state.serial += 1;
        let commit = Commit::after(state, file.wants_whole(), || vec![change]).unwrap();
        file.commit(&commit).unwrap();
    }

    fn put(r: Record) -> crate::state::Change {
        crate::state::Change {
            was: None,
            now: Some(r),
        }
    }

    #[test]
    fn commits_append_to_the_journal_and_compaction_folds_it_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let journal = dir.path().join("s.json.journal");
        let file = StateFile::new(&path);
        let mut state = file.load().unwrap();
        commit(
            &file,
            &mut state,
            put(record("b.a", "1", Status::PendingCreate)),
        );
        assert!(
            path.exists() && !journal.exists(),
            "a state's first commit is its snapshot"
        );
        let snapshot = std::fs::read(&path).unwrap();
        for (i, id) in ["1", "2", "3"].iter().enumerate() {
            commit(
                &file,
                &mut state,
                put(record(&format!("b.{id}"), id, Status::Created)),
            );
            assert_eq!(
                std::fs::read(&path).unwrap(),
                snapshot,
                "a commit leaves the state file alone"
            );
            assert_eq!(
                std::fs::read_to_string(&journal).unwrap().lines().count(),
                i + 1,
                "one line per commit"
            );
        }
        assert_eq!(
            StateFile::new(&path).load().unwrap(),
            state,
            "the journal replays to the state"
        );
        file.compact(&state).unwrap();
        assert!(!journal.exists());
        assert_eq!(
            parse(&std::fs::read_to_string(&path).unwrap(), "s").unwrap(),
            state,
            "after compaction the file alone is the state"
        );
        // A journal grown past its bound is folded in by the commit that grows it.
        let small = StateFile::new(&path).compact_at(1);
        let mut state = small.load().unwrap();
        let mut folded = 0;
        for i in 4..16 {
            let had = std::fs::metadata(&journal).map_or(0, |m| m.len());
            commit(
                &small,
                &mut state,
                put(record(&format!("b.{i}"), &i.to_string(), Status::Created)),
            );
            if had > 0 && !journal.exists() {
                folded += 1;
                assert!(
                    had > std::fs::metadata(&path).unwrap().len() / 2,
                    "folded only once the journal outgrew the snapshot"
                );
            }
            assert_eq!(StateFile::new(&path).load().unwrap(), state);
        }
        assert!(
            folded >= 1,
            "a journal past its bound and the snapshot's size is folded in"
        );
    }

    #[test]
    fn a_torn_last_record_is_dropped_with_a_warning_and_cut_off_before_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let file = StateFile::new(&path);
        let mut state = file.load().unwrap();
        commit(&file, &mut state, put(record("b.a", "1", Status::Created)));
        commit(
            &file,
            &mut state,
            put(record("b.b", "2", Status::PendingCreate)),
        );
        let kept = state.clone();
        // A crash in the middle of the next append.
        let line = crate::journal::encode(
            &state.lineage,
            state.serial + 1,
            &[put(record("b.c", "3", Status::PendingCreate))],
        )
        .unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("s.json.journal"))
            .unwrap();
        f.write_all(&line.as_bytes()[..line.len() / 2]).unwrap();
        let restarted = StateFile::new(&path);
        let mut state = restarted.load().unwrap();
        assert_eq!(state, kept, "the torn record is not data");
        let warnings = restarted.take_warnings();
        assert!(
            warnings.len() == 1 && warnings[0].contains("unfinished record, line 2"),
            "{warnings:?}"
        );
        restarted.load().unwrap();
        assert!(
            restarted.take_warnings().is_empty(),
            "said once, however often it is read"
        );
        commit(
            &restarted,
            &mut state,
            put(record("b.d", "4", Status::PendingCreate)),
        );
        let again = StateFile::new(&path);
        assert_eq!(again.load().unwrap(), state);
        assert!(
            again.take_warnings().is_empty(),
            "the torn bytes were cut off before the append"
        );
    }

    #[test]
    fn a_snapshot_written_before_its_journal_was_removed_reads_as_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let file = StateFile::new(&path);
        let mut state = file.load().unwrap();
        commit(&file, &mut state, put(record("b.a", "1", Status::Created)));
        commit(&file, &mut state, put(record("b.b", "2", Status::Created)));
        commit(&file, &mut state, put(record("b.c", "3", Status::Created)));
        // The crash lands between compaction's rename and its removal of the journal.
        write_atomically(&path, render(&state).unwrap().as_bytes()).unwrap();
        assert_eq!(StateFile::new(&path).load().unwrap(), state);
        // A journal without its state file is refused, not read as a new state.
        std::fs::remove_file(&path).unwrap();
        let e = StateFile::new(&path).load().unwrap_err().to_string();
        assert!(
            e.contains("exists but the state file") && e.contains("does not"),
            "{e}"
        );
    }
}
