//! Roster's vendor components made portable: each composed (by this crate's build script, with
//! `wac-graph`) with two small adapters from `guest/portable/`, so that it imports only standard
//! WASI and runs under the plain `wasmtime` CLI:
//!
//! - `config-secrets` serves Roster's `secrets` import from `wasi:config/store` (a secret named
//!   `api_key` is the config value `api_key`);
//! - `config-wrapper` re-exports the provider and calls `configure` with the config values
//!   `config.<key>` before the first read, create, delete or query of an instance (`wasmtime run
//!   --invoke` makes one instance per call).
//!
//! ```sh
//! cargo build -p roster-portable
//! wasmtime run -S http -S config \
//!   -S config-var=config.company_code=abc-gadgets -S config-var=config.environment=prod … \
//!   -S config-var=api_key=… \
//!   --invoke 'read("symbee_user", "vvenus@abc-gadgets.com")' target/portable/symbee-portable.wasm
//! ```
//!
//! What is lost against Roster's host: the per-host allow-list (the CLI's `-S http` lets the
//! component reach any host), the engine's pacing and retries, state, call deadlines and memory
//! limits beyond the CLI's own, and secrets stay on the command line.
#![deny(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/portable.rs"));

/// The portable component of a built-in vendor (`nimbus`, `symbee`), by path.
pub fn portable_path(vendor: &str) -> Option<&'static str> {
    PORTABLE
        .iter()
        .find(|(name, _)| *name == vendor)
        .map(|(_, path)| *path)
}
