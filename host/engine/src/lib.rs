//! Roster's engine: the roster file, state and its lock, plans, and applying them with
//! per-provider pacing and retries — Terraform's plan/apply for contact-centre users.
//!
//! The front door, in the order a session goes: a [`rosterfile::RosterFile`] (what should
//! exist), its [`grants`] (`roster.lock`: what each component may reach and read), a
//! [`workspace::Workspace`] (the providers started on a [`roster_runtime::Runtime`] within
//! their grants), a [`plan::plan`] against the [`store::StateFile`], and [`apply::apply`]. The
//! engine prints nothing: plans and outcomes are data, presentation is the caller's. The rules
//! themselves are pure functions in [`decide`].
//!
//! One Symbee user, created against the Symbee simulator, then nothing left to do:
//!
//! ```
//! use roster_engine::{apply, grants, plan, rosterfile::RosterFile, store::StateFile, workspace::Workspace};
//! use roster_sim::symbee::{self, demo, SymbeeSeed};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let (_vendor, server) = symbee::start(SymbeeSeed::demo()).await?;
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("api_key"), demo::API_KEY)?;
//! let path = dir.path().join("roster.toml");
//! std::fs::write(&path, format!(r#"
//! [provider.symbee]
//! config = {{ base_url = "{url}/symbee-admin/api/users/", company_code = "{company}", environment = "{env}", secrets_region = "us-east-1", sso_mode = "saml" }}
//! secrets = {{ api_key = "file:api_key" }}
//!
//! [resource.symbee_user.mike]
//! login_user_id = "mmars@abc-gadgets.com"
//! first_name = "Mike"
//! last_name = "Mars"
//! user_template_name = "{template}"
//! "#, url = server.url(), company = demo::COMPANY, env = demo::ENV_SAML, template = demo::TEMPLATE))?;
//!
//! let runtime = roster_runtime::Runtime::new(roster_runtime::RuntimeOptions { cache_dir: None })?;
//! let builtins: Vec<_> = roster_components::BUILTINS.iter().map(|b| (b.name, b.wasm)).collect();
//! let file = RosterFile::load(&path)?;
//! // What `roster grant` shows and writes: here, granted as asked.
//! let lock = Workspace::wanted_grants(&file, &runtime, &builtins).await?;
//! std::fs::write(grants::path_for(&path), grants::render(&lock))?;
//!
//! let ws = Workspace::open(file, &runtime, &builtins, &lock).await?;
//! let state = StateFile::new(ws.file.settings.state.clone());
//! let p = plan::plan(&ws, &state.load()?, &Default::default()).await?;
//! assert_eq!(p.counts(), (1, 0, 0)); // one create
//! let done = apply::apply(&ws, &p, &state, &Default::default(), &apply::Silent).await?;
//! assert!(done.failed().is_empty());
//! assert!(plan::plan(&ws, &state.load()?, &Default::default()).await?.is_empty());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod address;
pub mod apply;
pub mod decide;
pub mod grants;
pub mod import;
pub mod journal;
mod ledger;
pub mod lock;
pub mod lookup;
pub mod ops;
pub mod pacing;
pub mod plan;
pub mod planfile;
pub mod provider;
pub mod rosterfile;
pub mod rows;
pub mod state;
pub mod store;
pub mod workspace;
