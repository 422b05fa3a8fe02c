//! The JavaScript embedding (host/js: the same components transpiled by jco, run on Node with
//! preview2-shim) against both sandboxes: starts the Nimbus and Symbee sandboxes in-process,
//! transpiles the components the Rust host runs (`roster_components::NIMBUS_PATH`/`SYMBEE_PATH`)
//! with `node build.js`, then runs `node --test` on host/js/test with the sandboxes' URLs in the
//! environment, printing both outputs, and fails when any step or JavaScript test fails.
//!
//! Needs Node.js 20+ and, once per checkout: `npm ci --prefix host/js`.

use roster_sim::nimbus::{self, NimbusSeed};
use roster_sim::symbee::{self, SymbeeSeed};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const FIX: &str = "npm ci --prefix host/js";

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("host")
        .join("js")
}

/// Panics with the fix unless `node` runs and is version 20 or later.
fn check_node() -> String {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `node` ({e}); fix: install Node.js 20 or later, then run `{FIX}`")
        });
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        out.status.success() && major >= 20,
        "`node --version` says {version:?}; host/js needs Node.js 20 or later"
    );
    version
}

/// Panics with the fix unless host/js/node_modules holds exactly the pinned dependencies.
fn check_node_modules(dir: &Path) {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap()).unwrap();
    let mut pinned = manifest["devDependencies"]
        .as_object()
        .expect("host/js/package.json has devDependencies")
        .clone();
    pinned.extend(
        manifest["dependencies"]
            .as_object()
            .expect("host/js/package.json has dependencies")
            .clone(),
    );
    assert!(
        dir.join("node_modules").is_dir(),
        "host/js/node_modules is missing; fix: run `{FIX}` (from the repository root)"
    );
    for (name, want) in &pinned {
        let installed =
            std::fs::read_to_string(dir.join("node_modules").join(name).join("package.json"))
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|p| p["version"].as_str().map(str::to_string));
        match installed {
            Some(v) if Some(v.as_str()) == want.as_str() => {}
            Some(v) => panic!(
                "host/js/node_modules has {name} {v}, package.json pins {want}; fix: run `{FIX}`"
            ),
            None => panic!("host/js/node_modules lacks {name}; fix: run `{FIX}`"),
        }
    }
}

/// Runs `cmd`, echoing its output line by line as it comes; returns its status and output.
fn run(label: &str, cmd: &mut Command) -> (ExitStatus, String) {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {label} ({e}); fix: install Node.js 20 or later, then run `{FIX}`")
        });
    let seen = Arc::new(Mutex::new(String::new()));
    // std threads inherit the test's output capture, so the echo shows with --nocapture or on failure.
    let echo = |stream: Box<dyn Read + Send>, to_stderr: bool| {
        let seen = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if to_stderr {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
                let mut seen = seen.lock().unwrap();
                seen.push_str(&line);
                seen.push('\n');
            }
        })
    };
    let out = echo(Box::new(child.stdout.take().unwrap()), false);
    let err = echo(Box::new(child.stderr.take().unwrap()), true);
    let status = child.wait().unwrap();
    out.join().unwrap();
    err.join().unwrap();
    println!(
        "[js.rs] {label}: {status} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let text = seen.lock().unwrap().clone();
    (status, text)
}

/// The number on the spec reporter's summary line `ℹ <what> N`.
fn summary(output: &str, what: &str) -> Option<u64> {
    output.lines().find_map(|l| {
        l.trim()
            .strip_prefix(&format!("ℹ {what} "))?
            .trim()
            .parse()
            .ok()
    })
}

/// host/js/gen/ is written by one test at a time.
static GEN: Mutex<()> = Mutex::new(());

#[test]
fn js_embedding_against_both_sandboxes() {
    let _gen = GEN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = js_dir();
    let node = check_node();
    check_node_modules(&dir);
    println!(
        "[js.rs] node {node}; components: {} and {}",
        roster_components::NIMBUS_PATH,
        roster_components::SYMBEE_PATH
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut seed = NimbusSeed::demo();
    let (_cert_dir, cert_env) = roster_tests::register_certificate(&mut seed);
    let (_nimbus, nimbus_server) = rt.block_on(nimbus::start(seed)).unwrap();
    let (_symbee, symbee_server) = rt.block_on(symbee::start(SymbeeSeed::demo())).unwrap();

    let env = [
        ("ROSTER_NIMBUS_URL", nimbus_server.url()),
        ("ROSTER_SYMBEE_URL", symbee_server.url()),
        (
            "ROSTER_NIMBUS_WASM",
            roster_components::NIMBUS_PATH.to_string(),
        ),
        (
            "ROSTER_SYMBEE_WASM",
            roster_components::SYMBEE_PATH.to_string(),
        ),
        (
            "ROSTER_MISBEHAVE_WASM",
            roster_components::MISBEHAVE_PATH.to_string(),
        ),
        ("NO_COLOR", "1".to_string()),
        cert_env[0].clone(),
        cert_env[1].clone(),
    ];

    let (status, _) = run(
        "node build.js (jco transpile)",
        Command::new("node")
            .arg("build.js")
            .current_dir(&dir)
            .envs(env.clone()),
    );
    assert!(
        status.success(),
        "transpiling the components failed ({status}); the output is above"
    );

    let mut tests: Vec<String> = std::fs::read_dir(dir.join("test"))
        .expect("host/js/test exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".test.js"))
        .map(|n| format!("test/{n}"))
        .collect();
    tests.sort();
    assert!(!tests.is_empty(), "no host/js/test/*.test.js");

    let (status, output) = run(
        "node --test",
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "--test-timeout=120000"])
            .args(&tests)
            .current_dir(&dir)
            .envs(env),
    );
    assert!(
        status.success(),
        "node --test failed ({status}); its output is above"
    );
    let passed =
        summary(&output, "pass").expect("the spec reporter's summary (ℹ pass N) is in the output");
    assert!(passed > 0, "no JavaScript test passed");
    for what in ["fail", "skipped", "todo", "cancelled"] {
        assert_eq!(
            summary(&output, what),
            Some(0),
            "JavaScript tests {what}: none may be; the output is above"
        );
    }
}

/// The npm package, as an embedder gets it: `npm pack` of host/js (built components, host shim,
/// TypeScript declarations), installed into an empty project that has no access to this
/// repository's sources; a script type-checks against the declarations and runs against the
/// Symbee simulator.
#[test]
fn the_npm_package_installs_into_an_empty_project_and_runs() {
    let dir = js_dir();
    check_node();
    check_node_modules(&dir);
    let packed = tempfile::tempdir().unwrap();
    {
        let _gen = GEN.lock().unwrap_or_else(|e| e.into_inner());
        let (status, _) = run(
            "node build.js",
            Command::new("node")
                .arg("build.js")
                .current_dir(&dir)
                .env_remove("ROSTER_MISBEHAVE_WASM"),
        );
        assert!(status.success(), "transpiling the components failed");
        let (status, listing) = run(
            "npm pack",
            Command::new("npm")
                .args(["pack", "--json", "--pack-destination"])
                .arg(packed.path())
                .current_dir(&dir),
        );
        assert!(status.success(), "npm pack failed");
        let listing: serde_json::Value =
            serde_json::from_str(listing.trim()).expect("npm pack --json");
        let files: Vec<&str> = listing[0]["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["path"].as_str())
            .collect();
        for want in [
            "roster.js",
            "roster.d.ts",
            "secrets.js",
            "gen/nimbus/provider.js",
            "gen/symbee/provider.js",
        ] {
            assert!(
                files.contains(&want),
                "the package carries {want}: {files:?}"
            );
        }
        assert!(
            files.iter().all(|f| !f.starts_with("test/")
                && !f.starts_with("gen/misbehave")
                && *f != "build.js"),
            "no tests, test components or build script: {files:?}"
        );
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap())
                .unwrap();
        assert_eq!(
            manifest["version"],
            env!("CARGO_PKG_VERSION"),
            "one version number: the package's is the workspace's"
        );
    }
    let tarball = std::fs::read_dir(packed.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .expect("a tarball");

    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("package.json"),
        r#"{ "name": "embedder", "private": true, "type": "module" }"#,
    )
    .unwrap();
    let npm = |args: &[&str]| {
        let (status, out) = run(
            &format!("npm {}", args.join(" ")),
            Command::new("npm")
                .args(args)
                .args(["--no-audit", "--no-fund", "--prefer-offline"])
                .current_dir(project.path()),
        );
        assert!(status.success(), "npm {args:?} failed: {out}");
    };
    npm(&["install", tarball.to_str().unwrap()]);
    npm(&["install", "--save-dev", "typescript@5", "@types/node@20"]);
    let script = r#"import { loadProvider, ProviderError } from 'roster-provider';

const config = { base_url: `${process.env.SYMBEE_URL}/symbee-admin/api/users/`, company_code: 'abc-gadgets', environment: 'prod', secrets_region: 'us-east-1', sso_mode: 'saml' };
const symbee = await loadProvider('symbee', { secrets: { api_key: process.env.SYMBEE_KEY ?? '' } });
symbee.configure(config);
const vera = symbee.read('symbee_user', 'vvenus@abc-gadgets.com');
// A provider whose allow-list the embedder narrowed to nothing reaches nothing.
const narrowed = await loadProvider('symbee', { secrets: { api_key: process.env.SYMBEE_KEY ?? '' }, allowedHosts: () => [] });
narrowed.configure(config);
let denied = '';
try {
  narrowed.read('symbee_user', 'vvenus@abc-gadgets.com');
} catch (e) {
  if (e instanceof ProviderError) denied = e.tag;
}
console.log(JSON.stringify({ version: symbee.metadata().version, found: vera !== null, denied }));
"#;
    std::fs::write(project.path().join("check.ts"), script).unwrap();
    std::fs::write(project.path().join("check.mjs"), script).unwrap();
    let (status, out) = run(
        "tsc",
        Command::new("node")
            .args([
                "node_modules/typescript/bin/tsc",
                "--noEmit",
                "--strict",
                "--target",
                "es2022",
                "--module",
                "nodenext",
                "--moduleResolution",
                "nodenext",
                "--types",
                "node",
                "check.ts",
            ])
            .current_dir(project.path()),
    );
    assert!(
        status.success(),
        "the declarations type-check the example: {out}"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_symbee, symbee_server) = rt.block_on(symbee::start(SymbeeSeed::demo())).unwrap();
    let (status, out) = run(
        "node check.mjs",
        Command::new("node")
            .arg("check.mjs")
            .current_dir(project.path())
            .env("SYMBEE_URL", symbee_server.url())
            .env("SYMBEE_KEY", roster_sim::symbee::demo::API_KEY),
    );
    assert!(status.success(), "the installed package ran: {out}");
    let result: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        result,
        serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "found": true, "denied": "denied" })
    );
}
