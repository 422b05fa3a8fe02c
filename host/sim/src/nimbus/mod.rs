//! The Nimbus sandbox: Microsoft Entra ID's client-credentials token endpoint and the Nimbus
//! provisioning API (`/api/public-api-next`), following `nimbus-provisioning-api.txt`.
//!
//! One server answers both: `POST /{tenant}/oauth2/v2.0/token` and `/api/public-api-next/…`,
//! so a provider config points `login_url` and `admin_url` at the same sandbox URL.
//!
//! Where the doc is silent the sandbox chooses, and says so here:
//! - error bodies are ASP.NET-style problem details (`title`, `status`, `detail`); the detail is
//!   the doc's text;
//! - the user details body uses the request bodies' camelCase (`o365Id`, `organizationUnitId`,
//!   `assignmentType`, `licenses`, `roles`, `skills`, `responsibilityProfiles`, …);
//! - creating and copying answer 200 with the new user's details;
//! - an MS-Teams synced user given to copy or delete is a 400; a template without a Contact
//!   Center licence is a 400;
//! - a missing or unknown bearer token is a 401 with `WWW-Authenticate: Bearer`;
//! - every API request counts against the rate limit, token requests do not.
//!
//! The token endpoint authenticates an app by its client secret (HTTP Basic or form fields), by
//! a certificate client assertion, or by a federated token (`client_assertion`): [`entra`] holds
//! those checks and their AADSTS texts. Apps list their `certificates` (PEM) and
//! `federated_credentials`; the seed's `trusted_issuers` hold the external identity providers'
//! keys.
//!
//! Control endpoints: `GET /_sandbox/state`, `PUT /_sandbox/state` (a [`NimbusSeed`]),
//! `PUT /_sandbox/faults` (a [`Faults`]), `PUT /_sandbox/rate-limit` (a [`RateLimit`]),
//! `POST /_sandbox/tokens/revoke`, `POST /_sandbox/tokens/mint` (a [`MintToken`]),
//! `POST /_sandbox/entra/rotate-secret` (`{client_id, client_secret}`).
//!
//! [`entra`]: crate::entra
//! [`Faults`]: crate::faults::Faults
//! [`RateLimit`]: crate::rate::RateLimit

mod api;
mod control;
pub mod demo;
mod routes;
mod seed;
mod store;
mod token;

pub use api::{CONTACT_CENTER, ROLE_CREATE, ROLE_DELETE, ROLE_READ, ROLE_TENANT_READ};
pub use seed::{
    AppPermission, AssignmentType, EntraApp, EntraTenant, LicensePool, NimbusSeed,
    OrganizationUnit, ProvisioningTenant, User,
};
pub use store::{start, MintToken, NimbusSim, Stats};
