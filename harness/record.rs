//! The on-disk run: `reports/<run-id>/` with a manifest written first and an append-only
//! results log (`results.jsonl`) that gets one line per finished call, as it finishes.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::EffectiveParams;
use crate::errors::{Error, Result};
use crate::ids::RunId;
use crate::runner::Outcome;

/// Where runs are written, relative to the project root.
pub const REPORTS_DIR: &str = "reports";

/// The results log's file name in a run directory.
pub const RESULTS_FILE: &str = "results.jsonl";

/// The manifest's file name in a run directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The version of the files in a run directory; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 3;

/// Written before any call, so an interrupted run still says what it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of this run directory.
    pub format_version: u32,
    /// The run's id.
    pub run_id: RunId,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// The command, for humans.
    pub command: String,
    /// The calls the run will make.
    pub calls: usize,
    /// What the command was asked to do (its options, without the environment), so that
    /// `--resume` can plan the same run again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<serde_json::Value>,
}

/// One line of `results.jsonl`: a finished call and everything needed to score it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    /// Index of the call in the run's plan.
    pub call: usize,
    /// The provider's fingerprint.
    pub provider: String,
    /// The request's content key.
    pub key: String,
    /// Effective parameters.
    pub params: EffectiveParams,
    /// Sample index.
    pub sample: u32,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// An open run directory.
pub struct RunDir {
    path: PathBuf,
    results: BufWriter<File>,
    last_sync: Instant,
}

/// How often the results log is synced to disk while a run goes on. Every line is flushed to
/// the OS at once (a crash of this process loses nothing); syncing at most this often bounds
/// what a power loss can take without paying a disk flush per call.
const SYNC_INTERVAL: Duration = Duration::from_millis(250);

impl RunDir {
    /// Creates `reports/<run-id>/` under `root` and writes the manifest.
    pub fn create(root: &Path, manifest: &Manifest) -> Result<Self> {
        let path = Self::confined(root, &manifest.run_id)?;
        write_json(&path.join(MANIFEST_FILE), manifest)?;
        Self::open_log(path)
    }

    /// Reopens an existing run directory to append to its results log (`--resume`).
    pub fn reopen(root: &Path, run_id: &RunId) -> Result<Self> {
        Self::open_log(Self::confined(root, run_id)?)
    }

    /// `reports/<run-id>/`, created where missing, through no symlink.
    fn confined(root: &Path, run_id: &RunId) -> Result<PathBuf> {
        crate::files::confined_dir(root, &Path::new(REPORTS_DIR).join(run_id.as_str()))
    }

    /// Whether the run directory of `run_id` exists.
    pub fn exists(root: &Path, run_id: &RunId) -> bool {
        Self::path_of(root, run_id).join(MANIFEST_FILE).is_file()
    }

    /// `reports/<run-id>/` under `root`.
    pub fn path_of(root: &Path, run_id: &RunId) -> PathBuf {
        root.join(REPORTS_DIR).join(run_id.as_str())
    }

    fn open_log(path: PathBuf) -> Result<Self> {
        let results_path = path.join(RESULTS_FILE);
        // Appending follows a symlink, so a planted one is refused.
        if std::fs::symlink_metadata(&results_path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Usage(format!(
                "{} is a symlink: promptgate writes only regular files inside the project",
                results_path.display()
            )));
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&results_path)
            .map_err(|e| Error::io("open", &results_path, e))?;
        Ok(Self {
            path,
            results: BufWriter::new(file),
            last_sync: Instant::now(),
        })
    }

    /// The run directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one call and flushes it to the OS, so a crash of this process loses nothing;
    /// syncs to disk when the last sync is older than `SYNC_INTERVAL`.
    pub fn append(&mut self, record: &CallRecord) -> Result<()> {
        let line = serde_json::to_string(record).map_err(|e| Error::Internal(e.to_string()))?;
        let results = self.path.join(RESULTS_FILE);
        writeln!(self.results, "{line}").map_err(|e| Error::io("write", &results, e))?;
        self.results
            .flush()
            .map_err(|e| Error::io("write", &results, e))?;
        if self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.results
                .get_ref()
                .sync_data()
                .map_err(|e| Error::io("sync", &results, e))?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Syncs the results log to disk.
    pub fn finish(mut self) -> Result<PathBuf> {
        let results = self.path.join(RESULTS_FILE);
        self.results
            .flush()
            .map_err(|e| Error::io("write", &results, e))?;
        self.results
            .get_ref()
            .sync_data()
            .map_err(|e| Error::io("sync", &results, e))?;
        Ok(self.path)
    }
}

/// Writes `value` as pretty JSON to `path` atomically (write to a temporary file, then rename).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    crate::files::write_atomic(path, text.as_bytes())
}
