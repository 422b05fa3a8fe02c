//! Secrets never echo back: both vendor sandboxes (and the Entra token endpoint) answer with a
//! gateway page that echoes the request — headers, credentials included, and body — and the
//! components quote it in their errors, as a real misconfigured gateway makes them do. What
//! leaves the runtime (the error's `Display` and `Debug`) must hold none of the credentials.

use roster_runtime::CallError;
use roster_sim::faults::{Fault, Faults};
use roster_sim::nimbus::{self, demo as nd, NimbusSeed};
use roster_sim::symbee::{self, demo as sd, SymbeeSeed};
use roster_tests::{nimbus_provider, runtime, symbee_provider};

/// Faults that answer every request on `routes` with a 502 page echoing it.
fn echo(routes: &[&str]) -> Faults {
    let mut f = Faults::default();
    for r in routes {
        f.routes.insert(
            r.to_string(),
            Fault {
                error_rate: 1.0,
                error_status: 502,
                echo: true,
                ..Fault::default()
            },
        );
    }
    f
}

/// Asserts `e` was built from an echo page (so the test means something) and leaks none of `secrets`.
fn assert_redacted(e: &CallError, secrets: &[String]) {
    let text = format!("{e}\n{e:?}");
    assert!(
        text.contains("sandbox fault: echo") && text.contains("[redacted]"),
        "the echo page was quoted and redacted: {text}"
    );
    for s in secrets {
        assert!(!text.contains(s.as_str()), "leaked {s:?}: {text}");
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[tokio::test]
async fn the_token_endpoint_echoing_the_client_secret_leaks_nothing() {
    let (rt, _cache) = runtime();
    let (sandbox, server) = nimbus::start(NimbusSeed::demo()).await.unwrap();
    sandbox.update(|s| s.faults = echo(&["token"]));
    let (p, _dir) = nimbus_provider(&rt, &server.url(), nd::TENANT_ID)
        .await
        .unwrap();
    let e = p.read("nimbus_user", nd::TEMPLATE_USER).await.unwrap_err();
    assert_redacted(
        &e,
        &[
            nd::CLIENT_SECRET.into(),
            basic(nd::CLIENT_ID, nd::CLIENT_SECRET),
        ],
    );
    assert!(format!("{e}").contains("authorization: [redacted]"), "{e}");
}

#[tokio::test]
async fn the_nimbus_api_echoing_the_bearer_token_leaks_nothing() {
    let (rt, _cache) = runtime();
    let (sandbox, server) = nimbus::start(NimbusSeed::demo()).await.unwrap();
    sandbox.update(|s| s.faults = echo(&["get"]));
    let (p, _dir) = nimbus_provider(&rt, &server.url(), nd::TENANT_ID)
        .await
        .unwrap();
    let e = p.read("nimbus_user", nd::TEMPLATE_USER).await.unwrap_err();
    // Sandbox tokens are `sbx-<n>-<hex>`: none may show.
    assert_redacted(&e, &["sbx-".into(), nd::CLIENT_SECRET.into()]);
    assert!(format!("{e}").contains("authorization: [redacted]"), "{e}");
}

#[tokio::test]
async fn symbee_echoing_the_api_key_leaks_nothing() {
    let (rt, _cache) = runtime();
    let (sandbox, server) = symbee::start(SymbeeSeed::demo()).await.unwrap();
    sandbox.update(|s| s.faults = echo(&["*"]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), sd::API_KEY).unwrap();
    let source = format!("file:{}", dir.path().join("key").display());
    let p = symbee_provider(
        &rt,
        &server.url(),
        sd::ENV_SAML,
        "saml",
        &source,
        Default::default(),
    )
    .await
    .unwrap();
    for e in [
        p.read("symbee_user", "vvenus@abc-gadgets.com")
            .await
            .unwrap_err(),
        p.delete("symbee_user", "x@abc-gadgets.com")
            .await
            .unwrap_err(),
    ] {
        assert_redacted(&e, &[sd::API_KEY.into()]);
        assert!(
            format!("{e}")
                .to_ascii_lowercase()
                .contains("x-sc-company-api-key: [redacted]"),
            "{e}"
        );
    }
}
