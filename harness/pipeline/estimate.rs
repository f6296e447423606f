//! The estimate stage: what a planned run would spend (`check --dry-run`), per provider,
//! counting cache hits as free, before any call is made: the first samples and their judges,
//! and the most the rounds after them can add.

use std::path::Path;

use super::calls::price;
use super::jobs::{Jobs, PlannedJob};
use super::plan::PlannedCandidate;
use super::request::CallOptions;
use super::rounds::Sampling;
use crate::cache::Cache;
use crate::config::Price;

/// What a provider's share of a run would spend (`check --dry-run`): the first samples and
/// their judges, which every run makes, and the most the rounds after them can add.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// The provider's fingerprint.
    pub provider: String,
    /// Calls for the first samples (answered by no cache).
    pub calls: usize,
    /// Requests of the first samples the response cache would answer.
    pub cached: usize,
    /// Judge calls grading the first samples (a pairwise judge asks both orders).
    pub judge_calls: usize,
    /// The most calls the rounds after the first can add: every case sampled `confirm` more
    /// times per version (as if every one disagreed), and with `--adaptive` up to its
    /// `max_samples`, each with its judges.
    pub max_extra_calls: usize,
    /// The most calls in all: `calls + judge_calls + max_extra_calls`.
    pub max_calls: usize,
    /// Input tokens of every call counted in `max_calls`, estimated from the rendered
    /// messages (words; a judged output counted at its call's `max_tokens`).
    pub input_tokens: u64,
    /// Output tokens at most (each call's `max_tokens`), over `max_calls`.
    pub max_output_tokens: u64,
    /// The most `max_calls` can cost; `None` when a price is unknown.
    pub max_cost: Option<f64>,
}

impl Estimate {
    fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_string(),
            calls: 0,
            cached: 0,
            judge_calls: 0,
            max_extra_calls: 0,
            max_calls: 0,
            input_tokens: 0,
            max_output_tokens: 0,
            max_cost: Some(0.0),
        }
    }

    /// Counts `times` calls of `request` on `provider`'s price (at most its `max_tokens` out).
    fn add(&mut self, request: &crate::provider::Request, price: Option<Price>, times: usize) {
        let usage = crate::provider::Usage::from_reply(
            (None, Some(u64::from(request.params.max_tokens))),
            request,
            "",
        );
        let n = times as u64;
        self.max_calls += times;
        self.input_tokens = self.input_tokens.saturating_add(usage.input_tokens * n);
        self.max_output_tokens = self
            .max_output_tokens
            .saturating_add(usage.output_tokens * n);
        self.max_cost = self
            .max_cost
            .zip(crate::provider::cost(price, usage))
            .map(|(total, one)| total + one * times as f64);
    }
}

/// Estimates the calls, tokens and cost of `jobs`, per provider: the first samples (cache hits
/// free) and their judges, and the most the confirmation and adaptive rounds `sampling`
/// allows can add; with `options.batch`, at the providers' batch prices.
pub(crate) fn estimate(
    root: &Path,
    planned: &[PlannedCandidate<'_>],
    jobs: &Jobs,
    options: &CallOptions,
    sampling: Sampling,
) -> Vec<Estimate> {
    let cache = (!options.no_cache).then(|| Cache::open(root));
    let may_disagree = may_disagree(planned, jobs.planned.len());
    // Every later round re-samples a case at most this many more times per version.
    let extra = match sampling.adaptive {
        true => sampling.confirm.max(sampling.max_samples.saturating_sub(1)),
        false => sampling.confirm,
    } as usize;
    let mut estimates: Vec<Estimate> = Vec::new();
    let at = |estimates: &mut Vec<Estimate>, fingerprint: &str| -> usize {
        match estimates.iter().position(|e| e.provider == fingerprint) {
            Some(i) => i,
            None => {
                estimates.push(Estimate::new(fingerprint));
                estimates.len() - 1
            }
        }
    };
    for (
        n,
        PlannedJob {
            job, key, judges, ..
        },
    ) in jobs.planned.iter().enumerate()
    {
        let extra = if may_disagree[n] { extra } else { 0 };
        let index = at(&mut estimates, job.provider.fingerprint());
        let e = &mut estimates[index];
        let call_price = price(&*job.provider, options.batch);
        let cached =
            job.provider.cacheable() && cache.as_ref().is_some_and(|c| c.get(key).is_some());
        match cached {
            true => e.cached += 1,
            false => {
                e.calls += 1;
                e.add(&job.request, call_price, 1);
            }
        }
        e.max_extra_calls += extra;
        e.add(&job.request, call_price, extra);
        if judges.is_empty() {
            continue;
        }
        // A judged output is counted at its call's most tokens.
        let judged = "x ".repeat(job.request.params.max_tokens as usize);
        for task in judges {
            let baseline = task.against.map(|_| judged.as_str());
            let Ok(requests) = task.requests(&judged, baseline, 0) else {
                continue;
            };
            let provider = &*task.provider().provider;
            let index = at(&mut estimates, provider.fingerprint());
            let j = &mut estimates[index];
            let judge_price = price(provider, options.batch);
            for request in &requests {
                let first = usize::from(!cached);
                j.judge_calls += first;
                j.max_extra_calls += extra;
                j.add(request, judge_price, first + extra);
            }
        }
    }
    estimates
}

/// Which of `jobs` jobs belong to a case whose versions make different calls: only such a case
/// can disagree, and be sampled again.
fn may_disagree(planned: &[PlannedCandidate<'_>], jobs: usize) -> Vec<bool> {
    let mut may = vec![false; jobs];
    for suite in planned.iter().flat_map(|c| &c.suites) {
        for (baseline, candidate) in suite.baseline.iter().zip(&suite.candidate) {
            if baseline != candidate {
                for &job in baseline.iter().chain(candidate) {
                    if let Some(slot) = may.get_mut(job) {
                        *slot = true;
                    }
                }
            }
        }
    }
    may
}
