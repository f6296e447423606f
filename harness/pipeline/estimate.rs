//! The estimate stage: what a planned run would spend (`check --dry-run`), per provider,
//! counting cache hits as free, before any call is made.

use std::path::Path;

use super::calls::price;
use super::jobs::{Jobs, PlannedJob};
use super::request::CallOptions;
use crate::cache::Cache;

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
pub(crate) fn estimate(root: &Path, jobs: &Jobs, options: &CallOptions) -> Vec<Estimate> {
    let cache = (!options.no_cache).then(|| Cache::open(root));
    let mut estimates: Vec<Estimate> = Vec::new();
    for PlannedJob { job, key, .. } in &jobs.planned {
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
