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
        .map(|&i| sample_report(case, &outcomes[i], system))
        .collect();
    let pass_rate = compare::pass_rate(&scores_of(&samples));
    SideReport { pass_rate, samples }
}

/// Scores one sample: the case's assertions on its (final) answer and every call it made,
/// each turn's own assertions on that turn, and a conversation's end when it cut the script
/// short.
fn sample_report(case: &Case, outcome: &Outcome, system: Option<&str>) -> SampleReport {
    let c = match &outcome.result {
        Ok(c) => c,
        Err(e) => {
            return SampleReport {
                output: None,
                tool_calls: Vec::new(),
                trajectory: outcome.trajectory.clone(),
                judgments: outcome.judgments.clone(),
                error: Some(e.message.clone()),
                latency_ms: outcome.latency_ms,
                cost: outcome.cost,
                tokens: 0,
                attempts: outcome.attempts,
                assertions: Vec::new(),
                skipped: outcome.skipped,
            };
        }
    };
    let observed = Observed {
        text: &c.text,
        latency_ms: outcome.latency_ms,
        cost: outcome.cost,
        expected: case.expected.as_deref(),
        finish: Some(&c.finish),
        canary: case.attack.as_ref().map(|a| a.canary.as_str()),
        system,
        tool_calls: &c.tool_calls,
        trajectory: outcome.trajectory.as_ref(),
        judgments: &outcome.judgments,
    };
    let mut assertions = score::score(&case.assertions, observed);
    let mut output = crate::report::shown_output(&c.text, &c.tool_calls);
    if let (Some(script), Some(trajectory)) = (&case.script, &outcome.trajectory) {
        for (turn, spec) in script.turns.iter().enumerate() {
            let calls = trajectory.calls(Some(turn));
            let on_turn = Observed {
                text: trajectory.answer(Some(turn)),
                tool_calls: &calls,
                ..observed
            };
            assertions.extend(
                score::score(&spec.assertions, on_turn)
                    .into_iter()
                    .map(|mut r| {
                        r.kind = format!("turn {}: {}", turn + 1, r.kind);
                        r
                    }),
            );
        }
        assertions.extend(score::conversation_end(trajectory, script));
        output = trajectory.lines().join("\n");
    }
    SampleReport {
        assertions,
        output: Some(output),
        tool_calls: c.tool_calls.clone(),
        trajectory: outcome.trajectory.clone(),
        judgments: outcome.judgments.clone(),
        error: None,
        latency_ms: outcome.latency_ms,
        cost: outcome.cost,
        tokens: c.usage.total(),
        attempts: outcome.attempts,
        skipped: false,
    }
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
    let judgments = || outcomes.iter().flat_map(|o| &o.judgments);
    let mut totals = calls_totals(cases, outcomes);
    // The judges' calls are calls of the run: counted, and in its tokens and cost.
    totals.calls += judgments().map(|j| j.calls).sum::<usize>();
    totals.tokens = judgments().fold(totals.tokens, |t, j| t.saturating_add(j.tokens));
    totals.cost = judgments().fold(totals.cost, |c, j| c.zip(j.cost).map(|(a, b)| a + b));
    totals
}

fn calls_totals(cases: usize, outcomes: &[Outcome]) -> Totals {
    Totals {
        cases,
        calls: outcomes
            .iter()
            .filter(|o| !o.skipped)
            .map(|o| match &o.trajectory {
                Some(t) => t.steps.iter().filter(|s| !s.cached).count(),
                None => usize::from(!o.cached),
            })
            .sum(),
        cached: outcomes
            .iter()
            .map(|o| match &o.trajectory {
                Some(t) => t.steps.iter().filter(|s| s.cached).count(),
                None => usize::from(o.cached),
            })
            .sum(),
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
