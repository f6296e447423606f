//! The one trait every model backend implements.

use super::batch::Batch;
use super::call::{BoxFuture, Completion, ProviderError, Request};
use crate::config::{EffectiveParams, Price};

/// A model backend.
pub trait Provider: Send + Sync {
    /// The identity that goes into cache keys and records: kind, model and endpoint, never keys.
    fn fingerprint(&self) -> &str;

    /// What calls sharing one rate limit have in common (endpoint, model and key); calls with
    /// the same lane key share one concurrency limit and cooldown. Never persisted.
    fn lane_key(&self) -> String {
        self.fingerprint().to_string()
    }

    /// Token prices, when known. `None` means cost is unknown, which is never treated as zero.
    fn price(&self) -> Option<Price>;

    /// Whether completions may be kept in the response cache (false for providers that are
    /// instant and free, where an entry would only take space).
    fn cacheable(&self) -> bool {
        true
    }

    /// Whether every sample of one request with `params` gets the same reply, so an observed
    /// change is certain and re-sampling it would only spend calls.
    fn deterministic(&self, _params: &EffectiveParams) -> bool {
        false
    }

    /// Calls in flight at once when the config sets no `concurrency`.
    fn default_concurrency(&self) -> usize {
        64
    }

    /// The provider's batch API, when it has one (`check --batch`).
    fn batch(&self) -> Option<&dyn Batch> {
        None
    }

    /// Performs one call.
    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;
}
