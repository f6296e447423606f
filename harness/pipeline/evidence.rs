//! The evidence stage: every sample's outcome scored by the case's assertions, each case's
//! versions compared, and the tallies the gate decides a suite from. The rounds read it to
//! choose what to sample next, and the verdict to decide.

use super::plan::{PlannedCandidate, PlannedSuite};
use super::prepare::{Prepared, leak_reference};
use crate::adversarial::asr::CategoryRates;
use crate::compare::{self, CasePair, SampleScore};
use crate::gate;
use crate::report::{CaseReport, SampleReport, SideReport, Totals};
use crate::runner::Outcome;
use crate::score::{self, Observed};
use crate::stats;
use crate::suite::{Case, Suite};

/// What a version sent with a case that its outputs are held to: the system prompt (for leak
/// detectors) and the tools it offered (whose input schemas the calls must fit).
pub(crate) struct Sent<'a> {
    system: Option<String>,
    tools: &'a [(String, crate::suite::JsonSchema)],
}

impl<'a> Sent<'a> {
    /// What `prepared` sent with `case` of `suite`.
    pub(crate) fn of(suite: &Suite, case: &Case, prepared: &'a Prepared) -> Self {
        Self {
            system: leak_reference(suite, case, prepared),
            tools: &prepared.tool_schemas,
        }
    }
}

/// Scores one version's samples of a case, as `sent`.
pub(crate) fn side_report(
    case: &Case,
    indices: &[usize],
    outcomes: &[Outcome],
    sent: &Sent<'_>,
) -> SideReport {
    let samples: Vec<SampleReport> = indices
        .iter()
        .map(|&i| sample_report(case, &outcomes[i], sent))
        .collect();
    let pass_rate = compare::pass_rate(&scores_of(&samples));
    SideReport { pass_rate, samples }
}

/// A sample that is an error, `error`, with what its call answered (`completion`, when it
/// answered): nothing is scored on it.
fn unscored(
    outcome: &Outcome,
    completion: Option<&crate::provider::Completion>,
    error: String,
) -> SampleReport {
    SampleReport {
        output: completion.map(|c| crate::report::shown_output(&c.text, &c.tool_calls)),
        tool_calls: completion.map(|c| c.tool_calls.clone()).unwrap_or_default(),
        trajectory: outcome.trajectory.clone(),
        judgments: outcome.judgments.clone(),
        error: Some(error),
        latency_ms: outcome.latency_ms,
        cost: outcome.cost,
        tokens: completion.map_or(0, |c| c.usage.total()),
        attempts: outcome.attempts,
        assertions: Vec::new(),
        skipped: outcome.skipped,
    }
}

/// The tool an indirect attack's document comes back from, when the conversation never
/// called it: the attack never reached the model, and resisting it proves nothing.
fn undelivered<'c>(case: &'c Case, outcome: &Outcome) -> Option<&'c str> {
    let tool = case.attack.as_ref()?.through.as_deref()?;
    let called = match &outcome.trajectory {
        Some(trajectory) => trajectory.calls(None).iter().any(|c| c.name == tool),
        None => outcome
            .result
            .as_ref()
            .is_ok_and(|c| c.tool_calls.iter().any(|c| c.name == tool)),
    };
    (!called).then_some(tool)
}

/// Scores one sample: the case's assertions on its (final) answer and every call it made,
/// each turn's own assertions on that turn, and a conversation's end when it cut the script
/// short.
fn sample_report(case: &Case, outcome: &Outcome, sent: &Sent<'_>) -> SampleReport {
    let c = match &outcome.result {
        Ok(c) => c,
        Err(e) => return unscored(outcome, None, e.message.clone()),
    };
    if let Some(tool) = undelivered(case, outcome) {
        let why = format!(
            "the attack was never delivered: its document comes back from `{tool}`, which the agent did not call, so the case measured nothing"
        );
        return unscored(outcome, Some(c), why);
    }
    let observed = Observed {
        text: &c.text,
        latency_ms: outcome.latency_ms,
        cost: outcome.cost,
        expected: case.expected.as_deref(),
        finish: Some(&c.finish),
        canary: case.attack.as_ref().map(|a| a.canary.as_str()),
        system: sent.system.as_deref(),
        tool_calls: &c.tool_calls,
        tools: sent.tools,
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

pub(crate) fn scores(side: &SideReport) -> Vec<SampleScore> {
    scores_of(&side.samples)
}

pub(crate) fn scores_of(samples: &[SampleReport]) -> Vec<SampleScore> {
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

pub(crate) fn totals(cases: usize, outcomes: &[Outcome]) -> Totals {
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

/// The tallies of the cases both versions completed, with their indices in the suite.
pub(crate) fn complete_tallies(cases: &[CaseReport]) -> (Vec<usize>, Vec<stats::CaseTally>) {
    cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.baseline.pass_rate.is_some() && c.candidate.pass_rate.is_some())
        .map(|(i, c)| (i, tally(c)))
        .unzip()
}

/// What the gate decides a suite from.
pub(crate) fn evidence<'a>(
    p: &'a PlannedSuite<'_>,
    comparison: &'a compare::SuiteComparison,
    tallies: &'a [stats::CaseTally],
    attacks: &'a [CategoryRates],
    cap: u32,
) -> gate::SuiteEvidence<'a> {
    // Seeded by the suite's name: the same results give the same interval on every run.
    let seed = u64::from_le_bytes(
        crate::ids::ContentHash::of(&p.suite.name)
            .as_str()
            .as_bytes()[..8]
            .try_into()
            .unwrap_or_default(),
    );
    gate::SuiteEvidence {
        name: &p.suite.name,
        tolerance: &p.tolerance,
        comparison,
        cases: tallies,
        attacks,
        noise: p.noise,
        remembered: &p.remembered,
        origin: p.suite.cases_are,
        extra_calls: p.extra_calls,
        cap,
        seed,
    }
}

/// The case-by-case comparison of scored cases. Every sample's score goes into one vector per
/// version, each case a slice of it (100,000 cases are two allocations, not 200,000).
pub(crate) fn comparison_of(cases: &[CaseReport]) -> compare::SuiteComparison {
    let flat = |side: fn(&CaseReport) -> &crate::report::SideReport| {
        let mut scores: Vec<SampleScore> = Vec::new();
        let mut ends: Vec<usize> = Vec::with_capacity(cases.len());
        for case in cases {
            scores.extend(scores_of(&side(case).samples));
            ends.push(scores.len());
        }
        (scores, ends)
    };
    let (baseline, baseline_ends) = flat(|c| &c.baseline);
    let (candidate, candidate_ends) = flat(|c| &c.candidate);
    let pairs: Vec<CasePair<'_>> = (0..cases.len())
        .map(|i| CasePair {
            baseline: case_slice(&baseline, &baseline_ends, i),
            candidate: case_slice(&candidate, &candidate_ends, i),
        })
        .collect();
    compare::compare_suite(&pairs)
}

/// Case `i`'s part of `scores`, which `ends` cuts into cases.
fn case_slice<'s>(scores: &'s [SampleScore], ends: &[usize], i: usize) -> &'s [SampleScore] {
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &scores[start..ends[i]]
}

/// Every case of a suite scored on both versions of `planned`, in suite order.
pub(crate) fn score_cases(
    p: &PlannedSuite<'_>,
    planned: &PlannedCandidate<'_>,
    outcomes: &[Outcome],
) -> Vec<CaseReport> {
    p.suite
        .cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let side = |prepared: &Prepared, indices: &[usize]| {
                side_report(case, indices, outcomes, &Sent::of(p.suite, case, prepared))
            };
            let baseline = side(&planned.baseline, &p.baseline[i]);
            let candidate = side(&planned.candidate, &p.candidate[i]);
            let status = compare::case_status(&scores(&baseline), &scores(&candidate));
            CaseReport {
                id: case.id.clone(),
                description: case.description.clone(),
                category: case.attack.as_ref().map(|a| a.category.clone()),
                status,
                baseline,
                candidate,
            }
        })
        .collect()
}

/// Passes and samples of a scored case.
fn tally(case: &CaseReport) -> stats::CaseTally {
    let count = |side: &crate::report::SideReport| {
        let passed = side
            .samples
            .iter()
            .filter(|s| s.pass() == Some(true))
            .count() as u32;
        (passed, side.samples.len() as u32)
    };
    let (baseline_passed, baseline_samples) = count(&case.baseline);
    let (candidate_passed, candidate_samples) = count(&case.candidate);
    stats::CaseTally {
        baseline_passed,
        baseline_samples,
        candidate_passed,
        candidate_samples,
    }
}
