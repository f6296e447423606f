//! `status`: every prompt with the versions its labels serve, and what differs from them.

use std::path::Path;

use serde::Serialize;

use crate::errors::Result;
use crate::ids::PromptName;
use crate::pipeline::prepare::Prepared;
use crate::pipeline::project::Project;
use crate::release::labels::current_version;
use crate::store::WORKTREE;

/// One prompt's labels against HEAD and the working tree.
#[derive(Debug, Clone, Serialize)]
pub struct PromptStatus {
    /// The prompt.
    pub prompt: String,
    /// Each label with its version and whether HEAD and the working tree hold other content.
    pub labels: Vec<LabelStatus>,
    /// HEAD's content differs from the working tree's.
    pub uncommitted: bool,
}

/// One label of a prompt.
#[derive(Debug, Clone, Serialize)]
pub struct LabelStatus {
    /// The label.
    pub label: String,
    /// The promoted version it serves, if it points at one.
    pub version: Option<u32>,
    /// HEAD holds other content than the label.
    pub head_differs: bool,
    /// The working tree holds other content than the label.
    pub worktree_differs: bool,
}

/// `promptgate status`: every prompt with its label versions and what differs from them.
pub fn status(root: &Path) -> Result<Vec<PromptStatus>> {
    let project = Project::open(root)?;
    let store = &project.store;
    let mut names = store.prompt_names(WORKTREE)?;
    if let Ok(head) = store.prompt_names("HEAD") {
        names.extend(head);
    }
    names.sort();
    names.dedup();
    let hash_at = |name: &PromptName, rev: &str| Prepared::effective_hash(&project, name, rev).ok();
    names
        .iter()
        .map(|name| {
            let head = hash_at(name, "HEAD");
            let worktree = hash_at(name, WORKTREE);
            let promoted = store.promoted(name)?;
            let labels = store
                .labels(name)?
                .into_iter()
                .map(|label| {
                    let at_label = hash_at(name, &label);
                    LabelStatus {
                        version: current_version(store, name, &label, &promoted).map(|p| p.version),
                        head_differs: head != at_label,
                        worktree_differs: worktree != at_label,
                        label,
                    }
                })
                .collect();
            Ok(PromptStatus {
                prompt: name.to_string(),
                labels,
                uncommitted: head != worktree,
            })
        })
        .collect()
}

/// The warning for a clone that has fetched no release refs, when `root`'s is one: `status`
/// and `log` say it before reading every prompt as never promoted.
pub fn unfetched_releases(root: &Path) -> Option<String> {
    let store = crate::store::Store::open(root).ok()?;
    crate::pipeline::project::unfetched_releases(&store)
}
