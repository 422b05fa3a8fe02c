//! Applying a plan: guards first (stale plan, mass delete, costly replacements), then every
//! action with per-provider pacing, bounded concurrency and retries, recording each operation
//! in state as pending before it starts and as done when it ends.

use crate::pacing::{is_transient, with_retry, Retries};
use crate::plan::{created_record, read, without_sensitive, Action, ActionKind, Plan};
use crate::state::{now, State, StateFile, Status};
use crate::workspace::Workspace;
use anyhow::{anyhow, bail, Result};
use futures::StreamExt;
use roster_runtime::types::ProviderError;
use roster_runtime::CallError;
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
    pub retries: Retries,
    /// How long it took.
    pub elapsed: Duration,
}

/// Told about progress (a progress bar on a terminal, plain lines otherwise).
pub trait Progress: Send + Sync {
    /// Before the first action.
    fn started(&self, total: usize);
    /// After each action.
    fn finished(&self, outcome: &Outcome);
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
    pub outcomes: Vec<Outcome>,
}

impl Summary {
    /// Successful actions of `kind`.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.outcomes.iter().filter(|o| o.kind == kind && o.result.is_ok()).count()
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

/// Objects a plan deletes (deletes and replacements).
pub fn deletions(plan: &Plan) -> usize {
    plan.actions.iter().filter(|a| matches!(a.kind, ActionKind::Delete | ActionKind::Replace)).count()
}

/// Refuses a plan that needs a permission the user did not give.
pub fn check_guards(ws: &Workspace, plan: &Plan, options: &ApplyOptions) -> Result<()> {
    let threshold = ws.file.settings.mass_delete_threshold;
    let n = deletions(plan);
    if n > threshold && !options.allow_mass_delete {
        bail!("this plan deletes {n} objects, more than the mass-delete threshold of {threshold}; review it and pass --allow-mass-delete (or raise settings.mass_delete_threshold)");
    }
    let costly: Vec<&str> = plan.actions.iter().filter(|a| a.kind == ActionKind::Replace && a.warning.is_some()).map(|a| a.address.as_str()).collect();
    if !costly.is_empty() && !options.allow_replace {
        bail!("this plan replaces {} ({}); a replacement there loses data (see the plan); pass --allow-replace to go ahead", costly.join(", "), plan.actions.iter().find_map(|a| a.warning.clone()).unwrap_or_default());
    }
    Ok(())
}

struct Shared<'a> {
    ws: &'a Workspace,
    /// The state as changed so far, and how many changes it holds.
    state: Mutex<(State, u64)>,
    /// Held by the one writer; holds how many changes are on disk.
    durable: tokio::sync::Mutex<u64>,
    file: &'a StateFile,
}

impl Shared<'_> {
    /// Changes the state and returns once the change is on disk. Concurrent changes are written
    /// together (group commit): a writer that finds its change already written returns at once.
    async fn write(&self, f: impl FnOnce(&mut State)) -> Result<(), String> {
        let mine = {
            let mut guard = self.state.lock().unwrap();
            f(&mut guard.0);
            guard.1 += 1;
            guard.1
        };
        let mut durable = self.durable.lock().await;
        if *durable >= mine {
            return Ok(());
        }
        // Render under the lock (no copy of the state), write outside it.
        let (text, changes) = {
            let mut guard = self.state.lock().unwrap();
            guard.0.serial += 1;
            (crate::state::render(&guard.0).map_err(|e| format!("{e:#}"))?, guard.1)
        };
        self.file.write_text(&text).map_err(|e| format!("{e:#}"))?;
        *durable = changes;
        Ok(())
    }
}

/// Applies `plan` to the state in `file` (whose lock the caller holds).
pub async fn apply(ws: &Workspace, plan: &Plan, file: &StateFile, options: &ApplyOptions, progress: &dyn Progress) -> Result<Summary> {
    let mut state = file.load()?;
    if !file.path().exists() && plan.serial == 0 {
        // No state yet: the plan's lineage becomes the new state's.
        state.lineage = plan.lineage.clone();
    }
    if state.lineage != plan.lineage || state.serial != plan.serial {
        bail!(
            "the plan is stale: it was made from state serial {} (lineage {}), and the state is now at serial {} (lineage {}); run `roster plan` again",
            plan.serial, plan.lineage, state.serial, state.lineage
        );
    }
    check_guards(ws, plan, options)?;
    if !plan.refreshed.is_empty() {
        for (address, attributes) in &plan.refreshed {
            if let Some(r) = state.get_mut(address) {
                r.attributes = attributes.clone();
                r.updated_at = now();
            }
        }
        file.save(&mut state)?;
    }
    let shared = Shared { ws, state: Mutex::new((state, 0)), durable: tokio::sync::Mutex::new(0), file };
    progress.started(plan.actions.len());
    let runs = plan.actions.iter().map(|action| {
        let shared = &shared;
        async move {
            let started = Instant::now();
            let mut retries = Retries::default();
            let result = run(shared, action, &mut retries).await;
            let outcome = Outcome { address: action.address.clone(), kind: action.kind, result, retries, elapsed: started.elapsed() };
            progress.finished(&outcome);
            outcome
        }
    });
    let outcomes = futures::stream::iter(runs).buffer_unordered(ws.file.settings.concurrency.max(1)).collect().await;
    Ok(Summary { outcomes })
}

fn add(total: &mut Retries, r: Retries) {
    total.rate_limited += r.rate_limited;
    total.unavailable += r.unavailable;
}

async fn run(s: &Shared<'_>, action: &Action, retries: &mut Retries) -> Result<(), String> {
    let schema = s.ws.schema(&action.provider, &action.type_name).ok_or_else(|| format!("provider `{}` has no resource type `{}`", action.provider, action.type_name))?;
    let handle = s.ws.provider(&action.provider).ok_or_else(|| format!("provider `{}` is not declared", action.provider))?;
    match action.kind {
        ActionKind::Forget => s.write(|st| {
            st.remove(&action.address);
        }).await,
        ActionKind::Adopt => {
            let actual = action.actual.clone().unwrap_or_default();
            let record = created_record(action, &schema, &action.desired, &actual);
            s.write(|st| st.put(record)).await
        }
        ActionKind::Delete => delete(s, action, handle, retries).await,
        ActionKind::Replace => {
            delete(s, action, handle, retries).await?;
            create(s, action, &schema, handle, retries).await
        }
        ActionKind::Create => create(s, action, &schema, handle, retries).await,
    }
}

async fn delete(s: &Shared<'_>, action: &Action, handle: &crate::workspace::ProviderHandle, retries: &mut Retries) -> Result<(), String> {
    s.write(|st| {
        if let Some(r) = st.get_mut(&action.address) {
            r.status = Status::PendingDelete;
            r.updated_at = now();
        }
    }).await?;
    let (result, r) = with_retry(&handle.pacer, &s.ws.retry, || handle.provider.delete(&action.type_name, &action.id), || async { Ok(None) }).await;
    add(retries, r);
    match result {
        Ok(()) | Err(CallError::Provider(ProviderError::NotFound(_))) => s.write(|st| {
            st.remove(&action.address);
        }).await,
        Err(e) if is_transient(&e) => Err(format!("delete {}: {e} (left pending; the next plan reads it)", action.id)),
        Err(e) => {
            s.write(|st| {
                if let Some(r) = st.get_mut(&action.address) {
                    r.status = Status::Created;
                }
            }).await?;
            Err(format!("delete {}: {e}", action.id))
        }
    }
}

async fn create(s: &Shared<'_>, action: &Action, schema: &roster_runtime::types::ResourceSchema, handle: &crate::workspace::ProviderHandle, retries: &mut Retries) -> Result<(), String> {
    // Sensitive attributes never travel in plan files: take them from the roster file.
    let mut desired: Map<String, Value> = action.desired.clone();
    let declared = s.ws.file.resource(&action.address);
    if let Some(d) = declared {
        for (k, v) in &d.attributes {
            desired.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let pending = crate::state::Record {
        address: action.address.clone(),
        type_name: action.type_name.clone(),
        provider: action.provider.clone(),
        id: action.id.clone(),
        status: Status::PendingCreate,
        desired: without_sensitive(schema, &desired),
        attributes: Map::new(),
        updated_at: now(),
    };
    s.write(|st| st.put(pending)).await?;
    let text = Value::Object(desired.clone()).to_string();
    let read_first = || async {
        // The create may have reached the vendor: never send it again without looking.
        match read(s.ws, &action.provider, &action.type_name, &action.id).await {
            Ok(Some(found)) => Ok(Some(Value::Object(found).to_string())),
            Ok(None) => Ok(None),
            Err(e) => Err(CallError::Provider(ProviderError::Unavailable(format!("{e:#}")))),
        }
    };
    let (result, r) = with_retry(&handle.pacer, &s.ws.retry, || handle.provider.create(&action.type_name, &text), read_first).await;
    add(retries, r);
    let adopt = declared.is_some_and(|d| d.adopt);
    let created = match result {
        Ok(text) => text,
        Err(CallError::Provider(ProviderError::AlreadyExists(_))) if adopt => match read(s.ws, &action.provider, &action.type_name, &action.id).await {
            Ok(Some(found)) => Value::Object(found).to_string(),
            _ => return Err(format!("{} exists at the vendor but cannot be read", action.id)),
        },
        Err(CallError::Provider(ProviderError::AlreadyExists(m))) => {
            s.write(|st| {
                st.remove(&action.address);
            }).await?;
            return Err(format!(
                "{m}; it is not managed by Roster: import it with `roster import {} {}`, or set `adopt = true` on {}",
                action.type_name, action.id, action.address
            ));
        }
        Err(e) if is_transient(&e) => return Err(format!("create {}: {e} (left pending; the next plan reads it)", action.id)),
        Err(e) => {
            s.write(|st| {
                st.remove(&action.address);
            }).await?;
            return Err(format!("create {}: {e}", action.id));
        }
    };
    let attributes = match serde_json::from_str::<Value>(&created) {
        Ok(Value::Object(m)) => m,
        _ => return Err(anyhow!("provider `{}` answered a create with something that is not a JSON object", action.provider).to_string()),
    };
    let record = created_record(action, schema, &desired, &attributes);
    s.write(|st| st.put(record)).await
}
