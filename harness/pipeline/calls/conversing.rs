//! A conversation case's calls: each step's outcome taken in turn, the next call, and the
//! steps folded into the one outcome the case is scored on.

use super::wave::Route;
use crate::conversation::{Conversation, Next};
use crate::provider::Request;
use crate::runner::Outcome;

/// A conversation being driven: the planned job it answers, its steps' outcomes so far, and
/// where its next calls go.
pub(crate) struct Driving {
    /// The planned job the conversation answers.
    pub(crate) index: usize,
    pub(crate) conversation: Conversation,
    /// Its steps' outcomes so far.
    pub(crate) steps: Vec<Outcome>,
    /// The case's label, for the steps' log and cassette entries.
    pub(crate) label: String,
    /// The configured name of its provider, for cassettes.
    pub(crate) provider: String,
    pub(crate) route: Route,
    /// Whether it needs no more calls.
    pub(crate) done: bool,
}

impl Driving {
    /// Takes the outcome of the conversation's last call; returns its next call, if any. An
    /// error or a skipped call ends it, and so does an interrupt (a resumed run goes on from
    /// the steps the log has).
    pub(crate) fn advance(&mut self, outcome: Outcome, interrupted: bool) -> Option<Request> {
        let next = match &outcome.result {
            Ok(completion) => match self.conversation.advance(completion, outcome.cached) {
                Next::Call(request) => Some(request),
                Next::Done => None,
            },
            Err(_) => None,
        };
        self.steps.push(outcome);
        if next.is_some() && interrupted {
            self.steps.push(Outcome::skipped(
                "interrupted before the conversation's next step",
                0,
                None,
            ));
            self.done = true;
            return None;
        }
        self.done = next.is_none();
        next
    }

    /// The whole conversation's outcome: its final answer with every call it made, the sums
    /// of its steps' times, attempts, tokens and costs, and its trajectory; the last step's
    /// error when one failed or was skipped.
    pub(crate) fn fold(self) -> Outcome {
        let trajectory = self.conversation.into_trajectory();
        let steps = self.steps;
        let cost = steps
            .iter()
            .map(|o| o.cost)
            .try_fold(0.0, |total, cost| cost.map(|c| total + c));
        let last = steps
            .last()
            .cloned()
            .unwrap_or_else(|| Outcome::skipped("the conversation made no call", 0, None));
        let result = last.result.map(|completion| {
            let mut usage = crate::provider::Usage::default();
            for c in steps.iter().filter_map(|o| o.result.as_ref().ok()) {
                usage.input_tokens = usage.input_tokens.saturating_add(c.usage.input_tokens);
                usage.output_tokens = usage.output_tokens.saturating_add(c.usage.output_tokens);
                usage.estimated |= c.usage.estimated;
            }
            crate::provider::Completion {
                text: trajectory.answer(None).to_string(),
                finish: completion.finish,
                usage,
                fingerprint: completion.fingerprint,
                tool_calls: trajectory.calls(None),
            }
        });
        Outcome {
            result: result.map(Box::new),
            latency_ms: steps.iter().map(|o| o.latency_ms).sum(),
            attempts: steps.iter().map(|o| o.attempts).sum(),
            cost,
            cached: steps.iter().all(|o| o.cached),
            skipped: last.skipped,
            batched: steps.iter().any(|o| o.batched),
            trajectory: Some(trajectory),
            judgments: Vec::new(),
        }
    }
}
