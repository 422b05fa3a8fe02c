//! A roster file with its providers started: what plan, apply and the lookup commands work on.

use crate::pacing::{Pacer, RetryPolicy};
use crate::rosterfile::{ComponentRef, FileError, FileErrors, RosterFile};
use roster_runtime::types::{ProviderError, ResourceSchema};
use roster_runtime::{CallError, Provider, ProviderSpec, Runtime};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A started provider with its pacer.
pub struct ProviderHandle {
    /// The provider.
    pub provider: Provider,
    /// Paces its operations at the declared (or overridden) rate limit.
    pub pacer: Pacer,
}

/// The roster file and its started providers.
pub struct Workspace {
    /// The roster file.
    pub file: RosterFile,
    /// Providers by name.
    pub providers: BTreeMap<String, Arc<ProviderHandle>>,
    /// Retry policy for transient errors.
    pub retry: RetryPolicy,
}

impl Workspace {
    /// Starts every provider of `file` (loading, configuring; no network).
    pub async fn open(file: RosterFile, runtime: &Runtime) -> Result<Workspace, FileErrors> {
        let mut providers = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, decl) in &file.providers {
            let key = format!("provider.{name}");
            let wasm: Vec<u8> = match &decl.component {
                ComponentRef::Builtin(b) => roster_components::builtin(b).expect("checked when parsed").to_vec(),
                ComponentRef::Path(p) => match std::fs::read(p) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        errors.push(file.error(&format!("{key}.component"), format!("cannot read {}: {e}", p.display())));
                        continue;
                    }
                },
            };
            let mut spec = ProviderSpec::new(name, decl.config.clone());
            spec.secrets = decl.secrets.clone();
            spec.extra_hosts = decl.allowed_hosts.clone();
            spec.limits = decl.limits;
            spec.secret_max_age = decl.secret_max_age;
            spec.aws = decl.aws.clone();
            spec.allow_private_networks = decl.allow_private_networks;
            match Provider::start(runtime, &wasm, spec).await {
                Ok(provider) => {
                    let rate = match (decl.rate_limit, &provider.metadata().rate_limit) {
                        (Some(o), _) => Some((o.operations, o.per)),
                        (None, Some(r)) => Some((r.operations, Duration::from_secs(r.per_seconds as u64))),
                        (None, None) => None,
                    };
                    let pacer = Pacer::new(rate);
                    providers.insert(name.clone(), Arc::new(ProviderHandle { provider, pacer }));
                }
                Err(CallError::Provider(ProviderError::InvalidConfig(f))) => {
                    let at = if f.field.is_empty() { format!("{key}.config") } else if decl.secrets.contains_key(&f.field) { format!("{key}.secrets.{}", f.field) } else { format!("{key}.config.{}", f.field) };
                    errors.push(file.error(&at, f.message));
                }
                Err(e) => errors.push(file.error(&key, e.to_string())),
            }
        }
        if !errors.is_empty() {
            return Err(FileErrors(errors));
        }
        Ok(Workspace { file, providers, retry: RetryPolicy::default() })
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&Arc<ProviderHandle>> {
        self.providers.get(name)
    }

    /// The provider offering resource type `type_name`, and its schema.
    pub fn provider_for_type(&self, type_name: &str) -> Option<(&Arc<ProviderHandle>, ResourceSchema)> {
        self.providers.values().find_map(|h| {
            h.provider.metadata().resources.iter().find(|r| r.type_name == type_name).map(|s| (h, s.clone()))
        })
    }

    /// The schema of `type_name` under provider `provider`.
    pub fn schema(&self, provider: &str, type_name: &str) -> Option<ResourceSchema> {
        let h = self.providers.get(provider)?;
        h.provider.metadata().resources.iter().find(|r| r.type_name == type_name).cloned()
    }

    /// Checks every resource against its provider's schema and `validate`; no network.
    pub async fn validate(&self) -> Vec<FileError> {
        let mut errors = Vec::new();
        for r in &self.file.resources {
            let key = format!("resource.{}", r.address);
            let Some(handle) = self.providers.get(&r.provider) else { continue };
            let Some(schema) = self.schema(&r.provider, &r.type_name) else {
                let types: Vec<&str> = handle.provider.metadata().resources.iter().map(|s| s.type_name.as_str()).collect();
                errors.push(self.file.error(&key, format!("provider `{}` has no resource type `{}` (it has: {})", r.provider, r.type_name, types.join(", "))));
                continue;
            };
            if !r.attributes.contains_key(&schema.id_attribute) {
                errors.push(self.file.error(&key, format!("`{}` (the id) is required", schema.id_attribute)));
            }
            let desired = serde_json::Value::Object(r.attributes.clone()).to_string();
            match handle.provider.validate(&r.type_name, &desired).await {
                Ok(problems) => {
                    for p in problems {
                        let at = if p.field.is_empty() { key.clone() } else { format!("{key}.{}", p.field) };
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

/// The id of an object from its attributes, by the schema's id attribute.
pub fn id_of(schema: &ResourceSchema, attributes: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    attributes.get(&schema.id_attribute).and_then(|v| v.as_str()).map(str::to_string)
}
