//! `check`: candidate versions against their baselines, case by case, gated; and `check
//! --resume`, which finishes an interrupted check of any kind from its stored request.

use std::path::Path;

use crate::errors::{Error, Result};
use crate::pipeline::check::{CheckOutcome, Checked, DrawnWave, Ready};
use crate::pipeline::estimate::Estimate;
use crate::pipeline::progress::Progress;
use crate::pipeline::request::CheckOptions;
use crate::release::facts::readiness_of;
use crate::report::ReportFormat;

/// What `check` found to do.
#[derive(Debug)]
pub enum CheckResult {
    /// Candidates were compared and gated.
    Checked(Box<CheckOutcome>),
    /// No prompt was named and none differs between baseline and candidate: nothing to gate.
    NothingChanged,
    /// What the check would spend (a `--dry-run`).
    Estimated(Vec<Estimate>),
    /// A shard's part of a wave, resumed: its calls are logged for the next `merge`.
    Drawn(Box<DrawnWave>),
}

/// Runs `check`: plans every comparison, makes the calls, scores, compares, gates, and writes
/// the reports into the run directory. With `resume`, the stored request of the run resumed
/// decides what it is (a shard's, a shadow run's, a wave's).
pub fn check(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckResult> {
    let ready = Ready::new(root, options, progress)?;
    // Readiness is scored on the whole specification, before a shadow run narrows it.
    let readiness = match ready.options.shard.is_some() || ready.options.dry_run {
        true => Vec::new(),
        false => readiness_of(&ready.project, ready.prompts()),
    };
    Ok(match ready.run(progress)? {
        Checked::Gated(mut outcome) => {
            outcome.report.readiness = readiness;
            crate::report::write(&outcome.run_dir, &outcome.report, &ReportFormat::ALL)?;
            CheckResult::Checked(outcome)
        }
        Checked::NothingChanged => CheckResult::NothingChanged,
        Checked::Estimated(estimates) => CheckResult::Estimated(estimates),
        Checked::Drawn(drawn) => CheckResult::Drawn(drawn),
        Checked::NextWave { .. } => {
            return Err(Error::Internal(
                "a check outside a merge planned a wave".into(),
            ));
        }
    })
}
