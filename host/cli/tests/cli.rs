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
    seed.rate_limit = RateLimit { operations: 100_000, window_ms: 1000, mode: RateMode::Reject };
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
        World { nimbus, symbee, nimbus_server, symbee_server, dir }
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
        c.current_dir(self.dir.path()).args(args).env("ROSTER_CACHE_DIR", cache_dir()).env("NO_COLOR", "1").stdin(Stdio::null());
        c
    }

    /// Runs roster in a blocking thread (the sandboxes live on this test's runtime).
    async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
    }

    fn nimbus_users(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.nimbus.update(|s| s.tenants[0].users.iter().map(|u| u.o365_id.clone()).collect());
        ids.retain(|i| i != nd::TEMPLATE_USER && i != nd::TEAMS_USER);
        ids.sort();
        ids
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("roster.state.json")).unwrap()).unwrap()
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
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

#[tokio::test]
async fn apply_from_empty_then_no_op_then_destroy() {
    let w = World::new(open_seed()).await;
    let resources = [nimbus_user("a", &guid(1), nd::OU_SALES), nimbus_user("b", &guid(2), nd::OU_SUPPORT), symbee_user("m", "mmars@abc-gadgets.com", "create_in_amazon_connect = true")].concat();
    w.write(fast(), &resources);

    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(2), "changes pending: {}", text(&o));
    assert!(text(&o).contains("Plan: 3 to add, 0 to replace, 0 to destroy."), "{}", text(&o));
    assert!(text(&o).contains("# nimbus_user.a will be created"));

    let o = w.run(&["apply"]).await;
    assert_eq!(o.status.code(), Some(1), "no terminal and no --auto-approve: refused");
    assert!(text(&o).contains("--auto-approve"), "{}", text(&o));
    assert!(w.nimbus_users().is_empty(), "nothing changed");

    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Apply complete! Resources: 3 added"), "{}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(1), guid(2)]);
    let state = w.state();
    assert_eq!(state["resources"].as_array().unwrap().len(), 3);
    assert!(state["resources"].as_array().unwrap().iter().all(|r| r["status"] == "created"));
    assert!(!std::fs::read_to_string(w.path("roster.state.json")).unwrap().contains(nd::CLIENT_SECRET), "no secret in state");

    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("No changes."));

    let o = w.run(&["state", "list"]).await;
    assert_eq!(String::from_utf8_lossy(&o.stdout), "nimbus_user.a\nnimbus_user.b\nsymbee_user.m\n");

    let o = w.run(&["destroy", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 destroyed"), "{}", text(&o));
    assert!(w.nimbus_users().is_empty());
    assert_eq!(w.symbee.update(|s| s.companies[0].environments[0].users.len()), 1, "only the seeded user is left");
    assert_eq!(w.state()["resources"], serde_json::json!([]));
}

#[tokio::test]
async fn drift_deleted_outside_is_recreated_and_ou_change_is_a_guarded_replace() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &[nimbus_user("a", &guid(1), nd::OU_SALES), nimbus_user("b", &guid(2), nd::OU_SALES)].concat());
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());

    // Deleted outside Roster.
    w.nimbus.update(|s| s.tenants[0].users.retain(|u| u.o365_id != guid(1)));
    // Organization unit changed outside Roster.
    w.nimbus.update(|s| s.tenants[0].users.iter_mut().find(|u| u.o365_id == guid(2)).unwrap().organization_unit_id = nd::OU_SUPPORT.into());
    let o = w.run(&["plan"]).await;
    let t = text(&o);
    assert!(t.contains("nimbus_user.a: deleted outside Roster"), "{t}");
    assert!(t.contains("# nimbus_user.a will be created (deleted outside Roster)"), "{t}");
    assert!(t.contains("organization_unit_id changed outside Roster"), "{t}");
    assert!(t.contains("# nimbus_user.b must be replaced"), "{t}");
    assert!(t.contains(&format!("organization_unit_id = \"{}\" -> \"{}\" # forces replacement", nd::OU_SUPPORT, nd::OU_SALES)), "{t}");
    assert!(t.contains("loses its configuration"), "the plan says what a Nimbus replacement costs: {t}");

    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--allow-replace"), "{}", text(&o));
    let o = w.run(&["apply", "--auto-approve", "--allow-replace"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let ou = w.nimbus.update(|s| s.tenants[0].users.iter().find(|u| u.o365_id == guid(2)).unwrap().organization_unit_id.clone());
    assert_eq!(ou, nd::OU_SALES);
    assert_eq!(w.nimbus_users(), vec![guid(1), guid(2)]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));
}

#[tokio::test]
async fn refresh_only_records_what_the_vendors_have() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &[nimbus_user("a", &guid(1), nd::OU_SALES), nimbus_user("b", &guid(2), nd::OU_SALES), symbee_user("m", "mmars@abc-gadgets.com", "")].concat());
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    let before = w.state();
    let o = w.run(&["apply", "--auto-approve", "--refresh=false"]).await;
    assert!(text(&o).contains("No changes."), "{}", text(&o));
    assert_eq!(w.state(), before, "an apply that reads nothing and changes nothing does not rewrite the state");
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(text(&o).contains("No changes."), "{}", text(&o));
    // A no-op apply that read every record records only when it read them (issue 13).
    let without_read_at = |mut state: serde_json::Value| {
        for r in state["resources"].as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("read_at");
        }
        state["serial"] = serde_json::Value::Null;
        state
    };
    let after = w.state();
    assert_eq!(without_read_at(after.clone()), without_read_at(before.clone()), "only the read times changed");
    assert!(after["resources"].as_array().unwrap().iter().zip(before["resources"].as_array().unwrap()).all(|(a, b)| a["read_at"].as_str() >= b["read_at"].as_str()));
    assert_eq!(w.run(&["plan", "--refresh-only", "--detailed-exitcode"]).await.status.code(), Some(0));

    w.nimbus.update(|s| s.tenants[0].users.retain(|u| u.o365_id != guid(1)));
    w.nimbus.update(|s| s.tenants[0].users.iter_mut().find(|u| u.o365_id == guid(2)).unwrap().organization_unit_id = nd::OU_SUPPORT.into());
    let o = w.run(&["plan", "--refresh-only", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = w.run(&["apply", "--refresh-only", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(2)], "refresh-only changes nothing at the vendor");
    let state = w.state();
    let records = state["resources"].as_array().unwrap();
    assert!(records.iter().any(|r| r["address"] == "nimbus_user.a"), "a declared record is never dropped by a refresh (issue 11)");
    let b = records.iter().find(|r| r["address"] == "nimbus_user.b").unwrap();
    assert_eq!(b["attributes"]["organization_unit_id"], nd::OU_SUPPORT);
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("# nimbus_user.a will be created") && t.contains("# nimbus_user.b must be replaced"), "{t}");
}

#[tokio::test]
async fn symbee_user_missing_from_amazon_connect_is_drift_to_replace() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &symbee_user("m", "mmars@abc-gadgets.com", "create_in_amazon_connect = true"));
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    w.symbee.update(|s| s.companies[0].environments[0].connect_users.clear());
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("create_in_amazon_connect changed outside Roster: true -> false"), "{t}");
    assert!(t.contains("create_in_amazon_connect = false -> true # forces replacement"), "{t}");
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.symbee.update(|s| s.companies[0].environments[0].connect_users.len()), 1);
}

#[tokio::test]
async fn import_and_adopt_existing_objects() {
    let w = World::new(open_seed()).await;
    // The template user exists at the vendor; declaring it fails on create with an import hint.
    w.write(fast(), &nimbus_user("t", nd::TEMPLATE_USER, nd::OU_SALES));
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains(&format!("roster import nimbus_user {}", nd::TEMPLATE_USER)), "{}", text(&o));
    assert_eq!(w.state()["resources"], serde_json::json!([]), "a refused create leaves no record");

    let o = w.run(&["import", "nimbus_user", nd::TEMPLATE_USER]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));
    let o = w.run(&["import", "nimbus_user", &guid(9)]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("declare it first"), "{}", text(&o));

    // adopt = true takes the existing Symbee user without an error.
    w.write(fast(), &[nimbus_user("t", nd::TEMPLATE_USER, nd::OU_SALES), symbee_user("v", "vvenus@abc-gadgets.com", "adopt = true")].concat());
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 adopted"), "{}", text(&o));
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));
}

#[tokio::test]
async fn mass_delete_guard() {
    let w = World::new(open_seed()).await;
    let users: String = (1..=12).map(|i| nimbus_user(&format!("u{i}"), &guid(i), nd::OU_SALES)).collect();
    w.write(fast(), &users);
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    w.write(fast(), "");
    let o = w.run(&["plan"]).await;
    assert!(text(&o).contains("apply will need --allow-mass-delete"), "{}", text(&o));
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("deletes or forgets 12 objects, more than the mass-delete threshold of 10"), "{}", text(&o));
    assert_eq!(w.nimbus_users().len(), 12, "nothing deleted");
    let o = w.run(&["apply", "--auto-approve", "--allow-mass-delete"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(w.nimbus_users().is_empty());
}

#[tokio::test]
async fn plan_file_round_trip_and_staleness() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    let o = w.run(&["plan", "--out", "p1.json"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let saved = std::fs::read_to_string(w.path("p1.json")).unwrap();
    assert!(!saved.contains(nd::CLIENT_SECRET));
    // A second plan, saved before anything is applied.
    assert!(w.run(&["plan", "--out", "p2.json"]).await.status.success());
    let o = w.run(&["apply", "p1.json"]).await;
    assert!(o.status.success(), "a saved plan needs no confirmation: {}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
    let o = w.run(&["apply", "p2.json"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("the plan is stale"), "{}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(1)], "a stale plan changes nothing");
    let o = w.run(&["apply", "nonexistent.json"]).await;
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test]
async fn validate_names_file_line_and_key() {
    let w = World::new(open_seed()).await;
    w.write(fast(), "[resource.nimbus_user.a]\no365_id = \"nope\"\norganization_unit_id = \"6a1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10\"\ncolour = \"red\"\n");
    let o = w.run(&["validate"]).await;
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    let file = "roster.toml";
    assert!(t.contains(&format!("{file}:12: resource.nimbus_user.a.o365_id: `o365_id` must be a GUID")), "{t}");
    assert!(t.contains(&format!("{file}:14: resource.nimbus_user.a.colour: unknown key `colour`")), "{t}");
    let o = w.run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1), "plan refuses an invalid file");
    assert_eq!(w.nimbus.stats().operations + w.nimbus.stats().tokens_issued, 0, "validate touched no network");
    w.write("colour = 1", "");
    let t = text(&w.run(&["validate"]).await);
    assert!(t.contains(&format!("{file}:5: provider.nimbus.colour: unknown key `colour`")), "{t}");
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    assert!(w.run(&["validate"]).await.status.success());
}

#[tokio::test]
async fn two_processes_contend_for_the_lock() {
    let w = World::new(open_seed()).await;
    // Slow pacing keeps the first apply (and its lock) busy for a few seconds.
    let users: String = (1..=6).map(|i| nimbus_user(&format!("u{i}"), &guid(i), nd::OU_SALES)).collect();
    w.write("rate_limit = { operations = 2, per_seconds = 1 }", &users);
    let mut first = w.command(&["apply", "--auto-approve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let lock = w.path("roster.state.json.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&lock).map(|s| s.is_empty()).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the first apply never took the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let o = w.run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("is locked by roster apply (pid"), "{}", text(&o));
    let o = w.run(&["plan", "--lock-timeout", "60"]).await;
    assert!(o.status.success(), "waits for the lock: {}", text(&o));
    assert!(first.wait().unwrap().success());
    assert!(text(&o).contains("No changes."), "{}", text(&o));
}

#[tokio::test]
async fn a_rate_limited_apply_of_100_nimbus_users_surfaces_no_429() {
    let mut seed = NimbusSeed::demo();
    seed.rate_limit = RateLimit { operations: 60, window_ms: 6000, mode: RateMode::Reject };
    let w = World::new(seed).await;
    let users: String = (1..=100).map(|i| nimbus_user(&format!("u{i}"), &guid(i), nd::OU_SALES)).collect();
    // The documented 60 per minute, scaled to a 6-second window like the sandbox's.
    w.write("rate_limit = { operations = 60, per_seconds = 6 }", &users);
    let started = Instant::now();
    let o = w.run(&["apply", "--auto-approve"]).await;
    let took = started.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("100 added"), "{}", text(&o));
    assert!(!text(&o).contains("failed:"), "{}", text(&o));
    assert_eq!(w.nimbus_users().len(), 100);
    let stats = w.nimbus.stats();
    println!("100 creates in {took:?}; sandbox saw {} operations, answered {} with 429", stats.operations, stats.rate_limited);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));
}

#[tokio::test]
async fn sigkill_mid_apply_then_apply_converges_exactly() {
    let w = World::new(open_seed()).await;
    let users: String = (1..=30).map(|i| nimbus_user(&format!("u{i}"), &guid(i), nd::OU_SALES)).collect();
    w.write("rate_limit = { operations = 10, per_seconds = 1 }", &users);
    let mut child = w.command(&["apply", "--auto-approve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Let it create some users, then kill it without warning.
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.nimbus_users().len() < 8 {
        assert!(Instant::now() < deadline, "the apply made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    let made = w.nimbus_users().len();
    assert!(made < 30, "killed mid-apply ({made} of 30 made)");
    let recorded = w.state()["resources"].as_array().unwrap().len();
    println!("killed after {made} creates; state holds {recorded} records");

    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let expected: Vec<String> = (1..=30).map(guid).collect();
    assert_eq!(w.nimbus_users(), expected, "exactly the desired set: nothing lost, nothing duplicated");
    let state = w.state();
    let records = state["resources"].as_array().unwrap();
    assert_eq!(records.len(), 30);
    assert!(records.iter().all(|r| r["status"] == "created"), "no pending record is left");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));
}

#[tokio::test]
async fn get_query_and_providers_commands() {
    let w = World::new(open_seed()).await;
    w.write(fast(), "");
    let o = w.run(&["get", "nimbus_user", nd::TEMPLATE_USER]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("assignment_type") && text(&o).contains("SkillBased"), "{}", text(&o));
    let o = w.run(&["get", "symbee_user", "vvenus@abc-gadgets.com", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["amazon_connect_status"], "NOT_FOUND");
    let o = w.run(&["get", "nimbus_user", &guid(77)]).await;
    assert_eq!(o.status.code(), Some(1));
    let o = w.run(&["query", "nimbus_license_usage"]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["licenses"][0]["used"], 2);
    let o = w.run(&["providers", "symbee"]).await;
    assert!(text(&o).contains("resource symbee_user (id: login_user_id)"), "{}", text(&o));
    let o = w.run(&["completions", "bash"]).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("roster"));
}

/// The commented example of docs/roster-file.md is a valid roster file, and a variable it uses
/// that is not set is named with its line.
#[tokio::test]
async fn the_roster_file_reference_example_validates() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/roster-file.md")).unwrap();
    let start = readme.find("```toml\n# roster.toml").expect("docs/roster-file.md has the example") + "```toml\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("roster.toml"), example).unwrap();
    let with_env = |command: &str| {
        Command::new(ROSTER)
            .current_dir(dir.path())
            .args([command])
            .env("ROSTER_CACHE_DIR", cache_dir())
            .env("NIMBUS_TENANT_ID", nd::TENANT_ID)
            .env("NIMBUS_CLIENT_ID", nd::CLIENT_ID)
            .output()
            .unwrap()
    };
    for command in ["grant", "validate"] {
        let o = with_env(command);
        assert!(o.status.success(), "roster {command}: {}", text(&o));
    }
    let o = Command::new(ROSTER).current_dir(dir.path()).args(["validate"]).env("ROSTER_CACHE_DIR", cache_dir()).env_remove("NIMBUS_TENANT_ID").output().unwrap();
    assert!(text(&o).contains("roster.toml:10: provider.nimbus.config.tenant_id: environment variable NIMBUS_TENANT_ID is not set"), "{}", text(&o));
}

// ---- Issue 11: identity is the id; pending means unknown; waits are bounded. ----

fn nimbus_ops(w: &World) -> u64 {
    w.nimbus.stats().operations
}

/// Renaming a resource is a move: shown, recorded, and nothing is sent to the vendor.
#[tokio::test]
async fn renaming_a_resource_moves_it_without_touching_the_vendor() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("grace", &guid(1), nd::OU_SALES));
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    let before = nimbus_ops(&w);
    w.write(fast(), &nimbus_user("grace_hopper", &guid(1), nd::OU_SALES));
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("# nimbus_user.grace has moved to nimbus_user.grace_hopper"), "{t}");
    assert!(t.contains("Plan: 0 to add, 0 to replace, 0 to destroy, 1 to move."), "{t}");
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 moved"), "{}", text(&o));
    assert_eq!(nimbus_ops(&w) - before, 2, "one read per plan, no create or delete");
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
    let state = w.state();
    assert_eq!(state["resources"][0]["address"], "nimbus_user.grace_hopper");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));

    // Two addresses with one id (in another case, even) are refused, naming both places.
    w.write(fast(), &[nimbus_user("grace_hopper", &guid(1), nd::OU_SALES), nimbus_user("amazing_grace", &guid(1).to_uppercase(), nd::OU_SALES)].concat());
    let o = w.run(&["validate"]).await;
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("resource.nimbus_user.grace_hopper.o365_id")
            && t.contains("is declared twice: here and as nimbus_user.amazing_grace at")
            && t.contains("roster.toml:12")
            && t.contains("roster.toml:15"),
        "{t}"
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1), "apply refuses it too");
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
}

/// Upper-case GUIDs are the same ids and values to Nimbus: no change is ever planned.
#[tokio::test]
async fn upper_case_guids_never_plan_a_replacement() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("ada", &guid(0xabc).to_uppercase(), &nd::OU_SALES.to_uppercase()));
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(0xabc)], "Nimbus keeps it in lower case");
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("changed outside"), "{}", text(&o));
    // The same user declared in lower case later is still the same object.
    w.write(fast(), &nimbus_user("ada", &guid(0xabc), nd::OU_SALES));
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));
}

/// A create that reached the vendor, whose confirming read then failed, stays pending (never
/// re-sent blind, never dropped) and is adopted by the next plan.
#[tokio::test]
async fn a_create_whose_confirming_read_fails_stays_pending_then_is_adopted() {
    use roster_sim::faults::Fault;
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    w.nimbus.update(|s| {
        s.faults.routes.insert("create".into(), Fault { error_rate: 1.0, error_status: 503, after_serve: true, ..Fault::default() });
        s.faults.routes.insert("get".into(), Fault { error_rate: 1.0, error_status: 503, ..Fault::default() });
    });
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("left pending"), "{}", text(&o));
    assert!(!text(&o).contains("not managed by Roster"), "{}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(1)], "created once");
    assert_eq!(w.state()["resources"][0]["status"], "pending_create", "not dropped");
    // While reads fail, plan refuses to guess.
    let o = w.run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("could not read 1 object"), "{}", text(&o));
    w.nimbus.update(|s| s.faults.routes.clear());
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("# nimbus_user.a will be adopted into the state (an interrupted create happened)"), "{t}");
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(text(&o).contains("1 adopted"), "{}", text(&o));
    assert_eq!(w.state()["resources"][0]["status"], "created");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));
}

/// A Symbee create interrupted by a kill is adopted with the attributes Roster sent (Symbee
/// cannot read names back), not replaced.
#[tokio::test]
async fn a_killed_symbee_create_is_adopted_not_replaced() {
    use roster_sim::faults::Fault;
    let w = World::new(open_seed()).await;
    w.write(fast(), &symbee_user("mike", "mmars@abc-gadgets.com", ""));
    // The vendor does the work, then its answer takes long enough to kill the process.
    w.symbee.update(|s| s.faults.routes.insert("add-user".into(), Fault { latency_ms: 30_000, after_serve: true, ..Fault::default() }));
    let mut child = w.command(&["apply", "--auto-approve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let made = || w.symbee.update(|s| s.companies[0].environments[0].users.iter().any(|u| u.login_user_id == "mmars@abc-gadgets.com"));
    while !made() {
        assert!(Instant::now() < deadline, "the create never reached the sandbox");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    assert!(!child.wait().unwrap().success());
    assert_eq!(w.state()["resources"][0]["status"], "pending_create");
    w.symbee.update(|s| s.faults.routes.clear());
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("# symbee_user.mike will be adopted into the state (an interrupted create happened)"), "{t}");
    assert!(!t.contains("must be replaced"), "{t}");
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success() && text(&o).contains("1 adopted"), "{}", text(&o));
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).await.status.code(), Some(0));
}

/// Refresh-only never drops a declared record; a forget of an undeclared one is shown and
/// counted by the mass-delete guard.
#[tokio::test]
async fn refresh_only_keeps_declared_records_and_shows_every_forget() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &[symbee_user("m", "mmars@abc-gadgets.com", ""), nimbus_user("a", &guid(1), nd::OU_SALES)].concat());
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    w.symbee.update(|s| s.companies[0].environments[0].users.retain(|u| u.login_user_id != "mmars@abc-gadgets.com"));
    let o = w.run(&["apply", "--refresh-only", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("symbee_user.m: deleted outside Roster"), "{}", text(&o));
    assert!(w.state()["resources"].as_array().unwrap().iter().any(|r| r["address"] == "symbee_user.m"), "a declared record is kept");
    assert!(text(&w.run(&["plan"]).await).contains("# symbee_user.m will be created (deleted outside Roster)"));

    // Undeclared and gone: the forget is rendered and counted.
    w.write(fast(), &symbee_user("m", "mmars@abc-gadgets.com", ""));
    w.nimbus.update(|s| s.tenants[0].users.retain(|u| u.o365_id != guid(1)));
    let t = text(&w.run(&["plan", "--refresh-only"]).await);
    assert!(t.contains("# nimbus_user.a will be removed from the state (already gone at the vendor)"), "{t}");
    std::fs::write(w.path("roster.toml"), std::fs::read_to_string(w.path("roster.toml")).unwrap().replacen("[provider.nimbus]", "[settings]\nmass_delete_threshold = 0\n\n[provider.nimbus]", 1))
        .unwrap();
    let o = w.run(&["apply", "--refresh-only", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("deletes or forgets 1 objects"), "{}", text(&o));
}

/// A saved plan runs only against the state, file and config it was made from.
#[tokio::test]
async fn a_saved_plan_must_fit_the_state_and_the_file() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    w.write(fast(), "");
    assert!(w.run(&["plan", "--out", "del.json"]).await.status.success());
    // The file changes after the plan: refused.
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    let o = w.run(&["apply", "del.json"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("another roster file or provider config"), "{}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
    // A plan whose delete names an id the state does not hold: refused (regression).
    w.write(fast(), "");
    let forged = std::fs::read_to_string(w.path("del.json")).unwrap().replace(&guid(1), &guid(2));
    std::fs::write(w.path("forged.json"), forged).unwrap();
    w.nimbus.update(|s| {
        let mut u = s.tenants[0].users.iter().find(|u| u.o365_id == guid(1)).unwrap().clone();
        u.o365_id = guid(2);
        s.tenants[0].users.push(u);
    });
    let o = w.run(&["apply", "forged.json"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("does not match the state's records") && text(&o).contains("no record with that id"), "{}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(1), guid(2)], "nothing Roster does not manage is deleted");
    let o = w.run(&["apply", "del.json"]).await;
    assert!(o.status.success(), "the genuine plan still applies: {}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(2)]);
}

/// A vendor asking for a longer wait than allowed fails that operation at once, saying so.
#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_fast() {
    let mut seed = NimbusSeed::demo();
    seed.rate_limit = RateLimit { operations: 1, window_ms: 600_000, mode: RateMode::Reject };
    let w = World::new(seed).await;
    w.write("rate_limit = { operations = 1000, per_seconds = 1 }", &[nimbus_user("a", &guid(1), nd::OU_SALES), nimbus_user("b", &guid(2), nd::OU_SALES)].concat());
    std::fs::write(w.path("roster.toml"), format!("[settings]\nmax_retry_wait_secs = 5\nconcurrency = 1\n{}", std::fs::read_to_string(w.path("roster.toml")).unwrap())).unwrap();
    let started = Instant::now();
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("the vendor asked to wait") && text(&o).contains("max_retry_wait_secs"), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(60), "no long wait: {:?}", started.elapsed());
    assert_eq!(w.nimbus_users().len(), 1);
}

// ---- Issue 12: capabilities the user grants (roster.lock). ----

/// A component asking for a host or a secret source the lock does not grant is refused before
/// any call, naming what is new and the command that grants it; after the grant it works. A
/// component whose code changed is refused the same way.
#[tokio::test]
async fn an_ungranted_capability_is_refused_until_granted() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    let lock = std::fs::read_to_string(w.path("roster.lock")).unwrap();
    assert!(lock.contains("[provider.nimbus]") && lock.contains("component = \"builtin:nimbus\"") && lock.contains("client_secret = \"file:nimbus.secret\""), "{lock}");
    assert!(lock.contains("[provider.symbee.secrets]"), "{lock}");

    // The roster asks for one more host: refused, with nothing sent.
    let text_of = std::fs::read_to_string(w.path("roster.toml")).unwrap();
    std::fs::write(w.path("roster.toml"), text_of.replacen("[provider.nimbus]\n", "[provider.nimbus]\nallowed_hosts = [\"https://collector.example\"]\n", 1)).unwrap();
    let before = w.nimbus.stats();
    let o = w.run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("provider.nimbus: not granted: new host https://collector.example; review and grant it with `roster grant`"), "{t}");
    assert_eq!(w.nimbus.stats().tokens_issued, before.tokens_issued, "no call was made");
    let o = w.run(&["grant"]).await;
    assert!(o.status.success() && text(&o).contains("+ host https://collector.example"), "{}", text(&o));
    assert!(w.run(&["plan"]).await.status.success());

    // The component's code changes (a path component, rebuilt): refused until granted again.
    std::fs::write(w.path("nimbus.wasm"), roster_components::NIMBUS_WASM).unwrap();
    let text_of = std::fs::read_to_string(w.path("roster.toml")).unwrap();
    std::fs::write(w.path("roster.toml"), text_of.replacen("[provider.nimbus]\n", "[provider.nimbus]\ncomponent = \"nimbus.wasm\"\n", 1)).unwrap();
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("its component is now nimbus.wasm (granted: builtin:nimbus)"), "{t}");
    assert!(w.run(&["grant"]).await.status.success());
    let o = w.run(&["plan"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let mut changed = roster_components::NIMBUS_WASM.to_vec();
    changed.extend_from_slice(&[0, 6, 5, b'e', b'x', b't', b'r', b'a']); // a custom section: new code
    std::fs::write(w.path("nimbus.wasm"), changed).unwrap();
    let t = text(&w.run(&["apply", "--auto-approve"]).await);
    assert!(t.contains("its component's code changed: sha256"), "{t}");
    assert!(w.nimbus_users().is_empty(), "nothing applied");
    // Grant before code: swapped for bytes that are not even a component, it is refused by its
    // hash before any compile (which would fail otherwise) or any of its code runs.
    std::fs::write(w.path("nimbus.wasm"), b"\0asm but no component").unwrap();
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("its component's code changed: sha256") && t.contains("nothing of it was run"), "{t}");
    assert!(!t.contains("compiling"), "never compiled: {t}");

    // No lock at all: refused, naming the command.
    std::fs::remove_file(w.path("roster.lock")).unwrap();
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("no roster.lock beside roster.toml") && t.contains("`roster grant`"), "{t}");
}

#[tokio::test]
async fn validate_refuses_two_credentials_naming_the_secret() {
    let w = World::new(open_seed()).await;
    w.write(fast(), "");
    std::fs::write(w.path("nimbus.crt"), "CERT-CONTENT-7f3a").unwrap();
    std::fs::write(w.path("nimbus.key"), "KEY-CONTENT-9b1c").unwrap();
    let roster = std::fs::read_to_string(w.path("roster.toml")).unwrap().replace(
        r#"secrets = { client_secret = "file:nimbus.secret" }"#,
        r#"secrets = { client_secret = "file:nimbus.secret", client_certificate = "file:nimbus.crt", client_private_key = "file:nimbus.key" }"#,
    );
    std::fs::write(w.path("roster.toml"), roster).unwrap();
    w.regrant();
    let o = w.run(&["validate"]).await;
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("roster.toml:4: provider.nimbus.secrets.client_certificate: secret `client_certificate` belongs to credential = \"certificate\""), "{t}");
    assert!(!t.contains("CONTENT-"), "no secret value in the message: {t}");
    assert_eq!(w.nimbus.stats().tokens_issued + w.nimbus.stats().token_errors, 0, "validate touched no network");
}

/// Runs `roster sim --write-roster` with `args` in `dir` on free ports, then `roster get` of the
/// template user with the roster it wrote; returns the roster and the get's output.
fn sim_then_get(dir: &Path, args: &[&str]) -> (String, Output) {
    let roster = dir.join("roster.toml");
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (n, s) = (free_port(), free_port());
    let mut sim = Command::new(ROSTER)
        .current_dir(dir)
        .args(["sim", "--nimbus", &format!("127.0.0.1:{n}"), "--symbee", &format!("127.0.0.1:{s}"), "--write-roster"])
        .arg(&roster)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The lock is written after the roster.
    while !dir.join("roster.lock").exists() {
        assert!(Instant::now() < deadline, "roster sim wrote no roster and lock within 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let written = std::fs::read_to_string(&roster).unwrap();
    let get = Command::new(ROSTER).current_dir(dir).args(["get", "nimbus_user", nd::TEMPLATE_USER]).env("ROSTER_CACHE_DIR", cache_dir()).output().unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    (written, get)
}

/// `roster sim` registers a certificate it generates and writes a roster that authenticates with
/// it; the roster then reads a user through the sandbox.
#[test]
fn sim_writes_a_roster_that_authenticates_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (written, get) = sim_then_get(dir.path(), &[]);
    assert!(written.contains("credential = \"certificate\"") && written.contains("client_private_key = \"file:nimbus-client-key.pem\""), "{written}");
    assert!(get.status.success(), "{}", text(&get));
    assert!(text(&get).contains("SkillBased"), "{}", text(&get));
    let key = std::fs::read_to_string(dir.path().join("nimbus-client-key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("nimbus-client-key.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
    }
}

/// `roster sim --nimbus-certificate CERT --nimbus-private-key KEY` registers the given certificate
/// and the roster it writes names the given key.
#[test]
fn sim_registers_a_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = roster_sim::credentials::TestCertificate::generate("given").unwrap();
    std::fs::write(dir.path().join("mine.crt"), &cert.certificate_pem).unwrap();
    std::fs::write(dir.path().join("mine.key"), cert.private_key_pkcs1_pem()).unwrap();
    let (written, get) = sim_then_get(dir.path(), &["--nimbus-certificate", "mine.crt", "--nimbus-private-key", "mine.key"]);
    let key_path = std::path::absolute(dir.path().join("mine.key")).unwrap();
    assert!(written.contains(&format!("client_private_key = \"file:{}\"", key_path.display())), "{written}");
    assert!(get.status.success(), "{}", text(&get));
    assert!(!dir.path().join("nimbus-client-key.pem").exists(), "no key is generated");
}

/// Regression (issue 11): a provider with no declared rate limit (Symbee) hammered a vendor
/// answering 429; now every Retry-After is waited out, paced or not.
#[tokio::test]
async fn an_unpaced_provider_waits_out_retry_after() {
    let w = World::new(open_seed()).await;
    w.symbee.update(|s| s.rate_limit = Some(RateLimit { operations: 1, window_ms: 1000, mode: RateMode::Reject }));
    let users: String = (1..=3).map(|i| symbee_user(&format!("u{i}"), &format!("u{i}@abc-gadgets.com"), "")).collect();
    w.write("", &users);
    let started = Instant::now();
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let stats = w.symbee.stats();
    println!("3 unpaced creates against 1/s: {:?}, {} operations, {} answered 429", started.elapsed(), stats.operations, stats.rate_limited);
    assert_eq!(stats.operations, 3);
    assert!(stats.rate_limited <= 6, "at most a couple of 429s per create, not a storm: {}", stats.rate_limited);
    assert!(text(&o).contains("rate limited: waiting the vendor's Retry-After"), "waits show on the progress lines: {}", text(&o));
}

/// Both vendors behind a gateway whose 502 page echoes each request (headers, credentials
/// included, and body): nothing `get`, `plan` or `apply` prints may hold a secret.
#[tokio::test]
async fn an_echoing_gateway_leaks_no_secret_through_get_plan_or_apply() {
    use roster_sim::faults::{Fault, Faults};
    let echo = |routes: &[&str]| {
        let mut f = Faults::default();
        for r in routes {
            f.routes.insert(r.to_string(), Fault { error_rate: 1.0, error_status: 502, echo: true, ..Fault::default() });
        }
        f
    };
    let w = World::new(open_seed()).await;
    w.write(fast(), &[nimbus_user("a", &guid(1), nd::OU_SALES), symbee_user("m", "mmars@abc-gadgets.com", "")].concat());
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    // Now plan and apply read the managed objects, through the gateway. Every encoded form of the two secrets and of the Basic credentials, and every sandbox token.
    let mut leaks = roster_runtime::redact::forms(nd::CLIENT_SECRET);
    leaks.extend(roster_runtime::redact::forms(sd::API_KEY));
    leaks.extend(roster_runtime::redact::forms(&format!("{}:{}", nd::CLIENT_ID, nd::CLIENT_SECRET)));
    leaks.push("sbx-".into());
    // First the token endpoint echoes (the client secret), then the API (the bearer token);
    // Symbee echoes every request (the API key).
    w.symbee.update(|s| s.faults = echo(&["*"]));
    for nimbus_routes in [&["token"][..], &["get", "create"][..]] {
        w.nimbus.update(|s| s.faults = echo(nimbus_routes));
        for args in [&["get", "nimbus_user", nd::TEMPLATE_USER][..], &["get", "symbee_user", "vvenus@abc-gadgets.com"][..], &["plan"][..], &["apply", "--auto-approve"][..]] {
            let o = w.run(args).await;
            let out = text(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?} fails: {out}");
            assert!(out.contains("sandbox fault: echo") && out.contains("[redacted]"), "{args:?} quoted the echo page: {out}");
            for leak in &leaks {
                assert!(!out.contains(leak.as_str()), "{args:?} leaked {leak:?}: {out}");
            }
        }
    }
    assert_eq!(w.nimbus_users(), vec![guid(1)], "nothing changed through the failing gateway");
}

// ---- Issue 13: rows from a CSV, plans within the budget, bulk import. ----

/// A `[rows.agents]` source over agents.csv: the key column `alias`, the id from `o365_id`, the
/// OU chosen by `team` through a mapping table.
fn agents_rows() -> String {
    nd::agents_rows()
}

fn agents_csv(range: std::ops::Range<usize>) -> String {
    let mut csv = String::from("alias,o365_id,team\r\n");
    for i in range {
        csv.push_str(&format!("agent{i:04},{},{}\r\n", guid(i), if i % 2 == 0 { "sales" } else { "\"support\"" }));
    }
    csv
}

/// A CSV roster converges: plan, apply, "No changes"; an edited row plans exactly its change;
/// a bad row is refused naming the CSV file, line and column, and changes nothing.
#[tokio::test]
async fn a_csv_roster_converges_against_the_sim() {
    let w = World::new(open_seed()).await;
    std::fs::write(w.path("agents.csv"), agents_csv(1..41)).unwrap();
    w.write(fast(), &agents_rows());
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("Plan: 40 to add, 0 to replace, 0 to destroy."), "{t}");
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.nimbus_users(), (1..41).map(guid).collect::<Vec<_>>());
    let ou = w.nimbus.update(|s| s.tenants[0].users.iter().find(|u| u.o365_id == guid(3)).map(|u| u.organization_unit_id.clone()));
    assert_eq!(ou.as_deref(), Some(nd::OU_SUPPORT), "the team column chose the OU through the map");
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("No changes."), "{}", text(&o));
    assert!(w.state()["resources"].as_array().unwrap().iter().any(|r| r["address"] == "nimbus_user.agent0007"));

    // A row removed is one delete; a team changed is one (guarded) replacement.
    let edited = agents_csv(1..40).replace(&format!("agent0002,{},sales", guid(2)), &format!("agent0002,{},support", guid(2)));
    std::fs::write(w.path("agents.csv"), edited).unwrap();
    let t = text(&w.run(&["plan"]).await);
    assert!(t.contains("Plan: 0 to add, 1 to replace, 1 to destroy."), "{t}");
    assert!(t.contains("# nimbus_user.agent0040 will be deleted") && t.contains("# nimbus_user.agent0002 must be replaced"), "{t}");

    // A bad row: an unmapped team on line 5 (the header is line 1).
    let bad = agents_csv(1..41).replace(&format!("agent0004,{},sales", guid(4)), &format!("agent0004,{},marketing", guid(4)));
    std::fs::write(w.path("agents.csv"), bad).unwrap();
    let before = std::fs::read_to_string(w.path("roster.state.json")).unwrap();
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(!o.status.success());
    assert!(text(&o).contains("agents.csv:5: column team:") && text(&o).contains("marketing"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(w.path("roster.state.json")).unwrap(), before, "a refused roster changes nothing");

    // One id declared by a block and by a row (line 6: agent0005), in another case: refused at the row.
    std::fs::write(w.path("agents.csv"), agents_csv(1..41)).unwrap();
    w.write(fast(), &format!("{}\n{}", nimbus_user("extra", &guid(5).to_uppercase(), nd::OU_SALES), agents_rows()));
    let o = w.run(&["validate"]).await;
    assert!(!o.status.success());
    assert!(text(&o).contains("agents.csv:6: nimbus_user.agent0005.o365_id (column o365_id):") && text(&o).contains("is declared twice: here and as nimbus_user.extra at"), "{}", text(&o));
}

/// The vendor operations each way of planning costs, counted by the sim itself: a first apply
/// is creates and nothing else; `--refresh=false` reads nothing; `--refresh-stale` reads only
/// the stale records; a full plan reads every one. Plans say the cost before reading.
#[tokio::test]
async fn plans_cost_only_the_reads_they_need_by_the_sims_counters() {
    let mut seed = open_seed();
    seed.rate_limit = RateLimit { operations: 60, window_ms: 600, mode: RateMode::Reject };
    let w = World::new(seed).await;
    let n = 120;
    std::fs::write(w.path("agents.csv"), agents_csv(1..n + 1)).unwrap();
    w.write("rate_limit = { operations = 60, per_seconds = 0.6 }", &agents_rows());
    let routes = |w: &World| w.nimbus.stats().by_route;
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let first = routes(&w);
    assert_eq!(first.into_iter().collect::<Vec<_>>(), vec![("create".to_string(), n as u64)], "a first apply sends the creates and nothing else");
    assert_eq!(w.nimbus.stats().rate_limited, 0);

    let ops = nimbus_ops(&w);
    let o = w.run(&["plan", "--refresh=false", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("planned from the state alone"), "{}", text(&o));
    assert_eq!(nimbus_ops(&w), ops, "--refresh=false reads nothing");

    // Every record was learnt from its create just now: nothing is stale.
    let o = w.run(&["plan", "--refresh-stale", "1h", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(nimbus_ops(&w), ops, "nothing is stale an instant after the apply");

    // Ten records last read two hours ago: a partial refresh reads exactly those.
    let mut state = w.state();
    let old = "2000-01-01T00:00:00Z";
    for r in state["resources"].as_array_mut().unwrap().iter_mut().take(10) {
        r["read_at"] = serde_json::json!(old);
    }
    std::fs::write(w.path("roster.state.json"), serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let o = w.run(&["plan", "--refresh-stale", "1h"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Reading 10 object(s): nimbus 10 at 60 per 0.6s"), "the cost is said first: {}", text(&o));
    assert_eq!(nimbus_ops(&w) - ops, 10, "only the stale records are read");

    // A full plan reads all; its apply records the reads, so the next partial refresh reads none.
    let ops = nimbus_ops(&w);
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("Reading {n} object(s)")) && text(&o).contains(&format!("Read {n}/{n}")), "{}", text(&o));
    assert_eq!(nimbus_ops(&w) - ops, n as u64);
    assert!(w.state()["resources"].as_array().unwrap().iter().all(|r| r["read_at"] != old), "apply recorded when each was read");
    let ops = nimbus_ops(&w);
    assert!(w.run(&["plan", "--refresh-stale", "1h"]).await.status.success());
    assert_eq!(nimbus_ops(&w), ops);
    // A saved plan is applied without reading again.
    assert!(w.run(&["plan", "--refresh=false", "--out", "p.json"]).await.status.success());
    let o = w.run(&["apply", "p.json", "--refresh=false"]).await;
    assert!(!o.status.success() && text(&o).contains("without reading again"), "{}", text(&o));
    assert_eq!(w.nimbus.stats().rate_limited, 0, "every read was paced under the vendor's limit");
}

/// Bulk import: the ids of a CSV are read (paced); those that exist are recorded and get rows
/// (or blocks) that plan as "No changes"; those that do not are listed, not recorded.
#[tokio::test]
async fn bulk_import_writes_declarations_that_plan_no_changes() {
    let w = World::new(open_seed()).await;
    let template = w.nimbus.update(|s| s.tenants[0].users.iter().find(|u| u.o365_id == nd::TEMPLATE_USER).cloned().unwrap());
    w.nimbus.update(|s| {
        for i in 1..=6 {
            let ou = if i % 2 == 0 { nd::OU_SALES } else { nd::OU_SUPPORT };
            s.tenants[0].users.push(nimbus::User { o365_id: guid(i), organization_unit_id: ou.into(), ..template.clone() });
        }
    });
    // Rows: agents.csv starts with its header only.
    std::fs::write(w.path("agents.csv"), "alias,o365_id,team\n").unwrap();
    w.write(fast(), &agents_rows());
    let missing = guid(99);
    std::fs::write(w.path("ids.csv"), format!("o365_id,alias\n{},ada\n{},\n{},\n{missing},nobody\n", guid(1), guid(2).to_uppercase(), guid(3))).unwrap();
    let o = w.run(&["import", "--csv", "ids.csv", "--rows", "agents"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("3 imported, 0 already managed, 1 not found, 0 not imported."), "{t}");
    assert!(t.contains(&format!("{missing} (ids.csv:5)")), "the missing id is listed: {t}");
    let rows = std::fs::read_to_string(w.path("agents.csv")).unwrap();
    assert!(rows.contains(&format!("ada,{},support", guid(1))), "{rows}");
    assert!(!rows.contains(&missing), "{rows}");
    assert_eq!(w.state()["resources"].as_array().unwrap().len(), 3);
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("No changes."), "{}", text(&o));

    // Again with more ids: the managed ones are said so; blocks this time.
    std::fs::write(w.path("more.csv"), format!("id\n{}\n{}\n{}\n", guid(3), guid(4), guid(5))).unwrap();
    let o = w.run(&["import", "nimbus_user", "--csv", "more.csv"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2 imported, 1 already managed, 0 not found"), "{}", text(&o));
    let roster = std::fs::read_to_string(w.path("roster.toml")).unwrap();
    assert!(roster.contains(&format!("[resource.nimbus_user.{}]\no365_id = \"{}\"\norganization_unit_id = \"{}\"", guid(4), guid(4), nd::OU_SALES)), "{roster}");
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Symbee cannot read a user's names back: the input gives them (rows in the source format);
    // a row without them is reported, not recorded.
    std::fs::write(w.path("symbee.csv"), format!("login_user_id,first_name,last_name,user_template_name\nvvenus@abc-gadgets.com,Vera,Venus,{}\n", sd::TEMPLATE)).unwrap();
    let o = w.run(&["import", "symbee_user", "--csv", "symbee.csv", "--name-column", "first_name"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Imported symbee_user vvenus@abc-gadgets.com as symbee_user.Vera."), "{}", text(&o));
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(w.path("nameless.csv"), "id\nmmars@abc-gadgets.com\n").unwrap();
    w.symbee.update(|s| {
        let env = &mut s.companies[0].environments[0];
        let mut mike = env.users[0].clone();
        mike.login_user_id = "mmars@abc-gadgets.com".into();
        env.users.push(mike);
    });
    let o = w.run(&["import", "symbee_user", "--csv", "nameless.csv"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("mmars@abc-gadgets.com: the vendor does not report `first_name`, `last_name`"), "{}", text(&o));

    // A duplicate id in the input is refused before anything is read or written.
    std::fs::write(w.path("dup.csv"), format!("id\n{}\n{}\n", guid(6), guid(6).to_uppercase())).unwrap();
    let ops = nimbus_ops(&w);
    let o = w.run(&["import", "nimbus_user", "--csv", "dup.csv"]).await;
    assert!(!o.status.success() && text(&o).contains("dup.csv:3") && text(&o).contains("is also at"), "{}", text(&o));
    assert_eq!(nimbus_ops(&w), ops);
}
