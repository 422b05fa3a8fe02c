//! Plans: read every managed and declared object, compare desired with actual, and list the
//! actions that would make them agree — Terraform's `plan`, with drift noted.

use crate::decide::{self, Read};
use crate::pacing::{with_retry, OnWait};
use crate::state::{Record, State, Status};
use crate::workspace::Workspace;
use anyhow::{anyhow, Result};
use futures::StreamExt;
use roster_runtime::types::ResourceSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

pub use crate::decide::without_sensitive;

/// Plan file format version.
pub const PLAN_FORMAT: u32 = 2;

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
    /// Only the address changed (same id): the record follows; nothing is sent to the vendor.
    Move,
}

impl ActionKind {
    /// The lifecycle verb, in lower case.
    pub fn verb(self) -> &'static str {
        match self {
            ActionKind::Create => "create",
            ActionKind::Delete => "delete",
            ActionKind::Replace => "replace",
            ActionKind::Adopt => "adopt",
            ActionKind::Forget => "forget",
            ActionKind::Move => "move",
        }
    }
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
    /// The address the state records it under, when the roster file now names it otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
}

/// Something that changed at the vendor since Roster last recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// `TYPE.NAME`.
    pub address: String,
    /// What changed.
    pub note: String,
}

/// A record whose attributes the vendor reports differently now (a state-only update).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refresh {
    /// The record's address.
    pub address: String,
    /// Provider instance.
    pub provider: String,
    /// Resource type.
    pub type_name: String,
    /// The object's id.
    pub id: String,
    /// The attributes to record (non-sensitive; only what is filtered like state).
    pub attributes: Map<String, Value>,
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
    /// The roster file, provider code and configs it was made from ([`Workspace::fingerprint`]);
    /// apply refuses a saved plan when they differ.
    pub inputs: String,
    /// Only refresh the state.
    pub refresh_only: bool,
    /// The actions.
    pub actions: Vec<Action>,
    /// Drift found.
    pub drift: Vec<Drift>,
    /// Attributes read for managed objects that changed at the vendor (written by apply).
    pub refreshed: Vec<Refresh>,
}

impl Plan {
    /// True when nothing would change (refreshes aside).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// How many actions of `kind`.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind).count()
    }

    /// (create, replace, delete) counts; adopt counts as create.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.count(ActionKind::Create) + self.count(ActionKind::Adopt), self.count(ActionKind::Replace), self.count(ActionKind::Delete))
    }

    /// Records this plan removes from the state or objects it deletes at the vendor (deletes,
    /// replacements and forgets): what the mass-delete guard counts.
    pub fn removals(&self) -> usize {
        self.actions.iter().filter(|a| matches!(a.kind, ActionKind::Delete | ActionKind::Replace | ActionKind::Forget)).count()
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

/// Reads an object through its provider's pacer, retrying transient errors.
pub async fn read(ws: &Workspace, provider: &str, type_name: &str, id: &str, on_wait: OnWait<'_>) -> Result<Option<Map<String, Value>>> {
    let handle = ws.provider(provider).ok_or_else(|| anyhow!("provider `{provider}` is not declared in the roster file"))?;
    let (result, _) = with_retry(&handle.pacer, &ws.retry, on_wait, || handle.provider.read(type_name, id), || async { Ok(None) }).await;
    result.map_err(|e| anyhow!("reading {type_name} {id}: {e}"))
}

/// Plans `ws` against `state`: reads what needs reading (managed objects and adopt candidates,
/// at most `settings.concurrency` at a time, each provider paced), then decides
/// ([`decide::decide`]).
pub async fn plan(ws: &Workspace, state: &State, options: &PlanOptions) -> Result<Plan> {
    plan_with(ws, state, options, &crate::pacing::no_wait_report).await
}

/// [`plan`], telling `on_wait` about every wait a vendor asks for.
pub async fn plan_with(ws: &Workspace, state: &State, options: &PlanOptions, on_wait: OnWait<'_>) -> Result<Plan> {
    let entries = decide::entries(&state.resources, &ws.file.resources, &ws.schemas, options).map_err(|e| anyhow!(e))?;
    let reads = entries.iter().filter(|e| e.needs_read()).map(|e| async move {
        let read = match read(ws, &e.key.provider, &e.key.type_name, &e.id, on_wait).await {
            Ok(Some(found)) => Read::Found(found),
            Ok(None) => Read::Absent,
            Err(err) => Read::Failed(format!("{err:#}")),
        };
        (e.key.clone(), read)
    });
    let reads: HashMap<_, _> = futures::stream::iter(reads).buffer_unordered(ws.file.settings.concurrency.max(1)).collect().await;
    let decision = decide::decide(&entries, &reads, &ws.schemas, options).map_err(|e| anyhow!(e))?;
    Ok(Plan {
        format_version: PLAN_FORMAT,
        lineage: state.lineage.clone(),
        serial: state.serial,
        inputs: ws.fingerprint(),
        refresh_only: options.refresh_only,
        actions: decision.actions,
        drift: decision.drift,
        refreshed: decision.refreshed,
    })
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
