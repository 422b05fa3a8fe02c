//! The Symbee Connect sandbox: the user provisioning API (`/symbee-admin/api/users/…`), with a
//! backing "Amazon Connect" user list, following `symbee-connect-user-provisioning-api.txt`.
//!
//! Where the doc is silent the sandbox chooses, and says so here:
//! - a 401 carries `{"message": …}` naming what was wrong (missing header, unknown company…);
//! - a body that is not a JSON object is a 400;
//! - an environment may have provisioning disabled: every operation answers 200 UNAUTHORIZED;
//! - an environment may be set to fail Amazon Connect creation: add-user with
//!   `createInAmazonConnect` answers 200 FAIL and creates nothing;
//! - a user is "in Amazon Connect" when a Connect user has its login id as username; add-user
//!   with `createInAmazonConnect` links an existing Connect user of that name instead of
//!   creating a second; delete-user removes the Connect user too ("delete Users and Agents within
//!   Symbee Connect, and also within the backing Amazon Connect Instance");
//! - no rate limit is documented, so none is enforced unless one is seeded.
//!
//! Control endpoints: `GET /_sandbox/state`, `PUT /_sandbox/state` (a [`SymbeeSeed`]),
//! `PUT /_sandbox/faults` (a [`Faults`]), `POST /_sandbox/rotate-key`
//! (`{company_code, environment, api_key}`).

use crate::faults::Faults;
use crate::rate::{RateLimit, RateMode, Window};
use crate::server::{
    json, json_with, serve, with_faults, Handler, Outcome, Req, Running, ServerLimits,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The static platform code.
pub const PLATFORM: &str = "AWS Connect";

/// How an environment's Amazon Connect instance authenticates users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// SAML 2.0 SSO: primaryEmailAddr is ignored.
    Saml,
    /// Linked to an existing directory: primaryEmailAddr is required.
    Directory,
    /// Amazon Connect's internal user directory: the API is NOT_SUPPORTED.
    ConnectInternal,
}

/// A Symbee Connect user.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbeeUser {
    /// Login id (case-sensitive).
    pub login_user_id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Template it was created from.
    pub user_template_name: String,
    /// Primary e-mail (directory environments).
    #[serde(default)]
    pub primary_email: Option<String>,
    /// Secondary e-mail.
    #[serde(default)]
    pub secondary_email: Option<String>,
}

/// A user of the backing Amazon Connect instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectUser {
    /// Username (a Symbee user's login id).
    pub username: String,
    /// Amazon Connect user id.
    pub id: String,
}

/// A Symbee Connect environment of a company.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Environment name.
    pub name: String,
    /// Its AWS Secrets Manager region (the X-sc-secrets-region header).
    pub secrets_region: String,
    /// The current API key.
    pub api_key: String,
    /// Connect authentication.
    pub auth: AuthMode,
    /// False answers UNAUTHORIZED to every operation.
    #[serde(default = "yes")]
    pub provisioning_enabled: bool,
    /// True makes Amazon Connect creation fail (result FAIL).
    #[serde(default)]
    pub connect_failure: bool,
    /// User template names.
    pub templates: Vec<String>,
    /// Symbee users.
    pub users: Vec<SymbeeUser>,
    /// Amazon Connect users.
    pub connect_users: Vec<ConnectUser>,
}

fn yes() -> bool {
    true
}

/// A company (its alias is the company code).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Company {
    /// Company alias.
    pub company_code: String,
    /// Its environments.
    pub environments: Vec<Environment>,
}

/// Everything a Symbee sandbox starts from.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbeeSeed {
    /// Companies.
    pub companies: Vec<Company>,
    /// An optional rate limit (the doc gives none).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Fault injection.
    #[serde(default)]
    pub faults: Faults,
}

/// Names of the built-in demo seed.
pub mod demo {
    /// Company code.
    pub const COMPANY: &str = "abc-gadgets";
    /// SAML environment.
    pub const ENV_SAML: &str = "prod";
    /// Directory environment.
    pub const ENV_DIRECTORY: &str = "corp";
    /// Connect-internal environment (API not supported).
    pub const ENV_INTERNAL: &str = "lab";
    /// Secrets region.
    pub const SECRETS_REGION: &str = "us-east-1";
    /// The demo API key (sandbox data, not a credential).
    pub const API_KEY: &str = "sandbox-api-key-1";
    /// A user template.
    pub const TEMPLATE: &str = "StandardAgent";
}

impl SymbeeSeed {
    /// The demo company: a SAML environment `prod` with one existing user who is missing from
    /// Amazon Connect, a directory environment `corp`, and a Connect-internal environment `lab`.
    pub fn demo() -> SymbeeSeed {
        use demo::*;
        let env = |name: &str, auth| Environment {
            name: name.into(),
            secrets_region: SECRETS_REGION.into(),
            api_key: API_KEY.into(),
            auth,
            provisioning_enabled: true,
            connect_failure: false,
            templates: vec![TEMPLATE.into(), "Supervisor".into()],
            users: vec![],
            connect_users: vec![],
        };
        let mut prod = env(ENV_SAML, AuthMode::Saml);
        prod.users.push(SymbeeUser {
            login_user_id: "vvenus@abc-gadgets.com".into(),
            first_name: "Vera".into(),
            last_name: "Venus".into(),
            user_template_name: TEMPLATE.into(),
            primary_email: None,
            secondary_email: None,
        });
        SymbeeSeed {
            companies: vec![Company {
                company_code: COMPANY.into(),
                environments: vec![
                    prod,
                    env(ENV_DIRECTORY, AuthMode::Directory),
                    env(ENV_INTERNAL, AuthMode::ConnectInternal),
                ],
            }],
            rate_limit: None,
            faults: Faults::default(),
        }
    }
}

/// Counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Requests answered 401.
    pub unauthorized: u64,
    /// Operations served (any result).
    pub operations: u64,
    /// Operations answered 429.
    pub rate_limited: u64,
    /// Faults injected.
    pub faults_injected: u64,
}

struct State {
    seed: SymbeeSeed,
    window: Window,
    stats: Stats,
    next_id: u64,
}

/// A Symbee Connect sandbox.
#[derive(Clone)]
pub struct SymbeeSim {
    state: Arc<Mutex<State>>,
}

fn result(result: &str, message: &str, extra: Value) -> Outcome {
    let mut body = json!({ "result": result, "message": message });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    json(200, body)
}

fn unauthorized(s: &mut State, why: &str) -> Outcome {
    s.stats.unauthorized += 1;
    json(401, json!({ "message": format!("Unauthorized: {why}") }))
}

impl SymbeeSim {
    /// A sandbox holding `seed`.
    pub fn new(seed: SymbeeSeed) -> SymbeeSim {
        SymbeeSim {
            state: Arc::new(Mutex::new(State {
                seed,
                window: Window::default(),
                stats: Stats::default(),
                next_id: 1,
            })),
        }
    }

    /// Serves on `addr` (port 0 picks one).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<Running> {
        self.serve_with(addr, ServerLimits::default()).await
    }

    /// Serves on `addr` under `limits`.
    pub async fn serve_with(
        &self,
        addr: SocketAddr,
        limits: ServerLimits,
    ) -> std::io::Result<Running> {
        serve(Arc::new(self.clone()), addr, limits).await
    }

    /// Changes the state in place.
    pub fn update<R>(&self, f: impl FnOnce(&mut SymbeeSeed) -> R) -> R {
        f(&mut self.state.lock().unwrap().seed)
    }

    /// Replaces the state.
    pub fn reseed(&self, seed: SymbeeSeed) {
        let mut s = self.state.lock().unwrap();
        s.seed = seed;
        s.window = Window::default();
    }

    /// The state as `GET /_sandbox/state` shows it (API keys redacted).
    pub fn snapshot(&self) -> Value {
        let s = self.state.lock().unwrap();
        let mut v = serde_json::to_value(&s.seed).expect("serializable");
        for c in v["companies"].as_array_mut().into_iter().flatten() {
            for e in c["environments"].as_array_mut().into_iter().flatten() {
                e["api_key"] = json!("<redacted>");
            }
        }
        v["stats"] = serde_json::to_value(&s.stats).expect("serializable");
        v
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }

    /// Rotates an environment's key: the old key is rejected from now on.
    pub fn rotate_key(&self, company: &str, environment: &str, key: &str) -> bool {
        self.update(|s| {
            let env = s
                .companies
                .iter_mut()
                .filter(|c| c.company_code == company)
                .flat_map(|c| c.environments.iter_mut())
                .find(|e| e.name == environment);
            match env {
                Some(e) => {
                    e.api_key = key.into();
                    true
                }
                None => false,
            }
        })
    }

    fn operation(&self, op: &str, req: &Req) -> Outcome {
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        // Headers first: any missing, malformed or wrong X-sc header is a 401.
        let header = |n: &str| {
            req.header(n)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let names = [
            "x-sc-platform-code",
            "x-sc-company-code",
            "x-sc-company-environment",
            "x-sc-secrets-region",
            "x-sc-company-api-key",
        ];
        let mut values = Vec::new();
        for n in names {
            match header(n) {
                Some(v) => values.push(v),
                None => return unauthorized(s, &format!("missing header {n}")),
            }
        }
        let [platform, company, environment, region, key] =
            <[String; 5]>::try_from(values).unwrap();
        if platform != PLATFORM {
            return unauthorized(s, "X-sc-platform-code must be \"AWS Connect\"");
        }
        let Some(ci) = s
            .seed
            .companies
            .iter()
            .position(|c| c.company_code == company)
        else {
            return unauthorized(s, "unknown company code");
        };
        let Some(ei) = s.seed.companies[ci]
            .environments
            .iter()
            .position(|e| e.name == environment)
        else {
            return unauthorized(s, "unknown environment");
        };
        let env = &s.seed.companies[ci].environments[ei];
        if env.secrets_region != region {
            return unauthorized(s, "X-sc-secrets-region does not match the environment");
        }
        if env.api_key != key {
            return unauthorized(s, "invalid API key");
        }
        if let Some(limit) = s.seed.rate_limit {
            if let Err(wait) = s.window.admit(&limit, Instant::now()) {
                if limit.mode == RateMode::Reject {
                    s.stats.rate_limited += 1;
                    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
                    return json_with(
                        429,
                        json!({ "message": "Too many requests" }),
                        &[("retry-after", secs.to_string())],
                    );
                }
            }
        }
        s.stats.operations += 1;
        let body = req.json();
        if !body.is_object() {
            return json(
                400,
                json!({ "message": "The request body must be a JSON object" }),
            );
        }
        let tenant = &body["tenant"];
        let matches = tenant["platform"] == PLATFORM
            && tenant["companyCode"] == company.as_str()
            && tenant["environment"] == environment.as_str();
        if !matches {
            return result(
                "INVALID_TENANT",
                "The tenant in the request body does not match the X-sc headers",
                json!({}),
            );
        }
        let env = &mut s.seed.companies[ci].environments[ei];
        if env.auth == AuthMode::ConnectInternal {
            return result("NOT_SUPPORTED", "User provisioning is not supported for environments using the Amazon Connect internal user directory", json!({}));
        }
        if !env.provisioning_enabled {
            return result(
                "UNAUTHORIZED",
                "User provisioning is not enabled for this environment",
                json!({}),
            );
        }
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let Some(login) = text("loginUserId") else {
            return result("INVALID_ARGUMENTS", "loginUserId is required", json!({}));
        };
        let connect_of = |env: &Environment, login: &str| {
            env.connect_users
                .iter()
                .find(|c| c.username == login)
                .map(|c| c.id.clone())
        };
        match op {
            "query-existence" => match env.users.iter().any(|u| u.login_user_id == login) {
                false => result(
                    "NOT_FOUND",
                    "User not found",
                    json!({ "amazonConnectStatus": null, "connectUserId": null }),
                ),
                true => {
                    let id = connect_of(env, &login);
                    let status = if id.is_some() { "EXISTS" } else { "NOT_FOUND" };
                    result(
                        "SUCCESS",
                        "User exists",
                        json!({ "amazonConnectStatus": status, "connectUserId": id }),
                    )
                }
            },
            "delete-user" => match env.users.iter().position(|u| u.login_user_id == login) {
                None => result("NOT_FOUND", "User not found", json!({})),
                Some(i) => {
                    env.users.remove(i);
                    env.connect_users.retain(|c| c.username != login);
                    result("SUCCESS", "User profile deleted.", json!({}))
                }
            },
            "add-user" => {
                let mut missing: Vec<&str> = ["firstName", "lastName", "userTemplateName"]
                    .into_iter()
                    .filter(|k| text(k).is_none())
                    .collect();
                let primary = text("primaryEmailAddr");
                if env.auth == AuthMode::Directory && primary.is_none() {
                    missing.push("primaryEmailAddr");
                }
                if !missing.is_empty() {
                    return result(
                        "INVALID_ARGUMENTS",
                        &format!("Missing required arguments: {}", missing.join(", ")),
                        json!({}),
                    );
                }
                let in_connect = match body.get("createInAmazonConnect") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return result(
                            "INVALID_ARGUMENTS",
                            "createInAmazonConnect must be true or false",
                            json!({}),
                        )
                    }
                };
                let template = text("userTemplateName").unwrap();
                if !env.templates.contains(&template) {
                    return result(
                        "INVALID_ARGUMENTS",
                        &format!("User template '{template}' not found"),
                        json!({}),
                    );
                }
                if env.users.iter().any(|u| u.login_user_id == login) {
                    return result("ALREADY_EXISTS", "User already exists", json!({}));
                }
                let connect_id = if in_connect {
                    if env.connect_failure {
                        return result(
                            "FAIL",
                            "Failed to create the user in Amazon Connect",
                            json!({}),
                        );
                    }
                    Some(match connect_of(env, &login) {
                        Some(id) => id,
                        None => {
                            let id = connect_uuid(s_next(&mut s.next_id));
                            env.connect_users.push(ConnectUser {
                                username: login.clone(),
                                id: id.clone(),
                            });
                            id
                        }
                    })
                } else {
                    None
                };
                env.users.push(SymbeeUser {
                    login_user_id: login,
                    first_name: text("firstName").unwrap(),
                    last_name: text("lastName").unwrap(),
                    user_template_name: template,
                    primary_email: if env.auth == AuthMode::Saml {
                        None
                    } else {
                        primary
                    },
                    secondary_email: text("secondaryEmailAddr"),
                });
                result(
                    "SUCCESS",
                    "User Created",
                    json!({ "connectUserId": connect_id }),
                )
            }
            _ => json(404, json!({ "message": "Unknown operation" })),
        }
    }

    fn control(&self, req: &Req, what: &[&str]) -> Outcome {
        let body = req.json();
        let bad = |e: String| json(400, json!({ "message": format!("bad body: {e}") }));
        match (req.method.as_str(), what) {
            ("GET", ["state"]) => json(200, self.snapshot()),
            ("PUT", ["state"]) => match serde_json::from_value::<SymbeeSeed>(body) {
                Ok(seed) => {
                    self.reseed(seed);
                    json(200, json!({ "ok": true }))
                }
                Err(e) => bad(e.to_string()),
            },
            ("PUT", ["faults"]) => match serde_json::from_value::<Faults>(body) {
                Ok(mut f) => {
                    f.reseed(f.seed);
                    self.update(|s| s.faults = f);
                    json(200, json!({ "ok": true }))
                }
                Err(e) => bad(e.to_string()),
            },
            ("POST", ["rotate-key"]) => {
                let field = |k: &str| body[k].as_str().unwrap_or("").to_string();
                if self.rotate_key(
                    &field("company_code"),
                    &field("environment"),
                    &field("api_key"),
                ) {
                    json(200, json!({ "ok": true }))
                } else {
                    json(404, json!({ "message": "no such company or environment" }))
                }
            }
            _ => json(
                404,
                json!({ "message": "unknown sandbox control endpoint" }),
            ),
        }
    }
}

fn s_next(n: &mut u64) -> u64 {
    *n += 1;
    *n
}

/// A UUID-shaped Amazon Connect user id.
fn connect_uuid(n: u64) -> String {
    let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "a5953a27-{:04x}-45b3-{:04x}-{:012x}",
        (x >> 48) & 0xffff,
        (x >> 32) & 0xffff,
        x & 0xffff_ffff_ffff
    )
}

impl Handler for SymbeeSim {
    async fn handle(self: Arc<Self>, req: Req) -> Outcome {
        let segments: Vec<String> = req.segments().into_iter().map(String::from).collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let op = match (req.method.as_str(), segs.as_slice()) {
            (_, ["_sandbox", rest @ ..]) => return self.control(&req, rest),
            (
                "POST",
                ["symbee-admin", "api", "users", op @ ("add-user" | "query-existence" | "delete-user")],
            ) => op.to_string(),
            _ => {
                return json(
                    404,
                    json!({ "message": format!("No route for {} {}", req.method, req.path) }),
                )
            }
        };
        let after = self.update(|s| s.faults.after_serve(&op));
        with_faults(
            after,
            || self.update(|s| s.faults.decide(&op)),
            &req,
            |status| json(status, json!({ "message": "Injected fault" })),
            || self.state.lock().unwrap().stats.faults_injected += 1,
            || async { self.operation(&op, &req) },
        )
        .await
    }
}

/// Serves a Symbee sandbox with `seed` on a free loopback port.
pub async fn start(seed: SymbeeSeed) -> std::io::Result<(SymbeeSim, Running)> {
    let sandbox = SymbeeSim::new(seed);
    let running = sandbox.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    Ok((sandbox, running))
}
