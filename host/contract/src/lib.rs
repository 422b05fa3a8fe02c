//! The data of Roster's provider contract — the types of the `roster:provider` WIT package
//! (`wit/provider.wit`, interface `types`) — as plain Rust, with no wasmtime in sight.
//!
//! The wasmtime host (`roster-runtime`) converts what a component returns into these types at
//! its boundary; the engine's decisions (`roster-engine`'s `decide`) and everything above it
//! work with them, so the pure decision core can be built, tested and fuzzed without the
//! sandbox. Field and case names follow the WIT, snake_case and CamelCase as Rust spells them;
//! the doc comments are the WIT's.
//!
//! ```
//! use roster_contract::{AttributeSchema, Presence, ValueType};
//!
//! let id = AttributeSchema {
//!     name: "login_user_id".into(),
//!     description: "The user's login".into(),
//!     value_type: ValueType::String,
//!     presence: Presence::Required,
//!     sensitive: false,
//!     replace_on_change: true,
//!     create_only: false,
//!     case_insensitive: true,
//! };
//! assert_eq!(serde_json::to_value(&id).unwrap()["presence"], "Required");
//! ```
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// The type of an attribute's value in the JSON maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValueType {
    /// A JSON string.
    String,
    /// A JSON boolean.
    Boolean,
    /// A JSON integer.
    Integer,
    /// A JSON number.
    Number,
    /// A JSON array of strings.
    StringList,
    /// A JSON object or array with vendor-defined shape (read-only detail).
    Object,
}

/// Who sets an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Presence {
    /// The user must set it.
    Required,
    /// The user may set it.
    Optional,
    /// The provider sets it; the user must not.
    Computed,
    /// The user may set it; when unset the provider fills it in.
    OptionalComputed,
}

/// One attribute of a resource, data source or provider config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSchema {
    /// The key in the JSON map, snake_case.
    pub name: String,
    /// One sentence for humans.
    pub description: String,
    /// What JSON value it holds.
    pub value_type: ValueType,
    /// Who sets it.
    pub presence: Presence,
    /// Never shown in plans or logs, never written to state.
    pub sensitive: bool,
    /// A change cannot be applied in place: the object is deleted and created again.
    pub replace_on_change: bool,
    /// Used only when the object is created; never read back, never diffed after.
    pub create_only: bool,
    /// Values compare ignoring ASCII case, as the vendor compares them (e.g. GUIDs): a
    /// difference only in case is never a change, and as an id it names the same object.
    pub case_insensitive: bool,
}

/// A kind of object the provider manages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSchema {
    /// Type name, prefixed by the provider name, e.g. `nimbus_user`.
    pub type_name: String,
    /// One sentence for humans.
    pub description: String,
    /// The attribute whose value is the object's id (what `read` and `delete` take).
    pub id_attribute: String,
    /// Its attributes.
    pub attributes: Vec<AttributeSchema>,
    /// What a replacement costs the user, when it costs more than a delete and create (e.g.
    /// "the user's Nimbus configuration is lost"); shown by plans.
    pub replace_warning: Option<String>,
}

/// Something the provider can look up without managing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSourceSchema {
    /// Name, prefixed by the provider name, e.g. `nimbus_license_usage`.
    pub name: String,
    /// One sentence for humans.
    pub description: String,
    /// What `query` takes.
    pub arguments: Vec<AttributeSchema>,
    /// What `query` returns.
    pub attributes: Vec<AttributeSchema>,
}

/// A secret the provider asks for by name through the `secrets` import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSchema {
    /// The name the component passes to `secrets.get`.
    pub name: String,
    /// One sentence for humans.
    pub description: String,
    /// Where a host looks when the user names no source, e.g.
    /// `aws-sm:SYMBEE_CONNECT_API_KEY`.
    pub default_source: Option<String>,
}

/// The vendor's documented request budget, shared by every operation of one provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Operations allowed per window.
    pub operations: u32,
    /// The window, in seconds.
    pub per_seconds: u32,
}

/// What a provider is and what it offers; needs no config and no network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// Short name, e.g. `nimbus`.
    pub name: String,
    /// The component's version.
    pub version: String,
    /// One sentence for humans.
    pub description: String,
    /// The keys `configure` takes.
    pub config_schema: Vec<AttributeSchema>,
    /// The secrets it may ask for.
    pub secrets: Vec<SecretSchema>,
    /// The kinds of object it manages.
    pub resources: Vec<ResourceSchema>,
    /// What it can look up.
    pub data_sources: Vec<DataSourceSchema>,
    /// The vendor's documented limit, if any.
    pub rate_limit: Option<RateLimit>,
}

/// A problem with one field of the input, found without the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The attribute or config key, e.g. `organization_unit_id`.
    pub field: String,
    /// What is wrong, for humans.
    pub message: String,
}

/// A vendor's rate-limit answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitedError {
    /// How long the vendor asked to wait, in milliseconds, if it said.
    pub retry_after_ms: Option<u64>,
    /// The vendor's text.
    pub message: String,
}

/// An HTTP answer the provider could not classify further.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorError {
    /// The HTTP status (0 when the answer was a 200 carrying a vendor result code).
    pub status: u16,
    /// The vendor's result code or text, with the documented meaning.
    pub message: String,
}

/// Why an operation failed, typed so that a host can act without parsing text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderError {
    /// The provider config is wrong; names the key.
    InvalidConfig(FieldError),
    /// The desired attributes or arguments are wrong; names the field.
    InvalidInput(FieldError),
    /// The vendor rejected the credentials (after any refresh the provider attempted).
    Unauthorized(String),
    /// The credentials are good but not allowed to do this.
    Forbidden(String),
    /// The object, or one it depends on, does not exist.
    NotFound(String),
    /// The object to create exists already.
    AlreadyExists(String),
    /// Too many requests; retry after the given delay.
    RateLimited(RateLimitedError),
    /// A transient failure (timeout, 5xx, dropped connection): safe to retry reads; a create
    /// may or may not have happened.
    Unavailable(String),
    /// The host refused a capability the provider used (e.g. a host not in the allow-list).
    Denied(String),
    /// Any other vendor answer.
    Vendor(VendorError),
}
