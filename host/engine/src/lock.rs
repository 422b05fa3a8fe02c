//! The state lock: an exclusive OS file lock on `<state>.lock` held for the whole plan or apply
//! (released by the OS if the process dies), with the holder's identity written inside so a
//! second process can say who holds it.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct StateLock {
    file: File,
}

impl StateLock {
    /// Takes the lock for `state_path`, waiting up to `timeout` for another holder.
    pub fn acquire(state_path: &Path, operation: &str, timeout: Duration) -> Result<StateLock> {
        let mut name = state_path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = state_path.with_file_name(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        let deadline = Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        let holder = holder.trim();
                        bail!(
                            "the state {} is locked by {}; wait for it to finish, or pass --lock-timeout to wait longer",
                            state_path.display(),
                            if holder.is_empty() { "another roster process" } else { holder }
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()))
                }
            }
        }
        let holder = format!(
            "roster {operation} (pid {}, user {}, since {})",
            std::process::id(),
            std::env::var("USER").unwrap_or_else(|_| "?".into()),
            crate::state::now()
        );
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(holder.as_bytes())?;
        file.sync_all()?;
        Ok(StateLock { file })
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_told_who_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("roster.state.json");
        let held = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let err = StateLock::acquire(&state, "plan", Duration::from_millis(250))
            .unwrap_err()
            .to_string();
        assert!(err.contains("locked by roster apply (pid"), "{err}");
        drop(held);
        StateLock::acquire(&state, "plan", Duration::ZERO).unwrap();
    }
}
