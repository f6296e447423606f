//! The check: the stages composed, from a settled request and its selection to a verdict
//! (the numbered outline is in [`crate::pipeline`]). Commands compose [`settle`] (or
//! [`replay`]), the selection, and [`run`]; what they do with the result (print, write the
//! reports, record a release) is theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::calls::{Executed, Logged, RunTarget, Source, execute, logged_outcomes};
use super::draws::draws_of;
use super::estimate::{Estimate, estimate};
use super::jobs::Jobs;
use super::plan::{PlannedCandidate, plan};
use super::progress::Progress;
use super::project::{Env, Project};
use super::request::{CallOptions, CheckOptions, WaveSamples};
use super::rounds::{NextRound, Rounds, Sampling, Waves, draw_jobs, sample_more};
use super::select::{Selection, selection};
use super::shard::{fingerprint, keep};
use super::verdict::{Decided, Run, decide};
use crate::errors::{Error, Result};
use crate::ids::{PromptName, RunId};
use crate::noise::{Measured, Memory};
use crate::record::{Manifest, ShardRecord};
use crate::report::CheckReport;

/// What a check came to.
pub(crate) enum Checked {
    /// Candidates were compared and gated; the reports are not written yet.
    Gated(Box<CheckOutcome>),
    /// No prompt was named and none differs between baseline and candidate: nothing to gate.
    NothingChanged,
    /// `--dry-run`: what the check would spend.
    Estimated(Vec<Estimate>),
    /// A shard's part of a wave (`--wave`): its calls are logged for the next `merge`.
    Drawn(Box<DrawnWave>),
    /// In a merge whose shards' logs cannot answer the next adaptive round: that round, as the
    /// next wave.
    NextWave {
        wave: u32,
        samples: Vec<WaveSamples>,
        run_dir: PathBuf,
    },
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
    /// The case-versions the check sampled more than once, until the check remembers them.
    pub(crate) measured: Measured,
}

/// An earlier attempt of a run: its manifest, and how its log answers this attempt's calls.
pub(crate) struct Earlier {
    pub(crate) manifest: Manifest,
    pub(crate) source: Source,
}

/// How this attempt of a check runs: what an earlier attempt logged (a resumed run, a
/// re-derived one, or the shards a merge gates), how a merge samples across its waves, and
/// when the check began.
pub(crate) struct Attempt {
    pub(crate) earlier: Option<Earlier>,
    pub(crate) waves: Option<Waves>,
    pub(crate) clock: Instant,
}

/// A check with its request settled and its comparisons selected, in its project: where every
/// command that checks starts, and what [`Ready::run`] takes through the other stages.
pub(crate) struct Ready {
    pub(crate) project: Project,
    pub(crate) options: CheckOptions,
    pub(crate) selection: Selection,
    pub(crate) attempt: Attempt,
}

impl Ready {
    /// Opens the project at `root` (reading the index `options` name), settles `options`
    /// ([`settle`]) and selects the comparisons.
    pub(crate) fn new(
        root: &Path,
        options: &CheckOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self> {
        let clock = Instant::now();
        let mut project = Project::open_with_index(root, options.index_file.as_deref())?;
        let (options, earlier) = settle(&mut project, options, progress)?;
        Self::selected(project, options, earlier, clock, progress)
    }

    /// [`Ready::new`] for re-deriving the stored check `run_id` from its own results log
    /// ([`replay`]).
    pub(crate) fn replaying(
        root: &Path,
        run_id: &str,
        env: &Env,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self> {
        let clock = Instant::now();
        let project = Project::open(root)?;
        let (options, earlier) = replay(&project, run_id, env)?;
        Self::selected(project, options, Some(earlier), clock, progress)
    }

    /// The settled check's comparisons selected.
    fn selected(
        mut project: Project,
        options: CheckOptions,
        earlier: Option<Earlier>,
        clock: Instant,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self> {
        let selection = selection(&mut project, &options, progress)?;
        let attempt = Attempt {
            earlier,
            waves: None,
            clock,
        };
        Ok(Self {
            project,
            options,
            selection,
            attempt,
        })
    }

    /// The prompts the check compares.
    pub(crate) fn prompts(&self) -> impl Iterator<Item = &PromptName> {
        self.selection.specs.iter().map(|s| &s.prompt)
    }

    /// Runs the stages after the selection ([`run`]).
    pub(crate) fn run(mut self, progress: &mut dyn FnMut(Progress)) -> Result<Checked> {
        run(
            &mut self.project,
            &self.options,
            self.selection,
            self.attempt,
            progress,
        )
    }
}

/// The stored check `run_id`'s report re-derived from its own results log, with no call
/// made and nothing written: what a consumer of a stored run decides from, so a hand-edited
/// `report.json` decides nothing. A log that cannot answer every call the run's request plans
/// (its files changed since) is an error.
pub(crate) fn rederive(
    root: &Path,
    run_id: &str,
    env: &Env,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport> {
    match Ready::replaying(root, run_id, env, progress)?.run(progress)? {
        Checked::Gated(outcome) => Ok(outcome.report),
        _ => Err(Error::Internal(format!(
            "run {run_id} could not be re-derived"
        ))),
    }
}

/// The options a check runs with, and the earlier attempt it continues: `options` for a new
/// check; for `--resume`, the stored options of the run resumed (with this invocation's
/// environment and command) and what it logged. The check's baseline commit becomes the
/// maintainers' side of `project` ([`Project::trust_baseline`]), and the options' unset call
/// settings come from the config so trusted.
pub(crate) fn settle(
    project: &mut Project,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<(CheckOptions, Option<Earlier>)> {
    let Some(id) = &options.resume else {
        // A defaulted baseline is the production label: say when this clone cannot have it.
        if options.baseline.is_none()
            && let Some(warning) = super::project::unfetched_releases(&project.store)
        {
            progress(Progress::Note(warning));
        }
        let mut options = options.clone();
        project.trust_baseline(options.baseline.as_deref(), &options.calls.env)?;
        options.calls = options.calls.over_config(&project.config);
        return Ok((options, None));
    };
    let (manifest, stored) = resumable(project, id, false)?;
    project.trust_baseline(stored.baseline.as_deref(), &options.calls.env)?;
    let stored = invoked_by(stored, &options.calls, &project.config);
    let logged = logged_outcomes(&project.root, &manifest.run_id)?;
    progress(Progress::Note(format!(
        "resuming run {}: {} calls already done",
        manifest.run_id,
        logged.len()
    )));
    let source = Source::Resumed(Arc::new(logged));
    Ok((stored, Some(Earlier { manifest, source })))
}

/// The stored options of the check `run_id` and its own results log as the source of every
/// call: re-deriving its verdict (`promote --from-report`), with nothing made, read or
/// written else.
pub(crate) fn replay(
    project: &Project,
    run_id: &str,
    env: &Env,
) -> Result<(CheckOptions, Earlier)> {
    let (manifest, stored) = resumable(project, run_id, true)?;
    let invoked = CallOptions {
        env: env.clone(),
        ..CallOptions::default()
    };
    let stored = invoked_by(stored, &invoked, &project.config);
    let logged = logged_outcomes(&project.root, &manifest.run_id)?;
    let source = Source::Replayed {
        logged: Arc::new(logged),
        allow_missing: false,
    };
    Ok((stored, Earlier { manifest, source }))
}

/// `stored` with what only this invocation knows (its environment, command line and signal
/// handling) and the config's defaults for what neither set.
fn invoked_by(
    mut stored: CheckOptions,
    invoked: &CallOptions,
    config: &crate::config::Config,
) -> CheckOptions {
    stored.calls.env = invoked.env.clone();
    stored.calls.command = invoked.command.clone();
    stored.calls.handle_interrupts = invoked.handle_interrupts;
    stored.calls = stored.calls.over_config(config);
    stored
}

/// The stored manifest and options of the check to resume: `id`, or (empty) the latest check
/// without a complete report; a finished check too when `finished_too` (to re-derive it).
/// A run git tracks is never one (a commit could have written it).
fn resumable(project: &Project, id: &str, finished_too: bool) -> Result<(Manifest, CheckOptions)> {
    let root = project.root.as_path();
    let manifest = if id.is_empty() {
        let tracked = project.tracked_runs()?;
        crate::record::run_ids(root)
            .iter()
            .rev()
            .filter(|id| !tracked.contains(id.as_str()))
            .filter(|id| !crate::record::finished_complete(root, id))
            .find_map(|id| {
                crate::record::read_manifest(root, id)
                    .ok()
                    .filter(|m| m.resume.is_some())
            })
            .ok_or_else(|| Error::Usage("no interrupted check to resume under reports/".into()))?
    } else {
        let run_id = RunId::parse(id)?;
        project.refuse_tracked_run(&run_id)?;
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

/// Runs the check's stages on `selection`: shards keep their cases, the comparisons are
/// planned on their suites (with the noise remembered of their providers), an estimate stops
/// there, the calls are made, and the rounds and the verdict follow.
pub(crate) fn run(
    project: &mut Project,
    options: &CheckOptions,
    selection: Selection,
    attempt: Attempt,
    progress: &mut dyn FnMut(Progress),
) -> Result<Checked> {
    let replay = attempt
        .earlier
        .as_ref()
        .is_some_and(|e| e.source.is_replay());
    if options.wave.is_some() && options.shard.is_none() {
        return Err(Error::Usage(
            "a wave is drawn by the shards of a check: pass --shard I/N with --wave".into(),
        ));
    }
    if !options.calls.no_cache && !replay {
        project.check_cache_untracked()?;
    }
    let Selection { specs, shadow } = selection;
    if specs.is_empty() && options.prompts.is_empty() && !options.all && !options.control {
        return Ok(Checked::NothingChanged);
    }
    let traffic = shadow.map(|shadow| {
        project.suites = vec![shadow.suite];
        shadow.traffic
    });
    let shard = place_shard(project, options, &specs)?;
    let project = &*project;
    let remembers = !options.fresh_noise && shard.is_none() && !replay && !options.dry_run;
    let mut memory = remembers.then(|| noise_memory(project, progress));
    let (planned, mut jobs) = plan(project, options, &specs, memory.as_mut(), progress)?;
    if let (Some(wave), Some(shard)) = (&options.wave, options.shard) {
        let draws = draws_of(&planned, wave, shard)?;
        jobs = draw_jobs(&planned, &jobs.library, &draws)?.jobs;
    }
    if options.calls.batch {
        latency_unmeasured(&planned)?;
    }
    if options.dry_run {
        let sampling = sampling(project, options, shard.is_some());
        let estimates = estimate(&project.root, &planned, &jobs, &options.calls, sampling);
        return Ok(Checked::Estimated(estimates));
    }
    let Attempt {
        earlier,
        waves,
        clock,
    } = attempt;
    let target = target(project, options, earlier, shard.clone(), &jobs)?;
    let planned = Planned {
        candidates: planned,
        jobs,
        shard: shard.is_some(),
    };
    let mut checked = gate(project, options, planned, target, waves, clock, progress)?;
    if let Checked::Gated(outcome) = &mut checked {
        outcome.report.traffic = traffic;
    }
    if let (Some(memory), Checked::Gated(outcome)) = (&mut memory, &mut checked) {
        remember(memory, std::mem::take(&mut outcome.measured), progress);
    }
    Ok(checked)
}

/// A check planned: its comparisons on their suites, their jobs, and whether it is a shard's.
struct Planned<'s> {
    candidates: Vec<PlannedCandidate<'s>>,
    jobs: Jobs,
    shard: bool,
}

/// Makes a planned check's calls, then its rounds, and decides it.
fn gate(
    project: &Project,
    options: &CheckOptions,
    planned: Planned<'_>,
    target: RunTarget<'_>,
    waves: Option<Waves>,
    clock: Instant,
    progress: &mut dyn FnMut(Progress),
) -> Result<Checked> {
    let Planned {
        candidates: mut planned,
        jobs,
        shard,
    } = planned;
    let run = target.again();
    let library = jobs.library.clone();
    let Executed {
        mut outcomes,
        run_dir,
        mut interrupted,
    } = execute(target, jobs, &options.calls, progress)?;
    if let Some(wave) = &options.wave {
        let incomplete = interrupted || outcomes.iter().any(|o| o.skipped);
        return Ok(Checked::Drawn(Box::new(DrawnWave {
            wave: wave.wave,
            calls: outcomes.len(),
            run_dir,
            exit_code: match incomplete {
                true => crate::errors::exit::INCOMPLETE,
                false => crate::errors::exit::PASS,
            },
        })));
    }
    if !interrupted {
        let rounds = Rounds {
            sampling: sampling(project, options, shard),
            waves,
        };
        let sampled = sample_more(
            &run,
            &mut planned,
            &library,
            &mut outcomes,
            rounds,
            &options.calls,
            progress,
        )?;
        interrupted |= sampled.interrupted;
        if let Some(NextRound { wave, samples }) = sampled.next_wave {
            return Ok(Checked::NextWave {
                wave,
                samples,
                run_dir,
            });
        }
    }
    // What an earlier attempt logged is in `outcomes` now; the verdict does not need it twice.
    let RunTarget { manifest, .. } = run;
    let run = Run {
        id: &manifest.run_id,
        started_at: &manifest.started_at,
        clock,
        interrupted,
    };
    let Decided {
        report,
        mut exit_code,
        measured,
    } = decide(project, &planned, &outcomes, run, options);
    // A shard gates nothing: only an incomplete shard fails, to be run again.
    if shard && exit_code != crate::errors::exit::INCOMPLETE {
        exit_code = crate::errors::exit::PASS;
    }
    Ok(Checked::Gated(Box::new(CheckOutcome {
        report,
        run_dir,
        exit_code,
        measured,
    })))
}

/// How many samples the rounds after the first may draw. A shard confirms its own cases; the
/// adaptive rounds are the merge's waves.
fn sampling(project: &Project, options: &CheckOptions, shard: bool) -> Sampling {
    Sampling {
        confirm: options
            .confirm
            .or(project.config.confirm)
            .unwrap_or(crate::config::DEFAULT_CONFIRM),
        max_samples: options.max_samples(),
        adaptive: options.adaptive && !shard,
    }
}

/// A shard keeps only its cases, after fingerprinting the whole plan (and checking the wave
/// plan it draws is of that plan); returns what its manifest records of it.
fn place_shard(
    project: &mut Project,
    options: &CheckOptions,
    specs: &[super::select::ComparisonSpec],
) -> Result<Option<ShardRecord>> {
    let Some(shard) = options.shard else {
        return Ok(None);
    };
    let plan = fingerprint(project, options, specs)?;
    if let Some(wave) = &options.wave {
        wave.check_for(&plan, shard, options.max_samples())?;
    }
    keep(project, shard);
    Ok(Some(ShardRecord {
        index: shard.index,
        total: shard.total,
        plan,
        wave: options.wave.as_ref().map_or(1, |w| w.wave),
    }))
}

/// Where the check's calls go: the earlier attempt's run, or a new run whose manifest stores
/// the options (and the shard).
fn target<'p>(
    project: &'p Project,
    options: &CheckOptions,
    earlier: Option<Earlier>,
    shard: Option<ShardRecord>,
    jobs: &Jobs,
) -> Result<RunTarget<'p>> {
    if let Some(Earlier { manifest, source }) = earlier {
        return Ok(RunTarget {
            root: &project.root,
            manifest,
            source,
        });
    }
    let stored = serde_json::to_value(options).map_err(Error::encode("the check's options"))?;
    let mut target = RunTarget::new(
        &project.root,
        &RunId::generate(),
        &chrono::Utc::now().to_rfc3339(),
        &options.calls,
        jobs,
        Some(stored),
    );
    target.manifest.shard = shard;
    Ok(target)
}

/// The outcomes a merge's shards logged, as the source of every call of the merged run.
pub(crate) fn shards_logged(logged: Logged, allow_missing: bool) -> Source {
    Source::Replayed {
        logged: Arc::new(logged),
        allow_missing,
    }
}

/// The project's remembered noise, readable unless git tracks something under its directory
/// (a commit could plant it: then the check measures the noise itself, and says why).
fn noise_memory(project: &Project, progress: &mut dyn FnMut(Progress)) -> Memory {
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
    Memory::open(&project.root, readable)
}

/// Adds what the check measured to the remembered noise of each provider. Remembered noise is
/// what speeds the next check, not this one's result: a record that cannot be written is
/// reported and the check's verdict stands.
fn remember(memory: &mut Memory, measured: Measured, progress: &mut dyn FnMut(Progress)) {
    for e in memory.remember_all(measured) {
        progress(Progress::Note(format!(
            "could not remember the noise measured: {e}"
        )));
    }
}

/// Refuses `--batch` for a suite gated on latency: a batched call has no latency of its own
/// (it waits in the provider's queue for as long as the batch takes), so the limit could not
/// be checked.
fn latency_unmeasured(planned: &[PlannedCandidate<'_>]) -> Result<()> {
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
