//! `shadow`: a candidate on a seeded sample of production traffic, against the version
//! production serves — a check whose only suite is the prompt's `kind: shadow` suite.

use std::path::Path;

use crate::errors::{Error, Result};
use crate::pipeline::check::{CheckOutcome, Checked, Ready};
use crate::pipeline::progress::Progress;
use crate::pipeline::request::CheckOptions;
use crate::release::facts::readiness_of;
use crate::report::ReportFormat;

/// Runs the shadow check `options` ask for (their `traffic` sample) and writes its reports;
/// its report carries what the traffic held and each shadow suite's output drift.
pub fn shadow(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckOutcome> {
    if options.traffic.is_none() {
        return Err(Error::Usage(
            "a shadow run samples traffic: pass --traffic FILE".into(),
        ));
    }
    let ready = Ready::new(root, options, progress)?;
    // Readiness is scored on the whole specification, before the shadow suite replaces it.
    let readiness = readiness_of(&ready.project, ready.prompts());
    match ready.run(progress)? {
        Checked::Gated(mut outcome) => {
            outcome.report.readiness = readiness;
            crate::report::write(&outcome.run_dir, &outcome.report, &ReportFormat::ALL)?;
            Ok(*outcome)
        }
        _ => Err(Error::Internal("a shadow run compared nothing".into())),
    }
}
