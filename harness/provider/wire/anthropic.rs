//! Anthropic Messages (`POST {base_url}/v1/messages`), plain or streamed as server-sent events.
//!
//! System messages go to the top-level `system` field; Dotprompt's `model` role is sent as
//! `assistant`. The API has no seed, so a sampled run is not reproducible there; the effective
//! seed is still recorded with each sample.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Stream, WireFormat};
use crate::provider::call::{Completion, FinishReason, ProviderError, Request, ToolCall, Usage};
use crate::provider::http::{self, Endpoint};

/// The version of the Messages API requests are written for.
const API_VERSION: &str = "2023-06-01";

/// The Anthropic Messages format.
#[derive(Debug)]
pub(crate) struct Anthropic;

#[derive(Deserialize)]
pub(crate) struct MessagesResponse {
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
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
struct MessagesUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

impl WireFormat for Anthropic {
    const KIND: &'static str = "anthropic";
    const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";
    const PATH: &'static str = "/v1/messages";
    const BATCH: Option<super::BatchApi> = Some(super::BatchApi::Anthropic);
    type Reply = MessagesResponse;

    fn body(endpoint: &Endpoint, request: &Request) -> Value {
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
            .map(message)
            .collect();
        let mut body = json!({
            "model": endpoint.model,
            "max_tokens": request.params.max_tokens,
            "messages": messages,
            "temperature": request.params.temperature.clamp(0.0, 1.0),
            "top_p": request.params.top_p,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "description": t.description.clone().unwrap_or_default(),
                        "input_schema": t.input_schema,
                    })
                })
                .collect();
            body["tools"] = json!(tools);
        }
        if endpoint.stream {
            body["stream"] = json!(true);
        }
        body
    }

    /// The key goes in `x-api-key`, with the API version every request names.
    fn authorize(builder: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
        let builder = builder.header("anthropic-version", API_VERSION);
        match key {
            Some(key) => builder.header("x-api-key", key),
            None => builder,
        }
    }

    fn completion(reply: MessagesResponse, request: &Request) -> Result<Completion, ProviderError> {
        let text: String = reply
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect();
        let tool_calls = reply
            .content
            .iter()
            .filter(|b| b.kind == "tool_use")
            .map(|b| ToolCall {
                id: b.id.clone(),
                name: b.name.clone().unwrap_or_default(),
                arguments: b.input.as_ref().map_or_else(String::new, Value::to_string),
            })
            .collect();
        let usage = reply.usage.as_ref();
        Ok(Completion {
            finish: reply
                .stop_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            usage: Usage::from_reply(
                (
                    usage.and_then(|u| u.input_tokens),
                    usage.and_then(|u| u.output_tokens),
                ),
                request,
                &text,
            ),
            text,
            fingerprint: reply.model,
            tool_calls,
        })
    }

    /// The event stream: `message_start` (input tokens, model), text deltas, `tool_use` blocks
    /// with their arguments in `input_json_delta` pieces, `message_delta` (stop reason, output
    /// tokens) and `message_stop`. An `error` event (such as
    /// `overloaded_error`) is a transient mid-stream failure.
    fn stream_line(line: &str, stream: &mut Stream) -> Result<bool, ProviderError> {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            return Ok(false); // `event:` lines repeat the data's `type`
        };
        let event = http::stream_event(data)?;
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let message = &event["message"];
                stream.reported.0 = message["usage"]["input_tokens"].as_u64();
                stream.completion.fingerprint = message["model"].as_str().map(str::to_string);
            }
            "content_block_start" if event["content_block"]["type"] == "tool_use" => {
                let block = &event["content_block"];
                let call = stream.tool_call(event["index"].as_u64().unwrap_or_default());
                call.id = block["id"].as_str().map(str::to_string);
                call.name = block["name"].as_str().unwrap_or_default().to_string();
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                if let Some(text) = delta["text"].as_str() {
                    stream.completion.text.push_str(text);
                }
                if let Some(piece) = delta["partial_json"].as_str() {
                    let index = event["index"].as_u64().unwrap_or_default();
                    stream.tool_call(index).arguments.push_str(piece);
                }
            }
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    stream.finish(reason);
                }
                if let Some(n) = event["usage"]["output_tokens"].as_u64() {
                    stream.reported.1 = Some(n);
                }
            }
            "message_stop" => return Ok(true),
            "error" => return Err(http::mid_stream_error(&event)),
            _ => {} // ping, text blocks' starts, content_block_stop
        }
        Ok(false)
    }
}

/// One message in Anthropic's shape: a model message is the `assistant`'s, with its tool calls
/// as `tool_use` blocks; tool results go back in a `user` message as `tool_result` blocks.
fn message(m: &crate::artifact::Message) -> Value {
    let results: Vec<Value> = m
        .tool_responses()
        .map(|r| json!({ "type": "tool_result", "tool_use_id": r.reference, "content": r.output_text() }))
        .collect();
    if !results.is_empty() {
        return json!({ "role": "user", "content": results });
    }
    if m.role != "model" {
        return json!({ "role": "user", "content": m.text_content() });
    }
    let calls: Vec<Value> = m
        .tool_requests()
        .map(|c| {
            let input = if c.input.is_object() {
                c.input.clone()
            } else {
                json!({})
            };
            json!({ "type": "tool_use", "id": c.reference, "name": c.name, "input": input })
        })
        .collect();
    if calls.is_empty() {
        return json!({ "role": "assistant", "content": m.text_content() });
    }
    let text = m.text_content();
    let blocks = (!text.is_empty())
        .then(|| json!({ "type": "text", "text": text }))
        .into_iter()
        .chain(calls)
        .collect::<Vec<_>>();
    json!({ "role": "assistant", "content": blocks })
}
