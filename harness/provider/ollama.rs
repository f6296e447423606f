//! Ollama's native chat API (`POST {base_url}/api/chat` with `"stream": false`).
//!
//! Sampling parameters go in `options` (`temperature`, `top_p`, `seed`, `num_predict`), which is
//! where Ollama reads them; its own defaults (temperature 0.8, unbounded length) never apply.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, Completion, FinishReason, Provider, ProviderError, Request, Usage};
use crate::config::Price;

/// A local Ollama server, used when the config names no `base_url`.
pub(super) const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

/// An Ollama server.
#[derive(Debug)]
pub struct Ollama {
    client: reqwest::Client,
    url: String,
    model: String,
    price: Option<Price>,
    fingerprint: String,
}

#[derive(Deserialize)]
struct ChatResponse {
    message: ChatMessage,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: u64,
    #[serde(default)]
    eval_count: u64,
}

#[derive(Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: String,
}

impl Ollama {
    /// A client for the server at `base_url` running `model`.
    pub fn new(
        base_url: String,
        model: String,
        timeout: Duration,
        price: Option<Price>,
    ) -> Result<Self, String> {
        let base = base_url.trim_end_matches('/');
        let fingerprint = format!("ollama:{base}:{model}");
        Ok(Self {
            client: super::http::client(timeout)?,
            url: format!("{base}/api/chat"),
            model,
            price,
            fingerprint,
        })
    }

    fn body(&self, request: &Request) -> Value {
        let messages = super::http::chat_messages(&request.messages);
        json!({
            "model": self.model,
            "messages": messages,
            "stream": false,
            "options": {
                "temperature": request.params.temperature,
                "top_p": request.params.top_p,
                "seed": request.params.seed,
                "num_predict": request.params.max_tokens,
            },
        })
    }

    async fn call(&self, request: &Request) -> Result<Completion, ProviderError> {
        let parsed: ChatResponse =
            super::http::send_json(self.client.post(&self.url).json(&self.body(request))).await?;
        Ok(Completion {
            text: parsed.message.content,
            finish: parsed
                .done_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            usage: Usage {
                input_tokens: parsed.prompt_eval_count,
                output_tokens: parsed.eval_count,
            },
            fingerprint: None,
        })
    }
}

impl Provider for Ollama {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
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
