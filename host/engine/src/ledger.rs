//! One vendor budget shared by every process on this machine that reaches the same tenant: the
//! `roster` commands one after another (a plan's reads, then the apply's writes, count in the
//! same vendor window) and Terraform's provider processes (one per provider configuration, so
//! two aliases of one provider are two processes). The ledger is a small file (under the
//! compiled-component cache, `pacing/`) holding the turns of the last window and a "not
//! before" time set by a vendor's Retry-After, read and written under an exclusive `flock`: a
//! process takes a turn only while the window has room (never more than the limit in any
//! window, by every process's count), and a back-off one of them meets holds the others too.
//!
//! A turn counts from when it starts until a window after it *finishes*. The vendor counts an
//! operation when it arrives, somewhere between our send and its answer; a burst queues on the
//! way (sockets, the vendor's accept loop, a loaded machine), so counting from the send let
//! a window of arrivals hold one too many. Counting to the answer holds for any delay: if the
//! vendor saw `limit + 1` arrivals within a window, then when the last of them to start
//! started, the other `limit` had arrived less than a window before — each finished no earlier
//! than it arrived — so all `limit` still counted and that turn would not have been given.
//!
//! The pure rule is [`Window::take`] and [`Window::finish`], which the in-process pacer
//! ([`crate::pacing::Pacer`]) keeps too; [`Ledger`] is the file around it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One turn (times in milliseconds since the Unix epoch, or the pacer's own epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Turn {
    /// The process that took it.
    pid: u32,
    /// Unique within that process.
    id: u64,
    /// When it was given.
    started: u64,
    /// When its operation ended (answer, error or cancellation); `None` while in flight.
    finished: Option<u64>,
}

/// The window's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Window {
    /// Turns that still count, in the order given.
    turns: Vec<Turn>,
    /// No turn before this time (a vendor's Retry-After).
    pub(crate) not_before: u64,
}

impl Window {
    /// Parses the file's text; `None` for anything damaged (then nothing in it is trusted).
    fn parse(text: &str) -> Option<Window> {
        let mut w = Window::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut words = line.split(' ');
            match (
                words.next(),
                words.next(),
                words.next(),
                words.next(),
                words.next(),
                words.next(),
            ) {
                (Some("not-before"), Some(t), None, ..) => w.not_before = t.parse().ok()?,
                (Some("turn"), Some(pid), Some(id), Some(started), Some(finished), None) => {
                    w.turns.push(Turn {
                        pid: pid.parse().ok()?,
                        id: id.parse().ok()?,
                        started: started.parse().ok()?,
                        finished: if finished == "-" {
                            None
                        } else {
                            Some(finished.parse().ok()?)
                        },
                    })
                }
                _ => return None,
            }
        }
        w.turns
            .iter()
            .all(|t| t.finished.is_none_or(|f| f >= t.started))
            .then_some(w)
    }

    /// The file's text.
    fn render(&self) -> String {
        let mut out = format!("not-before {}\n", self.not_before);
        for t in &self.turns {
            let finished = t.finished.map_or("-".to_string(), |f| f.to_string());
            out.push_str(&format!(
                "turn {} {} {} {finished}\n",
                t.pid, t.id, t.started
            ));
        }
        out
    }

    /// At `now`, with at most `limit` turns per `window_ms`: gives turn `id` of process `pid`
    /// (`Ok`) or says how long to wait at least (`Err`, in milliseconds). Turns in flight count
    /// as finishing now at the earliest.
    pub(crate) fn take(
        &mut self,
        now: u64,
        limit: u32,
        window_ms: u64,
        pid: u32,
        id: u64,
    ) -> Result<(), u64> {
        self.turns
            .retain(|t| t.finished.is_none_or(|f| f + window_ms > now));
        if now < self.not_before {
            return Err(self.not_before - now);
        }
        let busy = self.turns.len();
        if busy >= limit as usize {
            let mut frees: Vec<u64> = self
                .turns
                .iter()
                .map(|t| t.finished.unwrap_or(now) + window_ms)
                .collect();
            frees.sort_unstable();
            return Err((frees[busy - limit as usize] - now).max(1));
        }
        self.turns.push(Turn {
            pid,
            id,
            started: now,
            finished: None,
        });
        Ok(())
    }

    /// Turn `id` of process `pid` ended at `now`; from now on it counts for one more window.
    pub(crate) fn finish(&mut self, now: u64, pid: u32, id: u64) {
        if let Some(t) = self
            .turns
            .iter_mut()
            .find(|t| t.pid == pid && t.id == id && t.finished.is_none())
        {
            t.finished = Some(now.max(t.started));
        }
    }

    /// Turns in flight in a process that is gone end now (it sent nothing after it died).
    fn end_orphans(&mut self, now: u64, alive: impl Fn(u32) -> bool) {
        for t in self
            .turns
            .iter_mut()
            .filter(|t| t.finished.is_none() && !alive(t.pid))
        {
            t.finished = Some(now.max(t.started));
        }
    }
}

/// A ledger file shared by the processes of one tenant.
pub(crate) struct Ledger {
    path: PathBuf,
    limit: u32,
    window_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether process `pid` exists (a process we may not signal exists too).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        unsafe {
            libc::kill(pid, 0) == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

impl Ledger {
    /// The ledger of `limit` operations per `window` (already padded: see
    /// [`crate::pacing::padded_window`]) at `path` (its directory made `0700`).
    pub(crate) fn open(path: &Path, limit: u32, window: Duration) -> std::io::Result<Ledger> {
        if let Some(dir) = path.parent() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)?;
        }
        let ledger = Ledger {
            path: path.to_path_buf(),
            limit: limit.max(1),
            window_ms: window.as_millis() as u64,
        };
        ledger.with(|_, _| ())?;
        Ok(ledger)
    }

    /// The file for a tenant named by `key` (e.g. the component's name and its hosts).
    pub(crate) fn path_for(dir: &Path, key: &str) -> PathBuf {
        use sha2::Digest;
        dir.join(format!(
            "{}.ledger",
            &hex::encode(sha2::Sha256::digest(key.as_bytes()))[..32]
        ))
    }

    /// Runs `f` on the window under the file's exclusive lock and writes the window back. A
    /// damaged file is read as a full window (wait one window), never trusted.
    fn with<R>(&self, f: impl FnOnce(&mut Window, u64) -> R) -> std::io::Result<R> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)?;
        let _lock = Flock::exclusive(&file)?;
        let mut file = &file;
        let mut text = String::new();
        let now = now_ms();
        let mut window = match file.read_to_string(&mut text) {
            Ok(_) if text.is_empty() => Window::default(),
            // Damaged: nothing in it is trusted, so wait a full window (the safe side).
            Ok(_) => Window::parse(&text).unwrap_or(Window {
                turns: vec![],
                not_before: now + self.window_ms,
            }),
            Err(_) => Window {
                turns: vec![],
                not_before: now + self.window_ms,
            },
        };
        window.end_orphans(now, alive);
        let out = f(&mut window, now);
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(window.render().as_bytes())?;
        Ok(out)
    }

    /// Waits for turn `id` (unique in this process) in the shared window.
    pub(crate) async fn turn(&self, id: u64) -> std::io::Result<()> {
        loop {
            match self
                .with(|w, now| w.take(now, self.limit, self.window_ms, std::process::id(), id))?
            {
                Ok(()) => return Ok(()),
                Err(wait_ms) => tokio::time::sleep(Duration::from_millis(wait_ms)).await,
            }
        }
    }

    /// Turn `id` of this process ended.
    pub(crate) fn finish(&self, id: u64) -> std::io::Result<()> {
        self.with(|w, now| w.finish(now, std::process::id(), id))
    }

    /// Holds every process back for `delay` (the vendor said "too many requests").
    pub(crate) fn back_off(&self, delay: Duration) -> std::io::Result<()> {
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

    /// A small deterministic generator for the schedules below.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % below.max(1)
        }
    }

    /// The vendor's rule, over its arrivals: at most `limit` within any window.
    fn busiest(arrivals: &mut [u64], window: u64) -> usize {
        arrivals.sort_unstable();
        (0..arrivals.len())
            .map(|i| {
                arrivals[i..]
                    .iter()
                    .take_while(|&&a| a < arrivals[i] + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Workers take turns, each operation lasting 0-400 ms and reaching the vendor at any moment
    /// of it (the queueing that made counting from the send fail under load), with back-offs
    /// now and then: the vendor never sees more than the limit in a window.
    #[test]
    fn never_more_than_the_limit_in_any_window_of_arrivals_however_late_they_arrive() {
        let (limit, window) = (5u32, 1000u64);
        for seed in 0..300u64 {
            let mut rng = Lcg(seed);
            let mut w = Window::default();
            // Per worker: (next try, turn in flight: (id, finishes at)).
            let mut workers: Vec<(u64, Option<(u64, u64)>)> =
                vec![(0, None); 1 + rng.next(8) as usize];
            let (mut arrivals, mut ids) = (Vec::new(), 0u64);
            for now in 0..6000u64 {
                if rng.next(3000) == 0 {
                    w.not_before = w.not_before.max(now + rng.next(1500));
                }
                for worker in workers.iter_mut() {
                    if let Some((id, end)) = worker.1 {
                        if end == now {
                            w.finish(now, 1, id);
                            worker.1 = None;
                            worker.0 = now + rng.next(50);
                        }
                    }
                    if worker.1.is_none() && worker.0 <= now {
                        ids += 1;
                        match w.take(now, limit, window, 1, ids) {
                            Ok(()) => {
                                let lasts = 1 + rng.next(400);
                                arrivals.push(now + rng.next(lasts + 1));
                                worker.1 = Some((ids, now + lasts));
                            }
                            Err(wait) => {
                                assert!(wait > 0);
                                worker.0 = now + wait;
                            }
                        }
                    }
                }
            }
            assert!(arrivals.len() > 5, "seed {seed}: the schedule ran");
            let most = busiest(&mut arrivals, window);
            assert!(
                most <= limit as usize,
                "seed {seed}: {most} arrivals in one window: {arrivals:?}"
            );
        }
    }

    #[test]
    fn waits_are_exact_and_back_offs_hold() {
        let mut w = Window::default();
        for (id, t) in [0, 10, 20].into_iter().enumerate() {
            w.take(t, 3, 100, 1, id as u64).unwrap();
        }
        assert_eq!(
            w.take(30, 3, 100, 1, 9),
            Err(100),
            "all in flight: a window after now at the earliest"
        );
        w.finish(40, 1, 0);
        w.finish(45, 1, 1);
        assert_eq!(
            w.take(50, 3, 100, 1, 9),
            Err(90),
            "until the first to finish has counted a window"
        );
        w.take(140, 3, 100, 1, 3).unwrap();
        assert_eq!(w.take(141, 3, 100, 1, 9), Err(4), "then the second");
        w.not_before = 500;
        assert_eq!(w.take(200, 3, 100, 1, 9), Err(300));
        assert_eq!(Window::parse(&w.render()), Some(w.clone()));
        assert_eq!(Window::parse("turn 1 2 x -\n"), None);
        assert_eq!(
            Window::parse("turn 1 2 50 40\n"),
            None,
            "finished before it started: damaged"
        );
        assert_eq!(
            Window::parse("send 5\n"),
            None,
            "an older ledger's line: not trusted"
        );
        assert_eq!(Window::parse("garbage"), None);
    }

    #[test]
    fn a_dead_process_turns_end_when_it_is_found_gone() {
        let mut w = Window::default();
        w.take(0, 2, 100, 7, 1).unwrap();
        w.take(0, 2, 100, 8, 1).unwrap();
        w.end_orphans(30, |pid| pid != 7);
        assert_eq!(
            w.turns[0].finished,
            Some(30),
            "process 7 is gone: its turn ended when found"
        );
        assert_eq!(w.turns[1].finished, None, "process 8 still runs");
        assert_eq!(w.take(40, 2, 100, 8, 2), Err(90));
        assert!(alive(std::process::id()));
    }

    #[tokio::test]
    async fn two_ledgers_on_one_file_share_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = Ledger::path_for(dir.path(), "nimbus http://127.0.0.1:1");
        let a = Ledger::open(&path, 4, Duration::from_millis(400)).unwrap();
        let b = Ledger::open(&path, 4, Duration::from_millis(400)).unwrap();
        let started = std::time::Instant::now();
        for id in 0..4 {
            for l in [&a, &b] {
                l.turn(id).await.unwrap();
                l.finish(id).unwrap();
            }
        }
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "8 turns at 4 per window span a window: {:?}",
            started.elapsed()
        );
        b.back_off(Duration::from_millis(300)).unwrap();
        let t = std::time::Instant::now();
        a.turn(10).await.unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "a back-off one meets holds the other"
        );
        std::fs::write(&path, "damaged").unwrap();
        let t = std::time::Instant::now();
        a.turn(11).await.unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(350),
            "a damaged ledger costs a full window, never trust"
        );
    }
}
