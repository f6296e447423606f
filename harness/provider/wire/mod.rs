//! The HTTP APIs promptgate speaks, each as a [`WireFormat`]: how a request is encoded, how a
//! reply and a stream are read. One provider, [`Http`], sends any of them: the transport, the
//! timeouts, the retry classification of error bodies and the key handling are written once
//! (in [`super::http`]).
//!
//! A new API is a new `WireFormat`; a new capability of every API (tool calls, next) is a new
//! part of the trait that each format fills in.

mod anthropic;
mod batch;
mod ollama;
mod openai;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::http::{self, Endpoint};
use crate::config::{BatchSettings, Price};
use crate::provider::api::Provider;
use crate::provider::call::{
    BoxFuture, Completion, FinishReason, ProviderError, Request, ToolCall, Usage,
};

pub(crate) use anthropic::Anthropic;
pub(crate) use ollama::Ollama;
pub(crate) use openai::OpenAi;

/// Which batch API a wire format has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchApi {
    /// OpenAI's Batch API over chat completions.
    OpenAi,
    /// Anthropic's Message Batches.
    Anthropic,
}

/// One HTTP API's wire format.
pub(crate) trait WireFormat: Send + Sync + 'static {
    /// The API's name in a provider's fingerprint (`openai`).
    const KIND: &'static str;
    /// Where the API lives when the config names no `base_url`.
    const DEFAULT_BASE_URL: &'static str;
    /// The path of the completion endpoint under the base URL.
    const PATH: &'static str;
    /// The API's batch endpoint, when it has one (`check --batch`).
    const BATCH: Option<BatchApi> = None;
    /// A whole (not streamed) reply as the API sends it.
    type Reply: DeserializeOwned;

    /// The JSON body of a request to `endpoint`.
    fn body(endpoint: &Endpoint, request: &Request) -> Value;

    /// Adds the API key (and any header the API requires) to a request; by default the key,
    /// when there is one, goes as a bearer token (OpenAI, and Ollama behind an authenticating
    /// proxy).
    fn authorize(builder: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
        match key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    /// The completion a whole reply carries.
    fn completion(reply: Self::Reply, request: &Request) -> Result<Completion, ProviderError>;

    /// Reads one line of a streamed reply into `stream`; `Ok(true)` when the stream is complete.
    fn stream_line(line: &str, stream: &mut Stream) -> Result<bool, ProviderError>;
}

/// What a streamed reply has said so far.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    /// The completion, as its deltas arrived.
    pub completion: Completion,
    /// Input and output tokens the API reported, when it did.
    pub reported: (Option<u64>, Option<u64>),
    /// Whether a finish reason arrived.
    pub finished: bool,
    /// The tool call each of the API's stream indices is building, by position in the
    /// completion's calls.
    tool_slots: Vec<(u64, usize)>,
}

impl Stream {
    /// Records why generation stopped.
    fn finish(&mut self, reason: &str) {
        self.completion.finish = FinishReason::from_provider(reason);
        self.finished = true;
    }

    /// The tool call the stream builds at `index`, begun when the index is new.
    fn tool_call(&mut self, index: u64) -> &mut ToolCall {
        let position = match self.tool_slots.iter().find(|(i, _)| *i == index) {
            Some((_, position)) => *position,
            None => {
                self.completion.tool_calls.push(ToolCall::default());
                let position = self.completion.tool_calls.len() - 1;
                self.tool_slots.push((index, position));
                position
            }
        };
        &mut self.completion.tool_calls[position]
    }
}

/// Arguments as an API sent them: the string a model wrote, or an object (Anthropic, Ollama)
/// written back as JSON text.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(written) => written.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The tools as OpenAI and Ollama take them: `{"type": "function", "function": {…}}`.
fn function_tools(tools: &[crate::artifact::ToolDef]) -> Value {
    tools
        .iter()
        .map(|t| {
            serde_json::json!({
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description.clone().unwrap_or_default(),
                    "parameters": t.input_schema,
                }
            })
        })
        .collect()
}

/// A provider that speaks the HTTP API `W`.
pub(crate) struct Http<W> {
    client: reqwest::Client,
    endpoint: Endpoint,
    url: String,
    price: Option<Price>,
    batch: BatchSettings,
    fingerprint: String,
    format: std::marker::PhantomData<W>,
}

impl<W> std::fmt::Debug for Http<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("fingerprint", &self.fingerprint)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl<W: WireFormat> Http<W> {
    /// A client for the endpoint.
    pub(crate) fn new(
        endpoint: Endpoint,
        price: Option<Price>,
        batch: BatchSettings,
    ) -> Result<Self, String> {
        let fingerprint = format!("{}:{}:{}", W::KIND, endpoint.shown_url(), endpoint.model);
        Ok(Self {
            client: endpoint.client()?,
            url: format!("{}{}", endpoint.base_url, W::PATH),
            endpoint,
            price,
            batch,
            fingerprint,
            format: std::marker::PhantomData,
        })
    }

    async fn call(&self, request: &Request) -> Result<Completion, ProviderError> {
        let builder = self
            .client
            .post(&self.url)
            .json(&W::body(&self.endpoint, request));
        let builder = W::authorize(builder, self.endpoint.api_key());
        let timeouts = self.endpoint.timeouts;
        if !self.endpoint.stream {
            let reply: W::Reply = http::send_json(builder, timeouts).await?;
            return W::completion(reply, request);
        }
        let mut stream = Stream::default();
        http::stream_lines(builder, timeouts, |line| W::stream_line(line, &mut stream)).await?;
        let mut completion = stream.completion;
        completion.usage = Usage::from_reply(stream.reported, request, &completion.text);
        Ok(completion)
    }
}

impl<W: WireFormat> Provider for Http<W> {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn lane_key(&self) -> String {
        self.endpoint.lane_key(&self.fingerprint)
    }

    fn price(&self) -> Option<Price> {
        self.price
    }

    fn batch(&self) -> Option<&dyn super::batch::Batch> {
        W::BATCH.map(|_| self as &dyn super::batch::Batch)
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(self.call(request))
    }
}

/// The two dialects of chat messages: how tool calls and results go in the history sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// OpenAI's: arguments as the JSON text the model wrote, results by `tool_call_id`.
    OpenAi,
    /// Ollama's: arguments as a JSON object (`{}` when the model's were not JSON), results by
    /// `tool_name`.
    Ollama,
}

/// Messages as `{role, content}` objects with Dotprompt's `model` role sent as `assistant`, the
/// shape OpenAI-compatible servers and Ollama read. A model message's tool calls go in its
/// `tool_calls`; each tool result is a `tool` message of its own, naming the call it answers.
fn chat_messages(messages: &[crate::artifact::Message], dialect: Dialect) -> Vec<Value> {
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let role = if m.role == "model" {
            "assistant"
        } else {
            m.role.as_str()
        };
        let results: Vec<_> = m.tool_responses().collect();
        if !results.is_empty() {
            for result in results {
                let mut message =
                    serde_json::json!({ "role": "tool", "content": result.output_text() });
                match dialect {
                    Dialect::OpenAi => message["tool_call_id"] = result.reference.clone().into(),
                    Dialect::Ollama => message["tool_name"] = result.name.clone().into(),
                }
                out.push(message);
            }
            continue;
        }
        let mut message = serde_json::json!({ "role": role, "content": m.text_content() });
        let calls: Vec<Value> = m
            .tool_requests()
            .map(|call| {
                match dialect {
                    Dialect::OpenAi => serde_json::json!({
                        "id": call.reference,
                        "type": "function",
                        "function": { "name": call.name, "arguments": call.input_text() },
                    }),
                    Dialect::Ollama => serde_json::json!({
                        "function": {
                            "name": call.name,
                            "arguments": if call.input.is_object() { call.input.clone() } else { serde_json::json!({}) },
                        },
                    }),
                }
            })
            .collect();
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        out.push(message);
    }
    out
}
