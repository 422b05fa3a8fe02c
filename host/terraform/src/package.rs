//! A provider package in a Terraform filesystem mirror (the unpacked layout):
//!
//! ```text
//! MIRROR/HOSTNAME/NAMESPACE/TYPE/VERSION/OS_ARCH/
//!     terraform-provider-TYPE_vVERSION   the provider host (Roster's binary)
//!     component.wasm                     the component it serves
//!     roster-grant.toml                  what the component may reach and read
//! ```
//!
//! Terraform's lock file records a hash of the whole directory (`h1:`), so it pins the host, the
//! component *and* its grant: a component swapped or a grant widened afterwards no longer
//! matches and `terraform init` refuses it. The host checks again at start: the component's
//! SHA-256 must be the one the grant names ([`open`]), before any of its code runs.

use roster_engine::grants::{self, Grant, LockFile};
use std::path::{Path, PathBuf};

/// The component's file name in a package.
pub const COMPONENT_FILE: &str = "component.wasm";
/// The grant's file name in a package.
pub const GRANT_FILE: &str = "roster-grant.toml";

/// A provider source address with an explicit hostname: `HOSTNAME/NAMESPACE/TYPE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// e.g. `registry.example.com`.
    pub hostname: String,
    /// e.g. `roster`.
    pub namespace: String,
    /// e.g. `nimbus`: the prefix of every resource type it serves.
    pub type_name: String,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.hostname, self.namespace, self.type_name)
    }
}

fn label_ok(s: &str, dots: bool) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
}

/// Parses `HOSTNAME/NAMESPACE/TYPE` (lower case; the hostname explicit, so Terraform and
/// OpenTofu, whose default registries differ, resolve it the same way).
pub fn parse_source(s: &str) -> Result<Source, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let [hostname, namespace, type_name] = parts[..] else {
        return Err(format!("source `{s}`: give HOSTNAME/NAMESPACE/TYPE, e.g. registry.example.com/acme/vendor (an explicit hostname, so Terraform and OpenTofu share it)"));
    };
    if !hostname.contains('.') || !label_ok(hostname, true) {
        return Err(format!("source `{s}`: `{hostname}` is not a hostname (lower-case letters, digits, `-` and `.`, with at least one dot)"));
    }
    if !label_ok(namespace, false) || !label_ok(type_name, false) {
        return Err(format!(
            "source `{s}`: namespace and type are lower-case letters, digits and `-`"
        ));
    }
    Ok(Source {
        hostname: hostname.into(),
        namespace: namespace.into(),
        type_name: type_name.into(),
    })
}

/// Checks a provider version: `MAJOR.MINOR.PATCH` (Terraform wants semantic versions).
pub fn check_version(v: &str) -> Result<(), String> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(format!(
            "version `{v}`: Terraform needs a semantic version such as 1.2.0"
        ))
    }
}

/// This machine's platform as Terraform names it (`linux_amd64`).
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

/// The executable's name in a package.
pub fn executable_name(type_name: &str, version: &str) -> String {
    format!("terraform-provider-{type_name}_v{version}")
}

/// Where the package of `source` at `version` goes in `mirror`.
pub fn package_dir(mirror: &Path, source: &Source, version: &str) -> PathBuf {
    mirror
        .join(&source.hostname)
        .join(&source.namespace)
        .join(&source.type_name)
        .join(version)
        .join(platform())
}

/// A package's grant: what [`roster_engine::grants`] writes for one provider, named by type.
pub fn render_grant(type_name: &str, grant: &Grant) -> String {
    let mut lock = LockFile::default();
    lock.providers.insert(type_name.to_string(), grant.clone());
    grants::render(&lock).replacen(
        "# roster.lock: what each provider component may do, granted by `roster grant`.",
        "# roster-grant.toml: what this package's component may do, granted by `roster terraform package`.\n# Terraform's .terraform.lock.hcl pins it with the component: changing it changes the package's hash.",
        1,
    )
}

/// Writes a package: the host executable (copied from `host`), the component and its grant,
/// into a new directory that then replaces any old one at `dir`. Returns the executable's path.
pub fn write(
    dir: &Path,
    host: &Path,
    source: &Source,
    version: &str,
    wasm: &[u8],
    grant: &Grant,
) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    let parent = dir.parent().context("a package directory has a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile_dir(parent)?;
    let exe = staging.join(executable_name(&source.type_name, version));
    // A hard link where the file system allows (the host binary is large, and a package never
    // changes in place: it is replaced whole); a copy otherwise.
    if std::fs::hard_link(host, &exe).is_err() {
        std::fs::copy(host, &exe)
            .with_context(|| format!("copying {} to {}", host.display(), exe.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::write(staging.join(COMPONENT_FILE), wasm)?;
    std::fs::write(
        staging.join(GRANT_FILE),
        render_grant(&source.type_name, grant),
    )?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("replacing {}", dir.display()))?;
    }
    std::fs::rename(&staging, dir)
        .with_context(|| format!("moving the package into {}", dir.display()))?;
    Ok(dir.join(executable_name(&source.type_name, version)))
}

fn tempfile_dir(parent: &Path) -> anyhow::Result<PathBuf> {
    for n in 0..1000u32 {
        let p = parent.join(format!(".roster-package-{}-{n}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("no free staging directory in {}", parent.display())
}

/// An opened package: its component checked against its grant.
#[derive(Clone, Debug)]
pub struct Package {
    /// Where it is.
    pub dir: PathBuf,
    /// The provider type (the grant's one provider).
    pub type_name: String,
    /// The component (its SHA-256 is the grant's).
    pub code: roster_runtime::Code<'static>,
    /// What the component may reach and read.
    pub grant: Grant,
}

/// Opens the package in `dir`: reads the grant, then the component, and refuses a component
/// whose SHA-256 is not the one granted — before any of its code is compiled or run.
pub fn open(dir: &Path) -> Result<Package, String> {
    let grant_path = dir.join(GRANT_FILE);
    let text = std::fs::read_to_string(&grant_path).map_err(|e| format!("this provider package has no readable grant ({}: {e}); make it with `roster terraform package`", grant_path.display()))?;
    let lock = grants::parse(&text).map_err(|e| format!("{}: {e}", grant_path.display()))?;
    let mut providers = lock.providers.into_iter();
    let (Some((type_name, grant)), None) = (providers.next(), providers.next()) else {
        return Err(format!(
            "{}: a package grants exactly one provider",
            grant_path.display()
        ));
    };
    let wasm_path = dir.join(COMPONENT_FILE);
    let wasm = std::fs::read(&wasm_path).map_err(|e| {
        format!(
            "cannot read the package's component {}: {e}",
            wasm_path.display()
        )
    })?;
    let code = roster_runtime::Code::new(wasm);
    let sha = code.sha256();
    if sha != grant.sha256 {
        return Err(format!(
            "the package's component was changed after it was packaged: {} has sha256 {sha}, but {GRANT_FILE} grants {}; nothing of it was run. Package the component again with `roster terraform package` (and review the lock file's change)",
            wasm_path.display(),
            grant.sha256
        ));
    }
    Ok(Package {
        dir: dir.to_path_buf(),
        type_name,
        code,
        grant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_need_an_explicit_hostname() {
        assert_eq!(
            parse_source("registry.example.com/acme/vendor")
                .unwrap()
                .to_string(),
            "registry.example.com/acme/vendor"
        );
        assert!(parse_source("acme/vendor")
            .unwrap_err()
            .contains("HOSTNAME/NAMESPACE/TYPE"));
        assert!(parse_source("localhost/acme/vendor")
            .unwrap_err()
            .contains("not a hostname"));
        assert!(parse_source("r.example/Acme/vendor")
            .unwrap_err()
            .contains("lower-case"));
        assert!(
            parse_source("r.example/acme/ven_dor").is_err(),
            "no underscore: it separates a type's prefix"
        );
        check_version("1.2.0").unwrap();
        check_version("0.1.0-beta.1").unwrap();
        assert!(check_version("1.2").is_err() && check_version("v1.2.0").is_err());
    }

    #[test]
    fn a_package_is_refused_when_its_component_changed() {
        let mirror = tempfile::tempdir().unwrap();
        let source = parse_source("roster.example/roster/vendor").unwrap();
        let dir = package_dir(mirror.path(), &source, "1.0.0");
        assert!(dir.ends_with(format!("roster.example/roster/vendor/1.0.0/{}", platform())));
        let host = mirror.path().join("host-binary");
        std::fs::write(&host, b"#!/bin/sh\n").unwrap();
        let wasm = b"\0asm-not-really".to_vec();
        let grant = Grant {
            component: COMPONENT_FILE.into(),
            sha256: roster_runtime::Code::new(&wasm).sha256(),
            version: "1.0.0".into(),
            hosts: ["api.example.com".to_string()].into(),
            secrets: Default::default(),
        };
        let exe = write(&dir, &host, &source, "1.0.0", &wasm, &grant).unwrap();
        assert!(exe.ends_with("terraform-provider-vendor_v1.0.0"));
        let p = open(&dir).unwrap();
        assert_eq!(
            (p.type_name.as_str(), p.grant.clone()),
            ("vendor", grant.clone())
        );
        // Written again: replaced whole, no staging directory left behind.
        write(&dir, &host, &source, "1.0.0", &wasm, &grant).unwrap();
        assert_eq!(std::fs::read_dir(dir.parent().unwrap()).unwrap().count(), 1);
        std::fs::write(dir.join(COMPONENT_FILE), b"\0asm-swapped").unwrap();
        let e = open(&dir).unwrap_err();
        assert!(
            e.contains("changed after it was packaged") && e.contains("nothing of it was run"),
            "{e}"
        );
        std::fs::remove_file(dir.join(GRANT_FILE)).unwrap();
        assert!(open(&dir).unwrap_err().contains("no readable grant"));
    }
}
