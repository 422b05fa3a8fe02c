//! The outgoing-HTTP capability: wasi:http restricted to a provider's allowed hosts, with
//! timeouts on every request.
//!
//! The allow-list parser ([`AllowedHost::parse`]) is a pure function: an entry is
//! `[scheme://]host[:port]`, where `host` may start with `*.` to allow every subdomain.
//! Without a port, an entry allows its scheme's default port (443 for https, 80 for http;
//! both when no scheme is given). Matching ignores case. An IPv6 address goes in brackets.
//!
//! After the allow-list, the private-network rule ([`crate::address`]) checks the address a
//! request would reach: an IP literal before anything is sent, a name after it resolved.

use crate::address::{check_address, AddressRefused};
use crate::limits::HttpTimeouts;
use crate::redact::Redactor;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `[scheme://]host[:port]`, with an optional leading `*.` on the host.
    pub fn parse(entry: &str) -> Result<AllowedHost, String> {
        let entry = entry.trim();
        let (scheme, rest) = match entry.split_once("://") {
            Some((s, rest)) => {
                let s = s.to_ascii_lowercase();
                if s != "http" && s != "https" {
                    return Err(format!(
                        "allowed host `{entry}`: scheme must be http or https"
                    ));
                }
                (Some(s), rest)
            }
            None => (None, entry),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(format!(
                "allowed host `{entry}`: give only [scheme://]host[:port], no path or user"
            ));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| {
            format!("allowed host `{entry}`: the port must be a number from 1 to 65535")
        })?;
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(h) => (true, h),
            None => (false, host),
        };
        if host.is_empty() || host.contains('*') {
            return Err(format!(
                "allowed host `{entry}`: a wildcard may only be a leading `*.`"
            ));
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:_".contains(&b))
        {
            return Err(format!(
                "allowed host `{entry}`: `{host}` is not a host name or IP address"
            ));
        }
        let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        let valid_ipv6 = bracketed.is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
        if (host.contains([':', '[', ']']) || bracketed.is_some()) && (!valid_ipv6 || wildcard) {
            return Err(format!(
                "allowed host `{entry}`: an IPv6 address goes in brackets, e.g. `[::1]:8080`"
            ));
        }
        Ok(AllowedHost {
            scheme,
            host: canonical_host(host),
            wildcard,
            port,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = canonical_host(host);
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|prefix| prefix.ends_with('.'))
        } else {
            host == self.host
        };
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let port_ok = match self.port {
            Some(p) => p == port,
            None => match self.scheme.as_deref() {
                Some(s) => default_port(s) == Some(port),
                None => default_port(scheme) == Some(port),
            },
        };
        host_ok && scheme_ok && port_ok
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.scheme {
            write!(f, "{s}://")?;
        }
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// A host as compared: lower case; a bracketed IPv6 address in the URL standard's form (RFC 5952:
/// lower-case hex, the longest run of zero groups as `::`, no dotted quad), so
/// `[::FFFF:169.254.169.254]` and `[::ffff:a9fe:a9fe]` are one host.
pub fn canonical_host(host: &str) -> String {
    let lower = host.to_ascii_lowercase();
    match lower
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<std::net::Ipv6Addr>().ok())
    {
        Some(ip) => format!("[{}]", rfc5952(ip)),
        None => lower,
    }
}

fn rfc5952(ip: std::net::Ipv6Addr) -> String {
    let s = ip.segments();
    // The longest run of at least two zero groups (the first, on a tie).
    let (mut best, mut run) = ((0, 0), (0, 0));
    for (i, &g) in s.iter().enumerate() {
        if g == 0 {
            run = if run.1 == 0 || run.0 + run.1 != i {
                (i, 1)
            } else {
                (run.0, run.1 + 1)
            };
            if run.1 > best.1 {
                best = run;
            }
        }
    }
    let hex = |r: &[u16]| {
        r.iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best.1 < 2 {
        return hex(&s);
    }
    format!("{}::{}", hex(&s[..best.0]), hex(&s[best.0 + best.1..]))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

/// Splits `host[:port]` (IPv6 literals in brackets); `None` for a bad port.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let colon = if s.starts_with('[') {
        s.find("]:").map(|i| i + 1)
    } else {
        s.rfind(':')
    };
    match colon {
        Some(i) if !s[i + 1..].bytes().all(|b| b.is_ascii_digit()) => None,
        Some(i) => match s[i + 1..].parse::<u16>() {
            Ok(p) if p > 0 => Some((&s[..i], Some(p))),
            _ => None,
        },
        None => Some((s, None)),
    }
}

/// A provider's allow-list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    /// Parses every entry; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedHosts, String> {
        entries
            .iter()
            .map(|e| AllowedHost::parse(e.as_ref()))
            .collect::<Result<_, _>>()
            .map(AllowedHosts)
    }

    /// Whether the URI may be requested. A URI without a scheme counts as https.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let Some(host) = uri.host() else { return false };
        let Some(port) = uri.port_u16().or_else(|| default_port(&scheme)) else {
            return false;
        };
        self.0.iter().any(|a| a.allows(&scheme, host, port))
    }

    /// The entries.
    pub fn entries(&self) -> &[AllowedHost] {
        &self.0
    }

    /// Adds entries (duplicates are skipped).
    pub fn extend(&mut self, more: AllowedHosts) {
        for a in more.0 {
            if !self.0.contains(&a) {
                self.0.push(a);
            }
        }
    }
}

impl fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(", "))
    }
}

/// What a provider may reach: its allow-list, the part of it the user granted (not only the
/// component asked for), and whether private networks are open to it ([`crate::address`]).
#[derive(Clone, Debug, Default)]
pub struct NetworkPolicy {
    /// Every allowed host: the component's and the user's.
    pub allowed: AllowedHosts,
    /// The hosts the user listed.
    pub granted: AllowedHosts,
    /// The provider is opted in to private networks.
    pub allow_private_networks: bool,
}

impl NetworkPolicy {
    /// Why a request to `uri` is refused before anything is sent, or `None` to send it: the
    /// allow-list, then, for an IP literal, the private-network rule. (A name is checked after
    /// it resolves.)
    pub fn refusal(&self, uri: &http::Uri) -> Option<String> {
        let host = uri.host().unwrap_or_default();
        if !self.allowed.allows_uri(uri) {
            let target = match (uri.host(), uri.port_u16()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                _ => uri.to_string(),
            };
            return Some(format!(
                "{target} is not among this provider's allowed hosts ({})",
                self.allowed
            ));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip = bare.parse::<IpAddr>().ok()?;
        let granted = self.granted.allows_uri(uri);
        check_address(bare, ip, granted, self.allow_private_networks)
            .err()
            .map(|e| e.to_string())
    }
}

/// Resolves names with the system resolver and keeps only the addresses the private-network
/// rule allows; none left is an [`AddressRefused`] error. (IP literals never get here: the
/// connector uses them as they are, and [`NetworkPolicy::refusal`] checked them.)
#[derive(Clone)]
struct GuardedResolver {
    allow_private_networks: bool,
}

type ResolveFuture = std::pin::Pin<
    Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, BoxError>> + Send>,
>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = ResolveFuture;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> ResolveFuture {
        let allow_private = self.allow_private_networks;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let kept: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(
                    |a| match check_address(&host, a.ip(), false, allow_private) {
                        Ok(()) => true,
                        Err(e) => {
                            refused.get_or_insert(e);
                            false
                        }
                    },
                )
                .collect();
            match (kept.is_empty(), refused) {
                (true, Some(e)) => Err(Box::new(e) as BoxError),
                _ => Ok(kept.into_iter()),
            }
        })
    }
}

type PoolClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<
        hyper_util::client::legacy::connect::HttpConnector<GuardedResolver>,
    >,
    WasiBody,
>;

/// Outgoing connections kept alive and reused across requests, calls and instances (one pool
/// per provider; a provider's instances share its connections).
#[derive(Clone)]
pub(crate) struct ConnectionPool {
    client: PoolClient,
}

impl ConnectionPool {
    /// A pool whose connections open within `connect` and idle at most 30 s, resolving names
    /// under the private-network rule.
    pub(crate) fn new(
        connect: std::time::Duration,
        allow_private_networks: bool,
    ) -> ConnectionPool {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(
            GuardedResolver {
                allow_private_networks,
            },
        );
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(std::time::Duration::from_secs(30))
                .pool_max_idle_per_host(64)
                .build(https);
        ConnectionPool { client }
    }
}

/// The private-network refusal somewhere in an error's sources.
fn address_refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a AddressRefused> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<AddressRefused>() {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

/// A response body that fails when the gap between two chunks exceeds a limit.
struct BetweenBytes {
    inner: hyper::body::Incoming,
    limit: std::time::Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for BetweenBytes {
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + self.limit;
                self.sleep.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| {
                    f.map_err(|e| {
                        if e.is_timeout() {
                            wasmtime_wasi_http::Error::HttpResponseTimeout
                        } else {
                            e.into()
                        }
                    })
                }))
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err(wasmtime_wasi_http::Error::ConnectionReadTimeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

/// The wasi:http hooks of one instance: network policy, connection pool, timeouts, the
/// redactor that learns each request's credentials, and why the last request was denied.
pub(crate) struct HttpHooks {
    pub(crate) policy: Arc<NetworkPolicy>,
    pub(crate) pool: ConnectionPool,
    pub(crate) timeouts: HttpTimeouts,
    pub(crate) redactor: Redactor,
    pub(crate) denial: Arc<Mutex<Option<String>>>,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

fn tighter(
    guest: Option<std::time::Duration>,
    host: std::time::Duration,
) -> Option<std::time::Duration> {
    Some(guest.map_or(host, |g| g.min(host)))
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        use http_body_util::BodyExt;
        // Whatever happens next, the credentials on this request are never printed.
        self.redactor.add_request_headers(request.headers());
        let denial = self.denial.clone();
        if let Some(reason) = self.policy.refusal(request.uri()) {
            tracing::warn!("outgoing request denied: {reason}");
            *denial.lock().unwrap() = Some(reason);
            return Box::new(async move {
                // Drain the body the guest is still writing, or it sees a closed stream
                // instead of the denial.
                let _ = request.into_body().collect().await;
                Err(wasmtime_wasi_http::Error::HttpRequestDenied)
            });
        }
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: tighter(options.connect_timeout, self.timeouts.connect),
            first_byte_timeout: tighter(options.first_byte_timeout, self.timeouts.first_byte),
            between_bytes_timeout: tighter(
                options.between_bytes_timeout,
                self.timeouts.between_bytes,
            ),
        };
        let client = self.pool.client.clone();
        Box::new(async move {
            use std::error::Error as _;
            let first_byte = options
                .first_byte_timeout
                .unwrap_or(std::time::Duration::from_secs(600));
            let between = options
                .between_bytes_timeout
                .unwrap_or(std::time::Duration::from_secs(600));
            // The pool's connector applies the connect timeout; the first-byte timeout runs from
            // the request's start (a new connection's set-up included, a reused one's not needed).
            let response = match tokio::time::timeout(first_byte, client.request(request)).await {
                Err(_) => return Err(wasmtime_wasi_http::Error::ConnectionReadTimeout),
                Ok(Err(e)) if e.is_connect() => {
                    if let Some(refused) = address_refusal(&e) {
                        tracing::warn!("outgoing request denied: {refused}");
                        *denial.lock().unwrap() = Some(refused.to_string());
                        return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
                    }
                    let timed_out = e
                        .source()
                        .and_then(|s| s.source())
                        .is_some_and(|s| s.to_string().contains("timed out"));
                    return Err(if timed_out {
                        wasmtime_wasi_http::Error::ConnectionTimeout
                    } else {
                        wasmtime_wasi_http::Error::ConnectionRefused
                    });
                }
                Ok(Err(e)) => {
                    return Err(wasmtime_wasi_http::Error::InternalError(Some(
                        e.to_string(),
                    )))
                }
                Ok(Ok(r)) => r,
            };
            let response = response.map(|inner| {
                BetweenBytes {
                    inner,
                    limit: between,
                    sleep: Box::pin(tokio::time::sleep(between)),
                }
                .boxed_unsync()
            });
            // Pooled connections are driven by the pool, not by this request.
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tests/vectors/allowlist.json, which the Node and Python hosts run too.
    fn vectors() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/allowlist.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn entries_parse_as_the_golden_vectors_say() {
        let v = vectors();
        for case in v["entries"].as_array().unwrap() {
            let entry = case["entry"].as_str().unwrap();
            match (
                AllowedHost::parse(entry),
                case["display"].as_str(),
                case["error"].as_str(),
            ) {
                (Ok(parsed), Some(display), None) => {
                    assert_eq!(parsed.to_string(), display, "{entry:?}")
                }
                (Err(e), None, Some(error)) => assert_eq!(e, error, "{entry:?}"),
                (got, ..) => panic!("{entry:?}: got {got:?}, expected {case}"),
            }
        }
    }

    #[test]
    fn requests_are_allowed_as_the_golden_vectors_say() {
        let v = vectors();
        for case in v["requests"].as_array().unwrap() {
            let hosts: Vec<&str> = case["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap())
                .collect();
            let uri: http::Uri = format!(
                "{}://{}/",
                case["scheme"].as_str().unwrap(),
                case["authority"].as_str().unwrap()
            )
            .parse()
            .unwrap();
            let allowed = AllowedHosts::parse(&hosts).unwrap().allows_uri(&uri);
            assert_eq!(allowed, case["allowed"].as_bool().unwrap(), "{case}");
        }
    }

    #[test]
    fn refusals_come_before_any_connection() {
        let policy = |hosts: &[&str], granted: &[&str], opt_in| NetworkPolicy {
            allowed: AllowedHosts::parse(hosts).unwrap(),
            granted: AllowedHosts::parse(granted).unwrap(),
            allow_private_networks: opt_in,
        };
        let uri = |u: &str| u.parse::<http::Uri>().unwrap();
        let metadata = uri("http://169.254.169.254/latest/api/token");
        let asked = policy(&["http://169.254.169.254"], &[], false);
        assert!(asked
            .refusal(&metadata)
            .unwrap()
            .starts_with("169.254.169.254 is a cloud metadata address"));
        assert_eq!(
            policy(
                &["http://169.254.169.254"],
                &["http://169.254.169.254"],
                false
            )
            .refusal(&metadata),
            None
        );
        assert_eq!(
            policy(&["http://169.254.169.254"], &[], true).refusal(&metadata),
            None
        );
        assert_eq!(
            asked.refusal(&uri("http://[::1]/")).unwrap(),
            "[::1] is not among this provider's allowed hosts (http://169.254.169.254)"
        );
        assert_eq!(
            policy(&["http://127.0.0.1:8781"], &[], false)
                .refusal(&uri("http://127.0.0.1:8781/api")),
            None
        );
        // A name is checked after it resolves, by the connector.
        assert_eq!(
            policy(&["http://127.1:8781"], &[], false).refusal(&uri("http://127.1:8781/")),
            None
        );
    }

    #[test]
    fn ipv6_hosts_compare_in_one_form() {
        for (host, canonical) in [
            ("[::1]", "[::1]"),
            ("[0:0:0:0:0:0:0:1]", "[::1]"),
            ("[::FFFF:169.254.169.254]", "[::ffff:a9fe:a9fe]"),
            ("[2001:db8:0:0:1:0:0:1]", "[2001:db8::1:0:0:1]"),
            ("[1:0:0:2:0:0:0:3]", "[1:0:0:2::3]"),
            ("[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7:8]"),
            ("[1:0:2:3:4:5:6:7]", "[1:0:2:3:4:5:6:7]"),
            ("[::]", "[::]"),
            ("Example.COM", "example.com"),
        ] {
            assert_eq!(canonical_host(host), canonical, "{host}");
        }
    }
}
