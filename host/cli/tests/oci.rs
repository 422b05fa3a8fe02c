//! Components from a real OCI registry on loopback (Debian's `docker-registry`, distribution
//! 2.8, started here): `roster component push` publishes in the Wasm OCI layout, a roster file
//! names `oci+http://…:TAG`, `roster grant` pins the component's digest in roster.lock; a tag
//! that moves is refused until granted again; with the registry down, the granted component is
//! used from the cache; without it in the cache, or when the registry serves other bytes than its
//! manifest names, a clear error — and nothing changes.

use roster_sim::nimbus::{self, demo as nd, NimbusSeed};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

/// A registry on a free loopback port, storing in a temporary directory; stopped when dropped.
struct Registry {
    child: Child,
    addr: String,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let data = dir.path().join("data");
        let config = dir.path().join("config.yml");
        std::fs::write(&config, format!("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n", data.display())).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run docker-registry ({e}); install Debian's registry: apt-get install docker-registry (tests/run does)"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            addr,
            data,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn roster(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(ROSTER)
        .current_dir(dir)
        .args(args)
        .env("ROSTER_CACHE_DIR", cache)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_by_oci_reference_are_pinned_by_digest() {
    let registry = Registry::start();
    let (sim, server) = nimbus::start(NimbusSeed::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &'static [&'static str]| {
        let (d, c) = (dir.path().to_path_buf(), cache.path().to_path_buf());
        async move {
            tokio::task::spawn_blocking(move || roster(&d, &c, args))
                .await
                .unwrap()
        }
    };
    let reference = format!("oci+http://{}/roster/nimbus:0.1.0", registry.addr);
    let wasm = dir.path().join("nimbus.wasm");
    std::fs::write(&wasm, roster_components::NIMBUS_WASM).unwrap();
    let o = roster(
        dir.path(),
        cache.path(),
        &["component", "push", wasm.to_str().unwrap(), &reference],
    );
    assert!(o.status.success(), "{}", text(&o));
    let pushed = roster_oci::digest(roster_components::NIMBUS_WASM);
    assert!(text(&o).contains(&pushed), "{}", text(&o));

    std::fs::write(dir.path().join("nimbus.secret"), nd::CLIENT_SECRET).unwrap();
    let url = server.url();
    std::fs::write(
        dir.path().join("roster.toml"),
        format!(
            "[provider.nimbus]\ncomponent = \"{reference}\"\nconfig = {{ admin_url = \"{url}\", login_url = \"{url}\", tenant_id = \"{}\", client_id = \"{}\" }}\nsecrets = {{ client_secret = \"file:nimbus.secret\" }}\n\n[resource.nimbus_user.ada]\no365_id = \"2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901\"\norganization_unit_id = \"{}\"\n",
            nd::TENANT_ID,
            nd::CLIENT_ID,
            nd::OU_SALES
        ),
    )
    .unwrap();
    let o = run(&["grant"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let lock = std::fs::read_to_string(dir.path().join("roster.lock")).unwrap();
    assert!(
        lock.contains(&format!("component = \"{reference}\""))
            && lock.contains(&format!("sha256 = \"{}\"", &pushed[7..])),
        "the digest is pinned: {lock}"
    );
    let o = run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let users = || sim.update(|s| s.tenants[0].users.len());
    let before = users();

    // The tag moves to other code: refused, nothing applied, until granted again.
    let mut other = roster_components::NIMBUS_WASM.to_vec();
    other.extend_from_slice(&[0, 6, 5, b'o', b't', b'h', b'e', b'r']); // a custom section: another digest
    std::fs::write(&wasm, &other).unwrap();
    assert!(roster(
        dir.path(),
        cache.path(),
        &["component", "push", wasm.to_str().unwrap(), &reference]
    )
    .status
    .success());
    let state_before = std::fs::read_to_string(dir.path().join("roster.state.json")).unwrap();
    let o = run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("the tag moved") && text(&o).contains(&pushed),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("roster.state.json")).unwrap(),
        state_before,
        "the state is untouched"
    );
    let o = run(&["grant"]).await;
    assert!(
        o.status.success()
            && text(&o).contains(&format!("sha256 {}", &roster_oci::digest(&other)[7..])),
        "roster grant shows the new code: {}",
        text(&o)
    );
    assert!(run(&["plan"]).await.status.success());

    // The registry down: the granted component from the cache.
    drop(registry);
    let o = run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "offline from the cache: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("could not be reached; using the granted component from the cache"),
        "{}",
        text(&o)
    );
    // Down, and nothing cached: a clear error, nothing changed.
    let empty = tempfile::tempdir().unwrap();
    let o = roster(dir.path(), empty.path(), &["plan"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("could not be reached")
            && text(&o).contains("no granted copy of it is in the cache"),
        "{}",
        text(&o)
    );
    assert_eq!(users(), before);
}

/// A registry that serves other bytes than the digest its manifest names is refused, and
/// nothing it served is kept.
#[test]
fn a_registry_serving_other_bytes_is_refused() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let reference = format!("oci+http://{}/roster/nimbus:0.1.0", registry.addr);
    let wasm = dir.path().join("nimbus.wasm");
    std::fs::write(&wasm, roster_components::NIMBUS_WASM).unwrap();
    assert!(roster(
        dir.path(),
        cache.path(),
        &["component", "push", wasm.to_str().unwrap(), &reference]
    )
    .status
    .success());
    // Tamper with the stored blob (distribution keeps blobs at blobs/sha256/XX/HEX/data).
    let hex = &roster_oci::digest(roster_components::NIMBUS_WASM)[7..];
    let blob = registry.data.join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    std::fs::write(
        dir.path().join("roster.toml"),
        format!("[provider.nimbus]\ncomponent = \"{reference}\"\nconfig = {{ cluster = \"ch-01\", tenant_id = \"{}\", client_id = \"{}\" }}\n", nd::TENANT_ID, nd::CLIENT_ID),
    )
    .unwrap();
    let o = roster(dir.path(), cache.path(), &["grant"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("served a component whose digest is")
            && text(&o).contains("nothing was kept"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("roster.lock").exists(), "nothing granted");
    assert!(std::fs::read_dir(cache.path())
        .map(|d| d.flatten().all(|e| !e.path().join("blobs").exists()))
        .unwrap_or(true));
}
