//! Plans: read every managed and declared object, compare desired with actual, and list the
//! actions that would make them agree — Terraform's `plan`, with drift noted.

use crate::pacing::with_retry;
use crate::state::{Record, State, Status};
use crate::workspace::{id_of, Workspace};
use anyhow::{anyhow, Result};
use futures::StreamExt;
use roster_runtime::types::{Presence, ResourceSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Plan file format version.
pub const PLAN_FORMAT: u32 = 1;

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// `+` create the object.
    Create,
    /// `-` delete the object.
    Delete,
    /// `-/+` delete it and create it again (a change the API cannot make in place).
    Replace,
    /// Take an existing object into state (`adopt = true`, or a pending create that happened).
    Adopt,
    /// Drop a state record whose object is gone and no longer declared.
    Forget,
}

/// One attribute that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Attribute name.
    pub attribute: String,
    /// What is there (null when unknown or unset).
    pub from: Value,
    /// What is wanted.
    pub to: Value,
    /// The schema says a change forces replacement.
    pub forces_replacement: bool,
}

/// One planned action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// `TYPE.NAME`.
    pub address: String,
    /// What to do.
    pub kind: ActionKind,
    /// Resource type.
    pub type_name: String,
    /// Provider instance.
    pub provider: String,
    /// The object's id.
    pub id: String,
    /// Desired attributes (sensitive ones left out; apply takes them from the roster file).
    pub desired: Map<String, Value>,
    /// The object as read (for adopt).
    pub actual: Option<Map<String, Value>>,
    /// Why (e.g. "deleted outside Roster").
    pub reason: Option<String>,
    /// Differences that force a replacement.
    pub changes: Vec<Change>,
    /// What a replacement costs, from the schema.
    pub warning: Option<String>,
}

/// Something that changed at the vendor since Roster last recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// `TYPE.NAME`.
    pub address: String,
    /// What changed.
    pub note: String,
}

/// A plan; saved with `--out`, executed exactly by `apply FILE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Always [`PLAN_FORMAT`].
    pub format_version: u32,
    /// The state's lineage when planned.
    pub lineage: String,
    /// The state's serial when planned; apply refuses a plan whose state moved on.
    pub serial: u64,
    /// Only refresh the state.
    pub refresh_only: bool,
    /// The actions.
    pub actions: Vec<Action>,
    /// Drift found.
    pub drift: Vec<Drift>,
    /// Attributes read for unchanged managed objects (written to state by apply).
    pub refreshed: Vec<(String, Map<String, Value>)>,
}

impl Plan {
    /// True when nothing would change (refreshes aside).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// (create, replace, delete) counts; adopt counts as create, forget as nothing.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |k: ActionKind| self.actions.iter().filter(|a| a.kind == k).count();
        (n(ActionKind::Create) + n(ActionKind::Adopt), n(ActionKind::Replace), n(ActionKind::Delete))
    }
}

/// How to plan.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Only read; no actions.
    pub refresh_only: bool,
    /// Plan to delete everything managed.
    pub destroy: bool,
    /// Only these addresses (empty: all).
    pub targets: Vec<String>,
}

/// Attributes that are never written to state or plan files.
pub fn without_sensitive(schema: &ResourceSchema, attrs: &Map<String, Value>) -> Map<String, Value> {
    attrs.iter().filter(|(k, _)| !schema.attributes.iter().any(|a| &a.name == *k && a.sensitive)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The differences between what is wanted and what is there.
fn diff(schema: &ResourceSchema, desired: &Map<String, Value>, record: &Record, actual: &Map<String, Value>) -> Vec<Change> {
    let mut keys: BTreeSet<&String> = desired.keys().collect();
    keys.extend(record.desired.keys());
    let mut changes = Vec::new();
    for k in keys {
        let Some(a) = schema.attributes.iter().find(|a| &a.name == k) else { continue };
        if a.create_only || a.presence == Presence::Computed {
            continue;
        }
        let want = desired.get(k).cloned().unwrap_or(Value::Null);
        if want.is_null() && a.presence == Presence::OptionalComputed {
            continue;
        }
        // What is there: what the vendor reports, else what Roster recorded.
        let have = actual.get(k).or_else(|| record.attributes.get(k)).cloned().unwrap_or(Value::Null);
        if want != have {
            changes.push(Change { attribute: k.clone(), from: have, to: want, forces_replacement: a.replace_on_change });
        }
    }
    changes
}

/// Changes made outside Roster: recorded vs now reported.
fn drift_notes(address: &str, schema: &ResourceSchema, record: &Record, actual: &Map<String, Value>) -> Vec<Drift> {
    let mut out = Vec::new();
    for (k, now) in actual {
        let Some(before) = record.attributes.get(k) else { continue };
        if before != now && !schema.attributes.iter().any(|a| &a.name == k && a.sensitive) {
            out.push(Drift { address: address.into(), note: format!("{k} changed outside Roster: {before} -> {now}") });
        }
    }
    out
}

/// Reads an object through its provider's pacer, retrying transient errors.
pub async fn read(ws: &Workspace, provider: &str, type_name: &str, id: &str) -> Result<Option<Map<String, Value>>> {
    let handle = ws.provider(provider).ok_or_else(|| anyhow!("provider `{provider}` is not declared in the roster file"))?;
    let (result, _) = with_retry(&handle.pacer, &ws.retry, || handle.provider.read(type_name, id), || async { Ok(None) }).await;
    match result.map_err(|e| anyhow!("reading {type_name} {id}: {e}"))? {
        None => Ok(None),
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err(anyhow!("provider `{provider}` answered a read of {type_name} {id} with something that is not a JSON object")),
        },
    }
}

/// Plans `ws` against `state`.
pub async fn plan(ws: &Workspace, state: &State, options: &PlanOptions) -> Result<Plan> {
    let targeted = |address: &str| options.targets.is_empty() || options.targets.iter().any(|t| t == address);
    // Everything to look at: managed records and declared resources.
    let records: std::collections::HashMap<&str, &Record> = state.resources.iter().map(|r| (r.address.as_str(), r)).collect();
    let mut addresses: Vec<String> = state.resources.iter().map(|r| r.address.clone()).collect();
    addresses.extend(ws.file.resources.iter().filter(|r| !records.contains_key(r.address.as_str())).map(|r| r.address.clone()));
    addresses.retain(|a| targeted(a));
    for t in &options.targets {
        if !records.contains_key(t.as_str()) && ws.file.resource(t).is_none() {
            return Err(anyhow!("--target {t}: no such resource in the roster file or the state"));
        }
    }

    // Read every object, at most `concurrency` at a time (each provider paces its own).
    let records = &records;
    let reads = addresses.iter().enumerate().map(|(index, address)| {
        async move {
            let record = records.get(address.as_str()).copied();
            let (provider, type_name, id) = match (record, ws.file.resource(address)) {
                (Some(r), _) => (r.provider.clone(), r.type_name.clone(), Some(r.id.clone())),
                (None, Some(d)) => {
                    let schema = ws.schema(&d.provider, &d.type_name).ok_or_else(|| anyhow!("{address}: provider `{}` has no resource type `{}`", d.provider, d.type_name))?;
                    (d.provider.clone(), d.type_name.clone(), id_of(&schema, &d.attributes))
                }
                (None, None) => unreachable!("listed above"),
            };
            let Some(id) = id else { return Err(anyhow!("{address}: the id attribute is not set")) };
            // Only managed objects and adopt candidates need a read; a new declared object
            // with no record is created (an existing one is reported by create).
            let needs_read = record.is_some() || ws.file.resource(address).is_some_and(|d| d.adopt);
            let actual = if needs_read { read(ws, &provider, &type_name, &id).await? } else { None };
            Ok::<_, anyhow::Error>((index, address.clone(), provider, type_name, id, actual))
        }
    });
    // Unordered, so a slow read never holds a free slot; put back in order afterwards.
    let mut results: Vec<_> = futures::stream::iter(reads).buffer_unordered(ws.file.settings.concurrency.max(1)).collect().await;
    results.sort_by_key(|r| r.as_ref().map(|t| t.0).unwrap_or(usize::MAX));

    let mut plan = Plan {
        format_version: PLAN_FORMAT,
        lineage: state.lineage.clone(),
        serial: state.serial,
        refresh_only: options.refresh_only,
        actions: vec![],
        drift: vec![],
        refreshed: vec![],
    };
    for result in results {
        let (_, address, provider, type_name, id, actual) = result?;
        let schema = ws.schema(&provider, &type_name).ok_or_else(|| anyhow!("{address}: provider `{provider}` has no resource type `{type_name}`"))?;
        let record = records.get(address.as_str()).copied();
        let declared = if options.destroy { None } else { ws.file.resource(&address) };
        let action = |kind, desired: Map<String, Value>, actual: Option<Map<String, Value>>, reason: Option<&str>, changes: Vec<Change>| Action {
            address: address.clone(),
            kind,
            type_name: type_name.clone(),
            provider: provider.clone(),
            id: id.clone(),
            desired: without_sensitive(&schema, &desired),
            actual,
            reason: reason.map(String::from),
            changes,
            warning: if kind == ActionKind::Replace { schema.replace_warning.clone() } else { None },
        };
        match (record, declared, actual) {
            // Managed, gone at the vendor.
            (Some(r), d, None) => {
                if r.status == Status::Created {
                    plan.drift.push(Drift { address: address.clone(), note: "deleted outside Roster".into() });
                }
                match d {
                    // A refresh-only plan records the loss; a normal plan creates it again.
                    Some(d) if !options.refresh_only => {
                        let why = match r.status {
                            Status::Created => "deleted outside Roster",
                            Status::PendingCreate => "an interrupted create did not happen",
                            Status::PendingDelete => "an interrupted delete happened",
                        };
                        plan.actions.push(action(ActionKind::Create, d.attributes.clone(), None, Some(why), vec![]));
                    }
                    _ => plan.actions.push(action(ActionKind::Forget, Map::new(), None, Some("already gone at the vendor"), vec![])),
                }
            }
            // Managed, present.
            (Some(r), d, Some(actual)) => {
                if r.status == Status::Created {
                    plan.drift.extend(drift_notes(&address, &schema, r, &actual));
                    // Record what the vendor reports now; attributes it cannot read keep their value.
                    let mut refreshed = r.attributes.clone();
                    refreshed.extend(without_sensitive(&schema, &actual));
                    if refreshed != r.attributes {
                        plan.refreshed.push((address.clone(), refreshed));
                    }
                }
                match d {
                    None => plan.actions.push(action(ActionKind::Delete, Map::new(), Some(actual), None, vec![])),
                    Some(d) => {
                        let mut record = r.clone();
                        if r.status == Status::PendingCreate {
                            // It happened: record what the user asked for, then compare.
                            record.desired = d.attributes.clone();
                        }
                        let changes = diff(&schema, &d.attributes, &record, &actual);
                        if !changes.is_empty() {
                            let reason = if changes.iter().any(|c| !c.forces_replacement) { Some("the API has no update") } else { None };
                            plan.actions.push(action(ActionKind::Replace, d.attributes.clone(), Some(actual), reason, changes));
                        } else if r.status != Status::Created {
                            let why = if r.status == Status::PendingCreate { "an interrupted create happened" } else { "an interrupted delete did not happen" };
                            plan.actions.push(action(ActionKind::Adopt, d.attributes.clone(), Some(actual), Some(why), vec![]));
                        }
                    }
                }
            }
            // Declared, not managed.
            (None, Some(d), Some(actual)) => plan.actions.push(action(ActionKind::Adopt, d.attributes.clone(), Some(actual), Some("adopt = true: it exists already"), vec![])),
            (None, Some(d), None) => plan.actions.push(action(ActionKind::Create, d.attributes.clone(), None, None, vec![])),
            (None, None, _) => {}
        }
    }
    if options.refresh_only {
        plan.actions.retain(|a| a.kind == ActionKind::Forget);
    }
    plan.actions.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(plan)
}

/// Builds the record for an object now known to exist. Attributes the vendor did not report
/// (it cannot read them back) are recorded as the user asked for them.
pub fn created_record(action: &Action, schema: &ResourceSchema, desired: &Map<String, Value>, reported: &Map<String, Value>) -> Record {
    let mut attributes = desired.clone();
    attributes.extend(reported.iter().map(|(k, v)| (k.clone(), v.clone())));
    Record {
        address: action.address.clone(),
        type_name: action.type_name.clone(),
        provider: action.provider.clone(),
        id: attributes.get(&schema.id_attribute).and_then(Value::as_str).unwrap_or(&action.id).to_string(),
        status: Status::Created,
        desired: without_sensitive(schema, desired),
        attributes: without_sensitive(schema, &attributes),
        updated_at: crate::state::now(),
    }
}
