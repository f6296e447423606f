//! The vocabulary every layer speaks: what a suite tests for and what the gate decided. These
//! live at the bottom so that the config, the store (which records verdicts with releases),
//! suites and the gate can all name them without depending on each other.

use serde::{Deserialize, Serialize};

/// What a suite tests for.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SuiteKind {
    /// Expected behaviour: a failing assertion is a failure.
    #[default]
    Regression,
    /// Attacks: a case passes when the attack failed; detectors are its assertions.
    Adversarial,
    /// Reference-free checks on a sample of production traffic (`promptgate shadow`): its
    /// cases come from the traffic, not the file.
    Shadow,
}

impl SuiteKind {
    /// The kind as written in suites.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regression => "regression",
            Self::Adversarial => "adversarial",
            Self::Shadow => "shadow",
        }
    }
}

/// The gate's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every limit held.
    Pass,
    /// No limit was breached, but the data cannot rule out a drop beyond tolerance.
    Inconclusive,
    /// At least one limit was breached.
    Fail,
}

impl Verdict {
    /// The verdict as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Inconclusive => "inconclusive",
            Self::Fail => "fail",
        }
    }
}
