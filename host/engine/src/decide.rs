//! The plan's decision, as pure functions: (state records, declared resources, schemas, what
//! was read) → actions. No I/O: [`crate::plan::plan`] does the reading and calls these.
//!
//! Identity is the id: an object is (provider instance, resource type, id), compared the way
//! the vendor compares ids (the id attribute's `case-insensitive` flag). The address
//! (`TYPE.NAME`) is a label: a record whose id is declared under another address has *moved*.
//!
//! The rules, one object at a time (`r` the state record, `d` the declared resource, the read):
//!
//! | record            | read      | declared | action                                              |
//! |-------------------|-----------|----------|-----------------------------------------------------|
//! | none              | —         | yes      | create (`adopt = true`: read first; found → adopt)  |
//! | created           | found     | yes      | nothing, or replace on a change, or move on a rename |
//! | created           | found     | no       | delete                                              |
//! | created           | absent    | yes      | create again (drift: deleted outside Roster)        |
//! | created           | absent    | no       | forget                                              |
//! | created           | not read  | any      | as if found with the recorded attributes (a read policy skipped it) |
//! | pending create    | found     | yes      | adopt with the attributes Roster sent (replace only if the file changed since) |
//! | pending create    | found     | no       | delete (Roster made it; it is no longer declared)   |
//! | pending create    | absent    | yes      | create (a successful read said it is absent)        |
//! | pending delete    | found     | yes      | adopt back (replace if it still differs)            |
//! | pending delete    | found     | no       | delete again                                        |
//! | pending delete    | absent    | yes      | create (the interrupted delete happened)            |
//! | pending *         | absent    | no       | forget                                              |
//! | any               | failed    | any      | the plan fails, naming every object it could not read |
//!
//! `--destroy` plans as if nothing were declared; `--refresh-only` keeps only the state's side
//! of these (see below).
//!
//! Which objects are read is `must_read`'s rule ([`ReadPolicy`]): a created record that is not
//! read stands in for the read (as recorded: no drift, no refresh).
//!
//! `--refresh-only` keeps only state changes (refreshed attributes, pending records resolved,
//! forgets of undeclared objects that are gone) and never drops a declared record.

use crate::rosterfile::ResourceDecl;
use crate::state::{Record, Status};
use roster_contract::{AttributeSchema, Presence, ResourceSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

// The planning vocabulary: what a plan says and how it is made.

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
    pub(crate) provider: String,
    /// The object's id.
    pub id: String,
    /// Desired attributes (sensitive ones left out; apply takes them from the roster file).
    pub desired: Map<String, Value>,
    /// The object as read (for adopt).
    pub(crate) actual: Option<Map<String, Value>>,
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
    address: String,
    /// Provider instance.
    pub(crate) provider: String,
    /// Resource type.
    pub(crate) type_name: String,
    /// The object's id.
    pub(crate) id: String,
    /// The attributes to record (non-sensitive; only what is filtered like state).
    pub(crate) attributes: Map<String, Value>,
}

/// Which managed objects a plan reads at the vendor before deciding (`must_read`).
/// Pending records and adopt candidates are read under every policy: their existence is unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ReadPolicy {
    /// Every managed object (the default): notices every change made outside Roster.
    #[default]
    All,
    /// Only records last read before `before`, and those the roster file changes or no longer
    /// declares (`--refresh-stale AGE`): changes made outside Roster to the others go unnoticed
    /// until they are read again.
    Stale {
        /// The cutoff: records read at or after it are trusted.
        before: time::OffsetDateTime,
    },
    /// None: decide from the state alone (`--refresh=false`). A user deleted or changed outside
    /// Roster goes unnoticed.
    None,
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
    /// Which managed objects to read.
    pub reads: ReadPolicy,
}

/// An object's identity: provider instance, resource type, and the id as the vendor compares it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    /// Provider instance name.
    pub(crate) provider: String,
    /// Resource type.
    pub(crate) type_name: String,
    /// The id, lower-cased when the vendor compares ids ignoring case.
    id: String,
}

/// The resource schemas of every started provider, by (provider instance, type).
#[derive(Clone, Debug, Default)]
pub(crate) struct Schemas(BTreeMap<(String, String), ResourceSchema>);

impl Schemas {
    /// Adds the schemas of one provider instance.
    pub(crate) fn insert(&mut self, provider: &str, schema: ResourceSchema) {
        self.0
            .insert((provider.to_string(), schema.type_name.clone()), schema);
    }

    /// The schema of `type_name` under `provider`.
    pub(crate) fn get(&self, provider: &str, type_name: &str) -> Option<&ResourceSchema> {
        self.0.get(&(provider.to_string(), type_name.to_string()))
    }

    /// The identity of object `id` of `type_name` under `provider` (`None`: no such type).
    pub(crate) fn key(&self, provider: &str, type_name: &str, id: &str) -> Option<Key> {
        let schema = self.get(provider, type_name)?;
        Some(Key {
            provider: provider.into(),
            type_name: type_name.into(),
            id: normalize_id(schema, id),
        })
    }

    /// The identity of the object a state record holds.
    pub(crate) fn record_key(&self, r: &Record) -> Option<Key> {
        self.key(&r.provider, &r.type_name, &r.id)
    }
}

/// The id as the vendor compares it.
fn normalize_id(schema: &ResourceSchema, id: &str) -> String {
    if attribute(schema, &schema.id_attribute).is_some_and(|a| a.case_insensitive) {
        id.to_ascii_lowercase()
    } else {
        id.to_string()
    }
}

fn attribute<'a>(schema: &'a ResourceSchema, name: &str) -> Option<&'a AttributeSchema> {
    schema.attributes.iter().find(|a| a.name == name)
}

/// Whether two values of an attribute are the same to the vendor (ignoring ASCII case where
/// the schema says the vendor does).
pub fn same_value(attribute: Option<&AttributeSchema>, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if attribute.is_some_and(|s| s.case_insensitive) => {
            x.eq_ignore_ascii_case(y)
        }
        _ => a == b,
    }
}

/// Attributes that are never written to state or plan files.
pub(crate) fn without_sensitive(
    schema: &ResourceSchema,
    attrs: &Map<String, Value>,
) -> Map<String, Value> {
    attrs
        .iter()
        .filter(|(k, _)| !attribute(schema, k).is_some_and(|a| a.sensitive))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What a read of one object gave.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Read {
    /// The object exists; its attributes as the vendor reports them.
    Found(Map<String, Value>),
    /// The vendor said it does not exist.
    Absent,
    /// The read failed (after retries): the object's existence is unknown.
    Failed(String),
}

/// One object plan looks at: its record, its declaration, or both.
#[derive(Clone, Debug)]
pub(crate) struct Entry<'a> {
    /// Its identity.
    pub(crate) key: Key,
    /// The id as Roster sends it to the vendor (the record's, else the declared one).
    pub(crate) id: String,
    /// The state record, if Roster manages it.
    pub(crate) record: Option<&'a Record>,
    /// The declaration, if the roster file declares it (never in a destroy plan).
    declared: Option<&'a ResourceDecl>,
    /// Whether plan reads it ([`must_read`]).
    read: bool,
}

impl Entry<'_> {
    /// Whether plan must read the object (see [`must_read`]).
    pub(crate) fn needs_read(&self) -> bool {
        self.read
    }

    fn address(&self) -> &str {
        self.declared
            .map(|d| d.address.as_str())
            .or(self.record.map(|r| r.address.as_str()))
            .unwrap_or_default()
    }
}

/// Whether a plan reads an object, under `policy`:
///
/// - a pending record, always: whether its operation happened is unknown, and never guessed;
/// - an adopt candidate (declared, `adopt = true`, no record), always: adopt or create depends on it;
/// - a declared object with no record, never: it is created (the vendor refuses a duplicate,
///   and apply says how to import it);
/// - a created record: [`ReadPolicy::All`] always; [`ReadPolicy::None`] never (the record
///   stands in for the read); [`ReadPolicy::Stale`] when it was last read before the cutoff
///   (or never), or when the roster file changes it or no longer declares it.
fn must_read(
    record: Option<&Record>,
    declared: Option<&ResourceDecl>,
    schema: &ResourceSchema,
    policy: &ReadPolicy,
) -> bool {
    match (record, declared) {
        (None, d) => d.is_some_and(|d| d.adopt),
        (Some(r), _) if r.status != Status::Created => true,
        (Some(r), d) => match policy {
            ReadPolicy::All => true,
            ReadPolicy::None => false,
            ReadPolicy::Stale { before } => {
                let read_at = r.read_at.as_deref().and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                });
                let stale = read_at.is_none_or(|t| t < *before);
                let changed = d.is_none_or(|d| {
                    !diff(schema, &d.attributes, &r.desired, &r.attributes).is_empty()
                });
                stale || changed
            }
        },
    }
}

/// The objects a plan looks at, in a stable order, each once. Refuses two declarations or two
/// records with one identity, a declaration without its id, and records whose provider or
/// type the roster file no longer declares.
pub(crate) fn entries<'a>(
    records: &'a [Record],
    declared: &'a [ResourceDecl],
    schemas: &Schemas,
    options: &PlanOptions,
) -> Result<Vec<Entry<'a>>, String> {
    let targeted =
        |address: &str| options.targets.is_empty() || options.targets.iter().any(|t| t == address);
    let mut by_key: BTreeMap<Key, Entry<'a>> = BTreeMap::new();
    let mut problems = Vec::new();
    for r in records {
        let Some(key) = schemas.record_key(r) else {
            problems.push(format!(
                "{}: the state manages {} {} with provider `{}`, which the roster file does not declare (or which has no type `{}`); declare the provider again to manage or delete it, or `roster state rm {}` to let it go",
                r.address, r.type_name, r.id, r.provider, r.type_name, r.address
            ));
            continue;
        };
        if let Some(other) = by_key.get(&key) {
            problems.push(format!("the state holds two records for {} {}: {} and {}; remove one with `roster state rm`", r.type_name, r.id, other.address(), r.address));
            continue;
        }
        by_key.insert(
            key.clone(),
            Entry {
                key,
                id: r.id.clone(),
                record: Some(r),
                declared: None,
                read: false,
            },
        );
    }
    if !options.destroy {
        let mut declared_at: HashMap<Key, &str> = HashMap::new();
        for d in declared {
            let Some(schema) = schemas.get(&d.provider, &d.type_name) else {
                problems.push(format!(
                    "{}: provider `{}` has no resource type `{}`",
                    d.address, d.provider, d.type_name
                ));
                continue;
            };
            let Some(id) = d
                .attributes
                .get(&schema.id_attribute)
                .and_then(Value::as_str)
            else {
                problems.push(format!(
                    "{}: `{}` (the id) is not set",
                    d.address, schema.id_attribute
                ));
                continue;
            };
            let key = Key {
                provider: d.provider.clone(),
                type_name: d.type_name.clone(),
                id: normalize_id(schema, id),
            };
            if let Some(first) = declared_at.insert(key.clone(), &d.address) {
                problems.push(format!(
                    "{} and {} declare the same {} {id}; an object can be declared once",
                    first, d.address, d.type_name
                ));
                continue;
            }
            by_key
                .entry(key.clone())
                .or_insert_with(|| Entry {
                    key,
                    id: id.to_string(),
                    record: None,
                    declared: None,
                    read: false,
                })
                .declared = Some(d);
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    for t in &options.targets {
        let known = by_key.values().any(|e| {
            e.record.is_some_and(|r| &r.address == t) || e.declared.is_some_and(|d| &d.address == t)
        });
        if !known {
            return Err(format!(
                "--target {t}: no such resource in the roster file or the state"
            ));
        }
    }
    let mut out: Vec<Entry<'a>> = by_key
        .into_values()
        .filter(|e| {
            e.record.is_some_and(|r| targeted(&r.address))
                || e.declared.is_some_and(|d| targeted(&d.address))
        })
        .collect();
    for e in &mut out {
        let schema = schemas
            .get(&e.key.provider, &e.key.type_name)
            .expect("every entry's type was checked above");
        e.read = must_read(e.record, e.declared, schema, &options.reads);
    }
    Ok(out)
}

/// What the decision adds to a plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Decision {
    /// Actions, sorted by address.
    pub(crate) actions: Vec<Action>,
    /// Changes made outside Roster.
    pub(crate) drift: Vec<Drift>,
    /// Records whose attributes the vendor now reports differently (state-only updates).
    pub(crate) refreshed: Vec<Refresh>,
}

/// Decides the actions for `entries` given what was read (by key; entries that need no read
/// have none). Fails, naming each, when a read failed: a plan never guesses.
pub(crate) fn decide(
    entries: &[Entry],
    reads: &HashMap<Key, Read>,
    schemas: &Schemas,
    options: &PlanOptions,
) -> Result<Decision, String> {
    let failed: Vec<String> = entries
        .iter()
        .filter_map(|e| match reads.get(&e.key) {
            Some(Read::Failed(why)) => Some(format!(
                "{} ({} {}): {why}",
                e.address(),
                e.key.type_name,
                e.id
            )),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "could not read {} object(s), so nothing is planned for them or the rest:\n  {}",
            failed.len(),
            failed.join("\n  ")
        ));
    }
    let mut out = Decision::default();
    for e in entries {
        let schema = schemas
            .get(&e.key.provider, &e.key.type_name)
            .ok_or_else(|| format!("no schema for {}", e.key.type_name))?;
        if e.needs_read() && !reads.contains_key(&e.key) {
            return Err(format!("{}: not read", e.address()));
        }
        // A created record not read stands in for the read: as recorded, so no drift and no refresh.
        let stand_in = match e.record {
            Some(r) if !e.needs_read() && r.status == Status::Created => {
                Some(Read::Found(r.attributes.clone()))
            }
            _ => None,
        };
        decide_one(
            e,
            reads.get(&e.key).or(stand_in.as_ref()),
            schema,
            options,
            &mut out,
        );
    }
    out.actions.sort_by(|a, b| {
        (a.address.as_str(), a.kind as u8).cmp(&(b.address.as_str(), b.kind as u8))
    });
    Ok(out)
}

fn decide_one(
    e: &Entry,
    read: Option<&Read>,
    schema: &ResourceSchema,
    options: &PlanOptions,
    out: &mut Decision,
) {
    let action = |kind: ActionKind,
                  address: &str,
                  desired: &Map<String, Value>,
                  actual: Option<Map<String, Value>>,
                  reason: Option<String>,
                  changes: Vec<Change>| Action {
        address: address.to_string(),
        kind,
        type_name: e.key.type_name.clone(),
        provider: e.key.provider.clone(),
        id: e.id.clone(),
        desired: without_sensitive(schema, desired),
        // A plan file never carries what the vendor reports unfiltered.
        actual: actual.map(|a| without_sensitive(schema, &a)),
        reason,
        changes,
        warning: if kind == ActionKind::Replace {
            schema.replace_warning.clone()
        } else {
            None
        },
        moved_from: None,
    };
    let moved = |mut a: Action, r: &Record| {
        if r.address != a.address {
            a.moved_from = Some(r.address.clone());
        }
        a
    };
    let declared = if options.destroy { None } else { e.declared };
    let empty = Map::new();
    match (e.record, read) {
        (None, read) => {
            let Some(d) = declared else { return };
            if options.refresh_only {
                return;
            }
            match read {
                Some(Read::Found(actual)) => out.actions.push(action(
                    ActionKind::Adopt,
                    &d.address,
                    &d.attributes,
                    Some(actual.clone()),
                    Some("adopt = true: it exists already".into()),
                    vec![],
                )),
                _ => out.actions.push(action(
                    ActionKind::Create,
                    &d.address,
                    &d.attributes,
                    None,
                    None,
                    vec![],
                )),
            }
        }
        (Some(r), Some(Read::Found(actual))) => {
            // What is known of the object: what Roster recorded (for a pending create, what it
            // sent), with what the vendor reports on top; attributes it cannot read keep theirs.
            let mut known = if r.status == Status::PendingCreate {
                r.desired.clone()
            } else {
                Map::new()
            };
            known.extend(r.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
            known.extend(without_sensitive(schema, actual));
            if r.status == Status::Created {
                out.drift.extend(drift_notes(&r.address, schema, r, actual));
                if known != r.attributes {
                    out.refreshed.push(Refresh {
                        address: r.address.clone(),
                        provider: r.provider.clone(),
                        type_name: r.type_name.clone(),
                        id: r.id.clone(),
                        attributes: known.clone(),
                    });
                }
            }
            let resolve_why = match r.status {
                Status::Created => None,
                Status::PendingCreate => Some("an interrupted create happened"),
                Status::PendingDelete => Some("an interrupted delete did not happen"),
            };
            match declared {
                None if options.refresh_only => {
                    if let Some(why) = resolve_why {
                        out.actions.push(action(
                            ActionKind::Adopt,
                            &r.address,
                            &r.desired,
                            Some(known),
                            Some(why.into()),
                            vec![],
                        ));
                    }
                }
                None => {
                    let why = if options.destroy {
                        None
                    } else {
                        Some("not in the roster file".to_string())
                    };
                    out.actions.push(action(
                        ActionKind::Delete,
                        &r.address,
                        &empty,
                        Some(actual.clone()),
                        why,
                        vec![],
                    ));
                }
                Some(_) if options.refresh_only => {
                    if let Some(why) = resolve_why {
                        // Resolved where it is recorded; a rename waits for a normal plan.
                        out.actions.push(action(
                            ActionKind::Adopt,
                            &r.address,
                            &r.desired,
                            Some(known),
                            Some(why.into()),
                            vec![],
                        ));
                    }
                }
                Some(d) => {
                    let changes = diff(schema, &d.attributes, &r.desired, &known);
                    if !changes.is_empty() {
                        let reason = if changes.iter().any(|c| !c.forces_replacement) {
                            Some("the API has no update".to_string())
                        } else {
                            None
                        };
                        out.actions.push(moved(
                            action(
                                ActionKind::Replace,
                                &d.address,
                                &d.attributes,
                                Some(known),
                                reason,
                                changes,
                            ),
                            r,
                        ));
                    } else if let Some(why) = resolve_why {
                        out.actions.push(moved(
                            action(
                                ActionKind::Adopt,
                                &d.address,
                                &d.attributes,
                                Some(known),
                                Some(why.into()),
                                vec![],
                            ),
                            r,
                        ));
                    } else if r.address != d.address {
                        out.actions.push(moved(
                            action(ActionKind::Move, &d.address, &empty, None, None, vec![]),
                            r,
                        ));
                    }
                }
            }
        }
        (Some(r), Some(Read::Absent)) => {
            if r.status == Status::Created {
                out.drift.push(Drift {
                    address: r.address.clone(),
                    note: "deleted outside Roster".into(),
                });
            }
            match declared {
                // A declared record is never dropped by a refresh: the next plan creates it.
                Some(_) if options.refresh_only => {}
                Some(d) => {
                    let why = match r.status {
                        Status::Created => "deleted outside Roster",
                        Status::PendingCreate => "an interrupted create did not happen",
                        Status::PendingDelete => "an interrupted delete happened",
                    };
                    out.actions.push(moved(
                        action(
                            ActionKind::Create,
                            &d.address,
                            &d.attributes,
                            None,
                            Some(why.into()),
                            vec![],
                        ),
                        r,
                    ));
                }
                None => out.actions.push(action(
                    ActionKind::Forget,
                    &r.address,
                    &empty,
                    None,
                    Some("already gone at the vendor".into()),
                    vec![],
                )),
            }
        }
        // Failed reads were refused above; a record is always read.
        (Some(_), _) => {}
    }
}

/// The differences between what is wanted (`desired`) and what is known (`known`): every
/// attribute the user sets now or set before (`before`), compared the vendor's way.
pub fn diff(
    schema: &ResourceSchema,
    desired: &Map<String, Value>,
    before: &Map<String, Value>,
    known: &Map<String, Value>,
) -> Vec<Change> {
    let mut keys: BTreeSet<&String> = desired.keys().collect();
    keys.extend(before.keys());
    let mut changes = Vec::new();
    for k in keys {
        let Some(a) = attribute(schema, k) else {
            continue;
        };
        if a.create_only || a.presence == Presence::Computed {
            continue;
        }
        let want = desired.get(k).cloned().unwrap_or(Value::Null);
        if want.is_null() && a.presence == Presence::OptionalComputed {
            continue;
        }
        let have = known.get(k).cloned().unwrap_or(Value::Null);
        if !same_value(Some(a), &want, &have) {
            changes.push(Change {
                attribute: k.clone(),
                from: have,
                to: want,
                forces_replacement: a.replace_on_change,
            });
        }
    }
    changes
}

/// Changes made outside Roster: recorded vs now reported (differences the vendor does not
/// count, such as the case of a GUID, are none).
fn drift_notes(
    address: &str,
    schema: &ResourceSchema,
    record: &Record,
    actual: &Map<String, Value>,
) -> Vec<Drift> {
    let mut out = Vec::new();
    for (k, now) in actual {
        let Some(before) = record.attributes.get(k) else {
            continue;
        };
        let a = attribute(schema, k);
        if !same_value(a, before, now) && !a.is_some_and(|a| a.sensitive) {
            out.push(Drift {
                address: address.into(),
                note: format!("{k} changed outside Roster: {before} -> {now}"),
            });
        }
    }
    out
}

/// Why a saved plan cannot be applied to `records`: each action must find the state's record
/// for its id where the plan saw it — a delete, replace, forget or move names a record Roster
/// holds, at the action's address (or the one it moves from); a create or adopt names an id
/// Roster holds nowhere else. Empty when it fits.
pub(crate) fn plan_mismatches(
    actions: &[Action],
    records: &[Record],
    schemas: &Schemas,
) -> Vec<String> {
    let mut held: HashMap<Key, &Record> = HashMap::new();
    for r in records {
        if let Some(k) = schemas.record_key(r) {
            held.insert(k, r);
        }
    }
    let mut out = Vec::new();
    for a in actions {
        let Some(key) = schemas.key(&a.provider, &a.type_name, &a.id) else {
            out.push(format!(
                "{}: provider `{}` has no resource type `{}`",
                a.address, a.provider, a.type_name
            ));
            continue;
        };
        let record = held.get(&key);
        let where_planned = |r: &Record| {
            r.address == a.address || a.moved_from.as_deref() == Some(r.address.as_str())
        };
        let problem = match (a.kind, record) {
            (
                ActionKind::Delete | ActionKind::Replace | ActionKind::Forget | ActionKind::Move,
                None,
            ) => Some("the state holds no record with that id".to_string()),
            (_, Some(r)) if !where_planned(r) => {
                Some(format!("the state manages it as {}", r.address))
            }
            _ => None,
        };
        if let Some(what) = problem {
            out.push(format!(
                "{} ({} of {} {}): {what}",
                a.address,
                a.kind.verb(),
                a.type_name,
                a.id
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_contract::ValueType;
    use serde_json::json;

    fn attr(name: &str, presence: Presence, replace: bool, ci: bool) -> AttributeSchema {
        AttributeSchema {
            name: name.into(),
            description: String::new(),
            value_type: ValueType::String,
            presence,
            sensitive: false,
            replace_on_change: replace,
            create_only: false,
            case_insensitive: ci,
        }
    }

    /// A Nimbus-like type (GUID id and OU, compared ignoring case; replacing loses data) and a
    /// Symbee-like type (case-sensitive id; names the vendor cannot read back).
    fn schemas() -> Schemas {
        let mut s = Schemas::default();
        s.insert(
            "n",
            ResourceSchema {
                type_name: "n_user".into(),
                description: String::new(),
                id_attribute: "uid".into(),
                attributes: vec![
                    attr("uid", Presence::Required, true, true),
                    attr("ou", Presence::OptionalComputed, true, true),
                    attr("made", Presence::Computed, false, false),
                ],
                replace_warning: Some("loses its configuration".into()),
            },
        );
        s.insert(
            "s",
            ResourceSchema {
                type_name: "s_user".into(),
                description: String::new(),
                id_attribute: "login".into(),
                attributes: vec![
                    attr("login", Presence::Required, true, false),
                    attr("name", Presence::Required, true, false),
                ],
                replace_warning: None,
            },
        );
        s
    }

    fn obj(v: serde_json::Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn decl(address: &str, attributes: serde_json::Value) -> ResourceDecl {
        let type_name = address.split('.').next().unwrap().to_string();
        ResourceDecl {
            address: address.into(),
            provider: type_name[..1].into(),
            type_name,
            adopt: false,
            attributes: obj(attributes),
            origin: None,
        }
    }

    fn record(
        address: &str,
        id: &str,
        status: Status,
        desired: serde_json::Value,
        attributes: serde_json::Value,
    ) -> Record {
        let type_name = address.split('.').next().unwrap().to_string();
        Record {
            address: address.into(),
            provider: type_name[..1].into(),
            type_name,
            id: id.into(),
            status,
            desired: obj(desired),
            attributes: obj(attributes),
            updated_at: String::new(),
            read_at: None,
        }
    }

    /// Runs the whole decision with `read` answering every read.
    fn run(
        records: &[Record],
        declared: &[ResourceDecl],
        options: &PlanOptions,
        read: impl Fn(&str) -> Read,
    ) -> Result<Decision, String> {
        let s = schemas();
        let entries = entries(records, declared, &s, options)?;
        let reads = entries
            .iter()
            .filter(|e| e.needs_read())
            .map(|e| (e.key.clone(), read(&e.id)))
            .collect();
        decide(&entries, &reads, &s, options)
    }

    fn kinds(d: &Decision) -> Vec<(String, ActionKind)> {
        d.actions
            .iter()
            .map(|a| (a.address.clone(), a.kind))
            .collect()
    }

    const ID: &str = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901";
    const OU: &str = "6a1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10";

    fn grace() -> Record {
        record(
            "n_user.grace",
            ID,
            Status::Created,
            json!({"uid": ID, "ou": OU}),
            json!({"uid": ID, "ou": OU}),
        )
    }

    fn found() -> Read {
        Read::Found(obj(json!({"uid": ID, "ou": OU, "made": "x"})))
    }

    #[test]
    fn what_each_read_policy_reads() {
        let now = time::OffsetDateTime::now_utc();
        let hour_ago = (now - std::time::Duration::from_secs(3600))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let fresh = Record {
            read_at: Some(
                now.format(&time::format_description::well_known::Rfc3339)
                    .unwrap(),
            ),
            ..grace()
        };
        let old = Record {
            read_at: Some(hour_ago),
            ..grace()
        };
        let pending = Record {
            status: Status::PendingCreate,
            ..fresh.clone()
        };
        let same = decl("n_user.grace", json!({"uid": ID, "ou": OU}));
        let moved_ou = decl(
            "n_user.grace",
            json!({"uid": ID, "ou": "7b1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10"}),
        );
        let adopt = ResourceDecl {
            adopt: true,
            ..same.clone()
        };
        let s = schemas();
        let schema = s.get("n", "n_user").unwrap();
        let stale = ReadPolicy::Stale {
            before: now - std::time::Duration::from_secs(60),
        };
        // (record, declared, All, None, Stale 1 min)
        let table: [(Option<&Record>, Option<&ResourceDecl>, [bool; 3]); 9] = [
            (Some(&fresh), Some(&same), [true, false, false]),
            (Some(&old), Some(&same), [true, false, true]),
            (Some(&grace()), Some(&same), [true, false, true]),
            (Some(&fresh), Some(&moved_ou), [true, false, true]),
            (Some(&fresh), None, [true, false, true]),
            (Some(&pending), Some(&same), [true, true, true]),
            (Some(&pending), None, [true, true, true]),
            (None, Some(&same), [false, false, false]),
            (None, Some(&adopt), [true, true, true]),
        ];
        for (i, (record, declared, want)) in table.iter().enumerate() {
            let got = [ReadPolicy::All, ReadPolicy::None, stale.clone()]
                .map(|p| must_read(*record, *declared, schema, &p));
            assert_eq!(&got, want, "row {i}");
        }
        // A record not read stands in for its read: a change is planned from it, nothing else.
        let d = run(
            std::slice::from_ref(&fresh),
            &[moved_ou],
            &PlanOptions {
                reads: ReadPolicy::None,
                ..PlanOptions::default()
            },
            |_| panic!("nothing is read"),
        )
        .unwrap();
        assert_eq!(
            kinds(&d),
            vec![("n_user.grace".into(), ActionKind::Replace)]
        );
        let d = run(
            &[fresh],
            &[same],
            &PlanOptions {
                reads: ReadPolicy::None,
                ..PlanOptions::default()
            },
            |_| panic!("nothing is read"),
        )
        .unwrap();
        assert!(
            d.actions.is_empty() && d.drift.is_empty() && d.refreshed.is_empty(),
            "{d:?}"
        );
    }

    #[test]
    fn a_rename_with_the_same_id_is_a_move() {
        let d = run(
            &[grace()],
            &[decl("n_user.grace_hopper", json!({"uid": ID, "ou": OU}))],
            &PlanOptions::default(),
            |_| found(),
        )
        .unwrap();
        assert_eq!(
            kinds(&d),
            vec![("n_user.grace_hopper".into(), ActionKind::Move)]
        );
        assert_eq!(d.actions[0].moved_from.as_deref(), Some("n_user.grace"));
    }

    #[test]
    fn a_rename_with_a_change_is_one_replacement_that_moves() {
        let other = "7b1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10";
        let d = run(
            &[grace()],
            &[decl("n_user.grace_hopper", json!({"uid": ID, "ou": other}))],
            &PlanOptions::default(),
            |_| found(),
        )
        .unwrap();
        assert_eq!(
            kinds(&d),
            vec![("n_user.grace_hopper".into(), ActionKind::Replace)]
        );
        assert_eq!(d.actions[0].moved_from.as_deref(), Some("n_user.grace"));
        assert_eq!(
            d.actions[0].warning.as_deref(),
            Some("loses its configuration")
        );
    }

    #[test]
    fn two_addresses_with_one_id_are_refused() {
        let e = run(
            &[],
            &[
                decl("n_user.a", json!({"uid": ID})),
                decl("n_user.b", json!({"uid": ID.to_uppercase()})),
            ],
            &PlanOptions::default(),
            |_| Read::Absent,
        )
        .unwrap_err();
        assert!(
            e.contains("n_user.a and n_user.b declare the same n_user"),
            "{e}"
        );
        // Case-sensitive ids are different objects.
        let d = run(
            &[],
            &[
                decl("s_user.a", json!({"login": "Ann", "name": "A"})),
                decl("s_user.b", json!({"login": "ann", "name": "A"})),
            ],
            &PlanOptions::default(),
            |_| Read::Absent,
        )
        .unwrap();
        assert_eq!(d.actions.len(), 2);
    }

    #[test]
    fn upper_case_guids_never_plan_a_change() {
        let d = run(
            &[grace()],
            &[decl(
                "n_user.grace",
                json!({"uid": ID.to_uppercase(), "ou": OU.to_uppercase()}),
            )],
            &PlanOptions::default(),
            |_| found(),
        )
        .unwrap();
        assert_eq!(d.actions, vec![], "{d:?}");
        assert_eq!(d.drift, vec![]);
        // Nor does an upper-case record against a lower-case answer.
        let upper = record(
            "n_user.grace",
            &ID.to_uppercase(),
            Status::Created,
            json!({"uid": ID.to_uppercase(), "ou": OU.to_uppercase()}),
            json!({"uid": ID.to_uppercase(), "ou": OU.to_uppercase()}),
        );
        let d = run(
            &[upper],
            &[decl("n_user.grace", json!({"uid": ID, "ou": OU}))],
            &PlanOptions::default(),
            |_| found(),
        )
        .unwrap();
        assert_eq!(d.actions, vec![]);
        assert_eq!(d.drift, vec![]);
    }

    #[test]
    fn a_failed_read_fails_the_plan_and_never_plans_a_create() {
        let pending = record(
            "n_user.grace",
            ID,
            Status::PendingCreate,
            json!({"uid": ID, "ou": OU}),
            json!({}),
        );
        let e = run(
            &[pending],
            &[decl("n_user.grace", json!({"uid": ID, "ou": OU}))],
            &PlanOptions::default(),
            |_| Read::Failed("timeout".into()),
        )
        .unwrap_err();
        assert!(
            e.contains("could not read 1 object")
                && e.contains("n_user.grace")
                && e.contains("timeout"),
            "{e}"
        );
    }

    #[test]
    fn a_pending_create_that_happened_is_adopted_with_what_was_sent() {
        // Symbee cannot read names back: the record's sent attributes fill them in.
        let pending = record(
            "s_user.mike",
            "mmars",
            Status::PendingCreate,
            json!({"login": "mmars", "name": "Mike"}),
            json!({}),
        );
        let d = run(
            &[pending],
            &[decl(
                "s_user.mike",
                json!({"login": "mmars", "name": "Mike"}),
            )],
            &PlanOptions::default(),
            |_| Read::Found(obj(json!({"login": "mmars"}))),
        )
        .unwrap();
        assert_eq!(kinds(&d), vec![("s_user.mike".into(), ActionKind::Adopt)]);
        assert_eq!(d.actions[0].actual.as_ref().unwrap()["name"], "Mike");
        // A file changed since the interrupted create is a real difference.
        let pending = record(
            "s_user.mike",
            "mmars",
            Status::PendingCreate,
            json!({"login": "mmars", "name": "Mike"}),
            json!({}),
        );
        let d = run(
            &[pending],
            &[decl(
                "s_user.mike",
                json!({"login": "mmars", "name": "Michael"}),
            )],
            &PlanOptions::default(),
            |_| Read::Found(obj(json!({"login": "mmars"}))),
        )
        .unwrap();
        assert_eq!(kinds(&d), vec![("s_user.mike".into(), ActionKind::Replace)]);
    }

    #[test]
    fn pending_records_resolve_by_what_was_read() {
        let declared = [decl("n_user.grace", json!({"uid": ID, "ou": OU}))];
        let pc = record(
            "n_user.grace",
            ID,
            Status::PendingCreate,
            json!({"uid": ID, "ou": OU}),
            json!({}),
        );
        let pd = record(
            "n_user.grace",
            ID,
            Status::PendingDelete,
            json!({"uid": ID, "ou": OU}),
            json!({"uid": ID, "ou": OU}),
        );
        let o = PlanOptions::default();
        assert_eq!(
            kinds(&run(std::slice::from_ref(&pc), &declared, &o, |_| Read::Absent).unwrap()),
            vec![("n_user.grace".into(), ActionKind::Create)]
        );
        assert_eq!(
            kinds(&run(std::slice::from_ref(&pc), &[], &o, |_| found()).unwrap()),
            vec![("n_user.grace".into(), ActionKind::Delete)],
            "Roster made it and it is no longer declared"
        );
        assert_eq!(
            kinds(&run(std::slice::from_ref(&pc), &[], &o, |_| Read::Absent).unwrap()),
            vec![("n_user.grace".into(), ActionKind::Forget)]
        );
        assert_eq!(
            kinds(&run(std::slice::from_ref(&pd), &declared, &o, |_| found()).unwrap()),
            vec![("n_user.grace".into(), ActionKind::Adopt)]
        );
        assert_eq!(
            kinds(&run(std::slice::from_ref(&pd), &declared, &o, |_| Read::Absent).unwrap()),
            vec![("n_user.grace".into(), ActionKind::Create)]
        );
        assert_eq!(
            kinds(&run(std::slice::from_ref(&pd), &[], &o, |_| Read::Absent).unwrap()),
            vec![("n_user.grace".into(), ActionKind::Forget)]
        );
    }

    #[test]
    fn refresh_only_never_drops_a_declared_record() {
        let o = PlanOptions {
            refresh_only: true,
            ..PlanOptions::default()
        };
        let d = run(
            &[grace()],
            &[decl("n_user.grace", json!({"uid": ID, "ou": OU}))],
            &o,
            |_| Read::Absent,
        )
        .unwrap();
        assert_eq!(d.actions, vec![], "kept: the next plan creates it");
        assert_eq!(d.drift[0].note, "deleted outside Roster");
        let d = run(&[grace()], &[], &o, |_| Read::Absent).unwrap();
        assert_eq!(
            kinds(&d),
            vec![("n_user.grace".into(), ActionKind::Forget)],
            "undeclared and gone: forgotten, and shown"
        );
        let d = run(&[grace()], &[], &o, |_| found()).unwrap();
        assert_eq!(d.actions, vec![], "refresh-only deletes nothing");
    }

    #[test]
    fn drift_is_recreated_or_deleted_as_declared() {
        let o = PlanOptions::default();
        let d = run(
            &[grace()],
            &[decl("n_user.grace", json!({"uid": ID, "ou": OU}))],
            &o,
            |_| Read::Absent,
        )
        .unwrap();
        assert_eq!(kinds(&d), vec![("n_user.grace".into(), ActionKind::Create)]);
        assert_eq!(
            d.actions[0].reason.as_deref(),
            Some("deleted outside Roster")
        );
        let d = run(&[grace()], &[], &o, |_| found()).unwrap();
        assert_eq!(kinds(&d), vec![("n_user.grace".into(), ActionKind::Delete)]);
        let d = run(
            &[grace()],
            &[decl(
                "n_user.x",
                json!({"uid": "11111111-1111-4111-8111-111111111111"}),
            )],
            &PlanOptions { destroy: true, ..o },
            |_| found(),
        )
        .unwrap();
        assert_eq!(
            kinds(&d),
            vec![("n_user.grace".into(), ActionKind::Delete)],
            "destroy deletes what is managed and creates nothing"
        );
    }

    #[test]
    fn an_id_changed_in_place_deletes_the_old_object_and_creates_the_new() {
        let new = "11111111-1111-4111-8111-111111111111";
        let d = run(
            &[grace()],
            &[decl("n_user.grace", json!({"uid": new, "ou": OU}))],
            &PlanOptions::default(),
            |_| found(),
        )
        .unwrap();
        let mut k = kinds(&d);
        k.sort_by_key(|(_, kind)| *kind as u8);
        assert_eq!(
            k,
            vec![
                ("n_user.grace".into(), ActionKind::Create),
                ("n_user.grace".into(), ActionKind::Delete)
            ]
        );
        let delete = d
            .actions
            .iter()
            .find(|a| a.kind == ActionKind::Delete)
            .unwrap();
        assert_eq!(delete.id, ID, "the delete names the old id");
    }

    #[test]
    fn records_of_an_undeclared_provider_stop_the_plan() {
        let mut r = grace();
        r.provider = "gone".into();
        let e = run(&[r], &[], &PlanOptions::default(), |_| found()).unwrap_err();
        assert!(
            e.contains("provider `gone`") && e.contains("roster state rm n_user.grace"),
            "{e}"
        );
    }

    #[test]
    fn targets_pick_objects_by_either_address() {
        let o = PlanOptions {
            targets: vec!["n_user.grace_hopper".into()],
            ..PlanOptions::default()
        };
        let d = run(
            &[grace()],
            &[decl("n_user.grace_hopper", json!({"uid": ID, "ou": OU}))],
            &o,
            |_| found(),
        )
        .unwrap();
        assert_eq!(d.actions.len(), 1);
        let o = PlanOptions {
            targets: vec!["n_user.nobody".into()],
            ..PlanOptions::default()
        };
        assert!(run(&[grace()], &[], &o, |_| found())
            .unwrap_err()
            .contains("--target n_user.nobody"));
    }

    #[test]
    fn a_saved_plan_must_match_the_state() {
        let s = schemas();
        let declared = [decl("n_user.grace", json!({"uid": ID, "ou": OU}))];
        let records = [grace()];
        let entries = entries(&records, &[], &s, &PlanOptions::default()).unwrap();
        let reads = entries.iter().map(|e| (e.key.clone(), found())).collect();
        let delete = decide(&entries, &reads, &s, &PlanOptions::default())
            .unwrap()
            .actions;
        assert_eq!(
            plan_mismatches(&delete, &[grace()], &s),
            Vec::<String>::new()
        );
        // Regression (issue 11): a delete for an id with no record in the state.
        let problems = plan_mismatches(&delete, &[], &s);
        assert!(
            problems[0].contains("delete of n_user") && problems[0].contains("no record"),
            "{problems:?}"
        );
        let entries = super::entries(&[], &declared, &s, &PlanOptions::default()).unwrap();
        let create = decide(&entries, &HashMap::new(), &s, &PlanOptions::default())
            .unwrap()
            .actions;
        assert_eq!(
            plan_mismatches(&create, &[grace()], &s),
            Vec::<String>::new(),
            "a create of a recorded object deleted outside"
        );
        let mut elsewhere = grace();
        elsewhere.address = "n_user.other".into();
        assert!(
            plan_mismatches(&create, &[elsewhere], &s)[0].contains("manages it as n_user.other")
        );
    }
}
