//! Tools for a model without a tool API: the documented text protocol the local model and
//! the echo provider share. The tools are described in a system message; the model calls one
//! by writing a line `call NAME` or `call NAME {JSON arguments}`; each such line naming an
//! offered tool becomes a [`ToolCall`], in order, and the rest of the text stays the answer.
//! In a conversation's history a call is written back as that line, and a tool's result as a
//! `user` message `result NAME: OUTPUT`.

use crate::artifact::{Message, ToolDef};

use crate::provider::call::ToolCall;

/// The system message that offers `tools` and says how to call them.
pub(super) fn offer(tools: &[ToolDef]) -> Message {
    let mut text = String::from(
        "You can call these tools. To call one, write a line `call NAME {JSON arguments}` and nothing else on that line.\n",
    );
    for tool in tools {
        text.push_str(&format!(
            "- {}: {} Arguments (JSON Schema): {}\n",
            tool.name,
            tool.description.as_deref().unwrap_or(""),
            tool.input_schema
        ));
    }
    Message::text("system", text.trim_end())
}

/// `messages` with the tools offered first, when there are any, and the history's tool calls
/// and results written as text.
pub(super) fn with_offer(messages: &[Message], tools: &[ToolDef]) -> Vec<Message> {
    let offer = (!tools.is_empty()).then(|| offer(tools));
    offer
        .into_iter()
        .chain(messages.iter().map(as_text))
        .collect()
}

/// A message with its tool calls as `call NAME ARGUMENTS` lines and its tool results as
/// `result NAME: OUTPUT` lines (in a `user` message: chat templates know no tool role).
pub(super) fn as_text(message: &Message) -> Message {
    let results: Vec<String> = message
        .tool_responses()
        .map(|r| format!("result {}: {}", r.name, r.output_text()))
        .collect();
    if !results.is_empty() {
        return Message::text("user", results.join("\n"));
    }
    let mut lines: Vec<String> = Vec::new();
    let text = message.text_content();
    if !text.is_empty() || message.tool_requests().next().is_none() {
        lines.push(text);
    }
    lines.extend(
        message
            .tool_requests()
            .map(|c| format!("call {} {}", c.name, c.input_text())),
    );
    Message {
        role: message.role.clone(),
        content: vec![crate::artifact::Part::Text(lines.join("\n"))],
        metadata: message.metadata.clone(),
    }
}

/// The calls `text` makes of `tools`: its `call NAME` and `call NAME {…}` lines that name an
/// offered tool, numbered `call_0`, `call_1`, … The arguments are kept as written (`{}` when
/// none are), JSON or not: a malformed call is the model's output, for assertions to judge.
pub(super) fn calls(text: &str, tools: &[ToolDef]) -> Vec<ToolCall> {
    if tools.is_empty() {
        return Vec::new();
    }
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("call ")?.trim();
            let (name, arguments) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let arguments = arguments.trim();
            tools.iter().any(|t| t.name == name).then(|| {
                (
                    name.to_string(),
                    if arguments.is_empty() {
                        "{}"
                    } else {
                        arguments
                    }
                    .to_string(),
                )
            })
        })
        .enumerate()
        .map(|(i, (name, arguments))| ToolCall {
            id: Some(format!("call_{i}")),
            name,
            arguments,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> ToolDef {
        ToolDef {
            name: name.into(),
            description: Some("Look it up.".into()),
            input_schema: serde_json::json!({ "type": "object" }),
        }
    }

    #[test]
    fn call_lines_naming_offered_tools_are_calls_and_the_rest_is_text() {
        let tools = [tool("lookup_order"), tool("escalate")];
        let text = "Let me check.\ncall lookup_order {\"order_id\": \"A1\"}\n  call escalate\ncall delete_everything {}\ncall lookup_order {oops\n";
        let calls = calls(text, &tools);
        let shown: Vec<(&str, &str)> = calls
            .iter()
            .map(|c| (c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("lookup_order", "{\"order_id\": \"A1\"}"),
                ("escalate", "{}"),
                ("lookup_order", "{oops"),
            ]
        );
        assert_eq!(calls[2].id.as_deref(), Some("call_2"));
        assert!(calls[2].parsed_arguments().is_err());
        assert!(
            super::calls(text, &[]).is_empty(),
            "no tools offered, no calls"
        );
        let offered = with_offer(&[Message::text("user", "hi")], &tools);
        assert_eq!(offered[0].role, "system");
        assert!(
            offered[0]
                .text_content()
                .contains("- escalate: Look it up.")
        );
    }
}
