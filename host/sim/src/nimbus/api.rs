//! The provisioning API (`/api/public-api-next/user…`): bearer checks, rate limit, answers.

use super::store::State;
use super::{AssignmentType, NimbusSim, ProvisioningTenant, User};
use crate::rate::RateMode;
use crate::server::{json, json_with, Outcome, Req};
use serde_json::{json, Value};
use std::time::Instant;

/// The application roles the doc asks for, and what each allows.
pub const ROLE_CREATE: &str = "Provisioning.User.Create";
/// Allows DELETE of users.
pub const ROLE_DELETE: &str = "Provisioning.User.Delete";
/// Allows GET of user details.
pub const ROLE_READ: &str = "Provisioning.User.Read";
/// Allows GET of license usage.
pub const ROLE_TENANT_READ: &str = "Provisioning.Tenant.Read";
/// The licence a created user takes.
pub const CONTACT_CENTER: &str = "Contact Center";

pub(super) fn problem(status: u16, detail: &str) -> Outcome {
    let title = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let headers: Vec<(&str, String)> = if status == 401 {
        vec![("www-authenticate", "Bearer".into())]
    } else {
        vec![]
    };
    json_with(
        status,
        json!({ "type": "about:blank", "title": title, "status": status, "detail": detail }),
        &headers,
    )
}

impl NimbusSim {
    /// Checks the bearer token against the provisioning tenant; returns the tenant index and app id.
    /// (The error is the HTTP answer itself, built once per refused request.)
    #[allow(clippy::result_large_err)]
    fn authorize(&self, s: &State, req: &Req, role: &str) -> Result<(usize, String), Outcome> {
        let bearer = req.header("authorization").and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        });
        let Some(bearer) = bearer else {
            return Err(problem(401, "No bearer token"));
        };
        let Some(token) = s.tokens.get(bearer.trim()) else {
            return Err(problem(401, "Invalid or expired token"));
        };
        if token.expires <= Instant::now() {
            return Err(problem(401, "Invalid or expired token"));
        }
        if !token.authenticated {
            return Err(problem(403, "No authenticated user"));
        }
        let Some(tid) = &token.tenant_id else {
            return Err(problem(401, "No tenant id"));
        };
        let Some(index) = s
            .seed
            .tenants
            .iter()
            .position(|t| t.tenant_id.eq_ignore_ascii_case(tid))
        else {
            return Err(problem(401, "Invalid tenant id"));
        };
        let Some(app) = &token.app_id else {
            return Err(problem(401, "No app id"));
        };
        let registered = s
            .seed
            .entra
            .iter()
            .filter(|t| t.id.eq_ignore_ascii_case(tid))
            .flat_map(|t| &t.apps)
            .any(|a| a.client_id.eq_ignore_ascii_case(app));
        if !registered {
            return Err(problem(401, "Invalid app id"));
        }
        let tenant = &s.seed.tenants[index];
        if !tenant.api_enabled {
            return Err(problem(401, "Provisioning Api disabled by admin"));
        }
        if !tenant
            .app_permissions
            .iter()
            .any(|p| p.app_id.eq_ignore_ascii_case(app))
        {
            return Err(problem(
                401,
                &format!("No app permission found for app id ({app})"),
            ));
        }
        if !token.roles.iter().any(|r| r == role) {
            return Err(problem(401, "Required role missing"));
        }
        Ok((index, app.clone()))
    }

    /// Applies the rate limit for the token's tenant: waits (delay mode) or answers 429.
    pub(super) async fn pace(&self, req: &Req) -> Result<(), Outcome> {
        let key = req.header("authorization").unwrap_or("").to_string();
        let key = {
            let s = self.state.lock().unwrap();
            let bearer = key.strip_prefix("Bearer ").unwrap_or(&key);
            s.tokens
                .get(bearer)
                .and_then(|t| t.tenant_id.clone())
                .unwrap_or_default()
        };
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap();
                let limit = s.seed.rate_limit;
                let now = Instant::now();
                match s.windows.entry(key.clone()).or_default().admit(&limit, now) {
                    Ok(()) => {
                        s.stats.operations += 1;
                        return Ok(());
                    }
                    Err(wait) if limit.mode == RateMode::Reject => {
                        s.stats.rate_limited += 1;
                        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                        let detail = format!(
                            "Rate limit of {} API operations per {} ms exceeded",
                            limit.operations, limit.window_ms
                        );
                        let mut outcome = problem(429, &detail);
                        if let Outcome::Reply(r) = &mut outcome {
                            r.headers_mut()
                                .insert("retry-after", secs.max(1).to_string().parse().unwrap());
                        }
                        return Err(outcome);
                    }
                    Err(wait) => {
                        s.stats.delayed += 1;
                        wait
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    pub(super) fn api(&self, route: &str, req: &Req, id: Option<&str>) -> Outcome {
        let mut s = self.state.lock().unwrap();
        let role = match route {
            "create" | "copy" => ROLE_CREATE,
            "delete" => ROLE_DELETE,
            "license-usage" => ROLE_TENANT_READ,
            _ => ROLE_READ,
        };
        let (t, app) = match self.authorize(&s, req, role) {
            Ok(ok) => ok,
            Err(outcome) => return outcome,
        };
        let tenant = &mut s.seed.tenants[t];
        let scope: Vec<String> = tenant
            .app_permissions
            .iter()
            .filter(|p| p.app_id.eq_ignore_ascii_case(&app))
            .flat_map(|p| p.organization_units.clone())
            .collect();
        let in_scope = |ou: &str| scope.iter().any(|o| o.eq_ignore_ascii_case(ou));
        let body = req.json();
        let field = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        match route {
            "create" => {
                let (Some(id), Some(ou)) = (field("o365Id"), field("organizationUnitId")) else {
                    return problem(400, "\"O365Id\" and \"OrganizationUnitId\" are required");
                };
                if !is_guid(&id) || !is_guid(&ou) {
                    return problem(400, "\"O365Id\" and \"OrganizationUnitId\" must be GUIDs");
                }
                if !tenant
                    .organization_units
                    .iter()
                    .any(|o| o.id.eq_ignore_ascii_case(&ou))
                    || !in_scope(&ou)
                {
                    return problem(403, "Organization Unit not allowed");
                }
                if find(tenant, &id).is_some() {
                    return problem(409, "User already exists");
                }
                if available(tenant, CONTACT_CENTER) == 0 {
                    return problem(403, "No licenses available (License Management)");
                }
                let user = User {
                    o365_id: id.to_ascii_lowercase(),
                    organization_unit_id: ou.to_ascii_lowercase(),
                    assignment_type: AssignmentType::SkillBased,
                    licenses: vec![CONTACT_CENTER.into()],
                    modalities: vec![],
                    roles: vec![],
                    skills: vec![],
                    responsibility_profiles: vec![],
                    not_available_reasons: vec![],
                    interact: Value::Null,
                    assistant: Value::Null,
                };
                tenant.users.push(user.clone());
                json(200, serde_json::to_value(user).unwrap())
            }
            "copy" => {
                let (Some(source), Some(new)) = (field("sourceO365Id"), field("newO365Id")) else {
                    return problem(400, "\"SourceO365Id\" or \"NewO365Id\" are required");
                };
                if !is_guid(&source) || !is_guid(&new) {
                    return problem(400, "\"SourceO365Id\" and \"NewO365Id\" must be GUIDs");
                }
                if source.eq_ignore_ascii_case(&new) {
                    return problem(400, "User duplication: the new user is the source user");
                }
                let Some(src) = find(tenant, &source).map(|i| tenant.users[i].clone()) else {
                    return problem(
                        404,
                        "A source user with this \"SourceO365Id\" was not found",
                    );
                };
                if src.assignment_type == AssignmentType::MsTeamsSynced {
                    return problem(400, "MS-Teams synched users cannot be used as template: the template must be a skill-based (manual) user");
                }
                if !src.licenses.iter().any(|l| l == CONTACT_CENTER) {
                    return problem(400, "The template user is not Contact Center licensed");
                }
                if !in_scope(&src.organization_unit_id) {
                    return problem(403, "Organization Unit not allowed");
                }
                if find(tenant, &new).is_some() {
                    return problem(409, "User already exists");
                }
                if available(tenant, CONTACT_CENTER) == 0 {
                    return problem(403, "No licenses available (License Management)");
                }
                let user = User {
                    o365_id: new.to_ascii_lowercase(),
                    assignment_type: AssignmentType::SkillBased,
                    licenses: vec![CONTACT_CENTER.into()],
                    ..src
                };
                tenant.users.push(user.clone());
                json(200, serde_json::to_value(user).unwrap())
            }
            "license-usage" => {
                let usage: Vec<Value> = tenant
                    .licenses
                    .iter()
                    .map(|p| {
                        let used = used(tenant, &p.license_type);
                        json!({ "licenseType": p.license_type, "total": p.total, "used": used, "available": p.total.saturating_sub(used) })
                    })
                    .collect();
                json(200, Value::Array(usage))
            }
            "get" => {
                let id = id.unwrap_or_default();
                match find(tenant, id) {
                    None => problem(404, "User not found"),
                    Some(i) if !in_scope(&tenant.users[i].organization_unit_id) => {
                        problem(403, "Organization Unit not allowed")
                    }
                    Some(i) => json(200, serde_json::to_value(&tenant.users[i]).unwrap()),
                }
            }
            "delete" => {
                let id = id.unwrap_or_default();
                match find(tenant, id) {
                    None => problem(404, "User not found in the Nimbus user pool"),
                    Some(i) if tenant.users[i].assignment_type == AssignmentType::MsTeamsSynced => {
                        problem(400, "MS-Teams synched users cannot be deleted via the API: only manually added skill-based users")
                    }
                    Some(i) if !in_scope(&tenant.users[i].organization_unit_id) => problem(403, "Organization Unit not allowed"),
                    Some(i) => {
                        tenant.users.remove(i);
                        json(200, json!({}))
                    }
                }
            }
            _ => problem(404, "No such route"),
        }
    }
}

fn find(tenant: &ProvisioningTenant, id: &str) -> Option<usize> {
    tenant
        .users
        .iter()
        .position(|u| u.o365_id.eq_ignore_ascii_case(id))
}

fn used(tenant: &ProvisioningTenant, license: &str) -> u32 {
    tenant
        .users
        .iter()
        .filter(|u| u.licenses.iter().any(|l| l == license))
        .count() as u32
}

fn available(tenant: &ProvisioningTenant, license: &str) -> u32 {
    let total = tenant
        .licenses
        .iter()
        .filter(|p| p.license_type == license)
        .map(|p| p.total)
        .sum::<u32>();
    total.saturating_sub(used(tenant, license))
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}
