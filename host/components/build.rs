//! Builds the guest components (guest/*) for wasm32-wasip2 with a nested `cargo build`, the
//! way wasmtime's `crates/test-programs` does, and generates constants naming them.
//!
//! The built-in vendors are the one list: every workspace member under `guest/` whose manifest
//! says `[package.metadata.roster] vendor = "NAME"`. Adding a vendor is one new `guest/<vendor>`
//! crate and its line in the workspace's `members`; the embedded `BUILTINS`, the portable
//! compositions (host/portable) and the JS transpilation (host/js, through
//! `target/guests/vendors.json`) all follow from it.
//!
//! The nested build uses its own target directory (`target/guests`), so it never waits on the
//! lock of the build that runs this script. A missing wasm32-wasip2 target is installed with
//! rustup when possible; otherwise the build stops with the one-line fix.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest packages that are not vendors: (package name, constant prefix).
const OTHER_GUESTS: &[(&str, &str)] = &[
    ("roster-test-programs", "MISBEHAVE"),
    ("roster-config-secrets", "CONFIG_SECRETS"),
    ("roster-config-wrapper", "CONFIG_WRAPPER"),
];

/// A built-in vendor found in the workspace.
struct Vendor {
    name: String,
    package: String,
}

/// The workspace members under `guest/` that declare `[package.metadata.roster] vendor`.
fn vendors(root: &Path) -> Vec<Vendor> {
    let manifest = |path: &Path| -> toml_edit::DocumentMut {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        text.parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let workspace = manifest(&root.join("Cargo.toml"));
    let members = workspace["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list");
    let mut out = Vec::new();
    for member in members
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| m.starts_with("guest/"))
    {
        let path = root.join(member).join("Cargo.toml");
        println!("cargo:rerun-if-changed={}", path.display());
        let doc = manifest(&path);
        if let Some(name) = doc
            .get("package")
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("roster"))
            .and_then(|r| r.get("vendor"))
            .and_then(|v| v.as_str())
        {
            let package = doc["package"]["name"]
                .as_str()
                .expect("package.name")
                .to_string();
            out.push(Vendor {
                name: name.to_string(),
                package,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("workspace root")
        .to_path_buf();
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
    let vendors = vendors(&root);
    for package in vendors
        .iter()
        .map(|v| v.package.as_str())
        .chain(OTHER_GUESTS.iter().map(|(p, _)| *p))
    {
        cmd.args(["-p", package]);
    }
    let status = cmd
        .status()
        .expect("running cargo for the guest components");
    if !status.success() {
        panic!("building the guest components for {TARGET} failed (see the errors above)");
    }

    let built = |package: &str| {
        let path = target_dir
            .join(TARGET)
            .join(&profile)
            .join(format!("{}.wasm", package.replace('-', "_")));
        assert!(
            path.exists(),
            "expected the guest build to produce {}",
            path.display()
        );
        path.display().to_string()
    };
    let mut generated = String::new();
    let mut builtins = String::new();
    let mut listed = Vec::new();
    for v in &vendors {
        let (path, constant) = (built(&v.package), v.name.to_ascii_uppercase());
        generated.push_str(&format!(
            "/// Path of the built `{}` component.\npub const {constant}_PATH: &str = {path:?};\n",
            v.name
        ));
        generated.push_str(&format!("/// The built `{}` component, embedded.\npub const {constant}_WASM: &[u8] = include_bytes!({path:?});\n", v.name));
        builtins.push_str(&format!(
            "    Builtin {{ name: {:?}, path: {constant}_PATH, wasm: {constant}_WASM }},\n",
            v.name
        ));
        listed.push(format!("{{\"name\":{:?},\"wasm\":{path:?}}}", v.name));
    }
    for (package, constant) in OTHER_GUESTS {
        generated.push_str(&format!("/// Path of the built `{package}` component.\npub const {constant}_PATH: &str = {:?};\n", built(package)));
    }
    generated.push_str(&format!("/// The built-in provider components (every guest crate marked as a vendor).\npub const BUILTINS: &[Builtin] = &[\n{builtins}];\n"));
    // For host/js/build.js, which transpiles every vendor.
    std::fs::write(
        target_dir.join("vendors.json"),
        format!("[{}]\n", listed.join(",")),
    )
    .unwrap();
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
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added || !installed() {
        panic!("the {TARGET} target is not installed; fix: rustup target add {TARGET}");
    }
}
