//! Roster's host runtime: loads provider components (WASI 0.2, the `roster:provider` world)
//! with wasmtime and supplies their capabilities — outgoing HTTP restricted to each provider's
//! allowed hosts, and secrets from the environment, files or AWS Secrets Manager — inside
//! per-call deadlines and per-instance memory limits.
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> anyhow::Result<()> {
//! use roster_runtime::{Provider, ProviderSpec, Runtime, RuntimeOptions};
//!
//! let runtime = Runtime::new(RuntimeOptions::default())?;          // per process
//! let mut spec = ProviderSpec::new("nimbus", serde_json::json!({ "cluster": "ch-01" }));
//! spec.secrets.insert("client_secret".into(), "env:NIMBUS_CLIENT_SECRET".parse().unwrap());
//! let nimbus = Provider::start(&runtime, wasm, spec).await?;       // per configured provider
//! let user = nimbus.read("nimbus_user", "9fce70af-a632-49ca-bc0d-53db5a21c5b3").await?;
//! println!("{user:?}");
//! # Ok(()) }
//! ```
//!
//! Three lifetimes are kept apart: [`Runtime`] (engine, linker, component cache — one per
//! process), [`Provider`] (config, allow-list, secrets, instance pool — one per configured
//! provider) and the private per-instance store state.
#![deny(missing_docs)]

pub mod address;
mod bindings;
mod cache;
mod contract;
mod error;
pub mod http;
mod instance;
mod limits;
mod provider;
pub mod redact;
mod runtime;
pub mod secrets;

pub use cache::{CacheOutcome, ComponentCache};
pub use error::{describe, CallError};
pub use limits::{HttpTimeouts, Limits};
pub use provider::{Capabilities, Provider, ProviderSpec};
pub use runtime::{
    compatibility_line, contract_mismatch, Code, LoadedComponent, Runtime, RuntimeOptions,
    CONTRACT_VERSION,
};

/// The contract's types, as the host sees them: [`roster_contract`]'s plain data (the
/// generated bindings stay inside this crate).
pub mod types {
    pub use roster_contract::{
        AttributeSchema, DataSourceSchema, FieldError, Presence, ProviderError, ProviderMetadata,
        RateLimit, RateLimitedError, ResourceSchema, SecretSchema, ValueType, VendorError,
    };
}
