//! What a check is asked, as its run's manifest stores it: the request every stage reads.
//! `--resume`, `merge` and a wave's shards read it back, so its shape is the stored format
//! (`record::FORMAT_VERSION`): a field is added with a default, never renamed.

mod calls;
mod shard;
mod wave;

pub use calls::{CallOptions, ErrorBudget};
pub use shard::Shard;
pub use wave::{WAVE_FILE, WavePlan, WaveSamples};

use std::path::PathBuf;

use crate::errors::{Error, Result};

/// The most samples per case and version `--adaptive` draws unless told otherwise.
const DEFAULT_MAX_SAMPLES: u32 = 10;

/// What `promptgate check` was asked to do. Stored in the run's manifest (without the
/// environment) so `--resume` can plan the same check again.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CheckOptions {
    /// Prompts to check; empty means the prompts that changed (or all, with `all`).
    pub prompts: Vec<String>,
    /// The index file `staged` reads (a hook's `GIT_INDEX_FILE`); default the repository's.
    #[serde(skip)]
    pub index_file: Option<PathBuf>,
    /// Check every prompt, changed or not.
    pub all: bool,
    /// Only these suites (by name); empty means every suite targeting the prompts.
    pub suites: Vec<String>,
    /// The baseline revision; default: the prompt's `production` label, else `HEAD`.
    pub baseline: Option<String>,
    /// Candidate revisions or variants; default: the working tree.
    pub candidates: Vec<String>,
    /// Plan and estimate the calls, tokens and cost, but make no call.
    #[serde(skip)]
    pub dry_run: bool,
    /// Finish an interrupted or killed check: `Some("")` for the latest one, or a run id. Its
    /// stored options replace the others; no completed call is made again.
    #[serde(skip)]
    pub resume: Option<String>,
    /// Draw more samples where they decide an inconclusive suite (`--adaptive`).
    #[serde(default)]
    pub adaptive: bool,
    /// The most samples per case and version `--adaptive` draws (default 10).
    #[serde(default)]
    pub max_samples: Option<u32>,
    /// Samples per version drawn again for each discordant case before the verdict (default:
    /// the config's `confirm`, else 2).
    #[serde(default)]
    pub confirm: Option<u32>,
    /// Run the baseline against itself (A/A) to measure the noise floor.
    #[serde(default)]
    pub control: bool,
    /// Decide from this check's own samples only: read no remembered noise and record none
    /// (`--fresh-noise`). A merge of shards always does: its shards ran elsewhere.
    #[serde(skip)]
    pub fresh_noise: bool,
    /// Run only this shard's cases, into a run directory that gates nothing (`merge` gates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// With `shard`, draw only this shard's samples of a wave that `merge` planned (an
    /// adaptive round across shards), with no verdict of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<WavePlan>,
    /// A shadow run: the prompt's `shadow` suite on a sample of this production traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficSample>,
    /// The part of the suites to check (`--case`, `--filter`, `--limit`, `--samples`).
    #[serde(default, skip_serializing_if = "crate::suite::CaseFilter::is_empty")]
    pub cases: crate::suite::CaseFilter,
    /// How to make the calls.
    pub calls: CallOptions,
}

/// The production traffic a shadow run samples its cases from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrafficSample {
    /// The traffic files (JSONL records or OTLP JSON traces).
    pub files: Vec<PathBuf>,
    /// How many records to sample.
    pub size: usize,
    /// The sample's seed: the same seed, files and size draw the same records.
    pub seed: u64,
    /// A variable whose values each get their share of the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratify: Option<String>,
}

impl CheckOptions {
    /// The most samples per case and version `--adaptive` draws.
    pub(crate) fn max_samples(&self) -> u32 {
        self.max_samples.unwrap_or(DEFAULT_MAX_SAMPLES)
    }

    /// The options a shard of `wave` runs with: the check's, as its first wave ran it (what it
    /// compares, on which suites, how it samples, on which provider), and these options' shard,
    /// wave and call settings (cache, budget, batch, environment).
    pub(crate) fn for_wave(&self, wave: &WavePlan) -> Result<CheckOptions> {
        let stored: CheckOptions = serde_json::from_value(wave.check.clone()).map_err(|e| {
            Error::Usage(format!(
                "the wave plan's check options were written by another version of promptgate: {e}"
            ))
        })?;
        let mut calls = self.calls.clone();
        calls.provider = stored.calls.provider.clone();
        Ok(CheckOptions {
            index_file: self.index_file.clone(),
            dry_run: self.dry_run,
            shard: self.shard,
            wave: self.wave.clone(),
            calls,
            ..stored
        })
    }
}
