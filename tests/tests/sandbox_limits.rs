//! The sandbox: allow-list, HTTP timeouts, call deadlines, memory limits and instance reuse,
//! through the real runtime, the real test component and real HTTP over loopback. After each
//! failure the same provider must serve the next call normally.

use roster_runtime::types::ProviderError;
use roster_runtime::{CallError, Limits};
use roster_tests::{answering_server, misbehave, runtime, silent_server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn fetch(p: &roster_runtime::Provider, url: &str) -> Result<Value, CallError> {
    p.create("fetch", &json!({ "url": url }).to_string())
        .await
        .map(|s| serde_json::from_str(&s).unwrap())
}

#[tokio::test]
async fn allowed_host_is_reached_and_others_are_denied_by_name() {
    let (rt, _cache) = runtime();
    let ok = answering_server("hello").await;
    let p = misbehave(&rt, &[format!("http://{ok}")], Limits::default()).await;

    let reply = fetch(&p, &format!("http://{ok}/x")).await.unwrap();
    assert_eq!(reply["status"], 200);
    assert_eq!(reply["body"], "hello");

    let other = answering_server("secret").await;
    for url in [
        format!("http://{other}/"),
        "http://evil.example:8080/steal".to_string(),
        format!("https://{ok}/"),
    ] {
        match fetch(&p, &url).await {
            Err(CallError::Provider(ProviderError::Denied(msg))) => {
                let host = url.split('/').nth(2).unwrap();
                assert!(msg.contains(host), "the denial names {host}: {msg}");
            }
            other => panic!("{url}: expected a denial, got {other:?}"),
        }
    }
    // Denials are typed errors, not traps: the instance stays and serves the next call.
    assert_eq!(
        fetch(&p, &format!("http://{ok}/again")).await.unwrap()["body"],
        "hello"
    );
    assert_eq!(p.discarded_instances(), 0);
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_timeout() {
    let (rt, _cache) = runtime();
    let silent = silent_server().await;
    let ok = answering_server("fine").await;
    let mut limits = Limits::default();
    limits.http.first_byte = Duration::from_millis(500);
    let p = misbehave(
        &rt,
        &[format!("http://{silent}"), format!("http://{ok}")],
        limits,
    )
    .await;

    let started = Instant::now();
    match fetch(&p, &format!("http://{silent}/")).await {
        Err(CallError::Provider(ProviderError::Unavailable(msg))) => {
            assert!(msg.contains("did not answer in time"), "{msg}");
            assert!(msg.contains(&silent.to_string()), "names the host: {msg}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bounded by the timeout, took {:?}",
        started.elapsed()
    );
    assert_eq!(
        fetch(&p, &format!("http://{ok}/")).await.unwrap()["body"],
        "fine"
    );
}

#[tokio::test]
async fn an_infinite_loop_hits_the_deadline_and_the_instance_is_replaced() {
    let (rt, _cache) = runtime();
    let limits = Limits {
        call_deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let p = misbehave(&rt, &[], limits).await;
    let before = p.instantiated();

    let started = Instant::now();
    let err = p.create("spin", "{}").await.unwrap_err();
    assert!(
        matches!(err, CallError::Deadline(d) if d == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(p.discarded_instances(), 1);

    let echoed = p.create("echo", r#"{"a":1}"#).await.unwrap();
    assert_eq!(echoed, r#"{"a":1}"#);
    assert_eq!(
        p.instantiated(),
        before + 1,
        "a new instance replaced the one that looped"
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_the_limit() {
    let (rt, _cache) = runtime();
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let p = misbehave(&rt, &[], limits).await;

    let err = p.create("grow", "{}").await.unwrap_err();
    assert!(
        matches!(err, CallError::MemoryLimit(n) if n == 16 << 20),
        "{err:?}"
    );
    assert_eq!(p.create("echo", "{}").await.unwrap(), "{}");
}

#[tokio::test]
async fn a_panic_is_a_trap_with_the_guest_message() {
    let (rt, _cache) = runtime();
    let p = misbehave(&rt, &[], Limits::default()).await;
    match p.create("panic", "{}").await {
        Err(CallError::Trap(msg)) => assert!(msg.contains("asked to panic"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(p.create("echo", "{}").await.unwrap(), "{}");
}

#[tokio::test]
async fn instances_are_reused_across_calls() {
    let (rt, _cache) = runtime();
    let limits = Limits {
        max_instances: 1,
        ..Limits::default()
    };
    let p = misbehave(&rt, &[], limits).await;
    let calls = |s: Option<String>| {
        serde_json::from_str::<Value>(&s.unwrap()).unwrap()["calls"]
            .as_u64()
            .unwrap()
    };
    let first = calls(p.read("calls", "").await.unwrap());
    let second = calls(p.read("calls", "").await.unwrap());
    assert_eq!(second, first + 1, "the same instance served both calls");
    assert_eq!(
        p.instantiated(),
        2,
        "one instance for metadata, one kept for calls"
    );
}

#[tokio::test]
async fn concurrent_calls_are_bounded_by_the_pool() {
    let (rt, _cache) = runtime();
    let limits = Limits {
        max_instances: 3,
        ..Limits::default()
    };
    let p = std::sync::Arc::new(misbehave(&rt, &[], limits).await);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            p.create("echo", &format!(r#"{{"i":{i}}}"#)).await.unwrap()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!(r#"{{"i":{i}}}"#));
    }
    assert!(
        p.instantiated() <= 4,
        "at most 3 pooled instances (+1 for metadata), got {}",
        p.instantiated()
    );
}

#[tokio::test]
async fn a_bad_extra_allowed_host_is_an_invalid_config_error() {
    let (rt, _cache) = runtime();
    let mut spec = roster_runtime::ProviderSpec::new("misbehave", json!({}));
    spec.extra_hosts = vec!["ftp://files.example".into()];
    match roster_runtime::Provider::start(&rt, &roster_tests::misbehave_wasm(), spec).await {
        Err(CallError::Provider(ProviderError::InvalidConfig(e))) => {
            assert_eq!(e.field, "allowed_hosts");
            assert!(e.message.contains("ftp://files.example"), "{}", e.message);
        }
        other => panic!("expected invalid-config, got {:?}", other.err()),
    }
    let mut spec = roster_runtime::ProviderSpec::new("misbehave", json!({ "colour": "red" }));
    spec.extra_hosts = vec![];
    match roster_runtime::Provider::start(&rt, &roster_tests::misbehave_wasm(), spec).await {
        Err(CallError::Provider(ProviderError::InvalidConfig(e))) => assert_eq!(e.field, "colour"),
        other => panic!(
            "expected invalid-config naming the key, got {:?}",
            other.err()
        ),
    }
}

/// The misbehaving provider allowed `hosts`, with `spec` adjusted by `tune`.
async fn misbehave_with(
    rt: &roster_runtime::Runtime,
    hosts: &[String],
    tune: impl FnOnce(&mut roster_runtime::ProviderSpec),
) -> roster_runtime::Provider {
    let mut spec = roster_runtime::ProviderSpec::new("misbehave", json!({ "hosts": hosts }));
    tune(&mut spec);
    roster_runtime::Provider::start(rt, &roster_tests::misbehave_wasm(), spec)
        .await
        .unwrap()
}

fn denial(r: Result<Value, CallError>) -> String {
    match r {
        Err(CallError::Provider(ProviderError::Denied(msg))) => msg,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn a_component_asking_for_the_metadata_address_is_denied_before_any_connection() {
    let (rt, _cache) = runtime();
    // The component names the address itself in its own allowed-hosts: not a grant.
    let hosts = [
        "http://169.254.169.254".to_string(),
        "http://[::ffff:169.254.169.254]".to_string(),
        "http://[fe80::1]:8080".to_string(),
    ];
    let p = misbehave(&rt, &hosts, Limits::default()).await;
    for (url, shown) in [
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "169.254.169.254 is a cloud metadata address",
        ),
        (
            "http://[::ffff:169.254.169.254]/latest/api/token",
            "::ffff:169.254.169.254 is a cloud metadata address",
        ),
        ("http://[fe80::1]:8080/", "fe80::1 is a link-local address"),
    ] {
        let started = Instant::now();
        let msg = denial(fetch(&p, url).await);
        assert!(
            msg.contains(" denied: ") && msg.contains(shown),
            "{url}: {msg}"
        );
        assert!(
            msg.contains("a component cannot grant it to itself")
                && msg.contains("allow_private_networks = true"),
            "{msg}"
        );
        // Refused by the host, not a connection attempt that timed out.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{url} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(p.discarded_instances(), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_unless_granted() {
    let (rt, _cache) = runtime();
    let server = answering_server("local").await;
    let port = server.port();
    // `127.1` is no IP literal to the URL parser, but the system resolver makes it 127.0.0.1.
    let by_name = format!("http://127.1:{port}");
    let p = misbehave(
        &rt,
        &[
            by_name.clone(),
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
        ],
        Limits::default(),
    )
    .await;
    let msg = denial(fetch(&p, &format!("{by_name}/")).await);
    assert!(
        msg.contains(&format!(
            "request to 127.1:{port} denied: 127.1 resolves to 127.0.0.1, a loopback address"
        )),
        "{msg}"
    );
    // Named literally, or as `localhost`: allowed (the `roster sim` roster names 127.0.0.1).
    assert_eq!(
        fetch(&p, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap()["body"],
        "local"
    );
    assert_eq!(
        fetch(&p, &format!("http://localhost:{port}/"))
            .await
            .unwrap()["body"],
        "local"
    );

    // Granting the name in the roster file is not enough: the rule wants the address itself.
    let granted = misbehave_with(&rt, &[], |s| s.extra_hosts = vec![by_name.clone()]).await;
    assert!(denial(fetch(&granted, &format!("{by_name}/")).await).contains("resolves to 127.0.0.1"));
    // The provider's explicit opt-in opens private networks through any allowed host.
    let opted = misbehave_with(&rt, std::slice::from_ref(&by_name), |s| {
        s.allow_private_networks = true
    })
    .await;
    assert_eq!(
        fetch(&opted, &format!("{by_name}/")).await.unwrap()["body"],
        "local"
    );
}

#[tokio::test]
async fn a_denial_names_the_allowed_hosts() {
    let (rt, _cache) = runtime();
    let ok = answering_server("hello").await;
    let p = misbehave(&rt, &[format!("http://{ok}")], Limits::default()).await;
    let msg = denial(fetch(&p, "http://evil.example:8080/steal").await);
    assert_eq!(msg, format!("request to evil.example:8080 denied: evil.example:8080 is not among this provider's allowed hosts (http://{ok})"));
}

#[tokio::test]
async fn a_trap_message_and_guest_stderr_never_carry_a_secret() {
    let (rt, _cache) = runtime();
    let dir = tempfile::tempdir().unwrap();
    let secret = "hunter2-the-secret/+=";
    std::fs::write(dir.path().join("token"), secret).unwrap();
    let p = misbehave_with(&rt, &[], |s| {
        s.secrets.insert(
            "token".into(),
            format!("file:{}", dir.path().join("token").display())
                .parse()
                .unwrap(),
        );
    })
    .await;
    match p
        .create("panic", &json!({ "secret": "token" }).to_string())
        .await
    {
        Err(e @ CallError::Trap(_)) => {
            let text = format!("{e} {e:?}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(
                text.contains("asked to panic, holding [redacted]"),
                "{text}"
            );
            assert!(
                text.contains("about to leak [redacted]"),
                "the guest's stderr: {text}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}
