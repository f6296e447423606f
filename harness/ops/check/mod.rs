//! `check`: candidate versions against their baselines, case by case, gated.
//!
//! [`check`] wires the steps, each in its own module: [`select`] finds the comparisons,
//! [`plan`] plans them on their suites, the calls are made, [`rounds`] draws the samples that
//! confirm or decide, and [`verdict`] scores, compares and gates.

mod plan;
mod rounds;
mod select;
mod shard;
mod verdict;
mod wave;

pub use shard::{MergeOptions, MergeResult, NextWave, Shard, merge};
pub use wave::{WAVE_FILE, WavePlan, WaveSamples};

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::calls::{CallOptions, Executed, RunTarget, execute};
use super::plan::check_suite_names;
use super::reports::{ReportFormat, write_reports};
use super::{Progress, Project};
use crate::errors::{Error, Result};
use crate::ids::RunId;
use crate::record::Manifest;
use crate::report::CheckReport;
use crate::runner::Outcome;

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
    /// Decide from this check's own samples only: read no remembered noise and record none
    /// (`--fresh-noise`). A merge of shards always does: its shards ran elsewhere.
    #[serde(skip)]
    pub fresh_noise: bool,
    /// Run only this shard's cases, into a run directory that gates nothing (`merge` gates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// With `shard`, draw only this shard's samples of a wave that `merge` planned (an
    /// adaptive round across shards), with no verdict of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<WavePlan>,
    /// A shadow run: the prompt's `shadow` suite on a sample of this production traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficSample>,
    /// How to make the calls.
    pub calls: CallOptions,
}

/// The production traffic a shadow run samples its cases from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrafficSample {
    /// The traffic files (JSONL records or OTLP JSON traces).
    pub files: Vec<PathBuf>,
    /// How many records to sample.
    pub size: usize,
    /// The sample's seed: the same seed, files and size draw the same records.
    pub seed: u64,
    /// A variable whose values each get their share of the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratify: Option<String>,
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
    /// A shard's part of a wave (`--wave`): its calls are logged for the next `merge`.
    Drawn(Box<DrawnWave>),
}

/// A shard's part of a wave, drawn.
#[derive(Debug, serde::Serialize)]
pub struct DrawnWave {
    /// The wave's number.
    pub wave: u32,
    /// The calls drawn.
    pub calls: usize,
    /// The run directory.
    pub run_dir: PathBuf,
    /// 0, or [`exit::INCOMPLETE`](crate::errors::exit::INCOMPLETE) when a call was skipped
    /// or an interrupt stopped the run (run the shard again).
    pub exit_code: i32,
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

/// Runs `check`: plans every comparison, makes the calls, scores, compares, gates, and writes
/// the reports into the run directory.
pub fn check(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckResult> {
    let clock = Instant::now();
    let mut project = Project::open(root)?;
    if let Some(index) = &options.index_file {
        project.store.use_index_file(index)?;
    }
    let adopted;
    let options = match &options.wave {
        Some(wave) => {
            adopted = wave.options_for(options)?;
            &adopted
        }
        None => options,
    };
    let (options, earlier) = resumed(&project, options, progress)?;
    match checked(&mut project, &options, earlier, None, clock, progress)? {
        Checked::Result(result) => Ok(result),
        Checked::NextWave { .. } => Err(Error::Internal(
            "a check outside a merge planned a wave".into(),
        )),
    }
}

/// What [`checked`] came to: a check's result, or in a merge whose shards' logs cannot answer
/// the next adaptive round, that round as the next wave.
enum Checked {
    Result(CheckResult),
    NextWave {
        wave: u32,
        samples: Vec<WaveSamples>,
        run_dir: PathBuf,
    },
}

/// A check with its options settled: `earlier` is what an attempt of the same run logged (a
/// resumed run, a re-derived one, or the shards a merge gates), and `waves` how a merge
/// samples across them.
fn checked(
    project: &mut Project,
    options: &CheckOptions,
    earlier: Option<(Manifest, std::collections::HashMap<String, Outcome>)>,
    waves: Option<rounds::Waves>,
    clock: Instant,
    progress: &mut dyn FnMut(Progress),
) -> Result<Checked> {
    if options.wave.is_some() && options.shard.is_none() {
        return Err(Error::Usage(
            "a wave is drawn by the shards of a check: pass --shard I/N with --wave".into(),
        ));
    }
    if !options.calls.no_cache && !options.calls.from_log {
        project.check_cache_untracked()?;
    }
    check_suite_names(&project.suites, &options.suites)?;
    let shadow = match &options.traffic {
        Some(sample) => Some(shadow_cases(project, options, sample)?),
        None => None,
    };
    let specs = select::select(project, options, progress)?;
    // Readiness is scored on the whole specification, before a shadow run narrows it.
    let readiness = match options.shard.is_some() || options.dry_run {
        true => Vec::new(),
        false => readiness_of(project, &specs),
    };
    let traffic = shadow.map(|(suite, summary)| {
        project.suites = vec![suite];
        summary
    });
    if specs.is_empty() && options.prompts.is_empty() && !options.all && !options.control {
        return Ok(Checked::Result(CheckResult::NothingChanged));
    }
    let max_samples = options.max_samples.unwrap_or(rounds::DEFAULT_MAX_SAMPLES);
    let shard = match options.shard {
        Some(shard) => {
            let plan = shard::fingerprint(project, options, &specs)?;
            if let Some(wave) = &options.wave {
                wave.check_for(&plan, shard, max_samples)?;
            }
            shard::keep(project, shard);
            Some(crate::record::ShardRecord {
                index: shard.index,
                total: shard.total,
                plan,
                wave: options.wave.as_ref().map_or(1, |w| w.wave),
            })
        }
        None => None,
    };
    let project = &*project;
    let mut memory = remembers_noise(options).then(|| noise_memory(project, progress));
    let (mut planned, mut jobs) = plan::plan(project, options, &specs, memory.as_mut(), progress)?;
    if let (Some(wave), Some(shard)) = (&options.wave, options.shard) {
        let draws = wave::draws_of(&planned, wave, shard)?;
        jobs = rounds::draw_jobs((&planned, &jobs.library), &draws)?.0;
    }
    if options.calls.batch {
        latency_unmeasured(&planned)?;
    }
    if options.dry_run {
        let estimates = super::calls::estimate(&project.root, &jobs, &options.calls);
        return Ok(Checked::Result(CheckResult::Estimated(estimates)));
    }
    let target = match earlier {
        Some((manifest, resumed)) => RunTarget {
            root: &project.root,
            manifest,
            resumed: std::sync::Arc::new(resumed),
        },
        None => {
            let mut target = RunTarget::new(
                &project.root,
                &RunId::generate(),
                &chrono::Utc::now().to_rfc3339(),
                &options.calls,
                &jobs,
                Some(serde_json::to_value(options).map_err(Error::encode("the check's options"))?),
            );
            target.manifest.shard = shard.clone();
            target
        }
    };
    let run = RunTarget {
        root: &project.root,
        manifest: target.manifest.clone(),
        resumed: std::sync::Arc::clone(&target.resumed),
    };
    let library = jobs.library.clone();
    let Executed {
        mut outcomes,
        run_dir,
        mut interrupted,
    } = execute(target, jobs, &options.calls, progress)?;
    if let Some(wave) = &options.wave {
        let skipped = outcomes.iter().any(|o| o.skipped);
        return Ok(Checked::Result(CheckResult::Drawn(Box::new(DrawnWave {
            wave: wave.wave,
            calls: outcomes.len(),
            run_dir,
            exit_code: match interrupted || skipped {
                true => crate::errors::exit::INCOMPLETE,
                false => crate::errors::exit::PASS,
            },
        }))));
    }
    let sampling = rounds::Sampling {
        confirm: options
            .confirm
            .or(project.config.confirm)
            .unwrap_or(crate::config::DEFAULT_CONFIRM),
        max_samples,
        // A shard confirms its own cases; the adaptive rounds are the merge's waves.
        adaptive: options.adaptive && options.shard.is_none(),
    };
    if !interrupted {
        let sampled = rounds::sample_more(
            &run,
            (&mut planned, &library),
            &mut outcomes,
            (sampling, waves),
            &options.calls,
            progress,
        )?;
        interrupted |= sampled.interrupted;
        if let Some((wave, samples)) = sampled.next_wave {
            return Ok(Checked::NextWave {
                wave,
                samples,
                run_dir,
            });
        }
    }
    // What an earlier attempt logged is in `outcomes` now; the verdict does not need it twice.
    let RunTarget { manifest, .. } = run;
    let run = verdict::Run {
        id: &manifest.run_id,
        started_at: &manifest.started_at,
        clock,
        interrupted,
    };
    let verdict::Judged {
        mut report,
        mut exit_code,
        measured,
    } = verdict::judge(project, &planned, &outcomes, run, options);
    // The report holds what the writers need; the outcomes and the plan are not held with it.
    drop((outcomes, planned));
    report.traffic = traffic;
    report.readiness = readiness;
    // A shard gates nothing: only an incomplete shard fails, to be run again.
    if shard.is_some() && exit_code != crate::errors::exit::INCOMPLETE {
        exit_code = crate::errors::exit::PASS;
    }
    if !options.calls.from_log {
        write_reports(&run_dir, &report, &ReportFormat::ALL)?;
    }
    if let Some(memory) = &mut memory {
        remember(memory, measured, progress);
    }
    Ok(Checked::Result(CheckResult::Checked(Box::new(
        CheckOutcome {
            report,
            run_dir,
            exit_code,
        },
    ))))
}

/// Whether a check reads and records remembered noise: one that decides on this machine from
/// calls it makes (not a shard, a merge, an estimate or a re-derivation from a log), unless
/// told `--fresh-noise`.
fn remembers_noise(options: &CheckOptions) -> bool {
    !options.fresh_noise && options.shard.is_none() && !options.calls.from_log && !options.dry_run
}

/// The project's remembered noise, readable unless git tracks something under its directory
/// (a commit could plant it: then the check measures the noise itself, and says why).
fn noise_memory(project: &Project, progress: &mut dyn FnMut(Progress)) -> crate::noise::Memory {
    let dir = crate::noise::NOISE_DIR;
    let readable = match project.store.tracked_under(dir) {
        Ok(tracked) if tracked.is_empty() => true,
        Ok(tracked) => {
            progress(Progress::Note(format!(
                "not reading remembered noise: {} tracked by git under {dir}/ (the first: {}), and a commit could plant it, so none is read or written this check; remove them with `git rm -r --cached {dir}` and keep the directory in .gitignore",
                crate::report::plural(tracked.len(), "file"),
                tracked[0],
            )));
            false
        }
        Err(e) => {
            progress(Progress::Note(format!(
                "not reading remembered noise: git's index could not be read to see whether a commit planted it ({e})"
            )));
            false
        }
    };
    crate::noise::Memory::open(&project.root, readable)
}

/// Adds what the check measured to the remembered noise of each provider. Remembered noise is
/// what speeds the next check, not this one's result: a record that cannot be written is
/// reported and the check's verdict stands.
fn remember(
    memory: &mut crate::noise::Memory,
    measured: crate::noise::Measured,
    progress: &mut dyn FnMut(Progress),
) {
    for e in memory.remember_all(measured) {
        progress(Progress::Note(format!(
            "could not remember the noise measured: {e}"
        )));
    }
}

/// Refuses `--batch` for a suite gated on latency: a batched call has no latency of its own
/// (it waits in the provider's queue for as long as the batch takes), so the limit could not
/// be checked.
fn latency_unmeasured(planned: &[plan::PlannedCandidate<'_>]) -> Result<()> {
    let gated: Vec<&str> = planned
        .iter()
        .flat_map(|c| &c.suites)
        .filter(|s| s.tolerance.max_latency_increase.is_some())
        .map(|s| s.suite.name.as_str())
        .collect();
    match gated.is_empty() {
        true => Ok(()),
        false => Err(Error::Usage(format!(
            "--batch: suite `{}` is gated on `max_latency_increase`, and a batched call has no latency of its own; run it without --batch",
            gated.join("`, `")
        ))),
    }
}

/// Each compared prompt's readiness, as its working tree stands (a prompt that cannot be
/// read there is left out: the check reports on it anyway).
fn readiness_of(
    project: &Project,
    specs: &[select::ComparisonSpec],
) -> Vec<crate::readiness::Assessment> {
    let mut prompts: Vec<&crate::ids::PromptName> = specs.iter().map(|s| &s.prompt).collect();
    prompts.sort();
    prompts.dedup();
    let ci = super::readiness::ci_files(&project.root);
    let shadow_runs = super::production::shadow_runs(&project.root);
    prompts
        .into_iter()
        .filter_map(|name| {
            let prepared = super::plan::Prepared::load(project, name, crate::store::WORKTREE);
            super::readiness::assess_one(project, &prepared.ok()?, &ci, &shadow_runs).ok()
        })
        .collect()
}

/// The prompt's shadow suite filled with a sample of the traffic (a shadow run checks
/// nothing else), and what the traffic held.
fn shadow_cases(
    project: &Project,
    options: &CheckOptions,
    sample: &TrafficSample,
) -> Result<(crate::suite::Suite, crate::traffic::Summary)> {
    let [name] = options.prompts.as_slice() else {
        return Err(Error::Usage(
            "a shadow run checks one prompt: name it".into(),
        ));
    };
    let prompt = crate::ids::PromptName::new(name);
    let shadow = super::production::shadow_suite(&project.suites, &prompt).ok_or_else(|| {
            Error::Usage(format!(
                "no shadow suite targets {prompt}: add one under suites/ with `kind: shadow`, `prompt: {prompt}` and reference-free checks under `defaults: {{ assert: [...] }}`"
            ))
    })?;
    let known = super::production::prompt_names(project)?;
    let mut records = Vec::new();
    let traffic =
        crate::traffic::Traffic::scan(&sample.files, &|n: &str| known.contains(n), &mut |r| {
            if r.prompt != prompt.as_str() {
                return Err(crate::traffic::Unmapped::OtherPrompt);
            }
            records.push(r);
            Ok(())
        })?;
    if records.is_empty() {
        let skipped: Vec<String> = traffic.skipped().iter().map(ToString::to_string).collect();
        return Err(Error::Usage(format!(
            "the traffic has no record of {prompt} to shadow{}",
            if skipped.is_empty() {
                String::new()
            } else {
                format!("; left out: {}", skipped.join(", "))
            }
        )));
    }
    let chosen = crate::traffic::sample(
        &records,
        sample.size,
        sample.seed,
        sample.stratify.as_deref(),
    );
    Ok((shadow.with_traffic(&chosen), traffic.summary(chosen.len())))
}

/// The options a check runs with, and what an earlier attempt logged: `options` for a new
/// check; for `--resume`, the stored options of the run resumed (with this invocation's
/// environment and command) and its manifest and logged outcomes.
type Resumed = (
    CheckOptions,
    Option<(Manifest, std::collections::HashMap<String, Outcome>)>,
);

/// See [`Resumed`]; the options' unset call settings come from the config.
fn resumed(
    project: &Project,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Resumed> {
    let Some(id) = &options.resume else {
        let mut options = options.clone();
        options.calls = options.calls.over_config(&project.config);
        return Ok((options, None));
    };
    let (manifest, mut stored) = resumable(&project.root, id, options.calls.from_log)?;
    stored.calls.env = options.calls.env.clone();
    stored.calls.command = options.calls.command.clone();
    stored.calls.handle_interrupts = options.calls.handle_interrupts;
    stored.calls.from_log = options.calls.from_log;
    stored.calls = stored.calls.over_config(&project.config);
    let logged = super::calls::logged_outcomes(&project.root, &manifest.run_id)?;
    if !options.calls.from_log {
        progress(Progress::Note(format!(
            "resuming run {}: {} calls already done",
            manifest.run_id,
            logged.len()
        )));
    }
    Ok((stored, Some((manifest, logged))))
}

/// The stored manifest and options of the check to resume: `id`, or (empty) the latest check
/// without a complete report; a finished check too when `finished_too` (to re-derive it).
fn resumable(root: &Path, id: &str, finished_too: bool) -> Result<(Manifest, CheckOptions)> {
    let manifest = if id.is_empty() {
        crate::record::run_ids(root)
            .iter()
            .rev()
            .filter(|id| !crate::record::finished_complete(root, id))
            .find_map(|id| {
                crate::record::read_manifest(root, id)
                    .ok()
                    .filter(|m| m.resume.is_some())
            })
            .ok_or_else(|| Error::Usage("no interrupted check to resume under reports/".into()))?
    } else {
        let run_id = RunId::parse(id)?;
        let manifest = crate::record::read_manifest(root, &run_id)?;
        if crate::record::finished_complete(root, &run_id) && !finished_too {
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
