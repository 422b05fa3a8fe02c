//! The provider service: Terraform's RPCs over one component in Roster's wasmtime host, through
//! the engine's paced, retried operations ([`roster_engine::ops`]) and the pure lifecycle rules
//! ([`crate::lifecycle`]).

use crate::lifecycle::{self, Private};
use crate::package::{Package, COMPONENT_FILE};
use crate::proto::tfplugin6 as tf;
use crate::schema;
use crate::value::{self, Ty, Value};
use roster_engine::grants;
use roster_engine::ops::{self, Created};
use roster_engine::pacing::{Pacer, RetryPolicy};
use roster_engine::provider::{Attributes, BoxFuture, ComponentProvider};
use roster_engine::workspace::ProviderHandle;
use roster_runtime::types::{FieldError, ProviderError, ProviderMetadata, ResourceSchema};
use roster_runtime::{CallError, Runtime};
use serde_json::{Map, Value as Json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

type Diags = Vec<tf::Diagnostic>;

/// An error diagnostic.
pub(crate) fn error(summary: impl Into<String>, detail: impl Into<String>) -> tf::Diagnostic {
    tf::Diagnostic {
        severity: tf::diagnostic::Severity::Error as i32,
        summary: summary.into(),
        detail: detail.into(),
        attribute: None,
    }
}

/// A warning diagnostic.
pub(crate) fn warning(summary: impl Into<String>, detail: impl Into<String>) -> tf::Diagnostic {
    tf::Diagnostic {
        severity: tf::diagnostic::Severity::Warning as i32,
        ..error(summary, detail)
    }
}

/// The path of a top-level attribute (`secrets.client_secret` names the map's element).
pub(crate) fn path(dotted: &str) -> tf::AttributePath {
    use tf::attribute_path::{step::Selector, Step};
    let mut parts = dotted.splitn(2, '.');
    let mut steps = vec![Step {
        selector: Some(Selector::AttributeName(
            parts.next().unwrap_or_default().to_string(),
        )),
    }];
    if let Some(key) = parts.next() {
        steps.push(Step {
            selector: Some(Selector::ElementKeyString(key.to_string())),
        });
    }
    tf::AttributePath { steps }
}

fn at(mut d: tf::Diagnostic, attribute: &str) -> tf::Diagnostic {
    if !attribute.is_empty() {
        d.attribute = Some(path(attribute));
    }
    d
}

/// A failed call as a diagnostic: what was being done, the error kind, and the attribute it
/// names (an invalid input or config names one).
pub(crate) fn call_error(doing: &str, e: &CallError) -> tf::Diagnostic {
    let field = match e {
        CallError::Provider(
            ProviderError::InvalidInput(FieldError { field, .. })
            | ProviderError::InvalidConfig(FieldError { field, .. }),
        ) => field.as_str(),
        _ => "",
    };
    at(error(format!("{doing}: {}", kind(e)), e.to_string()), field)
}

fn kind(e: &CallError) -> String {
    match e {
        CallError::Provider(p) => match p {
            ProviderError::InvalidConfig(_) => "invalid provider configuration".into(),
            ProviderError::InvalidInput(_) => "invalid attribute".into(),
            ProviderError::Unauthorized(_) => "the vendor refused the credentials".into(),
            ProviderError::Forbidden(_) => "the vendor forbids it".into(),
            ProviderError::NotFound(_) => "not found at the vendor".into(),
            ProviderError::AlreadyExists(_) => "it already exists at the vendor".into(),
            ProviderError::RateLimited(_) => "rate limited by the vendor".into(),
            ProviderError::Unavailable(_) => "the vendor is unavailable".into(),
            ProviderError::Denied(_) => "refused by Roster's sandbox".into(),
            ProviderError::Vendor(v) if v.status == 0 => "the vendor answered with an error".into(),
            ProviderError::Vendor(v) => format!("the vendor answered HTTP {}", v.status),
        },
        CallError::Deadline(_) => "the component ran out of time".into(),
        CallError::MemoryLimit(_) => "the component ran out of memory".into(),
        CallError::Trap(_) => "the component crashed".into(),
        CallError::Host(_) => "Roster's host failed".into(),
    }
}

tokio::task_local! {
    /// Set once a create or delete of the current operation has been handed to the component:
    /// from then on, a stop lets it finish so that its outcome is known.
    static SENT: Arc<AtomicBool>;
}

/// The component, marking [`SENT`] when a create or delete goes out (the engine's pacer, shared
/// with every process reaching the tenant, has given it its turn).
struct Marked {
    component: ComponentProvider,
}

impl Marked {
    fn call<'a, T: Send + 'a>(
        &'a self,
        marks: bool,
        call: BoxFuture<'a, Result<T, CallError>>,
    ) -> BoxFuture<'a, Result<T, CallError>> {
        Box::pin(async move {
            if marks {
                let _ = SENT.try_with(|s| s.store(true, Ordering::SeqCst));
            }
            call.await
        })
    }
}

impl roster_engine::provider::Provider for Marked {
    fn metadata(&self) -> &ProviderMetadata {
        self.component.metadata()
    }
    fn validate<'a>(
        &'a self,
        type_name: &'a str,
        desired: &'a Attributes,
    ) -> BoxFuture<'a, Result<Vec<FieldError>, CallError>> {
        // No network: no turn.
        self.component.validate(type_name, desired)
    }
    fn read<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Attributes>, CallError>> {
        self.call(false, self.component.read(type_name, id))
    }
    fn create<'a>(
        &'a self,
        type_name: &'a str,
        desired: &'a Attributes,
    ) -> BoxFuture<'a, Result<Attributes, CallError>> {
        self.call(true, self.component.create(type_name, desired))
    }
    fn delete<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), CallError>> {
        self.call(true, self.component.delete(type_name, id))
    }
    fn query<'a>(
        &'a self,
        data_source: &'a str,
        arguments: &'a Attributes,
    ) -> BoxFuture<'a, Result<Json, CallError>> {
        self.call(false, self.component.query(data_source, arguments))
    }
}

/// The provider after `ConfigureProvider`.
struct Configured {
    handle: ProviderHandle,
    retry: RetryPolicy,
    adopt_existing: bool,
}

/// What the process serves: one package's component.
pub struct Host {
    runtime: Runtime,
    package: Result<Package, String>,
    metadata: Result<ProviderMetadata, String>,
    provider_ty: Ty,
    provider_schema: Option<tf::Schema>,
    configured: std::sync::OnceLock<Result<Arc<Configured>, String>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Host {
    /// Opens the package (refusing a component its grant does not name, before any of its code
    /// runs), then asks the component what it is. A package that cannot be served is kept as an
    /// error that every RPC reports, so that Terraform shows it.
    pub async fn new(runtime: Runtime, package: Result<Package, String>) -> Host {
        let metadata = match &package {
            Err(e) => Err(e.clone()),
            Ok(p) => roster_runtime::Provider::inspect(&runtime, &p.code)
                .await
                .map_err(|e| format!("the component could not say what it is: {e}")),
        };
        let schema = metadata
            .as_ref()
            .map_err(Clone::clone)
            .and_then(schema::provider);
        let (provider_schema, provider_ty, metadata) = match schema {
            Ok((s, ty)) => (Some(s), ty, metadata),
            Err(e) => (None, Ty::Object(Default::default()), Err(e)),
        };
        Host {
            runtime,
            package,
            metadata,
            provider_ty,
            provider_schema,
            configured: std::sync::OnceLock::new(),
            stop: tokio::sync::watch::channel(false).0,
        }
    }

    /// Asks in-flight and future operations to stop (Terraform's StopProvider).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn metadata(&self) -> Result<&ProviderMetadata, Diags> {
        self.metadata.as_ref().map_err(|e| {
            vec![error(
                "Roster cannot serve this provider package",
                e.clone(),
            )]
        })
    }

    fn resource(&self, type_name: &str) -> Result<&ResourceSchema, Diags> {
        let meta = self.metadata()?;
        meta.resources
            .iter()
            .find(|r| r.type_name == type_name)
            .ok_or_else(|| {
                vec![error(
                    format!("no resource type `{type_name}`"),
                    format!("the component `{}` serves: {}", meta.name, names(meta)),
                )]
            })
    }

    async fn configured(&self) -> Result<Arc<Configured>, Diags> {
        match self.configured.get() {
            Some(Ok(c)) => Ok(c.clone()),
            Some(Err(e)) => Err(vec![error("the provider is not configured", e.clone())]),
            None => Err(vec![error(
                "the provider is not configured",
                "Terraform called it before ConfigureProvider",
            )]),
        }
    }

    async fn run<T>(
        &self,
        sends: bool,
        op: impl std::future::Future<Output = T>,
    ) -> Result<T, tf::Diagnostic> {
        let sent = Arc::new(AtomicBool::new(false));
        let op = SENT.scope(sent.clone(), op);
        tokio::pin!(op);
        let mut stop = self.stop.subscribe();
        let stop_requested = async move {
            loop {
                let now = *stop.borrow_and_update();
                if now {
                    return;
                }
                if stop.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        if *self.stop.borrow() {
            return Err(stopped());
        }
        tokio::select! {
            out = &mut op => Ok(out),
            _ = stop_requested => {
                if sends && sent.load(Ordering::SeqCst) {
                    // Handed to the vendor: finish it, so that its outcome is known and recorded.
                    tracing::info!("stop requested: letting an operation already sent to the vendor finish");
                    Ok(op.await)
                } else {
                    Err(stopped())
                }
            }
        }
    }

    fn on_wait(type_name: &str) -> impl Fn(Duration, &str) + Send + Sync + '_ {
        move |d: Duration, why: &str| {
            tracing::info!("{type_name}: {why}: waiting {:.1}s", d.as_secs_f64())
        }
    }
}

fn stopped() -> tf::Diagnostic {
    error("stopped", "Terraform asked the provider to stop (an interrupt) before this operation reached the vendor; nothing was sent")
}

fn names(meta: &ProviderMetadata) -> String {
    meta.resources
        .iter()
        .map(|r| r.type_name.as_str())
        .chain(meta.data_sources.iter().map(|d| d.name.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn dynamic(v: &Value, ty: &Ty) -> Result<tf::DynamicValue, Diags> {
    value::encode(v, ty)
        .map(|msgpack| tf::DynamicValue {
            msgpack,
            json: vec![],
        })
        .map_err(|e| vec![error("Roster could not encode a value for Terraform", e)])
}

fn decode(d: Option<&tf::DynamicValue>, ty: &Ty, what: &str) -> Result<Value, Diags> {
    let Some(d) = d else { return Ok(Value::Null) };
    if d.msgpack.is_empty() && !d.json.is_empty() {
        let json: Json = serde_json::from_slice(&d.json).map_err(|e| {
            vec![error(
                format!("Terraform sent {what} that is not JSON"),
                e.to_string(),
            )]
        })?;
        return Value::from_json(&json, ty).map_err(|e| {
            vec![error(
                format!("Terraform sent {what} that does not fit the schema"),
                e,
            )]
        });
    }
    value::decode(&d.msgpack, ty).map_err(|e| {
        vec![error(
            format!("Terraform sent {what} that does not fit the schema"),
            e,
        )]
    })
}

fn resource_ty(r: &ResourceSchema) -> Ty {
    schema::object_ty(&r.attributes)
}

/// The provider block as a roster.toml `[provider]` table: the component's keys under
/// `config`, the host's own keys as they are; nulls left out.
fn provider_table(meta: &ProviderMetadata, config: &Value) -> Map<String, Json> {
    let mut table = Map::new();
    let mut component = Map::new();
    if let Some(m) = config.as_map() {
        for (k, v) in m {
            let Some(json) = v.to_json().map(strip_nulls).filter(|j| !j.is_null()) else {
                continue;
            };
            if k == "adopt_existing" {
                continue;
            }
            if meta.config_schema.iter().any(|a| &a.name == k) {
                component.insert(k.clone(), json);
            } else {
                table.insert(k.clone(), json);
            }
        }
    }
    table.insert("config".into(), Json::Object(component));
    table
}

fn strip_nulls(j: Json) -> Json {
    match j {
        Json::Object(m) => Json::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

impl Host {
    async fn configure(
        &self,
        terraform_version: &str,
        config: &Value,
    ) -> Result<Configured, Diags> {
        let meta = self.metadata()?.clone();
        let package = self.package.as_ref().map_err(|e| {
            vec![error(
                "Roster cannot serve this provider package",
                e.clone(),
            )]
        })?;
        if config.has_unknown() {
            return Err(vec![error(
                "the provider configuration is not known yet",
                "Roster's providers need every provider attribute known before planning (not computed from another resource), so that the sandbox grant can be checked first",
            )]);
        }
        let base = std::env::current_dir().unwrap_or_default();
        let decl = roster_engine::rosterfile::provider_from_table(
            &package.type_name,
            &provider_table(&meta, config),
            &base,
        )
        .map_err(|errs| {
            errs.into_iter()
                .map(|(k, m)| {
                    at(
                        error("invalid provider configuration", m),
                        &k.replace("config.", ""),
                    )
                })
                .collect::<Diags>()
        })?;
        let declared: Vec<&str> = meta.secrets.iter().map(|s| s.name.as_str()).collect();
        let unknown: Diags = decl
            .secrets
            .keys()
            .filter(|k| !declared.contains(&k.as_str()))
            .map(|k| {
                at(
                    error(
                        "invalid provider configuration",
                        format!(
                            "the component asks for no secret `{k}` (it asks for: {})",
                            if declared.is_empty() {
                                "none".into()
                            } else {
                                declared.join(", ")
                            }
                        ),
                    ),
                    &format!("secrets.{k}"),
                )
            })
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let write_only: Vec<String> = meta
            .resources
            .iter()
            .flat_map(|r| {
                r.attributes
                    .iter()
                    .filter(|a| a.sensitive)
                    .map(move |a| format!("{}.{}", r.type_name, a.name))
            })
            .collect();
        if !write_only.is_empty() && older_than(terraform_version, (1, 11)) {
            return Err(vec![error(
                "this Terraform would store secrets in state",
                format!(
                    "the component's sensitive attributes ({}) are write-only, which Terraform {terraform_version} does not know: it would store them in state. Use Terraform 1.11 or newer.",
                    write_only.join(", ")
                ),
            )]);
        }
        let granted = package.grant.clone();
        let approve = |wanted: grants::Grant| {
            // `file:` secrets as the package records them: relative to the working directory.
            let wanted = grants::Grant {
                secrets: wanted
                    .secrets
                    .iter()
                    .map(|(k, v)| (k.clone(), roster_engine::workspace::lock_label(&base, v)))
                    .collect(),
                ..wanted
            };
            let missing = grants::not_granted(Some(&granted), &wanted);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "not granted by the provider package ({}): {}. The package's grant is part of what .terraform.lock.hcl pins; to widen it, package the component again with `roster terraform package` (or `roster terraform install`) naming what it may reach, then `terraform init -upgrade` and review the lock file's change",
                    package.dir.display(),
                    missing.join("; ")
                ))
            }
        };
        let provider = ComponentProvider::start(
            &self.runtime,
            &package.code,
            COMPONENT_FILE,
            &decl,
            &approve,
        )
        .await
        .map_err(|e| {
            let d = call_error("the provider could not start", &e);
            let field = d
                .attribute
                .as_ref()
                .and_then(|p| p.steps.first())
                .and_then(|s| match &s.selector {
                    Some(tf::attribute_path::step::Selector::AttributeName(n)) => Some(n.clone()),
                    _ => None,
                });
            let d = match field {
                Some(f) if decl.secrets.contains_key(&f) => at(
                    tf::Diagnostic {
                        attribute: None,
                        ..d
                    },
                    &format!("secrets.{f}"),
                ),
                _ => d,
            };
            vec![d]
        })?;
        let rate = decl.rate(&meta);
        let pacer = match Pacer::for_tenant(rate, &meta.name, &provider.0.capabilities().hosts) {
            Ok(p) => p,
            Err((path, e)) => {
                return Err(vec![error(
                    "the provider could not open its shared pacing ledger",
                    format!("{}: {e}", path.display()),
                )])
            }
        };
        let adopt_existing = matches!(config.get("adopt_existing"), Value::Bool(true));
        let digest = provider.digest().to_string();
        tracing::info!("configured {} (component sha256 {digest}, Terraform {terraform_version}); pace: {rate:?}", package.type_name);
        let handle = ProviderHandle {
            provider: Arc::new(Marked {
                component: provider,
            }),
            pacer,
            code_digest: digest,
            rate,
        };
        Ok(Configured {
            handle,
            retry: RetryPolicy::default(),
            adopt_existing,
        })
    }
}

fn older_than(version: &str, (major, minor): (u64, u64)) -> bool {
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) < (major, minor)
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl tf::provider_server::Provider for Arc<Host> {
    async fn get_metadata(
        &self,
        _: Request<tf::get_metadata::Request>,
    ) -> Rpc<tf::get_metadata::Response> {
        let mut out = tf::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            ..Default::default()
        };
        match self.metadata() {
            Ok(m) => {
                out.resources = m
                    .resources
                    .iter()
                    .map(|r| tf::get_metadata::ResourceMetadata {
                        type_name: r.type_name.clone(),
                    })
                    .collect();
                out.data_sources = m
                    .data_sources
                    .iter()
                    .map(|d| tf::get_metadata::DataSourceMetadata {
                        type_name: d.name.clone(),
                    })
                    .collect();
            }
            Err(d) => out.diagnostics = d,
        }
        Ok(Response::new(out))
    }

    async fn get_provider_schema(
        &self,
        _: Request<tf::get_provider_schema::Request>,
    ) -> Rpc<tf::get_provider_schema::Response> {
        let mut out = tf::get_provider_schema::Response {
            server_capabilities: Some(capabilities()),
            ..Default::default()
        };
        match (self.metadata(), &self.provider_schema) {
            (Ok(m), Some(p)) => {
                out.provider = Some(p.clone());
                out.resource_schemas = m
                    .resources
                    .iter()
                    .map(|r| (r.type_name.clone(), schema::resource(r)))
                    .collect();
                out.data_source_schemas = m
                    .data_sources
                    .iter()
                    .map(|d| (d.name.clone(), schema::data_source(d)))
                    .collect();
            }
            (Err(d), _) => {
                out.provider = Some(tf::Schema {
                    version: 0,
                    block: Some(Default::default()),
                });
                out.diagnostics = d;
            }
            (Ok(_), None) => unreachable!("a schema error is kept as metadata's error"),
        }
        Ok(Response::new(out))
    }

    async fn validate_provider_config(
        &self,
        request: Request<tf::validate_provider_config::Request>,
    ) -> Rpc<tf::validate_provider_config::Response> {
        let r = request.into_inner();
        let diagnostics = match self.metadata() {
            Err(d) => d,
            Ok(meta) => match decode(
                r.config.as_ref(),
                &self.provider_ty,
                "a provider configuration",
            ) {
                Err(d) => d,
                Ok(config) if config.has_unknown() => vec![],
                Ok(config) => match roster_engine::rosterfile::provider_from_table(
                    &meta.name,
                    &provider_table(meta, &config),
                    &std::env::current_dir().unwrap_or_default(),
                ) {
                    Ok(_) => vec![],
                    Err(errs) => errs
                        .into_iter()
                        .map(|(k, m)| {
                            at(
                                error("invalid provider configuration", m),
                                &k.replace("config.", ""),
                            )
                        })
                        .collect(),
                },
            },
        };
        Ok(Response::new(tf::validate_provider_config::Response {
            diagnostics,
        }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<tf::validate_resource_config::Request>,
    ) -> Rpc<tf::validate_resource_config::Response> {
        let r = request.into_inner();
        let diagnostics = match self.resource(&r.type_name) {
            Err(d) => d,
            Ok(s) => decode(
                r.config.as_ref(),
                &resource_ty(s),
                "a resource configuration",
            )
            .err()
            .unwrap_or_default(),
        };
        Ok(Response::new(tf::validate_resource_config::Response {
            diagnostics,
        }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<tf::validate_data_resource_config::Request>,
    ) -> Rpc<tf::validate_data_resource_config::Response> {
        let r = request.into_inner();
        let diagnostics = match self.metadata() {
            Err(d) => d,
            Ok(m) => match m.data_sources.iter().find(|d| d.name == r.type_name) {
                None => vec![error(
                    format!("no data source `{}`", r.type_name),
                    format!("the component serves: {}", names(m)),
                )],
                Some(d) => decode(
                    r.config.as_ref(),
                    &schema::object_ty(&schema::data_source_attributes(d)),
                    "a data source configuration",
                )
                .err()
                .unwrap_or_default(),
            },
        };
        Ok(Response::new(tf::validate_data_resource_config::Response {
            diagnostics,
        }))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<tf::upgrade_resource_state::Request>,
    ) -> Rpc<tf::upgrade_resource_state::Response> {
        let r = request.into_inner();
        let result = (|| {
            let s = self.resource(&r.type_name)?;
            let ty = resource_ty(s);
            let raw = r.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                return Err(vec![error(
                    "cannot upgrade this state",
                    "Roster's providers have only ever written JSON state (not the legacy flatmap)",
                )]);
            }
            let json: Json = serde_json::from_slice(&raw.json)
                .map_err(|e| vec![error("the stored state is not JSON", e.to_string())])?;
            let Json::Object(stored) = json else {
                return Err(vec![error("the stored state is not an object", "")]);
            };
            // Attributes the component no longer has are dropped; new ones start null.
            let kept: Map<String, Json> = stored
                .into_iter()
                .filter(|(k, _)| s.attributes.iter().any(|a| &a.name == k))
                .collect();
            let v = Value::from_json(&Json::Object(kept), &ty)
                .map_err(|e| vec![error("the stored state does not fit the schema", e)])?;
            dynamic(&v, &ty)
        })();
        Ok(Response::new(match result {
            Ok(state) => tf::upgrade_resource_state::Response {
                upgraded_state: Some(state),
                diagnostics: vec![],
            },
            Err(diagnostics) => tf::upgrade_resource_state::Response {
                upgraded_state: None,
                diagnostics,
            },
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<tf::get_resource_identity_schemas::Request>,
    ) -> Rpc<tf::get_resource_identity_schemas::Response> {
        Ok(Response::new(Default::default()))
    }

    async fn get_functions(
        &self,
        _: Request<tf::get_functions::Request>,
    ) -> Rpc<tf::get_functions::Response> {
        Ok(Response::new(Default::default()))
    }

    async fn configure_provider(
        &self,
        request: Request<tf::configure_provider::Request>,
    ) -> Rpc<tf::configure_provider::Response> {
        let r = request.into_inner();
        let config = match self.metadata() {
            Err(d) => {
                return Ok(Response::new(tf::configure_provider::Response {
                    diagnostics: d,
                }))
            }
            Ok(_) => decode(
                r.config.as_ref(),
                &self.provider_ty,
                "a provider configuration",
            ),
        };
        let diagnostics = match config {
            Err(d) => d,
            Ok(config) => match self.configure(&r.terraform_version, &config).await {
                Ok(c) => {
                    let _ = self.configured.set(Ok(Arc::new(c)));
                    vec![]
                }
                Err(d) => {
                    let _ = self.configured.set(Err(diags_text(&d)));
                    d
                }
            },
        };
        Ok(Response::new(tf::configure_provider::Response {
            diagnostics,
        }))
    }

    async fn read_resource(
        &self,
        request: Request<tf::read_resource::Request>,
    ) -> Rpc<tf::read_resource::Response> {
        let r = request.into_inner();
        let result = async {
            let s = self.resource(&r.type_name)?;
            let ty = resource_ty(s);
            let prior = decode(r.current_state.as_ref(), &ty, "a state")?;
            let private = Private::from_bytes(&r.private);
            let Some(id) = lifecycle::id_of(s, &prior).map(str::to_string) else {
                return Err(vec![error(
                    format!("{}: the state has no `{}`", r.type_name, s.id_attribute),
                    "",
                )]);
            };
            let c = self.configured().await?;
            let wait = Host::on_wait(&r.type_name);
            let read = self
                .run(
                    false,
                    ops::read(&c.handle, &c.retry, &r.type_name, &id, &wait),
                )
                .await
                .map_err(|d| vec![d])?;
            let read =
                read.map_err(|e| vec![call_error(&format!("reading {} {id}", r.type_name), &e)])?;
            if read.is_none() {
                tracing::info!(
                    "{} {id} no longer exists at the vendor: removed from state",
                    r.type_name
                );
            }
            let state = lifecycle::refreshed(s, &prior, read.as_ref());
            Ok((dynamic(&state, &ty)?, private))
        }
        .await;
        Ok(Response::new(match result {
            Ok((state, private)) => tf::read_resource::Response {
                new_state: Some(state),
                diagnostics: vec![],
                private: private.to_bytes(),
            },
            Err(diagnostics) => tf::read_resource::Response {
                new_state: None,
                diagnostics,
                private: r.private,
            },
        }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<tf::plan_resource_change::Request>,
    ) -> Rpc<tf::plan_resource_change::Response> {
        let r = request.into_inner();
        let result = async {
            let s = self.resource(&r.type_name)?;
            let ty = resource_ty(s);
            let prior = decode(r.prior_state.as_ref(), &ty, "a prior state")?;
            let proposed = decode(r.proposed_new_state.as_ref(), &ty, "a proposed state")?;
            let config = decode(r.config.as_ref(), &ty, "a configuration")?;
            let planned = lifecycle::plan(
                s,
                &prior,
                &proposed,
                &config,
                &Private::from_bytes(&r.prior_private),
            );
            let mut diagnostics = Vec::new();
            // The component's own field checks, when the configuration is known (no network).
            if !config.is_null() && !config.has_unknown() {
                if let Ok(c) = self.configured().await {
                    match c
                        .handle
                        .provider
                        .validate(&r.type_name, &lifecycle::desired(s, &config))
                        .await
                    {
                        Ok(errors) => diagnostics.extend(errors.into_iter().map(|e| {
                            at(error(format!("invalid {}", e.field), e.message), &e.field)
                        })),
                        Err(e) => {
                            diagnostics.push(call_error(&format!("checking {}", r.type_name), &e))
                        }
                    }
                }
            }
            if !planned.requires_replace.is_empty() {
                if let Some(w) = &s.replace_warning {
                    diagnostics.push(warning(
                        format!(
                            "replacing {} {} costs something",
                            r.type_name,
                            lifecycle::id_of(s, &prior).unwrap_or("")
                        ),
                        format!(
                            "{w} (a change to {} cannot be made in place)",
                            planned.requires_replace.join(", ")
                        ),
                    ));
                }
            }
            Ok((dynamic(&planned.state, &ty)?, planned, diagnostics))
        }
        .await;
        Ok(Response::new(match result {
            Ok((state, planned, diagnostics)) => tf::plan_resource_change::Response {
                planned_state: Some(state),
                requires_replace: planned.requires_replace.iter().map(|a| path(a)).collect(),
                planned_private: planned.private.to_bytes(),
                diagnostics,
            },
            Err(diagnostics) => tf::plan_resource_change::Response {
                diagnostics,
                ..Default::default()
            },
        }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<tf::apply_resource_change::Request>,
    ) -> Rpc<tf::apply_resource_change::Response> {
        let r = request.into_inner();
        let result = self.apply(&r).await;
        Ok(Response::new(match result {
            Ok((state, private, diagnostics)) => tf::apply_resource_change::Response {
                new_state: Some(state),
                private,
                diagnostics,
            },
            Err((state, diagnostics)) => tf::apply_resource_change::Response {
                new_state: state,
                private: r.planned_private,
                diagnostics,
            },
        }))
    }

    async fn import_resource_state(
        &self,
        request: Request<tf::import_resource_state::Request>,
    ) -> Rpc<tf::import_resource_state::Response> {
        let r = request.into_inner();
        let result = async {
            let s = self.resource(&r.type_name)?;
            let c = self.configured().await?;
            let wait = Host::on_wait(&r.type_name);
            let read = self
                .run(
                    false,
                    ops::read(&c.handle, &c.retry, &r.type_name, &r.id, &wait),
                )
                .await
                .map_err(|d| vec![d])?;
            let found = read.map_err(|e| {
                vec![call_error(
                    &format!("importing {} {}", r.type_name, r.id),
                    &e,
                )]
            })?;
            let Some(found) = found else {
                return Err(vec![error(
                    format!("cannot import {} {}: it does not exist", r.type_name, r.id),
                    format!(
                        "the vendor has no {} whose {} is `{}`",
                        r.type_name, s.id_attribute, r.id
                    ),
                )]);
            };
            let (state, private) = lifecycle::imported(s, &r.id, &found);
            tracing::info!("imported {} {}", r.type_name, r.id);
            Ok(tf::import_resource_state::ImportedResource {
                type_name: r.type_name.clone(),
                state: Some(dynamic(&state, &resource_ty(s))?),
                private: private.to_bytes(),
            })
        }
        .await;
        Ok(Response::new(match result {
            Ok(imported) => tf::import_resource_state::Response {
                imported_resources: vec![imported],
                diagnostics: vec![],
            },
            Err(diagnostics) => tf::import_resource_state::Response {
                imported_resources: vec![],
                diagnostics,
            },
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<tf::read_data_source::Request>,
    ) -> Rpc<tf::read_data_source::Response> {
        let r = request.into_inner();
        let result = async {
            let meta = self.metadata()?;
            let d = meta
                .data_sources
                .iter()
                .find(|d| d.name == r.type_name)
                .ok_or_else(|| {
                    vec![error(
                        format!("no data source `{}`", r.type_name),
                        format!("the component serves: {}", names(meta)),
                    )]
                })?;
            let attrs = schema::data_source_attributes(d);
            let ty = schema::object_ty(&attrs);
            let config = decode(r.config.as_ref(), &ty, "a data source configuration")?;
            let arguments: Map<String, Json> = d
                .arguments
                .iter()
                .filter_map(|a| {
                    Some((
                        a.name.clone(),
                        config.get(&a.name).to_json().filter(|j| !j.is_null())?,
                    ))
                })
                .collect();
            let c = self.configured().await?;
            let wait = Host::on_wait(&r.type_name);
            let (answer, _) = self
                .run(
                    false,
                    roster_engine::pacing::with_retry(
                        &c.handle.pacer,
                        &c.retry,
                        &wait,
                        || c.handle.provider.query(&r.type_name, &arguments),
                        || async { Ok(None) },
                    ),
                )
                .await
                .map_err(|d| vec![d])?;
            let answer =
                answer.map_err(|e| vec![call_error(&format!("reading {}", r.type_name), &e)])?;
            let answer = answer.as_object().cloned().unwrap_or_default();
            let state = Value::Map(
                attrs
                    .iter()
                    .map(|a| {
                        let v = if d.arguments.iter().any(|x| x.name == a.name) {
                            config.get(&a.name).clone()
                        } else {
                            lifecycle::from_component(a, answer.get(&a.name))
                        };
                        (a.name.clone(), v)
                    })
                    .collect(),
            );
            dynamic(&state, &ty)
        }
        .await;
        Ok(Response::new(match result {
            Ok(state) => tf::read_data_source::Response {
                state: Some(state),
                diagnostics: vec![],
            },
            Err(diagnostics) => tf::read_data_source::Response {
                state: None,
                diagnostics,
            },
        }))
    }

    async fn stop_provider(
        &self,
        _: Request<tf::stop_provider::Request>,
    ) -> Rpc<tf::stop_provider::Response> {
        tracing::info!("Terraform asked the provider to stop");
        self.stop();
        Ok(Response::new(tf::stop_provider::Response {
            error: String::new(),
        }))
    }
}

fn diags_text(d: &Diags) -> String {
    d.iter()
        .map(|d| {
            if d.detail.is_empty() {
                d.summary.clone()
            } else {
                format!("{}: {}", d.summary, d.detail)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn capabilities() -> tf::ServerCapabilities {
    tf::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: false,
        move_resource_state: false,
    }
}

type Applied = (tf::DynamicValue, Vec<u8>, Diags);

impl Host {
    async fn apply(
        &self,
        r: &tf::apply_resource_change::Request,
    ) -> Result<Applied, (Option<tf::DynamicValue>, Diags)> {
        let fail = |d: Diags| (None, d);
        let s = self.resource(&r.type_name).map_err(fail)?;
        let ty = resource_ty(s);
        let prior = decode(r.prior_state.as_ref(), &ty, "a prior state").map_err(fail)?;
        let planned = decode(r.planned_state.as_ref(), &ty, "a planned state").map_err(fail)?;
        let private = Private::from_bytes(&r.planned_private);
        let c = self.configured().await.map_err(fail)?;
        let wait = Host::on_wait(&r.type_name);
        let null = || dynamic(&Value::Null, &ty).map_err(fail);
        match (prior.is_null(), planned.is_null()) {
            (_, true) => {
                let Some(id) = lifecycle::id_of(s, &prior) else {
                    return Ok((null()?, vec![], vec![]));
                };
                let (result, _) = self
                    .run(
                        true,
                        ops::delete(&c.handle, &c.retry, &r.type_name, id, &wait),
                    )
                    .await
                    .map_err(|d| (r.prior_state.clone(), vec![d]))?;
                match result {
                    Ok(()) => {
                        tracing::info!("deleted {} {id}", r.type_name);
                        Ok((null()?, vec![], vec![]))
                    }
                    // Not deleted (or not known to be): the object stays in state.
                    Err(e) => Err((
                        r.prior_state.clone(),
                        vec![call_error(&format!("deleting {} {id}", r.type_name), &e)],
                    )),
                }
            }
            (true, false) => self
                .create(s, &c, &planned, &wait)
                .await
                .map(|(state, d)| (state, vec![], d))
                .map_err(fail),
            (false, false) => {
                // Every change the vendor sees is a replacement (no update verb): what is left
                // is recorded in state only.
                let mut state = planned.clone();
                if let (Value::Map(m), Some(p)) = (&mut state, prior.as_map()) {
                    for (k, v) in m.iter_mut() {
                        if matches!(v, Value::Unknown) {
                            *v = p.get(k).cloned().unwrap_or(Value::Null);
                        }
                    }
                }
                Ok((
                    dynamic(&state, &ty).map_err(fail)?,
                    private.to_bytes(),
                    vec![],
                ))
            }
        }
    }

    async fn create(
        &self,
        s: &ResourceSchema,
        c: &Configured,
        planned: &Value,
        wait: &(dyn Fn(Duration, &str) + Send + Sync),
    ) -> Result<(tf::DynamicValue, Diags), Diags> {
        let type_name = &s.type_name;
        let ty = resource_ty(s);
        let desired = lifecycle::desired(s, planned);
        let id = lifecycle::id_of(s, planned)
            .ok_or_else(|| {
                vec![error(
                    format!(
                        "{type_name}: `{}` must be known to create it",
                        s.id_attribute
                    ),
                    "",
                )]
            })?
            .to_string();
        let (outcome, retries) = self
            .run(
                true,
                ops::create(&c.handle, &c.retry, type_name, &id, &desired, false, wait),
            )
            .await
            .map_err(|d| vec![d])?;
        if retries.rate_limited + retries.unavailable > 0 {
            tracing::info!(
                "create {type_name} {id}: {} rate-limited and {} unavailable answer(s) absorbed",
                retries.rate_limited,
                retries.unavailable
            );
        }
        let mut diagnostics = Vec::new();
        let attributes = match outcome {
            Created::Made(attributes) => attributes,
            Created::Exists { message, ours } => {
                let existing = ops::read(&c.handle, &c.retry, type_name, &id, wait)
                    .await
                    .map_err(|e| {
                        vec![call_error(
                            &format!("creating {type_name} {id}: it exists, and reading it failed"),
                            &e,
                        )]
                    })?;
                let Some(existing) = existing else {
                    return Err(vec![error(format!("creating {type_name} {id}: the vendor says it exists, but a read finds nothing"), message)]);
                };
                let import = format!(
                    "Import it instead: `terraform import {type_name}.<NAME> {id}` (NAME: the resource this error names), or on Terraform 1.5+ an import block: import {{ to = {type_name}.<NAME>  id = \"{id}\" }}."
                );
                if ours {
                    tracing::info!(
                        "create {type_name} {id}: an earlier attempt of this create made it"
                    );
                } else if !c.adopt_existing {
                    return Err(vec![error(
                        format!("{type_name} {id} already exists at the vendor"),
                        format!("{message}. Terraform does not manage it, so Roster did not create a second one or change it. {import} Or set `adopt_existing = true` in the provider block to take over an existing object that matches the configuration."),
                    )]);
                } else {
                    let differences = lifecycle::mismatches(s, &desired, &existing);
                    if !differences.is_empty() {
                        return Err(vec![error(
                            format!("{type_name} {id} already exists at the vendor and differs from the configuration"),
                            format!("adopt_existing takes over only an object that matches: {}. Nothing was changed. {import}", differences.join("; ")),
                        )]);
                    }
                    diagnostics.push(warning(
                        format!("adopted the existing {type_name} {id}"),
                        "it already existed at the vendor and matches the configuration (adopt_existing = true): Terraform manages it from now on",
                    ));
                    tracing::info!("create {type_name} {id}: adopted the existing object");
                }
                existing
            }
            Created::Failed {
                error: e,
                may_have_landed: false,
            } => return Err(vec![call_error(&format!("creating {type_name} {id}"), &e)]),
            Created::Failed {
                error: e,
                may_have_landed: true,
            } => {
                // Unknown whether it happened: one more look before saying anything.
                match ops::read(&c.handle, &c.retry, type_name, &id, wait).await {
                    Ok(Some(found)) => {
                        tracing::info!("create {type_name} {id}: its outcome was unknown ({e}); a read found it made");
                        found
                    }
                    Ok(None) => return Err(vec![call_error(&format!("creating {type_name} {id} (a read confirms it was not created)"), &e)]),
                    Err(read_error) => {
                        return Err(vec![error(
                            format!("creating {type_name} {id}: it is unknown whether it happened"),
                            format!(
                                "{e}; a read to find out failed too ({read_error}). Nothing is recorded in Terraform's state. The next apply looks again before creating: it finds the user and adopts it (adopt_existing = true) or names the `terraform import` command — never a second user."
                            ),
                        )])
                    }
                }
            }
        };
        let state = lifecycle::created(s, planned, &attributes);
        tracing::info!("created {type_name} {id}");
        Ok((dynamic(&state, &ty)?, diagnostics))
    }
}
