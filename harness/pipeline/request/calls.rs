//! How a run makes its provider calls, as the command line and the config ask: shared by every
//! command that calls a provider, and stored with a check so `--resume` calls the same way.

use serde::{Deserialize, Serialize};

use crate::pipeline::project::Env;
use crate::runner::BudgetLimits;

/// How a run makes its provider calls; shared by `check` and `run`. Stored in the run's
/// manifest (without the environment) so that `--resume` can plan the same run again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallOptions {
    /// Run every suite on this provider instead of its own (`replay`: the recorded responses
    /// in `fixtures/cassettes/`).
    pub provider: Option<String>,
    /// Calls in flight at once.
    pub concurrency: Option<usize>,
    /// Neither read nor write the response cache.
    pub no_cache: bool,
    /// How many cases may fail (their calls erroring after retries) before the run counts as
    /// incomplete.
    pub max_errors: ErrorBudget,
    /// Caps on calls, tokens and cost.
    pub budget: BudgetLimits,
    /// Write the responses the run used to `fixtures/cassettes/`.
    pub record: bool,
    /// Send the calls through the providers' batch APIs (OpenAI's Batch API, Anthropic's
    /// Message Batches) at their lower price, and wait for the batches.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
    /// Environment variables (for API keys named in the config); never stored.
    #[serde(skip)]
    pub env: Env,
    /// The command line, for the manifest.
    #[serde(skip)]
    pub command: String,
    /// Handle Ctrl-C in two stages (the CLI sets this; library callers keep their signals).
    #[serde(skip)]
    pub handle_interrupts: bool,
    /// The shared response cache (URL, read-only), from the config or the environment.
    #[serde(skip)]
    pub shared_cache: Option<(String, bool)>,
}

impl CallOptions {
    /// Sets what only the caller knows: its environment (for API keys) and its command line
    /// (for the manifest).
    pub fn invoked(&mut self, env: Env, command: String) {
        self.env = env;
        self.command = command;
    }

    /// These options with what the command line left unset taken from the project's config
    /// (its `concurrency:`).
    pub(crate) fn over_config(&self, config: &crate::config::Config) -> Self {
        let env_url = self
            .env
            .get("PROMPTGATE_CACHE_SHARED")
            .filter(|u| !u.is_empty());
        let read_only = self
            .env
            .get("PROMPTGATE_CACHE_READ_ONLY")
            .map_or(config.cache.read_only, |v| read_only_setting(v));
        Self {
            concurrency: self.concurrency.or(config.concurrency),
            shared_cache: env_url
                .or(config.cache.shared.as_ref())
                .map(|url| (url.clone(), read_only)),
            ..self.clone()
        }
    }
}

/// What `PROMPTGATE_CACHE_READ_ONLY` says, in any case: `0`, `false`, `no`, `off`, `n` or
/// empty mean read-write; anything else (`1`, `TRUE`, `on`, `Y`, a typo) means read-only, so
/// a value meant to protect the cache never silently leaves it writable.
fn read_only_setting(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    !matches!(value.as_str(), "" | "0" | "false" | "no" | "off" | "n")
}

/// How many errored cases a run tolerates before it is incomplete (exit 12).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorBudget {
    /// At most this many cases.
    Count(usize),
    /// At most this fraction of the cases, in [0, 1].
    Fraction(f64),
}

impl Default for ErrorBudget {
    /// No error is tolerated: a gate that could not see every case is not a complete gate.
    fn default() -> Self {
        Self::Count(0)
    }
}

impl ErrorBudget {
    /// Whether `errors` out of `cases` stays within the budget.
    pub fn allows(self, errors: usize, cases: usize) -> bool {
        match self {
            Self::Count(n) => errors <= n,
            Self::Fraction(f) => cases == 0 || errors as f64 <= f * cases as f64 + 1e-9,
        }
    }
}

impl std::str::FromStr for ErrorBudget {
    type Err = String;

    /// `3` is a count; `0.05` (or `5%`) is a fraction of the cases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let fraction = |f: f64| {
            if (0.0..=1.0).contains(&f) {
                Ok(Self::Fraction(f))
            } else {
                Err(format!("`{s}`: a fraction must be between 0 and 1"))
            }
        };
        if let Some(percent) = s.strip_suffix('%') {
            let p: f64 = percent
                .parse()
                .map_err(|_| format!("`{s}` is not a percentage"))?;
            return fraction(p / 100.0);
        }
        if s.contains('.') {
            return fraction(s.parse().map_err(|_| format!("`{s}` is not a number"))?);
        }
        s.parse().map(Self::Count).map_err(|_| {
            format!("`{s}`: expected a count (3), a fraction (0.05) or a percentage (5%)")
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_read_only_setting_in_any_spelling_is_read_only() {
        for on in ["1", "true", "TRUE", "True", "yes", "on", "Y", "ture"] {
            assert!(super::read_only_setting(on), "{on}");
        }
        for off in ["", "0", "false", "FALSE", "no", "off", "N"] {
            assert!(!super::read_only_setting(off), "{off}");
        }
    }
}
