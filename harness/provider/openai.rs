//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`), non-streaming.
//!
//! Works with OpenAI itself and with servers that speak its wire format (vLLM, llama.cpp's
//! server, LiteLLM, Ollama's `/v1`). Dotprompt's `model` role is sent as `assistant`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, Completion, FinishReason, Provider, ProviderError, Request, Usage};
use crate::config::Price;

/// The public OpenAI endpoint, used when the config names no `base_url`.
pub(super) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// An OpenAI-compatible endpoint.
pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    price: Option<Price>,
    fingerprint: String,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key is deliberately absent.
        f.debug_struct("OpenAi")
            .field("url", &self.url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
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
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl OpenAi {
    /// A client for `base_url` serving `model`. `api_key`, when given, is sent as a bearer token.
    pub fn new(
        base_url: String,
        model: String,
        api_key: Option<String>,
        timeout: Duration,
        price: Option<Price>,
    ) -> Result<Self, String> {
        let client = super::http::client(timeout)?;
        let base = base_url.trim_end_matches('/');
        let fingerprint = format!("openai:{base}:{model}");
        Ok(Self {
            client,
            url: format!("{base}/chat/completions"),
            model,
            api_key,
            price,
            fingerprint,
        })
    }

    fn body(&self, request: &Request) -> Value {
        let messages = super::http::chat_messages(&request.messages);
        json!({
            "model": self.model,
            "messages": messages,
            "temperature": request.params.temperature,
            "top_p": request.params.top_p,
            "max_tokens": request.params.max_tokens,
            "seed": request.params.seed,
        })
    }

    async fn call(&self, request: &Request) -> Result<Completion, ProviderError> {
        let mut http = self.client.post(&self.url).json(&self.body(request));
        if let Some(key) = &self.api_key {
            http = http.bearer_auth(key);
        }
        let parsed: ChatResponse = super::http::send_json(http).await?;
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::transient("response has no choices"))?;
        Ok(Completion {
            text: choice.message.content.unwrap_or_default(),
            finish: choice
                .finish_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            usage: parsed
                .usage
                .map(|u| Usage {
                    input_tokens: u.prompt_tokens,
                    output_tokens: u.completion_tokens,
                })
                .unwrap_or_default(),
            fingerprint: parsed.system_fingerprint,
        })
    }
}

impl Provider for OpenAi {
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
