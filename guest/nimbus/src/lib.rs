//! Roster provider for the Luware Nimbus provisioning API (`/api/public-api-next`), with
//! Microsoft Entra ID OAuth 2.0 client-credentials tokens (a client secret, a certificate or a
//! federated token: the kit's `oauth` module).
//!
//! This file holds Nimbus facts only: clusters and URLs, payloads, the documented error table.
//! The spec is `shared/vendor-docs/nimbus-provisioning-api.txt`; where it is silent, the
//! assumption is written next to the code.
//
//! The crate also builds on the host (its component export only for wasm32), so the vendor's pure
//! logic — config, request payloads, reply parsing, the error table — has unit tests and is
//! fuzzed (`tests/fuzz`, target `vendor_reply`).

use roster_guest_kit::bindings::exports::roster::provider::provider::Guest;
use roster_guest_kit::http::{self, Reply};
use roster_guest_kit::oauth::{self, CredentialKind};
use roster_guest_kit::schema::{self, attr, Flags};
use roster_guest_kit::{
    errors, expect_type, formats, instance, parse_object, to_json, validate_one, FieldError,
    Object, Presence::*, ProviderError,
};
use roster_guest_kit::{
    AttributeSchema, DataSourceSchema, ProviderMetadata, RateLimit, ResourceSchema, ValueType as V,
};
use serde_json::{json, Value};

/// Nimbus clusters (`admin.<cluster>.luware.cloud`), from the doc's admin URL list.
const CLUSTERS: &[&str] = &[
    "ch-01", "ch-02", "dewe-01", "dewe-02", "ukso-01", "aue-01", "euwe-01", "use-01",
];
const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";
const API: &str = "/api/public-api-next";
const USER: &str = "nimbus_user";
const LICENSE_USAGE: &str = "nimbus_license_usage";
/// "There is a limit of 60 API operations/minute."
const RATE_LIMIT: RateLimit = RateLimit {
    operations: 60,
    per_seconds: 60,
};

fn config_schema() -> Vec<AttributeSchema> {
    vec![
        attr(
            "cluster",
            V::String,
            Optional,
            "Nimbus cluster: ch-01, ch-02, dewe-01, dewe-02, ukso-01, aue-01, euwe-01 or use-01.",
        ),
        attr(
            "admin_url",
            V::String,
            Optional,
            "Explicit admin URL (e.g. a sandbox); default https://admin.<cluster>.luware.cloud.",
        ),
        attr(
            "tenant_id",
            V::String,
            Required,
            "Microsoft Entra tenant id (GUID).",
        ),
        attr(
            "client_id",
            V::String,
            Required,
            "Application (client) id of the Nimbus app registration (GUID).",
        ),
        attr(
            "login_url",
            V::String,
            Optional,
            "Entra login URL; default https://login.microsoftonline.com.",
        ),
        attr(
            "scope",
            V::String,
            Optional,
            "OAuth scope; default https://admin.<cluster>.luware.cloud/.default.",
        ),
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
    vec![attr(
        "licenses",
        V::Object,
        Computed,
        "Per licence type: license_type, total, used, available.",
    )]
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
    let get = |k: &str| {
        schema::string(&c, k)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let cluster = get("cluster");
    if let Some(cl) = cluster {
        if !CLUSTERS.contains(&cl) {
            return Err(errors::invalid_config(
                "cluster",
                &format!(
                    "unknown cluster `{cl}`; expected one of {}",
                    CLUSTERS.join(", ")
                ),
            ));
        }
    }
    let admin_url = match (get("admin_url"), cluster) {
        (Some(url), _) => schema::http_url("admin_url", url)?,
        (None, Some(cl)) => format!("https://admin.{cl}.luware.cloud"),
        (None, None) => {
            return Err(errors::invalid_config(
                "cluster",
                "set `cluster` (or an explicit `admin_url`)",
            ))
        }
    };
    let login_url = schema::http_url("login_url", get("login_url").unwrap_or(DEFAULT_LOGIN_URL))?;
    for key in ["tenant_id", "client_id"] {
        let v = get(key).unwrap_or_default();
        if !formats::is_guid(v) {
            return Err(errors::invalid_config(
                key,
                &format!("`{key}` must be a GUID, got `{v}`"),
            ));
        }
    }
    let scope = match (get("scope"), cluster) {
        (Some(s), _) => s.to_string(),
        (None, Some(cl)) => format!("https://admin.{cl}.luware.cloud/.default"),
        (None, None) => format!("{admin_url}/.default"),
    };
    Ok(Config {
        endpoint: oauth::Endpoint {
            token_url: format!(
                "{login_url}/{}/oauth2/v2.0/token",
                get("tenant_id").unwrap()
            ),
            client_id: get("client_id").unwrap().to_string(),
            scope,
        },
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

fn with_state<R>(
    f: impl FnOnce(&mut Nimbus) -> Result<R, ProviderError>,
) -> Result<R, ProviderError> {
    instance::with(f)
}

impl Nimbus {
    fn config(&self) -> Result<&Config, ProviderError> {
        self.config.as_ref().ok_or_else(errors::not_configured)
    }

    /// Sends an API request with an Entra token (see [`oauth::Client::send`]).
    fn api(&mut self, build: impl Fn(&str) -> http::Request) -> Result<Reply, ProviderError> {
        self.oauth
            .as_mut()
            .ok_or_else(errors::not_configured)?
            .send(build)
    }

    fn url(&self, path: &str) -> Result<String, ProviderError> {
        Ok(format!("{}{API}{path}", self.config()?.admin_url))
    }

    fn read_user(&mut self, id: &str) -> Result<Option<Object>, ProviderError> {
        let url = self.url(&format!("/user/{id}"))?;
        read_outcome(id, &self.api(|t| http::get(&url).bearer(t))?)
    }
}

// What each reply means: the pure half of each operation (tested and fuzzed on the host).

/// The outcome of reading user `id`: its state, `None` when Nimbus has no such user, or the error.
pub fn read_outcome(id: &str, reply: &Reply) -> Result<Option<Object>, ProviderError> {
    match reply.status {
        200 => match own_details(id, &reply.json()?) {
            Some(state) => Ok(Some(state)),
            // The doc does not describe the answer; the details name the user they are of.
            // Anything else (an error inside a 200, another user's details) is not this user's
            // state: read as one, it would plan replacing a user nobody changed.
            None => Err(ProviderError::Unavailable(format!(
                "Nimbus answered HTTP 200 for user {id} without that user's details: {}",
                reply.text()
            ))),
        },
        404 => Ok(None),
        _ => Err(error_for(Op::Read, reply)),
    }
}

/// The outcome of creating user `id` (by copying a template user when `copy`): its state when
/// the answer holds the user's details, `None` when the user must be read back (the doc does not
/// describe the answer), or the error.
pub fn create_outcome(
    copy: bool,
    id: &str,
    reply: &Reply,
) -> Result<Option<Object>, ProviderError> {
    if reply.status != 200 && reply.status != 201 {
        return Err(error_for(if copy { Op::Copy } else { Op::Create }, reply));
    }
    Ok(reply
        .json()
        .ok()
        .and_then(|details| own_details(id, &details)))
}

/// The outcome of deleting a user.
pub fn delete_outcome(reply: &Reply) -> Result<(), ProviderError> {
    match reply.status {
        200 | 204 => Ok(()),
        _ => Err(error_for(Op::Delete, reply)),
    }
}

/// The outcome of the licence-usage query: the data source's result.
pub fn license_usage_outcome(reply: &Reply) -> Result<Value, ProviderError> {
    if reply.status != 200 {
        return Err(error_for(Op::LicenseUsage, reply));
    }
    let licenses = match snake_keys(&reply.json()?) {
        Value::Object(mut m) if m.contains_key("licenses") => {
            m.remove("licenses").unwrap_or_default()
        }
        other => other,
    };
    Ok(json!({ "licenses": licenses }))
}

/// `details` as the state of user `id`, when they are that user's (their `o365Id` is `id`,
/// ignoring case as Nimbus does).
fn own_details(id: &str, details: &Value) -> Option<Object> {
    let o365 = details.get("o365Id").and_then(Value::as_str)?;
    o365.eq_ignore_ascii_case(id)
        .then(|| user_state(details, id))
}

/// The computed state of a user from the details GET (whose body the doc does not describe:
/// camelCase fields as the request bodies use, lists of names or of objects with a `name`).
fn user_state(details: &Value, id: &str) -> Object {
    let text = |k: &str| {
        details
            .get(k)
            .and_then(Value::as_str)
            .map(|s| Value::String(s.into()))
            .unwrap_or(Value::Null)
    };
    let names = |k: &str| {
        let items = details
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Value::Array(
            items
                .iter()
                .filter_map(|i| i.as_str().or_else(|| i.get("name").and_then(Value::as_str)))
                .map(|s| Value::String(s.into()))
                .collect(),
        )
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
                problems.push(FieldError {
                    field: field.into(),
                    message: format!("`{field}` must be a GUID, got `{v}`"),
                });
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
        Err(errors::invalid_input(
            "o365_id",
            &format!("`o365_id` must be a GUID, got `{id}`"),
        ))
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

/// The component: its exports (the `roster:provider` world).
pub struct NimbusProvider;

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
        let id = schema::string(&d, "o365_id")
            .unwrap_or_default()
            .to_string();
        with_state(|s| {
            let (op, url, body) = match schema::string(&d, "copy_from") {
                Some(src) => (
                    Op::Copy,
                    s.url("/user/copy")?,
                    json!({ "sourceO365Id": src, "newO365Id": id }),
                ),
                None => (
                    Op::Create,
                    s.url("/user")?,
                    json!({ "o365Id": id, "organizationUnitId": schema::string(&d, "organization_unit_id") }),
                ),
            };
            let reply = s.api(|t| http::post(&url).bearer(t).json(body.clone()))?;
            let state = match create_outcome(op == Op::Copy, &id, &reply)? {
                Some(state) => state,
                None => s.read_user(&id)?.ok_or_else(|| {
                    ProviderError::Unavailable(format!(
                        "Nimbus accepted user {id} but does not return it yet"
                    ))
                })?,
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
            delete_outcome(&s.api(|t| http::delete(&url).bearer(t).json(json!({ "o365Id": id })))?)
        })
    }

    fn query(data_source: String, _arguments: String) -> Result<String, ProviderError> {
        expect_type("data source", &data_source, LICENSE_USAGE)?;
        with_state(|s| {
            let url = s.url("/user/license-usage")?;
            Ok(license_usage_outcome(&s.api(|t| http::get(&url).bearer(t))?)?.to_string())
        })
    }
}

#[cfg(target_arch = "wasm32")]
roster_guest_kit::bindings::export!(NimbusProvider);

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9fce70af-a632-49ca-bc0d-53db5a21c5b3";
    const OTHER: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

    fn reply(status: u16, body: Value) -> Reply {
        Reply {
            status,
            retry_after: None,
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn a_read_takes_only_the_users_own_details() {
        let details = json!({ "o365Id": ID.to_uppercase(), "organizationUnitId": OTHER, "skills": ["A", { "name": "B" }, 3] });
        let state = read_outcome(ID, &reply(200, details)).unwrap().unwrap();
        assert_eq!(state["o365_id"], ID.to_uppercase());
        assert_eq!(state["organization_unit_id"], OTHER);
        assert_eq!(state["skills"], json!(["A", "B"]));
        assert_eq!(state["roles"], json!([]));
        assert!(read_outcome(ID, &reply(404, json!({}))).unwrap().is_none());
        // An error inside a 200, or another user's details, is not this user's state.
        for body in [
            json!({ "error": "tenant suspended" }),
            json!({ "o365Id": OTHER }),
            json!([]),
        ] {
            match read_outcome(ID, &reply(200, body.clone())) {
                Err(ProviderError::Unavailable(m)) => {
                    assert!(m.contains("without that user's details"), "{m}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_create_answer_with_another_users_details_is_read_back_not_recorded() {
        assert_eq!(
            create_outcome(
                false,
                ID,
                &reply(201, json!({ "o365Id": ID, "organizationUnitId": OTHER }))
            )
            .unwrap()
            .unwrap()["organization_unit_id"],
            OTHER
        );
        assert!(
            create_outcome(false, ID, &reply(201, json!({ "o365Id": OTHER })))
                .unwrap()
                .is_none()
        );
        assert!(create_outcome(true, ID, &reply(200, json!("created")))
            .unwrap()
            .is_none());
        assert!(create_outcome(
            false,
            ID,
            &Reply {
                status: 201,
                retry_after: None,
                body: b"not json".to_vec()
            }
        )
        .unwrap()
        .is_none());
    }

    #[test]
    fn the_documented_error_table() {
        let err =
            |copy, status, body: Value| create_outcome(copy, ID, &reply(status, body)).unwrap_err();
        assert!(matches!(
            err(false, 400, json!({ "message": "User already exists" })),
            ProviderError::AlreadyExists(_)
        ));
        assert!(
            matches!(err(true, 400, json!({ "message": "bad" })), ProviderError::InvalidInput(f) if f.field == "copy_from")
        );
        assert!(matches!(
            err(false, 401, json!({})),
            ProviderError::Unauthorized(_)
        ));
        assert!(matches!(
            err(false, 403, json!({})),
            ProviderError::Forbidden(_)
        ));
        assert!(
            matches!(err(true, 404, json!({})), ProviderError::NotFound(m) if m.contains("no source user"))
        );
        assert!(matches!(
            err(false, 409, json!({})),
            ProviderError::AlreadyExists(_)
        ));
        assert!(matches!(
            err(false, 503, json!({})),
            ProviderError::Unavailable(_)
        ));
        let limited = Reply {
            status: 429,
            retry_after: Some("7".into()),
            body: vec![],
        };
        assert!(
            matches!(read_outcome(ID, &limited), Err(ProviderError::RateLimited(r)) if r.retry_after_ms == Some(7000))
        );
        assert!(delete_outcome(&reply(204, Value::Null)).is_ok());
        assert!(matches!(
            delete_outcome(&reply(404, json!({}))),
            Err(ProviderError::NotFound(_))
        ));
    }

    #[test]
    fn licence_usage_is_snake_cased() {
        let answer = json!({ "licenses": [{ "licenseType": "Enterprise", "total": 10, "used": 4, "available": 6 }] });
        assert_eq!(
            license_usage_outcome(&reply(200, answer)).unwrap(),
            json!({ "licenses": [{ "license_type": "Enterprise", "total": 10, "used": 4, "available": 6 }] })
        );
        assert!(matches!(
            license_usage_outcome(&reply(401, json!({}))),
            Err(ProviderError::Unauthorized(_))
        ));
    }

    #[test]
    fn config_and_desired_users_are_checked_against_the_doc() {
        let config = |extra: Value| {
            let mut c = json!({ "cluster": "ch-01", "tenant_id": ID, "client_id": OTHER });
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse_config(&c.to_string())
        };
        let c = config(json!({})).unwrap_or_else(|_| panic!("a documented cluster"));
        assert_eq!(c.admin_url, "https://admin.ch-01.luware.cloud");
        assert_eq!(
            c.endpoint.scope,
            "https://admin.ch-01.luware.cloud/.default"
        );
        assert!(
            matches!(config(json!({ "cluster": "mars-01" })), Err(ProviderError::InvalidConfig(f)) if f.field == "cluster")
        );
        assert!(
            matches!(config(json!({ "tenant_id": "nope" })), Err(ProviderError::InvalidConfig(f)) if f.field == "tenant_id")
        );
        let fields = |d: Value| {
            check_user(d.as_object().unwrap())
                .into_iter()
                .map(|f| f.field)
                .collect::<Vec<_>>()
        };
        assert!(fields(json!({ "o365_id": ID, "organization_unit_id": OTHER })).is_empty());
        assert_eq!(fields(json!({ "o365_id": ID })), ["organization_unit_id"]);
        assert_eq!(
            fields(json!({ "o365_id": ID, "organization_unit_id": OTHER, "copy_from": OTHER })),
            ["organization_unit_id"]
        );
        assert_eq!(
            fields(json!({ "o365_id": ID, "copy_from": ID })),
            ["copy_from"]
        );
    }
}
