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
//! Rows become ordinary resources ([`ResourceDecl`] with a [`RowOrigin`]): plan, apply, state
//! and import treat them like blocks, and their errors name the CSV file, line and column.
//!
//! Strings may use `${NAME}` for an environment variable (`$${` for a literal `${`). Relative
//! paths (state, components, `file:` secrets) are relative to the roster file. Every error
//! names the file, the line and the key.

use anyhow::Result;
use roster_runtime::secrets::{AwsOptions, SecretSource};
use roster_runtime::Limits;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A problem in the roster file, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// The dotted key, e.g. `resource.nimbus_user.alice.o365_id`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl FileError {
    /// A problem of a source of rows at `file`, located at its line and column (`whole`: the key
    /// when the problem has no column).
    pub fn in_rows(file: &Path, e: crate::rows::RowError, whole: &str) -> FileError {
        FileError {
            file: file.to_path_buf(),
            line: e.line,
            key: e
                .column
                .map(|c| format!("column {c}"))
                .unwrap_or_else(|| whole.to_string()),
            message: e.message,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.key,
                self.message
            )
        }
    }
}

/// All the problems found, one per line when displayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileErrors(pub Vec<FileError>);

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for FileErrors {}

/// Where a provider's component comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentRef {
    /// Built into the `roster` binary.
    Builtin(String),
    /// A `.wasm` file.
    Path(PathBuf),
    /// A component in an OCI registry (`oci://HOST/REPOSITORY:TAG`), pinned by roster.lock.
    Oci(roster_oci::Reference),
}

/// A provider's own rate limit override.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateOverride {
    /// Operations per window.
    pub operations: u32,
    /// Window length.
    pub per: Duration,
}

/// One `[provider.NAME]` table.
#[derive(Clone, Debug)]
pub struct ProviderDecl {
    /// Its name.
    pub name: String,
    /// The component.
    pub component: ComponentRef,
    /// Config passed to `configure`.
    pub config: Value,
    /// Secret name → source.
    pub secrets: HashMap<String, SecretSource>,
    /// Extra allowed hosts.
    pub allowed_hosts: Vec<String>,
    /// Sandbox limits.
    pub limits: Limits,
    /// Host cache age for secrets.
    pub secret_max_age: Duration,
    /// AWS settings for `aws-sm:` secrets.
    pub aws: AwsOptions,
    /// Overrides the component's declared rate limit (e.g. to go slower).
    pub rate_limit: Option<RateOverride>,
    /// `allow_private_networks = true`: the provider may reach loopback, private and
    /// link-local addresses through any allowed host.
    pub allow_private_networks: bool,
    /// The directory relative paths resolve against: the roster file's (for a Terraform
    /// provider block, Terraform's working directory).
    pub dir: PathBuf,
}

impl ProviderDecl {
    /// What the runtime needs to start it.
    pub fn spec(&self) -> roster_runtime::ProviderSpec {
        let mut spec = roster_runtime::ProviderSpec::new(&self.name, self.config.clone());
        spec.secrets = self.secrets.clone();
        spec.extra_hosts = self.allowed_hosts.clone();
        spec.limits = self.limits;
        spec.secret_max_age = self.secret_max_age;
        spec.aws = self.aws.clone();
        spec.allow_private_networks = self.allow_private_networks;
        spec.dir = Some(self.dir.clone());
        spec
    }

    /// Its pace: the override if set, else what the component declares (`None`: unpaced).
    pub fn rate(
        &self,
        metadata: &roster_runtime::types::ProviderMetadata,
    ) -> Option<(u32, Duration)> {
        rate_of(Some(self), metadata)
    }
}

/// The pace of a provider: its declaration's override, else the component's declared limit.
pub fn rate_of(
    decl: Option<&ProviderDecl>,
    metadata: &roster_runtime::types::ProviderMetadata,
) -> Option<(u32, Duration)> {
    match (decl.and_then(|d| d.rate_limit), &metadata.rate_limit) {
        (Some(o), _) => Some((o.operations, o.per)),
        (None, Some(r)) => Some((r.operations, Duration::from_secs(r.per_seconds as u64))),
        (None, None) => None,
    }
}

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

/// One `[resource.TYPE.NAME]` table.
#[derive(Clone, Debug)]
pub struct ResourceDecl {
    /// `TYPE.NAME`.
    pub address: String,
    /// The resource type, e.g. `nimbus_user`.
    pub type_name: String,
    /// The provider instance managing it.
    pub provider: String,
    /// Take over an existing object instead of failing on create.
    pub adopt: bool,
    /// Desired attributes.
    pub attributes: Map<String, Value>,
    /// The row it was made from, when a `[rows.NAME]` source declared it.
    pub origin: Option<RowOrigin>,
}

/// Where a resource made from a row comes from, for errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowOrigin {
    /// The `[rows.NAME]` source.
    pub rows: String,
    /// The CSV file.
    pub file: PathBuf,
    /// The line its row starts on.
    pub line: usize,
    /// Attribute → the column it came from.
    pub columns: BTreeMap<String, String>,
}

/// Where a `[rows.NAME]` source reads its rows. (A provider data source, such as an Entra ID
/// group's members, is the next kind: rows come from a query instead of a file.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowSource {
    /// A CSV file.
    Csv(PathBuf),
}

/// One `[rows.NAME]` table: a source of rows and the template that makes each a resource.
#[derive(Clone, Debug)]
pub struct RowsDecl {
    /// Its name.
    pub name: String,
    /// Where the rows come from.
    pub source: RowSource,
    /// The resource type each row declares.
    pub type_name: String,
    /// The provider instance managing them.
    pub provider: String,
    /// `adopt = true` for every row.
    pub adopt: bool,
    /// Key column and attribute cells.
    pub template: crate::rows::Template,
    /// The source's columns (its header), in order.
    pub columns: Vec<String>,
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The state file.
    pub state: PathBuf,
    /// Operations in flight at once (across providers).
    pub concurrency: usize,
    /// Plans deleting more objects than this need `--allow-mass-delete`.
    pub mass_delete_threshold: usize,
    /// The longest single wait a vendor may ask for (Retry-After); a longer one fails the operation.
    pub max_retry_wait: Duration,
}

/// A parsed roster file.
#[derive(Clone, Debug)]
pub struct RosterFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// `[settings]`.
    pub settings: Settings,
    /// Providers by name.
    pub providers: BTreeMap<String, ProviderDecl>,
    /// Resources in file order, then the rows of each `[rows.NAME]` in name and row order.
    pub resources: Vec<ResourceDecl>,
    /// `[rows.NAME]` sources by name.
    pub rows: BTreeMap<String, RowsDecl>,
    /// SHA-256 of the file's text (hex): a saved plan records it.
    pub digest: String,
    lines: HashMap<String, usize>,
    by_address: HashMap<String, usize>,
}

/// Keys of a resource table that are Roster's, not the vendor's.
pub const META_KEYS: &[&str] = &["provider", "adopt"];

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
    pub fn error(&self, key: &str, message: impl Into<String>) -> FileError {
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

/// The line of a dotted key (or of its closest parent) in `lines`; 0 when unknown.
fn line_in(lines: &HashMap<String, usize>, key: &str) -> usize {
    let mut k = key;
    loop {
        if let Some(l) = lines.get(k) {
            return *l;
        }
        match crate::address::last_dot(k) {
            Some(i) => k = &k[..i],
            None => return 0,
        }
    }
}

/// The file a rows source reads.
fn decl_file(decl: &RowsDecl) -> &Path {
    match &decl.source {
        RowSource::Csv(p) => p,
    }
}

/// Byte offset → 1-based line, by binary search over the newline offsets.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex(text.match_indices('\n').map(|(i, _)| i).collect())
    }

    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// The dotted key of `key` in `prefix`; a key that is not a bare name is quoted, so a resource
/// named `a.b@example.com` is `resource.TYPE."a.b@example.com"`, not four segments.
fn join(prefix: &str, key: &str) -> String {
    let key = crate::address::segment(key);
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

fn table_to_json(
    t: &toml_edit::Table,
    prefix: &str,
    text: &LineIndex,
    lines: &mut HashMap<String, usize>,
) -> Value {
    let mut map = Map::new();
    for (k, item) in t.iter() {
        let path = join(prefix, k);
        let span = t.key(k).and_then(|key| key.span()).or_else(|| item.span());
        if let Some(s) = span {
            lines.insert(path.clone(), text.line(s.start));
        }
        map.insert(k.to_string(), item_to_json(item, &path, text, lines));
    }
    Value::Object(map)
}

fn item_to_json(
    item: &toml_edit::Item,
    path: &str,
    text: &LineIndex,
    lines: &mut HashMap<String, usize>,
) -> Value {
    match item {
        toml_edit::Item::None => Value::Null,
        toml_edit::Item::Value(v) => value_to_json(v, path, text, lines),
        toml_edit::Item::Table(t) => table_to_json(t, path, text, lines),
        toml_edit::Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, t)| table_to_json(t, &format!("{path}[{i}]"), text, lines))
                .collect(),
        ),
    }
}

fn value_to_json(
    v: &toml_edit::Value,
    path: &str,
    text: &LineIndex,
    lines: &mut HashMap<String, usize>,
) -> Value {
    use toml_edit::Value as T;
    match v {
        T::String(s) => Value::String(s.value().clone()),
        T::Integer(i) => Value::from(*i.value()),
        T::Float(f) => serde_json::Number::from_f64(*f.value())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Datetime(d) => Value::String(d.value().to_string()),
        T::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| value_to_json(v, &format!("{path}[{i}]"), text, lines))
                .collect(),
        ),
        T::InlineTable(t) => {
            let mut map = Map::new();
            for (k, v) in t.iter() {
                let p = join(path, k);
                if let Some(s) = t.key(k).and_then(|key| key.span()).or_else(|| v.span()) {
                    lines.insert(p.clone(), text.line(s.start));
                }
                map.insert(k.to_string(), value_to_json(v, &p, text, lines));
            }
            Value::Object(map)
        }
    }
}

/// Expands `${NAME}` from the environment (`$${` is a literal `${`).
pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("${") {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{s}`"))?;
            let name = &r[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{name}}}` is not an environment variable name"));
            }
            out.push_str(
                &std::env::var(name)
                    .map_err(|_| format!("environment variable {name} is not set"))?,
            );
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

struct Parser {
    file: PathBuf,
    /// Whether strings may name environment variables (`${NAME}`): in a roster file, yes; in a
    /// provider block given as data (by Terraform, which interpolates its own), no.
    expand_env: bool,
    lines: HashMap<String, usize>,
    errors: Vec<FileError>,
    /// Each rows source read: (name, the SHA-256 of its bytes), for the digest.
    sources: Vec<(String, Vec<u8>)>,
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

    fn build(&mut self, root: &Value) -> RosterFile {
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
                adopt,
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

#[cfg(test)]
mod tests {
    use super::*;

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
