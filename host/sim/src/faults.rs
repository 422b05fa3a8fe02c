//! Fault injection per route: an error rate (with the status to answer), added latency, and a
//! rate of dropped connections, drawn from a seedable generator so a run can be repeated.

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
        Faults { routes: BTreeMap::new(), seed: 1, state: 0 }
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
        self.routes.get(route).or_else(|| self.routes.get("*")).is_some_and(|f| f.after_serve)
    }

    /// The latency to add and the action for a request to `route`.
    pub fn decide(&mut self, route: &str) -> (Duration, Action) {
        let Some(fault) = self.routes.get(route).or_else(|| self.routes.get("*")).cloned() else {
            return (Duration::ZERO, Action::Serve);
        };
        let latency = Duration::from_millis(fault.latency_ms);
        let action = if fault.drop_rate > 0.0 && self.next() < fault.drop_rate {
            Action::Drop
        } else if fault.error_rate > 0.0 && self.next() < fault.error_rate {
            let status = if fault.error_status == 0 { 503 } else { fault.error_status };
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
        a.routes.insert("get".into(), Fault { error_rate: 0.3, ..Fault::default() });
        let mut b = a.clone();
        a.reseed(7);
        b.reseed(7);
        let run = |f: &mut Faults| (0..1000).map(|_| f.decide("get").1).collect::<Vec<_>>();
        let (ra, rb) = (run(&mut a), run(&mut b));
        assert_eq!(ra, rb);
        let errors = ra.iter().filter(|x| **x == Action::Error(503)).count();
        assert!((250..350).contains(&errors), "{errors}");
        assert_eq!(a.decide("other"), (Duration::ZERO, Action::Serve));
        a.routes.insert("*".into(), Fault { error_rate: 1.0, error_status: 502, echo: true, ..Fault::default() });
        assert_eq!(a.decide("other"), (Duration::ZERO, Action::Echo(502)));
    }
}
