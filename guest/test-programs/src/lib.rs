//! `misbehave`: a provider component that does what it is told, including the things a
//! sandbox must stop. The host's limit tests drive it through `create(kind, args)`:
//!
//! | kind     | args                      | does                                           |
//! |----------|---------------------------|------------------------------------------------|
//! | `echo`   | anything                  | returns `args` (a trivial call)                |
//! | `spin`   | —                         | loops forever                                  |
//! | `grow`   | —                         | allocates until memory runs out                |
//! | `panic`  | `{"secret": name}`?       | panics (a trap); with `secret`, the panic message and stderr carry that secret's value |
//! | `fetch`  | `{"url": …}`              | GETs the URL; returns status and body          |
//! | `secret` | `{"name": …, "fresh": b}` | returns the secret's length and value          |
//!
//! `read("calls", _)` returns how many calls this instance has served, so tests can tell a
//! reused instance from a new one. `allowed-hosts(config)` returns `config.hosts`.
// A component: it builds for wasm32 only (on the host, `cargo build --workspace` sees an empty crate).
#![cfg(target_arch = "wasm32")]
use roster_guest_kit::bindings::exports::roster::provider::provider::Guest;
use roster_guest_kit::bindings::roster::provider::secrets;
use roster_guest_kit::{errors, http, parse_object, FieldError, ProviderError, ProviderMetadata};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);

struct Misbehave;

fn count() -> u64 {
    CALLS.fetch_add(1, Ordering::SeqCst) + 1
}

impl Guest for Misbehave {
    fn metadata() -> ProviderMetadata {
        count();
        ProviderMetadata {
            name: "misbehave".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A test provider that misbehaves on request.".into(),
            config_schema: vec![],
            secrets: vec![],
            resources: vec![],
            data_sources: vec![],
            rate_limit: None,
        }
    }

    fn allowed_hosts(config: String) -> Result<Vec<String>, ProviderError> {
        let config = parse_object(&config, "config")?;
        Ok(config
            .get("hosts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn configure(config: String) -> Result<(), ProviderError> {
        count();
        let config = parse_object(&config, "config")?;
        match config.keys().find(|k| *k != "hosts") {
            Some(k) => Err(errors::invalid_config(k, &format!("unknown key `{k}`"))),
            None => Ok(()),
        }
    }

    fn validate(_kind: String, _desired: String) -> Vec<FieldError> {
        count();
        vec![]
    }

    fn read(kind: String, _id: String) -> Result<Option<String>, ProviderError> {
        let calls = count();
        match kind.as_str() {
            "calls" => Ok(Some(json!({ "calls": calls }).to_string())),
            _ => Ok(None),
        }
    }

    fn create(kind: String, args: String) -> Result<String, ProviderError> {
        count();
        let args = parse_object(&args, "args")?;
        match kind.as_str() {
            "echo" => Ok(Value::Object(args).to_string()),
            "spin" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => match args.get("secret").and_then(Value::as_str) {
                Some(name) => {
                    let value = secrets::get(name).unwrap_or_default();
                    eprintln!("about to leak {value}");
                    panic!("asked to panic, holding {value}")
                }
                None => panic!("asked to panic"),
            },
            "fetch" => {
                let url = args.get("url").and_then(Value::as_str).unwrap_or_default();
                let reply = http::get(url).send()?;
                Ok(json!({ "status": reply.status, "body": reply.text() }).to_string())
            }
            "secret" => {
                let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
                let fresh = args.get("fresh").and_then(Value::as_bool).unwrap_or(false);
                let got = if fresh {
                    secrets::refresh(name)
                } else {
                    secrets::get(name)
                };
                match got {
                    Ok(value) => Ok(json!({ "length": value.len(), "value": value }).to_string()),
                    Err(e) => Err(errors::vendor(0, &format!("{e:?}"))),
                }
            }
            other => Err(errors::unknown_type("kind", other)),
        }
    }

    fn delete(_kind: String, _id: String) -> Result<(), ProviderError> {
        count();
        Ok(())
    }

    fn query(_source: String, _args: String) -> Result<String, ProviderError> {
        count();
        Err(errors::unknown_type("data source", &_source))
    }
}

roster_guest_kit::bindings::export!(Misbehave);
