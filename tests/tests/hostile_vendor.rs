//! A hostile vendor: the simulators answer every way a broken or malicious server can
//! ([`Misbehaviour`]: slow-loris and endless bodies, 10 MB and 100,000-deep JSON, bytes that are
//! not UTF-8, an HTML page, an error inside a 200, a redirect to the metadata address, duplicated
//! headers, `Retry-After` in the past, as a date, or absurd), at each place the components read
//! an answer: Symbee's query-existence and add-user, Nimbus's token endpoint, get and create.
//!
//! Each case must end in a bounded, clear outcome: a typed provider error within the call's wall
//! bound (or, for a body that never ends or is too large to hold, the call's deadline or memory
//! limit, which replace the instance), never a trap, a hang or a success. A read that ends "absent" would make the engine plan
//! a second create (a duplicate user), and a create that ends "created" would record a user the
//! vendor does not have, so both must fail. The message quotes at most a short part of the body.

use roster_runtime::types::ProviderError;
use roster_runtime::{CallError, HttpTimeouts, Limits, Provider};
use roster_sim::faults::{Fault, Faults, Misbehaviour};
use roster_tests::{nimbus_spec, runtime, symbee_spec};
use std::time::{Duration, Instant};

/// Tight limits, so that the slow cases end within seconds: the wall bound of one call is their
/// sum (see `roster_runtime::Limits`).
fn limits() -> Limits {
    Limits {
        call_deadline: Duration::from_secs(3),
        http: HttpTimeouts {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_secs(2),
            between_bytes: Duration::from_secs(1),
        },
        ..Limits::default()
    }
}

const BOUND: Duration = Duration::from_secs(30);

fn faults(route: &str, m: Misbehaviour) -> Faults {
    let mut f = Faults::default();
    f.routes.insert(
        route.into(),
        Fault {
            misbehave: Some(m),
            ..Fault::default()
        },
    );
    f
}

/// What one call came to, checked for what every case must satisfy.
fn check(
    case: &str,
    m: Misbehaviour,
    started: Instant,
    result: Result<Result<String, CallError>, tokio::time::error::Elapsed>,
) -> ProviderError {
    let elapsed = started.elapsed();
    let result = result.unwrap_or_else(|_| panic!("{case}: {m:?} did not end within {BOUND:?}"));
    let error = match result {
        Err(CallError::Provider(e)) => e,
        // A body that never ends (or ends only after the call's wall bound), or one too large to
        // hold: the instance is stopped at its deadline or its memory limit and replaced.
        Err(e @ (CallError::Deadline(_) | CallError::MemoryLimit(_)))
            if matches!(
                m,
                Misbehaviour::SlowBody | Misbehaviour::EndlessBody | Misbehaviour::HugeJson
            ) =>
        {
            eprintln!(
                "{case:<22} {m:<18?} {:>6} ms  {e:?} (instance replaced)",
                elapsed.as_millis()
            );
            return ProviderError::Unavailable(format!("{e:?}"));
        }
        other => panic!("{case}: {m:?} must end in a typed provider error, got {other:?}"),
    };
    let message = format!("{error:?}");
    assert!(
        message.len() < 2_000,
        "{case}: {m:?}: the error quotes {} bytes of the answer",
        message.len()
    );
    eprintln!(
        "{case:<22} {m:<18?} {:>6} ms  {}",
        elapsed.as_millis(),
        message.chars().take(160).collect::<String>()
    );
    match m {
        Misbehaviour::RetryAfterPast
        | Misbehaviour::RetryAfterDate
        | Misbehaviour::RetryAfterAbsurd
        | Misbehaviour::DuplicateHeaders => {
            let ProviderError::RateLimited(r) = &error else {
                panic!("{case}: {m:?} is a 429: rate limited, got {error:?}")
            };
            let ms = r.retry_after_ms;
            match m {
                Misbehaviour::RetryAfterPast => {
                    assert_eq!(ms, Some(0), "{case}: a date in the past means now")
                }
                Misbehaviour::RetryAfterDate => assert!(
                    ms.is_some_and(|ms| ms <= 3_000),
                    "{case}: a date 2 s ahead: {ms:?}"
                ),
                Misbehaviour::RetryAfterAbsurd => assert!(
                    ms.is_some_and(|ms| ms >= 1_000 * 99_999_999_999),
                    "{case}: the engine's max_wait refuses it, so it must see it whole: {ms:?}"
                ),
                _ => assert!(
                    ms.is_some(),
                    "{case}: one of the two Retry-After values is used"
                ),
            }
        }
        _ => assert!(
            !matches!(error, ProviderError::RateLimited(_)),
            "{case}: {m:?} is not a rate limit: {error:?}"
        ),
    }
    error
}

async fn symbee(m: Misbehaviour) {
    use roster_sim::symbee::{self, demo, SymbeeSeed};
    let (sandbox, server) = symbee::start(SymbeeSeed::demo()).await.unwrap();
    let (rt, _cache) = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api_key"), demo::API_KEY).unwrap();
    let mut spec = symbee_spec(
        &server.url(),
        demo::ENV_SAML,
        "saml",
        &format!("file:{}", dir.path().join("api_key").display()),
    );
    spec.limits = limits();
    let p = Provider::start(&rt, roster_components::builtin("symbee").unwrap(), spec)
        .await
        .unwrap();
    let user =
        serde_json::json!({ "login_user_id": "mmars@abc-gadgets.com", "first_name": "Mike", "last_name": "Mars", "user_template_name": demo::TEMPLATE, "create_in_amazon_connect": false }).to_string();

    sandbox.update(|s| s.faults = faults("query-existence", m));
    let started = Instant::now();
    check(
        "symbee read",
        m,
        started,
        tokio::time::timeout(BOUND, p.read("symbee_user", "mmars@abc-gadgets.com"))
            .await
            .map(|r| r.map(|v| format!("{v:?}"))),
    );
    sandbox.update(|s| s.faults = faults("add-user", m));
    let started = Instant::now();
    check(
        "symbee create",
        m,
        started,
        tokio::time::timeout(BOUND, p.create("symbee_user", &user)).await,
    );
    still_answers_when_the_vendor_recovers(&p, || sandbox.update(|s| s.faults = Faults::default()))
        .await;
}

async fn nimbus(m: Misbehaviour) {
    use roster_sim::nimbus::{self, demo, NimbusSeed};
    let (sandbox, server) = nimbus::start(NimbusSeed::demo()).await.unwrap();
    let (rt, _cache) = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client_secret"), demo::CLIENT_SECRET).unwrap();
    let mut spec = nimbus_spec(
        &server.url(),
        demo::TENANT_ID,
        serde_json::json!({}),
        dir.path(),
        &["client_secret"],
    );
    spec.limits = limits();
    let p = Provider::start(&rt, roster_components::builtin("nimbus").unwrap(), spec)
        .await
        .unwrap();
    let id = "7a3c1f2e-5b6d-4e8f-9a0b-1c2d3e4f5a6b";
    let user =
        serde_json::json!({ "o365_id": id, "organization_unit_id": demo::OU_SALES }).to_string();

    for route in ["token", "get"] {
        sandbox.update(|s| s.faults = faults(route, m));
        let started = Instant::now();
        check(
            &format!("nimbus read ({route})"),
            m,
            started,
            tokio::time::timeout(BOUND, p.read("nimbus_user", id))
                .await
                .map(|r| r.map(|v| format!("{v:?}"))),
        );
    }
    sandbox.update(|s| s.faults = faults("create", m));
    let started = Instant::now();
    check(
        "nimbus create",
        m,
        started,
        tokio::time::timeout(BOUND, p.create("nimbus_user", &user)).await,
    );
    still_answers_when_the_vendor_recovers(&p, || sandbox.update(|s| s.faults = Faults::default()))
        .await;
}

/// After the hostile answers, the provider (its instances, its token cache) still works.
async fn still_answers_when_the_vendor_recovers(p: &Provider, recover: impl FnOnce()) {
    recover();
    let (type_name, id) = match p.metadata().name.as_str() {
        "nimbus" => ("nimbus_user", "00000000-0000-4000-8000-00000000abcd"),
        _ => ("symbee_user", "nobody@abc-gadgets.com"),
    };
    let mut last = None;
    for _ in 0..3 {
        match p.read(type_name, id).await {
            Ok(v) => {
                assert_eq!(v, None);
                return;
            }
            // A rate-limit answer may still be in the provider's memory of the vendor's pace.
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{type_name}: the provider no longer works after the vendor recovered: {last:?}");
}

macro_rules! cases {
    ($($name:ident => $m:ident,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                symbee(Misbehaviour::$m).await;
                nimbus(Misbehaviour::$m).await;
            }
        )*

        #[test]
        fn every_misbehaviour_has_a_case() {
            let covered = [$(Misbehaviour::$m),*];
            assert_eq!(covered.len(), Misbehaviour::ALL.len());
            for m in Misbehaviour::ALL {
                assert!(covered.contains(&m), "{m:?} has no test case");
            }
        }
    };
}

cases! {
    slow_body => SlowBody,
    endless_body => EndlessBody,
    huge_json => HugeJson,
    deep_json => DeepJson,
    invalid_utf8 => InvalidUtf8,
    wrong_content_type => WrongContentType,
    error_in_a_200 => ErrorInOk,
    redirect_off_host => RedirectOffHost,
    duplicate_headers => DuplicateHeaders,
    retry_after_in_the_past => RetryAfterPast,
    retry_after_as_a_date => RetryAfterDate,
    retry_after_absurd => RetryAfterAbsurd,
}
