//! Resource addresses: `TYPE.NAME`, the name written as the roster file writes it in
//! `[resource.TYPE.NAME]` — bare when it is a *bare name* (ASCII letters, digits, `_` and `-`),
//! otherwise quoted as a TOML basic string. A resource made from the CSV row keyed
//! `ada@example.com` is therefore `nimbus_user."ada@example.com"`, exactly the address of the
//! hand-written `[resource.nimbus_user."ada@example.com"]`, and `nimbus_user.ada` stays as it was.
//!
//! The same quoting makes the dotted keys of error messages unambiguous
//! (`resource.nimbus_user."ada.b@example.com".email`), so `split` can take them apart again.
//!
//! A name is any text that is not empty, has no control characters and does not start or end with
//! white space ([`check_name`]). A type name is a bare name.

/// Whether `s` is a bare name: not empty, only ASCII letters, digits, `_` and `-`.
pub(crate) fn is_bare(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_bare_char)
}

/// Whether `c` may stand in a bare name: an ASCII letter or digit, `_` or `-`.
pub(crate) fn is_bare_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Why `name` cannot name a resource, if it cannot.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("a name cannot be empty".to_string())
    } else if name.chars().any(char::is_control) {
        Err(format!("name {} holds a control character (a line end or tab, say); names are one line of text", quote(name)))
    } else if name.trim() != name {
        Err(format!(
            "name {} starts or ends with white space; remove it (a name is matched exactly)",
            quote(name)
        ))
    } else {
        Ok(())
    }
}

/// `name` as one segment of a dotted key: itself when bare, else quoted.
pub(crate) fn segment(name: &str) -> String {
    if is_bare(name) {
        name.to_string()
    } else {
        quote(name)
    }
}

/// The address of resource `name` of type `type_name`.
pub fn of(type_name: &str, name: &str) -> String {
    format!("{type_name}.{}", segment(name))
}

/// `text` as a TOML basic string: `"` and `\` escaped, control characters as `\uXXXX` (or their
/// short escapes).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The quoted string at the start of `text` (which starts with `"`): its value and the rest of
/// `text` after the closing quote.
fn unquote(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => {
                let escaped = match chars.next().map(|(_, e)| e) {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some('b') => '\u{8}',
                    Some('f') => '\u{c}',
                    Some(u @ ('u' | 'U')) => {
                        let digits: String = chars.by_ref().take(if u == 'u' { 4 } else { 8 }).map(|(_, d)| d).collect();
                        u32::from_str_radix(&digits, 16)
                            .ok()
                            .filter(|_| digits.len() == if u == 'u' { 4 } else { 8 })
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("`\\{u}{digits}` is not a character"))?
                    }
                    Some(other) => return Err(format!("`\\{other}` is not an escape (use `\\\"` for a quote and `\\\\` for a backslash)")),
                    None => return Err("the quoted name does not end".to_string()),
                };
                out.push(escaped);
            }
            c => out.push(c),
        }
    }
    Err("the quoted name does not end (no closing `\"`)".to_string())
}

/// The segments of a dotted key whose segments are bare or quoted (as [`segment`] writes them);
/// `None` when it is not one.
#[cfg(test)]
fn split(path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = path;
    loop {
        let (segment, after) = first_segment(rest)?;
        out.push(segment);
        match after.strip_prefix('.') {
            Some(next) => rest = next,
            None if after.is_empty() => return Some(out),
            None => return None,
        }
    }
}

/// The first segment of a dotted key (bare or quoted) and what follows it (empty, or from the
/// next dot on); `None` when a quoted segment is malformed.
pub(crate) fn first_segment(path: &str) -> Option<(String, &str)> {
    if path.starts_with('"') {
        unquote(path).ok()
    } else {
        let end = path.find('.').unwrap_or(path.len());
        Some((path[..end].to_string(), &path[end..]))
    }
}

/// The byte offset of the dot before the last segment of a dotted key, outside quotes.
pub(crate) fn last_dot(path: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    let mut last = None;
    for (i, b) in path.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'.' if !quoted => last = Some(i),
            _ => {}
        }
    }
    last
}

/// An address as a user typed it, as `(type, name)`: `TYPE.NAME` where NAME is quoted as the
/// roster file quotes it, or written as is (everything after the first dot: a type name has no
/// dot, so `nimbus_user.ada@example.com` needs no quotes on a command line).
pub fn parse(text: &str) -> Result<(String, String), String> {
    let (type_name, rest) = text.split_once('.').ok_or_else(|| {
        format!("`{text}` is not an address: expected TYPE.NAME (e.g. nimbus_user.ada)")
    })?;
    if !is_bare(type_name) {
        return Err(format!("`{text}` is not an address: the type `{type_name}` may hold only ASCII letters, digits, `_` and `-`"));
    }
    let name = if rest.starts_with('"') {
        match unquote(rest) {
            Ok((name, "")) => name,
            Ok((_, after)) => {
                return Err(format!(
                    "`{text}` is not an address: `{after}` follows the quoted name"
                ))
            }
            Err(why) => return Err(format!("`{text}` is not an address: {why}")),
        }
    } else {
        rest.to_string()
    };
    check_name(&name).map_err(|why| format!("`{text}` is not an address: {why}"))?;
    Ok((type_name.to_string(), name))
}

/// An address as a user typed it, written as Roster writes it (see [`parse`]).
pub fn canonical(text: &str) -> Result<String, String> {
    parse(text).map(|(type_name, name)| of(&type_name, &name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bare_names_stay_bare_and_others_are_quoted_as_toml_quotes_them() {
        assert_eq!(of("nimbus_user", "ada"), "nimbus_user.ada");
        assert_eq!(of("nimbus_user", "ada-b_2"), "nimbus_user.ada-b_2");
        assert_eq!(
            of("nimbus_user", "ada@example.com"),
            r#"nimbus_user."ada@example.com""#
        );
        assert_eq!(of("t", "say \"hi\" \\ bye"), r#"t."say \"hi\" \\ bye""#);
        assert_eq!(of("t", "Zoë Müller"), "t.\"Zoë Müller\"");
        // TOML reads the quoted form back as the same key.
        let doc: toml_edit::DocumentMut = format!("[resource.{}]\nx = 1\n", of("t", "a.b\"c\\d é"))
            .parse()
            .expect("valid TOML");
        let names: Vec<&str> = doc["resource"]["t"]
            .as_table()
            .expect("a table")
            .iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, ["a.b\"c\\d é"]);
    }

    #[test]
    fn names_refused_say_why() {
        assert!(check_name("").is_err());
        assert!(check_name("ada\nb")
            .unwrap_err()
            .contains("control character"));
        assert!(check_name(" ada").unwrap_err().contains("white space"));
        assert!(check_name("ada@example.com").is_ok());
    }

    #[test]
    fn user_addresses_are_read_quoted_or_as_typed() {
        assert_eq!(
            canonical("nimbus_user.ada"),
            Ok("nimbus_user.ada".to_string())
        );
        assert_eq!(
            canonical(r#"nimbus_user."ada""#),
            Ok("nimbus_user.ada".to_string())
        );
        assert_eq!(
            canonical("nimbus_user.ada@example.com"),
            Ok(r#"nimbus_user."ada@example.com""#.to_string())
        );
        assert_eq!(
            canonical(r#"nimbus_user."a.b@example.com""#),
            Ok(r#"nimbus_user."a.b@example.com""#.to_string())
        );
        for bad in [
            "nimbus_user",
            "nimbus_user.",
            "a b.c",
            r#"t."unterminated"#,
            r#"t."x"y"#,
            r#"t."\q""#,
            "t. ada",
        ] {
            assert!(canonical(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn dotted_keys_split_outside_quotes() {
        assert_eq!(
            split(r#"resource.t."a.b".email"#),
            Some(vec![
                "resource".into(),
                "t".into(),
                "a.b".into(),
                "email".into()
            ])
        );
        assert_eq!(last_dot(r#"resource.t."a.b""#), Some(10));
        assert_eq!(last_dot(r#"resource.t."a\".b""#), Some(10));
        assert_eq!(split(r#"t."a"b"#), None);
    }

    proptest! {
        #[test]
        fn every_valid_name_round_trips(name in "\\PC{1,24}") {
            prop_assume!(check_name(&name).is_ok());
            let address = of("nimbus_user", &name);
            prop_assert_eq!(parse(&address), Ok(("nimbus_user".to_string(), name.clone())));
            prop_assert_eq!(split(&format!("resource.{address}.email")), Some(vec!["resource".to_string(), "nimbus_user".to_string(), name.clone(), "email".to_string()]));
            prop_assert_eq!(last_dot(&format!("resource.{address}")), Some("resource.nimbus_user".len()));
        }
    }
}
