//! AWS Secrets Manager `GetSecretValue`, signed with Signature Version 4, with the standard
//! credential chain: environment variables, the shared credentials and config files (profile),
//! the container credentials endpoint, then EC2 instance metadata (IMDSv2).
//!
//! Region: the source's `?region=`, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
//! `region`. Endpoint: [`AwsOptions::endpoint`], else `AWS_ENDPOINT_URL_SECRETS_MANAGER`,
//! `AWS_ENDPOINT_URL`, else `https://secretsmanager.<region>.amazonaws.com`.

use super::{SecretError, SecretValue};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// How the client finds AWS; every field falls back to the standard environment.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// Endpoint override, e.g. `http://127.0.0.1:5000` for a local moto server.
    pub endpoint: Option<String>,
    /// Default region when a source names none.
    pub region: Option<String>,
    /// Profile in the shared files (else `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
}

/// A small Secrets Manager client (only `GetSecretValue`).
pub struct SecretsManagerClient {
    options: AwsOptions,
    /// Built on first use: most providers never ask AWS for anything.
    http: std::sync::OnceLock<reqwest::Client>,
    credentials: tokio::sync::Mutex<Option<Credentials>>,
}

#[derive(Clone)]
struct Credentials {
    access_key_id: String,
    secret_access_key: SecretValue,
    session_token: Option<SecretValue>,
    expires: Option<SystemTime>,
}

impl SecretsManagerClient {
    /// A client with the given options.
    pub fn new(options: AwsOptions) -> Self {
        SecretsManagerClient { options, http: std::sync::OnceLock::new(), credentials: Default::default() }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(20))
                .build()
                .expect("reqwest client")
        })
    }

    /// `GetSecretValue` of `secret_id`; returns its SecretString.
    pub async fn get_secret_value(&self, secret_id: &str, region: Option<&str>) -> Result<SecretValue, SecretError> {
        let profile = Profile::load(self.options.profile.as_deref());
        let region = region
            .map(str::to_string)
            .or_else(|| self.options.region.clone())
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(|| profile.get("region"))
            .ok_or_else(|| SecretError::NotFound(format!("no AWS region for secret {secret_id}: add ?region=… to the source or set AWS_REGION")))?;
        let endpoint = self
            .options
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_SECRETS_MANAGER"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
        let endpoint = endpoint.trim_end_matches('/');
        let host = endpoint.split_once("://").map_or(endpoint, |(_, h)| h).to_string();
        let credentials = self.credentials(&profile).await?;
        let body = serde_json::json!({ "SecretId": secret_id }).to_string();
        let now = time::OffsetDateTime::now_utc();
        let amz_date = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            now.year(),
            now.month() as u8,
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let mut headers = vec![
            ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
            ("host".to_string(), host.clone()),
            ("x-amz-date".to_string(), amz_date.clone()),
            ("x-amz-target".to_string(), "secretsmanager.GetSecretValue".to_string()),
        ];
        if let Some(token) = &credentials.session_token {
            headers.push(("x-amz-security-token".to_string(), token.expose().to_string()));
        }
        let request = SigningRequest { method: "POST", path: "/", query: "", headers: &headers, body: body.as_bytes() };
        let authorization = sign(&request, &credentials, &region, "secretsmanager", &amz_date);
        let mut builder = self.http().post(format!("{endpoint}/")).header("authorization", authorization).body(body);
        for (name, value) in headers.iter().filter(|(n, _)| n != "host") {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(format!("AWS Secrets Manager at {host}: {}", without_url(&e))))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if status.is_success() {
            return match json.get("SecretString").and_then(|v| v.as_str()) {
                Some(s) => Ok(SecretValue::new(s)),
                None => Err(SecretError::NotFound(format!("secret {secret_id} has no SecretString (binary secrets are not supported)"))),
            };
        }
        let kind = json.get("__type").and_then(|v| v.as_str()).unwrap_or("");
        let kind = kind.rsplit('#').next().unwrap_or(kind);
        let message = json
            .get("message")
            .or_else(|| json.get("Message"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let what = format!("AWS Secrets Manager {kind} for {secret_id} (HTTP {}): {message}", status.as_u16());
        Err(match kind {
            "ResourceNotFoundException" | "InvalidRequestException" | "InvalidParameterException" => SecretError::NotFound(what),
            _ if status.is_server_error() || kind == "ThrottlingException" || kind == "InternalServiceError" => {
                SecretError::Unavailable(what)
            }
            _ => SecretError::Denied(what),
        })
    }

    async fn credentials(&self, profile: &Profile) -> Result<Credentials, SecretError> {
        let mut cached = self.credentials.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c.expires.is_none_or(|t| t > SystemTime::now() + Duration::from_secs(300));
            if fresh {
                return Ok(c.clone());
            }
        }
        let found = if let Some(c) = from_env() {
            c
        } else if let Some(c) = profile.credentials() {
            c
        } else if let Some(c) = self.from_container().await? {
            c
        } else if let Some(c) = self.from_imds().await? {
            c
        } else {
            return Err(SecretError::Denied(
                "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile in ~/.aws, or run where container or instance credentials exist".into(),
            ));
        };
        // Static credentials are read again on every call (they may be edited); temporary ones are kept.
        if found.expires.is_some() {
            *cached = Some(found.clone());
        }
        Ok(found)
    }

    async fn from_container(&self) -> Result<Option<Credentials>, SecretError> {
        let url = match (env("AWS_CONTAINER_CREDENTIALS_FULL_URI"), env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
            (Some(full), _) => full,
            (None, Some(relative)) => format!("http://169.254.170.2{relative}"),
            (None, None) => return Ok(None),
        };
        let token = match env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            Some(path) => std::fs::read_to_string(path).ok().map(|t| t.trim().to_string()),
            None => env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        };
        let mut request = self.http().get(&url).timeout(Duration::from_secs(5));
        if let Some(token) = token {
            request = request.header("authorization", token);
        }
        let reply = request
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(format!("container credentials endpoint: {}", without_url(&e))))?;
        parse_temporary(reply, "container credentials endpoint").await.map(Some)
    }

    async fn from_imds(&self) -> Result<Option<Credentials>, SecretError> {
        if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| "http://169.254.169.254".into());
        let base = base.trim_end_matches('/');
        let quick = Duration::from_secs(1);
        let Ok(token) = self
            .http()
            .put(format!("{base}/latest/api/token"))
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
            .timeout(quick)
            .send()
            .await
        else {
            return Ok(None); // not on EC2
        };
        let token = token.text().await.unwrap_or_default();
        let list_url = format!("{base}/latest/meta-data/iam/security-credentials/");
        let role = self
            .http()
            .get(&list_url)
            .header("x-aws-ec2-metadata-token", &token)
            .timeout(quick)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(format!("instance metadata: {}", without_url(&e))))?
            .text()
            .await
            .unwrap_or_default();
        let Some(role) = role.lines().next().filter(|r| !r.is_empty()) else { return Ok(None) };
        let reply = self
            .http()
            .get(format!("{list_url}{role}"))
            .header("x-aws-ec2-metadata-token", &token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(format!("instance metadata: {}", without_url(&e))))?;
        parse_temporary(reply, "instance metadata").await.map(Some)
    }
}

async fn parse_temporary(reply: reqwest::Response, what: &str) -> Result<Credentials, SecretError> {
    if !reply.status().is_success() {
        return Err(SecretError::Denied(format!("{what} answered HTTP {}", reply.status().as_u16())));
    }
    let json: serde_json::Value = reply
        .json()
        .await
        .map_err(|_| SecretError::Unavailable(format!("{what} did not answer JSON")))?;
    let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err(SecretError::Denied(format!("{what} gave no AccessKeyId/SecretAccessKey")));
    };
    let expires = field("Expiration").and_then(|e| {
        time::OffsetDateTime::parse(&e, &time::format_description::well_known::Rfc3339).ok().map(SystemTime::from)
    });
    Ok(Credentials {
        access_key_id: id,
        secret_access_key: SecretValue::new(secret),
        session_token: field("Token").map(SecretValue::new),
        expires: expires.or(Some(SystemTime::now() + Duration::from_secs(600))),
    })
}

/// A reqwest error described without its URL (which may hold a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_timeout() {
        "no answer in time".to_string()
    } else {
        "request failed".to_string()
    };
    if let Some(source) = e.source() {
        text.push_str(&format!(": {source}"));
    }
    text
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn from_env() -> Option<Credentials> {
    Some(Credentials {
        access_key_id: env("AWS_ACCESS_KEY_ID")?,
        secret_access_key: SecretValue::new(env("AWS_SECRET_ACCESS_KEY")?),
        session_token: env("AWS_SESSION_TOKEN").map(SecretValue::new),
        expires: None,
    })
}

/// The selected profile's keys from the shared config and credentials files.
struct Profile(HashMap<String, String>);

impl Profile {
    fn load(name: Option<&str>) -> Profile {
        let name = name.map(str::to_string).or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".into());
        let home = env("HOME").map(PathBuf::from).unwrap_or_default();
        let config = env("AWS_CONFIG_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/config"));
        let credentials =
            env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/credentials"));
        let mut keys = HashMap::new();
        let config_section = if name == "default" { "default".to_string() } else { format!("profile {name}") };
        for (path, section) in [(config, config_section), (credentials, name)] {
            if let Ok(text) = std::fs::read_to_string(path) {
                keys.extend(ini_section(&text, &section));
            }
        }
        Profile(keys)
    }

    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.is_empty()).cloned()
    }

    fn credentials(&self) -> Option<Credentials> {
        Some(Credentials {
            access_key_id: self.get("aws_access_key_id")?,
            secret_access_key: SecretValue::new(self.get("aws_secret_access_key")?),
            session_token: self.get("aws_session_token").map(SecretValue::new),
            expires: None,
        })
    }
}

/// The `key = value` pairs of `[section]` in an INI text.
fn ini_section(text: &str, section: &str) -> HashMap<String, String> {
    let mut inside = false;
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    out
}

/// What SigV4 signs.
struct SigningRequest<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    /// Lower-case names, in sorted order.
    headers: &'a [(String, String)],
    body: &'a [u8],
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The `Authorization` header value for `request` (AWS Signature Version 4).
fn sign(request: &SigningRequest, credentials: &Credentials, region: &str, service: &str, amz_date: &str) -> String {
    let date = &amz_date[..8];
    let mut headers: Vec<&(String, String)> = request.headers.iter().collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{}\n", v.trim())).collect();
    let signed_headers = headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        request.path,
        request.query,
        hex::encode(Sha256::digest(request.body))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(credentials.secret_access_key.expose(), date, region, service);
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn signing_key_matches_the_aws_documentation_example() {
        let key = signing_key(EXAMPLE_SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn signature_matches_the_aws_documentation_example() {
        let headers = vec![
            ("content-type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()),
            ("host".to_string(), "iam.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let request = SigningRequest {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretValue::new(EXAMPLE_SECRET),
            session_token: None,
            expires: None,
        };
        let auth = sign(&request, &credentials, "us-east-1", "iam", "20150830T123600Z");
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn reads_profile_sections() {
        let text = "[default]\nregion = eu-west-2\n\n[profile ops]\nregion=us-east-1\n# c\naws_access_key_id = X\n";
        assert_eq!(ini_section(text, "default").get("region").unwrap(), "eu-west-2");
        assert_eq!(ini_section(text, "profile ops").get("aws_access_key_id").unwrap(), "X");
        assert!(ini_section(text, "nope").is_empty());
    }
}
