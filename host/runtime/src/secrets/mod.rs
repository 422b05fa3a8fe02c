//! The secrets capability: a provider asks for a secret by name; the host resolves the name to
//! a source (`env:NAME`, `file:PATH`, `aws-sm:SECRET_ID[?region=R&key=K]`), fetches it, and
//! caches it for at most a configured age. Values are [`SecretValue`]s: their `Debug` and
//! `Display` print `<redacted>`, and no error message ever carries one.

mod aws;

pub use aws::{AwsOptions, SecretsManagerClient};

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A secret's value. Never printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    /// The value itself, for handing to the component.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the host process.
    Env(String),
    /// A file's contents, without one trailing newline.
    File(PathBuf),
    /// AWS Secrets Manager `GetSecretValue`.
    AwsSecretsManager {
        /// The secret's name or ARN.
        secret_id: String,
        /// The region; else the AWS configuration's.
        region: Option<String>,
        /// When the SecretString is a JSON object: the field to take.
        json_key: Option<String>,
    },
}

impl SecretSource {
    /// The same source, a relative `file:` path taken relative to `dir` (the roster file's
    /// directory); every other source as it is.
    pub fn relative_to(self, dir: &std::path::Path) -> SecretSource {
        match self {
            SecretSource::File(p) if p.is_relative() => SecretSource::File(dir.join(p)),
            other => other,
        }
    }
}

impl FromStr for SecretSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            format!("secret source `{s}`: expected env:NAME, file:PATH or aws-sm:SECRET_ID")
        })?;
        if rest.is_empty() {
            return Err(format!("secret source `{s}`: nothing after `{kind}:`"));
        }
        match kind {
            "env" => Ok(SecretSource::Env(rest.to_string())),
            "file" => Ok(SecretSource::File(PathBuf::from(rest))),
            "aws-sm" => {
                let (secret_id, query) = match rest.split_once('?') {
                    Some((id, q)) => (id, Some(q)),
                    None => (rest, None),
                };
                let (mut region, mut json_key) = (None, None);
                for pair in query.into_iter().flat_map(|q| q.split('&')) {
                    match pair.split_once('=') {
                        Some(("region", v)) if !v.is_empty() => region = Some(v.to_string()),
                        Some(("key", v)) if !v.is_empty() => json_key = Some(v.to_string()),
                        _ => return Err(format!("secret source `{s}`: unknown option `{pair}` (expected region=… or key=…)")),
                    }
                }
                if secret_id.is_empty() {
                    return Err(format!("secret source `{s}`: no secret id"));
                }
                Ok(SecretSource::AwsSecretsManager {
                    secret_id: secret_id.to_string(),
                    region,
                    json_key,
                })
            }
            other => Err(format!(
                "secret source `{s}`: unknown kind `{other}` (expected env, file or aws-sm)"
            )),
        }
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(n) => write!(f, "env:{n}"),
            SecretSource::File(p) => write!(f, "file:{}", p.display()),
            SecretSource::AwsSecretsManager {
                secret_id,
                region,
                json_key,
            } => {
                write!(f, "aws-sm:{secret_id}")?;
                let opts: Vec<String> = [
                    region.as_ref().map(|r| format!("region={r}")),
                    json_key.as_ref().map(|k| format!("key={k}")),
                ]
                .into_iter()
                .flatten()
                .collect();
                if !opts.is_empty() {
                    write!(f, "?{}", opts.join("&"))?;
                }
                Ok(())
            }
        }
    }
}

/// Why a secret could not be had (mirrors the WIT `secret-error`). Messages never hold values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretError {
    /// No source for the name, or the source has no such secret.
    NotFound(String),
    /// The source refused access.
    Denied(String),
    /// The source could not be reached.
    Unavailable(String),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::NotFound(m) => write!(f, "secret not found: {m}"),
            SecretError::Denied(m) => write!(f, "secret access denied: {m}"),
            SecretError::Unavailable(m) => write!(f, "secret source unavailable: {m}"),
        }
    }
}

impl std::error::Error for SecretError {}

/// The secrets of one provider: names mapped to sources, with a cache of bounded age.
pub struct SecretStore {
    sources: HashMap<String, SecretSource>,
    max_age: Duration,
    aws: SecretsManagerClient,
    cache: Mutex<HashMap<String, (SecretValue, Instant)>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("sources", &self.sources)
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl SecretStore {
    /// A store resolving `sources`, keeping values at most `max_age`, using `aws` for `aws-sm:`.
    pub fn new(
        sources: HashMap<String, SecretSource>,
        max_age: Duration,
        aws: SecretsManagerClient,
    ) -> Arc<Self> {
        Arc::new(SecretStore {
            sources,
            max_age,
            aws,
            cache: Mutex::default(),
            fetches: 0.into(),
        })
    }

    /// The value of `name`: from the cache while younger than the maximum age, else fetched.
    pub async fn get(&self, name: &str) -> Result<SecretValue, SecretError> {
        if let Some((value, at)) = self.cache.lock().unwrap().get(name) {
            if at.elapsed() < self.max_age {
                return Ok(value.clone());
            }
        }
        self.refresh(name).await
    }

    /// A fresh value of `name`, bypassing the cache (and refilling it).
    pub async fn refresh(&self, name: &str) -> Result<SecretValue, SecretError> {
        let source = self.sources.get(name).ok_or_else(|| {
            SecretError::NotFound(format!("no source is configured for secret `{name}`"))
        })?;
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let value = fetch(source, &self.aws).await?;
        self.cache
            .lock()
            .unwrap()
            .insert(name.to_string(), (value.clone(), Instant::now()));
        Ok(value)
    }

    /// How many times a source was asked (cache misses and refreshes), for tests and metrics.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn fetch(
    source: &SecretSource,
    aws: &SecretsManagerClient,
) -> Result<SecretValue, SecretError> {
    match source {
        SecretSource::Env(name) => std::env::var(name)
            .map(SecretValue)
            .map_err(|_| SecretError::NotFound(format!("environment variable {name} is not set"))),
        SecretSource::File(path) => read_secret_file(path).await,
        SecretSource::AwsSecretsManager {
            secret_id,
            region,
            json_key,
        } => {
            let value = aws.get_secret_value(secret_id, region.as_deref()).await?;
            match json_key {
                None => Ok(value),
                Some(key) => {
                    let parsed: serde_json::Value =
                        serde_json::from_str(value.expose()).map_err(|_| {
                            SecretError::NotFound(format!(
                                "secret {secret_id} is not a JSON object, so it has no key `{key}`"
                            ))
                        })?;
                    match parsed.get(key) {
                        Some(serde_json::Value::String(s)) => Ok(SecretValue::new(s.clone())),
                        _ => Err(SecretError::NotFound(format!(
                            "secret {secret_id} has no string field `{key}`"
                        ))),
                    }
                }
            }
        }
    }
}

/// The largest secret file read, in bytes.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A secret file's contents, without one trailing newline: only a regular file (a symlink to
/// one is fine, as Kubernetes mounts them), not under `/proc`, `/sys` or `/dev`, of at most
/// [`MAX_SECRET_FILE`] bytes of UTF-8.
async fn read_secret_file(path: &std::path::Path) -> Result<SecretValue, SecretError> {
    use tokio::io::AsyncReadExt;
    let shown = path.display();
    let io_error = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => {
            SecretError::NotFound(format!("file {shown} does not exist"))
        }
        kind => SecretError::Denied(format!("cannot read {shown}: {kind}")),
    };
    let real = tokio::fs::canonicalize(path).await.map_err(io_error)?;
    if ["/proc", "/sys", "/dev"]
        .iter()
        .any(|p| real.starts_with(p))
    {
        return Err(SecretError::Denied(format!(
            "{shown} is a kernel pseudo-file ({}), not a secret file",
            real.display()
        )));
    }
    let file = tokio::fs::File::open(&real).await.map_err(io_error)?;
    let meta = file.metadata().await.map_err(io_error)?;
    if !meta.is_file() {
        return Err(SecretError::Denied(format!(
            "{shown} is not a regular file"
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(SecretError::Denied(format!(
            "{shown} is larger than {} KiB; a secret file holds one value",
            MAX_SECRET_FILE / 1024
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| SecretError::Denied(format!("{shown} is not UTF-8 text")))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(SecretValue::new(text.strip_suffix('\r').unwrap_or(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_file_source_is_relative_to_the_directory_given() {
        let dir = std::path::Path::new("/srv/roster");
        assert_eq!(
            SecretSource::File("token".into()).relative_to(dir),
            SecretSource::File("/srv/roster/token".into())
        );
        assert_eq!(
            SecretSource::File("/run/token".into()).relative_to(dir),
            SecretSource::File("/run/token".into())
        );
        assert_eq!(
            SecretSource::Env("T".into()).relative_to(dir),
            SecretSource::Env("T".into())
        );
    }

    #[test]
    fn parses_sources() {
        assert_eq!(
            "env:X".parse::<SecretSource>().unwrap(),
            SecretSource::Env("X".into())
        );
        assert_eq!(
            "file:/a/b".parse::<SecretSource>().unwrap(),
            SecretSource::File("/a/b".into())
        );
        assert_eq!(
            "aws-sm:SYMBEE_CONNECT_API_KEY?region=eu-west-2&key=k"
                .parse::<SecretSource>()
                .unwrap(),
            SecretSource::AwsSecretsManager {
                secret_id: "SYMBEE_CONNECT_API_KEY".into(),
                region: Some("eu-west-2".into()),
                json_key: Some("k".into())
            }
        );
        for bad in [
            "X",
            "env:",
            "vault:x",
            "aws-sm:x?zone=1",
            "aws-sm:?region=a",
        ] {
            assert!(bad.parse::<SecretSource>().is_err(), "{bad}");
        }
        let s = "aws-sm:arn:aws:secretsmanager:us-east-1:1:secret:x?region=us-east-1";
        assert_eq!(s.parse::<SecretSource>().unwrap().to_string(), s);
    }

    #[test]
    fn values_never_print() {
        let v = SecretValue::new("hunter2");
        assert_eq!(format!("{v} {v:?}"), "<redacted> <redacted>");
    }

    #[tokio::test]
    async fn env_and_file_sources_and_cache_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "one\n").unwrap();
        let sources = HashMap::from([("f".to_string(), SecretSource::File(path.clone()))]);
        let store = SecretStore::new(
            sources,
            Duration::from_millis(200),
            SecretsManagerClient::new(AwsOptions::default()),
        );
        assert_eq!(store.get("f").await.unwrap().expose(), "one");
        std::fs::write(&path, "two\n").unwrap();
        assert_eq!(
            store.get("f").await.unwrap().expose(),
            "one",
            "served from the cache"
        );
        assert_eq!(
            store.refresh("f").await.unwrap().expose(),
            "two",
            "refresh bypasses the cache"
        );
        std::fs::write(&path, "three").unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            store.get("f").await.unwrap().expose(),
            "three",
            "an old value is fetched again"
        );
        assert_eq!(store.fetch_count(), 3);
        assert!(matches!(
            store.get("nope").await,
            Err(SecretError::NotFound(_))
        ));
        let missing = SecretStore::new(
            HashMap::from([(
                "e".to_string(),
                SecretSource::Env("ROSTER_TEST_SURELY_UNSET".into()),
            )]),
            Duration::from_secs(1),
            SecretsManagerClient::new(AwsOptions::default()),
        );
        assert!(
            matches!(missing.get("e").await, Err(SecretError::NotFound(m)) if m.contains("ROSTER_TEST_SURELY_UNSET"))
        );
    }

    #[tokio::test]
    async fn file_sources_read_only_small_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "value\r\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&ok, &link).unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_SECRET_FILE as usize + 1]).unwrap();
        let exact = dir.path().join("exact");
        std::fs::write(&exact, vec![b'y'; MAX_SECRET_FILE as usize]).unwrap();
        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe]).unwrap();
        let proc_link = dir.path().join("env");
        std::os::unix::fs::symlink("/proc/self/environ", &proc_link).unwrap();
        let p = |p: &std::path::Path| p.to_path_buf();
        // (path, Ok(value) or Err(part of the message))
        let table: Vec<(std::path::PathBuf, Result<String, &str>)> = vec![
            (p(&ok), Ok("value".into())),
            (p(&link), Ok("value".into())),
            (p(&exact), Ok("y".repeat(MAX_SECRET_FILE as usize))),
            (p(&big), Err("is larger than 64 KiB")),
            (p(&binary), Err("is not UTF-8 text")),
            (p(dir.path()), Err("is not a regular file")),
            (p(&dir.path().join("missing")), Err("does not exist")),
            ("/proc/self/environ".into(), Err("is a kernel pseudo-file")),
            (p(&proc_link), Err("is a kernel pseudo-file")),
            ("/dev/zero".into(), Err("is a kernel pseudo-file")),
        ];
        for (path, want) in table {
            let got = read_secret_file(&path).await;
            match (&got, &want) {
                (Ok(v), Ok(w)) => assert_eq!(v.expose(), w, "{}", path.display()),
                (Err(e), Err(w)) => assert!(
                    e.to_string().contains(w)
                        && e.to_string().contains(&path.display().to_string()),
                    "{}: {e}",
                    path.display()
                ),
                _ => panic!("{}: got {got:?}, want {want:?}", path.display()),
            }
        }
    }
}
