//! Ids of the built-in demo seed (which [`NimbusSeed::demo`] builds).

use super::seed::{default_lifetime, default_rate};
use super::{
    AppPermission, AssignmentType, EntraApp, EntraTenant, LicensePool, NimbusSeed,
    OrganizationUnit, ProvisioningTenant, User, CONTACT_CENTER, ROLE_CREATE, ROLE_DELETE,
    ROLE_READ, ROLE_TENANT_READ,
};
use crate::faults::Faults;
use serde_json::json;

/// The Entra tenant.
pub const TENANT_ID: &str = "9fce70af-a632-49ca-bc0d-53db5a21c5b3";
/// The app registration.
pub const CLIENT_ID: &str = "3b0c7e1e-7a9f-4f3e-9d55-2f1c8a6b4e01";
/// Its client secret (sandbox data, not a credential).
pub const CLIENT_SECRET: &str = "sandbox-client-secret";
/// OU "Sales" (in the app's scope).
pub const OU_SALES: &str = "6a1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10";
/// OU "Support" (in the app's scope).
pub const OU_SUPPORT: &str = "b7e2a9c4-51d3-4f6a-8e0b-7d9c1a2b3e40";
/// OU "Board" (not in the app's scope).
pub const OU_BOARD: &str = "c3d4e5f6-1a2b-4c3d-9e8f-0a1b2c3d4e50";
/// A skill-based template user in Sales.
pub const TEMPLATE_USER: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
/// An MS-Teams synced user in Support.
pub const TEAMS_USER: &str = "1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6";

/// A roster file's `[rows.agents]` table for this tenant: one nimbus_user per row of
/// agents.csv (`alias,o365_id,team`), named by `alias`, the OU chosen by `team` (`sales`,
/// `support`) through a mapping table. The sample roster, the tests and the benchmark use it.
pub fn agents_rows() -> String {
    format!(
        "[rows.agents]\ncsv = \"agents.csv\"\nresource = \"nimbus_user\"\nkey = \"alias\"\n\n[rows.agents.attributes]\no365_id = {{ column = \"o365_id\" }}\norganization_unit_id = {{ column = \"team\", map = {{ sales = \"{OU_SALES}\", support = \"{OU_SUPPORT}\" }} }}\n"
    )
}

impl NimbusSeed {
    /// The demo tenant: one app with all four roles, OUs Sales and Support in its scope and
    /// Board outside it, 25 Contact Center licences, a skill-based template user and a
    /// Teams-synced user.
    pub fn demo() -> NimbusSeed {
        let user =
            |id: &str, ou: &str, kind: AssignmentType, roles: &[&str], skills: &[&str]| User {
                o365_id: id.into(),
                organization_unit_id: ou.into(),
                assignment_type: kind,
                licenses: vec![CONTACT_CENTER.into()],
                modalities: vec!["Audio".into(), "Chat".into()],
                roles: roles.iter().map(|s| s.to_string()).collect(),
                skills: skills.iter().map(|s| s.to_string()).collect(),
                responsibility_profiles: vec!["On Duty".into(), "Off Duty".into()],
                not_available_reasons: vec!["Lunch".into(), "Training".into()],
                interact: json!({ "enabled": true }),
                assistant: json!({ "enabled": false }),
            };
        NimbusSeed {
            entra: vec![EntraTenant {
                id: TENANT_ID.into(),
                apps: vec![EntraApp {
                    client_id: CLIENT_ID.into(),
                    client_secret: CLIENT_SECRET.into(),
                    roles: [ROLE_CREATE, ROLE_DELETE, ROLE_READ, ROLE_TENANT_READ]
                        .map(String::from)
                        .to_vec(),
                    certificates: vec![],
                    federated_credentials: vec![],
                }],
            }],
            token_lifetime_secs: default_lifetime(),
            scopes: vec![],
            tenants: vec![ProvisioningTenant {
                tenant_id: TENANT_ID.into(),
                api_enabled: true,
                app_permissions: vec![AppPermission {
                    app_id: CLIENT_ID.into(),
                    organization_units: vec![OU_SALES.into(), OU_SUPPORT.into()],
                }],
                organization_units: vec![
                    OrganizationUnit {
                        id: OU_SALES.into(),
                        name: "Sales".into(),
                    },
                    OrganizationUnit {
                        id: OU_SUPPORT.into(),
                        name: "Support".into(),
                    },
                    OrganizationUnit {
                        id: OU_BOARD.into(),
                        name: "Board".into(),
                    },
                ],
                licenses: vec![LicensePool {
                    license_type: CONTACT_CENTER.into(),
                    total: 25,
                }],
                users: vec![
                    user(
                        TEMPLATE_USER,
                        OU_SALES,
                        AssignmentType::SkillBased,
                        &["Team Owner", "Agent"],
                        &["English", "Billing"],
                    ),
                    user(
                        TEAMS_USER,
                        OU_SUPPORT,
                        AssignmentType::MsTeamsSynced,
                        &["Agent"],
                        &["German"],
                    ),
                ],
            }],
            rate_limit: default_rate(),
            faults: Faults::default(),
            trusted_issuers: vec![],
        }
    }
}
