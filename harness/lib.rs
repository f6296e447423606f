//! promptgate: prompts as production artifacts.
//!
//! Prompts live as Dotprompt files in git. promptgate runs regression suites against a candidate
//! version and a baseline version of each prompt, compares their outputs case by case, scores
//! them, and gates promotion on the suite's tolerance. The layers, bottom up (the table in
//! `docs/architecture.md`, which the architecture test enforces: a module uses its own layer and
//! those below, and no cycle forms):
//!
//! - 0 foundation: [`errors`], [`ids`], [`yaml`], [`stats`], [`files`], [`vocabulary`],
//!   [`artifact`] (parse and render prompts);
//! - 1 definitions: [`config`], [`adversarial`], [`provider`] (with the replay cassettes),
//!   [`suite`], [`traffic`] (production records);
//! - 2 state and execution: [`store`] (git), [`cache`], [`runner`], [`record`],
//!   [`conversation`] (a conversation case's steps), [`judge`] (reading judges' verdicts);
//! - 3 judgement: [`compare`], [`score`], [`gate`], [`report`], [`monitor`] (production
//!   against its baseline), [`readiness`];
//! - 4 engine: [`pipeline`], a check as a chain of stages (select, plan, calls, rounds,
//!   evidence, verdict), one file each;
//! - 5 governance: [`release`], what promote, rollback, monitor and readiness share;
//! - 6 commands: [`ops`], one file per command, each a short composition of the floors below.

//!
//! The public surface is the commands ([`ops`]), their errors ([`errors`]) and the presentation
//! of their results ([`report`]); the engine below is private to the crate. The benchmarks and
//! the tests outside the crate reach it through [`internals`], which is not a stable API.

/// This build of promptgate: its version, the commit and target it was built from and for.
pub const BUILD: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PROMPTGATE_COMMIT"),
    ", ",
    env!("PROMPTGATE_TARGET"),
    ")"
);

mod adversarial;
mod artifact;
mod cache;
mod compare;
mod config;
mod conversation;
pub mod errors;
mod files;
mod gate;
mod ids;
mod judge;
mod monitor;
mod noise;
pub mod ops;
#[cfg(test)]
mod parse_fuzz;
mod pipeline;
mod provider;
mod readiness;
mod record;
mod release;
pub mod report;
mod runner;
mod score;
mod secrets;
mod stats;
mod store;
mod suite;
mod traffic;
mod vocabulary;
mod yaml;

/// What the benchmarks and the tests outside the crate reach into; not a stable API.
#[doc(hidden)]
pub mod internals {
    /// Attack-success rates and detectors.
    pub mod adversarial {
        pub use crate::adversarial::asr::CategoryRates;
        pub use crate::adversarial::detect::pattern_set;
    }
    /// Prompt parsing and rendering.
    pub mod artifact {
        pub use crate::artifact::{Message, RenderData, Template, parse};
    }
    /// Case-by-case comparison.
    pub mod compare {
        pub use crate::compare::{
            CasePair, CaseStatus, SampleScore, SideTotals, SuiteComparison, compare_suite,
            word_diff,
        };
    }
    /// Configuration types.
    pub mod config {
        pub use crate::config::{EffectiveParams, OnInconclusive, Tolerance};
    }
    /// The gate.
    pub mod gate {
        pub use crate::gate::{
            ExtraCalls, Noise, SuiteEvidence, Verdict, evaluate_suite, measures_noise,
            wants_more_samples,
        };
    }
    /// Identifiers.
    pub mod ids {
        pub use crate::ids::{ContentHash, PromptName, RunId};
    }
    /// Providers, and the local model.
    pub mod provider {
        pub use crate::provider::{Completion, FinishReason, Local, Provider, Request};
        /// The embedded local model.
        pub mod local {
            pub use crate::provider::local::fetch;
        }
    }
    /// Run directories.
    pub mod record {
        pub use crate::record::FORMAT_VERSION;
    }
    /// Scoring.
    pub mod score {
        pub use crate::score::{AssertionResult, Observed, all_pass, score};
    }
    /// Statistics.
    pub mod stats {
        pub use crate::stats::{CaseTally, VersionTally, adaptive_round, confirmation_round};
    }
    /// Git versions.
    pub mod store {
        pub use crate::store::Version;
    }
    /// Suites.
    pub mod suite {
        pub use crate::suite::{Assertion, CaseOrigin, SuiteKind};
    }
}
