//! The pre-commit gate: `hook install` writes the hook, and `hook run` checks the prompts a
//! commit stages.

use std::path::{Path, PathBuf};

use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::pipeline::request::{CallOptions, CheckOptions};
use crate::store::{STAGED, Store};

/// The first line of every hook promptgate writes, so it knows its own.
const HOOK_MARK: &str = "# promptgate pre-commit hook";

/// Installs the pre-commit hook that gates staged prompts with `promptgate hook run`, calling
/// `binary` (or `promptgate` on the PATH when that file is gone). A hook promptgate did not write
/// is kept unless `force`. Returns the hook's path.
pub fn install_hook(root: &Path, binary: &Path, force: bool) -> Result<PathBuf> {
    let repo = git2::Repository::discover(root).map_err(|_| {
        Error::Usage(format!(
            "{} is not in a git repository; run `git init` (or `promptgate init`) first",
            root.display()
        ))
    })?;
    let hooks = match repo.config()?.get_path("core.hooksPath") {
        Ok(dir) if dir.is_absolute() => dir,
        Ok(dir) => repo.workdir().unwrap_or(root).join(dir),
        Err(_) => repo.path().join("hooks"),
    };
    let path = hooks.join("pre-commit");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.contains(HOOK_MARK) && !force {
            return Err(Error::Usage(format!(
                "{} exists and was not written by promptgate; pass --force to replace it, or call `promptgate hook run` from it",
                path.display()
            )));
        }
    }
    let quote = |text: &str| text.replace('\'', r"'\''");
    let binary = quote(&binary.display().to_string());
    // Git runs hooks at the repository root; a project in a folder is named.
    let prefix = Store::open(root)?
        .prefix()
        .trim_end_matches('/')
        .to_string();
    let project = if prefix.is_empty() {
        String::new()
    } else {
        format!(" --root '{}'", quote(&prefix))
    };
    let script = format!(
        "#!/bin/sh\n{HOOK_MARK} (installed by `promptgate hook install`): gates the prompts\n\
         # staged for this commit, and blocks the commit when the gate fails.\n\
         # Skip it once with `git commit --no-verify`.\n\
         promptgate='{binary}'\n\
         [ -x \"$promptgate\" ] || promptgate=promptgate\n\
         exec \"$promptgate\"{project} hook run\n"
    );
    std::fs::create_dir_all(&hooks).map_err(|e| Error::io("create directory", &hooks, e))?;
    crate::files::write_atomic(&path, script.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io("make executable", &path, e))?;
    }
    Ok(path)
}

/// What the pre-commit hook gates.
#[derive(Debug, Clone)]
pub enum HookGate {
    /// The commit changes no prompt.
    Nothing,
    /// The repository's first commit: there is no baseline to compare with.
    FirstCommit,
    /// Check the staged prompts against HEAD with these options (the calls' environment is the
    /// caller's to add).
    Check(Box<CheckOptions>),
}

/// What `hook run` gates for the commit being made, whose index is `index_file` (git's
/// `GIT_INDEX_FILE`; default the repository's).
pub fn hook_gate(root: &Path, index_file: Option<PathBuf>) -> Result<HookGate> {
    let staged = staged_prompts(root, index_file.as_deref())?;
    if staged.names.is_empty() && !staged.deletes {
        return Ok(HookGate::Nothing);
    }
    if staged.first_commit {
        return Ok(HookGate::FirstCommit);
    }
    Ok(HookGate::Check(Box::new(CheckOptions {
        // A deletion is checked like any change: with no names, `check` sees it.
        prompts: if staged.deletes {
            Vec::new()
        } else {
            staged.names
        },
        index_file,
        candidates: vec![STAGED.into()],
        calls: CallOptions {
            handle_interrupts: true,
            ..CallOptions::default()
        },
        ..CheckOptions::default()
    })))
}

/// The prompts staged for the next commit in the index `index_file` (git's own for `git commit
/// -a` and `git commit PATH`; else the repository's): changed prompt files, or every staged
/// prompt when a partial changed.
fn staged_prompts(root: &Path, index_file: Option<&Path>) -> Result<StagedPrompts> {
    let store = Store::open(root)?;
    if let Some(index) = index_file {
        store.use_index_file(index)?;
    }
    let paths = store.staged_paths()?;
    let prefix = format!("{}/", crate::store::PROMPTS_DIR);
    let changed: Vec<PromptName> = paths
        .iter()
        .filter_map(|p| p.strip_prefix(&prefix))
        .filter(|p| p.ends_with(".prompt"))
        .map(PromptName::new)
        .collect();
    let staged = store.prompt_names(STAGED)?;
    let deletes = changed
        .iter()
        .any(|n| !n.is_partial() && !staged.contains(n));
    let names = if changed.iter().any(PromptName::is_partial) {
        staged
    } else {
        // A staged deletion has nothing left to render; `deletes` has it checked.
        changed.into_iter().filter(|n| staged.contains(n)).collect()
    };
    Ok(StagedPrompts {
        first_commit: !store.has_commits(),
        names: names
            .into_iter()
            .filter(|n| !n.is_partial())
            .map(|n| n.to_string())
            .collect(),
        deletes,
    })
}

/// The prompts a commit changes, for the pre-commit hook.
#[derive(Debug, Clone, Default)]
struct StagedPrompts {
    /// Prompts staged with new content (every prompt when a partial changed).
    names: Vec<String>,
    /// Whether the commit deletes a prompt.
    deletes: bool,
    /// Whether it is the repository's first commit, so there is no baseline to compare with.
    first_commit: bool,
}
