//! A round's draws: the samples each case draws, by index into the plan, as a wave plan names
//! them, and the part of a wave plan that falls to a shard.
//!
//! Waves are `--adaptive` across shards. An adaptive round samples where a whole suite's
//! statistics say it would decide, which no shard sees; so the shards of the first wave draw
//! the first samples and confirm their own cases, `merge` computes the next round from every
//! shard's calls and, when the logs cannot answer it, writes it as the next wave's plan
//! (`wave.json`, exit 15). Each shard runs its part of that wave (`check --shard I/N --wave
//! FILE`), and the next merge takes the shards of every wave so far.

use std::ops::Range;

use super::plan::PlannedCandidate;
use super::request::{Shard, WavePlan, WaveSamples};
use crate::errors::{Error, Result};

/// The samples one round draws of one case: the candidate, the suite and the case (indices
/// into the plan) and the new sample numbers of each version.
#[derive(Debug, Clone)]
pub(crate) struct Draw {
    pub(crate) candidate: usize,
    pub(crate) suite: usize,
    pub(crate) case: usize,
    /// The baseline's and the candidate's new sample numbers.
    pub(crate) samples: [Range<u32>; 2],
}

/// A round's draws as a wave plan's samples, by name.
pub(crate) fn named(planned: &[PlannedCandidate<'_>], draws: &[Draw]) -> Vec<WaveSamples> {
    draws
        .iter()
        .map(|d| {
            let candidate = &planned[d.candidate];
            let suite = candidate.suites[d.suite].suite;
            let [baseline, cand] = d.samples.clone();
            WaveSamples {
                comparison: candidate.spec.label.clone(),
                suite: suite.name.clone(),
                case: suite.cases[d.case].id.clone(),
                baseline,
                candidate: cand,
            }
        })
        .collect()
}

/// The draws of `plan` that fall to `shard` (whose cases `planned` holds). A sample of a case
/// this shard holds but the plan lacks is an error: the plan is not this checkout's.
pub(crate) fn draws_of(
    planned: &[PlannedCandidate<'_>],
    plan: &WavePlan,
    shard: Shard,
) -> Result<Vec<Draw>> {
    let mut draws = Vec::new();
    for s in &plan.samples {
        if !shard.holds(&s.suite, &s.case) {
            continue;
        }
        let found = planned.iter().enumerate().find_map(|(c, candidate)| {
            if candidate.spec.label != s.comparison {
                return None;
            }
            candidate
                .suites
                .iter()
                .enumerate()
                .filter(|(_, p)| p.suite.name == s.suite)
                .find_map(|(i, p)| {
                    let case = p.suite.cases.iter().position(|k| k.id == s.case)?;
                    Some((c, i, case))
                })
        });
        let Some((candidate, suite, case)) = found else {
            return Err(Error::Usage(format!(
                "the wave plan names case `{}` of suite `{}` in `{}`, which this check does not plan",
                s.case, s.suite, s.comparison
            )));
        };
        draws.push(Draw {
            candidate,
            suite,
            case,
            samples: [s.baseline.clone(), s.candidate.clone()],
        });
    }
    Ok(draws)
}
