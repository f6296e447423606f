//! Providers: the one trait every model backend implements, and the built-in backends.
//!
//! This is the only module that talks to models (and the only one that touches reqwest). A
//! provider turns a [`Request`] into a [`Completion`] or a [`ProviderError`]; retrying,
//! concurrency limits and recording belong to the runner.

pub(crate) mod batch;
pub(crate) mod cassette;
mod echo;
mod exec;
mod http;
pub(crate) mod local;
mod replay;
mod text_tools;
pub(crate) mod wire;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

pub(crate) use crate::config::Timeouts;

use serde::{Deserialize, Serialize};

use crate::artifact::Message;
use crate::config::{EffectiveParams, Price, ProviderConfig, ProviderKind};
use crate::errors::{Error, Result};

pub(crate) use echo::Echo;
pub(crate) use exec::Exec;
pub(crate) use http::Endpoint;
pub use local::Local;
pub(crate) use replay::Replay;

/// A boxed future, so that providers can be used as trait objects.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One call: the rendered messages and fully specified parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The messages to send.
    pub messages: Vec<Message>,
    /// Sampling parameters, all explicit.
    pub params: EffectiveParams,
    /// Which sample of the case this is (0-based); part of the request's identity.
    pub sample: u32,
    /// The tools the model may call (none for a prompt without tools, which keeps the key it
    /// had before tools existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<crate::artifact::ToolDef>,
}

impl Request {
    /// The request's content key for `provider` (a provider's fingerprint for the response
    /// cache and the results log, its configured name for a cassette): a hash of the provider
    /// and everything the request says. The one place a key is made; it fails loudly rather
    /// than put different requests on one key.
    pub fn key(&self, provider: &str) -> Result<String> {
        let identity = serde_json::to_vec(&(provider, self))
            .map_err(Error::encode("a request for its key"))?;
        Ok(crate::ids::ContentHash::of(identity).as_str().to_string())
    }
}

/// Why generation stopped, mapped to one vocabulary across providers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished its answer.
    #[default]
    Stop,
    /// The token limit cut the answer.
    Length,
    /// The provider's content filter blocked or cut the answer.
    ContentFilter,
    /// The model asked to call a tool.
    ToolCalls,
    /// Anything else, as the provider named it.
    Other(String),
}

impl FinishReason {
    /// Maps a provider's finish or stop reason string.
    pub fn from_provider(reason: &str) -> Self {
        match reason {
            "stop" | "end_turn" | "stop_sequence" | "eos" => Self::Stop,
            "length" | "max_tokens" => Self::Length,
            "content_filter" | "refusal" => Self::ContentFilter,
            "tool_calls" | "function_call" | "tool_use" => Self::ToolCalls,
            other => Self::Other(other.to_string()),
        }
    }
}

/// Token counts for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// The provider reported no counts, so these are estimated from the text
    /// ([`approximate_tokens`]); budgets and costs use the estimate, and reports say so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

impl Usage {
    /// Counts the provider reported.
    pub fn reported(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            estimated: false,
        }
    }

    /// The counts a provider reported, with each one it left out estimated from the request's
    /// messages or the reply (and the usage marked estimated): never zero for a call that sent
    /// or received text.
    pub fn from_reply(
        (input_tokens, output_tokens): (Option<u64>, Option<u64>),
        request: &Request,
        reply: &str,
    ) -> Self {
        Self {
            input_tokens: input_tokens.unwrap_or_else(|| {
                let tools = match request.tools.is_empty() {
                    true => 0,
                    false => serde_json::to_string(&request.tools)
                        .map_or(0, |definitions| approximate_tokens(&definitions)),
                };
                request
                    .messages
                    .iter()
                    .map(|m| approximate_tokens(&m.counted_text()))
                    .fold(tools, u64::saturating_add)
            }),
            output_tokens: output_tokens.unwrap_or_else(|| approximate_tokens(reply)),
            estimated: input_tokens.is_none() || output_tokens.is_none(),
        }
    }

    /// Input and output tokens together (saturating: a provider's huge counts never wrap).
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A successful call (the default is empty, for streams to fill in).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The generated text.
    pub text: String,
    /// Why generation stopped.
    pub finish: FinishReason,
    /// Token counts.
    pub usage: Usage,
    /// The provider's own fingerprint of the serving system, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The tools the model called, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// One call of a tool by the model, as it made it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The API's id for the call, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool called.
    pub name: String,
    /// The arguments exactly as the model wrote them: usually a JSON object, but a model may
    /// write anything, and what it wrote is what assertions judge.
    pub arguments: String,
}

impl ToolCall {
    /// The arguments as JSON, or why they are not JSON.
    pub fn parsed_arguments(&self) -> std::result::Result<serde_json::Value, String> {
        if self.arguments.trim().is_empty() {
            return Ok(serde_json::Value::Object(serde_json::Map::new()));
        }
        serde_json::from_str(&self.arguments)
            .map_err(|e| format!("the arguments of `{}` are not JSON ({e})", self.name))
    }
}

/// Whether a failed call may succeed if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retry {
    /// Rate limits, server errors, timeouts, dropped connections.
    Transient,
    /// Bad requests, authentication, unknown models: retrying cannot help.
    Permanent,
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// Whether to retry.
    pub retry: Retry,
    /// What happened, without secrets.
    pub message: String,
    /// How long the provider asked us to wait, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The provider said it is rate limited or overloaded (429, 529): the whole lane slows down.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rate_limited: bool,
}

impl ProviderError {
    /// A failure that may succeed on retry.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            retry: Retry::Transient,
            message: message.into(),
            retry_after_ms: None,
            rate_limited: false,
        }
    }

    /// A failure that will not.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retry: Retry::Permanent,
            message: message.into(),
            retry_after_ms: None,
            rate_limited: false,
        }
    }
}

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
    fn batch(&self) -> Option<&dyn batch::Batch> {
        None
    }

    /// Performs one call.
    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;
}

/// Builds the provider named `name` from its config.
///
/// `root` is the project root (exec commands and model paths are relative to it), `model_dir`
/// holds the default local model, and `env` supplies the API key variables
/// the config names. Keys are read here and held only inside the provider.
pub(crate) fn build(
    name: &str,
    config: &ProviderConfig,
    root: &Path,
    model_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Arc<dyn Provider>> {
    let timeouts = config.timeouts();
    let setup = |message: String| Error::Provider {
        provider: name.to_string(),
        message,
    };
    let provider: Arc<dyn Provider> = match config.kind {
        ProviderKind::Echo => Arc::new(Echo::new()),
        ProviderKind::Local => {
            let path = match &config.model_path {
                Some(path) => root.join(path),
                None => local::default_model_path(model_dir),
            };
            if !path.is_file() {
                return Err(setup(format!(
                    "model file {} does not exist; run `promptgate model fetch`, or set `model_path`",
                    path.display()
                )));
            }
            Arc::new(Local::open(&path).map_err(setup)?)
        }
        ProviderKind::Exec => Arc::new(Exec::new(
            config.command.clone(),
            root.to_path_buf(),
            (timeouts.call, config.price, config.deterministic),
            &config.env,
            env,
        )),
        ProviderKind::Openai => http_provider::<wire::OpenAi>(config, env).map_err(setup)?,
        ProviderKind::Anthropic => http_provider::<wire::Anthropic>(config, env).map_err(setup)?,
        ProviderKind::Ollama => http_provider::<wire::Ollama>(config, env).map_err(setup)?,
    };
    Ok(Arc::new(Named {
        name: name.to_string(),
        inner: provider,
    }))
}

/// The provider of an HTTP API in the wire format `W`.
fn http_provider<W: wire::WireFormat>(
    config: &ProviderConfig,
    env: &BTreeMap<String, String>,
) -> std::result::Result<Arc<dyn Provider>, String> {
    let (model, base_url, api_key) = endpoint(config, W::DEFAULT_BASE_URL, env)?;
    let endpoint = Endpoint::new(base_url, model, api_key, config.timeouts(), config.stream);
    Ok(Arc::new(wire::Http::<W>::new(
        endpoint,
        config.price,
        config.batch,
    )?))
}

/// A provider whose failed calls say which configured provider failed (`provider `gpt`: …`),
/// so an error in a report or the terminal points at the config entry to fix.
struct Named {
    name: String,
    inner: Arc<dyn Provider>,
}

impl Provider for Named {
    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }

    fn lane_key(&self) -> String {
        self.inner.lane_key()
    }

    fn price(&self) -> Option<Price> {
        self.inner.price()
    }

    fn cacheable(&self) -> bool {
        self.inner.cacheable()
    }

    fn deterministic(&self, params: &EffectiveParams) -> bool {
        self.inner.deterministic(params)
    }

    fn default_concurrency(&self) -> usize {
        self.inner.default_concurrency()
    }

    fn batch(&self) -> Option<&dyn batch::Batch> {
        self.inner.batch()
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            self.inner.complete(request).await.map_err(|mut e| {
                e.message = format!("provider `{}`: {}", self.name, e.message);
                e
            })
        })
    }
}

/// The model, base URL and API key (read from the variable `api_key_env` names) of an HTTP
/// provider.
fn endpoint(
    config: &ProviderConfig,
    default_base_url: &str,
    env: &BTreeMap<String, String>,
) -> Result<(String, String, Option<String>), String> {
    let model = config.model.clone().ok_or("no `model` configured")?;
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| default_base_url.to_string());
    let api_key =
        match &config.api_key_env {
            Some(var) => Some(env.get(var).cloned().filter(|k| !k.is_empty()).ok_or_else(
                || format!("the environment variable `{var}` (api_key_env) is not set"),
            )?),
            None => None,
        };
    Ok((model, base_url, api_key))
}

/// Cost of a call in dollars, or `None` when the price is unknown.
pub(crate) fn cost(price: Option<Price>, usage: Usage) -> Option<f64> {
    price.map(|p| {
        (usage.input_tokens as f64 * p.input_per_mtok
            + usage.output_tokens as f64 * p.output_per_mtok)
            / 1e6
    })
}

/// A rough token count, for providers that report none: a token per four bytes (the usual
/// rule of thumb for English on BPE tokenizers), and never fewer than the words, so neither a
/// long word-free reply nor a wordy one counts as next to nothing.
pub(crate) fn approximate_tokens(text: &str) -> u64 {
    let by_bytes = text.len().div_ceil(4) as u64;
    by_bytes.max(text.split_whitespace().count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_counts_the_tools_offered_and_reported_counts_win() {
        let mut request = Request {
            messages: vec![Message::text("user", "Where is my order A1001?")],
            params: crate::config::Params::default().effective(),
            sample: 0,
            tools: Vec::new(),
        };
        let plain = Usage::from_reply((None, None), &request, "It shipped.");
        assert!(plain.estimated);
        request.tools.push(crate::artifact::ToolDef {
            name: "lookup_order".into(),
            description: Some("Find an order by its id and return its status.".into()),
            input_schema: serde_json::json!({ "type": "object", "properties": { "order_id": { "type": "string" } } }),
        });
        let with_tools = Usage::from_reply((None, None), &request, "It shipped.");
        assert!(
            with_tools.input_tokens > plain.input_tokens + 10,
            "{with_tools:?}"
        );
        assert_eq!(with_tools.output_tokens, plain.output_tokens);
        let reported = Usage::from_reply((Some(7), Some(3)), &request, "It shipped.");
        assert_eq!((reported.input_tokens, reported.output_tokens), (7, 3));
        assert!(!reported.estimated);
    }
}
