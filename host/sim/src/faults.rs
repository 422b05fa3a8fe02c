//! Fault injection per route: an error rate (with the status to answer), added latency, a rate
//! of dropped connections, and a hostile vendor ([`Misbehaviour`]: answers a broken or malicious
//! server sends), drawn from a seedable generator so a run can be repeated.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Faults for one route (or `*` for every route).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Share of requests answered with `error_status` (0.0 – 1.0).
    pub error_rate: f64,
    /// The status of injected errors (503 when 0).
    pub error_status: u16,
    /// Latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Share of requests whose connection is closed without an answer (0.0 – 1.0).
    pub drop_rate: f64,
    /// Apply the latency and the error or drop *after* serving the request: the vendor did the
    /// work and the answer is late or lost (a timeout after commit).
    pub after_serve: bool,
    /// Injected errors echo the request — method, path, every header (credentials included)
    /// and the body — in a plain-text page, as a misconfigured gateway's debug page does.
    pub echo: bool,
    /// Answer every request (or, with `error_rate`, that share of them) this hostile way instead.
    pub misbehave: Option<Misbehaviour>,
}

/// How a hostile or broken vendor answers: each is a case the components and hosts must turn into
/// a bounded, clear outcome (a typed error, never a panic, a hang or unbounded memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Misbehaviour {
    /// 200 with a declared length, then one byte every 200 ms (slow loris).
    SlowBody,
    /// 200 with a chunked body that never ends.
    EndlessBody,
    /// 200 with 10 MB of JSON.
    HugeJson,
    /// 200 with JSON nested 100,000 deep.
    DeepJson,
    /// 200, `application/json`, bytes that are not UTF-8.
    InvalidUtf8,
    /// 200 with an HTML page (a captive portal or a proxy's page).
    WrongContentType,
    /// 200 whose body is an error (`{"error": …}`, result code 500).
    ErrorInOk,
    /// 302 to another host.
    RedirectOffHost,
    /// 429 with two different `Retry-After` headers and two `Content-Type`s.
    DuplicateHeaders,
    /// 429 with `Retry-After` as an HTTP date in the past.
    RetryAfterPast,
    /// 429 with `Retry-After` as an HTTP date two seconds ahead.
    RetryAfterDate,
    /// 429 with `Retry-After: 99999999999` (over 3,000 years).
    RetryAfterAbsurd,
}

impl Misbehaviour {
    /// Every case.
    pub const ALL: [Misbehaviour; 12] = [
        Misbehaviour::SlowBody,
        Misbehaviour::EndlessBody,
        Misbehaviour::HugeJson,
        Misbehaviour::DeepJson,
        Misbehaviour::InvalidUtf8,
        Misbehaviour::WrongContentType,
        Misbehaviour::ErrorInOk,
        Misbehaviour::RedirectOffHost,
        Misbehaviour::DuplicateHeaders,
        Misbehaviour::RetryAfterPast,
        Misbehaviour::RetryAfterDate,
        Misbehaviour::RetryAfterAbsurd,
    ];
}

/// What to do with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Serve it normally.
    Serve,
    /// Answer with this status.
    Error(u16),
    /// Answer with this status and a page echoing the request.
    Echo(u16),
    /// Close the connection.
    Drop,
    /// Answer as a hostile vendor does.
    Misbehave(Misbehaviour),
}

/// The faults of a sandbox, with their random generator.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Route name → faults.
    pub routes: BTreeMap<String, Fault>,
    /// The generator's seed.
    pub seed: u64,
    #[serde(skip)]
    state: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            routes: BTreeMap::new(),
            seed: 1,
            state: 0,
        }
    }
}

impl Faults {
    /// Restarts the generator from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.state = 0;
    }

    /// A number in [0, 1) (xorshift64*).
    fn next(&mut self) -> f64 {
        if self.state == 0 {
            self.state = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        }
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether the faults of `route` apply after it is served.
    pub fn after_serve(&self, route: &str) -> bool {
        self.routes
            .get(route)
            .or_else(|| self.routes.get("*"))
            .is_some_and(|f| f.after_serve)
    }

    /// The latency to add and the action for a request to `route`.
    pub fn decide(&mut self, route: &str) -> (Duration, Action) {
        let Some(fault) = self
            .routes
            .get(route)
            .or_else(|| self.routes.get("*"))
            .cloned()
        else {
            return (Duration::ZERO, Action::Serve);
        };
        let latency = Duration::from_millis(fault.latency_ms);
        let action = if fault.drop_rate > 0.0 && self.next() < fault.drop_rate {
            Action::Drop
        } else if let Some(m) = fault.misbehave {
            if fault.error_rate == 0.0 || self.next() < fault.error_rate {
                Action::Misbehave(m)
            } else {
                Action::Serve
            }
        } else if fault.error_rate > 0.0 && self.next() < fault.error_rate {
            let status = if fault.error_status == 0 {
                503
            } else {
                fault.error_status
            };
            if fault.echo {
                Action::Echo(status)
            } else {
                Action::Error(status)
            }
        } else {
            Action::Serve
        };
        (latency, action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_runs_repeat_and_rates_hold() {
        let mut a = Faults::default();
        a.routes.insert(
            "get".into(),
            Fault {
                error_rate: 0.3,
                ..Fault::default()
            },
        );
        let mut b = a.clone();
        a.reseed(7);
        b.reseed(7);
        let run = |f: &mut Faults| (0..1000).map(|_| f.decide("get").1).collect::<Vec<_>>();
        let (ra, rb) = (run(&mut a), run(&mut b));
        assert_eq!(ra, rb);
        let errors = ra.iter().filter(|x| **x == Action::Error(503)).count();
        assert!((250..350).contains(&errors), "{errors}");
        assert_eq!(a.decide("other"), (Duration::ZERO, Action::Serve));
        a.routes.insert(
            "*".into(),
            Fault {
                error_rate: 1.0,
                error_status: 502,
                echo: true,
                ..Fault::default()
            },
        );
        assert_eq!(a.decide("other"), (Duration::ZERO, Action::Echo(502)));
    }

    #[test]
    fn every_misbehaviour_is_named_in_the_guide() {
        let guide = include_str!("../../../docs/guide.md");
        for m in Misbehaviour::ALL {
            let name = serde_json::to_value(m).unwrap();
            let name = name.as_str().unwrap();
            assert!(
                guide.contains(&format!("`{name}`")),
                "docs/guide.md does not name misbehave = {name:?}"
            );
            assert_eq!(
                serde_json::from_value::<Misbehaviour>(serde_json::json!(name)).unwrap(),
                m
            );
        }
    }
}
