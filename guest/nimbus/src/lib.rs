//! Roster provider for the Luware Nimbus provisioning API (`/api/public-api-next`), with
//! Microsoft Entra ID OAuth 2.0 client-credentials tokens (a client secret, a certificate or a
//! federated token: the kit's `oauth` module).
//!
//! This file holds Nimbus facts only: clusters and URLs, payloads, the documented error table.
//! The spec is `shared/vendor-docs/nimbus-provisioning-api.txt`; where it is silent, the
//! assumption is written next to the code.
// A component: it builds for wasm32 only (on the host, `cargo build --workspace` sees an empty crate).
#![cfg(target_arch = "wasm32")]

use roster_guest_kit::bindings::exports::roster::provider::provider::Guest;
use roster_guest_kit::http::{self, Reply};
use roster_guest_kit::oauth::{self, CredentialKind};
use roster_guest_kit::schema::{self, attr, Flags};
use roster_guest_kit::{errors, expect_type, formats, instance, parse_object, to_json, validate_one, FieldError, Object, Presence::*, ProviderError};
use roster_guest_kit::{AttributeSchema, DataSourceSchema, ProviderMetadata, RateLimit, ResourceSchema, ValueType as V};
use serde_json::{json, Value};

/// Nimbus clusters (`admin.<cluster>.luware.cloud`), from the doc's admin URL list.
const CLUSTERS: &[&str] = &["ch-01", "ch-02", "dewe-01", "dewe-02", "ukso-01", "aue-01", "euwe-01", "use-01"];
const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";
const API: &str = "/api/public-api-next";
const USER: &str = "nimbus_user";
const LICENSE_USAGE: &str = "nimbus_license_usage";
/// "There is a limit of 60 API operations/minute."
const RATE_LIMIT: RateLimit = RateLimit { operations: 60, per_seconds: 60 };

fn config_schema() -> Vec<AttributeSchema> {
    vec![
        attr("cluster", V::String, Optional, "Nimbus cluster: ch-01, ch-02, dewe-01, dewe-02, ukso-01, aue-01, euwe-01 or use-01."),
        attr("admin_url", V::String, Optional, "Explicit admin URL (e.g. a sandbox); default https://admin.<cluster>.luware.cloud."),
        attr("tenant_id", V::String, Required, "Microsoft Entra tenant id (GUID)."),
        attr("client_id", V::String, Required, "Application (client) id of the Nimbus app registration (GUID)."),
        attr("login_url", V::String, Optional, "Entra login URL; default https://login.microsoftonline.com."),
        attr("scope", V::String, Optional, "OAuth scope; default https://admin.<cluster>.luware.cloud/.default."),
    ]
    .into_iter()
    .chain(oauth::config_schema())
    .collect()
}

fn user_schema() -> Vec<AttributeSchema> {
    let list = |name: &str, what: &str| attr(name, V::StringList, Computed, what);
    vec![
        // GUIDs: Nimbus and Entra compare them ignoring case and answer in lower case.
        attr("o365_id", V::String, Required, "The user's Microsoft 365 object id (GUID); the Nimbus user's id.").replace_on_change().case_insensitive(),
        attr("organization_unit_id", V::String, OptionalComputed, "Organization unit (GUID); required unless copy_from is set, when the copy takes the source's.")
            .replace_on_change()
            .case_insensitive(),
        attr("copy_from", V::String, Optional, "O365 id of a skill-based template user whose Nimbus settings are copied at creation.").create_only().case_insensitive(),
        attr("assignment_type", V::String, Computed, "SkillBased (manually added) or MsTeamsSynced."),
        list("licenses", "Licences assigned to the user."),
        list("modalities", "Task modalities configured for the user."),
        list("roles", "Assigned roles."),
        list("skills", "Assigned skills."),
        list("responsibility_profiles", "Responsibility profiles (duty states)."),
        list("not_available_reasons", "Reasons the user may choose while Not Available."),
    ]
}

fn license_schema() -> Vec<AttributeSchema> {
    vec![attr("licenses", V::Object, Computed, "Per licence type: license_type, total, used, available.")]
}

/// A parsed provider config.
struct Config {
    admin_url: String,
    login_host: String,
    endpoint: oauth::Endpoint,
    credential: CredentialKind,
}

fn parse_config(text: &str) -> Result<Config, ProviderError> {
    let c = schema::parse_config(text, &config_schema())?;
    let get = |k: &str| schema::string(&c, k).map(str::trim).filter(|s| !s.is_empty());
    let cluster = get("cluster");
    if let Some(cl) = cluster {
        if !CLUSTERS.contains(&cl) {
            return Err(errors::invalid_config("cluster", &format!("unknown cluster `{cl}`; expected one of {}", CLUSTERS.join(", "))));
        }
    }
    let admin_url = match (get("admin_url"), cluster) {
        (Some(url), _) => schema::http_url("admin_url", url)?,
        (None, Some(cl)) => format!("https://admin.{cl}.luware.cloud"),
        (None, None) => return Err(errors::invalid_config("cluster", "set `cluster` (or an explicit `admin_url`)")),
    };
    let login_url = schema::http_url("login_url", get("login_url").unwrap_or(DEFAULT_LOGIN_URL))?;
    for key in ["tenant_id", "client_id"] {
        let v = get(key).unwrap_or_default();
        if !formats::is_guid(v) {
            return Err(errors::invalid_config(key, &format!("`{key}` must be a GUID, got `{v}`")));
        }
    }
    let scope = match (get("scope"), cluster) {
        (Some(s), _) => s.to_string(),
        (None, Some(cl)) => format!("https://admin.{cl}.luware.cloud/.default"),
        (None, None) => format!("{admin_url}/.default"),
    };
    Ok(Config {
        endpoint: oauth::Endpoint { token_url: format!("{login_url}/{}/oauth2/v2.0/token", get("tenant_id").unwrap()), client_id: get("client_id").unwrap().to_string(), scope },
        credential: oauth::parse_credential(&c)?,
        login_host: login_url,
        admin_url,
    })
}

/// `scheme://host[:port]` of a URL, as the allow-list wants it.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest))
}

/// What one operation is, for the error table.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Create,
    Copy,
    Read,
    Delete,
    LicenseUsage,
}

/// The documented status codes, with their documented meaning and the server's detail.
fn error_for(op: Op, reply: &Reply) -> ProviderError {
    let detail = reply.detail();
    let with = |meaning: &str| errors::with_detail(meaning, &detail);
    match reply.status {
        400 if detail.to_ascii_lowercase().contains("exist") || detail.to_ascii_lowercase().contains("duplicat") => ProviderError::AlreadyExists(with("the user would be duplicated (HTTP 400)")),
        400 => errors::invalid_input(
            if op == Op::Copy { "copy_from" } else { "" },
            &with("bad request: SourceO365Id/NewO365Id (or O365Id/OrganizationUnitId) are required, or the source is an MS-Teams synced user"),
        ),
        401 => ProviderError::Unauthorized(with(
            "Nimbus refused the app (no or invalid tenant id, no or invalid app id, provisioning API disabled by admin, no app permission for the app id, or a required role missing)",
        )),
        403 => ProviderError::Forbidden(with("organization unit not allowed for this app, or no licences available")),
        404 if op == Op::Copy => ProviderError::NotFound(with("no source user with this SourceO365Id")),
        404 => ProviderError::NotFound(with("no such user in the Nimbus user pool")),
        409 => ProviderError::AlreadyExists(with("user already exists")),
        429 => reply.rate_limited(),
        500 => ProviderError::Unavailable(with("Nimbus was unable to check its configuration (HTTP 500)")),
        502..=504 => ProviderError::Unavailable(with(&format!("Nimbus is unavailable (HTTP {})", reply.status))),
        s => errors::vendor(s, &detail),
    }
}

/// The instance's state: its config and its OAuth client (credential and cached token).
#[derive(Default)]
struct Nimbus {
    config: Option<Config>,
    oauth: Option<oauth::Client>,
}

fn with_state<R>(f: impl FnOnce(&mut Nimbus) -> Result<R, ProviderError>) -> Result<R, ProviderError> {
    instance::with(f)
}

impl Nimbus {
    fn config(&self) -> Result<&Config, ProviderError> {
        self.config.as_ref().ok_or_else(errors::not_configured)
    }

    /// Sends an API request with an Entra token (see [`oauth::Client::send`]).
    fn api(&mut self, build: impl Fn(&str) -> http::Request) -> Result<Reply, ProviderError> {
        self.oauth.as_mut().ok_or_else(errors::not_configured)?.send(build)
    }

    fn url(&self, path: &str) -> Result<String, ProviderError> {
        Ok(format!("{}{API}{path}", self.config()?.admin_url))
    }

    fn read_user(&mut self, id: &str) -> Result<Option<Object>, ProviderError> {
        let url = self.url(&format!("/user/{id}"))?;
        let reply = self.api(|t| http::get(&url).bearer(t))?;
        match reply.status {
            200 => {
                let details = reply.json()?;
                match details.get("o365Id").and_then(Value::as_str) {
                    Some(o365) if o365.eq_ignore_ascii_case(id) => Ok(Some(user_state(&details, id))),
                    // The doc does not describe the answer; the details name the user they are
                    // of. Anything else (an error inside a 200, another user's details) is not
                    // this user's state: read as one, it would plan replacing a user nobody changed.
                    _ => Err(ProviderError::Unavailable(format!("Nimbus answered HTTP 200 for user {id} without that user's details: {}", reply.text()))),
                }
            }
            404 => Ok(None),
            _ => Err(error_for(Op::Read, &reply)),
        }
    }
}

/// The computed state of a user from the details GET (whose body the doc does not describe:
/// camelCase fields as the request bodies use, lists of names or of objects with a `name`).
fn user_state(details: &Value, id: &str) -> Object {
    let text = |k: &str| details.get(k).and_then(Value::as_str).map(|s| Value::String(s.into())).unwrap_or(Value::Null);
    let names = |k: &str| {
        let items = details.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        Value::Array(items.iter().filter_map(|i| i.as_str().or_else(|| i.get("name").and_then(Value::as_str))).map(|s| Value::String(s.into())).collect())
    };
    let mut state = Object::new();
    let o365 = details.get("o365Id").and_then(Value::as_str).unwrap_or(id);
    state.insert("o365_id".into(), Value::String(o365.into()));
    state.insert("organization_unit_id".into(), text("organizationUnitId"));
    state.insert("assignment_type".into(), text("assignmentType"));
    for (attr, field) in [
        ("licenses", "licenses"),
        ("modalities", "modalities"),
        ("roles", "roles"),
        ("skills", "skills"),
        ("responsibility_profiles", "responsibilityProfiles"),
        ("not_available_reasons", "notAvailableReasons"),
    ] {
        state.insert(attr.into(), names(field));
    }
    state
}

fn check_user(desired: &Object) -> Vec<FieldError> {
    let mut problems = schema::check(desired, &user_schema());
    let mut guid = |field: &str| {
        if let Some(v) = schema::string(desired, field) {
            if !formats::is_guid(v) {
                problems.push(FieldError { field: field.into(), message: format!("`{field}` must be a GUID, got `{v}`") });
            }
        }
    };
    guid("o365_id");
    guid("organization_unit_id");
    guid("copy_from");
    let ou = schema::string(desired, "organization_unit_id");
    match (schema::string(desired, "copy_from"), ou) {
        (None, None) => problems.push(FieldError { field: "organization_unit_id".into(), message: "`organization_unit_id` is required unless `copy_from` is set".into() }),
        (Some(_), Some(_)) => {
            problems.push(FieldError { field: "organization_unit_id".into(), message: "set either `organization_unit_id` or `copy_from`: a copy takes the source user's organization unit".into() })
        }
        (Some(src), None) if Some(src) == schema::string(desired, "o365_id") => problems.push(FieldError { field: "copy_from".into(), message: "a user cannot be copied from itself".into() }),
        _ => {}
    }
    problems
}

fn check_id(id: &str) -> Result<(), ProviderError> {
    if formats::is_guid(id) {
        Ok(())
    } else {
        Err(errors::invalid_input("o365_id", &format!("`o365_id` must be a GUID, got `{id}`")))
    }
}

/// camelCase keys to snake_case, recursively (for the license-usage answer).
fn snake_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut s = String::new();
                    for c in k.chars() {
                        if c.is_ascii_uppercase() {
                            s.push('_');
                            s.push(c.to_ascii_lowercase());
                        } else {
                            s.push(c);
                        }
                    }
                    (s, snake_keys(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(snake_keys).collect()),
        other => other.clone(),
    }
}

struct NimbusProvider;

impl Guest for NimbusProvider {
    fn metadata() -> ProviderMetadata {
        ProviderMetadata {
            name: "nimbus".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Luware Nimbus users and licences (provisioning API, Entra ID client credentials).".into(),
            config_schema: config_schema(),
            secrets: oauth::secret_schemas("the Nimbus app registration"),
            resources: vec![ResourceSchema {
                type_name: USER.into(),
                description: "A Nimbus user (created empty in an organization unit, or copied from a template user).".into(),
                id_attribute: "o365_id".into(),
                attributes: user_schema(),
                replace_warning: Some("Nimbus keeps the user's reporting data but loses its configuration (roles, skills, profiles…); restore it by hand or with copy_from".into()),
            }],
            data_sources: vec![DataSourceSchema {
                name: LICENSE_USAGE.into(),
                description: "Licences purchased, in use and available, per licence type.".into(),
                arguments: vec![],
                attributes: license_schema(),
            }],
            rate_limit: Some(RATE_LIMIT),
        }
    }

    fn allowed_hosts(config: String) -> Result<Vec<String>, ProviderError> {
        let c = parse_config(&config)?;
        let mut hosts = vec![origin(&c.admin_url)];
        let login = origin(&c.login_host);
        if !hosts.contains(&login) {
            hosts.push(login);
        }
        Ok(hosts)
    }

    fn configure(config: String) -> Result<(), ProviderError> {
        let c = parse_config(&config)?;
        oauth::check_single_credential(c.credential)?;
        with_state(|s| {
            s.oauth = Some(oauth::Client::new(c.endpoint.clone(), c.credential));
            s.config = Some(c);
            Ok(())
        })
    }

    fn validate(type_name: String, desired: String) -> Vec<FieldError> {
        validate_one(&type_name, USER, &desired, check_user)
    }

    fn read(type_name: String, id: String) -> Result<Option<String>, ProviderError> {
        expect_type("resource type", &type_name, USER)?;
        check_id(&id)?;
        with_state(|s| Ok(s.read_user(&id)?.map(|o| to_json(&o))))
    }

    fn create(type_name: String, desired: String) -> Result<String, ProviderError> {
        expect_type("resource type", &type_name, USER)?;
        let d = parse_object(&desired, "desired")?;
        schema::first_problem(check_user(&d))?;
        let id = schema::string(&d, "o365_id").unwrap_or_default().to_string();
        with_state(|s| {
            let (op, url, body) = match schema::string(&d, "copy_from") {
                Some(src) => (Op::Copy, s.url("/user/copy")?, json!({ "sourceO365Id": src, "newO365Id": id })),
                None => (Op::Create, s.url("/user")?, json!({ "o365Id": id, "organizationUnitId": schema::string(&d, "organization_unit_id") })),
            };
            let reply = s.api(|t| http::post(&url).bearer(t).json(body.clone()))?;
            if reply.status != 200 && reply.status != 201 {
                return Err(error_for(op, &reply));
            }
            // The doc does not describe the answer: use it when it is the user's details,
            // otherwise read the user back.
            let state = match reply.json() {
                Ok(v) if v.get("o365Id").is_some() => user_state(&v, &id),
                _ => s.read_user(&id)?.ok_or_else(|| ProviderError::Unavailable(format!("Nimbus accepted user {id} but does not return it yet")))?,
            };
            Ok(to_json(&state))
        })
    }

    fn delete(type_name: String, id: String) -> Result<(), ProviderError> {
        expect_type("resource type", &type_name, USER)?;
        check_id(&id)?;
        with_state(|s| {
            let url = s.url(&format!("/user/{id}"))?;
            // The doc gives both the id in the path and a JSON body with it; send both.
            let reply = s.api(|t| http::delete(&url).bearer(t).json(json!({ "o365Id": id })))?;
            match reply.status {
                200 | 204 => Ok(()),
                _ => Err(error_for(Op::Delete, &reply)),
            }
        })
    }

    fn query(data_source: String, _arguments: String) -> Result<String, ProviderError> {
        expect_type("data source", &data_source, LICENSE_USAGE)?;
        with_state(|s| {
            let url = s.url("/user/license-usage")?;
            let reply = s.api(|t| http::get(&url).bearer(t))?;
            if reply.status != 200 {
                return Err(error_for(Op::LicenseUsage, &reply));
            }
            let body = snake_keys(&reply.json()?);
            let licenses = match body {
                Value::Object(mut m) if m.contains_key("licenses") => m.remove("licenses").unwrap(),
                other => other,
            };
            Ok(json!({ "licenses": licenses }).to_string())
        })
    }
}

roster_guest_kit::bindings::export!(NimbusProvider);
