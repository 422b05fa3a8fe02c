//! Applying a plan: guards first (stale plan, mass delete, costly replacements), then every
//! action with per-provider pacing, bounded concurrency and retries, recording each operation
//! in state as pending before it starts and as done when it ends.

use crate::ops::{self, Created};
use crate::pacing::{is_transient, Retries};
use crate::plan::{created_record, read, without_sensitive, Action, ActionKind, Plan};
use crate::state::{now, Change, Commit, Identity, Record, State, Status};
use crate::store::StateStore;
use crate::workspace::{ProviderHandle, Workspace};
use anyhow::{bail, Result};
use futures::StreamExt;
use roster_runtime::types::ResourceSchema;
use serde_json::{Map, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Permissions the user gives on the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions {
    /// Allow a plan deleting more objects than the threshold.
    pub allow_mass_delete: bool,
    /// Allow replacements whose schema warns of a cost (e.g. Nimbus configuration lost).
    pub allow_replace: bool,
}

/// How one action ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `TYPE.NAME`.
    pub address: String,
    /// What was attempted.
    pub kind: ActionKind,
    /// `Err` holds the reason.
    pub result: Result<(), String>,
    /// Retries absorbed.
    retries: Retries,
    /// How long it took.
    pub elapsed: Duration,
}

/// Told about progress (a progress bar on a terminal, plain lines otherwise).
pub trait Progress: Send + Sync {
    /// Before the first action.
    fn started(&self, total: usize);
    /// After each action.
    fn finished(&self, outcome: &Outcome);
    /// Before a wait a vendor asked for (Retry-After) or a back-off, for the action at `address`.
    fn waiting(&self, _address: &str, _delay: Duration, _why: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn started(&self, _: usize) {}
    fn finished(&self, _: &Outcome) {}
}

/// What an apply did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Every action's outcome.
    outcomes: Vec<Outcome>,
    /// What the caller should tell the user that is not an action's outcome (the state store's
    /// warnings: a torn journal record dropped, a compaction that failed and waits for the next apply).
    pub warnings: Vec<String>,
}

impl Summary {
    /// Successful actions of `kind`.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.kind == kind && o.result.is_ok())
            .count()
    }

    /// Failed actions.
    pub fn failed(&self) -> Vec<&Outcome> {
        self.outcomes.iter().filter(|o| o.result.is_err()).collect()
    }

    /// Rate-limited answers absorbed by retries.
    pub fn rate_limited(&self) -> u32 {
        self.outcomes.iter().map(|o| o.retries.rate_limited).sum()
    }
}

/// Objects a plan deletes or forgets (deletes, replacements, forgets).
pub fn deletions(plan: &Plan) -> usize {
    plan.removals()
}

/// Refuses a plan that needs a permission the user did not give.
pub fn check_guards(ws: &Workspace, plan: &Plan, options: &ApplyOptions) -> Result<()> {
    let threshold = ws.file.settings.mass_delete_threshold;
    let n = deletions(plan);
    if n > threshold && !options.allow_mass_delete {
        bail!("this plan deletes or forgets {n} objects, more than the mass-delete threshold of {threshold}; review it and pass --allow-mass-delete (or raise settings.mass_delete_threshold)");
    }
    let costly: Vec<&str> = plan
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Replace && a.warning.is_some())
        .map(|a| a.address.as_str())
        .collect();
    if !costly.is_empty() && !options.allow_replace {
        bail!(
            "this plan replaces {} ({}); a replacement there loses data (see the plan); pass --allow-replace to go ahead",
            costly.join(", "),
            plan.actions.iter().find_map(|a| a.warning.clone()).unwrap_or_default()
        );
    }
    Ok(())
}

struct Shared<'a> {
    ws: &'a Workspace,
    /// The state as changed so far.
    state: Mutex<Changing>,
    /// Held by the one writer; holds how many changes are durable.
    durable: tokio::sync::Mutex<u64>,
    store: &'a dyn StateStore,
    progress: &'a dyn Progress,
}

/// The state as changed so far, how many changes it holds, and those not yet committed.
struct Changing {
    state: State,
    made: u64,
    uncommitted: Vec<Change>,
}

impl Shared<'_> {
    /// Changes the record of the object `is_it` picks and returns once the change is durable.
    /// Concurrent changes are committed together (group commit): a writer that finds its change
    /// already committed returns at once.
    async fn write(
        &self,
        is_it: impl Fn(&Record) -> bool,
        f: impl FnOnce(&mut State),
    ) -> Result<(), String> {
        let mine = {
            let mut guard = self.state.lock().unwrap();
            let c = &mut *guard;
            let was = c
                .state
                .resources
                .iter()
                .find(|r| is_it(r))
                .map(Identity::of);
            f(&mut c.state);
            let now = c.state.resources.iter().find(|r| is_it(r)).cloned();
            c.uncommitted.push(Change { was, now });
            c.made += 1;
            c.made
        };
        let mut durable = self.durable.lock().await;
        if *durable >= mine {
            return Ok(());
        }
        // One commit for every change made so far, prepared under the lock (the whole state
        // rendered only when the store wants it: its first commit, or a compaction), written
        // outside it.
        let (commit, made) = {
            let mut guard = self.state.lock().unwrap();
            let c = &mut *guard;
            c.state.serial += 1;
            let commit = Commit::after(&c.state, self.store.wants_whole(), || {
                std::mem::take(&mut c.uncommitted)
            })
            .map_err(|e| format!("{e:#}"))?;
            (commit, c.made)
        };
        self.store.commit(&commit).map_err(|e| format!("{e:#}"))?;
        *durable = made;
        Ok(())
    }

    /// The record of the object `action` names, if any (the state's own view, under its lock).
    fn record(&self, action: &Action) -> Option<Record> {
        let guard = self.state.lock().unwrap();
        let is_it = same_object(self.ws, action);
        guard.state.resources.iter().find(|r| is_it(r)).cloned()
    }
}

/// Picks the record of the object `action` names: same provider, type and id (compared the
/// vendor's way), whatever its address.
fn same_object<'a>(ws: &'a Workspace, action: &'a Action) -> impl Fn(&Record) -> bool + 'a {
    object_is(ws, &action.provider, &action.type_name, &action.id)
}

/// Picks the record of object `id` of `type_name` under `provider` (by [`Schemas::key`](crate::decide::Schemas::key)).
fn object_is<'a>(
    ws: &'a Workspace,
    provider: &str,
    type_name: &str,
    id: &str,
) -> impl Fn(&Record) -> bool + 'a {
    let key = ws.schemas.key(provider, type_name, id);
    move |r: &Record| key.is_some() && ws.schemas.record_key(r) == key
}

/// Applies `plan` to the state in `store` (whose lock the caller holds).
pub async fn apply(
    ws: &Workspace,
    plan: &Plan,
    store: &dyn StateStore,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<Summary> {
    let mut state = store.load()?;
    let fresh = !store.exists();
    crate::planfile::check(ws, plan, &state, fresh)?;
    if fresh && plan.serial == 0 {
        // No state yet: the plan's lineage becomes the new state's.
        state.lineage = plan.lineage.clone();
    }
    check_guards(ws, plan, options)?;
    // What the plan read goes into the state; the state file is written only when that changes
    // something (a record's attributes, or when it was last read).
    let mut changed = false;
    for refresh in &plan.refreshed {
        if let Some(i) = state.position(object_is(
            ws,
            &refresh.provider,
            &refresh.type_name,
            &refresh.id,
        )) {
            if state.resources[i].attributes != refresh.attributes {
                state.resources[i].attributes = refresh.attributes.clone();
                state.resources[i].updated_at = now();
                changed = true;
            }
        }
    }
    for mark in &plan.reads {
        if let Some(i) = state.position(object_is(ws, &mark.provider, &mark.type_name, &mark.id)) {
            if state.resources[i].read_at.as_deref() != Some(mark.at.as_str()) {
                state.resources[i].read_at = Some(mark.at.clone());
                changed = true;
            }
        }
    }
    if changed {
        store.save(&mut state)?;
    }
    let shared = Shared {
        ws,
        state: Mutex::new(Changing {
            state,
            made: 0,
            uncommitted: Vec::new(),
        }),
        durable: tokio::sync::Mutex::new(0),
        store,
        progress,
    };
    progress.started(plan.actions.len());
    let runs = plan.actions.iter().map(|action| {
        let shared = &shared;
        async move {
            let started = Instant::now();
            let mut retries = Retries::default();
            let result = run(shared, action, &mut retries).await;
            let outcome = Outcome {
                address: action.address.clone(),
                kind: action.kind,
                result,
                retries,
                elapsed: started.elapsed(),
            };
            progress.finished(&outcome);
            outcome
        }
    });
    let outcomes = futures::stream::iter(runs)
        .buffer_unordered(ws.file.settings.concurrency.max(1))
        .collect()
        .await;
    // Fold the journal into the state file, so that after a command the file alone is the state.
    // Every change is durable already: a failure here loses nothing (the next apply folds it).
    let state = shared
        .state
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .state;
    let mut warnings = store.take_warnings();
    if let Err(e) = store.compact(&state) {
        warnings.push(format!("every change is recorded in the state journal, but folding it into the state file failed (the next apply tries again): {e:#}"));
    }
    Ok(Summary { outcomes, warnings })
}

fn add(total: &mut Retries, r: Retries) {
    total.rate_limited += r.rate_limited;
    total.unavailable += r.unavailable;
}

async fn run(s: &Shared<'_>, action: &Action, retries: &mut Retries) -> Result<(), String> {
    let schema =
        s.ws.schema(&action.provider, &action.type_name)
            .ok_or_else(|| {
                format!(
                    "provider `{}` has no resource type `{}`",
                    action.provider, action.type_name
                )
            })?;
    let handle =
        s.ws.provider(&action.provider)
            .ok_or_else(|| format!("provider `{}` is not declared", action.provider))?;
    let is_it = same_object(s.ws, action);
    match action.kind {
        ActionKind::Forget => {
            s.write(&is_it, |st| {
                st.remove_object(&is_it);
            })
            .await
        }
        ActionKind::Move => {
            s.write(&is_it, |st| {
                if let Some(i) = st.position(&is_it) {
                    let mut r = st.resources.remove(i);
                    r.address = action.address.clone();
                    r.updated_at = now();
                    st.put_object(r, &is_it);
                }
            })
            .await
        }
        ActionKind::Adopt => {
            let actual = action.actual.clone().unwrap_or_default();
            let record = created_record(action, schema, &action.desired, &actual);
            s.write(&is_it, |st| st.put_object(record, &is_it)).await
        }
        ActionKind::Delete => delete(s, action, handle, retries).await,
        ActionKind::Replace => {
            delete(s, action, handle, retries).await?;
            create(s, action, schema, handle, retries).await
        }
        ActionKind::Create => create(s, action, schema, handle, retries).await,
    }
}

fn on_wait<'a>(
    s: &'a Shared<'_>,
    action: &'a Action,
) -> impl Fn(Duration, &str) + Send + Sync + 'a {
    move |delay, why| s.progress.waiting(&action.address, delay, why)
}

async fn delete(
    s: &Shared<'_>,
    action: &Action,
    handle: &ProviderHandle,
    retries: &mut Retries,
) -> Result<(), String> {
    let is_it = same_object(s.ws, action);
    let Some(record) = s.record(action) else {
        // Never delete what the state does not hold (a saved plan is checked for this too).
        return Err(format!(
            "delete {}: the state holds no record for it; nothing was deleted",
            action.id
        ));
    };
    s.write(&is_it, |st| {
        if let Some(i) = st.position(&is_it) {
            st.resources[i].status = Status::PendingDelete;
            st.resources[i].updated_at = now();
        }
    })
    .await?;
    let wait = on_wait(s, action);
    let (result, r) = ops::delete(handle, &s.ws.retry, &action.type_name, &record.id, &wait).await;
    add(retries, r);
    match result {
        Ok(()) => {
            s.write(&is_it, |st| {
                st.remove_object(&is_it);
            })
            .await
        }
        Err(e) if is_transient(&e) => Err(format!(
            "delete {}: {e} (left pending; the next plan reads it)",
            action.id
        )),
        Err(e) => {
            s.write(&is_it, |st| {
                if let Some(i) = st.position(&is_it) {
                    st.resources[i].status = record.status;
                }
            })
            .await?;
            Err(format!("delete {}: {e}", action.id))
        }
    }
}

async fn create(
    s: &Shared<'_>,
    action: &Action,
    schema: &ResourceSchema,
    handle: &ProviderHandle,
    retries: &mut Retries,
) -> Result<(), String> {
    let is_it = same_object(s.ws, action);
    // Sensitive attributes never travel in plan files: take them from the roster file.
    let mut desired: Map<String, Value> = action.desired.clone();
    let declared = s.ws.file.resource(&action.address);
    if let Some(d) = declared {
        for (k, v) in &d.attributes {
            desired.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    // An earlier create of this object may have reached the vendor: then it is Roster's own.
    let ours_before = s
        .record(action)
        .is_some_and(|r| r.status == Status::PendingCreate);
    let pending = Record {
        address: action.address.clone(),
        type_name: action.type_name.clone(),
        provider: action.provider.clone(),
        id: action.id.clone(),
        status: Status::PendingCreate,
        desired: without_sensitive(schema, &desired),
        attributes: Map::new(),
        updated_at: now(),
        read_at: None,
    };
    s.write(&is_it, |st| st.put_object(pending, &is_it)).await?;
    let wait = on_wait(s, action);
    let handle_retry = &s.ws.retry;
    let (outcome, r) = ops::create(
        handle,
        handle_retry,
        &action.type_name,
        &action.id,
        &desired,
        ours_before,
        &wait,
    )
    .await;
    add(retries, r);
    let adopt = declared.is_some_and(|d| d.adopt);
    let attributes = match outcome {
        Created::Made(attributes) => attributes,
        Created::Exists { message: m, ours } if ours || adopt => {
            // Roster's own create landed earlier (or the user asked to adopt): take it.
            match read(s.ws, &action.provider, &action.type_name, &action.id, &wait).await {
                Ok(Some(found)) => found,
                Ok(None) => return Err(format!("create {}: the vendor says it exists ({m}) but a read finds nothing; left pending, the next plan reads it again", action.id)),
                Err(e) => return Err(format!("create {}: the vendor says it exists ({m}) and it could not be read ({e:#}); left pending, the next plan reads it again", action.id)),
            }
        }
        Created::Exists { message: m, .. } => {
            // Someone else's object: Roster did not make it and does not take it silently.
            s.write(&is_it, |st| {
                st.remove_object(&is_it);
            })
            .await?;
            return Err(format!("{m}; it is not managed by Roster: import it with `roster import {} {}`, or set `adopt = true` on {}", action.type_name, action.id, action.address));
        }
        Created::Failed {
            error: e,
            may_have_landed: true,
        } => {
            return Err(format!(
                "create {}: {e} (left pending; the next plan reads it)",
                action.id
            ));
        }
        Created::Failed {
            error: e,
            may_have_landed: false,
        } => {
            // The vendor refused it outright on the first try: nothing was made.
            s.write(&is_it, |st| {
                st.remove_object(&is_it);
            })
            .await?;
            return Err(format!("create {}: {e}", action.id));
        }
    };
    let record = created_record(action, schema, &desired, &attributes);
    s.write(&is_it, |st| st.put_object(record, &is_it)).await
}
