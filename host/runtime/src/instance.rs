//! Per-instance store state: WASI context, wasi:http hooks, memory limiter, secrets.

use crate::bindings::roster::provider::{secrets as wit_secrets, types as wit_types};
use crate::http::{ConnectionPool, HttpHooks, NetworkPolicy};
use crate::limits::{Limits, MemoryLimiter};
use crate::redact::Redactor;
use crate::secrets::{SecretError, SecretStore};
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How much of a guest's stderr is kept (for trap reports).
const STDERR_CAPACITY: usize = 16 * 1024;

/// The `T` of each `Store<T>`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    pub(crate) hooks: HttpHooks,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) secrets: Arc<SecretStore>,
    stderr: MemoryOutputPipe,
}

impl HostState {
    /// Fresh state: empty environment, no arguments, no stdin, no files, no sockets;
    /// stderr captured in memory.
    pub(crate) fn new(
        policy: Arc<NetworkPolicy>,
        pool: ConnectionPool,
        limits: &Limits,
        secrets: Arc<SecretStore>,
        redactor: Redactor,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            hooks: HttpHooks {
                policy,
                pool,
                timeouts: limits.http,
                redactor,
                denial: Arc::new(Mutex::new(None)),
            },
            limiter: MemoryLimiter {
                max_bytes: limits.memory_bytes,
                exceeded: false,
            },
            secrets,
            stderr,
        }
    }

    /// Why the host denied a request during the current call, if it did (taken: the next call
    /// starts clean).
    pub(crate) fn take_denial(&self) -> Option<String> {
        self.hooks.denial.lock().unwrap().take()
    }

    /// The last part of what the guest wrote to stderr.
    pub(crate) fn stderr_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        let start = text.char_indices().rev().nth(2000).map_or(0, |(i, _)| i);
        text[start..].to_string()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl wit_types::Host for HostState {}

fn to_wit(e: SecretError) -> wit_secrets::SecretError {
    match e {
        SecretError::NotFound(m) => wit_secrets::SecretError::NotFound(m),
        SecretError::Denied(m) => wit_secrets::SecretError::Denied(m),
        SecretError::Unavailable(m) => wit_secrets::SecretError::Unavailable(m),
    }
}

impl HostState {
    /// Hands a secret to the component, remembering it so that it is never printed.
    fn hand_over(
        &self,
        value: Result<crate::secrets::SecretValue, SecretError>,
    ) -> Result<String, wit_secrets::SecretError> {
        let value = value.map_err(to_wit)?;
        self.hooks.redactor.add(value.expose());
        Ok(value.expose().to_string())
    }
}

impl wit_secrets::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, wit_secrets::SecretError> {
        let store = self.secrets.clone();
        let value = store.get(&name).await;
        self.hand_over(value)
    }

    async fn refresh(&mut self, name: String) -> Result<String, wit_secrets::SecretError> {
        let store = self.secrets.clone();
        let value = store.refresh(&name).await;
        self.hand_over(value)
    }
}
