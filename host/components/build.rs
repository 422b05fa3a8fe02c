//! Builds the guest components (guest/*) for wasm32-wasip2 with a nested `cargo build`, the
//! way wasmtime's `crates/test-programs` does, and generates constants naming them.
//!
//! The nested build uses its own target directory (`target/guests`), so it never waits on the
//! lock of the build that runs this script. A missing wasm32-wasip2 target is installed with
//! rustup when possible; otherwise the build stops with the one-line fix.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest packages: (package name, artifact stem, constant prefix, embedded in the binary?).
const GUESTS: &[(&str, &str, &str, bool)] = &[
    ("roster-nimbus", "roster_nimbus", "NIMBUS", true),
    ("roster-symbee", "roster_symbee", "SYMBEE", true),
    ("roster-test-programs", "roster_test_programs", "MISBEHAVE", false),
    ("roster-config-secrets", "roster_config_secrets", "CONFIG_SECRETS", false),
    ("roster-config-wrapper", "roster_config_wrapper", "CONFIG_WRAPPER", false),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().and_then(Path::parent).expect("workspace root").to_path_buf();
    for watched in ["guest", "wit", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=ROSTER_GUEST_PROFILE");
    ensure_target();

    let target_dir = root.join("target").join("guests");
    let profile = std::env::var("ROSTER_GUEST_PROFILE").unwrap_or_else(|_| "guest".into());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root)
        .args(["build", "--target", TARGET, "--profile", &profile])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    for (package, ..) in GUESTS {
        cmd.args(["-p", package]);
    }
    let status = cmd.status().expect("running cargo for the guest components");
    if !status.success() {
        panic!("building the guest components for {TARGET} failed (see the errors above)");
    }

    let mut generated = String::new();
    for (_, stem, constant, embedded) in GUESTS {
        let path = target_dir.join(TARGET).join(&profile).join(format!("{stem}.wasm"));
        assert!(path.exists(), "expected the guest build to produce {}", path.display());
        let path = path.display().to_string();
        generated.push_str(&format!("/// Path of the built `{stem}.wasm`.\npub const {constant}_PATH: &str = {path:?};\n"));
        if *embedded {
            generated.push_str(&format!("/// The built `{stem}.wasm`, embedded.\npub const {constant}_WASM: &[u8] = include_bytes!({path:?});\n"));
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("components.rs");
    std::fs::write(out, generated).unwrap();
}

/// Makes sure the wasm32-wasip2 standard library is installed, adding it with rustup if not.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let installed = || {
        Command::new(&rustc)
            .args(["--print", "target-libdir", "--target", TARGET])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .is_some_and(|dir| dir.exists())
    };
    if installed() {
        return;
    }
    println!("cargo:warning=the {TARGET} target is missing; installing it with rustup");
    let added = Command::new("rustup").args(["target", "add", TARGET]).status().is_ok_and(|s| s.success());
    if !added || !installed() {
        panic!("the {TARGET} target is not installed; fix: rustup target add {TARGET}");
    }
}
