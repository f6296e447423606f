//! A provider's batch endpoint (`check --batch`): many requests submitted as one batch at a
//! lower price, run by the provider within a day, polled, and their results collected.
//!
//! The HTTP providers of APIs that have one implement [`Batch`] (OpenAI's Batch API and
//! Anthropic's Message Batches, in [`super::wire`]); scheduling, splitting and resuming belong
//! to the runner.

use std::time::Duration;

use serde_json::Value;

use crate::config::Price;
use crate::provider::call::{BoxFuture, Completion, ProviderError, Request};

/// What one batch may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Requests at most.
    pub max_requests: usize,
    /// Bytes of encoded requests at most.
    pub max_bytes: u64,
}

/// Where a submitted batch stands.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchState {
    /// Still running: `done` of `total` requests have ended.
    Running {
        /// Requests ended so far.
        done: u64,
        /// Requests in the batch.
        total: u64,
    },
    /// Every request has ended (or the batch failed, expired or was cancelled); its results
    /// can be read.
    Ended(Ended),
}

/// How a batch ended: where its results are, and why it failed if it did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ended {
    /// The provider's ids of the result files to read (OpenAI: output and error files; empty
    /// for APIs that serve results by the batch's id).
    pub files: Vec<String>,
    /// Why the whole batch was refused (validation failed), when it was: every request in it
    /// failed for that reason.
    pub refused: Option<String>,
}

/// A batch's result for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemResult {
    /// The API's reply body, as a direct call would have returned it.
    Reply(Value),
    /// The request failed inside the batch; its retry class says whether a direct call may
    /// succeed.
    Failed(ProviderError),
    /// The request did not run before the batch expired or was cancelled.
    Expired,
}

/// A provider's batch API.
pub trait Batch: Send + Sync {
    /// What one batch may hold.
    fn limits(&self) -> BatchLimits;

    /// The price of a batched call, when the provider's price is known.
    fn price(&self) -> Option<Price>;

    /// The first and the longest wait between two polls of a running batch.
    fn poll_waits(&self) -> (Duration, Duration);

    /// How long a run waits for one of its batches to end before leaving it to `--resume`.
    fn max_wait(&self) -> Duration;

    /// One request as a line of the batch (the request's key as its custom id); its bytes count
    /// against [`BatchLimits::max_bytes`].
    fn line(&self, id: &str, request: &Request) -> String;

    /// Submits `lines` as one batch; returns the provider's id for it.
    fn submit<'a>(&'a self, lines: &'a [String]) -> BoxFuture<'a, Result<String, ProviderError>>;

    /// Where the batch `id` stands.
    fn poll<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BatchState, ProviderError>>;

    /// The results of the ended batch `id`, by custom id; a request absent from them did not
    /// run.
    fn results<'a>(
        &'a self,
        id: &'a str,
        ended: &'a Ended,
    ) -> BoxFuture<'a, Result<Vec<(String, ItemResult)>, ProviderError>>;

    /// The completion a reply body carries (read as a direct call's reply is).
    fn completion(&self, reply: Value, request: &Request) -> Result<Completion, ProviderError>;
}

/// Whether `id`, as a provider returned it, is safe to put in a URL path: letters, digits,
/// `-` and `_` only, so a hostile server cannot point the next request (which carries the API
/// key) anywhere else.
pub(crate) fn safe_id(id: &str) -> Result<&str, ProviderError> {
    let safe = !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match safe {
        true => Ok(id),
        false => Err(ProviderError::permanent(format!(
            "the batch API returned an id that is not a plain name: {}",
            super::http::snippet(id)
        ))),
    }
}

/// The batch price when only the direct price is configured: half of it, the discount both
/// OpenAI and Anthropic publish for their batch APIs.
pub(crate) fn half(price: Price) -> Price {
    Price {
        input_per_mtok: price.input_per_mtok / 2.0,
        output_per_mtok: price.output_per_mtok / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_path_characters_are_refused() {
        assert!(safe_id("batch_abc-123").is_ok());
        assert!(safe_id("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF").is_ok());
        for hostile in ["", "../files", "a/b", "x?y=1", "http://evil", "a b"] {
            assert!(safe_id(hostile).is_err(), "{hostile}");
        }
    }
}
