//! Entra ID's client-credentials token endpoint: `POST /{tenant}/oauth2/v2.0/token`.

use super::seed::EntraApp;
use super::store::{rand_u64, State, Token};
use super::NimbusSim;
use crate::entra::{self, AppCredentials};
use crate::server::{expiry, json, Outcome, Req};
use serde_json::json;
use std::collections::HashMap;

fn entra_error(status: u16, error: &str, description: &str) -> Outcome {
    json(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

fn refusal(r: entra::Refusal) -> Outcome {
    entra_error(r.status, r.error, &r.description)
}

/// The registered app with `client_id` (Entra compares client ids ignoring case).
fn app_of<'a>(apps: &'a [EntraApp], client_id: &str) -> Option<&'a EntraApp> {
    apps.iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
}

fn unknown_app(client_id: &str, tenant: &str) -> Outcome {
    entra_error(400, "unauthorized_client", &format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'."))
}

static EMPTY: String = String::new();

impl NimbusSim {
    pub(super) fn token_endpoint(&self, tenant: &str, req: &Req) -> Outcome {
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
                let Some(app) = app_of(&entra.apps, &client_id) else {
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
                let Some(app) = app_of(&entra.apps, &client_id) else {
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
