//! Making a run's calls: the options shared by `check` and `run`, the error budget, and the
//! loop that answers from the cache, calls the rest and logs each result as it finishes, in
//! waves: the planned calls, then each conversation's next steps, then the judges' grading.
//!
//! [`ledger`] answers a wave (made and logged, or replayed from a stored log),
//! [`conversing`] folds a conversation's steps into one outcome, and [`grading`] has the
//! judges grade the outputs.

mod conversing;
mod grading;
mod ledger;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::plan::Jobs;
use super::{Env, Progress};
use crate::cache::Cache;
use crate::errors::Result;
use crate::provider::{Provider, Request};
use crate::record::{Manifest, RunDir};
use crate::runner::{self, BudgetLimits, Outcome};
use conversing::Driving;
use ledger::{Ledger, LogReplay};

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
    /// Send the calls through the providers' batch APIs (OpenAI's Batch API, Anthropic's
    /// Message Batches) at their lower price, and wait for the batches.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
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
    /// With `from_log`: a call the log lacks is skipped (the run is then incomplete) rather
    /// than an error (`merge --allow-incomplete`).
    #[serde(skip)]
    pub allow_missing: bool,
    /// The shared response cache (URL, read-only), from the config or the environment.
    #[serde(skip)]
    pub shared_cache: Option<(String, bool)>,
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
        let env_url = self
            .env
            .get("PROMPTGATE_CACHE_SHARED")
            .filter(|u| !u.is_empty());
        let read_only = self
            .env
            .get("PROMPTGATE_CACHE_READ_ONLY")
            .map(|v| matches!(v.as_str(), "1" | "true" | "yes"))
            .unwrap_or(config.cache.read_only);
        Self {
            concurrency: self.concurrency.or(config.concurrency),
            shared_cache: env_url
                .or(config.cache.shared.as_ref())
                .map(|url| (url.clone(), read_only)),
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
    /// Outcomes a killed or interrupted attempt of this run already logged, by request key
    /// (shared: a check's later rounds, and a merge's 200,000 logged calls, read one map).
    pub(super) resumed: Arc<HashMap<String, Outcome>>,
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
                shard: None,
            },
            resumed: Arc::default(),
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
///
/// A conversation's job is its first call; its later steps run in waves (every conversation's
/// next call at once), each step answered, made and logged like any call, and the job's
/// outcome is the whole conversation's.
pub(super) fn execute(
    target: RunTarget<'_>,
    jobs: Jobs,
    options: &CallOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Executed> {
    if options.batch && !options.from_log {
        batchable(&jobs)?;
    }
    progress(Progress::Started {
        calls: jobs.jobs.len(),
    });
    let root = target.root;
    let run_id = target.manifest.run_id.clone();
    let mut calls: Box<dyn Calls + '_> = if options.from_log {
        Box::new(LogReplay::new(&target.resumed, options.allow_missing))
    } else {
        let run_dir = if target.resumed.is_empty() && !RunDir::exists(root, &target.manifest.run_id)
        {
            RunDir::create(root, &target.manifest)?
        } else {
            RunDir::reopen(root, &target.manifest.run_id)?
        };
        let cache = match options.no_cache {
            true => None,
            false => Some(Cache::open(root).with_shared(shared_cache(options)?)),
        };
        let submissions = match options.batch {
            true => crate::record::read_submissions(root, &target.manifest.run_id)?,
            false => Vec::new(),
        };
        Box::new(Ledger::new(run_dir, cache, (&target.resumed, submissions)))
    };
    let Jobs {
        jobs: planned,
        keys,
        labels,
        providers,
        conversations,
        judges,
        index,
        ..
    } = jobs;
    // The identities found the duplicates; the calls do not need them, and labels and provider
    // names only name cassette entries.
    drop(index);
    let (labels, providers) = match options.record {
        true => (labels, providers),
        false => (Vec::new(), Vec::new()),
    };
    let samples: Vec<u32> = planned.iter().map(|j| j.request.sample).collect();
    let mut wave = Wave {
        jobs: planned,
        keys,
        labels,
        providers,
    };
    let mut recorded: Vec<Recorded> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut driving: Vec<Driving> = Vec::new();
    let mut interrupted = false;
    loop {
        let first = outcomes.is_empty();
        let mut wave_options = options.clone();
        // Spent so far: the first wave, and the conversations' steps after their first.
        wave_options.budget = remaining(
            options.budget,
            outcomes
                .iter()
                .chain(driving.iter().flat_map(|d| d.steps.iter().skip(1))),
        );
        let Wave {
            jobs,
            keys,
            labels,
            providers,
        } = wave;
        let requests: Vec<crate::provider::Request> = if options.record {
            jobs.iter().map(|j| j.request.clone()).collect()
        } else {
            Vec::new()
        };
        let routes: Vec<Route> = jobs
            .iter()
            .map(|j| (j.provider.clone(), j.lane.clone()))
            .collect();
        let (answered, stopped) = calls.wave(jobs, keys, &wave_options, progress)?;
        interrupted |= stopped;
        if options.record {
            recorded.extend(
                providers
                    .iter()
                    .cloned()
                    .zip(labels.iter().cloned())
                    .zip(requests)
                    .zip(answered.iter().cloned()),
            );
        }
        // The first wave answers the planned jobs; the others, the conversations' next steps.
        if first {
            for (index, conversation) in conversations.iter().enumerate() {
                if let Some(conversation) = conversation {
                    driving.push(Driving {
                        index,
                        conversation: crate::conversation::Conversation::clone(conversation),
                        steps: Vec::new(),
                        label: labels.get(index).cloned().unwrap_or_default(),
                        provider: providers.get(index).cloned().unwrap_or_default(),
                        route: routes[index].clone(),
                        done: false,
                    });
                }
            }
        }
        // The first wave's answers are the jobs' outcomes; a later wave's, the next steps of
        // the conversations still going.
        let mut answers = match first {
            true => {
                outcomes = answered;
                Vec::new().into_iter()
            }
            false => answered.into_iter(),
        };
        let mut next = Wave::default();
        for d in driving.iter_mut().filter(|d| !d.done) {
            let outcome = match (first, answers.next()) {
                (true, _) => outcomes[d.index].clone(),
                (false, Some(o)) => o,
                (false, None) => break,
            };
            if let Some(request) = d.advance(outcome, interrupted) {
                next.keys.push(request.key(d.route.0.fingerprint())?);
                next.labels
                    .push(format!("{} step {}", d.label, d.steps.len() + 1));
                next.providers.push(d.provider.clone());
                next.jobs.push(runner::Job {
                    provider: d.route.0.clone(),
                    lane: d.route.1.clone(),
                    request,
                });
            }
        }
        if next.jobs.is_empty() {
            break;
        }
        progress(Progress::More {
            calls: next.jobs.len(),
        });
        wave = next;
    }
    for d in driving {
        let index = d.index;
        outcomes[index] = d.fold();
    }
    if judges.iter().any(|tasks| !tasks.is_empty()) {
        let mut wave_options = options.clone();
        wave_options.budget = remaining(options.budget, outcomes.iter());
        let graded = grading::grade(
            &mut *calls,
            &mut outcomes,
            (&judges, &samples),
            &wave_options,
            progress,
        )?;
        interrupted |= graded.interrupted;
        if options.record {
            recorded.extend(graded.recorded);
        }
    }
    let run_dir = calls.finish(&run_id, root)?;
    if options.record {
        let entries = recorded
            .into_iter()
            .filter_map(|(((provider, case), request), outcome)| {
                let completion = outcome.result.ok()?;
                Some(crate::provider::cassette::Entry::new(
                    provider,
                    case,
                    request,
                    *completion,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        crate::provider::cassette::record(root, entries)?;
    }
    Ok(Executed {
        outcomes,
        run_dir,
        interrupted,
    })
}

/// A call for a cassette: ((the provider's configured name, the case's label), the request),
/// and what became of it.
type Recorded = (((String, String), Request), Outcome);

/// Where a call goes: its provider and the provider's lane.
type Route = (Arc<dyn Provider>, Arc<runner::Lane>);

/// One wave of calls, with what the results log and cassettes record of each.
#[derive(Default)]
struct Wave {
    jobs: Vec<runner::Job>,
    keys: Vec<String>,
    labels: Vec<String>,
    providers: Vec<String>,
}

/// Refuses `--batch` before any call when a provider the run would call (a case's or a
/// judge's) has no batch API.
fn batchable(jobs: &Jobs) -> Result<()> {
    let providers = jobs.jobs.iter().map(|j| &j.provider).chain(
        jobs.judges
            .iter()
            .flatten()
            .map(|task| &task.provider().provider),
    );
    let mut refused: Vec<String> = Vec::new();
    for provider in providers {
        let name = provider.fingerprint().to_string();
        if provider.batch().is_none() && !refused.contains(&name) {
            refused.push(name);
        }
    }
    match refused.is_empty() {
        true => Ok(()),
        false => Err(crate::errors::Error::Usage(format!(
            "--batch: {} has no batch API (OpenAI and Anthropic providers have one); run without --batch, or choose a provider with --provider",
            refused.join(", ")
        ))),
    }
}

/// The shared store the options name, opened.
fn shared_cache(options: &CallOptions) -> Result<Option<crate::cache::Shared>> {
    options
        .shared_cache
        .as_ref()
        .map(|(url, read_only)| crate::cache::Shared::open(url, *read_only, &options.env))
        .transpose()
}

/// The price a call to `provider` is billed at: its batch price when the run batches.
fn price(provider: &dyn Provider, batch: bool) -> Option<crate::config::Price> {
    match (batch, provider.batch()) {
        (true, Some(api)) => api.price(),
        _ => provider.price(),
    }
}

/// What is left of `budget` after the calls in `outcomes`.
pub(super) fn remaining<'o>(
    budget: BudgetLimits,
    outcomes: impl IntoIterator<Item = &'o Outcome>,
) -> BudgetLimits {
    let mut calls = 0u64;
    let mut tokens = 0u64;
    let mut cost = 0.0;
    for o in outcomes.into_iter().filter(|o| !o.cached && !o.skipped) {
        calls += u64::from(o.attempts);
        if let Ok(c) = &o.result {
            tokens = tokens.saturating_add(c.usage.total());
        }
        cost += o.cost.unwrap_or(0.0);
    }
    BudgetLimits {
        max_calls: budget.max_calls.map(|m| m.saturating_sub(calls)),
        max_tokens: budget.max_tokens.map(|m| m.saturating_sub(tokens)),
        max_cost: budget.max_cost.map(|m| (m - cost).max(0.0)),
    }
}

/// Where a wave's calls are answered: made and logged ([`Ledger`]), or read back from a
/// stored run's log ([`LogReplay`]).
trait Calls {
    /// The outcomes of `jobs`, in order, and whether an interrupt stopped the wave.
    fn wave(
        &mut self,
        jobs: Vec<runner::Job>,
        keys: Vec<String>,
        options: &CallOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Vec<Outcome>, bool)>;

    /// Closes the run directory; returns its path.
    fn finish(self: Box<Self>, run_id: &crate::ids::RunId, root: &Path) -> Result<PathBuf>;
}

/// How long calls in flight may take to finish after a first Ctrl-C.
const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

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

/// Estimates the calls, tokens and cost of `jobs`, per provider, counting cache hits as free
/// and, with `options.batch`, pricing calls at the providers' batch prices.
pub(super) fn estimate(root: &Path, jobs: &Jobs, options: &CallOptions) -> Vec<Estimate> {
    let cache = (!options.no_cache).then(|| Cache::open(root));
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
            .zip(crate::provider::cost(
                price(&*job.provider, options.batch),
                usage,
            ))
            .map(|(a, b)| a + b);
    }
    estimates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Completion, ProviderError, Usage};
    use crate::runner::{BudgetLimits, Outcome};

    fn made(tokens: u64, cost: Option<f64>, attempts: u32) -> Outcome {
        let completion = Completion {
            usage: Usage {
                input_tokens: tokens,
                output_tokens: 0,
                estimated: false,
            },
            ..Completion::default()
        };
        Outcome::finished(Ok(completion), 1, attempts, cost)
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
            result: Err(Box::new(ProviderError::transient("503"))),
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
