//! `roster sim` is product: the sandboxes' HTTP server defends itself from its clients — a body
//! over the limit is a 413, headers that never finish close the connection, hostile control
//! input is a 400 and never breaks the sandbox for the requests after it. (The accept loop's
//! back-off is tested in host/sim/src/server.rs with a listener that always fails.)

use roster_sim::nimbus::{demo as nd, MintToken, NimbusSeed, NimbusSim};
use roster_sim::symbee::{SymbeeSeed, SymbeeSim};
use roster_sim::{Running, ServerLimits, MAX_LIFETIME_SECS};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

async fn nimbus(limits: ServerLimits) -> (NimbusSim, Running) {
    let sandbox = NimbusSim::new(NimbusSeed::demo());
    let running = sandbox
        .serve_with(SocketAddr::from(LOOPBACK), limits)
        .await
        .unwrap();
    (sandbox, running)
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// A token from the sandbox's Entra endpoint, as a client gets one.
async fn token(url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/{}/oauth2/v2.0/token", nd::TENANT_ID))
        .basic_auth(nd::CLIENT_ID, Some(nd::CLIENT_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", &format!("{url}/.default")),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_declared_or_chunked() {
    let limits = ServerLimits {
        max_body_bytes: 64 * 1024,
        ..ServerLimits::default()
    };
    let sandbox = SymbeeSim::new(SymbeeSeed::demo());
    let server = sandbox
        .serve_with(SocketAddr::from(LOOPBACK), limits)
        .await
        .unwrap();
    let url = format!("{}/symbee-admin/api/users/add-user", server.url());
    let big = vec![b'x'; 64 * 1024 + 1];
    let declared = reqwest::Client::new()
        .post(&url)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status().as_u16(), 413);
    assert!(declared
        .text()
        .await
        .unwrap()
        .contains("request body larger than 65536 bytes"));
    // Without a content-length (chunked): read up to the limit, then refused.
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(b"POST /symbee-admin/api/users/add-user HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n").await.unwrap();
    for chunk in big.chunks(8192) {
        // The server may answer (and stop reading) before the last chunk: ignore write errors.
        let _ = socket
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        let _ = socket.write_all(chunk).await;
        let _ = socket.write_all(b"\r\n").await;
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    // A body at the limit is read (and answered by the API: no headers, so 401).
    let (status, _) = call(
        reqwest::Method::POST,
        url,
        Some(json!({ "pad": "y".repeat(1000) })),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn headers_that_never_finish_close_the_connection() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let (_sandbox, server) = nimbus(limits).await;
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(b"GET /_sandbox/state HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the server closed the connection (it held it for 5 s)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    // A client that sends its headers in time is served.
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{}/_sandbox/state", server.url()),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn hostile_control_input_is_refused_and_the_sandbox_keeps_serving() {
    let (sandbox, server) = nimbus(ServerLimits::default()).await;
    let url = server.url();
    let huge = u64::MAX;
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{url}/_sandbox/tokens/mint"),
        Some(json!({ "expires_in": huge })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("expires_in must be at most {MAX_LIFETIME_SECS}")),
        "{body}"
    );
    let mut seed = serde_json::to_value(NimbusSeed::demo()).unwrap();
    seed["token_lifetime_secs"] = json!(huge);
    let (status, _) = call(
        reqwest::Method::PUT,
        format!("{url}/_sandbox/state"),
        Some(seed),
    )
    .await;
    assert_eq!(status, 400);
    // Rust callers cannot break it either: the lifetime is capped.
    let minted = sandbox.mint(MintToken {
        tenant_id: Some(nd::TENANT_ID.into()),
        app_id: Some(nd::CLIENT_ID.into()),
        roles: vec![nimbus_read()],
        expires_in: Some(huge),
        unauthenticated: false,
    });

    // Still serving: a token is issued, and both tokens read a user.
    let reply = token(&url).await;
    assert_eq!(reply.status().as_u16(), 200);
    let issued: Value = reply.json().await.unwrap();
    for bearer in [issued["access_token"].as_str().unwrap().to_string(), minted] {
        let got = reqwest::Client::new()
            .get(format!(
                "{url}/api/public-api-next/user/{}",
                nd::TEMPLATE_USER
            ))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status().as_u16(), 200);
    }
}

fn nimbus_read() -> String {
    roster_sim::nimbus::ROLE_READ.to_string()
}
