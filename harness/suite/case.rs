//! A suite and its cases, as loaded and validated: what every later stage reads.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::assertions::Assertion;
use super::script::Script;
use crate::adversarial::Attack;
use crate::config::{Params, Tolerance};
use crate::errors::Location;
use crate::ids::PromptName;
use crate::vocabulary::SuiteKind;

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

impl Suite {
    /// Whether the suite targets `prompt` (a variant is tested by its base prompt's suites).
    pub fn targets(&self, prompt: &PromptName) -> bool {
        self.prompts
            .iter()
            .any(|p| p == prompt || *p == prompt.base())
    }

    /// The shadow suite among `suites` that targets `prompt`, if there is one.
    pub fn shadow_for<'s>(suites: &'s [Suite], prompt: &PromptName) -> Option<&'s Suite> {
        suites
            .iter()
            .find(|s| s.kind == SuiteKind::Shadow && s.targets(prompt))
    }
}
