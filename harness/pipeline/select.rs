//! Which comparisons a check makes: the candidates asked for (revisions or variants), the
//! prompts that changed (content, suites, case files or config), deletions, `--control`.

use std::collections::{BTreeSet, HashMap};

use super::prepare::{Prepared, check_suite_names, ordered_unique};
use super::progress::Progress;
use super::project::Project;
use super::request::CheckOptions;
use super::shadow::{self, ShadowCases};
use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::store::WORKTREE;

/// What a check compares: the comparisons, and for a shadow run the one suite it checks.
pub(crate) struct Selection {
    pub(crate) specs: Vec<ComparisonSpec>,
    pub(crate) shadow: Option<ShadowCases>,
}

/// The selection stage: the suites named exist, a shadow run's cases are sampled from its
/// traffic, and the comparisons are found (on the whole specification, before a shadow run
/// narrows it to its suite).
pub(crate) fn selection(
    project: &mut Project,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Selection> {
    check_suite_names(&project.suites, &options.suites)?;
    if let Some(kept) = options.cases.apply(&mut project.suites)? {
        progress(Progress::Note(kept.note("checking", &options.cases)));
    }
    let project = &*project;
    let shadow = match &options.traffic {
        Some(sample) => Some(shadow::cases(project, options, sample)?),
        None => None,
    };
    let specs = select(project, options, progress)?;
    Ok(Selection { specs, shadow })
}

/// One comparison to make: a candidate version of a prompt against the baseline version.
pub(crate) struct ComparisonSpec {
    /// How reports name the comparison (`support/triage@HEAD`, a variant's name).
    pub(crate) label: String,
    /// The baseline against itself (`--control`).
    pub(crate) control: bool,
    /// The prompt whose suites judge the comparison.
    pub(crate) prompt: PromptName,
    /// The baseline's revision.
    pub(crate) baseline_rev: String,
    /// The candidate prompt (the prompt itself or a variant of it) and its revision.
    pub(crate) candidate: (PromptName, String),
}

/// How a `--candidate` value was understood.
enum Candidate {
    Revision(String),
    Variants(Vec<PromptName>),
}

fn classify_candidates(project: &Project, specs: &[String]) -> Result<Vec<Candidate>> {
    let worktree = project.store.prompt_names(WORKTREE)?;
    let specs: Vec<String> = if specs.is_empty() {
        vec![WORKTREE.to_string()]
    } else {
        specs.to_vec()
    };
    specs
        .into_iter()
        .map(|spec| {
            let pattern = variant_pattern(&spec);
            let variants: Vec<PromptName> = worktree
                .iter()
                .filter(|n| {
                    n.variant().is_some()
                        && pattern.as_ref().is_some_and(|p| p.is_match(n.as_str()))
                })
                .cloned()
                .collect();
            if !variants.is_empty() {
                return Ok(Candidate::Variants(variants));
            }
            if spec.contains('*') {
                return Err(Error::Usage(format!(
                    "`--candidate {spec}` matches no prompt variant in prompts/"
                )));
            }
            project.store.commit_id(&spec, None)?;
            Ok(Candidate::Revision(spec))
        })
        .collect()
}

/// Matches a full variant name, or its last path segments (`triage.terse`), with `*` wildcards.
fn variant_pattern(spec: &str) -> Option<regex::Regex> {
    if !spec.contains('.') {
        return None;
    }
    let escaped = regex::escape(spec).replace(r"\*", "[^/]*");
    regex::Regex::new(&format!("^(?:.*/)?{escaped}$")).ok()
}

fn baseline_rev(project: &Project, options: &CheckOptions, prompt: &PromptName) -> String {
    match &options.baseline {
        Some(rev) => rev.clone(),
        None if project.store.has_label(prompt, "production") => "production".into(),
        None => "HEAD".into(),
    }
}

/// The comparisons `options` ask for; deletions that need no gate are reported to `progress`.
pub(crate) fn select(
    project: &Project,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<ComparisonSpec>> {
    if options.control {
        return control_specs(project, options);
    }
    // A variant named as a prompt (`check support/triage.terse`) is the candidate for its base.
    let named_variants: Vec<PromptName> = options
        .prompts
        .iter()
        .map(PromptName::new)
        .filter(|n| n.variant().is_some())
        .collect();
    let candidates = if options.candidates.is_empty() && !named_variants.is_empty() {
        for variant in &named_variants {
            project.store.version(variant, WORKTREE)?;
        }
        vec![Candidate::Variants(named_variants)]
    } else {
        classify_candidates(project, &options.candidates)?
    };
    let revisions: Vec<&str> = candidates
        .iter()
        .filter_map(|c| match c {
            Candidate::Revision(r) => Some(r.as_str()),
            Candidate::Variants(..) => None,
        })
        .collect();
    let prompts: Vec<PromptName> = if !options.prompts.is_empty() {
        ordered_unique(options.prompts.iter().map(|p| PromptName::new(p).base()))
    } else if revisions.is_empty() {
        ordered_unique(candidates.iter().flat_map(|c| match c {
            Candidate::Variants(vs) => vs.iter().map(PromptName::base).collect(),
            Candidate::Revision(_) => Vec::new(),
        }))
    } else {
        changed_prompts(project, options, &revisions, progress)?
    };
    Ok(comparisons(project, options, &prompts, &candidates))
}

/// The prompts whose content or specification differs between their baseline and any of
/// `revisions` (every prompt with `--all`); deletions that need no gate are reported to
/// `progress`.
fn changed_prompts(
    project: &Project,
    options: &CheckOptions,
    revisions: &[&str],
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<PromptName>> {
    // A judge is checked through the prompts whose suites it grades, not on its own.
    let judges: BTreeSet<&PromptName> = project
        .suites
        .iter()
        .flat_map(|s| &s.cases)
        .flat_map(|c| &c.assertions)
        .filter_map(|a| a.judge())
        .collect();
    let names: Vec<PromptName> = project
        .store
        .prompt_names(WORKTREE)?
        .into_iter()
        .filter(|n| n.variant().is_none())
        .collect();
    if !options.all {
        for note in deletions(project, options, revisions, &names)? {
            progress(Progress::Note(note));
        }
    }
    let names: Vec<PromptName> = names
        .into_iter()
        .filter(|n| !judges.contains(n) || project.suites.iter().any(|s| s.targets(n)))
        .collect();
    if options.all {
        return Ok(names);
    }
    let mut changed = Vec::new();
    // Suites and the config are shared between prompts: each file is compared once.
    let mut compared = HashMap::new();
    for name in names {
        let base_rev = baseline_rev(project, options, &name);
        let base = match Prepared::effective_hash(project, &name, &base_rev) {
            Ok(hash) => hash,
            // A prompt new since the baseline has nothing to compare with.
            Err(Error::UnknownPrompt { .. }) => continue,
            Err(e) => return Err(e),
        };
        for rev in revisions {
            if Prepared::effective_hash(project, &name, rev)? != base
                || specification_changed(project, &name, &base_rev, rev, &mut compared)?
            {
                changed.push(name.clone());
                break;
            }
        }
    }
    Ok(changed)
}

/// One comparison per prompt and candidate: a revision of the prompt, or each of its variants.
fn comparisons(
    project: &Project,
    options: &CheckOptions,
    prompts: &[PromptName],
    candidates: &[Candidate],
) -> Vec<ComparisonSpec> {
    let mut specs = Vec::new();
    for prompt in prompts {
        let baseline_rev = baseline_rev(project, options, prompt);
        for candidate in candidates {
            match candidate {
                Candidate::Revision(rev) => specs.push(ComparisonSpec {
                    label: format!("{prompt}@{rev}"),
                    control: false,
                    prompt: prompt.clone(),
                    baseline_rev: baseline_rev.clone(),
                    candidate: (prompt.clone(), rev.clone()),
                }),
                Candidate::Variants(variants) => {
                    for v in variants.iter().filter(|v| &v.base() == prompt) {
                        specs.push(ComparisonSpec {
                            label: v.to_string(),
                            control: false,
                            prompt: prompt.clone(),
                            baseline_rev: baseline_rev.clone(),
                            candidate: (v.clone(), WORKTREE.into()),
                        });
                    }
                }
            }
        }
    }
    specs
}

/// Whether what a prompt is judged by differs between `base` and `rev`: the config (its
/// tolerances and providers), or a suite that targets the prompt, one of that suite's case
/// files, or a judge prompt its assertions ask. A change to the specification is checked like
/// a change to the prompt. `compared`
/// remembers each file already compared between two resolved revisions (a label resolves per
/// prompt, so it is keyed by its commit).
fn specification_changed(
    project: &Project,
    name: &PromptName,
    base: &str,
    rev: &str,
    compared: &mut HashMap<(String, String, String), bool>,
) -> Result<bool> {
    let mut files: BTreeSet<String> = BTreeSet::from([crate::config::CONFIG_FILE.to_string()]);
    for suite in project.suites.iter().filter(|s| s.targets(name)) {
        files.insert(suite.path.display().to_string());
        files.extend(
            suite
                .cases
                .iter()
                .map(|c| c.location.file.display().to_string()),
        );
        files.extend(
            suite
                .cases
                .iter()
                .flat_map(|c| &c.assertions)
                .filter_map(|a| Some(a.judge()?.path())),
        );
    }
    let resolved = |rev: &str| -> Result<String> {
        Ok(project
            .store
            .commit_id(rev, Some(name))?
            .unwrap_or_else(|| rev.to_string()))
    };
    let (base_at, rev_at) = (resolved(base)?, resolved(rev)?);
    for file in files {
        let file = file.replace('\\', "/");
        let key = (base_at.clone(), rev_at.clone(), file);
        let differs = match compared.get(&key) {
            Some(&differs) => differs,
            None => {
                let differs = project.store.read_at(base, &key.2, Some(name))?
                    != project.store.read_at(rev, &key.2, Some(name))?;
                compared.insert(key, differs);
                differs
            }
        };
        if differs {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A prompt deleted by the candidate is a change: it fails the gate while suites still target
/// it (they would silently stop running). Returns a line for each deletion whose suites were
/// removed with it.
fn deletions(
    project: &Project,
    options: &CheckOptions,
    revisions: &[&str],
    kept: &[PromptName],
) -> Result<Vec<String>> {
    let mut reported = Vec::new();
    let base = options.baseline.as_deref().unwrap_or("HEAD");
    let before = match project.store.prompt_names(base) {
        Ok(names) => names,
        // A repository with no commit yet has nothing to delete.
        Err(Error::Revision { .. }) => return Ok(reported),
        Err(e) => return Err(e),
    };
    for rev in revisions {
        let listed;
        let after: &[PromptName] = if *rev == WORKTREE {
            kept
        } else {
            listed = project.store.prompt_names(rev)?;
            &listed
        };
        let deleted = before
            .iter()
            .filter(|n| n.variant().is_none() && !after.contains(n));
        for name in deleted {
            let targeting: Vec<String> = project
                .suites
                .iter()
                .filter(|s| s.targets(name))
                .map(|s| s.path.display().to_string())
                .collect();
            if !targeting.is_empty() {
                return Err(Error::Refused {
                    message: format!(
                        "{name} is deleted at {rev}, but suites still target it: {}; delete or retarget them in the same change, or restore the prompt",
                        targeting.join(", ")
                    ),
                    code: crate::errors::exit::GATE_FAILED,
                });
            }
            reported.push(format!(
                "{name} is deleted at {rev}; no suite targets it any more"
            ));
        }
    }
    Ok(reported)
}

/// `--control`: each prompt's baseline against itself (the named prompts, else every prompt).
fn control_specs(project: &Project, options: &CheckOptions) -> Result<Vec<ComparisonSpec>> {
    let prompts: Vec<PromptName> = if options.prompts.is_empty() {
        project
            .store
            .prompt_names(WORKTREE)?
            .into_iter()
            .filter(|n| n.variant().is_none())
            .collect()
    } else {
        ordered_unique(options.prompts.iter().map(PromptName::new))
    };
    Ok(prompts
        .into_iter()
        .map(|prompt| {
            let rev = baseline_rev(project, options, &prompt);
            ComparisonSpec {
                label: format!("{prompt}@{rev} (control: against itself)"),
                control: true,
                prompt: prompt.clone(),
                baseline_rev: rev.clone(),
                candidate: (prompt, rev),
            }
        })
        .collect())
}
