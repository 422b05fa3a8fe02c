//! Attribute-schema builders and the checks every provider runs the same way.

use crate::{errors, AttributeSchema, FieldError, Object, Presence, ProviderError, ValueType};
use serde_json::Value;

/// An attribute with no flags set; chain [`AttributeSchema`]'s builder methods from [`Flags`].
pub fn attr(
    name: &str,
    value_type: ValueType,
    presence: Presence,
    description: &str,
) -> AttributeSchema {
    AttributeSchema {
        name: name.into(),
        description: description.into(),
        value_type,
        presence,
        sensitive: false,
        replace_on_change: false,
        create_only: false,
        case_insensitive: false,
    }
}

/// Builder-style flag setters for [`AttributeSchema`].
pub trait Flags {
    /// Marks it sensitive.
    fn sensitive(self) -> Self;
    /// Marks it replace-on-change.
    fn replace_on_change(self) -> Self;
    /// Marks it create-only (and so replace-on-change: a new value needs a new object).
    fn create_only(self) -> Self;
    /// Marks it compared ignoring ASCII case, as the vendor compares it (GUIDs).
    fn case_insensitive(self) -> Self;
}

impl Flags for AttributeSchema {
    fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    fn replace_on_change(mut self) -> Self {
        self.replace_on_change = true;
        self
    }
    fn create_only(mut self) -> Self {
        self.create_only = true;
        self
    }
    fn case_insensitive(mut self) -> Self {
        self.case_insensitive = true;
        self
    }
}

fn type_matches(value: &Value, value_type: ValueType) -> bool {
    match value_type {
        ValueType::String => value.is_string(),
        ValueType::Boolean => value.is_boolean(),
        ValueType::Integer => value.is_i64() || value.is_u64(),
        ValueType::Number => value.is_number(),
        ValueType::StringList => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
        ValueType::Object => value.is_object() || value.is_array(),
    }
}

fn type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::String => "a string",
        ValueType::Boolean => "true or false",
        ValueType::Integer => "an integer",
        ValueType::Number => "a number",
        ValueType::StringList => "a list of strings",
        ValueType::Object => "a JSON object or array",
    }
}

/// Every problem of `input` against `schema`: unknown keys, missing required values, values
/// set on computed attributes, and wrong value types. Null counts as unset.
pub fn check(input: &Object, schema: &[AttributeSchema]) -> Vec<FieldError> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push(FieldError {
            field: field.into(),
            message,
        })
    };
    for key in input.keys() {
        if !schema.iter().any(|a| &a.name == key) {
            let known: Vec<&str> = schema
                .iter()
                .filter(|a| a.presence != Presence::Computed)
                .map(|a| a.name.as_str())
                .collect();
            problem(
                key,
                format!("unknown key `{key}`; expected one of: {}", known.join(", ")),
            );
        }
    }
    for a in schema {
        let value = input.get(&a.name).filter(|v| !v.is_null());
        match (value, a.presence) {
            (None, Presence::Required) => problem(&a.name, format!("`{}` is required", a.name)),
            (Some(Value::String(s)), Presence::Required) if s.trim().is_empty() => problem(
                &a.name,
                format!("`{}` is required and must not be empty", a.name),
            ),
            (Some(_), Presence::Computed) => problem(
                &a.name,
                format!("`{}` is computed by the provider and cannot be set", a.name),
            ),
            (Some(v), _) if !type_matches(v, a.value_type) => problem(
                &a.name,
                format!("`{}` must be {}, got {v}", a.name, type_name(a.value_type)),
            ),
            _ => {}
        }
    }
    problems
}

/// Parses a provider config and checks it against `schema`: any problem is `invalid-config`.
pub fn parse_config(text: &str, schema: &[AttributeSchema]) -> Result<Object, ProviderError> {
    let config = crate::parse_object(text, "config").map_err(|e| match e {
        ProviderError::InvalidInput(f) => errors::invalid_config("", &f.message),
        other => other,
    })?;
    check_config(&config, schema)?;
    Ok(config)
}

/// An http(s) URL from config `key`, without trailing slashes.
pub fn http_url(key: &str, url: &str) -> Result<String, ProviderError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(errors::invalid_config(
            key,
            &format!("`{key}` must be an http(s) URL, got `{url}`"),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// [`check`] for a provider config: the first problem as an `invalid-config` error.
pub fn check_config(config: &Object, schema: &[AttributeSchema]) -> Result<(), ProviderError> {
    match check(config, schema).into_iter().next() {
        Some(p) => Err(errors::invalid_config(&p.field, &p.message)),
        None => Ok(()),
    }
}

/// The first problem as an `invalid-input` error.
pub fn first_problem(problems: Vec<FieldError>) -> Result<(), ProviderError> {
    match problems.into_iter().next() {
        Some(p) => Err(ProviderError::InvalidInput(p)),
        None => Ok(()),
    }
}

/// A string value of `object`, treating null and absent alike.
pub fn string<'a>(object: &'a Object, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// A boolean value of `object`, treating null and absent alike.
pub fn boolean(object: &Object, key: &str) -> Option<bool> {
    object.get(key).and_then(Value::as_bool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Vec<AttributeSchema> {
        vec![
            attr("id", ValueType::String, Presence::Required, "id"),
            attr("flag", ValueType::Boolean, Presence::Optional, "flag"),
            attr("made", ValueType::String, Presence::Computed, "made"),
        ]
    }

    #[test]
    fn finds_each_kind_of_problem() {
        let input: Object =
            serde_json::from_str(r#"{"flag": "yes", "made": "x", "typo": 1}"#).unwrap();
        let problems = check(&input, &schema());
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["typo", "id", "flag", "made"]);
        assert!(problems[0].message.contains("expected one of: id, flag"));
    }

    #[test]
    fn accepts_good_input() {
        let input: Object = serde_json::from_str(r#"{"id": "a", "flag": null}"#).unwrap();
        assert!(check(&input, &schema()).is_empty());
    }
}
