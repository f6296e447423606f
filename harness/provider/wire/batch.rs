//! The batch APIs of the wire formats that have one, behind [`Batch`] for any [`Http`]
//! provider: OpenAI's Batch API (a JSONL file uploaded to `/files`, a batch created on it at
//! `/batches`, results read from its output and error files) and Anthropic's Message Batches
//! (requests posted to `/v1/messages/batches`, results read from the batch's `/results`).
//!
//! Each request's body is the one a direct call sends (without streaming), and each reply is
//! read as a direct call's reply is, so a batched completion is the same completion.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BatchApi, Http, WireFormat};
use crate::config::Price;
use crate::provider::batch::{self, Batch, BatchLimits, BatchState, Ended, ItemResult};
use crate::provider::call::{BoxFuture, Completion, ProviderError, Request};
use crate::provider::http;

impl BatchApi {
    /// The API's own limits per batch.
    fn limits(self) -> BatchLimits {
        match self {
            Self::OpenAi => BatchLimits {
                max_requests: 50_000,
                max_bytes: 200 * 1024 * 1024,
            },
            Self::Anthropic => BatchLimits {
                max_requests: 100_000,
                max_bytes: 256 * 1024 * 1024,
            },
        }
    }
}

/// The first wait between polls when the config sets none.
const DEFAULT_POLL: Duration = Duration::from_secs(10);

/// The longest wait between polls when the config sets none.
const DEFAULT_MAX_POLL: Duration = Duration::from_secs(300);

/// How long a run waits for a batch by default: 25 hours, past the APIs' 24-hour window.
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(25 * 3600);

#[derive(Deserialize)]
struct Created {
    id: String,
}

/// An OpenAI batch object, as far as promptgate reads it.
#[derive(Deserialize)]
struct OpenAiBatch {
    status: String,
    #[serde(default)]
    output_file_id: Option<String>,
    #[serde(default)]
    error_file_id: Option<String>,
    #[serde(default)]
    request_counts: Option<OpenAiCounts>,
    #[serde(default)]
    errors: Option<OpenAiErrors>,
}

#[derive(Deserialize, Default)]
struct OpenAiCounts {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    completed: u64,
    #[serde(default)]
    failed: u64,
}

#[derive(Deserialize)]
struct OpenAiErrors {
    #[serde(default)]
    data: Vec<Value>,
}

/// One line of an OpenAI output or error file.
#[derive(Deserialize)]
struct OpenAiResult {
    custom_id: String,
    #[serde(default)]
    response: Option<OpenAiResponse>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct OpenAiResponse {
    status_code: u16,
    #[serde(default)]
    body: Value,
}

/// An Anthropic message batch, as far as promptgate reads it.
#[derive(Deserialize)]
struct AnthropicBatch {
    processing_status: String,
    #[serde(default)]
    request_counts: AnthropicCounts,
}

#[derive(Deserialize, Default)]
struct AnthropicCounts {
    #[serde(default)]
    processing: u64,
    #[serde(default)]
    succeeded: u64,
    #[serde(default)]
    errored: u64,
    #[serde(default)]
    canceled: u64,
    #[serde(default)]
    expired: u64,
}

/// One line of an Anthropic batch's results.
#[derive(Deserialize)]
struct AnthropicResult {
    custom_id: String,
    result: Value,
}

impl<W: WireFormat> Http<W> {
    fn api(&self) -> BatchApi {
        W::BATCH.unwrap_or(BatchApi::OpenAi)
    }

    /// The URL of `path` under the API's batch root (OpenAI's base URL ends in `/v1`;
    /// Anthropic's does not).
    fn batch_url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base_url)
    }

    fn transfer(&self) -> Result<reqwest::Client, ProviderError> {
        self.endpoint
            .transfer_client()
            .map_err(ProviderError::permanent)
    }

    /// Sends `builder` with the API's key and headers; decodes the JSON reply.
    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let builder = W::authorize(builder, self.endpoint.api_key());
        http::send_json(builder, self.endpoint.timeouts).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, ProviderError> {
        self.send_json(self.client.get(url)).await
    }

    async fn get_text(&self, url: &str) -> Result<String, ProviderError> {
        let builder = W::authorize(self.transfer()?.get(url), self.endpoint.api_key());
        http::send_text(builder, self.endpoint.timeouts).await
    }

    async fn submit_openai(&self, lines: &[String]) -> Result<String, ProviderError> {
        let file = reqwest::multipart::Part::bytes(lines.join("\n").into_bytes())
            .file_name("promptgate-batch.jsonl")
            .mime_str("application/jsonl")
            .map_err(|e| ProviderError::permanent(format!("cannot build the upload: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("purpose", "batch")
            .part("file", file);
        let upload = self
            .transfer()?
            .post(self.batch_url("/files"))
            .multipart(form);
        let uploaded: Created = self.send_json(upload).await?;
        let create = self.client.post(self.batch_url("/batches")).json(&json!({
            "input_file_id": batch::safe_id(&uploaded.id)?,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": { "source": "promptgate" },
        }));
        let created: Created = self.send_json(create).await?;
        Ok(batch::safe_id(&created.id)?.to_string())
    }

    async fn submit_anthropic(&self, lines: &[String]) -> Result<String, ProviderError> {
        let body = format!("{{\"requests\":[{}]}}", lines.join(","));
        let create = self
            .transfer()?
            .post(self.batch_url("/v1/messages/batches"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let created: Created = self.send_json(create).await?;
        Ok(batch::safe_id(&created.id)?.to_string())
    }

    async fn poll_openai(&self, id: &str) -> Result<BatchState, ProviderError> {
        let url = self.batch_url(&format!("/batches/{}", batch::safe_id(id)?));
        let b: OpenAiBatch = self.get_json(&url).await?;
        let counts = b.request_counts.unwrap_or_default();
        if !matches!(
            b.status.as_str(),
            "completed" | "failed" | "expired" | "cancelled"
        ) {
            return Ok(BatchState::Running {
                done: counts.completed + counts.failed,
                total: counts.total,
            });
        }
        let refused = (b.status == "failed").then(|| {
            let reasons: Vec<String> = b
                .errors
                .map(|e| e.data)
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    let message = e["message"].as_str().unwrap_or("no reason given");
                    match e["line"].as_u64() {
                        Some(line) => format!("line {line}: {message}"),
                        None => message.to_string(),
                    }
                })
                .collect();
            format!("the batch API refused the batch: {}", reasons.join("; "))
        });
        let files = [b.output_file_id, b.error_file_id]
            .into_iter()
            .flatten()
            .map(|f| batch::safe_id(&f).map(str::to_string))
            .collect::<Result<_, _>>()?;
        Ok(BatchState::Ended(Ended { files, refused }))
    }

    async fn poll_anthropic(&self, id: &str) -> Result<BatchState, ProviderError> {
        let url = self.batch_url(&format!("/v1/messages/batches/{}", batch::safe_id(id)?));
        let b: AnthropicBatch = self.get_json(&url).await?;
        let c = b.request_counts;
        let done = c.succeeded + c.errored + c.canceled + c.expired;
        Ok(match b.processing_status.as_str() {
            "ended" => BatchState::Ended(Ended::default()),
            _ => BatchState::Running {
                done,
                total: done + c.processing,
            },
        })
    }

    async fn results_openai(
        &self,
        ended: &Ended,
    ) -> Result<Vec<(String, ItemResult)>, ProviderError> {
        let mut results = Vec::new();
        for file in &ended.files {
            let url = self.batch_url(&format!("/files/{}/content", batch::safe_id(file)?));
            for line in self
                .get_text(&url)
                .await?
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                let r: OpenAiResult = unreadable_line(line)?;
                let result = match (r.response, r.error) {
                    (Some(response), _) if response.status_code == 200 => {
                        ItemResult::Reply(response.body)
                    }
                    (Some(response), _) => ItemResult::Failed(http::failure(
                        response.status_code,
                        &reqwest::header::HeaderMap::new(),
                        &response.body.to_string(),
                    )),
                    (None, Some(error))
                        if matches!(
                            error["code"].as_str(),
                            Some("batch_expired" | "batch_cancelled")
                        ) =>
                    {
                        ItemResult::Expired
                    }
                    (None, error) => ItemResult::Failed(ProviderError::transient(format!(
                        "failed in the batch: {}",
                        error
                            .as_ref()
                            .and_then(|e| e["message"].as_str())
                            .unwrap_or("no reason given")
                    ))),
                };
                results.push((r.custom_id, result));
            }
        }
        Ok(results)
    }

    async fn results_anthropic(
        &self,
        id: &str,
    ) -> Result<Vec<(String, ItemResult)>, ProviderError> {
        let url = self.batch_url(&format!(
            "/v1/messages/batches/{}/results",
            batch::safe_id(id)?
        ));
        let text = self.get_text(&url).await?;
        let mut results = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let r: AnthropicResult = unreadable_line(line)?;
            let result = match r.result["type"].as_str() {
                Some("succeeded") => ItemResult::Reply(r.result["message"].clone()),
                Some("errored") => {
                    let error = &r.result["error"]["error"];
                    let message = format!(
                        "failed in the batch: {}",
                        error["message"].as_str().unwrap_or("no reason given")
                    );
                    ItemResult::Failed(match error["type"].as_str() {
                        Some(
                            "invalid_request_error"
                            | "authentication_error"
                            | "permission_error"
                            | "not_found_error"
                            | "request_too_large",
                        ) => ProviderError::permanent(message),
                        _ => ProviderError::transient(message),
                    })
                }
                _ => ItemResult::Expired,
            };
            results.push((r.custom_id, result));
        }
        Ok(results)
    }
}

/// One line of a results file, or why it cannot be read.
fn unreadable_line<T: serde::de::DeserializeOwned>(line: &str) -> Result<T, ProviderError> {
    serde_json::from_str(line).map_err(|e| {
        ProviderError::transient(format!(
            "unreadable line in the batch's results ({e}): {}",
            http::snippet(line)
        ))
    })
}

impl<W: WireFormat> Batch for Http<W> {
    fn limits(&self) -> BatchLimits {
        let api = self.api().limits();
        BatchLimits {
            max_requests: self.batch.max_requests.unwrap_or(api.max_requests).max(1),
            max_bytes: self.batch.max_bytes.unwrap_or(api.max_bytes).max(1),
        }
    }

    fn price(&self) -> Option<Price> {
        self.batch.price.or(self.price.map(batch::half))
    }

    fn poll_waits(&self) -> (Duration, Duration) {
        let first = self
            .batch
            .poll_ms
            .map_or(DEFAULT_POLL, Duration::from_millis);
        let most = self
            .batch
            .max_poll_ms
            .map_or(DEFAULT_MAX_POLL, Duration::from_millis);
        (first, most.max(first))
    }

    fn max_wait(&self) -> Duration {
        self.batch
            .max_wait_ms
            .map_or(DEFAULT_MAX_WAIT, Duration::from_millis)
    }

    fn line(&self, id: &str, request: &Request) -> String {
        let mut body = W::body(&self.endpoint, request);
        if let Some(fields) = body.as_object_mut() {
            fields.remove("stream");
            fields.remove("stream_options");
        }
        let line = match self.api() {
            BatchApi::OpenAi => json!({
                "custom_id": id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": body,
            }),
            BatchApi::Anthropic => json!({ "custom_id": id, "params": body }),
        };
        line.to_string()
    }

    fn submit<'a>(&'a self, lines: &'a [String]) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            match self.api() {
                BatchApi::OpenAi => self.submit_openai(lines).await,
                BatchApi::Anthropic => self.submit_anthropic(lines).await,
            }
        })
    }

    fn poll<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BatchState, ProviderError>> {
        Box::pin(async move {
            match self.api() {
                BatchApi::OpenAi => self.poll_openai(id).await,
                BatchApi::Anthropic => self.poll_anthropic(id).await,
            }
        })
    }

    fn results<'a>(
        &'a self,
        id: &'a str,
        ended: &'a Ended,
    ) -> BoxFuture<'a, Result<Vec<(String, ItemResult)>, ProviderError>> {
        Box::pin(async move {
            match self.api() {
                BatchApi::OpenAi => self.results_openai(ended).await,
                BatchApi::Anthropic => self.results_anthropic(id).await,
            }
        })
    }

    fn completion(&self, reply: Value, request: &Request) -> Result<Completion, ProviderError> {
        let reply: W::Reply = serde_json::from_value(reply).map_err(|e| {
            ProviderError::transient(format!("unreadable reply in the batch's results ({e})"))
        })?;
        W::completion(reply, request)
    }
}
