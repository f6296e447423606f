//! The rounds after a check's first samples: confirming discordant cases, and `--adaptive`
//! sampling where it decides an inconclusive suite.

use super::plan::{PlannedCandidate, PlannedSuite, Side};
use super::verdict::{comparison_of, complete_tallies, evidence, score_cases};
use crate::errors::Result;
use crate::gate::{self, Noise};
use crate::ops::Progress;
use crate::ops::calls::{CallOptions, RunTarget, execute};
use crate::ops::plan::{Jobs, plan_case};
use crate::runner::{BudgetLimits, Outcome};
use crate::stats;

/// The most samples per case and version `--adaptive` draws unless told otherwise.
pub(super) const DEFAULT_MAX_SAMPLES: u32 = 10;

/// What a round of extra samples is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Re-sample the discordant cases before the verdict.
    Confirm,
    /// Sample where it decides an inconclusive suite (`--adaptive`).
    Adaptive,
}

/// The cases of one suite to sample in `round`, with the samples per version each should
/// reach (indices into the suite's cases): discordant cases to confirm, on a provider that can
/// vary; or, while the suite is undecided ([`gate::wants_more_samples`]), the cases that
/// disagree, up to the cap.
fn sampling_round(
    p: &PlannedSuite<'_>,
    planned: &PlannedCandidate<'_>,
    outcomes: &[Outcome],
    round: Round,
    (confirm, cap): (u32, u32),
) -> Vec<(usize, u32)> {
    if p.tolerance.max_pass_rate_drop.is_none() || p.noise == Noise::None {
        return Vec::new();
    }
    let cases = score_cases(p, planned, outcomes);
    let (indices, tallies) = complete_tallies(&cases);
    let targets = match round {
        Round::Confirm => stats::confirmation_round(&tallies, confirm),
        Round::Adaptive => {
            let comparison = comparison_of(&cases);
            let decision = gate::evaluate_suite(&evidence(p, &comparison, &tallies, &[], cap));
            match decision.statistics {
                Some(s) if gate::wants_more_samples(&s) => stats::adaptive_round(&tallies, cap),
                _ => Vec::new(),
            }
        }
    };
    targets
        .into_iter()
        .map(|(i, target)| (indices[i], target))
        .collect()
}

/// What is left of `budget` after the calls in `outcomes`.
fn remaining(budget: BudgetLimits, outcomes: &[Outcome]) -> BudgetLimits {
    let made = outcomes.iter().filter(|o| !o.cached && !o.skipped);
    let calls: u64 = made.clone().map(|o| u64::from(o.attempts)).sum();
    let tokens: u64 = made
        .clone()
        .filter_map(|o| o.result.as_ref().ok())
        .map(|c| c.usage.total())
        .fold(0, u64::saturating_add);
    let cost: f64 = made.filter_map(|o| o.cost).sum();
    BudgetLimits {
        max_calls: budget.max_calls.map(|m| m.saturating_sub(calls)),
        max_tokens: budget.max_tokens.map(|m| m.saturating_sub(tokens)),
        max_cost: budget.max_cost.map(|m| (m - cost).max(0.0)),
    }
}

/// How many samples the rounds after the first may draw.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sampling {
    /// Samples per version drawn again for each discordant case.
    pub(super) confirm: u32,
    /// With `--adaptive`, the most samples per case and version.
    pub(super) max_samples: u32,
    /// Whether to sample where it decides an inconclusive suite (`--adaptive`).
    pub(super) adaptive: bool,
}

/// Before the verdict, confirms the discordant cases; then, with `--adaptive`, samples where it
/// decides, until no suite is inconclusive, every case that disagrees is at the cap, or the
/// budget runs out. New outcomes are appended to `outcomes` and their jobs to the suites of
/// `planned`. Returns whether an interrupt stopped a round.
pub(super) fn sample_more(
    run: &RunTarget<'_>,
    planned: &mut [PlannedCandidate<'_>],
    outcomes: &mut Vec<Outcome>,
    sampling: Sampling,
    calls: &CallOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<bool> {
    let mut round = Round::Confirm;
    let mut interrupted = false;
    while !interrupted && !outcomes.iter().any(|o| o.skipped) {
        let (extra, added) = plan_round(planned, outcomes, round, sampling)?;
        if !added.is_empty() {
            let mut calls = calls.clone();
            calls.budget = remaining(calls.budget, outcomes);
            let target = RunTarget {
                root: run.root,
                manifest: run.manifest.clone(),
                resumed: run.resumed.clone(),
            };
            let batch = execute(target, extra, &calls, progress)?;
            let offset = outcomes.len();
            outcomes.extend(batch.outcomes);
            interrupted |= batch.interrupted;
            for (c, s, case, side, job) in added.iter().copied() {
                let suite = &mut planned[c].suites[s];
                match round {
                    Round::Confirm => suite.extra_calls.confirm += 1,
                    Round::Adaptive => suite.extra_calls.adaptive += 1,
                }
                match side {
                    Side::Baseline => suite.baseline[case].push(offset + job),
                    Side::Candidate => suite.candidate[case].push(offset + job),
                }
            }
        }
        round = match round {
            Round::Confirm if sampling.adaptive => Round::Adaptive,
            Round::Adaptive if !added.is_empty() => Round::Adaptive,
            Round::Confirm | Round::Adaptive => break,
        };
    }
    Ok(interrupted)
}

/// A new job of a round: the candidate, suite, case and side it samples, and its index among
/// the round's jobs.
type Added = (usize, usize, usize, Side, usize);

/// The jobs of one round, for every suite of every candidate.
fn plan_round(
    planned: &[PlannedCandidate<'_>],
    outcomes: &[Outcome],
    round: Round,
    sampling: Sampling,
) -> Result<(Jobs, Vec<Added>)> {
    let Sampling {
        confirm,
        max_samples,
        ..
    } = sampling;
    let mut extra = Jobs::default();
    let mut added: Vec<Added> = Vec::new();
    for (c, candidate) in planned.iter().enumerate() {
        for (s, p) in candidate.suites.iter().enumerate() {
            let targets = sampling_round(p, candidate, outcomes, round, (confirm, max_samples));
            for (case, target) in targets {
                for (side, prepared, indices) in [
                    (Side::Baseline, &candidate.baseline, &p.baseline[case]),
                    (Side::Candidate, &candidate.candidate, &p.candidate[case]),
                ] {
                    let have = indices.len() as u32;
                    // A control run's second side takes sample indices after the first's.
                    let offset = if side == Side::Candidate && candidate.spec.control {
                        p.samples.max(max_samples) + confirm
                    } else {
                        0
                    };
                    let want = target.max(have);
                    let new = plan_case(
                        p.suite,
                        &p.suite.cases[case],
                        prepared,
                        &p.provider,
                        &mut extra,
                        offset + have..offset + want,
                    )?;
                    added.extend(new.into_iter().map(|job| (c, s, case, side, job)));
                }
            }
        }
    }
    Ok((extra, added))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Completion, ProviderError, Usage};

    fn made(tokens: u64, cost: Option<f64>, attempts: u32) -> Outcome {
        Outcome {
            result: Ok(Completion {
                usage: Usage {
                    input_tokens: tokens,
                    output_tokens: 0,
                    estimated: false,
                },
                ..Completion::default()
            }),
            latency_ms: 1,
            attempts,
            cost,
            cached: false,
            skipped: false,
        }
    }

    #[test]
    fn what_remains_counts_made_calls_and_their_retries_only() {
        let budget = BudgetLimits {
            max_calls: Some(10),
            max_tokens: Some(100),
            max_cost: Some(1.0),
        };
        let cached = Outcome {
            cached: true,
            ..made(50, Some(0.5), 0)
        };
        let failed = Outcome {
            result: Err(ProviderError::transient("503")),
            ..made(0, Some(0.25), 3)
        };
        let outcomes = [
            made(30, Some(0.5), 1),
            cached,
            failed,
            Outcome::skipped("cap", 0, None),
        ];
        let left = remaining(budget, &outcomes);
        assert_eq!(left.max_calls, Some(6), "1 + 3 attempts made");
        assert_eq!(left.max_tokens, Some(70), "the cache hit spent nothing");
        assert_eq!(left.max_cost, Some(0.25));
        // Overspent is nothing left, never a wrap-around or a negative cap.
        let spent = remaining(budget, &[made(500, Some(3.0), 20)]);
        assert_eq!(
            (spent.max_calls, spent.max_tokens, spent.max_cost),
            (Some(0), Some(0), Some(0.0))
        );
        assert_eq!(
            remaining(BudgetLimits::default(), &outcomes),
            BudgetLimits::default()
        );
    }
}
