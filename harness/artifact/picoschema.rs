//! Picoschema, Dotprompt's compact schema notation, compiled to JSON Schema.
//!
//! `field: type, description`; `field?:` optional and nullable; `field(array, desc): item`;
//! `field(object, desc):` nested map; `field(enum, desc): [A, B]`; `(*): type` for any other
//! key. A value that already looks like JSON Schema (a `type` of object/array, or `properties`)
//! passes through unchanged.

use serde_json::{Map, Value, json};

const SCALARS: [&str; 6] = ["string", "number", "integer", "boolean", "null", "any"];

/// Named schemas a Picoschema type may refer to (`foo: Foo`).
pub(crate) type NamedSchemas = Map<String, Value>;

/// Compiles a Picoschema (or JSON Schema) value into JSON Schema.
///
/// Errors are plain messages naming the offending key; the caller adds the file location.
pub(crate) fn compile(schema: &Value, named: &NamedSchemas) -> Result<Value, String> {
    match schema {
        Value::Null => Ok(Value::Null),
        Value::String(s) => scalar(s, named),
        Value::Object(obj) if is_json_schema(obj) => {
            let mut out = obj.clone();
            if !out.contains_key("type") {
                out.insert("type".into(), json!("object"));
            }
            Ok(Value::Object(out))
        }
        Value::Object(obj) => object(obj, named, ""),
        other => Err(format!(
            "a schema must be a type name or a map, found `{other}`"
        )),
    }
}

fn is_json_schema(obj: &Map<String, Value>) -> bool {
    match obj.get("type") {
        Some(Value::String(t)) => SCALARS.contains(&t.as_str()) || t == "object" || t == "array",
        Some(Value::Array(_)) => true,
        _ => obj.get("properties").is_some_and(Value::is_object),
    }
}

/// Splits `type, description` at the first comma.
fn split_description(input: &str) -> (&str, Option<&str>) {
    match input.split_once(',') {
        Some((ty, desc)) => (ty.trim(), Some(desc.trim_start())),
        None => (input.trim(), None),
    }
}

fn scalar(input: &str, named: &NamedSchemas) -> Result<Value, String> {
    let (ty, description) = split_description(input);
    let mut out = if ty == "any" {
        Map::new()
    } else if SCALARS.contains(&ty) {
        Map::from_iter([("type".to_string(), json!(ty))])
    } else if let Some(Value::Object(schema)) = named.get(ty) {
        schema.clone()
    } else {
        return Err(format!(
            "unknown type `{ty}` (expected one of string, number, integer, boolean, null, any, or a named schema)"
        ));
    };
    if let Some(d) = description {
        out.insert("description".into(), json!(d));
    }
    Ok(Value::Object(out))
}

fn object(obj: &Map<String, Value>, named: &NamedSchemas, path: &str) -> Result<Value, String> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut additional = json!(false);
    for (key, value) in obj {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if key == "(*)" {
            additional = pico(value, named, &here)?;
            continue;
        }
        let (name, type_info) = match key.split_once('(') {
            Some((name, rest)) => {
                let info = rest
                    .strip_suffix(')')
                    .ok_or_else(|| format!("`{here}`: unclosed `(` in field type"))?;
                (name, Some(info))
            }
            None => (key.as_str(), None),
        };
        let optional = name.ends_with('?');
        let name = name.trim_end_matches('?').to_string();
        if !optional {
            required.push(json!(name));
        }
        let prop = match type_info {
            None => {
                let mut prop = pico(value, named, &here)?;
                if optional {
                    if let Some(Value::String(t)) = prop.get("type").cloned() {
                        prop["type"] = json!([t, "null"]);
                    }
                }
                properties.insert(name, prop);
                continue;
            }
            Some(info) => {
                let (ty, description) = split_description(info);
                let mut prop = match ty {
                    "array" => json!({
                        "type": if optional { json!(["array", "null"]) } else { json!("array") },
                        "items": pico(value, named, &here)?,
                    }),
                    "object" => {
                        let mut prop = pico(value, named, &here)?;
                        prop["type"] = if optional {
                            json!(["object", "null"])
                        } else {
                            json!("object")
                        };
                        prop
                    }
                    "enum" => {
                        let Value::Array(items) = value else {
                            return Err(format!("`{here}`: an enum takes a list of values"));
                        };
                        let mut items = items.clone();
                        if optional && !items.contains(&Value::Null) {
                            items.push(Value::Null);
                        }
                        json!({ "enum": items })
                    }
                    other => {
                        return Err(format!(
                            "`{here}`: unknown parenthetical type `{other}` (expected array, object or enum)"
                        ));
                    }
                };
                if let Some(d) = description {
                    prop["description"] = json!(d);
                }
                prop
            }
        };
        properties.insert(name, prop);
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    out.insert("additionalProperties".into(), additional);
    Ok(Value::Object(out))
}

fn pico(value: &Value, named: &NamedSchemas, path: &str) -> Result<Value, String> {
    match value {
        Value::String(s) => scalar(s, named).map_err(|e| format!("`{path}`: {e}")),
        Value::Object(obj) => object(obj, named, path),
        Value::Null => Err(format!("`{path}`: missing type")),
        other => Err(format!(
            "`{path}`: expected a type name or a map, found `{other}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_scalars_become_nullable() {
        let schema = compile(&json!({"a": "string", "b?": "integer, count"}), &Map::new()).unwrap();
        assert_eq!(schema["required"], json!(["a"]));
        assert_eq!(
            schema["properties"]["b"]["type"],
            json!(["integer", "null"])
        );
        assert_eq!(schema["properties"]["b"]["description"], json!("count"));
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    #[test]
    fn unknown_types_are_named() {
        let err = compile(&json!({"a": "strng"}), &Map::new()).unwrap_err();
        assert!(err.contains("`a`") && err.contains("strng"), "{err}");
    }
}
