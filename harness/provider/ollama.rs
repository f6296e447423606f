//! Ollama's native chat API (`POST {base_url}/api/chat`), plain or streamed as NDJSON.
//!
//! Sampling parameters go in `options` (`temperature`, `top_p`, `seed`, `num_predict`), which is
//! where Ollama reads them; its own defaults (temperature 0.8, unbounded length) never apply.

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, Endpoint};
use super::{BoxFuture, Completion, FinishReason, Provider, ProviderError, Request, Usage};
use crate::config::Price;

/// A local Ollama server, used when the config names no `base_url`.
pub(super) const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

/// An Ollama server.
#[derive(Debug)]
pub struct Ollama {
    client: reqwest::Client,
    endpoint: Endpoint,
    url: String,
    price: Option<Price>,
    fingerprint: String,
}

#[derive(Deserialize)]
struct ChatResponse {
    message: ChatMessage,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
}

#[derive(Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: String,
}

impl Ollama {
    /// A client for the server at the endpoint; a key, when given, is sent as a bearer token
    /// (for servers behind an authenticating proxy).
    pub fn new(endpoint: Endpoint, price: Option<Price>) -> Result<Self, String> {
        let fingerprint = format!("ollama:{}:{}", endpoint.shown_url(), endpoint.model);
        Ok(Self {
            client: endpoint.client()?,
            url: format!("{}/api/chat", endpoint.base_url),
            endpoint,
            price,
            fingerprint,
        })
    }

    fn body(&self, request: &Request) -> Value {
        let messages = http::chat_messages(&request.messages);
        json!({
            "model": self.endpoint.model,
            "messages": messages,
            "stream": self.endpoint.stream,
            "options": {
                "temperature": request.params.temperature,
                "top_p": request.params.top_p,
                "seed": request.params.seed,
                "num_predict": request.params.max_tokens,
            },
        })
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
        Ok(Completion {
            usage: Usage::from_reply(
                (parsed.prompt_eval_count, parsed.eval_count),
                &request.messages,
                &parsed.message.content,
            ),
            text: parsed.message.content,
            finish: parsed
                .done_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            fingerprint: None,
        })
    }
}

impl Ollama {
    /// Reads newline-delimited JSON chunks until the one with `done: true`, which carries the
    /// stop reason and token counts; a chunk with `error` is a mid-stream failure.
    async fn call_streaming(
        &self,
        builder: reqwest::RequestBuilder,
        request: &Request,
    ) -> Result<Completion, ProviderError> {
        let mut completion = Completion::default();
        http::stream_lines(builder, self.endpoint.timeouts, |line| {
            if line.trim().is_empty() {
                return Ok(false);
            }
            let chunk = http::stream_event(line)?;
            if chunk.get("error").is_some() {
                return Err(http::mid_stream_error(&chunk));
            }
            if let Some(text) = chunk["message"]["content"].as_str() {
                completion.text.push_str(text);
            }
            if chunk["done"].as_bool() != Some(true) {
                return Ok(false);
            }
            if let Some(reason) = chunk["done_reason"].as_str() {
                completion.finish = FinishReason::from_provider(reason);
            }
            // Ollama leaves `prompt_eval_count` out when the prompt was cached.
            completion.usage = Usage::from_reply(
                (
                    chunk["prompt_eval_count"].as_u64(),
                    chunk["eval_count"].as_u64(),
                ),
                &request.messages,
                &completion.text,
            );
            Ok(true)
        })
        .await?;
        Ok(completion)
    }
}

impl Provider for Ollama {
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
