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
//!   [`suite`];
//! - 2 state and execution: [`store`] (git), [`cache`], [`runner`], [`record`];
//! - 3 judgement: [`compare`], [`score`], [`gate`], [`report`];
//! - 4 commands: [`ops`], one function per command.

/// This build of promptgate: its version, the commit and target it was built from and for.
pub const BUILD: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PROMPTGATE_COMMIT"),
    ", ",
    env!("PROMPTGATE_TARGET"),
    ")"
);

pub mod adversarial;
pub mod artifact;
pub mod cache;
pub mod compare;
pub mod config;
pub mod errors;
pub mod files;
pub mod gate;
pub mod ids;
pub mod ops;
pub mod provider;
pub mod record;
pub mod report;
pub mod runner;
pub mod score;
pub mod stats;
pub mod store;
pub mod suite;
pub mod vocabulary;
pub mod yaml;
