//! `roster.lock`: the capabilities the user granted each provider instance — the component's
//! SHA-256 and version, the hosts it may contact under its config, and the secret sources it
//! may read (named by the user or defaulted by the component). `roster grant` writes it after
//! showing what is new; every other command that starts providers refuses, before any
//! instance gets a host or a secret, a provider asking for anything the lock does not grant.
//!
//! The file is small, stable and sorted (TOML), meant to be committed and reviewed:
//!
//! ```toml
//! [provider.nimbus]
//! component = "builtin:nimbus"
//! sha256 = "3f5c…"
//! version = "0.1.0"
//! hosts = [
//!     "admin.ch-01.luware.cloud",
//!     "login.microsoftonline.com",
//! ]
//!
//! [provider.nimbus.secrets]
//! client_secret = "env:NIMBUS_CLIENT_SECRET"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What one provider instance is granted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    /// `builtin:NAME` or the component's path as the roster file gives it.
    pub component: String,
    /// The component's SHA-256 (hex).
    pub sha256: String,
    /// The component's version.
    pub version: String,
    /// Allowed hosts.
    pub hosts: BTreeSet<String>,
    /// Secret name → source.
    pub secrets: BTreeMap<String, String>,
}

/// The whole lock file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockFile {
    /// Provider instance name → its grant.
    pub providers: BTreeMap<String, Grant>,
}

/// The lock file that goes with `roster_file`: `roster.lock` beside it.
pub fn path_for(roster_file: &Path) -> PathBuf {
    roster_file.with_file_name("roster.lock")
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The file's text: providers, keys and lists sorted, one host per line.
pub fn render(lock: &LockFile) -> String {
    let mut out =
        String::from("# roster.lock: what each provider component may do, granted by `roster grant`.\n# Commit it and review changes to it: a component asking for more is refused until granted.\n");
    for (name, g) in &lock.providers {
        out.push_str(&format!(
            "\n[provider.{name}]\ncomponent = {}\nsha256 = {}\nversion = {}\nhosts = [\n",
            quote(&g.component),
            quote(&g.sha256),
            quote(&g.version)
        ));
        for h in &g.hosts {
            out.push_str(&format!("    {},\n", quote(h)));
        }
        out.push_str("]\n");
        if !g.secrets.is_empty() {
            out.push_str(&format!("\n[provider.{name}.secrets]\n"));
            for (k, v) in &g.secrets {
                out.push_str(&format!("{k} = {}\n", quote(v)));
            }
        }
    }
    out
}

/// Parses the file's text; errors name the key.
pub fn parse(text: &str) -> Result<LockFile, String> {
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().trim().to_string())?;
    let mut lock = LockFile::default();
    let Some(providers) = doc.get("provider") else {
        return Ok(lock);
    };
    let providers = providers.as_table().ok_or("`provider` must be a table")?;
    for (name, item) in providers.iter() {
        let t = item
            .as_table()
            .ok_or_else(|| format!("provider.{name} must be a table"))?;
        let string = |key: &str| {
            t.get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("provider.{name}.{key} must be a string"))
        };
        let hosts = t
            .get("hosts")
            .and_then(|v| v.as_array())
            .ok_or_else(|| format!("provider.{name}.hosts must be a list"))?;
        let hosts = hosts
            .iter()
            .map(|h| {
                h.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("provider.{name}.hosts holds a non-string"))
            })
            .collect::<Result<_, _>>()?;
        let mut secrets = BTreeMap::new();
        if let Some(s) = t.get("secrets") {
            let s = s
                .as_table_like()
                .ok_or_else(|| format!("provider.{name}.secrets must be a table"))?;
            for (k, v) in s.iter() {
                secrets.insert(
                    k.to_string(),
                    v.as_str()
                        .ok_or_else(|| format!("provider.{name}.secrets.{k} must be a string"))?
                        .to_string(),
                );
            }
        }
        lock.providers.insert(
            name.to_string(),
            Grant {
                component: string("component")?,
                sha256: string("sha256")?,
                version: string("version")?,
                hosts,
                secrets,
            },
        );
    }
    Ok(lock)
}

/// Reads the lock file beside `roster_file`; `Ok(None)` when there is none.
pub fn load(roster_file: &Path) -> Result<Option<LockFile>, String> {
    let path = path_for(roster_file);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Everything `wanted` asks for that `granted` does not give, one line each (empty: granted).
pub fn not_granted(granted: Option<&Grant>, wanted: &Grant) -> Vec<String> {
    let Some(g) = granted else {
        return vec!["it is not in roster.lock".to_string()];
    };
    let mut out = Vec::new();
    if g.component != wanted.component {
        out.push(format!(
            "its component is now {} (granted: {})",
            wanted.component, g.component
        ));
    }
    if g.sha256 != wanted.sha256 {
        out.push(format!("its component's code changed: sha256 {} (version {}) where {} (version {}) was granted", short(&wanted.sha256), wanted.version, short(&g.sha256), g.version));
    }
    for h in wanted.hosts.difference(&g.hosts) {
        out.push(format!("new host {h}"));
    }
    for (k, v) in &wanted.secrets {
        if g.secrets.get(k) != Some(v) {
            out.push(format!("new secret source {k} = {v}"));
        }
    }
    out
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// The lines `roster grant` shows: `+` for what is new, `-` for what is no longer asked for.
pub fn changes(granted: Option<&Grant>, wanted: &Grant) -> Vec<String> {
    let empty = Grant::default();
    let g = granted.unwrap_or(&empty);
    let mut out = Vec::new();
    if g.sha256 != wanted.sha256 || g.component != wanted.component {
        out.push(format!(
            "+ component {} sha256 {} version {}",
            wanted.component, wanted.sha256, wanted.version
        ));
    }
    for h in wanted.hosts.difference(&g.hosts) {
        out.push(format!("+ host {h}"));
    }
    for h in g.hosts.difference(&wanted.hosts) {
        out.push(format!("- host {h}"));
    }
    for (k, v) in &wanted.secrets {
        if g.secrets.get(k) != Some(v) {
            out.push(format!("+ secret {k} = {v}"));
        }
    }
    for (k, v) in &g.secrets {
        if wanted.secrets.get(k) != Some(v) {
            out.push(format!("- secret {k} = {v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            component: "builtin:nimbus".into(),
            sha256: "ab".repeat(32),
            version: "0.1.0".into(),
            hosts: [
                "login.microsoftonline.com".to_string(),
                "admin.ch-01.luware.cloud".to_string(),
            ]
            .into(),
            secrets: [(
                "client_secret".to_string(),
                "env:NIMBUS_CLIENT_SECRET".to_string(),
            )]
            .into(),
        }
    }

    #[test]
    fn renders_sorted_and_parses_back() {
        let mut lock = LockFile::default();
        lock.providers.insert("nimbus".into(), grant());
        lock.providers.insert(
            "a_first".into(),
            Grant {
                secrets: BTreeMap::new(),
                ..grant()
            },
        );
        let text = render(&lock);
        assert!(text.find("[provider.a_first]").unwrap() < text.find("[provider.nimbus]").unwrap());
        assert!(
            text.find("admin.ch-01").unwrap() < text.find("login.micro").unwrap(),
            "hosts sorted"
        );
        assert_eq!(parse(&text).unwrap(), lock);
        assert_eq!(render(&parse(&text).unwrap()), text, "stable");
        assert!(parse("[provider.x]\ncomponent = 1\nhosts = []\n")
            .unwrap_err()
            .contains("provider.x.component must be a string"));
        assert!(parse("[provider.x]\ncomponent = \"builtin:x\"\n")
            .unwrap_err()
            .contains("provider.x.hosts must be a list"));
    }

    #[test]
    fn names_exactly_what_is_new() {
        let g = grant();
        assert_eq!(not_granted(Some(&g), &g), Vec::<String>::new());
        assert_eq!(not_granted(None, &g), vec!["it is not in roster.lock"]);
        let mut w = g.clone();
        w.hosts.insert("collector.example".into());
        w.secrets
            .insert("exfil".into(), "file:/proc/self/environ".into());
        assert_eq!(
            not_granted(Some(&g), &w),
            vec![
                "new host collector.example",
                "new secret source exfil = file:/proc/self/environ"
            ]
        );
        let mut w = g.clone();
        w.sha256 = "cd".repeat(32);
        assert!(not_granted(Some(&g), &w)[0].contains("code changed: sha256 cdcdcdcdcdcd"));
        let mut w = g.clone();
        w.hosts.remove("login.microsoftonline.com");
        assert_eq!(
            not_granted(Some(&g), &w),
            Vec::<String>::new(),
            "asking for less needs no grant"
        );
        assert_eq!(
            changes(Some(&g), &w),
            vec!["- host login.microsoftonline.com"]
        );
        let w = Grant {
            component: "nimbus.wasm".into(),
            ..g.clone()
        };
        assert_eq!(
            not_granted(Some(&g), &w).len(),
            1,
            "the same code from elsewhere is another grant"
        );
        assert_eq!(
            changes(Some(&g), &w).len(),
            1,
            "and `roster grant` shows and writes it"
        );
    }
}
