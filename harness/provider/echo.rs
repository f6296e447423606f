//! The `echo` provider: replies with the rendered messages as text.
//!
//! It makes no model call, so it shows exactly what a prompt version sends. Suites run on it
//! test the prompt text itself, which is what promptgate's own tests and a first look need.
//!
//! Tools follow the text protocol of [`super::text_tools`]: when the request offers tools,
//! every line of the rendered messages that reads `call NAME` or `call NAME {JSON}`, with NAME
//! an offered tool, becomes a call of that tool with those arguments, in order. In a
//! conversation only the messages since the last reply (a model message or a tool result)
//! count: echo calls what the user's turn asks for once, and answers the tools' results with
//! text, which ends the turn.

use crate::config::{EffectiveParams, Price};
use crate::provider::api::Provider;
use crate::provider::call::{
    BoxFuture, Completion, FinishReason, ProviderError, Request, Usage, approximate_tokens,
};

/// Replies with `role: text` lines for each message.
#[derive(Debug, Default)]
pub(crate) struct Echo;

impl Echo {
    /// The echo provider.
    pub(crate) fn new() -> Self {
        Self
    }
}

impl Provider for Echo {
    fn fingerprint(&self) -> &str {
        "echo"
    }

    fn cacheable(&self) -> bool {
        false
    }

    /// The reply is the rendered prompt, whatever the sample.
    fn deterministic(&self, _params: &EffectiveParams) -> bool {
        true
    }

    fn price(&self) -> Option<Price> {
        Some(Price {
            input_per_mtok: 0.0,
            output_per_mtok: 0.0,
        })
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let messages: Vec<_> = request
                .messages
                .iter()
                .map(super::text_tools::as_text)
                .collect();
            let text: String = messages
                .iter()
                .map(|m| format!("{}: {}", m.role, m.text_content().trim_end()))
                .collect::<Vec<_>>()
                .join("\n");
            let tokens = approximate_tokens(&text);
            let since_reply = request
                .messages
                .iter()
                .rposition(|m| m.role == "model" || m.tool_responses().next().is_some())
                .map_or(0, |last| last + 1);
            let rendered: Vec<String> = request.messages[since_reply..]
                .iter()
                .map(|m| m.text_content())
                .collect();
            let tool_calls = super::text_tools::calls(&rendered.join("\n"), &request.tools);
            Ok(Completion {
                usage: Usage::reported(tokens, tokens),
                text,
                finish: if tool_calls.is_empty() {
                    FinishReason::Stop
                } else {
                    FinishReason::ToolCalls
                },
                fingerprint: None,
                tool_calls,
            })
        })
    }
}
