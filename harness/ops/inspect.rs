//! Commands that read without calling a provider: `validate`, `log`, `show`.

use std::path::Path;

use super::Project;
use super::plan::Prepared;
use crate::artifact::{Message, RenderData};
use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::store::WORKTREE;

/// What `validate` checked.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Validated {
    /// Prompts parsed and compiled (variants included).
    pub prompts: usize,
    /// Suites loaded.
    pub suites: usize,
    /// Cases whose variables were checked and rendered.
    pub cases: usize,
}

/// Checks the config, every prompt in the working tree and every suite, rendering every case,
/// without calling a provider.
pub fn validate(root: &Path) -> Result<Validated> {
    let project = Project::open(root)?;
    let names = project.store.prompt_names(WORKTREE)?;
    let mut checked = Validated {
        suites: project.suites.len(),
        ..Validated::default()
    };
    for name in &names {
        let prepared = Prepared::load(&project, name, WORKTREE)?;
        checked.prompts += 1;
        for suite in project.suites.iter().filter(|s| s.targets(name)) {
            if let Some(provider) = &suite.provider {
                project.config.provider(provider).map_err(|_| {
                    Error::invalid_with_hint(
                        crate::errors::Location::file(&suite.path),
                        format!("suite `{}` names unknown provider `{provider}`", suite.name),
                        format!(
                            "configured providers: {}",
                            project.config.provider_names().join(", ")
                        ),
                    )
                })?;
            }
            for case in &suite.cases {
                super::plan::render_case(suite, case, &prepared)?;
            }
            checked.cases += suite.cases.len();
        }
    }
    for suite in &project.suites {
        for prompt in &suite.prompts {
            if !names.contains(prompt) {
                return Err(Error::invalid_with_hint(
                    crate::errors::Location::file(&suite.path),
                    format!(
                        "suite `{}` targets prompt `{prompt}`, which does not exist",
                        suite.name
                    ),
                    format!("expected a file {}", prompt.path()),
                ));
            }
        }
    }
    Ok(checked)
}

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
    super::plan::render_case(suite, case, &prepared)
}
