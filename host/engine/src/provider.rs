//! The small trait through which the engine reaches a provider: a real component in the
//! wasmtime host ([`ComponentProvider`]), or anything else that speaks the same lifecycle
//! (an in-memory vendor in tests).

use roster_runtime::types::{FieldError, ProviderError, ProviderMetadata};
use roster_runtime::CallError;
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
    fn validate<'a>(&'a self, type_name: &'a str, desired: &'a Attributes) -> BoxFuture<'a, Result<Vec<FieldError>, CallError>>;
    /// The object's attributes, or `None` when the vendor says it does not exist.
    fn read<'a>(&'a self, type_name: &'a str, id: &'a str) -> BoxFuture<'a, Result<Option<Attributes>, CallError>>;
    /// Creates the object; its attributes as the vendor now has them.
    fn create<'a>(&'a self, type_name: &'a str, desired: &'a Attributes) -> BoxFuture<'a, Result<Attributes, CallError>>;
    /// Deletes the object.
    fn delete<'a>(&'a self, type_name: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), CallError>>;
    /// Looks something up (a data source).
    fn query<'a>(&'a self, data_source: &'a str, arguments: &'a Attributes) -> BoxFuture<'a, Result<Value, CallError>>;
    /// The wasmtime-hosted component behind it, if it is one (for host diagnostics).
    fn component(&self) -> Option<&roster_runtime::Provider> {
        None
    }
}

/// A provider component running in Roster's wasmtime host.
pub struct ComponentProvider(pub roster_runtime::Provider);

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

    fn validate<'a>(&'a self, type_name: &'a str, desired: &'a Attributes) -> BoxFuture<'a, Result<Vec<FieldError>, CallError>> {
        Box::pin(async move { self.0.validate(type_name, &Value::Object(desired.clone()).to_string()).await })
    }

    fn read<'a>(&'a self, type_name: &'a str, id: &'a str) -> BoxFuture<'a, Result<Option<Attributes>, CallError>> {
        Box::pin(async move {
            match self.0.read(type_name, id).await? {
                None => Ok(None),
                Some(text) => object(self.0.name(), "a read", &text).map(Some),
            }
        })
    }

    fn create<'a>(&'a self, type_name: &'a str, desired: &'a Attributes) -> BoxFuture<'a, Result<Attributes, CallError>> {
        Box::pin(async move {
            let text = self.0.create(type_name, &Value::Object(desired.clone()).to_string()).await?;
            object(self.0.name(), "a create", &text)
        })
    }

    fn delete<'a>(&'a self, type_name: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), CallError>> {
        Box::pin(self.0.delete(type_name, id))
    }

    fn query<'a>(&'a self, data_source: &'a str, arguments: &'a Attributes) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            let text = self.0.query(data_source, &Value::Object(arguments.clone()).to_string()).await?;
            serde_json::from_str(&text).map_err(|_| {
                CallError::Provider(ProviderError::Vendor(roster_runtime::types::VendorError {
                    status: 0,
                    message: format!("provider `{}` answered a query with something that is not JSON", self.0.name()),
                }))
            })
        })
    }
}
