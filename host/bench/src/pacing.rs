//! Figure 4: pacing. An apply of Nimbus users against the Nimbus sandbox enforcing its limit
//! in a scaled window (answering 429 over it), with the roster's provider `rate_limit` set to
//! the same limit: the apply's time vs the rate's limit, the busiest window, the 429s the sandbox answered, and the errors
//! the apply surfaced. Run in this process through the engine (`plan` + `apply`), with each
//! operation's completion time taken from the apply's progress callback.

use crate::util::{self};
use crate::{Opts, Table};
use anyhow::{anyhow, Result};
use roster_engine::apply::{apply, ApplyOptions, Outcome, Progress};
use roster_engine::plan::{plan, ActionKind, PlanOptions};
use roster_engine::rosterfile::RosterFile;
use roster_engine::store::StateFile;
use roster_runtime::{Runtime, RuntimeOptions};
use roster_sim::nimbus::{self, demo as nd, NimbusSeed};
use roster_sim::rate::{RateLimit, RateMode};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Target: the apply takes at most this multiple of the rate's limit, `(ceil(N/ops) - 1)` windows.
const TARGET_RATIO: f64 = 1.02;

struct Stamps(Mutex<Vec<Instant>>);

impl Progress for Stamps {
    fn started(&self, _: usize) {}
    fn finished(&self, outcome: &Outcome) {
        if outcome.result.is_ok() {
            self.0.lock().unwrap().push(Instant::now());
        }
    }
}

fn guid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

struct Paced {
    users: usize,
    created: usize,
    failed: usize,
    elapsed: Duration,
    /// Wall time over the rate's limit for these users.
    vs_limit: f64,
    busiest: usize,
    rejected: u64,
    absorbed: u32,
    admitted: u64,
    /// Gaps between consecutive completions, seconds.
    gaps: Vec<f64>,
}

async fn once(users: usize, ops: u32, window_ms: u64, concurrency: usize) -> Result<Paced> {
    let mut seed = NimbusSeed::demo();
    seed.tenants[0].licenses[0].total = 10_000;
    seed.rate_limit = RateLimit {
        operations: ops,
        window_ms,
        mode: RateMode::Reject,
    };
    let (sandbox, server) = nimbus::start(seed).await?;
    let url = server.url();
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("nimbus.secret"), nd::CLIENT_SECRET)?;
    let mut text = format!(
        "[settings]\nconcurrency = {concurrency}\n\n[provider.nimbus]\nconfig = {{ admin_url = \"{url}\", login_url = \"{url}\", tenant_id = \"{}\", client_id = \"{}\" }}\nsecrets = {{ client_secret = \"file:nimbus.secret\" }}\nrate_limit = {{ operations = {ops}, per_seconds = {} }}\n",
        nd::TENANT_ID,
        nd::CLIENT_ID,
        window_ms as f64 / 1000.0
    );
    for i in 1..=users {
        text.push_str(&format!(
            "\n[resource.nimbus_user.p{i}]\no365_id = \"{}\"\norganization_unit_id = \"{}\"\n",
            guid(0xc000 + i),
            nd::OU_SALES
        ));
    }
    let path = dir.path().join("roster.toml");
    let file = RosterFile::parse(&path, &text).map_err(|e| anyhow!("{e}"))?;
    let cache = tempfile::tempdir()?;
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
    })?;
    let ws = util::open_builtins(file, &runtime).await?;
    let sf = StateFile::new(dir.path().join("roster.state.json"));
    let state = sf.load()?;
    let stamps = Stamps(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let p = plan(&ws, &state, &PlanOptions::default()).await?;
    let summary = apply(&ws, &p, &sf, &ApplyOptions::default(), &stamps).await?;
    let elapsed = t0.elapsed();
    let stats = sandbox.stats();
    drop(server);

    let window = Duration::from_millis(window_ms);
    let mut t = stamps.0.into_inner().unwrap();
    t.sort();
    let created = summary.count(ActionKind::Create);
    // The least time these operations take: the first window's worth at once, then one window
    // per further `ops`.
    let limit = window.as_secs_f64() * (users.div_ceil(ops as usize) - 1) as f64;
    let vs_limit = elapsed.as_secs_f64() / limit;
    // The most completions inside any one window (never more than allowed, or 429s follow).
    let busiest = (0..t.len())
        .map(|i| t[i..].iter().take_while(|x| **x - t[i] < window).count())
        .max()
        .unwrap_or(0);
    Ok(Paced {
        users,
        created,
        failed: summary.failed().len(),
        elapsed,
        vs_limit,
        busiest,
        rejected: stats.rate_limited,
        absorbed: summary.rate_limited(),
        admitted: stats.operations,
        gaps: t.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect(),
    })
}

pub async fn run(opts: &Opts, table: &mut Table) -> Result<()> {
    // Nimbus documents 60 operations per minute; scaled to a 6-second window.
    let (users, ops, window_ms, concurrency) = (120usize, 60u32, 6000u64, 8usize);
    let reps = if opts.quick { 1 } else { 3 };
    let mut runs = Vec::new();
    for rep in 0..reps {
        let r = once(users, ops, window_ms, concurrency).await?;
        eprintln!(
            "   pacing rep {rep}: {} created, {} failed in {:.2} s ({:.3}× the rate's limit); 429s {} (absorbed {}); gaps min {:.1} ms median {:.1} ms max {:.1} ms",
            r.created,
            r.failed,
            r.elapsed.as_secs_f64(),
            r.vs_limit,
            r.rejected,
            r.absorbed,
            util::quantile(&r.gaps, 0.0) * 1e3,
            util::median(&r.gaps) * 1e3,
            util::quantile(&r.gaps, 1.0) * 1e3
        );
        runs.push(r);
    }
    let med = |f: &dyn Fn(&Paced) -> f64| util::median(&runs.iter().map(f).collect::<Vec<_>>());
    let vs_limit = med(&|r| r.vs_limit);
    let limit = window_ms as f64 / 1000.0 * (users.div_ceil(ops as usize) - 1) as f64;
    let per_run: Vec<String> = runs.iter().map(|r| util::ratio(r.vs_limit)).collect();
    let failed: usize = runs.iter().map(|r| r.failed).sum();
    let created: usize = runs.iter().map(|r| r.created).sum();
    let rejected: u64 = runs.iter().map(|r| r.rejected).sum();
    let absorbed: u32 = runs.iter().map(|r| r.absorbed).sum();
    let admitted: u64 = runs.iter().map(|r| r.admitted).sum();
    let gaps: Vec<f64> = runs.iter().flat_map(|r| r.gaps.iter().copied()).collect();
    let busiest = runs.iter().map(|r| r.busiest).max().unwrap_or(0);
    table.add(
        4,
        format!("paced apply of {users} Nimbus users, limit {ops} per {} s (sandbox rejects over it)", window_ms / 1000),
        format!("{created} created, {failed} failed in {} run(s); median {}", runs.len(), util::secs(med(&|r| r.elapsed.as_secs_f64()))),
        format!("settings.concurrency = {concurrency}; rate_limit = {{ operations = {ops}, per_seconds = {} }}", window_ms / 1000),
    );
    table.goal(
        4,
        format!("paced apply of {users} users against the rate's limit"),
        format!("≤ {TARGET_RATIO}×, no error surfaced"),
        format!(
            "{} vs {} = {}; {failed} surfaced",
            util::secs(med(&|r| r.elapsed.as_secs_f64())),
            util::secs(limit),
            util::ratio(vs_limit)
        ),
        vs_limit <= TARGET_RATIO && failed == 0,
    );
    table.add(
        4,
        "apply time vs the rate's limit, (ceil(N/ops) - 1) windows",
        format!(
            "{} vs {} = {}",
            util::secs(med(&|r| r.elapsed.as_secs_f64())),
            util::secs(limit),
            util::ratio(vs_limit)
        ),
        format!(
            "runs: {} (the pacer pads each window by 1 %, at least 30 ms)",
            per_run.join(", ")
        ),
    );
    table.add(
        4,
        "completions in the busiest window vs allowed",
        format!("{busiest} / {ops}"),
        format!(
            "the pacer sends a window's allowance at once, then keeps the window full; gaps between completions min / median / max: {} / {} / {}",
            util::secs(util::quantile(&gaps, 0.0)),
            util::secs(util::median(&gaps)),
            util::secs(util::quantile(&gaps, 1.0))
        ),
    );
    table.add(
        4,
        "429s answered by the sandbox / absorbed by retries / surfaced as errors",
        format!("{rejected} / {absorbed} / {failed}"),
        format!(
            "sandbox admitted {admitted} operations for {} users",
            runs.len() * runs[0].users
        ),
    );
    Ok(())
}
