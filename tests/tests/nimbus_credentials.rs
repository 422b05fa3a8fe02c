//! The Nimbus component's production credentials in the real host against the Entra sandbox
//! over loopback: a certificate (PS256 with a PKCS#8 key, RS256 with a PKCS#1 key), a federated
//! token file rotated mid-run, and clear refusals — a wrong key, an expired assertion, a
//! replayed `jti` — and the configuration errors of naming two credentials. Keys, certificates
//! and tokens are made at test time.

use roster_runtime::types::ProviderError;
use roster_runtime::{CallError, Provider};
use roster_sim::credentials::{TestCertificate, TestIssuer};
use roster_sim::entra::FederatedCredential;
use roster_sim::nimbus::{self, demo, NimbusSeed, NimbusSim};
use roster_sim::Running;
use roster_tests::{nimbus_provider_with, provider_error, runtime};
use serde_json::{json, Value};
use std::sync::LazyLock;
use std::time::Duration;

const NEW_USER: &str = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901";
const ISSUER: &str = "https://oidc.ci.example.test";
const SUBJECT: &str = "system:serviceaccount:roster:provisioner";
const OTHER_SUBJECT: &str = "repo:example/roster:environment:production";

/// Made once per test binary (RSA key generation takes a moment).
static CERT: LazyLock<TestCertificate> =
    LazyLock::new(|| TestCertificate::generate("roster-nimbus-test").unwrap());
static OTHER_CERT: LazyLock<TestCertificate> =
    LazyLock::new(|| TestCertificate::generate("someone-else").unwrap());
static ISSUER_KEY: LazyLock<TestIssuer> = LazyLock::new(|| TestIssuer::generate(ISSUER).unwrap());

/// The demo seed with no client secret: the app has only the test certificate and a federated
/// credential for the test issuer.
fn seed() -> NimbusSeed {
    let mut seed = NimbusSeed::demo();
    let app = &mut seed.entra[0].apps[0];
    app.client_secret = String::new();
    app.certificates = vec![CERT.certificate_pem.clone()];
    app.federated_credentials = vec![FederatedCredential {
        issuer: ISSUER.into(),
        subject: SUBJECT.into(),
        audiences: vec!["api://AzureADTokenExchange".into()],
    }];
    seed.trusted_issuers = vec![ISSUER_KEY.trusted()];
    seed
}

struct Env {
    sandbox: NimbusSim,
    server: Running,
    dir: tempfile::TempDir,
    rt: roster_runtime::Runtime,
    _cache: tempfile::TempDir,
}

async fn env() -> Env {
    let (sandbox, server) = nimbus::start(seed()).await.unwrap();
    let (rt, cache) = runtime();
    Env {
        sandbox,
        server,
        dir: tempfile::tempdir().unwrap(),
        rt,
        _cache: cache,
    }
}

impl Env {
    fn write(&self, name: &str, value: &str) {
        std::fs::write(self.dir.path().join(name), value).unwrap();
    }

    async fn provider(&self, config: Value, secrets: &[&str]) -> Result<Provider, CallError> {
        nimbus_provider_with(
            &self.rt,
            &self.server.url(),
            demo::TENANT_ID,
            config,
            self.dir.path(),
            secrets,
        )
        .await
    }

    async fn certificate(&self, config: Value, key_pem: &str) -> Provider {
        self.write("client_certificate", &CERT.certificate_pem);
        self.write("client_private_key", key_pem);
        self.provider(config, &["client_certificate", "client_private_key"])
            .await
            .unwrap()
    }

    fn assertions(&self, kind: &str) -> u64 {
        self.sandbox
            .stats()
            .client_assertions
            .get(kind)
            .copied()
            .unwrap_or(0)
    }
}

fn user() -> String {
    json!({ "o365_id": NEW_USER, "organization_unit_id": demo::OU_SALES }).to_string()
}

async fn create_read_delete(p: &Provider) {
    let created: Value =
        serde_json::from_str(&p.create("nimbus_user", &user()).await.unwrap()).unwrap();
    assert_eq!(created["o365_id"], NEW_USER);
    assert!(p.read("nimbus_user", NEW_USER).await.unwrap().is_some());
    p.delete("nimbus_user", NEW_USER).await.unwrap();
    assert_eq!(p.read("nimbus_user", NEW_USER).await.unwrap(), None);
}

fn unauthorized(e: ProviderError) -> String {
    match e {
        ProviderError::Unauthorized(m) => m,
        other => panic!("expected unauthorized, got {other:?}"),
    }
}

/// No line of a PEM body (key material) appears in `text`.
fn holds_no_key_material(text: &str, pem: &str) -> bool {
    !text.contains("PRIVATE KEY")
        && pem
            .lines()
            .filter(|l| l.len() > 20 && !l.starts_with("-----"))
            .all(|l| !text.contains(l))
}

#[tokio::test]
async fn a_certificate_authenticates_with_ps256_and_a_pkcs8_key() {
    let e = env().await;
    let p = e
        .certificate(
            json!({ "credential": "certificate" }),
            &CERT.private_key_pkcs8_pem(),
        )
        .await;
    create_read_delete(&p).await;
    let stats = e.sandbox.stats();
    assert_eq!(
        (stats.tokens_issued, stats.token_errors),
        (1, 0),
        "one token served every operation"
    );
    assert_eq!(e.assertions("certificate PS256"), 1);
}

#[tokio::test]
async fn a_certificate_authenticates_with_rs256_and_a_pkcs1_key() {
    let e = env().await;
    let p = e
        .certificate(
            json!({ "credential": "certificate", "assertion_algorithm": "RS256" }),
            &CERT.private_key_pkcs1_pem(),
        )
        .await;
    create_read_delete(&p).await;
    assert_eq!(
        e.assertions("certificate RS256"),
        1,
        "the older x5t/RS256 form"
    );
    assert_eq!(e.assertions("certificate PS256"), 0);
}

#[tokio::test]
async fn each_new_token_is_a_fresh_assertion() {
    let e = env().await;
    let p = e
        .certificate(
            json!({ "credential": "certificate" }),
            &CERT.private_key_pkcs8_pem(),
        )
        .await;
    p.read("nimbus_user", demo::TEMPLATE_USER).await.unwrap();
    e.sandbox.revoke_tokens();
    p.read("nimbus_user", demo::TEMPLATE_USER).await.unwrap();
    let stats = e.sandbox.stats();
    assert_eq!(
        (stats.tokens_issued, stats.token_errors),
        (2, 0),
        "a new jti each time: no replay refusal"
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_clearly() {
    let e = env().await;
    // The registered certificate, signed with another key: the signature does not verify.
    let other_key = OTHER_CERT.private_key_pkcs8_pem();
    let p = e
        .certificate(json!({ "credential": "certificate" }), &other_key)
        .await;
    let m = unauthorized(provider_error(
        p.read("nimbus_user", demo::TEMPLATE_USER).await,
    ));
    assert!(
        m.starts_with("invalid_client: AADSTS700027: Client assertion failed signature validation"),
        "{m}"
    );
    assert!(holds_no_key_material(&m, &other_key));
    assert_eq!(
        e.sandbox.stats().token_errors,
        2,
        "refused, the credential fetched fresh from the host, refused again"
    );

    // A certificate the app does not have.
    e.write("client_certificate", &OTHER_CERT.certificate_pem);
    let m = unauthorized(provider_error(
        p.read("nimbus_user", demo::TEMPLATE_USER).await,
    ));
    assert!(m.contains("AADSTS700027: The certificate with identifier used to sign the client assertion is not registered"), "{m}");
    assert!(
        m.contains(&OTHER_CERT.x5t_s256()),
        "names the thumbprint: {m}"
    );

    // Fixed at the source: the next call fetches the certificate again and succeeds.
    e.write("client_certificate", &CERT.certificate_pem);
    e.write("client_private_key", &CERT.private_key_pkcs8_pem());
    p.read("nimbus_user", demo::TEMPLATE_USER)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_key_that_is_no_key_is_a_config_error_that_does_not_quote_it() {
    let e = env().await;
    // A PEM block whose body is no key at all (made here, so no key-shaped literal sits in the tree).
    let body = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"secret-but-not-a-key",
    );
    let label = "PRIVATE KEY";
    let p = e
        .certificate(
            json!({ "credential": "certificate" }),
            &format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"),
        )
        .await;
    match provider_error(p.read("nimbus_user", demo::TEMPLATE_USER).await) {
        ProviderError::InvalidConfig(f) => {
            assert_eq!(f.field, "client_private_key");
            assert!(f.message.contains("not an RSA key"), "{}", f.message);
            assert!(!f.message.contains(&body[..8]), "{}", f.message);
        }
        other => panic!("expected invalid-config, got {other:?}"),
    }
    assert_eq!(
        e.sandbox.stats().token_errors + e.sandbox.stats().tokens_issued,
        0,
        "nothing was sent"
    );
}

#[tokio::test]
async fn a_federated_token_file_rotated_mid_run() {
    let e = env().await;
    e.sandbox.update(|s| {
        let other = FederatedCredential {
            subject: OTHER_SUBJECT.into(),
            ..s.entra[0].apps[0].federated_credentials[0].clone()
        };
        s.entra[0].apps[0].federated_credentials.push(other);
    });
    let accepted = |subject: &str| e.assertions(&format!("federated {subject}"));
    let file = e.dir.path().join("azure-identity-token");
    // A token close to its end of life (a minute and two seconds).
    std::fs::write(&file, ISSUER_KEY.token(SUBJECT, 62)).unwrap();
    let config = json!({ "credential": "federated_token", "federated_token_file": file.display().to_string() });
    // No secret named: `federated_token` defaults to the file `federated_token_file` names.
    let p = e.provider(config, &[]).await.unwrap();
    create_read_delete(&p).await;
    assert_eq!(accepted(SUBJECT), 1);

    // The environment rotates the file; once the held token is within a minute of its expiry, the
    // component reads the file again before it asks for a new access token: no refusal.
    std::fs::write(&file, ISSUER_KEY.token(OTHER_SUBJECT, 3600)).unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    e.sandbox.revoke_tokens();
    p.read("nimbus_user", demo::TEMPLATE_USER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (accepted(SUBJECT), accepted(OTHER_SUBJECT)),
        (1, 1),
        "the rotated token was sent"
    );
    assert_eq!(e.sandbox.stats().token_errors, 0);

    // A held token with life left is kept, whatever the file holds now.
    std::fs::write(&file, ISSUER_KEY.token(SUBJECT, 3600)).unwrap();
    e.sandbox.revoke_tokens();
    p.read("nimbus_user", demo::TEMPLATE_USER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((accepted(SUBJECT), accepted(OTHER_SUBJECT)), (1, 2));

    // The issuer rotates its signing key: the held token is refused, the component reads the file
    // again and the new token is accepted.
    let rotated = TestIssuer::generate(ISSUER).unwrap();
    e.sandbox
        .update(|s| s.trusted_issuers = vec![rotated.trusted()]);
    std::fs::write(&file, rotated.token(SUBJECT, 3600)).unwrap();
    e.sandbox.revoke_tokens();
    p.read("nimbus_user", demo::TEMPLATE_USER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        e.sandbox.stats().token_errors,
        1,
        "one refusal of the old token, then the rotated one"
    );
    assert_eq!(accepted(SUBJECT), 2);
}

#[tokio::test]
async fn an_expired_federated_token_is_refused_clearly() {
    let e = env().await;
    e.write("federated_token", &ISSUER_KEY.token(SUBJECT, -900));
    let p = e
        .provider(
            json!({ "credential": "federated_token" }),
            &["federated_token"],
        )
        .await
        .unwrap();
    let m = unauthorized(provider_error(
        p.read("nimbus_user", demo::TEMPLATE_USER).await,
    ));
    assert!(
        m.starts_with(
            "invalid_client: AADSTS700024: Client assertion is not within its valid time range"
        ),
        "{m}"
    );

    // A token about another subject, or from an issuer the app does not trust.
    e.write(
        "federated_token",
        &ISSUER_KEY.token("system:serviceaccount:other:intruder", 600),
    );
    let m = unauthorized(provider_error(
        p.read("nimbus_user", demo::TEMPLATE_USER).await,
    ));
    assert!(m.contains("AADSTS700213") && m.contains("intruder"), "{m}");
    let stranger = TestIssuer::generate("https://stranger.example.test").unwrap();
    e.write("federated_token", &stranger.token(SUBJECT, 600));
    let m = unauthorized(provider_error(
        p.read("nimbus_user", demo::TEMPLATE_USER).await,
    ));
    assert!(
        m.contains("AADSTS700211") && m.contains("stranger.example.test"),
        "{m}"
    );
}

/// What the component never sends (an expired or replayed certificate assertion), posted to the
/// sandbox directly.
#[tokio::test]
async fn the_sandbox_refuses_expired_replayed_and_misaddressed_assertions() {
    let e = env().await;
    let token_url = format!("{}/{}/oauth2/v2.0/token", e.server.url(), demo::TENANT_ID);
    let scope = format!("{}/.default", e.server.url());
    let post = |assertion: String, kind: &str| {
        let form = [
            ("grant_type", "client_credentials".to_string()),
            ("scope", scope.clone()),
            ("client_id", demo::CLIENT_ID.to_string()),
            ("client_assertion_type", kind.to_string()),
            ("client_assertion", assertion),
        ];
        let url = token_url.clone();
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (
                status,
                body["error_description"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    let jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    let fresh = CERT.assertion(demo::CLIENT_ID, &token_url, "jti-1", 0, 600);
    assert_eq!(post(fresh.clone(), jwt_bearer).await.0, 200);
    let (status, text) = post(fresh, jwt_bearer).await;
    assert_eq!(status, 401);
    assert!(
        text.starts_with("AADSTS50013") && text.contains("jti-1") && text.contains("already used"),
        "{text}"
    );

    let expired = CERT.assertion(demo::CLIENT_ID, &token_url, "jti-2", -1200, 600);
    let (status, text) = post(expired, jwt_bearer).await;
    assert_eq!(status, 401);
    assert!(text.starts_with("AADSTS700024"), "{text}");

    let elsewhere = CERT.assertion(
        demo::CLIENT_ID,
        "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        "jti-3",
        0,
        600,
    );
    assert!(post(elsewhere, jwt_bearer)
        .await
        .1
        .starts_with("AADSTS700023"));

    let other_app = CERT.assertion(
        "00000000-0000-4000-8000-000000000000",
        &token_url,
        "jti-4",
        0,
        600,
    );
    assert!(post(other_app, jwt_bearer)
        .await
        .1
        .starts_with("AADSTS700021"));

    let good = CERT.assertion(demo::CLIENT_ID, &token_url, "jti-5", 0, 600);
    assert!(post(
        good.clone(),
        "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    )
    .await
    .1
    .starts_with("AADSTS90014"));
    // The claims of one assertion with the signature of another.
    let other = CERT.assertion(demo::CLIENT_ID, &token_url, "jti-6", 0, 600);
    let tampered = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    assert!(post(tampered, jwt_bearer)
        .await
        .1
        .contains("failed signature validation"));
    for junk in ["", "a.b.c", "....", "\u{0}"] {
        let (status, text) = post(junk.to_string(), jwt_bearer).await;
        assert_eq!(status, 401, "{junk:?}");
        assert!(text.starts_with("AADSTS50027"), "{junk:?}: {text}");
    }
    assert_eq!(e.sandbox.stats().tokens_issued, 1);
}

#[tokio::test]
async fn naming_two_credentials_is_an_invalid_config_naming_the_key() {
    let e = env().await;
    for name in [
        "client_secret",
        "client_certificate",
        "client_private_key",
        "federated_token",
    ] {
        e.write(name, "x");
    }
    let field = |r: Result<Provider, CallError>| match r {
        Err(CallError::Provider(ProviderError::InvalidConfig(f))) => (f.field, f.message),
        Err(other) => panic!("expected invalid-config, got {other:?}"),
        Ok(_) => panic!("expected invalid-config, got a started provider"),
    };
    let certificate = json!({ "credential": "certificate" });
    let (f, m) = field(
        e.provider(
            certificate.clone(),
            &["client_secret", "client_certificate", "client_private_key"],
        )
        .await,
    );
    assert_eq!(f, "client_secret");
    assert!(
        m.contains("credential = \"client_secret\"")
            && m.contains("authenticates with certificate"),
        "{m}"
    );
    let (f, _) = field(
        e.provider(json!({}), &["client_secret", "federated_token"])
            .await,
    );
    assert_eq!(f, "federated_token");
    let (f, _) = field(
        e.provider(json!({}), &["client_certificate", "client_private_key"])
            .await,
    );
    assert_eq!(
        f, "client_certificate",
        "certificate secrets without credential = certificate"
    );
    let (f, _) = field(
        e.provider(
            json!({ "credential": "certificate", "federated_token_file": "/x" }),
            &[],
        )
        .await,
    );
    assert_eq!(f, "federated_token_file");
    let (f, _) = field(e.provider(json!({ "credential": "mTLS" }), &[]).await);
    assert_eq!(f, "credential");
    assert_eq!(
        e.sandbox.stats().tokens_issued + e.sandbox.stats().token_errors,
        0,
        "nothing was sent"
    );
    // One credential, its secrets absent: starts (validate needs no secret), fails when used.
    let p = e
        .provider(json!({ "credential": "certificate" }), &[])
        .await
        .unwrap();
    let err = provider_error(p.read("nimbus_user", demo::TEMPLATE_USER).await);
    assert!(
        matches!(&err, ProviderError::InvalidConfig(f) if f.field == "client_certificate"),
        "{err:?}"
    );
}
