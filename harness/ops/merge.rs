//! `merge`: the shard runs of one check gated as one check — after checking they belong to
//! one plan (this checkout's) and that every shard of every wave is there once — or, for an
//! `--adaptive` check whose next round the shards did not draw, that round written as the next
//! wave's plan. No call is made.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::errors::{Error, Result};
use crate::ids::RunId;
use crate::pipeline::check::{Attempt, CheckOutcome, Checked, Earlier, run, shards_logged};
use crate::pipeline::progress::Progress;
use crate::pipeline::project::Project;
use crate::pipeline::request::{CallOptions, CheckOptions, WavePlan};
use crate::pipeline::rounds::Waves;
use crate::pipeline::select::selection;
use crate::pipeline::shard::fingerprint;
use crate::record::{Manifest, RunDir, ShardRecord};
use crate::release::facts::readiness_of;
use crate::report::ReportFormat;
use crate::runner::Outcome;

/// What `promptgate merge` is asked.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// The shards' run directories.
    pub dirs: Vec<PathBuf>,
    /// Gate what the shards present cover, marking the report incomplete (exit 12), rather
    /// than refusing when a shard is missing.
    pub allow_incomplete: bool,
    /// Gate on the waves merged, planning no further wave even where `--adaptive` would sample
    /// more (`--final`).
    pub last_wave: bool,
    /// The caller's environment and command line.
    pub calls: CallOptions,
}

/// What a merge came to.
#[derive(Debug)]
pub enum MergeResult {
    /// The shards were gated as one check.
    Gated(CheckOutcome),
    /// An `--adaptive` check needs another wave of its shards before it can be gated.
    NextWave(NextWave),
}

/// The next wave of a sharded `--adaptive` check: every shard draws its part of it with
/// `check --shard I/N --wave PATH`, and the next merge takes the shards of every wave.
#[derive(Debug)]
pub struct NextWave {
    /// The wave's plan.
    pub plan: WavePlan,
    /// Where the plan was written (the merge's run directory).
    pub path: PathBuf,
}

/// One shard run given to the merge: its directory and manifest.
struct ShardRun {
    dir: PathBuf,
    manifest: Manifest,
}

/// What the shards given are of: the plan and shard count (the first's record), how many
/// waves they cover, and the shards of those waves not given.
struct Placed {
    plan: ShardRecord,
    waves: u32,
    missing: Vec<String>,
}

/// Merges shard runs: gates the union of their calls as one check on this machine would,
/// writing every report into a run directory of its own; or writes the next wave's plan.
pub fn merge(
    root: &Path,
    options: &MergeOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<MergeResult> {
    let clock = Instant::now();
    if options.dirs.is_empty() {
        return Err(Error::Usage(
            "name the shards' run directories: promptgate merge DIR...".into(),
        ));
    }
    let mut project = Project::open(root)?;
    let shards = options
        .dirs
        .iter()
        .map(|dir| {
            let manifest = crate::record::read_manifest_at(dir)?;
            Ok(ShardRun {
                dir: dir.clone(),
                manifest,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let placed = placed(&shards)?;
    if !placed.missing.is_empty() && !options.allow_incomplete {
        return Err(Error::Usage(format!(
            "shard {} of plan {} is missing; merge every shard, or pass --allow-incomplete to gate the others (exit 12)",
            placed.missing.join(", "),
            placed.plan.plan
        )));
    }
    let (check, stored) = stored_request(&project, &shards, options)?;
    // This checkout must plan what the shards planned.
    let selection = selection(&mut project, &check, progress)?;
    let here = fingerprint(&project, &check, &selection.specs)?;
    if here != placed.plan.plan {
        return Err(Error::Usage(format!(
            "the shards are of plan {}, and this checkout plans {here}: merge on the commit, with the options, the shards ran",
            placed.plan.plan
        )));
    }
    let readiness = readiness_of(&project, selection.specs.iter().map(|s| &s.prompt));
    let earlier = merged_log(&project, &shards, &check, options)?;
    let waves = check.adaptive.then_some(Waves {
        merged: placed.waves,
        last: options.last_wave,
    });
    let attempt = Attempt {
        earlier: Some(earlier),
        waves,
        clock,
    };
    let mut outcome = match run(&mut project, &check, selection, attempt, progress)? {
        Checked::Gated(outcome) => *outcome,
        Checked::NextWave {
            wave,
            samples,
            run_dir,
        } => {
            let next = WavePlan::new(placed.plan.plan, placed.plan.total, stored, wave, samples);
            let path = next.write(&run_dir)?;
            return Ok(MergeResult::NextWave(NextWave { plan: next, path }));
        }
        _ => return Err(Error::Internal("a merge planned nothing".into())),
    };
    outcome.report.readiness = readiness;
    if !placed.missing.is_empty() {
        outcome.report.complete = false;
        let missing = placed.missing.join(", ");
        outcome.report.incomplete = Some(format!("shard {missing} not merged"));
        outcome.exit_code = crate::errors::exit::INCOMPLETE;
    }
    crate::report::write(&outcome.run_dir, &outcome.report, &ReportFormat::ALL)?;
    Ok(MergeResult::Gated(outcome))
}

/// Checks that the shards are of one plan and that none is given twice; returns what they
/// are of, and which shards of their waves are missing.
fn placed(shards: &[ShardRun]) -> Result<Placed> {
    let place = |run: &ShardRun| -> Result<ShardRecord> {
        run.manifest.shard.clone().ok_or_else(|| {
            Error::Usage(format!(
                "{} is not a shard run (run `promptgate check --shard I/N`)",
                run.dir.display()
            ))
        })
    };
    let plan = place(&shards[0])?;
    let mut seen: HashMap<(u32, u32), &Path> = HashMap::new();
    for run in shards {
        let shard = place(run)?;
        if shard.plan != plan.plan || shard.total != plan.total {
            return Err(Error::Usage(format!(
                "{} is shard {}/{} of plan {}, and {} is of plan {} ({} shards): shards of different checks (another commit, suite or option) cannot be merged",
                run.dir.display(),
                shard.index,
                shard.total,
                shard.plan,
                shards[0].dir.display(),
                plan.plan,
                plan.total
            )));
        }
        if let Some(other) = seen.insert((shard.wave, shard.index), &run.dir) {
            return Err(Error::Usage(format!(
                "shard {} is given twice: {} and {}",
                place_name(shard.wave, shard.index, shard.total),
                other.display(),
                run.dir.display()
            )));
        }
    }
    let waves = seen.keys().map(|&(wave, _)| wave).max().unwrap_or(1);
    let missing = (1..=waves)
        .flat_map(|wave| (1..=plan.total).map(move |index| (wave, index)))
        .filter(|key| !seen.contains_key(key))
        .map(|(wave, index)| place_name(wave, index, plan.total))
        .collect();
    Ok(Placed {
        plan,
        waves,
        missing,
    })
}

/// The check's request, as the first wave's shards stored it (and as stored, for the next
/// wave's plan), to be gated here: no shard or wave of its own, every call answered from the
/// shards' logs, and no remembered noise (the shards ran elsewhere).
fn stored_request(
    project: &Project,
    shards: &[ShardRun],
    options: &MergeOptions,
) -> Result<(CheckOptions, serde_json::Value)> {
    let first = shards
        .iter()
        .find(|run| run.manifest.shard.as_ref().is_some_and(|s| s.wave == 1))
        .unwrap_or(&shards[0]);
    let stored = first.manifest.resume.clone().ok_or_else(|| {
        Error::Usage(format!(
            "{} has no stored check options",
            first.dir.display()
        ))
    })?;
    let mut check: CheckOptions = serde_json::from_value(stored.clone()).map_err(|e| {
        Error::Usage(format!(
            "{} was written by another version of promptgate: {e}",
            first.dir.display()
        ))
    })?;
    check.shard = None;
    check.wave = None;
    check.fresh_noise = true;
    check.calls.env = options.calls.env.clone();
    check.calls.command = options.calls.command.clone();
    check.calls = check.calls.over_config(&project.config);
    Ok((check, stored))
}

/// The merged run: a run directory of its own holding every shard's log lines as they are,
/// and their outcomes as the source of every call.
fn merged_log(
    project: &Project,
    shards: &[ShardRun],
    check: &CheckOptions,
    options: &MergeOptions,
) -> Result<Earlier> {
    let manifest = Manifest {
        format_version: crate::record::FORMAT_VERSION,
        run_id: RunId::generate(),
        started_at: chrono::Utc::now().to_rfc3339(),
        command: options.calls.command.clone(),
        calls: shards.iter().map(|s| s.manifest.calls).sum(),
        resume: Some(serde_json::to_value(check).map_err(Error::encode("the check's options"))?),
        shard: None,
    };
    let mut run_dir = RunDir::create(&project.root, &manifest)?;
    // Each request's answer, and the shard whose log gave it first.
    let mut logged: HashMap<String, (Outcome, &ShardRun)> = HashMap::new();
    for run in shards {
        crate::record::for_each_logged(&run.dir, |line, record| {
            run_dir.append_copied(line)?;
            match logged.entry(record.key) {
                Entry::Vacant(slot) => {
                    slot.insert((record.outcome, run));
                }
                Entry::Occupied(slot) => {
                    let (earlier, by) = slot.get();
                    if deciding(earlier) != deciding(&record.outcome) {
                        return Err(conflict(slot.key(), by, run));
                    }
                }
            }
            Ok(())
        })?;
    }
    run_dir.finish()?;
    let logged = logged
        .into_iter()
        .map(|(key, (outcome, _))| (key, outcome))
        .collect();
    let source = shards_logged(logged, options.allow_incomplete);
    Ok(Earlier { manifest, source })
}

/// What of an outcome can decide a verdict: the completion's text, finish and tool calls (or
/// the error), the conversation and the judgments; not what the call cost or how long it
/// took, which differ between two shards that made the same request.
fn deciding(outcome: &Outcome) -> serde_json::Value {
    let mut value = serde_json::to_value(outcome).unwrap_or_default();
    if let Some(fields) = value.as_object_mut() {
        for measured in ["latency_ms", "attempts", "cost", "cached", "batched"] {
            fields.remove(measured);
        }
        let completion = fields
            .get_mut("result")
            .and_then(|r| r.get_mut("completion"));
        if let Some(completion) = completion.and_then(|c| c.as_object_mut()) {
            completion.remove("usage");
            completion.remove("fingerprint");
        }
        let steps = fields
            .get_mut("trajectory")
            .and_then(|t| t.get_mut("steps"));
        for step in steps.and_then(|s| s.as_array_mut()).into_iter().flatten() {
            step.as_object_mut().map(|step| step.remove("cached"));
        }
    }
    value
}

/// Two shards that answered one request differently: each shard makes only its own cases'
/// calls, so one of them answered a request that is another's (or was altered), and taking
/// either answer would let one log decide for the other; refused.
fn conflict(key: &str, first: &ShardRun, second: &ShardRun) -> Error {
    let place = |run: &ShardRun| {
        run.manifest
            .shard
            .as_ref()
            .map_or_else(|| "?".to_string(), |s| place_name(s.wave, s.index, s.total))
    };
    Error::refused(format!(
        "shards {} ({}) and {} ({}) logged different answers to one request (key {}): a shard answers only its own cases' requests, so one of these logs answers for another shard or was altered, and neither is taken; merge the shards' run directories as their jobs uploaded them (two cases that make an identical request get one answer across shards through a shared cache)",
        place(first),
        first.dir.display(),
        place(second),
        second.dir.display(),
        &key[..key.len().min(16)],
    ))
}

/// How a shard is named in a merge's messages: `I/N`, and past the first wave, its wave.
fn place_name(wave: u32, index: u32, total: u32) -> String {
    match wave {
        1 => format!("{index}/{total}"),
        _ => format!("{index}/{total} of wave {wave}"),
    }
}
