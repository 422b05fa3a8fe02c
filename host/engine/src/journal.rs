//! The state journal: changes appended beside the state file, so that recording one operation
//! costs one short append (and one fsync) whatever the size of the state.
//!
//! The state is two files: the *snapshot* (`roster.state.json`, the JSON document `roster state
//! show` and every reader knows) and the *journal* beside it (`roster.state.json.journal`), one
//! line per commit, each the changes since the commit before:
//!
//! ```text
//! {"lineage":"…","serial":8,"changes":[{"was":{…},"now":{…record…}}]}<TAB>0f1e2d3c4b5a6978<LF>
//! ```
//!
//! The tail is the first 16 hex digits of the SHA-256 of the JSON before it. Reading is
//! [`replay`]: the snapshot, then each line whose serial follows the state's (lines the snapshot
//! already holds are skipped). *Compaction* writes the snapshot anew (atomically) and then removes
//! the journal; apply compacts when it ends, and a journal grown past its bound is compacted as
//! soon as it is written, so after a command the snapshot alone is the whole state.
//!
//! What a crash can leave, and what reading makes of it:
//! - a torn last line (an append cut short): it was never acknowledged, so nothing acted on it;
//!   it is dropped with a warning and cut off before the next append;
//! - a snapshot renamed into place but the journal not yet removed: its lines are at or below the
//!   snapshot's serial and are skipped;
//! - anything else — a damaged line followed by good ones, a line of another lineage, a gap in
//!   the serials — is not a crash's work, and reading refuses with the reason rather than guess.

use crate::state::{Change, State};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// One journal line's JSON.
#[derive(Serialize, Deserialize)]
struct Line {
    lineage: String,
    serial: u64,
    changes: Vec<Change>,
}

/// The journal line recording `changes`, which take the state of `lineage` to `serial`.
pub fn encode(lineage: &str, serial: u64, changes: &[Change]) -> Result<String> {
    #[derive(Serialize)]
    struct LineRef<'a> {
        lineage: &'a str,
        serial: u64,
        changes: &'a [Change],
    }
    let json = serde_json::to_string(&LineRef {
        lineage,
        serial,
        changes,
    })?;
    let sum = checksum(json.as_bytes());
    Ok(format!("{json}\t{sum}\n"))
}

fn checksum(bytes: &[u8]) -> String {
    hex::encode(&sha2::Sha256::digest(bytes)[..8])
}

/// What [`replay`] made of a journal.
#[derive(Debug)]
pub struct Replayed {
    /// The state: the snapshot with every following line applied.
    pub state: State,
    /// How many bytes of the journal are good lines (an append goes after them).
    pub good_len: usize,
    /// How many lines were applied (lines the snapshot held already are not counted).
    pub applied: usize,
    /// A torn last line, dropped: what it looked like, for the warning.
    pub torn: Option<String>,
}

/// The state `snapshot` with `journal` replayed onto it (`origin` names the journal in errors).
pub fn replay(mut snapshot: State, journal: &[u8], origin: &str) -> Result<Replayed> {
    let mut good_len = 0;
    let mut applied = 0;
    let mut rest = journal;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let complete = after.len() < rest.len() - line.len();
        let parsed = complete.then(|| read_line(line)).flatten();
        let Some(parsed) = parsed else {
            if after.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
                // The last line, unfinished or unreadable: an append a crash cut short.
                let shown: String = String::from_utf8_lossy(&line[..line.len().min(80)])
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect();
                return Ok(Replayed {
                    state: snapshot,
                    good_len,
                    applied,
                    torn: Some(format!("line {number} ({} bytes: {shown}…)", line.len())),
                });
            }
            bail!("state journal {origin} is damaged at line {number} (good lines follow it, so no crash left it so); keep a copy and restore the state from a backup, or remove the journal to go back to the state file alone");
        };
        if parsed.lineage != snapshot.lineage {
            bail!(
                "state journal {origin} line {number} belongs to state lineage {}, but the state file is lineage {}; the journal is not this state's (move it aside if the state file was replaced on purpose)",
                parsed.lineage,
                snapshot.lineage
            );
        }
        if parsed.serial > snapshot.serial + 1 {
            bail!("state journal {origin} line {number} is serial {}, but the state is at serial {}: a commit in between is missing; restore the state from a backup", parsed.serial, snapshot.serial);
        }
        if parsed.serial == snapshot.serial + 1 {
            for change in &parsed.changes {
                snapshot.apply_change(change);
            }
            snapshot.serial = parsed.serial;
            applied += 1;
        }
        good_len = journal.len() - after.len();
        rest = after;
    }
    Ok(Replayed {
        state: snapshot,
        good_len,
        applied,
        torn: None,
    })
}

/// A line's JSON, if its checksum holds and it parses.
fn read_line(line: &[u8]) -> Option<Line> {
    let tab = line.iter().rposition(|&b| b == b'\t')?;
    let (json, sum) = (&line[..tab], &line[tab + 1..]);
    if sum != checksum(json).as_bytes() {
        return None;
    }
    serde_json::from_slice(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Identity, Record, Status};
    use serde_json::Map;

    fn record(address: &str, id: &str, status: Status) -> Record {
        Record {
            address: address.into(),
            type_name: "t".into(),
            provider: "p".into(),
            id: id.into(),
            status,
            desired: Map::new(),
            attributes: Map::new(),
            updated_at: "2026-12-04T00:00:00Z".into(),
            read_at: None,
        }
    }

    fn put(r: Record) -> Change {
        Change {
            was: None,
            now: Some(r),
        }
    }

    fn journal(state: &State, lines: &[(u64, Vec<Change>)]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|(serial, changes)| {
                encode(&state.lineage, *serial, changes)
                    .unwrap()
                    .into_bytes()
            })
            .collect()
    }

    #[test]
    fn lines_after_the_snapshot_are_applied_in_order() {
        let base = State::new();
        let pending = record("t.a", "1", Status::PendingCreate);
        let created = record("t.a", "1", Status::Created);
        let moved = record("t.b", "1", Status::Created);
        let bytes = journal(
            &base,
            &[
                (1, vec![put(pending)]),
                (
                    2,
                    vec![Change {
                        was: Some(Identity::of(&created)),
                        now: Some(created.clone()),
                    }],
                ),
                (
                    3,
                    vec![Change {
                        was: Some(Identity::of(&moved)),
                        now: Some(moved.clone()),
                    }],
                ),
            ],
        );
        let r = replay(base.clone(), &bytes, "j").unwrap();
        assert_eq!(
            (r.applied, r.good_len, r.torn.is_none()),
            (3, bytes.len(), true)
        );
        assert_eq!(
            (r.state.serial, r.state.resources.clone()),
            (3, vec![moved.clone()])
        );
        // A snapshot written at serial 2 but a journal not yet removed: only line 3 applies.
        let mut at2 = base.clone();
        at2.serial = 2;
        at2.resources = vec![created];
        let r = replay(at2, &bytes, "j").unwrap();
        assert_eq!(
            (r.applied, r.state.serial, r.state.resources.clone()),
            (1, 3, vec![moved])
        );
        let gone = journal(
            &base,
            &[
                (1, vec![put(record("t.a", "1", Status::Created))]),
                (
                    2,
                    vec![Change {
                        was: Some(Identity {
                            provider: "p".into(),
                            type_name: "t".into(),
                            id: "1".into(),
                        }),
                        now: None,
                    }],
                ),
            ],
        );
        assert!(replay(base, &gone, "j").unwrap().state.resources.is_empty());
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_said() {
        let base = State::new();
        let good = journal(
            &base,
            &[(1, vec![put(record("t.a", "1", Status::PendingCreate))])],
        );
        let next = journal(
            &base,
            &[(2, vec![put(record("t.b", "2", Status::PendingCreate))])],
        );
        for cut in [1, next.len() / 2, next.len() - 1] {
            let mut bytes = good.clone();
            bytes.extend_from_slice(&next[..cut]);
            let r = replay(base.clone(), &bytes, "j").unwrap();
            assert_eq!(
                (r.applied, r.good_len, r.state.resources.len()),
                (1, good.len(), 1),
                "cut at {cut}"
            );
            assert!(r.torn.unwrap().starts_with("line 2 ("));
        }
        // Zeros where a crash extended the file but not its data.
        let mut zeros = good.clone();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(replay(base, &zeros, "j").unwrap().good_len, good.len());
    }

    #[test]
    fn damage_another_lineage_or_a_gap_is_refused() {
        let base = State::new();
        let line = |serial| {
            journal(
                &base,
                &[(serial, vec![put(record("t.a", "1", Status::Created))])],
            )
        };
        let mut damaged = line(1);
        damaged[5] ^= 1;
        damaged.extend(line(2));
        assert!(replay(base.clone(), &damaged, "j")
            .unwrap_err()
            .to_string()
            .contains("damaged at line 1"));
        assert!(replay(base.clone(), &line(2), "j")
            .unwrap_err()
            .to_string()
            .contains("a commit in between is missing"));
        let other = State::new();
        assert!(replay(other, &line(1), "j")
            .unwrap_err()
            .to_string()
            .contains("belongs to state lineage"));
    }
}
