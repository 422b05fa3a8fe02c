//! Figure 7: Terraform. The built-in Nimbus provider served to a real `terraform` (`$ROSTER_TERRAFORM`,
//! else PATH) against the Nimbus sandbox at 60 operations per 0.6 s (the documented limit in a
//! shortened window, as figure 6): `terraform plan` of 200 managed users with refresh (200 paced
//! reads) against the rate's physical limit for those reads, and with `-refresh=false` (no
//! vendor call: Terraform's own cost plus the provider's start); and the provider's start-up —
//! spawn to handshake line, compiled component cached — against `roster --version`, the same
//! binary doing nothing.

use crate::startup::roster_binary;
use crate::util::{self, median};
use crate::{Opts, Table};
use anyhow::{bail, Context, Result};
use roster_sim::nimbus::{self, demo as nd, NimbusSeed};
use roster_sim::rate::{RateLimit, RateMode};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const OPS: u64 = 60;
const WINDOW_S: f64 = 0.6;

fn guid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn main_tf(url: &str, users: usize) -> String {
    let agents: Vec<String> = (1..=users)
        .map(|i| format!("    u{i} = \"{}\"", guid(0xe0000 + i)))
        .collect();
    format!(
        "terraform {{\n  required_providers {{\n    nimbus = {{ source = \"roster.example/roster/nimbus\", version = \"{v}\" }}\n  }}\n}}\n\n\
         provider \"nimbus\" {{\n  admin_url  = \"{url}\"\n  login_url  = \"{url}\"\n  tenant_id  = \"{t}\"\n  client_id  = \"{c}\"\n  secrets    = {{ client_secret = \"file:nimbus.secret\" }}\n  rate_limit = {{ operations = {OPS}, per_seconds = {WINDOW_S} }}\n}}\n\n\
         locals {{\n  agents = {{\n{}\n  }}\n}}\n\nresource \"nimbus_user\" \"agent\" {{\n  for_each             = local.agents\n  o365_id              = each.value\n  organization_unit_id = \"{ou}\"\n}}\n",
        agents.join("\n"),
        v = env!("CARGO_PKG_VERSION"),
        t = nd::TENANT_ID,
        c = nd::CLIENT_ID,
        ou = nd::OU_SALES,
    )
}

fn timed(mut cmd: Command, what: &str) -> Result<f64> {
    let t = Instant::now();
    let o = cmd.output().with_context(|| format!("running {what}"))?;
    if !o.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Spawn to the handshake line on stdout.
fn handshake(exe: &Path) -> Result<f64> {
    let t = Instant::now();
    let mut child = Command::new(exe)
        .env(
            roster_terraform::plugin::MAGIC_COOKIE_KEY,
            roster_terraform::plugin::MAGIC_COOKIE_VALUE,
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    let took = t.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    if !line.starts_with("1|6|unix|") {
        bail!("unexpected handshake line `{}`", line.trim());
    }
    Ok(took)
}

pub async fn run(opts: &Opts, table: &mut Table) -> Result<()> {
    let terraform = std::env::var("ROSTER_TERRAFORM").unwrap_or_else(|_| "terraform".into());
    let version = Command::new(&terraform)
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .with_context(|| {
            format!("no terraform (`{terraform}`): set ROSTER_TERRAFORM or put it on PATH")
        })?;
    let version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let roster = roster_binary(opts)?;
    let users = 200;
    let mut seed = NimbusSeed::demo();
    seed.rate_limit = RateLimit {
        operations: OPS as u32,
        window_ms: (WINDOW_S * 1000.0) as u64,
        mode: RateMode::Reject,
    };
    seed.tenants[0].licenses[0].total = 10_000;
    let (sim, server) = nimbus::start(seed).await?;
    let url = server.url();
    let dir = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    std::fs::write(dir.path().join("nimbus.secret"), nd::CLIENT_SECRET)?;
    std::fs::write(dir.path().join("cli.tfrc"), "")?;
    std::fs::write(dir.path().join("main.tf"), main_tf(&url, users))?;
    let roster_cmd = |args: &[&str]| {
        let mut c = Command::new(&roster);
        c.current_dir(dir.path())
            .args(args)
            .env("ROSTER_CACHE_DIR", cache.path())
            .stdin(Stdio::null());
        c
    };
    let install = [
        "terraform",
        "install",
        "--only",
        "nimbus",
        "--config",
        &format!("nimbus.admin_url={url}"),
        "--config",
        &format!("nimbus.login_url={url}"),
    ];
    let mut c = roster_cmd(&install);
    c.args([
        "--config",
        &format!("nimbus.tenant_id={}", nd::TENANT_ID),
        "--config",
        &format!("nimbus.client_id={}", nd::CLIENT_ID),
        "--secret",
        "nimbus.client_secret=file:nimbus.secret",
    ]);
    timed(c, "roster terraform install")?;
    let tf = |args: &[&str]| {
        let mut c = Command::new(&terraform);
        c.current_dir(dir.path())
            .args(args)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_CLI_CONFIG_FILE", dir.path().join("cli.tfrc"))
            .env("ROSTER_CACHE_DIR", cache.path())
            .stdin(Stdio::null());
        c
    };
    let dir_path = dir.path().to_path_buf();
    let (tf_ref, roster_ref) = (&tf, &roster_cmd);
    tokio::task::spawn_blocking({
        let init = tf_ref(&["init", "-no-color"]);
        let apply = tf_ref(&["apply", "-auto-approve", "-parallelism=10", "-no-color"]);
        move || -> Result<()> {
            timed(init, "terraform init")?;
            timed(apply, "terraform apply")?;
            Ok(())
        }
    })
    .await??;
    let reps = if opts.quick { 2 } else { 5 };
    let before = sim.stats();
    let mut refresh = Vec::new();
    let mut no_refresh = Vec::new();
    for _ in 0..reps {
        let (a, b) = (
            tf_ref(&["plan", "-no-color", "-detailed-exitcode"]),
            tf_ref(&["plan", "-refresh=false", "-no-color", "-detailed-exitcode"]),
        );
        let (r, n) = tokio::task::spawn_blocking(move || -> Result<(f64, f64)> {
            Ok((
                timed(a, "terraform plan")?,
                timed(b, "terraform plan -refresh=false")?,
            ))
        })
        .await??;
        refresh.push(r);
        no_refresh.push(n);
    }
    let after = sim.stats();
    let reads = after.by_route.get("get").copied().unwrap_or(0)
        - before.by_route.get("get").copied().unwrap_or(0);
    let limit = ((users as u64).div_ceil(OPS) - 1) as f64 * WINDOW_S;
    let (r, n) = (median(&refresh), median(&no_refresh));
    table.add(
        7,
        format!("terraform plan, {users} users, refresh"),
        util::secs(r),
        format!(
            "{} vs the rate's limit for {users} reads {} ({reads} reads in {reps} plans; 429s: {})",
            util::ratio(r / limit),
            util::secs(limit),
            after.rate_limited
        ),
    );
    table.add(
        7,
        format!("terraform plan, {users} users, -refresh=false"),
        util::secs(n),
        format!(
            "{} of the refreshing plan; no vendor call",
            util::ratio(n / r)
        ),
    );
    let source = roster_terraform::package::parse_source("roster.example/roster/nimbus")
        .map_err(anyhow::Error::msg)?;
    let exe = roster_terraform::package::package_dir(
        &dir_path.join("terraform.d/plugins"),
        &source,
        env!("CARGO_PKG_VERSION"),
    )
    .join(roster_terraform::package::executable_name(
        "nimbus",
        env!("CARGO_PKG_VERSION"),
    ));
    let mut start = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..if opts.quick { 5 } else { 15 } {
        start.push(handshake(&exe)?);
        bare.push(timed(roster_ref(&["--version"]), "roster --version")?);
    }
    let (s, b) = (median(&start), median(&bare));
    table.add(
        7,
        "provider start-up (spawn to handshake, cache warm)",
        util::secs(s),
        format!(
            "{} of `roster --version` ({}); {version}",
            util::ratio(s / b),
            util::secs(b)
        ),
    );
    drop(server);
    Ok(())
}
