//! Roster's engine: the roster file, state and its lock, plans, and applying them with
//! per-provider pacing and retries — Terraform's plan/apply for contact-centre users.
#![deny(missing_docs)]

pub mod apply;
pub mod decide;
pub mod grants;
pub mod import;
pub mod lock;
pub mod lookup;
pub mod ops;
pub mod pacing;
pub mod plan;
pub mod planfile;
pub mod provider;
pub mod rosterfile;
pub mod rows;
pub mod state;
pub mod workspace;
