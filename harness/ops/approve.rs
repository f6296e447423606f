//! `approve`: an approval of a prompt version's exact content, recorded in git.

use std::path::Path;

use crate::errors::Result;
use crate::ids::PromptName;
use crate::pipeline::prepare::Prepared;
use crate::pipeline::project::Project;
use crate::release::labels::identity;
use crate::store::Approval;

/// Records an approval by `id` of `spec` (`NAME@REV`, REV default HEAD), bound to that
/// version's content hash.
pub fn approve(root: &Path, spec: &str, id: &str, note: Option<String>) -> Result<Approval> {
    let project = Project::open(root)?;
    let (name, rev) = spec.split_once('@').unwrap_or((spec, "HEAD"));
    let name = PromptName::new(name);
    let content = Prepared::effective_hash(&project, &name, rev)?;
    let signature = project.store.signature()?;
    let approval = Approval {
        // `Bob` and `bob` are one approver.
        id: id.to_lowercase(),
        prompt: name.to_string(),
        rev: rev.to_string(),
        content: content.as_str().to_string(),
        recorded_by: identity(&signature),
        at: chrono::Utc::now().to_rfc3339(),
        note,
    };
    project.store.approve(&content, &approval)?;
    Ok(approval)
}
