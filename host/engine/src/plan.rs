//! Plans: read every managed and declared object, compare desired with actual, and list the
//! actions that would make them agree — Terraform's `plan`, with drift noted.

use crate::decide::{self, Key, Read};
use crate::pacing::OnWait;
use crate::state::{Record, State, Status};
use crate::workspace::Workspace;
use anyhow::{anyhow, Result};
use futures::StreamExt;
use roster_runtime::types::ResourceSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub(crate) use crate::decide::{without_sensitive, Action, Drift, Refresh};
pub use crate::decide::{ActionKind, PlanOptions, ReadPolicy};

/// Plan file format version.
pub(crate) const PLAN_FORMAT: u32 = 2;

/// A plan; saved with `--out`, executed exactly by `apply FILE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Always [`PLAN_FORMAT`].
    pub(crate) format_version: u32,
    /// The state's lineage when planned.
    pub(crate) lineage: String,
    /// The state's serial when planned; apply refuses a plan whose state moved on.
    pub(crate) serial: u64,
    /// The roster file, provider code and configs it was made from ([`Workspace::fingerprint`]);
    /// apply refuses a saved plan when they differ.
    pub(crate) inputs: String,
    /// Only refresh the state.
    pub refresh_only: bool,
    /// The actions.
    pub actions: Vec<Action>,
    /// Drift found.
    pub drift: Vec<Drift>,
    /// Attributes read for managed objects that changed at the vendor (written by apply).
    pub refreshed: Vec<Refresh>,
    /// The managed objects this plan read, and when (apply records it as each record's
    /// `read_at`, what `--refresh-stale` goes by).
    #[serde(default)]
    pub reads: Vec<ReadMark>,
}

/// A managed object a plan read at the vendor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadMark {
    /// Provider instance.
    pub provider: String,
    /// Resource type.
    pub type_name: String,
    /// The object's id.
    pub id: String,
    /// When (RFC 3339).
    pub(crate) at: String,
}

impl Plan {
    /// True when nothing would change (refreshes and read times aside).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// How many actions of `kind`.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind).count()
    }

    /// (create, replace, delete) counts; adopt counts as create.
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.count(ActionKind::Create) + self.count(ActionKind::Adopt),
            self.count(ActionKind::Replace),
            self.count(ActionKind::Delete),
        )
    }

    /// Records this plan removes from the state or objects it deletes at the vendor (deletes,
    /// replacements and forgets): what the mass-delete guard counts.
    pub(crate) fn removals(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| {
                matches!(
                    a.kind,
                    ActionKind::Delete | ActionKind::Replace | ActionKind::Forget
                )
            })
            .count()
    }
}

/// What a plan's reads cost at one provider, said before they start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReadCost {
    /// Provider instance.
    pub provider: String,
    /// Reads it will send.
    pub reads: usize,
    /// Its pace: operations per window (`None`: unpaced).
    pub rate: Option<(u32, Duration)>,
    /// How long they take at least, at that pace (the vendor's latency may add to it).
    pub estimate: Duration,
}

/// Told how reading goes (a progress line with an ETA on a terminal).
pub trait ReadProgress: Send + Sync {
    /// Before the first read: the cost per provider (only providers with reads).
    fn reading(&self, _costs: &[ReadCost]) {}
    /// After each read: how many of all are done.
    fn read(&self, _done: usize, _total: usize) {}
    /// Before a wait a vendor asked for (Retry-After) or a back-off.
    fn waiting(&self, _delay: Duration, _why: &str) {}
}

/// Reports nothing.
pub struct Quiet;

impl ReadProgress for Quiet {}

/// What reading `items` (provider, type, id) will cost, per provider, at their pace.
fn costs<'a>(ws: &Workspace, items: impl IntoIterator<Item = &'a str>) -> Vec<ReadCost> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for provider in items {
        *count.entry(provider).or_default() += 1;
    }
    count
        .into_iter()
        .map(|(provider, reads)| {
            let handle = ws.provider(provider);
            let rate = handle.and_then(|h| h.rate);
            // The first goes at once; the rest one interval apart.
            let estimate = handle
                .map(|h| h.pacer.duration_of(reads))
                .unwrap_or_default();
            ReadCost {
                provider: provider.to_string(),
                reads,
                rate,
                estimate,
            }
        })
        .collect()
}

/// Reads an object through its provider's pacer, retrying transient errors.
pub(crate) async fn read(
    ws: &Workspace,
    provider: &str,
    type_name: &str,
    id: &str,
    on_wait: OnWait<'_>,
) -> Result<Option<Map<String, Value>>> {
    let handle = ws
        .provider(provider)
        .ok_or_else(|| anyhow!("provider `{provider}` is not declared in the roster file"))?;
    crate::ops::read(handle, &ws.retry, type_name, id, on_wait)
        .await
        .map_err(|e| anyhow!("reading {type_name} {id}: {e}"))
}

/// Reads `objects` (key, id to send), at most `settings.concurrency` at a time, each provider
/// paced; says the cost first and reports each read. Every object gets a [`Read`].
pub(crate) async fn read_many(
    ws: &Workspace,
    objects: &[(Key, String)],
    progress: &dyn ReadProgress,
) -> HashMap<Key, Read> {
    if objects.is_empty() {
        return HashMap::new();
    }
    progress.reading(&costs(ws, objects.iter().map(|(k, _)| k.provider.as_str())));
    let total = objects.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let on_wait = |delay: Duration, why: &str| progress.waiting(delay, why);
    let (done, on_wait) = (&done, &on_wait);
    let reads = objects.iter().map(|(key, id)| async move {
        let read = match read(ws, &key.provider, &key.type_name, id, on_wait).await {
            Ok(Some(found)) => Read::Found(found),
            Ok(None) => Read::Absent,
            Err(err) => Read::Failed(format!("{err:#}")),
        };
        progress.read(
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
            total,
        );
        (key.clone(), read)
    });
    futures::stream::iter(reads)
        .buffer_unordered(ws.file.settings.concurrency.max(1))
        .collect()
        .await
}

/// Plans `ws` against `state`: reads what needs reading (`decide::must_read` under
/// `options.reads`), then decides (`decide::decide`).
pub async fn plan(ws: &Workspace, state: &State, options: &PlanOptions) -> Result<Plan> {
    plan_with(ws, state, options, &Quiet).await
}

/// [`plan`], telling `progress` what the reads cost and how they go.
pub async fn plan_with(
    ws: &Workspace,
    state: &State,
    options: &PlanOptions,
    progress: &dyn ReadProgress,
) -> Result<Plan> {
    let entries = decide::entries(&state.resources, &ws.file.resources, &ws.schemas, options)
        .map_err(|e| anyhow!(e))?;
    let wanted: Vec<(Key, String)> = entries
        .iter()
        .filter(|e| e.needs_read())
        .map(|e| (e.key.clone(), e.id.clone()))
        .collect();
    let reads = read_many(ws, &wanted, progress).await;
    let at = crate::state::now();
    let marks = entries
        .iter()
        .filter_map(|e| match (e.record, reads.get(&e.key)) {
            (Some(r), Some(Read::Found(_))) => Some(ReadMark {
                provider: r.provider.clone(),
                type_name: r.type_name.clone(),
                id: r.id.clone(),
                at: at.clone(),
            }),
            _ => None,
        })
        .collect();
    let decision =
        decide::decide(&entries, &reads, &ws.schemas, options).map_err(|e| anyhow!(e))?;
    Ok(Plan {
        format_version: PLAN_FORMAT,
        lineage: state.lineage.clone(),
        serial: state.serial,
        inputs: ws.fingerprint(),
        refresh_only: options.refresh_only,
        actions: decision.actions,
        drift: decision.drift,
        refreshed: decision.refreshed,
        reads: marks,
    })
}

/// Builds the record for an object now known to exist. Attributes the vendor did not report
/// (it cannot read them back) are recorded as the user asked for them.
pub(crate) fn created_record(
    action: &Action,
    schema: &ResourceSchema,
    desired: &Map<String, Value>,
    reported: &Map<String, Value>,
) -> Record {
    let mut attributes = desired.clone();
    attributes.extend(reported.iter().map(|(k, v)| (k.clone(), v.clone())));
    Record {
        address: action.address.clone(),
        type_name: action.type_name.clone(),
        provider: action.provider.clone(),
        id: attributes
            .get(&schema.id_attribute)
            .and_then(Value::as_str)
            .unwrap_or(&action.id)
            .to_string(),
        status: Status::Created,
        desired: without_sensitive(schema, desired),
        attributes: without_sensitive(schema, &attributes),
        updated_at: crate::state::now(),
        // What the vendor reported (a create's answer, or a read) is as good as a read.
        read_at: Some(crate::state::now()),
    }
}
