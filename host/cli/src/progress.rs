//! Apply progress: a bar on a terminal, plain lines otherwise.

use roster_engine::apply::{Outcome, Progress};
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
        let _ = write!(err, "\r\x1b[2K[{}{}] {done}/{total}  {:.1}s  {}", "=".repeat(filled), " ".repeat(width - filled), self.started.elapsed().as_secs_f64(), o.address);
        let _ = err.flush();
    }
    fn waiting(&self, address: &str, delay: std::time::Duration, why: &str) {
        let (done, total) = *self.total.lock().unwrap();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{done}/{total}  {:.1}s  {address}: {why} ({:.1}s)", self.started.elapsed().as_secs_f64(), delay.as_secs_f64());
        let _ = err.flush();
    }
}

impl Progress for Lines {
    fn started(&self, _: usize) {}
    fn finished(&self, o: &Outcome) {
        let verb = o.kind.verb();
        match &o.result {
            Ok(()) => eprintln!("{}: {verb} done ({:.2}s)", o.address, o.elapsed.as_secs_f64()),
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
        Box::new(Bar { total: Mutex::new((0, 0)), started: Instant::now() })
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
