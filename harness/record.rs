//! The on-disk run: `reports/<run-id>/` with a manifest written first and an append-only
//! results log (`results.jsonl`) that gets one line per finished call, as it finishes, and the
//! report files written at the end.
//!
//! This module is the one reader and writer of those files: every other module asks it for a
//! run's manifest, results or report, and every read checks the run's `format_version`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::EffectiveParams;
use crate::errors::{Error, Result};
use crate::ids::RunId;
use crate::runner::Outcome;
use crate::runner::Submission;

/// Where runs are written, relative to the project root.
pub const REPORTS_DIR: &str = "reports";

/// The results log's file name in a run directory.
pub(crate) const RESULTS_FILE: &str = "results.jsonl";

/// The manifest's file name in a run directory.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";

/// The machine-readable report's file name in a run directory.
pub(crate) const REPORT_FILE: &str = "report.json";

/// The HTML report's file name in a run directory.
pub(crate) const HTML_FILE: &str = "index.html";

/// The JUnit report's file name in a run directory.
pub(crate) const JUNIT_FILE: &str = "junit.xml";

/// The file in a run directory that lists the batches submitted for it (`--batch`), one per
/// line, each written and synced the moment the provider accepts it.
pub(crate) const BATCHES_FILE: &str = "batches.jsonl";

/// The Markdown summary's file name in a run directory.
pub(crate) const SUMMARY_FILE: &str = "summary.md";

/// The version of the files in a run directory; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 3;

/// Written before any call, so an interrupted run still says what it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
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
    /// Which shard of which plan the run is, when it is one (it gates nothing; `merge` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRecord>,
}

/// A shard run's place: its index (1-based) of `total`, the fingerprint of the plan it is a
/// part of (every shard of one check has the same), and its wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShardRecord {
    /// 1-based.
    pub(crate) index: u32,
    /// How many shards the plan has.
    pub(crate) total: u32,
    /// The plan's fingerprint.
    pub(crate) plan: String,
    /// 1 for the first samples and their confirmation; 2 and on for the adaptive rounds
    /// `merge` planned.
    #[serde(default = "first_wave")]
    pub(crate) wave: u32,
}

/// The wave of a shard that records none.
fn first_wave() -> u32 {
    1
}

/// One line of `results.jsonl`: a finished call and everything needed to score it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CallRecord {
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
pub(crate) struct RunDir {
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
    pub(crate) fn create(root: &Path, manifest: &Manifest) -> Result<Self> {
        let path = Self::confined(root, &manifest.run_id)?;
        write_json(&path.join(MANIFEST_FILE), manifest)?;
        Self::open_log(path)
    }

    /// Reopens an existing run directory to append to its results log (`--resume`).
    pub(crate) fn reopen(root: &Path, run_id: &RunId) -> Result<Self> {
        Self::open_log(Self::confined(root, run_id)?)
    }

    /// `reports/<run-id>/`, created where missing, through no symlink.
    pub(crate) fn confined(root: &Path, run_id: &RunId) -> Result<PathBuf> {
        crate::files::confined_dir(root, &Path::new(REPORTS_DIR).join(run_id.as_str()))
    }

    /// Whether the run directory of `run_id` exists.
    pub(crate) fn exists(root: &Path, run_id: &RunId) -> bool {
        Self::path_of(root, run_id).join(MANIFEST_FILE).is_file()
    }

    /// `reports/<run-id>/` under `root`.
    pub(crate) fn path_of(root: &Path, run_id: &RunId) -> PathBuf {
        root.join(REPORTS_DIR).join(run_id.as_str())
    }

    fn open_log(path: PathBuf) -> Result<Self> {
        let file = crate::files::open_append(&path.join(RESULTS_FILE))?;
        Ok(Self {
            path,
            results: BufWriter::new(file),
            last_sync: Instant::now(),
        })
    }

    /// Appends one call and flushes it to the OS, so a crash of this process loses nothing;
    /// syncs to disk when the last sync is older than `SYNC_INTERVAL`.
    pub(crate) fn append(&mut self, record: &CallRecord) -> Result<()> {
        let line = serde_json::to_string(record).map_err(Error::encode("a results log line"))?;
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

    /// Records a batch the provider accepted, synced to disk before the run goes on: a run
    /// killed while it waits for the batch collects it when resumed instead of paying for its
    /// requests twice.
    pub(crate) fn append_submission(&self, submission: &Submission) -> Result<()> {
        let path = self.path.join(BATCHES_FILE);
        let line =
            serde_json::to_string(submission).map_err(Error::encode("a batch submission"))?;
        let mut file = crate::files::open_append(&path)?;
        writeln!(file, "{line}").map_err(|e| Error::io("write", &path, e))?;
        file.sync_data().map_err(|e| Error::io("sync", &path, e))
    }

    /// Appends a line copied from another run's log (a shard's, by `merge`), buffered: the
    /// source stays where it is, so [`RunDir::finish`] flushing and syncing the copy once is
    /// enough.
    pub(crate) fn append_copied(&mut self, line: &str) -> Result<()> {
        writeln!(self.results, "{line}")
            .map_err(|e| Error::io("write", &self.path.join(RESULTS_FILE), e))
    }

    /// Syncs the results log to disk.
    pub(crate) fn finish(mut self) -> Result<PathBuf> {
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

/// `format_version` of a stored run file, read before the rest so an older or newer file is
/// named as such rather than failing on whichever field changed.
#[derive(Deserialize)]
struct Versioned {
    #[serde(default)]
    format_version: Option<u32>,
}

/// Decodes a run file that carries a `format_version`, refusing any other version than
/// [`FORMAT_VERSION`].
fn decode<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    let located = |e: serde_json::Error| {
        Error::invalid(
            crate::errors::Location::new(path, e.line() as u64, e.column() as u64),
            format!("not a run file this version of promptgate can read: {e}"),
        )
    };
    let version = serde_json::from_str::<Versioned>(text)
        .map_err(located)?
        .format_version;
    if version != Some(FORMAT_VERSION) {
        return Err(Error::Usage(format!(
            "{} has format_version {}, and this promptgate reads {FORMAT_VERSION}; run it again with this version",
            path.display(),
            version.map_or("(none)".to_string(), |v| v.to_string())
        )));
    }
    serde_json::from_str(text).map_err(located)
}

/// Reads the file `name` of the run `run_id` (through no symlink: [`crate::files::read_confined`]);
/// `None` when it does not exist.
pub(crate) fn read_run_file(
    root: &Path,
    run_id: &RunId,
    name: &str,
) -> Result<Option<(PathBuf, String)>> {
    let relative = Path::new(REPORTS_DIR).join(run_id.as_str()).join(name);
    let text = crate::files::read_confined(root, &relative)?;
    Ok(text.map(|text| (root.join(relative), text)))
}

/// The batches submitted for the run `run_id` (none when it submitted none). A last line cut
/// short by a kill is the one tolerated fault; any other unreadable line is an error, since a
/// batch it hides would be paid for twice.
pub(crate) fn read_submissions(root: &Path, run_id: &RunId) -> Result<Vec<Submission>> {
    let Some((path, text)) = read_run_file(root, run_id, BATCHES_FILE)? else {
        return Ok(Vec::new());
    };
    let torn_tail = !text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut submissions = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(submission) => submissions.push(submission),
            Err(_) if torn_tail && n + 1 == lines.len() => {}
            Err(_) if line.trim().is_empty() => {}
            Err(e) => {
                return Err(Error::invalid(
                    crate::errors::Location::new(&path, n as u64 + 1, e.column() as u64),
                    format!("not a batch submission this version of promptgate wrote: {e}"),
                ));
            }
        }
    }
    Ok(submissions)
}

/// The manifest of the run `run_id`.
pub(crate) fn read_manifest(root: &Path, run_id: &RunId) -> Result<Manifest> {
    match read_run_file(root, run_id, MANIFEST_FILE)? {
        Some((path, text)) => decode(&path, &text),
        None => Err(Error::Usage(format!(
            "no run `{run_id}` under {REPORTS_DIR}/ (it has no {MANIFEST_FILE}); run ids are the directory names there"
        ))),
    }
}

/// The stored report of the run `run_id` (a check's or a run's, as the caller reads it).
pub(crate) fn read_report<T: serde::de::DeserializeOwned>(
    root: &Path,
    run_id: &RunId,
) -> Result<T> {
    match read_run_file(root, run_id, REPORT_FILE)? {
        Some((path, text)) => decode(&path, &text),
        None => Err(Error::Usage(format!(
            "no stored check or run `{run_id}`: {REPORTS_DIR}/{run_id}/{REPORT_FILE} does not exist (the run did not finish, or the id is wrong); run ids are the directory names under {REPORTS_DIR}/"
        ))),
    }
}

/// `sha256:` and the hash of the run's `report.json` as written; `None` when it has none.
pub(crate) fn report_digest(root: &Path, run_id: &RunId) -> Option<String> {
    let bytes = std::fs::read(RunDir::path_of(root, run_id).join(REPORT_FILE)).ok()?;
    Some(format!(
        "sha256:{}",
        crate::ids::ContentHash::of(bytes).as_str()
    ))
}

/// Whether the run `run_id` has a report that says it saw every case.
pub(crate) fn finished_complete(root: &Path, run_id: &RunId) -> bool {
    #[derive(Deserialize)]
    struct Completeness {
        complete: bool,
    }
    read_report::<Completeness>(root, run_id).is_ok_and(|r| r.complete)
}

/// The ids of the runs under `reports/`, oldest first (run ids sort by time).
pub(crate) fn run_ids(root: &Path) -> Vec<RunId> {
    let mut ids: Vec<RunId> = std::fs::read_dir(root.join(REPORTS_DIR))
        .map(|d| {
            d.flatten()
                .filter_map(|e| RunId::parse(e.file_name().to_str()?).ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

/// The calls the run `run_id` logged, in the order they finished. A torn last line (the
/// process died while writing it) is ignored: its call is made again.
pub(crate) fn read_results(root: &Path, run_id: &RunId) -> Result<Vec<CallRecord>> {
    let mut records = Vec::new();
    for_each_logged(&RunDir::path_of(root, run_id), |_, record| {
        records.push(record);
        Ok(())
    })?;
    Ok(records)
}

/// The manifest of the run directory at `dir`, wherever it is (a shard's, handed over by a
/// CI engine as an artifact).
pub(crate) fn read_manifest_at(dir: &Path) -> Result<Manifest> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!(
            "{} is not a run directory: it has no {MANIFEST_FILE}",
            dir.display()
        )),
        _ => Error::io("read", &manifest_path, e),
    })?;
    decode(&manifest_path, &text)
}

/// Feeds each call logged in the run directory at `dir` to `each`, with its line as logged, a
/// line at a time, so a large log is never held whole (a line cut short by a kill is skipped,
/// as on resume).
pub(crate) fn for_each_logged(
    dir: &Path,
    mut each: impl FnMut(&str, CallRecord) -> Result<()>,
) -> Result<()> {
    use std::io::BufRead;
    let path = dir.join(RESULTS_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut line = String::new();
    loop {
        line.clear();
        if reader
            .read_line(&mut line)
            .map_err(|e| Error::io("read", &path, e))?
            == 0
        {
            return Ok(());
        }
        if let Ok(record) = serde_json::from_str::<CallRecord>(&line) {
            each(line.trim_end(), record)?;
        }
    }
}

/// Writes `value` as pretty JSON to `path` atomically (write to a temporary file, then rename).
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    crate::files::write_atomic_with(path, |w| {
        serde_json::to_writer_pretty(w, value).map_err(std::io::Error::other)
    })
}
