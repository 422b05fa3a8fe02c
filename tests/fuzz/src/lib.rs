//! Roster's fuzz targets: each is a plain function over bytes that panics when one of Roster's
//! properties breaks, so the same code runs three ways:
//!
//! - libFuzzer drives it, coverage-guided (`tests/fuzz/libfuzzer`, one binary per target):
//!   `tests/fuzz/run 60` runs each target for 60 s from its seeds (`.ci/run` does), a longer
//!   run is `tests/fuzz/run 3600 csv_rows`;
//! - `cargo test -p roster-fuzz` replays every seed (`tests/fuzz/seeds/TARGET/`) and every input
//!   that once broke a property (`tests/fuzz/regressions/TARGET/`, each file named after what it
//!   found), so a crash found once stays a test;
//! - a crash libFuzzer writes (`crash-…`) is reproduced by `cargo test -p roster-fuzz` once
//!   copied into `regressions/TARGET/` under a name that says what it broke.
//!
//! ```
//! // The seeds of every target pass.
//! for (name, target) in roster_fuzz::TARGETS {
//!     target(b"");
//!     target(format!("{name}\n").as_bytes());
//! }
//! ```
#![deny(missing_docs)]

// The vendors' own reply reading, compiled here from their sources: a component crate is a
// `cdylib` only (an `rlib` beside it costs the Nimbus component 65 KB), so it cannot be a
// dependency. Their `export!` is wasm32-only; the rest is plain Rust.
#[allow(dead_code)]
#[path = "../../../guest/nimbus/src/lib.rs"]
mod roster_nimbus;
#[allow(dead_code)]
#[path = "../../../guest/symbee/src/lib.rs"]
mod roster_symbee;

use roster_engine::address;
use roster_engine::rosterfile::{expand_env, FileErrors, RosterFile};
use roster_engine::rows::{self, Cell, Template};
use roster_runtime::http::{canonical_host, AllowedHost};
use roster_runtime::redact;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A fuzz target: bytes in, a panic when a property breaks.
pub type Target = fn(&[u8]);

/// Every target, by the name its libFuzzer binary, seed and regression folders carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("roster_file", roster_file),
    ("csv_rows", csv_rows),
    ("state_file", state_file),
    ("plan_file", plan_file),
    ("allowed_hosts", allowed_hosts),
    ("redaction", redaction),
    ("vendor_reply", vendor_reply),
];

/// A directory holding `users.csv`, for roster files whose `[rows.…]` name it.
fn workdir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("roster-fuzz")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        std::fs::write(
            dir.join("users.csv"),
            "username,email,team\nalice,alice@example.com,sales\nbob,bob@example.com,support\n",
        )
        .expect("users.csv");
        dir
    })
}

/// The roster-file parser and `${VAR}` interpolation: any text gives a file or located errors,
/// never a panic; a parsed file finds each of its resources by address.
pub fn roster_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = workdir().join("roster.toml");
    match RosterFile::parse(&path, text) {
        Ok(file) => {
            for r in &file.resources {
                assert!(
                    file.resource(&r.address).is_some(),
                    "resource {} cannot be found by its address",
                    r.address
                );
                let (type_name, name) = address::parse(&r.address)
                    .unwrap_or_else(|e| panic!("address {} does not read back: {e}", r.address));
                assert_eq!(
                    (type_name.as_str(), address::of(&type_name, &name)),
                    (r.type_name.as_str(), r.address.clone()),
                    "address {} is not canonical",
                    r.address
                );
                let _ = file.line_of(&r.address);
            }
        }
        Err(FileErrors(errors)) => {
            assert!(!errors.is_empty(), "a refused roster file with no error");
            for e in &errors {
                assert!(
                    !e.message.trim().is_empty(),
                    "an error without a message: {e:?}"
                );
            }
        }
    }
    let _ = expand_env(text);
}

/// CSV rows: any bytes give a table or located errors; a table written back with
/// [`rows::write_csv`] reads as the same table; rows made into resources have unique, valid keys.
pub fn csv_rows(data: &[u8]) {
    let table = match rows::parse_csv(data) {
        Ok(t) => t,
        Err(errors) => {
            assert!(!errors.is_empty(), "refused CSV with no error");
            return;
        }
    };
    let cells: Vec<Vec<String>> = table.rows.iter().map(|r| r.cells.clone()).collect();
    let written = rows::write_csv(&table.columns, &cells);
    let again = rows::parse_csv(written.as_bytes())
        .unwrap_or_else(|e| panic!("CSV Roster wrote does not read back: {e:?}\n{written:?}"));
    assert_eq!(
        again.columns, table.columns,
        "columns changed on a round trip through {written:?}"
    );
    let again_cells: Vec<Vec<String>> = again.rows.iter().map(|r| r.cells.clone()).collect();
    assert_eq!(
        again_cells, cells,
        "cells changed on a round trip through {written:?}"
    );
    let Some((key, rest)) = table.columns.split_first() else {
        return;
    };
    let template = Template {
        key: key.clone(),
        attributes: rest
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    Cell::Column {
                        column: c.clone(),
                        default: None,
                        map: None,
                    },
                )
            })
            .collect(),
    };
    if let Ok(expanded) = rows::expand(&template, &table) {
        let mut keys = std::collections::HashSet::new();
        for row in &expanded {
            assert_eq!(
                address::check_name(&row.key),
                Ok(()),
                "row key {:?} cannot name a resource",
                row.key
            );
            let written = address::of("t", &row.key);
            assert_eq!(
                address::parse(&written),
                Ok(("t".to_string(), row.key.clone())),
                "address {written} does not read back"
            );
            assert!(
                keys.insert(row.key.clone()),
                "two rows share key {:?}",
                row.key
            );
        }
    }
}

/// State files and their journals: any text is a state or an error; a state rendered and read
/// again is the same; any bytes as a journal replay to a state or an error, never a panic, and
/// the good lines alone replay to the same state with nothing torn.
pub fn state_file(data: &[u8]) {
    let mut base = roster_engine::state::State::new();
    base.lineage = "fuzz".into();
    if let Ok(r) = roster_engine::journal::replay(base.clone(), data, "fuzz.journal") {
        assert!(r.good_len <= data.len());
        let again = roster_engine::journal::replay(base, &data[..r.good_len], "fuzz.journal")
            .expect("the good lines replay again");
        assert_eq!(
            (again.state, again.torn),
            (r.state, None),
            "the good lines alone replay differently"
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(state) = roster_engine::state::parse(text, "fuzz.state") else {
        return;
    };
    let rendered = roster_engine::state::render(&state).expect("a state renders");
    let again = roster_engine::state::parse(&rendered, "rendered")
        .unwrap_or_else(|e| panic!("a rendered state does not read back: {e:#}\n{rendered}"));
    assert_eq!(
        again, state,
        "the state changed on a round trip through\n{rendered}"
    );
}

/// Saved plan files: any text is a plan or an error; a plan saved and read again is the same.
pub fn plan_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plan) = roster_engine::planfile::parse(text, "fuzz.plan") else {
        return;
    };
    let saved = serde_json::to_string_pretty(&plan).expect("a plan serializes");
    let again = roster_engine::planfile::parse(&saved, "saved")
        .unwrap_or_else(|e| panic!("a saved plan does not read back: {e:#}\n{saved}"));
    assert_eq!(
        again, plan,
        "the plan changed on a round trip through\n{saved}"
    );
}

/// The allow-list: an entry that parses shows as an entry that parses to itself; a request it
/// allows is to its host (or, for `*.`, a name below it), whatever the case of the name; the
/// rest of the input is the request: `SCHEME HOST PORT`.
pub fn allowed_hosts(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (entry, request) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(allowed) = AllowedHost::parse(entry) else {
        return;
    };
    let shown = allowed.to_string();
    let again = AllowedHost::parse(&shown).unwrap_or_else(|e| {
        panic!("entry {entry:?} shows as {shown:?}, which does not parse: {e}")
    });
    assert_eq!(
        again, allowed,
        "entry {entry:?} shows as {shown:?}, which parses to another entry"
    );
    let mut words = request.split(' ');
    let (scheme, host) = (words.next().unwrap_or("https"), words.next().unwrap_or(""));
    let port = words
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(443);
    let allows = allowed.allows(scheme, host, port);
    assert_eq!(
        allowed.allows(scheme, &host.to_ascii_uppercase(), port),
        allows,
        "case changed the answer for {host:?} under {shown:?}"
    );
    if allows {
        let host = canonical_host(host);
        let listed = canonical_host(shown.rsplit("://").next().unwrap_or(&shown));
        let listed = listed.strip_prefix("*.").unwrap_or(&listed);
        let listed = match listed.rfind(':') {
            Some(i) if !listed.ends_with(']') => &listed[..i],
            _ => listed,
        };
        assert!(
            host == listed || host.ends_with(&format!(".{listed}")),
            "{shown:?} allowed {host:?}"
        );
    }
}

/// Redaction: with one secret (the input up to its first NUL) and a text (the rest, in which
/// bytes 0x01–0x1f stand for the secret's encoded forms, in turn), no form of the secret
/// survives in the redacted text except where it overlaps a `[redacted]` marker (a secret such
/// as `dact` is part of the marker itself). What the host emits (plain, or as a JSON string) is
/// a lossless encoding of that text, so it holds for every emission.
pub fn redaction(data: &[u8]) {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let secret = String::from_utf8_lossy(&data[..nul]).into_owned();
    let forms = redact::forms(&secret);
    let mut text = String::new();
    for chunk in data[nul + 1..].split_inclusive(|&b| (1..0x20).contains(&b) && b != b'\n') {
        let (last, body) = chunk.split_last().expect("a chunk is not empty");
        if (1..0x20).contains(last) && *last != b'\n' {
            text.push_str(&String::from_utf8_lossy(body));
            if !forms.is_empty() {
                text.push_str(&forms[*last as usize % forms.len()]);
            }
        } else {
            text.push_str(&String::from_utf8_lossy(chunk));
        }
    }
    let redacted = redact::redact_with(&text, &forms);
    let markers: Vec<(usize, usize)> = redacted
        .match_indices(redact::REDACTED)
        .map(|(i, m)| (i, i + m.len()))
        .collect();
    for form in &forms {
        for (at, _) in redacted.match_indices(form.as_str()) {
            let end = at + form.len();
            assert!(markers.iter().any(|&(s, e)| s < end && at < e), "secret {secret:?} survives as {form:?} at byte {at} of {redacted:?} (from {text:?})");
        }
    }
    if forms.is_empty() {
        assert_eq!(
            redacted, text,
            "a value too short to redact changed the text"
        );
    }
    let r = redact::Redactor::default();
    r.add(&secret);
    assert_eq!(
        r.redact(&text),
        redacted,
        "the Redactor and redact_with disagree"
    );
}

/// A vendor's answer as the components read it (the kit's reply helpers and token answers, and
/// each vendor's own reading of each operation's answer, run on the host): two bytes of status, a
/// `Retry-After` line, then the body. Never a panic; a quoted body is cut to 500 characters; a
/// token answer gives a token only on a 200 that has one; a user's state read or created is that
/// user's (never another's, never an error body's).
pub fn vendor_reply(data: &[u8]) {
    use roster_guest_kit::http::Reply;
    if data.len() < 2 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]);
    let rest = &data[2..];
    let (retry_after, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (
            Some(String::from_utf8_lossy(&rest[..i]).into_owned()),
            rest[i + 1..].to_vec(),
        ),
        None => (None, rest.to_vec()),
    };
    let reply = Reply {
        status,
        retry_after,
        body,
    };
    let text = reply.text();
    assert!(
        text.chars().count() <= 501,
        "a quoted body of {} characters",
        text.chars().count()
    );
    let _ = reply.detail();
    let _ = reply.retry_after_ms();
    let _ = reply.rate_limited();
    let _ = roster_guest_kit::oauth::refused_credential(&reply);
    if let Ok((token, _)) = roster_guest_kit::oauth::token_answer(&reply) {
        assert_eq!(status, 200, "a token from an HTTP {status} answer");
        assert!(
            reply
                .json()
                .expect("a token answer is JSON")
                .get("access_token")
                .and_then(|t| t.as_str())
                == Some(token.as_str())
        );
    }
    let _ =
        roster_guest_kit::oauth::expires_soon(&String::from_utf8_lossy(&reply.body), 1_700_000_000);
    if let Some(v) = &reply.retry_after {
        let _ = roster_guest_kit::retry_after::parse(v, u64::MAX);
        let _ = roster_guest_kit::retry_after::parse(v, 0);
    }

    const ID: &str = "9fce70af-a632-49ca-bc0d-53db5a21c5b3";
    let own = |state: &serde_json::Map<String, serde_json::Value>, key: &str, id: &str| {
        let got = state
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("a state without `{key}`: {state:?}"));
        assert!(
            got.eq_ignore_ascii_case(id),
            "the state of {got} was taken for {id}"
        );
    };
    if let Ok(Some(state)) = roster_nimbus::read_outcome(ID, &reply) {
        assert_eq!(status, 200, "a user read from an HTTP {status} answer");
        own(&state, "o365_id", ID);
    }
    for copy in [false, true] {
        if let Ok(Some(state)) = roster_nimbus::create_outcome(copy, ID, &reply) {
            own(&state, "o365_id", ID);
        }
    }
    if roster_nimbus::delete_outcome(&reply).is_ok() {
        assert!(
            status == 200 || status == 204,
            "a delete taken as done on HTTP {status}"
        );
    }
    let _ = roster_nimbus::license_usage_outcome(&reply);
    if let Ok(body) = roster_symbee::body_of(&reply) {
        if let Ok(Some(state)) = roster_symbee::read_outcome("mmars@abc-gadgets.com", &reply, &body)
        {
            assert_eq!(status, 200, "a user read from an HTTP {status} answer");
            own(&state, "login_user_id", "mmars@abc-gadgets.com");
            assert!(state["connect_user_id"].is_string() || state["connect_user_id"].is_null());
        }
        if roster_symbee::delete_outcome(&reply, &body).is_ok() {
            assert_eq!(
                body["result"], "SUCCESS",
                "a delete taken as done without SUCCESS"
            );
        }
    }
}
