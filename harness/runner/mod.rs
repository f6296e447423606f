//! The runner: executes provider calls concurrently on its own tokio runtime and reports each
//! finished call to the caller's callback on the calling thread, so callers stay synchronous.
//!
//! Every call passes through its provider's [`Lane`] (adaptive concurrency, cooldown after a
//! rate limit, RPM/TPM pacing), a global limit, and the run's [`Budget`]. Transient failures
//! are retried with backoff within the lane's per-case deadline. A first interrupt stops
//! scheduling and lets calls in flight finish within a grace period; a second aborts them.

pub(crate) mod batch;
mod budget;
mod lane;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

pub use budget::BudgetLimits;
pub(crate) use budget::{Budget, Spend};
pub(crate) use lane::{Lane, LaneSettings};

use crate::errors::{Error, Result};
use crate::provider::{self, Completion, Provider, ProviderError, Request, Retry, Usage};

/// One provider call to make.
pub(crate) struct Job {
    /// The provider to call.
    pub provider: Arc<dyn Provider>,
    /// The provider's lane (shared by every job for that endpoint and key).
    pub lane: Arc<Lane>,
    /// The request.
    pub request: Request,
}

/// What became of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Outcome {
    /// The completion, or the last error after retries; recorded as `{"completion": ...}` or
    /// `{"error": ...}`.
    #[serde(with = "completion_or_error")]
    pub result: Result<Box<Completion>, Box<ProviderError>>,
    /// Wall time of the final attempt in milliseconds.
    pub latency_ms: u64,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
    /// Cost of all attempts in dollars; `None` when the price is unknown.
    pub cost: Option<f64>,
    /// Whether the completion came from the response cache (no call was made).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// Whether the call was never completed because the budget or an interrupt stopped it;
    /// such outcomes are not logged, so a resumed run makes the call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// Whether the call went through the provider's batch API (`--batch`): billed at the
    /// batch price, and with no latency of its own (`latency_ms` is 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batched: bool,
    /// A conversation case's steps, when the outcome is a whole conversation's (each step was
    /// a call of its own, logged and cached as one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<crate::conversation::Trajectory>,
    /// What the suite's judges said of the output (each judge's call was a call of its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judgments: Vec<crate::judge::Judgment>,
}

impl Outcome {
    /// A call that finished: its result and what it measured (made now, not cached, no
    /// conversation or judgment yet).
    pub(crate) fn finished(
        result: Result<Completion, ProviderError>,
        latency_ms: u64,
        attempts: u32,
        cost: Option<f64>,
    ) -> Self {
        Self {
            result: result.map(Box::new).map_err(Box::new),
            latency_ms,
            attempts,
            cost,
            cached: false,
            skipped: false,
            batched: false,
            trajectory: None,
            judgments: Vec::new(),
        }
    }

    /// A call that was not made (or not finished), and why.
    pub(crate) fn skipped(why: impl Into<String>, attempts: u32, cost: Option<f64>) -> Self {
        Self {
            skipped: true,
            ..Self::finished(Err(ProviderError::permanent(why)), 0, attempts, cost)
        }
    }
}

/// How the runner schedules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunnerOptions {
    /// Calls in flight at once across all providers.
    pub concurrency: usize,
    /// The run's spending caps.
    pub budget: BudgetLimits,
    /// Handle SIGINT/SIGTERM: the first stops scheduling and gives calls in flight this long
    /// to finish; the second aborts them. `None` leaves signals alone.
    pub interrupt_grace: Option<Duration>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            budget: BudgetLimits::default(),
            interrupt_grace: None,
        }
    }
}

/// Something the caller may want to show or record while the calls run.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// A job finished (or was skipped): reported exactly once per job, with its outcome, which
    /// the runner keeps no copy of.
    Finished {
        /// Its index in the jobs given to [`run`].
        index: usize,
        /// What became of it.
        outcome: Outcome,
    },
    /// A call failed transiently and will be tried again.
    Retrying,
    /// An interrupt arrived: no new call starts; calls in flight get `grace` to finish.
    Stopping {
        /// How long calls in flight may still take.
        grace: Duration,
    },
    /// A second interrupt (or the end of the grace period): calls in flight were abandoned.
    Aborted,
    /// The provider accepted a batch: record it before anything else, so a resumed run
    /// collects it rather than submitting its requests again.
    Submitted(&'a Submission),
    /// Where the batches stand, for the terminal.
    Note(String),
    /// An interrupt arrived while batches ran: they go on at the provider, and a resumed run
    /// collects them.
    Detached,
}

/// A batch the provider accepted, as the run directory records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Submission {
    /// The provider's fingerprint.
    pub provider: String,
    /// The provider's id of the batch.
    pub batch: String,
    /// The keys of the requests in it (their custom ids).
    pub keys: Vec<String>,
    /// When the provider accepted it (RFC 3339).
    pub submitted_at: String,
}

/// A lane per provider endpoint and key.
#[derive(Default)]
pub(crate) struct Lanes {
    by_key: HashMap<String, Arc<Lane>>,
}

impl Lanes {
    /// The shared lane for `provider`, created with `settings` on first use.
    pub(crate) fn for_provider(
        &mut self,
        provider: &dyn Provider,
        settings: LaneSettings,
    ) -> Arc<Lane> {
        self.by_key
            .entry(provider.lane_key())
            .or_insert_with(|| Arc::new(Lane::new(settings)))
            .clone()
    }
}

/// What every task shares.
struct Shared {
    global: Semaphore,
    budget: Budget,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

enum Message {
    Done(usize, Box<Outcome>),
    Retrying,
}

/// The fewest tasks in flight at once, whatever the concurrency: enough for calls to several
/// lanes to wait side by side.
const MIN_WINDOW: usize = 1024;

/// Runs every job, handing each one's outcome to `on_event` ([`Event::Finished`]) on the
/// calling thread as it finishes (in completion order); also reports retries and interrupts.
/// Jobs that the budget or an interrupt stopped are reported as [`Outcome::skipped`]. The
/// runner holds no outcome itself: the caller keeps what it needs.
pub(crate) fn run(
    jobs: Vec<Job>,
    options: RunnerOptions,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let mut finished = vec![false; jobs.len()];
    let interrupted = runtime.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            global: Semaphore::new(options.concurrency.max(1)),
            budget: Budget::new(options.budget),
            stop: stop_rx,
        });
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut tasks = tokio::task::JoinSet::new();
        // Tasks are spawned as others end, a window at a time: a task waiting for its lane
        // holds its whole future, so 200,000 spawned at once would hold 200 MB.
        let window = options.concurrency.max(1).saturating_mul(4).max(MIN_WINDOW);
        let mut pending = jobs.into_iter().enumerate();
        // The spawner owns the sender: when it goes, only the tasks hold one.
        let mut spawn_next = move |tasks: &mut tokio::task::JoinSet<()>| {
            let Some((index, job)) = pending.next() else {
                return false;
            };
            let tx = tx.clone();
            let shared = shared.clone();
            tasks.spawn(async move {
                let outcome = execute(&job, &shared, &tx).await;
                // The receiver lives until every task has ended.
                let _ = tx.send(Message::Done(index, Box::new(outcome)));
            });
            true
        };
        let mut spawned = 0;
        while spawned < window && spawn_next(&mut tasks) {
            spawned += 1;
        }
        // Once every job is spawned the spawner goes, so the channel closes when the last
        // task ends.
        let mut spawner = (spawned == window).then_some(spawn_next);
        // Makes room for one more task per task that ended: every finished task is joined (it
        // keeps its slot until then), and a task that ended without its outcome (it panicked)
        // counts too.
        let mut refill = |tasks: &mut tokio::task::JoinSet<()>, ended: usize| {
            let mut room = ended;
            while let Some(joined) = tasks.try_join_next() {
                room += usize::from(joined.is_err());
            }
            for _ in 0..room {
                if let Some(spawn) = spawner.as_mut() {
                    if !spawn(tasks) {
                        spawner = None;
                    }
                }
            }
        };
        let mut signals = options.interrupt_grace.map(|_| Signals::new());
        let mut grace_ends: Option<Instant> = None;
        let mut interrupted = false;
        loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Some(Message::Done(index, outcome)) => {
                        finished[index] = true;
                        on_event(Event::Finished { index, outcome: *outcome });
                        refill(&mut tasks, 1);
                    }
                    Some(Message::Retrying) => on_event(Event::Retrying),
                    None => break,
                },
                // A task that ended without its outcome (it panicked) still makes room.
                Some(Err(_)) = tasks.join_next(), if !tasks.is_empty() => refill(&mut tasks, 1),
                () = next_signal(&mut signals) => {
                    if interrupted {
                        tasks.abort_all();
                        on_event(Event::Aborted);
                        break;
                    }
                    interrupted = true;
                    let grace = options.interrupt_grace.unwrap_or_default();
                    let _ = stop_tx.send(true);
                    grace_ends = Some(Instant::now() + grace);
                    on_event(Event::Stopping { grace });
                }
                () = sleep_until(grace_ends) => {
                    tasks.abort_all();
                    on_event(Event::Aborted);
                    break;
                }
            }
        }
        interrupted
    });
    // A local model's blocking computation may still be running after an abort; do not wait.
    runtime.shutdown_background();
    let why = if interrupted {
        "interrupted while the call was in flight"
    } else {
        "the call did not report an outcome"
    };
    for (index, _) in finished.iter().enumerate().filter(|(_, done)| !**done) {
        on_event(Event::Finished {
            index,
            outcome: Outcome::skipped(why, 0, None),
        });
    }
    Ok(())
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), received for as long as the run lasts.
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                streams: signal(SignalKind::interrupt())
                    .ok()
                    .zip(signal(SignalKind::terminate()).ok()),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        match &mut self.streams {
            Some((int, term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            None => std::future::pending().await,
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn next_signal(signals: &mut Option<Signals>) {
    match signals {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// An upper bound on a request's input tokens, for budget reservations: byte-level tokenizers
/// never produce more tokens than bytes, plus a margin per message for the chat template.
fn input_bound(request: &Request) -> u64 {
    request
        .messages
        .iter()
        .map(|m| m.counted_text().len() as u64 + 8)
        .sum::<u64>()
        + 16
        + tools_bound(request)
}

/// The most one call of `request` can spend, at `price`: one call, its input bound plus
/// `max_tokens`, and their cost.
fn worst_case(request: &Request, price: Option<crate::config::Price>) -> Spend {
    let bound = input_bound(request);
    let max_tokens = u64::from(request.params.max_tokens);
    Spend {
        calls: 1,
        tokens: bound + max_tokens,
        cost: provider::cost(price, Usage::reported(bound, max_tokens)),
    }
}

/// The tools' definitions as sent, in bytes, plus a margin per tool for the framing an API
/// wraps them in: tool definitions are input the provider counts and bills.
fn tools_bound(request: &Request) -> u64 {
    request
        .tools
        .iter()
        .map(|t| serde_json::to_string(t).map_or(0, |s| s.len() as u64) + TOOL_FRAMING)
        .sum()
}

/// Tokens an API may add around each tool definition.
const TOOL_FRAMING: u64 = 64;

/// A likely input size, for tokens-per-minute pacing (settled with the real count after).
fn input_estimate(request: &Request) -> u64 {
    request
        .messages
        .iter()
        .map(|m| provider::approximate_tokens(&m.counted_text()) * 4 / 3 + 4)
        .sum::<u64>()
        + tools_bound(request) / 4
}

async fn execute(job: &Job, shared: &Shared, events: &mpsc::UnboundedSender<Message>) -> Outcome {
    let settings = *job.lane.settings();
    let max_tokens = u64::from(job.request.params.max_tokens);
    let worst = worst_case(&job.request, job.provider.price());
    let pace_tokens = input_estimate(&job.request) + max_tokens;
    let price_known = job.provider.price().is_some();
    let mut attempts = 0;
    let mut cost = price_known.then_some(0.0);
    // The per-case deadline starts when the case first gets a place, not while it queues.
    let mut deadline: Option<Instant> = None;
    loop {
        if shared.stopping() {
            return Outcome::skipped("interrupted before the call", attempts, cost);
        }
        let ticket = match deadline {
            None => job.lane.enter(pace_tokens).await,
            Some(at) => match tokio::time::timeout_at(at, job.lane.enter(pace_tokens)).await {
                Ok(ticket) => ticket,
                Err(_) => return timed_out(settings, attempts, cost),
            },
        };
        let deadline_at = *deadline.get_or_insert_with(|| Instant::now() + settings.case_timeout);
        let _global = shared.global.acquire().await.expect("never closed");
        if shared.stopping() {
            return Outcome::skipped("interrupted before the call", attempts, cost);
        }
        let hold = match shared.budget.reserve(worst).await {
            Ok(hold) => hold,
            Err(cap) => return Outcome::skipped(cap, attempts, cost),
        };
        attempts += 1;
        let started = Instant::now();
        let (result, deadline_hit) =
            match tokio::time::timeout_at(deadline_at, job.provider.complete(&job.request)).await {
                Ok(result) => (result, false),
                Err(_) => (Err(case_timeout_error(settings)), true),
            };
        let latency = started.elapsed();
        let (used, call_cost) = match &result {
            Ok(c) => {
                let used = c.usage.total();
                (used, provider::cost(job.provider.price(), c.usage))
            }
            // A failed call is not billed by the providers we know.
            Err(_) => (0, price_known.then_some(0.0)),
        };
        hold.settle(Spend {
            calls: 1,
            tokens: used,
            cost: call_cost,
        });
        cost = cost.zip(call_cost).map(|(a, b)| a + b);
        let result = result.and_then(within_tool_call_cap);
        let retry_in = match &result {
            Ok(_) => {
                ticket.succeeded(used);
                None
            }
            Err(e) => {
                drop(ticket);
                let delay = backoff(e, attempts, settings);
                if e.rate_limited {
                    job.lane.rate_limited(delay);
                }
                // A server that asks for a longer wait than the ceiling will not be ready sooner.
                let waits_too_long = e
                    .retry_after_ms
                    .is_some_and(|ms| Duration::from_millis(ms) > settings.max_retry_after);
                let retry = e.retry == Retry::Transient
                    && !deadline_hit
                    && !waits_too_long
                    && attempts <= settings.retries
                    && Instant::now() + delay < deadline_at;
                retry.then_some(delay)
            }
        };
        match retry_in {
            Some(delay) => {
                let _ = events.send(Message::Retrying);
                let mut stop = shared.stop.clone();
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            }
            None => {
                return Outcome::finished(result, latency.as_millis() as u64, attempts, cost);
            }
        }
    }
}

/// The most tool calls one reply may make: a reply past it (a model looping on a tool, or a
/// hostile endpoint) fails the call instead of growing the run's memory and reports.
pub(crate) const MAX_TOOL_CALLS: usize = 128;

/// `completion`, unless it makes more than [`MAX_TOOL_CALLS`] tool calls (a permanent
/// failure: the same request would make them again).
fn within_tool_call_cap(completion: Completion) -> std::result::Result<Completion, ProviderError> {
    match completion.tool_calls.len() {
        n if n > MAX_TOOL_CALLS => Err(ProviderError::permanent(format!(
            "the reply makes {n} tool calls, more than the {MAX_TOOL_CALLS} one reply may make"
        ))),
        _ => Ok(completion),
    }
}

fn case_timeout_error(settings: LaneSettings) -> ProviderError {
    ProviderError::transient(format!(
        "the case took longer than its {} s deadline (case_timeout_ms) across attempts",
        settings.case_timeout.as_secs_f64()
    ))
}

fn timed_out(settings: LaneSettings, attempts: u32, cost: Option<f64>) -> Outcome {
    Outcome::finished(Err(case_timeout_error(settings)), 0, attempts, cost)
}

/// Exponential backoff with full jitter, or the provider's `retry-after` (up to the ceiling)
/// when it gave one.
fn backoff(error: &ProviderError, attempt: u32, settings: LaneSettings) -> Duration {
    if let Some(ms) = error.retry_after_ms {
        return Duration::from_millis(ms).min(settings.max_retry_after);
    }
    let ceiling = settings
        .backoff
        .saturating_mul(1u32 << (attempt.max(1) - 1).min(10));
    let unit = (RandomState::new().hash_one(attempt) % 10_000) as f64 / 10_000.0;
    ceiling.mul_f64(unit)
}

/// Serializes a call's result as `{"completion": ...}` or `{"error": ...}` in the results log.
mod completion_or_error {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::provider::{Completion, ProviderError};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Repr<C, E> {
        Completion(C),
        Error(E),
    }

    pub(super) fn serialize<S: Serializer>(
        result: &Result<Box<Completion>, Box<ProviderError>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match result {
            Ok(c) => Repr::<&Completion, &ProviderError>::Completion(c).serialize(serializer),
            Err(e) => Repr::<&Completion, &ProviderError>::Error(e).serialize(serializer),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Result<Box<Completion>, Box<ProviderError>>, D::Error> {
        Ok(
            match Repr::<Box<Completion>, Box<ProviderError>>::deserialize(deserializer)? {
                Repr::Completion(c) => Ok(c),
                Repr::Error(e) => Err(e),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::{Params, Price};

    /// Answers after a short wait, failing transiently the first `flaky` times and permanently
    /// on a request whose text is `"refuse"`; counts calls and the most in flight at once.
    #[derive(Default)]
    struct Scripted {
        flaky: AtomicUsize,
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    impl Provider for Scripted {
        fn fingerprint(&self) -> &str {
            "scripted"
        }

        fn price(&self) -> Option<Price> {
            None
        }

        fn complete<'a>(
            &'a self,
            request: &'a Request,
        ) -> provider::BoxFuture<'a, std::result::Result<Completion, ProviderError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                let text = request.messages[0].text_content();
                if text == "refuse" {
                    return Err(ProviderError::permanent("refused"));
                }
                let flaky = self.flaky.load(Ordering::SeqCst);
                if flaky > 0 {
                    self.flaky.store(flaky - 1, Ordering::SeqCst);
                    return Err(ProviderError::transient("try again"));
                }
                Ok(Completion {
                    text: format!("echo {text}"),
                    ..Completion::default()
                })
            })
        }
    }

    fn jobs(provider: &Arc<Scripted>, texts: &[&str], settings: LaneSettings) -> Vec<Job> {
        let lane = Arc::new(Lane::new(settings));
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| Job {
                provider: provider.clone(),
                lane: lane.clone(),
                request: Request {
                    messages: vec![crate::artifact::Message::text("user", *text)],
                    params: Params::default().effective(),
                    sample: i as u32,
                    tools: Vec::new(),
                    reply_schema: None,
                },
            })
            .collect()
    }

    fn quick() -> LaneSettings {
        LaneSettings {
            backoff: Duration::from_millis(1),
            ..LaneSettings::default()
        }
    }

    #[test]
    fn a_transient_failure_is_retried_and_a_permanent_one_is_not() {
        let provider = Arc::new(Scripted {
            flaky: AtomicUsize::new(1),
            ..Scripted::default()
        });
        let mut retries = 0;
        let options = RunnerOptions {
            concurrency: 1,
            ..RunnerOptions::default()
        };
        let outcomes = run_all(jobs(&provider, &["hi", "refuse"], quick()), options, |e| {
            retries += usize::from(matches!(e, Event::Retrying));
        });
        assert_eq!(outcomes[0].result.as_ref().unwrap().text, "echo hi");
        assert_eq!((outcomes[0].attempts, retries), (2, 1));
        assert_eq!(outcomes[1].result.as_ref().unwrap_err().message, "refused");
        assert_eq!(outcomes[1].attempts, 1);
    }

    /// Runs `jobs` and returns their outcomes in job order, each reported once.
    fn run_all(
        jobs: Vec<Job>,
        options: RunnerOptions,
        mut on_event: impl FnMut(&Event<'_>),
    ) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
        run(jobs, options, |event| {
            on_event(&event);
            if let Event::Finished { index, outcome } = event {
                assert!(
                    outcomes[index].replace(outcome).is_none(),
                    "job {index} twice"
                );
            }
        })
        .unwrap();
        outcomes.into_iter().map(Option::unwrap).collect()
    }

    #[test]
    fn calls_in_flight_never_exceed_the_limit() {
        let provider = Arc::new(Scripted::default());
        let texts = ["a"; 24];
        let options = RunnerOptions {
            concurrency: 3,
            ..RunnerOptions::default()
        };
        let outcomes = run_all(jobs(&provider, &texts, quick()), options, |_| {});
        assert!(outcomes.iter().all(|o| o.result.is_ok()));
        let most = provider.most_in_flight.load(Ordering::SeqCst);
        assert!(
            (1..=3).contains(&most),
            "{most} calls were in flight at once"
        );
    }

    #[test]
    fn more_jobs_than_the_spawn_window_all_finish() {
        let provider = Arc::new(Scripted::default());
        let texts = vec!["a"; MIN_WINDOW * 2 + 7];
        let options = RunnerOptions {
            concurrency: 64,
            ..RunnerOptions::default()
        };
        let mut finished = 0;
        let outcomes = run_all(jobs(&provider, &texts, quick()), options, |e| {
            finished += usize::from(matches!(e, Event::Finished { .. }));
        });
        assert_eq!(outcomes.len(), texts.len());
        assert_eq!(finished, texts.len());
        assert!(outcomes.iter().all(|o| o.result.is_ok()));
    }

    #[test]
    fn a_call_cap_skips_the_rest_and_reports_every_job() {
        let provider = Arc::new(Scripted::default());
        let options = RunnerOptions {
            concurrency: 1,
            budget: BudgetLimits {
                max_calls: Some(2),
                ..BudgetLimits::default()
            },
            ..RunnerOptions::default()
        };
        let mut finished = Vec::new();
        let outcomes = run_all(jobs(&provider, &["a"; 5], quick()), options, |e| {
            if let Event::Finished { index, .. } = e {
                finished.push(*index);
            }
        });
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
        assert_eq!(outcomes.iter().filter(|o| o.skipped).count(), 3);
        finished.sort_unstable();
        assert_eq!(finished, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn tool_definitions_count_in_a_call_s_worst_case() {
        let provider = Arc::new(Scripted::default());
        let plain = jobs(&provider, &["hi"], quick()).remove(0).request;
        let mut with_tools = plain.clone();
        with_tools.tools = vec![crate::artifact::ToolDef {
            name: "lookup_order".into(),
            description: Some("Find an order by its id.".into()),
            input_schema: serde_json::json!({ "type": "object", "properties": { "order_id": { "type": "string" } } }),
        }];
        let definition = serde_json::to_string(&with_tools.tools[0]).unwrap().len() as u64;
        assert_eq!(
            input_bound(&with_tools),
            input_bound(&plain) + definition + TOOL_FRAMING
        );
        assert!(input_estimate(&with_tools) > input_estimate(&plain));
    }
}
