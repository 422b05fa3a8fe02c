//! Plan files: a plan saved by `roster plan --out`, and the binding that lets `roster apply FILE`
//! run it only where it was made — the same state (lineage, serial), the same inputs (roster
//! file, rows files, provider code and configs), and ids the state still holds as the plan saw
//! them.

use crate::decide::plan_mismatches;
use crate::plan::{Plan, PLAN_FORMAT};
use crate::state::State;
use crate::workspace::Workspace;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Writes `plan` to `path` (JSON).
pub fn save(plan: &Plan, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(plan)?;
    std::fs::write(path, text).with_context(|| format!("writing plan {}", path.display()))
}

/// Reads a plan file; one of another format version is refused, naming both.
pub fn load(path: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading plan {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// Parses a plan file's text (`origin` names it in errors); one of another format version is
/// refused, naming both.
pub fn parse(text: &str, origin: &str) -> Result<Plan> {
    let plan: Plan =
        serde_json::from_str(text).with_context(|| format!("{origin} is not a roster plan"))?;
    if plan.format_version != PLAN_FORMAT {
        bail!(
            "{origin} has plan format {}; this roster reads {}",
            plan.format_version,
            PLAN_FORMAT
        );
    }
    Ok(plan)
}

/// Refuses a plan that does not fit the state and inputs it would run against: another
/// lineage or serial (the state moved on), another roster file or provider config, or an
/// action whose id the state does not hold as the plan saw it.
pub fn check(ws: &Workspace, plan: &Plan, state: &State, fresh_state: bool) -> Result<()> {
    if !(fresh_state && plan.serial == 0)
        && (state.lineage != plan.lineage || state.serial != plan.serial)
    {
        bail!(
            "the plan is stale: it was made from state serial {} (lineage {}), and the state is now at serial {} (lineage {}); run `roster plan` again",
            plan.serial,
            plan.lineage,
            state.serial,
            state.lineage
        );
    }
    if plan.inputs != ws.fingerprint() {
        bail!("the plan was made from another roster file or provider config ({} or a provider's component or config changed since); run `roster plan` again", ws.file.path.display());
    }
    let problems = plan_mismatches(&plan.actions, &state.resources, &ws.schemas);
    if !problems.is_empty() {
        bail!(
            "the plan does not match the state's records, so none of it was applied:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}
