//! Roster provider for the Symbee Connect user provisioning API (add-user, query-existence,
//! delete-user), authenticated with X-sc-* headers and an API key from AWS Secrets Manager.
//!
//! This file holds Symbee facts only: endpoints, headers, payloads, result codes. The spec is
//! `shared/vendor-docs/symbee-connect-user-provisioning-api.txt`; where it is silent, the
//! assumption is written next to the code.
//
//! The crate also builds on the host (its component export only for wasm32), so the vendor's pure
//! logic — config, request payloads, reply parsing, the error table — has unit tests and is
//! fuzzed (`tests/fuzz`, target `vendor_reply`).

use roster_guest_kit::bindings::exports::roster::provider::provider::Guest;
use roster_guest_kit::http::{self, Reply};
use roster_guest_kit::schema::{self, attr, Flags};
use roster_guest_kit::secret::CachedSecret;
use roster_guest_kit::{
    errors, expect_type, formats, instance, parse_object, to_json, validate_one, FieldError,
    Object, Presence::*, ProviderError,
};
use roster_guest_kit::{
    AttributeSchema, ProviderMetadata, ResourceSchema, SecretSchema, ValueType as V,
};
use serde_json::{json, Value};

use std::time::Duration;

/// Regions with their own host (`<region>.symbeeconnect.com`); none means us-east-1.
const REGIONS: &[&str] = &[
    "us-west-2",
    "ca-central-1",
    "eu-west-2",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "af-south-1",
];
const PORT: u16 = 9443;
const BASE_PATH: &str = "/symbee-admin/api/users/";
const PLATFORM: &str = "AWS Connect";
const USER: &str = "symbee_user";
/// "It is best to not cache this value for an extended period of time (no longer than an hour)."
const KEY_MAX_AGE: Duration = Duration::from_secs(3600);

fn config_schema() -> Vec<AttributeSchema> {
    vec![
        attr("region", V::String, Optional, "Symbee region (us-west-2, ca-central-1, eu-west-2, …); unset means us-east-1 (symbeeconnect.com)."),
        attr("base_url", V::String, Optional, "Explicit API base URL (e.g. a sandbox); default https://[region.]symbeeconnect.com:9443/symbee-admin/api/users/."),
        attr("company_code", V::String, Required, "Your Symbee Connect company alias."),
        attr("environment", V::String, Required, "Your Symbee Connect environment name."),
        attr("secrets_region", V::String, Required, "The AWS region of Secrets Manager holding SYMBEE_CONNECT_API_KEY, e.g. us-east-1."),
        attr("sso_mode", V::String, Required, "How the backing Amazon Connect signs users in: `saml` (SAML 2.0 SSO) or `directory` (an existing directory such as AD)."),
    ]
}

fn user_schema() -> Vec<AttributeSchema> {
    // The API has no update: every attribute the user sets forces a replacement.
    let set = |name: &str, t, p, what: &str| attr(name, t, p, what).replace_on_change();
    vec![
        set(
            "login_user_id",
            V::String,
            Required,
            "Login id (case-sensitive); usually an e-mail address with SAML SSO.",
        ),
        set("first_name", V::String, Required, "First name."),
        set("last_name", V::String, Required, "Last name."),
        set(
            "user_template_name",
            V::String,
            Required,
            "The Symbee Connect user template to create the user from.",
        ),
        set(
            "create_in_amazon_connect",
            V::Boolean,
            Optional,
            "Also create the user in the backing Amazon Connect instance (default false).",
        ),
        set(
            "primary_email",
            V::String,
            Optional,
            "E-mail address; required with a directory, ignored with SAML SSO.",
        ),
        set(
            "secondary_email",
            V::String,
            Optional,
            "E-mail address for notifications.",
        ),
        attr(
            "connect_user_id",
            V::String,
            Computed,
            "The Amazon Connect user id, when the user exists there.",
        ),
        attr(
            "amazon_connect_status",
            V::String,
            Computed,
            "EXISTS or NOT_FOUND in Amazon Connect.",
        ),
    ]
}

#[derive(Clone, Copy, PartialEq)]
enum SsoMode {
    Saml,
    Directory,
}

struct Config {
    base_url: String,
    company_code: String,
    environment: String,
    secrets_region: String,
    sso_mode: SsoMode,
}

fn parse_config(text: &str) -> Result<Config, ProviderError> {
    let c = schema::parse_config(text, &config_schema())?;
    let get = |k: &str| {
        schema::string(&c, k)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let base_url = match (get("base_url"), get("region")) {
        (Some(url), _) => format!("{}/", schema::http_url("base_url", url)?),
        (None, Some(r)) if !REGIONS.contains(&r) && r != "us-east-1" => {
            return Err(errors::invalid_config(
                "region",
                &format!(
                    "unknown region `{r}`; expected none (us-east-1) or one of {}",
                    REGIONS.join(", ")
                ),
            ))
        }
        (None, Some(r)) if r != "us-east-1" => {
            format!("https://{r}.symbeeconnect.com:{PORT}{BASE_PATH}")
        }
        (None, _) => format!("https://symbeeconnect.com:{PORT}{BASE_PATH}"),
    };
    let sso_mode = match get("sso_mode") {
        Some("saml") => SsoMode::Saml,
        Some("directory") => SsoMode::Directory,
        other => {
            return Err(errors::invalid_config(
                "sso_mode",
                &format!(
                    "`sso_mode` must be `saml` or `directory`, got `{}`",
                    other.unwrap_or("")
                ),
            ))
        }
    };
    Ok(Config {
        base_url,
        company_code: get("company_code").unwrap_or_default().to_string(),
        environment: get("environment").unwrap_or_default().to_string(),
        secrets_region: get("secrets_region").unwrap_or_default().to_string(),
        sso_mode,
    })
}

/// The documented result codes of a 200 answer, and HTTP failures, as typed errors.
fn error_for(reply: &Reply, body: &Value) -> ProviderError {
    if reply.status != 200 {
        let detail = reply.detail();
        return match reply.status {
            401 => ProviderError::Unauthorized(errors::with_detail(
                "Symbee Connect refused the request: invalid endpoint URL, X-sc headers invalid, missing or malformed, or the API key is invalid",
                &detail,
            )),
            429 => reply.rate_limited(),
            s if s >= 500 => ProviderError::Unavailable(errors::with_detail(&format!("Symbee Connect answered HTTP {s}"), &detail)),
            s => errors::vendor(s, &detail),
        };
    }
    let result = body.get("result").and_then(Value::as_str).unwrap_or("");
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let text = format!("{result}: {message}");
    match result {
        "UNAUTHORIZED" => ProviderError::Unauthorized(text),
        "INVALID_TENANT" => errors::invalid_config("company_code", &text),
        "INVALID_ARGUMENTS" => errors::invalid_input("", &text),
        "ALREADY_EXISTS" => ProviderError::AlreadyExists(text),
        "NOT_SUPPORTED" => errors::invalid_config("environment", &errors::with_detail(&text, "the API supports only environments with SAML or directory SSO, not Connect's internal user directory")),
        "NOT_FOUND" => ProviderError::NotFound(text),
        "FAIL" => errors::vendor(0, &text),
        "" => ProviderError::Unavailable(format!("Symbee Connect answered 200 without a result: {}", reply.text())),
        other => errors::vendor(0, &format!("unknown result {other}: {message}")),
    }
}

struct Symbee {
    config: Option<Config>,
    key: CachedSecret,
}

impl Default for Symbee {
    fn default() -> Self {
        Symbee {
            config: None,
            key: CachedSecret::new("api_key", Some(KEY_MAX_AGE)),
        }
    }
}

fn with_state<R>(
    f: impl FnOnce(&mut Symbee) -> Result<R, ProviderError>,
) -> Result<R, ProviderError> {
    instance::with(f)
}

impl Symbee {
    /// POSTs `operation` with the X-sc headers and the tenant object; on 401 (or an UNAUTHORIZED
    /// result) asks the host for a fresh key once and retries — the key rotates.
    fn call(&mut self, operation: &str, fields: Value) -> Result<(Reply, Value), ProviderError> {
        let c = self.config.as_ref().ok_or_else(errors::not_configured)?;
        let url = format!("{}{operation}", c.base_url);
        let mut body = json!({ "tenant": { "platform": PLATFORM, "companyCode": c.company_code, "environment": c.environment } });
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().cloned().unwrap_or_default());
        let headers = [
            ("X-sc-platform-code", PLATFORM.to_string()),
            ("X-sc-company-code", c.company_code.clone()),
            ("X-sc-company-environment", c.environment.clone()),
            ("X-sc-secrets-region", c.secrets_region.clone()),
        ];
        let send = |key: &str| {
            let mut request = http::post(&url).header("X-sc-company-api-key", key);
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            request.json(body.clone()).send()
        };
        let attempt = |key: &str| {
            let reply = send(key)?;
            let parsed = body_of(&reply)?;
            Ok((reply, parsed))
        };
        let unauthorized = |(r, b): &(Reply, Value)| {
            r.status == 401 || b.get("result").and_then(Value::as_str) == Some("UNAUTHORIZED")
        };
        self.key.with_fresh_on_rejection(attempt, unauthorized)
    }
}

// What each reply means: the pure half of each operation (tested and fuzzed on the host).

/// The JSON body of a 200 answer (every documented answer is one; `Null` for any other status).
pub fn body_of(reply: &Reply) -> Result<Value, ProviderError> {
    if reply.status == 200 {
        reply.json()
    } else {
        Ok(Value::Null)
    }
}

/// The outcome of `query-existence` for login `id` (`body` from [`body_of`]): the readable part
/// of its state, `None` when Symbee has no such user, or the error.
pub fn read_outcome(
    id: &str,
    reply: &Reply,
    body: &Value,
) -> Result<Option<Object>, ProviderError> {
    match body.get("result").and_then(Value::as_str) {
        Some("SUCCESS") => {}
        Some("NOT_FOUND") => return Ok(None),
        _ => return Err(error_for(reply, body)),
    }
    // The API reports only existence and the Amazon Connect side; the other attributes are not
    // readable and stay as the host recorded them. Whether the user is in Amazon Connect is
    // reported as `create_in_amazon_connect`, so a user missing there shows as drift against a
    // desired `true`.
    let status = body
        .get("amazonConnectStatus")
        .and_then(Value::as_str)
        .unwrap_or("NOT_FOUND");
    let mut state = Object::new();
    state.insert("login_user_id".into(), Value::String(id.into()));
    state.insert(
        "create_in_amazon_connect".into(),
        Value::Bool(status == "EXISTS"),
    );
    state.insert("amazon_connect_status".into(), Value::String(status.into()));
    state.insert("connect_user_id".into(), connect_user_id(body));
    Ok(Some(state))
}

/// The outcome of `add-user` for `desired` in an environment using `mode`: the new user's state
/// (what was asked, and the Amazon Connect side as answered), or the error.
fn create_outcome(
    desired: &Object,
    mode: SsoMode,
    reply: &Reply,
    body: &Value,
) -> Result<Object, ProviderError> {
    if body.get("result").and_then(Value::as_str) != Some("SUCCESS") {
        return Err(error_for(reply, body));
    }
    let mut state = desired.clone();
    if mode == SsoMode::Saml {
        state.remove("primary_email");
    }
    let connect_id = connect_user_id(body);
    state.insert(
        "create_in_amazon_connect".into(),
        Value::Bool(schema::boolean(desired, "create_in_amazon_connect").unwrap_or(false)),
    );
    let status = if connect_id.is_string() {
        "EXISTS"
    } else {
        "NOT_FOUND"
    };
    state.insert("amazon_connect_status".into(), Value::String(status.into()));
    state.insert("connect_user_id".into(), connect_id);
    Ok(state)
}

/// The outcome of `delete-user`.
pub fn delete_outcome(reply: &Reply, body: &Value) -> Result<(), ProviderError> {
    match body.get("result").and_then(Value::as_str) {
        Some("SUCCESS") => Ok(()),
        _ => Err(error_for(reply, body)),
    }
}

/// The Amazon Connect user id an answer gives: a string, or null (anything else is not an id).
fn connect_user_id(body: &Value) -> Value {
    body.get("connectUserId")
        .filter(|v| v.is_string())
        .cloned()
        .unwrap_or(Value::Null)
}

fn check_user(desired: &Object, mode: Option<SsoMode>) -> Vec<FieldError> {
    let mut problems = schema::check(desired, &user_schema());
    if let Some(Err(e)) = schema::string(desired, "login_user_id").map(check_login) {
        problems.push(e);
    }
    let mut problem = |field: &str, message: String| {
        problems.push(FieldError {
            field: field.into(),
            message,
        })
    };
    for field in ["primary_email", "secondary_email"] {
        if let Some(v) = schema::string(desired, field) {
            if !formats::is_email(v) {
                problem(
                    field,
                    format!("`{field}` must be an e-mail address, got `{v}`"),
                );
            }
        }
    }
    if mode == Some(SsoMode::Directory) && schema::string(desired, "primary_email").is_none() {
        problem(
            "primary_email",
            "`primary_email` is required: this environment is linked to an existing directory"
                .into(),
        );
    }
    problems
}

/// A login id: non-empty, at most 128 characters, no white space (case is kept: ids are case-sensitive).
fn check_login(login: &str) -> Result<(), FieldError> {
    if login.is_empty()
        || login.len() > 128
        || login.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(FieldError {
            field: "login_user_id".into(),
            message: format!(
                "`login_user_id` must be 1 to 128 characters with no spaces, got `{login}`"
            ),
        });
    }
    Ok(())
}

fn login_body(id: &str) -> Value {
    json!({ "loginUserId": id })
}

/// The component: its exports (the `roster:provider` world).
pub struct SymbeeProvider;

impl Guest for SymbeeProvider {
    fn metadata() -> ProviderMetadata {
        ProviderMetadata {
            name: "symbee".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Symbee Connect users and agents, optionally in the backing Amazon Connect instance.".into(),
            config_schema: config_schema(),
            secrets: vec![SecretSchema {
                name: "api_key".into(),
                description: "The rotating Symbee Connect API key (cached at most one hour; fetched fresh after a 401).".into(),
                default_source: Some("aws-sm:SYMBEE_CONNECT_API_KEY?region={secrets_region}".into()),
            }],
            resources: vec![ResourceSchema {
                type_name: USER.into(),
                description: "A Symbee Connect user (and agent); the API has no update, so every change replaces it.".into(),
                id_attribute: "login_user_id".into(),
                attributes: user_schema(),
                replace_warning: None,
            }],
            data_sources: vec![],
            rate_limit: None,
        }
    }

    fn allowed_hosts(config: String) -> Result<Vec<String>, ProviderError> {
        let c = parse_config(&config)?;
        let (scheme, rest) = c
            .base_url
            .split_once("://")
            .unwrap_or(("https", &c.base_url));
        Ok(vec![format!(
            "{scheme}://{}",
            rest.split('/').next().unwrap_or(rest)
        )])
    }

    fn configure(config: String) -> Result<(), ProviderError> {
        let c = parse_config(&config)?;
        with_state(|s| {
            s.config = Some(c);
            s.key.clear();
            Ok(())
        })
    }

    fn validate(type_name: String, desired: String) -> Vec<FieldError> {
        let mode = instance::with(|s: &mut Symbee| s.config.as_ref().map(|c| c.sso_mode));
        validate_one(&type_name, USER, &desired, |d| check_user(d, mode))
    }

    fn read(type_name: String, id: String) -> Result<Option<String>, ProviderError> {
        expect_type("resource type", &type_name, USER)?;
        check_login(&id).map_err(ProviderError::InvalidInput)?;
        with_state(|s| {
            let (reply, body) = s.call("query-existence", login_body(&id))?;
            Ok(read_outcome(&id, &reply, &body)?.map(|state| to_json(&state)))
        })
    }

    fn create(type_name: String, desired: String) -> Result<String, ProviderError> {
        expect_type("resource type", &type_name, USER)?;
        let d = parse_object(&desired, "desired")?;
        with_state(|s| {
            let mode = s
                .config
                .as_ref()
                .ok_or_else(errors::not_configured)?
                .sso_mode;
            schema::first_problem(check_user(&d, Some(mode)))?;
            let text = |k: &str| schema::string(&d, k).map(|v| Value::String(v.into()));
            let in_connect = schema::boolean(&d, "create_in_amazon_connect").unwrap_or(false);
            let mut fields = json!({
                "loginUserId": text("login_user_id"),
                "firstName": text("first_name"),
                "lastName": text("last_name"),
                "userTemplateName": text("user_template_name"),
                "createInAmazonConnect": in_connect,
            });
            let f = fields.as_object_mut().unwrap();
            // "Not applicable, and ignored, for environments configured to use SAML SSO": not sent.
            if let (SsoMode::Directory, Some(v)) = (mode, text("primary_email")) {
                f.insert("primaryEmailAddr".into(), v);
            }
            if let Some(v) = text("secondary_email") {
                f.insert("secondaryEmailAddr".into(), v);
            }
            let (reply, body) = s.call("add-user", fields)?;
            Ok(to_json(&create_outcome(&d, mode, &reply, &body)?))
        })
    }

    fn delete(type_name: String, id: String) -> Result<(), ProviderError> {
        expect_type("resource type", &type_name, USER)?;
        check_login(&id).map_err(ProviderError::InvalidInput)?;
        with_state(|s| {
            let (reply, body) = s.call("delete-user", login_body(&id))?;
            delete_outcome(&reply, &body)
        })
    }

    fn query(data_source: String, _arguments: String) -> Result<String, ProviderError> {
        Err(errors::unknown_type("data source", &data_source))
    }
}

#[cfg(target_arch = "wasm32")]
roster_guest_kit::bindings::export!(SymbeeProvider);

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: Value) -> (Reply, Value) {
        let reply = Reply {
            status: 200,
            retry_after: None,
            body: body.to_string().into_bytes(),
        };
        let parsed = body_of(&reply).unwrap();
        (reply, parsed)
    }

    #[test]
    fn a_read_reports_existence_and_the_amazon_connect_side() {
        let (r, b) = answer(
            json!({ "result": "SUCCESS", "amazonConnectStatus": "EXISTS", "connectUserId": "c-1" }),
        );
        let state = read_outcome("mmars@abc-gadgets.com", &r, &b)
            .unwrap()
            .unwrap();
        assert_eq!(
            Value::Object(state),
            json!({ "login_user_id": "mmars@abc-gadgets.com", "create_in_amazon_connect": true, "amazon_connect_status": "EXISTS", "connect_user_id": "c-1" })
        );
        let (r, b) = answer(json!({ "result": "NOT_FOUND", "message": "no such user" }));
        assert!(read_outcome("x", &r, &b).unwrap().is_none());
        // A connect id that is not a string is not an id.
        let (r, b) = answer(json!({ "result": "SUCCESS", "connectUserId": { "id": 1 } }));
        let state = read_outcome("x", &r, &b).unwrap().unwrap();
        assert_eq!(
            (&state["connect_user_id"], &state["amazon_connect_status"]),
            (&Value::Null, &json!("NOT_FOUND"))
        );
    }

    #[test]
    fn the_documented_result_codes() {
        let err = |body: Value| {
            let (r, b) = answer(body);
            delete_outcome(&r, &b).unwrap_err()
        };
        assert!(
            matches!(err(json!({ "result": "UNAUTHORIZED", "message": "m" })), ProviderError::Unauthorized(m) if m == "UNAUTHORIZED: m")
        );
        assert!(
            matches!(err(json!({ "result": "INVALID_TENANT" })), ProviderError::InvalidConfig(f) if f.field == "company_code")
        );
        assert!(matches!(
            err(json!({ "result": "INVALID_ARGUMENTS" })),
            ProviderError::InvalidInput(_)
        ));
        assert!(matches!(
            err(json!({ "result": "ALREADY_EXISTS" })),
            ProviderError::AlreadyExists(_)
        ));
        assert!(
            matches!(err(json!({ "result": "NOT_SUPPORTED" })), ProviderError::InvalidConfig(f) if f.field == "environment")
        );
        assert!(matches!(
            err(json!({ "result": "NOT_FOUND" })),
            ProviderError::NotFound(_)
        ));
        assert!(matches!(
            err(json!({ "result": "FAIL" })),
            ProviderError::Vendor(_)
        ));
        assert!(
            matches!(err(json!({ "ok": true })), ProviderError::Unavailable(m) if m.contains("without a result"))
        );
        let unauthorized = Reply {
            status: 401,
            retry_after: None,
            body: b"denied".to_vec(),
        };
        assert!(matches!(
            delete_outcome(&unauthorized, &body_of(&unauthorized).unwrap()),
            Err(ProviderError::Unauthorized(_))
        ));
        let (r, b) = answer(json!({ "result": "SUCCESS" }));
        assert!(delete_outcome(&r, &b).is_ok());
    }

    #[test]
    fn a_created_users_state_is_what_was_asked_and_the_connect_side() {
        let desired = json!({ "login_user_id": "v@x.com", "first_name": "V", "primary_email": "v@x.com", "create_in_amazon_connect": true });
        let (r, b) = answer(json!({ "result": "SUCCESS", "connectUserId": "c-9" }));
        let state = create_outcome(desired.as_object().unwrap(), SsoMode::Saml, &r, &b).unwrap();
        assert_eq!(
            state.get("primary_email"),
            None,
            "ignored under SAML SSO, so not recorded"
        );
        assert_eq!(
            (&state["amazon_connect_status"], &state["connect_user_id"]),
            (&json!("EXISTS"), &json!("c-9"))
        );
        let (r, b) = answer(json!({ "result": "ALREADY_EXISTS" }));
        assert!(matches!(
            create_outcome(desired.as_object().unwrap(), SsoMode::Directory, &r, &b),
            Err(ProviderError::AlreadyExists(_))
        ));
    }

    #[test]
    fn regions_and_sso_modes_come_from_the_doc() {
        let config = |extra: Value| {
            let mut c = json!({ "company_code": "abc", "environment": "prod", "secrets_region": "us-east-1", "sso_mode": "saml" });
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse_config(&c.to_string())
        };
        assert_eq!(
            config(json!({})).map(|c| c.base_url).ok().as_deref(),
            Some("https://symbeeconnect.com:9443/symbee-admin/api/users/")
        );
        assert_eq!(
            config(json!({ "region": "eu-west-2" }))
                .map(|c| c.base_url)
                .ok()
                .as_deref(),
            Some("https://eu-west-2.symbeeconnect.com:9443/symbee-admin/api/users/")
        );
        assert!(
            matches!(config(json!({ "region": "mars-1" })), Err(ProviderError::InvalidConfig(f)) if f.field == "region")
        );
        assert!(
            matches!(config(json!({ "sso_mode": "internal" })), Err(ProviderError::InvalidConfig(f)) if f.field == "sso_mode")
        );
    }
}
