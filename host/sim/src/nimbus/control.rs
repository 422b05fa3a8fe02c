//! The control endpoints under `/_sandbox/`: state, faults, rate limit, tokens, secret rotation.

use super::api::problem;
use super::{MintToken, NimbusSeed, NimbusSim};
use crate::faults::Faults;
use crate::rate::RateLimit;
use crate::server::{json, Outcome, Req, MAX_LIFETIME_SECS};
use serde_json::json;

impl NimbusSim {
    pub(super) fn control(&self, req: &Req, what: &[&str]) -> Outcome {
        let body = req.json();
        let bad = |e: serde_json::Error| problem(400, &format!("bad body: {e}"));
        match (req.method.as_str(), what) {
            ("GET", ["state"]) => json(200, self.snapshot()),
            ("PUT", ["state"]) => match serde_json::from_value::<NimbusSeed>(body) {
                Ok(seed) if seed.token_lifetime_secs > MAX_LIFETIME_SECS => problem(
                    400,
                    &format!("bad body: token_lifetime_secs must be at most {MAX_LIFETIME_SECS}"),
                ),
                Ok(seed) => {
                    self.reseed(seed);
                    json(200, json!({ "ok": true }))
                }
                Err(e) => bad(e),
            },
            ("PUT", ["faults"]) => match serde_json::from_value::<Faults>(body) {
                Ok(mut f) => {
                    f.reseed(f.seed);
                    self.update(|s| s.faults = f);
                    json(200, json!({ "ok": true }))
                }
                Err(e) => bad(e),
            },
            ("PUT", ["rate-limit"]) => match serde_json::from_value::<RateLimit>(body) {
                Ok(r) => {
                    self.update(|s| s.rate_limit = r);
                    json(200, json!({ "ok": true }))
                }
                Err(e) => bad(e),
            },
            ("POST", ["tokens", "revoke"]) => {
                self.revoke_tokens();
                json(200, json!({ "ok": true }))
            }
            ("POST", ["tokens", "mint"]) => match serde_json::from_value::<MintToken>(body) {
                Ok(m) if m.expires_in.is_some_and(|s| s > MAX_LIFETIME_SECS) => problem(
                    400,
                    &format!("bad body: expires_in must be at most {MAX_LIFETIME_SECS}"),
                ),
                Ok(m) => json(200, json!({ "access_token": self.mint(m) })),
                Err(e) => bad(e),
            },
            ("POST", ["entra", "rotate-secret"]) => {
                let (Some(id), Some(secret)) =
                    (body["client_id"].as_str(), body["client_secret"].as_str())
                else {
                    return problem(400, "client_id and client_secret are required");
                };
                if self.rotate_secret(id, secret) {
                    json(200, json!({ "ok": true }))
                } else {
                    problem(404, "no such app")
                }
            }
            _ => problem(404, "unknown sandbox control endpoint"),
        }
    }
}
