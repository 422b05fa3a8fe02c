//! `roster`: provision contact-centre users the way Terraform provisions infrastructure.

mod demo;
mod progress;
mod render;
mod schemas;
mod sim;
mod terraform;

use crate::render::Style;
use anyhow::{anyhow, bail, Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use roster_engine::apply::{self, ApplyOptions};
use roster_engine::lock::StateLock;
use roster_engine::plan::{self, Plan, PlanOptions, ReadPolicy};
use roster_engine::planfile;
use roster_engine::rosterfile::{FileError, FileErrors, RosterFile};
use roster_engine::store::{StateFile, StateStore};
use roster_engine::workspace::Workspace;
use roster_runtime::{Runtime, RuntimeOptions};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "roster",
    version,
    about = "Provision contact-centre users like infrastructure: plan, apply, state."
)]
struct Cli {
    /// The roster file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "roster.toml",
        env = "ROSTER_FILE"
    )]
    file: PathBuf,
    /// The state file (default: settings.state, else roster.state.json beside the roster file).
    #[arg(long, global = true)]
    state: Option<PathBuf>,
    /// How long to wait for another roster process holding the state lock (seconds).
    #[arg(long, global = true, default_value_t = 0.0)]
    lock_timeout: f64,
    /// Where compiled components are cached.
    #[arg(long, global = true, env = "ROSTER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile components every time instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Never use colours.
    #[arg(long, global = true)]
    no_color: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the roster file (syntax, providers, attributes) without touching the network.
    Validate {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what each provider asks for (component hash, hosts, secret sources) and grant it in roster.lock.
    Grant,
    /// Publish a provider component to an OCI registry (the Wasm OCI layout `wkg oci push` writes).
    Component {
        #[command(subcommand)]
        command: ComponentCommand,
    },
    /// Serve components to Terraform and OpenTofu: install the built-ins, package others, write their docs.
    Terraform {
        #[command(subcommand)]
        command: terraform::TerraformCommand,
    },
    /// Show what apply would do.
    Plan {
        /// Save the plan; `roster apply FILE` executes exactly it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Only compare the state with the vendors; plan no actions.
        #[arg(long)]
        refresh_only: bool,
        /// Only these resource addresses (TYPE.NAME; a name that is not bare may be quoted,
        /// TYPE."ada@example.com", or written as is); repeatable.
        #[arg(long, value_parser = roster_engine::address::canonical)]
        target: Vec<String>,
        /// Plan deleting everything managed.
        #[arg(long)]
        destroy: bool,
        #[command(flatten)]
        reads: ReadArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make the vendors match the roster file (or execute a saved plan).
    Apply(ApplyArgs),
    /// Delete everything the state manages.
    Destroy(ApplyArgs),
    /// Take existing objects into the state: one declared in the roster file (TYPE ID), or
    /// every id of a CSV file (--csv), writing their declarations (rows or blocks) first.
    Import(ImportArgs),
    /// Inspect or edit the state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Read one object from its vendor.
    Get {
        /// Resource type, e.g. nimbus_user.
        type_name: String,
        /// The object's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Query a data source, e.g. nimbus_license_usage.
    Query {
        /// Data source name.
        data_source: String,
        /// Arguments as KEY=VALUE; repeatable.
        #[arg(long = "arg")]
        args: Vec<String>,
    },
    /// List the built-in providers, or show one provider's schemas.
    Providers {
        /// A provider name; omit to list them.
        name: Option<String>,
        /// Show the provider in this component file instead.
        #[arg(long, conflicts_with = "name")]
        wasm: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the Nimbus and Symbee sandboxes until interrupted.
    Sim(sim::SimArgs),
    /// Run plan, apply and plan again against built-in sandboxes, then show them.
    Demo,
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args)]
struct ApplyArgs {
    /// A plan saved with `roster plan --out`.
    plan_file: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// Allow deleting more objects than settings.mass_delete_threshold.
    #[arg(long)]
    allow_mass_delete: bool,
    /// Allow replacements that lose data at the vendor (e.g. a Nimbus user's configuration).
    #[arg(long)]
    allow_replace: bool,
    /// Only these resource addresses (as for `roster plan`); repeatable.
    #[arg(long, value_parser = roster_engine::address::canonical)]
    target: Vec<String>,
    /// Only record what the vendors have now; change nothing there.
    #[arg(long)]
    refresh_only: bool,
    #[command(flatten)]
    reads: ReadArgs,
}

/// Which managed users a plan reads at the vendor (each read is one operation of its budget).
#[derive(clap::Args)]
struct ReadArgs {
    /// `--refresh=false`: read no managed user; plan from the state alone (users changed or
    /// deleted outside Roster go unnoticed). Pending records and adopt candidates are still read.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    refresh: bool,
    /// Read only records last read longer ago than AGE (e.g. 90s, 30m, 12h, 7d), plus those the
    /// roster file changes or removes and every pending one.
    #[arg(long, value_name = "AGE", conflicts_with = "refresh")]
    refresh_stale: Option<String>,
}

impl ReadArgs {
    /// The engine's read policy; `refresh_only` (which exists to read) refuses reading less.
    fn policy(&self, refresh_only: bool) -> Result<ReadPolicy> {
        let policy = match (&self.refresh_stale, self.refresh) {
            (Some(age), _) => ReadPolicy::Stale {
                before: time::OffsetDateTime::now_utc() - parse_age(age)?,
            },
            (None, false) => ReadPolicy::None,
            (None, true) => ReadPolicy::All,
        };
        if refresh_only && policy != ReadPolicy::All {
            bail!("--refresh-only reads every managed user; it does not go with --refresh=false or --refresh-stale");
        }
        Ok(policy)
    }
}

/// `90s`, `30m`, `12h`, `7d` (a bare number is seconds).
fn parse_age(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = number.parse().map_err(|_| {
        anyhow!("--refresh-stale {text}: expected a whole number with s, m, h or d, e.g. 12h")
    })?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => bail!("--refresh-stale {text}: unknown unit `{other}`; use s, m, h or d"),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// What the plan output adds when it did not read everything.
fn read_note(policy: &ReadPolicy, p: &Plan) -> Option<String> {
    match policy {
        ReadPolicy::All => None,
        ReadPolicy::None => Some(format!("Note: planned from the state alone (--refresh=false; {} read): users changed or deleted outside Roster are not seen.", p.reads.len())),
        ReadPolicy::Stale { .. } => Some(format!("Note: read only {} stale, changed or pending record(s) (--refresh-stale); the rest are trusted as last read.", p.reads.len())),
    }
}

#[derive(clap::Args)]
struct ImportArgs {
    /// Resource type, e.g. nimbus_user (with --rows, the source's type is used).
    type_name: Option<String>,
    /// The object's id at the vendor (not with --csv).
    id: Option<String>,
    /// Import every id in this CSV: a header row, then one object a row. Objects that exist are
    /// recorded and declared; those that do not are listed, not recorded.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Declare the new ones as rows appended to this [rows.NAME] source's CSV (default:
    /// [resource.TYPE.NAME] blocks appended to the roster file).
    #[arg(long, value_name = "NAME", requires = "csv")]
    rows: Option<String>,
    /// The column holding the ids (default: the id attribute's name, e.g. o365_id — with --rows,
    /// the column the source takes the id from — else `id`).
    #[arg(long, value_name = "COLUMN", requires = "csv")]
    id_column: Option<String>,
    /// The column naming each resource (default: `name`, or with --rows the source's key column,
    /// when the CSV has it; else a name made from the id).
    #[arg(long, value_name = "COLUMN", requires = "csv")]
    name_column: Option<String>,
}

#[derive(Subcommand)]
enum ComponentCommand {
    /// Push a component: `roster component push nimbus.wasm oci://registry.example.com/roster/nimbus:0.1.0`.
    Push {
        /// The component (.wasm).
        wasm: PathBuf,
        /// Where: oci://HOST/REPOSITORY:TAG (oci+http:// for a plain-HTTP registry).
        reference: String,
    },
}

#[derive(Subcommand)]
enum StateCommand {
    /// List managed addresses.
    List,
    /// Show one record.
    Show {
        /// TYPE.NAME (a name that is not bare may be quoted or written as is)
        #[arg(value_parser = roster_engine::address::canonical)]
        address: String,
    },
    /// Forget a record (the object is left at the vendor).
    Rm {
        /// TYPE.NAME (a name that is not bare may be quoted or written as is)
        #[arg(value_parser = roster_engine::address::canonical)]
        address: String,
    },
}

/// Tells the user what the state store noticed (on stderr: output stays the command's).
fn warn(warnings: Vec<String>) {
    for w in warnings {
        eprintln!("Warning: {w}");
    }
}

fn main() {
    // Installed in a Terraform mirror as `terraform-provider-TYPE_vVERSION`: serve the package
    // this executable sits in (Terraform starts it), or say what it is (a person did).
    let argv0 = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .unwrap_or_default();
    if argv0
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("terraform-provider-"))
    {
        std::process::exit(serve_terraform());
    }
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    };
    runtime.shutdown_timeout(Duration::from_millis(100));
    std::process::exit(code);
}

/// `roster component push`: checks the component speaks the contract, then publishes it.
async fn push_component(cli: &Cli, wasm: &Path, reference: &str) -> Result<i32> {
    let r = roster_oci::Reference::parse(reference).map_err(|e| anyhow!(e))?;
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let runtime = runtime(cli)?;
    let meta = roster_runtime::Provider::inspect(&runtime, &roster_runtime::Code::new(&bytes))
        .await
        .with_context(|| {
            format!(
                "{} is not a provider component this host speaks",
                wasm.display()
            )
        })?;
    let (exports, imports) = (runtime.exports(&bytes)?, runtime.imports(&bytes)?);
    let manifest = roster_oci::Registry::new()
        .push(&r, &bytes, &exports, &imports)
        .await?;
    println!(
        "Pushed {} {} ({}) to {r}",
        meta.name,
        meta.version,
        roster_oci::digest(&bytes)
    );
    println!("manifest {manifest}");
    println!("\nIn a roster file: component = \"{r}\"; then `roster grant` pins its digest in roster.lock.");
    Ok(0)
}

/// Serves the Terraform provider package this executable is part of.
fn serve_terraform() -> i32 {
    if !roster_terraform::plugin::launched_by_terraform() {
        eprintln!("{}", roster_terraform::plugin::NOT_A_COMMAND);
        return 1;
    }
    let dir = match std::env::current_exe() {
        Ok(exe) => exe.parent().map(Path::to_path_buf).unwrap_or_default(),
        Err(e) => {
            eprintln!("cannot find this executable: {e}");
            return 1;
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = match runtime.block_on(roster_terraform::serve(&dir)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    };
    runtime.shutdown_timeout(Duration::from_secs(5));
    code
}

fn style(cli: &Cli) -> Style {
    Style {
        color: !cli.no_color
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// The per-process wasmtime runtime (engine, linker, compiled-code cache).
fn runtime(cli: &Cli) -> Result<Runtime> {
    let cache_dir = if cli.no_cache {
        None
    } else {
        cli.cache_dir
            .clone()
            .or_else(roster_runtime::ComponentCache::default_dir)
    };
    Runtime::new(RuntimeOptions { cache_dir })
}

/// The components built into this binary, for `Workspace::open`.
pub fn builtins() -> Vec<roster_engine::workspace::Builtin<'static>> {
    roster_components::BUILTINS
        .iter()
        .map(|b| (b.name, b.wasm))
        .collect()
}

/// The roster file's lock of granted capabilities; none is an error naming the fix.
fn lock_file(path: &Path) -> Result<roster_engine::grants::LockFile> {
    match roster_engine::grants::load(path).map_err(|e| anyhow!(e))? {
        Some(lock) => Ok(lock),
        None => bail!(
            "no {} beside {}: nothing is granted to the providers yet; review what they ask for (hosts, secret sources, component hashes) with `roster grant`, which writes it",
            roster_engine::grants::path_for(path).display(),
            path.display()
        ),
    }
}

async fn workspace(cli: &Cli, runtime: &Runtime) -> Result<Workspace> {
    let file = RosterFile::load(&cli.file)?;
    let lock = lock_file(&cli.file)?;
    Ok(Workspace::open(file, runtime, &builtins(), &lock).await?)
}

/// Writes roster.lock granting what the providers of the roster file at `path` ask for: the
/// first use of a sample roster that `roster demo` or `roster sim --write-roster` just wrote.
pub(crate) async fn grant_sample(
    runtime: &Runtime,
    path: &Path,
) -> Result<roster_engine::grants::LockFile> {
    let file = RosterFile::load(path)?;
    let lock = Workspace::wanted_grants(&file, runtime, &builtins()).await?;
    let lock_path = roster_engine::grants::path_for(path);
    std::fs::write(&lock_path, roster_engine::grants::render(&lock))
        .with_context(|| format!("writing {}", lock_path.display()))?;
    Ok(lock)
}

/// `roster grant`: shows what each provider asks for against roster.lock and writes it.
async fn grant(cli: &Cli) -> Result<i32> {
    let runtime = runtime(cli)?;
    let file = RosterFile::load(&cli.file)?;
    let wanted = Workspace::wanted_grants(&file, &runtime, &builtins()).await?;
    let path = roster_engine::grants::path_for(&cli.file);
    let granted = roster_engine::grants::load(&cli.file)
        .map_err(|e| anyhow!(e))?
        .unwrap_or_default();
    let mut changed = false;
    for (name, want) in &wanted.providers {
        let lines = roster_engine::grants::changes(granted.providers.get(name), want);
        if !lines.is_empty() {
            changed = true;
            println!("provider.{name} ({}):", want.component);
            for l in lines {
                println!("  {l}");
            }
        }
    }
    for name in granted
        .providers
        .keys()
        .filter(|n| !wanted.providers.contains_key(*n))
    {
        changed = true;
        println!("provider.{name}: no longer declared; its grant is removed");
    }
    if !changed {
        println!(
            "{} already grants what every provider asks for.",
            path.display()
        );
        return Ok(0);
    }
    std::fs::write(&path, roster_engine::grants::render(&wanted))
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "\nWrote {}: review it and commit it with the roster file.",
        path.display()
    );
    Ok(0)
}

/// The state file: `--state`, else the roster file's `settings.state` (by default
/// roster.state.json beside it). The one place this is decided.
fn state_path(cli: &Cli, file: Option<&RosterFile>) -> PathBuf {
    cli.state
        .clone()
        .or_else(|| file.map(|f| f.settings.state.clone()))
        .unwrap_or_else(|| cli.file.with_file_name("roster.state.json"))
}

fn state_file(cli: &Cli, ws: &Workspace) -> StateFile {
    StateFile::new(state_path(cli, Some(&ws.file)))
}

fn lock(cli: &Cli, state: &StateFile, operation: &str) -> Result<StateLock> {
    StateLock::acquire(
        state.path(),
        operation,
        Duration::from_secs_f64(cli.lock_timeout.max(0.0)),
    )
}

async fn run(cli: Cli) -> Result<i32> {
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "roster",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Sim(args) => sim::run(args, &runtime(&cli)?).await.map(|_| 0),
        Command::Demo => demo::run(&runtime(&cli)?, style(&cli)).await.map(|_| 0),
        Command::Grant => grant(&cli).await,
        Command::Component {
            command: ComponentCommand::Push { wasm, reference },
        } => push_component(&cli, wasm, reference).await,
        Command::Terraform { command } => terraform::run(&runtime(&cli)?, command).await,
        Command::Providers { name, wasm, json } => {
            schemas::providers(&runtime(&cli)?, name.clone(), wasm.clone(), *json)
                .await
                .map(|_| 0)
        }
        Command::Validate { json } => {
            let runtime = runtime(&cli)?;
            let errors = match RosterFile::load(&cli.file) {
                Err(e) => e.0,
                Ok(file) => {
                    let lock = lock_file(&cli.file)?;
                    match Workspace::open(file, &runtime, &builtins(), &lock).await {
                        Err(e) => e.0,
                        Ok(ws) => ws.validate().await,
                    }
                }
            };
            if *json {
                let list: Vec<_> = errors.iter().map(|e| serde_json::json!({ "file": e.file, "line": e.line, "key": e.key, "message": e.message })).collect();
                println!(
                    "{}",
                    serde_json::json!({ "valid": errors.is_empty(), "errors": list })
                );
            } else if errors.is_empty() {
                println!("{} is valid.", cli.file.display());
            } else {
                for e in &errors {
                    eprintln!("{e}");
                }
            }
            Ok(if errors.is_empty() { 0 } else { 1 })
        }
        Command::Plan {
            out,
            detailed_exitcode,
            refresh_only,
            target,
            destroy,
            reads,
            json,
        } => {
            let policy = reads.policy(*refresh_only)?;
            let runtime = runtime(&cli)?;
            let ws = checked_workspace(&cli, &runtime).await?;
            let sf = state_file(&cli, &ws);
            let _lock = lock(&cli, &sf, "plan")?;
            let state = sf.load()?;
            warn(sf.take_warnings());
            let options = PlanOptions {
                refresh_only: *refresh_only,
                destroy: *destroy,
                targets: target.clone(),
                reads: policy.clone(),
            };
            let p = plan::plan_with(&ws, &state, &options, progress::reads().as_ref()).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                print!("{}", render::plan(&p, style(&cli)));
                if let Some(note) = read_note(&policy, &p) {
                    println!("\n{note}");
                }
                let n = apply::deletions(&p);
                if n > ws.file.settings.mass_delete_threshold {
                    println!("\nWarning: this plan deletes or forgets {n} objects (threshold {}); apply will need --allow-mass-delete.", ws.file.settings.mass_delete_threshold);
                }
            }
            if let Some(path) = out {
                planfile::save(&p, path)?;
                if !*json {
                    println!(
                        "\nSaved the plan to {}. Apply exactly it with: roster apply {}",
                        path.display(),
                        path.display()
                    );
                }
            }
            let changes = !p.is_empty()
                || (*refresh_only && (!p.drift.is_empty() || !p.refreshed.is_empty()));
            Ok(if *detailed_exitcode && changes { 2 } else { 0 })
        }
        Command::Apply(args) => apply_command(&cli, args, false).await,
        Command::Destroy(args) => apply_command(&cli, args, true).await,
        Command::Import(args) => import(&cli, args).await,
        Command::State { command } => {
            let file = RosterFile::load(&cli.file).ok();
            let sf = StateFile::new(state_path(&cli, file.as_ref()));
            match command {
                StateCommand::List => {
                    for r in sf.load()?.resources {
                        let pending = if r.status == roster_engine::state::Status::Created {
                            String::new()
                        } else {
                            format!("  ({})", r.status)
                        };
                        println!("{}{pending}", r.address);
                    }
                }
                StateCommand::Show { address } => {
                    let state = sf.load()?;
                    let r = state
                        .get(address)
                        .ok_or_else(|| anyhow!("no {address} in the state"))?;
                    println!("{}", serde_json::to_string_pretty(r)?);
                }
                StateCommand::Rm { address } => {
                    let _lock = lock(&cli, &sf, "state rm")?;
                    let mut state = sf.load()?;
                    if !state.remove(address) {
                        bail!("no {address} in the state");
                    }
                    sf.save(&mut state)?;
                    println!("Removed {address} from the state; the object itself is untouched.");
                }
            }
            Ok(0)
        }
        Command::Get {
            type_name,
            id,
            json,
        } => {
            let runtime = runtime(&cli)?;
            let ws = workspace(&cli, &runtime).await?;
            match roster_engine::lookup::get(&ws, type_name, id).await? {
                None => bail!("{type_name} {id} does not exist"),
                Some(obj) if *json => println!("{}", serde_json::to_string_pretty(&obj)?),
                Some(obj) => {
                    let width = obj.keys().map(String::len).max().unwrap_or(0);
                    for (k, v) in &obj {
                        println!("{k:<width$} = {v}");
                    }
                }
            }
            Ok(0)
        }
        Command::Query { data_source, args } => {
            let runtime = runtime(&cli)?;
            let ws = workspace(&cli, &runtime).await?;
            let mut map = serde_json::Map::new();
            for a in args {
                let (k, v) = a
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--arg {a}: expected KEY=VALUE"))?;
                map.insert(k.to_string(), serde_json::Value::String(v.to_string()));
            }
            let value = roster_engine::lookup::query(&ws, data_source, &map).await?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(0)
        }
    }
}

/// The workspace, refused when the roster file does not validate.
async fn checked_workspace(cli: &Cli, runtime: &Runtime) -> Result<Workspace> {
    let ws = workspace(cli, runtime).await?;
    let errors = ws.validate().await;
    if !errors.is_empty() {
        return Err(FileErrors(errors).into());
    }
    Ok(ws)
}

async fn apply_command(cli: &Cli, args: &ApplyArgs, destroy: bool) -> Result<i32> {
    let policy = args.reads.policy(args.refresh_only)?;
    let runtime = runtime(cli)?;
    let ws = checked_workspace(cli, &runtime).await?;
    let sf = state_file(cli, &ws);
    let _lock = lock(cli, &sf, if destroy { "destroy" } else { "apply" })?;
    let style = style(cli);
    let (p, from_file) = match &args.plan_file {
        Some(_)
            if destroy
                || args.refresh_only
                || !args.target.is_empty()
                || policy != ReadPolicy::All =>
        {
            bail!("a saved plan is applied exactly as it was made, without reading again: --target, --refresh-only, --refresh and --refresh-stale (give them to `roster plan`) and destroy do not go with a plan file")
        }
        Some(path) => (planfile::load(path)?, true),
        None => {
            let state = sf.load()?;
            let options = PlanOptions {
                refresh_only: args.refresh_only,
                destroy,
                targets: args.target.clone(),
                reads: policy.clone(),
            };
            (
                plan::plan_with(&ws, &state, &options, progress::reads().as_ref()).await?,
                false,
            )
        }
    };
    if !from_file {
        print!("{}", render::plan(&p, style));
        if let Some(note) = read_note(&policy, &p) {
            println!("\n{note}");
        }
    }
    if p.is_empty() && p.refreshed.is_empty() && p.reads.is_empty() {
        return Ok(0);
    }
    if from_file {
        // Refused before anything happens when it does not fit this state, file and config.
        planfile::check(&ws, &p, &sf.load()?, !sf.path().exists())?;
    }
    apply::check_guards(
        &ws,
        &p,
        &ApplyOptions {
            allow_mass_delete: args.allow_mass_delete,
            allow_replace: args.allow_replace,
        },
    )?;
    if p.is_empty() && p.refreshed.is_empty() {
        // Nothing to do but record when each user was read (what --refresh-stale goes by).
        warn(
            apply::apply(&ws, &p, &sf, &ApplyOptions::default(), &apply::Silent)
                .await?
                .warnings,
        );
        return Ok(0);
    }
    if !args.auto_approve && !from_file && !p.is_empty() {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to apply without confirmation: run on a terminal, or pass --auto-approve"
            );
        }
        print!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            println!("Apply cancelled.");
            return Ok(1);
        }
    }
    let progress = progress::for_stderr(p.actions.len());
    let summary = apply::apply(
        &ws,
        &p,
        &sf,
        &ApplyOptions {
            allow_mass_delete: args.allow_mass_delete,
            allow_replace: args.allow_replace,
        },
        progress.as_ref(),
    )
    .await?;
    progress::finish(progress.as_ref());
    warn(summary.warnings.clone());
    print!("\n{}", render::summary(&summary, style));
    Ok(if summary.failed().is_empty() { 0 } else { 1 })
}

/// `roster import`: one declared object, or every id of a CSV.
async fn import(cli: &Cli, args: &ImportArgs) -> Result<i32> {
    use roster_engine::import::{self, WriteTo};
    let Some(csv) = &args.csv else {
        let (Some(type_name), Some(id)) = (&args.type_name, &args.id) else {
            bail!("give TYPE and ID (roster import nimbus_user 2b3c…), or --csv FILE for many");
        };
        let runtime = runtime(cli)?;
        let ws = workspace(cli, &runtime).await?;
        let sf = state_file(cli, &ws);
        let _lock = lock(cli, &sf, "import")?;
        let record = import::one(&ws, &sf, type_name, id).await?;
        println!("Imported {type_name} {id} as {}.", record.address);
        return Ok(0);
    };
    if args.id.is_some() {
        bail!("--csv imports the ids of the file: give no ID");
    }
    let runtime = runtime(cli)?;
    let ws = checked_workspace(cli, &runtime).await?;
    let rows = match &args.rows {
        Some(name) => Some(ws.file.rows.get(name).ok_or_else(|| {
            let known: Vec<&str> = ws.file.rows.keys().map(String::as_str).collect();
            anyhow!(
                "--rows {name}: {} has no [rows.{name}] (it has: {})",
                cli.file.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?),
        None => None,
    };
    let type_name = match (rows, &args.type_name) {
        (Some(r), Some(t)) if *t != r.type_name => {
            bail!("[rows.{}] declares {}, not {t}", r.name, r.type_name)
        }
        (Some(r), _) => r.type_name.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => {
            bail!("give the resource type: roster import TYPE --csv FILE (or --rows NAME)")
        }
    };
    let (_, schema) = ws
        .provider_for_type(&type_name)
        .ok_or_else(|| anyhow!("no declared provider offers resource type `{type_name}`"))?;
    let bytes = std::fs::read(csv).with_context(|| format!("reading {}", csv.display()))?;
    let located = |errors: Vec<roster_engine::rows::RowError>| {
        FileErrors(
            errors
                .into_iter()
                .map(|e| FileError::in_rows(csv, e, ""))
                .collect(),
        )
    };
    let table = roster_engine::rows::parse_csv(&bytes).map_err(located)?;
    let (id_column, name_column) = import::columns(
        &table,
        &schema.id_attribute,
        rows.map(|r| &r.template),
        args.id_column.as_deref(),
        args.name_column.as_deref(),
    )
    .map_err(|e| anyhow!("{}: {e}", csv.display()))?;
    let given = import::given(rows.map(|r| &r.template), schema, &table).map_err(located)?;
    let wanted: Vec<import::Wanted> = table
        .rows
        .iter()
        .zip(given)
        .map(|(row, given)| import::Wanted {
            id: row.cells[id_column].trim().to_string(),
            name: name_column
                .map(|i| row.cells[i].trim().to_string())
                .filter(|n| !n.is_empty()),
            origin: format!("{}:{}", csv.display(), row.line),
            given,
        })
        .collect();
    let sf = state_file(cli, &ws);
    let _lock = lock(cli, &sf, "import")?;
    let into = rows.map_or(WriteTo::Blocks, WriteTo::Rows);
    let done = import::many(
        &ws,
        &sf,
        &type_name,
        &wanted,
        into,
        progress::reads().as_ref(),
    )
    .await?;
    for (address, id) in &done.recorded {
        println!("Imported {type_name} {id} as {address}.");
    }
    for (id, address) in &done.already {
        println!("Already managed: {type_name} {id} as {address}.");
    }
    if let Some(path) = &done.written {
        println!(
            "\nDeclared {} new object(s) in {}: review it and commit it with the state.",
            done.generated,
            path.display()
        );
    }
    if !done.missing.is_empty() {
        println!(
            "\nNot found at the vendor, so not recorded ({}):",
            done.missing.len()
        );
        for w in &done.missing {
            println!("  {} ({})", w.id, w.origin);
        }
    }
    if !done.failed.is_empty() {
        eprintln!("\nNot imported ({}):", done.failed.len());
        for (id, why) in &done.failed {
            eprintln!("  {id}: {why}");
        }
    }
    println!(
        "\n{} imported, {} already managed, {} not found, {} not imported.",
        done.recorded.len(),
        done.already.len(),
        done.missing.len(),
        done.failed.len()
    );
    Ok(if done.failed.is_empty() { 0 } else { 1 })
}
