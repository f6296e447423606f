//! The runner: executes provider calls concurrently on its own tokio runtime, under a global
//! limit and per-provider limits, retrying transient failures, and reports each finished call
//! to the caller's callback on the calling thread. Callers stay synchronous.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::errors::{Error, Result};
use crate::provider::{self, Completion, Provider, ProviderError, Request, Retry};

/// One provider call to make.
pub struct Job {
    /// The provider to call.
    pub provider: Arc<dyn Provider>,
    /// The provider's concurrency limit (shared by every job for that provider).
    pub limit: Arc<Semaphore>,
    /// The request.
    pub request: Request,
}

/// What became of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The completion, or the last error after retries; recorded as `{"completion": ...}` or
    /// `{"error": ...}`.
    #[serde(with = "completion_or_error")]
    pub result: Result<Completion, ProviderError>,
    /// Wall time of the final attempt in milliseconds.
    pub latency_ms: u64,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
    /// Cost of all attempts in dollars; `None` when the price is unknown.
    pub cost: Option<f64>,
    /// Whether the completion came from the response cache (no call was made).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

/// How the runner schedules and retries.
#[derive(Debug, Clone, Copy)]
pub struct RunnerOptions {
    /// Calls in flight at once across all providers.
    pub concurrency: usize,
    /// Extra attempts for transient failures.
    pub retries: u32,
    /// First backoff delay; doubles with each retry, with full jitter.
    pub backoff: Duration,
    /// Longest wait honoured from a provider's `retry-after`.
    pub max_retry_after: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            retries: 2,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// A semaphore per provider fingerprint, sized by the provider's configured concurrency.
#[derive(Default)]
pub struct Limits {
    by_provider: HashMap<String, Arc<Semaphore>>,
}

impl Limits {
    /// The shared limit for `provider`, created with `permits` on first use.
    pub fn for_provider(&mut self, provider: &dyn Provider, permits: usize) -> Arc<Semaphore> {
        self.by_provider
            .entry(provider.fingerprint().to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(permits.max(1))))
            .clone()
    }
}

/// Runs every job and returns their outcomes in job order. `on_finished(index, outcome)` is
/// called on the calling thread as each job completes, in completion order.
pub fn run(
    jobs: Vec<Job>,
    options: RunnerOptions,
    mut on_finished: impl FnMut(usize, &Outcome),
) -> Result<Vec<Outcome>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let total = jobs.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    runtime.block_on(async {
        let global = Arc::new(Semaphore::new(options.concurrency.max(1)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (index, job) in jobs.into_iter().enumerate() {
            let tx = tx.clone();
            let global = global.clone();
            tokio::spawn(async move {
                let outcome = execute(&job, &global, options).await;
                // The receiver lives until every job has reported.
                let _ = tx.send((index, outcome));
            });
        }
        drop(tx);
        while let Some((index, outcome)) = rx.recv().await {
            on_finished(index, &outcome);
            outcomes[index] = Some(outcome);
        }
    });
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            o.ok_or_else(|| Error::Internal(format!("job {i} did not report an outcome")))
        })
        .collect()
}

async fn execute(job: &Job, global: &Semaphore, options: RunnerOptions) -> Outcome {
    let mut attempts = 0;
    let mut cost = Some(0.0);
    loop {
        attempts += 1;
        let (result, latency) = {
            // Both permits are held only for the call itself, never across a backoff sleep.
            let _provider_permit = job.limit.acquire().await.expect("limits are never closed");
            let _global_permit = global.acquire().await.expect("limits are never closed");
            let started = Instant::now();
            let result = job.provider.complete(&job.request).await;
            (result, started.elapsed())
        };
        if let Ok(completion) = &result {
            cost = cost
                .zip(provider::cost(job.provider.price(), completion.usage))
                .map(|(a, b)| a + b);
        }
        let retry_in = match &result {
            Err(e) if e.retry == Retry::Transient && attempts <= options.retries => {
                Some(backoff(e, attempts, options))
            }
            _ => None,
        };
        match retry_in {
            Some(delay) => tokio::time::sleep(delay).await,
            None => {
                let cost = if job.provider.price().is_some() {
                    cost
                } else {
                    None
                };
                return Outcome {
                    result,
                    latency_ms: latency.as_millis() as u64,
                    attempts,
                    cost,
                    cached: false,
                };
            }
        }
    }
}

/// Exponential backoff with full jitter, or the provider's `retry-after` when it gave one.
fn backoff(error: &ProviderError, attempt: u32, options: RunnerOptions) -> Duration {
    if let Some(ms) = error.retry_after_ms {
        return Duration::from_millis(ms).min(options.max_retry_after);
    }
    let ceiling = options
        .backoff
        .saturating_mul(1u32 << (attempt - 1).min(10));
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
        result: &Result<Completion, ProviderError>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match result {
            Ok(c) => Repr::<&Completion, &ProviderError>::Completion(c).serialize(serializer),
            Err(e) => Repr::<&Completion, &ProviderError>::Error(e).serialize(serializer),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Result<Completion, ProviderError>, D::Error> {
        Ok(
            match Repr::<Completion, ProviderError>::deserialize(deserializer)? {
                Repr::Completion(c) => Ok(c),
                Repr::Error(e) => Err(e),
            },
        )
    }
}
