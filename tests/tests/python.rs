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
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("host").join("python")
}

/// Panics with the one-line fix unless python3 has wasmtime-py 50 and pytest.
async fn check_python() {
    let probe = "import wasmtime, pytest, importlib.metadata as m; print(m.version('wasmtime'))";
    let out = Command::new("python3").args(["-c", probe]).output().await.unwrap_or_else(|e| panic!("cannot run python3 ({e}); install Python 3.9+, then: {FIX}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python3 lacks wasmtime-py or pytest:\n{stderr}\nfix: {FIX}");
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(version.starts_with("50."), "python3 has wasmtime-py {version}, host/python is tested with 50.0.1; fix: {FIX}");
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
    assert!(!stdout.contains("No module named") && !stderr.contains("No module named pytest"), "a Python module is missing; fix: {FIX}");
    assert!(out.status.success(), "pytest failed ({}); its output is above", out.status);
    assert!(!stdout.contains(" skipped"), "no Python test may be skipped");
}
