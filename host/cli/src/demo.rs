//! `roster demo`: both simulators in-process, a sample roster (hand-written blocks and CSV rows)
//! in a temporary directory, then plan, apply, plan again (no changes), a plan from the state
//! alone, and what the simulators now hold.

use crate::render::{self, Style};
use crate::sim;
use anyhow::Result;
use roster_engine::apply::{self, ApplyOptions};
use roster_engine::plan::{self, PlanOptions};
use roster_engine::rosterfile::RosterFile;
use roster_engine::store::StateFile;
use roster_engine::workspace::Workspace;
use roster_runtime::Runtime;
use roster_sim::nimbus::{self, NimbusSeed};
use roster_sim::symbee::{self, SymbeeSeed};
use std::time::Instant;

fn heading(style: Style, text: &str) {
    if style.color {
        println!("\n\x1b[1;36m━━ {text}\x1b[0m\n");
    } else {
        println!("\n== {text}\n");
    }
}

/// Runs the demo.
pub async fn run(runtime: &Runtime, style: Style) -> Result<()> {
    let started = Instant::now();
    let (n, nimbus_server) = nimbus::start(NimbusSeed::demo()).await?;
    let (s, symbee_server) = symbee::start(SymbeeSeed::demo()).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("roster.toml");
    sim::write_sample(&path, &nimbus_server, &symbee_server, None)?;
    heading(
        style,
        "Roster demo: two vendor simulators on loopback, no credentials, no network",
    );
    println!("Nimbus + Entra simulator  {}", nimbus_server.url());
    println!("Symbee Connect simulator  {}", symbee_server.url());
    println!("Roster file               {}\n", path.display());
    for line in std::fs::read_to_string(&path)?.lines().filter(|l| {
        l.starts_with("[resource")
            || l.starts_with("[provider")
            || l.starts_with("[rows")
            || l.starts_with("csv")
    }) {
        println!("  {line}");
    }
    println!("\nagents.csv (each row a nimbus_user):");
    for line in sim::SAMPLE_AGENTS.lines() {
        println!("  {line}");
    }

    let file = RosterFile::load(&path)?;
    // First use: grant the built-in components what they ask for, and show it.
    let lock = crate::grant_sample(runtime, &path).await?;
    heading(
        style,
        "roster grant (roster.lock: what each component may reach and read)",
    );
    print!("{}", roster_engine::grants::render(&lock));
    let ws = Workspace::open(file, runtime, &crate::builtins(), &lock).await?;
    let errors = ws.validate().await;
    anyhow::ensure!(
        errors.is_empty(),
        roster_engine::rosterfile::FileErrors(errors)
    );
    let state = StateFile::new(ws.file.settings.state.clone());

    heading(style, "roster plan");
    let p = plan::plan(&ws, &state.load()?, &PlanOptions::default()).await?;
    print!("{}", render::plan(&p, style));

    heading(style, "roster apply --auto-approve");
    let progress = crate::progress::for_stderr(p.actions.len());
    let summary =
        apply::apply(&ws, &p, &state, &ApplyOptions::default(), progress.as_ref()).await?;
    crate::progress::finish(progress.as_ref());
    print!("{}", render::summary(&summary, style));

    heading(style, "roster plan (again)");
    // Reads every managed user: the cost is said first (on stderr, as `roster plan` does).
    let again = plan::plan_with(
        &ws,
        &state.load()?,
        &PlanOptions::default(),
        crate::progress::reads().as_ref(),
    )
    .await?;
    print!("{}", render::plan(&again, style));

    heading(
        style,
        "roster plan --refresh=false (from the state alone: no vendor operations)",
    );
    let before = n.stats().operations;
    let cheap = plan::plan(
        &ws,
        &state.load()?,
        &PlanOptions {
            reads: plan::ReadPolicy::None,
            ..PlanOptions::default()
        },
    )
    .await?;
    print!("{}", render::plan(&cheap, style));
    println!(
        "Nimbus operations used: {} (a full plan reads each managed user: {} operations of the 60-a-minute budget).",
        n.stats().operations - before,
        again.reads.iter().filter(|r| r.provider == "nimbus").count()
    );

    heading(style, "What the simulators hold now");
    let nimbus_state = n.snapshot();
    let ous: std::collections::HashMap<String, String> = nimbus_state["tenants"][0]
        ["organization_units"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            (
                o["id"].as_str().unwrap_or("").to_string(),
                o["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    println!("Nimbus users:");
    println!(
        "  {:<38} {:<8} {:<14} roles / skills",
        "o365Id", "OU", "assignment"
    );
    for u in nimbus_state["tenants"][0]["users"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let list = |k: &str| {
            u[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let ou = ous
            .get(u["organizationUnitId"].as_str().unwrap_or(""))
            .cloned()
            .unwrap_or_default();
        println!(
            "  {:<38} {:<8} {:<14} {} / {}",
            u["o365Id"].as_str().unwrap_or(""),
            ou,
            u["assignmentType"].as_str().unwrap_or(""),
            list("roles"),
            list("skills")
        );
    }
    for l in nimbus_state["tenants"][0]["licenses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let used = nimbus_state["tenants"][0]["users"]
            .as_array()
            .map(|u| u.len())
            .unwrap_or(0);
        println!(
            "  licences: {} of {} {} in use",
            used,
            l["total"],
            l["license_type"].as_str().unwrap_or("")
        );
    }
    let symbee_state = s.snapshot();
    let env = &symbee_state["companies"][0]["environments"][0];
    println!(
        "\nSymbee Connect users ({}/{}):",
        symbee_state["companies"][0]["company_code"]
            .as_str()
            .unwrap_or(""),
        env["name"].as_str().unwrap_or("")
    );
    println!(
        "  {:<26} {:<14} {:<14} Amazon Connect id",
        "loginUserId", "name", "template"
    );
    for u in env["users"].as_array().into_iter().flatten() {
        let login = u["login_user_id"].as_str().unwrap_or("");
        let connect = env["connect_users"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["username"] == login)
            .and_then(|c| c["id"].as_str())
            .unwrap_or("(not in Connect)");
        let name = format!(
            "{} {}",
            u["first_name"].as_str().unwrap_or(""),
            u["last_name"].as_str().unwrap_or("")
        );
        println!(
            "  {:<26} {:<14} {:<14} {}",
            login,
            name,
            u["user_template_name"].as_str().unwrap_or(""),
            connect
        );
    }
    let stats = n.stats();
    println!(
        "\nNimbus API operations: {} (tokens issued: {}, rate-limited: {}).  Done in {:.1} s.",
        stats.operations,
        stats.tokens_issued,
        stats.rate_limited,
        started.elapsed().as_secs_f64()
    );
    println!("Next: `roster sim --write-roster roster.toml` runs these sandboxes for your own roster files.");
    Ok(())
}
