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
        RuntimeOptions { cache_dir: ComponentCache::default_dir() }
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
        crate::bindings::roster::provider::secrets::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        crate::bindings::roster::provider::types::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        let ticking = Arc::new(AtomicBool::new(true));
        let (weak, flag) = (engine.weak(), ticking.clone());
        std::thread::Builder::new().name("roster-epoch".into()).spawn(move || {
            while flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
        let cache = ComponentCache::new(options.cache_dir, &engine);
        Ok(Runtime { inner: Arc::new(Inner { engine, linker, cache, redactor: Default::default(), ticking }) })
    }

    /// Compiles (or loads from the cache) a component and pre-links it.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedComponent> {
        let (component, outcome) = self.inner.cache.load(&self.inner.engine, wasm).context("compiling the component")?;
        let instance_pre = self.inner.linker.instantiate_pre(&component).map_err(anyhow::Error::from).context("the component needs an import this host does not provide")?;
        let pre = ProviderCorePre::new(instance_pre).map_err(anyhow::Error::from).context("the component does not export roster:provider/provider@0.2.0")?;
        Ok(LoadedComponent { pre, outcome })
    }

    /// The import names of a component (`wasi:http/outgoing-handler@0.2.2`, …).
    pub fn imports(&self, wasm: &[u8]) -> Result<Vec<String>> {
        let component = wasmtime::component::Component::new(&self.inner.engine, wasm)?;
        let ty = component.component_type();
        Ok(ty.imports(&self.inner.engine).map(|(name, _)| name.to_string()).collect())
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
