//! `check` (candidate against baseline, gated) and `run` (suites on one version).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::plan::{
    Jobs, Prepared, Providers, SuiteProvider, check_suite_names, effective_params, ordered_unique,
    plan_suite, suites_for,
};
use super::{Env, Progress, Project};
use crate::cache::Cache;
use crate::compare::{self, CasePair, SampleScore};
use crate::errors::{Error, Result, exit};
use crate::gate::{self, Verdict};
use crate::ids::{PromptName, RunId};
use crate::record::{self, CallRecord, FORMAT_VERSION, Manifest, RunDir};
use crate::report::{
    self, CandidateReport, CaseReport, CheckReport, RunCaseReport, RunReport, RunSuiteReport,
    SampleReport, SideReport, SuiteReport, Totals,
};
use crate::runner::{self, Outcome, RunnerOptions};
use crate::score::{self, Observed};
use crate::store::WORKTREE;
use crate::suite::{Case, Suite};

/// What `promptgate check` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Prompts to check; empty means the prompts that changed (or all, with `all`).
    pub prompts: Vec<String>,
    /// Check every prompt, changed or not.
    pub all: bool,
    /// Only these suites (by name); empty means every suite targeting the prompts.
    pub suites: Vec<String>,
    /// The baseline revision; default: the prompt's `production` label, else `HEAD`.
    pub baseline: Option<String>,
    /// Candidate revisions or variants; default: the working tree.
    pub candidates: Vec<String>,
    /// How to make the calls.
    pub calls: CallOptions,
}

/// How a run makes its provider calls; shared by `check` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Run every suite on this provider instead of its own.
    pub provider: Option<String>,
    /// Calls in flight at once.
    pub concurrency: Option<usize>,
    /// Neither read nor write the response cache.
    pub no_cache: bool,
    /// How many cases may fail (their calls erroring after retries) before the run counts as
    /// incomplete.
    pub max_errors: ErrorBudget,
    /// Environment variables (for API keys named in the config).
    pub env: Env,
    /// The command line, for the manifest.
    pub command: String,
}

/// How many errored cases a run tolerates before it is incomplete (exit 12).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ErrorBudget {
    /// At most this many cases.
    Count(usize),
    /// At most this fraction of the cases, in [0, 1].
    Fraction(f64),
}

impl Default for ErrorBudget {
    /// No error is tolerated: a gate that could not see every case is not a complete gate.
    fn default() -> Self {
        Self::Count(0)
    }
}

impl ErrorBudget {
    /// Whether `errors` out of `cases` stays within the budget.
    pub fn allows(self, errors: usize, cases: usize) -> bool {
        match self {
            Self::Count(n) => errors <= n,
            Self::Fraction(f) => cases == 0 || errors as f64 <= f * cases as f64 + 1e-9,
        }
    }
}

impl std::str::FromStr for ErrorBudget {
    type Err = String;

    /// `3` is a count; `0.05` (or `5%`) is a fraction of the cases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let fraction = |f: f64| {
            if (0.0..=1.0).contains(&f) {
                Ok(Self::Fraction(f))
            } else {
                Err(format!("`{s}`: a fraction must be between 0 and 1"))
            }
        };
        if let Some(percent) = s.strip_suffix('%') {
            let p: f64 = percent
                .parse()
                .map_err(|_| format!("`{s}` is not a percentage"))?;
            return fraction(p / 100.0);
        }
        if s.contains('.') {
            return fraction(s.parse().map_err(|_| format!("`{s}` is not a number"))?);
        }
        s.parse().map(Self::Count).map_err(|_| {
            format!("`{s}`: expected a count (3), a fraction (0.05) or a percentage (5%)")
        })
    }
}

/// What `check` found to do.
#[derive(Debug)]
pub enum CheckResult {
    /// Candidates were compared and gated.
    Checked(CheckOutcome),
    /// No prompt was named and none differs between baseline and candidate: nothing to gate.
    NothingChanged,
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

fn select(project: &Project, options: &CheckOptions) -> Result<Vec<ComparisonSpec>> {
    let candidates = classify_candidates(project, &options.candidates)?;
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
            let mut changed = Vec::new();
            for name in names {
                let base_rev = baseline_rev(project, options, &name);
                let base = match Prepared::effective_hash(project, &name, &base_rev) {
                    Ok(hash) => hash,
                    // A prompt new since the baseline has nothing to compare with.
                    Err(Error::UnknownPrompt { .. }) => continue,
                    Err(e) => return Err(e),
                };
                for rev in &revisions {
                    if Prepared::effective_hash(project, &name, rev)? != base {
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
                    prompt: prompt.clone(),
                    baseline_rev: baseline_rev.clone(),
                    candidate: (prompt.clone(), rev.clone()),
                }),
                Candidate::Variants(variants) => {
                    for v in variants.iter().filter(|v| v.base() == prompt) {
                        specs.push(ComparisonSpec {
                            label: v.to_string(),
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

/// A suite planned on both versions.
struct PlannedSuite<'s> {
    suite: &'s Suite,
    provider: Arc<SuiteProvider>,
    baseline: Vec<Vec<usize>>,
    candidate: Vec<Vec<usize>>,
}

/// Runs `check`: plans every comparison, makes the calls, scores, compares, gates, and writes
/// `report.json` and `summary.md` into the run directory.
pub fn check(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckResult> {
    let clock = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339();
    let project = Project::open(root)?;
    check_suite_names(&project.suites, &options.suites)?;
    let specs = select(&project, options)?;
    if specs.is_empty() && options.prompts.is_empty() && !options.all {
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
    let mut jobs = Jobs::default();
    let mut planned = Vec::new();
    for spec in &specs {
        let baseline = prepare(&spec.prompt, &spec.baseline_rev)?;
        let candidate = prepare(&spec.candidate.0, &spec.candidate.1)?;
        let mut suites = Vec::new();
        for suite in suites_for(&project.suites, &spec.prompt, &options.suites) {
            let provider = providers.for_suite(suite)?;
            let base_jobs = plan_suite(suite, &baseline, &provider, &mut jobs)?;
            let cand_jobs = plan_suite(suite, &candidate, &provider, &mut jobs)?;
            suites.push(PlannedSuite {
                suite,
                provider,
                baseline: base_jobs,
                candidate: cand_jobs,
            });
        }
        planned.push((spec, baseline, candidate, suites));
    }
    let cases: usize = planned
        .iter()
        .flat_map(|p| &p.3)
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

    let run_id = RunId::generate();
    let (outcomes, run_dir) = execute(
        &project.root,
        &run_id,
        &started_at,
        &options.calls.command,
        jobs,
        (options.calls.concurrency, !options.calls.no_cache),
        progress,
    )?;

    let mut candidates: Vec<CandidateReport> = planned
        .into_iter()
        .map(|(spec, baseline, candidate, suites)| {
            let suites: Vec<SuiteReport> = suites
                .iter()
                .map(|p| {
                    let cases: Vec<CaseReport> = p
                        .suite
                        .cases
                        .par_iter()
                        .enumerate()
                        .map(|(i, case)| {
                            let baseline = side_report(case, &p.baseline[i], &outcomes);
                            let candidate = side_report(case, &p.candidate[i], &outcomes);
                            let status =
                                compare::case_status(&scores(&baseline), &scores(&candidate));
                            CaseReport {
                                id: case.id.clone(),
                                description: case.description.clone(),
                                status,
                                baseline,
                                candidate,
                            }
                        })
                        .collect();
                    let baseline_scores: Vec<Vec<SampleScore>> =
                        cases.iter().map(|c| scores(&c.baseline)).collect();
                    let candidate_scores: Vec<Vec<SampleScore>> =
                        cases.iter().map(|c| scores(&c.candidate)).collect();
                    let pairs: Vec<CasePair<'_>> = baseline_scores
                        .iter()
                        .zip(&candidate_scores)
                        .map(|(b, c)| CasePair {
                            baseline: b,
                            candidate: c,
                        })
                        .collect();
                    let comparison = compare::compare_suite(&pairs);
                    let mut cases = cases;
                    cases.sort_by_key(|c| c.status);
                    SuiteReport {
                        name: p.suite.name.clone(),
                        provider: p.provider.name.clone(),
                        params: effective_params(p.suite, &candidate, &p.provider),
                        samples: p.suite.samples,
                        tolerance: p.suite.tolerance.over(
                            project
                                .config
                                .tolerance
                                .for_tier(candidate.prompt.metadata.governance.risk_tier),
                        ),
                        comparison,
                        cases,
                    }
                })
                .collect();
            let reasons: Vec<gate::Reason> = suites
                .iter()
                .flat_map(|s| gate::check(&s.name, &s.tolerance, &s.comparison))
                .collect();
            CandidateReport {
                label: spec.label.clone(),
                prompt: spec.prompt.clone(),
                baseline: baseline.version.clone(),
                candidate: candidate.version.clone(),
                verdict: gate::verdict(&reasons),
                reasons,
                suites,
            }
        })
        .collect();
    candidates.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then(b.mean_delta().total_cmp(&a.mean_delta()))
    });

    let verdict = candidates
        .iter()
        .map(|c| c.verdict)
        .max()
        .unwrap_or(Verdict::Pass);
    let case_errors: usize = candidates
        .iter()
        .flat_map(|c| &c.suites)
        .map(|s| s.comparison.errors)
        .sum();
    let report = CheckReport {
        format_version: FORMAT_VERSION,
        run_id,
        started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        verdict,
        complete: options.calls.max_errors.allows(case_errors, cases),
        totals: totals(cases, &outcomes),
        candidates,
    };
    write_reports(&run_dir, &report, &ReportFormat::ALL)?;
    let exit_code = match (report.verdict, report.complete) {
        (Verdict::Fail, _) => exit::GATE_FAILED,
        (Verdict::Pass, false) => exit::INCOMPLETE,
        (Verdict::Pass, true) => exit::PASS,
    };
    Ok(CheckResult::Checked(CheckOutcome {
        report,
        run_dir,
        exit_code,
    }))
}

/// A rendered form of a check's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `report.json`, the machine-readable record.
    Json,
    /// `index.html`, for reviewers.
    Html,
    /// `junit.xml`, for CI test views.
    Junit,
    /// `summary.md`, for pull-request comments.
    Markdown,
}

impl ReportFormat {
    /// Every format, as `check` writes them.
    pub const ALL: [ReportFormat; 4] = [Self::Json, Self::Html, Self::Junit, Self::Markdown];

    /// The file the format is written to in the run directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Json => "report.json",
            Self::Html => "index.html",
            Self::Junit => "junit.xml",
            Self::Markdown => "summary.md",
        }
    }
}

/// Writes the given formats of `report` into `run_dir`.
fn write_reports(run_dir: &Path, report: &CheckReport, formats: &[ReportFormat]) -> Result<()> {
    for format in formats {
        let path = run_dir.join(format.file_name());
        match format {
            ReportFormat::Json => record::write_json(&path, report)?,
            ReportFormat::Html => {
                record::write_atomic(&path, report::render_html(report).as_bytes())?
            }
            ReportFormat::Junit => {
                record::write_atomic(&path, report::render_junit(report).as_bytes())?
            }
            ReportFormat::Markdown => {
                record::write_atomic(&path, report::summary_markdown(report).as_bytes())?
            }
        }
    }
    Ok(())
}

/// Re-renders a stored check's reports from its `report.json` (`promptgate report`).
/// Returns the run directory.
pub fn rerender(root: &Path, run_id: &str, formats: &[ReportFormat]) -> Result<PathBuf> {
    let run_dir = root.join(record::REPORTS_DIR).join(run_id);
    let path = run_dir.join(ReportFormat::Json.file_name());
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!(
            "no stored check `{run_id}` (looked for {}); run ids are the directory names under reports/",
            path.display()
        )),
        _ => Error::io("read", &path, e),
    })?;
    let report: CheckReport = serde_json::from_str(&text).map_err(|e| {
        Error::invalid(
            crate::errors::Location::new(&path, e.line() as u64, e.column() as u64),
            format!("not a check report this version can read: {e}"),
        )
    })?;
    if report.format_version != FORMAT_VERSION {
        return Err(Error::Usage(format!(
            "{} has format_version {}, this promptgate reads {FORMAT_VERSION}",
            path.display(),
            report.format_version
        )));
    }
    let formats: Vec<ReportFormat> = formats
        .iter()
        .copied()
        .filter(|f| *f != ReportFormat::Json)
        .collect();
    write_reports(&run_dir, &report, &formats)?;
    Ok(run_dir)
}

/// What `promptgate run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Prompts to run; empty means every prompt some suite targets.
    pub prompts: Vec<String>,
    /// Only these suites.
    pub suites: Vec<String>,
    /// The revision to run (default: the working tree).
    pub version: Option<String>,
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
    let project = Project::open(root)?;
    check_suite_names(&project.suites, &options.suites)?;
    let rev = options.version.clone().unwrap_or_else(|| WORKTREE.into());
    let prompts: Vec<PromptName> = if options.prompts.is_empty() {
        let present = project.store.prompt_names(&rev)?;
        present
            .into_iter()
            .filter(|p| p.variant().is_none() && project.suites.iter().any(|s| s.targets(p)))
            .collect()
    } else {
        options.prompts.iter().map(PromptName::new).collect()
    };
    let mut providers = Providers::new(
        &project,
        &options.calls.env,
        options.calls.provider.as_deref(),
        progress,
    );
    let mut jobs = Jobs::default();
    let mut planned = Vec::new();
    for name in &prompts {
        let prepared = Prepared::load(&project, name, &rev)?;
        for suite in suites_for(&project.suites, name, &options.suites) {
            let provider = providers.for_suite(suite)?;
            let per_case = plan_suite(suite, &prepared, &provider, &mut jobs)?;
            planned.push((prepared.version.clone(), suite, provider, per_case));
        }
    }
    if planned.iter().all(|p| p.1.cases.is_empty()) {
        return Err(Error::NoCases(
            "no suite with cases targets the selected prompts".into(),
        ));
    }
    let run_id = RunId::generate();
    let (outcomes, run_dir) = execute(
        &project.root,
        &run_id,
        &started_at,
        &options.calls.command,
        jobs,
        (options.calls.concurrency, !options.calls.no_cache),
        progress,
    )?;
    let suites: Vec<RunSuiteReport> = planned
        .into_iter()
        .map(|(version, suite, provider, per_case)| {
            let cases: Vec<RunCaseReport> = suite
                .cases
                .par_iter()
                .zip(per_case.par_iter())
                .map(|(case, indices)| RunCaseReport {
                    id: case.id.clone(),
                    side: side_report(case, indices, &outcomes),
                })
                .collect();
            let rates: Vec<f64> = cases.iter().filter_map(|c| c.side.pass_rate).collect();
            RunSuiteReport {
                name: suite.name.clone(),
                version,
                provider: provider.name.clone(),
                pass_rate: (!rates.is_empty())
                    .then(|| rates.iter().sum::<f64>() / rates.len() as f64),
                cases,
            }
        })
        .collect();
    let case_count = suites.iter().map(|s| s.cases.len()).sum();
    let report = RunReport {
        format_version: FORMAT_VERSION,
        run_id,
        totals: totals(case_count, &outcomes),
        suites,
    };
    record::write_json(&run_dir.join("report.json"), &report)?;
    let errored_cases = report
        .suites
        .iter()
        .flat_map(|s| &s.cases)
        .filter(|c| c.side.samples.iter().any(|s| s.error.is_some()))
        .count();
    let exit_code = if !options
        .calls
        .max_errors
        .allows(errored_cases, report.totals.cases)
    {
        exit::INCOMPLETE
    } else {
        exit::PASS
    };
    Ok(RunOutcome {
        report,
        run_dir,
        exit_code,
    })
}

/// Creates the run directory, answers what it can from the response cache, makes the other
/// calls, and logs each one as it finishes.
fn execute(
    root: &Path,
    run_id: &RunId,
    started_at: &str,
    command: &str,
    jobs: Jobs,
    (concurrency, use_cache): (Option<usize>, bool),
    progress: &mut dyn FnMut(Progress),
) -> Result<(Vec<Outcome>, PathBuf)> {
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        run_id: run_id.clone(),
        started_at: started_at.to_string(),
        command: command.to_string(),
        calls: jobs.jobs.len(),
    };
    let mut run_dir = RunDir::create(root, &manifest)?;
    let cache = use_cache.then(|| Cache::open(root));
    let total = jobs.jobs.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    let mut tally = Tally::default();
    let mut to_run = Vec::new();
    let mut origin = Vec::new();
    let mut meta = Vec::with_capacity(total);
    progress(Progress::Started { calls: total });
    for (index, (job, key)) in jobs.jobs.into_iter().zip(jobs.keys).enumerate() {
        meta.push((
            job.provider.fingerprint().to_string(),
            key,
            job.request.params,
            job.request.sample,
        ));
        let cacheable = job.provider.cacheable();
        let hit = cache
            .as_ref()
            .filter(|_| cacheable)
            .and_then(|c| c.get(&meta[index].1));
        match hit {
            Some(entry) => {
                let outcome = Outcome {
                    result: Ok(entry.completion),
                    latency_ms: entry.latency_ms,
                    attempts: 0,
                    cost: entry.cost,
                    cached: true,
                };
                tally.record(&mut run_dir, index, &meta[index], &outcome, progress);
                outcomes[index] = Some(outcome);
            }
            None => {
                origin.push((index, cacheable));
                to_run.push(job);
            }
        }
    }
    let options = RunnerOptions {
        concurrency: concurrency.unwrap_or(16),
        ..RunnerOptions::default()
    };
    let ran = runner::run(to_run, options, |position, outcome| {
        let (index, cacheable) = origin[position];
        if let (Some(cache), true, Ok(completion)) = (&cache, cacheable, &outcome.result) {
            if let Err(e) = cache.put(&meta[index].1, completion, outcome.latency_ms, outcome.cost)
            {
                tally.write_error.get_or_insert(e);
            }
        }
        tally.record(&mut run_dir, index, &meta[index], outcome, progress);
    })?;
    for ((index, _), outcome) in origin.into_iter().zip(ran) {
        outcomes[index] = Some(outcome);
    }
    if let Some(e) = tally.write_error {
        return Err(e);
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| Error::Internal("a planned call has no outcome".into())))
        .collect::<Result<Vec<_>>>()?;
    Ok((outcomes, run_dir.finish()?))
}

/// Running counts for progress, and the first failure to write the results log.
#[derive(Default)]
struct Tally {
    done: usize,
    cached: usize,
    errors: usize,
    tokens: u64,
    write_error: Option<Error>,
}

impl Tally {
    fn record(
        &mut self,
        run_dir: &mut RunDir,
        index: usize,
        (provider, key, params, sample): &(String, String, crate::config::EffectiveParams, u32),
        outcome: &Outcome,
        progress: &mut dyn FnMut(Progress),
    ) {
        self.done += 1;
        self.cached += usize::from(outcome.cached);
        match &outcome.result {
            Ok(c) => self.tokens += c.usage.input_tokens + c.usage.output_tokens,
            Err(_) => self.errors += 1,
        }
        let record = CallRecord {
            call: index,
            provider: provider.clone(),
            key: key.clone(),
            params: *params,
            sample: *sample,
            outcome: outcome.clone(),
        };
        if let Err(e) = run_dir.append(&record) {
            self.write_error.get_or_insert(e);
        }
        progress(Progress::Finished {
            done: self.done,
            cached: self.cached,
            errors: self.errors,
            tokens: self.tokens,
        });
    }
}

/// Scores one version's samples of a case.
fn side_report(case: &Case, indices: &[usize], outcomes: &[Outcome]) -> SideReport {
    let samples: Vec<SampleReport> = indices
        .iter()
        .map(|&i| {
            let outcome = &outcomes[i];
            match &outcome.result {
                Ok(c) => SampleReport {
                    assertions: score::score(
                        &case.assertions,
                        Observed {
                            text: &c.text,
                            latency_ms: outcome.latency_ms,
                            cost: outcome.cost,
                            expected: case.expected.as_deref(),
                        },
                    ),
                    output: Some(c.text.clone()),
                    error: None,
                    latency_ms: outcome.latency_ms,
                    cost: outcome.cost,
                    tokens: c.usage.input_tokens + c.usage.output_tokens,
                    attempts: outcome.attempts,
                },
                Err(e) => SampleReport {
                    output: None,
                    error: Some(e.message.clone()),
                    latency_ms: outcome.latency_ms,
                    cost: outcome.cost,
                    tokens: 0,
                    attempts: outcome.attempts,
                    assertions: Vec::new(),
                },
            }
        })
        .collect();
    let pass_rate = compare::pass_rate(&scores_of(&samples));
    SideReport { pass_rate, samples }
}

fn scores(side: &SideReport) -> Vec<SampleScore> {
    scores_of(&side.samples)
}

fn scores_of(samples: &[SampleReport]) -> Vec<SampleScore> {
    samples
        .iter()
        .map(|s| SampleScore {
            pass: s.pass(),
            latency_ms: s.latency_ms,
            cost: s.cost,
            tokens: s.tokens,
        })
        .collect()
}

fn totals(cases: usize, outcomes: &[Outcome]) -> Totals {
    Totals {
        cases,
        calls: outcomes.iter().filter(|o| !o.cached).count(),
        cached: outcomes.iter().filter(|o| o.cached).count(),
        errors: outcomes.iter().filter(|o| o.result.is_err()).count(),
        tokens: outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok())
            .map(|c| c.usage.input_tokens + c.usage.output_tokens)
            .sum(),
        cost: outcomes.iter().map(|o| o.cost).sum(),
    }
}
