//! The built components: what they import, and the compiled-component cache.

use roster_runtime::CacheOutcome;
use roster_tests::{misbehave_wasm, runtime};

/// Imports a Roster component may have: Roster's secrets, wasi:http's outgoing handler and
/// types, and what Rust's std links on wasm32-wasip2 (io, clocks, random, cli). Nothing else —
/// in particular no filesystem and no sockets.
fn allowed_import(name: &str) -> bool {
    let (iface, _version) = name.split_once('@').unwrap_or((name, ""));
    matches!(
        iface,
        "roster:provider/secrets"
            | "roster:provider/types"
            | "wasi:http/outgoing-handler"
            | "wasi:http/types"
            | "wasi:io/error"
            | "wasi:io/poll"
            | "wasi:io/streams"
            | "wasi:clocks/monotonic-clock"
            | "wasi:clocks/wall-clock"
            | "wasi:random/random"
            | "wasi:random/insecure"
            | "wasi:random/insecure-seed"
            | "wasi:cli/environment"
            | "wasi:cli/exit"
            | "wasi:cli/stdin"
            | "wasi:cli/stdout"
            | "wasi:cli/stderr"
            | "wasi:cli/terminal-input"
            | "wasi:cli/terminal-output"
            | "wasi:cli/terminal-stdin"
            | "wasi:cli/terminal-stdout"
            | "wasi:cli/terminal-stderr"
    )
}

fn check_imports(name: &str, wasm: &[u8]) {
    let (rt, _cache) = runtime();
    let imports = rt.imports(wasm).unwrap();
    println!("{name} imports: {imports:#?}");
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("roster:provider/secrets@")),
        "{name} imports secrets"
    );
    let extra: Vec<&String> = imports.iter().filter(|i| !allowed_import(i)).collect();
    assert!(
        extra.is_empty(),
        "{name} imports more than the contract allows: {extra:?}"
    );
}

#[test]
fn test_program_imports_only_the_contract() {
    check_imports("misbehave", &misbehave_wasm());
}

#[test]
fn builtin_components_import_only_the_contract() {
    for b in roster_components::BUILTINS {
        check_imports(b.name, b.wasm);
    }
}

#[test]
fn second_load_comes_from_the_cache() {
    let (rt, dir) = runtime();
    let wasm = misbehave_wasm();
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Compiled);
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Hit);
    // A corrupt entry is recompiled, not trusted.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Compiled);
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Hit);
}

#[test]
fn the_cache_trusts_only_private_entries_of_this_user() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("cache/components");
    let rt = roster_runtime::Runtime::new(roster_runtime::RuntimeOptions {
        cache_dir: Some(dir.clone()),
    })
    .unwrap();
    let wasm = misbehave_wasm();
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Compiled);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "the cache directory is private");
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&entry), 0o600, "entries are private");
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Hit);

    // An entry others could have written is compiled again (and replaced by a private one).
    for loose in [0o666, 0o620, 0o602] {
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(loose)).unwrap();
        assert_eq!(
            rt.load(&wasm).unwrap().outcome,
            CacheOutcome::Compiled,
            "mode {loose:o}"
        );
        assert_eq!(mode(&entry), 0o600);
        assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Hit);
    }
    // A directory made writable by others is made private again before anything is loaded.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Hit);
    assert_eq!(mode(&dir), 0o700);
    // An entry owned by another user is compiled again. Only root can hand a file to another
    // user; anyone else gets EPERM here (and the rule itself is table-tested in cache.rs).
    match std::os::unix::fs::chown(&entry, Some(54321), None) {
        Ok(()) => {
            assert_eq!(
                rt.load(&wasm).unwrap().outcome,
                CacheOutcome::Compiled,
                "an entry owned by user 54321"
            );
            assert_eq!(
                std::fs::metadata(&entry).unwrap().uid(),
                std::fs::metadata(&dir).unwrap().uid(),
                "replaced by our own"
            );
            assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Hit);
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}"),
    }
}

/// A component built for another version of the contract is refused, naming both versions
/// (its `roster:provider` 0.3.0 — the built Nimbus component with every contract name moved on —
/// against the host's 0.2.x), before anything of it runs.
#[test]
fn a_component_of_another_contract_version_is_refused_naming_both() {
    let (rt, _dir) = runtime();
    let ours = roster_components::NIMBUS_WASM.to_vec();
    let mut next = ours.clone();
    for name in ["provider", "secrets", "types"] {
        next = replace_all(
            &next,
            format!("roster:provider/{name}@0.2.0").as_bytes(),
            format!("roster:provider/{name}@0.3.0").as_bytes(),
        );
    }
    assert_ne!(next, ours);
    let e = rt.load(&next).err().expect("refused").to_string();
    assert!(
        e.contains("speaks roster:provider 0.3.0")
            && e.contains("this host speaks roster:provider 0.2.0"),
        "{e}"
    );
    assert!(rt.load(&ours).is_ok(), "the host's own version loads");
}

/// `bytes` with every `from` replaced by `to` (of the same length).
fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// One version number: each built-in component reports the workspace's version, which is also
/// the `roster` binary's, the npm package's and the wheel's (their tests check theirs).
#[tokio::test]
async fn components_report_the_one_version() {
    let (rt, _dir) = runtime();
    for b in roster_components::BUILTINS {
        let meta = roster_runtime::Provider::inspect(&rt, &roster_runtime::Code::new(b.wasm))
            .await
            .unwrap();
        assert_eq!(meta.version, env!("CARGO_PKG_VERSION"), "{}", b.name);
    }
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../host/js/package.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        package["version"],
        env!("CARGO_PKG_VERSION"),
        "host/js/package.json"
    );
    let pyproject = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../host/python/pyproject.toml"
    ))
    .unwrap();
    assert!(
        pyproject.contains(&format!("version = \"{}\"", env!("CARGO_PKG_VERSION"))),
        "host/python/pyproject.toml"
    );
}
