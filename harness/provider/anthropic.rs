//! Anthropic Messages (`POST {base_url}/v1/messages`), non-streaming.
//!
//! System messages go to the top-level `system` field; Dotprompt's `model` role is sent as
//! `assistant`. The API has no seed, so a sampled run is not reproducible there; the effective
//! seed is still recorded with each sample.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, Completion, FinishReason, Provider, ProviderError, Request, Usage};
use crate::config::Price;

/// The public Anthropic endpoint, used when the config names no `base_url`.
pub(super) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const API_VERSION: &str = "2023-06-01";

/// An Anthropic Messages endpoint.
pub struct Anthropic {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    price: Option<Price>,
    fingerprint: String,
}

impl std::fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key is deliberately absent.
        f.debug_struct("Anthropic")
            .field("url", &self.url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
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
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

impl Anthropic {
    /// A client for `base_url` serving `model`; `api_key`, when given, goes in `x-api-key`.
    pub fn new(
        base_url: String,
        model: String,
        api_key: Option<String>,
        timeout: Duration,
        price: Option<Price>,
    ) -> Result<Self, String> {
        let base = base_url.trim_end_matches('/');
        let fingerprint = format!("anthropic:{base}:{model}");
        Ok(Self {
            client: super::http::client(timeout)?,
            url: format!("{base}/v1/messages"),
            model,
            api_key,
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
            "model": self.model,
            "max_tokens": request.params.max_tokens,
            "messages": messages,
            "temperature": request.params.temperature.clamp(0.0, 1.0),
            "top_p": request.params.top_p,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        body
    }

    async fn call(&self, request: &Request) -> Result<Completion, ProviderError> {
        let mut http = self
            .client
            .post(&self.url)
            .header("anthropic-version", API_VERSION)
            .json(&self.body(request));
        if let Some(key) = &self.api_key {
            http = http.header("x-api-key", key);
        }
        let parsed: MessagesResponse = super::http::send_json(http).await?;
        let text: String = parsed
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect();
        Ok(Completion {
            text,
            finish: parsed
                .stop_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            usage: parsed
                .usage
                .map(|u| Usage {
                    input_tokens: u.input_tokens,
                    output_tokens: u.output_tokens,
                })
                .unwrap_or_default(),
            fingerprint: parsed.model,
        })
    }
}

impl Provider for Anthropic {
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
