//! Rows as resources: a roster file may declare a *source of rows* (a CSV file now; an Entra ID
//! group's members or a provider data source later) and a *template* filled once per row, so that
//! every row becomes an ordinary resource declaration. This module holds the pure parts — CSV
//! parsing and writing, expanding a template over rows, and the reverse (the row for an existing
//! object, for bulk import). It does no I/O: callers pass text in and get text back.
//!
//! A rows file is CSV (RFC 4180) in UTF-8 whose first record names the columns:
//!
//! ```text
//! username,email,team,site
//! ada,ada@example.com,sales,
//! grace,grace@example.com,support,Zurich
//! lin,"lin@example.com",sales ,"Bern, Old Town"
//! ```
//!
//! With a [`Template`] whose key is column `username` and whose attributes are
//!
//! ```text
//! email     ← column `email`
//! copy_from ← column `team`, mapped: sales → "u-1001", support → "u-1002"
//! location  ← column `site`, default "Basel"
//! language  = the constant "en"
//! ```
//!
//! the first row becomes the resource `TYPE.ada` with `email = "ada@example.com"`,
//! `copy_from = "u-1001"`, `location = "Basel"` (the cell is empty) and `language = "en"`; the
//! third becomes `TYPE.lin` with `copy_from = "u-1001"` (a mapped cell is trimmed before lookup)
//! and `location = "Bern, Old Town"`. A key is any one line of text without white space at
//! either end: a row keyed `ada@example.com` becomes `TYPE."ada@example.com"` (see
//! [`crate::address`]).
//!
//! CSV as read here:
//! - fields are separated by `,`; a record ends at LF, CRLF or a lone CR (old Mac line ends) — a
//!   lone CR in an unquoted field therefore ends the record;
//! - a field enclosed in double quotes may hold commas, line ends and `""` for one `"`;
//! - a completely empty line is skipped and a final line end is not an extra record (so a
//!   one-column file writes an empty cell as `""`); a line of only commas is a record of empty fields;
//! - header names are trimmed of ASCII whitespace, cells are kept exactly as written;
//! - a leading UTF-8 byte order mark is skipped; anything that is not UTF-8 is an error.
//!
//! Every problem is reported, not just the first, each with the physical line it is on (lines in
//! quoted fields count) and its column.

use serde_json::{Map, Value};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// A problem in a source of rows, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based physical line of the problem: where the record starts for a problem with a whole
    /// record or row, where the quote opened for an unterminated quoted field; 0 for the whole file.
    pub line: usize,
    /// The column: its header name when known, else `#N` (1-based position — in the header itself,
    /// or past the header's end); `None` when the problem is not in one column.
    pub column: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl RowError {
    fn new(line: usize, column: Option<String>, message: impl Into<String>) -> Self {
        RowError {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    /// `line L, column `C`: MESSAGE`, `line L: MESSAGE`; a whole-file problem (line 0) shows no line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, &self.column) {
            (0, None) => write!(f, "{}", self.message),
            (0, Some(c)) => write!(f, "column `{c}`: {}", self.message),
            (l, None) => write!(f, "line {l}: {}", self.message),
            (l, Some(c)) => write!(f, "line {l}, column `{c}`: {}", self.message),
        }
    }
}

impl std::error::Error for RowError {}

/// Rows read from a source: header names and the records, each with the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Table {
    /// The header's column names, trimmed of ASCII whitespace.
    pub columns: Vec<String>,
    /// The records after the header, in order.
    pub rows: Vec<Row>,
}

/// One record of a [`Table`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The 1-based physical line the record starts on.
    pub line: usize,
    /// The fields, one per column, exactly as written (quotes removed, `""` made `"`).
    pub cells: Vec<String>,
}

impl Table {
    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses CSV (RFC 4180): `bytes` must be UTF-8 (a leading UTF-8 BOM is skipped); the first record is
/// the header. Returns all problems found (not just the first), each located; of bytes that are not
/// UTF-8 only the first is reported (a file in another encoding would otherwise give one per line).
pub fn parse_csv(bytes: &[u8]) -> Result<Table, Vec<RowError>> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut p = Parser {
        bytes,
        pos: 0,
        line: 1,
        header: None,
        errors: Vec::new(),
        encoding_reported: false,
    };
    let Some((header_line, names)) = p.record() else {
        return Err(vec![RowError::new(0, None, "the file is empty: its first line must be a header naming the columns, e.g. `username,email,team`")]);
    };
    let columns: Vec<String> = names.iter().map(|n| trim_ascii(n).to_string()).collect();
    {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            let at = Some(format!("#{}", i + 1));
            if name.is_empty() {
                p.errors.push(RowError::new(
                    header_line,
                    at,
                    "this header column has no name; give every column a unique name",
                ));
            } else if let Some(first) = seen.get(name.as_str()) {
                p.errors.push(RowError::new(header_line, at, format!("column `{name}` appears twice in the header (columns {} and {}); rename or remove one", first + 1, i + 1)));
            } else {
                seen.insert(name, i);
            }
        }
    }
    let width = columns.len();
    p.header = Some(columns);
    let mut rows = Vec::new();
    while let Some((line, cells)) = p.record() {
        if cells.len() == width {
            rows.push(Row { line, cells });
            continue;
        }
        let hint = if cells.len() > width {
            "a field holding a comma must be enclosed in double quotes"
        } else {
            "add the missing fields (an empty field is just its comma)"
        };
        let s = if cells.len() == 1 { "" } else { "s" };
        p.errors.push(RowError::new(
            line,
            None,
            format!(
                "this record has {} field{s}; the header has {width} — {hint}",
                cells.len()
            ),
        ));
    }
    let columns = p.header.take().unwrap_or_default();
    if p.errors.is_empty() {
        Ok(Table { columns, rows })
    } else {
        p.errors.sort_by_key(|e| e.line);
        Err(p.errors)
    }
}

/// A CSV reader over bytes. Every byte CSV gives a meaning to (`,` `"` CR LF) is ASCII, and UTF-8
/// never uses ASCII bytes inside a multi-byte character, so scanning bytes is safe; each field is
/// checked to be UTF-8 once it is complete, which locates a bad byte by line and column.
struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The physical line `pos` is on.
    line: usize,
    /// The header's names once read, for error locations.
    header: Option<Vec<String>>,
    errors: Vec<RowError>,
    encoding_reported: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The column label for field `index`: its header name, or `#N`.
    fn label(&self, index: usize) -> String {
        match self.header.as_ref().and_then(|h| h.get(index)) {
            Some(name) => name.clone(),
            None => format!("#{}", index + 1),
        }
    }

    fn error(&mut self, line: usize, index: usize, message: impl Into<String>) {
        let column = Some(self.label(index));
        self.errors.push(RowError::new(line, column, message));
    }

    /// Consumes one line end (LF, CRLF or a lone CR) if `pos` is at one.
    fn line_end(&mut self) -> bool {
        match self.peek() {
            Some(b'\n') => self.pos += 1,
            Some(b'\r') => {
                self.pos += 1;
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
            }
            _ => return false,
        }
        self.line += 1;
        true
    }

    /// The next record and the line it starts on, skipping empty lines; `None` at the end.
    fn record(&mut self) -> Option<(usize, Vec<String>)> {
        while self.line_end() {}
        if self.pos >= self.bytes.len() {
            return None;
        }
        let line = self.line;
        let mut fields = Vec::with_capacity(self.header.as_ref().map_or(8, Vec::len));
        loop {
            let field = self.field(fields.len());
            fields.push(field);
            // A field ends at a comma, a line end or the end of the input.
            if self.peek() == Some(b',') {
                self.pos += 1;
            } else {
                self.line_end();
                return Some((line, fields));
            }
        }
    }

    fn field(&mut self, index: usize) -> String {
        if self.peek() == Some(b'"') {
            return self.quoted(index);
        }
        let bytes = self.bytes;
        let (start, line) = (self.pos, self.line);
        let mut quote_reported = false;
        while let Some(b) = self.peek() {
            match b {
                b',' | b'\r' | b'\n' => break,
                b'"' if !quote_reported => {
                    quote_reported = true;
                    self.error(line, index, "a `\"` inside a field that does not start with one; enclose the whole field in double quotes and double each `\"` inside it, e.g. `\"say \"\"hi\"\"\"`");
                }
                _ => {}
            }
            self.pos += 1;
        }
        self.text(bytes[start..self.pos].to_vec(), line, index)
    }

    /// A field starting with `"` at `pos`.
    fn quoted(&mut self, index: usize) -> String {
        let bytes = self.bytes;
        let open = self.line;
        self.pos += 1;
        let mut buf = Vec::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' {
                    break;
                }
                if b == b'\n' || (b == b'\r' && bytes.get(self.pos + 1) != Some(&b'\n')) {
                    self.line += 1;
                }
                self.pos += 1;
            }
            buf.extend_from_slice(&bytes[start..self.pos]);
            if self.peek().is_none() {
                self.error(open, index, "this quoted field is never closed (the file ends first); add the closing `\"`, and write any `\"` inside the field as `\"\"`");
                break;
            }
            // At a `"`: a doubled one stands for itself, a single one closes the field.
            if bytes.get(self.pos + 1) == Some(&b'"') {
                buf.push(b'"');
                self.pos += 2;
                continue;
            }
            self.pos += 1;
            let extra_start = self.pos;
            while !matches!(self.peek(), None | Some(b',' | b'\r' | b'\n')) {
                self.pos += 1;
            }
            if self.pos > extra_start {
                let extra = &bytes[extra_start..self.pos];
                let shown = excerpt(&String::from_utf8_lossy(extra));
                let line = self.line;
                self.error(line, index, format!("`{shown}` follows the closing `\"` of a quoted field; put all of the field inside the quotes, and write a `\"` inside it as `\"\"`"));
                buf.extend_from_slice(extra);
            }
            break;
        }
        self.text(buf, open, index)
    }

    /// The field's bytes as text; reports the first byte in the file that is not UTF-8. `line` is the
    /// line the field's content starts on.
    fn text(&mut self, raw: Vec<u8>, line: usize, index: usize) -> String {
        match String::from_utf8(raw) {
            Ok(s) => s,
            Err(e) => {
                let raw = e.as_bytes();
                if !self.encoding_reported {
                    self.encoding_reported = true;
                    let at = e.utf8_error().valid_up_to();
                    let bad_line = line + line_breaks(&raw[..at]);
                    self.error(bad_line, index, format!("byte 0x{:02X} is not UTF-8 (the first such byte in the file); save the file as UTF-8 — in a spreadsheet, as \"CSV UTF-8\"", raw[at]));
                }
                String::from_utf8_lossy(raw).into_owned()
            }
        }
    }
}

/// The line ends in `bytes`: LF, CRLF (once) and lone CR.
fn line_breaks(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// At most 20 characters of `text`, for messages.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(20) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn trim_ascii(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// Renders a table as CSV (header first, `\n` line ends), quoting a field only when it must
/// (comma, double quote, CR or LF, or leading/trailing whitespace); `"` doubled inside quotes. Two
/// more cases are quoted so that [`parse_csv`] gives back exactly what was written: an empty field
/// that is a record's only field (written `""`, as an empty line is skipped), and a field starting
/// with U+FEFF (which would otherwise read as a byte order mark at the start of the file). Rows are
/// written as given, whatever their length.
pub fn write_csv(columns: &[String], rows: &[Vec<String>]) -> String {
    let size: usize = std::iter::once(columns)
        .chain(rows.iter().map(Vec::as_slice))
        .map(|r| r.iter().map(|f| f.len() + 3).sum::<usize>() + 1)
        .sum();
    let mut out = String::with_capacity(size);
    write_record(&mut out, columns);
    for row in rows {
        write_record(&mut out, row);
    }
    out
}

fn write_record(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A record's only field, when empty, is quoted: an empty line would be skipped.
        let alone_and_empty = field.is_empty() && fields.len() == 1;
        if !needs_quotes(field) && !alone_and_empty {
            out.push_str(field);
            continue;
        }
        out.push('"');
        let mut rest = field.as_str();
        while let Some(at) = rest.find('"') {
            out.push_str(&rest[..=at]);
            out.push('"');
            rest = &rest[at + 1..];
        }
        out.push_str(rest);
        out.push('"');
    }
    out.push('\n');
}

fn needs_quotes(field: &str) -> bool {
    field
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
        || field.starts_with(char::is_whitespace)
        || field.ends_with(char::is_whitespace)
        || field.starts_with('\u{feff}')
}

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
    pub line: usize,
    /// Attribute values (strings from cells; constants as given).
    pub attributes: Map<String, Value>,
    /// Attribute name → the column it came from (absent for constants), for error locations. Every
    /// attribute the template takes from a column is listed, even when this row leaves it unset.
    pub columns: BTreeMap<String, String>,
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
pub fn columns_for(template: &Template) -> Vec<String> {
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
pub fn row_for(
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
pub fn name_from(text: &str) -> String {
    if text.is_empty() {
        return "_".to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
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
    use proptest::prelude::*;
    use serde_json::json;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn table(text: &str) -> Table {
        match parse_csv(text.as_bytes()) {
            Ok(t) => t,
            Err(e) => panic!("unexpected errors: {e:?}"),
        }
    }

    fn errors(bytes: &[u8]) -> Vec<RowError> {
        match parse_csv(bytes) {
            Ok(t) => panic!("expected errors, got {t:?}"),
            Err(e) => e,
        }
    }

    fn err(line: usize, column: Option<&str>, message: &str) -> RowError {
        RowError::new(line, column.map(str::to_string), message)
    }

    fn rows(t: &Table) -> Vec<(usize, Vec<&str>)> {
        t.rows
            .iter()
            .map(|r| (r.line, r.cells.iter().map(String::as_str).collect()))
            .collect()
    }

    #[test]
    fn a_leading_bom_is_skipped() {
        let t = table("\u{feff}name,team\nada,sales\n");
        assert_eq!(t.columns, strings(&["name", "team"]));
        assert_eq!(rows(&t), vec![(2, vec!["ada", "sales"])]);
        // Only at the very start: elsewhere U+FEFF is a character like any other.
        let t = table("name\n\u{feff}ada\n");
        assert_eq!(rows(&t), vec![(2, vec!["\u{feff}ada"])]);
    }

    #[test]
    fn crlf_lf_and_lone_cr_end_records_alike() {
        let expected = vec![(2, vec!["ada", "sales"]), (3, vec!["grace", ""])];
        for text in [
            "name,team\nada,sales\ngrace,\n",
            "name,team\r\nada,sales\r\ngrace,\r\n",
            "name,team\rada,sales\rgrace,",
            "name,team\r\nada,sales\ngrace,",
        ] {
            let t = table(text);
            assert_eq!(t.columns, strings(&["name", "team"]), "{text:?}");
            assert_eq!(rows(&t), expected, "{text:?}");
        }
    }

    #[test]
    fn quoted_fields_hold_commas_line_ends_and_quotes_and_later_lines_stay_right() {
        let text = "name,note,team\nada,\"one, two\",sales\n\"grace\",\"line 1\nline 2\r\nline 3\",support\nlin,\"say \"\"hi\"\"\",\"\"\n\nbob,,\"\r\"\nsam,x,y\n";
        let t = table(text);
        assert_eq!(
            rows(&t),
            vec![
                (2, vec!["ada", "one, two", "sales"]),
                (3, vec!["grace", "line 1\nline 2\r\nline 3", "support"]),
                (6, vec!["lin", "say \"hi\"", ""]),
                (8, vec!["bob", "", "\r"]),
                (10, vec!["sam", "x", "y"]),
            ]
        );
    }

    #[test]
    fn empty_lines_are_skipped_a_final_newline_is_no_record_and_commas_make_empty_fields() {
        let t = table("\n\na,b,c\n\n,,\n\r\n\"\",x,\n\n");
        assert_eq!(t.columns, strings(&["a", "b", "c"]));
        assert_eq!(
            rows(&t),
            vec![(5, vec!["", "", ""]), (7, vec!["", "x", ""])]
        );
        let t = table("only\n");
        assert_eq!(rows(&t), vec![]);
        let t = table("only\n\"\"\nx");
        assert_eq!(rows(&t), vec![(2, vec![""]), (3, vec!["x"])]);
    }

    #[test]
    fn header_names_are_trimmed_and_cells_are_not() {
        let t = table(" name ,\tteam\n ada , sales\t\n");
        assert_eq!(t.columns, strings(&["name", "team"]));
        assert_eq!(rows(&t), vec![(2, vec![" ada ", " sales\t"])]);
        assert_eq!(t.column("team"), Some(1));
        assert_eq!(t.column(" team"), None);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_located() {
        let mut bytes = b"name,note\nada,\"two\nlines\"\ngrace,caf".to_vec();
        bytes.push(0xE9);
        bytes.extend_from_slice(b"\nlin,\xFF\n");
        assert_eq!(errors(&bytes), vec![err(4, Some("note"), "byte 0xE9 is not UTF-8 (the first such byte in the file); save the file as UTF-8 — in a spreadsheet, as \"CSV UTF-8\"")]);
        // Inside a quoted field, on its second line; and in the header, before names are known.
        let e = errors(b"name,note\nada,\"ok\nno \xC3(\"\n");
        assert_eq!((e[0].line, e[0].column.as_deref()), (3, Some("note")));
        assert!(
            e[0].message.starts_with("byte 0xC3 is not UTF-8"),
            "{}",
            e[0].message
        );
        let e = errors(b"name,t\xE9am\nada,x\n");
        assert_eq!(
            (e.len(), e[0].line, e[0].column.as_deref()),
            (1, 1, Some("#2"))
        );
    }

    #[test]
    fn an_unterminated_quote_names_the_line_it_opened_on() {
        assert_eq!(
            errors(b"name,note\nada,x\ngrace,\"open\nstill open\nand on\n"),
            vec![err(3, Some("note"), "this quoted field is never closed (the file ends first); add the closing `\"`, and write any `\"` inside the field as `\"\"`")]
        );
    }

    #[test]
    fn characters_after_a_closing_quote_are_an_error() {
        assert_eq!(
            errors(b"name,note,team\nada,\"two\nlines\" and more,sales\n"),
            vec![err(3, Some("note"), "` and more` follows the closing `\"` of a quoted field; put all of the field inside the quotes, and write a `\"` inside it as `\"\"`")]
        );
    }

    #[test]
    fn a_bare_quote_in_an_unquoted_field_is_an_error_once_per_field() {
        assert_eq!(
            errors(b"name,note\nada,say \"hi\"\nlin,x\"\n"),
            vec![
                err(2, Some("note"), "a `\"` inside a field that does not start with one; enclose the whole field in double quotes and double each `\"` inside it, e.g. `\"say \"\"hi\"\"\"`"),
                err(3, Some("note"), "a `\"` inside a field that does not start with one; enclose the whole field in double quotes and double each `\"` inside it, e.g. `\"say \"\"hi\"\"\"`"),
            ]
        );
        // A space before the opening quote makes the field unquoted.
        let e = errors(b"a,b\n1, \"2\"\n");
        assert_eq!(
            (e.len(), e[0].line, e[0].column.as_deref()),
            (1, 2, Some("b"))
        );
    }

    #[test]
    fn a_record_with_the_wrong_number_of_fields_is_an_error() {
        assert_eq!(
            errors(b"a,b,c,d,e\n1,2,3,4,5\n\"x\ny\",2,3,4\n1,2,3,4,5,6\n1\n"),
            vec![
                err(3, None, "this record has 4 fields; the header has 5 — add the missing fields (an empty field is just its comma)"),
                err(5, None, "this record has 6 fields; the header has 5 — a field holding a comma must be enclosed in double quotes"),
                err(6, None, "this record has 1 field; the header has 5 — add the missing fields (an empty field is just its comma)"),
            ]
        );
    }

    #[test]
    fn header_names_must_be_present_and_unique() {
        assert_eq!(
            errors(b"name, ,email,team,email\nada,x,y,z,w\n"),
            vec![
                err(1, Some("#2"), "this header column has no name; give every column a unique name"),
                err(1, Some("#5"), "column `email` appears twice in the header (columns 3 and 5); rename or remove one"),
            ]
        );
        // Trimming makes these the same name.
        let e = errors(b"\n\nname,name \n");
        assert_eq!(
            (e.len(), e[0].line, e[0].column.as_deref()),
            (1, 3, Some("#2"))
        );
    }

    #[test]
    fn an_empty_file_has_no_header() {
        let expected = vec![err(0, None, "the file is empty: its first line must be a header naming the columns, e.g. `username,email,team`")];
        for bytes in [&b""[..], b"\xEF\xBB\xBF", b"\n\r\n\n"] {
            assert_eq!(errors(bytes), expected, "{bytes:?}");
        }
    }

    #[test]
    fn all_problems_are_reported_in_line_order() {
        let e = errors(b"a,b\n1\n\"x\"y,2\nz,\"open\n");
        let found: Vec<(usize, Option<&str>)> =
            e.iter().map(|e| (e.line, e.column.as_deref())).collect();
        assert_eq!(found, vec![(2, None), (3, Some("a")), (4, Some("b"))]);
    }

    #[test]
    fn errors_display_with_their_location() {
        assert_eq!(
            err(3, Some("team"), "bad").to_string(),
            "line 3, column `team`: bad"
        );
        assert_eq!(err(3, None, "bad").to_string(), "line 3: bad");
        assert_eq!(err(0, None, "bad").to_string(), "bad");
    }

    #[test]
    fn write_csv_quotes_only_when_it_must() {
        let text = write_csv(
            &strings(&["name", "note"]),
            &[
                strings(&["ada", "plain text"]),
                strings(&["a,b", "say \"hi\""]),
                strings(&[" lead", "trail\t"]),
                strings(&["two\nlines", "cr\r"]),
                strings(&["", "\u{feff}x"]),
            ],
        );
        assert_eq!(text, "name,note\nada,plain text\n\"a,b\",\"say \"\"hi\"\"\"\n\" lead\",\"trail\t\"\n\"two\nlines\",\"cr\r\"\n,\"\u{feff}x\"\n");
        assert_eq!(
            write_csv(&strings(&["only"]), &[strings(&[""]), strings(&["x"])]),
            "only\n\"\"\nx\n"
        );
        assert_eq!(write_csv(&strings(&["a"]), &[]), "a\n");
    }

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

    /// Text with everything CSV finds hard: separators, quotes, line ends, spaces, a BOM character
    /// and non-ASCII — or anything at all.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a ,\"\r\n\t\u{feff}é😀x-]{0,8}", any::<String>()]
    }

    fn header_name() -> impl Strategy<Value = String> {
        text().prop_filter("non-empty and trimmed", |s| {
            !s.is_empty() && trim_ascii(s) == s
        })
    }

    fn tables() -> impl Strategy<Value = (Vec<String>, Vec<Vec<String>>)> {
        prop::collection::btree_set(header_name(), 1..5).prop_flat_map(|names| {
            let width = names.len();
            let columns: Vec<String> = names.into_iter().collect();
            (
                Just(columns),
                prop::collection::vec(prop::collection::vec(text(), width), 0..6),
            )
        })
    }

    proptest! {
        #[test]
        fn written_csv_parses_back_exactly((columns, cells) in tables()) {
            let text = write_csv(&columns, &cells);
            let parsed = parse_csv(text.as_bytes());
            prop_assert!(parsed.is_ok(), "{:?} from {:?}", parsed, text);
            let parsed = parsed.unwrap_or_default();
            prop_assert_eq!(parsed.columns, columns);
            let back: Vec<Vec<String>> = parsed.rows.into_iter().map(|r| r.cells).collect();
            prop_assert_eq!(back, cells);
        }
    }
}
