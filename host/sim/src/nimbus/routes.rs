//! Request dispatch: each request to the control, token or API handler, through fault injection.

use super::api::problem;
use super::NimbusSim;
use crate::server::{with_faults, Handler, Outcome, Req};
use std::sync::Arc;

/// The route name of an API path (for faults and roles), and the user id in it.
fn route_of(method: &str, segments: &[&str]) -> Option<(&'static str, Option<String>)> {
    match (method, segments) {
        ("POST", ["api", "public-api-next", "user"]) => Some(("create", None)),
        ("POST", ["api", "public-api-next", "user", "copy"]) => Some(("copy", None)),
        ("GET", ["api", "public-api-next", "user", "license-usage"]) => {
            Some(("license-usage", None))
        }
        ("GET", ["api", "public-api-next", "user", id]) => Some(("get", Some(id.to_string()))),
        ("DELETE", ["api", "public-api-next", "user", id]) => {
            Some(("delete", Some(id.to_string())))
        }
        _ => None,
    }
}

impl Handler for NimbusSim {
    async fn handle(self: Arc<Self>, req: Req) -> Outcome {
        let segments: Vec<String> = req.segments().into_iter().map(String::from).collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let ["_sandbox", rest @ ..] = segs.as_slice() {
            return self.control(&req, rest);
        }
        let route = match (req.method.as_str(), segs.as_slice()) {
            ("POST", [_, "oauth2", "v2.0", "token"]) => ("token", None),
            (m, s) => match route_of(m, s) {
                Some(r) => r,
                None => return problem(404, &format!("No route for {} {}", req.method, req.path)),
            },
        };
        let after = self.update(|s| s.faults.after_serve(route.0));
        with_faults(
            after,
            || self.update(|s| s.faults.decide(route.0)),
            &req,
            |status| problem(status, "Injected fault"),
            || self.state.lock().unwrap().stats.faults_injected += 1,
            || async {
                if route.0 == "token" {
                    return self.token_endpoint(segs[0], &req);
                }
                if let Err(outcome) = self.pace(&req).await {
                    return outcome;
                }
                *self
                    .state
                    .lock()
                    .unwrap()
                    .stats
                    .by_route
                    .entry(route.0.to_string())
                    .or_default() += 1;
                self.api(route.0, &req, route.1.as_deref())
            },
        )
        .await
    }
}
