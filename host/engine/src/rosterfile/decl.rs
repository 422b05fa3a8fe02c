//! The declarations a roster file holds — providers, resources, rows sources, settings — and
//! its located errors.

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
pub(crate) struct RateOverride {
    /// Operations per window.
    pub(crate) operations: u32,
    /// Window length.
    pub(crate) per: Duration,
}

/// One `[provider.NAME]` table.
#[derive(Clone, Debug)]
pub struct ProviderDecl {
    /// Its name.
    pub name: String,
    /// The component.
    pub component: ComponentRef,
    /// Config passed to `configure`.
    pub(crate) config: Value,
    /// Secret name → source.
    pub secrets: HashMap<String, SecretSource>,
    /// Extra allowed hosts.
    pub(crate) allowed_hosts: Vec<String>,
    /// Sandbox limits.
    pub(crate) limits: Limits,
    /// Host cache age for secrets.
    pub(crate) secret_max_age: Duration,
    /// AWS settings for `aws-sm:` secrets.
    pub(crate) aws: AwsOptions,
    /// Overrides the component's declared rate limit (e.g. to go slower).
    pub(crate) rate_limit: Option<RateOverride>,
    /// `allow_private_networks = true`: the provider may reach loopback, private and
    /// link-local addresses through any allowed host.
    pub(crate) allow_private_networks: bool,
    /// The directory relative paths resolve against: the roster file's (for a Terraform
    /// provider block, Terraform's working directory).
    pub(crate) dir: PathBuf,
}

impl ProviderDecl {
    /// What the runtime needs to start it.
    pub(crate) fn spec(&self) -> roster_runtime::ProviderSpec {
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
pub(crate) fn rate_of(
    decl: Option<&ProviderDecl>,
    metadata: &roster_runtime::types::ProviderMetadata,
) -> Option<(u32, Duration)> {
    match (decl.and_then(|d| d.rate_limit), &metadata.rate_limit) {
        (Some(o), _) => Some((o.operations, o.per)),
        (None, Some(r)) => Some((r.operations, Duration::from_secs(r.per_seconds as u64))),
        (None, None) => None,
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
    pub(crate) provider: String,
    /// Take over an existing object instead of failing on create.
    pub(crate) adopt: bool,
    /// Desired attributes.
    pub attributes: Map<String, Value>,
    /// The row it was made from, when a `[rows.NAME]` source declared it.
    pub(crate) origin: Option<RowOrigin>,
}

/// Where a resource made from a row comes from, for errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RowOrigin {
    /// The `[rows.NAME]` source.
    pub(crate) rows: String,
    /// The CSV file.
    pub(crate) file: PathBuf,
    /// The line its row starts on.
    pub(crate) line: usize,
    /// Attribute → the column it came from.
    pub(crate) columns: BTreeMap<String, String>,
}

/// Where a `[rows.NAME]` source reads its rows. (A provider data source, such as an Entra ID
/// group's members, is the next kind: rows come from a query instead of a file.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RowSource {
    /// A CSV file.
    Csv(PathBuf),
}

/// One `[rows.NAME]` table: a source of rows and the template that makes each a resource.
#[derive(Clone, Debug)]
pub struct RowsDecl {
    /// Its name.
    pub name: String,
    /// Where the rows come from.
    pub(crate) source: RowSource,
    /// The resource type each row declares.
    pub type_name: String,
    /// The provider instance managing them.
    pub(crate) provider: String,
    /// Key column and attribute cells.
    pub template: crate::rows::Template,
    /// The source's columns (its header), in order.
    pub(crate) columns: Vec<String>,
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The state file.
    pub state: PathBuf,
    /// Operations in flight at once (across providers).
    pub(crate) concurrency: usize,
    /// Plans deleting more objects than this need `--allow-mass-delete`.
    pub mass_delete_threshold: usize,
    /// The longest single wait a vendor may ask for (Retry-After); a longer one fails the operation.
    pub(crate) max_retry_wait: Duration,
}

/// A parsed roster file.
#[derive(Clone, Debug)]
pub struct RosterFile {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    /// `[settings]`.
    pub settings: Settings,
    /// Providers by name.
    pub providers: BTreeMap<String, ProviderDecl>,
    /// Resources in file order, then the rows of each `[rows.NAME]` in name and row order.
    pub resources: Vec<ResourceDecl>,
    /// `[rows.NAME]` sources by name.
    pub rows: BTreeMap<String, RowsDecl>,
    /// SHA-256 of the file's text (hex): a saved plan records it.
    pub(crate) digest: String,
    pub(super) lines: HashMap<String, usize>,
    pub(super) by_address: HashMap<String, usize>,
}

/// Keys of a resource table that are Roster's, not the vendor's.
pub(crate) const META_KEYS: &[&str] = &["provider", "adopt"];
