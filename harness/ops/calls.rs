//! Making a run's calls: the options shared by `check` and `run`, the error budget, and the
//! loop that answers from the cache, calls the rest and logs each result as it finishes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::Jobs;
use super::{Env, Progress};
use crate::cache::Cache;
use crate::errors::{Error, Result};
use crate::record::{CallRecord, Manifest, RunDir};
use crate::runner::{self, BudgetLimits, Event, Outcome, RunnerOptions};

/// How a run makes its provider calls; shared by `check` and `run`. Stored in the run's
/// manifest (without the environment) so that `--resume` can plan the same run again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallOptions {
    /// Run every suite on this provider instead of its own (`replay`: the recorded responses
    /// in `fixtures/cassettes/`).
    pub provider: Option<String>,
    /// Calls in flight at once.
    pub concurrency: Option<usize>,
    /// Neither read nor write the response cache.
    pub no_cache: bool,
    /// How many cases may fail (their calls erroring after retries) before the run counts as
    /// incomplete.
    pub max_errors: ErrorBudget,
    /// Caps on calls, tokens and cost.
    pub budget: BudgetLimits,
    /// Write the responses the run used to `fixtures/cassettes/`.
    pub record: bool,
    /// Environment variables (for API keys named in the config); never stored.
    #[serde(skip)]
    pub env: Env,
    /// The command line, for the manifest.
    #[serde(skip)]
    pub command: String,
    /// Handle Ctrl-C in two stages (the CLI sets this; library callers keep their signals).
    #[serde(skip)]
    pub handle_interrupts: bool,
    /// Answer every call from the run's own results log, and make, read and write nothing
    /// else: re-deriving a stored run's verdict (`promote --from-report`).
    #[serde(skip)]
    pub from_log: bool,
}

impl CallOptions {
    /// Sets what only the caller knows: its environment (for API keys) and its command line
    /// (for the manifest).
    pub fn invoked(&mut self, env: Env, command: String) {
        self.env = env;
        self.command = command;
    }

    /// These options with what the command line left unset taken from the project's config
    /// (its `concurrency:`).
    pub(super) fn over_config(&self, config: &crate::config::Config) -> Self {
        Self {
            concurrency: self.concurrency.or(config.concurrency),
            ..self.clone()
        }
    }
}

/// How many errored cases a run tolerates before it is incomplete (exit 12).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// Where a run's calls are logged, and what an interrupted earlier attempt already logged.
pub(super) struct RunTarget<'a> {
    /// The project root.
    pub(super) root: &'a Path,
    /// The manifest (written when the run is new).
    pub(super) manifest: Manifest,
    /// Outcomes a killed or interrupted attempt of this run already logged, by request key.
    pub(super) resumed: HashMap<String, Outcome>,
}

impl<'a> RunTarget<'a> {
    /// A new run: its manifest records `resume` (the command's options) for `--resume`.
    pub(super) fn new(
        root: &'a Path,
        run_id: &crate::ids::RunId,
        started_at: &str,
        options: &CallOptions,
        jobs: &Jobs,
        resume: Option<serde_json::Value>,
    ) -> Self {
        Self {
            root,
            manifest: Manifest {
                format_version: crate::record::FORMAT_VERSION,
                run_id: run_id.clone(),
                started_at: started_at.to_string(),
                command: options.command.clone(),
                calls: jobs.jobs.len(),
                resume,
            },
            resumed: HashMap::new(),
        }
    }
}

/// What the calls came to.
pub(super) struct Executed {
    /// One outcome per job, in job order.
    pub(super) outcomes: Vec<Outcome>,
    /// The run directory.
    pub(super) run_dir: PathBuf,
    /// Whether an interrupt stopped the run early.
    pub(super) interrupted: bool,
}

/// Creates (or reopens) the run directory, answers what it can from an earlier attempt of the
/// run and from the response cache, makes the other calls within the budget, and logs each one
/// as it finishes. Calls the budget or an interrupt stopped come back skipped and unlogged.
pub(super) fn execute(
    target: RunTarget<'_>,
    jobs: Jobs,
    options: &CallOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Executed> {
    if options.from_log {
        return replay_log(target, jobs, progress);
    }
    let root = target.root;
    let run_dir = if target.resumed.is_empty() && !RunDir::exists(root, &target.manifest.run_id) {
        RunDir::create(root, &target.manifest)?
    } else {
        RunDir::reopen(root, &target.manifest.run_id)?
    };
    progress(Progress::Started {
        calls: jobs.jobs.len(),
    });
    let Jobs {
        jobs: planned,
        keys,
        labels,
        providers,
        ..
    } = jobs;
    let requests: Vec<crate::provider::Request> = if options.record {
        planned.iter().map(|j| j.request.clone()).collect()
    } else {
        Vec::new()
    };
    let mut ledger = Ledger {
        run_dir,
        cache: (!options.no_cache).then(|| Cache::open(root)),
        tally: Tally::default(),
        meta: Vec::with_capacity(planned.len()),
        outcomes: vec![None; planned.len()],
    };
    let pending = ledger.answer_known(planned, keys, &target.resumed, progress);
    let interrupted = ledger.call(pending, options, progress)?;
    let Ledger {
        run_dir,
        tally,
        outcomes,
        ..
    } = ledger;
    if let Some(e) = tally.write_error {
        return Err(e);
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| Error::Internal("a planned call has no outcome".into())))
        .collect::<Result<Vec<_>>>()?;
    if options.record {
        let entries = providers
            .iter()
            .zip(&labels)
            .zip(&requests)
            .zip(&outcomes)
            .filter_map(|(((provider, case), request), outcome)| {
                let completion = outcome.result.as_ref().ok()?.clone();
                Some(crate::provider::cassette::Entry::new(
                    provider.clone(),
                    case.clone(),
                    request.clone(),
                    completion,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        crate::provider::cassette::record(root, entries)?;
    }
    Ok(Executed {
        outcomes,
        run_dir: run_dir.finish()?,
        interrupted,
    })
}

/// What the results log records of a call besides its outcome: the provider's fingerprint,
/// the request key, the effective parameters and the sample index.
type CallMeta = (String, String, crate::config::EffectiveParams, u32);

/// Where the outcomes of one [`execute`] go as they arrive: the run's results log, the response
/// cache, the progress counts, and the outcome of each job.
struct Ledger {
    run_dir: RunDir,
    cache: Option<Cache>,
    tally: Tally,
    meta: Vec<CallMeta>,
    outcomes: Vec<Option<Outcome>>,
}

/// The jobs left to call, with each one's index in the plan and whether it may be cached.
struct Pending {
    jobs: Vec<runner::Job>,
    origin: Vec<(usize, bool)>,
}

impl Ledger {
    /// Answers the jobs an earlier attempt of the run logged and those the cache holds; returns
    /// the others.
    fn answer_known(
        &mut self,
        planned: Vec<runner::Job>,
        keys: Vec<String>,
        resumed: &HashMap<String, Outcome>,
        progress: &mut dyn FnMut(Progress),
    ) -> Pending {
        let mut pending = Pending {
            jobs: Vec::new(),
            origin: Vec::new(),
        };
        for (index, (job, key)) in planned.into_iter().zip(keys).enumerate() {
            self.meta.push((
                job.provider.fingerprint().to_string(),
                key,
                job.request.params,
                job.request.sample,
            ));
            if let Some(outcome) = resumed.get(&self.meta[index].1) {
                self.tally.count(outcome, progress);
                self.outcomes[index] = Some(outcome.clone());
                continue;
            }
            let cacheable = job.provider.cacheable();
            let hit = self
                .cache
                .as_ref()
                .filter(|_| cacheable)
                .and_then(|c| c.get(&self.meta[index].1));
            match hit {
                Some(entry) => {
                    let outcome = Outcome {
                        result: Ok(entry.completion),
                        latency_ms: entry.latency_ms,
                        attempts: 0,
                        cost: entry.cost,
                        cached: true,
                        skipped: false,
                    };
                    self.log(index, &outcome, progress);
                    self.outcomes[index] = Some(outcome);
                }
                None => {
                    pending.origin.push((index, cacheable));
                    pending.jobs.push(job);
                }
            }
        }
        pending
    }

    /// Makes the pending calls, logging and caching each as it finishes. Returns whether an
    /// interrupt stopped the run early.
    fn call(
        &mut self,
        pending: Pending,
        options: &CallOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<bool> {
        let runner_options = RunnerOptions {
            concurrency: options
                .concurrency
                .unwrap_or(crate::config::DEFAULT_CONCURRENCY),
            budget: options.budget,
            interrupt_grace: options.handle_interrupts.then_some(INTERRUPT_GRACE),
        };
        let Pending { jobs, origin } = pending;
        let mut interrupted = false;
        let ran = runner::run(jobs, runner_options, |event| {
            match event {
            Event::Finished {
                index: position,
                outcome,
            } => {
                let (index, cacheable) = origin[position];
                self.finished(index, cacheable, outcome, progress);
            }
            Event::Retrying => {
                self.tally.retries += 1;
                progress(Progress::Calls(self.tally.counts()));
            }
            Event::Stopping { grace } => {
                interrupted = true;
                progress(Progress::Note(format!(
                    "interrupted: no new calls; waiting up to {} s for the calls in flight (Ctrl-C again to abort)",
                    grace.as_secs()
                )));
            }
            Event::Aborted => progress(Progress::Note(
                "aborted the calls in flight; every finished call is in the results log (resume with --resume)".into(),
            )),
        }
        })?;
        for ((index, _), outcome) in origin.into_iter().zip(ran) {
            self.outcomes[index] = Some(outcome);
        }
        Ok(interrupted)
    }

    /// A call finished: cache its completion, log it, count it. A skipped call is only counted.
    fn finished(
        &mut self,
        index: usize,
        cacheable: bool,
        outcome: &Outcome,
        progress: &mut dyn FnMut(Progress),
    ) {
        if outcome.skipped {
            self.tally.count(outcome, progress);
            return;
        }
        if let (Some(cache), true, Ok(completion)) = (&self.cache, cacheable, &outcome.result) {
            if let Err(e) = cache.put(
                &self.meta[index].1,
                completion,
                outcome.latency_ms,
                outcome.cost,
            ) {
                self.tally.write_error.get_or_insert(e);
            }
        }
        self.log(index, outcome, progress);
    }

    /// Appends a finished call to the results log and counts it.
    fn log(&mut self, index: usize, outcome: &Outcome, progress: &mut dyn FnMut(Progress)) {
        let (provider, key, params, sample) = &self.meta[index];
        let record = CallRecord {
            call: index,
            provider: provider.clone(),
            key: key.clone(),
            params: *params,
            sample: *sample,
            outcome: outcome.clone(),
        };
        if let Err(e) = self.run_dir.append(&record) {
            self.tally.write_error.get_or_insert(e);
        }
        self.tally.count(outcome, progress);
    }
}

/// The outcomes of `jobs` as the run's results log has them, with nothing called, cached or
/// written; a job the log lacks means the run cannot be re-derived as planned now.
fn replay_log(
    target: RunTarget<'_>,
    jobs: Jobs,
    progress: &mut dyn FnMut(Progress),
) -> Result<Executed> {
    let mut tally = Tally::default();
    progress(Progress::Started {
        calls: jobs.jobs.len(),
    });
    let mut outcomes = Vec::with_capacity(jobs.keys.len());
    let mut missing = 0;
    for key in &jobs.keys {
        match target.resumed.get(key) {
            Some(outcome) => {
                tally.count(outcome, progress);
                outcomes.push(outcome.clone());
            }
            None => missing += 1,
        }
    }
    let run_id = &target.manifest.run_id;
    if missing > 0 {
        return Err(Error::Usage(format!(
            "run {run_id}'s results log lacks {missing} of the {} calls the check needs now (the prompts, suites or config changed since it ran), so its verdict cannot be re-derived; check again instead",
            jobs.keys.len()
        )));
    }
    Ok(Executed {
        outcomes,
        run_dir: RunDir::path_of(target.root, run_id),
        interrupted: false,
    })
}

/// How long calls in flight may take to finish after a first Ctrl-C.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Running counts for progress, and the first failure to write the results log.
#[derive(Default)]
struct Tally {
    done: usize,
    cached: usize,
    errors: usize,
    skipped: usize,
    retries: usize,
    tokens: u64,
    cost: Option<f64>,
    unknown_cost: bool,
    write_error: Option<Error>,
}

impl Tally {
    /// Counts a finished (or skipped, or resumed) job and reports progress.
    fn count(&mut self, outcome: &Outcome, progress: &mut dyn FnMut(Progress)) {
        self.done += 1;
        self.cached += usize::from(outcome.cached);
        self.retries += outcome.attempts.saturating_sub(1) as usize;
        match &outcome.result {
            Ok(c) => self.tokens = self.tokens.saturating_add(c.usage.total()),
            Err(_) if outcome.skipped => self.skipped += 1,
            Err(_) => self.errors += 1,
        }
        if !outcome.cached {
            match outcome.cost {
                Some(c) => *self.cost.get_or_insert(0.0) += c,
                None if !outcome.skipped => self.unknown_cost = true,
                None => {}
            }
        }
        progress(Progress::Calls(self.counts()));
    }

    fn counts(&self) -> CallCounts {
        CallCounts {
            done: self.done,
            cached: self.cached,
            errors: self.errors,
            skipped: self.skipped,
            retries: self.retries,
            tokens: self.tokens,
            cost: if self.unknown_cost {
                None
            } else {
                Some(self.cost.unwrap_or(0.0))
            },
        }
    }
}

/// Where the calls of a run stand, for progress displays.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallCounts {
    /// Calls finished so far: made, answered from the cache or an earlier attempt, or skipped.
    pub done: usize,
    /// Answers taken from the response cache.
    pub cached: usize,
    /// Calls that failed after their retries.
    pub errors: usize,
    /// Calls the budget or an interrupt stopped.
    pub skipped: usize,
    /// Retries so far.
    pub retries: usize,
    /// Tokens so far.
    pub tokens: u64,
    /// Dollars so far; `None` when a provider's price is unknown.
    pub cost: Option<f64>,
}

/// The outcomes a killed or interrupted attempt of the run `run_id` logged, by request key.
pub(super) fn logged_outcomes(
    root: &Path,
    run_id: &crate::ids::RunId,
) -> Result<HashMap<String, Outcome>> {
    Ok(crate::record::read_results(root, run_id)?
        .into_iter()
        .map(|r| (r.key, r.outcome))
        .collect())
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
        let usage = crate::provider::Usage::from_reply(
            (None, Some(u64::from(job.request.params.max_tokens))),
            &job.request,
            "",
        );
        e.calls += 1;
        e.input_tokens = e.input_tokens.saturating_add(usage.input_tokens);
        e.max_output_tokens = e.max_output_tokens.saturating_add(usage.output_tokens);
        e.max_cost = e
            .max_cost
            .zip(crate::provider::cost(job.provider.price(), usage))
            .map(|(a, b)| a + b);
    }
    estimates
}
