//! `show`: a prompt version rendered to the messages it sends, with a case's variables or its
//! defaults.

use std::path::Path;

use crate::artifact::{Message, RenderData};
use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::pipeline::prepare::{Prepared, render_case};
use crate::pipeline::project::Project;
use crate::store::WORKTREE;

/// What `show` renders.
#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    /// `NAME` or `NAME@REV`.
    pub prompt: String,
    /// `SUITE:CASE` to render with that case's variables; otherwise the prompt's defaults, with
    /// `⟨name⟩` for each declared variable that has none.
    pub case: Option<String>,
}

/// Renders a prompt version to messages.
pub fn show(root: &Path, options: &ShowOptions) -> Result<Vec<Message>> {
    let project = Project::open(root)?;
    let (name, rev) = match options.prompt.split_once('@') {
        Some((n, r)) => (PromptName::new(n), r.to_string()),
        None => (PromptName::new(&options.prompt), WORKTREE.to_string()),
    };
    let prepared = Prepared::load(&project, &name, &rev)?;
    let Some(spec) = &options.case else {
        // Without a case, declared variables show as placeholders, never silently empty.
        let data = RenderData {
            input: prepared.inputs.placeholders(),
            ..RenderData::default()
        };
        return prepared
            .template
            .render(&data)
            .map_err(|e| Error::Usage(format!("cannot render {}: {e}", prepared.version.label())));
    };
    let (suite_name, case_id) = spec
        .split_once(':')
        .ok_or_else(|| Error::Usage(format!("`--case {spec}`: expected SUITE:CASE_ID")))?;
    let suite = project
        .suites
        .iter()
        .find(|s| s.name == suite_name)
        .ok_or_else(|| Error::Usage(format!("unknown suite `{suite_name}`")))?;
    let case = suite
        .cases
        .iter()
        .find(|c| c.id == case_id)
        .ok_or_else(|| Error::Usage(format!("suite `{suite_name}` has no case `{case_id}`")))?;
    render_case(suite, case, &prepared)
}
