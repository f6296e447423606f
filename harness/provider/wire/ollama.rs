//! Ollama's native chat API (`POST {base_url}/api/chat`), plain or streamed as NDJSON.
//!
//! Sampling parameters go in `options` (`temperature`, `top_p`, `seed`, `num_predict`), which is
//! where Ollama reads them; its own defaults (temperature 0.8, unbounded length) never apply.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Dialect, Stream, WireFormat, arguments_text, chat_messages, function_tools};
use crate::provider::call::{Completion, FinishReason, ProviderError, Request, ToolCall, Usage};
use crate::provider::http::{self, Endpoint};

/// Ollama's native chat format.
#[derive(Debug)]
pub(crate) struct Ollama;

#[derive(Deserialize)]
pub(crate) struct ChatResponse {
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
    #[serde(default)]
    tool_calls: Vec<OllamaToolCall>,
}

#[derive(Deserialize)]
struct OllamaToolCall {
    function: OllamaFunction,
}

#[derive(Deserialize)]
struct OllamaFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

impl From<OllamaToolCall> for ToolCall {
    fn from(call: OllamaToolCall) -> Self {
        ToolCall {
            id: None,
            arguments: arguments_text(&call.function.arguments),
            name: call.function.name,
        }
    }
}

impl WireFormat for Ollama {
    const KIND: &'static str = "ollama";
    const DEFAULT_BASE_URL: &'static str = "http://127.0.0.1:11434";
    const PATH: &'static str = "/api/chat";
    type Reply = ChatResponse;

    fn body(endpoint: &Endpoint, request: &Request) -> Value {
        let mut body = json!({
            "model": endpoint.model,
            "messages": chat_messages(&request.messages, Dialect::Ollama),
            "stream": endpoint.stream,
            "options": {
                "temperature": request.params.temperature,
                "top_p": request.params.top_p,
                "seed": request.params.seed,
                "num_predict": request.params.max_tokens,
            },
        });
        if !request.tools.is_empty() {
            body["tools"] = function_tools(&request.tools);
        }
        if let Some(schema) = &request.reply_schema {
            body["format"] = schema.clone();
        }
        body
    }

    fn completion(reply: ChatResponse, request: &Request) -> Result<Completion, ProviderError> {
        Ok(Completion {
            usage: Usage::from_reply(
                (reply.prompt_eval_count, reply.eval_count),
                request,
                &reply.message.content,
            ),
            text: reply.message.content,
            tool_calls: reply
                .message
                .tool_calls
                .into_iter()
                .map(ToolCall::from)
                .collect(),
            finish: reply
                .done_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            fingerprint: None,
        })
    }

    /// Newline-delimited JSON chunks until the one with `done: true`, which carries the stop
    /// reason and token counts (Ollama leaves `prompt_eval_count` out when the prompt was
    /// cached); a chunk with `error` is a mid-stream failure.
    fn stream_line(line: &str, stream: &mut Stream) -> Result<bool, ProviderError> {
        if line.trim().is_empty() {
            return Ok(false);
        }
        let chunk = http::stream_event(line)?;
        if chunk.get("error").is_some() {
            return Err(http::mid_stream_error(&chunk));
        }
        if let Some(text) = chunk["message"]["content"].as_str() {
            stream.completion.text.push_str(text);
        }
        // Ollama sends each tool call whole, in one chunk.
        if let Some(calls) = chunk["message"].get("tool_calls") {
            let calls: Vec<OllamaToolCall> = serde_json::from_value(calls.clone())
                .map_err(|e| ProviderError::transient(format!("a malformed tool call: {e}")))?;
            stream
                .completion
                .tool_calls
                .extend(calls.into_iter().map(ToolCall::from));
        }
        if chunk["done"].as_bool() != Some(true) {
            return Ok(false);
        }
        if let Some(reason) = chunk["done_reason"].as_str() {
            stream.finish(reason);
        }
        stream.reported = (
            chunk["prompt_eval_count"].as_u64(),
            chunk["eval_count"].as_u64(),
        );
        Ok(true)
    }
}
