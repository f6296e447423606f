//! The only code that touches git: resolving `NAME@REV` to content, listing prompts and versions.
//!
//! A revision is the working tree (`worktree`, the default candidate), the index (`staged`, what
//! the next commit holds), a label (`refs/prompts/NAME@LABEL`, e.g. `production`), or anything
//! `git rev-parse` understands (commits, branches, tags, `HEAD~2`). Releases (version tags, label
//! history, approvals) are in [`release`].

mod release;

pub(crate) use release::{Approval, LabelMove, LabelTarget, Promoted, fetch_command};
pub use release::{Baseline, LabelEvent, Measures, ReleaseAction};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Repository, Sort, Tree};
use serde::{Deserialize, Serialize};

use crate::errors::{Error, Result};
use crate::ids::{ContentHash, PromptName};

/// The revision name for uncommitted files.
pub(crate) const WORKTREE: &str = "worktree";

/// The revision name for the index: the files staged for the next commit.
pub(crate) const STAGED: &str = "staged";

/// Where prompt files live, relative to the project root.
pub(crate) const PROMPTS_DIR: &str = "prompts";

/// A prompt's content at one revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    /// The prompt.
    pub name: PromptName,
    /// The revision as the user named it (`worktree`, `HEAD`, `production`, a sha...).
    pub rev: String,
    /// The commit the revision resolved to; `None` for the working tree.
    pub commit: Option<String>,
    /// The file's text.
    pub source: String,
    /// SHA-256 of the file's text.
    pub hash: ContentHash,
    /// The definitions of the tools the prompt names (`tools/NAME.yaml`) at the revision, by
    /// name: part of the version, so reports show their changes with the prompt's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, String>,
}

impl Version {
    /// `name@rev`, for display.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.rev)
    }

    /// The prompt's text followed by each tool definition it names, under a `# tools/NAME.yaml`
    /// line: what a reviewer reads and diffs as the version.
    pub fn text_with_tools(&self) -> String {
        let mut text = self.source.clone();
        for (name, definition) in &self.tools {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "# {}\n{definition}",
                crate::artifact::tool_path(name)
            ));
        }
        text
    }
}

/// One commit that changed a prompt, as listed by `promptgate log`.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Full commit id.
    pub commit: String,
    /// Commit time, RFC 3339.
    pub date: String,
    /// Author name and email.
    pub author: String,
    /// Hash of the prompt's content at this commit.
    pub hash: ContentHash,
    /// First line of the commit message.
    pub subject: String,
}

/// A resolved revision: the working tree or a commit's tree.
enum Resolved<'r> {
    Worktree,
    Staged(git2::Index),
    Commit(git2::Commit<'r>),
}

/// The project's git repository. The project may be a folder of it (a monorepo): paths in
/// git are then under that folder, and release refs are named with it.
pub struct Store {
    repo: Repository,
    root: PathBuf,
    /// The project folder in the repository, `""` at its root, else ending in `/`.
    prefix: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("root", &self.root).finish()
    }
}

impl Store {
    /// Opens the repository that holds the project at `root` (its work tree, or a folder of
    /// it).
    pub fn open(root: &Path) -> Result<Self> {
        let repo = Repository::discover(root).map_err(|e| {
            Error::Usage(format!(
                "{} is not in a git repository ({}); promptgate versions prompts with git: run `git init` (or `promptgate init`) there",
                root.display(),
                e.message()
            ))
        })?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| {
                Error::Usage("the repository is bare; promptgate needs a work tree".into())
            })?
            .to_path_buf();
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let (workdir, root) = (canonical(&workdir), canonical(root));
        let inside = root.strip_prefix(&workdir).map_err(|_| {
            Error::Internal(format!(
                "{} is not under its repository's work tree {}",
                root.display(),
                workdir.display()
            ))
        })?;
        let prefix: String = inside
            .components()
            .map(|c| format!("{}/", c.as_os_str().to_string_lossy()))
            .collect();
        Ok(Self { repo, root, prefix })
    }

    /// The repository's work tree (the project root, or a folder above it).
    pub fn workdir(&self) -> &Path {
        self.repo.workdir().unwrap_or(&self.root)
    }

    /// The project folder in the repository: `""` at its root, else ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `path` (relative to the project root) as git names it.
    pub(crate) fn git_path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// `name` as release refs carry it: with the project folder, so two projects of one
    /// repository keep their releases apart.
    fn ref_name(&self, name: &PromptName) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Reads `staged` content from the index file at `path` instead of the repository's own
    /// (git points hooks at a temporary index with `GIT_INDEX_FILE`, e.g. for `commit -a`).
    pub fn use_index_file(&self, path: &Path) -> Result<()> {
        // Git gives hooks this path relative to the work tree, where they run.
        let path = match self.repo.workdir() {
            Some(workdir) if !path.is_absolute() => workdir.join(path),
            _ => path.to_path_buf(),
        };
        let mut index = git2::Index::open(&path)?;
        self.repo.set_index(&mut index)?;
        Ok(())
    }

    /// The project root (the repository's work tree).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The label ref for a prompt: `refs/prompts/NAME@LABEL` (NAME after the project folder).
    pub fn label_ref(&self, name: &PromptName, label: &str) -> String {
        format!("refs/prompts/{}@{label}", self.ref_name(name))
    }

    /// Refuses a label git cannot carry (its ref would be ignored or never pushed) or one that
    /// would shadow a git revision (`HEAD`, a branch, a tag, a commit): labels are plain names
    /// of letters, digits, `.`, `_` and `-`.
    pub fn check_label(&self, label: &str) -> Result<()> {
        let plain = !label.is_empty()
            && label.len() <= 64
            && !label.starts_with(['.', '-'])
            && !label.ends_with(".lock")
            && !label.contains("..")
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !plain {
            return Err(Error::Usage(format!(
                "`{}` cannot be a label: use letters, digits, `.`, `_` and `-` (not first), as in `production`",
                label.escape_debug()
            )));
        }
        let reserved = [WORKTREE, STAGED, "HEAD"].contains(&label);
        if reserved || self.repo.revparse_single(label).is_ok() {
            return Err(Error::Usage(format!(
                "`{label}` cannot be a label: it already names a git revision (a branch, tag or commit), which the label would shadow; choose another name"
            )));
        }
        Ok(())
    }

    /// Whether `name` has the given label.
    pub fn has_label(&self, name: &PromptName, label: &str) -> bool {
        self.repo
            .find_reference(&self.label_ref(name, label))
            .is_ok()
    }

    fn resolve(&self, name: Option<&PromptName>, rev: &str) -> Result<Resolved<'_>> {
        if rev == WORKTREE {
            return Ok(Resolved::Worktree);
        }
        if rev == STAGED {
            return Ok(Resolved::Staged(self.repo.index()?));
        }
        // A label never shadows HEAD, whatever refs a repository carries.
        if let Some(name) = name.filter(|_| rev != "HEAD") {
            let label = self.label_ref(name, rev);
            if let Ok(reference) = self.repo.find_reference(&label) {
                let commit = reference.peel_to_commit().map_err(|_| Error::Revision {
                    rev: rev.to_string(),
                    message: format!(
                        "is a label whose ref {label} points at something other than a commit; promptgate never writes such a ref: delete it with `git update-ref -d {label}`"
                    ),
                })?;
                return Ok(Resolved::Commit(commit));
            }
        }
        let object = self.repo.revparse_single(rev).map_err(|e| Error::Revision {
            rev: rev.to_string(),
            message: match e.code() {
                git2::ErrorCode::NotFound if rev == "HEAD" => {
                    "does not exist: the repository has no commits yet (commit the prompts, or pass --baseline)".into()
                }
                git2::ErrorCode::NotFound => {
                    "does not exist (expected a commit, branch, tag, label such as `production`, or `worktree`)".into()
                }
                _ => format!("is not valid: {}", e.message()),
            },
        })?;
        let commit = object.peel_to_commit().map_err(|_| Error::Revision {
            rev: rev.to_string(),
            message: format!(
                "names a {} rather than a commit",
                object.kind().map_or("object", |k| k.str())
            ),
        })?;
        Ok(Resolved::Commit(commit))
    }

    /// Reads the file at `path` (relative to the root) at `rev`; `Ok(None)` if it is absent there.
    pub fn read_at(
        &self,
        rev: &str,
        path: &str,
        name: Option<&PromptName>,
    ) -> Result<Option<String>> {
        match self.resolve(name, rev)? {
            Resolved::Worktree => crate::files::read_confined(&self.root, Path::new(path)),
            Resolved::Staged(index) => self.read_index(&index, path),
            Resolved::Commit(commit) => self.read_tree(&commit.tree()?, path),
        }
    }

    fn read_index(&self, index: &git2::Index, path: &str) -> Result<Option<String>> {
        let Some(entry) = index.get_path(Path::new(&self.git_path(path)), 0) else {
            return Ok(None);
        };
        regular_file(path, entry.mode)?;
        let blob = self.repo.find_blob(entry.id)?;
        Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
    }

    fn read_tree(&self, tree: &Tree<'_>, path: &str) -> Result<Option<String>> {
        let entry = match tree.get_path(Path::new(&self.git_path(path))) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        regular_file(path, entry.filemode() as u32)?;
        let blob = entry.to_object(&self.repo)?.peel_to_blob()?;
        Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
    }

    /// Whether the repository has a commit yet.
    pub fn has_commits(&self) -> bool {
        self.repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .is_some()
    }

    /// The commit `rev` resolves to, or `None` for the working tree.
    pub fn commit_id(&self, rev: &str, name: Option<&PromptName>) -> Result<Option<String>> {
        Ok(match self.resolve(name, rev)? {
            Resolved::Worktree | Resolved::Staged(_) => None,
            Resolved::Commit(c) => Some(c.id().to_string()),
        })
    }

    /// The prompt `name` at `rev`.
    pub fn version(&self, name: &PromptName, rev: &str) -> Result<Version> {
        if !ref_safe(name.as_str()) {
            return Err(Error::Usage(format!(
                "`{}` is not a prompt name: names are paths under prompts/ of letters, digits, `.`, `_`, `-` and `/`",
                name.as_str().escape_debug()
            )));
        }
        let resolved = self.resolve(Some(name), rev)?;
        let path = name.path();
        let (source, commit) = match &resolved {
            Resolved::Worktree => (
                crate::files::read_confined(&self.root, Path::new(&path))?,
                None,
            ),
            Resolved::Staged(index) => (self.read_index(index, &path)?, None),
            Resolved::Commit(c) => (self.read_tree(&c.tree()?, &path)?, Some(c.id().to_string())),
        };
        let source = source.ok_or_else(|| {
            let known = self.prompt_names(rev).unwrap_or_default();
            let mut close: Vec<&str> = known
                .iter()
                .map(PromptName::as_str)
                .filter(|k| {
                    k.contains(name.as_str())
                        || name.as_str().contains(k.rsplit('/').next().unwrap_or(k))
                })
                .collect();
            if close.is_empty() {
                close.extend(crate::errors::suggest(
                    name.as_str(),
                    known.iter().map(PromptName::as_str),
                ));
            }
            Error::UnknownPrompt {
                name: name.to_string(),
                rev: rev.to_string(),
                path: path.clone(),
                hint: (!close.is_empty()).then(|| format!("did you mean {}?", close.join(", "))),
            }
        })?;
        Ok(Version {
            name: name.clone(),
            rev: rev.to_string(),
            commit,
            hash: ContentHash::of(&source),
            tools: Default::default(),
            source,
        })
    }

    /// Every prompt (partials excluded) present at `rev`, sorted.
    pub fn prompt_names(&self, rev: &str) -> Result<Vec<PromptName>> {
        let mut files = Vec::new();
        match self.resolve(None, rev)? {
            Resolved::Worktree => walk_dir(&self.root.join(PROMPTS_DIR), "", &mut files),
            Resolved::Staged(index) => {
                let prefix = self.git_path(&format!("{PROMPTS_DIR}/"));
                files.extend(index.iter().filter_map(|entry| {
                    let path = String::from_utf8_lossy(&entry.path).into_owned();
                    path.strip_prefix(&prefix).map(str::to_string)
                }));
            }
            Resolved::Commit(commit) => {
                let tree = commit.tree()?;
                if let Ok(entry) = tree.get_path(Path::new(&self.git_path(PROMPTS_DIR))) {
                    let sub = entry.to_object(&self.repo)?.peel_to_tree()?;
                    sub.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                        if entry.kind() == Some(ObjectType::Blob) {
                            if let Ok(n) = entry.name() {
                                files.push(format!("{dir}{n}"));
                            }
                        }
                        git2::TreeWalkResult::Ok
                    })?;
                }
            }
        }
        let mut names: Vec<PromptName> = files
            .iter()
            .filter(|f| f.ends_with(".prompt"))
            .map(PromptName::new)
            .filter(|n| !n.is_partial())
            .collect();
        if let Some(bad) = names.iter().find(|n| !ref_safe(n.as_str())) {
            return Err(Error::invalid_with_hint(
                crate::errors::Location::new(bad.path(), 0, 0),
                format!(
                    "`{}` cannot name a prompt: its release refs would be ones git ignores",
                    bad.as_str().escape_debug()
                ),
                "rename the file with letters, digits, `.`, `_`, `-` and `/` only",
            ));
        }
        names.sort();
        Ok(names)
    }

    /// The commits that changed `name`'s file, newest first, walking back from HEAD.
    pub fn log(&self, name: &PromptName) -> Result<Vec<LogEntry>> {
        let path = self.git_path(&name.path());
        let mut walk = self.repo.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
        if walk.push_head().is_err() {
            return Ok(Vec::new());
        }
        let blob_at = |tree: &Tree<'_>| tree.get_path(Path::new(&path)).ok().map(|e| e.id());
        let mut entries = Vec::new();
        for oid in walk {
            let commit = self.repo.find_commit(oid?)?;
            let Some(blob) = blob_at(&commit.tree()?) else {
                continue;
            };
            let changed = commit.parent_count() == 0
                || commit
                    .parents()
                    .all(|p| p.tree().ok().and_then(|t| blob_at(&t)) != Some(blob));
            if !changed {
                continue;
            }
            let content = self.repo.find_blob(blob)?;
            let author = commit.author();
            entries.push(LogEntry {
                commit: commit.id().to_string(),
                date: commit_date(commit.time()),
                author: format!(
                    "{} <{}>",
                    author.name().unwrap_or("?"),
                    author.email().unwrap_or("?")
                ),
                hash: ContentHash::of(content.content()),
                subject: commit
                    .summary()
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        Ok(entries)
    }

    /// The files under `dir` (a path relative to the project root) that git tracks: in the
    /// index, so committed or staged. Paths are the repository's.
    pub fn tracked_under(&self, dir: &str) -> Result<Vec<String>> {
        let prefix = self.git_path(&format!("{}/", dir.trim_end_matches('/')));
        let index = self.repo.index()?;
        Ok(index
            .iter()
            .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
            .filter(|path| path.starts_with(&prefix))
            .collect())
    }

    /// Whether git tracks the file at `path` (absolute, or relative to the current folder):
    /// one a commit can write. An error when git's index cannot be read to tell.
    pub fn is_tracked(&self, path: &Path) -> Result<bool> {
        let (Ok(file), Ok(workdir)) = (
            std::fs::canonicalize(path),
            std::fs::canonicalize(self.workdir()),
        ) else {
            return Ok(false);
        };
        let Ok(relative) = file.strip_prefix(&workdir) else {
            return Ok(false);
        };
        Ok(self.repo.index()?.get_path(relative, 0).is_some())
    }

    /// The paths (relative to the project root) staged for the next commit that differ from
    /// HEAD.
    pub fn staged_paths(&self) -> Result<Vec<String>> {
        let head = self.repo.head().ok().and_then(|h| h.peel_to_tree().ok());
        let index = self.repo.index()?;
        let diff = self
            .repo
            .diff_tree_to_index(head.as_ref(), Some(&index), None)?;
        Ok(diff
            .deltas()
            .filter_map(|d| d.new_file().path().or(d.old_file().path()))
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .filter_map(|p| p.strip_prefix(&self.prefix).map(str::to_string))
            .collect())
    }

    /// The partial sources a prompt needs at `rev`, found by following `{{> name}}` references
    /// transitively. A partial named `a/b` lives in `prompts/a/_b.prompt`. Missing partials are
    /// left out; compiling the template reports them by name.
    pub fn partials(&self, template: &str, rev: &str) -> Result<BTreeMap<String, String>> {
        let mut found = BTreeMap::new();
        let mut pending = crate::artifact::partial_references(template);
        while let Some(name) = pending.pop() {
            if found.contains_key(&name) {
                continue;
            }
            // A partial is a file under prompts/: its name cannot climb out of it.
            if name.starts_with('/') || name.split('/').any(|part| matches!(part, "" | "." | ".."))
            {
                return Err(Error::Usage(format!(
                    "partial `{name}` is not a name under {PROMPTS_DIR}/: partial names cannot start with `/` or contain `.` or `..` parts"
                )));
            }
            let Some(source) = self.read_at(rev, &partial_path(&name), None)? else {
                continue;
            };
            let body = crate::artifact::body_of(&source).to_string();
            pending.extend(crate::artifact::partial_references(&body));
            found.insert(name, body);
        }
        Ok(found)
    }
}

impl Store {
    /// The definition files of tools `names` at `rev` (`None` for a tool with no file).
    pub(crate) fn tool_sources(
        &self,
        names: &[String],
        rev: &str,
    ) -> Result<BTreeMap<String, Option<String>>> {
        names
            .iter()
            .map(|name| {
                let source = self.read_at(rev, &crate::artifact::tool_path(name), None)?;
                Ok((name.clone(), source))
            })
            .collect()
    }
}

/// The file that holds partial `name`.
pub(crate) fn partial_path(name: &str) -> String {
    match name.rsplit_once('/') {
        Some((dir, leaf)) => format!("{PROMPTS_DIR}/{dir}/_{leaf}.prompt"),
        None => format!("{PROMPTS_DIR}/_{name}.prompt"),
    }
}

/// A commit time as RFC 3339 in the committer's own offset.
fn commit_date(time: git2::Time) -> String {
    let offset = chrono::FixedOffset::east_opt(time.offset_minutes() * 60)
        .unwrap_or(chrono::FixedOffset::east_opt(0).expect("zero is a valid offset"));
    chrono::DateTime::from_timestamp(time.seconds(), 0)
        .map(|d| d.with_timezone(&offset).to_rfc3339())
        .unwrap_or_default()
}

fn walk_dir(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            walk_dir(&path, &format!("{prefix}{name}/"), out);
        } else {
            out.push(format!("{prefix}{name}"));
        }
    }
}

/// Whether a prompt name can be part of a ref git carries and pushes: `/`-separated parts of
/// letters, digits, `.`, `_` and `-`, none empty, starting with a dot, or ending in `.lock`.
fn ref_safe(name: &str) -> bool {
    name.split('/').all(|part| {
        !part.is_empty()
            && !part.starts_with('.')
            && !part.ends_with(".lock")
            && !part.contains("..")
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    })
}

/// Refuses a git entry at `path` that is not a regular file, as the working tree does: a
/// symlink (its target would be read as the prompt), a submodule or a directory.
fn regular_file(path: &str, mode: u32) -> Result<()> {
    let kind = match mode & 0o170000 {
        0o100000 => return Ok(()),
        0o120000 => "a symlink",
        0o160000 => "a submodule",
        _ => "a directory",
    };
    Err(Error::Usage(format!(
        "`{path}` is {kind} in git: promptgate reads only regular files inside the project"
    )))
}
