//! CSV: a rows file read into a [`Table`] ([`parse_csv`]), and a table written back
//! ([`write_csv`]), quoting as RFC 4180 requires.

use std::collections::HashMap;
use std::fmt;

/// A problem in a source of rows, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based physical line of the problem: where the record starts for a problem with a whole
    /// record or row, where the quote opened for an unterminated quoted field; 0 for the whole file.
    pub(crate) line: usize,
    /// The column: its header name when known, else `#N` (1-based position — in the header itself,
    /// or past the header's end); `None` when the problem is not in one column.
    pub(crate) column: Option<String>,
    /// What is wrong and how to fix it.
    pub(crate) message: String,
}

impl RowError {
    pub(super) fn new(line: usize, column: Option<String>, message: impl Into<String>) -> Self {
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
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
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

/// `s` without ASCII whitespace at either end.
pub(super) fn trim_ascii(s: &str) -> &str {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::test_support::{err, strings, table};
    use proptest::prelude::*;

    fn errors(bytes: &[u8]) -> Vec<RowError> {
        match parse_csv(bytes) {
            Ok(t) => panic!("expected errors, got {t:?}"),
            Err(e) => e,
        }
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
