//! A secret obtained through the `secrets` import, cached in the instance for at most a given age.

use crate::bindings::roster::provider::secrets::{self, SecretError};
use crate::{errors, ProviderError};
use std::time::{Duration, Instant};

/// True when the host has a value for the secret `name`. A name with no source answers
/// `not-found` at once (no fetch); a source that fails (`denied`, `unavailable`) tells nothing
/// and counts as not named, so an unreachable vault never fails a call that does not need it.
pub fn is_named(name: &str) -> bool {
    secrets::get(name).is_ok()
}

/// One named secret with its cached value.
pub struct CachedSecret {
    name: String,
    max_age: Option<Duration>,
    value: Option<(String, Instant)>,
}

impl std::fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CachedSecret({}, <redacted>)", self.name)
    }
}

impl CachedSecret {
    /// A secret called `name`, kept at most `max_age` (forever when `None`).
    pub fn new(name: &str, max_age: Option<Duration>) -> Self {
        CachedSecret {
            name: name.to_string(),
            max_age,
            value: None,
        }
    }

    /// The cached value while young enough, else the host's current value.
    pub fn get(&mut self) -> Result<String, ProviderError> {
        if let Some((value, at)) = &self.value {
            if self.max_age.is_none_or(|max| at.elapsed() < max) {
                return Ok(value.clone());
            }
        }
        let value = secrets::get(&self.name).map_err(|e| self.error(e))?;
        self.value = Some((value.clone(), Instant::now()));
        Ok(value)
    }

    /// A fresh value from the host (bypassing its caches): call once when the vendor rejected
    /// the value `get` gave.
    pub fn refresh(&mut self) -> Result<String, ProviderError> {
        let value = secrets::refresh(&self.name).map_err(|e| self.error(e))?;
        self.value = Some((value.clone(), Instant::now()));
        Ok(value)
    }

    /// Runs `attempt` with the value; when `rejected` says the vendor refused it (the secret
    /// rotated), fetches it fresh from the host once and runs `attempt` again.
    pub fn with_fresh_on_rejection<T>(
        &mut self,
        attempt: impl Fn(&str) -> Result<T, ProviderError>,
        rejected: impl Fn(&T) -> bool,
    ) -> Result<T, ProviderError> {
        let first = attempt(&self.get()?)?;
        if !rejected(&first) {
            return Ok(first);
        }
        attempt(&self.refresh()?)
    }

    /// Forgets the cached value.
    pub fn clear(&mut self) {
        self.value = None;
    }

    fn error(&self, e: SecretError) -> ProviderError {
        let name = &self.name;
        match e {
            SecretError::NotFound(m) => {
                errors::invalid_config(name, &format!("secret `{name}`: {m}"))
            }
            SecretError::Denied(m) => ProviderError::Unauthorized(format!("secret `{name}`: {m}")),
            SecretError::Unavailable(m) => {
                ProviderError::Unavailable(format!("secret `{name}`: {m}"))
            }
        }
    }
}
