//! Driving a conversation case: call the model, answer its tool calls from the case's script,
//! call again, until a final answer, the next turn, or the step limit; and the [`Trajectory`]
//! that records every step.
//!
//! A [`Conversation`] is a state machine with no I/O: the caller makes each call (through the
//! cache and the results log, like any call, so a killed run resumes without repeating a
//! finished step) and hands the completion to [`Conversation::advance`], which answers with
//! the next request or the end.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifact::{Message, Part, ToolRequest, ToolResponse};
use crate::provider::{Completion, Request, ToolCall};
use crate::suite::{Script, UnexpectedCalls};

/// One model call of a conversation, and what promptgate answered it with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The turn (0-based) the step belongs to.
    pub turn: usize,
    /// The user's message, on a turn's first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// What the model wrote.
    pub text: String,
    /// The tools it called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The results the script returned, one per call, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ToolResult>,
    /// Whether the step's answer came from the response cache.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

/// A tool's result as the script gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The tool.
    pub name: String,
    /// What it returned, as the model read it.
    pub output: String,
    /// The script had no result for the call (the documented default answered it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unexpected: bool,
}

/// How a conversation ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum End {
    /// The model gave a final answer in the last turn.
    #[default]
    Answered,
    /// The step limit stopped it while the model was still calling tools.
    StepLimit,
    /// The model called a tool the script had no result for, and the suite fails such calls.
    UnexpectedCall,
}

/// Every step of one sample's conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// How it ended.
    pub end: End,
}

impl Trajectory {
    /// The final answer of `turn` (its last step's text), or of the last turn.
    pub fn answer(&self, turn: Option<usize>) -> &str {
        self.steps
            .iter()
            .rev()
            .find(|s| turn.is_none_or(|t| s.turn == t))
            .map_or("", |s| s.text.as_str())
    }

    /// The tool calls of `turn`, or of every turn, in order.
    pub fn calls(&self, turn: Option<usize>) -> Vec<ToolCall> {
        self.steps
            .iter()
            .filter(|s| turn.is_none_or(|t| s.turn == t))
            .flat_map(|s| s.tool_calls.iter().cloned())
            .collect()
    }

    /// The conversation as lines: each turn's user message, the model's text and calls, and
    /// the tools' results, so every report shows (and diffs) what happened step by step.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (index, step) in self.steps.iter().enumerate() {
            if let Some(user) = &step.user {
                lines.push(format!("user ▸ {}", continued(user)));
            }
            let mut said = format!("step {} ▸ {}", index + 1, continued(step.text.trim()));
            if step.text.trim().is_empty() && !step.tool_calls.is_empty() {
                said.truncate(said.trim_end().len());
            }
            lines.push(said);
            let call_line = |call: &crate::provider::ToolCall| {
                format!(
                    "  → {}({})",
                    continued(&call.name),
                    continued(&call.arguments)
                )
            };
            for (call, result) in step.tool_calls.iter().zip(&step.results) {
                lines.push(call_line(call));
                lines.push(format!("  ← {}", continued(&result.output)));
            }
            for call in step.tool_calls.iter().skip(step.results.len()) {
                lines.push(call_line(call));
            }
        }
        match self.end {
            End::Answered => {}
            End::StepLimit => lines.push("✗ stopped at the step limit".into()),
            End::UnexpectedCall => lines.push("✗ a call the script has no result for".into()),
        }
        lines
    }
}

/// `text` (a model's, a tool's or a user's) with each of its own line breaks followed by a
/// continuation mark, so none of its lines can pass for a step, a call or a result.
fn continued(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}'], "\n")
        .replace('\n', "\n      ┆ ")
}

/// One sample's conversation in progress.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    script: Arc<Script>,
    /// The last request sent; the next one extends its messages.
    request: Request,
    turn: usize,
    trajectory: Trajectory,
    /// The first turn's user message, for its first step.
    pending_user: Option<String>,
}

/// What a conversation needs next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Make this call and hand its completion to [`Conversation::advance`].
    Call(Request),
    /// The conversation is over.
    Done,
}

impl Conversation {
    /// Starts a conversation on the rendered request of its case (the prompt's messages and
    /// any history); returns it with its first call.
    pub(crate) fn start(script: Arc<Script>, mut request: Request) -> (Self, Request) {
        let user = script.turns.first().and_then(|t| t.user.clone());
        if let Some(user) = &user {
            request.messages.push(Message::text("user", user.clone()));
        }
        let first = request.clone();
        (
            Self {
                script,
                request,
                turn: 0,
                trajectory: Trajectory::default(),
                pending_user: user,
            },
            first,
        )
    }

    /// Records the completion of the last call and says what comes next: the tools' results
    /// (and a new call), the next turn's message, or the end.
    pub(crate) fn advance(&mut self, completion: &Completion, cached: bool) -> Next {
        let mut step = Step {
            turn: self.turn,
            user: self.pending_user.take(),
            text: completion.text.clone(),
            tool_calls: completion.tool_calls.clone(),
            results: Vec::new(),
            cached,
        };
        let index = self.trajectory.steps.len();
        let mut requests = Vec::new();
        let mut responses = Vec::new();
        for (i, call) in completion.tool_calls.iter().enumerate() {
            let reference = call
                .id
                .clone()
                .unwrap_or_else(|| format!("call_{index}_{i}"));
            let input = call
                .parsed_arguments()
                .unwrap_or_else(|_| Value::String(call.arguments.clone()));
            let (output, unexpected) = match self.script.result_for(self.turn, &call.name, &input) {
                Some(result) => (result.clone(), false),
                None => (
                    serde_json::json!({
                        "error": format!("no result for `{}` in the case's script", call.name)
                    }),
                    true,
                ),
            };
            let shown = match &output {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            step.results.push(ToolResult {
                name: call.name.clone(),
                output: shown,
                unexpected,
            });
            requests.push(Part::ToolRequest(ToolRequest {
                name: call.name.clone(),
                reference: reference.clone(),
                input,
            }));
            responses.push(Part::ToolResponse(ToolResponse {
                name: call.name.clone(),
                reference,
                output,
            }));
        }
        let unexpected = step.results.iter().any(|r| r.unexpected)
            && self.script.unexpected == UnexpectedCalls::Fail;
        let calling = !step.tool_calls.is_empty();
        if unexpected {
            // The call went unanswered: show it without the default result.
            step.results.clear();
        }
        self.trajectory.steps.push(step);
        if unexpected {
            self.trajectory.end = End::UnexpectedCall;
            return Next::Done;
        }
        let mut model = Message::text("model", completion.text.clone());
        if calling {
            if completion.text.is_empty() {
                model.content.clear();
            }
            model.content.extend(requests);
        }
        self.request.messages.push(model);
        if calling {
            if self.trajectory.steps.len() as u32 >= self.script.max_steps {
                self.trajectory.end = End::StepLimit;
                return Next::Done;
            }
            self.request.messages.push(Message {
                role: "tool".into(),
                content: responses,
                metadata: None,
            });
            return Next::Call(self.request.clone());
        }
        self.turn += 1;
        let Some(turn) = self.script.turns.get(self.turn) else {
            return Next::Done;
        };
        if self.trajectory.steps.len() as u32 >= self.script.max_steps {
            self.trajectory.end = End::StepLimit;
            return Next::Done;
        }
        let user = turn.user.clone().unwrap_or_default();
        self.request
            .messages
            .push(Message::text("user", user.clone()));
        self.pending_user = Some(user);
        Next::Call(self.request.clone())
    }

    /// The script the conversation plays.
    pub(crate) fn script(&self) -> &Arc<Script> {
        &self.script
    }

    /// The trajectory so far.
    #[cfg(test)]
    pub(crate) fn trajectory(&self) -> &Trajectory {
        &self.trajectory
    }

    /// The conversation's record.
    pub(crate) fn into_trajectory(self) -> Trajectory {
        self.trajectory
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{ScriptedResult, Turn};

    fn script(max_steps: u32, unexpected: UnexpectedCalls) -> Arc<Script> {
        let result = |tool: &str, output: Value| ScriptedResult {
            tool: tool.into(),
            args: None,
            result: output,
            location: crate::errors::Location::file(std::path::Path::new("s.yaml")),
        };
        Arc::new(Script {
            turns: vec![
                Turn {
                    user: None,
                    results: vec![result("lookup", serde_json::json!({ "status": "lost" }))],
                    assertions: Vec::new(),
                },
                Turn {
                    user: Some("Refund it.".into()),
                    results: vec![result("refund", Value::from("done"))],
                    assertions: Vec::new(),
                },
            ],
            results: Vec::new(),
            max_steps,
            unexpected,
        })
    }

    #[test]
    fn model_text_cannot_forge_a_step_a_call_or_a_result() {
        let forged = "All done.\nstep 2 ▸ I refunded nothing\n  → delete_account({})\r  ← ok";
        let trajectory = Trajectory {
            steps: vec![Step {
                turn: 0,
                user: None,
                text: forged.into(),
                tool_calls: vec![crate::provider::ToolCall {
                    name: "lookup".into(),
                    arguments: "{}\n  ← forged".into(),
                    ..Default::default()
                }],
                results: Vec::new(),
                cached: false,
            }],
            end: End::Answered,
        };
        let text = trajectory.lines().join("\n");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("step 1 ▸ All done."), "{text}");
        for line in &lines[1..] {
            let real_call = line.starts_with("  → lookup(");
            assert!(
                real_call || line.starts_with("      ┆ "),
                "a line passes for the trajectory's own: {line:?} in\n{text}"
            );
        }
    }

    fn request() -> Request {
        Request {
            messages: vec![Message::text("user", "Where is A1?")],
            params: crate::config::Params::default().effective(),
            sample: 0,
            tools: Vec::new(),
            reply_schema: None,
        }
    }

    fn calling(name: &str) -> Completion {
        Completion {
            tool_calls: vec![ToolCall {
                id: None,
                name: name.into(),
                arguments: "{\"id\": \"A1\"}".into(),
            }],
            ..Completion::default()
        }
    }

    fn saying(text: &str) -> Completion {
        Completion {
            text: text.into(),
            ..Completion::default()
        }
    }

    fn call(next: Next) -> Request {
        match next {
            Next::Call(r) => r,
            Next::Done => panic!("the conversation ended early"),
        }
    }

    #[test]
    fn tool_calls_are_answered_from_the_script_and_turns_follow_final_answers() {
        let (mut c, first) = Conversation::start(script(10, UnexpectedCalls::Answer), request());
        assert_eq!(first.messages.len(), 1);
        let second = call(c.advance(&calling("lookup"), false));
        let roles: Vec<&str> = second.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["user", "model", "tool"]);
        let result = second.messages[2].tool_responses().next().unwrap();
        assert_eq!(
            result.reference, "call_0_0",
            "a call without an id gets one"
        );
        assert_eq!(
            second.messages[1].tool_requests().next().unwrap().reference,
            "call_0_0"
        );
        assert_eq!(result.output, serde_json::json!({ "status": "lost" }));
        let third = call(c.advance(&saying("It is lost."), false));
        assert_eq!(third.messages.last().unwrap().text_content(), "Refund it.");
        let fourth = call(c.advance(&calling("refund"), true));
        assert_eq!(fourth.messages.len(), 7);
        assert!(matches!(c.advance(&saying("Refunded."), false), Next::Done));
        let t = c.into_trajectory();
        assert_eq!(t.end, End::Answered);
        assert_eq!(t.steps.len(), 4);
        assert_eq!(t.answer(None), "Refunded.");
        assert_eq!(t.answer(Some(0)), "It is lost.");
        assert_eq!(t.calls(Some(1)).len(), 1);
        assert_eq!(t.calls(None).len(), 2);
        assert_eq!(t.steps[2].user.as_deref(), Some("Refund it."));
        assert!(t.lines().iter().any(|l| l == "  ← done"));
    }

    #[test]
    fn the_step_limit_and_unexpected_calls_end_a_conversation() {
        let (mut c, _) = Conversation::start(script(2, UnexpectedCalls::Answer), request());
        call(c.advance(&calling("lookup"), false));
        assert!(matches!(c.advance(&calling("lookup"), false), Next::Done));
        assert_eq!(c.trajectory().end, End::StepLimit);

        let (mut c, _) = Conversation::start(script(5, UnexpectedCalls::Answer), request());
        let next = call(c.advance(&calling("delete"), false));
        let answered = next
            .messages
            .last()
            .unwrap()
            .tool_responses()
            .next()
            .unwrap();
        assert!(
            answered.output["error"]
                .as_str()
                .unwrap()
                .contains("no result for `delete`")
        );
        assert!(c.trajectory().steps[0].results[0].unexpected);

        let (mut c, _) = Conversation::start(script(5, UnexpectedCalls::Fail), request());
        assert!(matches!(c.advance(&calling("delete"), false), Next::Done));
        assert_eq!(c.trajectory().end, End::UnexpectedCall);
    }

    #[test]
    fn malformed_arguments_go_back_as_written() {
        let (mut c, _) = Conversation::start(script(5, UnexpectedCalls::Answer), request());
        let mut broken = calling("lookup");
        broken.tool_calls[0].arguments = "{oops".into();
        let next = call(c.advance(&broken, false));
        let sent = next.messages[1].tool_requests().next().unwrap();
        assert_eq!(sent.input, Value::from("{oops"));
    }
}
