//! The calls stage: a run's jobs answered, wave by wave — the planned calls, then each
//! conversation's next steps, then the judges' grading — from the run's [`Source`], the
//! response cache and the providers, each result logged as it finishes.
//!
//! [`wave`] is what a wave is and who answers it; [`ledger`] answers a wave (made and logged,
//! or replayed from a stored log); [`conversing`] folds a conversation's steps into one
//! outcome; [`grading`] has the judges grade the outputs.

mod conversing;
mod grading;
mod ledger;
mod wave;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::jobs::Jobs;
use super::panel::JudgeTask;
use super::progress::Progress;
use super::request::CallOptions;
use crate::cache::Cache;
use crate::conversation::Conversation;
use crate::errors::Result;
use crate::provider::Provider;
use crate::record::{Manifest, RunDir};
use crate::runner::{BudgetLimits, Outcome};
use conversing::Driving;
use grading::Graders;
use ledger::{Ledger, LogReplay};
pub(crate) use wave::Logged;
use wave::{Calls, Made, Recorded, Route, Wave, answer};

/// Where a run's calls are answered from before any provider is called.
#[derive(Clone)]
pub(crate) enum Source {
    /// A new run: every call is made, or answered from the response cache.
    Fresh,
    /// An interrupted or killed attempt of the run: what it logged is taken, not made again
    /// (shared: a check's later rounds read one map).
    Resumed(Arc<Logged>),
    /// A stored run's own results log answers every call, and nothing is made, read or written
    /// else: re-deriving its verdict (`promote --from-report`), or gating shards (`merge`).
    /// With `allow_missing`, a call the log lacks is skipped (the run is then incomplete)
    /// rather than an error.
    Replayed {
        logged: Arc<Logged>,
        allow_missing: bool,
    },
}

impl Source {
    /// What an earlier attempt logged, if the run had one.
    pub(crate) fn logged(&self) -> Option<&Logged> {
        match self {
            Self::Fresh => None,
            Self::Resumed(logged) | Self::Replayed { logged, .. } => Some(logged),
        }
    }

    /// Whether the log answers the call of request key `key`.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.logged().is_some_and(|l| l.contains_key(key))
    }

    /// Whether every call is answered from a stored log, and nothing else is touched.
    pub(crate) fn is_replay(&self) -> bool {
        matches!(self, Self::Replayed { .. })
    }
}

/// Where a run's calls are logged, and where they are answered from.
pub(crate) struct RunTarget<'a> {
    /// The project root.
    pub(crate) root: &'a Path,
    /// The manifest (written when the run is new).
    pub(crate) manifest: Manifest,
    /// What answers calls before the providers do.
    pub(crate) source: Source,
}

impl<'a> RunTarget<'a> {
    /// A new run: its manifest records `resume` (the command's options) for `--resume`.
    pub(crate) fn new(
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
                calls: jobs.planned.len(),
                resume,
                shard: None,
            },
            source: Source::Fresh,
        }
    }

    /// The same run, for a later round's calls.
    pub(crate) fn again(&self) -> Self {
        Self {
            root: self.root,
            manifest: self.manifest.clone(),
            source: self.source.clone(),
        }
    }
}

/// What the calls came to.
pub(crate) struct Executed {
    /// One outcome per job, in job order.
    pub(crate) outcomes: Vec<Outcome>,
    /// The run directory.
    pub(crate) run_dir: PathBuf,
    /// Whether an interrupt stopped the run early.
    pub(crate) interrupted: bool,
}

/// Creates (or reopens) the run directory, answers what it can from the run's source and
/// from the response cache, makes the other calls within the budget, and logs each one as it
/// finishes. Calls the budget or an interrupt stopped come back skipped and unlogged.
///
/// A conversation's job is its first call; its later steps run in waves (every conversation's
/// next call at once), each step answered, made and logged like any call, and the job's
/// outcome is the whole conversation's.
pub(crate) fn execute(
    target: RunTarget<'_>,
    jobs: Jobs,
    options: &CallOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Executed> {
    if options.batch && !target.source.is_replay() {
        batchable(&jobs)?;
    }
    progress(Progress::Started {
        calls: jobs.planned.len(),
    });
    let mut calls = answerer(&target, options)?;
    let Split {
        first,
        conversations,
        judges,
        samples,
    } = split(jobs, options.record);
    let mut made = Made::default();
    let mut outcomes = converse(
        &mut *calls,
        first,
        conversations,
        options,
        &mut made,
        progress,
    )?;
    if judges.iter().any(|tasks| !tasks.is_empty()) {
        let mut wave_options = options.clone();
        wave_options.budget = remaining(options.budget, outcomes.iter());
        let graders = Graders {
            tasks: &judges,
            samples: &samples,
        };
        grading::grade(
            &mut *calls,
            &mut outcomes,
            graders,
            &wave_options,
            &mut made,
            progress,
        )?;
    }
    let run_dir = calls.finish(&target.manifest.run_id, target.root)?;
    if options.record {
        record_cassettes(target.root, made.recorded)?;
    }
    Ok(Executed {
        outcomes,
        run_dir,
        interrupted: made.interrupted,
    })
}

/// A run's planned jobs taken apart for the calls: the first wave, and each job's conversation,
/// judges and sample number.
struct Split {
    first: Wave,
    conversations: Vec<Option<Box<Conversation>>>,
    judges: Vec<Vec<JudgeTask>>,
    samples: Vec<u32>,
}

/// Takes `jobs` apart for the calls. The identities found the duplicates, and the calls do not
/// need them; labels and provider names only name cassette entries, kept when `record`.
fn split(jobs: Jobs, record: bool) -> Split {
    let Jobs { planned, index, .. } = jobs;
    drop(index);
    let n = planned.len();
    let mut split = Split {
        first: Wave::default(),
        conversations: Vec::with_capacity(n),
        judges: Vec::with_capacity(n),
        samples: Vec::with_capacity(n),
    };
    split.first.jobs.reserve_exact(n);
    split.first.keys.reserve_exact(n);
    for p in planned {
        split.samples.push(p.job.request.sample);
        split.first.jobs.push(p.job);
        split.first.keys.push(p.key);
        if record {
            split.first.labels.push(p.label);
            split.first.providers.push(p.provider);
        }
        split.conversations.push(p.conversation);
        split.judges.push(p.judges);
    }
    split
}

/// Who answers the run's waves: its stored log for a replay; else a ledger that logs into
/// the run directory (created, or reopened for a run that has one), answering from the
/// earlier attempt's log and the response cache first.
fn answerer<'t>(target: &'t RunTarget<'_>, options: &CallOptions) -> Result<Box<dyn Calls + 't>> {
    let (root, run_id) = (target.root, &target.manifest.run_id);
    if let Source::Replayed {
        logged,
        allow_missing,
    } = &target.source
    {
        return Ok(Box::new(LogReplay::new(logged, *allow_missing)));
    }
    let logged = target.source.logged();
    let run_dir = match logged.is_none_or(|l| l.is_empty()) && !RunDir::exists(root, run_id) {
        true => RunDir::create(root, &target.manifest)?,
        false => RunDir::reopen(root, run_id)?,
    };
    let cache = match options.no_cache {
        true => None,
        false => Some(Cache::open(root).with_shared(shared_cache(root, options)?)),
    };
    let submissions = match options.batch {
        true => crate::record::read_submissions(root, run_id)?,
        false => Vec::new(),
    };
    Ok(Box::new(Ledger::new(run_dir, cache, logged, submissions)))
}

/// Answers the planned jobs (the first wave), then every conversation's next steps, a wave at
/// a time, until none has one; returns one outcome per job, a conversation's folded from its
/// steps.
fn converse(
    calls: &mut dyn Calls,
    first: Wave,
    conversations: Vec<Option<Box<Conversation>>>,
    options: &CallOptions,
    made: &mut Made,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Outcome>> {
    let mut driving = start_conversations(&first, conversations);
    let mut outcomes = answer(calls, first, options, made, progress)?;
    let firsts = driving.iter().map(|d| outcomes[d.index].clone()).collect();
    let mut next = next_steps(&mut driving, firsts, made.interrupted)?;
    while !next.jobs.is_empty() {
        progress(Progress::More {
            calls: next.jobs.len(),
        });
        let mut wave_options = options.clone();
        // Spent so far: the first wave, and the conversations' steps after their first.
        wave_options.budget = remaining(
            options.budget,
            outcomes
                .iter()
                .chain(driving.iter().flat_map(|d| d.steps.iter().skip(1))),
        );
        let answered = answer(calls, next, &wave_options, made, progress)?;
        next = next_steps(&mut driving, answered, made.interrupted)?;
    }
    for d in driving {
        let index = d.index;
        outcomes[index] = d.fold();
    }
    Ok(outcomes)
}

/// The conversations the first wave's jobs start, each with where its later steps go.
fn start_conversations(
    first: &Wave,
    conversations: Vec<Option<Box<Conversation>>>,
) -> Vec<Driving> {
    conversations
        .into_iter()
        .enumerate()
        .filter_map(|(index, conversation)| {
            let job = &first.jobs[index];
            Some(Driving {
                index,
                conversation: *conversation?,
                steps: Vec::new(),
                label: first.labels.get(index).cloned().unwrap_or_default(),
                provider: first.providers.get(index).cloned().unwrap_or_default(),
                route: Route {
                    provider: job.provider.clone(),
                    lane: job.lane.clone(),
                },
                done: false,
            })
        })
        .collect()
}

/// Gives each conversation still going its step's outcome (in order; `answers` runs out when
/// an interrupt stopped the wave), and returns the wave of their next calls.
fn next_steps(driving: &mut [Driving], answers: Vec<Outcome>, interrupted: bool) -> Result<Wave> {
    let mut next = Wave::default();
    let mut answers = answers.into_iter();
    for d in driving.iter_mut().filter(|d| !d.done) {
        let Some(outcome) = answers.next() else {
            break;
        };
        if let Some(request) = d.advance(outcome, interrupted) {
            let label = format!("{} step {}", d.label, d.steps.len() + 1);
            next.push(&d.route, request, label, d.provider.clone())?;
        }
    }
    Ok(next)
}

/// Writes the calls the run made (those that answered) to the cassettes of their providers.
fn record_cassettes(root: &Path, recorded: Vec<Recorded>) -> Result<()> {
    let entries = recorded
        .into_iter()
        .filter_map(|call| {
            let completion = call.outcome.result.ok()?;
            Some(crate::provider::cassette::Entry::new(
                call.provider,
                call.label,
                call.request,
                *completion,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::provider::cassette::record(root, entries)?;
    Ok(())
}

/// Refuses `--batch` before any call when a provider the run would call (a case's or a
/// judge's) has no batch API.
fn batchable(jobs: &Jobs) -> Result<()> {
    let providers = jobs.planned.iter().flat_map(|p| {
        let judges = p.judges.iter().map(|task| &task.provider().provider);
        std::iter::once(&p.job.provider).chain(judges)
    });
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

/// The shared store the options name, opened; never one inside the checkout of `root` (the
/// git work tree the project is in, else the project).
fn shared_cache(root: &Path, options: &CallOptions) -> Result<Option<crate::cache::Shared>> {
    let Some((url, read_only)) = &options.shared_cache else {
        return Ok(None);
    };
    let checkout = git2::Repository::discover(root)
        .ok()
        .and_then(|repo| repo.workdir().map(Path::to_path_buf))
        .unwrap_or_else(|| root.to_path_buf());
    crate::cache::Shared::open(url, *read_only, &options.env, &checkout).map(Some)
}

/// The price a call to `provider` is billed at: its batch price when the run batches.
pub(crate) fn price(provider: &dyn Provider, batch: bool) -> Option<crate::config::Price> {
    match (batch, provider.batch()) {
        (true, Some(api)) => api.price(),
        _ => provider.price(),
    }
}

/// What is left of `budget` after the calls in `outcomes`.
pub(crate) fn remaining<'o>(
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

/// The outcomes a killed or interrupted attempt of the run `run_id` logged, by request key.
pub(crate) fn logged_outcomes(root: &Path, run_id: &crate::ids::RunId) -> Result<Logged> {
    Ok(crate::record::read_results(root, run_id)?
        .into_iter()
        .map(|r| (r.key, r.outcome))
        .collect())
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
