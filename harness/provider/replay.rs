//! The `replay` provider: answers from a recorded cassette and makes no call.
//!
//! `check --provider replay` replaces each suite's provider with a replay of that provider's
//! cassette (`fixtures/cassettes/NAME.jsonl`), so a suite runs offline and gives the recorded
//! outputs. A request with no recording fails its case with a message that says how to record it.

use crate::config::{EffectiveParams, Price};
use crate::provider::api::Provider;
use crate::provider::call::{BoxFuture, Completion, ProviderError, Request};
use crate::provider::cassette::Cassette;

/// Replays one provider's cassette.
#[derive(Debug)]
pub(crate) struct Replay {
    cassette: Cassette,
    fingerprint: String,
}

impl Replay {
    /// A replay of `cassette`.
    pub(crate) fn new(cassette: Cassette) -> Self {
        let fingerprint = format!("replay:{}", cassette.provider);
        Self {
            cassette,
            fingerprint,
        }
    }
}

impl Provider for Replay {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn cacheable(&self) -> bool {
        false
    }

    /// A recording answers every sample of a request as it was recorded.
    fn deterministic(&self, _params: &EffectiveParams) -> bool {
        true
    }

    /// Replaying costs nothing.
    fn price(&self) -> Option<Price> {
        Some(Price {
            input_per_mtok: 0.0,
            output_per_mtok: 0.0,
        })
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let recorded = self
                .cassette
                .get(request)
                .map_err(|e| ProviderError::permanent(e.to_string()))?;
            recorded.cloned().ok_or_else(|| {
                ProviderError::permanent(format!(
                    "no recorded response for this request in {} (the prompt, the case or the parameters changed since it was recorded); record it with `promptgate check --record`",
                    self.cassette.file
                ))
            })
        })
    }
}
