//! Waves: `--adaptive` across shards. An adaptive round samples where a whole suite's
//! statistics say it would decide, which no shard sees; so the shards of the first wave draw
//! the first samples and confirm their own cases, `merge` computes the next round from every
//! shard's calls and, when the logs cannot answer it, writes it as the next wave's plan
//! ([`WAVE_FILE`], exit 15). Each shard runs its part of that wave (`check --shard I/N --wave
//! FILE`), and the next merge takes the shards of every wave so far.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::CheckOptions;
use super::plan::PlannedCandidate;
use super::shard::Shard;
use crate::errors::{Error, Result};

/// The file `merge` writes the next wave's plan to, in its run directory.
pub const WAVE_FILE: &str = "wave.json";

/// The version of the wave plan's format.
const WAVE_FORMAT: u32 = 1;

/// The plan of one wave of a sharded adaptive check: the samples each case draws.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WavePlan {
    /// The format's version.
    pub format_version: u32,
    /// The fingerprint of the check's plan, every shard's.
    pub plan: String,
    /// How many shards the check has.
    pub shards: u32,
    /// The wave's number: 2 is the first adaptive round (wave 1 draws the first samples and
    /// confirms them).
    pub wave: u32,
    /// The check's options, as its first wave's shards stored them: a wave's shard plans
    /// with them, whatever else its command line says.
    pub check: serde_json::Value,
    /// The samples to draw, case by case.
    pub samples: Vec<WaveSamples>,
}

/// The samples one case draws in a wave: sample numbers, half-open, on each version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WaveSamples {
    /// The comparison (`prompt: baseline → candidate`, as the report labels it).
    pub comparison: String,
    /// The suite.
    pub suite: String,
    /// The case's id.
    pub case: String,
    /// The baseline's new sample numbers.
    pub baseline: Range<u32>,
    /// The candidate's new sample numbers.
    pub candidate: Range<u32>,
}

impl WavePlan {
    /// The plan of wave `wave` of the check of `plan` on `shards` shards.
    pub(super) fn new(
        (plan, shards, check): (String, u32, serde_json::Value),
        wave: u32,
        samples: Vec<WaveSamples>,
    ) -> Self {
        Self {
            format_version: WAVE_FORMAT,
            plan,
            shards,
            wave,
            check,
            samples,
        }
    }

    /// The options a shard of this wave runs with: the check's, as its first wave ran it
    /// (what it compares, on which suites, how it samples, on which provider), and this
    /// invocation's shard, wave and call settings (cache, budget, batch, environment).
    pub(super) fn options_for(&self, invoked: &CheckOptions) -> Result<CheckOptions> {
        let stored: CheckOptions = serde_json::from_value(self.check.clone()).map_err(|e| {
            Error::Usage(format!(
                "the wave plan's check options were written by another version of promptgate: {e}"
            ))
        })?;
        let mut calls = invoked.calls.clone();
        calls.provider = stored.calls.provider.clone();
        Ok(CheckOptions {
            index_file: invoked.index_file.clone(),
            dry_run: invoked.dry_run,
            shard: invoked.shard,
            wave: invoked.wave.clone(),
            calls,
            ..stored
        })
    }

    /// Reads a wave plan that `merge` wrote; a file that is not one is an error naming it.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let plan: Self = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "{}:{}:{}: not a wave plan ({e}); pass the {WAVE_FILE} that `promptgate merge` wrote",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        if plan.format_version != WAVE_FORMAT {
            return Err(Error::Usage(format!(
                "{}: a wave plan of format {} (this promptgate reads {WAVE_FORMAT}); merge and run the shards with one version of promptgate",
                path.display(),
                plan.format_version
            )));
        }
        Ok(plan)
    }

    /// Writes the plan into `dir`; returns the file's path.
    pub(super) fn write(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(WAVE_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(Error::encode("the wave plan"))?;
        crate::files::write_atomic(&path, &json)?;
        Ok(path)
    }

    /// Refuses a plan that is not of this shard's check, or asks for more samples per case than
    /// the check's cap: a wave file is an artifact passed between jobs, and a wrong or altered
    /// one must not spend.
    pub(super) fn check_for(&self, plan: &str, shard: Shard, cap: u32) -> Result<()> {
        if self.plan != plan || self.shards != shard.total {
            return Err(Error::Usage(format!(
                "the wave plan is of plan {} with {} shards, and this shard ({}/{}) plans {plan}: run every wave on the commit, with the options, of the first",
                self.plan, self.shards, shard.index, shard.total
            )));
        }
        if self.wave < 2 {
            return Err(Error::Usage(format!(
                "a wave plan's wave is 2 or more, not {}",
                self.wave
            )));
        }
        for s in &self.samples {
            for range in [&s.baseline, &s.candidate] {
                if range.end < range.start || range.end - range.start > cap {
                    return Err(Error::Usage(format!(
                        "the wave plan asks case `{}` of suite `{}` for samples {}..{}: at most {cap} per version at a time",
                        s.case, s.suite, range.start, range.end
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The samples one round draws of one case: the candidate, the suite and the case (indices
/// into the plan) and the new sample numbers of each version.
#[derive(Debug, Clone)]
pub(super) struct Draw {
    pub(super) candidate: usize,
    pub(super) suite: usize,
    pub(super) case: usize,
    /// The baseline's and the candidate's new sample numbers.
    pub(super) samples: [Range<u32>; 2],
}

/// A round's draws as a wave plan's samples, by name.
pub(super) fn named(planned: &[PlannedCandidate<'_>], draws: &[Draw]) -> Vec<WaveSamples> {
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
pub(super) fn draws_of(
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
