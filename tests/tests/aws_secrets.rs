//! The AWS Secrets Manager backend (the AWS SDK for Rust) against a real `moto_server` started
//! by the test: fetching, the cache's maximum age, the fresh-value path, errors, and the
//! credential chain (environment variables, shared credentials file, container credentials
//! endpoint, web identity and `AssumeRole` profiles through moto's STS). One test function,
//! because the credential chain reads process-wide environment variables. Instance metadata is
//! off throughout (`AWS_EC2_METADATA_DISABLED`): nothing leaves 127.0.0.1.

use roster_runtime::secrets::{
    AwsOptions, SecretError, SecretSource, SecretStore, SecretsManagerClient,
};
use roster_runtime::{Limits, Provider, ProviderSpec};
use roster_tests::{misbehave_wasm, runtime, Moto};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REGION: &str = "eu-west-2";

fn client(moto: &Moto) -> SecretsManagerClient {
    SecretsManagerClient::new(AwsOptions {
        endpoint: Some(moto.endpoint.clone()),
        region: None,
        profile: None,
    })
}

fn store(moto: &Moto, source: &str, max_age: Duration) -> std::sync::Arc<SecretStore> {
    let sources = HashMap::from([(
        "api_key".to_string(),
        source.parse::<SecretSource>().unwrap(),
    )]);
    SecretStore::new(sources, max_age, client(moto))
}

fn clear_aws_env() {
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
    ] {
        std::env::remove_var(var);
    }
    // Never let a test reach for EC2 instance metadata (a non-loopback address).
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/config");
}

/// A loopback stand-in for the ECS container credentials endpoint; checks the token.
async fn container_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let (status, body) = if request.contains("authorization: container-token") {
                ("200 OK", json!({"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "container-secret", "Token": "tok", "Expiration": "2999-01-01T00:00:00Z"}).to_string())
            } else {
                ("403 Forbidden", "{}".to_string())
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    format!("http://{addr}/creds")
}

#[tokio::test]
async fn secrets_manager_backend_against_moto() {
    clear_aws_env();
    let moto = Moto::start();
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    moto.call(
        REGION,
        "CreateSecret",
        json!({"Name": "SYMBEE_CONNECT_API_KEY", "SecretString": "key-one"}),
    )
    .await;
    let source = format!("aws-sm:SYMBEE_CONNECT_API_KEY?region={REGION}");

    // Fetch, cache within max-age, refresh bypasses the cache.
    let s = store(&moto, &source, Duration::from_millis(700));
    assert_eq!(s.get("api_key").await.unwrap().expose(), "key-one");
    put_value(&moto, "key-two").await;
    assert_eq!(
        s.get("api_key").await.unwrap().expose(),
        "key-one",
        "served from the cache while young"
    );
    assert_eq!(s.fetch_count(), 1);
    assert_eq!(
        s.refresh("api_key").await.unwrap().expose(),
        "key-two",
        "refresh asks Secrets Manager"
    );
    put_value(&moto, "key-three").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        s.get("api_key").await.unwrap().expose(),
        "key-three",
        "an entry past max-age is fetched again"
    );
    assert_eq!(s.fetch_count(), 3);

    // Errors are typed and never carry a value.
    let missing = store(
        &moto,
        &format!("aws-sm:NO_SUCH_SECRET?region={REGION}"),
        Duration::from_secs(60),
    );
    match missing.get("api_key").await {
        Err(SecretError::NotFound(m)) => assert!(
            m.contains("NO_SUCH_SECRET") && m.contains("ResourceNotFoundException"),
            "{m}"
        ),
        other => panic!("expected not-found, got {other:?}"),
    }
    let no_region = store(
        &moto,
        "aws-sm:SYMBEE_CONNECT_API_KEY",
        Duration::from_secs(60),
    );
    assert!(
        matches!(no_region.get("api_key").await, Err(SecretError::NotFound(m)) if m.contains("region"))
    );

    // A JSON secret with ?key=.
    moto.call(
        REGION,
        "CreateSecret",
        json!({"Name": "app/creds", "SecretString": "{\"client_secret\":\"s3cr3t\"}"}),
    )
    .await;
    let keyed = store(
        &moto,
        &format!("aws-sm:app/creds?region={REGION}&key=client_secret"),
        Duration::from_secs(60),
    );
    assert_eq!(keyed.get("api_key").await.unwrap().expose(), "s3cr3t");

    // Through a component: the guest gets the value from the host, and refresh reaches moto.
    let (rt, _cache) = runtime();
    let mut spec = ProviderSpec::new("misbehave", json!({}));
    spec.secrets
        .insert("api_key".into(), source.parse().unwrap());
    spec.aws = AwsOptions {
        endpoint: Some(moto.endpoint.clone()),
        ..AwsOptions::default()
    };
    spec.secret_max_age = Duration::from_secs(3600);
    spec.limits = Limits::default();
    let p = Provider::start(&rt, &misbehave_wasm(), spec).await.unwrap();
    let got = |fresh: bool| {
        let p = &p;
        async move {
            let out = p
                .create(
                    "secret",
                    &json!({"name": "api_key", "fresh": fresh}).to_string(),
                )
                .await
                .unwrap();
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(got(false).await, "key-three");
    put_value(&moto, "key-four").await;
    assert_eq!(
        got(false).await,
        "key-three",
        "the host cache holds it for an hour"
    );
    assert_eq!(
        got(true).await,
        "key-four",
        "the fresh-value path reaches Secrets Manager"
    );
    assert_eq!(got(false).await, "key-four", "and refills the cache");

    // Credential chain: shared credentials file with a profile.
    clear_aws_env();
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        "[ops]\naws_access_key_id = AKIAFROMFILE\naws_secret_access_key = from-file\n",
    )
    .unwrap();
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &creds);
    std::env::set_var("AWS_PROFILE", "ops");
    let s = store(&moto, &source, Duration::from_secs(60));
    assert_eq!(s.get("api_key").await.unwrap().expose(), "key-four");

    // Credential chain: nothing at all is a clear denial.
    clear_aws_env();
    let s = store(&moto, &source, Duration::from_secs(60));
    match s.get("api_key").await {
        Err(SecretError::Denied(m)) => assert!(m.contains("no AWS credentials"), "{m}"),
        other => panic!("expected denied, got {other:?}"),
    }

    // Credential chain: the container credentials endpoint (with its authorization token).
    std::env::set_var(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        container_endpoint().await,
    );
    std::env::set_var("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token");
    let s = store(&moto, &source, Duration::from_secs(60));
    assert_eq!(s.get("api_key").await.unwrap().expose(), "key-four");
    std::env::set_var("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong");
    let s = store(&moto, &source, Duration::from_secs(60));
    match s.get("api_key").await {
        Err(SecretError::Denied(m)) => {
            assert!(m.contains("no AWS credentials") && m.contains("403"), "{m}")
        }
        other => panic!("expected denied, got {other:?}"),
    }

    // Credential chain: web identity (EKS, GitHub Actions OIDC): the token file and role are
    // exchanged at STS (moto's, through AWS_ENDPOINT_URL) for temporary credentials.
    clear_aws_env();
    let token = dir.path().join("oidc-token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3N0ZXIifQ.c2lnbmF0dXJl",
    )
    .unwrap();
    std::env::set_var("AWS_REGION", REGION);
    std::env::set_var("AWS_ENDPOINT_URL", &moto.endpoint);
    std::env::set_var("AWS_WEB_IDENTITY_TOKEN_FILE", &token);
    std::env::set_var("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/roster-ci");
    std::env::set_var("AWS_ROLE_SESSION_NAME", "roster-test");
    let s = store(&moto, &source, Duration::from_secs(60));
    assert_eq!(
        s.get("api_key").await.unwrap().expose(),
        "key-four",
        "through web identity"
    );

    // Credential chain: an AssumeRole profile (role_arn + source_profile) through moto's STS.
    clear_aws_env();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n\n\
         [profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/roster-deploy\nsource_profile = base\n",
    )
    .unwrap();
    std::env::set_var("AWS_CONFIG_FILE", &config);
    std::env::set_var("AWS_REGION", REGION);
    std::env::set_var("AWS_ENDPOINT_URL", &moto.endpoint);
    let assumed = SecretStore::new(
        HashMap::from([(
            "api_key".to_string(),
            source.parse::<SecretSource>().unwrap(),
        )]),
        Duration::from_secs(60),
        SecretsManagerClient::new(AwsOptions {
            profile: Some("deploy".into()),
            ..AwsOptions::default()
        }),
    );
    assert_eq!(
        assumed.get("api_key").await.unwrap().expose(),
        "key-four",
        "through an AssumeRole profile"
    );
    // The same profile without its source is no credentials at all: the role was what worked.
    std::fs::write(
        &config,
        "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/roster-deploy\n",
    )
    .unwrap();
    let orphan = SecretStore::new(
        HashMap::from([(
            "api_key".to_string(),
            source.parse::<SecretSource>().unwrap(),
        )]),
        Duration::from_secs(60),
        SecretsManagerClient::new(AwsOptions {
            profile: Some("deploy".into()),
            ..AwsOptions::default()
        }),
    );
    assert!(matches!(
        orphan.get("api_key").await,
        Err(SecretError::Denied(_))
    ));
    clear_aws_env();
}

async fn put_value(moto: &Moto, value: &str) {
    moto.call(
        REGION,
        "PutSecretValue",
        json!({"SecretId": "SYMBEE_CONNECT_API_KEY", "SecretString": value}),
    )
    .await;
}
