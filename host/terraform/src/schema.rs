//! The component's own metadata as Terraform schemas (pure): the provider block, each resource
//! and each data source, with the component's descriptions and flags.
//!
//! | component (`roster:provider`)  | Terraform                                                        |
//! |--------------------------------|------------------------------------------------------------------|
//! | required / optional / computed | required / optional / computed                                   |
//! | optional-computed              | optional + computed                                              |
//! | sensitive                      | sensitive + write-only (never in state; Terraform ≥ 1.11)        |
//! | replace-on-change              | RequiresReplace (planned by [`crate::lifecycle`])                |
//! | create-only                    | optional; a later change is recorded in state, never sent        |
//! | string, boolean, integer/number| string, bool, number                                             |
//! | string-list                    | list(string)                                                     |
//! | object (vendor-shaped detail)  | string holding JSON text (`jsondecode()` it)                     |
//!
//! The provider block holds the component's config keys under their own names, plus the host's
//! own attributes ([`HOST_ATTRIBUTES`]): `secrets`, `allowed_hosts`, `allow_private_networks`,
//! `rate_limit`, `secret_max_age_secs`, `aws` — as in roster.toml — and `adopt_existing`.

use crate::proto::tfplugin6 as tf;
use crate::value::Ty;
use roster_runtime::types::{
    AttributeSchema, DataSourceSchema, Presence, ProviderMetadata, ResourceSchema, ValueType,
};
use std::collections::BTreeMap;

/// The provider block's attributes that the host, not the component, defines.
pub const HOST_ATTRIBUTES: &[(&str, &str)] = &[
    ("secrets", "Secret name → where the host reads it: `env:NAME`, `file:PATH` or `aws-sm:SECRET_ID[?region=R&key=FIELD]`. References only, never values. Names the component declares with a default source may be left out."),
    ("allowed_hosts", "Hosts the provider may reach in addition to those its config names (`[scheme://]host[:port]`, a leading `*.` for subdomains). Must be granted by the package."),
    ("allow_private_networks", "Let the provider reach loopback, private and link-local addresses through any allowed host (default false)."),
    ("rate_limit", "Go slower than the vendor's documented limit: `{ operations = N, per_seconds = S }`."),
    ("secret_max_age_secs", "How long the host may serve a fetched secret from its cache (default 300)."),
    ("aws", "AWS settings for `aws-sm:` secrets: `{ endpoint, region, profile }` (each optional; the standard AWS chain otherwise)."),
    (
        "adopt_existing",
        "When a create meets an object that already exists with the same id (for example after an apply was killed), take it over if it matches the configuration instead of failing with the `terraform import` command to run. Default false: Roster never takes over an object someone else may manage without being told to.",
    ),
];

/// The cty type of a component attribute.
pub fn ty(value_type: ValueType) -> Ty {
    match value_type {
        ValueType::String | ValueType::Object => Ty::String,
        ValueType::Boolean => Ty::Bool,
        ValueType::Integer | ValueType::Number => Ty::Number,
        ValueType::StringList => Ty::List(Box::new(Ty::String)),
    }
}

fn host_ty(name: &str) -> Ty {
    let obj = |keys: &[(&str, Ty)]| {
        Ty::Object(
            keys.iter()
                .map(|(k, t)| (k.to_string(), t.clone()))
                .collect(),
        )
    };
    match name {
        "secrets" => Ty::Map(Box::new(Ty::String)),
        "allowed_hosts" => Ty::List(Box::new(Ty::String)),
        "allow_private_networks" | "adopt_existing" => Ty::Bool,
        "rate_limit" => obj(&[("operations", Ty::Number), ("per_seconds", Ty::Number)]),
        "secret_max_age_secs" => Ty::Number,
        "aws" => obj(&[
            ("endpoint", Ty::String),
            ("region", Ty::String),
            ("profile", Ty::String),
        ]),
        _ => unreachable!("not a host attribute: {name}"),
    }
}

/// The description Terraform shows: the component's sentence and what its flags mean.
pub fn describe(a: &AttributeSchema) -> String {
    let mut d = a.description.trim().to_string();
    if a.value_type == ValueType::Object {
        d.push_str(" JSON text: use jsondecode().");
    }
    if a.replace_on_change {
        d.push_str(" Changing it replaces the object.");
    }
    if a.create_only {
        d.push_str(" Used only when the object is created: a later change is recorded in state and never sent to the vendor.");
    }
    if a.case_insensitive {
        d.push_str(" Compared ignoring case, as the vendor compares it.");
    }
    if a.sensitive {
        d.push_str(" Sensitive: write-only, never stored in state.");
    }
    d
}

fn attribute(a: &AttributeSchema) -> tf::schema::Attribute {
    let (required, optional, computed) = match a.presence {
        Presence::Required => (true, false, false),
        Presence::Optional => (false, true, false),
        Presence::Computed => (false, false, true),
        Presence::OptionalComputed => (false, true, true),
    };
    tf::schema::Attribute {
        name: a.name.clone(),
        r#type: ty(a.value_type).to_bytes(),
        description: describe(a),
        required,
        optional: optional || (a.create_only && !required),
        computed,
        sensitive: a.sensitive,
        write_only: a.sensitive && !computed,
        ..Default::default()
    }
}

fn block(description: &str, attributes: Vec<tf::schema::Attribute>) -> tf::Schema {
    tf::Schema {
        version: 0,
        block: Some(tf::schema::Block {
            version: 0,
            attributes,
            description: description.to_string(),
            ..Default::default()
        }),
    }
}

/// The object type of a list of attributes (a block's value).
pub fn object_ty<'a>(attrs: impl IntoIterator<Item = &'a AttributeSchema>) -> Ty {
    Ty::Object(
        attrs
            .into_iter()
            .map(|a| (a.name.clone(), ty(a.value_type)))
            .collect(),
    )
}

/// A resource's schema.
pub fn resource(r: &ResourceSchema) -> tf::Schema {
    let mut description = r.description.clone();
    if let Some(w) = &r.replace_warning {
        description.push_str(&format!(" Replacing one costs: {w}."));
    }
    description.push_str(&format!(" Import by `{}`.", r.id_attribute));
    block(&description, r.attributes.iter().map(attribute).collect())
}

/// A data source's attributes: its arguments as the user sets them, then what it returns
/// (computed); a name in both is an argument.
pub fn data_source_attributes(d: &DataSourceSchema) -> Vec<AttributeSchema> {
    let mut out: Vec<AttributeSchema> = d.arguments.clone();
    for a in &d.attributes {
        if !out.iter().any(|x| x.name == a.name) {
            out.push(AttributeSchema {
                presence: Presence::Computed,
                ..a.clone()
            });
        }
    }
    out
}

/// A data source's schema.
pub fn data_source(d: &DataSourceSchema) -> tf::Schema {
    block(
        &d.description,
        data_source_attributes(d).iter().map(attribute).collect(),
    )
}

/// The provider block's schema and its object type; an error when a config key of the
/// component collides with one of the host's attributes.
pub fn provider(meta: &ProviderMetadata) -> Result<(tf::Schema, Ty), String> {
    let mut attrs: Vec<tf::schema::Attribute> = Vec::new();
    let mut types = BTreeMap::new();
    for a in &meta.config_schema {
        if HOST_ATTRIBUTES.iter().any(|(n, _)| *n == a.name) {
            return Err(format!("the component's config key `{}` has the name of one of the host's own provider attributes; Roster cannot serve it to Terraform", a.name));
        }
        // Config is the user's: nothing in it is computed.
        let a = AttributeSchema {
            presence: if a.presence == Presence::Required {
                Presence::Required
            } else {
                Presence::Optional
            },
            ..a.clone()
        };
        types.insert(a.name.clone(), ty(a.value_type));
        attrs.push(tf::schema::Attribute {
            write_only: false,
            ..attribute(&a)
        });
    }
    for (name, description) in HOST_ATTRIBUTES {
        types.insert(name.to_string(), host_ty(name));
        let mut description = description.to_string();
        if *name == "secrets" && !meta.secrets.is_empty() {
            let names: Vec<String> = meta
                .secrets
                .iter()
                .map(|s| match &s.default_source {
                    Some(d) => format!("`{}` (default `{d}`): {}", s.name, s.description.trim()),
                    None => format!("`{}`: {}", s.name, s.description.trim()),
                })
                .collect();
            description.push_str(&format!(" This component asks for: {}.", names.join("; ")));
        }
        attrs.push(tf::schema::Attribute {
            name: name.to_string(),
            r#type: host_ty(name).to_bytes(),
            description,
            optional: true,
            ..Default::default()
        });
    }
    let mut description = meta.description.clone();
    if let Some(r) = &meta.rate_limit {
        description.push_str(&format!(" The vendor allows {} operations per {} s: one pacer per provider process keeps to it.", r.operations, r.per_seconds));
    }
    Ok((block(&description, attrs), Ty::Object(types)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_runtime::types::{RateLimit, SecretSchema};

    pub(crate) fn attr(name: &str, value_type: ValueType, presence: Presence) -> AttributeSchema {
        AttributeSchema {
            name: name.into(),
            description: format!("The {name}."),
            value_type,
            presence,
            sensitive: false,
            replace_on_change: false,
            create_only: false,
            case_insensitive: false,
        }
    }

    fn meta() -> ProviderMetadata {
        ProviderMetadata {
            name: "nimbus".into(),
            version: "0.1.0".into(),
            description: "Luware Nimbus.".into(),
            config_schema: vec![
                attr("cluster", ValueType::String, Presence::Optional),
                attr("tenant_id", ValueType::String, Presence::Required),
            ],
            secrets: vec![SecretSchema {
                name: "client_secret".into(),
                description: "The app's secret.".into(),
                default_source: None,
            }],
            resources: vec![ResourceSchema {
                type_name: "nimbus_user".into(),
                description: "A Nimbus user.".into(),
                id_attribute: "o365_id".into(),
                attributes: vec![
                    AttributeSchema {
                        replace_on_change: true,
                        case_insensitive: true,
                        ..attr("o365_id", ValueType::String, Presence::Required)
                    },
                    AttributeSchema {
                        create_only: true,
                        ..attr("copy_from", ValueType::String, Presence::Optional)
                    },
                    attr(
                        "organization_unit_id",
                        ValueType::String,
                        Presence::OptionalComputed,
                    ),
                    attr("licenses", ValueType::StringList, Presence::Computed),
                    attr("detail", ValueType::Object, Presence::Computed),
                    AttributeSchema {
                        sensitive: true,
                        ..attr("pin", ValueType::String, Presence::Optional)
                    },
                ],
                replace_warning: Some("the user's configuration is lost".into()),
            }],
            data_sources: vec![DataSourceSchema {
                name: "nimbus_license_usage".into(),
                description: "Licences.".into(),
                arguments: vec![attr("kind", ValueType::String, Presence::Optional)],
                attributes: vec![
                    attr("licenses", ValueType::Object, Presence::Computed),
                    attr("kind", ValueType::String, Presence::Computed),
                ],
            }],
            rate_limit: Some(RateLimit {
                operations: 60,
                per_seconds: 60,
            }),
        }
    }

    fn find<'a>(s: &'a tf::Schema, name: &str) -> &'a tf::schema::Attribute {
        s.block
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no attribute {name}"))
    }

    #[test]
    fn presence_types_and_flags_translate() {
        let r = resource(&meta().resources[0]);
        let id = find(&r, "o365_id");
        assert!(id.required && !id.optional && !id.computed);
        assert!(
            id.description.contains("replaces the object")
                && id.description.contains("ignoring case")
        );
        let copy = find(&r, "copy_from");
        assert!(
            copy.optional
                && !copy.computed
                && copy.description.contains("never sent to the vendor")
        );
        let ou = find(&r, "organization_unit_id");
        assert!(ou.optional && ou.computed);
        let licenses = find(&r, "licenses");
        assert!(licenses.computed && !licenses.optional && !licenses.required);
        assert_eq!(licenses.r#type, br#"["list","string"]"#);
        assert_eq!(
            find(&r, "detail").r#type,
            br#""string""#,
            "vendor-shaped detail travels as JSON text"
        );
        let pin = find(&r, "pin");
        assert!(
            pin.sensitive && pin.write_only,
            "a sensitive attribute is never stored in state"
        );
        let block = r.block.unwrap();
        assert!(
            block
                .description
                .contains("the user's configuration is lost")
                && block.description.contains("Import by `o365_id`")
        );
        assert!(
            block.attributes.iter().all(|a| !a.description.is_empty()),
            "every attribute is described"
        );
    }

    #[test]
    fn data_source_arguments_win_over_results() {
        let d = data_source(&meta().data_sources[0]);
        let kind = find(&d, "kind");
        assert!(kind.optional && !kind.computed);
        assert!(find(&d, "licenses").computed);
        assert_eq!(d.block.unwrap().attributes.len(), 2);
    }

    #[test]
    fn provider_block_has_config_keys_and_the_hosts_attributes() {
        let (p, ty) = provider(&meta()).unwrap();
        assert!(find(&p, "tenant_id").required);
        assert!(find(&p, "cluster").optional);
        let secrets = find(&p, "secrets");
        assert!(
            secrets.optional
                && secrets.description.contains("`client_secret`")
                && secrets.description.contains("never values")
        );
        assert_eq!(secrets.r#type, br#"["map","string"]"#);
        assert_eq!(
            find(&p, "rate_limit").r#type,
            br#"["object",{"operations":"number","per_seconds":"number"}]"#
        );
        assert!(find(&p, "adopt_existing")
            .description
            .contains("Default false"));
        let Ty::Object(attrs) = ty else { panic!() };
        assert_eq!(attrs.len(), 2 + HOST_ATTRIBUTES.len());
        assert!(p
            .block
            .unwrap()
            .description
            .contains("60 operations per 60 s"));
        let mut clash = meta();
        clash
            .config_schema
            .push(attr("secrets", ValueType::String, Presence::Optional));
        assert!(provider(&clash).unwrap_err().contains("`secrets`"));
    }
}
