//! wasmtime alone, for figure 2's baseline: the same component instantiated with the `Config`
//! Roster's runtime uses and the same WASI 0.2 + wasi:http imports (Roster's `secrets` import
//! defined as traps), with nothing of Roster's host — no limiter, no hooks, no secrets, no
//! configure. Once with wasmtime's default (on-demand) allocator, as Roster runs, and once with
//! its pooling allocator, which Roster does not use.

use anyhow::Result;
use std::time::Instant;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Bare {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

/// The allocator a baseline run uses.
#[derive(Clone, Copy, Debug)]
pub enum Allocator {
    /// wasmtime's default: each instance maps its own memory (what Roster's runtime does).
    OnDemand,
    /// Pre-reserved slots reused from instance to instance, sized for `instances` at once.
    Pooling { instances: u32 },
}

/// Seconds per instantiation (store created, component instantiated), `n` times.
pub async fn instantiate(wasm: &[u8], allocator: Allocator, n: usize) -> Result<Vec<f64>> {
    let mut config = Config::new();
    config.epoch_interruption(true).wasm_component_model(true);
    if let Allocator::Pooling { instances } = allocator {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 8)
            .total_stacks(instances)
            .max_memory_size(64 << 20);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config)?;
    let component = Component::new(&engine, wasm)?;
    let mut linker: Linker<Bare> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    linker.define_unknown_imports_as_traps(&component)?;
    let pre = linker.instantiate_pre(&component)?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut store = Store::new(
            &engine,
            Bare {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
                http: WasiHttpCtx::new(),
            },
        );
        store.set_epoch_deadline(1 << 20);
        let instance = pre.instantiate_async(&mut store).await?;
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(instance);
    }
    Ok(times)
}
