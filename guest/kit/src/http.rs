//! Outgoing HTTP through `waki` (wasi:http), with every transport failure turned into a typed
//! [`ProviderError`] that names the host.

use crate::{errors, retry_after, ProviderError};
use std::time::Duration;
use waki::{Client, ErrorCode, Method};

/// How long a connection may take to open; the host enforces its own limits as well.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP request being put together.
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Body>,
}

enum Body {
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
}

/// A GET request to `url`.
pub fn get(url: &str) -> Request {
    Request::new(Method::Get, url)
}

/// A POST request to `url`.
pub fn post(url: &str) -> Request {
    Request::new(Method::Post, url)
}

/// A DELETE request to `url`.
pub fn delete(url: &str) -> Request {
    Request::new(Method::Delete, url)
}

impl Request {
    fn new(method: Method, url: &str) -> Self {
        Request {
            method,
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Adds `Authorization: Basic …` for `user` and `password` (RFC 7617; both are
    /// form-urlencoded first, as OAuth 2.0 client authentication requires, RFC 6749 §2.3.1).
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", enc(user), enc(password));
        let token = base64::engine::general_purpose::STANDARD.encode(pair);
        self.header("authorization", &format!("Basic {token}"))
    }

    /// Sends `body` as JSON.
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }

    /// Sends `fields` as `application/x-www-form-urlencoded`.
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.body = Some(Body::Form(fields));
        self
    }

    /// The host part of the URL (for messages).
    fn host(&self) -> String {
        let rest = self
            .url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&self.url);
        rest.split(['/', '?']).next().unwrap_or(rest).to_string()
    }

    /// Sends the request and reads the whole answer.
    pub fn send(self) -> Result<Reply, ProviderError> {
        let host = self.host();
        let mut builder = Client::new()
            .request(self.method.clone(), &self.url)
            .connect_timeout(CONNECT_TIMEOUT)
            .header("accept", "application/json");
        for (name, value) in &self.headers {
            let name = waki::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| errors::invalid_input("", &format!("bad header name `{name}`")))?;
            let value = waki::header::HeaderValue::from_str(value).map_err(|_| {
                errors::invalid_input("", &format!("bad value for header `{name}`"))
            })?;
            builder = builder.header(name, value);
        }
        builder = match &self.body {
            None => builder,
            Some(Body::Json(v)) => builder
                .header("content-type", "application/json")
                .body(v.to_string()),
            Some(Body::Form(fields)) => {
                builder.form(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            }
        };
        let response = builder.send().map_err(|e| transport_error(&host, e))?;
        let status = response.status_code();
        let retry_after = response
            .header("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.body().map_err(|e| transport_error(&host, e))?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }
}

/// Maps a waki failure to a typed error naming `host`.
fn transport_error(host: &str, error: anyhow::Error) -> ProviderError {
    match error.downcast_ref::<ErrorCode>() {
        // The host decides why (not an allowed host, or a private address it was not granted)
        // and Roster's host adds its reason to this message.
        Some(ErrorCode::HttpRequestDenied) => {
            ProviderError::Denied(format!("request to {host} denied"))
        }
        Some(
            code @ (ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::HttpResponseTimeout),
        ) => ProviderError::Unavailable(format!("{host} did not answer in time ({code:?})")),
        Some(code) => ProviderError::Unavailable(format!("{host}: {code:?}")),
        None => ProviderError::Unavailable(format!("{host}: {error:#}")),
    }
}

/// A whole HTTP answer.
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header, if sent.
    pub retry_after: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text (lossy), trimmed and cut to a readable length for messages.
    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(500) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_string(),
        }
    }

    /// The body parsed as JSON; a body that is not JSON is an `unavailable` error quoting it.
    pub fn json(&self) -> Result<serde_json::Value, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ProviderError::Unavailable(format!(
                "expected JSON from the vendor (HTTP {}), got: {} ({e})",
                self.status,
                self.text()
            ))
        })
    }

    /// `Retry-After` in milliseconds, if the server sent one.
    pub fn retry_after_ms(&self) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.retry_after
            .as_deref()
            .and_then(|v| retry_after::parse(v, now))
    }

    /// The error for a 429 answer, with its retry delay.
    pub fn rate_limited(&self) -> ProviderError {
        errors::rate_limited(
            self.retry_after_ms(),
            &errors::with_detail("too many requests", &self.text()),
        )
    }

    /// The server's detail: a JSON `message`/`error_description`/`detail`/`title` field if
    /// present, else the text.
    pub fn detail(&self) -> String {
        if let Ok(serde_json::Value::Object(map)) =
            serde_json::from_slice::<serde_json::Value>(&self.body)
        {
            for key in ["message", "error_description", "detail", "title", "error"] {
                if let Some(serde_json::Value::String(s)) = map.get(key) {
                    return s.clone();
                }
            }
        }
        self.text()
    }
}
