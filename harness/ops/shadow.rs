//! `shadow`: a candidate on a seeded sample of production traffic, against the version
//! production serves — a check whose only suite is the prompt's `kind: shadow` suite.

use std::path::Path;
use std::time::Instant;

use crate::errors::{Error, Result};
use crate::pipeline::check::{Attempt, CheckOutcome, Checked, run, settle};
use crate::pipeline::progress::Progress;
use crate::pipeline::project::Project;
use crate::pipeline::request::CheckOptions;
use crate::pipeline::select::selection;
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
    let clock = Instant::now();
    let mut project = Project::open(root)?;
    let (options, earlier) = settle(&project, options, progress)?;
    let selection = selection(&project, &options, progress)?;
    // Readiness is scored on the whole specification, before the shadow suite replaces it.
    let readiness = readiness_of(&project, selection.specs.iter().map(|s| &s.prompt));
    let attempt = Attempt {
        earlier,
        waves: None,
        clock,
    };
    match run(&mut project, &options, selection, attempt, progress)? {
        Checked::Gated(mut outcome) => {
            outcome.report.readiness = readiness;
            crate::report::write(&outcome.run_dir, &outcome.report, &ReportFormat::ALL)?;
            Ok(*outcome)
        }
        _ => Err(Error::Internal("a shadow run compared nothing".into())),
    }
}
