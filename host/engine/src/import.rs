//! Import: taking existing vendor objects into the state — one declared object
//! ([`one`], `roster import TYPE ID`), or many at once with their declarations generated
//! ([`many`], `roster import --csv FILE`: Terraform's import blocks with generated
//! configuration).
//!
//! Bulk import writes the declarations before the records, so the roster file and the state
//! agree after every step: a run stopped between the two leaves declared objects without
//! records (a plan plans to create them, the vendor refuses the duplicate, and the next import
//! records them) — never records without declarations, which a plan would delete.

use crate::decide::{diff, Key, Read};
use crate::plan::{
    created_record, read, read_many, without_sensitive, Action, ActionKind, ReadProgress,
};
use crate::rosterfile::{RosterFile, RowSource, RowsDecl};
use crate::rows;
use crate::state::Record;
use crate::store::StateStore;
use crate::workspace::{typed_cells, Workspace};
use anyhow::{anyhow, bail, Context, Result};
use roster_runtime::types::{Presence, ResourceSchema};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The adopt action that records object `id` of `type_name` under `address`.
fn adopt(
    address: &str,
    provider: &str,
    type_name: &str,
    id: &str,
    schema: &ResourceSchema,
    desired: &Map<String, Value>,
) -> Action {
    Action {
        address: address.to_string(),
        kind: ActionKind::Adopt,
        type_name: type_name.to_string(),
        provider: provider.to_string(),
        id: id.to_string(),
        desired: without_sensitive(schema, desired),
        actual: None,
        reason: None,
        changes: vec![],
        warning: None,
        moved_from: None,
    }
}

/// The record of object `key`, if the state holds one.
fn held<'a>(ws: &Workspace, records: &'a [Record], key: &Key) -> Option<&'a Record> {
    records
        .iter()
        .find(|r| ws.schemas.record_key(r).as_ref() == Some(key))
}

/// The resource `file` declares for object `key`, if any.
fn declared<'a>(
    ws: &Workspace,
    file: &'a RosterFile,
    key: &Key,
) -> Option<&'a crate::rosterfile::ResourceDecl> {
    file.resources.iter().find(|r| {
        r.provider == key.provider
            && r.type_name == key.type_name
            && ws
                .schemas
                .get(&r.provider, &r.type_name)
                .and_then(|s| r.attributes.get(&s.id_attribute))
                .and_then(Value::as_str)
                .and_then(|i| ws.schemas.key(&r.provider, &r.type_name, i))
                .as_ref()
                == Some(key)
    })
}

/// `roster import TYPE ID`: takes the existing object `id` of `type_name` into the state, for the
/// resource that declares it. Reads it first (paced); refuses an object that does not exist, one
/// the roster file does not declare, and one the state already holds.
pub async fn one(
    ws: &Workspace,
    store: &dyn StateStore,
    type_name: &str,
    id: &str,
) -> Result<Record> {
    let (provider, schema) = ws
        .provider_for_type(type_name)
        .ok_or_else(|| anyhow!("no declared provider offers resource type `{type_name}`"))?;
    let key = ws
        .schemas
        .key(provider, type_name, id)
        .expect("the type is the provider's");
    let decl = declared(ws, &ws.file, &key).ok_or_else(|| {
        anyhow!(
            "declare it first: no [resource.{type_name}.NAME] in {} has {} = \"{id}\"",
            ws.file.path.display(),
            schema.id_attribute
        )
    })?;
    let mut state = store.load()?;
    if let Some(r) = held(ws, &state.resources, &key) {
        bail!("{type_name} {id} is already managed as {}; `roster state rm {}` first to import it again", r.address, r.address);
    }
    let actual = read(ws, provider, type_name, id, &crate::pacing::no_wait_report)
        .await?
        .ok_or_else(|| anyhow!("{type_name} {id} does not exist at the vendor"))?;
    let action = adopt(
        &decl.address,
        provider,
        type_name,
        id,
        schema,
        &decl.attributes,
    );
    let record = created_record(&action, schema, &decl.attributes, &actual);
    put(ws, &mut state, record.clone(), &key);
    store.save(&mut state)?;
    Ok(record)
}

/// One object to import: its id, and optionally the name to declare it under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The object's id at the vendor.
    pub id: String,
    /// The resource name (`TYPE.NAME`); by default made from the id.
    pub name: Option<String>,
    /// Where it was asked for (e.g. `ids.csv:4`), for messages.
    pub origin: String,
    /// Attributes the input gives (its other columns): used where the vendor does not report
    /// an attribute (Symbee cannot read a user's names back); the vendor's value wins elsewhere.
    pub given: Map<String, Value>,
}

/// Where bulk import writes the declarations of new objects.
#[derive(Clone, Copy, Debug)]
pub enum WriteTo<'a> {
    /// As rows appended to the CSV of this `[rows.NAME]` source.
    Rows(&'a RowsDecl),
    /// As `[resource.TYPE.NAME]` blocks appended to the roster file.
    Blocks,
}

/// What bulk import did, object by object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Imported {
    /// Recorded in the state: (address, id); declarations written for the new ones.
    pub recorded: Vec<(String, String)>,
    /// The ones among them whose declarations were generated (the rest were declared already).
    pub generated: usize,
    /// Not at the vendor: listed, not recorded.
    pub missing: Vec<Wanted>,
    /// Already in the state: (id, the address that manages it).
    pub already: Vec<(String, String)>,
    /// Not recorded, with why (a read failed, or no declaration could say what the object is).
    pub failed: Vec<(String, String)>,
    /// The file the declarations were appended to, if any were.
    pub written: Option<PathBuf>,
}

/// Bulk import: reads every wanted object of `type_name` (paced, `progress` told the cost and
/// each read), writes declarations for the ones that exist and that the roster file does not
/// declare yet (rows or blocks, `into`), then records all that exist in the state — so that
/// the next plan says "No changes" for them. Objects that do not exist are listed, not recorded.
/// Duplicate ids in `wanted`, and names already used, are refused before anything is read.
pub async fn many(
    ws: &Workspace,
    store: &dyn StateStore,
    type_name: &str,
    wanted: &[Wanted],
    into: WriteTo<'_>,
    progress: &dyn ReadProgress,
) -> Result<Imported> {
    let (provider, schema) = ws
        .provider_for_type(type_name)
        .ok_or_else(|| anyhow!("no declared provider offers resource type `{type_name}`"))?;
    if let WriteTo::Rows(r) = into {
        if r.type_name != type_name || r.provider != provider {
            bail!(
                "[rows.{}] declares {} of provider `{}`, not {type_name} of `{provider}`",
                r.name,
                r.type_name,
                r.provider
            );
        }
    }
    // Each object's identity, once.
    let wanted: Vec<(&Wanted, Key)> = wanted
        .iter()
        .map(|w| {
            (
                w,
                ws.schemas
                    .key(provider, type_name, &w.id)
                    .expect("the type is the provider's"),
            )
        })
        .collect();
    // Refuse bad input before any read.
    let mut seen: HashMap<&Key, &Wanted> = HashMap::new();
    let mut names: HashMap<String, &Wanted> = HashMap::new();
    let mut problems = Vec::new();
    for (w, key) in &wanted {
        let w = *w;
        if w.id.trim().is_empty() {
            problems.push(format!("{}: the id is empty", w.origin));
            continue;
        }
        if let Some(first) = seen.insert(key, w) {
            problems.push(format!(
                "{}: {} {} is also at {}; each object once",
                w.origin, type_name, w.id, first.origin
            ));
        }
        if let Some(name) = &w.name {
            if let Err(why) = crate::address::check_name(name) {
                problems.push(format!("{}: {why}", w.origin));
            } else if let Some(first) = names.insert(name.clone(), w) {
                problems.push(format!(
                    "{}: name `{name}` is also used at {}",
                    w.origin, first.origin
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!("nothing was imported:\n  {}", problems.join("\n  "));
    }

    let mut state = store.load()?;
    let mut out = Imported::default();
    let mut to_read = Vec::new();
    for (w, key) in &wanted {
        match held(ws, &state.resources, key) {
            Some(r) => out.already.push((w.id.clone(), r.address.clone())),
            None => to_read.push((key.clone(), w.id.clone())),
        }
    }
    let reads = read_many(ws, &to_read, progress).await;

    // Existing objects: those declared already keep their declaration; the rest get one.
    let mut taken: HashSet<String> = ws
        .file
        .resources
        .iter()
        .map(|r| r.address.clone())
        .collect();
    let mut found: Vec<(&Wanted, &Key, Map<String, Value>)> = Vec::new();
    let mut new: Vec<New> = Vec::new();
    for (w, key) in &wanted {
        let w = *w;
        match reads.get(key) {
            None => {}
            Some(Read::Absent) => out.missing.push(w.clone()),
            Some(Read::Failed(why)) => out.failed.push((w.id.clone(), why.clone())),
            Some(Read::Found(actual)) => {
                if declared(ws, &ws.file, key).is_some() {
                    found.push((w, key, actual.clone()));
                    continue;
                }
                let name = unique_name(
                    w.name.clone().unwrap_or_else(|| rows::name_from(&w.id)),
                    type_name,
                    &mut taken,
                );
                match declaration(schema, into, &name, actual, &w.given) {
                    Ok(declaration) => new.push((name, w, key, declaration, actual.clone())),
                    Err(why) => out.failed.push((w.id.clone(), why)),
                }
            }
        }
    }

    // 1. The declarations, checked by reading the roster file back.
    let reread;
    let file = if new.is_empty() {
        &ws.file
    } else {
        let (written, file) = write_declarations(&ws.file, type_name, provider, into, &new)?;
        out.written = Some(written);
        reread = file;
        &reread
    };
    found.extend(
        new.iter()
            .map(|(_, w, key, _, actual)| (*w, *key, actual.clone())),
    );
    out.generated = new.len();

    // 2. The records, under the addresses the roster file now declares them at.
    for (w, key, actual) in found {
        let Some(decl) = declared(ws, file, key) else {
            out.failed.push((
                w.id.clone(),
                "its generated declaration is not in the roster file".into(),
            ));
            continue;
        };
        let mut desired = decl.attributes.clone();
        if decl.origin.is_some() {
            typed_cells(schema, &mut desired);
        }
        let action = adopt(&decl.address, provider, type_name, &w.id, schema, &desired);
        let record = created_record(&action, schema, &desired, &actual);
        out.recorded.push((decl.address.clone(), w.id.clone()));
        put(ws, &mut state, record, key);
    }
    if !out.recorded.is_empty() {
        store.save(&mut state).context("recording the imported objects in the state (their declarations are written; run the import again to record them)")?;
    }
    Ok(out)
}

/// Records object `key` (beside any record of another object at the same address, which the
/// next plan resolves: identity is the id).
fn put(ws: &Workspace, state: &mut crate::state::State, record: Record, key: &Key) {
    state.put_object(record, |r| ws.schemas.record_key(r).as_ref() == Some(key));
}

/// The columns of a bulk import's input `table` that give each object's id and name, as
/// `(id column, name column)` indices.
///
/// The id column: `id_column` when given (and only it); otherwise the first of these the header
/// has — the column the rows source's `template` takes the id attribute (`id_attribute`, the
/// type's [`ResourceSchema::id_attribute`]) from, a column named `id_attribute`, a column named
/// `id`. The name column: `name_column` when given, which the header must have; otherwise the
/// first of the template's key column and `name` that the header has, or none (a name is then
/// made from the id).
///
/// Errors, for the caller to prefix with the input's path: `no id column: expected one of
/// CANDIDATES in the header (COLUMNS)` and `--name-column NAME is not in the header (COLUMNS)`.
pub fn columns(
    table: &rows::Table,
    id_attribute: &str,
    template: Option<&rows::Template>,
    id_column: Option<&str>,
    name_column: Option<&str>,
) -> Result<(usize, Option<usize>), String> {
    let from_rows = template.and_then(|t| {
        t.attributes.iter().find_map(|(a, cell)| match cell {
            rows::Cell::Column { column, .. } if a == id_attribute => Some(column.clone()),
            _ => None,
        })
    });
    let candidates: Vec<String> = match id_column {
        Some(c) => vec![c.to_string()],
        None => from_rows
            .into_iter()
            .chain([id_attribute.to_string(), "id".to_string()])
            .collect(),
    };
    let id = candidates
        .iter()
        .find_map(|c| table.column(c))
        .ok_or_else(|| {
            format!(
                "no id column: expected one of {} in the header ({})",
                candidates.join(", "),
                table.columns.join(", ")
            )
        })?;
    let name = match name_column {
        Some(c) => Some(table.column(c).ok_or_else(|| {
            format!(
                "--name-column {c} is not in the header ({})",
                table.columns.join(", ")
            )
        })?),
        None => template
            .map(|t| t.key.clone())
            .into_iter()
            .chain(["name".to_string()])
            .find_map(|c| table.column(&c)),
    };
    Ok((id, name))
}

/// What each row of a bulk import's input gives besides the id ([`Wanted::given`]): with a rows
/// source's `template`, the input is read as rows in the source format (each template cell whose
/// column the input has, through its default and map; constants); without one, every column
/// named as an attribute of `schema` (an empty cell gives nothing). One map per row of `table`.
pub fn given(
    template: Option<&rows::Template>,
    schema: &ResourceSchema,
    table: &rows::Table,
) -> Result<Vec<Map<String, Value>>, Vec<rows::RowError>> {
    let Some(t) = template else {
        let named: Vec<(usize, &str)> = table
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                schema
                    .attributes
                    .iter()
                    .any(|a| a.name == **c && a.presence != Presence::Computed)
            })
            .map(|(i, c)| (i, c.as_str()))
            .collect();
        return Ok(table
            .rows
            .iter()
            .map(|row| {
                named
                    .iter()
                    .filter(|(i, _)| !row.cells[*i].is_empty())
                    .map(|(i, c)| (c.to_string(), Value::String(row.cells[*i].clone())))
                    .collect()
            })
            .collect());
    };
    // The template's cells the input can fill, keyed by a column of the row numbers (the
    // input's own key column may be absent or hold ids that are no names).
    let key = "\u{0}row".to_string();
    let attributes = t
        .attributes
        .iter()
        .filter(|(_, cell)| match cell {
            rows::Cell::Column { column, .. } => table.column(column).is_some(),
            rows::Cell::Constant(_) => true,
        })
        .cloned()
        .collect();
    let sub = rows::Template {
        key: key.clone(),
        attributes,
    };
    let mut numbered = table.clone();
    numbered.columns.push(key);
    for (i, row) in numbered.rows.iter_mut().enumerate() {
        row.cells.push(format!("r{i}"));
    }
    Ok(rows::expand(&sub, &numbered)?
        .into_iter()
        .map(|x| x.attributes)
        .collect())
}

/// `name`, or `name_2`, `name_3`… — the first whose address is not taken (then taken).
fn unique_name(name: String, type_name: &str, taken: &mut HashSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 1;
    while taken.contains(&crate::address::of(type_name, &candidate)) {
        n += 1;
        candidate = format!("{name}_{n}");
    }
    taken.insert(crate::address::of(type_name, &candidate));
    candidate
}

/// What the user may declare of an object as read: settable, readable, not sensitive.
fn declarable(schema: &ResourceSchema, actual: &Map<String, Value>) -> Map<String, Value> {
    schema
        .attributes
        .iter()
        .filter(|a| a.presence != Presence::Computed && !a.sensitive && !a.create_only)
        .filter_map(|a| {
            actual
                .get(&a.name)
                .filter(|v| !v.is_null())
                .map(|v| (a.name.clone(), v.clone()))
        })
        .collect()
}

/// The attributes the declaration of `actual` will have (for rows: what its row expands to):
/// what the vendor reports, and what `given` adds where it reports nothing. Refused when an
/// attribute the user must set is unknown, or when the next plan would not say "No changes".
fn declaration(
    schema: &ResourceSchema,
    into: WriteTo<'_>,
    name: &str,
    actual: &Map<String, Value>,
    given: &Map<String, Value>,
) -> Result<Declaration, String> {
    // What the user may declare from the input: anything settable (create-only ones too).
    let mut known: Map<String, Value> = given
        .iter()
        .filter(|(k, _)| {
            schema
                .attributes
                .iter()
                .any(|a| a.name == **k && a.presence != Presence::Computed && !a.sensitive)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    known.extend(declarable(schema, actual));
    let unknown: Vec<&str> = schema
        .attributes
        .iter()
        .filter(|a| a.presence == Presence::Required && !known.contains_key(&a.name))
        .map(|a| a.name.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(format!("the vendor does not report {} and the input gives none; add a column for each to the CSV", unknown.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")));
    }
    let (mut attributes, cells) = match into {
        WriteTo::Blocks => (known.clone(), None),
        WriteTo::Rows(r) => {
            let cells = rows::row_for(&r.template, &r.columns, name, &known)?;
            let table = rows::Table {
                columns: r.columns.clone(),
                rows: vec![rows::Row {
                    line: 1,
                    cells: cells.clone(),
                }],
            };
            let expanded = rows::expand(&r.template, &table).map_err(|e| {
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
            (
                expanded
                    .into_iter()
                    .next()
                    .map(|x| x.attributes)
                    .unwrap_or_default(),
                Some(cells),
            )
        }
    };
    typed_cells(schema, &mut attributes);
    // As the record will know it: what the vendor reports over what is declared.
    let mut recorded = attributes.clone();
    recorded.extend(actual.iter().map(|(k, v)| (k.clone(), v.clone())));
    let changes = diff(schema, &attributes, &attributes, &recorded);
    if !changes.is_empty() {
        let what: Vec<String> = changes
            .iter()
            .map(|c| {
                format!(
                    "{} is {} at the vendor, the declaration would say {}",
                    c.attribute, c.from, c.to
                )
            })
            .collect();
        return Err(format!(
            "its declaration would not match it ({})",
            what.join("; ")
        ));
    }
    Ok(Declaration { attributes, cells })
}

/// A generated declaration: its attributes, and for rows the row's cells.
struct Declaration {
    attributes: Map<String, Value>,
    cells: Option<Vec<String>>,
}

/// An object bulk import declares: its name, what was asked, its identity, its declaration,
/// the object as read.
type New<'a> = (String, &'a Wanted, &'a Key, Declaration, Map<String, Value>);

/// Appends the declarations of `new` (rows to the rows source's CSV, or blocks to the roster
/// file); returns the file written and the roster file as read back.
fn write_declarations(
    file: &RosterFile,
    type_name: &str,
    provider: &str,
    into: WriteTo<'_>,
    new: &[New],
) -> Result<(PathBuf, RosterFile)> {
    match into {
        WriteTo::Rows(r) => {
            let RowSource::Csv(path) = &r.source;
            let cells: Vec<Vec<String>> = new
                .iter()
                .filter_map(|(_, _, _, d, _)| d.cells.clone())
                .collect();
            let header = rows::write_csv(&r.columns, &[]);
            let all = rows::write_csv(&r.columns, &cells);
            Ok((
                path.clone(),
                append_checked(path, &all.as_bytes()[header.len()..], &file.path)?,
            ))
        }
        WriteTo::Blocks => {
            let default_provider = type_name.split('_').next().unwrap_or_default();
            let mut text = String::new();
            for (name, w, _, d, _) in new {
                text.push_str(&format!(
                    "\n# imported by `roster import` from {}\n[resource.{}]\n",
                    w.origin,
                    crate::address::of(type_name, name)
                ));
                if provider != default_provider {
                    text.push_str(&format!(
                        "provider = {}\n",
                        Value::String(provider.to_string())
                    ));
                }
                for (k, v) in &d.attributes {
                    text.push_str(&format!("{k} = {}\n", toml_value(v)));
                }
            }
            Ok((
                file.path.clone(),
                append_checked(&file.path, text.as_bytes(), &file.path)?,
            ))
        }
    }
}

/// Appends `addition` to `path` (on a line of its own) atomically, then reads the roster file
/// `roster` back and returns it; if it no longer reads, `path` is put back as it was and the
/// error says why.
fn append_checked(path: &Path, addition: &[u8], roster: &Path) -> Result<RosterFile> {
    let before = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut text = before.clone();
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text.extend_from_slice(addition);
    let write = |bytes: &[u8]| {
        crate::store::write_atomically(path, bytes)
            .with_context(|| format!("writing {}", path.display()))
    };
    write(&text)?;
    match RosterFile::load(roster) {
        Ok(file) => Ok(file),
        Err(e) => {
            write(&before)?;
            bail!(
                "the generated declarations do not read back, so {} is unchanged:\n{e}",
                path.display()
            )
        }
    }
}

/// A JSON value as TOML (strings, booleans, numbers and lists of them; JSON's string escapes
/// are TOML's).
fn toml_value(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::columns;
    use crate::rows::{Cell, Table, Template};

    /// A table with these header columns and no rows.
    fn header(names: &[&str]) -> Table {
        Table {
            columns: names.iter().map(|n| n.to_string()).collect(),
            rows: vec![],
        }
    }

    /// A rows template keyed by `alias` that takes `user_id` from column `oid`.
    fn template() -> Template {
        Template {
            key: "alias".into(),
            attributes: vec![(
                "user_id".into(),
                Cell::Column {
                    column: "oid".into(),
                    default: None,
                    map: None,
                },
            )],
        }
    }

    #[test]
    fn an_explicit_id_column_is_the_only_candidate() {
        let t = header(&["uid", "id", "name"]);
        assert_eq!(
            columns(&t, "user_id", None, Some("uid"), None),
            Ok((0, Some(2)))
        );
        assert_eq!(
            columns(&t, "user_id", None, Some("nope"), None),
            Err("no id column: expected one of nope in the header (uid, id, name)".to_string())
        );
    }

    #[test]
    fn the_id_comes_from_the_column_the_rows_template_takes_it_from() {
        let t = header(&["user_id", "oid", "alias", "name"]);
        let template = template();
        assert_eq!(
            columns(&t, "user_id", Some(&template), None, None),
            Ok((1, Some(2)))
        );
    }

    #[test]
    fn the_id_attribute_s_name_comes_before_id() {
        let t = header(&["id", "user_id"]);
        assert_eq!(columns(&t, "user_id", None, None, None), Ok((1, None)));
        // A template whose column the header lacks falls back the same way.
        let template = template();
        assert_eq!(
            columns(&t, "user_id", Some(&template), None, None),
            Ok((1, None))
        );
    }

    #[test]
    fn id_is_the_last_resort() {
        let t = header(&["name", "id"]);
        assert_eq!(columns(&t, "user_id", None, None, None), Ok((1, Some(0))));
    }

    #[test]
    fn a_missing_id_column_lists_the_candidates_and_the_header() {
        let template = template();
        assert_eq!(
            columns(
                &header(&["email", "team"]),
                "user_id",
                Some(&template),
                None,
                None
            ),
            Err(
                "no id column: expected one of oid, user_id, id in the header (email, team)"
                    .to_string()
            )
        );
    }

    #[test]
    fn an_explicit_name_column_must_be_in_the_header() {
        let t = header(&["id", "name"]);
        assert_eq!(
            columns(&t, "user_id", None, None, Some("alias")),
            Err("--name-column alias is not in the header (id, name)".to_string())
        );
        assert_eq!(
            columns(&t, "user_id", None, None, Some("id")),
            Ok((0, Some(0)))
        );
    }
}
