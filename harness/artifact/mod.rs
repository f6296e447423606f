//! Prompt artifacts: Dotprompt parsing and rendering to messages. No I/O.
//!
//! A `.prompt` file is optional YAML front matter between `---` lines and a Handlebars body.
//! [`parse`] reads the front matter (with promptgate's own `promptgate.*` keys), compiles the
//! Picoschema input and output schemas, and [`Template::compile`] turns the body and its partials
//! into something that renders a case's variables to chat [`Message`]s.

mod picoschema;
mod render;
mod tools;

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use picoschema::{NamedSchemas, compile as compile_schema};
pub(crate) use render::partial_references;
pub use render::{RenderData, Template};
pub(crate) use tools::ToolDef;
pub(crate) use tools::{resolve as resolve_tools, tool_path};

use crate::errors::{Error, Location, VariableProblem};
use crate::ids::PromptName;

/// One chat message: a role and its content parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `model` (Dotprompt's name for the assistant) or `tool`.
    pub role: String,
    /// The content, in order.
    pub content: Vec<Part>,
    /// Dotprompt metadata, such as `purpose: history` on inserted history messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl Message {
    /// A message holding one text part.
    pub fn text(role: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: vec![Part::Text(text.into())],
            metadata: None,
        }
    }

    /// The concatenated text parts of the message.
    pub fn text_content(&self) -> String {
        self.content
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The text a provider bills for the message: its text parts, and the tool calls and
    /// results it carries as JSON. For token estimates and budget bounds.
    pub fn counted_text(&self) -> String {
        let mut text = self.text_content();
        for part in &self.content {
            match part {
                Part::ToolRequest(call) => text.push_str(&format!("{}{}", call.name, call.input)),
                Part::ToolResponse(result) => {
                    text.push_str(&format!("{}{}", result.name, result.output));
                }
                _ => {}
            }
        }
        text
    }

    /// The tool calls the message carries (a model message in a conversation).
    pub fn tool_requests(&self) -> impl Iterator<Item = &ToolRequest> {
        self.content.iter().filter_map(|p| match p {
            Part::ToolRequest(call) => Some(call),
            _ => None,
        })
    }

    /// The tool results the message carries (a `tool` message in a conversation).
    pub fn tool_responses(&self) -> impl Iterator<Item = &ToolResponse> {
        self.content.iter().filter_map(|p| match p {
            Part::ToolResponse(result) => Some(result),
            _ => None,
        })
    }
}

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Plain text.
    Text(String),
    /// A media reference (`{{media url=... contentType=...}}`).
    Media(Media),
    /// A marker such as the start of a `{{section}}`.
    Metadata(Map<String, Value>),
    /// A tool call the model made, in a conversation's history (Dotprompt's `toolRequest`).
    #[serde(rename = "toolRequest")]
    ToolRequest(ToolRequest),
    /// A tool's result sent back to the model (Dotprompt's `toolResponse`).
    #[serde(rename = "toolResponse")]
    ToolResponse(ToolResponse),
}

/// A tool call inside a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRequest {
    /// The tool called.
    pub name: String,
    /// The call's id, which its result refers to.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The arguments: the JSON the model wrote, or the text it wrote when that was not JSON.
    pub input: Value,
}

/// A tool's result inside a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResponse {
    /// The tool that answered.
    pub name: String,
    /// The id of the call it answers.
    #[serde(rename = "ref")]
    pub reference: String,
    /// What the tool returned.
    pub output: Value,
}

impl ToolResponse {
    /// The output as the text a model reads: a string as it is, anything else as JSON.
    pub fn output_text(&self) -> String {
        match &self.output {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl ToolRequest {
    /// The arguments as the text a model wrote: JSON, or the malformed text as it was.
    pub fn input_text(&self) -> String {
        match &self.input {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// A media reference inside a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    /// Where the media is.
    pub url: String,
    /// Its MIME type, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// How much scrutiny a prompt's changes get (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskTier {
    /// Low-stakes prompts: looser default tolerance.
    Low,
    /// The default.
    #[default]
    Standard,
    /// Prompts where a regression is costly: strictest defaults.
    Exceptional,
}

impl RiskTier {
    /// The tier's name as written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Standard => "standard",
            Self::Exceptional => "exceptional",
        }
    }
}

/// promptgate's own front matter keys (`promptgate.owner` and friends).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Governance {
    /// Who answers for this prompt.
    pub owner: Option<String>,
    /// Who is called when production breaches its thresholds (`promptgate.escalation`).
    pub escalation: Option<String>,
    /// The risk tier that selects default policy.
    pub risk_tier: RiskTier,
    /// Whether the front matter declares the tier (`promptgate.risk_tier`), rather than
    /// leaving it to the default.
    pub tier_declared: bool,
    /// Suites that must run for this prompt, by name.
    pub suites: Vec<String>,
    /// What the prompt answers when it is a judge (`promptgate.judge`).
    pub judge: Option<JudgeSpec>,
}

/// A judge prompt's verdict shape (`promptgate.judge`): what its JSON reply must hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeSpec {
    /// A label from a fixed set, a score on a scale, or a preference between two outputs.
    pub verdict: JudgeVerdict,
    /// The provider that runs the judge; the suite's when `None`.
    pub provider: Option<String>,
}

/// The verdict a judge gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JudgeVerdict {
    /// `{"label": one of these, "reason": ...}`.
    Labels(Vec<String>),
    /// `{"score": a number in [min, max], "reason": ...}`.
    Scale(f64, f64),
    /// `{"label": "A" | "B" | "same", "reason": ...}`: which of two outputs is better.
    Pairwise,
}

/// The input section of the front matter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InputSpec {
    /// Default values for variables.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub default: Map<String, Value>,
    /// The input schema compiled to JSON Schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

/// The output section of the front matter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutputSpec {
    /// `text`, `json`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The output schema compiled to JSON Schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

/// Everything the front matter says, in Dotprompt's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metadata {
    /// Optional explicit name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Optional variant name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Optional version string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Human description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Model identifier, e.g. `openai/gpt-4o-mini`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model parameters (`temperature`, `maxOutputTokens`, ...).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
    /// Input defaults and schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<InputSpec>,
    /// Output format and schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputSpec>,
    /// Tool names, each defined in `tools/NAME.yaml`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Tools defined inline (`toolDefs`).
    #[serde(rename = "toolDefs", skip_serializing_if = "Vec::is_empty")]
    pub tool_defs: Vec<ToolDef>,
    /// Where the prompt's `tools` (or `toolDefs`) key is, for errors about its tools.
    #[serde(skip)]
    pub tools_at: Option<Location>,
    /// Namespaced extension keys: `ns.key: v` lands in `ext[ns][key]`.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub ext: Map<String, Value>,
    /// The front matter exactly as written.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub raw: Value,
    /// promptgate's keys, validated.
    #[serde(skip)]
    pub governance: Governance,
}

/// A parsed prompt: metadata plus the template body.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The prompt's name.
    pub name: PromptName,
    /// Front matter.
    pub metadata: Metadata,
    /// The Handlebars body.
    pub template: String,
}

static FRONT_MATTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?:#[^\n]*|[ \t]*)\n)*---\s*(?:\r\n|\r|\n)([\s\S]*?)(?:\r\n|\r|\n)---\s*(?:\r\n|\r|\n)([\s\S]*)$",
    )
    .expect("front matter pattern is valid")
});

const RESERVED: [&str; 12] = [
    "name",
    "variant",
    "version",
    "description",
    "model",
    "tools",
    "toolDefs",
    "config",
    "input",
    "output",
    "raw",
    "ext",
];

/// The template body of a `.prompt` file (what follows the front matter, if any).
pub(crate) fn body_of(source: &str) -> &str {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    FRONT_MATTER
        .captures(source)
        .and_then(|c| c.get(2))
        .map_or(source, |m| m.as_str().trim())
}

/// Parses a `.prompt` file. `file` is used only to locate errors; `named` resolves named schema
/// types (`field: Foo`).
pub fn parse(
    name: PromptName,
    file: &Path,
    source: &str,
    named: &NamedSchemas,
) -> Result<Prompt, Error> {
    // A byte-order mark is not text: front matter after one is still front matter.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let Some(captures) = FRONT_MATTER.captures(source) else {
        if source.lines().next().is_some_and(|l| l.trim_end() == "---") {
            return Err(Error::invalid_with_hint(
                Location::new(file, 1, 1),
                "the front matter opened with `---` on line 1 is never closed",
                "end it with a line of `---` before the template",
            ));
        }
        return Ok(Prompt {
            name,
            metadata: Metadata::default(),
            template: source.to_string(),
        });
    };
    let yaml = captures.get(1).map_or("", |m| m.as_str());
    let body = captures.get(2).map_or("", |m| m.as_str());
    let yaml_start = captures.get(1).map_or(0, |m| m.start());
    let first_line = source[..yaml_start].matches('\n').count() as u64 + 1;

    let raw: Value = if yaml.trim().is_empty() {
        Value::Null
    } else {
        crate::yaml::from_str(file, yaml, first_line)?
    };
    let fields = match &raw {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => {
            return Err(Error::invalid_with_hint(
                Location::new(file, first_line, 1),
                "front matter must be a YAML mapping",
                "write `key: value` lines between the `---` markers",
            ));
        }
    };
    let at = |key: &str| Location::new(file, key_line(yaml, key, first_line), 1);

    let mut metadata = Metadata {
        raw: raw.clone(),
        ..Metadata::default()
    };
    for (key, value) in &fields {
        if let Some((namespace, leaf)) = key.rsplit_once('.') {
            let entry = metadata
                .ext
                .entry(namespace.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = entry {
                map.insert(leaf.to_string(), value.clone());
            }
            continue;
        }
        if !RESERVED.contains(&key.as_str()) {
            continue;
        }
        let string = |v: &Value| -> Result<String, Error> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::invalid(at(key), format!("`{key}` must be a string")))
        };
        match key.as_str() {
            "name" => metadata.name = Some(string(value)?),
            "variant" => metadata.variant = Some(string(value)?),
            "version" => {
                metadata.version = Some(
                    value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string),
                )
            }
            "description" => metadata.description = Some(string(value)?),
            "model" => metadata.model = Some(string(value)?),
            "tools" => {
                let names: Option<Vec<String>> = value
                    .as_array()
                    .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect());
                metadata.tools = names
                    .ok_or_else(|| Error::invalid(at(key), "`tools` must be a list of names"))?;
                if let Some(bad) = metadata.tools.iter().find(|n| !tools::valid_name(n)) {
                    return Err(Error::invalid_with_hint(
                        at(key),
                        format!("`{bad}` cannot name a tool"),
                        "use 1 to 64 letters, digits, `_` or `-`; the tool is defined in tools/NAME.yaml",
                    ));
                }
                metadata.tools_at = Some(at(key));
            }
            "toolDefs" => {
                metadata.tool_defs = tools::parse_inline(value, &at(key))?;
                metadata.tools_at.get_or_insert_with(|| at(key));
            }
            "config" => {
                metadata.config = value.as_object().cloned().ok_or_else(|| {
                    Error::invalid(at(key), "`config` must be a mapping of model parameters")
                })?;
            }
            "input" => metadata.input = Some(input_spec(value, named, &at(key))?),
            "output" => metadata.output = Some(output_spec(value, named, &at(key))?),
            _ => {}
        }
    }
    metadata.governance = governance(&metadata.ext, &|key| at(key))?;
    Ok(Prompt {
        name,
        metadata,
        template: body.trim().to_string(),
    })
}

fn input_spec(value: &Value, named: &NamedSchemas, at: &Location) -> Result<InputSpec, Error> {
    let Value::Object(map) = value else {
        return Err(Error::invalid(
            at.clone(),
            "`input` must be a mapping with `schema` and/or `default`",
        ));
    };
    let default = match map.get("default") {
        None => Map::new(),
        Some(Value::Object(d)) => d.clone(),
        Some(_) => {
            return Err(Error::invalid(
                at.clone(),
                "`input.default` must be a mapping of variable values",
            ));
        }
    };
    let schema = schema(map.get("schema"), named, at, "input")?;
    Ok(InputSpec { default, schema })
}

fn output_spec(value: &Value, named: &NamedSchemas, at: &Location) -> Result<OutputSpec, Error> {
    let Value::Object(map) = value else {
        return Err(Error::invalid(
            at.clone(),
            "`output` must be a mapping with `format` and/or `schema`",
        ));
    };
    let format = map
        .get("format")
        .and_then(Value::as_str)
        .map(str::to_string);
    let schema = schema(map.get("schema"), named, at, "output")?;
    Ok(OutputSpec { format, schema })
}

fn schema(
    value: Option<&Value>,
    named: &NamedSchemas,
    at: &Location,
    section: &str,
) -> Result<Option<Value>, Error> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let compiled = compile_schema(v, named).map_err(|e| {
                Error::invalid_with_hint(
                    at.clone(),
                    format!("invalid {section}.schema: {e}"),
                    "Picoschema fields read `name: type, description`; optional fields end in `?`",
                )
            })?;
            jsonschema::validator_for(&compiled).map_err(|e| {
                Error::invalid(at.clone(), format!("invalid {section}.schema: {e}"))
            })?;
            Ok(Some(compiled))
        }
    }
}

fn governance(
    ext: &Map<String, Value>,
    at: &dyn Fn(&str) -> Location,
) -> Result<Governance, Error> {
    let mut governance = Governance::default();
    let Some(Value::Object(keys)) = ext.get("promptgate") else {
        return Ok(governance);
    };
    for (key, value) in keys {
        let full = format!("promptgate.{key}");
        match key.as_str() {
            "owner" => {
                governance.owner = Some(value.as_str().map(str::to_string).ok_or_else(|| {
                    Error::invalid(at(&full), "`promptgate.owner` must be a string")
                })?);
            }
            "escalation" => {
                governance.escalation =
                    Some(value.as_str().map(str::to_string).ok_or_else(|| {
                        Error::invalid(at(&full), "`promptgate.escalation` must be a string")
                    })?);
            }
            "risk_tier" => {
                governance.tier_declared = true;
                governance.risk_tier = match value.as_str() {
                    Some("low") => RiskTier::Low,
                    Some("standard") => RiskTier::Standard,
                    Some("exceptional") => RiskTier::Exceptional,
                    _ => {
                        return Err(Error::invalid_with_hint(
                            at(&full),
                            format!("invalid `promptgate.risk_tier` {value}"),
                            "expected one of: low, standard, exceptional",
                        ));
                    }
                };
            }
            "suites" => {
                governance.suites = value
                    .as_array()
                    .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
                    .ok_or_else(|| {
                        Error::invalid(
                            at(&full),
                            "`promptgate.suites` must be a list of suite names",
                        )
                    })?;
            }
            "judge" => {
                governance.judge = Some(judge_spec(value).map_err(|(message, hint)| {
                    Error::invalid_with_hint(at(&full), format!("`{full}`: {message}"), hint)
                })?);
            }
            _ => {
                return Err(Error::invalid_with_hint(
                    at(&full),
                    format!("unknown key `{full}`"),
                    "promptgate reads promptgate.owner, promptgate.escalation, promptgate.risk_tier, promptgate.suites and promptgate.judge",
                ));
            }
        }
    }
    Ok(governance)
}

/// A judge's `promptgate.judge` value: `{ labels: [..] }`, `{ scale: [min, max] }` or
/// `{ pairwise: true }`, with an optional `provider`.
fn judge_spec(value: &Value) -> Result<JudgeSpec, (String, &'static str)> {
    const HINT: &str = "write `{ labels: [pass, fail] }`, `{ scale: [1, 5] }` or `{ pairwise: true }`, with an optional `provider: NAME`";
    let Value::Object(keys) = value else {
        return Err(("must be a mapping".into(), HINT));
    };
    let mut verdicts = Vec::new();
    let mut provider = None;
    for (key, v) in keys {
        match key.as_str() {
            "labels" => {
                let labels: Option<Vec<String>> = v
                    .as_array()
                    .and_then(|a| a.iter().map(|l| l.as_str().map(str::to_string)).collect());
                match labels {
                    Some(l) if l.len() >= 2 => verdicts.push(JudgeVerdict::Labels(l)),
                    _ => return Err(("`labels` must list at least two labels".into(), HINT)),
                }
            }
            "scale" => match v.as_array().map(|a| {
                (
                    a.first().and_then(Value::as_f64),
                    a.get(1).and_then(Value::as_f64),
                    a.len(),
                )
            }) {
                Some((Some(min), Some(max), 2)) if min < max => {
                    verdicts.push(JudgeVerdict::Scale(min, max));
                }
                _ => {
                    return Err((
                        "`scale` must be `[min, max]` with min below max".into(),
                        HINT,
                    ));
                }
            },
            "pairwise" => match v {
                Value::Bool(true) => verdicts.push(JudgeVerdict::Pairwise),
                Value::Bool(false) => {}
                _ => return Err(("`pairwise` must be true or false".into(), HINT)),
            },
            "provider" => {
                provider = Some(
                    v.as_str()
                        .ok_or(("`provider` must be a provider's name".to_string(), HINT))?
                        .to_string(),
                );
            }
            other => return Err((format!("unknown key `{other}`"), HINT)),
        }
    }
    match verdicts.len() {
        1 => Ok(JudgeSpec {
            verdict: verdicts.remove(0),
            provider,
        }),
        0 => Err(("says neither `labels`, `scale` nor `pairwise`".into(), HINT)),
        _ => Err((
            "gives more than one of `labels`, `scale` and `pairwise`".into(),
            HINT,
        )),
    }
}

/// The 1-based file line of a top-level `key:` in front matter, or the first line if not found.
fn key_line(yaml: &str, key: &str, first_line: u64) -> u64 {
    yaml.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(first_line, |i| first_line + i as u64)
}

/// Checks cases' variables against a prompt's input schema. Built once per prompt version and
/// used for every case.
pub(crate) struct InputCheck {
    schema: Option<(Value, jsonschema::Validator)>,
    defaults: Map<String, Value>,
}

impl std::fmt::Debug for InputCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputCheck")
            .field("schema", &self.schema.as_ref().map(|s| &s.0))
            .finish_non_exhaustive()
    }
}

impl InputCheck {
    /// The check for `prompt`. Without a declared input schema every set of variables passes.
    pub(crate) fn new(prompt: &Prompt) -> Self {
        let input = prompt.metadata.input.as_ref();
        let schema = input
            .and_then(|i| i.schema.as_ref())
            .and_then(|s| jsonschema::validator_for(s).ok().map(|v| (s.clone(), v)));
        Self {
            schema,
            defaults: input.map(|i| i.default.clone()).unwrap_or_default(),
        }
    }

    /// The variables the input schema declares; `None` without a schema (anything goes).
    pub(crate) fn declared(&self) -> Option<Vec<&str>> {
        let (schema, _) = self.schema.as_ref()?;
        let properties = schema.get("properties").and_then(Value::as_object)?;
        Some(properties.keys().map(String::as_str).collect())
    }

    /// Variables for a preview without a case: the declared defaults, and `⟨name⟩` for each
    /// declared variable without one, so nothing renders silently empty.
    pub(crate) fn placeholders(&self) -> Map<String, Value> {
        let mut vars = self.defaults.clone();
        let declared = self
            .schema
            .as_ref()
            .and_then(|(schema, _)| schema.get("properties"))
            .and_then(Value::as_object);
        for name in declared.into_iter().flat_map(|p| p.keys()) {
            vars.entry(name.clone())
                .or_insert_with(|| Value::String(format!("⟨{name}⟩")));
        }
        vars
    }

    /// The first problem with `vars`, as `(variable, problem, detail)`.
    pub(crate) fn check(
        &self,
        vars: &Map<String, Value>,
    ) -> Option<(String, VariableProblem, String)> {
        let (schema, validator) = self.schema.as_ref()?;
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !vars.contains_key(name) && !self.defaults.contains_key(name) {
                    return Some((name.to_string(), VariableProblem::Missing, String::new()));
                }
            }
        }
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            for name in vars.keys() {
                if !properties.is_some_and(|p| p.contains_key(name)) {
                    return Some((name.clone(), VariableProblem::Undeclared, String::new()));
                }
            }
        }
        let mut merged = self.defaults.clone();
        merged.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        let instance = Value::Object(merged);
        validator.iter_errors(&instance).next().map(|e| {
            let path = e.instance_path().to_string();
            let variable = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            (variable, VariableProblem::WrongType, e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(source: &str) -> Result<Prompt, Error> {
        parse(
            PromptName::new("t"),
            Path::new("prompts/t.prompt"),
            source,
            &Map::new(),
        )
    }

    #[test]
    fn governance_keys_are_read_and_checked() {
        let p = parse_str("---\npromptgate.owner: ana\npromptgate.risk_tier: exceptional\n---\nHi")
            .unwrap();
        assert_eq!(p.metadata.governance.owner.as_deref(), Some("ana"));
        assert_eq!(p.metadata.governance.risk_tier, RiskTier::Exceptional);
        assert!(p.metadata.governance.tier_declared);
        // A tier named only in the body is not declared.
        let body = parse_str("---\npromptgate.owner: ana\n---\nOur risk_tier is high").unwrap();
        assert!(!body.metadata.governance.tier_declared);
        let err = parse_str("---\nmodel: x\npromptgate.risk_tier: huge\n---\nHi")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("prompts/t.prompt:3:1: invalid `promptgate.risk_tier`"),
            "{err}"
        );
        let err = parse_str("---\npromptgate.ownr: x\n---\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `promptgate.ownr`"), "{err}");
    }

    #[test]
    fn a_judge_says_what_it_answers() {
        let judge = |spec: &str| {
            parse_str(&format!(
                "---\npromptgate.judge: {spec}\n---\nGrade {{{{output}}}}"
            ))
            .map(|p| p.metadata.governance.judge.unwrap())
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            judge("{ labels: [pass, fail], provider: gpt }").unwrap(),
            JudgeSpec {
                verdict: JudgeVerdict::Labels(vec!["pass".into(), "fail".into()]),
                provider: Some("gpt".into()),
            }
        );
        assert_eq!(
            judge("{ scale: [1, 5] }").unwrap().verdict,
            JudgeVerdict::Scale(1.0, 5.0)
        );
        assert_eq!(
            judge("{ pairwise: true }").unwrap().verdict,
            JudgeVerdict::Pairwise
        );
        for (spec, problem) in [
            ("{ labels: [pass] }", "at least two labels"),
            ("{ scale: [5, 1] }", "min below max"),
            ("{ labels: [a, b], scale: [1, 5] }", "more than one of"),
            ("{}", "says neither"),
            ("{ lables: [a, b] }", "unknown key `lables`"),
        ] {
            let err = judge(spec).unwrap_err();
            assert!(
                err.starts_with("prompts/t.prompt:2:1: `promptgate.judge`: ")
                    && err.contains(problem),
                "{spec}: {err}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_keeps_the_front_matter_and_an_unclosed_one_is_an_error() {
        let p = parse_str("\u{feff}---\npromptgate.owner: ana\n---\nHi").unwrap();
        assert_eq!(p.metadata.governance.owner.as_deref(), Some("ana"));
        assert_eq!(p.template, "Hi");
        let err = parse_str("---\nmodel: x\nHi\n").unwrap_err().to_string();
        assert!(
            err.starts_with("prompts/t.prompt:1:1: the front matter opened with `---`"),
            "{err}"
        );
    }

    #[test]
    fn malformed_front_matter_names_the_line() {
        let err = parse_str("---\nmodel: x\ninput: [unclosed\n---\nHi")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("prompts/t.prompt:"), "{err}");
        let line: u64 = err.split(':').nth(1).unwrap().parse().unwrap();
        assert!((3..=5).contains(&line), "{err}");
    }

    #[test]
    fn variables_are_checked_against_the_schema() {
        let p = parse_str(
            "---\ninput:\n  schema:\n    message: string\n    n?: integer\n---\n{{message}}",
        )
        .unwrap();
        let vars = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            InputCheck::new(&p).check(&vars(serde_json::json!({"message": "x"}))),
            None
        );
        let (var, problem, _) = InputCheck::new(&p)
            .check(&vars(serde_json::json!({})))
            .unwrap();
        assert_eq!(
            (var.as_str(), problem),
            ("message", VariableProblem::Missing)
        );
        let (var, problem, _) = InputCheck::new(&p)
            .check(&vars(serde_json::json!({"message": "x", "extra": 1})))
            .unwrap();
        assert_eq!(
            (var.as_str(), problem),
            ("extra", VariableProblem::Undeclared)
        );
        let (var, problem, _) = InputCheck::new(&p)
            .check(&vars(serde_json::json!({"message": "x", "n": "two"})))
            .unwrap();
        assert_eq!((var.as_str(), problem), ("n", VariableProblem::WrongType));
    }
}
