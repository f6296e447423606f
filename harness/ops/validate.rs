//! `validate`: the config, every prompt and every suite checked, every case rendered, with no
//! provider called.

use std::path::Path;

use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::pipeline::prepare::{Prepared, check_target, render_case, unreached_target};
use crate::pipeline::project::{Env, Project};
use crate::store::WORKTREE;

/// What `validate` checked.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Validated {
    /// What would go wrong at run time though the files are valid (a missing API key).
    pub warnings: Vec<String>,
    /// Prompts parsed and compiled (variants included).
    pub prompts: usize,
    /// Suites loaded.
    pub suites: usize,
    /// Cases whose variables were checked and rendered.
    pub cases: usize,
}

/// Adds to `errors` what is wrong with `suite` on the version `prepared`: an unknown provider,
/// a target its attacks cannot reach, a case that does not render. Returns the cases checked.
fn validate_suite(
    project: &Project,
    suite: &crate::suite::Suite,
    prepared: &Prepared,
    errors: &mut Vec<Error>,
) -> usize {
    if let Some(provider) = &suite.provider
        && project.config.provider(provider).is_err()
    {
        let names = project.config.provider_names();
        errors.push(Error::invalid_with_hint(
            crate::errors::Location::file(&suite.path),
            format!("suite `{}` names unknown provider `{provider}`", suite.name),
            format!(
                "{}configured providers: {}",
                crate::errors::did_you_mean(provider, names.iter().map(String::as_str)),
                names.join(", ")
            ),
        ));
    }
    if let Err(e) = check_target(suite, prepared) {
        errors.push(e);
        return 0;
    }
    if let (Some(why), Some((_, at))) = (unreached_target(suite, prepared), &suite.target) {
        errors.push(Error::invalid(at.clone(), why));
        return 0;
    }
    for case in &suite.cases {
        if let Err(e) = render_case(suite, case, prepared) {
            errors.push(e);
        }
    }
    suite.cases.len()
}

/// Checks the config, every prompt in the working tree and every suite, rendering every case,
/// without calling a provider.
pub fn validate(root: &Path, env: &Env) -> Result<Validated> {
    let project = Project::open(root)?;
    let names = project.store.prompt_names(WORKTREE)?;
    let mut checked = Validated {
        suites: project.suites.len(),
        ..Validated::default()
    };
    // Every problem is reported at once.
    let mut errors = Vec::new();
    for name in &names {
        let prepared = match Prepared::load(&project, name, WORKTREE) {
            Ok(prepared) => prepared,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        checked.prompts += 1;
        for suite in project.suites.iter().filter(|s| s.targets(name)) {
            checked.cases += validate_suite(&project, suite, &prepared, &mut errors);
        }
    }
    for suite in &project.suites {
        for prompt in &suite.prompts {
            if !names.contains(prompt) {
                errors.push(Error::invalid_with_hint(
                    crate::errors::Location::file(&suite.path),
                    format!(
                        "suite `{}` targets prompt `{prompt}`, which does not exist",
                        suite.name
                    ),
                    format!(
                        "{}expected a file {}",
                        crate::errors::did_you_mean(
                            prompt.as_str(),
                            names.iter().map(PromptName::as_str)
                        ),
                        prompt.path()
                    ),
                ));
            }
        }
    }
    Error::combine(errors)?;
    for (name, provider) in &project.config.providers {
        if let Some(var) = &provider.api_key_env {
            if env.get(var).is_none_or(|v| v.is_empty()) {
                checked.warnings.push(format!(
                    "provider `{name}` reads its API key from `{var}`, which is not set: its calls will fail"
                ));
            }
        }
    }
    Ok(checked)
}
