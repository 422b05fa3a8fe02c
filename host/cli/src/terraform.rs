//! `roster terraform`: Roster's components as Terraform and OpenTofu providers — packages in a
//! filesystem mirror (the host executable, the component, its grant), and the docs of their
//! resources. The serving itself is `roster_terraform::serve`, run when Terraform starts a
//! package's executable (this binary under the name `terraform-provider-TYPE_vVERSION`).

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use roster_engine::grants::{self, Grant};
use roster_engine::provider::ComponentProvider;
use roster_engine::rosterfile::{ComponentRef, ProviderDecl, RosterFile};
use roster_runtime::types::{ProviderError, ProviderMetadata};
use roster_runtime::{CallError, Code, Provider, Runtime};
use roster_terraform::package::{self, Source, COMPONENT_FILE};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum TerraformCommand {
    /// Write the built-in providers (nimbus, symbee) into a filesystem mirror Terraform and OpenTofu install from.
    Install(InstallArgs),
    /// Package any provider component as a Terraform provider in a filesystem mirror.
    Package(PackageArgs),
    /// Write Markdown docs for every resource and data source, generated from the components' schemas.
    Docs {
        /// Where to write them.
        #[arg(long, default_value = "docs/terraform")]
        out: PathBuf,
        /// Source namespace the examples use (HOSTNAME/NAMESPACE).
        #[arg(long, default_value = DEFAULT_NAMESPACE)]
        namespace: String,
    },
}

/// Where `terraform init` looks first: the implied local mirror of the working directory.
const DEFAULT_MIRROR: &str = "terraform.d/plugins";
/// A namespace under a reserved, never-resolving hostname (RFC 2606): packages here are found
/// only in mirrors, never fetched.
const DEFAULT_NAMESPACE: &str = "roster.example/roster";

/// What the package grants: the provider block the component will be configured with.
#[derive(Args)]
pub struct GrantArgs {
    /// Take the provider block (config, secrets, allowed hosts) from this roster file; its roster.lock must grant it already.
    #[arg(long, value_name = "ROSTER_FILE")]
    from: Option<PathBuf>,
    /// A config key the Terraform provider block sets, KEY=VALUE (install: TYPE.KEY=VALUE).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A secret's source, NAME=SOURCE with SOURCE env:…, file:… or aws-sm:… (install: TYPE.NAME=SOURCE).
    #[arg(long = "secret", value_name = "NAME=SOURCE")]
    secrets: Vec<String>,
    /// A host to allow besides those the config names, as in `allowed_hosts` (install: TYPE=HOST).
    #[arg(long = "allow-host", value_name = "HOST")]
    hosts: Vec<String>,
}

#[derive(Args)]
pub struct InstallArgs {
    /// The filesystem mirror (Terraform's implied one in the working directory by default).
    #[arg(long, default_value = DEFAULT_MIRROR)]
    mirror: PathBuf,
    /// The source namespace, HOSTNAME/NAMESPACE (an explicit hostname, so Terraform and OpenTofu share it).
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// Install only these built-ins (default: all).
    #[arg(long = "only", value_name = "TYPE")]
    only: Vec<String>,
    #[command(flatten)]
    grant: GrantArgs,
}

#[derive(Args)]
pub struct PackageArgs {
    /// The component (.wasm).
    component: PathBuf,
    /// HOSTNAME/NAMESPACE/TYPE; every resource type of the component must start with `TYPE_`.
    #[arg(long)]
    source: String,
    /// The provider version (semantic: 1.2.0).
    #[arg(long)]
    version: String,
    /// The filesystem mirror.
    #[arg(long, default_value = DEFAULT_MIRROR)]
    mirror: PathBuf,
    /// The provider block in the roster file `--from` names (default: the one named as TYPE).
    #[arg(long, value_name = "NAME", requires = "from")]
    provider: Option<String>,
    #[command(flatten)]
    grant: GrantArgs,
}

pub async fn run(runtime: &Runtime, command: &TerraformCommand) -> Result<i32> {
    match command {
        TerraformCommand::Install(args) => install(runtime, args).await,
        TerraformCommand::Package(args) => package_one(runtime, args).await,
        TerraformCommand::Docs { out, namespace } => docs(runtime, out, namespace).await,
    }
}

/// `KEY=VALUE` pairs for provider `type_name`: with a `TYPE.` prefix when `prefixed` (install),
/// where pairs for other types are skipped.
fn pairs<'a>(
    items: &'a [String],
    type_name: &str,
    prefixed: bool,
    what: &str,
) -> Result<Vec<(&'a str, &'a str)>> {
    let mut out = Vec::new();
    for item in items {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--{what} `{item}`: expected KEY=VALUE"))?;
        if prefixed {
            let (t, k) = key.split_once('.').ok_or_else(|| anyhow!("--{what} `{item}`: name the provider, TYPE.KEY=VALUE (e.g. nimbus.cluster=ch-01)"))?;
            if t == type_name {
                out.push((k, value));
            }
        } else {
            out.push((key, value));
        }
    }
    Ok(out)
}

/// The provider block the flags describe, as a roster.toml provider table.
fn table_from_flags(g: &GrantArgs, type_name: &str, prefixed: bool) -> Result<Map<String, Value>> {
    let mut config = Map::new();
    for (k, v) in pairs(&g.config, type_name, prefixed, "config")? {
        config.insert(k.to_string(), Value::String(v.to_string()));
    }
    let mut secrets = Map::new();
    for (k, v) in pairs(&g.secrets, type_name, prefixed, "secret")? {
        secrets.insert(k.to_string(), Value::String(v.to_string()));
    }
    let hosts: Vec<Value> = if prefixed {
        g.hosts
            .iter()
            .map(|h| {
                h.split_once('=')
                    .ok_or_else(|| anyhow!("--allow-host `{h}`: name the provider, TYPE=HOST"))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|(t, _)| *t == type_name)
            .map(|(_, h)| Value::String(h.to_string()))
            .collect()
    } else {
        g.hosts.iter().map(|h| Value::String(h.clone())).collect()
    };
    let mut table = Map::new();
    table.insert("config".into(), Value::Object(config));
    table.insert("secrets".into(), Value::Object(secrets));
    table.insert("allowed_hosts".into(), Value::Array(hosts));
    Ok(table)
}

/// The provider declaration a package grants: from a roster file (which must grant it in its
/// roster.lock already) or from the flags.
fn declaration(
    g: &GrantArgs,
    type_name: &str,
    instance: Option<&str>,
    prefixed: bool,
) -> Result<ProviderDecl> {
    if let Some(path) = &g.from {
        if !(g.config.is_empty() && g.secrets.is_empty() && g.hosts.is_empty()) {
            bail!("--from takes the provider block from the roster file: give either it or --config/--secret/--allow-host");
        }
        let file = RosterFile::load(&std::path::absolute(path)?)?;
        let by_name = instance.and_then(|n| file.providers.get(n));
        let decl = by_name
            .or_else(|| file.providers.get(type_name))
            .or_else(|| {
                file.providers
                    .values()
                    .find(|d| matches!(&d.component, ComponentRef::Builtin(b) if b == type_name))
            });
        return decl.cloned().ok_or_else(|| {
            anyhow!(
                "{} declares no provider `{}`",
                path.display(),
                instance.unwrap_or(type_name)
            )
        });
    }
    let base = std::env::current_dir()?;
    roster_engine::rosterfile::provider_from_table(
        type_name,
        &table_from_flags(g, type_name, prefixed)?,
        &base,
    )
    .map_err(|errs| {
        anyhow!(
            "{}",
            errs.into_iter()
                .map(|(k, m)| format!("{k}: {m}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// The directory `file:` secrets of the package's grant are relative to: the roster file's
/// (`--from`, whose directory is then Terraform's working directory) or the current one.
fn grant_dir(g: &GrantArgs) -> Result<PathBuf> {
    let dir = match &g.from {
        Some(f) => std::path::absolute(f)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        None => std::env::current_dir()?,
    };
    Ok(dir)
}

/// What the component asks for under `decl`, without giving it a host or a secret; `file:`
/// secrets relative to `dir` where under it, as the host compares them at start (against
/// Terraform's working directory).
async fn ask(
    runtime: &Runtime,
    code: &Code<'_>,
    decl: &ProviderDecl,
    meta: &ProviderMetadata,
    dir: &Path,
) -> Result<Grant> {
    match ComponentProvider::ask(runtime, code, COMPONENT_FILE, decl).await {
        Ok(g) => Ok(Grant {
            secrets: g
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), roster_engine::workspace::lock_label(dir, v)))
                .collect(),
            ..g
        }),
        Err(CallError::Provider(ProviderError::InvalidConfig(f))) => {
            let keys: Vec<String> = meta
                .config_schema
                .iter()
                .map(|a| {
                    format!(
                        "{}{}",
                        a.name,
                        if a.presence == roster_runtime::types::Presence::Required {
                            " (required)"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            bail!(
                "provider {}: {} — a package grants what the component reaches under the provider block Terraform will give it, so give that block: --config KEY=VALUE for its keys ({}), --secret NAME=SOURCE, --allow-host HOST, or --from ROSTER_FILE",
                meta.name,
                roster_runtime::describe(&ProviderError::InvalidConfig(f)),
                keys.join(", ")
            )
        }
        Err(e) => Err(anyhow!("provider {}: {e}", meta.name)),
    }
}

/// When `--from` names a roster file, its roster.lock must already grant what the package will.
fn check_reviewed(g: &GrantArgs, instance: &str, wanted: &Grant) -> Result<()> {
    let Some(path) = &g.from else { return Ok(()) };
    let lock = grants::load(path).map_err(|e| anyhow!(e))?.ok_or_else(|| {
        anyhow!(
            "no roster.lock beside {}: review the providers with `roster grant` first",
            path.display()
        )
    })?;
    let Some(granted) = lock.providers.get(instance) else {
        bail!(
            "{} grants no provider `{instance}`: run `roster grant` first",
            grants::path_for(path).display()
        )
    };
    // The same capabilities (the component is labelled differently in a package, secret files
    // relative to the roster file in its lock).
    let missing = grants::not_granted(
        Some(&Grant {
            component: wanted.component.clone(),
            ..granted.clone()
        }),
        wanted,
    );
    if !missing.is_empty() {
        bail!("{} does not grant provider `{instance}` what the package would: {}; run `roster grant` and review it first", grants::path_for(path).display(), missing.join("; "));
    }
    Ok(())
}

/// Writes one package and says what it grants.
fn write_package(
    mirror: &Path,
    source: &Source,
    version: &str,
    wasm: &[u8],
    grant: &Grant,
) -> Result<()> {
    let host = std::env::current_exe().context("finding this executable")?;
    let dir = package::package_dir(mirror, source, version);
    package::write(&dir, &host, source, version, wasm, grant)?;
    println!("{source} {version} → {}", dir.display());
    for line in grants::changes(None, grant) {
        println!("  {line}");
    }
    Ok(())
}

fn required_providers(sources: &[(Source, String)]) -> String {
    let mut out = String::from("terraform {\n  required_providers {\n");
    for (s, v) in sources {
        out.push_str(&format!(
            "    {} = {{\n      source  = \"{s}\"\n      version = \"{v}\"\n    }}\n",
            s.type_name
        ));
    }
    out.push_str("  }\n}\n");
    out
}

fn closing(mirror: &Path, sources: &[(Source, String)]) {
    println!(
        "\nIn your configuration:\n\n{}",
        required_providers(sources)
    );
    if mirror != Path::new(DEFAULT_MIRROR) {
        println!("The mirror is not the implied one (./{DEFAULT_MIRROR}): name it in a CLI configuration file (TF_CLI_CONFIG_FILE) with a filesystem_mirror block.");
    }
    println!("Then `terraform init`: .terraform.lock.hcl pins each package — host, component and grant. Commit it and review its changes.");
}

async fn install(runtime: &Runtime, args: &InstallArgs) -> Result<i32> {
    let ns: Vec<&str> = args.namespace.split('/').collect();
    if ns.len() != 2 {
        bail!(
            "--namespace `{}`: give HOSTNAME/NAMESPACE, e.g. {DEFAULT_NAMESPACE}",
            args.namespace
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    for o in &args.only {
        if roster_components::builtin(o).is_none() {
            bail!(
                "--only {o}: no such built-in provider (built-in: {})",
                roster_components::BUILTINS
                    .iter()
                    .map(|b| b.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let mut done = Vec::new();
    for b in roster_components::BUILTINS
        .iter()
        .filter(|b| args.only.is_empty() || args.only.iter().any(|o| o == b.name))
    {
        let source = package::parse_source(&format!("{}/{}", args.namespace, b.name))
            .map_err(|e| anyhow!(e))?;
        let code = Code::new(b.wasm);
        let meta = Provider::inspect(runtime, &code)
            .await
            .with_context(|| format!("inspecting the built-in {}", b.name))?;
        let decl = declaration(&args.grant, b.name, None, true)?;
        let grant = ask(runtime, &code, &decl, &meta, &grant_dir(&args.grant)?).await?;
        check_reviewed(&args.grant, &decl.name, &grant)?;
        write_package(&args.mirror, &source, version, b.wasm, &grant)?;
        done.push((source, version.to_string()));
    }
    closing(&args.mirror, &done);
    Ok(0)
}

async fn package_one(runtime: &Runtime, args: &PackageArgs) -> Result<i32> {
    let source = package::parse_source(&args.source).map_err(|e| anyhow!(e))?;
    package::check_version(&args.version).map_err(|e| anyhow!(e))?;
    let wasm = std::fs::read(&args.component)
        .with_context(|| format!("reading {}", args.component.display()))?;
    let code = Code::new(&wasm);
    let meta = Provider::inspect(runtime, &code)
        .await
        .with_context(|| format!("inspecting {}", args.component.display()))?;
    let prefix = format!("{}_", source.type_name);
    let strays: Vec<&str> = meta
        .resources
        .iter()
        .map(|r| r.type_name.as_str())
        .chain(meta.data_sources.iter().map(|d| d.name.as_str()))
        .filter(|t| !t.starts_with(&prefix))
        .collect();
    if !strays.is_empty() {
        bail!(
            "{}: Terraform finds a resource's provider by its type's prefix, and these do not start with `{prefix}`: {}; choose the source's TYPE to match (the component calls itself `{}`)",
            args.component.display(),
            strays.join(", "),
            meta.name
        );
    }
    println!("{} {} — {}", meta.name, meta.version, meta.description);
    let decl = declaration(
        &args.grant,
        &source.type_name,
        args.provider.as_deref(),
        false,
    )?;
    let grant = ask(runtime, &code, &decl, &meta, &grant_dir(&args.grant)?).await?;
    check_reviewed(&args.grant, &decl.name, &grant)?;
    write_package(&args.mirror, &source, &args.version, &wasm, &grant)?;
    closing(&args.mirror, &[(source, args.version.clone())]);
    Ok(0)
}

async fn docs(runtime: &Runtime, out: &Path, namespace: &str) -> Result<i32> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for b in roster_components::BUILTINS {
        let meta = Provider::inspect(runtime, &Code::new(b.wasm)).await?;
        for (name, text) in roster_terraform::docs::pages(&meta, &format!("{namespace}/{}", b.name))
        {
            let path = out.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    Ok(0)
}
