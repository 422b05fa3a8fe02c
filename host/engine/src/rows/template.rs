//! Templates: how each row becomes a resource's attributes ([`expand`]), and the reverse, the
//! row for an existing object ([`row_for`]).

use super::csv::{trim_ascii, Row, RowError, Table};
use serde_json::{Map, Value};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// Where an attribute's value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// The same value on every row.
    Constant(Value),
    /// A column's value; an empty cell takes `default` (or leaves the attribute unset when there is
    /// no default). With `map`, the cell's value is looked up in it (exact match after trimming ASCII
    /// whitespace from the cell; a cell that is empty once trimmed counts as empty) and the mapped
    /// value is used; a value not in the map takes `default`, and without a default is an error.
    /// `default` is the attribute's value itself — it is not looked up in `map`.
    Column {
        /// The column's header name.
        column: String,
        /// The value for an empty cell (and, with `map`, for a value the map lacks).
        default: Option<String>,
        /// Cell value → attribute value, e.g. team name → the id of the user to copy from.
        map: Option<BTreeMap<String, String>>,
    },
}

/// How each row becomes a resource: the column whose value names it (the resource address is
/// TYPE.KEY), and each attribute's cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// The column whose value is the resource's name.
    pub key: String,
    /// Attribute name and where its value comes from, in order.
    pub attributes: Vec<(String, Cell)>,
}

/// One row made into a resource's attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Expanded {
    /// The key column's value (the resource's NAME).
    pub key: String,
    /// The line the row starts on.
    pub(crate) line: usize,
    /// Attribute values (strings from cells; constants as given).
    pub(crate) attributes: Map<String, Value>,
    /// Attribute name → the column it came from (absent for constants), for error locations. Every
    /// attribute the template takes from a column is listed, even when this row leaves it unset.
    pub(crate) columns: BTreeMap<String, String>,
}

/// Fills `template` for every row of `table`. Errors (all of them, located): a column the template
/// names that the header lacks (line 1, listing the header's columns); an empty key; a key that
/// cannot name a resource ([`crate::address::check_name`]: a control character, white space at
/// either end); a key used by two rows
/// (naming both lines); an unmapped value without default.
pub fn expand(template: &Template, table: &Table) -> Result<Vec<Expanded>, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(table.columns.len());
    for (i, c) in table.columns.iter().enumerate() {
        index.entry(c.as_str()).or_insert(i);
    }
    for column in columns_for(template) {
        if !index.contains_key(column.as_str()) {
            let message = format!("the template uses column `{column}`, which the header lacks (its columns: {}); add the column to the file or fix the template", table.columns.join(", "));
            errors.push(RowError::new(1, Some(column), message));
        }
    }
    let key_at = index.get(template.key.as_str()).copied();
    // Each attribute with its column's index (`None` for a constant or a missing column).
    let cells: Vec<(&str, &Cell, Option<usize>)> = template
        .attributes
        .iter()
        .map(|(name, cell)| {
            let at = match cell {
                Cell::Column { column, .. } => index.get(column.as_str()).copied(),
                Cell::Constant(_) => None,
            };
            (name.as_str(), cell, at)
        })
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(table.rows.len());
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let key = key_at.map(|at| cell_of(row, at));
        if let Some(key) = key {
            let column = || Some(template.key.clone());
            if key.is_empty() {
                errors.push(RowError::new(row.line, column(), format!("the key column `{}` is empty; every row needs a key, which names its resource", template.key)));
            } else if let Err(why) = crate::address::check_name(key) {
                errors.push(RowError::new(
                    row.line,
                    column(),
                    format!("the key cannot name a resource: {why}"),
                ));
            } else {
                match seen.entry(key) {
                    Entry::Occupied(first) => errors.push(RowError::new(
                        row.line,
                        column(),
                        format!(
                            "key `{key}` is used on lines {} and {}; each row needs its own key",
                            first.get(),
                            row.line
                        ),
                    )),
                    Entry::Vacant(slot) => {
                        slot.insert(row.line);
                    }
                }
            }
        }
        let mut attributes = Map::new();
        let mut columns = BTreeMap::new();
        for &(name, cell, at) in &cells {
            match cell {
                Cell::Constant(value) => {
                    attributes.insert(name.to_string(), value.clone());
                }
                Cell::Column {
                    column,
                    default,
                    map,
                } => {
                    let Some(at) = at else { continue };
                    columns.insert(name.to_string(), column.clone());
                    match fill(column, cell_of(row, at), default.as_deref(), map.as_ref()) {
                        Ok(Some(value)) => {
                            attributes.insert(name.to_string(), Value::String(value));
                        }
                        Ok(None) => {}
                        Err(message) => {
                            errors.push(RowError::new(row.line, Some(column.clone()), message))
                        }
                    }
                }
            }
        }
        if let (Some(key), true) = (key, errors.is_empty()) {
            out.push(Expanded {
                key: key.to_string(),
                line: row.line,
                attributes,
                columns,
            });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Row `row`'s cell `at` (empty if the row is short, which a parsed table never is).
fn cell_of(row: &Row, at: usize) -> &str {
    row.cells.get(at).map_or("", String::as_str)
}

/// The value a `Column` cell gives (`None`: unset).
fn fill(
    column: &str,
    cell: &str,
    default: Option<&str>,
    map: Option<&BTreeMap<String, String>>,
) -> Result<Option<String>, String> {
    let Some(map) = map else {
        return Ok(if cell.is_empty() {
            default.map(str::to_string)
        } else {
            Some(cell.to_string())
        });
    };
    let cell = trim_ascii(cell);
    if cell.is_empty() {
        return Ok(default.map(str::to_string));
    }
    match (map.get(cell), default) {
        (Some(value), _) => Ok(Some(value.clone())),
        (None, Some(default)) => Ok(Some(default.to_string())),
        (None, None) => Err(format!("column `{column}` value `{cell}` has no mapping (known: {}); add it to the map or give a default", known(map))),
    }
}

/// The map's keys for a message, at most 20.
fn known(map: &BTreeMap<String, String>) -> String {
    if map.is_empty() {
        return "none".to_string();
    }
    let mut list = map
        .keys()
        .take(20)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if map.len() > 20 {
        list.push_str(&format!(" and {} more", map.len() - 20));
    }
    list
}

/// The columns a rows file written for `template` has: the key column, then each `Column` cell's
/// column, each once, in template order.
fn columns_for(template: &Template) -> Vec<String> {
    let mut columns = vec![template.key.clone()];
    for (_, cell) in &template.attributes {
        if let Cell::Column { column, .. } = cell {
            if !columns.contains(column) {
                columns.push(column.clone());
            }
        }
    }
    columns
}

/// The row (cells in the order of `columns`) that `expand` would turn back into `attributes` under
/// `key` — for bulk import writing rows for existing objects. A column of `columns` the template does
/// not use gets an empty cell. Values are stringified (string as is; bool `true`/`false`; numbers as
/// JSON), so `expand` gives them back as strings. For a mapped column: the map key whose value
/// equals the attribute value (ASCII-case-insensitively; the first in key order if several; keys
/// that are empty or not trimmed are never used, as `expand` could not look them up); an attribute
/// value equal to `default` or absent (or null) becomes an empty cell.
///
/// Errors (all of them, joined by `; `), each saying which attribute and why: a constant the object
/// does not match (an object lacking the attribute matches); a value no map key (and no default)
/// produces; an empty string where an empty cell would mean the default; a list or object value; a
/// column the template uses that `columns` lacks; two attributes (or the key) needing different
/// values in one column; a key that cannot name a resource. An attribute not covered by the
/// template is ignored (the caller decides which attributes matter).
pub(crate) fn row_for(
    template: &Template,
    columns: &[String],
    key: &str,
    attributes: &Map<String, Value>,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        index.entry(c.as_str()).or_insert(i);
    }
    for column in columns_for(template) {
        if !index.contains_key(column.as_str()) {
            problems.push(format!("the template uses column `{column}`, which the columns lack (they are: {}); add it", columns.join(", ")));
        }
    }
    if let Err(why) = crate::address::check_name(key) {
        problems.push(format!("the key cannot name a resource: {why}"));
    }
    // Each column's cell and who asked for it.
    let mut cells: Vec<Option<(String, String)>> = vec![None; columns.len()];
    let mut place = |column: &str, value: String, who: String, problems: &mut Vec<String>| {
        let Some(&at) = index.get(column) else { return };
        match &cells[at] {
            Some((other, first)) if *other != value => {
                problems.push(format!("column `{column}` would have to be `{other}` for {first} and `{value}` for {who}; the template cannot give both"));
            }
            Some(_) => {}
            None => cells[at] = Some((value, who)),
        }
    };
    place(
        &template.key,
        key.to_string(),
        "the key".to_string(),
        &mut problems,
    );
    for (name, cell) in &template.attributes {
        let value = attributes.get(name);
        match cell {
            Cell::Constant(constant) => {
                if let Some(value) = value.filter(|v| *v != constant) {
                    problems.push(format!("attribute `{name}` is `{}`, but the template sets it to `{}` on every row; change the template, or leave this object out", show(value), show(constant)));
                }
            }
            Cell::Column {
                column,
                default,
                map,
            } => {
                let text = match value {
                    None | Some(Value::Null) => continue,
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(other @ (Value::Array(_) | Value::Object(_))) => {
                        problems.push(format!("attribute `{name}` is `{}`, which a cell of column `{column}` cannot hold; set it with a constant in the template", show_short(other)));
                        continue;
                    }
                };
                let who = format!("attribute `{name}`");
                let Some(map) = map else {
                    if default.as_deref() == Some(text.as_str()) {
                        place(column, String::new(), who, &mut problems);
                    } else if text.is_empty() && default.is_some() {
                        problems.push(format!("attribute `{name}` is empty, which column `{column}` cannot express: an empty cell means its default"));
                    } else {
                        place(column, text, who, &mut problems);
                    }
                    continue;
                };
                let usable = |k: &String| !k.is_empty() && trim_ascii(k) == k;
                if let Some((cell, _)) = map
                    .iter()
                    .find(|(k, v)| usable(k) && v.eq_ignore_ascii_case(&text))
                {
                    place(column, cell.clone(), who, &mut problems);
                } else if default
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(&text))
                    || (text.is_empty() && default.is_none())
                {
                    place(column, String::new(), who, &mut problems);
                } else {
                    let default = default
                        .as_deref()
                        .map(|d| format!(" and it is not the default `{d}`"))
                        .unwrap_or_default();
                    problems.push(format!("attribute `{name}` is `{text}`, which no value of column `{column}` maps to{default}; add it to the map"));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(cells
            .into_iter()
            .map(|c| c.map(|(value, _)| value).unwrap_or_default())
            .collect())
    } else {
        Err(problems.join("; "))
    }
}

/// A value for a message: a string as is, anything else as JSON.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// [`show`], cut to 40 characters.
fn show_short(value: &Value) -> String {
    let text = show(value);
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// A resource name made from any text (for keys derived from ids, e.g. an e-mail address): ASCII
/// letters, digits, `_` and `-` kept, every other character `_`; empty becomes `_`.
pub(crate) fn name_from(text: &str) -> String {
    if text.is_empty() {
        return "_".to_string();
    }
    text.chars()
        .map(|c| {
            if crate::address::is_bare_char(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::test_support::{err, strings, table};
    use crate::rows::write_csv;
    use serde_json::json;

    fn template() -> Template {
        let map = BTreeMap::from([
            ("sales".to_string(), "u-1001".to_string()),
            ("support".to_string(), "u-1002".to_string()),
        ]);
        Template {
            key: "username".into(),
            attributes: vec![
                (
                    "email".into(),
                    Cell::Column {
                        column: "email".into(),
                        default: None,
                        map: None,
                    },
                ),
                (
                    "copy_from".into(),
                    Cell::Column {
                        column: "team".into(),
                        default: None,
                        map: Some(map),
                    },
                ),
                (
                    "location".into(),
                    Cell::Column {
                        column: "site".into(),
                        default: Some("Basel".into()),
                        map: None,
                    },
                ),
                ("language".into(), Cell::Constant(json!("en"))),
                ("active".into(), Cell::Constant(json!(true))),
            ],
        }
    }

    fn attrs(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn expand_errors(template: &Template, text: &str) -> Vec<RowError> {
        match expand(template, &table(text)) {
            Ok(e) => panic!("expected errors, got {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn expand_fills_constants_columns_defaults_and_maps() {
        let t = table("username,email,team,site,extra\nada,ada@example.com,sales,,x\ngrace,,\" support \",Zurich,y\n");
        let out = match expand(&template(), &t) {
            Ok(out) => out,
            Err(e) => panic!("{e:?}"),
        };
        let columns = BTreeMap::from([
            ("email".to_string(), "email".to_string()),
            ("copy_from".to_string(), "team".to_string()),
            ("location".to_string(), "site".to_string()),
        ]);
        assert_eq!(
            out,
            vec![
                Expanded {
                    key: "ada".into(),
                    line: 2,
                    attributes: attrs(
                        json!({"email": "ada@example.com", "copy_from": "u-1001", "location": "Basel", "language": "en", "active": true})
                    ),
                    columns: columns.clone(),
                },
                Expanded {
                    key: "grace".into(),
                    line: 3,
                    attributes: attrs(
                        json!({"copy_from": "u-1002", "location": "Zurich", "language": "en", "active": true})
                    ),
                    columns
                },
            ]
        );
    }

    #[test]
    fn expand_uses_the_default_for_unmapped_and_empty_mapped_values() {
        let map = BTreeMap::from([("sales".to_string(), "u-1001".to_string())]);
        let template = Template {
            key: "k".into(),
            attributes: vec![(
                "copy_from".into(),
                Cell::Column {
                    column: "team".into(),
                    default: Some("u-0".into()),
                    map: Some(map),
                },
            )],
        };
        let out = match expand(
            &template,
            &table("k,team\na,marketing\nb,\nc,  \nd,sales\n"),
        ) {
            Ok(out) => out,
            Err(e) => panic!("{e:?}"),
        };
        let values: Vec<&Value> = out.iter().map(|e| &e.attributes["copy_from"]).collect();
        assert_eq!(
            values,
            vec![
                &json!("u-0"),
                &json!("u-0"),
                &json!("u-0"),
                &json!("u-1001")
            ]
        );
    }

    #[test]
    fn expand_reports_an_unmapped_value_without_default() {
        assert_eq!(
            expand_errors(&template(), "username,email,team,site\nada,a,sales,\nbob,b,marketing,\n"),
            vec![err(3, Some("team"), "column `team` value `marketing` has no mapping (known: sales, support); add it to the map or give a default")]
        );
    }

    #[test]
    fn expand_reports_a_key_used_twice_naming_both_lines() {
        assert_eq!(
            expand_errors(&template(), "username,email,team,site\ngrace,g,sales,\nada,a,sales,\nlin,\"x\ny\",sales,\nbob,b,sales,\nada,c,support,\nada,d,support,\n"),
            vec![
                err(7, Some("username"), "key `ada` is used on lines 3 and 7; each row needs its own key"),
                err(8, Some("username"), "key `ada` is used on lines 3 and 8; each row needs its own key"),
            ]
        );
    }

    #[test]
    fn expand_reports_columns_the_header_lacks() {
        assert_eq!(
            expand_errors(&template(), "username,mail,site\nada,a,\n"),
            vec![
                err(1, Some("email"), "the template uses column `email`, which the header lacks (its columns: username, mail, site); add the column to the file or fix the template"),
                err(1, Some("team"), "the template uses column `team`, which the header lacks (its columns: username, mail, site); add the column to the file or fix the template"),
            ]
        );
        let e = expand_errors(&template(), "user,email,team,site\nada,a,sales,\n");
        assert_eq!(
            e.iter().map(|e| e.column.as_deref()).collect::<Vec<_>>(),
            vec![Some("username")]
        );
    }

    #[test]
    fn expand_reports_empty_and_invalid_keys() {
        assert_eq!(
            expand_errors(&template(), "username,email,team,site\n,a,sales,\n\"ada \",b,sales,\n\"ada\nb\",c,sales,\nok-1_B,d,sales,\n"),
            vec![
                err(2, Some("username"), "the key column `username` is empty; every row needs a key, which names its resource"),
                err(3, Some("username"), "the key cannot name a resource: name \"ada \" starts or ends with white space; remove it (a name is matched exactly)"),
                err(4, Some("username"), "the key cannot name a resource: name \"ada\\nb\" holds a control character (a line end or tab, say); names are one line of text"),
            ]
        );
    }

    #[test]
    fn any_line_of_text_is_a_key() {
        let table = table("username,email,team,site\nada.b@x.ch,a,sales,\nada smith,b,sales,\n\"Zoë \"\"Z\"\" Müller\",c,sales,\n");
        let keys: Vec<String> = expand(&template(), &table)
            .expect("valid keys")
            .into_iter()
            .map(|x| x.key)
            .collect();
        assert_eq!(keys, ["ada.b@x.ch", "ada smith", "Zoë \"Z\" Müller"]);
    }

    #[test]
    fn columns_for_lists_the_key_then_each_column_once() {
        let mut t = template();
        t.attributes.push((
            "mail2".into(),
            Cell::Column {
                column: "email".into(),
                default: None,
                map: None,
            },
        ));
        t.attributes.push((
            "name".into(),
            Cell::Column {
                column: "username".into(),
                default: None,
                map: None,
            },
        ));
        assert_eq!(
            columns_for(&t),
            strings(&["username", "email", "team", "site"])
        );
    }

    fn round_trip(
        template: &Template,
        key: &str,
        attributes: &Map<String, Value>,
    ) -> (Vec<String>, Expanded) {
        let columns = columns_for(template);
        let row = match row_for(template, &columns, key, attributes) {
            Ok(row) => row,
            Err(e) => panic!("{e}"),
        };
        let text = write_csv(&columns, std::slice::from_ref(&row));
        match expand(template, &table(&text)).as_deref() {
            Ok([one]) => (row, one.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn row_for_round_trips_through_expand() {
        let t = template();
        for attributes in [
            attrs(
                json!({"email": "ada@example.com", "copy_from": "u-1002", "location": "Basel", "language": "en", "active": true}),
            ),
            attrs(
                json!({"email": " spaced, \"quoted\"\nvalue ", "copy_from": "u-1001", "location": "Zurich", "language": "en", "active": true}),
            ),
            attrs(
                json!({"copy_from": "u-1001", "location": "Bern", "language": "en", "active": true}),
            ),
        ] {
            let (_, expanded) = round_trip(&t, "ada", &attributes);
            assert_eq!(expanded.key, "ada");
            assert_eq!(expanded.attributes, attributes);
        }
        let (row, _) = round_trip(
            &t,
            "ada",
            &attrs(
                json!({"email": "a@x", "copy_from": "u-1002", "location": "Basel", "ignored": 5}),
            ),
        );
        assert_eq!(row, strings(&["ada", "a@x", "support", ""]));
    }

    #[test]
    fn row_for_maps_case_insensitively_prefers_the_first_key_and_falls_back_to_the_default() {
        let map = BTreeMap::from([
            ("b".to_string(), "X".to_string()),
            ("a".to_string(), "x".to_string()),
            (" c".to_string(), "y".to_string()),
            ("d".to_string(), "z".to_string()),
        ]);
        let t = Template {
            key: "k".into(),
            attributes: vec![(
                "v".into(),
                Cell::Column {
                    column: "m".into(),
                    default: Some("dflt".into()),
                    map: Some(map),
                },
            )],
        };
        let columns = strings(&["k", "unused", "m"]);
        let row = |value: Value| row_for(&t, &columns, "key", &attrs(json!({ "v": value })));
        assert_eq!(row(json!("x")), Ok(strings(&["key", "", "a"])));
        assert_eq!(row(json!("Z")), Ok(strings(&["key", "", "d"])));
        assert_eq!(row(json!("DFLT")), Ok(strings(&["key", "", ""])));
        assert_eq!(row(Value::Null), Ok(strings(&["key", "", ""])));
        assert_eq!(row(json!("y")), Err("attribute `v` is `y`, which no value of column `m` maps to and it is not the default `dflt`; add it to the map".to_string()));
        // Numbers and booleans are written as JSON and looked up like strings.
        let t = Template {
            key: "k".into(),
            attributes: vec![(
                "n".into(),
                Cell::Column {
                    column: "n".into(),
                    default: None,
                    map: None,
                },
            )],
        };
        assert_eq!(
            row_for(&t, &strings(&["k", "n"]), "a", &attrs(json!({"n": 1.5}))),
            Ok(strings(&["a", "1.5"]))
        );
        assert_eq!(
            row_for(&t, &strings(&["k", "n"]), "a", &attrs(json!({"n": false}))),
            Ok(strings(&["a", "false"]))
        );
    }

    #[test]
    fn row_for_says_which_attribute_cannot_be_expressed() {
        let t = template();
        let columns = columns_for(&t);
        assert_eq!(
            row_for(&t, &columns, "ada", &attrs(json!({"copy_from": "X", "language": "de", "active": true}))),
            Err("attribute `copy_from` is `X`, which no value of column `team` maps to; add it to the map; \
                 attribute `language` is `de`, but the template sets it to `en` on every row; change the template, or leave this object out"
                .to_string())
        );
        assert_eq!(
            row_for(&t, &columns, "ada", &attrs(json!({"location": "", "email": ["a", "b"]}))),
            Err("attribute `email` is `[\"a\",\"b\"]`, which a cell of column `email` cannot hold; set it with a constant in the template; \
                 attribute `location` is empty, which column `site` cannot express: an empty cell means its default"
                .to_string())
        );
        assert_eq!(
            row_for(&t, &strings(&["username", "email"]), " a b", &Map::new()),
            Err("the template uses column `team`, which the columns lack (they are: username, email); add it; \
                 the template uses column `site`, which the columns lack (they are: username, email); add it; \
                 the key cannot name a resource: name \" a b\" starts or ends with white space; remove it (a name is matched exactly)"
                .to_string())
        );
        let shared = Template {
            key: "k".into(),
            attributes: vec![(
                "name".into(),
                Cell::Column {
                    column: "k".into(),
                    default: None,
                    map: None,
                },
            )],
        };
        assert_eq!(
            row_for(&shared, &strings(&["k"]), "ada", &attrs(json!({"name": "grace"}))),
            Err("column `k` would have to be `ada` for the key and `grace` for attribute `name`; the template cannot give both".to_string())
        );
        assert_eq!(
            row_for(
                &shared,
                &strings(&["k"]),
                "ada",
                &attrs(json!({"name": "ada"}))
            ),
            Ok(strings(&["ada"]))
        );
    }

    #[test]
    fn name_from_keeps_only_name_characters() {
        assert_eq!(
            name_from("ada.lovelace@example.com"),
            "ada_lovelace_example_com"
        );
        assert_eq!(name_from("Zoë Müller-Smith_2"), "Zo__M_ller-Smith_2");
        assert_eq!(name_from("😀"), "_");
        assert_eq!(name_from(""), "_");
        assert_eq!(name_from("ok-1_B"), "ok-1_B");
    }
}
