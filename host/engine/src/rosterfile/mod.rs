//! The roster file (TOML): provider instances and the resources they manage.
//!
//! ```toml
//! [settings]                       # all optional
//! state = "roster.state.json"      # relative to this file
//! concurrency = 4
//! mass_delete_threshold = 10
//! max_retry_wait_secs = 120       # the longest Retry-After honoured; longer fails the operation
//!
//! [provider.nimbus]
//! component = "nimbus"             # a built-in name, or a path to a .wasm
//! config = { cluster = "ch-01", tenant_id = "${NIMBUS_TENANT_ID}", client_id = "…" }
//! secrets = { client_secret = "env:NIMBUS_CLIENT_SECRET" }
//!
//! [resource.nimbus_user.alice]     # address nimbus_user.alice
//! o365_id = "…"
//! organization_unit_id = "…"
//!
//! [rows.agents]                    # one resource per row of a CSV file
//! csv = "agents.csv"               # UTF-8, header row, RFC 4180 quoting; relative to this file
//! resource = "nimbus_user"         # each row declares a nimbus_user…
//! key = "alias"                    # …named by this column: nimbus_user.<alias>
//! # provider = "nimbus"; adopt = true   (as for resource blocks)
//!
//! [rows.agents.attributes]         # attribute = constant, or { column, default, map }
//! o365_id = { column = "o365_id" }
//! organization_unit_id = { column = "ou", default = "…" }
//! copy_from = { column = "team", map = { sales = "…", support = "…" } }
//! ```
//!
//! Rows become ordinary resources ([`ResourceDecl`] with a `RowOrigin`): plan, apply, state
//! and import treat them like blocks, and their errors name the CSV file, line and column.
//!
//! Strings may use `${NAME}` for an environment variable (`$${` for a literal `${`). Relative
//! paths (state, components, `file:` secrets) are relative to the roster file. Every error
//! names the file, the line and the key.

mod decl;
mod interpolate;
mod json;
mod lines;
mod parse;

pub(crate) use decl::{rate_of, RateOverride, RowOrigin, RowSource, META_KEYS};
pub use decl::{
    ComponentRef, FileError, FileErrors, ProviderDecl, ResourceDecl, RosterFile, RowsDecl, Settings,
};
pub use interpolate::expand_env;
pub use parse::provider_from_table;

use json::table_to_json;
use lines::{line_in, LineIndex};
use parse::Parser;
use std::collections::HashMap;
use std::path::Path;

// Reading a roster file, and locating its keys (in it, or in the CSV file a row came from).
impl RosterFile {
    /// Reads and checks `path` (no network, no components).
    pub fn load(path: &Path) -> Result<RosterFile, FileErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            FileErrors(vec![FileError {
                file: path.into(),
                line: 0,
                key: String::new(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        RosterFile::parse(path, &text)
    }

    /// Parses `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<RosterFile, FileErrors> {
        let doc = toml_edit::Document::parse(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| LineIndex::new(text).line(s.start))
                .unwrap_or(0);
            FileErrors(vec![FileError {
                file: path.into(),
                line,
                key: String::new(),
                message: e.message().trim().to_string(),
            }])
        })?;
        let mut lines = HashMap::new();
        let root = table_to_json(doc.as_table(), "", &LineIndex::new(text), &mut lines);
        let mut p = Parser {
            file: path.to_path_buf(),
            expand_env: true,
            lines,
            errors: Vec::new(),
            sources: Vec::new(),
        };
        let file = p.build(&root);
        if p.errors.is_empty() {
            let by_address = file
                .resources
                .iter()
                .enumerate()
                .map(|(i, r)| (r.address.clone(), i))
                .collect();
            use sha2::Digest;
            // The rows' files are inputs as much as the roster file's text.
            let mut h = sha2::Sha256::new();
            h.update(text.as_bytes());
            for (name, digest) in &p.sources {
                h.update([0]);
                h.update(name.as_bytes());
                h.update([0]);
                h.update(digest);
            }
            let digest = hex::encode(h.finalize());
            Ok(RosterFile {
                lines: p.lines,
                by_address,
                digest,
                ..file
            })
        } else {
            p.errors.sort_by_key(|e| e.line);
            Err(FileErrors(p.errors))
        }
    }

    /// The line of a dotted key (or of its closest parent).
    pub fn line_of(&self, key: &str) -> usize {
        line_in(&self.lines, key)
    }

    /// A located error at `key`. A key inside a resource made from a row
    /// (`resource.TYPE.NAME[.ATTRIBUTE]`) is located at its row: the CSV file, the line, and the
    /// attribute's column.
    pub(crate) fn error(&self, key: &str, message: impl Into<String>) -> FileError {
        if let Some((r, attribute)) = self.row_resource(key) {
            let o = r.origin.as_ref().expect("row_resource finds rows only");
            let key = match attribute.and_then(|a| o.columns.get(a).map(|c| (a, c))) {
                Some((a, column)) => format!("{}.{a} (column {column})", r.address),
                None => attribute
                    .map(|a| format!("{}.{a}", r.address))
                    .unwrap_or_else(|| r.address.clone()),
            };
            return FileError {
                file: o.file.clone(),
                line: o.line,
                key,
                message: message.into(),
            };
        }
        FileError {
            file: self.path.clone(),
            line: self.line_of(key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The row-made resource a `resource.TYPE.NAME[.ATTRIBUTE]` key is in, and the attribute.
    fn row_resource<'a>(&'a self, key: &'a str) -> Option<(&'a ResourceDecl, Option<&'a str>)> {
        let rest = key.strip_prefix("resource.")?;
        let (type_name, rest) = rest.split_once('.')?;
        let (name, after) = crate::address::first_segment(rest)?;
        let attribute = after.strip_prefix('.');
        let r = self.resource(&crate::address::of(type_name, &name))?;
        r.origin.is_some().then_some((r, attribute))
    }

    /// The resource at `address`.
    pub fn resource(&self, address: &str) -> Option<&ResourceDecl> {
        self.by_address.get(address).map(|&i| &self.resources[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::PathBuf;
    use std::time::Duration;

    fn parse(text: &str) -> Result<RosterFile, FileErrors> {
        RosterFile::parse(Path::new("/x/roster.toml"), text)
    }

    #[test]
    fn parses_providers_and_resources() {
        std::env::set_var("ROSTER_TEST_TENANT", "t-1");
        let f = parse(
            r#"
[settings]
concurrency = 8

[provider.nimbus]
config = { cluster = "ch-01", tenant_id = "${ROSTER_TEST_TENANT}", price = "$${X}" }
secrets = { client_secret = "env:S" }
rate_limit = { operations = 60, per_seconds = 6 }

[resource.nimbus_user.alice]
o365_id = "a"
adopt = true
"#,
        )
        .unwrap();
        assert_eq!(f.settings.concurrency, 8);
        assert_eq!(f.settings.state, PathBuf::from("/x/roster.state.json"));
        let p = &f.providers["nimbus"];
        assert_eq!(p.component, ComponentRef::Builtin("nimbus".into()));
        assert_eq!(p.config["tenant_id"], "t-1");
        assert_eq!(p.config["price"], "${X}");
        assert_eq!(p.rate_limit.unwrap().per, Duration::from_secs(6));
        assert!(!p.allow_private_networks);
        let opted = parse("[provider.nimbus]\nallow_private_networks = true\n").unwrap();
        assert!(opted.providers["nimbus"].allow_private_networks);
        let r = &f.resources[0];
        assert_eq!(
            (r.address.as_str(), r.provider.as_str(), r.adopt),
            ("nimbus_user.alice", "nimbus", true)
        );
        assert_eq!(
            Value::Object(r.attributes.clone()),
            serde_json::json!({ "o365_id": "a" })
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let errors =
            parse("[provider.nimbus]\nconfig = { tenant_id = \"${ROSTER_TEST_SURELY_UNSET}\" }\nsecrets = { s = \"vault:x\" }\ncolour = 1\n\n[resource.symbee_user.bob]\nlogin_user_id = \"b\"\n")
                .unwrap_err();
        let text = errors.to_string();
        assert!(text.contains("/x/roster.toml:2: provider.nimbus.config.tenant_id: environment variable ROSTER_TEST_SURELY_UNSET is not set"), "{text}");
        assert!(
            text.contains("/x/roster.toml:3: provider.nimbus.secrets.s: secret source `vault:x`"),
            "{text}"
        );
        assert!(
            text.contains("/x/roster.toml:4: provider.nimbus.colour: unknown key `colour`"),
            "{text}"
        );
        assert!(
            text.contains(
                "/x/roster.toml:6: resource.symbee_user.bob: no provider `symbee` is declared"
            ),
            "{text}"
        );
        let private = parse("[provider.nimbus]\nallow_private_networks = \"yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(private.contains("/x/roster.toml:2: provider.nimbus.allow_private_networks: `allow_private_networks` must be true or false"), "{private}");
        let syntax = parse("[provider.nimbus\n").unwrap_err();
        assert_eq!(syntax.0[0].line, 1);
    }

    const ROWS: &str = "[provider.nimbus]\n\n[resource.nimbus_user.ada]\no365_id = \"a\"\n\n[rows.agents]\ncsv = \"agents.csv\"\nresource = \"nimbus_user\"\nkey = \"alias\"\n\n[rows.agents.attributes]\no365_id = { column = \"id\" }\ncopy_from = { column = \"team\", map = { sales = \"t-sales\" }, default = \"t-any\" }\nlicensed = true\n";

    fn with_csv(csv: &str) -> (tempfile::TempDir, Result<RosterFile, FileErrors>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agents.csv"), csv).unwrap();
        let path = dir.path().join("roster.toml");
        let f = RosterFile::parse(&path, ROWS);
        (dir, f)
    }

    #[test]
    fn rows_become_resources_located_at_their_line() {
        let (dir, f) = with_csv("\u{feff}alias,id,team\r\nbob,b-1,sales\r\n\"cy\",\"c,2\",\r\n");
        let f = f.unwrap();
        let addresses: Vec<&str> = f.resources.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addresses,
            ["nimbus_user.ada", "nimbus_user.bob", "nimbus_user.cy"]
        );
        let bob = f.resource("nimbus_user.bob").unwrap();
        assert_eq!(
            Value::Object(bob.attributes.clone()),
            serde_json::json!({ "o365_id": "b-1", "copy_from": "t-sales", "licensed": true })
        );
        assert_eq!(
            f.resource("nimbus_user.cy").unwrap().attributes["copy_from"],
            "t-any"
        );
        let e = f.error("resource.nimbus_user.cy.o365_id", "bad id");
        assert_eq!(
            (e.file, e.line, e.key.as_str()),
            (
                dir.path().join("agents.csv"),
                3,
                "nimbus_user.cy.o365_id (column id)"
            )
        );
        assert_eq!(f.rows["agents"].columns, ["alias", "id", "team"]);
        // The rows' file is an input: another CSV is another digest.
        let (_d2, g) = with_csv("alias,id,team\nbob,b-2,sales\n");
        assert_ne!(f.digest, g.unwrap().digest);
    }

    #[test]
    fn e_mail_keys_name_resources_as_the_roster_file_quotes_them() {
        // A hand-written quoted name and a row keyed by an e-mail address share one address form,
        // so the two collide like any other pair of names.
        let text = ROWS.replace(
            "[resource.nimbus_user.ada]",
            "[resource.nimbus_user.\"ada.b@example.com\"]",
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(
            dir.path().join("agents.csv"),
            "alias,id,team\nbob.c@example.com,b-1,sales\n",
        )
        .unwrap();
        let f = RosterFile::parse(&path, &text).unwrap();
        let addresses: Vec<&str> = f.resources.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "nimbus_user.\"ada.b@example.com\"",
                "nimbus_user.\"bob.c@example.com\""
            ]
        );
        let e = f.error(
            "resource.nimbus_user.\"bob.c@example.com\".o365_id",
            "bad id",
        );
        assert_eq!(
            (e.file, e.line, e.key.as_str()),
            (
                dir.path().join("agents.csv"),
                2,
                "nimbus_user.\"bob.c@example.com\".o365_id (column id)"
            )
        );
        let e = f.error(
            "resource.nimbus_user.\"ada.b@example.com\".o365_id",
            "bad id",
        );
        assert_eq!(
            (e.line, e.key.as_str()),
            (4, "resource.nimbus_user.\"ada.b@example.com\".o365_id")
        );
        std::fs::write(
            dir.path().join("agents.csv"),
            "alias,id,team\nada.b@example.com,b-1,sales\n",
        )
        .unwrap();
        let clash = RosterFile::parse(&path, &text).unwrap_err().to_string();
        assert!(clash.contains("agents.csv:2: column alias: nimbus_user.\"ada.b@example.com\" is declared twice: here and at"), "{clash}");
        assert!(clash.contains("roster.toml:3;"), "{clash}");
        let bad = RosterFile::parse(
            &path,
            &ROWS.replace(
                "[resource.nimbus_user.ada]",
                "[resource.nimbus_user.\" ada\"]",
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("resource.nimbus_user.\" ada\": resource name \" ada\" starts or ends with white space"), "{bad}");
    }

    #[test]
    fn row_errors_name_file_line_and_column() {
        let (dir, f) = with_csv("alias,id,team\nbob,b-1,sales\nada,a-2,\n");
        let text = f.unwrap_err().to_string();
        let csv = dir.path().join("agents.csv");
        assert_eq!(text, format!("{}:3: column alias: nimbus_user.ada is declared twice: here and at {}:3; each resource needs its own name", csv.display(), dir.path().join("roster.toml").display()));
        let (_d, f) = with_csv("alias,id,team\nbob,b-1,sales\ncy,c-2,\nbob,b-3,marketing\n");
        let text = f.unwrap_err().to_string();
        assert!(
            text.contains("agents.csv:4: column alias: key `bob` is used on lines 2 and 4"),
            "{text}"
        );
        let (_d, f) = with_csv("alias,id\nbob,b-1\n");
        let text = f.unwrap_err().to_string();
        assert!(text.contains("agents.csv:1: column team:"), "{text}");
        let missing = RosterFile::parse(Path::new("/nonexistent/roster.toml"), ROWS)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains(
                "/nonexistent/roster.toml:7: rows.agents.csv: cannot read /nonexistent/agents.csv"
            ),
            "{missing}"
        );
    }
}
