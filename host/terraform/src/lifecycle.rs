//! Terraform's resource lifecycle over a Roster component, as pure functions: what a plan
//! proposes, what a create, a read and an import leave in state. No I/O: [`crate::server`]
//! calls the component and these.
//!
//! The component has no update verb (`read`, `create`, `delete` only), so the rules are the
//! engine's ([`roster_engine::decide::diff`], compared the vendor's way):
//!
//! | what changed in the configuration                          | plan                               |
//! |------------------------------------------------------------|------------------------------------|
//! | nothing the vendor sees (same value, or only its case where the vendor ignores case) | update recorded in state only |
//! | a create-only attribute                                    | update recorded in state only      |
//! | an attribute the vendor cannot read back, unknown since an import | update recorded in state only (the configuration says what it is) |
//! | an attribute unset that an import recorded                 | update recorded in state only      |
//! | any other attribute (set, changed or unset)                | replace (RequiresReplace on it)    |
//!
//! A read keeps what the vendor cannot report (create-only and unreported attributes), keeps the
//! configuration's spelling where the vendor's differs only in case, and never starts managing
//! an optional attribute the configuration leaves unset. Private state (opaque to Terraform)
//! remembers which attributes an import took from the vendor rather than from configuration.

use crate::schema;
use crate::value::Value;
use roster_engine::decide;
use roster_runtime::types::{AttributeSchema, Presence, ResourceSchema, ValueType};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// What Terraform keeps for the host beside a resource's state (`private`): JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Private {
    /// Attributes whose value an import took from the vendor (or could not: null), not from
    /// configuration.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub imported: BTreeSet<String>,
}

impl Private {
    /// From Terraform's bytes (empty or unreadable: nothing).
    pub fn from_bytes(bytes: &[u8]) -> Private {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// To Terraform's bytes (empty when there is nothing to keep).
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.imported.is_empty() {
            Vec::new()
        } else {
            serde_json::to_vec(self).expect("a set of strings serializes")
        }
    }
}

/// A planned change.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// The planned new state (null: delete).
    pub state: Value,
    /// Attributes whose change replaces the object.
    pub requires_replace: Vec<String>,
    /// Private state to carry to apply.
    pub private: Private,
}

fn writes_only(a: &AttributeSchema) -> bool {
    a.sensitive && a.presence != Presence::Computed
}

/// A known, non-null attribute value as the component's JSON (objects travel as JSON text).
fn to_component(a: &AttributeSchema, v: &Value) -> Option<Json> {
    let json = v.to_json()?;
    if json.is_null() {
        return None;
    }
    if a.value_type == ValueType::Object {
        if let Json::String(text) = &json {
            return serde_json::from_str(text).ok();
        }
    }
    Some(json)
}

/// The component's JSON for an attribute as a Terraform value (objects become JSON text; a
/// value of the wrong shape is null rather than a broken state).
pub fn from_component(a: &AttributeSchema, json: Option<&Json>) -> Value {
    match json {
        None | Some(Json::Null) => Value::Null,
        Some(j) if a.value_type == ValueType::Object => Value::String(j.to_string()),
        Some(j) => Value::from_json(j, &schema::ty(a.value_type)).unwrap_or(Value::Null),
    }
}

/// The attributes to send to `create` (or to compare): every known, non-null attribute the
/// user sets.
pub fn desired(schema: &ResourceSchema, state: &Value) -> Map<String, Json> {
    schema
        .attributes
        .iter()
        .filter(|a| a.presence != Presence::Computed)
        .filter_map(|a| Some((a.name.clone(), to_component(a, state.get(&a.name))?)))
        .collect()
}

/// The object's id in `state`, if known.
pub fn id_of<'a>(schema: &ResourceSchema, state: &'a Value) -> Option<&'a str> {
    state.get(&schema.id_attribute).as_str()
}

/// Plans one resource: `prior` (null: none yet), `proposed` (Terraform's merge of prior and
/// configuration; null: destroy), `config`.
pub fn plan(
    schema: &ResourceSchema,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    private: &Private,
) -> Planned {
    if proposed.is_null() {
        return Planned {
            state: Value::Null,
            requires_replace: vec![],
            private: Private::default(),
        };
    }
    if prior.is_null() {
        return Planned {
            state: fresh(schema, proposed, config),
            requires_replace: vec![],
            private: Private::default(),
        };
    }
    let mut state: BTreeMap<String, Value> = proposed.as_map().cloned().unwrap_or_default();
    // What the vendor sees: desired (configured now) against what Roster knew before.
    let want: Map<String, Json> = schema
        .attributes
        .iter()
        .filter(|a| a.presence != Presence::Computed && !writes_only(a))
        .filter_map(|a| match config.get(&a.name) {
            Value::Unknown => Some((a.name.clone(), Json::String("\u{0}unknown".into()))),
            v => Some((a.name.clone(), to_component(a, v)?)),
        })
        .collect();
    let known: Map<String, Json> = schema
        .attributes
        .iter()
        .filter_map(|a| Some((a.name.clone(), to_component(a, prior.get(&a.name))?)))
        .collect();
    let before: Map<String, Json> = known
        .iter()
        .filter(|(k, _)| !private.imported.contains(*k))
        .filter(|(k, _)| {
            schema
                .attributes
                .iter()
                .any(|a| &a.name == *k && a.presence != Presence::Computed && !writes_only(a))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut requires_replace = Vec::new();
    let mut still_imported = private.imported.clone();
    for change in decide::diff(schema, &want, &before, &known) {
        let adopted_from_configuration =
            private.imported.contains(&change.attribute) && change.from.is_null();
        if adopted_from_configuration {
            still_imported.remove(&change.attribute);
        } else {
            requires_replace.push(change.attribute);
        }
    }
    for a in &schema.attributes {
        let configured = !config.get(&a.name).is_null();
        let value = if writes_only(a) {
            Value::Null
        } else if !requires_replace.is_empty()
            && (a.presence == Presence::Computed
                || (a.presence == Presence::OptionalComputed && !configured))
        {
            Value::Unknown
        } else if a.presence == Presence::Computed
            || (a.presence == Presence::OptionalComputed && !configured)
        {
            prior.get(&a.name).clone()
        } else {
            if configured {
                still_imported.remove(&a.name);
            }
            proposed.get(&a.name).clone()
        };
        state.insert(a.name.clone(), value);
    }
    if !requires_replace.is_empty() {
        still_imported.clear();
    }
    Planned {
        state: Value::Map(state),
        requires_replace,
        private: Private {
            imported: still_imported,
        },
    }
}

/// The planned state of a new object: what the configuration sets, and unknown for what the
/// vendor will decide.
fn fresh(schema: &ResourceSchema, proposed: &Value, config: &Value) -> Value {
    let mut state = proposed.as_map().cloned().unwrap_or_default();
    for a in &schema.attributes {
        let v = if writes_only(a) {
            Value::Null
        } else if a.presence == Presence::Computed
            || (a.presence == Presence::OptionalComputed && config.get(&a.name).is_null())
        {
            Value::Unknown
        } else {
            proposed.get(&a.name).clone()
        };
        state.insert(a.name.clone(), v);
    }
    Value::Map(state)
}

/// The state after a create: the planned values the user set (as spelled in configuration),
/// and for what was unknown the vendor's answer (null where it reports nothing).
pub fn created(schema: &ResourceSchema, planned: &Value, answer: &Map<String, Json>) -> Value {
    let mut state = BTreeMap::new();
    for a in &schema.attributes {
        let p = planned.get(&a.name);
        let v = if writes_only(a) {
            Value::Null
        } else if matches!(p, Value::Unknown) || a.presence == Presence::Computed {
            from_component(a, answer.get(&a.name))
        } else {
            p.clone()
        };
        state.insert(a.name.clone(), v);
    }
    Value::Map(state)
}

/// The state after a read (`None` from a read that found nothing: the object is gone).
pub fn refreshed(
    schema: &ResourceSchema,
    prior: &Value,
    read: Option<&Map<String, Json>>,
) -> Value {
    let Some(read) = read else { return Value::Null };
    let mut state = BTreeMap::new();
    for a in &schema.attributes {
        let before = prior.get(&a.name);
        let reported = read.get(&a.name).filter(|v| !v.is_null());
        let v = match reported {
            _ if writes_only(a) => Value::Null,
            // Never read back: kept as recorded.
            _ if a.create_only => before.clone(),
            None => before.clone(),
            // An optional attribute the user leaves unset is not Roster's to manage (an import
            // records what the vendor reports before this read, so it is not null then).
            Some(_) if a.presence == Presence::Optional && before.is_null() => Value::Null,
            Some(now) => {
                let now_value = from_component(a, Some(now));
                match to_component(a, before) {
                    Some(b) if decide::same_value(Some(a), &b, now) => before.clone(),
                    _ => now_value,
                }
            }
        };
        state.insert(a.name.clone(), v);
    }
    Value::Map(state)
}

/// The state and private state of an imported object: what the vendor reports, the id as
/// given where the vendor does not report it; every attribute a user sets is marked as
/// imported until configuration confirms it.
pub fn imported(schema: &ResourceSchema, id: &str, read: &Map<String, Json>) -> (Value, Private) {
    let mut state = BTreeMap::new();
    let mut private = Private::default();
    for a in &schema.attributes {
        let mut v = if writes_only(a) {
            Value::Null
        } else {
            from_component(a, read.get(&a.name))
        };
        if a.name == schema.id_attribute {
            if v.is_null() {
                v = Value::String(id.to_string());
            }
        } else if a.presence != Presence::Computed && !writes_only(a) {
            private.imported.insert(a.name.clone());
        }
        state.insert(a.name.clone(), v);
    }
    (Value::Map(state), private)
}

/// Where an existing object differs from what is declared, for adopting it: only attributes
/// the vendor reports count (it cannot contradict what it does not report), create-only ones
/// never do.
pub fn mismatches(
    schema: &ResourceSchema,
    desired: &Map<String, Json>,
    existing: &Map<String, Json>,
) -> Vec<String> {
    let reported: Map<String, Json> = desired
        .iter()
        .filter(|(k, _)| existing.get(*k).is_some_and(|v| !v.is_null()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    decide::diff(schema, &reported, &Map::new(), existing)
        .into_iter()
        .map(|c| {
            format!(
                "{} is {} at the vendor, {} in configuration",
                c.attribute, c.from, c.to
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn a(name: &str, presence: Presence) -> AttributeSchema {
        AttributeSchema {
            name: name.into(),
            description: String::new(),
            value_type: ValueType::String,
            presence,
            sensitive: false,
            replace_on_change: true,
            create_only: false,
            case_insensitive: false,
        }
    }

    /// Nimbus-like: a case-insensitive id, an optional-computed OU, a create-only template,
    /// computed licences; Symbee-like: names the vendor cannot read back, an optional flag.
    fn schema() -> ResourceSchema {
        ResourceSchema {
            type_name: "x_user".into(),
            description: String::new(),
            id_attribute: "id".into(),
            attributes: vec![
                AttributeSchema {
                    case_insensitive: true,
                    ..a("id", Presence::Required)
                },
                AttributeSchema {
                    case_insensitive: true,
                    ..a("ou", Presence::OptionalComputed)
                },
                AttributeSchema {
                    create_only: true,
                    replace_on_change: false,
                    ..a("copy_from", Presence::Optional)
                },
                a("first_name", Presence::Required),
                AttributeSchema {
                    value_type: ValueType::Boolean,
                    ..a("in_connect", Presence::Optional)
                },
                AttributeSchema {
                    value_type: ValueType::StringList,
                    replace_on_change: false,
                    ..a("licenses", Presence::Computed)
                },
                AttributeSchema {
                    sensitive: true,
                    ..a("pin", Presence::Optional)
                },
            ],
            replace_warning: None,
        }
    }

    fn v(j: Json) -> Value {
        let ty = schema::object_ty(&schema().attributes);
        Value::from_json(&j, &ty).unwrap()
    }

    fn with(mut base: Value, k: &str, x: Value) -> Value {
        if let Value::Map(m) = &mut base {
            m.insert(k.into(), x);
        }
        base
    }

    fn state() -> Value {
        v(
            json!({ "id": "AB-1", "ou": "ou-1", "copy_from": "tpl", "first_name": "Ada", "licenses": ["std"] }),
        )
    }

    #[test]
    fn a_create_plans_the_configuration_and_unknowns_for_the_vendor() {
        let config = v(json!({ "id": "AB-1", "first_name": "Ada", "pin": "1234" }));
        let p = plan(
            &schema(),
            &Value::Null,
            &config,
            &config,
            &Private::default(),
        );
        assert_eq!(p.state.get("id"), &Value::String("AB-1".into()));
        assert_eq!(
            p.state.get("ou"),
            &Value::Unknown,
            "optional-computed and unset: the vendor decides"
        );
        assert_eq!(p.state.get("licenses"), &Value::Unknown);
        assert_eq!(p.state.get("in_connect"), &Value::Null);
        assert_eq!(
            p.state.get("pin"),
            &Value::Null,
            "write-only: never in a plan or state"
        );
        assert!(p.requires_replace.is_empty());
        assert_eq!(
            desired(&schema(), &config),
            json!({ "id": "AB-1", "first_name": "Ada", "pin": "1234" })
                .as_object()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn the_create_result_keeps_the_users_spelling_and_takes_the_vendors_unknowns() {
        let config = v(json!({ "id": "AB-1", "first_name": "Ada" }));
        let planned = plan(
            &schema(),
            &Value::Null,
            &config,
            &config,
            &Private::default(),
        )
        .state;
        let answer =
            json!({ "id": "ab-1", "ou": "OU-9", "licenses": ["std"], "first_name": "Ada" });
        let s = created(&schema(), &planned, answer.as_object().unwrap());
        assert_eq!(
            s.get("id"),
            &Value::String("AB-1".into()),
            "the planned value, as Terraform demands"
        );
        assert_eq!(s.get("ou"), &Value::String("OU-9".into()));
        assert_eq!(
            s.get("licenses"),
            &Value::List(vec![Value::String("std".into())])
        );
        assert!(!s.has_unknown());
    }

    #[test]
    fn no_change_and_case_only_changes_replace_nothing() {
        let prior = state();
        let config = with(
            with(prior.clone(), "licenses", Value::Null),
            "ou",
            Value::String("OU-1".into()),
        );
        let p = plan(&schema(), &prior, &config, &config, &Private::default());
        assert!(p.requires_replace.is_empty(), "{:?}", p.requires_replace);
        assert_eq!(
            p.state.get("licenses"),
            prior.get("licenses"),
            "computed: kept"
        );
        assert_eq!(
            p.state.get("ou"),
            &Value::String("OU-1".into()),
            "the configuration's spelling"
        );
    }

    #[test]
    fn a_change_replaces_and_a_create_only_change_does_not() {
        let prior = state();
        let config = with(
            with(prior.clone(), "licenses", Value::Null),
            "first_name",
            Value::String("Grace".into()),
        );
        let p = plan(&schema(), &prior, &config, &config, &Private::default());
        assert_eq!(p.requires_replace, vec!["first_name"]);
        assert_eq!(
            p.state.get("licenses"),
            &Value::Unknown,
            "a new object: the vendor decides again"
        );
        let config = with(
            with(prior.clone(), "licenses", Value::Null),
            "copy_from",
            Value::String("other".into()),
        );
        let p = plan(&schema(), &prior, &config, &config, &Private::default());
        assert!(
            p.requires_replace.is_empty(),
            "create-only: recorded, never sent"
        );
        assert_eq!(p.state.get("copy_from"), &Value::String("other".into()));
        // Setting, or unsetting, an optional attribute Roster sent before is a change.
        let config = with(
            with(prior.clone(), "licenses", Value::Null),
            "in_connect",
            Value::Bool(true),
        );
        assert_eq!(
            plan(&schema(), &prior, &config, &config, &Private::default()).requires_replace,
            vec!["in_connect"]
        );
        let prior_set = with(prior.clone(), "in_connect", Value::Bool(true));
        let config = with(
            with(prior.clone(), "licenses", Value::Null),
            "in_connect",
            Value::Null,
        );
        assert_eq!(
            plan(&schema(), &prior_set, &config, &config, &Private::default()).requires_replace,
            vec!["in_connect"]
        );
        // An unknown in configuration may be a change.
        let config = with(
            with(prior.clone(), "licenses", Value::Null),
            "first_name",
            Value::Unknown,
        );
        assert_eq!(
            plan(&schema(), &prior, &config, &config, &Private::default()).requires_replace,
            vec!["first_name"]
        );
    }

    #[test]
    fn a_read_keeps_what_the_vendor_cannot_report_and_never_adopts_unset_optionals() {
        let prior = state();
        let read = json!({ "id": "ab-1", "ou": "OU-1", "licenses": ["std", "pro"], "in_connect": false, "copy_from": "ignored" });
        let s = refreshed(&schema(), &prior, read.as_object());
        assert_eq!(
            s.get("id"),
            &Value::String("AB-1".into()),
            "same ignoring case: the recorded spelling"
        );
        assert_eq!(s.get("ou"), &Value::String("ou-1".into()));
        assert_eq!(
            s.get("first_name"),
            &Value::String("Ada".into()),
            "not reported: kept"
        );
        assert_eq!(
            s.get("copy_from"),
            &Value::String("tpl".into()),
            "create-only: never read back"
        );
        assert_eq!(
            s.get("in_connect"),
            &Value::Null,
            "unset by the user: not managed"
        );
        assert_eq!(s.get("licenses").to_json().unwrap(), json!(["std", "pro"]));
        let read = json!({ "id": "ab-1", "ou": "ou-2" });
        assert_eq!(
            refreshed(&schema(), &prior, read.as_object()).get("ou"),
            &Value::String("ou-2".into()),
            "drift is seen"
        );
        assert_eq!(refreshed(&schema(), &prior, None), Value::Null, "gone");
    }

    #[test]
    fn an_import_plans_no_replacement_where_configuration_agrees_or_fills_gaps() {
        let read = json!({ "id": "ab-1", "ou": "ou-1", "in_connect": false, "licenses": ["std"] });
        let (s, private) = imported(&schema(), "AB-1", read.as_object().unwrap());
        assert_eq!(s.get("id"), &Value::String("ab-1".into()));
        assert_eq!(
            s.get("first_name"),
            &Value::Null,
            "the vendor cannot report it"
        );
        assert!(
            private.imported.contains("first_name")
                && private.imported.contains("in_connect")
                && !private.imported.contains("id")
        );
        assert_eq!(Private::from_bytes(&private.to_bytes()), private);
        // The configuration names the first name (unknowable) and leaves in_connect unset.
        let config = v(json!({ "id": "AB-1", "first_name": "Ada" }));
        let proposed = with(
            with(config.clone(), "ou", Value::String("ou-1".into())),
            "licenses",
            s.get("licenses").clone(),
        );
        let p = plan(&schema(), &s, &proposed, &config, &private);
        assert!(p.requires_replace.is_empty(), "{:?}", p.requires_replace);
        assert_eq!(p.state.get("first_name"), &Value::String("Ada".into()));
        assert!(
            !p.private.imported.contains("first_name"),
            "configuration confirmed it: {:?}",
            p.private
        );
        assert!(
            p.private.imported.contains("in_connect"),
            "still as the import found it"
        );
        // Applied (state only), the unset attribute stays unset through later reads (regression:
        // a read took the vendor's value back and the plan never settled).
        let after = refreshed(&schema(), &p.state, read.as_object());
        assert_eq!(after.get("in_connect"), &Value::Null);
        assert!(plan(
            &schema(),
            &after,
            &with(proposed.clone(), "in_connect", Value::Null),
            &config,
            &p.private
        )
        .requires_replace
        .is_empty());
        // A configuration that contradicts what the vendor reports still replaces.
        let config = v(json!({ "id": "AB-1", "first_name": "Ada", "in_connect": true }));
        assert_eq!(
            plan(&schema(), &s, &config, &config, &private).requires_replace,
            vec!["in_connect"]
        );
    }

    #[test]
    fn adopting_compares_only_what_the_vendor_reports() {
        let desired =
            json!({ "id": "AB-1", "first_name": "Ada", "copy_from": "tpl", "ou": "OU-1" });
        let existing = json!({ "id": "ab-1", "ou": "ou-1" });
        assert!(mismatches(
            &schema(),
            desired.as_object().unwrap(),
            existing.as_object().unwrap()
        )
        .is_empty());
        let existing = json!({ "id": "ab-1", "ou": "ou-2" });
        assert_eq!(
            mismatches(
                &schema(),
                desired.as_object().unwrap(),
                existing.as_object().unwrap()
            ),
            vec![r#"ou is "ou-2" at the vendor, "OU-1" in configuration"#]
        );
    }
}
