//! `check`: candidate versions against their baselines, case by case, gated.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::calls::{CallOptions, ErrorBudget, Executed, RunTarget, execute};
use super::plan::{
    Jobs, Prepared, Providers, SuiteProvider, check_suite_names, effective_params, leak_reference,
    ordered_unique, plan_case, plan_suite, samples_for, suites_for,
};
use super::reports::{ReportFormat, write_reports};
use super::scoring::{scores, side_report, totals};
use super::{Progress, Project};
use crate::adversarial::asr::{self, AttackResult, CategoryRates};
use crate::compare::{self, CasePair, SampleScore};
use crate::config::OnInconclusive;
use crate::errors::{Error, Result};
use crate::gate::{self, Completeness, Noise, Statistics, Verdict};
use crate::ids::{PromptName, RunId};
use crate::record::FORMAT_VERSION;
use crate::report::{CandidateReport, CaseReport, CheckReport, SuiteReport};
use crate::runner::{BudgetLimits, Outcome};
use crate::stats;
use crate::store::WORKTREE;
use crate::suite::{Suite, SuiteKind};

/// What `promptgate check` was asked to do. Stored in the run's manifest (without the
/// environment) so `--resume` can plan the same check again.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CheckOptions {
    /// Prompts to check; empty means the prompts that changed (or all, with `all`).
    pub prompts: Vec<String>,
    /// The index file `staged` reads (a hook's `GIT_INDEX_FILE`); default the repository's.
    #[serde(skip)]
    pub index_file: Option<PathBuf>,
    /// Check every prompt, changed or not.
    pub all: bool,
    /// Only these suites (by name); empty means every suite targeting the prompts.
    pub suites: Vec<String>,
    /// The baseline revision; default: the prompt's `production` label, else `HEAD`.
    pub baseline: Option<String>,
    /// Candidate revisions or variants; default: the working tree.
    pub candidates: Vec<String>,
    /// Plan and estimate the calls, tokens and cost, but make no call.
    #[serde(skip)]
    pub dry_run: bool,
    /// Finish an interrupted or killed check: `Some("")` for the latest one, or a run id. Its
    /// stored options replace the others; no completed call is made again.
    #[serde(skip)]
    pub resume: Option<String>,
    /// Draw more samples where they decide an inconclusive suite (`--adaptive`).
    #[serde(default)]
    pub adaptive: bool,
    /// The most samples per case and version `--adaptive` draws (default 10).
    #[serde(default)]
    pub max_samples: Option<u32>,
    /// Samples per version drawn again for each discordant case before the verdict (default:
    /// the config's `confirm`, else 2).
    #[serde(default)]
    pub confirm: Option<u32>,
    /// Run the baseline against itself (A/A) to measure the noise floor.
    #[serde(default)]
    pub control: bool,
    /// How to make the calls.
    pub calls: CallOptions,
}

/// What `check` found to do.
#[derive(Debug)]
pub enum CheckResult {
    /// Candidates were compared and gated.
    Checked(Box<CheckOutcome>),
    /// No prompt was named and none differs between baseline and candidate: nothing to gate.
    NothingChanged,
    /// `--dry-run`: what the check would spend.
    Estimated(Vec<super::calls::Estimate>),
}

/// A finished check.
#[derive(Debug)]
pub struct CheckOutcome {
    /// The report, as written to `report.json`.
    pub report: CheckReport,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The process exit code the result maps to.
    pub exit_code: i32,
}

/// One comparison to make: a candidate version of a prompt against the baseline version.
struct ComparisonSpec {
    label: String,
    /// The baseline against itself (`--control`).
    control: bool,
    prompt: PromptName,
    baseline_rev: String,
    candidate: (PromptName, String),
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
fn select(
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
        let names: Vec<PromptName> = project
            .store
            .prompt_names(WORKTREE)?
            .into_iter()
            .filter(|n| n.variant().is_none())
            .collect();
        if options.all {
            names
        } else {
            for note in deletions(project, options, &revisions, &names)? {
                progress(Progress::Note(note));
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
                for rev in &revisions {
                    if Prepared::effective_hash(project, &name, rev)? != base
                        || specification_changed(project, &name, (&base_rev, rev), &mut compared)?
                    {
                        changed.push(name.clone());
                        break;
                    }
                }
            }
            changed
        }
    };
    let mut specs = Vec::new();
    for prompt in prompts {
        let baseline_rev = baseline_rev(project, options, &prompt);
        for candidate in &candidates {
            match candidate {
                Candidate::Revision(rev) => specs.push(ComparisonSpec {
                    label: format!("{prompt}@{rev}"),
                    control: false,
                    prompt: prompt.clone(),
                    baseline_rev: baseline_rev.clone(),
                    candidate: (prompt.clone(), rev.clone()),
                }),
                Candidate::Variants(variants) => {
                    for v in variants.iter().filter(|v| v.base() == prompt) {
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
    Ok(specs)
}

/// Whether what a prompt is judged by differs between `base` and `rev`: the config (its
/// tolerances and providers), or a suite that targets the prompt, or one of that suite's case
/// files. A change to the specification is checked like a change to the prompt. `compared`
/// remembers each file already compared between two resolved revisions (a label resolves per
/// prompt, so it is keyed by its commit).
fn specification_changed(
    project: &Project,
    name: &PromptName,
    (base, rev): (&str, &str),
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

/// A suite planned on both versions: the job indices of each case's samples per version.
struct PlannedSuite<'s> {
    suite: &'s Suite,
    provider: Arc<SuiteProvider>,
    tolerance: crate::config::Tolerance,
    /// Samples per case and version (the suite's, raised to the risk tier's minimum).
    samples: u32,
    baseline: Vec<Vec<usize>>,
    candidate: Vec<Vec<usize>>,
    /// Whether the provider's outputs can vary.
    noise: Noise,
    extra_calls: gate::ExtraCalls,
}

/// Runs `check`: plans every comparison, makes the calls, scores, compares, gates, and writes
/// `report.json` and `summary.md` into the run directory.
pub fn check(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckResult> {
    let clock = Instant::now();
    let project = Project::open(root)?;
    if let Some(index) = &options.index_file {
        project.store.use_index_file(index)?;
    }
    let (mut options, earlier) = match &options.resume {
        Some(id) => {
            let (manifest, stored) = resumable(&project.root, id, options.calls.from_log)?;
            let mut stored: CheckOptions = stored;
            stored.calls.env = options.calls.env.clone();
            stored.calls.command = options.calls.command.clone();
            stored.calls.handle_interrupts = options.calls.handle_interrupts;
            stored.calls.from_log = options.calls.from_log;
            let run_dir = crate::record::RunDir::path_of(&project.root, &manifest.run_id);
            let logged = super::calls::logged_outcomes(&run_dir)?;
            if !options.calls.from_log {
                progress(Progress::Note(format!(
                    "resuming run {}: {} calls already done",
                    manifest.run_id,
                    logged.len()
                )));
            }
            (stored, Some((manifest, logged)))
        }
        None => (options.clone(), None),
    };
    options.calls = options.calls.over_config(&project.config);
    let options = &options;
    if !options.calls.no_cache && !options.calls.from_log {
        project.check_cache_untracked()?;
    }
    let started_at = earlier.as_ref().map_or_else(
        || chrono::Utc::now().to_rfc3339(),
        |(m, _)| m.started_at.clone(),
    );
    check_suite_names(&project.suites, &options.suites)?;
    let specs = select(&project, options, progress)?;
    if specs.is_empty() && options.prompts.is_empty() && !options.all && !options.control {
        return Ok(CheckResult::NothingChanged);
    }

    let mut versions: HashMap<(PromptName, String), Arc<Prepared>> = HashMap::new();
    let mut prepare = |name: &PromptName, rev: &str| -> Result<Arc<Prepared>> {
        let key = (name.clone(), rev.to_string());
        if let Some(p) = versions.get(&key) {
            return Ok(p.clone());
        }
        let prepared = Arc::new(Prepared::load(&project, name, rev)?);
        versions.insert(key, prepared.clone());
        Ok(prepared)
    };
    let mut providers = Providers::new(
        &project,
        &options.calls.env,
        options.calls.provider.as_deref(),
        progress,
    );
    if options.dry_run {
        providers = providers.dry_run();
    }
    let mut jobs = Jobs::default();
    let mut planned = Vec::new();
    for spec in &specs {
        let baseline = prepare(&spec.prompt, &spec.baseline_rev)?;
        let candidate = prepare(&spec.candidate.0, &spec.candidate.1)?;
        let mut suites = Vec::new();
        for suite in suites_for(&project.suites, &spec.prompt, &options.suites) {
            let provider = providers.for_suite(suite)?;
            let samples = samples_for(&project, suite, &candidate);
            let base_jobs = plan_suite(suite, &baseline, &provider, &mut jobs, (0, samples))?;
            // A control run's second side asks for fresh samples of the same version.
            let first = if spec.control { samples } else { 0 };
            let cand_jobs = plan_suite(suite, &candidate, &provider, &mut jobs, (first, samples))?;
            // Identical requests on both sides are one call: their outcomes cannot differ.
            let noise = if provider.provider.deterministic() || base_jobs == cand_jobs {
                Noise::None
            } else {
                Noise::Measured
            };
            suites.push(PlannedSuite {
                suite,
                provider,
                tolerance: suite_tolerance(
                    suite,
                    project
                        .config
                        .tolerance
                        .for_tier(candidate.prompt.metadata.governance.risk_tier),
                ),
                samples,
                baseline: base_jobs,
                candidate: cand_jobs,
                noise,
                extra_calls: gate::ExtraCalls::default(),
            });
        }
        planned.push(PlannedCandidate {
            spec,
            baseline,
            candidate,
            suites,
        });
    }
    let cases: usize = planned
        .iter()
        .flat_map(|p| &p.suites)
        .map(|s| s.suite.cases.len())
        .sum();
    if cases == 0 {
        let names: Vec<String> = specs.iter().map(|s| s.prompt.to_string()).collect();
        return Err(Error::NoCases(format!(
            "no suite with cases targets {}; add a suite under suites/ with `prompt: NAME`",
            if names.is_empty() {
                "the selected prompts".to_string()
            } else {
                names.join(", ")
            }
        )));
    }

    if options.dry_run {
        return Ok(CheckResult::Estimated(super::calls::estimate(
            &project.root,
            &jobs,
            !options.calls.no_cache,
        )));
    }
    let target = match earlier {
        Some((manifest, logged)) => RunTarget {
            root: &project.root,
            manifest,
            resumed: logged,
        },
        None => RunTarget::new(
            &project.root,
            &RunId::generate(),
            &started_at,
            &options.calls,
            &jobs,
            Some(serde_json::to_value(options).map_err(|e| Error::Internal(e.to_string()))?),
        ),
    };
    let run_id = target.manifest.run_id.clone();
    let (manifest, logged) = (target.manifest.clone(), target.resumed.clone());
    let Executed {
        mut outcomes,
        run_dir,
        mut interrupted,
    } = execute(target, jobs, &options.calls, progress)?;

    let max_samples = options.max_samples.unwrap_or(DEFAULT_MAX_SAMPLES);
    let confirm = options
        .confirm
        .or(project.config.confirm)
        .unwrap_or(crate::config::DEFAULT_CONFIRM);
    // Before the verdict, confirm the discordant cases; then, with --adaptive, sample where it
    // decides, until no suite is inconclusive, every case that disagrees is at the cap, or the
    // budget runs out.
    let mut round = Round::Confirm;
    while !interrupted && !outcomes.iter().any(|o| o.skipped) {
        let mut extra = Jobs::default();
        let mut added: Vec<(usize, usize, usize, Side, usize)> = Vec::new();
        for (c, candidate) in planned.iter().enumerate() {
            for (s, p) in candidate.suites.iter().enumerate() {
                let targets =
                    sampling_round(p, candidate, &outcomes, round, (confirm, max_samples));
                for (case, target) in targets {
                    for (side, prepared, indices) in [
                        (Side::Baseline, &candidate.baseline, &p.baseline[case]),
                        (Side::Candidate, &candidate.candidate, &p.candidate[case]),
                    ] {
                        let have = indices.len() as u32;
                        // A control run's second side takes sample indices after the first's.
                        let offset = if side == Side::Candidate && candidate.spec.control {
                            p.samples.max(max_samples) + confirm
                        } else {
                            0
                        };
                        let want = target.max(have);
                        let new = plan_case(
                            p.suite,
                            &p.suite.cases[case],
                            prepared,
                            &p.provider,
                            &mut extra,
                            offset + have..offset + want,
                        )?;
                        added.extend(new.into_iter().map(|job| (c, s, case, side, job)));
                    }
                }
            }
        }
        if !added.is_empty() {
            let mut calls = options.calls.clone();
            calls.budget = remaining(options.calls.budget, &outcomes);
            let target = RunTarget {
                root: &project.root,
                manifest: manifest.clone(),
                resumed: logged.clone(),
            };
            let batch = execute(target, extra, &calls, progress)?;
            let offset = outcomes.len();
            outcomes.extend(batch.outcomes);
            interrupted |= batch.interrupted;
            for (c, s, case, side, job) in added.iter().copied() {
                let suite = &mut planned[c].suites[s];
                match round {
                    Round::Confirm => suite.extra_calls.confirm += 1,
                    Round::Adaptive => suite.extra_calls.adaptive += 1,
                }
                match side {
                    Side::Baseline => suite.baseline[case].push(offset + job),
                    Side::Candidate => suite.candidate[case].push(offset + job),
                }
            }
        }
        round = match round {
            Round::Confirm if options.adaptive => Round::Adaptive,
            Round::Adaptive if !added.is_empty() => Round::Adaptive,
            Round::Confirm | Round::Adaptive => break,
        };
    }

    let mut candidates: Vec<CandidateReport> = planned
        .iter()
        .map(|candidate| candidate_report(&project, candidate, &outcomes, max_samples))
        .collect();
    candidates.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then(b.mean_delta().total_cmp(&a.mean_delta()))
    });

    let gated = || candidates.iter().filter(|c| !c.control);
    let verdict = gated().map(|c| c.verdict).max().unwrap_or(Verdict::Pass);
    let blocked_inconclusive = gated()
        .any(|c| c.verdict == Verdict::Inconclusive && c.on_inconclusive == OnInconclusive::Block);
    let comparisons = || {
        candidates
            .iter()
            .flat_map(|c| &c.suites)
            .map(|s| &s.comparison)
    };
    let case_errors: usize = comparisons().map(|c| c.errors).sum();
    let case_skips: usize = comparisons().map(|c| c.skipped).sum();
    let totals = totals(cases, &outcomes);
    let incomplete = incompleteness(
        &run_id,
        interrupted,
        (case_skips, skip_reason(&outcomes)),
        (case_errors, cases, options.calls.max_errors),
        outcomes
            .iter()
            .filter(|o| !o.skipped)
            .find_map(|o| o.result.as_ref().err().map(|e| e.message.clone())),
    );
    let report = CheckReport {
        format_version: FORMAT_VERSION,
        promptgate: crate::BUILD.to_string(),
        run_id,
        started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        verdict,
        complete: incomplete.is_none(),
        incomplete,
        totals,
        candidates,
    };
    if !options.calls.from_log {
        write_reports(&run_dir, &report, &ReportFormat::ALL)?;
    }
    let exit_code = gate::exit_code(
        report.verdict,
        match (interrupted, report.complete) {
            (true, _) => Completeness::Interrupted,
            (false, false) => Completeness::Incomplete,
            (false, true) => Completeness::Complete,
        },
        if blocked_inconclusive {
            OnInconclusive::Block
        } else {
            OnInconclusive::Warn
        },
    );
    Ok(CheckResult::Checked(Box::new(CheckOutcome {
        report,
        run_dir,
        exit_code,
    })))
}

/// The most samples per case and version `--adaptive` draws unless told otherwise.
const DEFAULT_MAX_SAMPLES: u32 = 10;

/// What a round of extra samples is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Re-sample the discordant cases before the verdict.
    Confirm,
    /// Sample where it decides an inconclusive suite (`--adaptive`).
    Adaptive,
}

/// The cases of one suite to sample in `round`, with the samples per version each should
/// reach (indices into the suite's cases): discordant cases to confirm, on a provider that can
/// vary; or, while the suite is undecided ([`gate::wants_more_samples`]), the cases that
/// disagree, up to the cap.
fn sampling_round(
    p: &PlannedSuite<'_>,
    planned: &PlannedCandidate<'_>,
    outcomes: &[Outcome],
    round: Round,
    (confirm, cap): (u32, u32),
) -> Vec<(usize, u32)> {
    if p.tolerance.max_pass_rate_drop.is_none() || p.noise == Noise::None {
        return Vec::new();
    }
    let cases = score_cases(p, planned, outcomes);
    let (indices, tallies) = complete_tallies(&cases);
    let targets = match round {
        Round::Confirm => stats::confirmation_round(&tallies, confirm),
        Round::Adaptive => {
            let comparison = comparison_of(&cases);
            let decision = gate::evaluate_suite(&evidence(p, &comparison, &tallies, &[], cap));
            match decision.statistics {
                Some(s) if gate::wants_more_samples(&s) => stats::adaptive_round(&tallies, cap),
                _ => Vec::new(),
            }
        }
    };
    targets
        .into_iter()
        .map(|(i, target)| (indices[i], target))
        .collect()
}

/// The tallies of the cases both versions completed, with their indices in the suite.
fn complete_tallies(cases: &[CaseReport]) -> (Vec<usize>, Vec<stats::CaseTally>) {
    cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.baseline.pass_rate.is_some() && c.candidate.pass_rate.is_some())
        .map(|(i, c)| (i, tally(c)))
        .unzip()
}

/// What the gate decides a suite from.
fn evidence<'a>(
    p: &'a PlannedSuite<'_>,
    comparison: &'a compare::SuiteComparison,
    tallies: &'a [stats::CaseTally],
    attacks: &'a [CategoryRates],
    cap: u32,
) -> gate::SuiteEvidence<'a> {
    // Seeded by the suite's name: the same results give the same interval on every run.
    let seed = u64::from_le_bytes(
        crate::ids::ContentHash::of(&p.suite.name)
            .as_str()
            .as_bytes()[..8]
            .try_into()
            .unwrap_or_default(),
    );
    gate::SuiteEvidence {
        name: &p.suite.name,
        tolerance: &p.tolerance,
        comparison,
        cases: tallies,
        attacks,
        noise: p.noise,
        origin: p.suite.cases_are,
        extra_calls: p.extra_calls,
        cap,
        seed,
    }
}

/// The case-by-case comparison of scored cases.
fn comparison_of(cases: &[CaseReport]) -> compare::SuiteComparison {
    let baseline: Vec<Vec<SampleScore>> = cases.iter().map(|c| scores(&c.baseline)).collect();
    let candidate: Vec<Vec<SampleScore>> = cases.iter().map(|c| scores(&c.candidate)).collect();
    let pairs: Vec<CasePair<'_>> = baseline
        .iter()
        .zip(&candidate)
        .map(|(b, c)| CasePair {
            baseline: b,
            candidate: c,
        })
        .collect();
    compare::compare_suite(&pairs)
}

/// Which version a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Baseline,
    Candidate,
}

/// A comparison planned on its suites.
struct PlannedCandidate<'s> {
    spec: &'s ComparisonSpec,
    baseline: Arc<Prepared>,
    candidate: Arc<Prepared>,
    suites: Vec<PlannedSuite<'s>>,
}

/// The limits a suite is gated on: its own over its prompt's risk tier's. An adversarial suite
/// is gated on attack successes; pass-rate and new-failure limits apply to it only when it sets
/// them itself, and a new success blocks unless it allows some.
fn suite_tolerance(suite: &Suite, tier: crate::config::Tolerance) -> crate::config::Tolerance {
    let own = suite.tolerance;
    match suite.kind {
        SuiteKind::Regression => own.over(tier),
        SuiteKind::Adversarial => crate::config::Tolerance {
            max_pass_rate_drop: own.max_pass_rate_drop,
            max_new_failures: own.max_new_failures,
            max_new_successes: Some(
                own.max_new_successes
                    .or(tier.max_new_successes)
                    .unwrap_or(0),
            ),
            ..own.over(tier)
        },
    }
}

/// Every case of a suite scored on both versions of `planned`, in suite order.
fn score_cases(
    p: &PlannedSuite<'_>,
    planned: &PlannedCandidate<'_>,
    outcomes: &[Outcome],
) -> Vec<CaseReport> {
    p.suite
        .cases
        .par_iter()
        .enumerate()
        .map(|(i, case)| {
            let side = |prepared: &Prepared, indices: &[usize]| {
                let system = leak_reference(p.suite, case, prepared);
                side_report(case, indices, outcomes, system.as_deref())
            };
            let baseline = side(&planned.baseline, &p.baseline[i]);
            let candidate = side(&planned.candidate, &p.candidate[i]);
            let status = compare::case_status(&scores(&baseline), &scores(&candidate));
            CaseReport {
                id: case.id.clone(),
                description: case.description.clone(),
                category: case.attack.as_ref().map(|a| a.category.clone()),
                status,
                baseline,
                candidate,
            }
        })
        .collect()
}

/// Passes and samples of a scored case.
fn tally(case: &CaseReport) -> stats::CaseTally {
    let count = |side: &crate::report::SideReport| {
        let passed = side
            .samples
            .iter()
            .filter(|s| s.pass() == Some(true))
            .count() as u32;
        (passed, side.samples.len() as u32)
    };
    let (baseline_passed, baseline_samples) = count(&case.baseline);
    let (candidate_passed, candidate_samples) = count(&case.candidate);
    stats::CaseTally {
        baseline_passed,
        baseline_samples,
        candidate_passed,
        candidate_samples,
    }
}

/// One candidate's report: its suites scored, compared, decided by the gate.
fn candidate_report(
    project: &Project,
    planned: &PlannedCandidate<'_>,
    outcomes: &[Outcome],
    cap: u32,
) -> CandidateReport {
    let suites: Vec<(SuiteReport, Vec<gate::Reason>)> = planned
        .suites
        .iter()
        .map(|p| {
            let mut cases = score_cases(p, planned, outcomes);
            let comparison = comparison_of(&cases);
            let attacks = attack_rates(&cases);
            let (_, tallies) = complete_tallies(&cases);
            let decision = gate::evaluate_suite(&evidence(p, &comparison, &tallies, &attacks, cap));
            cases.sort_by_key(|c| c.status);
            let report = SuiteReport {
                name: p.suite.name.clone(),
                kind: p.suite.kind,
                provider: p.provider.name.clone(),
                params: effective_params(p.suite, &planned.candidate, &p.provider),
                samples: p.samples,
                tolerance: p.tolerance,
                comparison,
                statistics: decision.statistics,
                attacks,
                cases,
            };
            (report, decision.reasons)
        })
        .collect();
    let (suites, reasons): (Vec<SuiteReport>, Vec<Vec<gate::Reason>>) = suites.into_iter().unzip();
    let reasons: Vec<gate::Reason> = reasons.into_iter().flatten().collect();
    let statistics: Vec<Option<&Statistics>> =
        suites.iter().map(|s| s.statistics.as_ref()).collect();
    let tier = planned.candidate.prompt.metadata.governance.risk_tier;
    CandidateReport {
        label: planned.spec.label.clone(),
        prompt: planned.spec.prompt.clone(),
        baseline: planned.baseline.version.clone(),
        candidate: planned.candidate.version.clone(),
        verdict: gate::verdict(&reasons, &statistics),
        reasons,
        on_inconclusive: project.config.inconclusive.for_tier(tier),
        control: planned.spec.control,
        suites,
    }
}

/// Attack-success rates per category of an adversarial suite's cases (empty for a regression
/// suite).
fn attack_rates(cases: &[CaseReport]) -> Vec<CategoryRates> {
    let results: Vec<AttackResult<'_>> = cases
        .iter()
        .filter_map(|c| {
            Some(AttackResult {
                id: &c.id,
                category: c.category.as_deref()?,
                baseline: c.baseline.pass_rate,
                candidate: c.candidate.pass_rate,
            })
        })
        .collect();
    asr::rates(&results)
}

/// What is left of `budget` after the calls in `outcomes`.
fn remaining(budget: BudgetLimits, outcomes: &[Outcome]) -> BudgetLimits {
    let made = outcomes.iter().filter(|o| !o.cached && !o.skipped);
    let calls: u64 = made.clone().map(|o| u64::from(o.attempts)).sum();
    let tokens: u64 = made
        .clone()
        .filter_map(|o| o.result.as_ref().ok())
        .map(|c| c.usage.total())
        .fold(0, u64::saturating_add);
    let cost: f64 = made.filter_map(|o| o.cost).sum();
    BudgetLimits {
        max_calls: budget.max_calls.map(|m| m.saturating_sub(calls)),
        max_tokens: budget.max_tokens.map(|m| m.saturating_sub(tokens)),
        max_cost: budget.max_cost.map(|m| (m - cost).max(0.0)),
    }
}

/// Why a check is incomplete, in plain words; `None` when the gate saw every case.
fn incompleteness(
    run_id: &RunId,
    interrupted: bool,
    (skipped, skip_reason): (usize, Option<String>),
    (errors, cases, max_errors): (usize, usize, ErrorBudget),
    first_error: Option<String>,
) -> Option<String> {
    if interrupted {
        return Some(format!(
            "interrupted; finish it with `promptgate check --resume {run_id}`"
        ));
    }
    if skipped > 0 {
        return Some(format!(
            "{skipped} case comparisons skipped ({}); raise the budget and run `promptgate check --resume {run_id}`",
            skip_reason.unwrap_or_else(|| "budget".into())
        ));
    }
    (!max_errors.allows(errors, cases)).then(|| {
        format!(
            "{errors} of {cases} case comparisons errored, more than --max-errors allows{}",
            first_error.map_or(String::new(), |e| format!("; the first: {e}"))
        )
    })
}

/// The reason the first skipped call gave (`--max-calls 100 reached`).
fn skip_reason(outcomes: &[crate::runner::Outcome]) -> Option<String> {
    outcomes
        .iter()
        .find(|o| o.skipped)
        .and_then(|o| o.result.as_ref().err().map(|e| e.message.clone()))
}

/// The stored manifest and options of the check to resume: `id`, or (empty) the latest check
/// without a complete report; a finished check too when `finished_too` (to re-derive it).
fn resumable(
    root: &Path,
    id: &str,
    finished_too: bool,
) -> Result<(crate::record::Manifest, CheckOptions)> {
    let reports = root.join(crate::record::REPORTS_DIR);
    let read_manifest = |dir: &Path| -> Option<crate::record::Manifest> {
        let text = std::fs::read_to_string(dir.join(crate::record::MANIFEST_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let finished = |dir: &Path| -> bool {
        std::fs::read_to_string(dir.join("report.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|r| r["complete"] == true)
    };
    let manifest = if id.is_empty() {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&reports)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs.iter()
            .rev()
            .filter(|d| !finished(d))
            .find_map(|d| read_manifest(d).filter(|m| m.resume.is_some()))
            .ok_or_else(|| Error::Usage("no interrupted check to resume under reports/".into()))?
    } else {
        let dir = crate::record::RunDir::path_of(root, &RunId::parse(id)?);
        let manifest = read_manifest(&dir).ok_or_else(|| {
            Error::Usage(format!(
                "no run `{id}` under reports/ (no readable manifest.json)"
            ))
        })?;
        if finished(&dir) && !finished_too {
            return Err(Error::Usage(format!(
                "run `{id}` finished complete; there is nothing to resume"
            )));
        }
        manifest
    };
    let stored = manifest.resume.clone().ok_or_else(|| {
        Error::Usage(format!(
            "run `{}` is not a check, so it cannot be resumed",
            manifest.run_id
        ))
    })?;
    let options = serde_json::from_value(stored).map_err(|e| {
        Error::Usage(format!(
            "run `{}` was written by another version of promptgate and cannot be resumed: {e}",
            manifest.run_id
        ))
    })?;
    Ok((manifest, options))
}
