//! `roster sim`: both vendor sandboxes, for people to run their automation against, and the
//! sample roster file that points at them.

use anyhow::{anyhow, Context, Result};
use roster_sim::nimbus::{self, NimbusSeed, NimbusSim};
use roster_sim::rate::RateMode;
use roster_sim::symbee::{self, SymbeeSeed, SymbeeSim};
use roster_sim::Running;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Options of `roster sim`.
#[derive(clap::Args)]
pub struct SimArgs {
    /// Where the Nimbus (+ Entra token) sandbox listens.
    #[arg(long, default_value = "127.0.0.1:8781")]
    nimbus: SocketAddr,
    /// Where the Symbee Connect sandbox listens.
    #[arg(long, default_value = "127.0.0.1:8782")]
    symbee: SocketAddr,
    /// Seed the Nimbus sandbox from this JSON file (default: the demo tenant).
    #[arg(long)]
    nimbus_seed: Option<PathBuf>,
    /// Seed the Symbee sandbox from this JSON file (default: the demo company).
    #[arg(long)]
    symbee_seed: Option<PathBuf>,
    /// Nimbus rate limit as OPERATIONS/SECONDS (default 60/60, as documented).
    #[arg(long)]
    nimbus_rate: Option<String>,
    /// Over the Nimbus limit: `reject` (429 + Retry-After) or `delay` the request.
    #[arg(long, default_value = "reject")]
    nimbus_rate_mode: String,
    /// Also write a roster file (and its sandbox secrets beside it) for these sandboxes.
    #[arg(long)]
    write_roster: Option<PathBuf>,
    /// Register this PEM certificate on the demo Nimbus app (default: generate a key and a
    /// certificate at start; --write-roster writes both beside the roster).
    #[arg(long)]
    nimbus_certificate: Option<PathBuf>,
    /// The private key of --nimbus-certificate, for the roster --write-roster writes.
    #[arg(long, requires = "nimbus_certificate")]
    nimbus_private_key: Option<PathBuf>,
}

/// The certificate credential `roster sim` registers on the demo app, and where the sample
/// roster finds its key.
pub struct SimCertificate {
    certificate_pem: String,
    key: SimKey,
}

enum SimKey {
    /// Generated at start: written beside the roster (PKCS#8 PEM).
    Generated(String),
    /// The user's own key file.
    Path(PathBuf),
    /// Not given: the sample roster keeps the client secret.
    Unknown,
}

impl SimCertificate {
    /// A new key and certificate.
    pub fn generate() -> Result<SimCertificate> {
        let cert = roster_sim::credentials::TestCertificate::generate("roster-sim")?;
        Ok(SimCertificate {
            certificate_pem: cert.certificate_pem.clone(),
            key: SimKey::Generated(cert.private_key_pkcs8_pem()),
        })
    }

    /// The certificate at `path` (and its key at `key`, if given).
    pub fn given(path: &Path, key: Option<&Path>) -> Result<SimCertificate> {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if roster_sim::entra::certificate_thumbprint(&pem).is_none() {
            return Err(anyhow!(
                "{} is not a PEM X.509 certificate with an RSA key",
                path.display()
            ));
        }
        let key = match key {
            Some(k) => SimKey::Path(std::path::absolute(k)?),
            None => SimKey::Unknown,
        };
        Ok(SimCertificate {
            certificate_pem: pem,
            key,
        })
    }

    /// Registers the certificate on every app of the seed's first Entra tenant.
    fn register(&self, seed: &mut NimbusSeed) -> Result<String> {
        let tenant = seed.entra.first_mut().ok_or_else(|| {
            anyhow!("the Nimbus seed has no Entra tenant to register the certificate in")
        })?;
        for app in &mut tenant.apps {
            app.certificates.push(self.certificate_pem.clone());
        }
        Ok(roster_sim::entra::certificate_thumbprint(&self.certificate_pem).unwrap_or_default())
    }
}

fn read_seed<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid seed", path.display()))
}

/// Runs both sandboxes until Ctrl-C.
pub async fn run(args: &SimArgs, runtime: &roster_runtime::Runtime) -> Result<()> {
    let mut nimbus_seed = match &args.nimbus_seed {
        Some(p) => read_seed::<NimbusSeed>(p)?,
        None => NimbusSeed::demo(),
    };
    if let Some(rate) = &args.nimbus_rate {
        let (ops, secs) = rate.split_once('/').ok_or_else(|| {
            anyhow!("--nimbus-rate {rate}: expected OPERATIONS/SECONDS, e.g. 60/60")
        })?;
        nimbus_seed.rate_limit.operations = ops
            .trim()
            .parse()
            .map_err(|_| anyhow!("--nimbus-rate {rate}: bad operations"))?;
        let secs: f64 = secs
            .trim()
            .trim_end_matches('s')
            .parse()
            .map_err(|_| anyhow!("--nimbus-rate {rate}: bad seconds"))?;
        nimbus_seed.rate_limit.window_ms = (secs * 1000.0) as u64;
    }
    nimbus_seed.rate_limit.mode = match args.nimbus_rate_mode.as_str() {
        "reject" => RateMode::Reject,
        "delay" => RateMode::Delay,
        other => {
            return Err(anyhow!(
                "--nimbus-rate-mode {other}: expected reject or delay"
            ))
        }
    };
    let symbee_seed = match &args.symbee_seed {
        Some(p) => read_seed::<SymbeeSeed>(p)?,
        None => SymbeeSeed::demo(),
    };
    let certificate = match &args.nimbus_certificate {
        Some(path) => SimCertificate::given(path, args.nimbus_private_key.as_deref())?,
        None => SimCertificate::generate()?,
    };
    let thumbprint = certificate.register(&mut nimbus_seed)?;
    let n = NimbusSim::new(nimbus_seed);
    let nimbus_server = n
        .serve(args.nimbus)
        .await
        .with_context(|| format!("listening on {}", args.nimbus))?;
    let s = SymbeeSim::new(symbee_seed);
    let symbee_server = s
        .serve(args.symbee)
        .await
        .with_context(|| format!("listening on {}", args.symbee))?;
    println!(
        "Nimbus + Entra sandbox: {}   (state: GET {}/_sandbox/state)",
        nimbus_server.url(),
        nimbus_server.url()
    );
    println!(
        "Symbee Connect sandbox: {}   (state: GET {}/_sandbox/state)",
        symbee_server.url(),
        symbee_server.url()
    );
    println!("Certificate registered on the demo Nimbus app: x5t#S256 {thumbprint}");
    if let Some(path) = &args.write_roster {
        write_sample(path, &nimbus_server, &symbee_server, Some(&certificate))?;
        crate::grant_sample(runtime, path).await?;
        println!(
            "Wrote {} and its {} (try: roster -f {} plan)",
            path.display(),
            roster_engine::grants::path_for(path).display(),
            path.display()
        );
    }
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Writes a sample roster for both sandboxes at `path`, with the sandboxes' (non-secret) demo
/// credentials and its agents.csv in files beside it; Nimbus authenticates with `certificate` when its key is known.
pub fn write_sample(
    path: &Path,
    nimbus: &Running,
    symbee: &Running,
    certificate: Option<&SimCertificate>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::write(
        dir.join("nimbus-client-secret.txt"),
        nimbus::demo::CLIENT_SECRET,
    )?;
    std::fs::write(dir.join("symbee-api-key.txt"), symbee::demo::API_KEY)?;
    let key = match certificate.map(|c| &c.key) {
        Some(SimKey::Generated(pem)) => {
            write_private(&dir.join(GENERATED_KEY), pem)?;
            Some(GENERATED_KEY.to_string())
        }
        Some(SimKey::Path(p)) => Some(p.display().to_string()),
        Some(SimKey::Unknown) | None => None,
    };
    if let (Some(c), Some(_)) = (certificate, &key) {
        std::fs::write(dir.join(CERTIFICATE_FILE), &c.certificate_pem)?;
    }
    std::fs::write(dir.join("agents.csv"), SAMPLE_AGENTS)
        .with_context(|| format!("writing {}", dir.join("agents.csv").display()))?;
    std::fs::write(
        path,
        sample_roster(&nimbus.url(), &symbee.url(), key.as_deref()),
    )
    .with_context(|| format!("writing {}", path.display()))
}

/// The rows of the sample roster's `[rows.agents]`, written beside it as agents.csv.
pub const SAMPLE_AGENTS: &str = "alias,o365_id,team\nlinus,4d5e6f70-8192-43a4-b5c6-d7e8f90a1b23,support\nmargaret,5e6f7081-92a3-44b5-a6d7-e8f90a1b2c34,sales\n";

/// The files `write_sample` puts beside the roster for a generated certificate.
const CERTIFICATE_FILE: &str = "nimbus-client-cert.pem";
const GENERATED_KEY: &str = "nimbus-client-key.pem";

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(pem.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

/// The `[provider.nimbus]` credential lines: the certificate when its key file is known
/// (`key_file`), else the client secret.
fn nimbus_credential(key_file: Option<&str>) -> (&'static str, String) {
    match key_file {
        Some(key) => (
            ", credential = \"certificate\"",
            format!(
                "secrets = {{ client_certificate = \"file:{CERTIFICATE_FILE}\", client_private_key = \"file:{key}\" }}\n# Or the app's client secret: drop `credential` above and use\n# secrets = {{ client_secret = \"file:nimbus-client-secret.txt\" }}"
            ),
        ),
        None => ("", "secrets = { client_secret = \"file:nimbus-client-secret.txt\" }".to_string()),
    }
}

/// A roster file for the demo tenants of both sandboxes; Nimbus uses the certificate whose key
/// is `key_file` (beside `nimbus-client-cert.pem`), or the client secret.
pub fn sample_roster(nimbus_url: &str, symbee_url: &str, key_file: Option<&str>) -> String {
    use nimbus::demo as n;
    use symbee::demo as s;
    let (credential, secrets) = nimbus_credential(key_file);
    format!(
        r#"# A Roster file for the built-in sandboxes (`roster sim`). Secrets are sandbox data.

[provider.nimbus]
config = {{ admin_url = "{nimbus_url}", login_url = "{nimbus_url}", tenant_id = "{tenant}", client_id = "{client}"{credential} }}
{secrets}

[provider.symbee]
config = {{ base_url = "{symbee_url}/symbee-admin/api/users/", company_code = "{company}", environment = "{env}", secrets_region = "{region}", sso_mode = "saml" }}
secrets = {{ api_key = "file:symbee-api-key.txt" }}

[resource.nimbus_user.ada]
o365_id = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"
organization_unit_id = "{sales}"   # Sales

[resource.nimbus_user.grace]
o365_id = "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12"
copy_from = "{template}"   # takes the template user's roles, skills and profiles

# Agents from a CSV (an HR export, say): one nimbus_user per row, named by its `alias`;
# the `team` column chooses the OU through a mapping table.
{agents}
[resource.symbee_user.mike]
login_user_id = "mmars@abc-gadgets.com"
first_name = "Mike"
last_name = "Mars"
user_template_name = "{template_name}"
create_in_amazon_connect = true

[resource.symbee_user.vera]
login_user_id = "vvenus@abc-gadgets.com"   # exists in the sandbox already: adopted
first_name = "Vera"
last_name = "Venus"
user_template_name = "{template_name}"
adopt = true
"#,
        tenant = n::TENANT_ID,
        client = n::CLIENT_ID,
        sales = n::OU_SALES,
        template = n::TEMPLATE_USER,
        company = s::COMPANY,
        env = s::ENV_SAML,
        region = s::SECRETS_REGION,
        template_name = s::TEMPLATE,
        agents = n::agents_rows(),
    )
}
