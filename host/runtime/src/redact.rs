//! Secrets never echo back: every value the host handed to a component (`secrets.get`,
//! `secrets.refresh`) and every credential it saw on a component's outgoing requests
//! (`Authorization`, API-key and token headers) is replaced by `[redacted]` in every error,
//! trap message and log line the runtime lets out — a vendor error page that echoes request
//! headers or bodies, quoted by a component, no longer prints a key.
//!
//! Each value is redacted in the forms it travels in: as is, base64 (standard and URL-safe,
//! padded or not), URL-encoded (`+` or `%20` for spaces, either hex case), JSON-escaped (also
//! with `\/` and with every punctuation character as `\u00XX`), and HTML-escaped. A message a
//! component cut short (`…`, or its end) that stops inside one of those forms loses that
//! prefix too. Values shorter than [`MIN_LEN`] bytes are not redacted (they would blank out
//! ordinary words).

use base64::Engine as _;
use std::collections::HashSet;
use std::sync::{Arc, RwLock};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// The shortest value that is redacted, in bytes.
pub const MIN_LEN: usize = 4;

/// The shortest prefix of a form that counts as the start of a cut-off secret.
const MIN_PREFIX: usize = 4;

/// The encoded forms of `value` (itself included), longest first, without duplicates; empty
/// when the value is shorter than [`MIN_LEN`].
pub fn forms(value: &str) -> Vec<String> {
    if value.len() < MIN_LEN {
        return Vec::new();
    }
    let bytes = value.as_bytes();
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut out = vec![
        value.to_string(),
        b64.encode(bytes),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes),
        base64::engine::general_purpose::URL_SAFE.encode(bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        form_urlencoded::byte_serialize(bytes).collect::<String>(),
        percent_encode(bytes, false),
        percent_encode(bytes, true),
        html_escape(value),
    ];
    let json = serde_json::to_string(value).expect("a string serializes");
    let json = json[1..json.len() - 1].to_string();
    out.push(json.replace('/', "\\/"));
    out.push(json);
    out.push(
        value
            .chars()
            .map(|c| {
                if c.is_ascii_punctuation() {
                    format!("\\u{:04x}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    );
    out.push(
        value
            .chars()
            .map(|c| {
                if c.is_ascii_punctuation() {
                    format!("\\u{:04X}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    );
    out.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    out.dedup();
    out
}

fn percent_encode(bytes: &[u8], lower: bool) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ if lower => format!("%{b:02x}"),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn html_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `text` with every occurrence of each form replaced by [`REDACTED`], and a form's prefix of
/// at least 4 bytes removed where the text is cut (before `…`, or at its end). `forms` must be
/// longest first (as [`forms`] gives them).
pub fn redact_with(text: &str, forms: &[String]) -> String {
    let mut out = text.to_string();
    for form in forms {
        if out.contains(form.as_str()) {
            out = out.replace(form.as_str(), REDACTED);
        }
    }
    // Cut points: before each `…`, and the end.
    let mut cuts: Vec<usize> = out.match_indices('…').map(|(i, _)| i).collect();
    cuts.push(out.len());
    for &cut in cuts.iter().rev() {
        let head = &out[..cut];
        let longest = forms
            .iter()
            .filter_map(|form| {
                (MIN_PREFIX..form.len())
                    .rev()
                    .filter(|&k| form.is_char_boundary(k))
                    .find(|&k| head.ends_with(&form[..k]))
            })
            .max();
        if let Some(k) = longest {
            out.replace_range(cut - k..cut, REDACTED);
        }
    }
    out
}

/// Names of request headers whose values are credentials.
pub fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "x-amz-security-token"
    ) || [
        "api-key",
        "apikey",
        "api_key",
        "token",
        "secret",
        "password",
        "credential",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// The credentials in one header value: the value, and for `Scheme credentials` the
/// credentials alone; for `Basic`, the decoded `user:password` and the password (also
/// URL-decoded, as OAuth clients encode it).
pub fn credentials_in(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    if let Some((scheme, rest)) = value.trim().split_once(' ') {
        let rest = rest.trim();
        out.push(rest.to_string());
        if scheme.eq_ignore_ascii_case("basic") {
            if let Some(pair) = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                if let Some((_, password)) = pair.split_once(':') {
                    out.push(password.to_string());
                    let decoded: String =
                        form_urlencoded::parse(format!("p={password}").as_bytes())
                            .map(|(_, v)| v.into_owned())
                            .collect();
                    out.push(decoded);
                }
                out.push(pair);
            }
        }
    }
    out
}

/// The values to keep out of everything the runtime lets out. Shared by every provider of a
/// [`crate::Runtime`]; cheap to clone.
#[derive(Clone, Default)]
pub struct Redactor {
    known: Arc<RwLock<Known>>,
}

/// What a [`Redactor`] remembers.
#[derive(Default)]
struct Known {
    /// Every form of every value, longest first.
    forms: Vec<String>,
    /// The values whose forms are in `forms`: a credential seen again (on every request that
    /// carries it) is not encoded thirteen ways again.
    values: HashSet<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Redactor({} forms)",
            self.known.read().unwrap().forms.len()
        )
    }
}

impl Redactor {
    /// Remembers `value` (and its encoded forms).
    pub fn add(&self, value: &str) {
        if value.len() < MIN_LEN || self.known.read().unwrap().values.contains(value) {
            return;
        }
        let new = forms(value);
        let mut known = self.known.write().unwrap();
        for f in new {
            if !known.forms.contains(&f) {
                known.forms.push(f);
            }
        }
        known
            .forms
            .sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        known.values.insert(value.to_string());
    }

    /// Remembers the credentials in an outgoing request's headers.
    pub fn add_request_headers(&self, headers: &http::HeaderMap) {
        for (name, value) in headers {
            if is_credential_header(name.as_str()) {
                if let Ok(value) = value.to_str() {
                    for c in credentials_in(value) {
                        self.add(&c);
                    }
                }
            }
        }
    }

    /// `text` with every remembered value redacted.
    pub fn redact(&self, text: &str) -> String {
        redact_with(text, &self.known.read().unwrap().forms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_redacted() {
        let secret = "s3cr et/+&\"é";
        let f = forms(secret);
        let table: Vec<String> = vec![
            secret.into(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            "s3cr+et%2F%2B%26%22%C3%A9".into(),
            "s3cr%20et%2F%2B%26%22%C3%A9".into(),
            "s3cr%20et%2f%2b%26%22%c3%a9".into(),
            r#"s3cr et/+&\"é"#.into(),
            r#"s3cr et\/+&\"é"#.into(),
            r#"s3cr et\u002f\u002b\u0026\u0022é"#.into(),
            r#"s3cr et\u002F\u002B\u0026\u0022é"#.into(),
            "s3cr et/+&amp;&quot;é".into(),
        ];
        for form in table {
            let text = format!("error page: <pre>{form}</pre> end");
            assert_eq!(
                redact_with(&text, &f),
                "error page: <pre>[redacted]</pre> end",
                "{form}"
            );
        }
    }

    #[test]
    fn secrets_are_redacted_as_the_golden_vectors_say() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/redact.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for case in v["cases"].as_array().unwrap() {
            let got = redact_with(
                case["text"].as_str().unwrap(),
                &forms(case["secret"].as_str().unwrap()),
            );
            assert_eq!(got, case["redacted"].as_str().unwrap(), "{case}");
        }
    }

    #[test]
    fn cut_off_secrets_lose_their_prefix_and_short_values_are_kept() {
        let f = forms("sandbox-api-key-1");
        assert_eq!(
            redact_with("key was sandbox-api-k…", &f),
            "key was [redacted]…"
        );
        assert_eq!(
            redact_with("key was sandbox-api-k", &f),
            "key was [redacted]"
        );
        assert_eq!(
            redact_with("a sandbox is fine", &f),
            "a sandbox is fine",
            "a prefix inside the text is not a cut"
        );
        assert_eq!(
            redact_with("ends with san", &f),
            "ends with san",
            "3 bytes are too few to tell"
        );
        assert!(forms("abc").is_empty());
        assert_eq!(redact_with("abc abc", &forms("abc")), "abc abc");
    }

    #[test]
    fn a_value_seen_again_is_remembered_once_and_a_form_that_is_a_value_gets_its_own_forms() {
        let r = Redactor::default();
        r.add("sandbox-api-key-1");
        let count = r.known.read().unwrap().forms.len();
        r.add("sandbox-api-key-1");
        assert_eq!(r.known.read().unwrap().forms.len(), count);
        // The base64 of the key is one of its forms; as a value in its own right (a header
        // carrying it), its own forms count too.
        let b64 = base64::engine::general_purpose::STANDARD.encode("sandbox-api-key-1");
        r.add(&b64);
        let twice = base64::engine::general_purpose::STANDARD.encode(&b64);
        assert_eq!(
            r.redact(&format!("echo {twice} end")),
            "echo [redacted] end"
        );
        r.add("abc");
        assert_eq!(r.redact("abc"), "abc", "short values are not remembered");
    }

    #[test]
    fn credential_headers_and_the_marker_are_the_policy_vector() {
        let v = crate::limits::policy_vector();
        let h = &v["credential_headers"];
        let cases = h["cases"].as_array().unwrap();
        assert!(cases.len() > 20);
        for case in cases {
            assert_eq!(
                is_credential_header(case["name"].as_str().unwrap()),
                case["credential"].as_bool().unwrap(),
                "{case}"
            );
        }
        // `${base64:TEXT}`: TEXT encoded here, so the vector holds no encoded credential.
        let encoded = |s: &serde_json::Value| -> String {
            let mut s = s.as_str().unwrap().to_string();
            while let Some(start) = s.find("${base64:") {
                let end = start + s[start..].find('}').unwrap();
                let text = &s[start + "${base64:".len()..end];
                let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                s.replace_range(start..=end, &b64);
            }
            s
        };
        for case in h["values"].as_array().unwrap() {
            let want: Vec<String> = case["credentials"]
                .as_array()
                .unwrap()
                .iter()
                .map(encoded)
                .collect();
            assert_eq!(credentials_in(&encoded(&case["value"])), want, "{case}");
        }
        assert_eq!(REDACTED, v["redaction"]["marker"].as_str().unwrap());
        assert_eq!(
            MIN_LEN as u64,
            v["redaction"]["min_len_bytes"].as_u64().unwrap()
        );
    }

    #[test]
    fn credentials_are_found_in_headers() {
        assert!(is_credential_header("Authorization"));
        assert!(is_credential_header("X-sc-company-api-key"));
        assert!(is_credential_header("x-api-key"));
        assert!(is_credential_header("X-Auth-Token"));
        assert!(!is_credential_header("content-type"));
        assert!(!is_credential_header("x-sc-company-code"));
        assert_eq!(
            credentials_in("Bearer abc.def"),
            vec!["Bearer abc.def", "abc.def"]
        );
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("client:p%40ss")
        );
        let found = credentials_in(&basic);
        for want in ["p%40ss", "p@ss", "client:p%40ss"] {
            assert!(found.iter().any(|c| c == want), "{want} in {found:?}");
        }
        let r = Redactor::default();
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", basic.parse().unwrap());
        headers.insert("x-sc-company-api-key", "key-12345".parse().unwrap());
        headers.insert("x-sc-company-code", "abc-gadgets".parse().unwrap());
        r.add_request_headers(&headers);
        assert_eq!(
            r.redact("p@ss key-12345 abc-gadgets"),
            "[redacted] [redacted] abc-gadgets"
        );
    }
}
