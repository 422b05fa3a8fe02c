//! Shared pieces of the end-to-end tests: a runtime with a private cache, the misbehaving test
//! provider, loopback HTTP servers, and a real `moto_server` for AWS Secrets Manager.

use roster_runtime::{Limits, Provider, ProviderSpec, Runtime, RuntimeOptions};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A runtime whose component cache lives in its own temporary directory.
pub fn runtime() -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
    })
    .unwrap();
    (runtime, dir)
}

/// The misbehaving test component's bytes.
pub fn misbehave_wasm() -> Vec<u8> {
    std::fs::read(roster_components::MISBEHAVE_PATH)
        .expect("the test programs are built by roster-components")
}

/// Starts the misbehaving provider allowed to reach `hosts`, with `limits`.
pub async fn misbehave(runtime: &Runtime, hosts: &[String], limits: Limits) -> Provider {
    let mut spec = ProviderSpec::new("misbehave", serde_json::json!({ "hosts": hosts }));
    spec.limits = limits;
    Provider::start(runtime, &misbehave_wasm(), spec)
        .await
        .unwrap()
}

/// A loopback server that answers every request with 200 and `body`; returns its address.
pub async fn answering_server(body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

/// A loopback server that accepts connections and never answers; returns its address.
pub async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A `moto_server` child process on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` (from PyPI `moto[server]`); panics with the fix when it is missing.
    /// Turns EC2 instance metadata off for the test process: a test's AWS client never reaches
    /// beyond 127.0.0.1.
    pub fn start() -> Moto {
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server ({e}); fix: pip install 'moto[server]'")
            });
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, endpoint }
    }

    /// Calls a Secrets Manager action on moto directly in `region` (as the test's own client;
    /// moto keeps secrets per region, read from the signature's scope, and checks no signature).
    pub async fn call(
        &self,
        region: &str,
        action: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let reply = reqwest::Client::new()
            .post(format!("{}/", self.endpoint))
            .header("x-amz-target", format!("secretsmanager.{action}"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("authorization", format!("AWS4-HMAC-SHA256 Credential=testing/20250101/{region}/secretsmanager/aws4_request, SignedHeaders=host, Signature=0"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = reply.status();
        let text = reply.text().await.unwrap();
        assert!(status.is_success(), "moto {action}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Nimbus provider pointed at a sandbox, with its client secret in a file (so a test can
/// rotate it); returns the provider and the secret file's directory.
pub async fn nimbus_provider(
    runtime: &Runtime,
    sandbox_url: &str,
    tenant_id: &str,
) -> Result<(Provider, tempfile::TempDir), roster_runtime::CallError> {
    use roster_sim::nimbus::demo;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client_secret"), demo::CLIENT_SECRET).unwrap();
    let provider = nimbus_provider_with(
        runtime,
        sandbox_url,
        tenant_id,
        serde_json::json!({}),
        dir.path(),
        &["client_secret"],
    )
    .await?;
    Ok((provider, dir))
}

/// A Nimbus provider pointed at a sandbox with `extra` config keys, each secret in `secrets`
/// read from the file of that name in `dir` (so a test can rotate it).
pub async fn nimbus_provider_with(
    runtime: &Runtime,
    sandbox_url: &str,
    tenant_id: &str,
    extra: serde_json::Value,
    dir: &std::path::Path,
    secrets: &[&str],
) -> Result<Provider, roster_runtime::CallError> {
    let wasm = roster_components::builtin("nimbus").expect("nimbus is built in");
    Provider::start(
        runtime,
        wasm,
        nimbus_spec(sandbox_url, tenant_id, extra, dir, secrets),
    )
    .await
}

/// The spec of [`nimbus_provider_with`], to adjust before starting it (its limits, say).
pub fn nimbus_spec(
    sandbox_url: &str,
    tenant_id: &str,
    extra: serde_json::Value,
    dir: &std::path::Path,
    secrets: &[&str],
) -> ProviderSpec {
    use roster_sim::nimbus::demo;
    let mut config = serde_json::json!({
        "admin_url": sandbox_url,
        "login_url": sandbox_url,
        "tenant_id": tenant_id,
        "client_id": demo::CLIENT_ID,
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let mut spec = ProviderSpec::new("nimbus", config);
    for name in secrets {
        spec.secrets.insert(
            name.to_string(),
            format!("file:{}", dir.join(name).display())
                .parse()
                .unwrap(),
        );
    }
    spec
}

/// A Symbee provider pointed at a sandbox's `environment`, with `api_key` from `source`.
pub async fn symbee_provider(
    runtime: &Runtime,
    sandbox_url: &str,
    environment: &str,
    sso_mode: &str,
    api_key_source: &str,
    aws: roster_runtime::secrets::AwsOptions,
) -> Result<Provider, roster_runtime::CallError> {
    let mut spec = symbee_spec(sandbox_url, environment, sso_mode, api_key_source);
    spec.aws = aws;
    let wasm = roster_components::builtin("symbee").expect("symbee is built in");
    Provider::start(runtime, wasm, spec).await
}

/// The spec of [`symbee_provider`] (default AWS options), to adjust before starting it.
pub fn symbee_spec(
    sandbox_url: &str,
    environment: &str,
    sso_mode: &str,
    api_key_source: &str,
) -> ProviderSpec {
    use roster_sim::symbee::demo;
    let config = serde_json::json!({
        "base_url": format!("{sandbox_url}/symbee-admin/api/users/"),
        "company_code": demo::COMPANY,
        "environment": environment,
        "secrets_region": demo::SECRETS_REGION,
        "sso_mode": sso_mode,
    });
    let mut spec = ProviderSpec::new("symbee", config);
    spec.secrets
        .insert("api_key".into(), api_key_source.parse().unwrap());
    spec.secret_max_age = Duration::from_secs(3600);
    spec
}

/// The typed provider error of a failed call; panics on success or on a sandbox stop.
pub fn provider_error(
    r: Result<impl std::fmt::Debug, roster_runtime::CallError>,
) -> roster_runtime::types::ProviderError {
    match r {
        Err(roster_runtime::CallError::Provider(e)) => e,
        other => panic!("expected a provider error, got {other:?}"),
    }
}

/// A certificate made now and registered on the demo app of `seed`, with its certificate and
/// PKCS#8 key written to files in a temporary directory (for the JS and Python tests, which get
/// the paths in `ROSTER_NIMBUS_CERTIFICATE_FILE` and `ROSTER_NIMBUS_PRIVATE_KEY_FILE`).
pub fn register_certificate(
    seed: &mut roster_sim::nimbus::NimbusSeed,
) -> (tempfile::TempDir, [(&'static str, String); 2]) {
    let cert = roster_sim::credentials::TestCertificate::generate("roster-embedding-test").unwrap();
    seed.entra[0].apps[0]
        .certificates
        .push(cert.certificate_pem.clone());
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (
        dir.path().join("client_certificate.pem"),
        dir.path().join("client_private_key.pem"),
    );
    std::fs::write(&cert_file, &cert.certificate_pem).unwrap();
    std::fs::write(&key_file, cert.private_key_pkcs8_pem()).unwrap();
    let env = [
        (
            "ROSTER_NIMBUS_CERTIFICATE_FILE",
            cert_file.display().to_string(),
        ),
        (
            "ROSTER_NIMBUS_PRIVATE_KEY_FILE",
            key_file.display().to_string(),
        ),
    ];
    (dir, env)
}
