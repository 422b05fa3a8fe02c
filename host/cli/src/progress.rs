//! Progress on stderr: apply's bar on a terminal (plain lines otherwise), and plan's reads — their
//! cost before they start, then how many are done with an ETA.

use roster_engine::apply::{Outcome, Progress};
use roster_engine::plan::{ReadCost, ReadProgress};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

struct Bar {
    total: Mutex<(usize, usize)>,
    started: Instant,
}

struct Lines;

impl Progress for Bar {
    fn started(&self, total: usize) {
        self.total.lock().unwrap().1 = total;
    }
    fn finished(&self, o: &Outcome) {
        let mut t = self.total.lock().unwrap();
        t.0 += 1;
        let (done, total) = *t;
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(width);
        let mut err = std::io::stderr().lock();
        if let Err(e) = &o.result {
            let _ = writeln!(err, "\r\x1b[2K{}: failed: {e}", o.address);
        }
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {done}/{total}  {:.1}s  {}",
            "=".repeat(filled),
            " ".repeat(width - filled),
            self.started.elapsed().as_secs_f64(),
            o.address
        );
        let _ = err.flush();
    }
    fn waiting(&self, address: &str, delay: std::time::Duration, why: &str) {
        let (done, total) = *self.total.lock().unwrap();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{done}/{total}  {:.1}s  {address}: {why} ({:.1}s)",
            self.started.elapsed().as_secs_f64(),
            delay.as_secs_f64()
        );
        let _ = err.flush();
    }
}

impl Progress for Lines {
    fn started(&self, _: usize) {}
    fn finished(&self, o: &Outcome) {
        let verb = o.kind.verb();
        match &o.result {
            Ok(()) => eprintln!(
                "{}: {verb} done ({:.2}s)",
                o.address,
                o.elapsed.as_secs_f64()
            ),
            Err(e) => eprintln!("{}: {verb} failed: {e}", o.address),
        }
    }
    fn waiting(&self, address: &str, delay: std::time::Duration, why: &str) {
        eprintln!("{address}: {why} ({:.1}s)", delay.as_secs_f64());
    }
}

/// The right progress display for stderr.
pub fn for_stderr(_total: usize) -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar {
            total: Mutex::new((0, 0)),
            started: Instant::now(),
        })
    } else {
        Box::new(Lines)
    }
}

/// Ends the bar's line.
pub fn finish(_: &dyn Progress) {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
}

/// Reports a plan's reads: the cost per provider first, then done/total with an ETA (a line
/// rewritten in place on a terminal; a line per tenth otherwise).
struct Reads {
    terminal: bool,
    started: Mutex<Option<(Instant, std::time::Duration)>>,
}

/// `1h 02m`, `16m 50s`, `9.6s`.
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl ReadProgress for Reads {
    fn reading(&self, costs: &[ReadCost]) {
        let total: usize = costs.iter().map(|c| c.reads).sum();
        let parts: Vec<String> = costs
            .iter()
            .map(|c| match c.rate {
                Some((ops, per)) => format!(
                    "{} {} at {ops} per {} (at least {})",
                    c.provider,
                    c.reads,
                    duration(per),
                    duration(c.estimate)
                ),
                None => format!("{} {} (unpaced)", c.provider, c.reads),
            })
            .collect();
        let longest = costs.iter().map(|c| c.estimate).max().unwrap_or_default();
        *self.started.lock().unwrap() = Some((Instant::now(), longest));
        eprintln!("Reading {total} object(s): {}.", parts.join("; "));
    }
    fn read(&self, done: usize, total: usize) {
        let Some((started, estimate)) = *self.started.lock().unwrap() else {
            return;
        };
        let elapsed = started.elapsed();
        // The observed pace, once there is one; the estimate before.
        let eta = if done > 0 {
            elapsed.mul_f64((total - done) as f64 / done as f64)
        } else {
            estimate
        };
        let line = format!(
            "Read {done}/{total} · {} elapsed · ETA {}",
            duration(elapsed),
            duration(eta)
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            if done == total {
                let _ = writeln!(err);
            }
        } else if done == total || (done * 10 / total) != ((done - 1) * 10 / total) {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
    fn waiting(&self, delay: std::time::Duration, why: &str) {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "{}{why} ({})",
            if self.terminal { "\r\x1b[2K" } else { "" },
            duration(delay)
        );
        let _ = if self.terminal {
            err.flush()
        } else {
            writeln!(err)
        };
    }
}

/// The progress display for a plan's reads, on stderr.
pub fn reads() -> Box<dyn ReadProgress> {
    Box::new(Reads {
        terminal: std::io::stderr().is_terminal(),
        started: Mutex::new(None),
    })
}
