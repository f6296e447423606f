//! A wave of a sharded `--adaptive` check: the plan `merge` writes of the samples each case
//! draws next, passed between CI jobs as a file.

use std::ops::Range;
use std::path::{Path, PathBuf};

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
    pub(crate) fn new(
        plan: String,
        shards: u32,
        check: serde_json::Value,
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
    pub(crate) fn write(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(WAVE_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(Error::encode("the wave plan"))?;
        crate::files::write_atomic(&path, &json)?;
        Ok(path)
    }

    /// Refuses a plan that is not of this shard's check, names a case twice, or asks for more
    /// samples per case than the check's cap: a wave file is an artifact passed between jobs, and a wrong or altered
    /// one must not spend.
    pub(crate) fn check_for(&self, plan: &str, shard: Shard, cap: u32) -> Result<()> {
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
        let mut seen = std::collections::HashSet::new();
        for s in &self.samples {
            if !seen.insert((&s.comparison, &s.suite, &s.case)) {
                return Err(Error::Usage(format!(
                    "the wave plan names case `{}` of suite `{}` ({}) more than once: a plan draws each case's samples in one entry, so this one was altered; merge the shards again to write it",
                    s.case, s.suite, s.comparison
                )));
            }
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
