//! Terraform's values on the wire: cty types in their JSON notation, and values in msgpack
//! (`DynamicValue.msgpack`), with unknown values (a msgpack extension; Terraform 1.x sends
//! type 0, and a refined unknown as type 12: every extension reads as unknown).
//!
//! Pure functions, no I/O. [`Value`] is the tree the host works with; [`decode`] and
//! [`encode`] need the [`Ty`] because cty encodes an object as a map holding every attribute,
//! and may send a number as its decimal string.

use serde_json::json;
use std::collections::BTreeMap;

/// A cty type, as far as Roster's schemas use them.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// `string`
    String,
    /// `bool`
    Bool,
    /// `number`
    Number,
    /// `list(T)`
    List(Box<Ty>),
    /// `map(T)`
    Map(Box<Ty>),
    /// `object({name = T, …})`, attributes sorted by name.
    Object(BTreeMap<String, Ty>),
}

impl Ty {
    /// cty's JSON type notation: `"string"`, `["list","string"]`, `["object",{"a":"number"}]`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Ty::String => json!("string"),
            Ty::Bool => json!("bool"),
            Ty::Number => json!("number"),
            Ty::List(t) => json!(["list", t.to_json()]),
            Ty::Map(t) => json!(["map", t.to_json()]),
            Ty::Object(attrs) => json!([
                "object",
                attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect::<serde_json::Map<_, _>>()
            ]),
        }
    }

    /// The notation as bytes, as `Schema.Attribute.type` carries it.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }
}

/// A Terraform value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Not known until apply.
    Unknown,
    /// Null (unset).
    Null,
    /// A bool.
    Bool(bool),
    /// A number (kept as JSON's number: integers exactly, others as f64).
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// A list.
    List(Vec<Value>),
    /// A map or an object, by key.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// Whether it is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether it or anything inside it is unknown.
    pub fn has_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(v) => v.iter().any(Value::has_unknown),
            Value::Map(m) => m.values().any(Value::has_unknown),
            _ => false,
        }
    }

    /// The attribute `name` of an object (null when absent or not an object).
    pub fn get(&self, name: &str) -> &Value {
        match self {
            Value::Map(m) => m.get(name).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object's attributes (`None` when it is not an object: null or unknown).
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// JSON for a known value (`None` if anything in it is unknown); null is JSON's null.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Value::Unknown => return None,
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(v) => {
                serde_json::Value::Array(v.iter().map(Value::to_json).collect::<Option<_>>()?)
            }
            Value::Map(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| Some((k.clone(), v.to_json()?)))
                    .collect::<Option<_>>()?,
            ),
        })
    }

    /// The value of `json` as type `ty`; a JSON value of another shape is an error naming it
    /// (a number for a string is taken as its text, as Terraform converts it).
    pub fn from_json(json: &serde_json::Value, ty: &Ty) -> Result<Value, String> {
        use serde_json::Value as J;
        Ok(match (ty, json) {
            (_, J::Null) => Value::Null,
            (Ty::String, J::String(s)) => Value::String(s.clone()),
            (Ty::String, J::Number(n)) => Value::String(n.to_string()),
            (Ty::String, J::Bool(b)) => Value::String(b.to_string()),
            (Ty::Bool, J::Bool(b)) => Value::Bool(*b),
            (Ty::Number, J::Number(n)) => Value::Number(n.clone()),
            (Ty::List(t), J::Array(items)) => Value::List(
                items
                    .iter()
                    .map(|i| Value::from_json(i, t))
                    .collect::<Result<_, _>>()?,
            ),
            (Ty::Map(t), J::Object(m)) => Value::Map(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), Value::from_json(v, t)?)))
                    .collect::<Result<_, String>>()?,
            ),
            (Ty::Object(attrs), J::Object(m)) => {
                if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                    return Err(format!("unexpected attribute `{extra}`"));
                }
                Value::Map(
                    attrs
                        .iter()
                        .map(|(k, t)| {
                            Ok((
                                k.clone(),
                                Value::from_json(m.get(k).unwrap_or(&J::Null), t)?,
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                )
            }
            (ty, other) => return Err(format!("expected {}, got {}", ty.to_json(), kind(other))),
        })
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Decodes msgpack bytes as a value of type `ty`. Empty bytes are null (what Terraform sends
/// for an absent state).
pub fn decode(bytes: &[u8], ty: &Ty) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let mut reader = bytes;
    let raw =
        rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH).map_err(|e| match e {
            rmpv::decode::Error::DepthLimitExceeded => {
                format!("value nested deeper than {MAX_DEPTH} levels")
            }
            e => format!("not msgpack: {e}"),
        })?;
    if !reader.is_empty() {
        return Err(format!(
            "{} trailing byte(s) after the msgpack value",
            reader.len()
        ));
    }
    from_msgpack(&raw, ty, 0)
}

/// How deep a value may nest (Roster's schemas need 3; a hostile peer gets an error, not a stack overflow).
const MAX_DEPTH: usize = 32;

fn from_msgpack(raw: &rmpv::Value, ty: &Ty, depth: usize) -> Result<Value, String> {
    use rmpv::Value as M;
    if depth > MAX_DEPTH {
        return Err(format!("value nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(match (ty, raw) {
        (_, M::Ext(_, _)) => Value::Unknown,
        (_, M::Nil) => Value::Null,
        (Ty::Bool, M::Boolean(b)) => Value::Bool(*b),
        (Ty::Number, M::Integer(i)) => Value::Number(if let Some(u) = i.as_u64() {
            u.into()
        } else {
            i.as_i64().ok_or("integer out of range")?.into()
        }),
        (Ty::Number, M::F32(f)) => Value::Number(finite(*f as f64)?),
        (Ty::Number, M::F64(f)) => Value::Number(finite(*f)?),
        // cty sends a number that no msgpack number holds exactly as its decimal text.
        (Ty::Number, M::String(s)) => {
            let text = s.as_str().ok_or("number text is not UTF-8")?;
            Value::Number(
                serde_json::from_str::<serde_json::Number>(text)
                    .map_err(|_| format!("`{text}` is not a number"))?,
            )
        }
        (Ty::String, M::String(s)) => {
            Value::String(s.as_str().ok_or("string is not UTF-8")?.to_string())
        }
        (Ty::List(t), M::Array(items)) => Value::List(
            items
                .iter()
                .map(|i| from_msgpack(i, t, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        (Ty::Map(_) | Ty::Object(_), M::Map(entries)) => {
            let mut out = BTreeMap::new();
            for (k, v) in entries {
                let key = k.as_str().ok_or("a map key is not a UTF-8 string")?;
                let vty = match ty {
                    Ty::Map(t) => t.as_ref(),
                    Ty::Object(attrs) => attrs
                        .get(key)
                        .ok_or_else(|| format!("unexpected attribute `{key}`"))?,
                    _ => unreachable!(),
                };
                out.insert(key.to_string(), from_msgpack(v, vty, depth + 1)?);
            }
            if let Ty::Object(attrs) = ty {
                for k in attrs.keys() {
                    out.entry(k.clone()).or_insert(Value::Null);
                }
            }
            Value::Map(out)
        }
        (ty, other) => {
            return Err(format!(
                "expected {}, got msgpack {}",
                ty.to_json(),
                msgpack_kind(other)
            ))
        }
    })
}

fn finite(f: f64) -> Result<serde_json::Number, String> {
    serde_json::Number::from_f64(f).ok_or_else(|| "a number that is not finite".to_string())
}

fn msgpack_kind(v: &rmpv::Value) -> &'static str {
    use rmpv::Value as M;
    match v {
        M::Nil => "nil",
        M::Boolean(_) => "bool",
        M::Integer(_) => "integer",
        M::F32(_) | M::F64(_) => "float",
        M::String(_) => "string",
        M::Binary(_) => "binary",
        M::Array(_) => "array",
        M::Map(_) => "map",
        M::Ext(_, _) => "extension",
    }
}

/// Encodes `value` as msgpack for type `ty`: an object holds every attribute of its type
/// (null where the value has none), in name order; an unknown is extension 0.
pub fn encode(value: &Value, ty: &Ty) -> Result<Vec<u8>, String> {
    let raw = to_msgpack(value, ty)?;
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &raw).map_err(|e| e.to_string())?;
    Ok(out)
}

fn to_msgpack(value: &Value, ty: &Ty) -> Result<rmpv::Value, String> {
    use rmpv::Value as M;
    Ok(match (ty, value) {
        (_, Value::Unknown) => M::Ext(0, vec![0]),
        (_, Value::Null) => M::Nil,
        (Ty::Bool, Value::Bool(b)) => M::Boolean(*b),
        (Ty::Number, Value::Number(n)) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => M::from(u),
            (_, Some(i), _) => M::from(i),
            (_, _, Some(f)) => M::F64(f),
            _ => M::from(n.to_string()),
        },
        (Ty::String, Value::String(s)) => M::from(s.as_str()),
        (Ty::List(t), Value::List(items)) => M::Array(
            items
                .iter()
                .map(|i| to_msgpack(i, t))
                .collect::<Result<_, _>>()?,
        ),
        (Ty::Map(t), Value::Map(m)) => M::Map(
            m.iter()
                .map(|(k, v)| Ok((M::from(k.as_str()), to_msgpack(v, t)?)))
                .collect::<Result<_, String>>()?,
        ),
        (Ty::Object(attrs), Value::Map(m)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(format!("attribute `{extra}` is not in the schema"));
            }
            M::Map(
                attrs
                    .iter()
                    .map(|(k, t)| {
                        Ok((
                            M::from(k.as_str()),
                            to_msgpack(m.get(k).unwrap_or(&Value::Null), t)?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        (ty, v) => return Err(format!("cannot encode {v:?} as {}", ty.to_json())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(attrs: &[(&str, Ty)]) -> Ty {
        Ty::Object(
            attrs
                .iter()
                .map(|(k, t)| (k.to_string(), t.clone()))
                .collect(),
        )
    }

    fn user_ty() -> Ty {
        object(&[
            ("o365_id", Ty::String),
            ("licenses", Ty::List(Box::new(Ty::String))),
            ("enabled", Ty::Bool),
            ("count", Ty::Number),
            (
                "rate_limit",
                object(&[("operations", Ty::Number), ("per_seconds", Ty::Number)]),
            ),
            ("secrets", Ty::Map(Box::new(Ty::String))),
        ])
    }

    #[test]
    fn type_notation_is_ctys_json() {
        assert_eq!(
            Ty::List(Box::new(Ty::String)).to_json(),
            json!(["list", "string"])
        );
        assert_eq!(
            object(&[("b", Ty::Bool), ("a", Ty::Number)])
                .to_json()
                .to_string(),
            r#"["object",{"a":"number","b":"bool"}]"#
        );
        assert_eq!(
            Ty::Map(Box::new(Ty::String)).to_bytes(),
            br#"["map","string"]"#
        );
    }

    #[test]
    fn unknown_is_any_extension_and_encodes_as_type_zero() {
        // d4 00 00: fixext1 type 0 — what Terraform sends for an unknown.
        assert_eq!(
            decode(&[0xd4, 0x00, 0x00], &Ty::String).unwrap(),
            Value::Unknown
        );
        // A refined unknown (type 12, with refinements as payload) is still unknown.
        assert_eq!(
            decode(&[0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc3], &Ty::String).unwrap(),
            Value::Unknown
        );
        assert_eq!(
            encode(&Value::Unknown, &Ty::Number).unwrap(),
            vec![0xd4, 0x00, 0x00]
        );
    }

    #[test]
    fn null_absent_and_empty() {
        assert_eq!(
            decode(&[], &user_ty()).unwrap(),
            Value::Null,
            "no bytes: no value (an absent prior state)"
        );
        assert_eq!(decode(&[0xc0], &user_ty()).unwrap(), Value::Null);
        // An object fills the attributes the map left out with null.
        let v = decode(
            &encode(&Value::Map(BTreeMap::new()), &user_ty()).unwrap(),
            &user_ty(),
        )
        .unwrap();
        assert_eq!(v.get("o365_id"), &Value::Null);
        assert_eq!(v.as_map().unwrap().len(), 6, "every attribute present");
    }

    #[test]
    fn nested_values_round_trip_with_unknowns_inside() {
        let mut m = BTreeMap::new();
        m.insert("o365_id".to_string(), Value::String("2B3C".into()));
        m.insert(
            "licenses".to_string(),
            Value::List(vec![Value::String("a".into()), Value::Unknown]),
        );
        m.insert("enabled".to_string(), Value::Bool(false));
        m.insert("count".to_string(), Value::Number((-3i64).into()));
        m.insert(
            "rate_limit".to_string(),
            Value::Map(
                [
                    ("operations".to_string(), Value::Number(60u64.into())),
                    ("per_seconds".to_string(), Value::Unknown),
                ]
                .into_iter()
                .collect(),
            ),
        );
        m.insert(
            "secrets".to_string(),
            Value::Map(
                [("client_secret".to_string(), Value::String("env:X".into()))]
                    .into_iter()
                    .collect(),
            ),
        );
        let v = Value::Map(m);
        let back = decode(&encode(&v, &user_ty()).unwrap(), &user_ty()).unwrap();
        assert_eq!(back, v);
        assert!(back.has_unknown());
        assert!(back.get("secrets").to_json().is_some());
        assert_eq!(
            back.get("rate_limit").to_json(),
            None,
            "a value with an unknown inside has no JSON"
        );
    }

    #[test]
    fn numbers_as_terraform_sends_them() {
        assert_eq!(
            decode(&[0x2a], &Ty::Number).unwrap(),
            Value::Number(42u64.into())
        );
        assert_eq!(
            decode(&[0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], &Ty::Number).unwrap(),
            Value::Number(serde_json::Number::from_f64(1.5).unwrap())
        );
        // A big number arrives as its decimal text.
        let mut text = Vec::new();
        rmpv::encode::write_value(&mut text, &rmpv::Value::from("12345678901234567890")).unwrap();
        assert_eq!(
            decode(&text, &Ty::Number)
                .unwrap()
                .to_json()
                .unwrap()
                .to_string(),
            "12345678901234567890"
        );
        let mut bad = Vec::new();
        rmpv::encode::write_value(&mut bad, &rmpv::Value::from("twelve")).unwrap();
        assert!(decode(&bad, &Ty::Number)
            .unwrap_err()
            .contains("not a number"));
    }

    #[test]
    fn wrong_shapes_and_garbage_are_errors_not_panics() {
        assert!(decode(&[0xc3], &Ty::String)
            .unwrap_err()
            .contains("expected \"string\", got msgpack bool"));
        assert!(decode(&[0x81, 0xa1, b'z', 0x01], &user_ty())
            .unwrap_err()
            .contains("unexpected attribute `z`"));
        assert!(decode(&[0xa1, b'a', 0x00], &Ty::String)
            .unwrap_err()
            .contains("trailing"));
        assert!(
            decode(
                &[0xdd, 0xff, 0xff, 0xff, 0xff],
                &Ty::List(Box::new(Ty::String))
            )
            .is_err(),
            "a truncated huge array"
        );
        // Deep nesting is refused, not recursed into without end.
        let deep: Vec<u8> = std::iter::repeat_n(0x91u8, 100).chain([0xc0]).collect();
        let mut ty = Ty::String;
        for _ in 0..100 {
            ty = Ty::List(Box::new(ty));
        }
        assert!(decode(&deep, &ty).unwrap_err().contains("nested deeper"));
        let mut extra = BTreeMap::new();
        extra.insert("nope".to_string(), Value::Null);
        assert!(encode(&Value::Map(extra), &user_ty())
            .unwrap_err()
            .contains("not in the schema"));
    }

    #[test]
    fn json_conversion_follows_the_type() {
        let ty = object(&[
            ("licenses", Ty::List(Box::new(Ty::String))),
            ("n", Ty::String),
        ]);
        let v = Value::from_json(&json!({ "licenses": ["x"], "n": 5 }), &ty).unwrap();
        assert_eq!(v.get("n"), &Value::String("5".into()));
        assert_eq!(v.to_json().unwrap(), json!({ "licenses": ["x"], "n": "5" }));
        assert!(Value::from_json(&json!({ "licenses": "x" }), &ty)
            .unwrap_err()
            .contains("expected [\"list\",\"string\"], got a string"));
        assert!(Value::from_json(&json!({ "other": 1 }), &ty)
            .unwrap_err()
            .contains("unexpected attribute `other`"));
    }
}
