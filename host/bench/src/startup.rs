//! Figure 1: start-up. A no-op `roster plan` of a small roster (3 Nimbus and 2 Symbee users,
//! against both sandboxes in this process), run as a whole process: first run (an empty
//! component cache, so both components are compiled) vs later runs (cached).

use crate::util::{self, median};
use crate::{Opts, Table};
use anyhow::{anyhow, bail, Context, Result};
use roster_sim::nimbus::{self, demo as nd, NimbusSeed};
use roster_sim::rate::{RateLimit, RateMode};
use roster_sim::symbee::{self, demo as sd, SymbeeSeed};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Target: cached start-up at least this many times faster than the first run.
const TARGET: f64 = 20.0;
/// Target: a cached no-op plan, whole process, at most this many seconds.
const CACHED_PLAN_TARGET: f64 = 0.010;

/// The `roster` binary: `--roster`, else built next to this binary with cargo.
pub fn roster_binary(opts: &Opts) -> Result<PathBuf> {
    if let Some(p) = &opts.roster {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("no directory for {}", exe.display()))?;
    let roster = dir.join("roster");
    let profile = if cfg!(debug_assertions) {
        None
    } else {
        Some("--release")
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "   building roster-cli ({cargo} build {} -p roster-cli)",
        profile.unwrap_or("")
    );
    let status = Command::new(&cargo)
        .current_dir(util::workspace_root())
        .arg("build")
        .args(profile)
        .args(["-p", "roster-cli", "--quiet"])
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("cargo build -p roster-cli failed");
    }
    if !roster.exists() {
        bail!(
            "{} is missing after the build; pass --roster PATH",
            roster.display()
        );
    }
    Ok(roster)
}

fn guid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn roster_text(nimbus_url: &str, symbee_url: &str) -> String {
    let mut text = format!(
        r#"[provider.nimbus]
config = {{ admin_url = "{nimbus_url}", login_url = "{nimbus_url}", tenant_id = "{}", client_id = "{}" }}
secrets = {{ client_secret = "file:nimbus.secret" }}
rate_limit = {{ operations = 1000, per_seconds = 1 }}

[provider.symbee]
config = {{ base_url = "{symbee_url}/symbee-admin/api/users/", company_code = "{}", environment = "{}", secrets_region = "{}", sso_mode = "saml" }}
secrets = {{ api_key = "file:symbee.key" }}
"#,
        nd::TENANT_ID,
        nd::CLIENT_ID,
        sd::COMPANY,
        sd::ENV_SAML,
        sd::SECRETS_REGION
    );
    for i in 1..=3 {
        text.push_str(&format!(
            "\n[resource.nimbus_user.n{i}]\no365_id = \"{}\"\norganization_unit_id = \"{}\"\n",
            guid(0xb00 + i),
            nd::OU_SALES
        ));
    }
    for i in 1..=2 {
        text.push_str(&format!("\n[resource.symbee_user.s{i}]\nlogin_user_id = \"s{i}@bench.example\"\nfirst_name = \"F\"\nlast_name = \"L\"\nuser_template_name = \"{}\"\n", sd::TEMPLATE));
    }
    text
}

fn roster_cmd(roster: &Path, dir: &Path, cache: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(roster);
    c.current_dir(dir)
        .args(args)
        .env("ROSTER_CACHE_DIR", cache)
        .env("NO_COLOR", "1");
    c
}

pub async fn run(opts: &Opts, table: &mut Table) -> Result<()> {
    let roster = roster_binary(opts)?;
    let (first_reps, cached_reps) = if opts.quick { (2, 5) } else { (3, 9) };
    let mut seed = NimbusSeed::demo();
    seed.tenants[0].licenses[0].total = 1000;
    seed.rate_limit = RateLimit {
        operations: 100_000,
        window_ms: 1000,
        mode: RateMode::Reject,
    };
    let (_nimbus, nimbus_server) = nimbus::start(seed).await?;
    let (_symbee, symbee_server) = symbee::start(SymbeeSeed::demo()).await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path().to_path_buf();
    std::fs::write(d.join("nimbus.secret"), nd::CLIENT_SECRET)?;
    std::fs::write(d.join("symbee.key"), sd::API_KEY)?;
    std::fs::write(
        d.join("roster.toml"),
        roster_text(&nimbus_server.url(), &symbee_server.url()),
    )?;
    let warm = d.join("cache-warm");

    // Grant what the providers ask for (roster.lock), then apply once (this also fills the
    // warm cache), so that plans are no-ops.
    let (r, d2, w2) = (roster.clone(), d.clone(), warm.clone());
    let granted =
        tokio::task::spawn_blocking(move || roster_cmd(&r, &d2, &w2, &["grant"]).output())
            .await??;
    if !granted.status.success() {
        bail!(
            "roster grant failed:\n{}",
            String::from_utf8_lossy(&granted.stderr)
        );
    }
    let (r, d2, w2) = (roster.clone(), d.clone(), warm.clone());
    let (fin, out) = tokio::task::spawn_blocking(move || {
        util::run_measured(
            roster_cmd(&r, &d2, &w2, &["apply", "--auto-approve"]),
            &d2,
            "apply",
        )
    })
    .await??;
    if fin.code != Some(0) || !out.contains("5 added") {
        bail!("the first apply failed:\n{out}");
    }

    let mut first = Vec::new();
    let mut cached = Vec::new();
    let mut rss_first = Vec::new();
    let mut rss_cached = Vec::new();
    let mut noop = true;
    for i in 0..first_reps.max(cached_reps) {
        let mut runs = Vec::new();
        if i < first_reps {
            runs.push((true, d.join(format!("cache-cold-{i}"))));
        }
        runs.push((false, warm.clone()));
        if i < first_reps && i % 2 == 1 {
            runs.reverse();
        }
        for (is_first, cache) in runs {
            let (r, d2) = (roster.clone(), d.clone());
            let name = format!("plan-{i}-{is_first}");
            let (fin, out) = tokio::task::spawn_blocking(move || {
                util::run_measured(
                    roster_cmd(&r, &d2, &cache, &["plan", "--detailed-exitcode"]),
                    &d2,
                    &name,
                )
            })
            .await??;
            if fin.code != Some(0) {
                noop = false;
                eprintln!("   plan was not a no-op (exit {:?}):\n{out}", fin.code);
            }
            let s = fin.wall.as_secs_f64();
            if is_first {
                first.push(s);
                rss_first.push(fin.maxrss_kib as f64);
            } else {
                cached.push(s);
                rss_cached.push(fin.maxrss_kib as f64);
            }
        }
    }
    let (f, c) = (median(&first), median(&cached));
    let ratio = f / c;
    table.add(
        1,
        "no-op `roster plan`, first run (empty cache: compiles)",
        util::secs(f),
        format!("whole process, median of {}", first.len()),
    );
    table.add(
        1,
        "no-op `roster plan`, later runs (cached)",
        util::secs(c),
        format!("whole process, median of {}", cached.len()),
    );
    table.add(
        1,
        "start-up ratio first / cached",
        util::ratio(ratio),
        "compiling both components is the difference",
    );
    table.goal(
        1,
        "cached start-up against the first run",
        format!("≥ {TARGET:.0}× faster"),
        format!(
            "{} → {}: {}",
            util::secs(f),
            util::secs(c),
            util::ratio(ratio)
        ),
        ratio >= TARGET,
    );
    table.goal(
        1,
        "cached no-op `roster plan`, whole process",
        format!("≤ {:.0} ms", CACHED_PLAN_TARGET * 1e3),
        util::secs(c),
        c <= CACHED_PLAN_TARGET,
    );
    table.add(
        5,
        "peak RSS of `roster plan` first / cached",
        format!(
            "{} / {}",
            util::rss(median(&rss_first) as u64),
            util::rss(median(&rss_cached) as u64)
        ),
        "ru_maxrss of the child",
    );
    if !noop {
        table.add(1, "note", "plan was not a no-op", "see stderr");
    }
    drop(nimbus_server);
    drop(symbee_server);
    Ok(())
}
