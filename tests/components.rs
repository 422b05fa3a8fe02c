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
