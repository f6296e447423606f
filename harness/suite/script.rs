//! Conversation cases: a script of turns (the user's messages and the results the case's tools
//! return), fixed earlier history, and a limit on the model calls a conversation may take.
//!
//! ```yaml
//! - id: refund-after-lookup
//!   vars: { message: "Where is order B2002?" }   # the first turn is the rendered prompt
//!   history:                                     # optional earlier turns, sent as they are
//!     - { role: user, content: "Hi" }
//!     - { role: model, content: "Hello! How can I help?" }
//!   results:                                     # what the tools return, in every turn
//!     - { call: lookup_order, args: { order_id: B2002 }, result: { status: damaged } }
//!   turns:
//!     - {}                                       # turn 1: the rendered prompt
//!     - user: "Please refund it."
//!       results: [{ call: issue_refund, result: { ok: true } }]
//!       assert: [{ type: tool-called, value: issue_refund }]
//!   max_steps: 6
//! ```

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::assertions::{Assertion, RawAssertion, compile_raw};
use crate::artifact::Message;
use crate::errors::{Error, Location, Result};

/// The model calls a conversation may make when neither its case nor its suite says.
pub(crate) const DEFAULT_MAX_STEPS: u32 = 10;

/// What a conversation does with a tool call its script has no result for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum UnexpectedCalls {
    /// Answer it with `{"error": "no result for NAME in the case's script"}` and go on (the
    /// default): the model sees a tool that failed, as in production.
    #[default]
    Answer,
    /// Stop the conversation; the sample fails with an `unexpected-call` result.
    Fail,
}

/// A conversation case's script.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    /// The turns, in order (at least one).
    pub turns: Vec<Turn>,
    /// Results every turn may use, after the turn's own.
    pub results: Vec<ScriptedResult>,
    /// Model calls the whole conversation may make.
    pub max_steps: u32,
    /// What an unscripted tool call gets.
    pub unexpected: UnexpectedCalls,
}

/// One turn: the user's message, what the tools return during it, and what its final answer
/// must satisfy.
#[derive(Debug, Clone)]
pub(crate) struct Turn {
    /// The user's message; `None` on the first turn means the rendered prompt's own.
    pub user: Option<String>,
    /// Results this turn's tool calls get, tried before the case's.
    pub results: Vec<ScriptedResult>,
    /// Assertions on this turn's final answer and the tools called during it.
    pub assertions: Vec<Assertion>,
}

/// The result a tool returns to a call, when the call fits.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedResult {
    /// The tool.
    pub tool: String,
    /// Arguments the call must include (a subset match); `None` answers any call of the tool.
    pub args: Option<Value>,
    /// What the tool returns: a string as it is, anything else as JSON.
    pub result: Value,
    /// Where the result is written.
    pub location: Location,
}

impl Script {
    /// The result for a call of `tool` with `arguments` in turn `turn`: the turn's first result
    /// that fits, else the case's.
    pub(crate) fn result_for(&self, turn: usize, tool: &str, arguments: &Value) -> Option<&Value> {
        let own = self.turns.get(turn).map_or(&[][..], |t| &t.results[..]);
        own.iter()
            .chain(&self.results)
            .find(|r| r.tool == tool && r.args.as_ref().is_none_or(|a| includes(arguments, a)))
            .map(|r| &r.result)
    }

    /// Every scripted result, for checking the tools they name.
    pub(crate) fn all_results(&self) -> impl Iterator<Item = &ScriptedResult> {
        self.turns
            .iter()
            .flat_map(|t| &t.results)
            .chain(&self.results)
    }
}

/// Whether `actual` includes `expected`: every key of an expected object is in the actual one
/// with an including value; anything else is equal.
fn includes(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| includes(av, v))),
        (a, e) => a == e,
    }
}

/// A turn as written.
#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTurn {
    /// The user's message (optional on the first turn: the rendered prompt's own).
    #[serde(default)]
    user: Option<String>,
    /// What the tools return during this turn.
    #[serde(default)]
    #[schemars(with = "Vec<RawResult>")]
    results: Vec<Spanned<RawResult>>,
    /// Assertions on this turn's final answer and its tool calls.
    #[serde(default)]
    assert: Vec<RawAssertion>,
}

/// A scripted tool result as written.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResult {
    /// The tool whose calls this answers.
    call: String,
    /// Arguments the call must include.
    #[serde(default)]
    args: Option<Value>,
    /// What the tool returns.
    result: Value,
}

/// A message of fixed history as written.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHistoryMessage {
    /// `user` or `model`.
    role: String,
    /// The message's text.
    content: String,
}

/// A case's conversation fields as written.
pub(super) struct RawConversation {
    pub(super) turns: Vec<Spanned<RawTurn>>,
    pub(super) results: Vec<Spanned<RawResult>>,
    pub(super) history: Vec<Spanned<RawHistoryMessage>>,
    pub(super) max_steps: Option<Spanned<u32>>,
}

/// The suite-wide conversation settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConversationDefaults {
    pub(super) max_steps: u32,
    pub(super) unexpected: UnexpectedCalls,
}

/// Compiles a case's conversation fields: its history, and its script when it has turns or
/// results (a case with neither is a single call).
pub(super) fn compile(
    file: &std::path::Path,
    raw: RawConversation,
    defaults: ConversationDefaults,
) -> Result<(Vec<Message>, Option<Script>)> {
    let at = |loc: &serde_saphyr::Location| crate::yaml::location(file, loc, 1);
    let history = raw
        .history
        .into_iter()
        .map(|m| match m.value.role.as_str() {
            "user" | "model" => Ok(Message::text(m.value.role, m.value.content)),
            other => Err(Error::invalid_with_hint(
                at(&m.referenced),
                format!("a history message has role `{other}`"),
                "history messages are `user` or `model` (the system prompt is the prompt's own)",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let max_steps = match &raw.max_steps {
        Some(s) if s.value == 0 => {
            return Err(Error::invalid(
                at(&s.referenced),
                "max_steps must be at least 1",
            ));
        }
        Some(s) => s.value,
        None => defaults.max_steps,
    };
    if raw.turns.is_empty() && raw.results.is_empty() {
        if let Some(s) = &raw.max_steps {
            return Err(Error::invalid_with_hint(
                at(&s.referenced),
                "`max_steps` is for conversation cases",
                "give the case `turns` or `results` to make it a conversation",
            ));
        }
        return Ok((history, None));
    }
    let results = |raw: Vec<Spanned<RawResult>>| -> Vec<ScriptedResult> {
        raw.into_iter()
            .map(|r| ScriptedResult {
                location: at(&r.referenced),
                tool: r.value.call,
                args: r.value.args,
                result: r.value.result,
            })
            .collect()
    };
    let mut turns = Vec::new();
    for (index, turn) in raw.turns.into_iter().enumerate() {
        if index > 0 && turn.value.user.is_none() {
            return Err(Error::invalid_with_hint(
                at(&turn.referenced),
                format!("turn {} has no `user` message", index + 1),
                "only the first turn may leave `user` out (it is then the rendered prompt)",
            ));
        }
        let RawTurn {
            user,
            results: own,
            assert,
        } = turn.value;
        turns.push(Turn {
            user,
            results: results(own),
            assertions: assert
                .into_iter()
                .map(|a| compile_raw(file, a))
                .collect::<Result<_>>()?,
        });
    }
    if turns.is_empty() {
        turns.push(Turn {
            user: None,
            results: Vec::new(),
            assertions: Vec::new(),
        });
    }
    Ok((
        history,
        Some(Script {
            turns,
            results: results(raw.results),
            max_steps,
            unexpected: defaults.unexpected,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_fits_by_tool_and_included_arguments_the_turn_first() {
        let result = |tool: &str, args: Option<Value>, result: &str| ScriptedResult {
            tool: tool.into(),
            args,
            result: Value::from(result),
            location: Location::file(std::path::Path::new("s.yaml")),
        };
        let script = Script {
            turns: vec![Turn {
                user: None,
                results: vec![result(
                    "lookup",
                    Some(serde_json::json!({ "id": "A1" })),
                    "turn's",
                )],
                assertions: Vec::new(),
            }],
            results: vec![result("lookup", None, "case's")],
            max_steps: 3,
            unexpected: UnexpectedCalls::Answer,
        };
        let args = serde_json::json!({ "id": "A1", "verbose": true });
        assert_eq!(
            script.result_for(0, "lookup", &args),
            Some(&Value::from("turn's"))
        );
        let other = serde_json::json!({ "id": "B2" });
        assert_eq!(
            script.result_for(0, "lookup", &other),
            Some(&Value::from("case's"))
        );
        assert_eq!(script.result_for(0, "refund", &args), None);
    }
}
