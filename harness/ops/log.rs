//! `log`: a prompt's audit trail, from its version tags and its labels' histories.

use std::path::Path;

use serde::Serialize;

use crate::errors::Result;
use crate::ids::PromptName;
use crate::release::labels::current_version;
use crate::store::{LabelEvent, Promoted, Store, WORKTREE};

/// A prompt's release history: versions, labels, every label move and the commits.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The prompt.
    pub prompt: String,
    /// Each label and the version it serves (`None`: not a promoted version).
    pub labels: Vec<(String, Option<u32>)>,
    /// Promoted versions, oldest first.
    pub versions: Vec<Promoted>,
    /// Every move of every label, oldest first.
    pub moves: Vec<LabelEvent>,
    /// The commits that changed the prompt, newest first.
    pub commits: Vec<crate::store::LogEntry>,
}

/// `promptgate log NAME`: the audit trail from the tags and the labels' histories.
pub fn history(root: &Path, name: &str) -> Result<History> {
    let store = Store::open(root)?;
    let name = PromptName::new(name);
    let commits = store.log(&name)?;
    let versions = store.promoted(&name)?;
    let labels = store.labels(&name)?;
    if commits.is_empty() && versions.is_empty() {
        store.version(&name, WORKTREE)?;
    }
    let mut moves = Vec::new();
    for label in &labels {
        moves.extend(store.history(&name, label)?);
    }
    moves.sort_by(|a, b| a.at.cmp(&b.at));
    let labels = labels
        .into_iter()
        .map(|label| {
            let version = current_version(&store, &name, &label, &versions).map(|p| p.version);
            (label, version)
        })
        .collect();
    Ok(History {
        prompt: name.to_string(),
        labels,
        versions,
        moves,
        commits,
    })
}
