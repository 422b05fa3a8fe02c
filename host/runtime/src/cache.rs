//! The on-disk cache of compiled components, keyed by the component's SHA-256 and the engine
//! (its compatibility hash covers the wasmtime version and the `Config`), so a second run
//! loads machine code instead of compiling.
//!
//! Loading a cache file means running the machine code in it, so the cache trusts only itself:
//! the directory is created `0700`, files are written `0600`, and an entry is loaded only when
//! it is a regular file owned by the current user and writable by nobody else, in a directory
//! that is owned by the current user and writable by nobody else ([`entry_is_trusted`]).
//! Anything else is compiled again (and the entry replaced, when the directory is ours).

use crate::runtime::Code;
use anyhow::{Context, Result};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where compiled components are kept.
#[derive(Clone, Debug)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// How a component was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the cache.
    Hit,
    /// Compiled and stored.
    Compiled,
    /// Compiled; caching is off.
    Uncached,
}

impl ComponentCache {
    /// A cache in `dir` (`None` turns caching off) for components compiled by `engine`.
    pub fn new(dir: Option<PathBuf>, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        ComponentCache { dir, engine_key }
    }

    /// Where it keeps compiled components (`None`: it does not).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The default directory: `$ROSTER_CACHE_DIR`, else `$XDG_CACHE_HOME/roster/components`,
    /// else `$HOME/.cache/roster/components`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |n: &str| {
            std::env::var_os(n)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        var("ROSTER_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("roster/components")))
            .or_else(|| var("HOME").map(|d| d.join(".cache/roster/components")))
    }

    fn path_for(&self, dir: &Path, code: &Code) -> PathBuf {
        dir.join(format!("{}-{}.cwasm", code.sha256(), self.engine_key))
    }

    /// The compiled component for `code`, from the cache when present, trusted and valid.
    pub fn load(&self, engine: &Engine, code: &Code) -> Result<(Component, CacheOutcome)> {
        let wasm = code.wasm();
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, wasm)?, CacheOutcome::Uncached));
        };
        create_private_dir(dir)?;
        let dir_facts = std::fs::symlink_metadata(dir).map(|m| FileFacts::of(&m));
        let dir_trusted = match dir_facts.as_ref().map(|f| dir_is_trusted(f, current_uid())) {
            Ok(Ok(())) => true,
            Ok(Err(why)) => {
                tracing::warn!("not using the component cache {}: {why}", dir.display());
                false
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "reading the cache directory {}: {e}",
                    dir.display()
                ))
            }
        };
        if !dir_trusted {
            return Ok((Component::new(engine, wasm)?, CacheOutcome::Uncached));
        }
        let path = self.path_for(dir, code);
        if let Some(file) = open_trusted(&path) {
            // SAFETY: the file is a regular file owned by this user, writable by no one else,
            // in a directory only this user can write, named by the component's hash and the
            // engine's compatibility hash: this cache wrote it with `Component::serialize`, and
            // replaces entries by renaming a new file over them, never by writing into one (a
            // mapped file changed in place would change the code under us). wasmtime still
            // checks its header and version. A file that fails to load is recompiled and
            // replaced.
            match unsafe { deserialize_open(engine, file) } {
                Ok(c) => return Ok((c, CacheOutcome::Hit)),
                Err(e) => tracing::warn!("ignoring unusable cache entry {}: {e}", path.display()),
            }
        }
        let component = Component::new(engine, wasm)?;
        let bytes = component.serialize()?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        write_private(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("renaming into {}", path.display()))?;
        Ok((component, CacheOutcome::Compiled))
    }
}

/// What the trust check looks at in a file's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// A regular file (not a symlink, device, …).
    pub is_file: bool,
    /// A directory (not a symlink to one).
    pub is_dir: bool,
    /// The owner's user id.
    pub uid: u32,
    /// The permission bits.
    pub mode: u32,
}

impl FileFacts {
    #[cfg(unix)]
    fn of(m: &std::fs::Metadata) -> FileFacts {
        use std::os::unix::fs::MetadataExt;
        FileFacts {
            is_file: m.file_type().is_file(),
            is_dir: m.file_type().is_dir(),
            uid: m.uid(),
            mode: m.mode() & 0o7777,
        }
    }

    #[cfg(not(unix))]
    fn of(m: &std::fs::Metadata) -> FileFacts {
        FileFacts {
            is_file: m.file_type().is_file(),
            is_dir: m.file_type().is_dir(),
            uid: 0,
            mode: 0o600,
        }
    }
}

/// Whether a cache entry with these facts may be loaded by user `uid`; else why not.
pub fn entry_is_trusted(facts: &FileFacts, uid: u32) -> Result<(), String> {
    if !facts.is_file {
        return Err("not a regular file".into());
    }
    owned_and_private(facts, uid)
}

/// Whether the cache directory may hold entries user `uid` loads; else why not.
pub fn dir_is_trusted(facts: &FileFacts, uid: u32) -> Result<(), String> {
    if !facts.is_dir {
        return Err("not a directory".into());
    }
    owned_and_private(facts, uid)
}

fn owned_and_private(facts: &FileFacts, uid: u32) -> Result<(), String> {
    if facts.uid != uid {
        return Err(format!(
            "owned by user {}, not by this user ({uid})",
            facts.uid
        ));
    }
    if facts.mode & 0o022 != 0 {
        return Err(format!(
            "writable by group or others (mode {:o})",
            facts.mode
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn current_uid() -> u32 {
    0
}

/// Creates `dir` (and its parents) with mode 0700; an existing directory we own is made 0700.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating cache directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta =
            std::fs::symlink_metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
        if meta.is_dir() && meta.uid() == current_uid() && meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making the cache directory {} private", dir.display()))?;
        }
    }
    Ok(())
}

/// A trusted entry at `path`, opened; `None` when it is missing or not trusted. The facts are
/// read from the opened file itself, so they are those of the code loaded from it.
fn open_trusted(path: &Path) -> Option<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(
                "recompiling: cannot open cache entry {}: {e}",
                path.display()
            );
            return None;
        }
    };
    let facts = FileFacts::of(&file.metadata().ok()?);
    if let Err(why) = entry_is_trusted(&facts, current_uid()) {
        tracing::warn!(
            "recompiling instead of loading cache entry {}: {why}",
            path.display()
        );
        return None;
    }
    Some(file)
}

/// Loads the compiled component in `file`. On Linux the very file opened (and checked) is
/// mapped into memory through `/proc/self/fd`, so nothing is copied and pages are read as
/// they are used; elsewhere (or without `/proc`) it is read whole.
///
/// # Safety
///
/// As [`Component::deserialize`]: `file` must hold what [`Component::serialize`] wrote, and
/// must not change while mapped.
unsafe fn deserialize_open(engine: &Engine, file: std::fs::File) -> wasmtime::Result<Component> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let same_file = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        if same_file.exists() {
            // SAFETY: the caller's contract; `same_file` reopens `file` itself, not a path
            // that could since name another file.
            return unsafe { Component::deserialize_file(engine, &same_file) };
        }
    }
    use std::io::Read;
    let mut bytes = Vec::new();
    (&file).read_to_end(&mut bytes)?;
    // SAFETY: the caller's contract.
    unsafe { Component::deserialize(engine, &bytes) }
}

/// Writes `bytes` to a new file readable and writable only by this user.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = std::fs::remove_file(path);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusts_only_own_private_regular_files() {
        let me = 1000;
        let file = |uid, mode| FileFacts {
            is_file: true,
            is_dir: false,
            uid,
            mode,
        };
        // (facts, trusted)
        let table = [
            (file(me, 0o600), true),
            (file(me, 0o644), true),
            (file(me, 0o400), true),
            (file(me, 0o620), false),
            (file(me, 0o602), false),
            (file(me, 0o666), false),
            (file(0, 0o600), false),
            (file(1001, 0o600), false),
            (
                FileFacts {
                    is_file: false,
                    is_dir: false,
                    uid: me,
                    mode: 0o600,
                },
                false,
            ),
            (
                FileFacts {
                    is_file: false,
                    is_dir: true,
                    uid: me,
                    mode: 0o700,
                },
                false,
            ),
        ];
        for (facts, trusted) in table {
            assert_eq!(entry_is_trusted(&facts, me).is_ok(), trusted, "{facts:?}");
        }
        let dir = |uid, mode| FileFacts {
            is_file: false,
            is_dir: true,
            uid,
            mode,
        };
        assert!(dir_is_trusted(&dir(me, 0o700), me).is_ok());
        assert!(dir_is_trusted(&dir(me, 0o1777), me).is_err());
        assert!(dir_is_trusted(&dir(1001, 0o700), me).is_err());
        assert!(dir_is_trusted(&file(me, 0o700), me).is_err());
        assert_eq!(
            entry_is_trusted(&file(1001, 0o600), me).unwrap_err(),
            "owned by user 1001, not by this user (1000)"
        );
    }
}
