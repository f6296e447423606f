//! One function per command, wiring the modules together. Nothing here prints or reads the
//! environment: the CLI passes in what it read and renders what comes back.

mod cache;
mod calls;
mod check;
mod inspect;
mod judging;
#[cfg(test)]
mod parse_fuzz;
mod plan;
mod production;
mod readiness;
mod release;
mod reports;
mod run;
mod scoring;
mod setup;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::config::json_schema as config_schema;
pub use crate::judge::Agreement;
pub use crate::monitor::Health;
pub use crate::provider::local::model_pin;
pub use crate::readiness::Assessment;
pub use crate::runner::BudgetLimits;
pub use crate::store::{Baseline, LabelEvent, Measures, ReleaseAction};
pub use crate::suite::json_schema as suite_schema;
pub use cache::{CacheStats, cache_clear, cache_stats};
pub use calls::{CallCounts, CallOptions, ErrorBudget, Estimate};
pub use check::{
    CheckOptions, CheckOutcome, CheckResult, DrawnWave, MergeOptions, MergeResult, NextWave, Shard,
    TrafficSample, WAVE_FILE, WavePlan, WaveSamples, check, merge,
};
pub use inspect::{ShowOptions, show, validate};
pub use judging::{CalibrateOptions, Calibration, calibrate};
pub use production::{MonitorOptions, MonitorReport, monitor};
pub use readiness::readiness;
pub use release::{
    DEFAULT_LABEL, History, LabelStatus, PromoteOptions, Promotion, PromptStatus, RollbackOptions,
    approve, history, promote, rollback, status,
};
pub use reports::{ReportFormat, rerender};
pub use run::{RunOptions, RunOutcome, run};
pub use setup::{HookGate, Scaffolded, hook_gate, init, install_hook};

use crate::config::Config;
use crate::errors::Result;
use crate::store::Store;
use crate::suite::Suite;

/// A progress event for the caller's display.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Something slow is happening before the calls (fetching or loading a model).
    Note(String),
    /// Calls are about to start.
    Started {
        /// Calls to make.
        calls: usize,
    },
    /// Conversations need more calls: their next steps.
    More {
        /// Calls added.
        calls: usize,
    },
    /// A call finished, was answered from the cache, was skipped, or will be retried.
    Calls(CallCounts),
}

/// An opened project: its root, config, repository and suites.
pub struct Project {
    /// The project root.
    pub root: PathBuf,
    /// `promptgate.yaml`, or the built-in defaults.
    pub config: Config,
    /// The git repository.
    pub store: Store,
    /// Every suite under `suites/`.
    pub suites: Vec<Suite>,
}

impl Project {
    /// Opens the project at `root`, loading and validating its config and suites.
    pub fn open(root: &Path) -> Result<Self> {
        let store = Store::open(root)?;
        let root = store.root().to_path_buf();
        let config = Config::load(&root)?;
        let suites = Suite::load_all(&root)?;
        Ok(Self {
            root,
            config,
            store,
            suites,
        })
    }

    /// Refuses a response cache that git tracks: cache entries decide verdicts, so entries a
    /// commit planted (a pull request's, say) would let it choose its own gate result.
    pub(crate) fn check_cache_untracked(&self) -> Result<()> {
        let tracked = self.store.tracked_under(crate::cache::CACHE_DIR)?;
        match tracked.first() {
            None => Ok(()),
            Some(first) => Err(crate::errors::Error::Usage(format!(
                "{} tracked by git under {dir}/ (the first: {first}); cache entries decide verdicts, so promptgate reads no cache a commit can plant. Remove them with `git rm -r --cached {dir}` and keep the directory in .gitignore, or pass --no-cache",
                crate::report::plural(tracked.len(), "response-cache file"),
                dir = crate::cache::CACHE_DIR,
            ))),
        }
    }
}

/// The project a command run in `start` works on, found as git and cargo find theirs: the
/// nearest folder upward with a `promptgate.yaml`, not past the root of the git repository;
/// else that root; else `start` itself.
pub fn find_project(start: &Path) -> PathBuf {
    let mut repository_root = None;
    for dir in start.ancestors() {
        if dir.join(crate::config::CONFIG_FILE).is_file() {
            return dir.to_path_buf();
        }
        if dir.join(".git").exists() {
            repository_root = Some(dir.to_path_buf());
            break;
        }
    }
    repository_root.unwrap_or_else(|| start.to_path_buf())
}

/// Environment variables the CLI read, for API keys named in the config.
pub type Env = BTreeMap<String, String>;

/// Where the default local model is kept: `$PROMPTGATE_MODEL_DIR`, else the user's cache
/// directory (`$XDG_CACHE_HOME` or `~/.cache`) under `promptgate/models`.
pub fn model_dir(env: &Env) -> PathBuf {
    if let Some(dir) = env.get("PROMPTGATE_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = env
        .get("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("promptgate").join("models")
}

/// Downloads and verifies the default local model (`promptgate model fetch`).
pub fn fetch_model(env: &Env, notify: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    crate::provider::local::fetch(&model_dir(env), notify).map_err(|message| {
        crate::errors::Error::Provider {
            provider: crate::config::LOCAL.into(),
            message,
        }
    })
}
