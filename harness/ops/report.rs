//! `report`: a stored check's reports rendered again from its `report.json`.

use std::path::{Path, PathBuf};

use crate::errors::Result;
use crate::record;
use crate::report::{CheckReport, ReportFormat};

/// Re-renders a stored check's reports from its `report.json` (`promptgate report`).
/// Returns the run directory.
pub fn rerender(root: &Path, run_id: &str, formats: &[ReportFormat]) -> Result<PathBuf> {
    let run_id = crate::ids::RunId::parse(run_id)?;
    let report: CheckReport = record::read_report(root, &run_id)?;
    // Reached through no symlink: a commit can plant `reports/ID` pointing anywhere.
    let run_dir = record::RunDir::confined(root, &run_id)?;
    let formats: Vec<ReportFormat> = formats
        .iter()
        .copied()
        .filter(|f| *f != ReportFormat::Json)
        .collect();
    crate::report::write(&run_dir, &report, &formats)?;
    Ok(run_dir)
}
