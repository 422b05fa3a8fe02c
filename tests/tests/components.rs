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
    assert!(imports.iter().any(|i| i.starts_with("roster:provider/secrets@")), "{name} imports secrets");
    let extra: Vec<&String> = imports.iter().filter(|i| !allowed_import(i)).collect();
    assert!(extra.is_empty(), "{name} imports more than the contract allows: {extra:?}");
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
    let rt = roster_runtime::Runtime::new(roster_runtime::RuntimeOptions { cache_dir: Some(dir.clone()) }).unwrap();
    let wasm = misbehave_wasm();
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Compiled);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "the cache directory is private");
    let entry = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    assert_eq!(mode(&entry), 0o600, "entries are private");
    assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Hit);

    // An entry others could have written is compiled again (and replaced by a private one).
    for loose in [0o666, 0o620, 0o602] {
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(loose)).unwrap();
        assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Compiled, "mode {loose:o}");
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
            assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Compiled, "an entry owned by user 54321");
            assert_eq!(std::fs::metadata(&entry).unwrap().uid(), std::fs::metadata(&dir).unwrap().uid(), "replaced by our own");
            assert_eq!(rt.load(&wasm).unwrap().outcome, CacheOutcome::Hit);
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}"),
    }
}
