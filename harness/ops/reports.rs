//! Writing a check's reports, and re-rendering a stored one (`promptgate report`).

use std::path::{Path, PathBuf};

use crate::errors::Result;
use crate::record;
use crate::report::{self, CheckReport};

/// A rendered form of a check's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `report.json`, the machine-readable record.
    Json,
    /// `index.html`, for reviewers.
    Html,
    /// `junit.xml`, for CI test views.
    Junit,
    /// `summary.md`, for pull-request comments.
    Markdown,
}

impl ReportFormat {
    /// Every format, as `check` writes them.
    pub const ALL: [ReportFormat; 4] = [Self::Json, Self::Html, Self::Junit, Self::Markdown];

    /// The file the format is written to in the run directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Json => record::REPORT_FILE,
            Self::Html => record::HTML_FILE,
            Self::Junit => record::JUNIT_FILE,
            Self::Markdown => record::SUMMARY_FILE,
        }
    }
}

/// Writes the given formats of `report` into `run_dir`.
pub(super) fn write_reports(
    run_dir: &Path,
    report: &CheckReport,
    formats: &[ReportFormat],
) -> Result<()> {
    for format in formats {
        let path = run_dir.join(format.file_name());
        match format {
            ReportFormat::Json => record::write_json(&path, report)?,
            ReportFormat::Html => {
                crate::files::write_atomic_with(&path, |w| report::write_html(report, w))?
            }
            ReportFormat::Junit => {
                crate::files::write_atomic_with(&path, |w| report::write_junit(report, w))?
            }
            ReportFormat::Markdown => {
                crate::files::write_atomic(&path, report::summary_markdown(report).as_bytes())?
            }
        }
    }
    Ok(())
}

/// Re-renders a stored check's reports from its `report.json` (`promptgate report`).
/// Returns the run directory.
pub fn rerender(root: &Path, run_id: &str, formats: &[ReportFormat]) -> Result<PathBuf> {
    let run_id = crate::ids::RunId::parse(run_id)?;
    let report: CheckReport = record::read_report(root, &run_id)?;
    let run_dir = record::RunDir::path_of(root, &run_id);
    let formats: Vec<ReportFormat> = formats
        .iter()
        .copied()
        .filter(|f| *f != ReportFormat::Json)
        .collect();
    write_reports(&run_dir, &report, &formats)?;
    Ok(run_dir)
}
