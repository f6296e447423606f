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
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
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
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| {
                let role = if m.role == "model" {
                    "assistant"
                } else {
                    m.role.as_str()
                };
                json!({ "role": role, "content": m.text_content() })
            })
            .collect();
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
        let response = http
            .send()
            .await
            .map_err(|e| ProviderError::transient(describe(e)))?;
        let status = response.status();
        let retry_after_ms = retry_after(response.headers());
        let text = response
            .text()
            .await
            .map_err(|e| ProviderError::transient(describe(e)))?;
        if !status.is_success() {
            let retry = matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error();
            let message = format!("HTTP {}: {}", status.as_u16(), error_message(&text));
            let mut error = if retry {
                ProviderError::transient(message)
            } else {
                ProviderError::permanent(message)
            };
            error.retry_after_ms = retry_after_ms;
            return Err(error);
        }
        let parsed: ChatResponse = serde_json::from_str(&text).map_err(|e| {
            ProviderError::transient(format!(
                "unreadable response body ({e}): {}",
                snippet(&text)
            ))
        })?;
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

/// Describes a transport error without the URL's query or any header.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "request timed out".into()
    } else if e.is_connect() {
        "cannot connect to the server".into()
    } else {
        e.without_url().to_string()
    }
}

/// The `error.message` of an error body in any of the common shapes, else a snippet of it.
fn error_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return snippet(body);
    };
    let candidates = [
        value.pointer("/error/message"),
        value.pointer("/message"),
        value.pointer("/detail"),
        value.get("error").filter(|e| e.is_string()),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| snippet(body))
}

fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(ms.max(0.0) as u64);
    }
    get("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| (s.max(0.0) * 1000.0) as u64)
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
