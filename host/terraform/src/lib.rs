//! Serves a Roster provider component to Terraform and OpenTofu: plugin protocol 6 over gRPC
//! (go-plugin's handshake and AutoMTLS), with the component sandboxed in Roster's wasmtime host
//! exactly as the `roster` CLI runs it — the same allow-list, secrets, limits, pacing and
//! retries — and its grant pinned by Terraform's own lock file.
//!
//! A provider is a *package* ([`package`]): the host executable (the `roster` binary, which
//! serves when Terraform starts it), the component, and the component's grant. `roster
//! terraform install` and `roster terraform package` write packages into a filesystem mirror;
//! Terraform starts the executable, which calls [`serve`] on its own directory:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let dir = std::env::current_exe()?.parent().unwrap().to_path_buf();
//! roster_terraform::serve(&dir).await?; // handshake on stdout, then gRPC until Terraform shuts it down
//! # Ok(()) }
//! ```
//!
//! The rooms: [`value`] (msgpack values and cty types), [`schema`] (the component's metadata as
//! Terraform schemas), [`lifecycle`] (plan, create, read and import as pure functions),
//! [`package`] (the mirror layout and the grant check), [`plugin`] (handshake and TLS), `server`
//! (the RPCs), [`log`] (hclog lines on stderr, redacted).
#![deny(missing_docs)]

pub mod docs;
pub mod lifecycle;
pub mod log;
pub mod package;
pub mod plugin;
pub mod schema;
mod server;
pub mod value;

pub use server::Host;

use anyhow::Context as _;
use proto::health::health_server::{Health, HealthServer};
use proto::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use proto::plugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use std::path::Path;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The protocol's generated types and services.
#[allow(missing_docs, clippy::all, unreachable_pub, dead_code)]
pub(crate) mod proto {
    pub(crate) mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub(crate) mod plugin {
        tonic::include_proto!("plugin");
    }
    pub(crate) mod health {
        tonic::include_proto!("grpc.health.v1");
    }
}

/// Terraform's messages can be large (a schema, a big state); terraform-plugin-go allows 256 MiB.
const MAX_MESSAGE: usize = 256 << 20;

struct Controller(tokio::sync::watch::Sender<bool>);

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(
        &self,
        _: Request<proto::plugin::Empty>,
    ) -> Result<Response<proto::plugin::Empty>, Status> {
        tracing::debug!("Terraform shut the provider down");
        self.0.send_replace(true);
        Ok(Response::new(proto::plugin::Empty {}))
    }
}

struct Stdio;

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<proto::plugin::StdioData, Status>> + Send>,
    >;
    /// Nothing is ever written to the plugin's stdout after the handshake, and logs go to stderr
    /// lines: the stream stays open and empty until shutdown.
    async fn stream_stdio(
        &self,
        _: Request<proto::plugin::Empty>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::pending())))
    }
}

struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    async fn check(
        &self,
        _: Request<proto::health::HealthCheckRequest>,
    ) -> Result<Response<proto::health::HealthCheckResponse>, Status> {
        Ok(Response::new(proto::health::HealthCheckResponse {
            status: proto::health::health_check_response::ServingStatus::Serving as i32,
        }))
    }
}

/// Serves the provider package in `dir` to the Terraform (or OpenTofu) that started this
/// process: negotiates the protocol, prints the handshake line on stdout, and answers gRPC on a
/// private Unix socket (TLS with Terraform's pinned certificate when AutoMTLS is on) until
/// Terraform shuts it down or goes away. Logs go to stderr as hclog JSON, redacted.
pub async fn serve(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    // Ctrl-C reaches the whole process group: Terraform then calls StopProvider, which ends the
    // work cleanly; the signal itself must not kill the provider mid-operation.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let protocol = plugin::negotiate(std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok().as_deref())
        .map_err(anyhow::Error::msg)?;
    let runtime = roster_runtime::Runtime::new(roster_runtime::RuntimeOptions::default())?;
    {
        use tracing_subscriber::layer::SubscriberExt;
        let level = log::level_from_env(
            std::env::var("TF_LOG_PROVIDER").ok().as_deref(),
            std::env::var("TF_LOG").ok().as_deref(),
        );
        let subscriber = tracing_subscriber::registry()
            .with(log::HclogLayer::new(runtime.redactor().clone(), level));
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    let host = Arc::new(Host::new(runtime, package::open(dir)).await);
    let socket_dir = private_dir()?;
    let socket = socket_dir.join("plugin.sock");
    let listener = tokio::net::UnixListener::bind(&socket)
        .with_context(|| format!("binding {}", socket.display()))?;
    let tls = match std::env::var("PLUGIN_CLIENT_CERT") {
        Ok(pem) if !pem.trim().is_empty() => Some(plugin::server_tls(&pem)?),
        _ => None,
    };
    let line = plugin::handshake_line(
        protocol,
        "unix",
        &socket.display().to_string(),
        tls.as_ref().map(|(_, der)| der.as_slice()),
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    let (shutdown, mut shut) = tokio::sync::watch::channel(false);
    watch_parent(shutdown.clone());
    let acceptor = tls.map(|(config, _)| tokio_rustls::TlsAcceptor::from(Arc::new(config)));
    let (conns, rx) = tokio::sync::mpsc::channel::<Result<plugin::Connection, std::io::Error>>(16);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, conns) = (acceptor.clone(), conns.clone());
            tokio::spawn(async move {
                let conn = match acceptor {
                    None => Ok(plugin::Connection::Plain(stream)),
                    Some(a) => a
                        .accept(stream)
                        .await
                        .map(|s| plugin::Connection::Tls(Box::new(s))),
                };
                match conn {
                    Ok(c) => {
                        let _ = conns.send(Ok(c)).await;
                    }
                    Err(e) => tracing::warn!("a connection failed its TLS handshake: {e}"),
                }
            });
        }
    });
    let incoming =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let provider = proto::tfplugin6::provider_server::ProviderServer::new(host.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let result = tonic::transport::Server::builder()
        .add_service(provider)
        .add_service(GrpcControllerServer::new(Controller(shutdown)))
        .add_service(GrpcStdioServer::new(Stdio))
        .add_service(HealthServer::new(Healthy))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = shut.wait_for(|s| *s).await;
            host.stop();
        })
        .await;
    let _ = std::fs::remove_dir_all(&socket_dir);
    result.context("serving gRPC")
}

/// A new `0700` directory for the socket.
fn private_dir() -> anyhow::Result<std::path::PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..100u32 {
        let p = base.join(format!("roster-plugin-{}-{n}", std::process::id()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating a socket directory in {}", base.display()))
            }
        }
    }
    anyhow::bail!("no free socket directory in {}", base.display())
}

/// Ends serving when the process that started this one goes away (Terraform killed): work
/// already sent to the vendor finishes first; nothing new starts.
fn watch_parent(shutdown: tokio::sync::watch::Sender<bool>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let parent = unsafe { libc::getppid() };
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if unsafe { libc::getppid() } != parent {
                tracing::warn!("Terraform went away: shutting down");
                shutdown.send_replace(true);
                return;
            }
        }
    });
}
