//! One vendor operation of a started provider, paced and retried — what apply, plan's reads,
//! the lookups and the Terraform host all run — and the one rule for sending a create again.

use crate::pacing::{with_retry, OnWait, Retries, RetryPolicy};
use crate::provider::Attributes;
use crate::workspace::ProviderHandle;
use roster_runtime::types::ProviderError;
use roster_runtime::CallError;
use std::sync::atomic::{AtomicBool, Ordering};

/// Reads an object (`None`: the vendor says it does not exist).
pub async fn read(
    handle: &ProviderHandle,
    retry: &RetryPolicy,
    type_name: &str,
    id: &str,
    on_wait: OnWait<'_>,
) -> Result<Option<Attributes>, CallError> {
    with_retry(
        &handle.pacer,
        retry,
        on_wait,
        || handle.provider.read(type_name, id),
        || async { Ok(None) },
    )
    .await
    .0
}

/// Deletes an object; one the vendor no longer has counts as deleted.
pub async fn delete(
    handle: &ProviderHandle,
    retry: &RetryPolicy,
    type_name: &str,
    id: &str,
    on_wait: OnWait<'_>,
) -> (Result<(), CallError>, Retries) {
    let (result, retries) = with_retry(
        &handle.pacer,
        retry,
        on_wait,
        || handle.provider.delete(type_name, id),
        || async { Ok(None) },
    )
    .await;
    match result {
        Err(CallError::Provider(ProviderError::NotFound(_))) => (Ok(()), retries),
        other => (other, retries),
    }
}

/// How a create ended.
#[derive(Debug)]
pub enum Created {
    /// Made — or found made by an attempt that reached the vendor — with its attributes.
    Made(Attributes),
    /// The vendor refused it: the id exists. `ours` when an attempt of this create (or an
    /// earlier one the caller knows of) may have made it.
    Exists {
        /// The vendor's words.
        message: String,
        /// Whether this create may have made it.
        ours: bool,
    },
    /// It failed. `may_have_landed` when an attempt may have reached the vendor: its outcome is
    /// unknown until a read says.
    Failed {
        /// Why.
        error: CallError,
        /// Whether an attempt may have reached the vendor.
        may_have_landed: bool,
    },
}

/// Creates object `id`. A create that may have reached the vendor (a timeout, a dropped
/// connection) is sent again only after a successful read said the object is absent; a read
/// that finds it ends the create with it made; a read that fails ends the retries (the outcome
/// stays unknown). `landed_before`: an earlier create of this object may have reached the vendor.
pub async fn create(
    handle: &ProviderHandle,
    retry: &RetryPolicy,
    type_name: &str,
    id: &str,
    desired: &Attributes,
    landed_before: bool,
    on_wait: OnWait<'_>,
) -> (Created, Retries) {
    let may_have_landed = AtomicBool::new(landed_before);
    let read_first = || async {
        may_have_landed.store(true, Ordering::SeqCst);
        read(handle, retry, type_name, id, on_wait)
            .await
            .map_err(|e| CallError::Provider(ProviderError::Unavailable(format!("{e}; reading {type_name} {id} to see whether the create happened failed, so it is unknown whether it did"))))
    };
    let (result, retries) = with_retry(
        &handle.pacer,
        retry,
        on_wait,
        || handle.provider.create(type_name, desired),
        read_first,
    )
    .await;
    let landed = may_have_landed.load(Ordering::SeqCst);
    let outcome = match result {
        Ok(attributes) => Created::Made(attributes),
        Err(CallError::Provider(ProviderError::AlreadyExists(message))) => Created::Exists {
            message,
            ours: landed,
        },
        Err(error) => {
            let may_have_landed = landed || crate::pacing::is_transient(&error);
            Created::Failed {
                error,
                may_have_landed,
            }
        }
    };
    (outcome, retries)
}
