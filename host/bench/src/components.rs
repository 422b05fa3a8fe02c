//! Figure 5 (sizes) and figure 1's breakdown: each built-in component's size, the size of its
//! precompiled form (the file the runtime's cache writes, i.e. `Component::serialize`), how
//! long compiling it takes and how long loading it from the cache takes, in this process.

use crate::util::{self, median};
use crate::{Opts, Table};
use anyhow::{Context, Result};
use roster_runtime::{CacheOutcome, Runtime, RuntimeOptions};
use std::time::Instant;

/// Target: each component at most this many bytes.
const SIZE_TARGET: u64 = 400_000;

pub fn run(opts: &Opts, table: &mut Table) -> Result<()> {
    let reps = if opts.quick { 2 } else { 3 };
    for (name, path, wasm) in [
        (
            "nimbus",
            roster_components::NIMBUS_PATH,
            roster_components::NIMBUS_WASM,
        ),
        (
            "symbee",
            roster_components::SYMBEE_PATH,
            roster_components::SYMBEE_WASM,
        ),
    ] {
        let size = std::fs::metadata(path)
            .with_context(|| format!("reading {path}"))?
            .len();
        table.add(
            5,
            format!("{name} component (.wasm, guest profile)"),
            util::bytes(size),
            "opt-level s, LTO, stripped",
        );
        table.goal(
            5,
            format!("{name} component size"),
            "≤ 400 KB",
            util::bytes(size),
            size <= SIZE_TARGET,
        );
        // Compile into empty caches (a few times: the median), then load from the last one.
        let mut compile = Vec::new();
        let mut precompiled = 0;
        let mut dir_kept = None;
        for _ in 0..reps {
            let dir = tempfile::tempdir()?;
            let runtime = Runtime::new(RuntimeOptions {
                cache_dir: Some(dir.path().to_path_buf()),
            })?;
            let t = Instant::now();
            let loaded = runtime.load(wasm)?;
            compile.push(t.elapsed().as_secs_f64());
            anyhow::ensure!(
                loaded.outcome == CacheOutcome::Compiled,
                "expected a compile, got {:?}",
                loaded.outcome
            );
            precompiled = util::new_cache_file(dir.path(), &[])
                .map(|(_, n)| n)
                .unwrap_or(0);
            dir_kept = Some((dir, runtime));
        }
        let (dir, runtime) = dir_kept.expect("reps > 0");
        let mut load = Vec::new();
        for _ in 0..reps * 5 {
            let t = Instant::now();
            let loaded = runtime.load(wasm)?;
            load.push(t.elapsed().as_secs_f64());
            anyhow::ensure!(
                loaded.outcome == CacheOutcome::Hit,
                "expected a cache hit, got {:?}",
                loaded.outcome
            );
        }
        drop(dir);
        table.add(
            5,
            format!("{name} precompiled (cache .cwasm)"),
            util::bytes(precompiled),
            format!("{:.1}× the .wasm", precompiled as f64 / size as f64),
        );
        table.add(
            1,
            format!("breakdown: compile {name} (Runtime::load, empty cache)"),
            util::secs(median(&compile)),
            format!("in-process, median of {reps}"),
        );
        table.add(
            1,
            format!("breakdown: load {name} from the cache (Runtime::load)"),
            util::secs(median(&load)),
            format!("in-process, median of {}", load.len()),
        );
    }
    Ok(())
}
