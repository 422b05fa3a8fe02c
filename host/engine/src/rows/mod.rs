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

mod csv;
mod template;

pub use self::csv::{parse_csv, write_csv, Row, RowError, Table};
pub use self::template::{expand, Cell, Expanded, Template};
pub(crate) use self::template::{name_from, row_for};

/// Helpers the tests of both halves share.
#[cfg(test)]
mod test_support {
    use super::{parse_csv, RowError, Table};

    pub(super) fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    pub(super) fn table(text: &str) -> Table {
        match parse_csv(text.as_bytes()) {
            Ok(t) => t,
            Err(e) => panic!("unexpected errors: {e:?}"),
        }
    }

    pub(super) fn err(line: usize, column: Option<&str>, message: &str) -> RowError {
        RowError::new(line, column.map(str::to_string), message)
    }
}
