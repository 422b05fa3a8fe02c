//! The parser: a roster file's tables (as JSON, with the line of every key) checked and made
//! into declarations, every problem recorded as a located [`FileError`].

use super::interpolate::expand_env;
use super::lines::{join, line_in};
use super::{
    ComponentRef, FileError, ProviderDecl, RateOverride, ResourceDecl, RosterFile, RowOrigin,
    RowSource, RowsDecl, Settings, META_KEYS,
};
use roster_runtime::secrets::{AwsOptions, SecretSource};
use roster_runtime::Limits;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One provider block given as data rather than read from a roster file — how the Terraform host
/// takes Terraform's provider block: a table with the keys of `[provider.NAME]` (`config`,
/// `secrets`, `allowed_hosts`, `rate_limit`, …), checked by the same rules. Strings are taken
/// as they are (no `${ENV}`); relative `file:` paths resolve against `base`. Errors are
/// (dotted key, message).
pub fn provider_from_table(
    name: &str,
    table: &Map<String, Value>,
    base: &Path,
) -> Result<ProviderDecl, Vec<(String, String)>> {
    let mut p = Parser {
        file: PathBuf::new(),
        expand_env: false,
        lines: HashMap::new(),
        errors: Vec::new(),
        sources: Vec::new(),
    };
    let decl = p.provider(name, table, "", base);
    match decl {
        Some(d) if p.errors.is_empty() => Ok(d),
        _ => Err(p.errors.into_iter().map(|e| (e.key, e.message)).collect()),
    }
}

/// The file a rows source reads.
fn decl_file(decl: &RowsDecl) -> &Path {
    match &decl.source {
        RowSource::Csv(p) => p,
    }
}

pub(super) struct Parser {
    pub(super) file: PathBuf,
    /// Whether strings may name environment variables (`${NAME}`): in a roster file, yes; in a
    /// provider block given as data (by Terraform, which interpolates its own), no.
    pub(super) expand_env: bool,
    pub(super) lines: HashMap<String, usize>,
    pub(super) errors: Vec<FileError>,
    /// Each rows source read: (name, the SHA-256 of its bytes), for the digest.
    pub(super) sources: Vec<(String, Vec<u8>)>,
}

impl Parser {
    fn err(&mut self, key: &str, message: impl Into<String>) {
        let line = self.line(key);
        self.errors.push(FileError {
            file: self.file.clone(),
            line,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Expands environment variables in every string below `v`.
    fn expand(&mut self, v: &Value, key: &str) -> Value {
        match v {
            Value::String(_) if !self.expand_env => v.clone(),
            Value::String(s) => match expand_env(s) {
                Ok(e) => Value::String(e),
                Err(m) => {
                    self.err(key, m);
                    v.clone()
                }
            },
            Value::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| self.expand(x, &format!("{key}[{i}]")))
                    .collect(),
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), self.expand(x, &join(key, k))))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn table<'a>(&mut self, v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
        match v.as_object() {
            Some(m) => Some(m),
            None => {
                self.err(key, "must be a table");
                None
            }
        }
    }

    fn unknown_keys(&mut self, m: &Map<String, Value>, key: &str, known: &[&str]) {
        for k in m.keys() {
            if !known.contains(&k.as_str()) {
                self.err(
                    &join(key, k),
                    format!("unknown key `{k}`; expected one of: {}", known.join(", ")),
                );
            }
        }
    }

    fn number(&mut self, m: &Map<String, Value>, key: &str, field: &str, min: u64) -> Option<u64> {
        let v = m.get(field)?;
        match v.as_u64() {
            Some(n) if n >= min => Some(n),
            _ => {
                self.err(
                    &join(key, field),
                    format!("`{field}` must be a whole number ≥ {min}"),
                );
                None
            }
        }
    }

    /// An optional `true`/`false` (unset is false).
    fn boolean(&mut self, m: &Map<String, Value>, key: &str, field: &str) -> bool {
        match m.get(field) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(
                    &join(key, field),
                    format!("`{field}` must be true or false"),
                );
                false
            }
        }
    }

    fn string(&mut self, m: &Map<String, Value>, key: &str, field: &str) -> Option<String> {
        let v = m.get(field)?;
        match v.as_str() {
            Some(s) if !self.expand_env => Some(s.to_string()),
            Some(s) => match expand_env(s) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.err(&join(key, field), e);
                    None
                }
            },
            None => {
                self.err(&join(key, field), format!("`{field}` must be a string"));
                None
            }
        }
    }

    pub(super) fn build(&mut self, root: &Value) -> RosterFile {
        let empty = Map::new();
        let root = root.as_object().unwrap_or(&empty).clone();
        self.unknown_keys(&root, "", &["settings", "provider", "resource", "rows"]);
        let base = self
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let settings_map = root
            .get("settings")
            .and_then(|v| self.table(v, "settings"))
            .cloned()
            .unwrap_or_default();
        self.unknown_keys(
            &settings_map,
            "settings",
            &[
                "state",
                "concurrency",
                "mass_delete_threshold",
                "max_retry_wait_secs",
            ],
        );
        let state = self
            .string(&settings_map, "settings", "state")
            .unwrap_or_else(|| "roster.state.json".into());
        let settings = Settings {
            state: base.join(state),
            concurrency: self
                .number(&settings_map, "settings", "concurrency", 1)
                .unwrap_or(4) as usize,
            mass_delete_threshold: self
                .number(&settings_map, "settings", "mass_delete_threshold", 0)
                .unwrap_or(10) as usize,
            max_retry_wait: Duration::from_secs(
                self.number(&settings_map, "settings", "max_retry_wait_secs", 0)
                    .unwrap_or(120),
            ),
        };

        let mut providers = BTreeMap::new();
        let provider_tables = root
            .get("provider")
            .and_then(|v| self.table(v, "provider"))
            .cloned()
            .unwrap_or_default();
        for (name, v) in &provider_tables {
            let key = format!("provider.{name}");
            let Some(m) = self.table(v, &key).cloned() else {
                continue;
            };
            if let Some(p) = self.provider(name, &m, &key, &base) {
                providers.insert(name.clone(), p);
            }
        }

        let mut resources = Vec::new();
        let types = root
            .get("resource")
            .and_then(|v| self.table(v, "resource"))
            .cloned()
            .unwrap_or_default();
        for (type_name, v) in &types {
            let Some(named) = self.table(v, &join("resource", type_name)).cloned() else {
                continue;
            };
            for (name, v) in &named {
                let key = format!("resource.{}", crate::address::of(type_name, name));
                let Some(m) = self.table(v, &key).cloned() else {
                    continue;
                };
                if let Some(r) = self.resource(type_name, name, &m, &key, &providers) {
                    resources.push(r);
                }
            }
        }

        let mut rows = BTreeMap::new();
        let sources = root
            .get("rows")
            .and_then(|v| self.table(v, "rows"))
            .cloned()
            .unwrap_or_default();
        let mut addresses: HashMap<String, String> = resources
            .iter()
            .map(|r| {
                (
                    r.address.clone(),
                    format!(
                        "{}:{}",
                        self.file.display(),
                        self.line(&format!("resource.{}", r.address))
                    ),
                )
            })
            .collect();
        for (name, v) in &sources {
            let key = join("rows", name);
            let Some(m) = self.table(v, &key).cloned() else {
                continue;
            };
            let Some((decl, made)) = self.rows(name, &m, &key, &base, &providers) else {
                continue;
            };
            for r in made {
                let here = format!(
                    "{}:{}",
                    decl_file(&decl).display(),
                    r.origin.as_ref().map_or(0, |o| o.line)
                );
                match addresses.get(&r.address) {
                    Some(first) => self.errors.push(FileError {
                        file: decl_file(&decl).to_path_buf(),
                        line: r.origin.as_ref().map_or(0, |o| o.line),
                        key: format!("column {}", decl.template.key),
                        message: format!("{} is declared twice: here and at {first}; each resource needs its own name", r.address),
                    }),
                    None => {
                        addresses.insert(r.address.clone(), here);
                        resources.push(r);
                    }
                }
            }
            rows.insert(name.clone(), decl);
        }
        RosterFile {
            path: self.file.clone(),
            settings,
            providers,
            resources,
            rows,
            digest: String::new(),
            lines: HashMap::new(),
            by_address: HashMap::new(),
        }
    }

    fn line(&self, key: &str) -> usize {
        line_in(&self.lines, key)
    }

    /// One `[rows.NAME]`: its source read and every row made a resource.
    fn rows(
        &mut self,
        name: &str,
        m: &Map<String, Value>,
        key: &str,
        base: &Path,
        providers: &BTreeMap<String, ProviderDecl>,
    ) -> Option<(RowsDecl, Vec<ResourceDecl>)> {
        use crate::rows::{Cell, Template};
        self.unknown_keys(
            m,
            key,
            &["csv", "resource", "key", "provider", "adopt", "attributes"],
        );
        let required = |p: &mut Parser, field: &str, what: &str| {
            let v = p.string(m, key, field);
            if v.is_none() && !m.contains_key(field) {
                p.err(key, format!("`{field}` is required: {what}"));
            }
            v
        };
        let csv = required(
            self,
            "csv",
            "the CSV file the rows come from, relative to the roster file",
        );
        let type_name = required(
            self,
            "resource",
            "the resource type each row declares, e.g. \"nimbus_user\"",
        );
        let key_column = required(
            self,
            "key",
            "the column whose value names each resource (TYPE.VALUE)",
        );
        let adopt = self.boolean(m, key, "adopt");
        let mut attributes = Vec::new();
        match m.get("attributes") {
            None => self.err(key, "`attributes` is required: a table of attribute = constant or { column = \"…\", default = \"…\", map = { … } }"),
            Some(Value::Object(a)) => {
                for (attribute, v) in a {
                    let k = format!("{key}.attributes.{attribute}");
                    if META_KEYS.contains(&attribute.as_str()) {
                        self.err(&k, format!("`{attribute}` is set on [rows.{name}] itself, not per attribute"));
                        continue;
                    }
                    match v {
                        Value::Object(spec) => {
                            self.unknown_keys(spec, &k, &["column", "default", "map"]);
                            let Some(column) = self.string(spec, &k, "column") else {
                                if !spec.contains_key("column") {
                                    self.err(&k, "`column` is required (or give a constant value instead of a table)");
                                }
                                continue;
                            };
                            let default = self.string(spec, &k, "default");
                            let map = match spec.get("map") {
                                None => None,
                                Some(Value::Object(entries)) if entries.values().all(Value::is_string) => {
                                    Some(entries.iter().map(|(from, to)| (from.clone(), to.as_str().unwrap_or_default().to_string())).collect())
                                }
                                Some(_) => {
                                    self.err(&join(&k, "map"), "`map` must be a table of column value = attribute value (strings)");
                                    None
                                }
                            };
                            attributes.push((attribute.clone(), Cell::Column { column, default, map }));
                        }
                        constant => attributes.push((attribute.clone(), Cell::Constant(self.expand(constant, &k)))),
                    }
                }
            }
            Some(_) => self.err(&join(key, "attributes"), "must be a table"),
        }
        let provider = match m.get("provider") {
            Some(Value::String(p)) => p.clone(),
            Some(_) => {
                self.err(&join(key, "provider"), "must be a provider name");
                return None;
            }
            None => type_name
                .as_deref()
                .and_then(|t| t.split('_').next())
                .unwrap_or("")
                .to_string(),
        };
        let (csv, type_name, key_column) = (csv?, type_name?, key_column?);
        if !providers.contains_key(&provider) {
            let known: Vec<&str> = providers.keys().map(String::as_str).collect();
            self.err(
                if m.contains_key("provider") { join(key, "provider") } else { join(key, "resource") }.as_str(),
                format!("no provider `{provider}` is declared (declared: {}); add [provider.{provider}] or set `provider = \"…\"`", if known.is_empty() { "none".into() } else { known.join(", ") }),
            );
        }
        let path = base.join(&csv);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                self.err(
                    &join(key, "csv"),
                    format!("cannot read {}: {e}", path.display()),
                );
                return None;
            }
        };
        let template = Template {
            key: key_column,
            attributes,
        };
        let whole = join("rows", name);
        let located = |e: crate::rows::RowError| FileError::in_rows(&path, e, &whole);
        let table = match crate::rows::parse_csv(&bytes) {
            Ok(t) => t,
            Err(errors) => {
                self.errors.extend(errors.into_iter().map(located));
                return None;
            }
        };
        {
            use sha2::Digest;
            self.sources
                .push((name.to_string(), sha2::Sha256::digest(&bytes).to_vec()));
        }
        let expanded = match crate::rows::expand(&template, &table) {
            Ok(x) => x,
            Err(errors) => {
                self.errors.extend(errors.into_iter().map(located));
                return None;
            }
        };
        let made = expanded
            .into_iter()
            .map(|x| ResourceDecl {
                address: crate::address::of(&type_name, &x.key),
                type_name: type_name.clone(),
                provider: provider.clone(),
                adopt,
                attributes: x.attributes,
                origin: Some(RowOrigin {
                    rows: name.to_string(),
                    file: path.clone(),
                    line: x.line,
                    columns: x.columns,
                }),
            })
            .collect();
        Some((
            RowsDecl {
                name: name.to_string(),
                source: RowSource::Csv(path),
                type_name,
                provider,
                template,
                columns: table.columns,
            },
            made,
        ))
    }

    fn provider(
        &mut self,
        name: &str,
        m: &Map<String, Value>,
        key: &str,
        base: &Path,
    ) -> Option<ProviderDecl> {
        self.unknown_keys(
            m,
            key,
            &[
                "component",
                "config",
                "secrets",
                "allowed_hosts",
                "limits",
                "secret_max_age_secs",
                "aws",
                "rate_limit",
                "allow_private_networks",
            ],
        );
        // A built-in name is checked when the workspace opens (the engine does not embed them).
        let component = match self.string(m, key, "component") {
            Some(c) if roster_oci::Reference::is_oci(&c) => {
                match roster_oci::Reference::parse(&c) {
                    Ok(r) => ComponentRef::Oci(r),
                    Err(e) => {
                        self.err(&join(key, "component"), e);
                        ComponentRef::Builtin(name.to_string())
                    }
                }
            }
            Some(c) if c.ends_with(".wasm") || c.contains('/') => ComponentRef::Path(base.join(c)),
            Some(c) => ComponentRef::Builtin(c),
            None => ComponentRef::Builtin(name.to_string()),
        };
        let config = match m.get("config") {
            None => Value::Object(Map::new()),
            Some(v) if v.is_object() => self.expand(v, &join(key, "config")),
            Some(_) => {
                self.err(&join(key, "config"), "must be a table");
                Value::Object(Map::new())
            }
        };
        let mut secrets = HashMap::new();
        if let Some(s) = m
            .get("secrets")
            .and_then(|v| self.table(v, &join(key, "secrets")))
            .cloned()
        {
            for (secret, v) in &s {
                let k = format!("{key}.secrets.{secret}");
                match v.as_str().map(|s| s.parse::<SecretSource>()) {
                    // A relative file path is relative to the roster file.
                    Some(Ok(src)) => {
                        secrets.insert(secret.clone(), src.relative_to(base));
                    }
                    Some(Err(e)) => self.err(&k, e),
                    None => self.err(&k, "must be a string such as \"env:NAME\", \"file:PATH\" or \"aws-sm:SECRET_ID\""),
                }
            }
        }
        let allowed_hosts = match m.get("allowed_hosts") {
            None => vec![],
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                let hosts: Vec<String> = a
                    .iter()
                    .filter_map(|h| h.as_str())
                    .map(String::from)
                    .collect();
                if let Err(e) = roster_runtime::http::AllowedHosts::parse(&hosts) {
                    self.err(&join(key, "allowed_hosts"), e);
                }
                hosts
            }
            Some(_) => {
                self.err(&join(key, "allowed_hosts"), "must be a list of strings");
                vec![]
            }
        };
        let mut limits = Limits::default();
        if let Some(l) = m
            .get("limits")
            .and_then(|v| self.table(v, &join(key, "limits")))
            .cloned()
        {
            let k = join(key, "limits");
            self.unknown_keys(
                &l,
                &k,
                &[
                    "call_deadline_ms",
                    "memory_mb",
                    "max_instances",
                    "connect_timeout_ms",
                    "first_byte_timeout_ms",
                    "between_bytes_timeout_ms",
                ],
            );
            let ms = |n: u64| Duration::from_millis(n);
            if let Some(n) = self.number(&l, &k, "call_deadline_ms", 10) {
                limits.call_deadline = ms(n)
            }
            if let Some(n) = self.number(&l, &k, "memory_mb", 1) {
                limits.memory_bytes = (n as usize) << 20
            }
            if let Some(n) = self.number(&l, &k, "max_instances", 1) {
                limits.max_instances = n as usize
            }
            if let Some(n) = self.number(&l, &k, "connect_timeout_ms", 1) {
                limits.http.connect = ms(n)
            }
            if let Some(n) = self.number(&l, &k, "first_byte_timeout_ms", 1) {
                limits.http.first_byte = ms(n)
            }
            if let Some(n) = self.number(&l, &k, "between_bytes_timeout_ms", 1) {
                limits.http.between_bytes = ms(n)
            }
        }
        let secret_max_age =
            Duration::from_secs(self.number(m, key, "secret_max_age_secs", 0).unwrap_or(300));
        let mut aws = AwsOptions::default();
        if let Some(a) = m
            .get("aws")
            .and_then(|v| self.table(v, &join(key, "aws")))
            .cloned()
        {
            let k = join(key, "aws");
            self.unknown_keys(&a, &k, &["endpoint", "region", "profile"]);
            aws.endpoint = self.string(&a, &k, "endpoint");
            aws.region = self.string(&a, &k, "region");
            aws.profile = self.string(&a, &k, "profile");
        }
        let rate_limit = match m
            .get("rate_limit")
            .and_then(|v| self.table(v, &join(key, "rate_limit")))
            .cloned()
        {
            None => None,
            Some(r) => {
                let k = join(key, "rate_limit");
                self.unknown_keys(&r, &k, &["operations", "per_seconds"]);
                let per = match r.get("per_seconds").and_then(Value::as_f64) {
                    Some(s) if s > 0.0 => Some(Duration::from_secs_f64(s)),
                    _ => {
                        self.err(
                            &join(&k, "per_seconds"),
                            "`per_seconds` must be a number > 0",
                        );
                        None
                    }
                };
                match (self.number(&r, &k, "operations", 1), per) {
                    (Some(operations), Some(per)) => Some(RateOverride {
                        operations: operations as u32,
                        per,
                    }),
                    (None, _) => {
                        self.err(&join(&k, "operations"), "`operations` is required");
                        None
                    }
                    _ => None,
                }
            }
        };
        let allow_private_networks = self.boolean(m, key, "allow_private_networks");
        Some(ProviderDecl {
            name: name.to_string(),
            component,
            config,
            secrets,
            allowed_hosts,
            limits,
            secret_max_age,
            aws,
            rate_limit,
            allow_private_networks,
            dir: base.to_path_buf(),
        })
    }

    fn resource(
        &mut self,
        type_name: &str,
        name: &str,
        m: &Map<String, Value>,
        key: &str,
        providers: &BTreeMap<String, ProviderDecl>,
    ) -> Option<ResourceDecl> {
        if !crate::address::is_bare(type_name) {
            self.err(
                key,
                format!(
                    "resource type `{type_name}` may hold only ASCII letters, digits, `_` and `-`"
                ),
            );
        }
        if let Err(why) = crate::address::check_name(name) {
            self.err(key, format!("resource {why}"));
        }
        let provider = match m.get("provider") {
            Some(Value::String(p)) => p.clone(),
            Some(_) => {
                self.err(&join(key, "provider"), "must be a provider name");
                return None;
            }
            None => type_name.split('_').next().unwrap_or("").to_string(),
        };
        if !providers.contains_key(&provider) {
            let known: Vec<&str> = providers.keys().map(String::as_str).collect();
            self.err(
                &if m.contains_key("provider") { join(key, "provider") } else { key.to_string() },
                format!("no provider `{provider}` is declared (declared: {}); add [provider.{provider}] or set `provider = \"…\"`", if known.is_empty() { "none".into() } else { known.join(", ") }),
            );
        }
        let adopt = self.boolean(m, key, "adopt");
        let mut attributes = Map::new();
        for (k, v) in m {
            if META_KEYS.contains(&k.as_str()) {
                continue;
            }
            attributes.insert(k.clone(), self.expand(v, &join(key, k)));
        }
        Some(ResourceDecl {
            address: crate::address::of(type_name, name),
            type_name: type_name.to_string(),
            provider,
            adopt,
            attributes,
            origin: None,
        })
    }
}
