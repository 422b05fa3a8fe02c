//! The Symbee component in the real host against the Symbee sandbox over loopback: every
//! operation and result code, header and tenant mismatches, SAML vs directory rules, and the
//! API key rotated in a real moto_server and in the sandbox, recovered through 401 → fresh key.

use roster_runtime::secrets::AwsOptions;
use roster_runtime::types::ProviderError;
use roster_runtime::Provider;
use roster_sim::faults::{Fault, Faults};
use roster_sim::rate::{RateLimit, RateMode};
use roster_sim::symbee::{self, demo, SymbeeSeed, SymbeeSim};
use roster_sim::Running;
use roster_tests::{provider_error, runtime, symbee_provider, Moto};
use serde_json::{json, Value};

struct Env {
    sandbox: SymbeeSim,
    server: Running,
    provider: Provider,
    _key_dir: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

async fn env_for(environment: &str, sso_mode: &str) -> Env {
    let (sandbox, server) = symbee::start(SymbeeSeed::demo()).await.unwrap();
    let (rt, cache) = runtime();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("api_key");
    std::fs::write(&key, demo::API_KEY).unwrap();
    let provider = symbee_provider(
        &rt,
        &server.url(),
        environment,
        sso_mode,
        &format!("file:{}", key.display()),
        AwsOptions::default(),
    )
    .await
    .unwrap();
    Env {
        sandbox,
        server,
        provider,
        _key_dir: dir,
        _cache: cache,
    }
}

async fn saml() -> Env {
    env_for(demo::ENV_SAML, "saml").await
}

fn mars(in_connect: bool) -> String {
    json!({
        "login_user_id": "mmars@abc-gadgets.com",
        "first_name": "Mike",
        "last_name": "Mars",
        "user_template_name": demo::TEMPLATE,
        "create_in_amazon_connect": in_connect,
    })
    .to_string()
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[tokio::test]
async fn add_query_delete_in_symbee_only() {
    let e = saml().await;
    let p = &e.provider;
    let created = parse(&p.create("symbee_user", &mars(false)).await.unwrap());
    assert_eq!(created["connect_user_id"], Value::Null);
    assert_eq!(created["amazon_connect_status"], "NOT_FOUND");
    assert_eq!(created["first_name"], "Mike");
    let read = parse(
        &p.read("symbee_user", "mmars@abc-gadgets.com")
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(
        read,
        json!({ "login_user_id": "mmars@abc-gadgets.com", "create_in_amazon_connect": false, "amazon_connect_status": "NOT_FOUND", "connect_user_id": null })
    );
    assert_eq!(
        p.read("symbee_user", "MMARS@abc-gadgets.com")
            .await
            .unwrap(),
        None,
        "login ids are case-sensitive"
    );
    p.delete("symbee_user", "mmars@abc-gadgets.com")
        .await
        .unwrap();
    assert_eq!(
        p.read("symbee_user", "mmars@abc-gadgets.com")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn add_in_amazon_connect_and_delete_from_both() {
    let e = saml().await;
    let p = &e.provider;
    let created = parse(&p.create("symbee_user", &mars(true)).await.unwrap());
    let connect_id = created["connect_user_id"]
        .as_str()
        .expect("a Connect user id")
        .to_string();
    assert_eq!(created["amazon_connect_status"], "EXISTS");
    let read = parse(
        &p.read("symbee_user", "mmars@abc-gadgets.com")
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(read["connect_user_id"], connect_id.as_str());
    assert_eq!(read["create_in_amazon_connect"], true);
    p.delete("symbee_user", "mmars@abc-gadgets.com")
        .await
        .unwrap();
    let connect_users = e
        .sandbox
        .update(|s| s.companies[0].environments[0].connect_users.len());
    assert_eq!(connect_users, 0, "deleted from Amazon Connect too");
}

#[tokio::test]
async fn a_user_missing_from_amazon_connect_reads_as_drift() {
    let e = saml().await;
    let read = parse(
        &e.provider
            .read("symbee_user", "vvenus@abc-gadgets.com")
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(read["amazon_connect_status"], "NOT_FOUND");
    assert_eq!(
        read["create_in_amazon_connect"], false,
        "a desired `true` differs from what is there"
    );
}

#[tokio::test]
async fn result_codes_map_to_typed_errors() {
    let e = saml().await;
    let p = &e.provider;
    p.create("symbee_user", &mars(false)).await.unwrap();
    let err = provider_error(p.create("symbee_user", &mars(false)).await);
    assert!(
        matches!(&err, ProviderError::AlreadyExists(m) if m == "ALREADY_EXISTS: User already exists"),
        "{err:?}"
    );
    let err = provider_error(p.delete("symbee_user", "nobody@abc-gadgets.com").await);
    assert!(
        matches!(&err, ProviderError::NotFound(m) if m == "NOT_FOUND: User not found"),
        "{err:?}"
    );
    let mut bad_template = parse(&mars(false));
    bad_template["login_user_id"] = json!("jjupiter@abc-gadgets.com");
    bad_template["user_template_name"] = json!("Astronaut");
    let err = provider_error(p.create("symbee_user", &bad_template.to_string()).await);
    assert!(
        matches!(&err, ProviderError::InvalidInput(f) if f.message.contains("INVALID_ARGUMENTS") && f.message.contains("Astronaut")),
        "{err:?}"
    );

    e.sandbox
        .update(|s| s.companies[0].environments[0].connect_failure = true);
    let mut jupiter = parse(&mars(true));
    jupiter["login_user_id"] = json!("jjupiter@abc-gadgets.com");
    let err = provider_error(p.create("symbee_user", &jupiter.to_string()).await);
    assert!(
        matches!(&err, ProviderError::Vendor(v) if v.message.starts_with("FAIL:")),
        "{err:?}"
    );

    e.sandbox
        .update(|s| s.companies[0].environments[0].provisioning_enabled = false);
    let err = provider_error(p.read("symbee_user", "mmars@abc-gadgets.com").await);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.starts_with("UNAUTHORIZED:")),
        "{err:?}"
    );
    e.sandbox
        .update(|s| s.companies[0].environments[0].provisioning_enabled = true);

    let mut faults = Faults::default();
    faults.routes.insert(
        "query-existence".into(),
        Fault {
            error_rate: 1.0,
            error_status: 502,
            ..Fault::default()
        },
    );
    e.sandbox.update(|s| s.faults = faults);
    let err = provider_error(p.read("symbee_user", "mmars@abc-gadgets.com").await);
    assert!(
        matches!(&err, ProviderError::Unavailable(m) if m.contains("HTTP 502")),
        "{err:?}"
    );
    e.sandbox.update(|s| {
        s.faults = Faults::default();
        s.rate_limit = Some(RateLimit {
            operations: 1,
            window_ms: 5000,
            mode: RateMode::Reject,
        });
    });
    p.read("symbee_user", "mmars@abc-gadgets.com")
        .await
        .unwrap();
    let err = provider_error(p.read("symbee_user", "mmars@abc-gadgets.com").await);
    assert!(
        matches!(&err, ProviderError::RateLimited(r) if r.retry_after_ms.is_some()),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_connect_internal_environment_is_not_supported() {
    let e = env_for(demo::ENV_INTERNAL, "saml").await;
    let err = provider_error(e.provider.read("symbee_user", "x@abc-gadgets.com").await);
    assert!(
        matches!(&err, ProviderError::InvalidConfig(f) if f.field == "environment" && f.message.starts_with("NOT_SUPPORTED")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_after_one_fresh_attempt() {
    let e = saml().await;
    e.sandbox
        .rotate_key(demo::COMPANY, demo::ENV_SAML, "a-key-nobody-has");
    let err = provider_error(
        e.provider
            .read("symbee_user", "vvenus@abc-gadgets.com")
            .await,
    );
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("invalid API key")),
        "{err:?}"
    );
    assert_eq!(
        e.sandbox.stats().unauthorized,
        2,
        "the cached key, then the fresh one"
    );
    assert!(!format!("{err:?}").contains(demo::API_KEY));
}

#[tokio::test]
async fn directory_requires_primary_email_and_saml_ignores_it() {
    let dir = env_for(demo::ENV_DIRECTORY, "directory").await;
    let problems = dir
        .provider
        .validate("symbee_user", &mars(false))
        .await
        .unwrap();
    assert!(
        problems.iter().any(|f| f.field == "primary_email"),
        "{problems:?}"
    );
    let err = provider_error(dir.provider.create("symbee_user", &mars(false)).await);
    assert!(
        matches!(&err, ProviderError::InvalidInput(f) if f.field == "primary_email"),
        "{err:?}"
    );
    assert_eq!(
        dir.sandbox.stats().operations,
        0,
        "refused before anything was sent"
    );
    let mut with_email = parse(&mars(false));
    with_email["primary_email"] = json!("mike.mars@abc-gadgets.com");
    dir.provider
        .create("symbee_user", &with_email.to_string())
        .await
        .unwrap();
    let stored = dir.sandbox.update(|s| {
        s.companies[0].environments[1].users[0]
            .primary_email
            .clone()
    });
    assert_eq!(stored.as_deref(), Some("mike.mars@abc-gadgets.com"));

    let saml = saml().await;
    assert!(saml
        .provider
        .validate("symbee_user", &mars(false))
        .await
        .unwrap()
        .is_empty());
    saml.provider
        .create("symbee_user", &with_email.to_string())
        .await
        .unwrap();
    let stored = saml.sandbox.update(|s| {
        s.companies[0].environments[0]
            .users
            .iter()
            .find(|u| u.first_name == "Mike")
            .unwrap()
            .primary_email
            .clone()
    });
    assert_eq!(stored, None, "not sent with SAML SSO");
}

#[tokio::test]
async fn login_ids_and_emails_are_checked_before_sending() {
    let e = saml().await;
    let p = &e.provider;
    let mut bad = parse(&mars(false));
    bad["login_user_id"] = json!("mike mars");
    assert!(
        matches!(provider_error(p.create("symbee_user", &bad.to_string()).await), ProviderError::InvalidInput(f) if f.field == "login_user_id")
    );
    let mut bad = parse(&mars(false));
    bad["secondary_email"] = json!("not-an-email");
    assert!(
        matches!(provider_error(p.create("symbee_user", &bad.to_string()).await), ProviderError::InvalidInput(f) if f.field == "secondary_email")
    );
    assert!(matches!(
        provider_error(p.read("symbee_user", "").await),
        ProviderError::InvalidInput(_)
    ));
    assert!(matches!(
        provider_error(p.delete("symbee_user", "a b").await),
        ProviderError::InvalidInput(_)
    ));
    assert_eq!(
        e.sandbox.stats().operations + e.sandbox.stats().unauthorized,
        0
    );
}

/// Raw requests: the sandbox's own 401s for each header, and INVALID_TENANT.
#[tokio::test]
async fn header_and_tenant_mismatches() {
    let e = saml().await;
    let http = reqwest::Client::new();
    let url = format!("{}/symbee-admin/api/users/query-existence", e.server.url());
    let good = [
        ("X-sc-platform-code", "AWS Connect"),
        ("X-sc-company-code", demo::COMPANY),
        ("X-sc-company-environment", demo::ENV_SAML),
        ("X-sc-secrets-region", demo::SECRETS_REGION),
        ("X-sc-company-api-key", demo::API_KEY),
    ];
    let tenant = json!({ "platform": "AWS Connect", "companyCode": demo::COMPANY, "environment": demo::ENV_SAML });
    let send = |headers: Vec<(&'static str, &'static str)>, body: Value| {
        let mut r = http.post(&url).json(&body);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let body = json!({ "tenant": tenant, "loginUserId": "vvenus@abc-gadgets.com" });
    assert_eq!(
        send(good.to_vec(), body.clone()).await.1["result"],
        "SUCCESS"
    );
    for skip in 0..good.len() {
        let headers: Vec<_> = good
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, h)| *h)
            .collect();
        let (status, reply) = send(headers, body.clone()).await;
        assert_eq!(status, 401, "without {}", good[skip].0);
        assert!(
            reply["message"]
                .as_str()
                .unwrap()
                .contains(&good[skip].0.to_ascii_lowercase()),
            "{reply}"
        );
    }
    for (i, wrong) in [
        (0, "Genesys"),
        (1, "other-co"),
        (2, "staging"),
        (3, "eu-west-1"),
        (4, "old-key"),
    ] {
        let mut headers = good.to_vec();
        headers[i].1 = wrong;
        assert_eq!(
            send(headers, body.clone()).await.0,
            401,
            "wrong {}",
            good[i].0
        );
    }
    let mut mismatched = body.clone();
    mismatched["tenant"]["environment"] = json!("corp");
    assert_eq!(
        send(good.to_vec(), mismatched).await.1["result"],
        "INVALID_TENANT"
    );
    let mut no_login = body.clone();
    no_login.as_object_mut().unwrap().remove("loginUserId");
    assert_eq!(
        send(good.to_vec(), no_login).await.1["result"],
        "INVALID_ARGUMENTS"
    );
    let state: Value = http
        .get(format!("{}/_sandbox/state", e.server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        state["companies"][0]["environments"][0]["api_key"],
        "<redacted>"
    );
}

/// The whole key path: the secret in a real moto_server, fetched by the host's AWS backend
/// through the component's default source, used against the sandbox; then rotated in both,
/// and the next operation recovers through 401 → fresh value with no user-visible failure.
#[tokio::test]
async fn api_key_rotation_through_aws_secrets_manager() {
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let moto = Moto::start();
    moto.call(
        demo::SECRETS_REGION,
        "CreateSecret",
        json!({ "Name": "SYMBEE_CONNECT_API_KEY", "SecretString": demo::API_KEY }),
    )
    .await;
    let (sandbox, server) = symbee::start(SymbeeSeed::demo()).await.unwrap();
    let (rt, _cache) = runtime();
    let config = json!({
        "base_url": format!("{}/symbee-admin/api/users/", server.url()),
        "company_code": demo::COMPANY,
        "environment": demo::ENV_SAML,
        "secrets_region": demo::SECRETS_REGION,
        "sso_mode": "saml",
    });
    let mut spec = roster_runtime::ProviderSpec::new("symbee", config);
    spec.aws = AwsOptions {
        endpoint: Some(moto.endpoint.clone()),
        ..AwsOptions::default()
    };
    spec.secret_max_age = std::time::Duration::from_secs(3600);
    // No secret source given: the component's default, aws-sm:SYMBEE_CONNECT_API_KEY?region={secrets_region}.
    let p = Provider::start(&rt, roster_components::builtin("symbee").unwrap(), spec)
        .await
        .unwrap();
    p.create("symbee_user", &mars(true)).await.unwrap();
    assert_eq!(p.secrets().fetch_count(), 1);

    moto.call(
        demo::SECRETS_REGION,
        "PutSecretValue",
        json!({ "SecretId": "SYMBEE_CONNECT_API_KEY", "SecretString": "sandbox-api-key-2" }),
    )
    .await;
    assert!(sandbox.rotate_key(demo::COMPANY, demo::ENV_SAML, "sandbox-api-key-2"));

    let read = parse(
        &p.read("symbee_user", "mmars@abc-gadgets.com")
            .await
            .expect("no user-visible failure")
            .unwrap(),
    );
    assert_eq!(read["amazon_connect_status"], "EXISTS");
    assert_eq!(
        sandbox.stats().unauthorized,
        1,
        "the old key was refused once"
    );
    assert_eq!(
        p.secrets().fetch_count(),
        2,
        "the fresh value came from Secrets Manager"
    );
    p.delete("symbee_user", "mmars@abc-gadgets.com")
        .await
        .unwrap();
    assert_eq!(
        sandbox.stats().unauthorized,
        1,
        "and the new key is used from then on"
    );
}
