//! What a component returns, as the contract's plain data ([`roster_contract`]): the generated
//! bindings' types stop at this boundary, so nothing above the runtime depends on wasmtime's.

use crate::bindings::roster::provider::types as wit;
use roster_contract as c;

impl From<wit::ValueType> for c::ValueType {
    fn from(t: wit::ValueType) -> Self {
        match t {
            wit::ValueType::String => c::ValueType::String,
            wit::ValueType::Boolean => c::ValueType::Boolean,
            wit::ValueType::Integer => c::ValueType::Integer,
            wit::ValueType::Number => c::ValueType::Number,
            wit::ValueType::StringList => c::ValueType::StringList,
            wit::ValueType::Object => c::ValueType::Object,
        }
    }
}

impl From<wit::Presence> for c::Presence {
    fn from(p: wit::Presence) -> Self {
        match p {
            wit::Presence::Required => c::Presence::Required,
            wit::Presence::Optional => c::Presence::Optional,
            wit::Presence::Computed => c::Presence::Computed,
            wit::Presence::OptionalComputed => c::Presence::OptionalComputed,
        }
    }
}

impl From<wit::AttributeSchema> for c::AttributeSchema {
    fn from(a: wit::AttributeSchema) -> Self {
        c::AttributeSchema {
            name: a.name,
            description: a.description,
            value_type: a.value_type.into(),
            presence: a.presence.into(),
            sensitive: a.sensitive,
            replace_on_change: a.replace_on_change,
            create_only: a.create_only,
            case_insensitive: a.case_insensitive,
        }
    }
}

fn all<A, B: From<A>>(list: Vec<A>) -> Vec<B> {
    list.into_iter().map(B::from).collect()
}

impl From<wit::ResourceSchema> for c::ResourceSchema {
    fn from(r: wit::ResourceSchema) -> Self {
        c::ResourceSchema {
            type_name: r.type_name,
            description: r.description,
            id_attribute: r.id_attribute,
            attributes: all(r.attributes),
            replace_warning: r.replace_warning,
        }
    }
}

impl From<wit::DataSourceSchema> for c::DataSourceSchema {
    fn from(d: wit::DataSourceSchema) -> Self {
        c::DataSourceSchema {
            name: d.name,
            description: d.description,
            arguments: all(d.arguments),
            attributes: all(d.attributes),
        }
    }
}

impl From<wit::SecretSchema> for c::SecretSchema {
    fn from(s: wit::SecretSchema) -> Self {
        c::SecretSchema {
            name: s.name,
            description: s.description,
            default_source: s.default_source,
        }
    }
}

impl From<wit::ProviderMetadata> for c::ProviderMetadata {
    fn from(m: wit::ProviderMetadata) -> Self {
        c::ProviderMetadata {
            name: m.name,
            version: m.version,
            description: m.description,
            config_schema: all(m.config_schema),
            secrets: all(m.secrets),
            resources: all(m.resources),
            data_sources: all(m.data_sources),
            rate_limit: m.rate_limit.map(|r| c::RateLimit {
                operations: r.operations,
                per_seconds: r.per_seconds,
            }),
        }
    }
}

impl From<wit::FieldError> for c::FieldError {
    fn from(f: wit::FieldError) -> Self {
        c::FieldError {
            field: f.field,
            message: f.message,
        }
    }
}

impl From<wit::ProviderError> for c::ProviderError {
    fn from(e: wit::ProviderError) -> Self {
        use wit::ProviderError as W;
        match e {
            W::InvalidConfig(f) => c::ProviderError::InvalidConfig(f.into()),
            W::InvalidInput(f) => c::ProviderError::InvalidInput(f.into()),
            W::Unauthorized(m) => c::ProviderError::Unauthorized(m),
            W::Forbidden(m) => c::ProviderError::Forbidden(m),
            W::NotFound(m) => c::ProviderError::NotFound(m),
            W::AlreadyExists(m) => c::ProviderError::AlreadyExists(m),
            W::RateLimited(r) => c::ProviderError::RateLimited(c::RateLimitedError {
                retry_after_ms: r.retry_after_ms,
                message: r.message,
            }),
            W::Unavailable(m) => c::ProviderError::Unavailable(m),
            W::Denied(m) => c::ProviderError::Denied(m),
            W::Vendor(v) => c::ProviderError::Vendor(c::VendorError {
                status: v.status,
                message: v.message,
            }),
        }
    }
}
