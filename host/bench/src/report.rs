//! The table a run fills, its targets, and writing both into docs/benchmarks.md.
//!
//! `--write FILE` replaces what lies between [`BEGIN`] and [`END`] in FILE with this run's
//! results: when, where and how it was measured, every row, and the targets with their verdicts.
//! Everything outside the markers (method, analysis) is the author's and is left as it is.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Marks the start of the generated results in a document.
pub const BEGIN: &str = "<!-- results:begin (written by roster-bench --write; edit outside) -->";
/// Marks their end.
pub const END: &str = "<!-- results:end -->";

/// One line of the table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    /// Figure number (1–8).
    pub fig: u8,
    /// What was measured.
    pub what: String,
    /// The figure.
    pub value: String,
    /// Ratio, baseline, or how it was measured.
    pub note: String,
}

/// A figure held against a goal. Nothing asserts it: the verdict is printed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Goal {
    /// Figure number.
    pub fig: u8,
    /// What is held to the goal.
    pub what: String,
    /// The goal, e.g. `≤ 1.02×`.
    pub goal: String,
    /// What this run measured, with its baseline.
    pub measured: String,
    /// Whether the measurement meets the goal.
    pub met: bool,
}

/// The table being filled.
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
    goals: Vec<Goal>,
}

impl Table {
    /// Adds a row (and echoes it to stderr, so a long run shows progress).
    pub fn add(
        &mut self,
        fig: u8,
        what: impl Into<String>,
        value: impl Into<String>,
        note: impl Into<String>,
    ) {
        let row = Row {
            fig,
            what: what.into(),
            value: value.into(),
            note: note.into(),
        };
        eprintln!(
            "  [{}] {} = {}   {}",
            row.fig, row.what, row.value, row.note
        );
        self.rows.push(row);
    }

    /// Holds a measurement against a goal; returns the verdict (`met` / `MISSED`) for a note.
    pub fn goal(
        &mut self,
        fig: u8,
        what: impl Into<String>,
        goal: impl Into<String>,
        measured: impl Into<String>,
        met: bool,
    ) -> &'static str {
        let goal = Goal {
            fig,
            what: what.into(),
            goal: goal.into(),
            measured: measured.into(),
            met,
        };
        eprintln!(
            "  [{}] target {}: {} against {} — {}",
            goal.fig,
            goal.what,
            goal.measured,
            goal.goal,
            verdict(met)
        );
        self.goals.push(goal);
        verdict(met)
    }

    /// Sections that failed (their rows are figure 0).
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| r.fig == 0).count()
    }

    /// The rows and goals as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "rows": self.rows, "targets": self.goals })
    }

    /// The rows as a Markdown table, by figure.
    pub fn rows_markdown(&self) -> String {
        let mut rows = self.rows.clone();
        rows.sort_by_key(|r| r.fig);
        markdown(
            &["Fig", "Measurement", "Value", "Note"],
            &rows
                .iter()
                .map(|r| {
                    [
                        r.fig.to_string(),
                        r.what.clone(),
                        r.value.clone(),
                        r.note.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        )
    }

    /// The goals as a Markdown table, by figure.
    pub fn goals_markdown(&self) -> String {
        let mut goals = self.goals.clone();
        goals.sort_by_key(|g| g.fig);
        markdown(
            &["Fig", "Target", "Goal", "Measured", ""],
            &goals
                .iter()
                .map(|g| {
                    [
                        g.fig.to_string(),
                        g.what.clone(),
                        g.goal.clone(),
                        g.measured.clone(),
                        verdict(g.met).to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        )
    }
}

/// `met` / `MISSED`.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// A Markdown table with padded columns (the first right-aligned: figure numbers).
fn markdown<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].chars().count(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let cell = |s: &str, i: usize| {
        let pad = " ".repeat(widths[i] - s.chars().count());
        if i == 0 {
            format!(" {pad}{s} ")
        } else {
            format!(" {s}{pad} ")
        }
    };
    let line = |cells: Vec<String>| format!("|{}|\n", cells.join("|"));
    let mut out = line((0..N).map(|i| cell(head[i], i)).collect());
    out += &line(
        (0..N)
            .map(|i| {
                if i == 0 {
                    format!("{}:", "-".repeat(widths[i] + 1))
                } else {
                    "-".repeat(widths[i] + 2)
                }
            })
            .collect(),
    );
    for r in rows {
        out += &line((0..N).map(|i| cell(&r[i], i)).collect());
    }
    out
}

/// Replaces what lies between the markers in `doc` with `block`. Refuses (and changes nothing)
/// unless each marker appears exactly once, `BEGIN` first.
pub fn splice(doc: &str, block: &str) -> Result<String, String> {
    let one = |marker: &str| match doc
        .match_indices(marker)
        .map(|(i, _)| i)
        .collect::<Vec<_>>()[..]
    {
        [i] => Ok(i),
        [] => Err(format!("the marker `{marker}` is missing")),
        _ => Err(format!("the marker `{marker}` appears more than once")),
    };
    let (begin, end) = (one(BEGIN)?, one(END)?);
    if end < begin {
        return Err(format!("`{END}` comes before `{BEGIN}`"));
    }
    let head = &doc[..begin + BEGIN.len()];
    Ok(format!("{head}\n\n{}\n\n{}", block.trim(), &doc[end..]))
}

/// Writes `block` between the markers of the file at `path` (atomically: a temporary file
/// renamed over it). A file without the markers is left unchanged.
pub fn write_into(path: &Path, block: &str) -> Result<()> {
    let doc =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let new = splice(&doc, block)
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing written", path.display()))?;
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, new).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// The civil (proleptic Gregorian) date of a day counted from 1970-01-01.
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Today's UTC date as `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_date((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Where and with what this run was made: CPU, toolchain, wasmtime, commit.
pub fn provenance(root: &Path) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let run = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let rustc = run("rustc", &["--version"]).unwrap_or_else(|| "rustc unknown".into());
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let wasmtime = lock.split("[[package]]").find_map(|p| {
        p.contains("\nname = \"wasmtime\"\n")
            .then(|| {
                p.lines().find_map(|l| {
                    l.strip_prefix("version = \"")?
                        .strip_suffix('"')
                        .map(str::to_string)
                })
            })
            .flatten()
    });
    let commit = run("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    format!(
        "{cpu}, {} CPUs, {}, {rustc}, wasmtime {}, commit `{commit}`{}",
        super::util::cpus(),
        std::env::consts::OS,
        wasmtime.as_deref().unwrap_or("unknown"),
        if dirty {
            " with uncommitted changes"
        } else {
            ""
        }
    )
}

/// The command line that made this run, paths under the workspace shown relative to it.
pub fn command_line(root: &Path) -> String {
    let prefix = format!("{}/", root.display());
    std::iter::once("roster-bench".to_string())
        .chain(std::env::args().skip(1).map(|a| a.replace(&prefix, "")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks that `--write` can write where it is told before minutes of measuring.
pub fn check_writable(path: &Path) -> Result<()> {
    let doc =
        std::fs::read_to_string(path).with_context(|| format!("--write {}", path.display()))?;
    if let Err(e) = splice(&doc, "") {
        bail!("--write {}: {e}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(results: &str) -> String {
        format!("# Title\n\nmethod\n\n{BEGIN}\n{results}\n{END}\n\n## Analysis\n")
    }

    #[test]
    fn splice_replaces_only_between_the_markers_and_is_stable() {
        let once = splice(&doc("old figures"), "| new |").unwrap();
        assert!(once.starts_with("# Title\n\nmethod\n\n"));
        assert!(once.ends_with(&format!("{END}\n\n## Analysis\n")));
        assert!(once.contains("| new |") && !once.contains("old figures"));
        assert_eq!(splice(&once, "| new |").unwrap(), once);
    }

    #[test]
    fn splice_refuses_a_document_without_one_pair_of_markers() {
        assert!(splice("no markers", "x").unwrap_err().contains("missing"));
        assert!(splice(&format!("{BEGIN}\n{BEGIN}\n{END}"), "x")
            .unwrap_err()
            .contains("more than once"));
        assert!(splice(&format!("{END}\n{BEGIN}"), "x")
            .unwrap_err()
            .contains("comes before"));
        assert!(splice(&format!("{BEGIN}\n"), "x")
            .unwrap_err()
            .contains("results:end"));
    }

    #[test]
    fn write_into_leaves_a_file_without_markers_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.md");
        std::fs::write(&path, "# no markers\n").unwrap();
        assert!(write_into(&path, "x").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# no markers\n");
        std::fs::write(&path, doc("")).unwrap();
        write_into(&path, "| a |").unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains(&format!("{BEGIN}\n\n| a |\n\n{END}")));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_791), (2026, 12, 4));
    }

    #[test]
    fn markdown_pads_columns_and_right_aligns_the_first() {
        let t = markdown(
            &["Fig", "What"],
            &[["1".into(), "µs here".into()], ["10".into(), "x".into()]],
        );
        assert_eq!(
            t,
            "| Fig | What    |\n|----:|---------|\n|   1 | µs here |\n|  10 | x       |\n"
        );
    }
}
