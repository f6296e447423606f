//! Making a run's calls: the options shared by `check` and `run`, the error budget, and the
//! loop that answers from the cache, calls the rest and logs each result as it finishes.

use std::path::{Path, PathBuf};

use super::plan::Jobs;
use super::{Env, Progress};
use crate::cache::Cache;
use crate::errors::{Error, Result};
use crate::ids::RunId;
use crate::record::{CallRecord, FORMAT_VERSION, Manifest, RunDir};
use crate::runner::{self, Outcome, RunnerOptions};

/// How a run makes its provider calls; shared by `check` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Run every suite on this provider instead of its own.
    pub provider: Option<String>,
    /// Calls in flight at once.
    pub concurrency: Option<usize>,
    /// Neither read nor write the response cache.
    pub no_cache: bool,
    /// How many cases may fail (their calls erroring after retries) before the run counts as
    /// incomplete.
    pub max_errors: ErrorBudget,
    /// Environment variables (for API keys named in the config).
    pub env: Env,
    /// The command line, for the manifest.
    pub command: String,
}

/// How many errored cases a run tolerates before it is incomplete (exit 12).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ErrorBudget {
    /// At most this many cases.
    Count(usize),
    /// At most this fraction of the cases, in [0, 1].
    Fraction(f64),
}

impl Default for ErrorBudget {
    /// No error is tolerated: a gate that could not see every case is not a complete gate.
    fn default() -> Self {
        Self::Count(0)
    }
}

impl ErrorBudget {
    /// Whether `errors` out of `cases` stays within the budget.
    pub fn allows(self, errors: usize, cases: usize) -> bool {
        match self {
            Self::Count(n) => errors <= n,
            Self::Fraction(f) => cases == 0 || errors as f64 <= f * cases as f64 + 1e-9,
        }
    }
}

impl std::str::FromStr for ErrorBudget {
    type Err = String;

    /// `3` is a count; `0.05` (or `5%`) is a fraction of the cases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let fraction = |f: f64| {
            if (0.0..=1.0).contains(&f) {
                Ok(Self::Fraction(f))
            } else {
                Err(format!("`{s}`: a fraction must be between 0 and 1"))
            }
        };
        if let Some(percent) = s.strip_suffix('%') {
            let p: f64 = percent
                .parse()
                .map_err(|_| format!("`{s}` is not a percentage"))?;
            return fraction(p / 100.0);
        }
        if s.contains('.') {
            return fraction(s.parse().map_err(|_| format!("`{s}` is not a number"))?);
        }
        s.parse().map(Self::Count).map_err(|_| {
            format!("`{s}`: expected a count (3), a fraction (0.05) or a percentage (5%)")
        })
    }
}

/// Creates the run directory, answers what it can from the response cache, makes the other
/// calls, and logs each one as it finishes.
pub(super) fn execute(
    root: &Path,
    run_id: &RunId,
    started_at: &str,
    command: &str,
    jobs: Jobs,
    (concurrency, use_cache): (Option<usize>, bool),
    progress: &mut dyn FnMut(Progress),
) -> Result<(Vec<Outcome>, PathBuf)> {
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        run_id: run_id.clone(),
        started_at: started_at.to_string(),
        command: command.to_string(),
        calls: jobs.jobs.len(),
    };
    let mut run_dir = RunDir::create(root, &manifest)?;
    let cache = use_cache.then(|| Cache::open(root));
    let total = jobs.jobs.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    let mut tally = Tally::default();
    let mut to_run = Vec::new();
    let mut origin = Vec::new();
    let mut meta = Vec::with_capacity(total);
    progress(Progress::Started { calls: total });
    for (index, (job, key)) in jobs.jobs.into_iter().zip(jobs.keys).enumerate() {
        meta.push((
            job.provider.fingerprint().to_string(),
            key,
            job.request.params,
            job.request.sample,
        ));
        let cacheable = job.provider.cacheable();
        let hit = cache
            .as_ref()
            .filter(|_| cacheable)
            .and_then(|c| c.get(&meta[index].1));
        match hit {
            Some(entry) => {
                let outcome = Outcome {
                    result: Ok(entry.completion),
                    latency_ms: entry.latency_ms,
                    attempts: 0,
                    cost: entry.cost,
                    cached: true,
                };
                tally.record(&mut run_dir, index, &meta[index], &outcome, progress);
                outcomes[index] = Some(outcome);
            }
            None => {
                origin.push((index, cacheable));
                to_run.push(job);
            }
        }
    }
    let options = RunnerOptions {
        concurrency: concurrency.unwrap_or(16),
        ..RunnerOptions::default()
    };
    let ran = runner::run(to_run, options, |position, outcome| {
        let (index, cacheable) = origin[position];
        if let (Some(cache), true, Ok(completion)) = (&cache, cacheable, &outcome.result) {
            if let Err(e) = cache.put(&meta[index].1, completion, outcome.latency_ms, outcome.cost)
            {
                tally.write_error.get_or_insert(e);
            }
        }
        tally.record(&mut run_dir, index, &meta[index], outcome, progress);
    })?;
    for ((index, _), outcome) in origin.into_iter().zip(ran) {
        outcomes[index] = Some(outcome);
    }
    if let Some(e) = tally.write_error {
        return Err(e);
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| Error::Internal("a planned call has no outcome".into())))
        .collect::<Result<Vec<_>>>()?;
    Ok((outcomes, run_dir.finish()?))
}

/// Running counts for progress, and the first failure to write the results log.
#[derive(Default)]
struct Tally {
    done: usize,
    cached: usize,
    errors: usize,
    tokens: u64,
    write_error: Option<Error>,
}

impl Tally {
    fn record(
        &mut self,
        run_dir: &mut RunDir,
        index: usize,
        (provider, key, params, sample): &(String, String, crate::config::EffectiveParams, u32),
        outcome: &Outcome,
        progress: &mut dyn FnMut(Progress),
    ) {
        self.done += 1;
        self.cached += usize::from(outcome.cached);
        match &outcome.result {
            Ok(c) => self.tokens += c.usage.input_tokens + c.usage.output_tokens,
            Err(_) => self.errors += 1,
        }
        let record = CallRecord {
            call: index,
            provider: provider.clone(),
            key: key.clone(),
            params: *params,
            sample: *sample,
            outcome: outcome.clone(),
        };
        if let Err(e) = run_dir.append(&record) {
            self.write_error.get_or_insert(e);
        }
        progress(Progress::Finished {
            done: self.done,
            cached: self.cached,
            errors: self.errors,
            tokens: self.tokens,
        });
    }
}

/// What a provider's share of a run would spend (`check --dry-run`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// The provider's fingerprint.
    pub provider: String,
    /// Calls the run would make.
    pub calls: usize,
    /// Requests the response cache would answer.
    pub cached: usize,
    /// Input tokens of the calls, estimated from the rendered messages (words).
    pub input_tokens: u64,
    /// Output tokens at most (each call's `max_tokens`).
    pub max_output_tokens: u64,
    /// The most the calls can cost; `None` when the provider's price is unknown.
    pub max_cost: Option<f64>,
}

/// Estimates the calls, tokens and cost of `jobs`, per provider, counting cache hits as free.
pub(super) fn estimate(root: &Path, jobs: &Jobs, use_cache: bool) -> Vec<Estimate> {
    let cache = use_cache.then(|| Cache::open(root));
    let mut estimates: Vec<Estimate> = Vec::new();
    for (job, key) in jobs.jobs.iter().zip(&jobs.keys) {
        let fingerprint = job.provider.fingerprint();
        let index = match estimates.iter().position(|e| e.provider == fingerprint) {
            Some(i) => i,
            None => {
                estimates.push(Estimate {
                    provider: fingerprint.to_string(),
                    calls: 0,
                    cached: 0,
                    input_tokens: 0,
                    max_output_tokens: 0,
                    max_cost: Some(0.0),
                });
                estimates.len() - 1
            }
        };
        let e = &mut estimates[index];
        if job.provider.cacheable() && cache.as_ref().is_some_and(|c| c.get(key).is_some()) {
            e.cached += 1;
            continue;
        }
        let usage = crate::provider::Usage {
            input_tokens: job
                .request
                .messages
                .iter()
                .map(|m| crate::provider::approximate_tokens(&m.text_content()))
                .sum(),
            output_tokens: u64::from(job.request.params.max_tokens),
        };
        e.calls += 1;
        e.input_tokens += usage.input_tokens;
        e.max_output_tokens += usage.output_tokens;
        e.max_cost = e
            .max_cost
            .zip(crate::provider::cost(job.provider.price(), usage))
            .map(|(a, b)| a + b);
    }
    estimates
}
