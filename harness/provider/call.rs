//! One call to a model: the request, the completion or the error it comes to, its usage and
//! its cost. Every provider and the runner speak these.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::artifact::Message;
use crate::config::{EffectiveParams, Price};
use crate::errors::{Error, Result};

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
    /// The JSON schema the reply must fit, for APIs with a structured-output mode (a judge's
    /// answer); none for a prompt's own calls, which keeps their keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_schema: Option<serde_json::Value>,
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
