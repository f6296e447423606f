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
    /// The providers a check in CI must not run with the job's secrets: those the change
    /// under check added or changed (see [`Project::trust_baseline`]).
    pub(crate) distrusted: std::collections::BTreeSet<String>,
    /// The baseline revision of the check, when it names a commit: what calibrations are
    /// trusted from (set with [`Project::trust_baseline`]).
    pub(crate) trusted_rev: Option<String>,
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
            distrusted: Default::default(),
            trusted_rev: None,
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
    /// The config at the revision `rev` when that is a commit (the maintainers' side of a
    /// check), `None` when it is not one.
    fn config_at(&self, rev: &str) -> Result<Option<crate::config::Config>> {
        let file = crate::config::CONFIG_FILE;
        let Ok(text) = self.store.read_at(rev, file, None) else {
            return Ok(None);
        };
        let Some(text) = text else {
            return Ok(Some(crate::config::Config::default()));
        };
        crate::config::Config::parse(std::path::Path::new(file), &text)
            .map(Some)
            .map_err(|e| {
                crate::errors::Error::Usage(format!(
                    "the config at the baseline {rev}, which the check trusts, is invalid: {e}"
                ))
            })
    }

    /// Takes the check's baseline revision `rev`, when it is a commit, as the maintainers'
    /// side of the check: the shared-cache setting is the baseline config's (a pull request
    /// cannot point the shared cache at entries it wrote, or turn its read-only mode off),
    /// calibrations are read from it, and in CI (`CI` set in `env`, as every CI engine sets
    /// it) the providers whose definition differs from the baseline config's (or that it
    /// lacks) are distrusted: a pull request wrote them, and what it wrote does not get the
    /// job's secrets, unless the baseline's config says `trust_changed_providers: true`. A
    /// label's baseline is per prompt (`promote`, which runs on the maintainers' branch): the
    /// working tree's config stands.
    pub(crate) fn trust_baseline(&mut self, rev: Option<&str>, env: &Env) -> Result<()> {
        let Some(rev) = rev else {
            return Ok(());
        };
        let Some(baseline) = self.config_at(rev)? else {
            return Ok(());
        };
        self.trusted_rev = Some(rev.to_string());
        self.config.cache = baseline.cache.clone();
        let in_ci = env
            .get("CI")
            .is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"));
        if !in_ci || baseline.trust_changed_providers {
            return Ok(());
        }
        self.distrusted = self
            .config
            .providers
            .iter()
            .filter(|(name, config)| {
                baseline.providers.get(*name).map(|b| format!("{b:?}"))
                    != Some(format!("{config:?}"))
            })
            .map(|(name, _)| name.clone())
            .collect();
        Ok(())
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

/// What to tell a user whose clone of `store` has fetched no release refs
/// ([`crate::store::Store::unfetched_release_refs`]): every label reads as missing until they
/// are fetched.
pub(crate) fn unfetched_releases(store: &crate::store::Store) -> Option<String> {
    let remote = store.unfetched_release_refs()?;
    Some(format!(
        "warning: this clone has fetched no release refs from `{remote}` (git clone does not fetch refs/prompts/*), so every prompt reads as never promoted and a check compares with HEAD; if the project has releases, fetch them: {}",
        crate::store::fetch_command(&remote)
    ))
}

/// The project a command run in `start` works on, found as git and cargo find theirs: the
/// nearest folder upward with a `promptgate.yaml`, not past the root of the git repository.
/// None is an error naming the projects below `start` (a monorepo's root), so a command never
/// reports "nothing to check" where there is no project.
pub fn find_project(start: &Path) -> Result<PathBuf> {
    for dir in start.ancestors() {
        if dir.join(crate::config::CONFIG_FILE).is_file() {
            return Ok(dir.to_path_buf());
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    Err(no_project(start, " there or in a folder above it"))
}

/// `root` (a `--root` the user gave) when a project is there: a folder with a
/// `promptgate.yaml`; else the error [`find_project`] gives.
pub fn project_at(root: &Path) -> Result<PathBuf> {
    match root.join(crate::config::CONFIG_FILE).is_file() {
        true => Ok(root.to_path_buf()),
        false => Err(no_project(root, " there")),
    }
}

/// How many folders below a directory are looked through for projects, and how deep.
const SEARCHED: (usize, usize) = (5_000, 6);

fn no_project(start: &Path, looked: &str) -> crate::errors::Error {
    let found = projects_below(start);
    let hint = match found.as_slice() {
        [] => "run `promptgate init` to make one here".to_string(),
        found => {
            let listed: Vec<String> = found
                .iter()
                .map(|p| format!("{p}: use --root {p}"))
                .collect();
            format!(
                "the projects below are {}; or run `promptgate init` to make one here",
                listed.join("; ")
            )
        }
    };
    crate::errors::Error::Usage(format!(
        "no promptgate project in {}: no {}{looked}; {hint}",
        start.display(),
        crate::config::CONFIG_FILE
    ))
}

/// The folders below `start` (relative, sorted) holding a `promptgate.yaml`, skipping hidden
/// folders and the usual build and dependency folders.
fn projects_below(start: &Path) -> Vec<String> {
    let (mut budget, depth) = SEARCHED;
    let mut found = Vec::new();
    let mut stack = vec![(start.to_path_buf(), 0)];
    while let Some((dir, level)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let skipped = name.starts_with('.')
                || ["node_modules", "target", "reports", "vendor"].contains(&name.as_ref());
            if skipped || !entry.file_type().is_ok_and(|t| t.is_dir()) || budget == 0 {
                continue;
            }
            budget -= 1;
            let path = entry.path();
            if path.join(crate::config::CONFIG_FILE).is_file() {
                let relative = path.strip_prefix(start).unwrap_or(&path);
                found.push(relative.display().to_string());
            } else if level + 1 < depth {
                stack.push((path, level + 1));
            }
        }
    }
    found.sort();
    found
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
