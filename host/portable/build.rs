//! Composes each vendor component with the two `wasi:config` adapters (guest/portable) into
//! `<vendor>-portable.wasm`, a component that imports only standard WASI (wasi:http, wasi:config,
//! io, clocks, random, cli) and so runs under the plain `wasmtime` CLI:
//!
//! ```text
//! config-secrets ──roster:provider/secrets──▶ vendor ──roster:provider/provider──▶ config-wrapper
//!                                                                                    └─▶ export provider
//! ```
//!
//! The composed files go to `target/portable/` (a stable place for the README's commands) and
//! their paths become the crate's constants.

use std::path::{Path, PathBuf};
use wac_graph::{types::Package, CompositionGraph, EncodeOptions};

const SECRETS: &str = "roster:provider/secrets@0.2.0";
const PROVIDER: &str = "roster:provider/provider@0.2.0";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("workspace root")
        .to_path_buf();
    let out_dir = root.join("target").join("portable");
    std::fs::create_dir_all(&out_dir).unwrap();

    let adapters = [
        roster_components::CONFIG_SECRETS_PATH,
        roster_components::CONFIG_WRAPPER_PATH,
    ];
    let mut generated = String::new();
    let mut table = String::new();
    for b in roster_components::BUILTINS {
        let (vendor, vendor_path) = (b.name, &b.path);
        let constant = format!("{}_PORTABLE_PATH", vendor.to_ascii_uppercase());
        for input in adapters.iter().chain([vendor_path]) {
            println!("cargo:rerun-if-changed={input}");
        }
        let bytes = compose(vendor_path, adapters[0], adapters[1])
            .unwrap_or_else(|e| panic!("composing {vendor}-portable.wasm: {e:#}"));
        let path = out_dir.join(format!("{vendor}-portable.wasm"));
        // Write then rename, so a concurrent reader never sees half a file.
        let partial = out_dir.join(format!(".{vendor}-portable.wasm.{}", std::process::id()));
        std::fs::write(&partial, &bytes).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        let path = path.display().to_string();
        generated.push_str(&format!("/// Path of `{vendor}-portable.wasm`: the {vendor} component with secrets and config from wasi:config.\npub const {constant}: &str = {path:?};\n"));
        table.push_str(&format!("    ({vendor:?}, {constant}),\n"));
    }
    generated.push_str(&format!("/// Every built-in vendor's portable component: (name, path).\npub const PORTABLE: &[(&str, &str)] = &[\n{table}];\n"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("portable.rs");
    std::fs::write(out, generated).unwrap();
}

/// config-secrets → vendor → config-wrapper, exporting the wrapper's provider; every other
/// import (WASI) stays an import of the result, merged by name.
fn compose(vendor: &str, secrets: &str, wrapper: &str) -> anyhow::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let secrets = Package::from_file("roster:config-secrets", None, secrets, graph.types_mut())?;
    let secrets = graph.register_package(secrets)?;
    let vendor = Package::from_file("roster:vendor", None, vendor, graph.types_mut())?;
    let vendor = graph.register_package(vendor)?;
    let wrapper = Package::from_file("roster:config-wrapper", None, wrapper, graph.types_mut())?;
    let wrapper = graph.register_package(wrapper)?;

    let secrets = graph.instantiate(secrets);
    let vendor = graph.instantiate(vendor);
    let wrapper = graph.instantiate(wrapper);

    let secrets_export = graph.alias_instance_export(secrets, SECRETS)?;
    graph.set_instantiation_argument(vendor, SECRETS, secrets_export)?;
    let provider = graph.alias_instance_export(vendor, PROVIDER)?;
    graph.set_instantiation_argument(wrapper, PROVIDER, provider)?;
    let exported = graph.alias_instance_export(wrapper, PROVIDER)?;
    graph.export(exported, PROVIDER)?;

    Ok(graph.encode(EncodeOptions::default())?)
}
