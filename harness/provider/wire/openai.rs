//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`), plain or streamed
//! as server-sent events with usage in the last chunk.
//!
//! Works with OpenAI itself and with servers that speak its wire format (vLLM, llama.cpp's
//! server, LiteLLM, Ollama's `/v1`). Dotprompt's `model` role is sent as `assistant`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Dialect, Stream, WireFormat, arguments_text, chat_messages, function_tools};
use crate::provider::call::{Completion, FinishReason, ProviderError, Request, ToolCall, Usage};
use crate::provider::http::{self, Endpoint};

/// The OpenAI chat completions format.
#[derive(Debug)]
pub(crate) struct OpenAi;

#[derive(Deserialize)]
pub(crate) struct ChatResponse {
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
    #[serde(default)]
    tool_calls: Vec<ChatToolCall>,
}

#[derive(Deserialize)]
struct ChatToolCall {
    #[serde(default)]
    id: Option<String>,
    function: ChatFunction,
}

#[derive(Deserialize)]
struct ChatFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl WireFormat for OpenAi {
    const KIND: &'static str = "openai";
    const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
    const PATH: &'static str = "/chat/completions";
    const BATCH: Option<super::BatchApi> = Some(super::BatchApi::OpenAi);
    type Reply = ChatResponse;

    fn body(endpoint: &Endpoint, request: &Request) -> Value {
        let mut body = json!({
            "model": endpoint.model,
            "messages": chat_messages(&request.messages, Dialect::OpenAi),
            "temperature": request.params.temperature,
            "top_p": request.params.top_p,
            "seed": request.params.seed,
        });
        // OpenAI itself reads `max_completion_tokens` (reasoning models reject `max_tokens`);
        // compatible servers (vLLM, llama.cpp, LiteLLM, Ollama) read `max_tokens`.
        let length_field = if endpoint.base_url == Self::DEFAULT_BASE_URL {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[length_field] = json!(request.params.max_tokens);
        if !request.tools.is_empty() {
            body["tools"] = function_tools(&request.tools);
        }
        if let Some(schema) = &request.reply_schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": { "name": "answer", "strict": true, "schema": schema },
            });
        }
        if endpoint.stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({ "include_usage": true });
        }
        body
    }

    fn completion(reply: ChatResponse, request: &Request) -> Result<Completion, ProviderError> {
        let choice = reply
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::transient("response has no choices"))?;
        let text = choice.message.content.unwrap_or_default();
        let tool_calls = choice
            .message
            .tool_calls
            .into_iter()
            .map(|call| ToolCall {
                id: call.id,
                arguments: arguments_text(&call.function.arguments),
                name: call.function.name,
            })
            .collect();
        let usage = reply.usage.as_ref();
        Ok(Completion {
            usage: Usage::from_reply(
                (
                    usage.and_then(|u| u.prompt_tokens),
                    usage.and_then(|u| u.completion_tokens),
                ),
                request,
                &text,
            ),
            text,
            finish: choice
                .finish_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::from_provider),
            fingerprint: reply.system_fingerprint,
            tool_calls,
        })
    }

    /// `data:` events until `[DONE]`: text deltas, tool-call deltas (assembled by their
    /// index: the first names the call, the others append to its arguments), the finish
    /// reason, the fingerprint and the usage chunk. An `error` event is a (transient) mid-stream failure. A server that sends no
    /// usage chunk (llama.cpp's, for one) gets its counts estimated.
    fn stream_line(line: &str, stream: &mut Stream) -> Result<bool, ProviderError> {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            return Ok(false); // comments, `event:` lines, keep-alives
        };
        if data == "[DONE]" {
            return if stream.finished {
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
            stream.completion.fingerprint = Some(fp.to_string());
        }
        if let Some(choice) = event["choices"].get(0) {
            if let Some(delta) = choice["delta"]["content"].as_str() {
                stream.completion.text.push_str(delta);
            }
            for delta in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let index = delta["index"].as_u64().unwrap_or_default();
                let call = stream.tool_call(index);
                if let Some(id) = delta["id"].as_str() {
                    call.id = Some(id.to_string());
                }
                if let Some(name) = delta["function"]["name"].as_str() {
                    call.name.push_str(name);
                }
                call.arguments
                    .push_str(&arguments_text(&delta["function"]["arguments"]));
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                stream.finish(reason);
            }
        }
        if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
            stream.reported = (
                usage["prompt_tokens"].as_u64(),
                usage["completion_tokens"].as_u64(),
            );
        }
        Ok(false)
    }
}
