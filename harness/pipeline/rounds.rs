//! The rounds after a check's first samples: confirming discordant cases, and `--adaptive`
//! sampling where it decides an inconclusive suite.

use std::sync::Arc;

use super::calls::{RunTarget, execute, remaining};
use super::draws::{Draw, named};
use super::evidence::{comparison_of, complete_tallies, evidence, score_cases};
use super::jobs::{Jobs, plan_case};
use super::panel::JudgeLibrary;
use super::plan::{PlannedCandidate, PlannedSuite, Side};
use super::progress::Progress;
use super::request::{CallOptions, WAVE_FILE, WaveSamples};
use crate::errors::{Error, Result};
use crate::gate::{self, Noise};
use crate::runner::Outcome;
use crate::stats;

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
    sampling: Sampling,
) -> Vec<(usize, u32)> {
    let (confirm, cap) = (sampling.confirm, sampling.max_samples);
    // An adversarial suite is gated on attack successes: its changed cases are confirmed
    // too, so a new success that does not reproduce is a flip, not a regression.
    let adversarial = p.suite.kind == crate::suite::SuiteKind::Adversarial;
    let gated = p.tolerance.max_pass_rate_drop.is_some();
    if p.noise == Noise::None || !(gated || adversarial && round == Round::Confirm) {
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
                Some(s) if gate::wants_more_samples(&s) => {
                    stats::adaptive_round(&tallies, cap, gate::measures_noise(&s))
                }
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
pub(crate) struct Sampling {
    /// Samples per version drawn again for each discordant case.
    pub(crate) confirm: u32,
    /// With `--adaptive`, the most samples per case and version.
    pub(crate) max_samples: u32,
    /// Whether to sample where it decides an inconclusive suite (`--adaptive`).
    pub(crate) adaptive: bool,
}

/// The rounds a check samples after its first samples: how many samples they may draw, and in
/// a merge, how they span its waves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rounds {
    pub(crate) sampling: Sampling,
    pub(crate) waves: Option<Waves>,
}

/// How a merge samples across shards: the adaptive rounds the shards' logs answer are
/// replayed, and the first they cannot answer is the next wave.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waves {
    /// How many waves of shards the merge was given.
    pub(crate) merged: u32,
    /// Gate on the waves merged: plan no further wave (`merge --final`).
    pub(crate) last: bool,
}

/// What the rounds after the first came to.
pub(crate) struct Sampled {
    /// Whether an interrupt stopped a round.
    pub(crate) interrupted: bool,
    /// In a merge, the next wave, when the shards' logs cannot answer the next adaptive
    /// round.
    pub(crate) next_wave: Option<NextRound>,
}

/// A merge's next wave: its number and the samples each case draws in it.
pub(crate) struct NextRound {
    pub(crate) wave: u32,
    pub(crate) samples: Vec<WaveSamples>,
}

/// Before the verdict, confirms the discordant cases; then, with `--adaptive`, samples where it
/// decides, until no suite is inconclusive, every case that disagrees is at the cap, or the
/// budget runs out. New outcomes are appended to `outcomes` and their jobs to the suites of
/// `planned`. In a merge (`waves`), a round the shards did not draw stops the sampling and is
/// returned as the next wave.
pub(crate) fn sample_more(
    run: &RunTarget<'_>,
    planned: &mut [PlannedCandidate<'_>],
    library: &Arc<JudgeLibrary>,
    outcomes: &mut Vec<Outcome>,
    rounds: Rounds,
    calls: &CallOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Sampled> {
    let Rounds { sampling, waves } = rounds;
    let mut round = Round::Confirm;
    let mut interrupted = false;
    let mut adaptive_rounds = 0;
    while !interrupted && !outcomes.iter().any(|o| o.skipped) {
        let draws = round_draws(planned, outcomes, round, sampling);
        let Drawn { jobs: extra, added } = draw_jobs(planned, library, &draws)?;
        if round == Round::Adaptive {
            adaptive_rounds += 1;
        }
        let drawn = |key: &String| run.source.has(key);
        if let Some(waves) = waves.filter(|_| round == Round::Adaptive)
            && !extra.planned.iter().map(|p| &p.key).all(drawn)
        {
            // Wave 1 drew the first samples and confirmed them; adaptive round r is wave r + 1.
            let wave = adaptive_rounds + 1;
            if wave <= waves.merged {
                return Err(Error::Usage(format!(
                    "the shards of wave {wave} do not hold the samples this merge plans for it: run each wave's shards from the {} that the merge of the waves before it wrote",
                    WAVE_FILE
                )));
            }
            if waves.last {
                break;
            }
            return Ok(Sampled {
                interrupted,
                next_wave: Some(NextRound {
                    wave,
                    samples: named(planned, &draws),
                }),
            });
        }
        if !added.is_empty() {
            progress(Progress::Phase(phase_of(
                round,
                adaptive_rounds,
                &added,
                extra.planned.len(),
            )));
            let mut calls = calls.clone();
            calls.budget = remaining(calls.budget, outcomes.iter());
            let target = run.again();
            let batch = execute(target, extra, &calls, progress)?;
            let offset = outcomes.len();
            outcomes.extend(batch.outcomes);
            interrupted |= batch.interrupted;
            record_added(planned, &added, round, offset);
        }
        round = match round {
            Round::Confirm if sampling.adaptive => Round::Adaptive,
            Round::Adaptive if !added.is_empty() => Round::Adaptive,
            Round::Confirm | Round::Adaptive => break,
        };
    }
    Ok(Sampled {
        interrupted,
        next_wave: None,
    })
}

/// A new job of a round: the candidate, suite, case and side it samples (indices into the
/// plan), and its index among the round's jobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Added {
    candidate: usize,
    suite: usize,
    case: usize,
    side: Side,
    job: usize,
}

/// A round's new jobs, and what each samples.
pub(crate) struct Drawn {
    pub(crate) jobs: Jobs,
    pub(crate) added: Vec<Added>,
}

/// The samples one round draws, for every suite of every candidate.
fn round_draws(
    planned: &[PlannedCandidate<'_>],
    outcomes: &[Outcome],
    round: Round,
    sampling: Sampling,
) -> Vec<Draw> {
    let Sampling {
        confirm,
        max_samples,
        ..
    } = sampling;
    let mut draws = Vec::new();
    for (c, candidate) in planned.iter().enumerate() {
        for (s, p) in candidate.suites.iter().enumerate() {
            let targets = sampling_round(p, candidate, outcomes, round, sampling);
            for (case, target) in targets {
                let samples = [
                    (Side::Baseline, &p.baseline[case]),
                    (Side::Candidate, &p.candidate[case]),
                ]
                .map(|(side, indices)| {
                    let have = indices.len() as u32;
                    // A control run's second side takes sample numbers after the first's.
                    let offset = if side == Side::Candidate && candidate.spec.control {
                        p.samples.max(max_samples) + confirm
                    } else {
                        0
                    };
                    offset + have..offset + target.max(have)
                });
                draws.push(Draw {
                    candidate: c,
                    suite: s,
                    case,
                    samples,
                });
            }
        }
    }
    draws
}

/// The jobs of `draws`, each version's samples paired for the pairwise judges.
pub(crate) fn draw_jobs(
    planned: &[PlannedCandidate<'_>],
    library: &Arc<JudgeLibrary>,
    draws: &[Draw],
) -> Result<Drawn> {
    let mut extra = Jobs::judged_by(library.clone());
    let mut added: Vec<Added> = Vec::new();
    for draw in draws {
        let candidate = &planned[draw.candidate];
        let p = &candidate.suites[draw.suite];
        let case = &p.suite.cases[draw.case];
        let mut new_jobs: [Vec<usize>; 2] = Default::default();
        for (side, prepared) in [
            (Side::Baseline, &candidate.baseline),
            (Side::Candidate, &candidate.candidate),
        ] {
            let at = usize::from(side == Side::Candidate);
            let samples = draw.samples[at].clone();
            let new = plan_case(p.suite, case, prepared, &p.provider, &mut extra, samples)?;
            added.extend(new.iter().map(|&job| Added {
                candidate: draw.candidate,
                suite: draw.suite,
                case: draw.case,
                side,
                job,
            }));
            new_jobs[at] = new;
        }
        let tier = candidate.candidate.prompt.metadata.governance.risk_tier;
        let [base, cand] = new_jobs;
        for (baseline, candidate) in base.into_iter().zip(cand) {
            extra.pair(case, tier, baseline, candidate);
        }
    }
    Ok(Drawn { jobs: extra, added })
}

/// Files each sample a round `added` under its case and side (its outcome at `offset` plus
/// its job), and counts it as the round's extra call.
fn record_added(
    planned: &mut [PlannedCandidate<'_>],
    added: &[Added],
    round: Round,
    offset: usize,
) {
    for &Added {
        candidate,
        suite,
        case,
        side,
        job,
    } in added
    {
        let suite = &mut planned[candidate].suites[suite];
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

/// What a round of extra samples is doing, for the progress display: `confirming 6
/// discordant cases (24 calls)`.
fn phase_of(round: Round, adaptive_round: u32, added: &[Added], calls: usize) -> String {
    let mut cases: Vec<(usize, usize, usize)> = added
        .iter()
        .map(|a| (a.candidate, a.suite, a.case))
        .collect();
    cases.sort_unstable();
    cases.dedup();
    let cases = crate::report::plural(cases.len(), "case");
    let calls = crate::report::plural(calls, "call");
    match round {
        Round::Confirm => format!("confirming {cases} whose versions disagree ({calls})"),
        Round::Adaptive => {
            format!(
                "sampling {cases} the gate cannot decide yet again, round {adaptive_round} ({calls})"
            )
        }
    }
}
