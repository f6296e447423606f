//! Where a wave's calls are answered: the [`Ledger`] answers what the run's log or the
//! response cache knows, makes the other calls and logs each as it finishes; the [`LogReplay`]
//! answers every call from a stored log and makes none.

use std::path::{Path, PathBuf};

use super::wave::{Calls, INTERRUPT_GRACE, Logged};
use crate::cache::Cache;
use crate::errors::{Error, Result};
use crate::pipeline::progress::{CallCounts, Progress};
use crate::pipeline::request::CallOptions;
use crate::record::{CallRecord, RunDir};
use crate::runner::Submission;
use crate::runner::{self, Event, Outcome, RunnerOptions};

/// What the results log records of a call besides its outcome.
struct CallMeta {
    /// The provider's fingerprint (one shared copy per provider).
    provider: std::sync::Arc<str>,
    /// The request key.
    key: String,
    params: crate::config::EffectiveParams,
    /// The sample index.
    sample: u32,
}

/// Where the outcomes of a wave go as they arrive: the run's results log, the response cache,
/// the progress counts, and the outcome of each job.
pub(crate) struct Ledger<'r> {
    run_dir: RunDir,
    cache: Option<Cache>,
    tally: Tally,
    /// Calls logged by earlier waves, so every call has its own number in the log.
    logged: usize,
    meta: Vec<CallMeta>,
    /// Each job's outcome once known.
    outcomes: Vec<Option<Outcome>>,
    resumed: Option<&'r Logged>,
    /// The batches an earlier attempt of the run submitted (`--batch`).
    submissions: Vec<Submission>,
}

/// The jobs left to call, with each one's index in the wave and whether it may be cached.
struct Pending {
    jobs: Vec<runner::Job>,
    origin: Vec<(usize, bool)>,
}

impl Calls for Ledger<'_> {
    fn wave(
        &mut self,
        jobs: Vec<runner::Job>,
        keys: Vec<String>,
        options: &CallOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Vec<Outcome>, bool)> {
        self.logged += self.meta.len();
        self.meta = Vec::with_capacity(jobs.len());
        self.outcomes = vec![None; jobs.len()];
        self.prefetch(&jobs, &keys, progress);
        let pending = self.answer_known(jobs, keys, progress);
        let interrupted = self.call(pending, options, progress)?;
        self.publish(progress);
        if let Some(e) = self.tally.write_error.take() {
            return Err(e);
        }
        // The runner reports every job; one it did not is skipped, so the run is incomplete.
        // (A map over the same vector, so the outcomes take the slots' place.)
        let outcomes = std::mem::take(&mut self.outcomes)
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::skipped("the call reported no outcome", 0, None)))
            .collect();
        Ok((outcomes, interrupted))
    }

    fn finish(self: Box<Self>, _: &crate::ids::RunId, _: &Path) -> Result<PathBuf> {
        self.run_dir.finish()
    }
}

impl<'r> Ledger<'r> {
    /// A ledger logging into `run_dir`, answering from `cache` and from what an earlier
    /// attempt of the run logged (`resumed`), and collecting the batches it submitted
    /// (`submissions`) rather than submitting their requests again.
    pub(crate) fn new(
        run_dir: RunDir,
        cache: Option<Cache>,
        resumed: Option<&'r Logged>,
        submissions: Vec<Submission>,
    ) -> Self {
        Self {
            run_dir,
            cache,
            tally: Tally::default(),
            logged: 0,
            meta: Vec::new(),
            outcomes: Vec::new(),
            resumed,
            submissions,
        }
    }

    /// Takes into the local cache what the shared one holds for the wave's cacheable calls.
    /// A shared store that cannot be read costs the calls it would have saved, not the run.
    fn prefetch(&self, jobs: &[runner::Job], keys: &[String], progress: &mut dyn FnMut(Progress)) {
        let Some(cache) = &self.cache else {
            return;
        };
        let wanted = jobs
            .iter()
            .zip(keys)
            .filter(|(job, key)| {
                job.provider.cacheable() && !self.resumed.is_some_and(|r| r.contains_key(*key))
            })
            .map(|(_, key)| key.as_str());
        match cache.prefetch(wanted) {
            Ok(0) => {}
            Ok(n) => progress(Progress::Note(format!(
                "{n} responses taken from the shared cache"
            ))),
            Err(e) => progress(Progress::Note(format!("{e}; calling instead"))),
        }
    }

    /// Publishes the wave's new responses to the shared cache; a store that cannot be written
    /// is reported, and the run goes on (its responses are in the local cache and the log).
    fn publish(&self, progress: &mut dyn FnMut(Progress)) {
        let Some(cache) = &self.cache else {
            return;
        };
        match cache.publish() {
            Ok(p) if p.created + p.existed > 0 => progress(Progress::Note(format!(
                "shared cache: {} responses published, {} already there",
                p.created, p.existed
            ))),
            Ok(_) => {}
            Err(e) => progress(Progress::Note(e.to_string())),
        }
    }

    /// Answers the jobs an earlier attempt of the run logged and those the cache holds; returns
    /// the others, in the vector they came in (a second vector of 200,000 jobs is not small).
    fn answer_known(
        &mut self,
        mut planned: Vec<runner::Job>,
        keys: Vec<String>,
        progress: &mut dyn FnMut(Progress),
    ) -> Pending {
        let mut origin = Vec::new();
        let mut keys = keys.into_iter();
        let mut index = 0;
        let mut fingerprint: std::sync::Arc<str> = std::sync::Arc::from("");
        planned.retain(|job| {
            let key = keys.next().unwrap_or_default();
            let this = index;
            index += 1;
            if *fingerprint != *job.provider.fingerprint() {
                fingerprint = job.provider.fingerprint().into();
            }
            self.meta.push(CallMeta {
                provider: fingerprint.clone(),
                key,
                params: job.request.params,
                sample: job.request.sample,
            });
            let key = &self.meta[this].key;
            if let Some(outcome) = self.resumed.and_then(|r| r.get(key)) {
                self.tally.count(outcome, progress);
                self.outcomes[this] = Some(outcome.clone());
                return false;
            }
            let cacheable = job.provider.cacheable();
            let hit = self
                .cache
                .as_ref()
                .filter(|_| cacheable)
                .and_then(|c| c.get(key));
            match hit {
                Some(entry) => {
                    let outcome = Outcome {
                        cached: true,
                        ..Outcome::finished(Ok(entry.completion), entry.latency_ms, 0, entry.cost)
                    };
                    self.log(this, &outcome, progress);
                    self.outcomes[this] = Some(outcome);
                    false
                }
                None => {
                    origin.push((this, cacheable));
                    true
                }
            }
        });
        // A rerun answered from the cache keeps none of the jobs' room.
        if planned.len() < planned.capacity() / 2 {
            planned.shrink_to_fit();
        }
        Pending {
            jobs: planned,
            origin,
        }
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
        let keys: Vec<String> = match options.batch {
            true => origin
                .iter()
                .map(|(index, _)| self.meta[*index].key.clone())
                .collect(),
            false => Vec::new(),
        };
        let submissions = std::mem::take(&mut self.submissions);
        let on_event = |event: Event<'_>| {
            match event {
            Event::Finished {
                index: position,
                outcome,
            } => {
                let (index, cacheable) = origin[position];
                self.finished(index, cacheable, &outcome, progress);
                self.outcomes[index] = Some(outcome);
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
            Event::Submitted(submission) => {
                if let Err(e) = self.run_dir.append_submission(submission) {
                    self.tally.write_error.get_or_insert(e);
                }
            }
            Event::Note(note) => progress(Progress::Note(note)),
            Event::Detached => {
                interrupted = true;
                progress(Progress::Note(
                    "interrupted: the batches go on at the provider; `--resume` collects them without submitting them again".into(),
                ));
            }
        }
        };
        match options.batch {
            false => runner::run(jobs, runner_options, on_event)?,
            true => runner::batch::run(jobs, &keys, &submissions, runner_options, on_event)?,
        }
        self.submissions = submissions;
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
                &self.meta[index].key,
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
        let meta = &self.meta[index];
        let record = CallRecord {
            call: self.logged + index,
            provider: meta.provider.to_string(),
            key: meta.key.clone(),
            params: meta.params,
            sample: meta.sample,
            outcome: outcome.clone(),
        };
        if let Err(e) = self.run_dir.append(&record) {
            self.tally.write_error.get_or_insert(e);
        }
        self.tally.count(outcome, progress);
    }
}

/// A stored run's calls read back from its results log, with nothing called, cached or
/// written (`promote --from-report`); a call the log lacks means the run cannot be re-derived
/// as planned now.
pub(crate) struct LogReplay<'r> {
    resumed: &'r Logged,
    tally: Tally,
    missing: usize,
    allow_missing: bool,
}

impl<'r> LogReplay<'r> {
    /// Answers from `logged`; a call missing there is an error at the end, or with
    /// `allow_missing` a skipped call.
    pub(crate) fn new(logged: &'r Logged, allow_missing: bool) -> Self {
        Self {
            resumed: logged,
            tally: Tally::default(),
            missing: 0,
            allow_missing,
        }
    }
}

impl Calls for LogReplay<'_> {
    fn wave(
        &mut self,
        _: Vec<runner::Job>,
        keys: Vec<String>,
        _: &CallOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Vec<Outcome>, bool)> {
        let mut outcomes = Vec::with_capacity(keys.len());
        for key in &keys {
            match self.resumed.get(key) {
                Some(outcome) => {
                    self.tally.count(outcome, progress);
                    outcomes.push(outcome.clone());
                }
                None => {
                    self.missing += 1;
                    outcomes.push(Outcome::skipped("not in the results log", 0, None));
                }
            }
        }
        Ok((outcomes, false))
    }

    fn finish(self: Box<Self>, run_id: &crate::ids::RunId, root: &Path) -> Result<PathBuf> {
        if self.missing > 0 && !self.allow_missing {
            return Err(Error::Usage(format!(
                "run {run_id}'s results log lacks {} of the calls the check needs now (the prompts, suites or config changed since it ran), so its verdict cannot be re-derived; check again instead",
                self.missing
            )));
        }
        Ok(RunDir::path_of(root, run_id))
    }
}

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
