//! `config-wrapper`: re-exports a Roster provider (imported from the vendor component it is
//! composed with), configured from `wasi:config/store` before the first call that needs a config.
//!
//! A Roster provider keeps its config per instance and wants `configure` before `read`, `create`,
//! `delete` and `query`. `wasmtime run --invoke` makes a new instance for its one call, so this
//! wrapper calls `configure` first, once per instance, with the config it finds in wasi:config:
//! one value per config key, `config.<key>` (`config.company_code=abc-gadgets`), typed by the
//! provider's config schema (strings as given; booleans, numbers, lists and objects as JSON).
//! One value per key, not one JSON object, because the wasmtime CLI splits `-S config-var=…` on
//! commas.
//!
//! An explicit `configure` call takes precedence; `metadata`, `allowed-hosts` and `validate`
//! need no config and pass straight through.
// A component: it builds for wasm32 only (on the host, `cargo build --workspace` sees an empty crate).
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "../wit"],
        world: "roster:portable/config-wrapper",
        generate_all,
    });
}

use bindings::exports::roster::provider::provider::Guest;
use bindings::roster::provider::provider as inner;
use bindings::roster::provider::types::{FieldError, ProviderError, ProviderMetadata, ValueType};
use bindings::wasi::config::store;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};

/// The prefix of the wasi:config keys holding one config value each.
const PREFIX: &str = "config.";

/// Whether the inner provider has taken a config in this instance.
static CONFIGURED: AtomicBool = AtomicBool::new(false);

struct ConfigWrapper;

fn unavailable(e: store::Error) -> ProviderError {
    let (store::Error::Upstream(m) | store::Error::Io(m)) = e;
    ProviderError::Unavailable(format!("wasi:config could not be read: {m}"))
}

/// The provider config from wasi:config, as JSON object text.
fn config_from_store() -> Result<String, ProviderError> {
    let values: Vec<(String, String)> = store::get_all()
        .map_err(unavailable)?
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_string(), v)))
        .collect();
    if values.is_empty() {
        return Err(ProviderError::InvalidConfig(FieldError {
            field: "config".into(),
            message: format!("no provider config in wasi:config: give each key as `{PREFIX}<key>` (wasmtime CLI: -S config-var={PREFIX}<key>=<value>)"),
        }));
    }
    let schema = inner::metadata().config_schema;
    let mut config = Map::new();
    for (key, text) in values {
        let value_type = schema.iter().find(|a| a.name == key).map(|a| a.value_type);
        let value = match value_type {
            // Unknown keys go through as strings: `configure` names them in its error.
            Some(ValueType::String) | None => Value::String(text),
            // A value that is not JSON goes through as a string, for `configure` to reject.
            Some(_) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        };
        config.insert(key, value);
    }
    Ok(Value::Object(config).to_string())
}

/// Configures the inner provider from wasi:config, unless that happened already.
fn ensure_configured() -> Result<(), ProviderError> {
    if !CONFIGURED.load(Ordering::SeqCst) {
        inner::configure(&config_from_store()?)?;
        CONFIGURED.store(true, Ordering::SeqCst);
    }
    Ok(())
}

impl Guest for ConfigWrapper {
    fn metadata() -> ProviderMetadata {
        inner::metadata()
    }

    fn allowed_hosts(config: String) -> Result<Vec<String>, ProviderError> {
        inner::allowed_hosts(&config)
    }

    fn configure(config: String) -> Result<(), ProviderError> {
        inner::configure(&config)?;
        CONFIGURED.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn validate(type_name: String, desired: String) -> Vec<FieldError> {
        inner::validate(&type_name, &desired)
    }

    fn read(type_name: String, id: String) -> Result<Option<String>, ProviderError> {
        ensure_configured()?;
        inner::read(&type_name, &id)
    }

    fn create(type_name: String, desired: String) -> Result<String, ProviderError> {
        ensure_configured()?;
        inner::create(&type_name, &desired)
    }

    fn delete(type_name: String, id: String) -> Result<(), ProviderError> {
        ensure_configured()?;
        inner::delete(&type_name, &id)
    }

    fn query(data_source: String, arguments: String) -> Result<String, ProviderError> {
        ensure_configured()?;
        inner::query(&data_source, &arguments)
    }
}

bindings::export!(ConfigWrapper with_types_in bindings);
