//! The project config, `promptgate.yaml`: providers, default parameters and tolerances.
//!
//! Every field has a built-in default, so the tool runs with no config file at all; unknown keys
//! are an error naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::artifact::RiskTier;
use crate::errors::{Error, Location, Result};

/// The config file's name at the project root.
pub(crate) const CONFIG_FILE: &str = "promptgate.yaml";

/// The timeouts of one attempt. Each has a default and none can be zero, so there is no way
/// to wait forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection.
    pub connect: Duration,
    /// From sending the request to the response's first byte.
    pub first_byte: Duration,
    /// Between two chunks of the response body.
    pub idle: Duration,
    /// The whole attempt.
    pub call: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            call: Duration::from_secs(60),
        }
    }
}

/// The JSON Schema of `promptgate.yaml`, for editors and `promptgate schema config`.
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(Config)
}

/// Provider calls in flight at once across a run, unless the command line or the config says.
pub(crate) const DEFAULT_CONCURRENCY: usize = 16;

/// The built-in provider that replies with the rendered prompt.
pub(crate) const ECHO: &str = "echo";

/// The built-in provider that runs the default local model; the default provider.
pub(crate) const LOCAL: &str = "local";

/// The `--provider` that answers every suite from its provider's recorded cassette.
pub(crate) const REPLAY: &str = "replay";

/// The whole project config.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "promptgate.yaml")]
pub struct Config {
    /// The provider suites use unless they name one.
    #[serde(default)]
    pub default_provider: Option<String>,
    /// Named providers.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Default sampling parameters for every request.
    #[serde(default)]
    pub params: Params,
    /// Default tolerance per risk tier.
    #[serde(default)]
    pub tolerance: PerTier<Tolerance>,
    /// Maximum concurrent provider calls across the run (default [`DEFAULT_CONCURRENCY`]).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// What an inconclusive verdict does to a check, per risk tier.
    #[serde(default)]
    pub inconclusive: PerTier<Option<OnInconclusive>>,
    /// Samples per version drawn again for each discordant case before the verdict (default
    /// [`DEFAULT_CONFIRM`]; 0 judges on the first samples alone).
    #[serde(default)]
    pub confirm: Option<u32>,
    /// Promotion policy per risk tier: approvals, minimum samples, required suite kinds.
    #[serde(default)]
    pub policy: PerTier<PolicyConfig>,
    /// The response cache shared between machines.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Production monitoring thresholds per risk tier (`promptgate monitor`).
    #[serde(default)]
    pub monitor: PerTier<MonitorConfig>,
    /// Let a change under check in CI run providers it adds or changes with the job's
    /// secrets (default false). Read only from the config at the check's baseline revision:
    /// a pull request cannot grant it to itself.
    #[serde(default)]
    pub trust_changed_providers: bool,
    /// Where the config was read from (`None` when built in).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// Samples per version the gate draws again for each discordant case before its verdict.
pub(crate) const DEFAULT_CONFIRM: u32 = 2;

/// The kinds of provider promptgate can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Replies with the rendered messages as text; for testing prompts and suites themselves.
    Echo,
    /// A GGUF model run in-process on the CPU (the default: SmolLM2-135M-Instruct).
    Local,
    /// Runs a command with the request as JSON on stdin and reads the reply from stdout.
    Exec,
    /// An OpenAI-compatible chat completions endpoint.
    Openai,
    /// The Anthropic Messages API.
    Anthropic,
    /// Ollama's native chat API.
    Ollama,
}

impl ProviderKind {
    /// The kind as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::Local => "local",
            Self::Exec => "exec",
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Ollama => "ollama",
        }
    }
}

/// One configured provider.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Which implementation.
    pub kind: ProviderKind,
    /// The model name sent to the provider.
    #[serde(default)]
    pub model: Option<String>,
    /// Base URL of the API (OpenAI-compatible: up to and including `/v1`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Maximum concurrent calls to this provider.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// A GGUF file for `local` providers, relative to the project root (default: the bundled
    /// SmolLM2 model in the model directory).
    #[serde(default)]
    pub model_path: Option<PathBuf>,
    /// The command for `exec` providers: program then arguments.
    #[serde(default)]
    pub command: Vec<String>,
    /// `exec` only: environment variables the command may see beyond the basic ones (`PATH`,
    /// `HOME`, locale, temporary directory). No other variable, API keys included, reaches it.
    #[serde(default)]
    pub env: Vec<String>,
    /// `exec` only: the command answers a request the same way every time, so the gate treats
    /// every observed change as certain and makes no confirmation call.
    #[serde(default)]
    pub deterministic: bool,
    /// Per-attempt timeout in milliseconds (default 60 000; never unbounded).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Time to establish a connection, in milliseconds (default 10 000).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// Time from sending a request to the first byte of the response (default 30 000).
    #[serde(default)]
    pub first_byte_timeout_ms: Option<u64>,
    /// Longest silence between two chunks of a response body or stream (default 30 000).
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Wall time one case may take across all its attempts and waits (default 300 000).
    #[serde(default)]
    pub case_timeout_ms: Option<u64>,
    /// Extra attempts after a transient failure (default 2).
    #[serde(default)]
    pub retries: Option<u32>,
    /// Longest `retry-after` honoured, in milliseconds (default 60 000).
    #[serde(default)]
    pub max_retry_after_ms: Option<u64>,
    /// Requests per minute at most.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Tokens per minute at most.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Stream responses (server-sent events or NDJSON), so a stalled generation is caught by
    /// the idle timeout and usage still comes back.
    #[serde(default)]
    pub stream: bool,
    /// Prices for cost accounting; without them cost is unknown, never zero.
    #[serde(default)]
    pub price: Option<Price>,
    /// How `--batch` uses the provider's batch API (`openai` and `anthropic` only).
    #[serde(default)]
    pub batch: BatchSettings,
    /// Parameters for this provider, over the project's.
    #[serde(default)]
    pub params: Params,
}

impl ProviderConfig {
    /// A provider of `kind` with every other setting at its default.
    pub fn of_kind(kind: ProviderKind) -> Self {
        Self {
            kind,
            model: None,
            base_url: None,
            api_key_env: None,
            concurrency: None,
            model_path: None,
            command: Vec::new(),
            env: Vec::new(),
            deterministic: false,
            timeout_ms: None,
            connect_timeout_ms: None,
            first_byte_timeout_ms: None,
            idle_timeout_ms: None,
            case_timeout_ms: None,
            retries: None,
            max_retry_after_ms: None,
            rpm: None,
            tpm: None,
            stream: false,
            price: None,
            batch: BatchSettings::default(),
            params: Params::default(),
        }
    }

    /// The timeouts of one attempt.
    pub fn timeouts(&self) -> Timeouts {
        let defaults = Timeouts::default();
        let ms = std::time::Duration::from_millis;
        Timeouts {
            connect: self.connect_timeout_ms.map_or(defaults.connect, ms),
            first_byte: self.first_byte_timeout_ms.map_or(defaults.first_byte, ms),
            idle: self.idle_timeout_ms.map_or(defaults.idle, ms),
            call: self.timeout_ms.map_or(defaults.call, ms),
        }
    }
}

/// How `check --batch` sends a provider's calls through its batch API (OpenAI's Batch API,
/// Anthropic's Message Batches). Every field has the API's own value as its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// Requests per batch at most (default: the API's limit, 50 000 for OpenAI and 100 000
    /// for Anthropic); a larger wave is split into several batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<usize>,
    /// Bytes of requests per batch at most (default: the API's limit, 200 MB for OpenAI and
    /// 256 MB for Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// The first wait between two polls of a running batch, in milliseconds (default 10 000);
    /// each poll of a batch still running doubles it, up to `max_poll_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_ms: Option<u64>,
    /// The longest wait between two polls, in milliseconds (default 300 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_poll_ms: Option<u64>,
    /// How long a run waits for a batch to end, in milliseconds (default 90 000 000: 25 h,
    /// past the providers' 24-hour window); a batch still running then is left to `--resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_ms: Option<u64>,
    /// Prices of batched calls (default: half of `price`, the discount both APIs publish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

/// Token prices in dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Dollars per million input tokens.
    pub input_per_mtok: f64,
    /// Dollars per million output tokens.
    pub output_per_mtok: f64,
}

/// Sampling parameters; unset fields inherit from the layer below.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Maximum output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Params {
    /// `self` with every unset field taken from `below`.
    pub fn over(self, below: Params) -> Params {
        Params {
            temperature: self.temperature.or(below.temperature),
            top_p: self.top_p.or(below.top_p),
            max_tokens: self.max_tokens.or(below.max_tokens),
            seed: self.seed.or(below.seed),
        }
    }

    /// Fills every unset field with the built-in default, so each request is explicit.
    pub fn effective(self) -> EffectiveParams {
        EffectiveParams {
            temperature: self.temperature.unwrap_or(0.0),
            top_p: self.top_p.unwrap_or(1.0),
            max_tokens: self.max_tokens.unwrap_or(256),
            seed: self.seed.unwrap_or(7),
        }
    }
}

/// Fully specified sampling parameters, as sent and as recorded with each sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EffectiveParams {
    /// Sampling temperature.
    pub temperature: f64,
    /// Nucleus sampling mass.
    pub top_p: f64,
    /// Maximum output tokens.
    pub max_tokens: u32,
    /// Sampling seed.
    pub seed: u64,
}

/// Limits on how much worse a candidate may be than its baseline. Unset limits are not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Largest allowed drop in suite pass rate, as a fraction (0.02 = two points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pass_rate_drop: Option<f64>,
    /// Largest allowed number of cases that passed on the baseline and fail on the candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_new_failures: Option<u32>,
    /// Largest allowed relative increase in total cost (0.10 = +10%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_increase: Option<f64>,
    /// Largest allowed relative increase in mean latency (0.25 = +25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_increase: Option<f64>,
    /// Adversarial suites: largest allowed number of attacks the baseline resisted and the
    /// candidate does not (0 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_new_successes: Option<u32>,
    /// Adversarial suites: highest allowed attack-success rate of the candidate in any category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_asr: Option<f64>,
    /// Adversarial suites: largest allowed rise of any category's attack-success rate, as a
    /// fraction (0.10 = ten points). A suite gated on it lets single attacks come and go
    /// (unless it also sets `max_new_successes`): for a model whose answers to attacks shift
    /// with any wording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_asr_increase: Option<f64>,
}

impl Tolerance {
    /// Why these limits cannot be used, if they cannot: every limit is a finite, non-negative
    /// number, and the fractions of a rate (`max_pass_rate_drop`, `max_asr`) are at most 1.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        let fractions = [
            ("max_pass_rate_drop", self.max_pass_rate_drop),
            ("max_asr", self.max_asr),
            ("max_asr_increase", self.max_asr_increase),
        ];
        let increases = [
            ("max_cost_increase", self.max_cost_increase),
            ("max_latency_increase", self.max_latency_increase),
        ];
        for (key, value) in fractions.iter().chain(&increases) {
            if let Some(v) = value.filter(|v| !v.is_finite() || *v < 0.0) {
                return Some((
                    key,
                    format!("tolerance `{key}: {v}` must be a finite number, at least 0"),
                ));
            }
        }
        fractions.iter().find_map(|(key, value)| {
            value.filter(|v| *v > 1.0).map(|v| {
                let message = format!(
                    "tolerance `{key}: {v}` is a fraction of 1 (0.02 is two points); write {}",
                    v / 100.0
                );
                (*key, message)
            })
        })
    }

    /// The new attack successes an adversarial suite allows: `max_new_successes`, else none,
    /// unless the suite is gated on the rise of its categories' rates (`max_asr_increase`)
    /// instead, when single successes are not counted.
    pub(crate) fn new_successes_allowed(&self) -> Option<u32> {
        self.max_new_successes
            .or(self.max_asr_increase.is_none().then_some(0))
    }

    /// `self` with every unset limit taken from `below`.
    pub fn over(self, below: Tolerance) -> Tolerance {
        Tolerance {
            max_pass_rate_drop: self.max_pass_rate_drop.or(below.max_pass_rate_drop),
            max_new_failures: self.max_new_failures.or(below.max_new_failures),
            max_cost_increase: self.max_cost_increase.or(below.max_cost_increase),
            max_latency_increase: self.max_latency_increase.or(below.max_latency_increase),
            max_new_successes: self.max_new_successes.or(below.max_new_successes),
            max_asr: self.max_asr.or(below.max_asr),
            max_asr_increase: self.max_asr_increase.or(below.max_asr_increase),
        }
    }
}

/// What an inconclusive verdict does to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnInconclusive {
    /// Block, like a failure (exit 11).
    Block,
    /// Let the change through with a warning (exit 0).
    Warn,
}

/// A setting for each risk tier, as written under `tolerance:`, `inconclusive:` and `policy:`;
/// an unset tier takes the built-in defaults ([`Config::tier`]).
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(bound = "T: schemars::JsonSchema + Default", rename = "{T}PerTier")]
pub struct PerTier<T> {
    /// For `low` prompts.
    #[serde(default)]
    pub low: T,
    /// For `standard` prompts (the default tier).
    #[serde(default)]
    pub standard: T,
    /// For `exceptional` prompts.
    #[serde(default)]
    pub exceptional: T,
}

impl<T> PerTier<T> {
    /// The setting for `tier`.
    pub(crate) fn get(&self, tier: RiskTier) -> &T {
        match tier {
            RiskTier::Low => &self.low,
            RiskTier::Standard => &self.standard,
            RiskTier::Exceptional => &self.exceptional,
        }
    }
}

/// Promotion policy as written for one tier; unset keys take the tier's defaults.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Approvals of the exact candidate content a promotion needs.
    #[serde(default)]
    pub approvals: Option<u32>,
    /// Fewest samples per case and version any suite runs with.
    #[serde(default)]
    pub min_samples: Option<u32>,
    /// Suite kinds that must target the prompt.
    #[serde(default)]
    pub require: Option<Vec<crate::vocabulary::SuiteKind>>,
    /// Let `promote` through an inconclusive gate (default false: a release needs a decision).
    #[serde(default)]
    pub promote_on_inconclusive: Option<bool>,
    /// The agreement with human labels (Cohen's kappa) a calibrated judge needs before its
    /// verdicts may block (default 0.4, 0.6 and 0.8 for `low`, `standard` and `exceptional`).
    #[serde(default)]
    pub min_judge_kappa: Option<f64>,
    /// The readiness a promotion needs: `{ total: 14, each: 3 }` (default for `exceptional`;
    /// none for the other tiers).
    #[serde(default)]
    pub min_readiness: Option<MinReadiness>,
}

/// A readiness minimum: the total of the four scores, and the least any one may score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinReadiness {
    /// The least total, 4 to 20.
    pub total: u32,
    /// The least score of each dimension, 1 to 5.
    pub each: u32,
}

/// The response cache shared between machines (the workers of a CI engine): an object store
/// behind each machine's local cache. `PROMPTGATE_CACHE_SHARED` and
/// `PROMPTGATE_CACHE_READ_ONLY` override it.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, `az://CONTAINER/PREFIX` or `file:///PATH`;
    /// credentials come from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`), never from here.
    #[serde(default)]
    pub shared: Option<String>,
    /// Read the shared cache but never write it (jobs of untrusted pull requests).
    #[serde(default)]
    pub read_only: bool,
}

/// Monitoring thresholds as written for one tier; unset keys take the tier's defaults.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// How far (in points of share, 0.05 = 5 points) the share of outputs passing the shadow
    /// suite's checks may fall below the baseline (default 0.10, 0.05, 0.02 by tier).
    #[serde(default)]
    pub max_quality_drop: Option<f64>,
    /// The highest share of failed calls (default 0.10, 0.05, 0.02).
    #[serde(default)]
    pub max_error_rate: Option<f64>,
    /// How much the median latency may rise over the baseline's, as a share (0.5 = 50%;
    /// default 1.0, 0.5, 0.25).
    #[serde(default)]
    pub max_latency_rise: Option<f64>,
    /// How much the mean cost per call may rise over the baseline's, as a share (default
    /// 0.5, 0.25, 0.10).
    #[serde(default)]
    pub max_cost_rise: Option<f64>,
    /// The fewest records a window needs before any of these is judged (default 20).
    #[serde(default)]
    pub min_records: Option<usize>,
}

/// The monitoring thresholds a tier resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MonitorThresholds {
    /// See [`MonitorConfig::max_quality_drop`].
    pub max_quality_drop: f64,
    /// See [`MonitorConfig::max_error_rate`].
    pub max_error_rate: f64,
    /// See [`MonitorConfig::max_latency_rise`].
    pub max_latency_rise: f64,
    /// See [`MonitorConfig::max_cost_rise`].
    pub max_cost_rise: f64,
    /// See [`MonitorConfig::min_records`].
    pub min_records: usize,
}

impl MonitorThresholds {
    /// The built-in thresholds of `tier`, tighter as the tier rises.
    fn builtin(tier: RiskTier) -> Self {
        let (quality, errors, latency, cost) = match tier {
            RiskTier::Low => (0.10, 0.10, 1.0, 0.5),
            RiskTier::Standard => (0.05, 0.05, 0.5, 0.25),
            RiskTier::Exceptional => (0.02, 0.02, 0.25, 0.10),
        };
        Self {
            max_quality_drop: quality,
            max_error_rate: errors,
            max_latency_rise: latency,
            max_cost_rise: cost,
            min_records: 20,
        }
    }
}

/// Everything a prompt's risk tier decides: its tolerance, what an inconclusive verdict does,
/// and what a promotion needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TierPolicy {
    /// The tier it is for.
    pub(crate) tier: RiskTier,
    /// The limits the tier's suites are gated on, under a suite's own.
    pub(crate) tolerance: Tolerance,
    /// What an inconclusive verdict does to a check.
    pub(crate) on_inconclusive: OnInconclusive,
    /// Approvals of the exact candidate content a promotion needs.
    pub(crate) approvals: u32,
    /// Fewest samples per case and version.
    pub(crate) min_samples: u32,
    /// Suite kinds that must target the prompt.
    pub(crate) require: Vec<crate::vocabulary::SuiteKind>,
    /// Whether `promote` goes through an inconclusive gate.
    pub(crate) promote_on_inconclusive: bool,
    /// The agreement a judge's calibration needs before its verdicts may block.
    pub(crate) min_judge_kappa: Option<f64>,
    /// What production may show before `monitor` calls it a breach.
    pub(crate) monitor: MonitorThresholds,
    /// The readiness a promotion needs: (total, each dimension).
    pub(crate) min_readiness: Option<(u32, u32)>,
}

impl TierPolicy {
    /// The built-in policy of `tier`, the one place the defaults live: the pass rate may drop
    /// 5, 2 and 0 points (and no new failure is allowed at `exceptional`); an inconclusive
    /// check warns, and blocks at `exceptional`; promotions need 0, 1 and 2 approvals, 1, 1 and
    /// 3 samples, and no suite, a regression suite, and regression and adversarial suites; a
    /// judge blocks once calibrated to a kappa of 0.4, 0.6 and 0.8.
    pub(crate) fn builtin(tier: RiskTier) -> Self {
        use crate::vocabulary::SuiteKind::{Adversarial, Regression};
        let (drop, new_failures, on_inconclusive, approvals, min_samples, require) = match tier {
            RiskTier::Low => (0.05, None, OnInconclusive::Warn, 0, 1, vec![]),
            RiskTier::Standard => (0.02, None, OnInconclusive::Warn, 1, 1, vec![Regression]),
            RiskTier::Exceptional => (
                0.0,
                Some(0),
                OnInconclusive::Block,
                2,
                3,
                vec![Regression, Adversarial],
            ),
        };
        // Cohen's kappa a judge's calibration needs before it may block: moderate, substantial
        // and strong agreement.
        let min_judge_kappa = match tier {
            RiskTier::Low => 0.4,
            RiskTier::Standard => 0.6,
            RiskTier::Exceptional => 0.8,
        };
        Self {
            tier,
            tolerance: Tolerance {
                max_pass_rate_drop: Some(drop),
                max_new_failures: new_failures,
                ..Tolerance::default()
            },
            on_inconclusive,
            approvals,
            min_samples,
            require,
            promote_on_inconclusive: false,
            min_judge_kappa: Some(min_judge_kappa),
            monitor: MonitorThresholds::builtin(tier),
            min_readiness: (tier == RiskTier::Exceptional).then_some((14, 3)),
        }
    }
}

/// Where the keys of `promptgate.yaml` are, for errors found after it parsed: the file read a
/// second time with every value that validation can refuse replaced by its span.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Spans {
    default_provider: Option<Spanned<IgnoredAny>>,
    concurrency: Option<Spanned<IgnoredAny>>,
    providers: BTreeMap<String, Spanned<KeySpans>>,
    tolerance: BTreeMap<String, Spanned<KeySpans>>,
}

/// The span of each key's value in one mapping.
type KeySpans = BTreeMap<String, Spanned<IgnoredAny>>;

impl Spans {
    /// The spans of `text`, which has already parsed as a config (none if it somehow does not).
    fn read(text: &str) -> Self {
        serde_saphyr::from_str(text).unwrap_or_default()
    }

    /// Where provider `name` sets `key`, else where the provider is defined.
    fn provider(&self, name: &str, key: Option<&str>) -> Option<&serde_saphyr::Location> {
        let entry = self.providers.get(name)?;
        let value = key.and_then(|k| entry.value.get(k));
        Some(value.map_or(&entry.referenced, |v| &v.referenced))
    }

    /// Where `tier`'s tolerance sets `key`, else where the tier's tolerance is.
    fn tolerance(&self, tier: &str, key: &str) -> Option<&serde_saphyr::Location> {
        let entry = self.tolerance.get(tier)?;
        Some(
            entry
                .value
                .get(key)
                .map_or(&entry.referenced, |v| &v.referenced),
        )
    }
}

impl Config {
    /// Loads `promptgate.yaml` from `root`, or the built-in defaults when there is none.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(CONFIG_FILE);
        let shown = PathBuf::from(CONFIG_FILE);
        match crate::files::read_text(&path, &shown)? {
            Some(text) => Self::parse(&shown, &text),
            None => Ok(Config::default()),
        }
    }

    /// The config written as `text` in the file `shown`, validated.
    pub(crate) fn parse(shown: &Path, text: &str) -> Result<Config> {
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            crate::yaml::from_str(shown, text, 1)?
        };
        config.path = Some(shown.to_path_buf());
        config.validate(shown, text)?;
        Ok(config)
    }

    fn validate(&self, file: &Path, text: &str) -> Result<()> {
        let spans = Spans::read(text);
        let at = |span: Option<&serde_saphyr::Location>| match span {
            Some(span) => crate::yaml::location(file, span, 1),
            None => Location::file(file),
        };
        if let Some(name) = &self.default_provider {
            if name != ECHO && name != LOCAL && !self.providers.contains_key(name) {
                return Err(Error::invalid_with_hint(
                    at(spans.default_provider.as_ref().map(|s| &s.referenced)),
                    format!("default_provider `{name}` is not defined under `providers`"),
                    format!(
                        "define it, or use one of: {}",
                        self.provider_names().join(", ")
                    ),
                ));
            }
        }
        for (name, p) in &self.providers {
            let key = |key: &str| at(spans.provider(name, Some(key)));
            let entry = at(spans.provider(name, None));
            match p.kind {
                kind if p.deterministic && kind != ProviderKind::Exec => {
                    return Err(Error::invalid_with_hint(
                        key("deterministic"),
                        format!(
                            "provider `{name}` of kind {} cannot be declared `deterministic`: only an exec command can promise the same reply every time",
                            kind.as_str()
                        ),
                        "remove `deterministic: true`; the gate measures this provider's noise",
                    ));
                }
                ProviderKind::Exec if p.command.is_empty() => {
                    return Err(Error::invalid_with_hint(
                        entry.clone(),
                        format!("provider `{name}` of kind exec has no `command`"),
                        "add `command: [\"python3\", \"bot.py\"]`",
                    ));
                }
                ProviderKind::Openai | ProviderKind::Anthropic | ProviderKind::Ollama
                    if p.model.is_none() =>
                {
                    return Err(Error::invalid_with_hint(
                        entry.clone(),
                        format!(
                            "provider `{name}` of kind {} has no `model`",
                            p.kind.as_str()
                        ),
                        "add `model: NAME` (the model the server serves)",
                    ));
                }
                _ => {}
            }
            let timeouts = [
                ("timeout_ms", p.timeout_ms),
                ("connect_timeout_ms", p.connect_timeout_ms),
                ("first_byte_timeout_ms", p.first_byte_timeout_ms),
                ("idle_timeout_ms", p.idle_timeout_ms),
                ("case_timeout_ms", p.case_timeout_ms),
            ];
            if let Some((field, _)) = timeouts.iter().find(|(_, v)| *v == Some(0)) {
                return Err(Error::invalid_with_hint(
                    key(field),
                    format!("provider `{name}`: {field} must be positive"),
                    "a zero timeout would mean waiting forever; give a number of milliseconds",
                ));
            }
            if p.rpm == Some(0) || p.tpm == Some(0) {
                return Err(Error::invalid(
                    key(if p.rpm == Some(0) { "rpm" } else { "tpm" }),
                    format!(
                        "provider `{name}`: rpm and tpm must be at least 1 (omit them for no limit)"
                    ),
                ));
            }
            let variable_name = |v: &str| {
                !v.is_empty()
                    && v.len() <= 64
                    && !v.starts_with(|c: char| c.is_ascii_digit())
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            };
            if p.api_key_env.as_deref().is_some_and(|v| !variable_name(v)) {
                // Never echo the value: it may be a key pasted in by mistake.
                return Err(Error::invalid_with_hint(
                    key("api_key_env"),
                    format!(
                        "provider `{name}`: `api_key_env` must name an environment variable (letters, digits and `_`), and this value does not look like one"
                    ),
                    "write the variable's name, e.g. `OPENAI_API_KEY`; if a key was pasted here, remove it from the file and rotate it",
                ));
            }
            if p.concurrency == Some(0) {
                return Err(Error::invalid(
                    key("concurrency"),
                    format!("provider `{name}`: concurrency must be at least 1"),
                ));
            }
        }
        for (tier, tolerance) in [
            ("low", &self.tolerance.low),
            ("standard", &self.tolerance.standard),
            ("exceptional", &self.tolerance.exceptional),
        ] {
            if let Some((key, problem)) = tolerance.problem() {
                return Err(Error::invalid(
                    at(spans.tolerance(tier, key)),
                    format!("{tier}: {problem}"),
                ));
            }
        }
        for (name, p) in &self.providers {
            if let Some(price) = p.price {
                if [price.input_per_mtok, price.output_per_mtok]
                    .iter()
                    .any(|v| !v.is_finite() || *v < 0.0)
                {
                    return Err(Error::invalid(
                        at(spans.provider(name, Some("price"))),
                        format!(
                            "provider `{name}`: prices must be finite numbers of dollars, at least 0"
                        ),
                    ));
                }
            }
        }
        if self.concurrency == Some(0) {
            return Err(Error::invalid(
                at(spans.concurrency.as_ref().map(|s| &s.referenced)),
                "concurrency must be at least 1",
            ));
        }
        Ok(())
    }

    /// The configured provider names plus the built-in `echo` and `local`.
    pub fn provider_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.providers.keys().cloned().collect();
        for builtin in [ECHO, LOCAL] {
            if !names.iter().any(|n| n == builtin) {
                names.push(builtin.to_string());
            }
        }
        names
    }

    /// The provider named `name`, with `echo` and `local` built in.
    pub fn provider(&self, name: &str) -> Result<ProviderConfig> {
        if let Some(p) = self.providers.get(name) {
            return Ok(p.clone());
        }
        let builtin = match name {
            ECHO => Some(ProviderKind::Echo),
            LOCAL => Some(ProviderKind::Local),
            _ => None,
        };
        if let Some(kind) = builtin {
            return Ok(ProviderConfig::of_kind(kind));
        }
        let names = self.provider_names();
        Err(Error::Usage(format!(
            "unknown provider `{name}`; {}configured providers: {}",
            crate::errors::did_you_mean(name, names.iter().map(String::as_str)),
            names.join(", ")
        )))
    }

    /// Everything the config decides for prompts of `tier`: what it sets in `tolerance:`,
    /// `inconclusive:` and `policy:` for the tier, over the built-in defaults.
    pub(crate) fn tier(&self, tier: RiskTier) -> TierPolicy {
        let builtin = TierPolicy::builtin(tier);
        let policy = self.policy.get(tier);
        TierPolicy {
            tier,
            tolerance: self.tolerance.get(tier).over(builtin.tolerance),
            on_inconclusive: self
                .inconclusive
                .get(tier)
                .unwrap_or(builtin.on_inconclusive),
            approvals: policy.approvals.unwrap_or(builtin.approvals),
            min_samples: policy.min_samples.unwrap_or(builtin.min_samples).max(1),
            require: policy.require.clone().unwrap_or(builtin.require),
            promote_on_inconclusive: policy
                .promote_on_inconclusive
                .unwrap_or(builtin.promote_on_inconclusive),
            min_judge_kappa: policy.min_judge_kappa.or(builtin.min_judge_kappa),
            min_readiness: policy
                .min_readiness
                .map(|m| (m.total, m.each))
                .or(builtin.min_readiness),
            monitor: {
                let own = self.monitor.get(tier);
                let b = builtin.monitor;
                MonitorThresholds {
                    max_quality_drop: own.max_quality_drop.unwrap_or(b.max_quality_drop),
                    max_error_rate: own.max_error_rate.unwrap_or(b.max_error_rate),
                    max_latency_rise: own.max_latency_rise.unwrap_or(b.max_latency_rise),
                    max_cost_rise: own.max_cost_rise.unwrap_or(b.max_cost_rise),
                    min_records: own.min_records.unwrap_or(b.min_records).max(1),
                }
            },
        }
    }

    /// The provider used when neither the command line nor the suite names one.
    pub fn default_provider(&self) -> &str {
        self.default_provider.as_deref().unwrap_or(LOCAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        let mut config: Config = crate::yaml::from_str(Path::new(CONFIG_FILE), text, 1)?;
        config.path = Some(CONFIG_FILE.into());
        config.validate(Path::new(CONFIG_FILE), text)?;
        Ok(config)
    }

    #[test]
    fn a_tier_is_the_config_over_the_builtin_defaults() {
        let config = parse(
            "tolerance:\n  standard: { max_new_failures: 1 }\ninconclusive: { low: block }\npolicy:\n  exceptional: { approvals: 3, min_samples: 0 }\n",
        )
        .unwrap();
        let standard = config.tier(RiskTier::Standard);
        assert_eq!(standard.tolerance.max_pass_rate_drop, Some(0.02));
        assert_eq!(standard.tolerance.max_new_failures, Some(1));
        assert_eq!(standard.on_inconclusive, OnInconclusive::Warn);
        assert_eq!(standard.approvals, 1);
        assert_eq!(
            config.tier(RiskTier::Low).on_inconclusive,
            OnInconclusive::Block
        );
        let exceptional = config.tier(RiskTier::Exceptional);
        assert_eq!((exceptional.approvals, exceptional.min_samples), (3, 1));
        assert_eq!(exceptional.on_inconclusive, OnInconclusive::Block);
        assert_eq!(exceptional.tolerance.max_new_failures, Some(0));
        // No config at all is the built-in policy of every tier.
        for tier in [RiskTier::Low, RiskTier::Standard, RiskTier::Exceptional] {
            assert_eq!(Config::default().tier(tier), TierPolicy::builtin(tier));
        }
    }

    #[test]
    fn errors_found_after_parsing_point_at_the_value() {
        let cases = [
            ("default_provider: gpt\n", "promptgate.yaml:1:19:"),
            ("concurrency: 0\n", "promptgate.yaml:1:14:"),
            (
                "providers:\n  bot:\n    kind: exec\n    command: [x]\n    rpm: 0\n",
                "promptgate.yaml:5:10:",
            ),
            (
                "providers:\n  gpt: { kind: openai, model: m, deterministic: true }\n",
                "promptgate.yaml:2:49:",
            ),
            (
                "providers:\n  gpt:\n    kind: openai\n",
                "promptgate.yaml:3:5:",
            ),
            (
                "tolerance:\n  low:\n    max_asr: 0.1\n    max_pass_rate_drop: 7\n",
                "promptgate.yaml:4:25:",
            ),
        ];
        for (text, at) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.starts_with(at), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_rate_written_as_a_percentage_is_refused_with_the_fraction() {
        let error = parse("tolerance: { standard: { max_pass_rate_drop: 7 } }\n").unwrap_err();
        assert!(error.to_string().contains("write 0.07"), "{error}");
        assert_eq!(error.exit_code(), crate::errors::exit::INVALID_INPUT);
    }
}
