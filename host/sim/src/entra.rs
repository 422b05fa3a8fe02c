//! Microsoft Entra ID's checks of a client assertion (RFC 7523 `client_assertion`), as the
//! Microsoft identity platform documents them for certificate credentials and for workload
//! identity federation. The token endpoint in [`crate::nimbus`] calls [`authenticate`].
//!
//! Certificate credentials (the assertion's `iss` is its `sub`, the client id): `client_assertion_type`
//! must be `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`; the header's `alg` PS256
//! (with `x5t#S256`) or RS256 (with `x5t#S256` or the older SHA-1 `x5t`) names a certificate
//! registered on the app and the signature verifies with its key; `aud` is the token endpoint
//! URL; `iss` = `sub` = the client id (and the `client_id` parameter, when sent); `nbf` ≤ now <
//! `exp` (5 minutes' clock skew); a `jti` is accepted once.
//!
//! Federated tokens (any other `iss`): the app has a federated credential with that issuer,
//! the token's `sub` and one of its `aud` values; the signature verifies with a key of a
//! trusted issuer registered in the seed (standing in for the issuer's OIDC discovery / JWKS);
//! `nbf` ≤ now < `exp`. Federated tokens may be presented more than once while valid.
//!
//! AADSTS codes: 700016, 700024, 700027, 700211–700213, 90014, 900144 and 5002738 are the codes
//! Entra uses for these conditions as far as the sandbox's authors know them. Where we are less
//! sure — the audience mismatch (700023 here), the `iss`/`sub`/`client_id` mismatch (700021),
//! a malformed token (50027) and a replayed `jti` (50013, "invalid assertion") — the code is the
//! closest documented one and the text says exactly what failed.

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// RFC 7523's client assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The audience Entra expects in federated tokens.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Clock skew Entra tolerates on `nbf` and `exp`.
pub const CLOCK_SKEW_SECS: u64 = 300;

/// A federated identity credential on an app registration: tokens from `issuer` about
/// `subject`, for one of `audiences`, authenticate the app.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    /// The external identity provider's issuer URL (the token's `iss`).
    pub issuer: String,
    /// The external identity (the token's `sub`), e.g. `system:serviceaccount:ns:name`.
    pub subject: String,
    /// Accepted `aud` values; Entra's default is `api://AzureADTokenExchange`.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

fn default_audiences() -> Vec<String> {
    vec![TOKEN_EXCHANGE_AUDIENCE.into()]
}

/// An external identity provider whose signing key the sandbox trusts (in place of fetching
/// its OIDC discovery document and JWKS).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The issuer URL.
    pub issuer: String,
    /// Its RSA signing key, PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub public_key_pem: String,
}

/// What an app registration offers to check an assertion against.
pub(crate) struct AppCredentials<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) certificates: &'a [String],
    pub(crate) federated: &'a [FederatedCredential],
}

/// A refusal: HTTP status, OAuth `error`, Entra's `error_description`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

fn refuse(status: u16, error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error,
        description: description.into(),
    }
}

fn invalid_client(description: impl Into<String>) -> Refusal {
    refuse(401, "invalid_client", description)
}

/// A JWT split and decoded, its signature not yet checked.
pub(crate) struct Jwt {
    pub(crate) header: Value,
    pub(crate) claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// Splits and decodes a compact JWS; `None` for anything malformed.
pub(crate) fn parse_jwt(token: &str) -> Option<Jwt> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return None;
    };
    let header: Value = serde_json::from_slice(&b64url_decode(h)?).ok()?;
    let claims: Value = serde_json::from_slice(&b64url_decode(c)?).ok()?;
    if !header.is_object() || !claims.is_object() {
        return None;
    }
    Some(Jwt {
        header,
        claims,
        signing_input: format!("{h}.{c}"),
        signature: b64url_decode(s)?,
    })
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A registered certificate's thumbprints (`x5t#S256`, `x5t`) and public key; `None` when it
/// does not parse as a PEM X.509 certificate with an RSA key.
pub(crate) fn certificate_key(pem: &str) -> Option<(String, String, RsaPublicKey)> {
    use x509_cert::der::{DecodePem, Encode};
    let cert = x509_cert::Certificate::from_pem(pem.as_bytes()).ok()?;
    let der = cert.to_der().ok()?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    let key = RsaPublicKey::from_public_key_der(&spki).ok()?;
    Some((
        b64url(&Sha256::digest(&der)),
        b64url(&sha1::Sha1::digest(&der)),
        key,
    ))
}

/// The `x5t#S256` of a PEM certificate with an RSA key; `None` when it is not one.
pub fn certificate_thumbprint(pem: &str) -> Option<String> {
    certificate_key(pem).map(|(t, _, _)| t)
}

/// True when `jwt`'s signature verifies with `key` under its header's `alg` (PS256 or RS256).
pub(crate) fn signature_verifies(jwt: &Jwt, key: &RsaPublicKey) -> bool {
    let input = jwt.signing_input.as_bytes();
    match jwt.header["alg"].as_str() {
        Some("PS256") => rsa::pss::Signature::try_from(jwt.signature.as_slice()).is_ok_and(|sig| {
            rsa::pss::VerifyingKey::<Sha256>::new(key.clone())
                .verify(input, &sig)
                .is_ok()
        }),
        Some("RS256") => {
            rsa::pkcs1v15::Signature::try_from(jwt.signature.as_slice()).is_ok_and(|sig| {
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                    .verify(input, &sig)
                    .is_ok()
            })
        }
        _ => false,
    }
}

/// The `nbf` ≤ now < `exp` check with clock skew.
fn within_time(claims: &Value, now: u64) -> Result<(), Refusal> {
    let Some(exp) = claims["exp"].as_u64() else {
        return Err(invalid_client(
            "AADSTS50027: JWT token is invalid or malformed. The assertion has no 'exp' claim.",
        ));
    };
    let nbf = claims["nbf"].as_u64().unwrap_or(0);
    if exp.saturating_add(CLOCK_SKEW_SECS) <= now || nbf > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(invalid_client(format!("AADSTS700024: Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}.")));
    }
    Ok(())
}

fn audiences(claims: &Value) -> Vec<&str> {
    match &claims["aud"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// The single-use record of certificate assertions' `jti`s, each kept until its assertion expires.
#[derive(Default)]
pub(crate) struct SeenJtis(HashMap<String, u64>);

impl SeenJtis {
    /// Records `jti` for `client_id` until `exp`; false when it was seen already.
    fn record(&mut self, client_id: &str, jti: &str, exp: u64, now: u64) -> bool {
        self.0
            .retain(|_, until| until.saturating_add(CLOCK_SKEW_SECS) > now);
        self.0
            .insert(format!("{}:{jti}", client_id.to_ascii_lowercase()), exp)
            .is_none()
    }
}

/// Where an assertion's client id comes from before the app is known: a certificate assertion
/// names it in `iss`/`sub`, a federated token needs the `client_id` parameter.
pub(crate) fn assertion_client_id(
    jwt: &Jwt,
    client_id_param: Option<&str>,
) -> Result<String, Refusal> {
    match (client_id_param, jwt.claims["iss"].as_str()) {
        (Some(id), _) => Ok(id.to_string()),
        (None, Some(iss)) if jwt.claims["sub"].as_str() == Some(iss) => Ok(iss.to_string()),
        _ => Err(refuse(
            400,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        )),
    }
}

/// Checks the assertion form fields of a token request for `app`; `token_url` is the endpoint
/// the request reached (the certificate assertion's required `aud`). Answers what was accepted:
/// `certificate PS256`, `certificate RS256` or `federated <subject>`.
pub(crate) fn authenticate(
    form: &HashMap<String, String>,
    jwt: &Jwt,
    app: &AppCredentials<'_>,
    issuers: &[TrustedIssuer],
    token_url: &str,
    now: u64,
    seen: &mut SeenJtis,
) -> Result<String, Refusal> {
    match form.get("client_assertion_type").map(String::as_str) {
        None => {
            return Err(refuse(
                400,
                "invalid_request",
                "AADSTS90014: The required field 'client_assertion_type' is missing from the credential. Ensure that you have all the necessary parameters for the login request.",
            ))
        }
        Some(JWT_BEARER) => {}
        Some(other) => return Err(refuse(400, "invalid_request", format!("AADSTS90014: Unsupported client_assertion_type '{other}'; expected '{JWT_BEARER}'."))),
    }
    // An app's own assertion has `iss` = `sub` (= its client id); a federated token is issued by
    // an identity provider about someone else (`iss` ≠ `sub`).
    let (iss, sub) = (
        jwt.claims["iss"].as_str().unwrap_or_default(),
        jwt.claims["sub"].as_str().unwrap_or_default(),
    );
    if iss.eq_ignore_ascii_case(sub) || iss.eq_ignore_ascii_case(app.client_id) {
        certificate_assertion(jwt, app, token_url, now, seen).map(|()| {
            format!(
                "certificate {}",
                jwt.header["alg"].as_str().unwrap_or_default()
            )
        })
    } else {
        federated_token(jwt, app, issuers, now).map(|()| {
            format!(
                "federated {}",
                jwt.claims["sub"].as_str().unwrap_or_default()
            )
        })
    }
}

fn certificate_assertion(
    jwt: &Jwt,
    app: &AppCredentials<'_>,
    token_url: &str,
    now: u64,
    seen: &mut SeenJtis,
) -> Result<(), Refusal> {
    let alg = jwt.header["alg"].as_str().unwrap_or_default();
    if alg != "PS256" && alg != "RS256" {
        return Err(invalid_client(format!("AADSTS5002738: Invalid JWT token. '{alg}' is not a supported signature algorithm. Supported signing algorithms are: 'PS256, RS256'.")));
    }
    let s256 = jwt.header["x5t#S256"].as_str();
    let sha1 = jwt.header["x5t"].as_str().filter(|_| alg == "RS256");
    let Some(shown) = s256.or(sha1) else {
        let wanted = if alg == "PS256" {
            "'x5t#S256'"
        } else {
            "'x5t#S256' or 'x5t'"
        };
        return Err(invalid_client(format!("AADSTS700027: The client assertion header has no {wanted} naming the certificate that signed it (alg {alg}).")));
    };
    let registered = app
        .certificates
        .iter()
        .filter_map(|pem| certificate_key(pem))
        .find(|(t256, t1, _)| {
            s256.is_some_and(|t| t == t256) || (s256.is_none() && sha1.is_some_and(|t| t == t1))
        });
    let Some((_, _, key)) = registered else {
        return Err(invalid_client(format!(
            "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{shown}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
            app.client_id
        )));
    };
    if !signature_verifies(jwt, &key) {
        return Err(invalid_client(
            "AADSTS700027: Client assertion failed signature validation.",
        ));
    }
    let claim = |k: &str| jwt.claims[k].as_str().unwrap_or_default();
    if !(claim("iss").eq_ignore_ascii_case(app.client_id)
        && claim("sub").eq_ignore_ascii_case(app.client_id))
    {
        return Err(invalid_client(format!("AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter: 'iss' and 'sub' must both be '{}'.", app.client_id)));
    }
    if !audiences(&jwt.claims)
        .iter()
        .any(|a| a.eq_ignore_ascii_case(token_url))
    {
        return Err(invalid_client(format!("AADSTS700023: Client assertion audience claim does not match Realm issuer: 'aud' must be '{token_url}'.")));
    }
    within_time(&jwt.claims, now)?;
    let Some(jti) = jwt.claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err(invalid_client("AADSTS50027: JWT token is invalid or malformed. The client assertion has no 'jti' claim."));
    };
    if !seen.record(
        app.client_id,
        jti,
        jwt.claims["exp"].as_u64().unwrap_or(now),
        now,
    ) {
        return Err(invalid_client(format!("AADSTS50013: Assertion is invalid: the client assertion with jti '{jti}' was already used; each assertion is accepted once.")));
    }
    Ok(())
}

fn federated_token(
    jwt: &Jwt,
    app: &AppCredentials<'_>,
    issuers: &[TrustedIssuer],
    now: u64,
) -> Result<(), Refusal> {
    let iss = jwt.claims["iss"].as_str().unwrap_or_default();
    let sub = jwt.claims["sub"].as_str().unwrap_or_default();
    let by_issuer: Vec<&FederatedCredential> =
        app.federated.iter().filter(|f| f.issuer == iss).collect();
    if by_issuer.is_empty() {
        return Err(invalid_client(format!("AADSTS700211: No matching federated identity record found for presented assertion issuer '{iss}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.")));
    }
    let auds = audiences(&jwt.claims);
    let by_audience: Vec<&&FederatedCredential> = by_issuer
        .iter()
        .filter(|f| f.audiences.iter().any(|a| auds.contains(&a.as_str())))
        .collect();
    if by_audience.is_empty() {
        return Err(invalid_client(format!("AADSTS700212: No matching federated identity record found for presented assertion audience '{}'.", auds.join(","))));
    }
    if !by_audience.iter().any(|f| f.subject == sub) {
        return Err(invalid_client(format!("AADSTS700213: No matching federated identity record found for presented assertion subject '{sub}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.")));
    }
    let verified = issuers
        .iter()
        .filter(|i| i.issuer == iss)
        .filter_map(|i| RsaPublicKey::from_public_key_pem(&i.public_key_pem).ok())
        .any(|key| signature_verifies(jwt, &key));
    if !verified {
        return Err(invalid_client(format!("AADSTS50013: Assertion failed signature validation. [Reason - No key of issuer '{iss}' verifies the token's signature.]")));
    }
    within_time(&jwt.claims, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30",
            "W10.e30.AA",
        ] {
            assert!(parse_jwt(bad).is_none(), "{bad}");
        }
        assert!(
            parse_jwt("e30.e30.").is_some(),
            "{{}}.{{}} with an empty signature parses (and never verifies)"
        );
    }

    #[test]
    fn time_range_has_skew() {
        let c = |nbf: u64, exp: u64| serde_json::json!({ "nbf": nbf, "exp": exp });
        assert!(within_time(&c(1000, 1600), 1000).is_ok());
        assert!(within_time(&c(1000, 1600), 1800).is_ok(), "within the skew");
        assert!(within_time(&c(1000, 1600), 1900)
            .unwrap_err()
            .description
            .starts_with("AADSTS700024"));
        assert!(within_time(&c(2000, 2600), 1000).is_err(), "not yet valid");
        assert!(within_time(&serde_json::json!({}), 1000)
            .unwrap_err()
            .description
            .starts_with("AADSTS50027"));
    }

    #[test]
    fn a_jti_is_accepted_once_until_its_assertion_expires() {
        let mut seen = SeenJtis::default();
        assert!(seen.record("App", "j", 1600, 1000));
        assert!(!seen.record("app", "j", 1600, 1100));
        assert!(seen.record("other", "j", 1600, 1100));
        assert!(
            seen.record("app", "j", 1600, 1600 + CLOCK_SKEW_SECS),
            "forgotten once expired (then exp refuses it)"
        );
    }

    #[test]
    fn hostile_claims_do_not_panic() {
        let max = serde_json::json!({ "nbf": u64::MAX, "exp": u64::MAX });
        assert!(within_time(&max, 1000).is_err());
        let mut seen = SeenJtis::default();
        assert!(seen.record("a", "j", u64::MAX, 1000));
        assert!(seen.record("a", "k", 1, u64::MAX));
        let odd = parse_jwt("eyJhbGciOjV9.eyJhdWQiOltudWxsLDVdLCJpc3MiOnt9fQ.").unwrap(); // {"alg":5}.{"aud":[null,5],"iss":{}}
        assert!(audiences(&odd.claims).is_empty());
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
        assert!(
            !signature_verifies(&odd, &RsaPublicKey::from(&key)),
            "alg 5 is no algorithm"
        );
    }

    #[test]
    fn garbage_certificates_are_skipped() {
        assert!(certificate_key("").is_none());
        assert!(
            certificate_key("-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----")
                .is_none()
        );
    }
}
