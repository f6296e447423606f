//! Calls through the providers' batch APIs (`--batch`): a wave's requests are submitted as
//! batches (one request per distinct key, split at each API's count and size limits), each
//! accepted batch is reported at once so the run directory records it, the batches are polled
//! with a doubling wait, and their results become outcomes as each batch ends.
//!
//! A request that expired, was cancelled or failed transiently inside its batch is made again
//! as a direct call (with the lane's retries); one that failed permanently is an error. A
//! resumed run attaches to the batches an earlier attempt submitted and never submits their
//! requests again. An interrupt leaves the batches running at the provider: their requests come
//! back skipped, and the resumed run collects them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{
    Budget, Event, Job, Outcome, RunnerOptions, Signals, Submission, next_signal, sleep_until,
};
use crate::errors::{Error, Result};
use crate::provider::batch::{Batch, BatchState, Ended, ItemResult};
use crate::provider::{self, Provider, ProviderError, Retry};

/// Polls of one batch that may fail in a row before its requests are left for a resumed run.
const POLL_FAILURES: u32 = 5;

/// One distinct request of the wave: the jobs that share its key (the first one's request is
/// sent).
struct Group {
    jobs: Vec<usize>,
}

/// A batch being waited for.
struct Open {
    submission: Submission,
    provider: Arc<dyn Provider>,
    groups: Vec<usize>,
    wait: Duration,
    next: Instant,
    /// When the run stops waiting for it (left to `--resume`).
    deadline: Instant,
    failures: u32,
}

/// The wave being batched: its jobs, their keys, and the jobs that share each key.
struct Wave<'w> {
    jobs: &'w [Job],
    keys: &'w [String],
    groups: Vec<Group>,
    group_of: HashMap<&'w str, usize>,
}

impl<'w> Wave<'w> {
    fn new(jobs: &'w [Job], keys: &'w [String]) -> Self {
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of: HashMap<&str, usize> = HashMap::new();
        for (index, key) in keys.iter().enumerate() {
            let g = *group_of.entry(key.as_str()).or_insert_with(|| {
                groups.push(Group { jobs: Vec::new() });
                groups.len() - 1
            });
            groups[g].jobs.push(index);
        }
        Self {
            jobs,
            keys,
            groups,
            group_of,
        }
    }

    /// The job whose request a group sends.
    fn sent(&self, g: usize) -> &'w Job {
        &self.jobs[self.groups[g].jobs[0]]
    }

    /// A group's key: its requests' custom id.
    fn key(&self, g: usize) -> &'w str {
        &self.keys[self.groups[g].jobs[0]]
    }
}

/// Where the batch phase puts what it learns: each group's outcome (reported to the caller
/// for every job of the group as it is known) and the groups to make as direct calls.
struct Sink<'s> {
    groups: &'s [Group],
    /// Whether each group's outcome was reported.
    reported: Vec<bool>,
    direct: Vec<usize>,
    on_event: &'s mut dyn FnMut(Event<'_>),
}

impl Sink<'_> {
    fn report(&mut self, g: usize, outcome: Outcome) {
        self.reported[g] = true;
        finish_group(&self.groups[g], outcome, self.on_event);
    }

    /// Reports every group of `groups` skipped, for `why`.
    fn skip(&mut self, groups: &[usize], why: &str) {
        for &g in groups {
            self.report(g, Outcome::skipped(why, 0, None));
        }
    }

    fn emit(&mut self, event: Event<'_>) {
        (self.on_event)(event);
    }
}

/// Reports `outcome` as every job of `group`'s (identical requests, sent once).
fn finish_group(group: &Group, outcome: Outcome, on_event: &mut dyn FnMut(Event<'_>)) {
    if let Some((&last, others)) = group.jobs.split_last() {
        for &index in others {
            on_event(Event::Finished {
                index,
                outcome: outcome.clone(),
            });
        }
        on_event(Event::Finished {
            index: last,
            outcome,
        });
    }
}

/// Runs `jobs` (whose content keys are `keys`) through their providers' batch APIs, handing
/// each job's outcome to `on_event` as it is known, as [`super::run`] does; `earlier` are the
/// batches an earlier attempt of the run submitted. Every job's provider must have a batch API.
pub(crate) fn run(
    jobs: Vec<Job>,
    keys: &[String],
    earlier: &[Submission],
    options: RunnerOptions,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let wave = Wave::new(&jobs, keys);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let budget = Budget::new(options.budget);
    let mut sink = Sink {
        groups: &wave.groups,
        reported: vec![false; wave.groups.len()],
        direct: Vec::new(),
        on_event: &mut on_event,
    };
    let interrupted = runtime.block_on(async {
        let mut open = attach(earlier, &wave);
        let attached: std::collections::HashSet<usize> =
            open.iter().flat_map(|o| o.groups.iter().copied()).collect();
        let new: Vec<usize> = (0..wave.groups.len())
            .filter(|g| !attached.contains(g))
            .collect();
        open.extend(submit_new(&wave, &new, &budget, &mut sink).await);
        let mut signals = options.interrupt_grace.map(|_| Signals::new());
        wait(open, &wave, &mut signals, &mut sink).await
    });
    drop(runtime);
    let Sink {
        mut reported,
        direct,
        ..
    } = sink;
    for &g in &direct {
        reported[g] = true;
    }
    if !direct.is_empty() {
        match interrupted {
            true => {
                let why = "interrupted before the call";
                for &g in &direct {
                    finish_group(
                        &wave.groups[g],
                        Outcome::skipped(why, 0, None),
                        &mut on_event,
                    );
                }
            }
            false => call_directly(&wave, &direct, budget.left(), options, &mut on_event)?,
        }
    }
    // A group an interrupt left unreported is skipped.
    for (g, _) in reported.iter().enumerate().filter(|(_, done)| !**done) {
        let skipped = Outcome::skipped("interrupted", 0, None);
        finish_group(&wave.groups[g], skipped, &mut on_event);
    }
    Ok(())
}

/// Submits the groups `new` (within the budget), split into batches at each provider's
/// limits; returns the batches the providers accepted, each reported as it is accepted.
async fn submit_new(
    wave: &Wave<'_>,
    new: &[usize],
    budget: &Budget,
    sink: &mut Sink<'_>,
) -> Vec<Open> {
    // By provider, in order of first appearance.
    let mut by_provider: Vec<(Arc<dyn Provider>, Vec<usize>)> = Vec::new();
    for &g in new {
        let provider = &wave.sent(g).provider;
        match by_provider
            .iter_mut()
            .find(|(p, _)| p.fingerprint() == provider.fingerprint())
        {
            Some((_, members)) => members.push(g),
            None => by_provider.push((provider.clone(), vec![g])),
        }
    }
    let mut open = Vec::new();
    for (provider, members) in by_provider {
        let Some(batch) = provider.batch() else {
            let error =
                ProviderError::permanent(format!("{} has no batch API", provider.fingerprint()));
            for g in members {
                sink.report(g, Outcome::finished(Err(error.clone()), 0, 0, None));
            }
            continue;
        };
        let mut admitted = Vec::new();
        for g in members {
            match budget.admit(super::worst_case(&wave.sent(g).request, batch.price())) {
                Ok(()) => admitted.push(g),
                Err(cap) => sink.report(g, Outcome::skipped(cap, 0, None)),
            }
        }
        let lines: Vec<String> = admitted
            .iter()
            .map(|&g| batch.line(wave.key(g), &wave.sent(g).request))
            .collect();
        let limits = batch.limits();
        let mut start = 0;
        while start < admitted.len() {
            let (end, bytes) = chunk_end(&lines, start, limits);
            if end == start {
                let error = ProviderError::permanent(format!(
                    "the request is {bytes} bytes, more than a batch may hold ({} bytes)",
                    limits.max_bytes
                ));
                sink.report(admitted[start], batched(Err(error), batch));
                start += 1;
                continue;
            }
            let chunk = &admitted[start..end];
            match submit(batch, &lines[start..end], &wave.sent(chunk[0]).lane).await {
                Ok(id) => {
                    let submission = Submission {
                        provider: provider.fingerprint().to_string(),
                        batch: id,
                        keys: chunk.iter().map(|&g| wave.key(g).to_string()).collect(),
                        submitted_at: chrono::Utc::now().to_rfc3339(),
                    };
                    sink.emit(Event::Submitted(&submission));
                    sink.emit(Event::Note(format!(
                        "submitted batch {} ({} requests) to {}",
                        submission.batch,
                        chunk.len(),
                        submission.provider
                    )));
                    let (first, _) = batch.poll_waits();
                    open.push(Open {
                        submission,
                        provider: provider.clone(),
                        groups: chunk.to_vec(),
                        wait: first,
                        next: Instant::now() + first,
                        deadline: Instant::now() + batch.max_wait(),
                        failures: 0,
                    });
                }
                Err(error) => {
                    for &g in chunk {
                        sink.report(g, batched(Err(error.clone()), batch));
                    }
                }
            }
            start = end;
        }
    }
    open
}

/// Polls the `open` batches with a doubling wait, collecting each as it ends. Returns whether
/// an interrupt stopped the wait (the batches still open are then left to a resumed run).
async fn wait(
    mut open: Vec<Open>,
    wave: &Wave<'_>,
    signals: &mut Option<Signals>,
    sink: &mut Sink<'_>,
) -> bool {
    while !open.is_empty() {
        let next = open.iter().map(|o| o.next).min();
        tokio::select! {
            () = sleep_until(next) => {}
            () = next_signal(signals) => {
                sink.emit(Event::Detached);
                for o in open.drain(..) {
                    let why = format!(
                        "batch {} is still running at the provider; `--resume` collects it without submitting it again",
                        o.submission.batch
                    );
                    sink.skip(&o.groups, &why);
                }
                return true;
            }
        }
        let mut i = 0;
        while i < open.len() {
            if open[i].next > Instant::now() {
                i += 1;
                continue;
            }
            if open[i].deadline <= Instant::now() {
                let o = open.remove(i);
                let why = format!(
                    "batch {} did not end within the run's wait (max_wait_ms); `--resume` collects it without submitting it again",
                    o.submission.batch
                );
                sink.skip(&o.groups, &why);
                continue;
            }
            let o = &mut open[i];
            let batch = o.provider.batch().expect("checked when submitted");
            let (_, longest) = batch.poll_waits();
            match batch.poll(&o.submission.batch).await {
                Ok(BatchState::Running { done, total }) => {
                    sink.emit(Event::Note(format!(
                        "batch {}: {done} of {total} requests done",
                        o.submission.batch
                    )));
                    o.failures = 0;
                    o.wait = (o.wait * 2).min(longest);
                    o.next = (Instant::now() + o.wait).min(o.deadline);
                    i += 1;
                }
                Ok(BatchState::Ended(ended)) => {
                    let o = open.remove(i);
                    let batch = o.provider.batch().expect("checked when submitted");
                    collect(batch, &o, &ended, wave, sink).await;
                }
                Err(e) if e.retry == Retry::Transient && o.failures < POLL_FAILURES => {
                    o.failures += 1;
                    o.next = Instant::now() + o.wait;
                    i += 1;
                }
                Err(e) => {
                    let o = open.remove(i);
                    let why = format!(
                        "cannot poll batch {} ({e}); `--resume` tries again without submitting it again",
                        o.submission.batch
                    );
                    sink.skip(&o.groups, &why);
                }
            }
        }
    }
    false
}

/// Makes the groups `direct` as direct calls (with the lane's retries), within what the budget
/// left; reports each for every job of its group.
fn call_directly(
    wave: &Wave<'_>,
    direct: &[usize],
    budget: crate::runner::BudgetLimits,
    options: RunnerOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<()> {
    on_event(Event::Note(format!(
        "{} requests did not run in their batch (expired, cancelled or failed for now); calling them directly",
        direct.len()
    )));
    let jobs: Vec<Job> = direct
        .iter()
        .map(|&g| {
            let job = wave.sent(g);
            Job {
                provider: job.provider.clone(),
                lane: job.lane.clone(),
                request: job.request.clone(),
            }
        })
        .collect();
    let options = RunnerOptions { budget, ..options };
    super::run(jobs, options, |event| match event {
        Event::Finished { index, outcome } => {
            finish_group(&wave.groups[direct[index]], outcome, on_event);
        }
        other => on_event(other),
    })
}

/// The batches an earlier attempt submitted that hold requests of this wave, each with the
/// groups it answers (a group goes to the first batch that has its key).
fn attach(earlier: &[Submission], wave: &Wave<'_>) -> Vec<Open> {
    let mut taken = vec![false; wave.groups.len()];
    let mut open = Vec::new();
    for submission in earlier {
        let mut members = Vec::new();
        let mut provider = None;
        for key in &submission.keys {
            let Some(&g) = wave.group_of.get(key.as_str()) else {
                continue;
            };
            let job = wave.sent(g);
            if taken[g] || job.provider.fingerprint() != submission.provider {
                continue;
            }
            let Some(batch) = job.provider.batch() else {
                continue;
            };
            taken[g] = true;
            members.push(g);
            provider.get_or_insert_with(|| {
                let waits = (batch.poll_waits().0, batch.max_wait());
                (job.provider.clone(), waits)
            });
        }
        if let Some((provider, (first, max_wait))) = provider {
            open.push(Open {
                submission: submission.clone(),
                provider,
                groups: members,
                wait: first,
                // An earlier attempt's batch may have ended long ago: look at once.
                next: Instant::now(),
                deadline: Instant::now() + max_wait,
                failures: 0,
            });
        }
    }
    open
}

/// Reads an ended batch's results into outcomes; what did not run goes to `direct`.
async fn collect(
    batch: &dyn Batch,
    open: &Open,
    ended: &Ended,
    wave: &Wave<'_>,
    sink: &mut Sink<'_>,
) {
    let id = &open.submission.batch;
    if let Some(reason) = &ended.refused {
        for &g in &open.groups {
            let error = ProviderError::permanent(reason.clone());
            sink.report(g, batched(Err(error), batch));
        }
        return;
    }
    let results = match batch.results(id, ended).await {
        Ok(results) => results,
        Err(e) => {
            let why =
                format!("cannot read the results of batch {id} ({e}); `--resume` tries again");
            sink.skip(&open.groups, &why);
            return;
        }
    };
    let mut answered = vec![false; sink.groups.len()];
    for (custom_id, result) in results {
        // Only this batch's own requests: an id the batch did not hold is ignored.
        let Some(&g) = wave.group_of.get(custom_id.as_str()) else {
            continue;
        };
        if answered[g] || !open.groups.contains(&g) {
            continue;
        }
        answered[g] = true;
        let request = &wave.sent(g).request;
        let result = match result {
            ItemResult::Reply(reply) => batch.completion(reply, request),
            ItemResult::Failed(error) => Err(error),
            ItemResult::Expired => {
                sink.direct.push(g);
                continue;
            }
        };
        match result {
            Err(e) if e.retry == Retry::Transient => sink.direct.push(g),
            result => sink.report(g, batched(result, batch)),
        }
    }
    sink.direct
        .extend(open.groups.iter().filter(|&&g| !answered[g]));
}

/// The outcome of a request answered (or refused) by a batch: one attempt, at the batch price.
fn batched(
    result: std::result::Result<provider::Completion, ProviderError>,
    batch: &dyn Batch,
) -> Outcome {
    let cost = match &result {
        Ok(c) => provider::cost(batch.price(), c.usage),
        Err(_) => batch.price().map(|_| 0.0),
    };
    Outcome {
        batched: true,
        ..Outcome::finished(result, 0, 1, cost)
    }
}

/// Where the batch that starts at `lines[start]` ends (exclusive), within both limits, and the
/// bytes of the first line (for the message when even it does not fit).
fn chunk_end(
    lines: &[String],
    start: usize,
    limits: crate::provider::batch::BatchLimits,
) -> (usize, u64) {
    let mut bytes = 0u64;
    let mut end = start;
    while end < lines.len() && end - start < limits.max_requests {
        // A newline (OpenAI's JSONL) or a comma (Anthropic's array) between requests.
        let size = lines[end].len() as u64 + 1;
        if bytes + size > limits.max_bytes {
            break;
        }
        bytes += size;
        end += 1;
    }
    (end, lines.get(start).map_or(0, |l| l.len() as u64 + 1))
}

/// Submits one batch, waiting and trying again while the API says it is rate limited (as the
/// lane's retries allow). Any other failure is not retried: a batch the provider created but
/// whose answer was lost would be submitted twice.
async fn submit(
    batch: &dyn Batch,
    lines: &[String],
    lane: &super::Lane,
) -> std::result::Result<String, ProviderError> {
    let settings = *lane.settings();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match batch.submit(lines).await {
            Err(e) if e.rate_limited && attempt <= settings.retries => {
                tokio::time::sleep(super::backoff(&e, attempt, settings)).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::batch::BatchLimits;

    #[test]
    fn batches_split_at_the_request_and_the_byte_limits() {
        let lines: Vec<String> = (0..10).map(|i| format!("{i:09}")).collect(); // 10 bytes each with the separator
        let by_count = BatchLimits {
            max_requests: 4,
            max_bytes: 1_000,
        };
        assert_eq!(chunk_end(&lines, 0, by_count).0, 4);
        assert_eq!(chunk_end(&lines, 8, by_count).0, 10);
        let by_bytes = BatchLimits {
            max_requests: 100,
            max_bytes: 35,
        };
        assert_eq!(chunk_end(&lines, 0, by_bytes).0, 3);
        let too_small = BatchLimits {
            max_requests: 100,
            max_bytes: 5,
        };
        assert_eq!(chunk_end(&lines, 0, too_small), (0, 10));
    }
}
