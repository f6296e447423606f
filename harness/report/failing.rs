//! The cases a stored run failed: what `--failing RUN` runs again.

use std::path::Path;

use super::{CheckReport, RunReport};
use crate::compare::CaseStatus;
use crate::errors::{Error, Result};
use crate::ids::RunId;

/// The cases of the stored check or run `run_id` that failed, as `SUITE:ID`: a check's cases
/// that regressed, errored, were skipped or fail on the candidate; a run's cases that did not
/// always pass. A run with none is an error (rerunning nothing would pass).
pub fn failing_cases(root: &Path, run_id: &str) -> Result<Vec<String>> {
    let run_id = RunId::parse(run_id)?;
    let mut failing: Vec<String> = match crate::record::read_report::<CheckReport>(root, &run_id) {
        Ok(check) => check
            .candidates
            .iter()
            .flat_map(|c| &c.suites)
            .flat_map(|s| s.cases.iter().map(move |case| (s, case)))
            .filter(|(_, case)| {
                matches!(
                    case.status,
                    CaseStatus::Regressed
                        | CaseStatus::Error
                        | CaseStatus::Skipped
                        | CaseStatus::UnchangedFail
                ) || case.candidate.pass_rate.is_some_and(|r| r < 1.0)
            })
            .map(|(s, case)| format!("{}:{}", s.name, case.id))
            .collect(),
        Err(_) => crate::record::read_report::<RunReport>(root, &run_id)?
            .suites
            .iter()
            .flat_map(|s| s.cases.iter().map(move |case| (s, case)))
            .filter(|(_, case)| case.side.pass_rate.is_none_or(|r| r < 1.0))
            .map(|(s, case)| format!("{}:{}", s.name, case.id))
            .collect(),
    };
    failing.sort();
    failing.dedup();
    if failing.is_empty() {
        return Err(Error::NoCases(format!(
            "--failing {run_id}: no case of that run failed, so there is nothing to run again"
        )));
    }
    Ok(failing)
}
