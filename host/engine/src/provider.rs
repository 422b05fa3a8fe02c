//! The small trait through which the engine reaches a provider: a real component in the
//! wasmtime host ([`ComponentProvider`]), or anything else that speaks the same lifecycle
//! (an in-memory vendor in tests).

use crate::grants::Grant;
use crate::rosterfile::ProviderDecl;
use roster_runtime::types::{FieldError, ProviderError, ProviderMetadata};
use roster_runtime::{CallError, Capabilities, Code, Runtime};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future (what the trait's methods return, so it can be used as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Attributes as a JSON object.
pub type Attributes = Map<String, Value>;

/// Terraform's lifecycle verbs for one configured provider instance.
pub trait Provider: Send + Sync {
    /// What it is: schemas, secrets, rate limit.
    fn metadata(&self) -> &ProviderMetadata;
    /// Field-level checks of desired attributes; no network.
    fn validate<'a>(
        &'a self,
        type_name: &'a str,
        desired: &'a Attributes,
    ) -> BoxFuture<'a, Result<Vec<FieldError>, CallError>>;
    /// The object's attributes, or `None` when the vendor says it does not exist.
    fn read<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Attributes>, CallError>>;
    /// Creates the object; its attributes as the vendor now has them.
    fn create<'a>(
        &'a self,
        type_name: &'a str,
        desired: &'a Attributes,
    ) -> BoxFuture<'a, Result<Attributes, CallError>>;
    /// Deletes the object.
    fn delete<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), CallError>>;
    /// Looks something up (a data source).
    fn query<'a>(
        &'a self,
        data_source: &'a str,
        arguments: &'a Attributes,
    ) -> BoxFuture<'a, Result<Value, CallError>>;
    /// The wasmtime-hosted component behind it, if it is one (for host diagnostics).
    fn component(&self) -> Option<&roster_runtime::Provider> {
        None
    }
}

/// The grant that component `label` with SHA-256 `digest` needs for what it asks for.
fn grant_for(label: &str, digest: &str, asked: &Capabilities) -> Grant {
    Grant {
        component: label.to_string(),
        sha256: digest.to_string(),
        version: asked.version.clone(),
        hosts: asked.hosts.iter().cloned().collect(),
        secrets: asked
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// A provider component running in Roster's wasmtime host.
pub struct ComponentProvider(pub roster_runtime::Provider, String);

impl ComponentProvider {
    /// Starts component `code` (called `label` in grants) as `decl` says, first showing
    /// `approve` what it asks for — its code's SHA-256 and version, hosts and secret sources —
    /// before any instance gets a host or a secret; an `Err` from `approve` stops it with
    /// `provider-error::denied` carrying the text.
    pub async fn start(
        runtime: &Runtime,
        code: &Code<'_>,
        label: &str,
        decl: &ProviderDecl,
        approve: &(dyn Fn(Grant) -> Result<(), String> + Sync),
    ) -> Result<ComponentProvider, CallError> {
        let digest = code.sha256();
        let ask = |c: &Capabilities| approve(grant_for(label, &digest, c));
        let provider =
            roster_runtime::Provider::start_approved(runtime, code, decl.spec(), &ask).await?;
        Ok(ComponentProvider(provider, digest))
    }

    /// What component `code` asks for under `decl` — the grant it would need — without giving
    /// any instance a host or a secret.
    pub async fn ask(
        runtime: &Runtime,
        code: &Code<'_>,
        label: &str,
        decl: &ProviderDecl,
    ) -> Result<Grant, CallError> {
        let asked = roster_runtime::Provider::ask(runtime, code, decl.spec()).await?;
        Ok(grant_for(label, &code.sha256(), &asked))
    }

    /// Its component's SHA-256 (hex).
    pub fn digest(&self) -> &str {
        &self.1
    }
}

fn object(provider: &str, verb: &str, text: &str) -> Result<Attributes, CallError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(CallError::Provider(ProviderError::Vendor(roster_runtime::types::VendorError {
            status: 0,
            message: format!("provider `{provider}` answered {verb} with something that is not a JSON object"),
        }))),
    }
}

impl Provider for ComponentProvider {
    fn metadata(&self) -> &ProviderMetadata {
        self.0.metadata()
    }

    fn component(&self) -> Option<&roster_runtime::Provider> {
        Some(&self.0)
    }

    fn validate<'a>(
        &'a self,
        type_name: &'a str,
        desired: &'a Attributes,
    ) -> BoxFuture<'a, Result<Vec<FieldError>, CallError>> {
        Box::pin(async move {
            self.0
                .validate(type_name, &Value::Object(desired.clone()).to_string())
                .await
        })
    }

    fn read<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Attributes>, CallError>> {
        Box::pin(async move {
            match self.0.read(type_name, id).await? {
                None => Ok(None),
                Some(text) => object(self.0.name(), "a read", &text).map(Some),
            }
        })
    }

    fn create<'a>(
        &'a self,
        type_name: &'a str,
        desired: &'a Attributes,
    ) -> BoxFuture<'a, Result<Attributes, CallError>> {
        Box::pin(async move {
            let text = self
                .0
                .create(type_name, &Value::Object(desired.clone()).to_string())
                .await?;
            object(self.0.name(), "a create", &text)
        })
    }

    fn delete<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), CallError>> {
        Box::pin(self.0.delete(type_name, id))
    }

    fn query<'a>(
        &'a self,
        data_source: &'a str,
        arguments: &'a Attributes,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            let text = self
                .0
                .query(data_source, &Value::Object(arguments.clone()).to_string())
                .await?;
            serde_json::from_str(&text).map_err(|_| {
                CallError::Provider(ProviderError::Vendor(roster_runtime::types::VendorError {
                    status: 0,
                    message: format!(
                        "provider `{}` answered a query with something that is not JSON",
                        self.0.name()
                    ),
                }))
            })
        })
    }
}
