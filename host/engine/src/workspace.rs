//! A roster file with its providers started: what plan, apply and the lookup commands work on.

use crate::decide::{Key, Schemas};
use crate::grants::{self, Grant, LockFile};
use crate::pacing::{Pacer, RetryPolicy};
use crate::provider::{ComponentProvider, Provider};
use crate::rosterfile::{ComponentRef, FileError, FileErrors, ProviderDecl, RosterFile};
use roster_runtime::types::{ProviderError, ResourceSchema};
use roster_runtime::{CallError, Code, Runtime};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A started provider with its pacer.
pub struct ProviderHandle {
    /// The provider.
    pub provider: Arc<dyn Provider>,
    /// Paces its operations at the declared (or overridden) rate limit.
    pub pacer: Pacer,
    /// What identifies the code behind it (a component's SHA-256), for saved plans.
    pub code_digest: String,
    /// Its pace: operations per window, declared or overridden (`None`: unpaced).
    pub rate: Option<(u32, Duration)>,
}

/// A component built into the binary that opens the workspace: (name, wasm).
pub type Builtin<'a> = (&'a str, &'a [u8]);

/// The roster file and its started providers.
pub struct Workspace {
    /// The roster file.
    pub file: RosterFile,
    /// Providers by name.
    pub providers: BTreeMap<String, Arc<ProviderHandle>>,
    /// Retry policy for transient errors.
    pub(crate) retry: RetryPolicy,
    /// Every provider's resource schemas.
    pub(crate) schemas: Schemas,
}

impl Workspace {
    /// Starts every provider of `file` in the wasmtime host (loading, configuring; no network),
    /// each only if `lock` grants what it asks for (checked before any instance gets a host or a
    /// secret). `builtins` are the components a `component = "NAME"` may name.
    pub async fn open(
        file: RosterFile,
        runtime: &Runtime,
        builtins: &[Builtin<'_>],
        lock: &LockFile,
    ) -> Result<Workspace, FileErrors> {
        let mut started = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, decl) in &file.providers {
            let key = format!("provider.{name}");
            let granted_sha = lock
                .providers
                .get(name)
                .map(|g| format!("sha256:{}", g.sha256));
            let (wasm, label) =
                match component_of(&file, name, decl, builtins, runtime, granted_sha.as_deref())
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
            // Grant before code: a component whose code is not the one granted is refused
            // before it is compiled or any of it runs (its metadata included).
            let code = Code::new(&wasm);
            let granted = lock.providers.get(name);
            if let Some(problem) = code_not_granted(granted, &label, &code.sha256()) {
                errors.push(file.error(&key, format!("not granted: {problem}; nothing of it was run; review and grant it with `roster grant`")));
                continue;
            }
            let base = base_of(&file);
            let approve = |mut wanted: Grant| {
                wanted.secrets = wanted
                    .secrets
                    .into_iter()
                    .map(|(k, v)| (k, source_label(&base, &v)))
                    .collect();
                let missing = grants::not_granted(granted, &wanted);
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "not granted: {}; review and grant it with `roster grant`",
                        missing.join("; ")
                    ))
                }
            };
            match ComponentProvider::start(runtime, &code, &label, decl, &approve).await {
                Ok(provider) => {
                    let digest = provider.digest().to_string();
                    // One window per tenant, shared with every process that reaches it.
                    let rate = crate::rosterfile::rate_of(Some(decl), provider.metadata());
                    match Pacer::for_tenant(
                        rate,
                        &provider.metadata().name,
                        &provider.0.capabilities().hosts,
                    ) {
                        Ok(pacer) => {
                            started.insert(
                                name.clone(),
                                (Arc::new(provider) as Arc<dyn Provider>, digest, pacer),
                            );
                        }
                        Err((path, e)) => errors.push(file.error(
                            &key,
                            format!(
                                "cannot open the shared pacing ledger {}: {e}",
                                path.display()
                            ),
                        )),
                    }
                }
                Err(e) => errors.push(start_error(&file, name, decl, e)),
            }
        }
        if !errors.is_empty() {
            return Err(FileErrors(errors));
        }
        Ok(Workspace::paced(file, started))
    }

    /// What every provider of `file` asks to be granted, without giving any instance a host or
    /// a secret (what `roster grant` shows and writes).
    pub async fn wanted_grants(
        file: &RosterFile,
        runtime: &Runtime,
        builtins: &[Builtin<'_>],
    ) -> Result<LockFile, FileErrors> {
        let mut wanted = LockFile::default();
        let mut errors = Vec::new();
        let base = base_of(file);
        for (name, decl) in &file.providers {
            let asked = match component_of(file, name, decl, builtins, runtime, None).await {
                Ok((wasm, label)) => {
                    ComponentProvider::ask(runtime, &Code::new(&wasm), &label, decl)
                        .await
                        .map_err(|e| start_error(file, name, decl, e))
                }
                Err(e) => Err(e),
            };
            match asked {
                Ok(mut grant) => {
                    grant.secrets = grant
                        .secrets
                        .into_iter()
                        .map(|(k, v)| (k, source_label(&base, &v)))
                        .collect();
                    wanted.providers.insert(name.clone(), grant);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(wanted)
        } else {
            Err(FileErrors(errors))
        }
    }

    /// A workspace over providers started elsewhere (an in-memory vendor, say): name →
    /// (provider, digest of its code).
    pub fn with_providers(
        file: RosterFile,
        started: BTreeMap<String, (Arc<dyn Provider>, String)>,
    ) -> Workspace {
        let started = started
            .into_iter()
            .map(|(name, (provider, digest))| {
                let pacer = Pacer::new(crate::rosterfile::rate_of(
                    file.providers.get(&name),
                    provider.metadata(),
                ));
                (name, (provider, digest, pacer))
            })
            .collect();
        Workspace::paced(file, started)
    }

    /// A workspace over providers started elsewhere, each with its pacer.
    fn paced(
        mut file: RosterFile,
        started: BTreeMap<String, (Arc<dyn Provider>, String, Pacer)>,
    ) -> Workspace {
        let mut providers = BTreeMap::new();
        let mut schemas = Schemas::default();
        for (name, (provider, code_digest, pacer)) in started {
            let rate = crate::rosterfile::rate_of(file.providers.get(&name), provider.metadata());
            for r in &provider.metadata().resources {
                schemas.insert(&name, r.clone());
            }
            providers.insert(
                name,
                Arc::new(ProviderHandle {
                    provider,
                    pacer,
                    code_digest,
                    rate,
                }),
            );
        }
        for r in file.resources.iter_mut().filter(|r| r.origin.is_some()) {
            if let Some(schema) = schemas.get(&r.provider, &r.type_name) {
                typed_cells(schema, &mut r.attributes);
            }
        }
        let retry = RetryPolicy {
            max_wait: file.settings.max_retry_wait,
            ..RetryPolicy::default()
        };
        Workspace {
            file,
            providers,
            retry,
            schemas,
        }
    }

    /// The provider named `name`.
    pub(crate) fn provider(&self, name: &str) -> Option<&Arc<ProviderHandle>> {
        self.providers.get(name)
    }

    /// The provider offering resource type `type_name` (its name), and the schema.
    pub fn provider_for_type(&self, type_name: &str) -> Option<(&str, &ResourceSchema)> {
        self.providers.iter().find_map(|(name, h)| {
            h.provider
                .metadata()
                .resources
                .iter()
                .find(|r| r.type_name == type_name)
                .map(|s| (name.as_str(), s))
        })
    }

    /// The schema of `type_name` under provider `provider`.
    pub(crate) fn schema(&self, provider: &str, type_name: &str) -> Option<&ResourceSchema> {
        self.schemas.get(provider, type_name)
    }

    /// What a saved plan must have been made from: the roster file's text, and each provider's
    /// code and config (SHA-256, hex).
    pub(crate) fn fingerprint(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(self.file.digest.as_bytes());
        for (name, handle) in &self.providers {
            h.update([0]);
            h.update(name.as_bytes());
            h.update([0]);
            h.update(handle.code_digest.as_bytes());
            if let Some(decl) = self.file.providers.get(name) {
                h.update(decl.config.to_string().as_bytes());
            }
        }
        hex::encode(h.finalize())
    }

    /// Checks every resource against its provider's schema and `validate`, and that no object
    /// is declared twice; no network.
    pub async fn validate(&self) -> Vec<FileError> {
        let mut errors = Vec::new();
        let mut seen: HashMap<Key, &str> = HashMap::new();
        for r in &self.file.resources {
            let key = format!("resource.{}", r.address);
            let Some(handle) = self.providers.get(&r.provider) else {
                continue;
            };
            let Some(schema) = self.schema(&r.provider, &r.type_name) else {
                let types: Vec<&str> = handle
                    .provider
                    .metadata()
                    .resources
                    .iter()
                    .map(|s| s.type_name.as_str())
                    .collect();
                errors.push(self.file.error(
                    &key,
                    format!(
                        "provider `{}` has no resource type `{}` (it has: {})",
                        r.provider,
                        r.type_name,
                        types.join(", ")
                    ),
                ));
                continue;
            };
            match r
                .attributes
                .get(&schema.id_attribute)
                .and_then(|v| v.as_str())
            {
                None => errors.push(self.file.error(
                    &key,
                    format!("`{}` (the id) is required", schema.id_attribute),
                )),
                Some(id) => {
                    let object = self
                        .schemas
                        .key(&r.provider, &r.type_name, id)
                        .expect("schema found above");
                    if let Some(first) = seen.insert(object, &r.address) {
                        let at = self
                            .file
                            .error(&format!("resource.{first}.{}", schema.id_attribute), "");
                        errors.push(self.file.error(
                            &format!("{key}.{}", schema.id_attribute),
                            format!(
                                "{} {id} is declared twice: here and as {first} at {}:{}; an object can be declared once (to rename it, change its name and keep one block)",
                                r.type_name,
                                at.file.display(),
                                at.line
                            ),
                        ));
                    }
                }
            }
            match handle.provider.validate(&r.type_name, &r.attributes).await {
                Ok(problems) => {
                    for p in problems {
                        let at = if p.field.is_empty() {
                            key.clone()
                        } else {
                            format!("{key}.{}", p.field)
                        };
                        errors.push(self.file.error(&at, p.message));
                    }
                }
                Err(e) => errors.push(self.file.error(&key, e.to_string())),
            }
        }
        errors.sort_by_key(|e| e.line);
        errors
    }
}

/// A CSV cell is text: a cell for a boolean or numeric attribute becomes that type when it reads
/// as one (`true`/`false`/`yes`/`no`/`1`/`0` in any case; a number). Anything else stays text,
/// for the provider's validation to name.
pub(crate) fn typed_cells(
    schema: &ResourceSchema,
    attributes: &mut serde_json::Map<String, serde_json::Value>,
) {
    use roster_runtime::types::ValueType;
    use serde_json::Value;
    for a in &schema.attributes {
        let Some(Value::String(text)) = attributes.get(&a.name) else {
            continue;
        };
        let t = text.trim();
        let typed = match a.value_type {
            ValueType::Boolean => match t.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Some(Value::Bool(true)),
                "false" | "no" | "0" => Some(Value::Bool(false)),
                _ => None,
            },
            ValueType::Integer => t.parse::<i64>().ok().map(Value::from),
            ValueType::Number => t
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            _ => None,
        };
        if let Some(v) = typed {
            attributes.insert(a.name.clone(), v);
        }
    }
}

/// The roster file's directory, absolute: a path the file names relatively and the same path
/// named absolutely read the same in the lock, wherever roster runs from.
fn base_of(file: &RosterFile) -> std::path::PathBuf {
    std::path::absolute(&file.path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// A provider's component: its bytes and its label in the lock (`builtin:NAME`, its path, or its
/// OCI reference). An OCI component is pulled (verified, cached); `granted` (its `sha256:…` in
/// roster.lock) refuses one its tag no longer names, and lets an unreachable registry be
/// replaced by the granted copy in the cache.
async fn component_of(
    file: &RosterFile,
    name: &str,
    decl: &ProviderDecl,
    builtins: &[Builtin<'_>],
    runtime: &Runtime,
    granted: Option<&str>,
) -> Result<(Vec<u8>, String), FileError> {
    let key = format!("provider.{name}");
    match &decl.component {
        ComponentRef::Builtin(b) => match builtins.iter().find(|(n, _)| n == b) {
            Some((_, wasm)) => Ok((wasm.to_vec(), format!("builtin:{b}"))),
            None => {
                let names: Vec<&str> = builtins.iter().map(|(n, _)| *n).collect();
                // `component` defaults to the instance name; `error` finds the key if it is set.
                Err(file.error(&format!("{key}.component"), format!("no built-in component `{b}` (built-in: {}); set `component` to one of them or to a path ending in .wasm", names.join(", "))))
            }
        },
        ComponentRef::Path(p) => match std::fs::read(p) {
            Ok(bytes) => Ok((bytes, relative(&base_of(file), &p.display().to_string()))),
            Err(e) => Err(file.error(
                &format!("{key}.component"),
                format!("cannot read {}: {e}", p.display()),
            )),
        },
        ComponentRef::Oci(r) => {
            let dir = runtime
                .cache_dir()
                .map(Path::to_path_buf)
                .or_else(roster_runtime::ComponentCache::default_dir)
                .unwrap_or_else(std::env::temp_dir);
            let store = roster_oci::Store::new(&dir);
            match roster_oci::resolve(&roster_oci::Registry::new(), &store, r, granted).await {
                Ok((wasm, roster_oci::Origin::Registry)) => Ok((wasm, r.to_string())),
                Ok((wasm, roster_oci::Origin::Store)) => {
                    eprintln!("note: {r}: the registry could not be reached; using the granted component from the cache");
                    Ok((wasm, r.to_string()))
                }
                Err(e) => Err(file.error(&format!("{key}.component"), format!("{e:#}"))),
            }
        }
    }
}

/// Why component code labelled `label` with SHA-256 `digest` is not what `granted` grants
/// (`None`: it is) — decided before the component is compiled.
fn code_not_granted(granted: Option<&Grant>, label: &str, digest: &str) -> Option<String> {
    let probe = Grant {
        component: label.to_string(),
        sha256: digest.to_string(),
        ..granted.cloned().unwrap_or_default()
    };
    let missing = grants::not_granted(granted, &probe);
    (!missing.is_empty()).then(|| missing.join("; "))
}

/// A provider that would not start, located in the roster file.
fn start_error(file: &RosterFile, name: &str, decl: &ProviderDecl, e: CallError) -> FileError {
    let key = format!("provider.{name}");
    match e {
        CallError::Provider(ProviderError::Denied(m)) => file.error(&key, m),
        CallError::Provider(ProviderError::InvalidConfig(f)) => {
            let at = if f.field.is_empty() {
                format!("{key}.config")
            } else if decl.secrets.contains_key(&f.field) {
                format!("{key}.secrets.{}", f.field)
            } else {
                format!("{key}.config.{}", f.field)
            };
            file.error(&at, f.message)
        }
        e => file.error(&key, e.to_string()),
    }
}

/// A path as the roster file would give it: relative to its (absolute) directory `base` when
/// under it.
fn relative(base: &Path, path: &str) -> String {
    let absolute = std::path::absolute(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string());
    let prefix = format!("{}/", base.display());
    match absolute.strip_prefix(&prefix) {
        Some(rest) if !base.as_os_str().is_empty() => rest.to_string(),
        _ => path.to_string(),
    }
}

/// A secret source as a grant records it: `file:` paths relative to `dir` (the roster file's
/// directory; for a Terraform package, the working directory) when under it.
pub fn lock_label(dir: &Path, source: &str) -> String {
    source_label(&std::path::absolute(dir).unwrap_or_default(), source)
}

/// A secret source for the lock file: `file:` paths relative to the roster file when under it.
fn source_label(base: &Path, source: &str) -> String {
    match source.strip_prefix("file:") {
        Some(p) => format!("file:{}", relative(base, p)),
        None => source.to_string(),
    }
}
