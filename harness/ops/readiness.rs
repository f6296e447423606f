//! `readiness`: how ready each prompt is for production, scored on its facts.

use std::path::Path;

use crate::errors::Result;
use crate::ids::PromptName;
use crate::pipeline::prepare::Prepared;
use crate::pipeline::project::Project;
use crate::readiness::Assessment;
use crate::release::facts::{assess_one, ci_files};
use crate::release::shadow_runs::shadow_runs;

/// Scores `names` at the working tree; with no name, every prompt that is neither a variant
/// nor a judge.
pub fn readiness(root: &Path, names: &[String]) -> Result<Vec<Assessment>> {
    let project = Project::open(root)?;
    let every = names.is_empty();
    let names: Vec<PromptName> = if every {
        project
            .store
            .prompt_names(crate::store::WORKTREE)?
            .into_iter()
            .filter(|n| n.variant().is_none())
            .collect()
    } else {
        names.iter().map(PromptName::new).collect()
    };
    let ci = ci_files(&project.root);
    let shadow_runs = shadow_runs(&project);
    let mut assessments = Vec::new();
    for name in &names {
        let prepared = Prepared::load(&project, name, crate::store::WORKTREE)?;
        if every && prepared.prompt.metadata.governance.judge.is_some() {
            continue;
        }
        assessments.push(assess_one(&project, &prepared, &ci, &shadow_runs)?);
    }
    Ok(assessments)
}
