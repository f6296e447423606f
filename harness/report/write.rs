//! A check's report written into its run directory, in the forms asked.

use std::path::Path;

use super::CheckReport;
use super::html::write_html;
use super::junit::write_junit;
use super::markdown::summary_markdown;
use crate::errors::Result;
use crate::record;

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

/// Writes the given formats of `report` into `run_dir` (`report.json`, `index.html` and
/// `junit.xml` streamed).
pub(crate) fn write(run_dir: &Path, report: &CheckReport, formats: &[ReportFormat]) -> Result<()> {
    for format in formats {
        let path = run_dir.join(format.file_name());
        match format {
            ReportFormat::Json => record::write_json(&path, report)?,
            ReportFormat::Html => {
                crate::files::write_atomic_with(&path, |w| write_html(report, w))?
            }
            ReportFormat::Junit => {
                crate::files::write_atomic_with(&path, |w| write_junit(report, w))?
            }
            ReportFormat::Markdown => {
                crate::files::write_atomic(&path, summary_markdown(report).as_bytes())?
            }
        }
    }
    if formats.contains(&ReportFormat::Json) {
        super::runs::record_check(run_dir, report)?;
    }
    super::runs::write_index(run_dir)
}
