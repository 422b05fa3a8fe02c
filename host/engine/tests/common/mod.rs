//! An in-memory vendor behind the engine's provider trait, with injectable faults and a "kill"
//! that freezes everything (vendor calls and state writes) at a chosen event, as a SIGKILL
//! would; and an in-memory state store that the kill freezes too.
//!
//! Two resource types model the two real vendors' shapes:
//! - `mem_user` (like Nimbus): id `uid` and `ou` compared ignoring case (the vendor answers in
//!   lower case), `ou` optional-computed and replace-on-change with a replace warning.
//! - `mem_agent` (like Symbee): case-sensitive id `login`, `name` required and replace-on-change,
//!   and `name` is never read back.
#![allow(dead_code)]

use roster_engine::provider::{Attributes, BoxFuture, Provider};
use roster_engine::store::{Disk, Part, StateFile};
use roster_runtime::types::{
    AttributeSchema, FieldError, Presence, ProviderError, ProviderMetadata, RateLimitedError,
    ResourceSchema, ValueType,
};
use roster_runtime::CallError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A fault applied to the next vendor call of a matching verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails as unavailable before anything happens.
    Unavailable,
    /// The vendor does the work, then the answer is lost (a timeout after commit).
    CommitThenTimeout,
    /// 429 with this Retry-After (ms); nothing happens.
    RateLimited(u64),
    /// A read fails as unavailable (reads only).
    ReadFails,
    /// Every read after the command's first create fails (the confirming read of a create whose
    /// answer was lost); stays until the command ends.
    ReadsFailAfterCreate,
}

/// A vendor object.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The id as created.
    pub id: String,
    /// What the vendor holds (all attributes, including those it never reports).
    pub attributes: Map<String, Value>,
    /// Made by Roster's create (not by an outside hand).
    pub by_roster: bool,
}

/// Something Roster did at the vendor.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A create was sent; `existed` when the vendor already held the id (and whose it was).
    Create {
        type_name: String,
        key: String,
        existed: Option<bool>,
        committed: bool,
    },
    /// A delete was carried out.
    Delete {
        type_name: String,
        key: String,
        by_roster: bool,
    },
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<(String, String), Object>,
    faults: VecDeque<(Option<&'static str>, Fault)>,
    events: Vec<Event>,
    /// Kill at this event count (calls and state writes); `after_commit` for a call.
    kill_at: Option<(u64, bool)>,
    counter: u64,
    killed: bool,
    reads_fail_after_create: bool,
    create_seen: bool,
}

/// The in-memory vendor.
#[derive(Clone, Default)]
pub struct Vendor {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<tokio::sync::Notify>,
}

/// Whether `type_name` compares ids ignoring case.
pub fn case_insensitive(type_name: &str) -> bool {
    type_name == "mem_user"
}

/// The key the vendor files an id under.
pub fn key(type_name: &str, id: &str) -> String {
    if case_insensitive(type_name) {
        id.to_ascii_lowercase()
    } else {
        id.to_string()
    }
}

/// What the vendor reports of an object: everything but the agent's name; the user's GUIDs
/// in lower case.
fn report(type_name: &str, o: &Object) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in &o.attributes {
        match (type_name, k.as_str()) {
            ("mem_agent", "name") => {}
            ("mem_user", _) => {
                out.insert(
                    k.clone(),
                    v.as_str()
                        .map(|s| Value::String(s.to_ascii_lowercase()))
                        .unwrap_or(v.clone()),
                );
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if type_name == "mem_user" {
        out.insert("made".into(), json!("yes"));
    }
    out
}

enum Step {
    Go,
    Frozen,
}

impl Vendor {
    /// Queues `fault` for the next call of `verb` ("read", "create", "delete"; `None`: any).
    pub fn fault(&self, verb: Option<&'static str>, fault: Fault) {
        let mut i = self.inner.lock().unwrap();
        if fault == Fault::ReadsFailAfterCreate {
            i.reads_fail_after_create = true;
        } else {
            i.faults.push_back((verb, fault));
        }
    }

    /// Drops queued faults and modes.
    pub fn clear_faults(&self) {
        let mut i = self.inner.lock().unwrap();
        i.faults.clear();
        i.reads_fail_after_create = false;
        i.create_seen = false;
    }

    /// Arms a kill at event `n` from now (each vendor call and each state write is one).
    pub fn kill_at(&self, n: u64, after_commit: bool) {
        let mut i = self.inner.lock().unwrap();
        i.kill_at = Some((i.counter + n, after_commit));
    }

    /// Disarms the kill and thaws everything (a new process).
    pub fn revive(&self) {
        let mut i = self.inner.lock().unwrap();
        i.kill_at = None;
        i.killed = false;
    }

    /// Whether the kill happened.
    pub fn killed(&self) -> bool {
        self.inner.lock().unwrap().killed
    }

    /// Resolves once the kill happens.
    pub async fn wait_killed(&self) {
        self.notify.notified().await
    }

    /// Takes the events so far.
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.inner.lock().unwrap().events)
    }

    /// The objects, by (type, key).
    pub fn objects(&self) -> BTreeMap<(String, String), Object> {
        self.inner.lock().unwrap().objects.clone()
    }

    /// An outside hand creates an object (no event).
    pub fn outside_create(
        &self,
        type_name: &str,
        id: &str,
        attributes: Map<String, Value>,
    ) -> bool {
        let mut i = self.inner.lock().unwrap();
        let k = (type_name.to_string(), key(type_name, id));
        if i.objects.contains_key(&k) {
            return false;
        }
        i.objects.insert(
            k,
            Object {
                id: id.into(),
                attributes,
                by_roster: false,
            },
        );
        true
    }

    /// An outside hand deletes an object.
    pub fn outside_delete(&self, type_name: &str, k: &str) {
        self.inner
            .lock()
            .unwrap()
            .objects
            .remove(&(type_name.to_string(), k.to_string()));
    }

    /// An outside hand changes an attribute.
    pub fn outside_modify(&self, type_name: &str, k: &str, attribute: &str, value: Value) {
        if let Some(o) = self
            .inner
            .lock()
            .unwrap()
            .objects
            .get_mut(&(type_name.to_string(), k.to_string()))
        {
            o.attributes.insert(attribute.into(), value);
        }
    }

    /// Counts an event; at the armed one, freezes (before or after the work, as armed).
    fn tick(&self, is_call: bool) -> (Step, bool) {
        let mut i = self.inner.lock().unwrap();
        if i.killed {
            return (Step::Frozen, false);
        }
        i.counter += 1;
        match i.kill_at {
            Some((n, after)) if i.counter >= n => {
                i.killed = true;
                self.notify.notify_one();
                if is_call && after {
                    (Step::Go, true)
                } else {
                    (Step::Frozen, false)
                }
            }
            _ => (Step::Go, false),
        }
    }

    fn take_fault(&self, verb: &str) -> Option<Fault> {
        let mut i = self.inner.lock().unwrap();
        if verb == "create" {
            i.create_seen = true;
        }
        if verb == "read" && i.reads_fail_after_create && i.create_seen {
            return Some(Fault::ReadFails);
        }
        let at = i.faults.iter().position(|(v, f)| {
            v.is_none_or(|v| v == verb) && (*f != Fault::ReadFails || verb == "read")
        })?;
        i.faults.remove(at).map(|(_, f)| f)
    }

    async fn call<T>(
        &self,
        verb: &str,
        work: impl FnOnce(&mut Inner) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let (step, freeze_after) = self.tick(true);
        if let Step::Frozen = step {
            return std::future::pending().await;
        }
        let fault = self.take_fault(verb);
        let result = match fault {
            Some(Fault::Unavailable)
            | Some(Fault::ReadFails)
            | Some(Fault::ReadsFailAfterCreate) => Err(CallError::Provider(
                ProviderError::Unavailable("injected: unavailable".into()),
            )),
            Some(Fault::RateLimited(ms)) => Err(CallError::Provider(ProviderError::RateLimited(
                RateLimitedError {
                    retry_after_ms: Some(ms),
                    message: "injected: too many requests".into(),
                },
            ))),
            Some(Fault::CommitThenTimeout) => {
                let _ = work(&mut self.inner.lock().unwrap());
                Err(CallError::Provider(ProviderError::Unavailable(
                    "injected: timed out after the vendor committed".into(),
                )))
            }
            None => work(&mut self.inner.lock().unwrap()),
        };
        if freeze_after {
            return std::future::pending().await;
        }
        result
    }
}

fn attr(name: &str, presence: Presence, replace: bool, ci: bool) -> AttributeSchema {
    AttributeSchema {
        name: name.into(),
        description: name.into(),
        value_type: ValueType::String,
        presence,
        sensitive: false,
        replace_on_change: replace,
        create_only: false,
        case_insensitive: ci,
    }
}

/// The provider's metadata.
pub fn metadata() -> ProviderMetadata {
    ProviderMetadata {
        name: "mem".into(),
        version: "1".into(),
        description: "in-memory vendor".into(),
        config_schema: vec![],
        secrets: vec![],
        resources: vec![
            ResourceSchema {
                type_name: "mem_user".into(),
                description: "like a Nimbus user".into(),
                id_attribute: "uid".into(),
                attributes: vec![
                    attr("uid", Presence::Required, true, true),
                    attr("ou", Presence::OptionalComputed, true, true),
                    attr("made", Presence::Computed, false, false),
                ],
                replace_warning: Some("the user loses its configuration".into()),
            },
            ResourceSchema {
                type_name: "mem_agent".into(),
                description: "like a Symbee user".into(),
                id_attribute: "login".into(),
                attributes: vec![
                    attr("login", Presence::Required, true, false),
                    attr("name", Presence::Required, true, false),
                ],
                replace_warning: None,
            },
        ],
        data_sources: vec![],
        rate_limit: None,
    }
}

/// The vendor behind the engine's provider trait.
pub struct MemProvider {
    /// The vendor.
    pub vendor: Vendor,
    meta: ProviderMetadata,
}

impl MemProvider {
    /// A provider over `vendor`.
    pub fn new(vendor: Vendor) -> MemProvider {
        MemProvider {
            vendor,
            meta: metadata(),
        }
    }
}

fn id_attribute(type_name: &str) -> &'static str {
    if type_name == "mem_user" {
        "uid"
    } else {
        "login"
    }
}

impl Provider for MemProvider {
    fn metadata(&self) -> &ProviderMetadata {
        &self.meta
    }

    fn validate<'a>(
        &'a self,
        _: &'a str,
        _: &'a Attributes,
    ) -> BoxFuture<'a, Result<Vec<FieldError>, CallError>> {
        Box::pin(async { Ok(vec![]) })
    }

    fn read<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Attributes>, CallError>> {
        Box::pin(self.vendor.call("read", move |i| {
            Ok(i.objects
                .get(&(type_name.to_string(), key(type_name, id)))
                .map(|o| report(type_name, o)))
        }))
    }

    fn create<'a>(
        &'a self,
        type_name: &'a str,
        desired: &'a Attributes,
    ) -> BoxFuture<'a, Result<Attributes, CallError>> {
        Box::pin(self.vendor.call("create", move |i| {
            let id = desired
                .get(id_attribute(type_name))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let k = (type_name.to_string(), key(type_name, &id));
            if let Some(existing) = i.objects.get(&k) {
                let by_roster = existing.by_roster;
                i.events.push(Event::Create {
                    type_name: type_name.into(),
                    key: k.1.clone(),
                    existed: Some(by_roster),
                    committed: false,
                });
                return Err(CallError::Provider(ProviderError::AlreadyExists(format!(
                    "{id} exists already"
                ))));
            }
            let o = Object {
                id: id.clone(),
                attributes: desired.clone(),
                by_roster: true,
            };
            let out = report(type_name, &o);
            i.events.push(Event::Create {
                type_name: type_name.into(),
                key: k.1.clone(),
                existed: None,
                committed: true,
            });
            i.objects.insert(k, o);
            Ok(out)
        }))
    }

    fn delete<'a>(
        &'a self,
        type_name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), CallError>> {
        Box::pin(self.vendor.call("delete", move |i| {
            let k = (type_name.to_string(), key(type_name, id));
            match i.objects.remove(&k) {
                Some(o) => {
                    i.events.push(Event::Delete {
                        type_name: type_name.into(),
                        key: k.1,
                        by_roster: o.by_roster,
                    });
                    Ok(())
                }
                None => Err(CallError::Provider(ProviderError::NotFound(format!(
                    "{id} not found"
                )))),
            }
        }))
    }

    fn query<'a>(
        &'a self,
        _: &'a str,
        _: &'a Attributes,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async { Ok(json!({})) })
    }
}

/// The state's two files (snapshot and journal) in memory. Every write is an event of the
/// vendor's kill: at the armed one, an append is torn (a prefix of its bytes lands), a replace,
/// truncation or removal lands and the process dies right after it; after the kill nothing lands.
#[derive(Clone)]
pub struct MemDisk {
    files: Arc<Mutex<[Option<Vec<u8>>; 2]>>,
    vendor: Vendor,
    crashes: Arc<Mutex<DiskCrashes>>,
}

/// The crashes a [`MemDisk`] saw, for the model's coverage.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiskCrashes {
    /// Appends cut short: a torn journal line left behind.
    pub torn_appends: u64,
    /// Snapshots that landed while a journal existed, the process dying before removing it.
    pub between_snapshot_and_journal_removal: u64,
}

/// Commits compact once the journal holds this many bytes (small, so the model sees compactions
/// in the middle of an apply as well as at its end).
const COMPACT_AT: usize = 1500;

impl MemDisk {
    /// Empty files whose writes `vendor`'s kill cuts short.
    pub fn new(vendor: Vendor) -> MemDisk {
        MemDisk {
            files: Arc::new(Mutex::new([None, None])),
            vendor,
            crashes: Arc::default(),
        }
    }

    /// The crashes so far.
    pub fn crashes(&self) -> DiskCrashes {
        *self.crashes.lock().unwrap()
    }

    /// A process's state store on these files (a new one after each "restart").
    pub fn store(&self) -> StateFile {
        StateFile::on(self.clone(), "mem.state.json").compact_at(COMPACT_AT)
    }

    /// The journal's bytes (none: no journal).
    pub fn journal(&self) -> Option<Vec<u8>> {
        self.files.lock().unwrap()[1].clone()
    }

    fn slot(part: Part) -> usize {
        match part {
            Part::Snapshot => 0,
            Part::Journal => 1,
        }
    }

    /// Runs a write unless the kill stops it; at the kill, an append's `torn` prefix (if any)
    /// lands instead and the write fails.
    fn write(
        &self,
        part: Part,
        whole: impl FnOnce(&mut Option<Vec<u8>>),
        torn: Option<&[u8]>,
    ) -> std::io::Result<()> {
        let killed = || std::io::Error::other("killed");
        let mut files = self.files.lock().unwrap();
        let file = &mut files[Self::slot(part)];
        match self.vendor.tick(true) {
            (Step::Frozen, _) => Err(killed()),
            (Step::Go, false) => {
                whole(file);
                Ok(())
            }
            (Step::Go, true) => {
                let mut crashes = self.crashes.lock().unwrap();
                match torn {
                    Some(prefix) => {
                        file.get_or_insert_with(Vec::new).extend_from_slice(prefix);
                        crashes.torn_appends += 1;
                    }
                    None => {
                        whole(file);
                        if part == Part::Snapshot && files[1].is_some() {
                            crashes.between_snapshot_and_journal_removal += 1;
                        }
                    }
                }
                Err(killed())
            }
        }
    }
}

impl Disk for MemDisk {
    fn read(&self, part: Part) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.files.lock().unwrap()[Self::slot(part)].clone())
    }
    fn replace(&self, part: Part, bytes: &[u8]) -> std::io::Result<()> {
        self.write(part, |f| *f = Some(bytes.to_vec()), None)
    }
    fn append(&self, part: Part, bytes: &[u8]) -> std::io::Result<()> {
        self.write(
            part,
            |f| f.get_or_insert_with(Vec::new).extend_from_slice(bytes),
            Some(&bytes[..bytes.len() / 2]),
        )
    }
    fn truncate(&self, part: Part, len: u64) -> std::io::Result<()> {
        self.write(
            part,
            |f| f.get_or_insert_with(Vec::new).truncate(len as usize),
            None,
        )
    }
    fn remove(&self, part: Part) -> std::io::Result<()> {
        self.write(part, |f| *f = None, None)
    }
    fn exists(&self, part: Part) -> bool {
        self.files.lock().unwrap()[Self::slot(part)].is_some()
    }
    fn name(&self, part: Part) -> String {
        format!("mem:{part:?}")
    }
}
