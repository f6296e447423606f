//! Suites: YAML files under `suites/` that say which prompt to test, with which cases, how many
//! samples, which assertions, and how much worse a candidate may be.
//!
//! Loading validates everything up front (assertion types, regexes, JSON schemas, case files), so
//! a bad suite fails before any provider call, naming the file and line.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::adversarial::detect::{self, PatternSet};
use crate::adversarial::{Attack, Plant};
use crate::config::{Params, Tolerance};
use crate::provider::FinishReason;

mod attacks;
mod script;
use crate::errors::{Error, Location, Result};
use crate::ids::PromptName;
pub(crate) use script::{DEFAULT_MAX_STEPS, Script, UnexpectedCalls};
pub(crate) use script::{ScriptedResult, Turn};

/// Where suite files live, relative to the project root.
pub(crate) const SUITES_DIR: &str = "suites";

pub use crate::vocabulary::SuiteKind;

/// Where a suite's cases come from, which decides what the gate's interval answers.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CaseOrigin {
    /// Written by the team as its specification (the default): the gate asks whether the
    /// candidate is worse on exactly these cases.
    #[default]
    Written,
    /// A random sample of traffic (`cases_are: sampled`): the gate asks whether the candidate
    /// would be worse on new cases like these.
    Sampled,
}

/// A loaded, validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Path under `suites/` without the extension (`suites/triage.yaml` is `triage`).
    pub name: String,
    /// The file, relative to the project root.
    pub path: PathBuf,
    /// What the suite tests for.
    pub kind: SuiteKind,
    /// The prompts the suite targets.
    pub prompts: Vec<PromptName>,
    /// The provider to use, if the suite names one.
    pub provider: Option<String>,
    /// Samples drawn per case and version.
    pub samples: u32,
    /// Whether the cases are a specification or a sample of traffic.
    pub cases_are: CaseOrigin,
    /// The suite's own limits, over the prompt's risk-tier defaults.
    pub tolerance: Tolerance,
    /// Sampling parameters for this suite, over the provider's.
    pub params: Params,
    /// The cases, each with the suite's default assertions first.
    pub cases: Vec<Case>,
    /// The suite's default assertions (`defaults.assert`): a shadow suite's checks.
    pub checks: Vec<Assertion>,
    /// An adversarial suite's `target`: the prompt variable attacks go into, and where the
    /// suite names it.
    pub target: Option<(String, Location)>,
}

/// One case: variables to render the prompt with, and what the output must satisfy.
#[derive(Debug, Clone)]
pub struct Case {
    /// Unique within the suite.
    pub id: String,
    /// What the case is about, for reviewers.
    pub description: Option<String>,
    /// Variables for the prompt.
    pub vars: Map<String, Value>,
    /// The expected output, for `similar` and for reviewers.
    pub expected: Option<String>,
    /// Assertions: the suite's defaults, then the case's own.
    pub assertions: Vec<Assertion>,
    /// Where the case is written.
    pub location: Location,
    /// The attack, in an adversarial suite: its category, canary and planted secret (boxed:
    /// most cases have none).
    pub attack: Option<Box<Attack>>,
    /// Earlier turns, sent as they are after the prompt's messages (Dotprompt's history).
    pub history: Vec<crate::artifact::Message>,
    /// The conversation's script, when the case is a conversation (`turns` or `results`):
    /// promptgate answers the model's tool calls from it and plays its turns.
    pub(crate) script: Option<std::sync::Arc<Script>>,
}

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
    fn parse(value: &Value) -> Result<Self, SpecError> {
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

/// Refuses what a shadow suite cannot have: cases of its own (they come from traffic), and
/// checks that need an expected output (`similar` without a `value`).
fn shadow_checks(
    path: &Path,
    raw: &RawSuite,
    checks: &[Assertion],
    kind_at: &Location,
) -> Result<()> {
    if let Some(case) = raw.cases.first() {
        return Err(Error::invalid_with_hint(
            crate::yaml::location(path, &case.referenced, 1),
            "a shadow suite has no cases of its own: they are a sample of production traffic",
            "remove `cases:`, and run `promptgate shadow NAME --traffic FILE`",
        ));
    }
    let needs_reference = checks
        .iter()
        .find(|a| matches!(a, Assertion::Similar { value: None, .. }));
    if let Some(check) = needs_reference {
        return Err(Error::invalid_with_hint(
            kind_at.clone(),
            format!(
                "a shadow suite's `{}` check needs an expected output, which traffic does not have",
                check.kind()
            ),
            "give it a `value` to compare with, or use reference-free checks (format, schema, length, detectors, tool policy)",
        ));
    }
    if checks.is_empty() {
        return Err(Error::invalid_with_hint(
            kind_at.clone(),
            "a shadow suite has no checks",
            "add reference-free checks under `defaults: { assert: [...] }`",
        ));
    }
    Ok(())
}

const ASSERTION_TYPES: &str = "equals, contains, icontains, not-contains, starts-with, regex, not-regex, is-json, json-schema, json-field, max-length, min-length, similar, max-latency-ms, max-cost, canary, regex-any, stop-reason, refusal, ngram-overlap, repetition, tool-called, tool-not-called, tool-sequence, tool-count, tool-policy, max-steps, judge, judge-pairwise";

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "promptgate suite",
    description = "A suite file under suites/: which prompt to test, with which cases, and how much worse a candidate may be."
)]
struct RawSuite {
    /// `regression` (expected behaviour) or `adversarial` (attacks the prompt must resist).
    #[schemars(with = "SuiteKind")]
    kind: Spanned<String>,
    /// The prompt the suite tests (a name under prompts/, without `.prompt`).
    #[serde(default)]
    prompt: Option<String>,
    /// Several prompts the suite tests.
    #[serde(default)]
    prompts: Vec<String>,
    /// The provider to call, by name (default: `default_provider`).
    #[serde(default)]
    provider: Option<String>,
    /// Samples per case and version (default 1, or the tier's minimum).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    samples: Option<Spanned<u32>>,
    /// `written` (your specification, the default) or `sampled` (a random sample of traffic).
    #[serde(default)]
    cases_are: CaseOrigin,
    /// Limits over the prompt's risk-tier defaults.
    #[serde(default)]
    #[schemars(with = "Option<Tolerance>")]
    tolerance: Option<Spanned<Tolerance>>,
    /// Sampling parameters over the provider's.
    #[serde(default)]
    params: Params,
    /// Assertions every case gets first.
    #[serde(default)]
    defaults: RawDefaults,
    /// Conversation cases: the model calls a conversation may make (default 10).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    max_steps: Option<Spanned<u32>>,
    /// Conversation cases: what a tool call the script has no result for gets: `answer` (an
    /// error result, the default) or `fail` (the sample fails).
    #[serde(default)]
    unexpected_calls: UnexpectedCalls,
    /// The cases: inline, or `- file: PATH.jsonl` for many.
    #[serde(default)]
    #[schemars(with = "Vec<RawCase>")]
    cases: Vec<Spanned<RawCase>>,
    /// Adversarial: the prompt variable the attack text goes into.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    target: Option<Spanned<String>>,
    /// Adversarial: the variable documents go into (indirect injection).
    #[serde(default)]
    context: Option<String>,
    /// Adversarial: the tool whose result carries the documents (indirect injection into an
    /// agent): each such attack is a conversation in which the tool returns the document.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    context_tool: Option<Spanned<String>>,
    /// Adversarial: values of the prompt's other variables.
    #[serde(default)]
    vars: Map<String, Value>,
    /// Adversarial: one attack pack.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pack: Option<Spanned<String>>,
    /// Adversarial: attack packs (or `all`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    packs: Vec<Spanned<String>>,
    /// Adversarial: each case is also run once per transform (`base64`, `leetspeak`, `translated`, ...).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    transforms: Vec<Spanned<String>>,
    /// Adversarial: the JSON Schema structured output must keep to.
    #[serde(default)]
    schema: Option<Value>,
    /// Adversarial: what the agent may do with its tools, for the `excessive-agency` pack's
    /// `tool-policy` detector (`{ allow: [..], forbid: [..], args: { TOOL: SCHEMA } }`).
    #[serde(default)]
    #[schemars(with = "Option<Value>")]
    tool_policy: Option<Spanned<Value>>,
}

#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default)]
    assert: Vec<RawAssertion>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    vars: Map<String, Value>,
    #[serde(default)]
    expected: Option<String>,
    #[serde(default)]
    assert: Vec<RawAssertion>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    attack: Option<String>,
    #[serde(default)]
    document: Option<String>,
    #[serde(default)]
    plant: Option<Plant>,
    /// A conversation: its turns.
    #[serde(default)]
    #[schemars(with = "Vec<script::RawTurn>")]
    turns: Vec<Spanned<script::RawTurn>>,
    /// A conversation: what the tools return, in every turn.
    #[serde(default)]
    #[schemars(with = "Vec<script::RawResult>")]
    results: Vec<Spanned<script::RawResult>>,
    /// Earlier turns, sent as they are.
    #[serde(default)]
    #[schemars(with = "Vec<script::RawHistoryMessage>")]
    history: Vec<Spanned<script::RawHistoryMessage>>,
    /// A conversation: the model calls it may make.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    max_steps: Option<Spanned<u32>>,
}

/// An assertion as written, before validation: in a suite file (`K` is the type with where
/// it is written) or a JSONL case file (`K` is the type alone).
#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(bound = "", rename = "Assertion")]
struct AssertionSpec<K> {
    /// The assertion type.
    #[serde(rename = "type")]
    #[schemars(schema_with = "assertion_type_schema")]
    kind: K,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    normalize: bool,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    threshold: Option<f64>,
    /// `tool-called`: the arguments the call must have (a subset, unless `match: exact`).
    #[serde(default)]
    args: Option<Value>,
    /// `tool-called`: how `args` is matched, `subset` (the default) or `exact`.
    #[serde(default, rename = "match")]
    matching: Option<String>,
    /// `tool-called`: a JSON Schema the call's arguments must be valid against.
    #[serde(default)]
    schema: Option<Value>,
    /// `tool-count`: the tool counted (every call when absent).
    #[serde(default)]
    tool: Option<String>,
    /// `judge`: the labels that pass (default: the judge's first label).
    #[serde(default)]
    pass: Vec<String>,
}

/// An assertion in a suite file.
type RawAssertion = AssertionSpec<Spanned<String>>;

/// The assertion types, as an enumeration editors complete.
fn assertion_type_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ASSERTION_TYPES.split(", ").collect::<Vec<_>>(),
    })
}

/// The JSON Schema of a suite file, for editors and `promptgate schema suite`.
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(RawSuite)
}

/// A bulk case, one JSON object per line of a `.jsonl` file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlCase {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    vars: Map<String, Value>,
    #[serde(default)]
    expected: Option<String>,
    #[serde(default)]
    assert: Vec<AssertionSpec<String>>,
}

impl Suite {
    /// Loads and validates the suite at `path` (relative to `root`).
    pub fn load(root: &Path, path: &Path) -> Result<Suite> {
        let text = crate::files::read_text(&root.join(path), path)?.ok_or_else(|| {
            Error::io(
                "read",
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })?;
        let mut raw: RawSuite = crate::yaml::from_str(path, &text, 1)?;
        let at = |loc: &serde_saphyr::Location| crate::yaml::location(path, loc, 1);
        let kind = match raw.kind.value.as_str() {
            "regression" => SuiteKind::Regression,
            "adversarial" => SuiteKind::Adversarial,
            "shadow" => SuiteKind::Shadow,
            other => {
                return Err(Error::invalid_with_hint(
                    at(&raw.kind.referenced),
                    format!("unknown suite kind `{other}`"),
                    "expected `regression`, `adversarial` or `shadow`",
                ));
            }
        };
        let tolerance = match &raw.tolerance {
            Some(spanned) => {
                if let Some((_, problem)) = spanned.value.problem() {
                    return Err(Error::invalid(at(&spanned.referenced), problem));
                }
                spanned.value
            }
            None => Tolerance::default(),
        };
        let kind_at = at(&raw.kind.referenced);
        if kind != SuiteKind::Adversarial {
            attacks::reject_attack_fields(&raw, &kind_at)?;
        }
        let mut prompts: Vec<PromptName> = raw.prompts.iter().map(PromptName::new).collect();
        prompts.extend(raw.prompt.iter().map(PromptName::new));
        if prompts.is_empty() {
            return Err(Error::invalid_with_hint(
                Location::new(path, 1, 1),
                "the suite names no prompt",
                "add `prompt: NAME` (the path under prompts/ without .prompt)",
            ));
        }
        let samples = match &raw.samples {
            Some(s) if s.value == 0 => {
                return Err(Error::invalid(
                    at(&s.referenced),
                    "samples must be at least 1",
                ));
            }
            Some(s) => s.value,
            None => 1,
        };
        let defaults = std::mem::take(&mut raw.defaults.assert)
            .into_iter()
            .map(|a| compile_raw(path, a))
            .collect::<Result<Vec<_>>>()?;

        let conversation = script::ConversationDefaults {
            max_steps: match &raw.max_steps {
                Some(s) if s.value == 0 => {
                    return Err(Error::invalid(
                        at(&s.referenced),
                        "max_steps must be at least 1",
                    ));
                }
                Some(s) => s.value,
                None => DEFAULT_MAX_STEPS,
            },
            unexpected: raw.unexpected_calls,
        };
        let mut cases = Vec::new();
        let attack_suite = match kind {
            SuiteKind::Adversarial => Some(attacks::AttackSuite::new(
                path,
                &raw,
                &defaults,
                conversation,
            )?),
            SuiteKind::Regression => None,
            SuiteKind::Shadow => {
                shadow_checks(path, &raw, &defaults, &kind_at)?;
                None
            }
        };
        if let Some(suite) = &attack_suite {
            suite.pack_cases(&mut cases)?;
        }
        for entry in std::mem::take(&mut raw.cases) {
            let location = at(&entry.referenced);
            let raw_case = entry.value;
            if let Some(suite) = &attack_suite {
                attacks::reject_conversation_fields(&raw_case, &location)?;
                let mut own = Vec::new();
                for a in raw_case.assert {
                    own.push(compile_raw(path, a)?);
                }
                suite.own_case(
                    attacks::OwnAttack {
                        id: raw_case.id,
                        description: raw_case.description,
                        category: raw_case.category,
                        attack: raw_case.attack,
                        document: raw_case.document,
                        plant: raw_case.plant.unwrap_or_default(),
                        vars: raw_case.vars,
                        file: raw_case.file,
                        assertions: own,
                        location,
                    },
                    &mut cases,
                )?;
                continue;
            }
            attacks::reject_case_attack_fields(&raw_case, &location)?;
            if let Some(file) = raw_case.file {
                if raw_case.id.is_some() || !raw_case.vars.is_empty() || !raw_case.assert.is_empty()
                {
                    return Err(Error::invalid_with_hint(
                        location,
                        "a case entry has both `file` and its own fields",
                        "an entry is either `file: PATH.jsonl` or an inline case with `id`, `vars` and `assert`",
                    ));
                }
                load_jsonl(root, Path::new(&file), &location, &defaults, &mut cases)?;
                continue;
            }
            let id = raw_case.id.ok_or_else(|| {
                Error::invalid_with_hint(
                    location.clone(),
                    "case has no `id`",
                    "give every case a unique `id`",
                )
            })?;
            let mut assertions = defaults.clone();
            for a in raw_case.assert {
                assertions.push(compile_raw(path, a)?);
            }
            let (history, script) = script::compile(
                path,
                script::RawConversation {
                    turns: raw_case.turns,
                    results: raw_case.results,
                    history: raw_case.history,
                    max_steps: raw_case.max_steps,
                },
                conversation,
            )?;
            cases.push(Case {
                id,
                description: raw_case.description,
                vars: compact(raw_case.vars),
                expected: raw_case.expected,
                assertions,
                location,
                attack: None,
                history,
                script: script.map(std::sync::Arc::new),
            });
        }
        // Cases are held for the whole run: without the room their vector grew into.
        cases.shrink_to_fit();
        let mut seen = std::collections::HashSet::new();
        for case in &cases {
            if case.attack.is_none()
                && case
                    .assertions
                    .iter()
                    .any(|a| matches!(a, Assertion::Canary))
            {
                return Err(Error::invalid_with_hint(
                    case.location.clone(),
                    format!(
                        "case `{}` has a `canary` assertion, but only attack cases have a canary",
                        case.id
                    ),
                    "use `canary` in a `kind: adversarial` suite",
                ));
            }
            let needs_expected = case
                .assertions
                .iter()
                .any(|a| matches!(a, Assertion::Similar { value: None, .. }));
            if needs_expected && case.expected.is_none() {
                return Err(Error::invalid_with_hint(
                    case.location.clone(),
                    format!(
                        "case `{}` has a `similar` assertion without a `value` and no `expected` text",
                        case.id
                    ),
                    "give the case `expected: ...`, or the assertion a `value`",
                ));
            }
            if !seen.insert(case.id.as_str()) {
                return Err(Error::invalid_with_hint(
                    case.location.clone(),
                    format!("duplicate case id `{}`", case.id),
                    "case ids must be unique within a suite",
                ));
            }
        }
        let name = path
            .strip_prefix(SUITES_DIR)
            .unwrap_or(path)
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/");
        Ok(Suite {
            name,
            path: path.to_path_buf(),
            kind,
            prompts,
            provider: raw.provider,
            samples,
            // A shadow suite's cases are a sample of traffic, whatever the file says.
            cases_are: match kind {
                SuiteKind::Shadow => CaseOrigin::Sampled,
                _ => raw.cases_are,
            },
            tolerance,
            params: raw.params,
            cases,
            checks: defaults,
            target: raw
                .target
                .as_ref()
                .map(|t| (t.value.clone(), at(&t.referenced))),
        })
    }

    /// This shadow suite with `records` as its cases: each record's variables, the suite's
    /// checks, and the record's place in its file as the case's location.
    pub(crate) fn with_traffic(&self, records: &[&crate::traffic::Record]) -> Suite {
        let mut suite = self.clone();
        suite.cases = records
            .iter()
            .map(|r| Case {
                id: r.id.clone(),
                description: None,
                vars: r.vars.clone(),
                expected: None,
                assertions: self.checks.clone(),
                location: r.source.clone(),
                attack: None,
                history: Vec::new(),
                script: None,
            })
            .collect();
        suite
    }

    /// Finds and loads every suite under `root/suites/`, sorted by name.
    pub fn load_all(root: &Path) -> Result<Vec<Suite>> {
        let mut files = Vec::new();
        collect_yaml(&root.join(SUITES_DIR), Path::new(SUITES_DIR), &mut files);
        files.sort();
        // Every broken suite is reported at once, not only the first.
        let mut suites = Vec::new();
        let mut errors = Vec::new();
        for file in &files {
            match Suite::load(root, file) {
                Ok(suite) => suites.push(suite),
                Err(e) => errors.push(e),
            }
        }
        Error::combine(errors)?;
        Ok(suites)
    }

    /// Whether the suite targets `prompt` (a variant is tested by its base prompt's suites).
    pub fn targets(&self, prompt: &PromptName) -> bool {
        self.prompts
            .iter()
            .any(|p| p == prompt || *p == prompt.base())
    }
}

fn collect_yaml(dir: &Path, shown: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let shown = shown.join(entry.file_name());
        if path.is_dir() {
            collect_yaml(&path, &shown, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(shown);
        }
    }
}

/// `vars` in a map of its own size: a parsed map keeps the room it grew into, once per case
/// for as long as the run lasts.
fn compact(vars: Map<String, Value>) -> Map<String, Value> {
    vars.into_iter().collect()
}

fn load_jsonl(
    root: &Path,
    file: &Path,
    from: &Location,
    defaults: &[Assertion],
    cases: &mut Vec<Case>,
) -> Result<()> {
    let text = match crate::files::read_confined(root, file) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err(Error::invalid_with_hint(
                from.clone(),
                format!("case file `{}` does not exist", file.display()),
                "case file paths are relative to the project root",
            ));
        }
        Err(Error::Usage(message)) => return Err(Error::invalid(from.clone(), message)),
        Err(e) => return Err(e),
    };
    let stem = file
        .file_stem()
        .map_or_else(|| "case".into(), |s| s.to_string_lossy().into_owned());
    for (index, line) in text.lines().enumerate() {
        let line_no = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let location = Location::new(file, line_no, 1);
        let raw: JsonlCase = serde_json::from_str(line).map_err(|e| {
            Error::invalid_with_hint(
                Location::new(file, line_no, e.column() as u64),
                format!("invalid case: {e}"),
                "each line is one JSON object with `vars` and optionally `id`, `expected` and `assert`",
            )
        })?;
        let mut assertions = defaults.to_vec();
        for spec in raw.assert {
            let kind = spec.kind.clone();
            assertions.push(
                spec.compile(&kind)
                    .map_err(|(message, hint)| Error::Invalid {
                        location: location.clone(),
                        message,
                        hint,
                    })?,
            );
        }
        let id = raw.id.unwrap_or_else(|| format!("{stem}-{line_no}"));
        cases.push(Case {
            id,
            description: raw.description,
            vars: compact(raw.vars),
            expected: raw.expected,
            assertions,
            location,
            attack: None,
            history: Vec::new(),
            script: None,
        });
    }
    Ok(())
}

fn compile_raw(file: &Path, raw: RawAssertion) -> Result<Assertion> {
    let location = crate::yaml::location(file, &raw.kind.referenced, 1);
    let kind = raw.kind.value.clone();
    raw.compile(&kind)
        .map_err(|(message, hint)| Error::Invalid {
            location,
            message,
            hint,
        })
}

type SpecError = (String, Option<String>);

impl<K> AssertionSpec<K> {
    /// The assertion of type `kind` (the spec's own, taken out of its span by the caller).
    fn compile(self, kind: &str) -> Result<Assertion, SpecError> {
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
                let value = self
                    .value
                    .ok_or_else(|| ("`json-field` needs a `value`".to_string(), None))?;
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
                        None,
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
                        "{}expected one of: {ASSERTION_TYPES}",
                        crate::errors::did_you_mean(other, ASSERTION_TYPES.split(", "))
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

    /// A project folder holding `files`.
    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_suite_with_defaults_a_case_file_and_its_own_limits() {
        let dir = project(&[
            (
                "suites/support/triage.yaml",
                "kind: regression\nprompt: support/triage\nsamples: 3\ntolerance: { max_pass_rate_drop: 0.1 }\ndefaults:\n  assert:\n    - { type: max-length, value: 200 }\ncases:\n  - id: billing\n    vars: { message: charged twice }\n    assert:\n      - { type: contains, value: billing }\n  - file: fixtures/more.jsonl\n",
            ),
            (
                "fixtures/more.jsonl",
                "{\"id\": \"bug\", \"vars\": {\"message\": \"it crashes\"}, \"assert\": [{\"type\": \"icontains\", \"value\": \"bug\"}]}\n",
            ),
        ]);
        let suites = Suite::load_all(dir.path()).unwrap();
        let [suite] = &suites[..] else {
            panic!("one suite, got {}", suites.len())
        };
        assert_eq!(suite.name, "support/triage");
        assert_eq!((suite.kind, suite.samples), (SuiteKind::Regression, 3));
        assert_eq!(suite.tolerance.max_pass_rate_drop, Some(0.1));
        assert!(suite.targets(&PromptName::new("support/triage.terse")));
        let ids: Vec<&str> = suite.cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["billing", "bug"]);
        // The suite's defaults come first in every case, the case's own after.
        for case in &suite.cases {
            assert_eq!(case.assertions.len(), 2);
            assert!(matches!(case.assertions[0], Assertion::MaxLength(200)));
        }
        assert_eq!(
            suite.cases[1].location.to_string(),
            "fixtures/more.jsonl:1:1"
        );
    }

    #[test]
    fn every_broken_suite_is_reported_at_once_at_its_line() {
        let dir = project(&[
            (
                "suites/a.yaml",
                "kind: regression\nprompt: p\ncases:\n  - id: x\n    vars: {}\n  - id: x\n    vars: {}\n",
            ),
            ("suites/b.yaml", "kind: regresion\nprompt: p\ncases: []\n"),
        ]);
        let error = Suite::load_all(dir.path()).unwrap_err();
        let Error::Several(errors) = &error else {
            panic!("two errors, got {error}")
        };
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(shown[0].starts_with("suites/a.yaml:6:"), "{}", shown[0]);
        assert!(shown[0].contains("`x`"), "{}", shown[0]);
        assert!(shown[1].starts_with("suites/b.yaml:1:"), "{}", shown[1]);
        assert!(shown[1].contains("regression"), "{}", shown[1]);
    }
}
