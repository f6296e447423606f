//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`), plain or streamed
//! as server-sent events with usage in the last chunk.
//!
//! Works with OpenAI itself and with servers that speak its wire format (vLLM, llama.cpp's
//! server, LiteLLM, Ollama's `/v1`). Dotprompt's `model` role is sent as `assistant`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, Endpoint};
use super::{BoxFuture, Completion, FinishReason, Provider, ProviderError, Request, Usage};
use crate::config::Price;

/// The public OpenAI endpoint, used when the config names no `base_url`.
pub(super) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// An OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct OpenAi {
    client: reqwest::Client,
    endpoint: Endpoint,
    url: String,
    price: Option<Price>,
    fingerprint: String,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    #[serde(default)]
    system_fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl OpenAi {
    /// A client for the endpoint; its key, when given, is sent as a bearer token.
    pub fn new(endpoint: Endpoint, price: Option<Price>) -> Result<Self, String> {
        let fingerprint = format!("openai:{}:{}", endpoint.shown_url(), endpoint.model);
        Ok(Self {
            client: endpoint.client()?,
            url: format!("{}/chat/completions", endpoint.base_url),
            endpoint,
            price,
            fingerprint,
        })
    }

    fn body(&self, request: &Request) -> Value {
        let messages = http::chat_messages(&request.messages);
        let mut body = json!({
            "model": self.endpoint.model,
            "messages": messages,
            "temperature": request.params.temperature,
            "top_p": request.params.top_p,
            "seed": request.params.seed,
        });
        // OpenAI itself reads `max_completion_tokens` (reasoning models reject `max_tokens`);
        // compatible servers (vLLM, llama.cpp, LiteLLM, Ollama) read `max_tokens`.
        let length_field = if self.endpoint.base_url == DEFAULT_BASE_URL {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[length_field] = json!(request.params.max_tokens);
        if self.endpoint.stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({ "include_usage": true });
        }
        body
    }

    async fn call(&self, request: &Request) -> Result<Completion, ProviderError> {
        let mut builder = self.client.post(&self.url).json(&self.body(request));
        if let Some(key) = self.endpoint.api_key() {
            builder = builder.bearer_auth(key);
        }
        if self.endpoint.stream {
            return self.call_streaming(builder, request).await;
        }
        let parsed: ChatResponse = http::send_json(builder, self.endpoint.timeouts).await?;
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::transient("response has no choices"))?;
        let text = choice.message.content.unwrap_or_default();
        let usage = parsed.usage.as_ref();
        Ok(Completion {
            usage: Usage::from_reply(
                (
                    usage.and_then(|u| u.prompt_tokens),
                    usage.and_then(|u| u.completion_tokens),
                ),
                &request.messages,
                &text,
            ),
            text,
            finish: choice
                .finish_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            fingerprint: parsed.system_fingerprint,
        })
    }
}

impl OpenAi {
    /// Reads `data:` events until `[DONE]`: text deltas, the finish reason, the fingerprint and
    /// the usage chunk. An `error` event is a (transient) mid-stream failure. A server that
    /// sends no usage chunk (llama.cpp's, for one) gets its counts estimated.
    async fn call_streaming(
        &self,
        builder: reqwest::RequestBuilder,
        request: &Request,
    ) -> Result<Completion, ProviderError> {
        let mut completion = Completion::default();
        let mut reported = (None, None);
        let mut finished = false;
        http::stream_lines(builder, self.endpoint.timeouts, |line| {
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                return Ok(false); // comments, `event:` lines, keep-alives
            };
            if data == "[DONE]" {
                return if finished {
                    Ok(true)
                } else {
                    Err(ProviderError::transient(
                        "the stream ended without a finish reason",
                    ))
                };
            }
            let event = http::stream_event(data)?;
            if event.get("error").is_some_and(|e| !e.is_null()) {
                return Err(http::mid_stream_error(&event));
            }
            if let Some(fp) = event["system_fingerprint"].as_str() {
                completion.fingerprint = Some(fp.to_string());
            }
            if let Some(choice) = event["choices"].get(0) {
                if let Some(delta) = choice["delta"]["content"].as_str() {
                    completion.text.push_str(delta);
                }
                if let Some(reason) = choice["finish_reason"].as_str() {
                    completion.finish = FinishReason::from_provider(reason);
                    finished = true;
                }
            }
            if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
                reported = (
                    usage["prompt_tokens"].as_u64(),
                    usage["completion_tokens"].as_u64(),
                );
            }
            Ok(false)
        })
        .await?;
        completion.usage = Usage::from_reply(reported, &request.messages, &completion.text);
        Ok(completion)
    }
}

impl Provider for OpenAi {
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
