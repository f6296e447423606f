//! promptgate: prompts as production artifacts.
//!
//! Prompts live as Dotprompt files in git. promptgate runs regression suites against a candidate
//! version and a baseline version of each prompt, compares their outputs case by case, scores
//! them, and gates promotion on the suite's tolerance. The layers, bottom up (see `DESIGN.md`):
//!
//! - L0: [`artifact`] (parse and render prompts), [`errors`], [`files`], [`ids`], [`yaml`],
//!   [`stats`];
//! - L1: [`store`] (git), [`config`], [`suite`], [`provider`], [`record`], [`cache`], [`cassette`];
//! - L2: [`runner`], [`score`], [`compare`], [`gate`], [`report`], [`adversarial`];
//! - L3: [`ops`], one function per command.

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
pub mod cassette;
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
pub mod yaml;
