//! `run`: suites on one version of each prompt, without comparing or gating.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::errors::{Error, Result, exit};
use crate::ids::{PromptName, RunId};
use crate::pipeline::calls::{Executed, RunTarget, execute};
use crate::pipeline::evidence::{Sent, side_report, totals};
use crate::pipeline::jobs::{Jobs, plan_suite, samples_for};
use crate::pipeline::panel::JudgeLibrary;
use crate::pipeline::prepare::{Prepared, Providers, SuiteProvider, check_suite_names, suites_for};
use crate::pipeline::progress::Progress;
use crate::pipeline::project::Project;
use crate::pipeline::request::{CallOptions, ErrorBudget};
use crate::record::{self, FORMAT_VERSION};
use crate::report::{RunCaseReport, RunReport, RunSuiteReport};
use crate::store::WORKTREE;

/// What `promptgate run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Prompts to run; empty means every prompt some suite targets.
    pub prompts: Vec<String>,
    /// Only these suites.
    pub suites: Vec<String>,
    /// The revision to run (default: the working tree).
    pub version: Option<String>,
    /// The part of the suites to run.
    pub cases: crate::suite::CaseFilter,
    /// How to make the calls.
    pub calls: CallOptions,
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    /// The report, as written to `report.json`.
    pub report: RunReport,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The process exit code.
    pub exit_code: i32,
}

/// Runs suites on one version of each prompt, without comparing or gating.
pub fn run(
    root: &Path,
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunOutcome> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut project = Project::open(root)?;
    let calls = options.calls.over_config(&project.config);
    if !options.calls.no_cache {
        project.check_cache_untracked()?;
    }
    narrow(&mut project, options, progress)?;
    let project = project;
    let rev = options.version.clone().unwrap_or_else(|| WORKTREE.into());
    let prompts = prompts_to_run(&project, options, &rev)?;
    let mut providers = Providers::new(
        &project,
        &options.calls.env,
        options.calls.provider.as_deref(),
        progress,
    );
    let library = JudgeLibrary::for_prompts(&project, &mut providers, &prompts, &options.suites)?;
    let mut jobs = Jobs::judged_by(std::sync::Arc::new(library));
    let mut planned = Vec::new();
    for name in &prompts {
        let prepared = std::sync::Arc::new(Prepared::load(&project, name, &rev)?);
        for suite in suites_for(&project.suites, name, &options.suites) {
            let provider = providers.for_suite(suite)?;
            let samples = samples_for(&project, suite, &prepared);
            let per_case = plan_suite(suite, &prepared, &provider, &mut jobs, 0..samples)?;
            planned.push(PlannedSuite {
                version: prepared.clone(),
                suite,
                provider,
                per_case,
            });
        }
    }
    if planned.iter().all(|p| p.suite.cases.is_empty()) {
        return Err(Error::NoCases(
            "no suite with cases targets the selected prompts".into(),
        ));
    }
    let run_id = RunId::generate();
    let target = RunTarget::new(&project.root, &run_id, &started_at, &calls, &jobs, None);
    let Executed {
        outcomes,
        run_dir,
        interrupted,
    } = execute(target, jobs, &calls, progress)?;
    let suites: Vec<RunSuiteReport> = planned
        .into_iter()
        .map(|planned| suite_report(planned, &outcomes))
        .collect();
    let case_count = suites.iter().map(|s| s.cases.len()).sum();
    let report = RunReport {
        format_version: FORMAT_VERSION,
        run_id,
        totals: totals(case_count, &outcomes),
        suites,
    };
    record::write_json(&run_dir.join(record::REPORT_FILE), &report)?;
    crate::report::record_run(&run_dir, &report)?;
    let exit_code = exit_code(&report, interrupted, options.calls.max_errors);
    Ok(RunOutcome {
        report,
        run_dir,
        exit_code,
    })
}

/// The suites named exist; only the cases the filter keeps remain.
fn narrow(
    project: &mut Project,
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    check_suite_names(&project.suites, &options.suites)?;
    if let Some(kept) = options.cases.apply(&mut project.suites)? {
        progress(Progress::Note(kept.note("running", &options.cases)));
    }
    Ok(())
}

/// The prompts named, else every prompt at `rev` that some suite targets.
fn prompts_to_run(project: &Project, options: &RunOptions, rev: &str) -> Result<Vec<PromptName>> {
    if !options.prompts.is_empty() {
        return Ok(options.prompts.iter().map(PromptName::new).collect());
    }
    let present = project.store.prompt_names(rev)?;
    Ok(present
        .into_iter()
        .filter(|p| p.variant().is_none() && project.suites.iter().any(|s| s.targets(p)))
        .collect())
}

/// A suite planned on one version.
struct PlannedSuite<'s> {
    version: std::sync::Arc<Prepared>,
    suite: &'s crate::suite::Suite,
    provider: std::sync::Arc<SuiteProvider>,
    /// The jobs of each case's samples.
    per_case: Vec<Vec<usize>>,
}

/// A suite's cases scored from the run's outcomes.
fn suite_report(
    PlannedSuite {
        version: prepared,
        suite,
        provider,
        per_case,
    }: PlannedSuite<'_>,
    outcomes: &[crate::runner::Outcome],
) -> RunSuiteReport {
    let cases: Vec<RunCaseReport> = suite
        .cases
        .par_iter()
        .zip(per_case.par_iter())
        .map(|(case, indices)| RunCaseReport {
            id: case.id.clone(),
            side: side_report(case, indices, outcomes, &Sent::of(suite, case, &prepared)),
        })
        .collect();
    let rates: Vec<f64> = cases.iter().filter_map(|c| c.side.pass_rate).collect();
    RunSuiteReport {
        name: suite.name.clone(),
        version: prepared.version.clone(),
        provider: provider.name.clone(),
        pass_rate: (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64),
        cases,
    }
}

/// A run's exit code: incomplete when interrupted, when the budget skipped calls or more cases
/// errored than `max_errors` allows; failed when a case failed; else a pass.
fn exit_code(report: &RunReport, interrupted: bool, max_errors: ErrorBudget) -> i32 {
    let cases = || report.suites.iter().flat_map(|s| &s.cases);
    let errored_cases = cases()
        .filter(|c| {
            c.side
                .samples
                .iter()
                .any(|s| s.error.is_some() && !s.skipped)
        })
        .count();
    if interrupted
        || report.totals.skipped > 0
        || !max_errors.allows(errored_cases, report.totals.cases)
    {
        exit::INCOMPLETE
    } else if cases().any(|c| c.side.pass_rate.is_some_and(|rate| rate < 1.0)) {
        exit::GATE_FAILED
    } else {
        exit::PASS
    }
}
