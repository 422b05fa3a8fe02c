//! The Python embedding (host/python, wasmtime-py from PyPI) against both sandboxes: starts the
//! Nimbus and Symbee sandboxes in-process, runs `python3 -m pytest` on host/python/tests with
//! their URLs and the built components' paths in the environment, and fails with the pytest
//! output when any Python test fails.
//!
//! Needs, once per machine: `pip install -r host/python/requirements-test.txt`.

use roster_sim::nimbus::{self, NimbusSeed};
use roster_sim::symbee::{self, SymbeeSeed};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::process::Command;

const FIX: &str = "pip install -r host/python/requirements-test.txt";

fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("host")
        .join("python")
}

/// Panics with the one-line fix unless python3 has wasmtime-py 50 and pytest.
async fn check_python() {
    let probe = "import wasmtime, pytest, importlib.metadata as m; print(m.version('wasmtime'))";
    let out = Command::new("python3")
        .args(["-c", probe])
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); install Python 3.9+, then: {FIX}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python3 lacks wasmtime-py or pytest:\n{stderr}\nfix: {FIX}"
    );
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        version.starts_with("50."),
        "python3 has wasmtime-py {version}, host/python is tested with 50.0.1; fix: {FIX}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_embedding_against_both_sandboxes() {
    check_python().await;
    let mut seed = NimbusSeed::demo();
    let (_cert_dir, cert_env) = roster_tests::register_certificate(&mut seed);
    let (_nimbus, nimbus_server) = nimbus::start(seed).await.unwrap();
    let (_symbee, symbee_server) = symbee::start(SymbeeSeed::demo()).await.unwrap();

    let out = Command::new("python3")
        .args(["-m", "pytest", "tests", "-v", "-p", "no:cacheprovider"])
        .current_dir(python_dir())
        .env("ROSTER_NIMBUS_URL", nimbus_server.url())
        .env("ROSTER_SYMBEE_URL", symbee_server.url())
        .env("ROSTER_NIMBUS_WASM", roster_components::NIMBUS_PATH)
        .env("ROSTER_SYMBEE_WASM", roster_components::SYMBEE_PATH)
        .env("ROSTER_MISBEHAVE_WASM", roster_components::MISBEHAVE_PATH)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(cert_env)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run python3 -m pytest ({e}); fix: {FIX}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        !stdout.contains("No module named") && !stderr.contains("No module named pytest"),
        "a Python module is missing; fix: {FIX}"
    );
    assert!(
        out.status.success(),
        "pytest failed ({}); its output is above",
        out.status
    );
    assert!(
        !stdout.contains(" skipped"),
        "no Python test may be skipped"
    );
}

/// The wheel, as an embedder gets it: built by one command (`python3 host/python/build_wheel.py`),
/// installed into a fresh venv — which resolves wasmtime-py from the declared range — and run,
/// from outside this repository, against the Symbee simulator with the component it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wheel_installs_into_a_fresh_venv_and_runs() {
    let dist = tempfile::tempdir().unwrap();
    let build = Command::new("python3")
        .arg(python_dir().join("build_wheel.py"))
        .arg(dist.path())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run python3 ({e})"));
    assert!(
        build.status.success(),
        "building the wheel failed:\n{}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    let wheel = std::fs::read_dir(dist.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel");
    assert!(
        wheel
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("roster_provider-{}-", env!("CARGO_PKG_VERSION"))),
        "one version number: {}",
        wheel.display()
    );

    let home = tempfile::tempdir().unwrap();
    let venv = home.path().join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .await
        .unwrap();
    assert!(
        made.status.success(),
        "python3 -m venv: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(&wheel)
        .output()
        .await
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install of the wheel: {}{}",
        String::from_utf8_lossy(&pip.stdout),
        String::from_utf8_lossy(&pip.stderr)
    );

    let (_symbee, symbee_server) = symbee::start(SymbeeSeed::demo()).await.unwrap();
    let script = r#"
import importlib.metadata, json, os, sys
import roster_provider
from roster_provider import Provider, Denied, builtin, builtins

url, key = sys.argv[1], sys.argv[2]
config = {"base_url": url + "/symbee-admin/api/users/", "company_code": "abc-gadgets", "environment": "prod", "secrets_region": "us-east-1", "sso_mode": "saml"}
symbee = Provider(builtin("symbee"), secrets={"api_key": key}, allowed_hosts=[url], trust_declared_hosts=True)
symbee.configure(config)
vera = symbee.read("symbee_user", "vvenus@abc-gadgets.com")
offline = Provider(builtin("symbee"), secrets={"api_key": key})
offline.configure(config)
try:
    offline.read("symbee_user", "vvenus@abc-gadgets.com")
    denied = False
except Denied:
    denied = True
print(json.dumps({
    "package": importlib.metadata.version("roster-provider"),
    "component": symbee.metadata()["version"],
    "builtins": builtins(),
    "found": vera is not None,
    "denied": denied,
    "typed": os.path.exists(os.path.join(os.path.dirname(roster_provider.__file__), "py.typed")),
    "from_venv": roster_provider.__file__.startswith(sys.prefix),
}))
"#;
    let out = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(script)
        .arg(symbee_server.url())
        .arg(roster_sim::symbee::demo::API_KEY)
        .current_dir(home.path())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the installed wheel ran:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(
        result,
        serde_json::json!({ "package": v, "component": v, "builtins": ["nimbus", "symbee"], "found": true, "denied": true, "typed": true, "from_venv": true })
    );
}
