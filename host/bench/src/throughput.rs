//! Figure 3 (throughput) and figure 5's peak memory: plan (read) of many Symbee users and apply
//! (create) of fewer, against the Symbee sandbox, at concurrency 1 and 32:
//!
//! - `host, engine`: `roster_engine::plan::plan` (read) or `plan` + `apply::apply` (create),
//!   with `settings.concurrency` = C and `limits = { max_instances = 32 }` — what `roster plan`
//!   and `roster apply` do after start-up, durable state writes included;
//! - `host, Provider direct`: `Provider::read` / `Provider::create` called C at a time directly
//!   (the component and the runtime, without the engine);
//! - `baseline reqwest`: a native reqwest client making the same HTTP requests (POST
//!   `query-existence` / `add-user` with the five X-sc-* headers and the tenant body), C at a
//!   time, keep-alive on — the script a user would write;
//! - `baseline, no keep-alive`: the same with a new connection per request (a breakdown row: what
//!   connection set-up costs on both ends);
//! - `state writes alone` (create, C = 1): the state commits an apply makes with one operation
//!   in flight — a pending record, then the created one, each a journal line appended and
//!   fsync'd — without network or component (a breakdown row).
//!
//! A last group repeats the read at C = 32 with 5 ms of latency added to every sandbox answer (the
//! sandbox's fault injection), as a real vendor API has: on loopback the per-request CPU of each
//! side is all there is to measure; with latency, it is what it adds to a realistic round trip.
//!
//! Each measurement is a child process of this binary (`__worker`), the sandbox another
//! (`__sandbox`); each reports the timed section's wall time, its own CPU time and peak RSS.

use crate::util::{self, median};
use crate::{Opts, Table};
use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use roster_engine::apply::{apply, ApplyOptions, Silent};
use roster_engine::plan::{plan, PlanOptions};
use roster_engine::rosterfile::RosterFile;
use roster_engine::state::{now, Record, State, Status};
use roster_engine::store::StateFile;
use roster_runtime::{Provider, ProviderSpec, Runtime, RuntimeOptions};
use roster_sim::faults::Fault;
use roster_sim::symbee::{self, demo as sd, SymbeeSeed, SymbeeUser};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

/// The goal for the engine against the baseline on loopback, where there is one: a read at
/// concurrency 32 and a create at concurrency 1 (issue 22).
fn engine_goal(op: Op, c: usize, latency: u64) -> Option<f64> {
    match (op, c, latency) {
        (Op::Read, 32, 0) => Some(1.2),
        (Op::Create, 1, 0) => Some(1.5),
        _ => None,
    }
}

/// The latency added to every sandbox answer in the last group of figure 3.
const VENDOR_LATENCY_MS: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Side {
    HostEngine,
    HostProvider,
    Baseline,
    BaselineNoKeepAlive,
    /// The state writes an apply of N creates makes one at a time, alone: no network, no component.
    StateWrites,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::HostEngine => "host, engine",
            Side::HostProvider => "host, Provider direct",
            Side::Baseline => "baseline reqwest",
            Side::BaselineNoKeepAlive => "baseline, no keep-alive",
            Side::StateWrites => "state writes alone (2 per create)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Op {
    Read,
    Create,
}

#[derive(Debug, Serialize, Deserialize)]
struct WorkerSpec {
    side: Side,
    op: Op,
    url: String,
    n: usize,
    concurrency: usize,
    cache_dir: PathBuf,
    work_dir: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct WorkerResult {
    /// Wall time of the timed section.
    elapsed_s: f64,
    /// Operations that succeeded.
    ok: usize,
    /// Operations that failed.
    failed: usize,
    first_error: Option<String>,
    /// CPU time (user + system, all threads) of the timed section.
    cpu_s: f64,
    /// Peak RSS of the whole process, KiB.
    vmhwm_kib: u64,
    /// Provider instances created (host sides).
    instances: u64,
    /// Named parts of the timed section.
    phases: Vec<(String, f64)>,
}

fn login(i: usize) -> String {
    format!("u{i:05}@bench.example")
}

fn headers(key: &str) -> [(&'static str, String); 5] {
    [
        ("X-sc-platform-code", symbee::PLATFORM.to_string()),
        ("X-sc-company-code", sd::COMPANY.to_string()),
        ("X-sc-company-environment", sd::ENV_SAML.to_string()),
        ("X-sc-secrets-region", sd::SECRETS_REGION.to_string()),
        ("X-sc-company-api-key", key.to_string()),
    ]
}

fn tenant() -> Value {
    json!({ "platform": symbee::PLATFORM, "companyCode": sd::COMPANY, "environment": sd::ENV_SAML })
}

fn desired(i: usize) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("login_user_id".into(), Value::String(login(i)));
    m.insert("first_name".into(), Value::String(format!("First{i}")));
    m.insert("last_name".into(), Value::String(format!("Last{i}")));
    m.insert(
        "user_template_name".into(),
        Value::String(sd::TEMPLATE.into()),
    );
    m
}

fn symbee_config(url: &str) -> Value {
    json!({
        "base_url": format!("{url}/symbee-admin/api/users/"),
        "company_code": sd::COMPANY,
        "environment": sd::ENV_SAML,
        "secrets_region": sd::SECRETS_REGION,
        "sso_mode": "saml",
    })
}

fn roster_text(url: &str, n: usize, concurrency: usize) -> String {
    let mut text = format!(
        "[settings]\nconcurrency = {concurrency}\nmass_delete_threshold = {n}\n\n[provider.symbee]\nconfig = {{ base_url = \"{url}/symbee-admin/api/users/\", company_code = \"{}\", environment = \"{}\", secrets_region = \"{}\", sso_mode = \"saml\" }}\nsecrets = {{ api_key = \"file:symbee.key\" }}\nlimits = {{ max_instances = 32 }}\n",
        sd::COMPANY,
        sd::ENV_SAML,
        sd::SECRETS_REGION
    );
    text.reserve(n * 140);
    for i in 0..n {
        text.push_str(&format!("\n[resource.symbee_user.u{i:05}]\nlogin_user_id = \"{}\"\nfirst_name = \"First{i}\"\nlast_name = \"Last{i}\"\nuser_template_name = \"{}\"\n", login(i), sd::TEMPLATE));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The sandbox child.

fn seed_with(n: usize) -> SymbeeSeed {
    let mut seed = SymbeeSeed::demo();
    let users = &mut seed.companies[0].environments[0].users;
    users.reserve(n);
    for i in 0..n {
        users.push(SymbeeUser {
            login_user_id: login(i),
            first_name: format!("First{i}"),
            last_name: format!("Last{i}"),
            user_template_name: sd::TEMPLATE.into(),
            primary_email: None,
            secondary_email: None,
        });
    }
    seed
}

/// `roster-bench __sandbox`: a Symbee sandbox on a loopback port (printed first), driven by
/// lines on stdin: `reset N [LATENCY_MS]` (the demo company plus N users in `prod`, every
/// operation answered after LATENCY_MS), `stats`; EOF stops it.
pub fn sandbox_main() -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let (sandbox, running) = symbee::start(SymbeeSeed::demo()).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", running.url())?;
        out.flush()?;
        drop(out);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let mut words = line.split_whitespace();
            let reply = match (words.next(), words.next()) {
                (Some("reset"), Some(n)) => {
                    let n: usize = n.parse().context("reset N")?;
                    let latency_ms: u64 = words
                        .next()
                        .map(str::parse)
                        .transpose()
                        .context("reset N LATENCY_MS")?
                        .unwrap_or(0);
                    let mut seed = seed_with(n);
                    if latency_ms > 0 {
                        seed.faults.routes.insert(
                            "*".into(),
                            Fault {
                                latency_ms,
                                ..Fault::default()
                            },
                        );
                    }
                    sandbox.reseed(seed);
                    "ok".to_string()
                }
                (Some("stats"), _) => serde_json::to_string(&sandbox.stats())?,
                _ => format!("error: unknown command {line:?}"),
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{reply}")?;
            out.flush()?;
        }
        drop(running);
        Ok(())
    })
}

/// The sandbox child, from the driver's side.
struct SandboxChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    url: String,
}

impl SandboxChild {
    fn start() -> Result<SandboxChild> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("__sandbox")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut url = String::new();
        stdout.read_line(&mut url)?;
        let url = url.trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            bail!("the sandbox child printed {url:?} instead of its URL");
        }
        Ok(SandboxChild {
            child,
            stdin,
            stdout,
            url,
        })
    }

    fn ask(&mut self, line: &str) -> Result<String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("sandbox closed"))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        let mut reply = String::new();
        self.stdout.read_line(&mut reply)?;
        if reply.is_empty() || reply.starts_with("error") {
            bail!("sandbox: {line} -> {reply:?}");
        }
        Ok(reply.trim().to_string())
    }

    fn reset(&mut self, n: usize, latency_ms: u64) -> Result<()> {
        self.ask(&format!("reset {n} {latency_ms}")).map(drop)
    }

    fn stats(&mut self) -> Result<Value> {
        Ok(serde_json::from_str(&self.ask("stats")?)?)
    }

    fn cpu(&self) -> f64 {
        util::cpu_of(self.child.id())
    }
}

impl Drop for SandboxChild {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: it exits
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The worker child.

/// `roster-bench __worker SPEC_JSON`: one measurement; prints a [`WorkerResult`] as JSON.
pub fn worker_main(spec: &str) -> Result<()> {
    let spec: WorkerSpec = serde_json::from_str(spec).context("worker spec")?;
    let rt = tokio::runtime::Runtime::new()?; // as `roster` does: multi-thread, one worker per CPU
    let mut result = rt.block_on(worker(&spec))?;
    result.vmhwm_kib = util::vmhwm_kib();
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

fn tally<T, E: std::fmt::Display>(
    results: Vec<Result<T, E>>,
    good: impl Fn(&T) -> bool,
    r: &mut WorkerResult,
) {
    for x in results {
        match x {
            Ok(v) if good(&v) => r.ok += 1,
            Ok(_) => {
                r.failed += 1;
                r.first_error
                    .get_or_insert_with(|| "unexpected answer".into());
            }
            Err(e) => {
                r.failed += 1;
                r.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

async fn worker(spec: &WorkerSpec) -> Result<WorkerResult> {
    let mut r = WorkerResult::default();
    let c = spec.concurrency.max(1);
    let key_file = spec.work_dir.join("symbee.key");
    match spec.side {
        Side::HostEngine => {
            let runtime = Runtime::new(RuntimeOptions {
                cache_dir: Some(spec.cache_dir.clone()),
            })?;
            let text = roster_text(&spec.url, spec.n, c);
            let path = spec.work_dir.join("roster.toml");
            let t = Instant::now();
            let file = RosterFile::parse(&path, &text).map_err(|e| anyhow!("{e}"))?;
            r.phases.push((
                "parse roster file (untimed)".into(),
                t.elapsed().as_secs_f64(),
            ));
            let ws = util::open_builtins(file, &runtime).await?;
            match spec.op {
                Op::Read => {
                    // A state that manages every user, as after an apply.
                    let mut state = State::new();
                    state.resources = (0..spec.n)
                        .map(|i| {
                            let d = desired(i);
                            let mut attributes = d.clone();
                            attributes
                                .insert("create_in_amazon_connect".into(), Value::Bool(false));
                            attributes.insert(
                                "amazon_connect_status".into(),
                                Value::String("NOT_FOUND".into()),
                            );
                            attributes.insert("connect_user_id".into(), Value::Null);
                            Record {
                                address: format!("symbee_user.u{i:05}"),
                                type_name: "symbee_user".into(),
                                provider: "symbee".into(),
                                id: login(i),
                                status: Status::Created,
                                desired: d,
                                attributes,
                                updated_at: now(),
                                read_at: None,
                            }
                        })
                        .collect();
                    r.phases.push((
                        "peak RSS before plan (KiB)".into(),
                        util::vmhwm_kib() as f64,
                    ));
                    let (cpu, t) = (util::cpu_self(), Instant::now());
                    let p = plan(&ws, &state, &PlanOptions::default()).await;
                    r.elapsed_s = t.elapsed().as_secs_f64();
                    r.cpu_s = util::cpu_self() - cpu;
                    match p {
                        Ok(p) if p.actions.is_empty() && p.drift.is_empty() => r.ok = spec.n,
                        Ok(p) => {
                            r.failed = p.actions.len() + p.drift.len();
                            r.ok = spec.n - r.failed.min(spec.n);
                            r.first_error = Some(format!(
                                "plan was not a no-op: {:?}",
                                p.actions.first().map(|a| (&a.address, a.kind))
                            ));
                        }
                        Err(e) => {
                            r.failed = spec.n;
                            r.first_error = Some(format!("{e:#}"));
                        }
                    }
                }
                Op::Create => {
                    let sf = StateFile::new(spec.work_dir.join("roster.state.json"));
                    let _ = std::fs::remove_file(sf.path());
                    let (cpu, t) = (util::cpu_self(), Instant::now());
                    let state = sf.load()?;
                    let p = plan(&ws, &state, &PlanOptions::default()).await?;
                    let planned = t.elapsed().as_secs_f64();
                    let summary = apply(&ws, &p, &sf, &ApplyOptions::default(), &Silent).await?;
                    r.elapsed_s = t.elapsed().as_secs_f64();
                    r.cpu_s = util::cpu_self() - cpu;
                    r.phases.push(("plan".into(), planned));
                    r.phases.push(("apply".into(), r.elapsed_s - planned));
                    r.ok = summary.count(roster_engine::plan::ActionKind::Create);
                    r.failed = summary.failed().len();
                    r.first_error = summary
                        .failed()
                        .first()
                        .and_then(|o| o.result.clone().err());
                    let bytes = std::fs::metadata(sf.path()).map(|m| m.len()).unwrap_or(0);
                    r.phases
                        .push(("final state file bytes".into(), bytes as f64));
                    // Every StateFile::save bumps the serial: it counts the writes.
                    r.phases
                        .push(("state writes".into(), sf.load()?.serial as f64));
                }
            }
            r.instances = ws
                .providers
                .values()
                .filter_map(|h| h.provider.component())
                .map(|c| c.instantiated())
                .sum();
        }
        Side::HostProvider => {
            let runtime = Runtime::new(RuntimeOptions {
                cache_dir: Some(spec.cache_dir.clone()),
            })?;
            let mut ps = ProviderSpec::new("symbee", symbee_config(&spec.url));
            ps.secrets.insert(
                "api_key".into(),
                format!("file:{}", key_file.display())
                    .parse()
                    .map_err(|e: String| anyhow!(e))?,
            );
            ps.limits.max_instances = 32;
            let provider = Provider::start(&runtime, roster_components::SYMBEE_WASM, ps)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            let (cpu, t) = (util::cpu_self(), Instant::now());
            match spec.op {
                Op::Read => {
                    let provider = &provider;
                    let results: Vec<_> = futures::stream::iter(0..spec.n)
                        .map(|i| async move { provider.read("symbee_user", &login(i)).await })
                        .buffer_unordered(c)
                        .collect()
                        .await;
                    r.elapsed_s = t.elapsed().as_secs_f64();
                    tally(results, |v: &Option<String>| v.is_some(), &mut r);
                }
                Op::Create => {
                    let provider = &provider;
                    let results: Vec<_> = futures::stream::iter(0..spec.n)
                        .map(|i| async move {
                            provider
                                .create("symbee_user", &Value::Object(desired(i)).to_string())
                                .await
                        })
                        .buffer_unordered(c)
                        .collect()
                        .await;
                    r.elapsed_s = t.elapsed().as_secs_f64();
                    tally(results, |_: &String| true, &mut r);
                }
            }
            r.cpu_s = util::cpu_self() - cpu;
            r.instances = provider.instantiated();
        }
        Side::StateWrites => {
            // What apply's `create` commits for each user: a pending record, then the created
            // one, each a journal line appended and fsync'd (figure 8 has its cost by state size).
            // A new state each repetition: the state file and its journal both removed.
            let path = spec.work_dir.join("writes.state.json");
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(spec.work_dir.join("writes.state.json.journal"));
            let sf = StateFile::new(path);
            let record = |i: usize, status: Status| {
                let d = desired(i);
                let mut attributes = Map::new();
                if status == Status::Created {
                    attributes = d.clone();
                    attributes.insert("create_in_amazon_connect".into(), Value::Bool(false));
                    attributes.insert(
                        "amazon_connect_status".into(),
                        Value::String("NOT_FOUND".into()),
                    );
                    attributes.insert("connect_user_id".into(), Value::Null);
                }
                Record {
                    address: format!("symbee_user.u{i:05}"),
                    type_name: "symbee_user".into(),
                    provider: "symbee".into(),
                    id: login(i),
                    status,
                    desired: d,
                    attributes,
                    updated_at: now(),
                    read_at: None,
                }
            };
            let mut state = sf.load()?;
            let (cpu, t) = (util::cpu_self(), Instant::now());
            for i in 0..spec.n {
                for status in [Status::PendingCreate, Status::Created] {
                    let change = crate::state::change(&mut state, record(i, status));
                    crate::state::commit(&sf, &state, change)?;
                }
            }
            r.elapsed_s = t.elapsed().as_secs_f64();
            r.cpu_s = util::cpu_self() - cpu;
            r.ok = spec.n;
            // The same sequence without the file, to split CPU from disk: encoding the lines.
            let mut state = State::new();
            let mut encode = 0.0;
            for i in 0..spec.n {
                for status in [Status::PendingCreate, Status::Created] {
                    let change = crate::state::change(&mut state, record(i, status));
                    let t = Instant::now();
                    std::hint::black_box(roster_engine::journal::encode(
                        &state.lineage,
                        state.serial,
                        &[change],
                    )?);
                    encode += t.elapsed().as_secs_f64();
                }
            }
            r.phases.push(("encode only".into(), encode));
        }
        Side::Baseline | Side::BaselineNoKeepAlive => {
            // What a user's own script does: read the key once, then POST, C at a time.
            let key = std::fs::read_to_string(&key_file)?.trim().to_string();
            let mut builder = reqwest::Client::builder();
            if spec.side == Side::BaselineNoKeepAlive {
                builder = builder.pool_max_idle_per_host(0);
            }
            let client = builder.build()?;
            let base = format!("{}/symbee-admin/api/users/", spec.url);
            let send = |operation: &str, body: Value| {
                let mut req = client.post(format!("{base}{operation}"));
                for (name, value) in headers(&key) {
                    req = req.header(name, value);
                }
                let req = req.json(&body);
                async move {
                    let reply = req.send().await?;
                    let status = reply.status();
                    let body: Value = reply.json().await?;
                    Ok::<_, reqwest::Error>((status.as_u16(), body))
                }
            };
            let (cpu, t) = (util::cpu_self(), Instant::now());
            let results: Vec<_> = match spec.op {
                Op::Read => {
                    futures::stream::iter(0..spec.n)
                        .map(|i| {
                            send(
                                "query-existence",
                                json!({ "tenant": tenant(), "loginUserId": login(i) }),
                            )
                        })
                        .buffer_unordered(c)
                        .collect()
                        .await
                }
                Op::Create => {
                    futures::stream::iter(0..spec.n)
                        .map(|i| {
                            send(
                                "add-user",
                                json!({
                                    "tenant": tenant(),
                                    "loginUserId": login(i),
                                    "firstName": format!("First{i}"),
                                    "lastName": format!("Last{i}"),
                                    "userTemplateName": sd::TEMPLATE,
                                    "createInAmazonConnect": false,
                                }),
                            )
                        })
                        .buffer_unordered(c)
                        .collect()
                        .await
                }
            };
            r.elapsed_s = t.elapsed().as_secs_f64();
            r.cpu_s = util::cpu_self() - cpu;
            tally(
                results,
                |(status, body): &(u16, Value)| *status == 200 && body["result"] == "SUCCESS",
                &mut r,
            );
        }
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// The driver.

fn run_worker(spec: &WorkerSpec) -> Result<WorkerResult> {
    let out = Command::new(std::env::current_exe()?)
        .arg("__worker")
        .arg(serde_json::to_string(spec)?)
        .stdin(Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "worker {:?} {:?} failed ({}): {}{}",
            spec.side,
            spec.op,
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).with_context(|| format!("worker output {last:?}"))
}

/// Medians of one (op, concurrency, side) cell.
#[derive(Default)]
struct Cell {
    elapsed: Vec<f64>,
    cpu: Vec<f64>,
    sandbox_cpu: Vec<f64>,
    rss: Vec<f64>,
    instances: Vec<f64>,
    failed: usize,
    first_error: Option<String>,
    phases: Vec<(String, f64)>,
}

pub fn run(opts: &Opts, table: &mut Table) -> Result<()> {
    let (n_read, n_create) = (opts.reads, opts.creates);
    let sides = [
        Side::Baseline,
        Side::HostEngine,
        Side::HostProvider,
        Side::BaselineNoKeepAlive,
    ];
    let work = tempfile::tempdir()?;
    let work_dir = work.path().to_path_buf();
    std::fs::write(work_dir.join("symbee.key"), sd::API_KEY)?;
    let cache_dir = work_dir.join("cache");
    // Warm the component cache once, so workers load instead of compiling.
    Runtime::new(RuntimeOptions {
        cache_dir: Some(cache_dir.clone()),
    })?
    .load(roster_components::SYMBEE_WASM)?;
    let mut sandbox = SandboxChild::start()?;

    // (operation, users, concurrency, vendor latency): the last group adds a few milliseconds of
    // latency to every answer, as a real vendor API has, to show what the per-request costs
    // weigh there.
    let groups = [
        (Op::Read, n_read, 1usize, 0u64),
        (Op::Read, n_read, 32, 0),
        (Op::Create, n_create, 1, 0),
        (Op::Create, n_create, 32, 0),
        (Op::Read, n_read, 32, VENDOR_LATENCY_MS),
    ];
    for (op, n, c, latency) in groups {
        if op == Op::Read {
            sandbox.reset(n, latency)?;
        }
        {
            let mut sides = sides.to_vec();
            if op == Op::Create && c == 1 {
                // What an apply with one operation in flight writes; measured next to the engine
                // runs it explains (the disk is shared and noisy).
                sides.push(Side::StateWrites);
            }
            if latency > 0 {
                sides.truncate(3); // baseline, engine, provider
            }
            let mut cells: Vec<(Side, Cell)> =
                sides.iter().map(|s| (*s, Cell::default())).collect();
            let mut pair_ratios = vec![];
            for rep in 0..opts.reps {
                // Rotate the order from one repetition to the next.
                let mut order: Vec<usize> = (0..sides.len()).collect();
                order.rotate_left(rep % sides.len());
                let mut this_rep = vec![f64::NAN; sides.len()];
                for &k in &order {
                    let side = sides[k];
                    if side == Side::StateWrites && rep >= 3 {
                        continue; // no network, little noise: three are enough
                    }
                    if op == Op::Create {
                        sandbox.reset(0, latency)?;
                    }
                    let spec = WorkerSpec {
                        side,
                        op,
                        url: sandbox.url.clone(),
                        n,
                        concurrency: c,
                        cache_dir: cache_dir.clone(),
                        work_dir: work_dir.clone(),
                    };
                    let sandbox_cpu = sandbox.cpu();
                    let res = run_worker(&spec)?;
                    let sandbox_cpu = sandbox.cpu() - sandbox_cpu;
                    eprintln!(
                        "   {op:?} n={n} c={c} latency {latency} ms rep {rep} {:<24} {:>8.3} s  cpu {:.2} s  sandbox cpu {:.2} s  rss {}  ok {} failed {}{}",
                        side.label(),
                        res.elapsed_s,
                        res.cpu_s,
                        sandbox_cpu,
                        util::rss(res.vmhwm_kib),
                        res.ok,
                        res.failed,
                        res.first_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
                    );
                    this_rep[k] = res.elapsed_s;
                    let cell = &mut cells[k].1;
                    cell.elapsed.push(res.elapsed_s);
                    cell.cpu.push(res.cpu_s);
                    cell.sandbox_cpu.push(sandbox_cpu);
                    cell.rss.push(res.vmhwm_kib as f64);
                    cell.instances.push(res.instances as f64);
                    cell.failed += res.failed;
                    if cell.first_error.is_none() {
                        cell.first_error = res.first_error.clone();
                    }
                    cell.phases.extend(res.phases);
                }
                pair_ratios.push((this_rep[1] / this_rep[0], this_rep[2] / this_rep[0]));
            }
            report(table, op, n, c, latency, &cells, &pair_ratios);
        }
    }
    let stats = sandbox.stats()?;
    table.add(
        3,
        "sandbox: 401s / 429s seen over the whole figure",
        format!("{} / {}", stats["unauthorized"], stats["rate_limited"]),
        "should be 0 / 0",
    );
    drop(sandbox);
    Ok(())
}

fn report(
    table: &mut Table,
    op: Op,
    n: usize,
    c: usize,
    latency: u64,
    cells: &[(Side, Cell)],
    pair_ratios: &[(f64, f64)],
) {
    let what = match op {
        Op::Read => format!("plan (read) {n} Symbee users"),
        Op::Create => format!("apply (create) {n} Symbee users"),
    };
    let what = if latency > 0 {
        format!("{what} with {latency} ms vendor latency")
    } else {
        what
    };
    let base = median(&cells[0].1.elapsed);
    for (side, cell) in cells {
        let t = median(&cell.elapsed);
        let per_op_cpu = median(&cell.cpu) / n as f64;
        let sandbox_cpu = median(&cell.sandbox_cpu) / n as f64;
        let mut note = format!(
            "{:.0} ops/s; CPU/op {} client + {} sandbox",
            n as f64 / t,
            util::micros(per_op_cpu),
            util::micros(sandbox_cpu)
        );
        if *side != Side::Baseline {
            let r = t / base;
            note = format!("{} of baseline; {note}", util::ratio(r));
            if let (Some(goal), Side::HostEngine) = (engine_goal(op, c, latency), side) {
                table.goal(
                    3,
                    format!("{what}, c={c}: engine against reqwest"),
                    format!("≤ {goal}×"),
                    format!(
                        "{} vs {} = {}",
                        util::secs(t),
                        util::secs(base),
                        util::ratio(r)
                    ),
                    r <= goal,
                );
            }
        }
        if *side == Side::HostEngine || *side == Side::HostProvider {
            note.push_str(&format!("; {} instances", median(&cell.instances)));
        }
        if cell.failed > 0 {
            note.push_str(&format!(
                "; {} FAILED ops: {}",
                cell.failed,
                cell.first_error.as_deref().unwrap_or("")
            ));
        }
        table.add(
            3,
            format!("{what}, c={c}: {}", side.label()),
            util::secs(t),
            note,
        );
    }
    let (lo_e, hi_e) = minmax(pair_ratios.iter().map(|p| p.0));
    let (lo_p, hi_p) = minmax(pair_ratios.iter().map(|p| p.1));
    table.add(
        3,
        format!("{what}, c={c}: ratio host/baseline"),
        format!(
            "engine {}, provider {}",
            util::ratio(median(&cells[1].1.elapsed) / base),
            util::ratio(median(&cells[2].1.elapsed) / base)
        ),
        format!("per-repetition ranges: engine {lo_e:.2}–{hi_e:.2}, provider {lo_p:.2}–{hi_p:.2}"),
    );
    // The engine's own parts, when it reported them (create: plan vs apply; state file size).
    let engine = &cells[1].1;
    let phase = |name: &str| -> Vec<f64> {
        engine
            .phases
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .collect()
    };
    if let Some((_, writes)) = cells.iter().find(|(s, _)| *s == Side::StateWrites) {
        let total = median(&writes.elapsed);
        let part = |name: &str| {
            median(
                &writes
                    .phases
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| *v)
                    .collect::<Vec<_>>(),
            )
        };
        let encode = part("encode only");
        let w = (2 * n) as f64;
        table.add(
            3,
            format!("{what}, c={c}: engine state writes alone, split"),
            format!("{} per create", util::secs(total / n as f64)),
            format!(
                "2 journal commits per create, {} each: {} encoding the line, {} appending + fsync (and the first commit's snapshot)",
                util::secs(total / w),
                util::secs(encode / w),
                util::secs((total - encode).max(0.0) / w)
            ),
        );
    }
    if op == Op::Create {
        let bytes = median(&phase("final state file bytes"));
        table.add(
            3,
            format!("{what}, c={c}: engine breakdown"),
            format!(
                "plan {} + apply {}",
                util::secs(median(&phase("plan"))),
                util::secs(median(&phase("apply")))
            ),
            format!(
                "{:.0} state-file writes (fsync'd) for {n} creates; final state file {:.0} KB",
                median(&phase("state writes")),
                bytes / 1000.0
            ),
        );
    }
    if latency > 0 {
        return;
    }
    if op == Op::Read && c == 32 {
        let parse = median(&phase("parse roster file (untimed)"));
        table.add(
            3,
            format!("{what}: parse roster file (not in the figures above)"),
            util::secs(parse),
            "RosterFile::parse",
        );
    }
    // Peak memory (figure 5).
    if c == 32 {
        let rss: Vec<String> = cells
            .iter()
            .map(|(s, cell)| format!("{} {}", s.label(), util::rss(median(&cell.rss) as u64)))
            .collect();
        let before = median(&phase("peak RSS before plan (KiB)"));
        let before = if before.is_finite() {
            format!(
                "; engine's peak before plan() (roster file parsed, state built): {}",
                util::rss(before as u64)
            )
        } else {
            String::new()
        };
        table.add(
            5,
            format!("peak RSS, {what}, c={c}"),
            rss[..3].join(" / "),
            format!("VmHWM of each worker process; {}{before}", rss[3]),
        );
    }
}

fn minmax(it: impl Iterator<Item = f64>) -> (f64, f64) {
    it.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    })
}
