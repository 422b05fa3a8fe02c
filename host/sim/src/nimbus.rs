//! The Nimbus sandbox: Microsoft Entra ID's client-credentials token endpoint and the Nimbus
//! provisioning API (`/api/public-api-next`), following `nimbus-provisioning-api.txt`.
//!
//! One server answers both: `POST /{tenant}/oauth2/v2.0/token` and `/api/public-api-next/…`,
//! so a provider config points `login_url` and `admin_url` at the same sandbox URL.
//!
//! Where the doc is silent the sandbox chooses, and says so here:
//! - error bodies are ASP.NET-style problem details (`title`, `status`, `detail`); the detail is
//!   the doc's text;
//! - the user details body uses the request bodies' camelCase (`o365Id`, `organizationUnitId`,
//!   `assignmentType`, `licenses`, `roles`, `skills`, `responsibilityProfiles`, …);
//! - creating and copying answer 200 with the new user's details;
//! - an MS-Teams synced user given to copy or delete is a 400; a template without a Contact
//!   Center licence is a 400;
//! - a missing or unknown bearer token is a 401 with `WWW-Authenticate: Bearer`;
//! - every API request counts against the rate limit, token requests do not.
//!
//! The token endpoint authenticates an app by its client secret (HTTP Basic or form fields), by
//! a certificate client assertion, or by a federated token (`client_assertion`): [`entra`] holds
//! those checks and their AADSTS texts. Apps list their `certificates` (PEM) and
//! `federated_credentials`; the seed's `trusted_issuers` hold the external identity providers'
//! keys.
//!
//! Control endpoints: `GET /_sandbox/state`, `PUT /_sandbox/state` (a [`NimbusSeed`]),
//! `PUT /_sandbox/faults` (a [`Faults`]), `PUT /_sandbox/rate-limit` (a [`RateLimit`]),
//! `POST /_sandbox/tokens/revoke`, `POST /_sandbox/tokens/mint` (a [`MintToken`]),
//! `POST /_sandbox/entra/rotate-secret` (`{client_id, client_secret}`).

use crate::entra::{self, AppCredentials, FederatedCredential, SeenJtis, TrustedIssuer};
use crate::faults::Faults;
use crate::rate::{RateLimit, RateMode, Window};
use crate::server::{
    expiry, json, json_with, serve, with_faults, Handler, Outcome, Req, Running, ServerLimits,
    MAX_LIFETIME_SECS,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The application roles the doc asks for, and what each allows.
pub const ROLE_CREATE: &str = "Provisioning.User.Create";
/// Allows DELETE of users.
pub const ROLE_DELETE: &str = "Provisioning.User.Delete";
/// Allows GET of user details.
pub const ROLE_READ: &str = "Provisioning.User.Read";
/// Allows GET of license usage.
pub const ROLE_TENANT_READ: &str = "Provisioning.Tenant.Read";
/// The licence a created user takes.
pub const CONTACT_CENTER: &str = "Contact Center";

/// An app registration in an Entra tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraApp {
    /// Application (client) id.
    pub client_id: String,
    /// Its client secret; empty for none.
    #[serde(default)]
    pub client_secret: String,
    /// Application permissions granted (with admin consent) on "Luware Nimbus Login".
    pub roles: Vec<String>,
    /// Certificate credentials: PEM certificates whose keys may sign client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Federated identity credentials: external tokens accepted as client assertions.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
}

/// An Entra tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraTenant {
    /// Tenant id.
    pub id: String,
    /// Its app registrations.
    pub apps: Vec<EntraApp>,
}

/// A Nimbus "Application Permission": an app id and the organization units it may touch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPermission {
    /// Azure application id.
    pub app_id: String,
    /// Organization unit ids in scope.
    pub organization_units: Vec<String>,
}

/// An organization unit.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationUnit {
    /// Its GUID.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A licence pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicensePool {
    /// Licence name/type.
    pub license_type: String,
    /// Purchased.
    pub total: u32,
}

/// How a user came to Nimbus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignmentType {
    /// Added manually (or through the API): copyable and deletable.
    SkillBased,
    /// Synced from an MS Teams team: the API rejects copy and delete.
    MsTeamsSynced,
}

/// A Nimbus user and its settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// O365 object id.
    pub o365_id: String,
    /// Organization unit id.
    pub organization_unit_id: String,
    /// Skill-based or Teams-synced.
    pub assignment_type: AssignmentType,
    /// Licences held.
    #[serde(default)]
    pub licenses: Vec<String>,
    /// Task modalities.
    #[serde(default)]
    pub modalities: Vec<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Responsibility profiles.
    #[serde(default)]
    pub responsibility_profiles: Vec<String>,
    /// Not-available reasons.
    #[serde(default)]
    pub not_available_reasons: Vec<String>,
    /// Interact settings.
    #[serde(default)]
    pub interact: Value,
    /// Assistant settings.
    #[serde(default)]
    pub assistant: Value,
}

/// A Nimbus provisioning tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningTenant {
    /// The Entra tenant id it belongs to.
    pub tenant_id: String,
    /// "Check if the API was enabled on your Provisioning Tenant Settings."
    pub api_enabled: bool,
    /// Apps allowed to use the API, with their OU scope.
    pub app_permissions: Vec<AppPermission>,
    /// Organization units.
    pub organization_units: Vec<OrganizationUnit>,
    /// Licence pools.
    pub licenses: Vec<LicensePool>,
    /// Users.
    pub users: Vec<User>,
}

/// Everything a Nimbus sandbox starts from; `GET /_sandbox/state` shows the same shape
/// (with client secrets redacted) plus counters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NimbusSeed {
    /// Entra tenants and their apps.
    pub entra: Vec<EntraTenant>,
    /// Token lifetime in seconds.
    #[serde(default = "default_lifetime")]
    pub token_lifetime_secs: u64,
    /// Accepted `scope` values; empty means `<sandbox URL>/.default`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Nimbus provisioning tenants.
    pub tenants: Vec<ProvisioningTenant>,
    /// The API rate limit.
    #[serde(default = "default_rate")]
    pub rate_limit: RateLimit,
    /// Fault injection.
    #[serde(default)]
    pub faults: Faults,
    /// External identity providers whose tokens federated credentials may name.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuer>,
}

fn default_lifetime() -> u64 {
    3599
}

fn default_rate() -> RateLimit {
    RateLimit {
        operations: 60,
        window_ms: 60_000,
        mode: RateMode::Reject,
    }
}

/// Ids of the built-in demo seed.
pub mod demo {
    /// The Entra tenant.
    pub const TENANT_ID: &str = "9fce70af-a632-49ca-bc0d-53db5a21c5b3";
    /// The app registration.
    pub const CLIENT_ID: &str = "3b0c7e1e-7a9f-4f3e-9d55-2f1c8a6b4e01";
    /// Its client secret (sandbox data, not a credential).
    pub const CLIENT_SECRET: &str = "sandbox-client-secret";
    /// OU "Sales" (in the app's scope).
    pub const OU_SALES: &str = "6a1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10";
    /// OU "Support" (in the app's scope).
    pub const OU_SUPPORT: &str = "b7e2a9c4-51d3-4f6a-8e0b-7d9c1a2b3e40";
    /// OU "Board" (not in the app's scope).
    pub const OU_BOARD: &str = "c3d4e5f6-1a2b-4c3d-9e8f-0a1b2c3d4e50";
    /// A skill-based template user in Sales.
    pub const TEMPLATE_USER: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
    /// An MS-Teams synced user in Support.
    pub const TEAMS_USER: &str = "1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6";

    /// A roster file's `[rows.agents]` table for this tenant: one nimbus_user per row of
    /// agents.csv (`alias,o365_id,team`), named by `alias`, the OU chosen by `team` (`sales`,
    /// `support`) through a mapping table. The sample roster, the tests and the benchmark use it.
    pub fn agents_rows() -> String {
        format!(
            "[rows.agents]\ncsv = \"agents.csv\"\nresource = \"nimbus_user\"\nkey = \"alias\"\n\n[rows.agents.attributes]\no365_id = {{ column = \"o365_id\" }}\norganization_unit_id = {{ column = \"team\", map = {{ sales = \"{OU_SALES}\", support = \"{OU_SUPPORT}\" }} }}\n"
        )
    }
}

impl NimbusSeed {
    /// The demo tenant: one app with all four roles, OUs Sales and Support in its scope and
    /// Board outside it, 25 Contact Center licences, a skill-based template user and a
    /// Teams-synced user.
    pub fn demo() -> NimbusSeed {
        use demo::*;
        let user =
            |id: &str, ou: &str, kind: AssignmentType, roles: &[&str], skills: &[&str]| User {
                o365_id: id.into(),
                organization_unit_id: ou.into(),
                assignment_type: kind,
                licenses: vec![CONTACT_CENTER.into()],
                modalities: vec!["Audio".into(), "Chat".into()],
                roles: roles.iter().map(|s| s.to_string()).collect(),
                skills: skills.iter().map(|s| s.to_string()).collect(),
                responsibility_profiles: vec!["On Duty".into(), "Off Duty".into()],
                not_available_reasons: vec!["Lunch".into(), "Training".into()],
                interact: json!({ "enabled": true }),
                assistant: json!({ "enabled": false }),
            };
        NimbusSeed {
            entra: vec![EntraTenant {
                id: TENANT_ID.into(),
                apps: vec![EntraApp {
                    client_id: CLIENT_ID.into(),
                    client_secret: CLIENT_SECRET.into(),
                    roles: [ROLE_CREATE, ROLE_DELETE, ROLE_READ, ROLE_TENANT_READ]
                        .map(String::from)
                        .to_vec(),
                    certificates: vec![],
                    federated_credentials: vec![],
                }],
            }],
            token_lifetime_secs: default_lifetime(),
            scopes: vec![],
            tenants: vec![ProvisioningTenant {
                tenant_id: TENANT_ID.into(),
                api_enabled: true,
                app_permissions: vec![AppPermission {
                    app_id: CLIENT_ID.into(),
                    organization_units: vec![OU_SALES.into(), OU_SUPPORT.into()],
                }],
                organization_units: vec![
                    OrganizationUnit {
                        id: OU_SALES.into(),
                        name: "Sales".into(),
                    },
                    OrganizationUnit {
                        id: OU_SUPPORT.into(),
                        name: "Support".into(),
                    },
                    OrganizationUnit {
                        id: OU_BOARD.into(),
                        name: "Board".into(),
                    },
                ],
                licenses: vec![LicensePool {
                    license_type: CONTACT_CENTER.into(),
                    total: 25,
                }],
                users: vec![
                    user(
                        TEMPLATE_USER,
                        OU_SALES,
                        AssignmentType::SkillBased,
                        &["Team Owner", "Agent"],
                        &["English", "Billing"],
                    ),
                    user(
                        TEAMS_USER,
                        OU_SUPPORT,
                        AssignmentType::MsTeamsSynced,
                        &["Agent"],
                        &["German"],
                    ),
                ],
            }],
            rate_limit: default_rate(),
            faults: Faults::default(),
            trusted_issuers: vec![],
        }
    }
}

/// Claims of an issued token.
#[derive(Clone, Debug)]
struct Token {
    tenant_id: Option<String>,
    app_id: Option<String>,
    roles: Vec<String>,
    authenticated: bool,
    expires: Instant,
}

/// A token with chosen claims, minted by `POST /_sandbox/tokens/mint` (to reach the 401s a
/// real Entra token cannot produce: no tenant id, no app id, no authenticated user).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MintToken {
    /// `tid` claim.
    pub tenant_id: Option<String>,
    /// `appid` claim.
    pub app_id: Option<String>,
    /// `roles` claim.
    pub roles: Vec<String>,
    /// Lifetime in seconds (default 3599).
    pub expires_in: Option<u64>,
    /// False mints a token with no authenticated subject.
    pub unauthenticated: bool,
}

/// Counters a test or demo can assert on.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Token requests answered 200.
    pub tokens_issued: u64,
    /// Token requests refused.
    pub token_errors: u64,
    /// API operations admitted by the rate limit.
    pub operations: u64,
    /// The admitted operations by route: `get`, `create`, `copy`, `delete`, `license-usage`.
    pub by_route: std::collections::BTreeMap<String, u64>,
    /// API operations answered 429.
    pub rate_limited: u64,
    /// API operations held back by the delay mode.
    pub delayed: u64,
    /// Faults injected (errors and drops).
    pub faults_injected: u64,
    /// Client assertions accepted, by kind (`certificate PS256`, `certificate RS256`,
    /// `federated <subject>`).
    pub client_assertions: std::collections::BTreeMap<String, u64>,
}

/// The sandbox's live state.
struct State {
    seed: NimbusSeed,
    tokens: HashMap<String, Token>,
    windows: HashMap<String, Window>,
    stats: Stats,
    issued: u64,
    jtis: SeenJtis,
}

/// A Nimbus sandbox: its state, servable over HTTP, inspectable from Rust.
#[derive(Clone)]
pub struct NimbusSim {
    state: Arc<Mutex<State>>,
    base_url: Arc<Mutex<String>>,
}

fn problem(status: u16, detail: &str) -> Outcome {
    let title = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let headers: Vec<(&str, String)> = if status == 401 {
        vec![("www-authenticate", "Bearer".into())]
    } else {
        vec![]
    };
    json_with(
        status,
        json!({ "type": "about:blank", "title": title, "status": status, "detail": detail }),
        &headers,
    )
}

fn entra_error(status: u16, error: &str, description: &str) -> Outcome {
    json(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

fn refusal(r: entra::Refusal) -> Outcome {
    entra_error(r.status, r.error, &r.description)
}

fn unknown_app(client_id: &str, tenant: &str) -> Outcome {
    entra_error(400, "unauthorized_client", &format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'."))
}

static EMPTY: String = String::new();

impl NimbusSim {
    /// A sandbox holding `seed` (not yet serving).
    pub fn new(seed: NimbusSeed) -> NimbusSim {
        NimbusSim {
            state: Arc::new(Mutex::new(State {
                seed,
                tokens: HashMap::new(),
                windows: HashMap::new(),
                stats: Stats::default(),
                issued: 0,
                jtis: SeenJtis::default(),
            })),
            base_url: Arc::new(Mutex::new(String::new())),
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
        let running = serve(Arc::new(self.clone()), addr, limits).await?;
        *self.base_url.lock().unwrap() = running.url();
        Ok(running)
    }

    /// Replaces the whole state (tokens are dropped).
    pub fn reseed(&self, seed: NimbusSeed) {
        let mut s = self.state.lock().unwrap();
        s.seed = seed;
        s.tokens.clear();
        s.windows.clear();
    }

    /// Changes the state in place (tests, demo).
    pub fn update<R>(&self, f: impl FnOnce(&mut NimbusSeed) -> R) -> R {
        f(&mut self.state.lock().unwrap().seed)
    }

    /// The state as `GET /_sandbox/state` shows it.
    pub fn snapshot(&self) -> Value {
        let s = self.state.lock().unwrap();
        let mut seed = serde_json::to_value(&s.seed).expect("serializable");
        if let Some(tenants) = seed["entra"].as_array_mut() {
            for app in tenants
                .iter_mut()
                .flat_map(|t| t["apps"].as_array_mut().into_iter().flatten())
            {
                app["client_secret"] = json!("<redacted>");
            }
        }
        seed["stats"] = serde_json::to_value(&s.stats).expect("serializable");
        seed
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }

    /// Invalidates every issued token (as if all had expired).
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// Gives an app a new client secret; the old one stops working.
    pub fn rotate_secret(&self, client_id: &str, secret: &str) -> bool {
        let mut s = self.state.lock().unwrap();
        let app = s
            .seed
            .entra
            .iter_mut()
            .flat_map(|t| t.apps.iter_mut())
            .find(|a| a.client_id == client_id);
        match app {
            Some(a) => {
                a.client_secret = secret.into();
                true
            }
            None => false,
        }
    }

    /// Mints a token with the given claims.
    pub fn mint(&self, m: MintToken) -> String {
        let mut s = self.state.lock().unwrap();
        let token = Token {
            tenant_id: m.tenant_id,
            app_id: m.app_id,
            roles: m.roles,
            authenticated: !m.unauthenticated,
            expires: expiry(m.expires_in.unwrap_or(3599)),
        };
        s.issued += 1;
        let value = format!("sbx-minted-{}-{:x}", s.issued, rand_u64(s.issued));
        s.tokens.insert(value.clone(), token);
        value
    }

    fn token_endpoint(&self, tenant: &str, req: &Req) -> Outcome {
        let mut s = self.state.lock().unwrap();
        let outcome = self.issue_token(&mut s, tenant, req);
        match &outcome {
            Outcome::Reply(r) if r.status() == 200 => s.stats.tokens_issued += 1,
            _ => s.stats.token_errors += 1,
        }
        outcome
    }

    fn issue_token(&self, s: &mut State, tenant: &str, req: &Req) -> Outcome {
        let form: HashMap<String, String> =
            form_urlencoded::parse(&req.body).into_owned().collect();
        let Some(entra) = s
            .seed
            .entra
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(tenant))
        else {
            return entra_error(
                400,
                "invalid_request",
                &format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            );
        };
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return entra_error(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type. This sandbox supports client_credentials only.");
        }
        let base = self.base_url.lock().unwrap().clone();
        let assertion = form
            .get("client_assertion")
            .or(form.get("client_assertion_type").map(|_| &EMPTY));
        let app = match assertion {
            Some(assertion) => {
                let Some(jwt) = entra::parse_jwt(assertion) else {
                    return entra_error(
                        401,
                        "invalid_client",
                        "AADSTS50027: JWT token is invalid or malformed.",
                    );
                };
                let client_id = match entra::assertion_client_id(
                    &jwt,
                    form.get("client_id").map(String::as_str),
                ) {
                    Ok(id) => id,
                    Err(r) => return refusal(r),
                };
                let Some(app) = entra
                    .apps
                    .iter()
                    .find(|a| a.client_id.eq_ignore_ascii_case(&client_id))
                else {
                    return unknown_app(&client_id, tenant);
                };
                let credentials = AppCredentials {
                    client_id: &app.client_id,
                    certificates: &app.certificates,
                    federated: &app.federated_credentials,
                };
                let token_url = format!("{base}/{tenant}/oauth2/v2.0/token");
                match entra::authenticate(
                    &form,
                    &jwt,
                    &credentials,
                    &s.seed.trusted_issuers,
                    &token_url,
                    crate::credentials::unix_now(),
                    &mut s.jtis,
                ) {
                    Ok(kind) => *s.stats.client_assertions.entry(kind).or_default() += 1,
                    Err(r) => return refusal(r),
                }
                app
            }
            None => {
                let (client_id, secret) = match basic_credentials(req) {
                    Some(pair) => pair,
                    None => match (form.get("client_id"), form.get("client_secret")) {
                        (Some(id), Some(secret)) => (id.clone(), secret.clone()),
                        (Some(_), None) => {
                            return entra_error(401, "invalid_client", "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
                        }
                        _ => return entra_error(400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'client_id'."),
                    },
                };
                let Some(app) = entra
                    .apps
                    .iter()
                    .find(|a| a.client_id.eq_ignore_ascii_case(&client_id))
                else {
                    return unknown_app(&client_id, tenant);
                };
                if app.client_secret.is_empty() || app.client_secret != secret {
                    return entra_error(401, "invalid_client", &format!("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."));
                }
                app
            }
        };
        let scope = form.get("scope").cloned().unwrap_or_default();
        let accepted = if s.seed.scopes.is_empty() {
            vec![format!("{base}/.default")]
        } else {
            s.seed.scopes.clone()
        };
        if !accepted.contains(&scope) {
            return entra_error(400, "invalid_scope", &format!("AADSTS1002012: The provided value for scope '{scope}' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI). Accepted here: {}", accepted.join(" ")));
        }
        let lifetime = s.seed.token_lifetime_secs;
        let token = Token {
            tenant_id: Some(entra.id.clone()),
            app_id: Some(app.client_id.clone()),
            roles: app.roles.clone(),
            authenticated: true,
            expires: expiry(lifetime),
        };
        s.issued += 1;
        let value = format!("sbx-{}-{:x}", s.issued, rand_u64(s.issued));
        s.tokens.insert(value.clone(), token);
        json(
            200,
            json!({ "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": value }),
        )
    }

    /// Checks the bearer token against the provisioning tenant; returns the tenant index and app id.
    /// (The error is the HTTP answer itself, built once per refused request.)
    #[allow(clippy::result_large_err)]
    fn authorize(&self, s: &State, req: &Req, role: &str) -> Result<(usize, String), Outcome> {
        let bearer = req.header("authorization").and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        });
        let Some(bearer) = bearer else {
            return Err(problem(401, "No bearer token"));
        };
        let Some(token) = s.tokens.get(bearer.trim()) else {
            return Err(problem(401, "Invalid or expired token"));
        };
        if token.expires <= Instant::now() {
            return Err(problem(401, "Invalid or expired token"));
        }
        if !token.authenticated {
            return Err(problem(403, "No authenticated user"));
        }
        let Some(tid) = &token.tenant_id else {
            return Err(problem(401, "No tenant id"));
        };
        let Some(index) = s
            .seed
            .tenants
            .iter()
            .position(|t| t.tenant_id.eq_ignore_ascii_case(tid))
        else {
            return Err(problem(401, "Invalid tenant id"));
        };
        let Some(app) = &token.app_id else {
            return Err(problem(401, "No app id"));
        };
        let registered = s
            .seed
            .entra
            .iter()
            .filter(|t| t.id.eq_ignore_ascii_case(tid))
            .flat_map(|t| &t.apps)
            .any(|a| a.client_id.eq_ignore_ascii_case(app));
        if !registered {
            return Err(problem(401, "Invalid app id"));
        }
        let tenant = &s.seed.tenants[index];
        if !tenant.api_enabled {
            return Err(problem(401, "Provisioning Api disabled by admin"));
        }
        if !tenant
            .app_permissions
            .iter()
            .any(|p| p.app_id.eq_ignore_ascii_case(app))
        {
            return Err(problem(
                401,
                &format!("No app permission found for app id ({app})"),
            ));
        }
        if !token.roles.iter().any(|r| r == role) {
            return Err(problem(401, "Required role missing"));
        }
        Ok((index, app.clone()))
    }

    /// Applies the rate limit for the token's tenant: waits (delay mode) or answers 429.
    async fn pace(&self, req: &Req) -> Result<(), Outcome> {
        let key = req.header("authorization").unwrap_or("").to_string();
        let key = {
            let s = self.state.lock().unwrap();
            let bearer = key.strip_prefix("Bearer ").unwrap_or(&key);
            s.tokens
                .get(bearer)
                .and_then(|t| t.tenant_id.clone())
                .unwrap_or_default()
        };
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap();
                let limit = s.seed.rate_limit;
                let now = Instant::now();
                match s.windows.entry(key.clone()).or_default().admit(&limit, now) {
                    Ok(()) => {
                        s.stats.operations += 1;
                        return Ok(());
                    }
                    Err(wait) if limit.mode == RateMode::Reject => {
                        s.stats.rate_limited += 1;
                        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                        let detail = format!(
                            "Rate limit of {} API operations per {} ms exceeded",
                            limit.operations, limit.window_ms
                        );
                        let mut outcome = problem(429, &detail);
                        if let Outcome::Reply(r) = &mut outcome {
                            r.headers_mut()
                                .insert("retry-after", secs.max(1).to_string().parse().unwrap());
                        }
                        return Err(outcome);
                    }
                    Err(wait) => {
                        s.stats.delayed += 1;
                        wait
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn api(&self, route: &str, req: &Req, id: Option<&str>) -> Outcome {
        let mut s = self.state.lock().unwrap();
        let role = match route {
            "create" | "copy" => ROLE_CREATE,
            "delete" => ROLE_DELETE,
            "license-usage" => ROLE_TENANT_READ,
            _ => ROLE_READ,
        };
        let (t, app) = match self.authorize(&s, req, role) {
            Ok(ok) => ok,
            Err(outcome) => return outcome,
        };
        let tenant = &mut s.seed.tenants[t];
        let scope: Vec<String> = tenant
            .app_permissions
            .iter()
            .filter(|p| p.app_id.eq_ignore_ascii_case(&app))
            .flat_map(|p| p.organization_units.clone())
            .collect();
        let in_scope = |ou: &str| scope.iter().any(|o| o.eq_ignore_ascii_case(ou));
        let body = req.json();
        let field = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        match route {
            "create" => {
                let (Some(id), Some(ou)) = (field("o365Id"), field("organizationUnitId")) else {
                    return problem(400, "\"O365Id\" and \"OrganizationUnitId\" are required");
                };
                if !is_guid(&id) || !is_guid(&ou) {
                    return problem(400, "\"O365Id\" and \"OrganizationUnitId\" must be GUIDs");
                }
                if !tenant
                    .organization_units
                    .iter()
                    .any(|o| o.id.eq_ignore_ascii_case(&ou))
                    || !in_scope(&ou)
                {
                    return problem(403, "Organization Unit not allowed");
                }
                if find(tenant, &id).is_some() {
                    return problem(409, "User already exists");
                }
                if available(tenant, CONTACT_CENTER) == 0 {
                    return problem(403, "No licenses available (License Management)");
                }
                let user = User {
                    o365_id: id.to_ascii_lowercase(),
                    organization_unit_id: ou.to_ascii_lowercase(),
                    assignment_type: AssignmentType::SkillBased,
                    licenses: vec![CONTACT_CENTER.into()],
                    modalities: vec![],
                    roles: vec![],
                    skills: vec![],
                    responsibility_profiles: vec![],
                    not_available_reasons: vec![],
                    interact: Value::Null,
                    assistant: Value::Null,
                };
                tenant.users.push(user.clone());
                json(200, serde_json::to_value(user).unwrap())
            }
            "copy" => {
                let (Some(source), Some(new)) = (field("sourceO365Id"), field("newO365Id")) else {
                    return problem(400, "\"SourceO365Id\" or \"NewO365Id\" are required");
                };
                if !is_guid(&source) || !is_guid(&new) {
                    return problem(400, "\"SourceO365Id\" and \"NewO365Id\" must be GUIDs");
                }
                if source.eq_ignore_ascii_case(&new) {
                    return problem(400, "User duplication: the new user is the source user");
                }
                let Some(src) = find(tenant, &source).map(|i| tenant.users[i].clone()) else {
                    return problem(
                        404,
                        "A source user with this \"SourceO365Id\" was not found",
                    );
                };
                if src.assignment_type == AssignmentType::MsTeamsSynced {
                    return problem(400, "MS-Teams synched users cannot be used as template: the template must be a skill-based (manual) user");
                }
                if !src.licenses.iter().any(|l| l == CONTACT_CENTER) {
                    return problem(400, "The template user is not Contact Center licensed");
                }
                if !in_scope(&src.organization_unit_id) {
                    return problem(403, "Organization Unit not allowed");
                }
                if find(tenant, &new).is_some() {
                    return problem(409, "User already exists");
                }
                if available(tenant, CONTACT_CENTER) == 0 {
                    return problem(403, "No licenses available (License Management)");
                }
                let user = User {
                    o365_id: new.to_ascii_lowercase(),
                    assignment_type: AssignmentType::SkillBased,
                    licenses: vec![CONTACT_CENTER.into()],
                    ..src
                };
                tenant.users.push(user.clone());
                json(200, serde_json::to_value(user).unwrap())
            }
            "license-usage" => {
                let usage: Vec<Value> = tenant
                    .licenses
                    .iter()
                    .map(|p| {
                        let used = used(tenant, &p.license_type);
                        json!({ "licenseType": p.license_type, "total": p.total, "used": used, "available": p.total.saturating_sub(used) })
                    })
                    .collect();
                json(200, Value::Array(usage))
            }
            "get" => {
                let id = id.unwrap_or_default();
                match find(tenant, id) {
                    None => problem(404, "User not found"),
                    Some(i) if !in_scope(&tenant.users[i].organization_unit_id) => {
                        problem(403, "Organization Unit not allowed")
                    }
                    Some(i) => json(200, serde_json::to_value(&tenant.users[i]).unwrap()),
                }
            }
            "delete" => {
                let id = id.unwrap_or_default();
                match find(tenant, id) {
                    None => problem(404, "User not found in the Nimbus user pool"),
                    Some(i) if tenant.users[i].assignment_type == AssignmentType::MsTeamsSynced => {
                        problem(400, "MS-Teams synched users cannot be deleted via the API: only manually added skill-based users")
                    }
                    Some(i) if !in_scope(&tenant.users[i].organization_unit_id) => problem(403, "Organization Unit not allowed"),
                    Some(i) => {
                        tenant.users.remove(i);
                        json(200, json!({}))
                    }
                }
            }
            _ => problem(404, "No such route"),
        }
    }

    fn control(&self, req: &Req, what: &[&str]) -> Outcome {
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

fn find(tenant: &ProvisioningTenant, id: &str) -> Option<usize> {
    tenant
        .users
        .iter()
        .position(|u| u.o365_id.eq_ignore_ascii_case(id))
}

fn used(tenant: &ProvisioningTenant, license: &str) -> u32 {
    tenant
        .users
        .iter()
        .filter(|u| u.licenses.iter().any(|l| l == license))
        .count() as u32
}

fn available(tenant: &ProvisioningTenant, license: &str) -> u32 {
    let total = tenant
        .licenses
        .iter()
        .filter(|p| p.license_type == license)
        .map(|p| p.total)
        .sum::<u32>();
    total.saturating_sub(used(tenant, license))
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `Authorization: Basic` credentials, each part form-urldecoded (RFC 6749 §2.3.1).
fn basic_credentials(req: &Req) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = req.header("authorization")?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// A cheap, non-cryptographic mix for token suffixes (tokens are sandbox data).
fn rand_u64(n: u64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (n ^ t).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

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

/// Serves a Nimbus sandbox with `seed` on a free loopback port.
pub async fn start(seed: NimbusSeed) -> std::io::Result<(NimbusSim, Running)> {
    let sandbox = NimbusSim::new(seed);
    let running = sandbox.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    Ok((sandbox, running))
}

impl std::fmt::Debug for NimbusSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NimbusSim")
    }
}
