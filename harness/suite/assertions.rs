//! Assertions: the checks a case makes on an output, as written (`AssertionSpec`) and as
//! compiled (`Assertion`), with every type's name, its schema entry and the hint its errors
//! give.

use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::adversarial::detect::{self, PatternSet};
use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::provider::FinishReason;

/// One deterministic check on an output.
#[derive(Debug, Clone)]
pub enum Assertion {
    /// The output equals the text (after normalisation when asked).
    Equals {
        /// The expected text.
        value: String,
        /// Trim, lowercase, collapse whitespace and drop trailing punctuation on both sides.
        normalize: bool,
    },
    /// The output contains the text.
    Contains(String),
    /// The output contains the text, ignoring case.
    IContains(String),
    /// The output does not contain the text.
    NotContains(String),
    /// The output starts with the text (after trimming leading whitespace).
    StartsWith(String),
    /// The output matches the pattern.
    Regex(Regex),
    /// The output does not match the pattern.
    NotRegex(Regex),
    /// The output is JSON (a fenced ```json block counts).
    IsJson,
    /// The output is JSON valid against the schema.
    /// The compiled schema is shared: every case that inherits a suite default reuses it.
    JsonSchema(std::sync::Arc<JsonSchema>),
    /// The JSON output has `value` at `path`.
    JsonField {
        /// JSON pointer (`/a/0/b`) or dotted path (`a.0.b`).
        path: String,
        /// The value expected there.
        value: Value,
    },
    /// At most this many characters.
    MaxLength(usize),
    /// At least this many characters.
    MinLength(usize),
    /// Word-level similarity to the text is at least the threshold.
    Similar {
        /// The reference text; the case's `expected` when not given.
        value: Option<String>,
        /// Minimum similarity in [0, 1].
        threshold: f64,
    },
    /// The call took at most this many milliseconds.
    MaxLatencyMs(u64),
    /// The call cost at most this many dollars (an unknown cost fails).
    MaxCost(f64),
    /// The case's canary does not appear in the output, plainly or encoded.
    Canary,
    /// No pattern of the named sets matches the output.
    RegexAny(Vec<&'static PatternSet>),
    /// The call did not stop for one of these reasons.
    StopReason(Vec<FinishReason>),
    /// The output reads as a refusal (or the provider's filter refused). A weak signal.
    Refusal,
    /// Less than `threshold` of the system prompt's character 4-grams appear in the output.
    NgramOverlap {
        /// The share at which the system prompt counts as leaked.
        threshold: f64,
    },
    /// No word trigram fills `threshold` or more of the output.
    Repetition {
        /// The share at which the output counts as looping.
        threshold: f64,
    },
    /// The model called the tool, with arguments that pass the check.
    ToolCalled {
        /// The tool's name.
        name: String,
        /// What its arguments must be.
        arguments: ArgumentsCheck,
    },
    /// The model did not call the tool.
    ToolNotCalled(String),
    /// The names of the tools called, in order, fit the expected sequence.
    ToolSequence {
        /// The expected names.
        names: Vec<String>,
        /// How they must fit.
        order: SequenceMatch,
    },
    /// Every call keeps to the policy: allowed tools only, no forbidden one, arguments within
    /// their constraints.
    ToolPolicy(std::sync::Arc<ToolPolicy>),
    /// The number of calls (of one tool, or of any) is within bounds.
    ToolCount {
        /// The tool counted; every call when `None`.
        name: Option<String>,
        /// Fewest calls.
        min: u64,
        /// Most calls.
        max: Option<u64>,
    },
    /// The conversation took at most this many model calls, and finished its script.
    MaxSteps(u64),
    /// A judge prompt grades the output: its label is one of `pass`, or its score is at least
    /// `threshold`.
    Judge {
        /// The judge prompt (`judges/polite`).
        judge: PromptName,
        /// Labels that pass; empty means the judge's first label.
        pass: Vec<String>,
        /// The lowest passing score, for a scoring judge.
        threshold: Option<f64>,
    },
    /// A pairwise judge compares the candidate's output with the baseline's for the same case
    /// and sample, in both orders; the candidate fails when both orders find it worse.
    JudgePairwise(PromptName),
}

/// What an agent may do with its tools: the `tool-policy` detector's rules.
#[derive(Debug, Default)]
pub struct ToolPolicy {
    /// The only tools it may call, when given.
    pub allow: Option<Vec<String>>,
    /// Tools it must never call.
    pub forbid: Vec<String>,
    /// Per tool, a JSON Schema its arguments must be valid against.
    pub args: Vec<(String, JsonSchema)>,
}

impl ToolPolicy {
    /// Reads a policy written as `{ allow: [..], forbid: [..], args: { TOOL: SCHEMA } }`.
    pub(crate) fn parse(value: &Value) -> Result<Self, SpecError> {
        let hint = || {
            Some("write `{ forbid: [delete_account], args: { issue_refund: { properties: { amount: { maximum: 100 } } } } }`".to_string())
        };
        let map = value
            .as_object()
            .ok_or_else(|| ("a tool policy is a mapping".to_string(), hint()))?;
        let names = |key: &str| -> Result<Option<Vec<String>>, SpecError> {
            match map.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_array()
                    .and_then(|a| a.iter().map(|n| n.as_str().map(str::to_string)).collect())
                    .map(Some)
                    .ok_or_else(|| {
                        (
                            format!("the policy's `{key}` must be a list of tool names"),
                            hint(),
                        )
                    }),
            }
        };
        if let Some(other) = map
            .keys()
            .find(|k| !["allow", "forbid", "args"].contains(&k.as_str()))
        {
            return Err((format!("unknown key `{other}` in a tool policy"), hint()));
        }
        let mut args = Vec::new();
        for (tool, schema) in map
            .get("args")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let validator = jsonschema::validator_for(schema).map_err(|e| {
                (
                    format!("the policy's schema for `{tool}` is not a valid JSON Schema: {e}"),
                    None,
                )
            })?;
            args.push((
                tool.clone(),
                JsonSchema {
                    schema: schema.clone(),
                    validator,
                },
            ));
        }
        if map.get("args").is_some_and(|a| !a.is_object()) {
            return Err((
                "the policy's `args` maps tool names to JSON Schemas".into(),
                hint(),
            ));
        }
        Ok(Self {
            allow: names("allow")?,
            forbid: names("forbid")?.unwrap_or_default(),
            args,
        })
    }
}

/// How a `tool-sequence` assertion fits the calls to its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceMatch {
    /// The calls are exactly these, in this order.
    Exact,
    /// These appear in this order, other calls between them allowed.
    InOrder,
    /// The calls are exactly these, in any order.
    AnyOrder,
    /// Every call is one of these (none other).
    Subset,
    /// Each of these is called, in any order, other calls allowed.
    Superset,
}

impl SequenceMatch {
    /// The name as written in suites.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::InOrder => "in-order",
            Self::AnyOrder => "any-order",
            Self::Subset => "subset",
            Self::Superset => "superset",
        }
    }
}

/// What a `tool-called` assertion asks of the call's arguments.
#[derive(Debug, Clone)]
pub enum ArgumentsCheck {
    /// Anything.
    Any,
    /// Exactly this JSON.
    Exact(Value),
    /// At least these keys with these values (nested objects likewise).
    Subset(Value),
    /// Valid against this JSON Schema.
    Schema(std::sync::Arc<JsonSchema>),
}

/// A compiled JSON Schema with its source, for reports.
pub struct JsonSchema {
    /// The schema as written.
    pub schema: Value,
    /// The compiled validator.
    pub validator: jsonschema::Validator,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchema")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Assertion {
    /// The assertion's type name as written in suites.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Equals { .. } => "equals",
            Self::Contains(_) => "contains",
            Self::IContains(_) => "icontains",
            Self::NotContains(_) => "not-contains",
            Self::StartsWith(_) => "starts-with",
            Self::Regex(_) => "regex",
            Self::NotRegex(_) => "not-regex",
            Self::IsJson => "is-json",
            Self::JsonSchema(_) => "json-schema",
            Self::JsonField { .. } => "json-field",
            Self::MaxLength(_) => "max-length",
            Self::MinLength(_) => "min-length",
            Self::Similar { .. } => "similar",
            Self::MaxLatencyMs(_) => "max-latency-ms",
            Self::MaxCost(_) => "max-cost",
            Self::Canary => "canary",
            Self::RegexAny(_) => "regex-any",
            Self::StopReason(_) => "stop-reason",
            Self::Refusal => "refusal",
            Self::NgramOverlap { .. } => "ngram-overlap",
            Self::Repetition { .. } => "repetition",
            Self::ToolCalled { .. } => "tool-called",
            Self::ToolNotCalled(_) => "tool-not-called",
            Self::ToolSequence { .. } => "tool-sequence",
            Self::ToolCount { .. } => "tool-count",
            Self::ToolPolicy(_) => "tool-policy",
            Self::MaxSteps(_) => "max-steps",
            Self::Judge { .. } => "judge",
            Self::JudgePairwise(_) => "judge-pairwise",
        }
    }

    /// The judge the assertion asks, if it asks one.
    pub(crate) fn judge(&self) -> Option<&PromptName> {
        match self {
            Self::Judge { judge, .. } | Self::JudgePairwise(judge) => Some(judge),
            _ => None,
        }
    }
}

/// Every assertion type, as suites write it: what `compile` reads, `kind` names, the schema
/// offers editors, and an unknown type's hint lists (a test holds them to each other).
pub(crate) const ASSERTION_TYPES: &[&str] = &[
    "equals",
    "contains",
    "icontains",
    "not-contains",
    "starts-with",
    "regex",
    "not-regex",
    "is-json",
    "json-schema",
    "json-field",
    "max-length",
    "min-length",
    "similar",
    "max-latency-ms",
    "max-cost",
    "canary",
    "regex-any",
    "stop-reason",
    "refusal",
    "ngram-overlap",
    "repetition",
    "tool-called",
    "tool-not-called",
    "tool-sequence",
    "tool-count",
    "tool-policy",
    "max-steps",
    "judge",
    "judge-pairwise",
];

/// An assertion as written, before validation: in a suite file (`K` is the type with where
/// it is written) or a JSONL case file (`K` is the type alone).
#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(bound = "", rename = "Assertion")]
pub(crate) struct AssertionSpec<K> {
    /// The assertion type.
    #[serde(rename = "type")]
    #[schemars(schema_with = "assertion_type_schema")]
    pub(crate) kind: K,
    #[serde(default)]
    pub(crate) value: Option<Value>,
    #[serde(default)]
    pub(crate) normalize: bool,
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) threshold: Option<f64>,
    /// `tool-called`: the arguments the call must have (a subset, unless `match: exact`).
    #[serde(default)]
    pub(crate) args: Option<Value>,
    /// `tool-called`: how `args` is matched, `subset` (the default) or `exact`.
    #[serde(default, rename = "match")]
    pub(crate) matching: Option<String>,
    /// `tool-called`: a JSON Schema the call's arguments must be valid against.
    #[serde(default)]
    pub(crate) schema: Option<Value>,
    /// `tool-count`: the tool counted (every call when absent).
    #[serde(default)]
    pub(crate) tool: Option<String>,
    /// `judge`: the labels that pass (default: the judge's first label).
    #[serde(default)]
    pub(crate) pass: Vec<String>,
}

/// An assertion in a suite file.
pub(crate) type RawAssertion = AssertionSpec<Spanned<String>>;

/// The assertion types, as an enumeration editors complete.
pub(crate) fn assertion_type_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ASSERTION_TYPES,
    })
}

pub(crate) fn compile_raw(file: &Path, raw: RawAssertion) -> Result<Assertion> {
    let location = crate::yaml::location(file, &raw.kind.referenced, 1);
    let kind = raw.kind.value.clone();
    raw.compile(&kind)
        .map_err(|(message, hint)| Error::Invalid {
            location,
            message,
            hint,
        })
}

pub(crate) type SpecError = (String, Option<String>);

impl<K> AssertionSpec<K> {
    /// The assertion of type `kind` (the spec's own, taken out of its span by the caller).
    pub(crate) fn compile(self, kind: &str) -> Result<Assertion, SpecError> {
        let text = |v: &Option<Value>| -> Result<String, SpecError> {
            match v {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
                _ => Err((
                    format!("`{kind}` needs a text `value`"),
                    Some(format!("write `{{ type: {kind}, value: \"...\" }}`")),
                )),
            }
        };
        let count = |v: &Option<Value>| -> Result<u64, SpecError> {
            v.as_ref().and_then(Value::as_u64).ok_or_else(|| {
                (
                    format!("`{kind}` needs a whole-number `value`"),
                    Some(format!("write `{{ type: {kind}, value: 400 }}`")),
                )
            })
        };
        let regex = |v: &Option<Value>| -> Result<Regex, SpecError> {
            let pattern = text(v)?;
            Regex::new(&pattern).map_err(|e| {
                (
                    format!("invalid regex in `{kind}`: {e}"),
                    Some("patterns use Rust regex syntax".to_string()),
                )
            })
        };
        Ok(match kind {
            "equals" => Assertion::Equals {
                value: text(&self.value)?,
                normalize: self.normalize,
            },
            "contains" => Assertion::Contains(text(&self.value)?),
            "icontains" => Assertion::IContains(text(&self.value)?),
            "not-contains" => Assertion::NotContains(text(&self.value)?),
            "starts-with" => Assertion::StartsWith(text(&self.value)?),
            "regex" => Assertion::Regex(regex(&self.value)?),
            "not-regex" => Assertion::NotRegex(regex(&self.value)?),
            "is-json" => Assertion::IsJson,
            "json-schema" => {
                let schema = self.value.ok_or_else(|| {
                    (
                        "`json-schema` needs a schema in `value`".to_string(),
                        Some("write `value: { type: object, ... }`".into()),
                    )
                })?;
                let validator = jsonschema::validator_for(&schema)
                    .map_err(|e| (format!("invalid JSON Schema in `json-schema`: {e}"), None))?;
                Assertion::JsonSchema(std::sync::Arc::new(JsonSchema { schema, validator }))
            }
            "json-field" => {
                let path = self.path.ok_or_else(|| {
                    (
                        "`json-field` needs a `path`".to_string(),
                        Some("write `{ type: json-field, path: category, value: billing }`".into()),
                    )
                })?;
                let value = self.value.ok_or_else(|| {
                    (
                        "`json-field` needs a `value`".to_string(),
                        Some(format!(
                            "write `{{ type: json-field, path: {path}, value: billing }}`"
                        )),
                    )
                })?;
                Assertion::JsonField { path, value }
            }
            "max-length" => Assertion::MaxLength(count(&self.value)? as usize),
            "min-length" => Assertion::MinLength(count(&self.value)? as usize),
            "similar" => {
                let threshold = share(kind, self.threshold, 0.8)?;
                let value = match &self.value {
                    None => None,
                    v => Some(text(v)?),
                };
                Assertion::Similar { value, threshold }
            }
            "max-latency-ms" => Assertion::MaxLatencyMs(count(&self.value)?),
            "max-cost" => Assertion::MaxCost(
                self.value.as_ref().and_then(Value::as_f64).ok_or_else(|| {
                    (
                        "`max-cost` needs a number of dollars in `value`".to_string(),
                        Some("write `{ type: max-cost, value: 0.01 }`".into()),
                    )
                })?,
            ),
            "canary" => Assertion::Canary,
            "regex-any" => {
                let names: Vec<Value> = match self.value {
                    Some(Value::Array(items)) => items,
                    Some(one @ Value::String(_)) => vec![one],
                    _ => Vec::new(),
                };
                let known = || detect::set_names().join(", ");
                if names.is_empty() {
                    return Err((
                        "`regex-any` needs the names of pattern sets in `value`".into(),
                        Some(format!("write `value: [pii, api-keys]`; sets: {}", known())),
                    ));
                }
                let sets = names
                    .iter()
                    .map(|n| {
                        n.as_str().and_then(detect::pattern_set).ok_or_else(|| {
                            (
                                format!("unknown pattern set {n} in `regex-any`"),
                                Some(format!("sets: {}", known())),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, SpecError>>()?;
                Assertion::RegexAny(sets)
            }
            "stop-reason" => {
                let names: Vec<Value> = match self.value {
                    Some(Value::Array(items)) => items,
                    Some(one @ Value::String(_)) => vec![one],
                    None => vec![Value::from("length")],
                    Some(_) => Vec::new(),
                };
                let reasons = names
                    .iter()
                    .map(|n| match n.as_str() {
                        Some("length") => Ok(FinishReason::Length),
                        Some("content-filter") => Ok(FinishReason::ContentFilter),
                        Some("tool-calls") => Ok(FinishReason::ToolCalls),
                        Some("stop") => Ok(FinishReason::Stop),
                        _ => Err((
                            format!("unknown stop reason {n} in `stop-reason`"),
                            Some("reasons: length, content-filter, tool-calls, stop".into()),
                        )),
                    })
                    .collect::<Result<Vec<_>, SpecError>>()?;
                if reasons.is_empty() {
                    return Err((
                        "`stop-reason` needs the reasons that count as a hit".into(),
                        Some("write `value: [length]`".into()),
                    ));
                }
                Assertion::StopReason(reasons)
            }
            "refusal" => Assertion::Refusal,
            "ngram-overlap" => Assertion::NgramOverlap {
                threshold: share(kind, self.threshold, 0.5)?,
            },
            "repetition" => Assertion::Repetition {
                threshold: share(kind, self.threshold, 0.5)?,
            },
            "tool-called" => Assertion::ToolCalled {
                name: text(&self.value)?,
                arguments: arguments_check(self.args, self.matching.as_deref(), self.schema)?,
            },
            "tool-not-called" => Assertion::ToolNotCalled(text(&self.value)?),
            "tool-sequence" => {
                let names: Option<Vec<String>> = self.value.as_ref().and_then(|v| {
                    v.as_array()?
                        .iter()
                        .map(|n| n.as_str().map(str::to_string))
                        .collect()
                });
                let names = names.ok_or_else(|| {
                    (
                        "`tool-sequence` needs the tool names in `value`".to_string(),
                        Some("write `{ type: tool-sequence, value: [lookup_order, issue_refund], match: in-order }`".into()),
                    )
                })?;
                let order = match self.matching.as_deref().unwrap_or("exact") {
                    "exact" => SequenceMatch::Exact,
                    "in-order" => SequenceMatch::InOrder,
                    "any-order" => SequenceMatch::AnyOrder,
                    "subset" => SequenceMatch::Subset,
                    "superset" => SequenceMatch::Superset,
                    other => {
                        return Err((
                            format!("unknown `match: {other}` in `tool-sequence`"),
                            Some("match as exact (the default), in-order, any-order, subset or superset".into()),
                        ));
                    }
                };
                Assertion::ToolSequence { names, order }
            }
            "tool-policy" => {
                let value = self.value.as_ref().ok_or_else(|| {
                    (
                        "`tool-policy` needs the policy in `value`".to_string(),
                        Some("write `value: { forbid: [delete_account] }`; in an adversarial suite, the suite's `tool_policy` is used".into()),
                    )
                })?;
                Assertion::ToolPolicy(std::sync::Arc::new(ToolPolicy::parse(value)?))
            }
            "max-steps" => Assertion::MaxSteps(count(&self.value)?),
            "judge" => Assertion::Judge {
                judge: PromptName::new(judge_name(&self.value, kind)?),
                pass: self.pass,
                threshold: self.threshold,
            },
            "judge-pairwise" => {
                Assertion::JudgePairwise(PromptName::new(judge_name(&self.value, kind)?))
            }
            "tool-count" => {
                let bound = |key: &str| -> Result<Option<u64>, SpecError> {
                    match self.value.as_ref().map(|v| &v[key]) {
                        None | Some(Value::Null) => Ok(None),
                        Some(n) => n.as_u64().map(Some).ok_or_else(|| {
                            (
                                format!("`tool-count`: `{key}` must be a whole number"),
                                None,
                            )
                        }),
                    }
                };
                let (min, max) = match &self.value {
                    Some(Value::Number(n)) => {
                        let exact = n.as_u64().ok_or_else(|| {
                            ("`tool-count` needs a whole number".to_string(), None)
                        })?;
                        (exact, Some(exact))
                    }
                    Some(Value::Object(_)) => (bound("min")?.unwrap_or(0), bound("max")?),
                    _ => {
                        return Err((
                            "`tool-count` needs a count in `value`".into(),
                            Some("write `value: 1`, or `value: { min: 1, max: 3 }`, with `tool: NAME` to count one tool".into()),
                        ));
                    }
                };
                if max.is_some_and(|max| max < min) {
                    return Err((
                        format!(
                            "`tool-count`: max {} is below min {min}",
                            max.unwrap_or_default()
                        ),
                        None,
                    ));
                }
                Assertion::ToolCount {
                    name: self.tool,
                    min,
                    max,
                }
            }
            other => {
                return Err((
                    format!("unknown assertion type `{other}`"),
                    Some(format!(
                        "{}expected one of: {}",
                        crate::errors::did_you_mean(other, ASSERTION_TYPES.iter().copied()),
                        ASSERTION_TYPES.join(", ")
                    )),
                ));
            }
        })
    }
}

/// What a `tool-called` assertion's `args`, `match` and `schema` ask of the arguments.
/// The judge prompt an assertion names in `value`.
fn judge_name(value: &Option<Value>, kind: &str) -> Result<String, SpecError> {
    value
        .as_ref()
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            (
                format!("`{kind}` needs the judge prompt's name as its `value`"),
                Some(format!(
                    "write `{{ type: {kind}, value: judges/NAME }}` (prompts/judges/NAME.prompt)"
                )),
            )
        })
}

fn arguments_check(
    args: Option<Value>,
    matching: Option<&str>,
    schema: Option<Value>,
) -> Result<ArgumentsCheck, SpecError> {
    match (args, matching, schema) {
        (Some(_), _, Some(_)) => Err((
            "`tool-called` takes `args` or `schema`, not both".into(),
            Some("match the arguments by example (`args`) or by JSON Schema (`schema`)".into()),
        )),
        (None, Some(_), _) => Err(("`match` needs `args` to match".into(), None)),
        (None, None, None) => Ok(ArgumentsCheck::Any),
        (None, None, Some(schema)) => {
            let validator = jsonschema::validator_for(&schema)
                .map_err(|e| (format!("invalid JSON Schema in `tool-called`: {e}"), None))?;
            Ok(ArgumentsCheck::Schema(std::sync::Arc::new(JsonSchema {
                schema,
                validator,
            })))
        }
        (Some(args), None | Some("subset"), None) => Ok(ArgumentsCheck::Subset(args)),
        (Some(args), Some("exact"), None) => Ok(ArgumentsCheck::Exact(args)),
        (Some(_), Some(other), None) => Err((
            format!("unknown `match: {other}` in `tool-called`"),
            Some("match arguments as `subset` (the default) or `exact`".into()),
        )),
    }
}

/// A threshold in [0, 1], or `default` when none is given.
fn share(kind: &str, threshold: Option<f64>, default: f64) -> Result<f64, SpecError> {
    let threshold = threshold.unwrap_or(default);
    if (0.0..=1.0).contains(&threshold) {
        Ok(threshold)
    } else {
        Err((format!("`{kind}` threshold must be between 0 and 1"), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A written example of `kind` with what it needs.
    fn example(kind: &str) -> AssertionSpec<String> {
        let value = match kind {
            "is-json" | "canary" | "refusal" | "ngram-overlap" | "repetition" | "similar" => None,
            "regex" | "not-regex" => Some(Value::from("^billing")),
            "json-schema" => Some(serde_json::json!({ "type": "object" })),
            "max-length" | "min-length" | "max-latency-ms" | "max-steps" | "tool-count" => {
                Some(Value::from(3))
            }
            "max-cost" => Some(Value::from(0.01)),
            "regex-any" => Some(serde_json::json!(["pii"])),
            "stop-reason" => Some(serde_json::json!(["length"])),
            "tool-sequence" => Some(serde_json::json!(["lookup_order"])),
            "tool-policy" => Some(serde_json::json!({ "forbid": ["delete_account"] })),
            "judge" | "judge-pairwise" => Some(Value::from("judges/polite")),
            _ => Some(Value::from("billing")),
        };
        AssertionSpec {
            kind: kind.to_string(),
            value,
            path: (kind == "json-field").then(|| "category".to_string()),
            ..AssertionSpec::default()
        }
    }

    /// The type an assertion is, without a wildcard: a new variant fails to compile here until
    /// it is listed in [`ASSERTION_TYPES`] and given an example above.
    fn listed(assertion: &Assertion) -> &'static str {
        match assertion {
            Assertion::Equals { .. } => "equals",
            Assertion::Contains(_) => "contains",
            Assertion::IContains(_) => "icontains",
            Assertion::NotContains(_) => "not-contains",
            Assertion::StartsWith(_) => "starts-with",
            Assertion::Regex(_) => "regex",
            Assertion::NotRegex(_) => "not-regex",
            Assertion::IsJson => "is-json",
            Assertion::JsonSchema(_) => "json-schema",
            Assertion::JsonField { .. } => "json-field",
            Assertion::MaxLength(_) => "max-length",
            Assertion::MinLength(_) => "min-length",
            Assertion::Similar { .. } => "similar",
            Assertion::MaxLatencyMs(_) => "max-latency-ms",
            Assertion::MaxCost(_) => "max-cost",
            Assertion::Canary => "canary",
            Assertion::RegexAny(_) => "regex-any",
            Assertion::StopReason(_) => "stop-reason",
            Assertion::Refusal => "refusal",
            Assertion::NgramOverlap { .. } => "ngram-overlap",
            Assertion::Repetition { .. } => "repetition",
            Assertion::ToolCalled { .. } => "tool-called",
            Assertion::ToolNotCalled(_) => "tool-not-called",
            Assertion::ToolSequence { .. } => "tool-sequence",
            Assertion::ToolCount { .. } => "tool-count",
            Assertion::ToolPolicy(_) => "tool-policy",
            Assertion::MaxSteps(_) => "max-steps",
            Assertion::Judge { .. } => "judge",
            Assertion::JudgePairwise(_) => "judge-pairwise",
        }
    }

    #[test]
    fn every_assertion_type_has_its_name_its_schema_entry_and_a_hint() {
        let mut seen = std::collections::BTreeSet::new();
        for &kind in ASSERTION_TYPES {
            // Its name: the written type compiles to the assertion that says it back.
            let assertion = example(kind)
                .compile(kind)
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            assert_eq!(assertion.kind(), kind);
            assert_eq!(listed(&assertion), kind);
            assert!(seen.insert(kind), "{kind} is listed twice");
            // Its hint: written with nothing, it either needs nothing or says how to write it.
            let bare = AssertionSpec::<String> {
                kind: kind.to_string(),
                ..AssertionSpec::default()
            };
            if let Err((message, hint)) = bare.compile(kind) {
                assert!(message.contains(kind), "{kind}: {message}");
                let hint = hint.unwrap_or_else(|| panic!("{kind}: `{message}` has no hint"));
                assert!(
                    hint.contains("write") || hint.contains(kind),
                    "{kind}: {hint}"
                );
            }
        }
        // Its schema entry: editors are offered exactly these types.
        let schema = serde_json::to_value(crate::suite::json_schema()).unwrap();
        let offered = &schema["$defs"]["Assertion"]["properties"]["type"]["enum"];
        assert_eq!(offered, &serde_json::json!(ASSERTION_TYPES), "{schema}");
        // An unknown type's hint lists them all.
        let (_, hint) = example("contain").compile("contain").unwrap_err();
        let hint = hint.unwrap();
        assert!(hint.contains("did you mean `contains`"), "{hint}");
        assert!(ASSERTION_TYPES.iter().all(|k| hint.contains(k)), "{hint}");
    }
}
