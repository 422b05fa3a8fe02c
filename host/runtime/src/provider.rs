//! The per-provider part of the host: one configured provider — its component, config,
//! allow-list and secrets — with a small pool of instances that keep what the component
//! caches (tokens, keys) across calls. An instance that trapped is dropped, never reused.

use crate::bindings::roster::provider::types as wit;
use crate::bindings::ProviderCore;
use crate::error::CallError;
use crate::http::{AllowedHosts, ConnectionPool, NetworkPolicy};
use crate::instance::HostState;
use crate::limits::Limits;
use crate::runtime::{Code, LoadedComponent, Runtime};
use crate::secrets::{AwsOptions, SecretSource, SecretStore, SecretsManagerClient};
use roster_contract::{FieldError, ProviderError, ProviderMetadata};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::Store;

/// Everything needed to start one provider.
#[derive(Clone, Debug)]
pub struct ProviderSpec {
    /// The instance name the user gave it (e.g. `nimbus` or `nimbus_eu`).
    pub name: String,
    /// The provider config, a JSON object passed to `configure`.
    pub config: serde_json::Value,
    /// Secret name → source; names the component declares with a default source may be omitted.
    pub secrets: HashMap<String, SecretSource>,
    /// How long a fetched secret may be served from the host's cache.
    pub secret_max_age: Duration,
    /// AWS settings for `aws-sm:` sources.
    pub aws: AwsOptions,
    /// Hosts allowed in addition to those the component asks for (the user's grant: an IP
    /// literal here may be a link-local or metadata address, see [`crate::address`]).
    pub extra_hosts: Vec<String>,
    /// Lets the provider reach loopback, private, link-local and metadata addresses through
    /// any allowed host (`allow_private_networks = true` in the roster file).
    pub allow_private_networks: bool,
    /// Sandbox limits.
    pub limits: Limits,
    /// What a relative `file:` path in a component's default secret source (such as
    /// `file:{federated_token_file}`) is relative to: the roster file's directory. `None`: the
    /// working directory.
    pub dir: Option<std::path::PathBuf>,
}

impl ProviderSpec {
    /// A spec with defaults: no secrets, no extra hosts, default limits, secrets kept 5 minutes.
    pub fn new(name: &str, config: serde_json::Value) -> Self {
        ProviderSpec {
            name: name.to_string(),
            config,
            secrets: HashMap::new(),
            secret_max_age: Duration::from_secs(300),
            aws: AwsOptions::default(),
            extra_hosts: Vec::new(),
            allow_private_networks: false,
            limits: Limits::default(),
            dir: None,
        }
    }
}

/// What a provider asks to be granted, known before it gets its first instance with any
/// capability: checked against what the user granted (Roster's `roster.lock`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The component's version, from its metadata.
    pub version: String,
    /// Its allow-list: what `allowed-hosts(config)` asked for plus the user's additions.
    pub hosts: Vec<String>,
    /// Secret name → the source it will be read from (named by the user, or the component's
    /// default filled in from the config).
    pub secrets: BTreeMap<String, String>,
}

struct Instance {
    store: Store<HostState>,
    guest: ProviderCore,
}

/// A guest call as the bindings give it: a trap, or the guest's answer in the WIT's types.
type Call<'a, R> =
    Pin<Box<dyn Future<Output = wasmtime::Result<Result<R, wit::ProviderError>>> + Send + 'a>>;

/// What a provider asks for, worked out before it is granted anything.
struct Asked {
    metadata: ProviderMetadata,
    allowed: AllowedHosts,
    granted: AllowedHosts,
    sources: HashMap<String, SecretSource>,
    capabilities: Capabilities,
}

/// A configured provider. Calls may run concurrently, up to `limits.max_instances` at once.
pub struct Provider {
    name: String,
    component: LoadedComponent,
    runtime: Runtime,
    config: String,
    metadata: ProviderMetadata,
    policy: Arc<NetworkPolicy>,
    limits: Limits,
    secrets: Arc<SecretStore>,
    pool: ConnectionPool,
    idle: Mutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
    discarded: AtomicU64,
    instantiated: AtomicU64,
    capabilities: Capabilities,
}

/// Replaces `{key}` in a default secret source with the config's string value of `key`; `None`
/// when a placeholder names a key the config does not set (then the default does not apply).
fn fill_template(template: &str, config: &serde_json::Value) -> Option<String> {
    let mut out = template.to_string();
    if let Some(map) = config.as_object() {
        for (k, v) in map {
            if let Some(s) = v.as_str().filter(|s| !s.trim().is_empty()) {
                out = out.replace(&format!("{{{k}}}"), s);
            }
        }
    }
    let unfilled = out.find('{').is_some_and(|i| out[i..].contains('}'));
    (!unfilled).then_some(out)
}

impl Provider {
    /// Loads `wasm`, asks it for its metadata and hosts, and configures a first instance.
    pub async fn start(
        runtime: &Runtime,
        wasm: &[u8],
        spec: ProviderSpec,
    ) -> Result<Provider, CallError> {
        Provider::start_approved(runtime, &Code::new(wasm), spec, &|_| Ok(())).await
    }

    /// As [`Provider::start`], but first shows `approve` what the provider asks for (before any
    /// instance has a host or a secret); an `Err` from it stops the start with
    /// `provider-error::denied` carrying its text.
    pub async fn start_approved(
        runtime: &Runtime,
        code: &Code<'_>,
        spec: ProviderSpec,
        approve: &(dyn Fn(&Capabilities) -> Result<(), String> + Sync),
    ) -> Result<Provider, CallError> {
        let component = runtime.load_code(code).map_err(CallError::Host)?;
        Provider::start_inner(runtime, component, spec, approve).await
    }

    /// What a component says about itself, without configuring it (no hosts, no secrets).
    pub async fn inspect(
        runtime: &Runtime,
        code: &Code<'_>,
    ) -> Result<ProviderMetadata, CallError> {
        let component = runtime.load_code(code).map_err(CallError::Host)?;
        let provider = Provider::unstarted(
            runtime,
            component,
            &ProviderSpec::new("", serde_json::json!({})),
        );
        let mut first = provider.instantiate().await?;
        provider
            .run(&mut first, metadata_call)
            .await
            .map(Into::into)
    }

    /// A provider with no metadata, no allowed hosts and no secrets yet.
    fn unstarted(runtime: &Runtime, component: LoadedComponent, spec: &ProviderSpec) -> Provider {
        Provider {
            name: spec.name.clone(),
            component,
            runtime: runtime.clone(),
            config: spec.config.to_string(),
            metadata: empty_metadata(),
            policy: Arc::new(NetworkPolicy {
                allow_private_networks: spec.allow_private_networks,
                ..NetworkPolicy::default()
            }),
            limits: spec.limits,
            secrets: SecretStore::new(
                HashMap::new(),
                spec.secret_max_age,
                SecretsManagerClient::new(AwsOptions::default()),
            ),
            pool: ConnectionPool::new(spec.limits.http.connect, spec.allow_private_networks),
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(spec.limits.max_instances.max(1))),
            discarded: 0.into(),
            instantiated: 0.into(),
            capabilities: Capabilities::default(),
        }
    }

    /// As [`Provider::start`], for a component already loaded.
    pub async fn start_loaded(
        runtime: &Runtime,
        component: LoadedComponent,
        spec: ProviderSpec,
    ) -> Result<Provider, CallError> {
        Provider::start_inner(runtime, component, spec, &|_| Ok(())).await
    }

    /// What component `code` asks for under `spec` — its version, allowed hosts (the user's
    /// extra ones included) and secret sources — without giving any instance a host or a
    /// secret, and without configuring it (what a grant is decided on).
    pub async fn ask(
        runtime: &Runtime,
        code: &Code<'_>,
        spec: ProviderSpec,
    ) -> Result<Capabilities, CallError> {
        let component = runtime.load_code(code).map_err(CallError::Host)?;
        let provider = Provider::unstarted(runtime, component, &spec);
        Ok(provider.asked(&spec).await?.capabilities)
    }

    /// Asks a first instance, with no hosts and no secrets, for metadata and allowed-hosts, and
    /// works out what the provider would be granted under `spec`.
    async fn asked(&self, spec: &ProviderSpec) -> Result<Asked, CallError> {
        let mut first = self.instantiate().await?;
        let metadata: ProviderMetadata = self.run(&mut first, metadata_call).await?.into();
        let cfg = self.config.clone();
        let hosts = self
            .run(&mut first, move |i| {
                Box::pin(async move {
                    i.guest
                        .roster_provider_provider()
                        .call_allowed_hosts(&mut i.store, &cfg)
                        .await
                })
            })
            .await?;
        // The first instance saw an empty allow-list and no secrets: it is not kept.
        drop(first);
        let mut allowed = AllowedHosts::parse(&hosts).map_err(|e| {
            CallError::Host(anyhow::anyhow!(
                "provider {} asked for a host that does not parse: {e}",
                spec.name
            ))
        })?;
        let granted = AllowedHosts::parse(&spec.extra_hosts).map_err(|e| {
            CallError::Provider(ProviderError::InvalidConfig(FieldError {
                field: "allowed_hosts".into(),
                message: e,
            }))
        })?;
        allowed.extend(granted.clone());
        let mut sources = spec.secrets.clone();
        for declared in &metadata.secrets {
            if sources.contains_key(&declared.name) {
                continue;
            }
            if let Some(filled) = declared
                .default_source
                .as_ref()
                .and_then(|t| fill_template(t, &spec.config))
            {
                let source: SecretSource = filled.parse().map_err(|e: String| {
                    CallError::Provider(ProviderError::InvalidConfig(FieldError {
                        field: declared.name.clone(),
                        message: e,
                    }))
                })?;
                // Relative to the roster file, as a `file:` the user writes is.
                let source = match spec.dir.as_deref() {
                    Some(dir) => source.relative_to(dir),
                    None => source,
                };
                sources.insert(declared.name.clone(), source);
            }
        }
        let capabilities = Capabilities {
            version: metadata.version.clone(),
            hosts: allowed.entries().iter().map(ToString::to_string).collect(),
            secrets: sources
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
        };
        Ok(Asked {
            metadata,
            allowed,
            granted,
            sources,
            capabilities,
        })
    }

    async fn start_inner(
        runtime: &Runtime,
        component: LoadedComponent,
        spec: ProviderSpec,
        approve: &(dyn Fn(&Capabilities) -> Result<(), String> + Sync),
    ) -> Result<Provider, CallError> {
        let aws = SecretsManagerClient::new(spec.aws.clone());
        let mut provider = Provider::unstarted(runtime, component, &spec);
        let Asked {
            metadata,
            allowed,
            granted,
            sources,
            capabilities,
        } = provider.asked(&spec).await?;
        approve(&capabilities).map_err(|e| CallError::Provider(ProviderError::Denied(e)))?;
        provider.capabilities = capabilities;
        provider.secrets = SecretStore::new(sources, spec.secret_max_age, aws);
        provider.metadata = metadata;
        provider.policy = Arc::new(NetworkPolicy {
            allowed,
            granted,
            allow_private_networks: spec.allow_private_networks,
        });
        let ready = provider.checkout().await?;
        provider.idle.lock().unwrap().push(ready);
        Ok(provider)
    }

    /// What it was granted: version, allow-list, secret sources.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the component said about itself.
    pub fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    /// The hosts this provider may reach.
    pub fn allowed_hosts(&self) -> &AllowedHosts {
        &self.policy.allowed
    }

    /// The secrets store (for metrics and tests: how often sources were asked).
    pub fn secrets(&self) -> &Arc<SecretStore> {
        &self.secrets
    }

    /// How many instances were discarded after a trap, deadline or memory limit.
    pub fn discarded_instances(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    /// How many instances were created in all.
    pub fn instantiated(&self) -> u64 {
        self.instantiated.load(Ordering::Relaxed)
    }

    /// Field-level checks of `desired` for `type_name`; no network.
    pub async fn validate(
        &self,
        type_name: &str,
        desired: &str,
    ) -> Result<Vec<FieldError>, CallError> {
        let (t, d) = (type_name.to_string(), desired.to_string());
        self.call(move |i| {
            Box::pin(async move {
                i.guest
                    .roster_provider_provider()
                    .call_validate(&mut i.store, &t, &d)
                    .await
                    .map(Ok)
            })
        })
        .await
        .map(|problems| problems.into_iter().map(Into::into).collect())
    }

    /// The object's current attributes (JSON), or `None` when it is gone.
    pub async fn read(&self, type_name: &str, id: &str) -> Result<Option<String>, CallError> {
        let (t, id) = (type_name.to_string(), id.to_string());
        self.call(move |i| {
            Box::pin(async move {
                i.guest
                    .roster_provider_provider()
                    .call_read(&mut i.store, &t, &id)
                    .await
            })
        })
        .await
    }

    /// Creates an object; returns its attributes (JSON).
    pub async fn create(&self, type_name: &str, desired: &str) -> Result<String, CallError> {
        let (t, d) = (type_name.to_string(), desired.to_string());
        self.call(move |i| {
            Box::pin(async move {
                i.guest
                    .roster_provider_provider()
                    .call_create(&mut i.store, &t, &d)
                    .await
            })
        })
        .await
    }

    /// Deletes an object.
    pub async fn delete(&self, type_name: &str, id: &str) -> Result<(), CallError> {
        let (t, id) = (type_name.to_string(), id.to_string());
        self.call(move |i| {
            Box::pin(async move {
                i.guest
                    .roster_provider_provider()
                    .call_delete(&mut i.store, &t, &id)
                    .await
            })
        })
        .await
    }

    /// Queries a data source; returns its attributes (JSON).
    pub async fn query(&self, data_source: &str, arguments: &str) -> Result<String, CallError> {
        let (s, a) = (data_source.to_string(), arguments.to_string());
        self.call(move |i| {
            Box::pin(async move {
                i.guest
                    .roster_provider_provider()
                    .call_query(&mut i.store, &s, &a)
                    .await
            })
        })
        .await
    }

    /// Runs `f` on a pooled instance (creating and configuring one if none is idle).
    async fn call<R: Send>(
        &self,
        f: impl for<'a> FnOnce(&'a mut Instance) -> Call<'a, R>,
    ) -> Result<R, CallError> {
        let _permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| CallError::Host(e.into()))?;
        let idle = self.idle.lock().unwrap().pop();
        let mut instance = match idle {
            Some(i) => i,
            None => self.checkout().await?,
        };
        let result = self.run(&mut instance, f).await;
        if result
            .as_ref()
            .err()
            .is_none_or(|e| !e.discarded_instance())
        {
            self.idle.lock().unwrap().push(instance);
        }
        result
    }

    /// A new instance, configured.
    async fn checkout(&self) -> Result<Instance, CallError> {
        let mut instance = self.instantiate().await?;
        let config = self.config.clone();
        self.run(&mut instance, move |i| {
            Box::pin(async move {
                i.guest
                    .roster_provider_provider()
                    .call_configure(&mut i.store, &config)
                    .await
            })
        })
        .await?;
        Ok(instance)
    }

    async fn instantiate(&self) -> Result<Instance, CallError> {
        let redactor = self.runtime.redactor().clone();
        let state = HostState::new(
            self.policy.clone(),
            self.pool.clone(),
            &self.limits,
            self.secrets.clone(),
            redactor.clone(),
        );
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.limits.deadline_ticks());
        let guest = self
            .component
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| CallError::Host(anyhow::anyhow!("{e:?}")).redacted(&redactor))?;
        self.instantiated.fetch_add(1, Ordering::Relaxed);
        Ok(Instance { store, guest })
    }

    /// Runs one guest call under the deadline; classifies a trap; redacts secrets from the
    /// error and adds the host's reason to a denial. The caller drops an instance whose error
    /// says so ([`CallError::discarded_instance`]).
    async fn run<R>(
        &self,
        instance: &mut Instance,
        f: impl for<'a> FnOnce(&'a mut Instance) -> Call<'a, R>,
    ) -> Result<R, CallError> {
        instance.store.data().take_denial();
        let redactor = self.runtime.redactor();
        instance
            .store
            .set_epoch_deadline(self.limits.deadline_ticks());
        let outcome = tokio::time::timeout(self.limits.wall_bound(), f(instance)).await;
        let outcome = outcome.map(|r| r.map(|r| r.map_err(ProviderError::from)));
        let error = match outcome {
            Ok(Ok(Ok(value))) => return Ok(value),
            Ok(Ok(Err(ProviderError::Denied(message)))) => {
                let message = match instance.store.data().take_denial() {
                    Some(reason) if !message.contains(&reason) => format!("{message}: {reason}"),
                    _ => message,
                };
                return Err(CallError::Provider(ProviderError::Denied(message)).redacted(redactor));
            }
            Ok(Ok(Err(provider_error))) => {
                return Err(CallError::Provider(provider_error).redacted(redactor))
            }
            Err(_) => CallError::Deadline(self.limits.wall_bound()),
            Ok(Err(trap)) => {
                let state = instance.store.data();
                if state.limiter.exceeded {
                    CallError::MemoryLimit(self.limits.memory_bytes)
                } else if trap.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt)
                {
                    CallError::Deadline(self.limits.call_deadline)
                } else {
                    let stderr = state.stderr_tail();
                    let trap = format!("{trap:?}");
                    CallError::Trap(if stderr.is_empty() {
                        trap
                    } else {
                        format!("{trap}\nguest stderr:\n{stderr}")
                    })
                }
            }
        };
        let error = error.redacted(redactor);
        self.discarded.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(provider = %self.name, "discarding instance: {error}");
        Err(error)
    }
}

fn metadata_call(i: &mut Instance) -> Call<'_, wit::ProviderMetadata> {
    Box::pin(async move {
        i.guest
            .roster_provider_provider()
            .call_metadata(&mut i.store)
            .await
            .map(Ok)
    })
}

fn empty_metadata() -> ProviderMetadata {
    ProviderMetadata {
        name: String::new(),
        version: String::new(),
        description: String::new(),
        config_schema: vec![],
        secrets: vec![],
        resources: vec![],
        data_sources: vec![],
        rate_limit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::fill_template;
    use serde_json::json;

    #[test]
    fn default_sources_fill_from_config_or_do_not_apply() {
        let config = json!({ "secrets_region": "eu-west-2", "token_file": "/run/t", "empty": " " });
        assert_eq!(
            fill_template("aws-sm:K?region={secrets_region}", &config).as_deref(),
            Some("aws-sm:K?region=eu-west-2")
        );
        assert_eq!(
            fill_template("file:{token_file}", &config).as_deref(),
            Some("file:/run/t")
        );
        assert_eq!(
            fill_template("env:PLAIN", &config).as_deref(),
            Some("env:PLAIN")
        );
        assert_eq!(
            fill_template("file:{missing}", &config),
            None,
            "an unset key leaves no source"
        );
        assert_eq!(
            fill_template("file:{empty}", &config),
            None,
            "a blank value counts as unset"
        );
    }
}
