//! The rounds after a check's first samples: confirming discordant cases, and `--adaptive`
//! sampling where it decides an inconclusive suite.

use std::sync::Arc;

use super::plan::{PlannedCandidate, PlannedSuite, Side};
use super::verdict::{comparison_of, complete_tallies, evidence, score_cases};
use crate::errors::Result;
use crate::gate::{self, Noise};
use crate::ops::Progress;
use crate::ops::calls::{CallOptions, RunTarget, execute, remaining};
use crate::ops::judging::JudgeLibrary;
use crate::ops::plan::{Jobs, plan_case};
use crate::runner::Outcome;
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
    (planned, library): (&mut [PlannedCandidate<'_>], &Arc<JudgeLibrary>),
    outcomes: &mut Vec<Outcome>,
    sampling: Sampling,
    calls: &CallOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<bool> {
    let mut round = Round::Confirm;
    let mut interrupted = false;
    while !interrupted && !outcomes.iter().any(|o| o.skipped) {
        let (extra, added) = plan_round((planned, library), outcomes, round, sampling)?;
        if !added.is_empty() {
            let mut calls = calls.clone();
            calls.budget = remaining(calls.budget, outcomes.iter());
            let target = RunTarget {
                root: run.root,
                manifest: run.manifest.clone(),
                resumed: Arc::clone(&run.resumed),
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
    (planned, library): (&[PlannedCandidate<'_>], &Arc<JudgeLibrary>),
    outcomes: &[Outcome],
    round: Round,
    sampling: Sampling,
) -> Result<(Jobs, Vec<Added>)> {
    let Sampling {
        confirm,
        max_samples,
        ..
    } = sampling;
    let mut extra = Jobs::judged_by(library.clone());
    let mut added: Vec<Added> = Vec::new();
    for (c, candidate) in planned.iter().enumerate() {
        for (s, p) in candidate.suites.iter().enumerate() {
            let targets = sampling_round(p, candidate, outcomes, round, (confirm, max_samples));
            for (case, target) in targets {
                let mut new_jobs: [Vec<usize>; 2] = Default::default();
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
                    new_jobs[usize::from(side == Side::Candidate)] = new.clone();
                    added.extend(new.into_iter().map(|job| (c, s, case, side, job)));
                }
                let tier = candidate.candidate.prompt.metadata.governance.risk_tier;
                let [base, cand] = new_jobs;
                for pair in base.into_iter().zip(cand) {
                    extra.pair(&p.suite.cases[case], tier, pair);
                }
            }
        }
    }
    Ok((extra, added))
}
