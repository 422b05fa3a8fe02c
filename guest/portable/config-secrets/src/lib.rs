//! `config-secrets`: Roster's `secrets` interface served from `wasi:config/store`.
//!
//! A secret named `client_secret` is the config value under the key `client_secret`; with the
//! wasmtime CLI that is `-S config -S config-var=client_secret=…`. `refresh` reads the store again
//! (it has no cache to bypass). A missing key is `not-found`, a store failure `unavailable`.
// A component: it builds for wasm32 only (on the host, `cargo build --workspace` sees an empty crate).
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "../wit"],
        world: "roster:portable/config-secrets",
        generate_all,
    });
}

use bindings::exports::roster::provider::secrets::{Guest, SecretError};
use bindings::wasi::config::store;

struct ConfigSecrets;

fn lookup(name: String) -> Result<String, SecretError> {
    match store::get(&name) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(SecretError::NotFound(format!(
            "no wasi:config value `{name}` (wasmtime CLI: -S config -S config-var={name}=…)"
        ))),
        Err(store::Error::Upstream(m) | store::Error::Io(m)) => Err(SecretError::Unavailable(
            format!("wasi:config could not read `{name}`: {m}"),
        )),
    }
}

impl Guest for ConfigSecrets {
    fn get(name: String) -> Result<String, SecretError> {
        lookup(name)
    }

    fn refresh(name: String) -> Result<String, SecretError> {
        lookup(name)
    }
}

bindings::export!(ConfigSecrets with_types_in bindings);
