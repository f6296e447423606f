//! Scoring the outcomes of a run's calls into per-case sample reports.

use crate::compare::{self, SampleScore};
use crate::report::{SampleReport, SideReport, Totals};
use crate::runner::Outcome;
use crate::score::{self, Observed};
use crate::suite::Case;

/// Scores one version's samples of a case; `system` is the system prompt the case sent, for
/// leak detectors.
pub(super) fn side_report(
    case: &Case,
    indices: &[usize],
    outcomes: &[Outcome],
    system: Option<&str>,
) -> SideReport {
    let samples: Vec<SampleReport> = indices
        .iter()
        .map(|&i| {
            let outcome = &outcomes[i];
            match &outcome.result {
                Ok(c) => SampleReport {
                    assertions: score::score(
                        &case.assertions,
                        Observed {
                            text: &c.text,
                            latency_ms: outcome.latency_ms,
                            cost: outcome.cost,
                            expected: case.expected.as_deref(),
                            finish: Some(&c.finish),
                            canary: case.attack.as_ref().map(|a| a.canary.as_str()),
                            system,
                            tool_calls: &c.tool_calls,
                        },
                    ),
                    output: Some(crate::report::shown_output(&c.text, &c.tool_calls)),
                    tool_calls: c.tool_calls.clone(),
                    error: None,
                    latency_ms: outcome.latency_ms,
                    cost: outcome.cost,
                    tokens: c.usage.total(),
                    attempts: outcome.attempts,
                    skipped: false,
                },
                Err(e) => SampleReport {
                    output: None,
                    tool_calls: Vec::new(),
                    error: Some(e.message.clone()),
                    latency_ms: outcome.latency_ms,
                    cost: outcome.cost,
                    tokens: 0,
                    attempts: outcome.attempts,
                    assertions: Vec::new(),
                    skipped: outcome.skipped,
                },
            }
        })
        .collect();
    let pass_rate = compare::pass_rate(&scores_of(&samples));
    SideReport { pass_rate, samples }
}

pub(super) fn scores(side: &SideReport) -> Vec<SampleScore> {
    scores_of(&side.samples)
}

pub(super) fn scores_of(samples: &[SampleReport]) -> Vec<SampleScore> {
    samples
        .iter()
        .map(|s| SampleScore {
            pass: s.pass(),
            latency_ms: s.latency_ms,
            cost: s.cost,
            tokens: s.tokens,
            skipped: s.skipped,
        })
        .collect()
}

pub(super) fn totals(cases: usize, outcomes: &[Outcome]) -> Totals {
    Totals {
        cases,
        calls: outcomes.iter().filter(|o| !o.cached && !o.skipped).count(),
        cached: outcomes.iter().filter(|o| o.cached).count(),
        errors: outcomes
            .iter()
            .filter(|o| o.result.is_err() && !o.skipped)
            .count(),
        skipped: outcomes.iter().filter(|o| o.skipped).count(),
        tokens: outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok())
            .map(|c| c.usage.total())
            .fold(0, u64::saturating_add),
        estimated_tokens: outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok())
            .filter(|c| c.usage.estimated)
            .count(),
        cost: outcomes.iter().map(|o| o.cost).sum(),
    }
}
