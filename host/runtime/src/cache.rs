//! The on-disk cache of compiled components, keyed by the component's SHA-256 and the engine
//! (its compatibility hash covers the wasmtime version and the `Config`), so a second run
//! loads machine code instead of compiling.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
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

    /// The default directory: `$ROSTER_CACHE_DIR`, else `$XDG_CACHE_HOME/roster/components`,
    /// else `$HOME/.cache/roster/components`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty()).map(PathBuf::from);
        var("ROSTER_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("roster/components")))
            .or_else(|| var("HOME").map(|d| d.join(".cache/roster/components")))
    }

    fn path_for(&self, dir: &Path, wasm: &[u8]) -> PathBuf {
        let digest = hex::encode(Sha256::digest(wasm));
        dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `wasm`, from the cache when present and valid.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> Result<(Component, CacheOutcome)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, wasm)?, CacheOutcome::Uncached));
        };
        let path = self.path_for(dir, wasm);
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of this cache, named by the
            // component's hash and the engine's compatibility hash; wasmtime still checks its
            // header and version. A file that fails to load is recompiled and replaced.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, CacheOutcome::Hit)),
                Err(e) => tracing::warn!("ignoring unusable cache entry {}: {e}", path.display()),
            }
        }
        let component = Component::new(engine, wasm)?;
        let bytes = component.serialize()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating cache directory {}", dir.display()))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("renaming into {}", path.display()))?;
        Ok((component, CacheOutcome::Compiled))
    }
}
