//! Tool definitions: what a prompt offers the model to call. They are part of the prompt's
//! version: a prompt names tools (`tools: [lookup_order]`), each defined in `tools/NAME.yaml`
//! of the repository, or defines them inline (`toolDefs:`), in Dotprompt's shape: `name`,
//! `description` and `inputSchema` (JSON Schema, or Picoschema as a prompt's input takes).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::picoschema;
use crate::errors::{Error, Location, Result};

/// Where tool definitions live, relative to the project root.
const TOOLS_DIR: &str = "tools";

/// One tool the model may call: its name, what it does, and the JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// The name the model calls it by.
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments (always an object schema).
    pub input_schema: Value,
}

/// A tool as a definition file or `toolDefs` writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTool {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
}

/// The file that defines tool `name`.
pub(crate) fn tool_path(name: &str) -> String {
    format!("{TOOLS_DIR}/{name}.yaml")
}

/// Whether `name` can name a tool: what every API accepts, 1 to 64 letters, digits, `_`, `-`.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses `tools/NAME.yaml`, the definition of tool `name`.
pub(crate) fn parse_file(name: &str, file: &Path, source: &str) -> Result<ToolDef> {
    let raw: RawTool = if source.trim().is_empty() {
        RawTool {
            name: None,
            description: None,
            input_schema: None,
        }
    } else {
        crate::yaml::from_str(file, source, 1)?
    };
    if let Some(written) = raw.name.as_deref().filter(|w| *w != name) {
        return Err(Error::invalid_with_hint(
            Location::new(file, 1, 1),
            format!("this file defines tool `{written}`, but its name makes it `{name}`"),
            format!(
                "rename the file to {}, or drop the `name` key",
                tool_path(written)
            ),
        ));
    }
    build(name.to_string(), raw, &Location::new(file, 1, 1))
}

/// Parses a prompt's inline `toolDefs` (a list of definitions), located at `at`.
pub(crate) fn parse_inline(value: &Value, at: &Location) -> Result<Vec<ToolDef>> {
    let items = value.as_array().ok_or_else(|| {
        Error::invalid_with_hint(
            at.clone(),
            "`toolDefs` must be a list of tool definitions",
            "write `toolDefs: [{ name: lookup_order, description: ..., inputSchema: {...} }]`",
        )
    })?;
    items
        .iter()
        .map(|item| {
            let raw: RawTool = serde_json::from_value(item.clone())
                .map_err(|e| Error::invalid(at.clone(), format!("a `toolDefs` entry: {e}")))?;
            let name = raw
                .name
                .clone()
                .ok_or_else(|| Error::invalid(at.clone(), "a `toolDefs` entry has no `name`"))?;
            build(name, raw, at)
        })
        .collect()
}

/// A definition from what was written: a valid name, and an argument schema that is a valid
/// JSON Schema of an object.
fn build(name: String, raw: RawTool, at: &Location) -> Result<ToolDef> {
    if !valid_name(&name) {
        return Err(Error::invalid_with_hint(
            at.clone(),
            format!("`{name}` cannot name a tool"),
            "use 1 to 64 letters, digits, `_` or `-` (what every model API accepts)",
        ));
    }
    let written = raw
        .input_schema
        .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
    let schema = picoschema::compile(&written, &Default::default())
        .map_err(|e| Error::invalid(at.clone(), format!("tool `{name}`: inputSchema: {e}")))?;
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(Error::invalid_with_hint(
            at.clone(),
            format!("tool `{name}`: its arguments must be an object"),
            "give `inputSchema` fields (Picoschema) or `type: object` with `properties`",
        ));
    }
    jsonschema::validator_for(&schema).map_err(|e| {
        Error::invalid(
            at.clone(),
            format!("tool `{name}`: inputSchema is not a valid JSON Schema: {e}"),
        )
    })?;
    Ok(ToolDef {
        name,
        description: raw.description,
        input_schema: schema,
    })
}

/// The tools a prompt offers: those it names, from their definition files' `sources` (`None`
/// where a file does not exist), then its inline definitions. A name with no definition, and
/// a name defined twice, are errors at `at` (the prompt's `tools:` line).
pub(crate) fn resolve(
    named: &[String],
    sources: &BTreeMap<String, Option<String>>,
    inline: &[ToolDef],
    at: &Location,
) -> Result<Vec<ToolDef>> {
    let mut tools = Vec::with_capacity(named.len() + inline.len());
    for name in named {
        let source = sources.get(name).and_then(Option::as_ref).ok_or_else(|| {
            Error::invalid_with_hint(
                at.clone(),
                format!("tool `{name}` is not defined"),
                format!(
                    "define it in {}, or inline under `toolDefs`",
                    tool_path(name)
                ),
            )
        })?;
        tools.push(parse_file(name, Path::new(&tool_path(name)), source)?);
    }
    tools.extend(inline.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = tools.iter().find(|t| !seen.insert(t.name.as_str())) {
        return Err(Error::invalid_with_hint(
            at.clone(),
            format!("tool `{}` is offered twice", twice.name),
            "name each tool once, under `tools` or `toolDefs`",
        ));
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(pairs: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(n, s)| (n.to_string(), Some(s.to_string())))
            .collect()
    }

    #[test]
    fn a_tool_file_with_picoschema_arguments() {
        let at = Location::new("prompts/agent.prompt", 4, 1);
        let files = sources(&[(
            "lookup_order",
            "description: Find an order.\ninputSchema:\n  order_id: string, the order id\n  verbose?: boolean\n",
        )]);
        let tools = resolve(&["lookup_order".into()], &files, &[], &at).unwrap();
        assert_eq!(tools[0].name, "lookup_order");
        assert_eq!(tools[0].description.as_deref(), Some("Find an order."));
        assert_eq!(tools[0].input_schema["required"], json!(["order_id"]));
        assert_eq!(
            tools[0].input_schema["properties"]["order_id"]["type"],
            "string"
        );
    }

    #[test]
    fn unknown_duplicate_and_invalid_tools_are_located_errors() {
        let at = Location::new("prompts/agent.prompt", 4, 1);
        let unknown = resolve(&["refund".into()], &BTreeMap::new(), &[], &at).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "prompts/agent.prompt:4:1: tool `refund` is not defined\n  help: define it in tools/refund.yaml, or inline under `toolDefs`"
        );
        let inline = parse_inline(&json!([{ "name": "refund" }]), &at).unwrap();
        let files = sources(&[("refund", "description: x\n")]);
        let twice = resolve(&["refund".into()], &files, &inline, &at).unwrap_err();
        assert!(twice.to_string().contains("offered twice"), "{twice}");
        let bad = sources(&[("refund", "inputSchema: { type: object, properties: 3 }\n")]);
        let invalid = resolve(&["refund".into()], &bad, &[], &at).unwrap_err();
        assert!(
            invalid
                .to_string()
                .starts_with("tools/refund.yaml:1:1: tool `refund`"),
            "{invalid}"
        );
        let typo = sources(&[("refund", "descripton: x\n")]);
        let typo = resolve(&["refund".into()], &typo, &[], &at).unwrap_err();
        assert!(
            typo.to_string().starts_with("tools/refund.yaml:1:"),
            "{typo}"
        );
        let scalar = parse_inline(&json!([{ "name": "x", "inputSchema": "string" }]), &at);
        assert!(
            scalar
                .unwrap_err()
                .to_string()
                .contains("must be an object")
        );
        let named = parse_inline(&json!([{ "name": "no spaces" }]), &at).unwrap_err();
        assert!(named.to_string().contains("cannot name a tool"), "{named}");
    }
}
