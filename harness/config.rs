//! The project config, `promptgate.yaml`: providers, default parameters and tolerances.
//!
//! Every field has a built-in default, so the tool runs with no config file at all; unknown keys
//! are an error naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    pub tolerance: TierTolerances,
    /// Maximum concurrent provider calls across the run (default [`DEFAULT_CONCURRENCY`]).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// What an inconclusive verdict does to a check, per risk tier.
    #[serde(default)]
    pub inconclusive: TierInconclusive,
    /// Samples per version drawn again for each discordant case before the verdict (default
    /// [`DEFAULT_CONFIRM`]; 0 judges on the first samples alone).
    #[serde(default)]
    pub confirm: Option<u32>,
    /// Promotion policy per risk tier: approvals, minimum samples, required suite kinds.
    #[serde(default)]
    pub policy: TierPolicies,
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
}

impl Tolerance {
    /// Why these limits cannot be used, if they cannot: every limit is a finite, non-negative
    /// number, and the fractions of a rate (`max_pass_rate_drop`, `max_asr`) are at most 1.
    pub fn problem(&self) -> Option<String> {
        let fractions = [
            ("max_pass_rate_drop", self.max_pass_rate_drop),
            ("max_asr", self.max_asr),
        ];
        let increases = [
            ("max_cost_increase", self.max_cost_increase),
            ("max_latency_increase", self.max_latency_increase),
        ];
        for (key, value) in fractions.iter().chain(&increases) {
            if let Some(v) = value.filter(|v| !v.is_finite() || *v < 0.0) {
                return Some(format!(
                    "tolerance `{key}: {v}` must be a finite number, at least 0"
                ));
            }
        }
        fractions.iter().find_map(|(key, value)| {
            value.filter(|v| *v > 1.0).map(|v| {
                format!(
                    "tolerance `{key}: {v}` is a fraction of 1 (0.02 is two points); write {}",
                    v / 100.0
                )
            })
        })
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

/// What an inconclusive verdict does, per risk tier; unset tiers use the defaults: block for
/// `exceptional`, warn otherwise.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierInconclusive {
    /// For `low` prompts.
    #[serde(default)]
    pub low: Option<OnInconclusive>,
    /// For `standard` prompts.
    #[serde(default)]
    pub standard: Option<OnInconclusive>,
    /// For `exceptional` prompts.
    #[serde(default)]
    pub exceptional: Option<OnInconclusive>,
}

impl TierInconclusive {
    /// The policy for `tier`.
    pub fn for_tier(&self, tier: RiskTier) -> OnInconclusive {
        match tier {
            RiskTier::Low => self.low.unwrap_or(OnInconclusive::Warn),
            RiskTier::Standard => self.standard.unwrap_or(OnInconclusive::Warn),
            RiskTier::Exceptional => self.exceptional.unwrap_or(OnInconclusive::Block),
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
}

/// Promotion policy for each risk tier.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierPolicies {
    /// For `low` prompts.
    #[serde(default)]
    pub low: PolicyConfig,
    /// For `standard` prompts.
    #[serde(default)]
    pub standard: PolicyConfig,
    /// For `exceptional` prompts.
    #[serde(default)]
    pub exceptional: PolicyConfig,
}

/// The policy a prompt's risk tier selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The tier it is for.
    pub tier: RiskTier,
    /// Approvals of the exact candidate content a promotion needs.
    pub approvals: u32,
    /// Fewest samples per case and version.
    pub min_samples: u32,
    /// Suite kinds that must target the prompt.
    pub require: Vec<crate::vocabulary::SuiteKind>,
    /// Whether `promote` goes through an inconclusive gate.
    pub promote_on_inconclusive: bool,
}

impl TierPolicies {
    /// The policy for `tier`: the configured keys over the built-in defaults (approvals 0, 1,
    /// 2; minimum samples 1, 1, 3; required suites none, regression, regression and
    /// adversarial).
    pub fn for_tier(&self, tier: RiskTier) -> Policy {
        use crate::vocabulary::SuiteKind::{Adversarial, Regression};
        let (configured, approvals, min_samples, require) = match tier {
            RiskTier::Low => (&self.low, 0, 1, vec![]),
            RiskTier::Standard => (&self.standard, 1, 1, vec![Regression]),
            RiskTier::Exceptional => (&self.exceptional, 2, 3, vec![Regression, Adversarial]),
        };
        Policy {
            tier,
            approvals: configured.approvals.unwrap_or(approvals),
            min_samples: configured.min_samples.unwrap_or(min_samples).max(1),
            require: configured.require.clone().unwrap_or(require),
            promote_on_inconclusive: configured.promote_on_inconclusive.unwrap_or(false),
        }
    }
}

/// Default tolerance for each risk tier.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierTolerances {
    /// For `low` prompts.
    #[serde(default)]
    pub low: Tolerance,
    /// For `standard` prompts (the default tier).
    #[serde(default)]
    pub standard: Tolerance,
    /// For `exceptional` prompts.
    #[serde(default)]
    pub exceptional: Tolerance,
}

impl TierTolerances {
    /// The configured tolerance for `tier` over the built-in one.
    pub fn for_tier(&self, tier: RiskTier) -> Tolerance {
        let (configured, builtin) = match tier {
            RiskTier::Low => (
                self.low,
                Tolerance {
                    max_pass_rate_drop: Some(0.05),
                    ..Tolerance::default()
                },
            ),
            RiskTier::Standard => (
                self.standard,
                Tolerance {
                    max_pass_rate_drop: Some(0.02),
                    ..Tolerance::default()
                },
            ),
            RiskTier::Exceptional => (
                self.exceptional,
                Tolerance {
                    max_pass_rate_drop: Some(0.0),
                    max_new_failures: Some(0),
                    ..Tolerance::default()
                },
            ),
        };
        configured.over(builtin)
    }
}

impl Config {
    /// Loads `promptgate.yaml` from `root`, or the built-in defaults when there is none.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(CONFIG_FILE);
        let shown = PathBuf::from(CONFIG_FILE);
        let Some(text) = crate::files::read_text(&path, &shown)? else {
            return Ok(Config::default());
        };
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            crate::yaml::from_str(&shown, &text, 1)?
        };
        config.path = Some(shown.clone());
        config.validate(&shown, &text)?;
        Ok(config)
    }

    fn validate(&self, file: &Path, text: &str) -> Result<()> {
        let line_of = |needle: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(needle))
                .map_or(0, |i| i as u64 + 1)
        };
        if let Some(name) = &self.default_provider {
            if name != ECHO && name != LOCAL && !self.providers.contains_key(name) {
                return Err(Error::invalid_with_hint(
                    Location::new(file, line_of("default_provider"), 1),
                    format!("default_provider `{name}` is not defined under `providers`"),
                    format!(
                        "define it, or use one of: {}",
                        self.provider_names().join(", ")
                    ),
                ));
            }
        }
        for (name, p) in &self.providers {
            let at = Location::new(file, line_of(&format!("{name}:")), 1);
            match p.kind {
                kind if p.deterministic && kind != ProviderKind::Exec => {
                    return Err(Error::invalid_with_hint(
                        at,
                        format!(
                            "provider `{name}` of kind {} cannot be declared `deterministic`: only an exec command can promise the same reply every time",
                            kind.as_str()
                        ),
                        "remove `deterministic: true`; the gate measures this provider's noise",
                    ));
                }
                ProviderKind::Exec if p.command.is_empty() => {
                    return Err(Error::invalid_with_hint(
                        at,
                        format!("provider `{name}` of kind exec has no `command`"),
                        "add `command: [\"python3\", \"bot.py\"]`",
                    ));
                }
                ProviderKind::Openai | ProviderKind::Anthropic | ProviderKind::Ollama
                    if p.model.is_none() =>
                {
                    return Err(Error::invalid_with_hint(
                        at,
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
            if let Some((key, _)) = timeouts.iter().find(|(_, v)| *v == Some(0)) {
                return Err(Error::invalid_with_hint(
                    at,
                    format!("provider `{name}`: {key} must be positive"),
                    "a zero timeout would mean waiting forever; give a number of milliseconds",
                ));
            }
            if p.rpm == Some(0) || p.tpm == Some(0) {
                return Err(Error::invalid(
                    at,
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
                    at,
                    format!(
                        "provider `{name}`: `api_key_env` must name an environment variable (letters, digits and `_`), and this value does not look like one"
                    ),
                    "write the variable's name, e.g. `OPENAI_API_KEY`; if a key was pasted here, remove it from the file and rotate it",
                ));
            }
            if p.concurrency == Some(0) {
                return Err(Error::invalid(
                    at,
                    format!("provider `{name}`: concurrency must be at least 1"),
                ));
            }
        }
        for (tier, tolerance) in [
            ("low", &self.tolerance.low),
            ("standard", &self.tolerance.standard),
            ("exceptional", &self.tolerance.exceptional),
        ] {
            if let Some(problem) = tolerance.problem() {
                return Err(Error::invalid(
                    Location::new(file, line_of(&format!("{tier}:")), 1),
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
                        Location::new(file, line_of(&format!("{name}:")), 1),
                        format!(
                            "provider `{name}`: prices must be finite numbers of dollars, at least 0"
                        ),
                    ));
                }
            }
        }
        if self.concurrency == Some(0) {
            return Err(Error::invalid(
                Location::new(file, line_of("concurrency"), 1),
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

    /// The provider used when neither the command line nor the suite names one.
    pub fn default_provider(&self) -> &str {
        self.default_provider.as_deref().unwrap_or(LOCAL)
    }
}
