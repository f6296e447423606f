//! What a check tells its caller while it runs, for the caller's display.

/// A progress event for the caller's display.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Something slow is happening before the calls (fetching or loading a model).
    Note(String),
    /// A named stage of calls after the first begins (confirming discordant cases, sampling
    /// undecided ones again, judging replies): what it is, with its count of calls.
    Phase(String),
    /// Calls are about to start.
    Started {
        /// Calls to make.
        calls: usize,
    },
    /// Conversations need more calls: their next steps.
    More {
        /// Calls added.
        calls: usize,
    },
    /// A call finished, was answered from the cache, was skipped, or will be retried.
    Calls(CallCounts),
}

/// Where the calls of a run stand, for progress displays.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallCounts {
    /// Calls finished so far: made, answered from the cache or an earlier attempt, or skipped.
    pub done: usize,
    /// Answers taken from the response cache.
    pub cached: usize,
    /// Calls that failed after their retries.
    pub errors: usize,
    /// Calls the budget or an interrupt stopped.
    pub skipped: usize,
    /// Retries so far.
    pub retries: usize,
    /// Tokens so far.
    pub tokens: u64,
    /// Dollars so far; `None` when a provider's price is unknown.
    pub cost: Option<f64>,
}
