//! Part of the specification, run on purpose (`--case`, `--filter`, `--limit`, `--samples`):
//! the cases kept of each suite, and how many samples each draws.

use super::case::Suite;
use crate::errors::{Error, Result};

/// Which cases of each suite a check or a run keeps, and how many samples they draw. Stored
/// with a check's request, so `--resume` and `merge` run the same part.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseFilter {
    /// Case ids to keep (`*` and `?` match any characters and one); `SUITE:ID` names a case of
    /// one suite. Empty keeps every id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// A regular expression a kept case's id matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// At most this many cases of each suite (the first ones, after the other filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Samples per case and version for every suite, over the suites' own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
}

/// What a filter kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kept {
    /// Cases kept, across the suites.
    pub(crate) kept: usize,
    /// Cases the suites hold.
    pub(crate) of: usize,
}

impl Kept {
    /// What a command says of the part it runs: `checking 1 of 3 cases (--case billing)`.
    pub(crate) fn note(self, verb: &str, filter: &CaseFilter) -> String {
        format!(
            "{verb} {} of {} cases ({}): a part of the specification, so its verdict is only that part's",
            self.kept,
            self.of,
            filter.described()
        )
    }
}

impl CaseFilter {
    /// Whether the filter keeps every case as its suite samples it.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether the filter keeps only some cases (not only a sample count).
    fn narrows(&self) -> bool {
        !self.ids.is_empty() || self.pattern.is_some() || self.limit.is_some()
    }

    /// Keeps the cases of `suites` the filter names and sets their samples; `None` when it
    /// narrows nothing. Keeping no case of any suite is an error that says so (a check of
    /// nothing must never pass).
    pub(crate) fn apply(&self, suites: &mut [Suite]) -> Result<Option<Kept>> {
        if let Some(samples) = self.samples {
            if samples == 0 {
                return Err(Error::Usage("--samples must be at least 1".into()));
            }
            for suite in suites.iter_mut() {
                suite.samples = samples;
            }
        }
        if !self.narrows() {
            return Ok(None);
        }
        let ids = self
            .ids
            .iter()
            .map(|id| glob(id))
            .collect::<Result<Vec<_>>>()?;
        let pattern = self
            .pattern
            .as_deref()
            .map(|p| {
                regex::Regex::new(p).map_err(|e| {
                    Error::Usage(format!("--filter `{p}` is not a regular expression: {e}"))
                })
            })
            .transpose()?;
        let mut counts = Kept { kept: 0, of: 0 };
        for suite in suites.iter_mut() {
            counts.of += suite.cases.len();
            let name = suite.name.clone();
            suite.cases.retain(|case| {
                let qualified = format!("{name}:{}", case.id);
                let named = ids.is_empty()
                    || ids
                        .iter()
                        .any(|g| g.is_match(&case.id) || g.is_match(&qualified));
                named && pattern.as_ref().is_none_or(|p| p.is_match(&case.id))
            });
            if let Some(limit) = self.limit {
                suite.cases.truncate(limit);
            }
            counts.kept += suite.cases.len();
        }
        if counts.kept == 0 && counts.of > 0 {
            return Err(Error::NoCases(format!(
                "no case of the {} selected matches the case filter ({}): case ids are as the suites write them, or SUITE:ID",
                match counts.of {
                    1 => "1 case".to_string(),
                    n => format!("{n} cases"),
                },
                self.described()
            )));
        }
        Ok(Some(counts))
    }

    /// The filter as the command line wrote it.
    pub fn described(&self) -> String {
        let mut parts: Vec<String> = self.ids.iter().map(|id| format!("--case {id}")).collect();
        parts.extend(self.pattern.iter().map(|p| format!("--filter {p}")));
        parts.extend(self.limit.iter().map(|n| format!("--limit {n}")));
        parts.join(" ")
    }
}

/// A case-id glob as a regular expression matching the whole id.
fn glob(pattern: &str) -> Result<regex::Regex> {
    let escaped = regex::escape(pattern)
        .replace(r"\*", ".*")
        .replace(r"\?", ".");
    regex::Regex::new(&format!("^{escaped}$"))
        .map_err(|e| Error::Usage(format!("--case `{pattern}` cannot be matched: {e}")))
}
