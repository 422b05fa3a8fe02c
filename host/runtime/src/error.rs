//! What a call into a provider can end in.

use crate::redact::Redactor;
use roster_contract::{FieldError, ProviderError, RateLimitedError, VendorError};
use std::fmt;
use std::time::Duration;

/// A failed provider call: the provider's own typed error, or the sandbox stopping it.
#[derive(Debug)]
pub enum CallError {
    /// The provider answered with a typed error; the instance stays usable.
    Provider(ProviderError),
    /// The call ran past its deadline and was stopped; the instance was discarded.
    Deadline(Duration),
    /// The instance tried to grow memory past its limit; it was discarded.
    MemoryLimit(usize),
    /// The guest trapped (a panic, say); it was discarded. Holds the trap and the guest's stderr.
    Trap(String),
    /// The host could not load, instantiate or run the component.
    Host(anyhow::Error),
}

impl CallError {
    /// True when the instance that made the call was discarded (it will be replaced).
    pub fn discarded_instance(&self) -> bool {
        !matches!(self, CallError::Provider(_))
    }

    /// The same error with every value `redactor` knows replaced by `[redacted]` in its text.
    pub fn redacted(self, redactor: &Redactor) -> CallError {
        let r = |m: String| redactor.redact(&m);
        match self {
            CallError::Provider(e) => CallError::Provider(match e {
                ProviderError::InvalidConfig(f) => ProviderError::InvalidConfig(FieldError {
                    field: f.field,
                    message: r(f.message),
                }),
                ProviderError::InvalidInput(f) => ProviderError::InvalidInput(FieldError {
                    field: f.field,
                    message: r(f.message),
                }),
                ProviderError::Unauthorized(m) => ProviderError::Unauthorized(r(m)),
                ProviderError::Forbidden(m) => ProviderError::Forbidden(r(m)),
                ProviderError::NotFound(m) => ProviderError::NotFound(r(m)),
                ProviderError::AlreadyExists(m) => ProviderError::AlreadyExists(r(m)),
                ProviderError::RateLimited(e) => ProviderError::RateLimited(RateLimitedError {
                    retry_after_ms: e.retry_after_ms,
                    message: r(e.message),
                }),
                ProviderError::Unavailable(m) => ProviderError::Unavailable(r(m)),
                ProviderError::Denied(m) => ProviderError::Denied(r(m)),
                ProviderError::Vendor(e) => ProviderError::Vendor(VendorError {
                    status: e.status,
                    message: r(e.message),
                }),
            }),
            CallError::Trap(m) => CallError::Trap(r(m)),
            CallError::Host(e) => CallError::Host(anyhow::anyhow!(r(format!("{e:#}")))),
            other @ (CallError::Deadline(_) | CallError::MemoryLimit(_)) => other,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Provider(e) => f.write_str(&describe(e)),
            CallError::Deadline(d) => write!(
                f,
                "the provider call exceeded its deadline of {d:?} and was stopped"
            ),
            CallError::MemoryLimit(n) => write!(
                f,
                "the provider exceeded its memory limit of {n} bytes and was stopped"
            ),
            CallError::Trap(m) => write!(f, "the provider crashed: {m}"),
            CallError::Host(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<ProviderError> for CallError {
    fn from(e: ProviderError) -> Self {
        CallError::Provider(e)
    }
}

/// A one-line, human description of a provider's typed error.
pub fn describe(error: &ProviderError) -> String {
    match error {
        ProviderError::InvalidConfig(e) if e.field.is_empty() => {
            format!("invalid config: {}", e.message)
        }
        ProviderError::InvalidConfig(e) => {
            format!("invalid config at `{}`: {}", e.field, e.message)
        }
        ProviderError::InvalidInput(e) if e.field.is_empty() => {
            format!("invalid input: {}", e.message)
        }
        ProviderError::InvalidInput(e) => format!("invalid input at `{}`: {}", e.field, e.message),
        ProviderError::Unauthorized(m) => format!("unauthorized: {m}"),
        ProviderError::Forbidden(m) => format!("forbidden: {m}"),
        ProviderError::NotFound(m) => format!("not found: {m}"),
        ProviderError::AlreadyExists(m) => format!("already exists: {m}"),
        ProviderError::RateLimited(e) => match e.retry_after_ms {
            Some(ms) => format!("rate limited (retry after {ms} ms): {}", e.message),
            None => format!("rate limited: {}", e.message),
        },
        ProviderError::Unavailable(m) => format!("unavailable: {m}"),
        ProviderError::Denied(m) => format!("denied by the host: {m}"),
        ProviderError::Vendor(e) if e.status == 0 => format!("vendor error: {}", e.message),
        ProviderError::Vendor(e) => format!("vendor error (HTTP {}): {}", e.status, e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WIT `provider-error` a vector names.
    fn from_vector(e: &serde_json::Value) -> ProviderError {
        let val = &e["val"];
        let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
        let field = || FieldError {
            field: text(&val["field"]),
            message: text(&val["message"]),
        };
        match e["tag"].as_str().unwrap() {
            "invalid-config" => ProviderError::InvalidConfig(field()),
            "invalid-input" => ProviderError::InvalidInput(field()),
            "unauthorized" => ProviderError::Unauthorized(text(val)),
            "forbidden" => ProviderError::Forbidden(text(val)),
            "not-found" => ProviderError::NotFound(text(val)),
            "already-exists" => ProviderError::AlreadyExists(text(val)),
            "rate-limited" => ProviderError::RateLimited(RateLimitedError {
                retry_after_ms: val["retry-after-ms"].as_u64(),
                message: text(&val["message"]),
            }),
            "unavailable" => ProviderError::Unavailable(text(val)),
            "denied" => ProviderError::Denied(text(val)),
            "vendor" => ProviderError::Vendor(VendorError {
                status: val["status"].as_u64().unwrap() as u16,
                message: text(&val["message"]),
            }),
            other => panic!("no WIT case {other}"),
        }
    }

    #[test]
    fn failed_calls_discard_their_instance_as_the_policy_vector_says() {
        let v = crate::limits::policy_vector();
        let limits = crate::Limits::default();
        let outcomes = v["failed_calls"]["outcomes"].as_array().unwrap();
        assert_eq!(outcomes.len(), 4);
        for case in outcomes {
            assert!(case["not_enforced"].get("rust").is_none(), "{case}");
            let error = match case["outcome"].as_str().unwrap() {
                "provider-error" => CallError::Provider(ProviderError::NotFound("gone".into())),
                "trap" => {
                    CallError::Trap("wasm trap: wasm `unreachable` instruction executed".into())
                }
                "deadline" => CallError::Deadline(limits.call_deadline),
                "memory-limit" => CallError::MemoryLimit(limits.memory_bytes),
                other => panic!("no outcome {other}"),
            };
            assert_eq!(
                error.discarded_instance(),
                case["discards_instance"].as_bool().unwrap(),
                "{case}"
            );
            if let Some(start) = case["text_starts"]["rust"].as_str() {
                assert!(error.to_string().starts_with(start), "{error} for {case}");
            }
        }
    }

    #[test]
    fn errors_are_described_as_the_golden_vectors_say() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/errors.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for case in v["cases"].as_array().unwrap() {
            assert_eq!(
                describe(&from_vector(&case["error"])),
                case["describe"].as_str().unwrap(),
                "{case}"
            );
        }
    }
}
