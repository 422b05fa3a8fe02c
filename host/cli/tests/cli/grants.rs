//! Capabilities the user grants (roster.lock), credentials, the simulator's certificates, and
//! secrets that never echo back.

use super::*;

/// A component asking for a host or a secret source the lock does not grant is refused before
/// any call, naming what is new and the command that grants it; after the grant it works. A
/// component whose code changed is refused the same way.
#[tokio::test]
async fn an_ungranted_capability_is_refused_until_granted() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    let lock = std::fs::read_to_string(w.path("roster.lock")).unwrap();
    assert!(
        lock.contains("[provider.nimbus]")
            && lock.contains("component = \"builtin:nimbus\"")
            && lock.contains("client_secret = \"file:nimbus.secret\""),
        "{lock}"
    );
    assert!(lock.contains("[provider.symbee.secrets]"), "{lock}");

    // The roster asks for one more host: refused, with nothing sent.
    let text_of = std::fs::read_to_string(w.path("roster.toml")).unwrap();
    std::fs::write(
        w.path("roster.toml"),
        text_of.replacen(
            "[provider.nimbus]\n",
            "[provider.nimbus]\nallowed_hosts = [\"https://collector.example\"]\n",
            1,
        ),
    )
    .unwrap();
    let before = w.nimbus.stats();
    let o = w.run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("provider.nimbus: not granted: new host https://collector.example; review and grant it with `roster grant`"), "{t}");
    assert_eq!(
        w.nimbus.stats().tokens_issued,
        before.tokens_issued,
        "no call was made"
    );
    let o = w.run(&["grant"]).await;
    assert!(
        o.status.success() && text(&o).contains("+ host https://collector.example"),
        "{}",
        text(&o)
    );
    assert!(w.run(&["plan"]).await.status.success());

    // The component's code changes (a path component, rebuilt): refused until granted again.
    std::fs::write(w.path("nimbus.wasm"), roster_components::NIMBUS_WASM).unwrap();
    let text_of = std::fs::read_to_string(w.path("roster.toml")).unwrap();
    std::fs::write(
        w.path("roster.toml"),
        text_of.replacen(
            "[provider.nimbus]\n",
            "[provider.nimbus]\ncomponent = \"nimbus.wasm\"\n",
            1,
        ),
    )
    .unwrap();
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains("its component is now nimbus.wasm (granted: builtin:nimbus)"),
        "{t}"
    );
    assert!(w.run(&["grant"]).await.status.success());
    let o = w.run(&["plan"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let mut changed = roster_components::NIMBUS_WASM.to_vec();
    changed.extend_from_slice(&[0, 6, 5, b'e', b'x', b't', b'r', b'a']); // a custom section: new code
    std::fs::write(w.path("nimbus.wasm"), changed).unwrap();
    let t = text(&w.run(&["apply", "--auto-approve"]).await);
    assert!(t.contains("its component's code changed: sha256"), "{t}");
    assert!(w.nimbus_users().is_empty(), "nothing applied");
    // Grant before code: swapped for bytes that are not even a component, it is refused by its
    // hash before any compile (which would fail otherwise) or any of its code runs.
    std::fs::write(w.path("nimbus.wasm"), b"\0asm but no component").unwrap();
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains("its component's code changed: sha256") && t.contains("nothing of it was run"),
        "{t}"
    );
    assert!(!t.contains("compiling"), "never compiled: {t}");

    // No lock at all: refused, naming the command.
    std::fs::remove_file(w.path("roster.lock")).unwrap();
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains("no roster.lock beside roster.toml") && t.contains("`roster grant`"),
        "{t}"
    );
}

#[tokio::test]
async fn validate_refuses_two_credentials_naming_the_secret() {
    let w = World::new(open_seed()).await;
    w.write(fast(), "");
    std::fs::write(w.path("nimbus.crt"), "CERT-CONTENT-7f3a").unwrap();
    std::fs::write(w.path("nimbus.key"), "KEY-CONTENT-9b1c").unwrap();
    let roster = std::fs::read_to_string(w.path("roster.toml")).unwrap().replace(
        r#"secrets = { client_secret = "file:nimbus.secret" }"#,
        r#"secrets = { client_secret = "file:nimbus.secret", client_certificate = "file:nimbus.crt", client_private_key = "file:nimbus.key" }"#,
    );
    std::fs::write(w.path("roster.toml"), roster).unwrap();
    w.regrant();
    let o = w.run(&["validate"]).await;
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("roster.toml:4: provider.nimbus.secrets.client_certificate: secret `client_certificate` belongs to credential = \"certificate\""), "{t}");
    assert!(
        !t.contains("CONTENT-"),
        "no secret value in the message: {t}"
    );
    assert_eq!(
        w.nimbus.stats().tokens_issued + w.nimbus.stats().token_errors,
        0,
        "validate touched no network"
    );
}

/// Runs `roster sim --write-roster` with `args` in `dir` on free ports, then `roster get` of the
/// template user with the roster it wrote; returns the roster and the get's output.
fn sim_then_get(dir: &Path, args: &[&str]) -> (String, Output) {
    let roster = dir.join("roster.toml");
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (n, s) = (free_port(), free_port());
    let mut sim = Command::new(ROSTER)
        .current_dir(dir)
        .args([
            "sim",
            "--nimbus",
            &format!("127.0.0.1:{n}"),
            "--symbee",
            &format!("127.0.0.1:{s}"),
            "--write-roster",
        ])
        .arg(&roster)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The lock is written after the roster.
    while !dir.join("roster.lock").exists() {
        assert!(
            Instant::now() < deadline,
            "roster sim wrote no roster and lock within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let written = std::fs::read_to_string(&roster).unwrap();
    let get = Command::new(ROSTER)
        .current_dir(dir)
        .args(["get", "nimbus_user", nd::TEMPLATE_USER])
        .env("ROSTER_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    (written, get)
}

/// `roster sim` registers a certificate it generates and writes a roster that authenticates with
/// it; the roster then reads a user through the sandbox.
#[test]
fn sim_writes_a_roster_that_authenticates_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (written, get) = sim_then_get(dir.path(), &[]);
    assert!(
        written.contains("credential = \"certificate\"")
            && written.contains("client_private_key = \"file:nimbus-client-key.pem\""),
        "{written}"
    );
    assert!(get.status.success(), "{}", text(&get));
    assert!(text(&get).contains("SkillBased"), "{}", text(&get));
    let key = std::fs::read_to_string(dir.path().join("nimbus-client-key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("nimbus-client-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
    }
}

/// `roster sim --nimbus-certificate CERT --nimbus-private-key KEY` registers the given certificate
/// and the roster it writes names the given key.
#[test]
fn sim_registers_a_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = roster_sim::credentials::TestCertificate::generate("given").unwrap();
    std::fs::write(dir.path().join("mine.crt"), &cert.certificate_pem).unwrap();
    std::fs::write(dir.path().join("mine.key"), cert.private_key_pkcs1_pem()).unwrap();
    let (written, get) = sim_then_get(
        dir.path(),
        &[
            "--nimbus-certificate",
            "mine.crt",
            "--nimbus-private-key",
            "mine.key",
        ],
    );
    let key_path = std::path::absolute(dir.path().join("mine.key")).unwrap();
    assert!(
        written.contains(&format!(
            "client_private_key = \"file:{}\"",
            key_path.display()
        )),
        "{written}"
    );
    assert!(get.status.success(), "{}", text(&get));
    assert!(
        !dir.path().join("nimbus-client-key.pem").exists(),
        "no key is generated"
    );
}

/// Regression (issue 11): a provider with no declared rate limit (Symbee) hammered a vendor
/// answering 429; now every Retry-After is waited out, paced or not.
#[tokio::test]
async fn an_unpaced_provider_waits_out_retry_after() {
    let w = World::new(open_seed()).await;
    w.symbee.update(|s| {
        s.rate_limit = Some(RateLimit {
            operations: 1,
            window_ms: 1000,
            mode: RateMode::Reject,
        })
    });
    let users: String = (1..=3)
        .map(|i| symbee_user(&format!("u{i}"), &format!("u{i}@abc-gadgets.com"), ""))
        .collect();
    w.write("", &users);
    let started = Instant::now();
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let stats = w.symbee.stats();
    println!(
        "3 unpaced creates against 1/s: {:?}, {} operations, {} answered 429",
        started.elapsed(),
        stats.operations,
        stats.rate_limited
    );
    assert_eq!(stats.operations, 3);
    assert!(
        stats.rate_limited <= 6,
        "at most a couple of 429s per create, not a storm: {}",
        stats.rate_limited
    );
    assert!(
        text(&o).contains("rate limited: waiting the vendor's Retry-After"),
        "waits show on the progress lines: {}",
        text(&o)
    );
}

/// Both vendors behind a gateway whose 502 page echoes each request (headers, credentials
/// included, and body): nothing `get`, `plan` or `apply` prints may hold a secret.
#[tokio::test]
async fn an_echoing_gateway_leaks_no_secret_through_get_plan_or_apply() {
    use roster_sim::faults::{Fault, Faults};
    let echo = |routes: &[&str]| {
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
    };
    let w = World::new(open_seed()).await;
    w.write(
        fast(),
        &[
            nimbus_user("a", &guid(1), nd::OU_SALES),
            symbee_user("m", "mmars@abc-gadgets.com", ""),
        ]
        .concat(),
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    // Now plan and apply read the managed objects, through the gateway. Every encoded form of the two secrets and of the Basic credentials, and every sandbox token.
    let mut leaks = roster_runtime::redact::forms(nd::CLIENT_SECRET);
    leaks.extend(roster_runtime::redact::forms(sd::API_KEY));
    leaks.extend(roster_runtime::redact::forms(&format!(
        "{}:{}",
        nd::CLIENT_ID,
        nd::CLIENT_SECRET
    )));
    leaks.push("sbx-".into());
    // First the token endpoint echoes (the client secret), then the API (the bearer token);
    // Symbee echoes every request (the API key).
    w.symbee.update(|s| s.faults = echo(&["*"]));
    for nimbus_routes in [&["token"][..], &["get", "create"][..]] {
        w.nimbus.update(|s| s.faults = echo(nimbus_routes));
        for args in [
            &["get", "nimbus_user", nd::TEMPLATE_USER][..],
            &["get", "symbee_user", "vvenus@abc-gadgets.com"][..],
            &["plan"][..],
            &["apply", "--auto-approve"][..],
        ] {
            let o = w.run(args).await;
            let out = text(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?} fails: {out}");
            assert!(
                out.contains("sandbox fault: echo") && out.contains("[redacted]"),
                "{args:?} quoted the echo page: {out}"
            );
            for leak in &leaks {
                assert!(
                    !out.contains(leak.as_str()),
                    "{args:?} leaked {leak:?}: {out}"
                );
            }
        }
    }
    assert_eq!(
        w.nimbus_users(),
        vec![guid(1)],
        "nothing changed through the failing gateway"
    );
}
