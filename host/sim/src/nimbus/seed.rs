//! The seed's shape: Entra tenants and apps, provisioning tenants, OUs, licence pools, users.

use crate::entra::{FederatedCredential, TrustedIssuer};
use crate::faults::Faults;
use crate::rate::{RateLimit, RateMode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An app registration in an Entra tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraApp {
    /// Application (client) id.
    pub client_id: String,
    /// Its client secret; empty for none.
    #[serde(default)]
    pub client_secret: String,
    /// Application permissions granted (with admin consent) on "Luware Nimbus Login".
    pub roles: Vec<String>,
    /// Certificate credentials: PEM certificates whose keys may sign client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Federated identity credentials: external tokens accepted as client assertions.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
}

/// An Entra tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraTenant {
    /// Tenant id.
    pub id: String,
    /// Its app registrations.
    pub apps: Vec<EntraApp>,
}

/// A Nimbus "Application Permission": an app id and the organization units it may touch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPermission {
    /// Azure application id.
    pub app_id: String,
    /// Organization unit ids in scope.
    pub organization_units: Vec<String>,
}

/// An organization unit.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationUnit {
    /// Its GUID.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A licence pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicensePool {
    /// Licence name/type.
    pub license_type: String,
    /// Purchased.
    pub total: u32,
}

/// How a user came to Nimbus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignmentType {
    /// Added manually (or through the API): copyable and deletable.
    SkillBased,
    /// Synced from an MS Teams team: the API rejects copy and delete.
    MsTeamsSynced,
}

/// A Nimbus user and its settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// O365 object id.
    pub o365_id: String,
    /// Organization unit id.
    pub organization_unit_id: String,
    /// Skill-based or Teams-synced.
    pub assignment_type: AssignmentType,
    /// Licences held.
    #[serde(default)]
    pub licenses: Vec<String>,
    /// Task modalities.
    #[serde(default)]
    pub modalities: Vec<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Responsibility profiles.
    #[serde(default)]
    pub responsibility_profiles: Vec<String>,
    /// Not-available reasons.
    #[serde(default)]
    pub not_available_reasons: Vec<String>,
    /// Interact settings.
    #[serde(default)]
    pub interact: Value,
    /// Assistant settings.
    #[serde(default)]
    pub assistant: Value,
}

/// A Nimbus provisioning tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningTenant {
    /// The Entra tenant id it belongs to.
    pub tenant_id: String,
    /// "Check if the API was enabled on your Provisioning Tenant Settings."
    pub api_enabled: bool,
    /// Apps allowed to use the API, with their OU scope.
    pub app_permissions: Vec<AppPermission>,
    /// Organization units.
    pub organization_units: Vec<OrganizationUnit>,
    /// Licence pools.
    pub licenses: Vec<LicensePool>,
    /// Users.
    pub users: Vec<User>,
}

/// Everything a Nimbus sandbox starts from; `GET /_sandbox/state` shows the same shape
/// (with client secrets redacted) plus counters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NimbusSeed {
    /// Entra tenants and their apps.
    pub entra: Vec<EntraTenant>,
    /// Token lifetime in seconds.
    #[serde(default = "default_lifetime")]
    pub token_lifetime_secs: u64,
    /// Accepted `scope` values; empty means `<sandbox URL>/.default`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Nimbus provisioning tenants.
    pub tenants: Vec<ProvisioningTenant>,
    /// The API rate limit.
    #[serde(default = "default_rate")]
    pub rate_limit: RateLimit,
    /// Fault injection.
    #[serde(default)]
    pub faults: Faults,
    /// External identity providers whose tokens federated credentials may name.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuer>,
}

pub(super) fn default_lifetime() -> u64 {
    3599
}

pub(super) fn default_rate() -> RateLimit {
    RateLimit {
        operations: 60,
        window_ms: 60_000,
        mode: RateMode::Reject,
    }
}
