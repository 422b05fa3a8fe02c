//! TOML to JSON: a parsed TOML document as a JSON value, recording the line of every dotted key
//! on the way.

use super::lines::{join, LineIndex};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// `t` (at dotted key `prefix`) as a JSON object; the line of each key goes into `lines`.
pub(super) fn table_to_json(
    t: &toml_edit::Table,
    prefix: &str,
    text: &LineIndex,
    lines: &mut HashMap<String, usize>,
) -> Value {
    let mut map = Map::new();
    for (k, item) in t.iter() {
        let path = join(prefix, k);
        let span = t.key(k).and_then(|key| key.span()).or_else(|| item.span());
        if let Some(s) = span {
            lines.insert(path.clone(), text.line(s.start));
        }
        map.insert(k.to_string(), item_to_json(item, &path, text, lines));
    }
    Value::Object(map)
}

/// One TOML item at `path` as JSON.
fn item_to_json(
    item: &toml_edit::Item,
    path: &str,
    text: &LineIndex,
    lines: &mut HashMap<String, usize>,
) -> Value {
    match item {
        toml_edit::Item::None => Value::Null,
        toml_edit::Item::Value(v) => value_to_json(v, path, text, lines),
        toml_edit::Item::Table(t) => table_to_json(t, path, text, lines),
        toml_edit::Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, t)| table_to_json(t, &format!("{path}[{i}]"), text, lines))
                .collect(),
        ),
    }
}

/// One TOML value at `path` as JSON (a datetime becomes its text; a float JSON cannot hold, null).
fn value_to_json(
    v: &toml_edit::Value,
    path: &str,
    text: &LineIndex,
    lines: &mut HashMap<String, usize>,
) -> Value {
    use toml_edit::Value as T;
    match v {
        T::String(s) => Value::String(s.value().clone()),
        T::Integer(i) => Value::from(*i.value()),
        T::Float(f) => serde_json::Number::from_f64(*f.value())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Datetime(d) => Value::String(d.value().to_string()),
        T::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| value_to_json(v, &format!("{path}[{i}]"), text, lines))
                .collect(),
        ),
        T::InlineTable(t) => {
            let mut map = Map::new();
            for (k, v) in t.iter() {
                let p = join(path, k);
                if let Some(s) = t.key(k).and_then(|key| key.span()).or_else(|| v.span()) {
                    lines.insert(p.clone(), text.line(s.start));
                }
                map.insert(k.to_string(), value_to_json(v, &p, text, lines));
            }
            Value::Object(map)
        }
    }
}
