//! Suites: YAML files under `suites/` that say which prompt to test, with which cases, how many
//! samples, which assertions, and how much worse a candidate may be.
//!
//! Loading validates everything up front (assertion types, regexes, JSON schemas, case files), so
//! a bad suite fails before any provider call, naming the file and line.

//! [`case`] is a suite and its cases as loaded; [`raw`] the files as written; [`load`] reads
//! and validates them; [`assertions`] are the checks, as written and compiled; [`attacks`] an
//! adversarial suite's cases; [`script`] a conversation case's turns; [`filter`] the part of
//! the suites a check or a run keeps.

mod assertions;
mod attacks;
mod case;
mod filter;
mod load;
mod raw;
mod script;

pub use crate::vocabulary::SuiteKind;
pub use assertions::Assertion;
pub(crate) use assertions::{ArgumentsCheck, JsonSchema, SequenceMatch, ToolPolicy};
pub use case::CaseOrigin;
pub(crate) use case::{Case, Suite};
pub use filter::CaseFilter;
pub use raw::json_schema;
pub(crate) use script::{Script, UnexpectedCalls};
#[cfg(test)]
pub(crate) use script::{ScriptedResult, Turn};
