//! The HTTP plumbing shared by the sandboxes: hyper HTTP/1.1 (chunked requests accepted), whole
//! bodies in, JSON out, and the ability to drop a connection without answering.
//!
//! It is exposed to whoever can reach the port, so it defends itself ([`ServerLimits`]): a
//! request body over the limit is answered 413, headers that do not arrive in time close the
//! connection, a body that stalls is answered 408, a handler that panics is answered 500 (and
//! the sandbox keeps serving), and an accept loop that fails (out of file descriptors, say)
//! backs off instead of spinning.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Frame;
use hyper::{HeaderMap, Method, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;

/// An answer's body: whole, or (a hostile vendor) dribbled or endless.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// A whole body.
pub(crate) fn whole(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

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
    Reply(Response<Body>),
    /// Close the connection without an answer (fault injection).
    Drop,
}

/// A JSON answer.
pub(crate) fn json(status: u16, body: serde_json::Value) -> Outcome {
    json_with(status, body, &[])
}

/// A JSON answer with extra headers.
pub(crate) fn json_with(
    status: u16,
    body: serde_json::Value,
    headers: &[(&str, String)],
) -> Outcome {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    for (name, value) in headers {
        response = response.header(*name, value.as_str());
    }
    Outcome::Reply(
        response
            .body(whole(body.to_string()))
            .expect("valid response"),
    )
}

/// A plain-text answer.
fn text(status: u16, body: String) -> Outcome {
    let response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "text/plain; charset=utf-8");
    Outcome::Reply(response.body(whole(body)).expect("valid response"))
}

/// The page a misconfigured gateway shows: the status, then the request as received (method,
/// path, every header, the body).
pub(crate) fn echo_page(status: u16, req: &Req) -> Outcome {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut page = format!(
        "{status} {reason} (sandbox fault: echo)\n{} {}\n",
        req.method, req.path
    );
    for (name, value) in &req.headers {
        page.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    page.push('\n');
    page.push_str(&String::from_utf8_lossy(&req.body));
    text(status, page)
}

/// Applies an injected fault: sleeps its latency, then gives the outcome to answer instead of
/// serving (`error` builds the body of an injected error; an echo fault answers
/// [`echo_page`]), or `None` to serve normally.
pub(crate) async fn inject(
    decision: (Duration, crate::faults::Action),
    req: &Req,
    error: impl FnOnce(u16) -> Outcome,
) -> Option<Outcome> {
    let (latency, action) = decision;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match action {
        crate::faults::Action::Serve => None,
        crate::faults::Action::Drop => Some(Outcome::Drop),
        crate::faults::Action::Error(status) => Some(error(status)),
        crate::faults::Action::Echo(status) => Some(echo_page(status, req)),
        crate::faults::Action::Misbehave(m) => Some(misbehave(m)),
    }
}

/// A body of `chunk` sent every `every`, `count` times (`None`: for ever).
struct Dribble {
    chunk: Bytes,
    every: Duration,
    count: Option<u64>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for Dribble {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.count == Some(0) {
            return Poll::Ready(None);
        }
        if !self.every.is_zero() {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let next = tokio::time::Instant::now() + self.every;
            self.sleep.as_mut().reset(next);
        }
        if let Some(n) = &mut self.count {
            *n -= 1;
        }
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

fn dribble(chunk: &'static [u8], every: Duration, count: Option<u64>) -> Body {
    Dribble {
        chunk: Bytes::from_static(chunk),
        every,
        count,
        sleep: Box::pin(tokio::time::sleep(every)),
    }
    .boxed()
}

/// The body of the hostile vendor's 429s.
const TOO_MANY: &str = r#"{"message":"too many requests"}"#;

/// The answer of a hostile or broken vendor ([`crate::faults::Misbehaviour`]).
pub(crate) fn misbehave(m: crate::faults::Misbehaviour) -> Outcome {
    use crate::faults::Misbehaviour as M;
    let builder = |status: u16, content_type: &str| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
    };
    let response = match m {
        M::SlowBody => builder(200, "application/json").header("content-length", "1000").body(dribble(b" ", Duration::from_millis(200), Some(1000))),
        M::EndlessBody => builder(200, "application/json").body(dribble(&[b' '; 16384], Duration::ZERO, None)),
        M::HugeJson => {
            let item = br#"{"id":"00000000-0000-4000-8000-000000000000","name":"padding padding padding"},"#;
            let mut body = Vec::with_capacity(10 << 20);
            body.push(b'[');
            while body.len() + item.len() < 10 << 20 {
                body.extend_from_slice(item);
            }
            body.extend_from_slice(b"{}]");
            builder(200, "application/json").body(whole(body))
        }
        M::DeepJson => {
            let mut body = vec![b'['; 100_000];
            body.extend(std::iter::repeat_n(b']', 100_000));
            builder(200, "application/json").body(whole(body))
        }
        M::InvalidUtf8 => builder(200, "application/json").body(whole(&b"{\"message\":\"\xff\xfe\xc3\x28 not UTF-8\",\"id\":\"\x80\"}"[..])),
        M::WrongContentType => builder(200, "text/html").body(whole("<!doctype html><html><body><h1>Sign in to the Wi-Fi</h1></body></html>")),
        M::ErrorInOk => builder(200, "application/json").body(whole(r#"{"error":"internal_error","message":"Internal error (reported with HTTP 200)","resultCode":"500"}"#)),
        M::RedirectOffHost => builder(302, "text/plain").header("location", "http://169.254.169.254/latest/meta-data/").body(whole("Found")),
        M::DuplicateHeaders => builder(429, "application/json").header("content-type", "text/plain").header("retry-after", "1").header("retry-after", "99999").body(whole(TOO_MANY)),
        M::RetryAfterPast => builder(429, "application/json").header("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT").body(whole(TOO_MANY)),
        M::RetryAfterDate => {
            let at = std::time::SystemTime::now() + Duration::from_secs(2);
            builder(429, "application/json").header("retry-after", http_date(at)).body(whole(TOO_MANY))
        }
        M::RetryAfterAbsurd => builder(429, "application/json").header("retry-after", "99999999999").body(whole(TOO_MANY)),
    };
    Outcome::Reply(response.expect("a valid response"))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(at: std::time::SystemTime) -> String {
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[month as usize - 1],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Serves a request under its route's injected faults: before serving (the request never
/// reaches the vendor's logic), or after it when the route says `after_serve` (the work is done
/// and the answer is late, fails or is dropped).
pub(crate) async fn with_faults<F: Future<Output = Outcome>>(
    after_serve: bool,
    decide: impl FnOnce() -> (Duration, crate::faults::Action),
    req: &Req,
    error: impl FnOnce(u16) -> Outcome,
    injected: impl FnOnce(),
    serve: impl FnOnce() -> F,
) -> Outcome {
    if after_serve {
        let served = serve().await;
        return match inject(decide(), req, error).await {
            Some(fault) => {
                injected();
                fault
            }
            None => served,
        };
    }
    match inject(decide(), req, error).await {
        Some(fault) => {
            injected();
            fault
        }
        None => serve().await,
    }
}

/// The longest a token or other sandbox lifetime may be (ten years): `Instant` arithmetic
/// beyond it could overflow.
pub const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

/// `now + secs`, with `secs` capped at [`MAX_LIFETIME_SECS`] (never panics).
pub(crate) fn expiry(secs: u64) -> std::time::Instant {
    std::time::Instant::now() + Duration::from_secs(secs.min(MAX_LIFETIME_SECS))
}

/// A sandbox's request handler.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn handle(self: Arc<Self>, req: Req) -> impl Future<Output = Outcome> + Send;
}

/// How a sandbox server protects itself from its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// The largest request body, in bytes; larger ones are answered 413.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers before the connection is closed.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body before it is answered 408.
    pub body_read_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_body_bytes: 1 << 20,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
        }
    }
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

/// The pause after `failures` accept errors in a row: 5 ms, doubling, at most 1 s.
pub(crate) fn accept_backoff(failures: u32) -> Duration {
    Duration::from_millis(5u64.saturating_mul(1 << failures.saturating_sub(1).min(8)))
        .min(Duration::from_secs(1))
}

/// Something connections come from (a listener; a fake one in tests).
pub(crate) trait Acceptor: Send + 'static {
    /// A connection.
    type Stream: Send + 'static;
    /// The next connection.
    fn accept(&mut self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Acceptor for TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> std::io::Result<tokio::net::TcpStream> {
        TcpListener::accept(self).await.map(|(s, _)| s)
    }
}

/// Accepts connections for ever, handing each to `serve`; after a failed accept (out of file
/// descriptors, say) it waits [`accept_backoff`] before trying again, so it never spins.
pub(crate) async fn accept_loop<A: Acceptor>(
    mut acceptor: A,
    mut serve: impl FnMut(A::Stream) + Send,
) {
    let mut failures = 0u32;
    loop {
        match acceptor.accept().await {
            Ok(stream) => {
                failures = 0;
                serve(stream);
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let pause = accept_backoff(failures);
                if failures == 1 {
                    eprintln!("sandbox: accepting a connection failed ({e}); backing off");
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Reads a whole request body under the limits; `Err` is the answer to give instead.
async fn read_body(
    parts: &hyper::http::request::Parts,
    body: hyper::body::Incoming,
    limits: ServerLimits,
) -> Result<Bytes, Outcome> {
    let too_large = || {
        json(
            413,
            serde_json::json!({ "message": format!("request body larger than {} bytes", limits.max_body_bytes) }),
        )
    };
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, limits.max_body_bytes);
    match tokio::time::timeout(limits.body_read_timeout, limited.collect()).await {
        Err(_) => Err(json(
            408,
            serde_json::json!({ "message": "the request body did not arrive in time" }),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Ok(Err(_)) => Err(Outcome::Drop),
    }
}

/// Serves `handler` on `addr` (port 0 picks a free one) until the returned value is dropped.
pub(crate) async fn serve<H: Handler>(
    handler: Arc<H>,
    addr: SocketAddr,
    limits: ServerLimits,
) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(listener, move |stream| {
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let outcome = match read_body(&parts, body, limits).await {
                            Err(outcome) => outcome,
                            Ok(body) => {
                                let req = Req {
                                    method: parts.method,
                                    path: parts.uri.path().to_string(),
                                    headers: parts.headers,
                                    body,
                                };
                                // A panicking handler costs its request a 500, not the sandbox.
                                match tokio::spawn(handler.handle(req)).await {
                                    Ok(outcome) => outcome,
                                    Err(_) => json(
                                        500,
                                        serde_json::json!({ "message": "the sandbox failed on this request (a bug: please report it)" }),
                                    ),
                                }
                            }
                        };
                        match outcome {
                            Outcome::Reply(r) => Ok(r),
                            Outcome::Drop => Err(Dropped),
                        }
                    }
                },
            );
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(io, service)
                .await;
        });
    }));
    Ok(Running { addr, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_second() {
        let table = [
            (1, 5),
            (2, 10),
            (3, 20),
            (4, 40),
            (8, 640),
            (9, 1000),
            (10, 1000),
            (u32::MAX, 1000),
        ];
        for (failures, ms) in table {
            assert_eq!(
                accept_backoff(failures),
                Duration::from_millis(ms),
                "{failures}"
            );
        }
    }

    /// Fails every accept, counting them.
    struct Failing(Arc<std::sync::atomic::AtomicU32>);

    impl Acceptor for Failing {
        type Stream = ();

        async fn accept(&mut self) -> std::io::Result<()> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(std::io::Error::from_raw_os_error(24)) // EMFILE: too many open files
        }
    }

    #[tokio::test]
    async fn a_failing_accept_loop_backs_off_instead_of_spinning() {
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let run = tokio::time::timeout(
            Duration::from_millis(300),
            accept_loop(Failing(calls.clone()), |_| {}),
        );
        assert!(run.await.is_err(), "the loop runs until stopped");
        // 5 + 10 + 20 + 40 + 80 + 160 ms: at most 7 attempts in 300 ms (a spinning loop makes millions).
        let n = calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!((4..=7).contains(&n), "{n} accepts in 300 ms");
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(
            http_date(std::time::UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            http_date(std::time::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }

    #[test]
    fn expiry_never_overflows() {
        let far = expiry(u64::MAX);
        assert!(far > std::time::Instant::now() + Duration::from_secs(MAX_LIFETIME_SECS - 60));
    }
}
