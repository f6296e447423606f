//! `report`: a stored check's reports rendered again from its `report.json`, or a stored
//! run's results read back.

use std::path::{Path, PathBuf};

use crate::errors::Result;
use crate::record;
use crate::report::{CheckReport, ReportFormat, RunReport};

/// What `promptgate report` found in a run directory.
#[derive(Debug)]
pub enum Rendered {
    /// A check: its reports were written again into its run directory.
    Check(PathBuf),
    /// A `run` (suites on one version, no comparison): its results, which have no HTML,
    /// JUnit or Markdown report.
    Run(Box<RunReport>),
}

/// Re-renders a stored check's reports from its `report.json` (`promptgate report`), or
/// reads a stored run's results.
pub fn rerender(root: &Path, run_id: &str, formats: &[ReportFormat]) -> Result<Rendered> {
    let run_id = crate::ids::RunId::parse(run_id)?;
    let report: CheckReport = match record::read_report(root, &run_id) {
        Ok(report) => report,
        Err(check) => {
            return match record::read_report::<RunReport>(root, &run_id) {
                Ok(run) => Ok(Rendered::Run(Box::new(run))),
                Err(_) => Err(check),
            };
        }
    };
    // Reached through no symlink: a commit can plant `reports/ID` pointing anywhere.
    let run_dir = record::RunDir::confined(root, &run_id)?;
    let formats: Vec<ReportFormat> = formats
        .iter()
        .copied()
        .filter(|f| *f != ReportFormat::Json)
        .collect();
    crate::report::write(&run_dir, &report, &formats)?;
    Ok(Rendered::Check(run_dir))
}
