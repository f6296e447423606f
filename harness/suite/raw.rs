//! Suite files as written: the serde types a suite file and a JSONL case file are read into,
//! before validation, and the JSON Schema editors complete them from.

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::assertions::{AssertionSpec, RawAssertion};
use super::case::CaseOrigin;
use super::script::{self, UnexpectedCalls};
use crate::adversarial::Plant;
use crate::config::{Params, Tolerance};
use crate::vocabulary::SuiteKind;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "promptgate suite",
    description = "A suite file under suites/: which prompt to test, with which cases, and how much worse a candidate may be."
)]
pub(crate) struct RawSuite {
    /// `regression` (expected behaviour) or `adversarial` (attacks the prompt must resist).
    #[schemars(with = "SuiteKind")]
    pub(crate) kind: Spanned<String>,
    /// The prompt the suite tests (a name under prompts/, without `.prompt`).
    #[serde(default)]
    pub(crate) prompt: Option<String>,
    /// Several prompts the suite tests.
    #[serde(default)]
    pub(crate) prompts: Vec<String>,
    /// The provider to call, by name (default: `default_provider`).
    #[serde(default)]
    pub(crate) provider: Option<String>,
    /// Samples per case and version (default 1, or the tier's minimum).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(crate) samples: Option<Spanned<u32>>,
    /// `written` (your specification, the default) or `sampled` (a random sample of traffic).
    #[serde(default)]
    pub(crate) cases_are: CaseOrigin,
    /// Limits over the prompt's risk-tier defaults.
    #[serde(default)]
    #[schemars(with = "Option<Tolerance>")]
    pub(crate) tolerance: Option<Spanned<Tolerance>>,
    /// Sampling parameters over the provider's.
    #[serde(default)]
    pub(crate) params: Params,
    /// Assertions every case gets first.
    #[serde(default)]
    pub(crate) defaults: RawDefaults,
    /// Conversation cases: the model calls a conversation may make (default 10).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(crate) max_steps: Option<Spanned<u32>>,
    /// Conversation cases: what a tool call the script has no result for gets: `answer` (an
    /// error result, the default) or `fail` (the sample fails).
    #[serde(default)]
    pub(crate) unexpected_calls: UnexpectedCalls,
    /// The cases: inline, or `- file: PATH.jsonl` for many.
    #[serde(default)]
    #[schemars(with = "Vec<RawCase>")]
    pub(crate) cases: Vec<Spanned<RawCase>>,
    /// Adversarial: the prompt variable the attack text goes into.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) target: Option<Spanned<String>>,
    /// Adversarial: the variable documents go into (indirect injection).
    #[serde(default)]
    pub(crate) context: Option<String>,
    /// Adversarial: the tool whose result carries the documents (indirect injection into an
    /// agent): each such attack is a conversation in which the tool returns the document.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) context_tool: Option<Spanned<String>>,
    /// Adversarial: values of the prompt's other variables.
    #[serde(default)]
    pub(crate) vars: Map<String, Value>,
    /// Adversarial: one attack pack.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) pack: Option<Spanned<String>>,
    /// Adversarial: attack packs (or `all`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(crate) packs: Vec<Spanned<String>>,
    /// Adversarial: each case is also run once per transform (`base64`, `leetspeak`, `translated`, ...).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub(crate) transforms: Vec<Spanned<String>>,
    /// Adversarial: the JSON Schema structured output must keep to.
    #[serde(default)]
    pub(crate) schema: Option<Value>,
    /// Adversarial: what the agent may do with its tools, for the `excessive-agency` pack's
    /// `tool-policy` detector (`{ allow: [..], forbid: [..], args: { TOOL: SCHEMA } }`).
    #[serde(default)]
    #[schemars(with = "Option<Value>")]
    pub(crate) tool_policy: Option<Spanned<Value>>,
}

#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    #[serde(default)]
    pub(crate) assert: Vec<RawAssertion>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCase {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) vars: Map<String, Value>,
    #[serde(default)]
    pub(crate) expected: Option<String>,
    #[serde(default)]
    pub(crate) assert: Vec<RawAssertion>,
    #[serde(default)]
    pub(crate) file: Option<String>,
    #[serde(default)]
    pub(crate) category: Option<String>,
    #[serde(default)]
    pub(crate) attack: Option<String>,
    #[serde(default)]
    pub(crate) document: Option<String>,
    #[serde(default)]
    pub(crate) plant: Option<Plant>,
    /// A conversation: its turns.
    #[serde(default)]
    #[schemars(with = "Vec<script::RawTurn>")]
    pub(crate) turns: Vec<Spanned<script::RawTurn>>,
    /// A conversation: what the tools return, in every turn.
    #[serde(default)]
    #[schemars(with = "Vec<script::RawResult>")]
    pub(crate) results: Vec<Spanned<script::RawResult>>,
    /// Earlier turns, sent as they are.
    #[serde(default)]
    #[schemars(with = "Vec<script::RawHistoryMessage>")]
    pub(crate) history: Vec<Spanned<script::RawHistoryMessage>>,
    /// A conversation: the model calls it may make.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(crate) max_steps: Option<Spanned<u32>>,
}

/// The JSON Schema of a suite file, for editors and `promptgate schema suite`.
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(RawSuite)
}

/// A bulk case, one JSON object per line of a `.jsonl` file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonlCase {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) vars: Map<String, Value>,
    #[serde(default)]
    pub(crate) expected: Option<String>,
    #[serde(default)]
    pub(crate) assert: Vec<AssertionSpec<String>>,
}
