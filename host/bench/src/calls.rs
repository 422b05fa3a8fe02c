//! Figure 2: instantiation and the cost of one trivial guest call, with the `misbehave` test
//! component (guest/test-programs), in this process, with a warm component cache:
//!
//! - `Provider::start`: load from the cache + pre-link, a first instance for `metadata` and
//!   `allowed-hosts`, then a second, configured instance kept in the pool;
//! - a fresh instance on demand: after a `panic` call has discarded the pooled instance, the
//!   next `create("echo")` instantiates, configures and calls (`Provider::instantiated()` is
//!   checked to have grown by one);
//! - a trivial call on a pooled instance: `create("echo", "{}")`;
//! - the floor: wasmtime alone instantiating the same component ([`crate::bare`]), with its
//!   default allocator (as Roster runs) and with its pooling allocator.

use crate::bare::{self, Allocator};
use crate::util::{self, median, quantile};
use crate::{Opts, Table};
use anyhow::{ensure, Result};
use roster_runtime::{Provider, ProviderSpec, Runtime, RuntimeOptions};
use std::time::Instant;

fn spec() -> ProviderSpec {
    ProviderSpec::new("misbehave", serde_json::json!({}))
}

fn summary(samples: &[f64]) -> String {
    format!(
        "{} (p10 {}, p90 {})",
        util::micros(median(samples)),
        util::micros(quantile(samples, 0.1)),
        util::micros(quantile(samples, 0.9))
    )
}

pub async fn run(opts: &Opts, table: &mut Table) -> Result<()> {
    let (starts, fresh, calls) = if opts.quick {
        (50, 200, 20_000)
    } else {
        (200, 1_000, 100_000)
    };
    let wasm = std::fs::read(roster_components::MISBEHAVE_PATH)?;
    let cache = tempfile::tempdir()?;
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
    })?;
    runtime.load(&wasm)?; // compiles into the cache: everything below is warm

    // Provider::start, warm cache.
    let mut start = Vec::with_capacity(starts);
    for _ in 0..starts {
        let t = Instant::now();
        let p = Provider::start(&runtime, &wasm, spec()).await?;
        start.push(t.elapsed().as_secs_f64());
        ensure!(
            p.instantiated() == 2,
            "Provider::start made {} instances, expected 2",
            p.instantiated()
        );
    }
    // The same without the cache read: Provider::start_loaded of a loaded component.
    let loaded = runtime.load(&wasm)?;
    let mut start_loaded = Vec::with_capacity(starts);
    for _ in 0..starts {
        let t = Instant::now();
        let _p = Provider::start_loaded(&runtime, loaded.clone(), spec()).await?;
        start_loaded.push(t.elapsed().as_secs_f64());
    }

    let provider = Provider::start(&runtime, &wasm, spec()).await?;
    // A call on a fresh instance: discard the pooled one with a trap, then time the next call.
    let mut first_call = Vec::with_capacity(fresh);
    for _ in 0..fresh {
        let _ = provider.create("panic", "{}").await;
        let before = provider.instantiated();
        let t = Instant::now();
        let out = provider.create("echo", "{}").await?;
        first_call.push(t.elapsed().as_secs_f64());
        ensure!(out == "{}", "echo answered {out}");
        ensure!(
            provider.instantiated() == before + 1,
            "the call after a trap did not make a new instance"
        );
    }

    // Trivial calls on the pooled instance.
    for _ in 0..1000 {
        provider.create("echo", "{}").await?;
    }
    let before = provider.instantiated();
    let mut call = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let out = provider.create("echo", "{}").await?;
        call.push(t.elapsed().as_secs_f64());
        debug_assert_eq!(out, "{}");
    }
    ensure!(
        provider.instantiated() == before,
        "pooled calls made new instances"
    );
    // The same work natively, for scale: parse the JSON object and write it back.
    let mut native = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(std::hint::black_box("{}"))?;
        std::hint::black_box(serde_json::Value::Object(v).to_string());
        native.push(t.elapsed().as_secs_f64());
    }

    table.add(
        2,
        "Provider::start (warm cache: load, 2 instances, 3 calls)",
        summary(&start),
        format!("median of {starts}"),
    );
    table.add(
        2,
        "Provider::start_loaded (component already loaded)",
        summary(&start_loaded),
        format!("median of {starts}"),
    );
    table.add(
        2,
        "call on a fresh instance (instantiate + configure + echo)",
        summary(&first_call),
        format!("median of {fresh}; after a trap discarded the pooled one"),
    );
    let fresh_median = median(&first_call);
    table.goal(
        2,
        "call on a fresh instance (instantiate + configure + a call)",
        "≤ 10 µs",
        util::secs(fresh_median),
        fresh_median <= 10e-6,
    );
    table.add(
        2,
        "trivial guest call create(\"echo\", \"{}\"), pooled instance",
        summary(&call),
        format!("median of {calls}"),
    );
    table.add(
        2,
        "  same work natively (serde_json parse + write)",
        summary(&native),
        "for scale",
    );

    // The floor under a fresh instance: wasmtime alone instantiating the same component.
    for (label, allocator) in [
        ("on-demand allocator, as Roster runs", Allocator::OnDemand),
        (
            "pooling allocator (64 slots)",
            Allocator::Pooling { instances: 64 },
        ),
    ] {
        let t = bare::instantiate(&wasm, allocator, fresh).await?;
        table.add(
            2,
            format!("  wasmtime alone: instantiate the same component, {label}"),
            summary(&t),
            format!(
                "median of {fresh}; Roster's Config and WASI + HTTP imports, nothing of its host; the fresh-instance call is {:.1}× this",
                fresh_median / median(&t)
            ),
        );
    }
    Ok(())
}
