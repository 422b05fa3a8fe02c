//! The per-engine part of the host: one wasmtime `Engine`, one `Linker` wiring every
//! capability, the compiled-component cache, and the epoch ticker that drives call deadlines.

use crate::bindings::ProviderCorePre;
use crate::cache::{CacheOutcome, ComponentCache};
use crate::instance::HostState;
use crate::limits::EPOCH_TICK;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

/// Engine-wide settings.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache_dir: ComponentCache::default_dir(),
        }
    }
}

/// Loads provider components and links their capabilities. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ComponentCache,
    redactor: crate::redact::Redactor,
    ticking: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

/// Component code with its SHA-256, hashed once: the digest grants name, saved plans record and
/// the compile cache is keyed on. The only way to make one is from the bytes, so the digest is
/// always the code's. It borrows the bytes (`&[u8]`) or owns them (`Vec<u8>`).
#[derive(Clone, Debug)]
pub struct Code<'a> {
    wasm: std::borrow::Cow<'a, [u8]>,
    sha256: [u8; 32],
}

impl<'a> Code<'a> {
    /// Hashes `wasm`.
    pub fn new(wasm: impl Into<std::borrow::Cow<'a, [u8]>>) -> Code<'a> {
        use sha2::Digest;
        let wasm = wasm.into();
        let sha256 = sha2::Sha256::digest(&wasm).into();
        Code { wasm, sha256 }
    }

    /// The component's bytes.
    pub fn wasm(&self) -> &[u8] {
        &self.wasm
    }

    /// Its SHA-256, lower-case hex.
    pub fn sha256(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// A component ready to instantiate, with how it was obtained.
#[derive(Clone)]
pub struct LoadedComponent {
    pub(crate) pre: ProviderCorePre<HostState>,
    /// Whether it came from the cache.
    pub outcome: CacheOutcome,
}

impl Runtime {
    /// An engine with async support and epoch interruption, and a linker with WASI 0.2,
    /// wasi:http and Roster's `secrets`.
    pub fn new(options: RuntimeOptions) -> Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true).wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::bindings::roster::provider::secrets::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        crate::bindings::roster::provider::types::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        let ticking = Arc::new(AtomicBool::new(true));
        let (weak, flag) = (engine.weak(), ticking.clone());
        std::thread::Builder::new()
            .name("roster-epoch".into())
            .spawn(move || {
                while flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        let cache = ComponentCache::new(options.cache_dir, &engine);
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                redactor: Default::default(),
                ticking,
            }),
        })
    }

    /// Compiles (or loads from the cache) a component and pre-links it.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedComponent> {
        self.load_code(&Code::new(wasm))
    }

    /// As [`Runtime::load`], for code already hashed.
    pub fn load_code(&self, code: &Code) -> Result<LoadedComponent> {
        let (component, outcome) = self
            .inner
            .cache
            .load(&self.inner.engine, code)
            .context("compiling the component")?;
        // The contract's version first: a component of another version fails its imports too,
        // and "an import this host does not provide" would not say why.
        let exports: Vec<String> = component
            .component_type()
            .exports(&self.inner.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let speaks = exports
            .iter()
            .filter_map(|e| e.strip_prefix("roster:provider/provider@"))
            .any(|v| compatibility_line(v) == compatibility_line(CONTRACT_VERSION));
        if !speaks {
            anyhow::bail!(contract_mismatch(&exports));
        }
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs an import this host does not provide")?;
        let pre = ProviderCorePre::new(instance_pre)
            .map_err(|e| anyhow::Error::from(e).context(contract_mismatch(&exports)))?;
        Ok(LoadedComponent { pre, outcome })
    }

    /// The contract version this host speaks: the WIT package `roster:provider` at this version.
    pub const CONTRACT: &'static str = CONTRACT_VERSION;

    /// Where compiled components are cached (`None`: they are not).
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.inner.cache.dir()
    }

    /// The export names of a component (`roster:provider/provider@0.2.0`, …).
    pub fn exports(&self, wasm: &[u8]) -> Result<Vec<String>> {
        let component = wasmtime::component::Component::new(&self.inner.engine, wasm)?;
        let ty = component.component_type();
        Ok(ty
            .exports(&self.inner.engine)
            .map(|(name, _)| name.to_string())
            .collect())
    }

    /// The import names of a component (`wasi:http/outgoing-handler@0.2.2`, …).
    pub fn imports(&self, wasm: &[u8]) -> Result<Vec<String>> {
        let component = wasmtime::component::Component::new(&self.inner.engine, wasm)?;
        let ty = component.component_type();
        Ok(ty
            .imports(&self.inner.engine)
            .map(|(name, _)| name.to_string())
            .collect())
    }

    /// What this runtime keeps out of errors and logs: every secret it handed to any of its
    /// providers and every credential it saw on their requests ([`crate::redact`]).
    pub fn redactor(&self) -> &crate::redact::Redactor {
        &self.inner.redactor
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

/// The `roster:provider` package version this host speaks.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// The compatibility line of a version: `MAJOR` from 1.0 on, `0.MINOR` before (0.x versions
/// change incompatibly with the minor version, as semver and WIT's versioning have it).
pub fn compatibility_line(version: &str) -> String {
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}"),
        (Some(major), _) => major.to_string(),
        _ => version.to_string(),
    }
}

/// Why a component's exports are not the provider this host speaks (pure).
pub fn contract_mismatch(exports: &[String]) -> String {
    let ours = compatibility_line(CONTRACT_VERSION);
    let theirs: Vec<&str> = exports
        .iter()
        .filter_map(|e| e.strip_prefix("roster:provider/provider@"))
        .collect();
    match theirs.first() {
        Some(v) if compatibility_line(v) != ours => format!(
            "the component speaks roster:provider {v} (it exports roster:provider/provider@{v}); this host speaks roster:provider {CONTRACT_VERSION} ({ours}.x): build the component against the host's version, or use a host that speaks {}.x",
            compatibility_line(v)
        ),
        Some(v) => format!("the component exports roster:provider/provider@{v}, which this host ({CONTRACT_VERSION}) should speak, but its interface does not match"),
        None => format!("the component does not export roster:provider/provider (this host speaks {CONTRACT_VERSION}); it exports: {}", if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_versions_by_compatibility_line() {
        assert_eq!(compatibility_line("0.2.0"), "0.2");
        assert_eq!(compatibility_line("0.2.7"), "0.2");
        assert_eq!(compatibility_line("1.4.0"), "1");
        let m = contract_mismatch(&["roster:provider/provider@0.3.0".into()]);
        assert!(
            m.contains("speaks roster:provider 0.3.0")
                && m.contains("this host speaks roster:provider 0.2.0 (0.2.x)"),
            "{m}"
        );
        assert!(contract_mismatch(&["wasi:cli/run@0.2.0".into()])
            .contains("does not export roster:provider/provider"));
    }
}
