//! The `roster` binary end to end, against both sandboxes in this test process over loopback:
//! apply from empty, the no-op plan, drift, destroy, import, adopt, the mass-delete guard, lock
//! contention between two processes, the plan-file round trip and its staleness check, exit
//! codes, a rate-limited apply of 100 Nimbus users, and a SIGKILL mid-apply.

use roster_sim::nimbus::{self, demo as nd, NimbusSeed, NimbusSim};
use roster_sim::rate::{RateLimit, RateMode};
use roster_sim::symbee::{self, demo as sd, SymbeeSeed, SymbeeSim};
use roster_sim::Running;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

/// One compiled-component cache for every test (the first run compiles, the rest load).
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

struct World {
    nimbus: NimbusSim,
    symbee: SymbeeSim,
    nimbus_server: Running,
    symbee_server: Running,
    dir: tempfile::TempDir,
}

/// The demo tenant without its 60-per-minute limit (tests that are about pacing set their own).
fn open_seed() -> NimbusSeed {
    let mut seed = NimbusSeed::demo();
    seed.rate_limit = RateLimit {
        operations: 100_000,
        window_ms: 1000,
        mode: RateMode::Reject,
    };
    seed
}

fn guid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

impl World {
    async fn new(mut nimbus_seed: NimbusSeed) -> World {
        nimbus_seed.tenants[0].licenses[0].total = 1000;
        let (nimbus, nimbus_server) = nimbus::start(nimbus_seed).await.unwrap();
        let (symbee, symbee_server) = symbee::start(SymbeeSeed::demo()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nimbus.secret"), nd::CLIENT_SECRET).unwrap();
        std::fs::write(dir.path().join("symbee.key"), sd::API_KEY).unwrap();
        World {
            nimbus,
            symbee,
            nimbus_server,
            symbee_server,
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes roster.toml: providers, `extra` provider lines for nimbus, then `resources`.
    fn write(&self, nimbus_extra: &str, resources: &str) {
        let n = self.nimbus_server.url();
        let s = self.symbee_server.url();
        let text = format!(
            r#"
[provider.nimbus]
config = {{ admin_url = "{n}", login_url = "{n}", tenant_id = "{}", client_id = "{}" }}
secrets = {{ client_secret = "file:nimbus.secret" }}
{nimbus_extra}

[provider.symbee]
config = {{ base_url = "{s}/symbee-admin/api/users/", company_code = "{}", environment = "{}", secrets_region = "{}", sso_mode = "saml" }}
secrets = {{ api_key = "file:symbee.key" }}

{resources}
"#,
            nd::TENANT_ID,
            nd::CLIENT_ID,
            sd::COMPANY,
            sd::ENV_SAML,
            sd::SECRETS_REGION
        );
        std::fs::write(self.path("roster.toml"), text).unwrap();
        self.regrant();
    }

    /// `roster grant` (no network: it only asks the components what they want). An invalid file
    /// fails here and is reported by the command the test runs next.
    fn regrant(&self) {
        let _ = self.command(&["grant"]).output().unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(ROSTER);
        c.current_dir(self.dir.path())
            .args(args)
            .env("ROSTER_CACHE_DIR", cache_dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs roster in a blocking thread (the sandboxes live on this test's runtime).
    async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    fn nimbus_users(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.nimbus.update(|s| {
            s.tenants[0]
                .users
                .iter()
                .map(|u| u.o365_id.clone())
                .collect()
        });
        ids.retain(|i| i != nd::TEMPLATE_USER && i != nd::TEAMS_USER);
        ids.sort();
        ids
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("roster.state.json")).unwrap())
            .unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn nimbus_user(name: &str, id: &str, ou: &str) -> String {
    format!("[resource.nimbus_user.{name}]\no365_id = \"{id}\"\norganization_unit_id = \"{ou}\"\n")
}

fn symbee_user(name: &str, login: &str, extra: &str) -> String {
    format!("[resource.symbee_user.{name}]\nlogin_user_id = \"{login}\"\nfirst_name = \"F\"\nlast_name = \"L\"\nuser_template_name = \"{}\"\n{extra}\n", sd::TEMPLATE)
}

fn fast() -> &'static str {
    "rate_limit = { operations = 1000, per_seconds = 1 }"
}

/// The Nimbus operations the simulator admitted so far.
fn nimbus_ops(w: &World) -> u64 {
    w.nimbus.stats().operations
}

mod grants;
mod identity;
mod lifecycle;
mod rows;
