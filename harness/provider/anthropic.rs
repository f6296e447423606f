//! Anthropic Messages (`POST {base_url}/v1/messages`), plain or streamed as server-sent events.
//!
//! System messages go to the top-level `system` field; Dotprompt's `model` role is sent as
//! `assistant`. The API has no seed, so a sampled run is not reproducible there; the effective
//! seed is still recorded with each sample.

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, Endpoint};
use super::{BoxFuture, Completion, FinishReason, Provider, ProviderError, Request, Usage};
use crate::config::Price;

/// The public Anthropic endpoint, used when the config names no `base_url`.
pub(super) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const API_VERSION: &str = "2023-06-01";

/// An Anthropic Messages endpoint.
#[derive(Debug)]
pub struct Anthropic {
    client: reqwest::Client,
    endpoint: Endpoint,
    url: String,
    price: Option<Price>,
    fingerprint: String,
}

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct MessagesUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

impl Anthropic {
    /// A client for the endpoint; its key, when given, goes in `x-api-key`.
    pub fn new(endpoint: Endpoint, price: Option<Price>) -> Result<Self, String> {
        let fingerprint = format!("anthropic:{}:{}", endpoint.shown_url(), endpoint.model);
        Ok(Self {
            client: endpoint.client()?,
            url: format!("{}/v1/messages", endpoint.base_url),
            endpoint,
            price,
            fingerprint,
        })
    }

    fn body(&self, request: &Request) -> Value {
        let system: Vec<String> = request
            .messages
            .iter()
            .filter(|m| m.role == "system")
            .map(|m| m.text_content())
            .collect();
        let messages: Vec<Value> = request
            .messages
            .iter()
            .filter(|m| m.role != "system")
            .map(|m| {
                let role = if m.role == "model" {
                    "assistant"
                } else {
                    "user"
                };
                json!({ "role": role, "content": m.text_content() })
            })
            .collect();
        let mut body = json!({
            "model": self.endpoint.model,
            "max_tokens": request.params.max_tokens,
            "messages": messages,
            "temperature": request.params.temperature.clamp(0.0, 1.0),
            "top_p": request.params.top_p,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if self.endpoint.stream {
            body["stream"] = json!(true);
        }
        body
    }

    async fn call(&self, request: &Request) -> Result<Completion, ProviderError> {
        let mut builder = self
            .client
            .post(&self.url)
            .header("anthropic-version", API_VERSION)
            .json(&self.body(request));
        if let Some(key) = self.endpoint.api_key() {
            builder = builder.header("x-api-key", key);
        }
        if self.endpoint.stream {
            return self.call_streaming(builder, request).await;
        }
        let parsed: MessagesResponse = http::send_json(builder, self.endpoint.timeouts).await?;
        let text: String = parsed
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect();
        Ok(Completion {
            finish: parsed
                .stop_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            usage: Usage::from_reply(
                (
                    parsed.usage.as_ref().and_then(|u| u.input_tokens),
                    parsed.usage.as_ref().and_then(|u| u.output_tokens),
                ),
                &request.messages,
                &text,
            ),
            text,
            fingerprint: parsed.model,
        })
    }
}

impl Anthropic {
    /// Reads the event stream: `message_start` (input tokens, model), text deltas,
    /// `message_delta` (stop reason, output tokens) and `message_stop`. An `error` event (such
    /// as `overloaded_error`) is a transient mid-stream failure.
    async fn call_streaming(
        &self,
        builder: reqwest::RequestBuilder,
        request: &Request,
    ) -> Result<Completion, ProviderError> {
        let mut completion = Completion::default();
        let mut reported = (None, None);
        http::stream_lines(builder, self.endpoint.timeouts, |line| {
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                return Ok(false); // `event:` lines repeat the data's `type`
            };
            let event = http::stream_event(data)?;
            match event["type"].as_str().unwrap_or_default() {
                "message_start" => {
                    let message = &event["message"];
                    reported.0 = message["usage"]["input_tokens"].as_u64();
                    completion.fingerprint = message["model"].as_str().map(str::to_string);
                }
                "content_block_delta" => {
                    if let Some(text) = event["delta"]["text"].as_str() {
                        completion.text.push_str(text);
                    }
                }
                "message_delta" => {
                    if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                        completion.finish = FinishReason::from_provider(reason);
                    }
                    if let Some(n) = event["usage"]["output_tokens"].as_u64() {
                        reported.1 = Some(n);
                    }
                }
                "message_stop" => return Ok(true),
                "error" => return Err(http::mid_stream_error(&event)),
                _ => {} // ping, content_block_start, content_block_stop
            }
            Ok(false)
        })
        .await?;
        completion.usage = Usage::from_reply(reported, &request.messages, &completion.text);
        Ok(completion)
    }
}

impl Provider for Anthropic {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn lane_key(&self) -> String {
        self.endpoint.lane_key(&self.fingerprint)
    }

    fn price(&self) -> Option<Price> {
        self.price
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(self.call(request))
    }
}
