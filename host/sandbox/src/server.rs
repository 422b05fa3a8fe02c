//! The HTTP plumbing shared by the sandboxes: hyper HTTP/1.1 (chunked requests accepted), whole
//! bodies in, JSON out, and the ability to drop a connection without answering.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Response, StatusCode};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A request, read whole.
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Req {
    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, or `Null` when it is not JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The path split on `/`, without empty parts.
    pub(crate) fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// What a handler does with a request.
pub(crate) enum Outcome {
    /// Answer it.
    Reply(Response<Full<Bytes>>),
    /// Close the connection without an answer (fault injection).
    Drop,
}

/// A JSON answer.
pub(crate) fn json(status: u16, body: serde_json::Value) -> Outcome {
    json_with(status, body, &[])
}

/// A JSON answer with extra headers.
pub(crate) fn json_with(status: u16, body: serde_json::Value, headers: &[(&str, String)]) -> Outcome {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    for (name, value) in headers {
        response = response.header(*name, value.as_str());
    }
    Outcome::Reply(response.body(Full::new(Bytes::from(body.to_string()))).expect("valid response"))
}

/// Applies an injected fault: sleeps its latency, then gives the outcome to answer instead of
/// serving (`error` builds the body of an injected error), or `None` to serve normally.
pub(crate) async fn inject(decision: (std::time::Duration, crate::faults::Action), error: impl FnOnce(u16) -> Outcome) -> Option<Outcome> {
    let (latency, action) = decision;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match action {
        crate::faults::Action::Serve => None,
        crate::faults::Action::Drop => Some(Outcome::Drop),
        crate::faults::Action::Error(status) => Some(error(status)),
    }
}

/// Serves a request under its route's injected faults: before serving (the request never
/// reaches the vendor's logic), or after it when the route says `after_serve` (the work is done
/// and the answer is late, fails or is dropped).
pub(crate) async fn with_faults<F: Future<Output = Outcome>>(after_serve: bool, decide: impl FnOnce() -> (std::time::Duration, crate::faults::Action), error: impl FnOnce(u16) -> Outcome, injected: impl FnOnce(), serve: impl FnOnce() -> F) -> Outcome {
    if after_serve {
        let served = serve().await;
        return match inject(decide(), error).await {
            Some(fault) => {
                injected();
                fault
            }
            None => served,
        };
    }
    match inject(decide(), error).await {
        Some(fault) => {
            injected();
            fault
        }
        None => serve().await,
    }
}

/// A sandbox's request handler.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn handle(self: Arc<Self>, req: Req) -> impl Future<Output = Outcome> + Send;
}

/// A sandbox server running on a loopback port; stops when dropped.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Serves `handler` on `addr` (port 0 picks a free one) until the returned value is dropped.
pub(crate) async fn serve<H: Handler>(handler: Arc<H>, addr: SocketAddr) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let req = Req { method: parts.method, path: parts.uri.path().to_string(), headers: parts.headers, body };
                        match handler.handle(req).await {
                            Outcome::Reply(r) => Ok(r),
                            Outcome::Drop => Err(Dropped),
                        }
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok(Running { addr, task })
}
