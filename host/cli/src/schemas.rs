//! `roster providers`: what a provider offers, for people (or as JSON).

use anyhow::{bail, Context, Result};
use roster_runtime::types::{AttributeSchema, Presence, ProviderMetadata, ValueType};
use roster_runtime::{Code, Provider, Runtime};
use std::path::PathBuf;

/// Lists the built-in providers, or shows one provider's schemas.
pub async fn providers(
    runtime: &Runtime,
    name: Option<String>,
    wasm: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let (label, bytes) = match (name, wasm) {
        (_, Some(path)) => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            (path.display().to_string(), bytes)
        }
        (Some(name), None) => match roster_components::builtin(&name) {
            Some(bytes) => (name, bytes.to_vec()),
            None => bail!(
                "no built-in provider `{name}`; built-in: {}",
                builtin_names()
            ),
        },
        (None, None) => {
            let mut all = Vec::new();
            for b in roster_components::BUILTINS {
                all.push(Provider::inspect(runtime, &Code::new(b.wasm)).await?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                println!("no built-in providers in this build; use --wasm PATH");
            } else {
                for m in &all {
                    println!("{:<10} {:<8} {}", m.name, m.version, m.description);
                }
            }
            return Ok(());
        }
    };
    let metadata = Provider::inspect(runtime, &Code::new(bytes))
        .await
        .with_context(|| format!("inspecting {label}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&metadata)?);
    } else {
        print!("{}", describe(&metadata));
    }
    Ok(())
}

fn builtin_names() -> String {
    let names: Vec<&str> = roster_components::BUILTINS.iter().map(|b| b.name).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn value_type(t: ValueType) -> &'static str {
    match t {
        ValueType::String => "string",
        ValueType::Boolean => "bool",
        ValueType::Integer => "integer",
        ValueType::Number => "number",
        ValueType::StringList => "list(string)",
        ValueType::Object => "object",
    }
}

/// A provider's schemas as text, like `terraform providers schema` but for people.
fn describe(m: &ProviderMetadata) -> String {
    let mut out = format!("{} {} — {}\n", m.name, m.version, m.description);
    if let Some(r) = &m.rate_limit {
        out.push_str(&format!(
            "rate limit: {} operations per {} s\n",
            r.operations, r.per_seconds
        ));
    }
    let section = |out: &mut String, title: &str, attrs: &[AttributeSchema]| {
        if attrs.is_empty() {
            return;
        }
        out.push_str(&format!("  {title}:\n"));
        for a in attrs {
            let mut flags = vec![match a.presence {
                Presence::Required => "required",
                Presence::Optional => "optional",
                Presence::Computed => "computed",
                Presence::OptionalComputed => "optional, computed",
            }];
            if a.sensitive {
                flags.push("sensitive");
            }
            if a.replace_on_change {
                flags.push("forces replacement");
            }
            if a.create_only {
                flags.push("create-only");
            }
            if a.case_insensitive {
                flags.push("case-insensitive");
            }
            out.push_str(&format!(
                "    {:<26} {:<12} ({}) {}\n",
                a.name,
                value_type(a.value_type),
                flags.join(", "),
                a.description
            ));
        }
    };
    out.push_str("config\n");
    section(&mut out, "keys", &m.config_schema);
    for s in &m.secrets {
        let default = s
            .default_source
            .as_deref()
            .map(|d| format!(" (default source: {d})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  secret {:<19} {}{default}\n",
            s.name, s.description
        ));
    }
    for r in &m.resources {
        out.push_str(&format!(
            "resource {} (id: {}) — {}\n",
            r.type_name, r.id_attribute, r.description
        ));
        if let Some(w) = &r.replace_warning {
            out.push_str(&format!("  replacing it: {w}\n"));
        }
        section(&mut out, "attributes", &r.attributes);
    }
    for d in &m.data_sources {
        out.push_str(&format!("data source {} — {}\n", d.name, d.description));
        section(&mut out, "arguments", &d.arguments);
        section(&mut out, "attributes", &d.attributes);
    }
    out
}
