//! Provider components in OCI registries, as the Wasm OCI artifact specification (CNCF TAG
//! Runtime) lays them out and `wkg oci push` writes them: an image manifest whose config is
//! `application/vnd.wasm.config.v0+json` and whose one layer is the component,
//! `application/wasm`. A roster file names one `oci://HOST[:PORT]/REPOSITORY:TAG` (or
//! `@sha256:DIGEST`); `oci+http://` is plain HTTP, for a registry on loopback, and must be said.
//!
//! [`Reference::parse`] and the manifest rules are pure; [`Registry`] speaks the OCI distribution
//! API (anonymous: a registry needing credentials is refused with what it asked for); [`Store`]
//! keeps pulled components by digest, verified, so use offline works from the cache.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// The most Roster reads of one manifest or blob (a hostile registry could send without end).
pub const MAX_BLOB_BYTES: usize = 256 << 20;

/// The manifest media type.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config media type of a Wasm artifact.
pub const CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a Wasm artifact.
pub const LAYER: &str = "application/wasm";

/// `oci://HOST[:PORT]/REPOSITORY(:TAG|@sha256:HEX)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Plain HTTP (`oci+http://`).
    pub plain_http: bool,
    /// `host[:port]`.
    pub registry: String,
    /// `roster/nimbus`.
    pub repository: String,
    /// A tag or a `sha256:…` digest.
    pub reference: String,
}

/// `sha256:HEX` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

impl Reference {
    /// Whether `text` names an OCI component at all (the scheme).
    pub fn is_oci(text: &str) -> bool {
        text.starts_with("oci://") || text.starts_with("oci+http://")
    }

    /// Parses a reference; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Reference, String> {
        let (plain_http, rest) = match (text.strip_prefix("oci://"), text.strip_prefix("oci+http://")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => return Err(format!("`{text}`: an OCI component is oci://HOST/REPOSITORY:TAG (or oci+http:// for a plain-HTTP registry)")),
        };
        let (registry, path) = rest.split_once('/').ok_or_else(|| {
            format!("`{text}`: give the registry and the repository, oci://HOST/REPOSITORY:TAG")
        })?;
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        {
            return Err(format!(
                "`{text}`: `{registry}` is not a registry host[:port]"
            ));
        }
        let (repository, reference) = match path.split_once('@') {
            Some((repo, d)) if is_digest(d) => (repo, d.to_string()),
            Some((_, d)) => return Err(format!("`{text}`: `{d}` is not a digest (sha256: and 64 lower-case hex digits)")),
            None => match path.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => (repo, tag.to_string()),
                _ => return Err(format!("`{text}`: name a tag (…:0.1.0) or a digest (…@sha256:…): Roster never guesses `latest`")),
            },
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        if !repo_ok {
            return Err(format!(
                "`{text}`: `{repository}` is not a repository (lower-case path components)"
            ));
        }
        let tag_ok = is_digest(&reference)
            || (reference.len() <= 128
                && reference
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        if !tag_ok {
            return Err(format!("`{text}`: `{reference}` is not a tag"));
        }
        Ok(Reference {
            plain_http,
            registry: registry.to_string(),
            repository: repository.to_string(),
            reference,
        })
    }

    fn base(&self) -> String {
        format!(
            "{}://{}/v2/{}",
            if self.plain_http { "http" } else { "https" },
            self.registry,
            self.repository
        )
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if is_digest(&self.reference) { '@' } else { ':' };
        write!(
            f,
            "{}://{}/{}{sep}{}",
            if self.plain_http { "oci+http" } else { "oci" },
            self.registry,
            self.repository,
            self.reference
        )
    }
}

/// The manifest and config `wkg oci push` would write for a component (pure).
pub fn artifact(
    wasm: &[u8],
    exports: &[String],
    imports: &[String],
    created: &str,
) -> (Vec<u8>, Vec<u8>) {
    let config = json!({
        "created": created,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [digest(wasm)],
        "component": { "exports": exports, "imports": imports, "target": null },
    });
    let config = serde_json::to_vec(&config).expect("JSON");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": { "mediaType": CONFIG, "digest": digest(&config), "size": config.len() },
        "layers": [ { "mediaType": LAYER, "digest": digest(wasm), "size": wasm.len() } ],
    });
    (serde_json::to_vec(&manifest).expect("JSON"), config)
}

/// The component layer of a manifest: (digest, size). A manifest that is not a Wasm artifact
/// with exactly one `application/wasm` layer is refused, saying what it is.
pub fn wasm_layer(manifest: &[u8]) -> Result<(String, u64), String> {
    let m: Value =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    if m["schemaVersion"] != 2 {
        return Err("the manifest is not an OCI image manifest (schemaVersion 2)".into());
    }
    let config = m["config"]["mediaType"].as_str().unwrap_or("");
    if config != CONFIG {
        return Err(format!("not a Wasm component artifact: its config is `{config}`, not `{CONFIG}` (a container image?)"));
    }
    let layers: Vec<&Value> = m["layers"]
        .as_array()
        .map(|l| l.iter().filter(|l| l["mediaType"] == LAYER).collect())
        .unwrap_or_default();
    match layers[..] {
        [one] => {
            let d = one["digest"]
                .as_str()
                .filter(|d| is_digest(d))
                .ok_or("the wasm layer has no sha256 digest")?;
            Ok((d.to_string(), one["size"].as_u64().unwrap_or(0)))
        }
        [] => Err(format!("the artifact has no `{LAYER}` layer")),
        _ => Err(format!(
            "the artifact has {} `{LAYER}` layers; Roster takes exactly one",
            layers.len()
        )),
    }
}

/// Pulled components by digest (`oci/blobs/sha256/HEX`, written atomically, read only when
/// they still hash to their name).
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// A store under `dir` (e.g. Roster's compiled-component cache).
    pub fn new(dir: &Path) -> Store {
        Store {
            dir: dir.join("oci"),
        }
    }

    fn blob_path(&self, d: &str) -> PathBuf {
        self.dir.join("blobs").join(d.replace(':', "/"))
    }

    /// The component with this digest, if the store has it intact.
    pub fn blob(&self, d: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(d)).ok()?;
        (digest(&bytes) == d).then_some(bytes)
    }

    fn put(&self, bytes: &[u8]) -> Result<()> {
        let path = self.blob_path(&digest(bytes));
        let dir = path.parent().expect("a blob path has a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

/// The registry could not be reached at all (refused, timed out, no route): the one failure
/// after which a component granted earlier may be taken from the [`Store`].
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// Where a resolved component came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The registry answered (the component may still have come from the store).
    Registry,
    /// The registry could not be reached: the granted component, from the store.
    Store,
}

/// Resolves `r` for a provider: pulls it, and when `granted` (the `sha256:…` digest of the
/// component the user granted) is given, refuses another one — a tag that moved — naming both.
/// An unreachable registry falls back to the granted component in `store`; without a granted
/// copy there, the error says so. Nothing is written but verified blobs.
pub async fn resolve(
    registry: &Registry,
    store: &Store,
    r: &Reference,
    granted: Option<&str>,
) -> Result<(Vec<u8>, Origin)> {
    match registry.pull(r, store).await {
        Ok(p) => match granted {
            Some(g) if g != p.digest => bail!("{r} now names component {} (manifest {}), not the {g} that was granted: the tag moved", p.digest, p.manifest),
            _ => Ok((p.wasm, Origin::Registry)),
        },
        Err(e) if e.downcast_ref::<Unreachable>().is_some() => match granted.and_then(|g| store.blob(g)) {
            Some(wasm) => Ok((wasm, Origin::Store)),
            None => Err(e.context(format!("{r}: and no granted copy of it is in the cache to work offline with"))),
        },
        Err(e) => Err(e),
    }
}

/// An anonymous client of one registry API.
pub struct Registry {
    http: reqwest::Client,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

/// What a pull found: the manifest's digest, the component's digest and bytes.
pub struct Pulled {
    /// The manifest's digest.
    pub manifest: String,
    /// The component's (layer's) digest.
    pub digest: String,
    /// The component.
    pub wasm: Vec<u8>,
}

impl Registry {
    /// A client with bounded timeouts (connect 10 s, whole request 120 s) that follows at most
    /// five redirects (registries send blob downloads elsewhere; every blob is verified by its
    /// digest whatever served it).
    pub fn new() -> Registry {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("an HTTP client");
        Registry { http }
    }

    async fn get(&self, url: &str, accept: &str) -> Result<(Vec<u8>, Option<String>)> {
        let response = match self.http.get(url).header("Accept", accept).send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() || e.is_timeout() => {
                return Err(
                    Unreachable(format!("the registry could not be reached ({url}): {e}")).into(),
                )
            }
            Err(e) => return Err(anyhow!(e).context(format!("fetching {url}"))),
        };
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            let asked = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            bail!("the registry wants credentials ({asked}); Roster pulls anonymously only");
        }
        if !status.is_success() {
            bail!("the registry answered {status} for {url}");
        }
        let header = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BLOB_BYTES {
                bail!("the registry sent more than {} MiB for {url}; a component or manifest is never that large", MAX_BLOB_BYTES >> 20);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, header))
    }

    /// Resolves `r` to its manifest and component, verifying every digest: the manifest's
    /// against a digest reference, the component's against its layer. The component goes into
    /// `store` (and is taken from there when it is already intact).
    pub async fn pull(&self, r: &Reference, store: &Store) -> Result<Pulled> {
        let (manifest, _) = self
            .get(&format!("{}/manifests/{}", r.base(), r.reference), MANIFEST)
            .await?;
        let manifest_digest = digest(&manifest);
        if is_digest(&r.reference) && manifest_digest != r.reference {
            bail!("the registry served a manifest whose digest is {manifest_digest}, not the {} asked for", r.reference);
        }
        let (layer, _) = wasm_layer(&manifest).map_err(|e| anyhow!("{r}: {e}"))?;
        if let Some(wasm) = store.blob(&layer) {
            return Ok(Pulled {
                manifest: manifest_digest,
                digest: layer,
                wasm,
            });
        }
        let (wasm, _) = self
            .get(
                &format!("{}/blobs/{layer}", r.base()),
                "application/octet-stream",
            )
            .await?;
        let got = digest(&wasm);
        if got != layer {
            bail!("{r}: the registry served a component whose digest is {got}, not the {layer} its manifest names; nothing was kept");
        }
        store.put(&wasm)?;
        Ok(Pulled {
            manifest: manifest_digest,
            digest: layer,
            wasm,
        })
    }

    async fn upload(&self, r: &Reference, bytes: &[u8]) -> Result<()> {
        let d = digest(bytes);
        let head = self
            .http
            .head(format!("{}/blobs/{d}", r.base()))
            .send()
            .await?;
        if head.status().is_success() {
            return Ok(());
        }
        let start = self
            .http
            .post(format!("{}/blobs/uploads/", r.base()))
            .send()
            .await
            .context("starting an upload")?;
        if !start.status().is_success() {
            bail!("the registry refused an upload: {}", start.status());
        }
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("the registry gave no upload location")?
            .to_string();
        let location = if location.starts_with('/') {
            format!(
                "{}://{}{location}",
                if r.plain_http { "http" } else { "https" },
                r.registry
            )
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self
            .http
            .put(format!("{location}{sep}digest={d}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await?;
        if !put.status().is_success() {
            bail!("the registry refused blob {d}: {}", put.status());
        }
        Ok(())
    }

    /// Publishes a component under `r` (a tag) in the Wasm OCI layout; returns the manifest's
    /// digest.
    pub async fn push(
        &self,
        r: &Reference,
        wasm: &[u8],
        exports: &[String],
        imports: &[String],
    ) -> Result<String> {
        let created = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let (manifest, config) = artifact(wasm, exports, imports, &created);
        self.upload(r, wasm).await?;
        self.upload(r, &config).await?;
        let put = self
            .http
            .put(format!("{}/manifests/{}", r.base(), r.reference))
            .header("Content-Type", MANIFEST)
            .body(manifest.clone())
            .send()
            .await?;
        if !put.status().is_success() {
            bail!(
                "the registry refused the manifest: {} {}",
                put.status(),
                put.text().await.unwrap_or_default()
            );
        }
        Ok(digest(&manifest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_back() {
        let r = Reference::parse("oci://registry.example.com/roster/nimbus:0.1.0").unwrap();
        assert_eq!(
            (
                r.plain_http,
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            (false, "registry.example.com", "roster/nimbus", "0.1.0")
        );
        assert_eq!(
            r.to_string(),
            "oci://registry.example.com/roster/nimbus:0.1.0"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("oci+http://127.0.0.1:5000/roster/nimbus@{d}")).unwrap();
        assert!(r.plain_http && r.reference == d && r.registry == "127.0.0.1:5000");
        assert_eq!(r.base(), "http://127.0.0.1:5000/v2/roster/nimbus");
        for (bad, why) in [
            ("https://x/y:1", "oci://HOST/REPOSITORY:TAG"),
            (
                "oci://registry.example.com",
                "give the registry and the repository",
            ),
            (
                "oci://registry.example.com/roster/nimbus",
                "never guesses `latest`",
            ),
            (
                "oci://registry.example.com/Roster/nimbus:1",
                "not a repository",
            ),
            (
                "oci://registry.example.com/roster/nimbus@sha256:zz",
                "not a digest",
            ),
            ("oci://registry.example.com/roster/nimbus:a b", "not a tag"),
        ] {
            assert!(
                Reference::parse(bad).unwrap_err().contains(why),
                "{bad}: {:?}",
                Reference::parse(bad)
            );
        }
        assert!(Reference::is_oci("oci+http://x/y:1") && !Reference::is_oci("nimbus.wasm"));
    }

    #[test]
    fn the_artifact_is_the_wasm_oci_layout_and_reads_back() {
        let wasm = b"\0asm component bytes";
        let (manifest, config) = artifact(
            wasm,
            &["roster:provider/provider@0.2.0".into()],
            &[],
            "2026-12-04T00:00:00Z",
        );
        let m: Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(m["config"]["mediaType"], CONFIG);
        assert_eq!(m["config"]["digest"], digest(&config));
        assert_eq!(m["layers"][0]["mediaType"], LAYER);
        let c: Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(
            (c["architecture"].as_str(), c["os"].as_str()),
            (Some("wasm"), Some("wasip2"))
        );
        assert_eq!(c["layerDigests"][0], digest(wasm));
        assert_eq!(
            wasm_layer(&manifest).unwrap(),
            (digest(wasm), wasm.len() as u64)
        );
        let image = serde_json::to_vec(&json!({ "schemaVersion": 2, "config": { "mediaType": "application/vnd.oci.image.config.v1+json" }, "layers": [] })).unwrap();
        assert!(wasm_layer(&image)
            .unwrap_err()
            .contains("a container image?"));
        assert!(wasm_layer(b"not json").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn the_store_returns_only_intact_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.put(b"component").unwrap();
        let d = digest(b"component");
        assert_eq!(store.blob(&d).as_deref(), Some(&b"component"[..]));
        std::fs::write(store.blob_path(&d), b"tampered").unwrap();
        assert_eq!(
            store.blob(&d),
            None,
            "a blob that no longer hashes to its name is not used"
        );
    }
}
