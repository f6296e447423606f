//! Reports: the data model of a finished check, and its renderers (terminal, JSON, Markdown).

mod markdown;
mod terminal;

use serde::{Deserialize, Serialize};

use crate::compare::{CaseStatus, SuiteComparison};
use crate::config::Tolerance;
use crate::gate::{Reason, Verdict};
use crate::ids::{PromptName, RunId};
use crate::score::AssertionResult;
use crate::store::Version;

pub use markdown::summary_markdown;
pub use terminal::{check_summary, run_summary};

/// A finished check: every candidate compared with its baseline. Serialized as `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Format of this file; bumped on any incompatible change.
    pub format_version: u32,
    /// The run's id.
    pub run_id: RunId,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// Wall time of the whole check.
    pub duration_ms: u64,
    /// The worst verdict across candidates.
    pub verdict: Verdict,
    /// False when calls failed, so some cases could not be compared.
    pub complete: bool,
    /// Totals across the run.
    pub totals: Totals,
    /// One entry per candidate, best first.
    pub candidates: Vec<CandidateReport>,
}

/// Totals across a run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Case comparisons (cases × candidates).
    pub cases: usize,
    /// Provider calls made (identical requests are made once).
    pub calls: usize,
    /// Calls that failed after retries.
    pub errors: usize,
    /// Tokens across all calls.
    pub tokens: u64,
    /// Dollars across all calls; `None` when any price is unknown.
    pub cost: Option<f64>,
}

/// One candidate version against its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateReport {
    /// How the candidate was named (`worktree`, a revision, or a variant).
    pub label: String,
    /// The prompt under test.
    pub prompt: PromptName,
    /// The baseline version.
    pub baseline: Version,
    /// The candidate version.
    pub candidate: Version,
    /// The gate's verdict for this candidate.
    pub verdict: Verdict,
    /// Every breached limit.
    pub reasons: Vec<Reason>,
    /// Per-suite results.
    pub suites: Vec<SuiteReport>,
}

impl CandidateReport {
    /// Mean pass-rate delta over the candidate's suites, for ranking.
    pub fn mean_delta(&self) -> f64 {
        let deltas: Vec<f64> = self
            .suites
            .iter()
            .filter_map(|s| s.comparison.pass_rate_delta)
            .collect();
        if deltas.is_empty() {
            0.0
        } else {
            deltas.iter().sum::<f64>() / deltas.len() as f64
        }
    }
}

/// One suite's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// The suite's name.
    pub name: String,
    /// The provider used.
    pub provider: String,
    /// Samples per case and version.
    pub samples: u32,
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// The numbers.
    pub comparison: SuiteComparison,
    /// Every case, regressions first.
    pub cases: Vec<CaseReport>,
}

/// One case on both versions.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The case id.
    pub id: String,
    /// The case's description, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How the case moved.
    pub status: CaseStatus,
    /// Baseline samples.
    pub baseline: SideReport,
    /// Candidate samples.
    pub candidate: SideReport,
}

/// One version's samples of a case.
#[derive(Debug, Clone, Serialize)]
pub struct SideReport {
    /// Fraction of samples that passed; `None` if a call failed.
    pub pass_rate: Option<f64>,
    /// Every sample.
    pub samples: Vec<SampleReport>,
}

/// One scored sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleReport {
    /// The output, when the call succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Call wall time.
    pub latency_ms: u64,
    /// Dollars, `None` when unknown.
    pub cost: Option<f64>,
    /// Input plus output tokens.
    pub tokens: u64,
    /// Attempts made.
    pub attempts: u32,
    /// Assertion results (empty when the call failed).
    pub assertions: Vec<AssertionResult>,
}

impl SampleReport {
    /// Whether every assertion held; `None` when the call failed.
    pub fn pass(&self) -> Option<bool> {
        self.output
            .as_ref()
            .map(|_| self.assertions.iter().all(|a| a.pass))
    }
}

/// Suites run on one version without comparison (`promptgate run`).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Format of this file.
    pub format_version: u32,
    /// The run's id.
    pub run_id: RunId,
    /// Totals across the run.
    pub totals: Totals,
    /// One entry per prompt version and suite.
    pub suites: Vec<RunSuiteReport>,
}

/// One suite on one version.
#[derive(Debug, Clone, Serialize)]
pub struct RunSuiteReport {
    /// The suite's name.
    pub name: String,
    /// The version run.
    pub version: Version,
    /// The provider used.
    pub provider: String,
    /// Mean per-case pass rate over cases without errors.
    pub pass_rate: Option<f64>,
    /// Every case.
    pub cases: Vec<RunCaseReport>,
}

/// One case on one version.
#[derive(Debug, Clone, Serialize)]
pub struct RunCaseReport {
    /// The case id.
    pub id: String,
    /// The samples.
    pub side: SideReport,
}
