//! Sandbox limits: how long a call may run, how much memory an instance may have, how long
//! outgoing HTTP may wait, and how many instances a provider may keep.

use std::time::Duration;

/// Timeouts for every outgoing HTTP request (epoch deadlines do not stop a guest that waits
/// inside a host call, so HTTP needs its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// Opening the connection (and the TLS handshake).
    pub connect: Duration,
    /// From the request's start (opening a connection included) to the first byte of the answer.
    pub first_byte: Duration,
    /// Between two chunks of the answer's body.
    pub between_bytes: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(30),
            between_bytes: Duration::from_secs(30),
        }
    }
}

/// Limits applied to each provider instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one guest call, checked whenever the guest runs (epoch interruption).
    pub call_deadline: Duration,
    /// Linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Instances kept per provider (the most calls it runs at once).
    pub max_instances: usize,
    /// Outgoing HTTP timeouts.
    pub http: HttpTimeouts,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_deadline: Duration::from_secs(60),
            memory_bytes: 64 << 20,
            max_instances: 4,
            http: HttpTimeouts::default(),
        }
    }
}

/// How often the engine's epoch advances; deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Limits {
    /// The call deadline in epoch ticks (at least one).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.call_deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }

    /// A wall-clock bound on a whole call, host waits included: the deadline plus every HTTP
    /// timeout once, so that only a host-side hang (never a slow guest) reaches it.
    pub(crate) fn wall_bound(&self) -> Duration {
        self.call_deadline + self.http.connect + self.http.first_byte + self.http.between_bytes
    }
}

/// A [`wasmtime::ResourceLimiter`] that caps linear memory and remembers when it said no.
pub(crate) struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    pub(crate) exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} bytes exceeded (asked for {desired})",
                self.max_bytes
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// tests/vectors/policy.json: the host policy the Node and Python hosts are held to as well.
#[cfg(test)]
pub(crate) fn policy_vector() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/policy.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("tests/vectors/policy.json"))
        .expect("tests/vectors/policy.json is JSON")
}

/// The sections of tests/vectors/policy.json that say `host` does not enforce them.
#[cfg(test)]
pub(crate) fn not_enforced_by(policy: &serde_json::Value, host: &str) -> Vec<String> {
    policy
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, section)| section["not_enforced"].get(host).is_some())
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &serde_json::Value) -> Duration {
        Duration::from_millis(
            v.as_u64()
                .unwrap_or_else(|| panic!("{v} is not milliseconds")),
        )
    }

    #[test]
    fn limits_are_the_policy_vector() {
        let v = policy_vector();
        let mut unenforced = not_enforced_by(&v, "rust");
        unenforced.sort();
        assert_eq!(
            unenforced,
            ["response_body_bytes"],
            "what this host leaves out"
        );
        assert!(v["response_body_bytes"]["limit"].is_null());

        let t = &v["http_timeouts_ms"];
        assert_eq!(
            HttpTimeouts::default(),
            HttpTimeouts {
                connect: ms(&t["connect"]),
                first_byte: ms(&t["first_byte"]),
                between_bytes: ms(&t["between_bytes"]),
            }
        );
        let limits = Limits::default();
        assert_eq!(limits.http, HttpTimeouts::default());
        assert_eq!(
            limits.memory_bytes as u64,
            v["memory_bytes"]["limit"].as_u64().unwrap()
        );
        assert_eq!(limits.call_deadline, ms(&v["call_deadline_ms"]["limit"]));
    }
}
