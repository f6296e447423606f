//! The project a command works on: its root, `promptgate.yaml`, git repository and suites,
//! and where it is found from the directory a command runs in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::errors::Result;
use crate::store::Store;
use crate::suite::Suite;

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

    /// [`Project::open`], reading the index through `index_file` when given (a pre-commit
    /// hook's `GIT_INDEX_FILE`).
    pub(crate) fn open_with_index(root: &Path, index_file: Option<&Path>) -> Result<Self> {
        let project = Self::open(root)?;
        if let Some(index) = index_file {
            project.store.use_index_file(index)?;
        }
        Ok(project)
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

impl Project {
    /// The config with its `cache:` as the maintainers set it: the one at the check's
    /// baseline revision `rev` when that is a commit (a pull request cannot point the shared
    /// cache at entries it wrote, or turn its read-only mode off), else the working tree's (a
    /// label's baseline is per prompt: `promote`, which runs on the maintainers' branch).
    pub(crate) fn with_trusted_cache(&self, rev: Option<&str>) -> Result<crate::config::Config> {
        let mut config = self.config.clone();
        let file = crate::config::CONFIG_FILE;
        let Some((rev, text)) =
            rev.and_then(|rev| Some((rev, self.store.read_at(rev, file, None).ok()?)))
        else {
            return Ok(config);
        };
        config.cache = match text {
            Some(text) => crate::config::Config::parse(std::path::Path::new(file), &text)
                .map_err(|e| {
                    crate::errors::Error::Usage(format!(
                        "the config at the baseline {rev}, where the shared cache is read from, is invalid: {e}"
                    ))
                })?
                .cache,
            None => crate::config::CacheConfig::default(),
        };
        Ok(config)
    }

    /// The runs under `reports/` of which git tracks any file: a commit (a pull request's, say)
    /// can write those, so none of them is evidence of anything.
    pub(crate) fn tracked_runs(&self) -> Result<std::collections::BTreeSet<String>> {
        let dir = crate::record::REPORTS_DIR;
        let prefix = format!("{}/", self.store.git_path(dir).trim_end_matches('/'));
        Ok(self
            .store
            .tracked_under(dir)?
            .iter()
            .filter_map(|path| path.strip_prefix(&prefix)?.split('/').next())
            .map(str::to_string)
            .collect())
    }

    /// Refuses the run `id` when git tracks any of its files: what a commit wrote cannot
    /// resume a check, decide a promotion or serve as a shadow run.
    pub(crate) fn refuse_tracked_run(&self, id: &crate::ids::RunId) -> Result<()> {
        if !self.tracked_runs()?.contains(id.as_str()) {
            return Ok(());
        }
        Err(crate::errors::Error::refused(format!(
            "run {id} is tracked by git (under {}/{id}/): a commit can write a run directory, so promptgate takes no verdict, result or shadow run from one; run the check again, and keep {}/ in .gitignore",
            crate::record::REPORTS_DIR,
            crate::record::REPORTS_DIR,
        )))
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

impl Project {
    /// The names of the project's prompts at the working tree: what tells a record of an
    /// unknown prompt from a record of another prompt.
    pub(crate) fn prompt_names(&self) -> Result<std::collections::HashSet<String>> {
        Ok(self
            .store
            .prompt_names(crate::store::WORKTREE)?
            .into_iter()
            .map(|n| n.as_str().to_string())
            .collect())
    }
}
