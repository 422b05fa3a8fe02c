//! `roster-bench`: the figures a user needs to compare Roster with a script they would write
//! themselves, measured in one run and printed as one table.
//!
//! ```text
//! cargo run --release -p roster-bench -- [--quick] [--only startup,calls,throughput,pacing,components,rosters,terraform,state]
//!                                        [--reps N] [--reads N] [--creates N] [--roster PATH] [--json FILE] [--write FILE.md]
//! ```
//!
//! 1. start-up: a no-op `roster plan` as a whole process, first run (empty component cache)
//!    vs later runs (cached);
//! 2. instantiation and one trivial guest call (the `misbehave` test component);
//! 3. throughput: plan (read) of many Symbee users and apply (create) of fewer, through the
//!    component in the host vs a native reqwest baseline making the same HTTP requests, at
//!    concurrency 1 and 32 (and the read once more with 5 ms of vendor latency);
//! 4. pacing: a rate-limited Nimbus apply — rate achieved vs allowed, 429s seen and surfaced;
//! 5. peak memory of figure 3's processes, component sizes and their precompiled sizes;
//! 6. real rosters: 1,000 Nimbus users from a CSV converged against the rate-limited sandbox —
//!    vendor operations used vs the minimum, wall time vs the rate's limit, peak RSS — and
//!    parsing and planning 1k vs 10k rows (linear);
//! 7. Terraform: `terraform plan` of 200 users with and without refresh, and the provider's
//!    start-up (spawn to handshake);
//! 8. state: the durable cost of recording one create in a state of 100 vs 10,000 users, the
//!    journal vs rewriting the whole state file.
//!
//! Every comparison is a ratio of medians measured in this run (the machines are noisy).
//! Nothing here asserts a time: targets are printed after the figures, marked met or MISSED.
//! `--write docs/benchmarks.md` puts the results of a whole run between that file's markers.
//!
//! Figure 3 runs each measurement in a child process of this binary (`__worker`), against a
//! Symbee sandbox in another child (`__sandbox`), so each side's peak RSS and CPU time are its
//! own; figure 1 times `roster` through a small launcher (`__measure`). The method and the
//! figures measured are in docs/benchmarks.md.

mod bare;
mod calls;
mod components;
mod pacing;
mod report;
mod rosters;
mod startup;
mod state;
mod terraform;
mod throughput;
mod util;

use anyhow::{bail, Context, Result};
pub use report::Table;
use std::path::PathBuf;
use std::time::Instant;

/// What to run, and how big.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Smaller sizes, fewer repetitions.
    pub quick: bool,
    /// Sections to run (empty: all).
    pub only: Vec<String>,
    /// Repetitions per throughput measurement.
    pub reps: usize,
    /// The `roster` binary (default: built next to this one).
    pub roster: Option<PathBuf>,
    /// Also write the rows as JSON here.
    pub json: Option<PathBuf>,
    /// Write the results between the markers of this Markdown file (docs/benchmarks.md).
    pub write: Option<PathBuf>,
    /// Users read in figure 3 (default 10,000; 2,000 with --quick).
    pub reads: usize,
    /// Users created in figure 3 (default 1,000; 200 with --quick).
    pub creates: usize,
}

impl Opts {
    fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

fn parse_args() -> Result<Opts> {
    let mut opts = Opts {
        quick: false,
        only: vec![],
        reps: 0,
        roster: None,
        json: None,
        write: None,
        reads: 0,
        creates: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--only" => {
                opts.only = args
                    .next()
                    .context("--only needs a list")?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect()
            }
            "--reps" => {
                opts.reps = args
                    .next()
                    .context("--reps needs a number")?
                    .parse()
                    .context("--reps")?
            }
            "--roster" => {
                // Absolute: the figures run it from temporary directories.
                let path = PathBuf::from(args.next().context("--roster needs a path")?);
                if !path.is_file() {
                    bail!("--roster {}: no such file", path.display());
                }
                opts.roster = Some(std::path::absolute(&path).context("--roster")?);
            }
            "--reads" => {
                opts.reads = args
                    .next()
                    .context("--reads needs a number")?
                    .parse()
                    .context("--reads")?
            }
            "--creates" => {
                opts.creates = args
                    .next()
                    .context("--creates needs a number")?
                    .parse()
                    .context("--creates")?
            }
            "--json" => opts.json = Some(args.next().context("--json needs a path")?.into()),
            "--write" => opts.write = Some(args.next().context("--write needs a path")?.into()),
            "-h" | "--help" => {
                println!(
                    "usage: roster-bench [--quick] [--only startup,calls,throughput,pacing,components,rosters,terraform,state] [--reps N] [--reads N] [--creates N] [--roster PATH] [--json FILE] [--write FILE.md]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    for s in &opts.only {
        if ![
            "startup",
            "calls",
            "throughput",
            "pacing",
            "components",
            "rosters",
            "terraform",
            "state",
        ]
        .contains(&s.as_str())
        {
            bail!("--only: unknown section `{s}`");
        }
    }
    if opts.write.is_some() && !opts.only.is_empty() {
        bail!(
            "--write replaces every figure in the document, so it takes a whole run: drop --only"
        );
    }
    if let Some(path) = &opts.write {
        report::check_writable(path)?;
    }
    if opts.reps == 0 {
        opts.reps = if opts.quick { 3 } else { 5 };
    }
    if opts.reads == 0 {
        opts.reads = if opts.quick { 2_000 } else { 10_000 };
    }
    if opts.creates == 0 {
        opts.creates = if opts.quick { 200 } else { 1_000 };
    }
    Ok(opts)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let result = match args.next().as_deref() {
        Some("__worker") => throughput::worker_main(&args.next().unwrap_or_default()),
        Some("__sandbox") => throughput::sandbox_main(),
        Some("__measure") => util::measure_main(args),
        _ => driver(),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn driver() -> Result<()> {
    let opts = parse_args()?;
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run `cargo run --release -p roster-bench` for meaningful figures");
    }
    let started = Instant::now();
    let mut table = Table::default();
    let rt = tokio::runtime::Runtime::new()?;
    eprintln!(
        "roster-bench ({}; {} CPUs; {} repetitions)",
        if opts.quick { "quick" } else { "full" },
        util::cpus(),
        opts.reps
    );
    // Sections that fail report the error as a row and the run goes on.
    let section = |name: &str, table: &mut Table, f: &mut dyn FnMut(&mut Table) -> Result<()>| {
        if !opts.wants(name) {
            return;
        }
        eprintln!("== {name}");
        let t = Instant::now();
        if let Err(e) = f(table) {
            eprintln!("   {name} failed: {e:#}");
            table.add(0, format!("{name}: FAILED"), "-", format!("{e:#}"));
        }
        eprintln!("   ({name} took {:.0} s)", t.elapsed().as_secs_f64());
    };
    section("components", &mut table, &mut |t| components::run(&opts, t));
    section("startup", &mut table, &mut |t| {
        rt.block_on(startup::run(&opts, t))
    });
    section("calls", &mut table, &mut |t| {
        rt.block_on(calls::run(&opts, t))
    });
    section("throughput", &mut table, &mut |t| throughput::run(&opts, t));
    section("pacing", &mut table, &mut |t| {
        rt.block_on(pacing::run(&opts, t))
    });
    section("rosters", &mut table, &mut |t| {
        rt.block_on(rosters::run(&opts, t))
    });
    section("terraform", &mut table, &mut |t| {
        rt.block_on(terraform::run(&opts, t))
    });
    section("state", &mut table, &mut |t| state::run(&opts, t));
    let summary = format!(
        "{} on {}: `{}`, {:.0} s in all ({} repetitions per throughput figure). Values are medians; every ratio compares two medians of this run.",
        report::today(),
        report::provenance(&util::workspace_root()),
        report::command_line(&util::workspace_root()),
        started.elapsed().as_secs_f64(),
        opts.reps
    );
    let block = format!(
        "Measured {summary}\n\n{}\n### Targets\n\n{}",
        table.rows_markdown(),
        table.goals_markdown()
    );
    println!("\n{block}");
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_string_pretty(&table.json())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failures = table.failures();
    if let (Some(path), 0) = (&opts.write, failures) {
        report::write_into(path, &block)?;
        eprintln!("wrote the results into {}", path.display());
    }
    if failures > 0 {
        let kept = opts
            .write
            .as_ref()
            .map(|p| format!("; {} keeps its figures", p.display()))
            .unwrap_or_default();
        bail!("{failures} section(s) failed (see above){kept}");
    }
    Ok(())
}
