//! Short constructors for [`ProviderError`], so vendor files read as error tables.

use crate::{FieldError, ProviderError, RateLimitedError, VendorError};

/// The provider config is wrong at `key`.
pub fn invalid_config(key: &str, message: &str) -> ProviderError {
    ProviderError::InvalidConfig(FieldError {
        field: key.into(),
        message: message.into(),
    })
}

/// The desired attributes are wrong at `field`.
pub fn invalid_input(field: &str, message: &str) -> ProviderError {
    ProviderError::InvalidInput(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

/// The vendor said "too many requests".
pub fn rate_limited(retry_after_ms: Option<u64>, message: &str) -> ProviderError {
    ProviderError::RateLimited(RateLimitedError {
        retry_after_ms,
        message: message.into(),
    })
}

/// An answer the provider cannot classify further.
pub fn vendor(status: u16, message: &str) -> ProviderError {
    ProviderError::Vendor(VendorError {
        status,
        message: message.into(),
    })
}

/// Joins a documented meaning with the server's own detail, skipping an empty or repeated detail.
pub fn with_detail(meaning: &str, detail: &str) -> String {
    let detail = detail.trim();
    if detail.is_empty() || meaning.contains(detail) {
        meaning.to_string()
    } else {
        format!("{meaning}: {detail}")
    }
}

/// The call was made before `configure` succeeded.
pub fn not_configured() -> ProviderError {
    invalid_config("", "the provider is not configured: call configure first")
}

/// A resource type or data source this provider does not have.
pub fn unknown_type(kind: &str, name: &str) -> ProviderError {
    invalid_input("", &format!("unknown {kind} `{name}`"))
}
