//! Vendor simulators (`roster sim`): HTTP servers that follow the vendors' documentation (not
//! Roster's client),
//! for users to run their automation against before touching a real tenant, and for Roster's
//! own tests and demo.
//!
//! - [`nimbus`]: the Luware Nimbus provisioning API with a Microsoft Entra ID token endpoint.
//! - [`symbee`]: the Symbee Connect user provisioning API with its backing Amazon Connect users.
//! - [`entra`]: Entra ID's checks of client assertions (certificates, federated tokens);
//!   [`credentials`] makes keys, certificates and federated tokens for it at run time.
//!
//! Each simulator has seedable state (from JSON), an inspection endpoint, per-route fault
//! injection ([`faults`]) and the vendor's rate limit ([`rate`]). Control endpoints live under
//! `/_sandbox/` (the path is part of the simulators' HTTP interface and keeps its name). In this
//! project "sandbox" means isolation (the wasmtime host's limits); these are simulators.
#![deny(missing_docs)]

pub mod credentials;
pub mod entra;
pub mod faults;
pub mod nimbus;
pub mod rate;
mod server;
pub mod symbee;

pub use server::{Running, ServerLimits, MAX_LIFETIME_SECS};
