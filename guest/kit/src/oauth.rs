//! An OAuth 2.0 client-credentials client (RFC 6749 §4.4) for identity providers such as
//! Microsoft Entra ID: a token cache that renews before expiry, a new token after the API
//! answers 401, and three ways for the client to authenticate, chosen by config:
//!
//! - `client_secret`: the secret `client_secret`, sent as HTTP Basic (RFC 6749 §2.3.1);
//! - `certificate`: a JWT client assertion (RFC 7523) signed in the component with the RSA key
//!   of the secret `client_private_key`, naming the secret `client_certificate` by thumbprint;
//! - `federated_token`: a token from another identity provider (workload identity federation,
//!   e.g. Kubernetes or GitHub Actions) used as the client assertion as it is — the secret
//!   `federated_token`, by default read by the host from the file the config key
//!   `federated_token_file` names (Azure's `AZURE_FEDERATED_TOKEN_FILE`).
//!
//! A credential the identity provider refuses is fetched fresh from the host once (secret
//! rotation, a rotated token file) and the request retried. Vendor crates keep only their
//! facts (URLs, scopes); this module holds the protocol.

use crate::http::{self, Reply};
use crate::jwt::{self, Algorithm, CertificateKey, KeyPart, SystemRng};
use crate::schema::attr;
use crate::secret::CachedSecret;
use crate::{errors, AttributeSchema, Object, Presence, ProviderError, SecretSchema, ValueType};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The config key choosing the credential.
pub const CREDENTIAL: &str = "credential";
/// The config key choosing the assertion's algorithm (certificate credential).
pub const ASSERTION_ALGORITHM: &str = "assertion_algorithm";
/// The config key naming the federated token file.
pub const FEDERATED_TOKEN_FILE: &str = "federated_token_file";
/// Secret: the client secret.
pub const CLIENT_SECRET: &str = "client_secret";
/// Secret: the PEM certificate.
pub const CLIENT_CERTIFICATE: &str = "client_certificate";
/// Secret: the PEM RSA private key of the certificate.
pub const CLIENT_PRIVATE_KEY: &str = "client_private_key";
/// Secret: the federated token.
pub const FEDERATED_TOKEN: &str = "federated_token";
/// RFC 7523's client assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a signed assertion is valid ("at most 10 minutes").
pub const ASSERTION_LIFETIME_SECS: u64 = 600;
/// Tokens are renewed this long before they expire (or at half their life, if shorter).
pub const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// A federated token this close to its `exp` is read again before it is sent.
const FEDERATED_MARGIN_SECS: u64 = 60;

/// How the client authenticates to the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// A client secret.
    ClientSecret,
    /// A certificate and its private key: a signed client assertion.
    Certificate(Algorithm),
    /// A federated token used as the client assertion.
    FederatedToken,
}

impl CredentialKind {
    /// The config value naming it.
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::ClientSecret => "client_secret",
            CredentialKind::Certificate(_) => "certificate",
            CredentialKind::FederatedToken => "federated_token",
        }
    }

    /// The secrets it uses.
    pub fn secrets(self) -> &'static [&'static str] {
        match self {
            CredentialKind::ClientSecret => &[CLIENT_SECRET],
            CredentialKind::Certificate(_) => &[CLIENT_CERTIFICATE, CLIENT_PRIVATE_KEY],
            CredentialKind::FederatedToken => &[FEDERATED_TOKEN],
        }
    }
}

const KINDS: [CredentialKind; 3] = [
    CredentialKind::ClientSecret,
    CredentialKind::Certificate(Algorithm::Ps256),
    CredentialKind::FederatedToken,
];

/// The config keys this module reads; a vendor appends them to its config schema.
pub fn config_schema() -> Vec<AttributeSchema> {
    vec![
        attr(CREDENTIAL, ValueType::String, Presence::Optional, "How the app authenticates: client_secret (default; secret client_secret), certificate (secrets client_certificate and client_private_key) or federated_token (secret federated_token, e.g. from federated_token_file)."),
        attr(ASSERTION_ALGORITHM, ValueType::String, Presence::Optional, "With credential = certificate: PS256 (default, x5t#S256) or RS256 (the older x5t form)."),
        attr(FEDERATED_TOKEN_FILE, ValueType::String, Presence::Optional, "With credential = federated_token: the token file the environment provides (e.g. ${AZURE_FEDERATED_TOKEN_FILE}); the host reads it as the secret federated_token, again when it is refused."),
    ]
}

/// The secrets this module may ask for; `what` names the app registration for humans.
pub fn secret_schemas(what: &str) -> Vec<SecretSchema> {
    let s = |name: &str, description: String, default_source: Option<String>| SecretSchema {
        name: name.into(),
        description,
        default_source,
    };
    vec![
        s(CLIENT_SECRET, format!("Client secret of {what} (credential = client_secret)."), None),
        s(CLIENT_CERTIFICATE, format!("PEM certificate registered on {what} (credential = certificate)."), None),
        s(CLIENT_PRIVATE_KEY, "PEM RSA private key of client_certificate, PKCS#8 or PKCS#1, unencrypted (credential = certificate).".into(), None),
        s(
            FEDERATED_TOKEN,
            format!("A token from an identity provider {what} trusts through a federated credential (credential = federated_token); default: the file federated_token_file."),
            Some(format!("file:{{{FEDERATED_TOKEN_FILE}}}")),
        ),
    ]
}

/// The credential a checked config asks for. A key of another credential is an error naming it.
pub fn parse_credential(config: &Object) -> Result<CredentialKind, ProviderError> {
    let get = |k: &str| {
        crate::schema::string(config, k)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let kind = match get(CREDENTIAL) {
        None | Some("client_secret") => CredentialKind::ClientSecret,
        Some("certificate") => {
            let alg = get(ASSERTION_ALGORITHM).unwrap_or("PS256");
            CredentialKind::Certificate(Algorithm::parse(alg).ok_or_else(|| errors::invalid_config(ASSERTION_ALGORITHM, &format!("`{ASSERTION_ALGORITHM}` must be PS256 or RS256, got `{alg}`")))?)
        }
        Some("federated_token") => CredentialKind::FederatedToken,
        Some(other) => return Err(errors::invalid_config(CREDENTIAL, &format!("`{CREDENTIAL}` must be client_secret, certificate or federated_token, got `{other}`"))),
    };
    let misplaced = [
        (ASSERTION_ALGORITHM, "certificate"),
        (FEDERATED_TOKEN_FILE, "federated_token"),
    ];
    for (key, wants) in misplaced {
        if get(key).is_some() && kind.name() != wants {
            return Err(errors::invalid_config(key, &format!("`{key}` belongs to credential = \"{wants}\", but this config authenticates with {}: name one credential only", kind.name())));
        }
    }
    Ok(kind)
}

/// Checks that the host has no secret of another credential than `kind`: naming two kinds of
/// credential is a configuration error, naming the secret. Asks the host by name
/// ([`crate::secret::is_named`]); a name with no source answers `not-found` at once, so only a
/// misconfigured secret is ever fetched.
pub fn check_single_credential(kind: CredentialKind) -> Result<(), ProviderError> {
    for other in KINDS.iter().filter(|k| k.name() != kind.name()) {
        for name in other.secrets() {
            if crate::secret::is_named(name) {
                return Err(errors::invalid_config(
                    name,
                    &format!(
                        "secret `{name}` belongs to credential = \"{}\", but this config authenticates with {} ({}): name the secrets of one credential only",
                        other.name(),
                        kind.name(),
                        kind.secrets().join(" and ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The client's credential with its cached secrets.
enum Credential {
    Secret(CachedSecret),
    Certificate {
        certificate: CachedSecret,
        private_key: CachedSecret,
        alg: Algorithm,
    },
    Federated(CachedSecret),
}

impl Credential {
    fn new(kind: CredentialKind) -> Credential {
        let secret = |name: &str| CachedSecret::new(name, None);
        match kind {
            CredentialKind::ClientSecret => Credential::Secret(secret(CLIENT_SECRET)),
            CredentialKind::Certificate(alg) => Credential::Certificate {
                certificate: secret(CLIENT_CERTIFICATE),
                private_key: secret(CLIENT_PRIVATE_KEY),
                alg,
            },
            CredentialKind::FederatedToken => Credential::Federated(secret(FEDERATED_TOKEN)),
        }
    }

    /// Asks the host again for every secret of the credential.
    fn refresh(&mut self) -> Result<(), ProviderError> {
        match self {
            Credential::Secret(s) | Credential::Federated(s) => s.refresh().map(drop),
            Credential::Certificate {
                certificate,
                private_key,
                ..
            } => {
                certificate.refresh()?;
                private_key.refresh().map(drop)
            }
        }
    }
}

/// Where and as whom a client asks for tokens.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The token endpoint URL (also a signed assertion's `aud`).
    pub token_url: String,
    /// The client (application) id.
    pub client_id: String,
    /// The `scope` parameter.
    pub scope: String,
}

/// A client-credentials client with its token cache.
pub struct Client {
    endpoint: Endpoint,
    credential: Credential,
    token: Option<(String, Instant)>,
}

impl Client {
    /// A client for `endpoint` authenticating with `kind`.
    pub fn new(endpoint: Endpoint, kind: CredentialKind) -> Client {
        Client {
            endpoint,
            credential: Credential::new(kind),
            token: None,
        }
    }

    /// Forgets the cached token (the API refused it).
    pub fn invalidate(&mut self) {
        self.token = None;
    }

    /// A token with enough life left, fetched when needed; a refused credential is fetched
    /// fresh from the host once.
    pub fn token(&mut self) -> Result<String, ProviderError> {
        if let Some((token, renew_at)) = &self.token {
            if Instant::now() < *renew_at {
                return Ok(token.clone());
            }
        }
        let mut reply = self.request_token()?;
        if refused_credential(&reply) {
            self.credential.refresh()?;
            reply = self.request_token()?;
        }
        let (token, lifetime) = token_answer(&reply)?;
        self.token = Some((
            token.clone(),
            Instant::now() + lifetime - TOKEN_MARGIN.min(lifetime / 2),
        ));
        Ok(token)
    }

    /// Sends an API request built with a bearer token; after a 401 gets a new token once and
    /// sends it again.
    pub fn send(&mut self, build: impl Fn(&str) -> http::Request) -> Result<Reply, ProviderError> {
        let token = self.token()?;
        let reply = build(&token).send()?;
        if reply.status != 401 {
            return Ok(reply);
        }
        self.invalidate();
        let token = self.token()?;
        build(&token).send()
    }

    fn request_token(&mut self) -> Result<Reply, ProviderError> {
        let e = &self.endpoint;
        let base = [
            ("grant_type", "client_credentials"),
            ("scope", e.scope.as_str()),
        ];
        match &mut self.credential {
            Credential::Secret(secret) => {
                let secret = secret.get()?;
                http::post(&e.token_url)
                    .basic_auth(&e.client_id, &secret)
                    .form(&base)
                    .send()
            }
            Credential::Certificate {
                certificate,
                private_key,
                alg,
            } => {
                let key = CertificateKey::from_pem(&certificate.get()?, &private_key.get()?)
                    .map_err(|err| {
                        let name = if err.which == KeyPart::Certificate {
                            CLIENT_CERTIFICATE
                        } else {
                            CLIENT_PRIVATE_KEY
                        };
                        errors::invalid_config(name, &format!("secret `{name}` {}", err.message))
                    })?;
                let mut rng = SystemRng;
                let mut jti = [0u8; 16];
                rsa::rand_core::RngCore::fill_bytes(&mut rng, &mut jti);
                let claims = jwt::assertion_claims(
                    &e.client_id,
                    &e.token_url,
                    &jwt::uuid_v4(jti),
                    unix_now(),
                    ASSERTION_LIFETIME_SECS,
                );
                let assertion = key.sign(*alg, &claims, &mut rng);
                post_assertion(e, &base, &assertion)
            }
            Credential::Federated(token) => {
                let mut assertion = token.get()?;
                if expires_soon(&assertion, unix_now()) {
                    assertion = token.refresh()?;
                }
                post_assertion(e, &base, assertion.trim())
            }
        }
    }
}

fn post_assertion(
    e: &Endpoint,
    base: &[(&str, &str)],
    assertion: &str,
) -> Result<Reply, ProviderError> {
    let mut form = base.to_vec();
    form.extend([
        ("client_id", e.client_id.as_str()),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ]);
    http::post(&e.token_url).form(&form).send()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// True when a JWT's `exp` is past or within a minute (a token without one is taken as is).
pub fn expires_soon(token: &str, now: u64) -> bool {
    jwt::unverified_claims(token)
        .and_then(|c| c.get("exp").and_then(Value::as_u64))
        .is_some_and(|exp| exp <= now + FEDERATED_MARGIN_SECS)
}

/// True when the token endpoint refused the client's credential (RFC 6749 §5.2 `invalid_client`,
/// or a 401): worth one more try with a fresh credential.
pub fn refused_credential(reply: &Reply) -> bool {
    reply.status == 401 || (reply.status == 400 && reply.text().contains("invalid_client"))
}

/// The access token and its lifetime from a token endpoint answer, or the typed error for a
/// refusal (`error: error_description`, as the identity provider words it).
pub fn token_answer(reply: &Reply) -> Result<(String, Duration), ProviderError> {
    if reply.status != 200 {
        let body = reply.json().unwrap_or(Value::Null);
        let error = body.get("error").and_then(Value::as_str).unwrap_or("");
        let description = body
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        let text = match (error, description) {
            ("", "") => format!(
                "token endpoint answered HTTP {}: {}",
                reply.status,
                reply.text()
            ),
            (e, d) => format!("{e}: {d}"),
        };
        return Err(match reply.status {
            429 => reply.rate_limited(),
            s if s >= 500 => ProviderError::Unavailable(text),
            _ => ProviderError::Unauthorized(text),
        });
    }
    let body = reply.json()?;
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ProviderError::Unauthorized(
                "the token endpoint answered without an access_token".into(),
            )
        })?;
    let secs = body
        .get("expires_in")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(3599);
    Ok((token.to_string(), Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_credential_comes_from_config() {
        let kind = |v: Value| parse_credential(&config(v));
        assert_eq!(
            kind(serde_json::json!({})).unwrap(),
            CredentialKind::ClientSecret
        );
        assert_eq!(
            kind(serde_json::json!({ "credential": "certificate" })).unwrap(),
            CredentialKind::Certificate(Algorithm::Ps256)
        );
        assert_eq!(
            kind(
                serde_json::json!({ "credential": "certificate", "assertion_algorithm": "RS256" })
            )
            .unwrap(),
            CredentialKind::Certificate(Algorithm::Rs256)
        );
        assert_eq!(
            kind(
                serde_json::json!({ "credential": "federated_token", "federated_token_file": "/t" })
            )
            .unwrap(),
            CredentialKind::FederatedToken
        );
        let field = |v: Value| match kind(v) {
            Err(ProviderError::InvalidConfig(f)) => f.field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(serde_json::json!({ "credential": "password" })),
            "credential"
        );
        assert_eq!(
            field(
                serde_json::json!({ "credential": "certificate", "assertion_algorithm": "HS256" })
            ),
            "assertion_algorithm"
        );
        assert_eq!(
            field(serde_json::json!({ "credential": "certificate", "federated_token_file": "/t" })),
            "federated_token_file"
        );
        assert_eq!(
            field(serde_json::json!({ "federated_token_file": "/t" })),
            "federated_token_file"
        );
        assert_eq!(
            field(serde_json::json!({ "assertion_algorithm": "RS256" })),
            "assertion_algorithm"
        );
    }

    #[test]
    fn federated_tokens_near_expiry_are_read_again() {
        let token = |exp: u64| {
            format!(
                "h.{}.s",
                jwt::b64url(format!("{{\"exp\":{exp}}}").as_bytes())
            )
        };
        assert!(expires_soon(&token(1000), 1000));
        assert!(expires_soon(&token(1050), 1000));
        assert!(!expires_soon(&token(2000), 1000));
        assert!(!expires_soon("opaque", 1000));
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn token_answers_and_refusals() {
        let (t, life) =
            token_answer(&reply(200, r#"{"access_token":"a","expires_in":"60"}"#)).unwrap();
        assert_eq!((t.as_str(), life), ("a", Duration::from_secs(60)));
        let e = token_answer(&reply(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS700027: x"}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(e, ProviderError::Unauthorized(m) if m == "invalid_client: AADSTS700027: x")
        );
        assert!(matches!(
            token_answer(&reply(503, "down")).unwrap_err(),
            ProviderError::Unavailable(_)
        ));
        assert!(refused_credential(&reply(
            400,
            r#"{"error":"invalid_client"}"#
        )));
        assert!(!refused_credential(&reply(
            400,
            r#"{"error":"invalid_scope"}"#
        )));
    }
}
