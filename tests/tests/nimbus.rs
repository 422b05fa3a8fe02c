//! The Nimbus component in the real host against the Nimbus sandbox over loopback: every
//! operation, every documented error, token expiry and renewal, the 401 retry, secret rotation.

use roster_runtime::types::ProviderError;
use roster_runtime::{CallError, Provider};
use roster_sim::faults::{Fault, Faults};
use roster_sim::nimbus::{self, demo, EntraTenant, MintToken, NimbusSeed, NimbusSim, ROLE_DELETE};
use roster_sim::rate::{RateLimit, RateMode};
use roster_sim::Running;
use roster_tests::{nimbus_provider, provider_error, runtime};
use serde_json::{json, Value};
use std::time::Duration;

const NEW_USER: &str = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901";
const OTHER_USER: &str = "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12";

struct Env {
    sandbox: NimbusSim,
    _server: Running,
    provider: Provider,
    _secret_dir: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

async fn env_with(seed: NimbusSeed) -> Env {
    let (sandbox, server) = nimbus::start(seed).await.unwrap();
    let (rt, cache) = runtime();
    let (provider, dir) = nimbus_provider(&rt, &server.url(), demo::TENANT_ID)
        .await
        .unwrap();
    Env {
        sandbox,
        _server: server,
        provider,
        _secret_dir: dir,
        _cache: cache,
    }
}

async fn env() -> Env {
    env_with(NimbusSeed::demo()).await
}

fn user(id: &str, ou: &str) -> String {
    json!({ "o365_id": id, "organization_unit_id": ou }).to_string()
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

async fn licences_used(p: &Provider) -> u64 {
    let usage = parse(&p.query("nimbus_license_usage", "{}").await.unwrap());
    let cc = usage["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["license_type"] == "Contact Center")
        .unwrap()
        .clone();
    assert_eq!(
        cc["total"].as_u64().unwrap(),
        cc["used"].as_u64().unwrap() + cc["available"].as_u64().unwrap()
    );
    cc["used"].as_u64().unwrap()
}

#[tokio::test]
async fn create_read_query_delete() {
    let e = env().await;
    let p = &e.provider;
    let before = licences_used(p).await;
    assert_eq!(p.read("nimbus_user", NEW_USER).await.unwrap(), None);

    let created = parse(
        &p.create("nimbus_user", &user(NEW_USER, demo::OU_SALES))
            .await
            .unwrap(),
    );
    assert_eq!(created["o365_id"], NEW_USER);
    assert_eq!(created["organization_unit_id"], demo::OU_SALES);
    assert_eq!(created["assignment_type"], "SkillBased");
    assert_eq!(
        created["roles"],
        json!([]),
        "a created user is empty (unconfigured)"
    );
    assert_eq!(licences_used(p).await, before + 1, "create takes a licence");

    let read = parse(&p.read("nimbus_user", NEW_USER).await.unwrap().unwrap());
    assert_eq!(read, created);

    p.delete("nimbus_user", NEW_USER).await.unwrap();
    assert_eq!(p.read("nimbus_user", NEW_USER).await.unwrap(), None);
    assert_eq!(licences_used(p).await, before, "delete frees the licence");
    assert_eq!(
        e.sandbox.stats().tokens_issued,
        1,
        "one token served every operation"
    );
}

#[tokio::test]
async fn copy_takes_the_template_settings() {
    let e = env().await;
    let desired = json!({ "o365_id": NEW_USER, "copy_from": demo::TEMPLATE_USER }).to_string();
    let copied = parse(&e.provider.create("nimbus_user", &desired).await.unwrap());
    assert_eq!(
        copied["organization_unit_id"],
        demo::OU_SALES,
        "the copy takes the source's OU"
    );
    assert_eq!(copied["roles"], json!(["Team Owner", "Agent"]));
    assert_eq!(copied["skills"], json!(["English", "Billing"]));
    assert_eq!(
        copied["responsibility_profiles"],
        json!(["On Duty", "Off Duty"])
    );
    assert!(
        copied.get("copy_from").is_none(),
        "create-only attributes are not read back"
    );
}

#[tokio::test]
async fn documented_errors_map_to_typed_errors() {
    let e = env().await;
    let p = &e.provider;
    p.create("nimbus_user", &user(NEW_USER, demo::OU_SALES))
        .await
        .unwrap();

    // 409 User already exists.
    let err = provider_error(
        p.create("nimbus_user", &user(NEW_USER, demo::OU_SALES))
            .await,
    );
    assert!(
        matches!(&err, ProviderError::AlreadyExists(m) if m.contains("User already exists")),
        "{err:?}"
    );
    // 403 Organization Unit not allowed.
    let err = provider_error(
        p.create("nimbus_user", &user(OTHER_USER, demo::OU_BOARD))
            .await,
    );
    assert!(
        matches!(&err, ProviderError::Forbidden(m) if m.contains("Organization Unit not allowed")),
        "{err:?}"
    );
    // 404 unknown source user.
    let copy =
        json!({ "o365_id": OTHER_USER, "copy_from": "99999999-9999-4999-8999-999999999999" })
            .to_string();
    let err = provider_error(p.create("nimbus_user", &copy).await);
    assert!(
        matches!(&err, ProviderError::NotFound(m) if m.contains("SourceO365Id")),
        "{err:?}"
    );
    // 400 MS-Teams synced template.
    let copy = json!({ "o365_id": OTHER_USER, "copy_from": demo::TEAMS_USER }).to_string();
    let err = provider_error(p.create("nimbus_user", &copy).await);
    assert!(
        matches!(&err, ProviderError::InvalidInput(f) if f.field == "copy_from" && f.message.contains("MS-Teams")),
        "{err:?}"
    );
    // 400 copying a user onto itself (the doc's "user duplication").
    // (The component refuses that before sending; the sandbox's own 400 is checked in raw_sandbox_errors.)
    // Delete: 400 for a Teams-synced user, 404 for a user not in the pool.
    let err = provider_error(p.delete("nimbus_user", demo::TEAMS_USER).await);
    assert!(
        matches!(&err, ProviderError::InvalidInput(f) if f.message.contains("MS-Teams")),
        "{err:?}"
    );
    let err = provider_error(p.delete("nimbus_user", OTHER_USER).await);
    assert!(matches!(&err, ProviderError::NotFound(_)), "{err:?}");
    // 403 when no licence is left.
    e.sandbox.update(|s| s.tenants[0].licenses[0].total = 3);
    let err = provider_error(
        p.create("nimbus_user", &user(OTHER_USER, demo::OU_SUPPORT))
            .await,
    );
    assert!(
        matches!(&err, ProviderError::Forbidden(m) if m.contains("No licenses available")),
        "{err:?}"
    );
    // 500 Unable to check configuration (injected).
    let mut faults = Faults::default();
    faults.routes.insert(
        "get".into(),
        Fault {
            error_rate: 1.0,
            error_status: 500,
            ..Fault::default()
        },
    );
    e.sandbox.update(|s| s.faults = faults);
    let err = provider_error(p.read("nimbus_user", NEW_USER).await);
    assert!(
        matches!(&err, ProviderError::Unavailable(m) if m.contains("unable to check its configuration")),
        "{err:?}"
    );
    // A dropped connection is a transient error, and the instance survives it.
    let mut faults = Faults::default();
    faults.routes.insert(
        "get".into(),
        Fault {
            drop_rate: 1.0,
            ..Fault::default()
        },
    );
    e.sandbox.update(|s| s.faults = faults);
    let err = provider_error(p.read("nimbus_user", NEW_USER).await);
    assert!(matches!(&err, ProviderError::Unavailable(_)), "{err:?}");
    e.sandbox.update(|s| s.faults = Faults::default());
    assert!(p.read("nimbus_user", NEW_USER).await.unwrap().is_some());
    assert_eq!(p.discarded_instances(), 0);
}

#[tokio::test]
async fn the_401_texts_surface_as_unauthorized() {
    let e = env().await;
    let p = &e.provider;
    let unauthorized = |r: Result<Option<String>, CallError>| match provider_error(r) {
        ProviderError::Unauthorized(m) => m,
        other => panic!("expected unauthorized, got {other:?}"),
    };
    e.sandbox.update(|s| s.tenants[0].api_enabled = false);
    assert!(unauthorized(p.read("nimbus_user", NEW_USER).await)
        .contains("Provisioning Api disabled by admin"));
    e.sandbox.update(|s| {
        s.tenants[0].api_enabled = true;
        s.tenants[0].app_permissions.clear();
    });
    let m = unauthorized(p.read("nimbus_user", NEW_USER).await);
    assert!(
        m.contains(&format!(
            "No app permission found for app id ({})",
            demo::CLIENT_ID
        )),
        "{m}"
    );
    // A role removed in Entra: the cached token still has it until it is renewed.
    e.sandbox.reseed(NimbusSeed::demo());
    e.sandbox
        .update(|s| s.entra[0].apps[0].roles.retain(|r| r != ROLE_DELETE));
    let err = provider_error(p.delete("nimbus_user", demo::TEMPLATE_USER).await);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("Required role missing")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_entra_tenant_unknown_to_nimbus_is_an_invalid_tenant_id() {
    let mut seed = NimbusSeed::demo();
    let other = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    seed.entra.push(EntraTenant {
        id: other.into(),
        apps: seed.entra[0].apps.clone(),
    });
    let (_sandbox, server) = nimbus::start(seed).await.unwrap();
    let (rt, _cache) = runtime();
    let (p, _dir) = nimbus_provider(&rt, &server.url(), other).await.unwrap();
    let err = provider_error(p.read("nimbus_user", NEW_USER).await);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("Invalid tenant id")),
        "{err:?}"
    );
}

#[tokio::test]
async fn token_endpoint_errors_are_unauthorized_with_entra_text() {
    let e = env().await;
    // Wrong secret everywhere (the host's fresh value is wrong too).
    e.sandbox
        .rotate_secret(demo::CLIENT_ID, "a-secret-nobody-has");
    e.sandbox.revoke_tokens();
    let err = provider_error(e.provider.read("nimbus_user", NEW_USER).await);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.starts_with("invalid_client: AADSTS7000215")),
        "{err:?}"
    );
    assert!(
        !format!("{err:?}").contains(demo::CLIENT_SECRET),
        "no secret in errors"
    );

    // Unknown tenant.
    let (rt, _cache) = runtime();
    let (p, _dir) = nimbus_provider(
        &rt,
        &e._server.url(),
        "12345678-1234-4234-8234-123456789012",
    )
    .await
    .unwrap();
    let err = provider_error(p.read("nimbus_user", NEW_USER).await);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("AADSTS90002")),
        "{err:?}"
    );

    // A scope the sandbox does not accept.
    e.sandbox
        .update(|s| s.scopes = vec!["https://admin.ch-01.luware.cloud/.default".into()]);
    e.sandbox
        .rotate_secret(demo::CLIENT_ID, demo::CLIENT_SECRET);
    let err = provider_error(e.provider.read("nimbus_user", NEW_USER).await);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.starts_with("invalid_scope")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_expired_token_is_fetched_again_once_after_a_401() {
    let e = env().await;
    let p = &e.provider;
    p.read("nimbus_user", demo::TEMPLATE_USER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.sandbox.stats().tokens_issued, 1);
    e.sandbox.revoke_tokens(); // every issued token now answers 401
    p.read("nimbus_user", demo::TEMPLATE_USER)
        .await
        .unwrap()
        .unwrap();
    let stats = e.sandbox.stats();
    assert_eq!(stats.tokens_issued, 2, "one new token after the 401");
    assert_eq!(stats.operations, 3, "the read, its 401, and the retry");
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let mut seed = NimbusSeed::demo();
    seed.token_lifetime_secs = 2; // renewed at half-life when shorter than the 5-minute margin
    let e = env_with(seed).await;
    let p = &e.provider;
    p.read("nimbus_user", demo::TEMPLATE_USER).await.unwrap();
    p.read("nimbus_user", demo::TEMPLATE_USER).await.unwrap();
    assert_eq!(
        e.sandbox.stats().tokens_issued,
        1,
        "the token is reused while young"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    p.read("nimbus_user", demo::TEMPLATE_USER).await.unwrap();
    let stats = e.sandbox.stats();
    assert_eq!(stats.tokens_issued, 2, "renewed before expiry");
    assert_eq!(stats.operations, 3, "without any 401");
}

#[tokio::test]
async fn a_rotated_client_secret_is_fetched_fresh_from_the_host() {
    let e = env().await;
    let p = &e.provider;
    p.read("nimbus_user", demo::TEMPLATE_USER).await.unwrap();
    // Rotate in Entra and in the secret's source; the component still holds the old one.
    e.sandbox.rotate_secret(demo::CLIENT_ID, "rotated-secret");
    std::fs::write(e._secret_dir.path().join("client_secret"), "rotated-secret").unwrap();
    e.sandbox.revoke_tokens();
    p.read("nimbus_user", demo::TEMPLATE_USER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        e.sandbox.stats().token_errors,
        1,
        "one refusal of the old secret, then success"
    );
}

#[tokio::test]
async fn rate_limit_answers_carry_retry_after() {
    let mut seed = NimbusSeed::demo();
    seed.rate_limit = RateLimit {
        operations: 2,
        window_ms: 10_000,
        mode: RateMode::Reject,
    };
    let e = env_with(seed).await;
    let p = &e.provider;
    p.read("nimbus_user", demo::TEMPLATE_USER).await.unwrap();
    p.read("nimbus_user", demo::TEMPLATE_USER).await.unwrap();
    match provider_error(p.read("nimbus_user", demo::TEMPLATE_USER).await) {
        ProviderError::RateLimited(r) => {
            let ms = r.retry_after_ms.expect("Retry-After is passed on");
            assert!((1000..=10_000).contains(&ms), "{ms}");
        }
        other => panic!("expected rate-limited, got {other:?}"),
    }
    assert_eq!(
        p.metadata()
            .rate_limit
            .as_ref()
            .map(|r| (r.operations, r.per_seconds)),
        Some((60, 60))
    );
}

#[tokio::test]
async fn delay_mode_holds_requests_instead_of_refusing() {
    let mut seed = NimbusSeed::demo();
    seed.rate_limit = RateLimit {
        operations: 2,
        window_ms: 600,
        mode: RateMode::Delay,
    };
    let e = env_with(seed).await;
    let started = std::time::Instant::now();
    for _ in 0..4 {
        e.provider
            .read("nimbus_user", demo::TEMPLATE_USER)
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "the third request waited for the window"
    );
    let stats = e.sandbox.stats();
    assert_eq!((stats.rate_limited, stats.operations), (0, 4));
    assert!(stats.delayed >= 1);
}

#[tokio::test]
async fn input_is_checked_before_anything_is_sent() {
    let e = env().await;
    let p = &e.provider;
    let cases = [
        (
            json!({ "o365_id": "not-a-guid", "organization_unit_id": demo::OU_SALES }),
            "o365_id",
        ),
        (json!({ "o365_id": NEW_USER }), "organization_unit_id"),
        (
            json!({ "o365_id": NEW_USER, "organization_unit_id": demo::OU_SALES, "copy_from": demo::TEMPLATE_USER }),
            "organization_unit_id",
        ),
        (
            json!({ "o365_id": NEW_USER, "copy_from": NEW_USER }),
            "copy_from",
        ),
        (
            json!({ "o365_id": NEW_USER, "organization_unit_id": demo::OU_SALES, "licenses": ["x"] }),
            "licenses",
        ),
        (
            json!({ "o365_id": NEW_USER, "organization_unit_id": demo::OU_SALES, "colour": "red" }),
            "colour",
        ),
    ];
    for (desired, field) in cases {
        let problems = p
            .validate("nimbus_user", &desired.to_string())
            .await
            .unwrap();
        assert!(
            problems.iter().any(|f| f.field == field),
            "{desired}: {problems:?}"
        );
        let err = provider_error(p.create("nimbus_user", &desired.to_string()).await);
        assert!(
            matches!(&err, ProviderError::InvalidInput(f) if f.field == field),
            "{desired}: {err:?}"
        );
    }
    let err = provider_error(p.read("nimbus_user", "nope").await);
    assert!(matches!(err, ProviderError::InvalidInput(_)));
    assert!(p
        .validate("nimbus_user", &user(NEW_USER, demo::OU_SALES))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(e.sandbox.stats().operations, 0, "nothing reached the API");
    assert_eq!(e.sandbox.stats().tokens_issued, 0);
}

#[tokio::test]
async fn config_is_checked_and_hosts_follow_from_it() {
    let (rt, _cache) = runtime();
    let wasm = roster_components::builtin("nimbus").unwrap();
    let start = |config: Value| {
        let rt = rt.clone();
        async move {
            Provider::start(
                &rt,
                wasm,
                roster_runtime::ProviderSpec::new("nimbus", config),
            )
            .await
        }
    };
    let base = json!({ "tenant_id": demo::TENANT_ID, "client_id": demo::CLIENT_ID });
    let with = |extra: Value| {
        let mut c = base.clone();
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let p = start(with(json!({ "cluster": "ch-01" }))).await.unwrap();
    assert_eq!(
        p.allowed_hosts().to_string(),
        "https://admin.ch-01.luware.cloud, https://login.microsoftonline.com"
    );
    for (config, key) in [
        (with(json!({ "cluster": "mars-01" })), "cluster"),
        (with(json!({})), "cluster"),
        (
            with(json!({ "cluster": "ch-01", "tenant_id": "x" })),
            "tenant_id",
        ),
        (
            with(json!({ "cluster": "ch-01", "admin_url": "ftp://x" })),
            "admin_url",
        ),
        (with(json!({ "cluster": "ch-01", "regoin": "x" })), "regoin"),
    ] {
        match start(config.clone()).await {
            Err(CallError::Provider(ProviderError::InvalidConfig(f))) => {
                assert_eq!(f.field, key, "{config}")
            }
            other => panic!("{config}: expected invalid-config, got {:?}", other.err()),
        }
    }
}

/// The sandbox's own answers for what the component never sends (it validates first) and for
/// tokens Entra would not issue: the doc's 400, and the 401/403 texts.
#[tokio::test]
async fn raw_sandbox_errors() {
    let (sandbox, server) = nimbus::start(NimbusSeed::demo()).await.unwrap();
    let http = reqwest::Client::new();
    let api = format!("{}/api/public-api-next", server.url());
    let all_roles: Vec<String> = NimbusSeed::demo().entra[0].apps[0].roles.clone();
    let good = sandbox.mint(MintToken {
        tenant_id: Some(demo::TENANT_ID.into()),
        app_id: Some(demo::CLIENT_ID.into()),
        roles: all_roles.clone(),
        ..MintToken::default()
    });
    let detail = |r: reqwest::Response| async move {
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap()["detail"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };

    let r = http
        .post(format!("{api}/user/copy"))
        .bearer_auth(&good)
        .json(&json!({ "newO365Id": NEW_USER }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        detail(r).await,
        (400, "\"SourceO365Id\" or \"NewO365Id\" are required".into())
    );
    let r = http
        .post(format!("{api}/user"))
        .bearer_auth(&good)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(detail(r).await.0, 400);

    let cases = [
        (
            MintToken {
                app_id: Some(demo::CLIENT_ID.into()),
                roles: all_roles.clone(),
                ..MintToken::default()
            },
            401,
            "No tenant id",
        ),
        (
            MintToken {
                tenant_id: Some(demo::TENANT_ID.into()),
                roles: all_roles.clone(),
                ..MintToken::default()
            },
            401,
            "No app id",
        ),
        (
            MintToken {
                tenant_id: Some(demo::TENANT_ID.into()),
                app_id: Some("00000000-0000-4000-8000-000000000000".into()),
                roles: all_roles.clone(),
                ..MintToken::default()
            },
            401,
            "Invalid app id",
        ),
        (
            MintToken {
                tenant_id: Some(demo::TENANT_ID.into()),
                app_id: Some(demo::CLIENT_ID.into()),
                roles: all_roles.clone(),
                unauthenticated: true,
                ..MintToken::default()
            },
            403,
            "No authenticated user",
        ),
    ];
    for (mint, status, text) in cases {
        let token = sandbox.mint(mint);
        let r = http
            .get(format!("{api}/user/{}", demo::TEMPLATE_USER))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(detail(r).await, (status, text.to_string()));
    }
    let r = http
        .get(format!("{api}/user/{}", demo::TEMPLATE_USER))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    // Control endpoints: inspect (secrets redacted), seed, faults.
    let state: Value = http
        .get(format!("{}/_sandbox/state", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["entra"][0]["apps"][0]["client_secret"], "<redacted>");
    assert_eq!(state["tenants"][0]["users"].as_array().unwrap().len(), 2);
    let mut seed = serde_json::to_value(NimbusSeed::demo()).unwrap();
    seed["tenants"][0]["users"] = json!([]);
    let r = http
        .put(format!("{}/_sandbox/state", server.url()))
        .json(&seed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sandbox.snapshot()["tenants"][0]["users"], json!([]));
    let r = http
        .put(format!("{}/_sandbox/state", server.url()))
        .json(&json!({ "tenants": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a bad seed is refused and changes nothing");
    assert_eq!(
        sandbox.snapshot()["tenants"][0]["organization_units"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
