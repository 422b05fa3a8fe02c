//! One vendor budget shared by every provider process on this machine that reaches the same
//! tenant. Terraform starts a process per provider configuration, so two aliases of one
//! provider are two processes, each pacing itself; together they would send up to twice the
//! vendor's limit. The ledger is a small file (under the compiled-component cache) holding the
//! send times of the last window and a "not before" time set by a vendor's Retry-After, read and
//! written under an exclusive `flock`: a process takes a turn only while the window has room
//! (never more than the limit in any window, by every process's count), and a back-off one of
//! them meets holds the others too.
//!
//! The pure rule is [`Window::take`]; [`Ledger`] is the file around it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The window's state (times in milliseconds since the Unix epoch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Send times still inside the window, oldest first.
    pub sends: Vec<u64>,
    /// No send before this time (a vendor's Retry-After).
    pub not_before: u64,
}

impl Window {
    /// Parses the file's text; `None` for anything damaged (then nothing in it is trusted).
    pub fn parse(text: &str) -> Option<Window> {
        let mut w = Window::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match line.split_once(' ') {
                Some(("send", t)) => w.sends.push(t.trim().parse().ok()?),
                Some(("not-before", t)) => w.not_before = t.trim().parse().ok()?,
                _ => return None,
            }
        }
        w.sends.windows(2).all(|p| p[0] <= p[1]).then_some(w)
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = format!("not-before {}\n", self.not_before);
        for s in &self.sends {
            out.push_str(&format!("send {s}\n"));
        }
        out
    }

    /// At `now`, with at most `limit` sends per `window_ms`: takes a turn (`Ok`) or says how
    /// long to wait (`Err`, in milliseconds).
    pub fn take(&mut self, now: u64, limit: u32, window_ms: u64) -> Result<(), u64> {
        self.sends.retain(|&t| t + window_ms > now);
        if now < self.not_before {
            return Err(self.not_before - now);
        }
        if self.sends.len() >= limit as usize {
            let oldest = self.sends[self.sends.len() - limit as usize];
            return Err((oldest + window_ms - now).max(1));
        }
        self.sends.push(now);
        Ok(())
    }
}

/// A ledger file shared by the processes of one tenant.
pub struct Ledger {
    path: PathBuf,
    limit: u32,
    window_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Ledger {
    /// The ledger of `limit` operations per `per` at `path` (its directory made `0700`).
    pub fn open(path: &Path, limit: u32, per: Duration) -> std::io::Result<Ledger> {
        if let Some(dir) = path.parent() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)?;
        }
        let ledger = Ledger { path: path.to_path_buf(), limit: limit.max(1), window_ms: roster_engine::pacing::padded_window(per).as_millis() as u64 };
        ledger.with(|_, _| ())?;
        Ok(ledger)
    }

    /// The file for a tenant named by `key` (e.g. the component's name and its hosts).
    pub fn path_for(dir: &Path, key: &str) -> PathBuf {
        use sha2::Digest;
        dir.join(format!("{}.ledger", &hex::encode(sha2::Sha256::digest(key.as_bytes()))[..32]))
    }

    /// Runs `f` on the window under the file's exclusive lock and writes the window back. A
    /// damaged file is read as a full window (wait one window), never trusted.
    fn with<R>(&self, f: impl FnOnce(&mut Window, u64) -> R) -> std::io::Result<R> {
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&self.path)?;
        let _lock = Flock::exclusive(&file)?;
        let mut file = &file;
        let mut text = String::new();
        let now = now_ms();
        let mut window = match file.read_to_string(&mut text) {
            Ok(_) if text.is_empty() => Window::default(),
            Ok(_) => Window::parse(&text).unwrap_or_else(|| {
                tracing::warn!("the pacing ledger {} is damaged: waiting a full window", self.path.display());
                Window { sends: vec![], not_before: now + self.window_ms }
            }),
            Err(_) => Window { sends: vec![], not_before: now + self.window_ms },
        };
        let out = f(&mut window, now);
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(window.render().as_bytes())?;
        Ok(out)
    }

    /// Waits for a turn in the shared window.
    pub async fn turn(&self) -> std::io::Result<()> {
        loop {
            match self.with(|w, now| w.take(now, self.limit, self.window_ms))? {
                Ok(()) => return Ok(()),
                Err(wait_ms) => tokio::time::sleep(Duration::from_millis(wait_ms)).await,
            }
        }
    }

    /// Holds every process back for `delay` (the vendor said "too many requests").
    pub fn back_off(&self, delay: Duration) -> std::io::Result<()> {
        self.with(|w, now| w.not_before = w.not_before.max(now + delay.as_millis() as u64))
    }
}

/// An exclusive `flock` held until dropped.
struct Flock<'a>(&'a File);

impl<'a> Flock<'a> {
    fn exclusive(file: &'a File) -> std::io::Result<Flock<'a>> {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(Flock(file))
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_limit_in_any_window() {
        // Arrivals of every shape: the sends taken never exceed the limit in any window.
        let (limit, window) = (5u32, 1000u64);
        for seed in 0..200u64 {
            let mut w = Window::default();
            let mut taken = Vec::new();
            let mut now = 0u64;
            let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            for _ in 0..60 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                now += (x >> 33) % 400;
                if (x >> 20) % 17 == 0 {
                    w.not_before = w.not_before.max(now + (x >> 40) % 1500);
                }
                match w.take(now, limit, window) {
                    Ok(()) => taken.push(now),
                    Err(wait) => assert!(wait > 0),
                }
            }
            for (i, &t) in taken.iter().enumerate() {
                let in_window = taken[i..].iter().take_while(|&&u| u < t + window).count();
                assert!(in_window <= limit as usize, "seed {seed}: {in_window} sends in the window from {t}: {taken:?}");
            }
        }
    }

    #[test]
    fn waits_are_exact_and_back_offs_hold() {
        let mut w = Window::default();
        for t in [0, 10, 20] {
            w.take(t, 3, 100).unwrap();
        }
        assert_eq!(w.take(50, 3, 100), Err(50), "until the oldest leaves the window");
        w.take(100, 3, 100).unwrap();
        w.not_before = 500;
        assert_eq!(w.take(200, 3, 100), Err(300));
        assert_eq!(Window::parse(&w.render()), Some(w.clone()));
        assert_eq!(Window::parse("send x\n"), None);
        assert_eq!(Window::parse("send 5\nsend 3\n"), None, "out of order: damaged");
        assert_eq!(Window::parse("garbage"), None);
    }

    #[tokio::test]
    async fn two_ledgers_on_one_file_share_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = Ledger::path_for(dir.path(), "nimbus http://127.0.0.1:1");
        let a = Ledger::open(&path, 4, Duration::from_millis(400)).unwrap();
        let b = Ledger::open(&path, 4, Duration::from_millis(400)).unwrap();
        let started = std::time::Instant::now();
        for _ in 0..4 {
            a.turn().await.unwrap();
            b.turn().await.unwrap();
        }
        assert!(started.elapsed() >= Duration::from_millis(400), "8 turns at 4 per window span a window: {:?}", started.elapsed());
        b.back_off(Duration::from_millis(300)).unwrap();
        let t = std::time::Instant::now();
        a.turn().await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(250), "a back-off one meets holds the other");
        std::fs::write(&path, "damaged").unwrap();
        let t = std::time::Instant::now();
        a.turn().await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(350), "a damaged ledger costs a full window, never trust");
    }
}
