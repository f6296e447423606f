//! `promote`: a prompt's version at HEAD released to a label, gated by the check and by the
//! prompt's risk-tier policy, and recorded in git.

use std::path::Path;

use serde::Serialize;

use crate::errors::{Error, Result};
use crate::gate::Verdict;
use crate::ids::{ContentHash, PromptName, RunId};
use crate::pipeline::check::{Checked, Ready, rederive};
use crate::pipeline::prepare::Prepared;
use crate::pipeline::progress::Progress;
use crate::pipeline::project::Project;
use crate::pipeline::request::{CallOptions, CheckOptions};
use crate::release::baseline::{Promoted, for_release};
use crate::release::facts::readiness_of;
use crate::release::labels::{current_version, identity};
use crate::release::policy::{Gate, blocked_by, check_policy, check_readiness, gate_of};
use crate::report::{CheckReport, ReportFormat};
use crate::store::{Approval, Baseline, LabelEvent, LabelMove, LabelTarget, ReleaseAction};

/// What `promptgate promote` was asked to do.
#[derive(Debug, Clone)]
pub struct PromoteOptions {
    /// The prompt.
    pub name: String,
    /// The label to move.
    pub label: String,
    /// Gate on this stored run instead of running the check (its verdict re-derived from its
    /// results log).
    pub from_report: Option<String>,
    /// Promote past a gate that does not allow it (with `reason`).
    pub force: bool,
    /// Why; required with `force`.
    pub reason: Option<String>,
    /// How the check makes its calls.
    pub calls: CallOptions,
}

/// A finished promotion.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// The version tag created, or the one already in place.
    pub tag: String,
    /// Its record.
    pub record: LabelEvent,
    /// The label already served this exact content: nothing was changed.
    pub unchanged: bool,
    /// The check's run directory, when the check ran now.
    pub run_dir: Option<String>,
    /// The gate's line for each suite it decided on (none when nothing changed).
    pub suites: Vec<String>,
}

/// Promotes `name` at HEAD to `label`: checks policy (owner, approvals, required suites), runs
/// or reads the gate against the label's current version, then tags the version and moves the
/// label with compare-and-swap.
pub fn promote(
    root: &Path,
    options: &PromoteOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Promotion> {
    let project = Project::open(root)?;
    let name = PromptName::new(&options.name);
    let store = &project.store;
    let label = options.label.as_str();
    store.check_label(label)?;
    if options.force
        && options
            .reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        let why = "--force needs --reason TEXT: a forced promotion records why";
        return Err(Error::Usage(why.into()));
    }
    let candidate = Prepared::load(&project, &name, "HEAD")?;
    let content = Prepared::effective_hash(&project, &name, "HEAD")?;
    let policy = project
        .config
        .tier(candidate.prompt.metadata.governance.risk_tier);
    // Read the refs the promotion will move before anything slow, to detect a race later.
    let moving = Moving {
        expected_label: store.label_target(&name, label),
        expected_history: store.history_tip(&name, label),
        promoted: store.promoted(&name)?,
    };
    let current = current_version(store, &name, label, &moving.promoted);
    if let Some(current) = current.filter(|c| c.record.content == content.as_str()) {
        return Ok(Promotion {
            tag: current.tag.clone(),
            record: current.record.clone(),
            unchanged: true,
            run_dir: None,
            suites: Vec::new(),
        });
    }
    let approvals = check_policy(&project, &name, &candidate, &content, &policy)?;
    check_readiness(&project, &candidate)?;
    let promoting = Promoting {
        name: &name,
        hash: &candidate.version.hash,
        label_exists: moving.expected_label.is_some(),
    };
    let (report, gate, run_dir) = gate_report(&project, options, promoting, progress)?;
    let blocked = blocked_by(&gate, &policy, &name, label, &report.run_id);
    let forced = blocked.is_some();
    if let (Some(refusal), false) = (blocked, options.force) {
        return Err(refusal);
    }
    let hash = &candidate.version.hash;
    let promoted = Promoted {
        name: &name,
        hash,
        forced: options.force,
    };
    let env = &options.calls.env;
    let baseline = for_release(&project, promoted, &report, &policy, env, progress)?;
    let cleared = Cleared {
        candidate: &candidate,
        content,
        forced,
        gate,
        run: report.run_id,
        approvals,
        baseline,
    };
    let mut promotion = release(&project, options, moving, cleared)?;
    promotion.run_dir = run_dir;
    promotion.suites = report
        .candidates
        .iter()
        .flat_map(|c| &c.suites)
        .map(crate::report::suite_line)
        .collect();
    Ok(promotion)
}

/// The refs a promotion moves, as read before the gate, and the versions promoted so far.
struct Moving {
    expected_label: Option<git2::Oid>,
    expected_history: Option<git2::Oid>,
    promoted: Vec<crate::store::Promoted>,
}

/// What a promotion was cleared on: the candidate and its content, whether it was forced past
/// the gate, the gate and its run, the approvals, and the monitoring baseline.
struct Cleared<'c> {
    candidate: &'c Prepared,
    content: ContentHash,
    forced: bool,
    gate: Gate,
    run: RunId,
    approvals: Vec<Approval>,
    baseline: Baseline,
}

/// Tags the candidate as the next version and moves the label to it, recording why.
fn release(
    project: &Project,
    options: &PromoteOptions,
    moving: Moving,
    cleared: Cleared<'_>,
) -> Result<Promotion> {
    let store = &project.store;
    let name = &cleared.candidate.version.name;
    let label = options.label.as_str();
    let commit = cleared
        .candidate
        .version
        .commit
        .clone()
        .ok_or_else(|| Error::Internal("HEAD resolved to no commit".into()))?;
    let current = current_version(store, name, label, &moving.promoted);
    let signature = store.signature()?;
    let version = moving.promoted.last().map_or(1, |p| p.version + 1);
    let record = LabelEvent {
        action: ReleaseAction::Promote,
        prompt: name.to_string(),
        label: label.to_string(),
        version,
        from: current.map(|c| c.version),
        commit: commit.clone(),
        content: cleared.content.as_str().to_string(),
        by: identity(&signature),
        at: chrono::Utc::now().to_rfc3339(),
        reason: options.reason.clone().filter(|r| !r.trim().is_empty()),
        forced: cleared.forced,
        verdict: Some(cleared.gate.verdict),
        reasons: cleared.gate.reasons,
        run: Some(cleared.run.to_string()),
        report_digest: crate::record::report_digest(&project.root, &cleared.run),
        approvals: cleared.approvals.iter().map(|a| a.id.clone()).collect(),
        baseline: Some(cleared.baseline),
        automatic: false,
    };
    let label_move = LabelMove {
        name,
        label,
        expected_label: moving.expected_label,
        expected_history: moving.expected_history,
        event: &record,
    };
    store.move_label(
        &label_move,
        LabelTarget::NewVersion { commit: &commit },
        &signature,
    )?;
    Ok(Promotion {
        tag: store.version_tag(name, version),
        record,
        unchanged: false,
        run_dir: None,
        suites: Vec::new(),
    })
}

/// What a promotion gates: the prompt, the candidate's content, and whether the label exists.
#[derive(Clone, Copy)]
struct Promoting<'a> {
    name: &'a PromptName,
    hash: &'a ContentHash,
    label_exists: bool,
}

/// The report the promotion is gated on, and its gate for the candidate content `hash`: a
/// stored check's, re-derived from its own results log (`--from-report`), or a check run now
/// of HEAD against the label (against HEAD when the label is new). Returns them with the new
/// run's directory, if one ran.
fn gate_report(
    project: &Project,
    options: &PromoteOptions,
    promoting: Promoting<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(CheckReport, Gate, Option<String>)> {
    let Promoting {
        name,
        hash,
        label_exists,
    } = promoting;
    let label = options.label.as_str();
    if let Some(run_id) = &options.from_report {
        let stored_baseline = match label_exists {
            true => Some(Prepared::effective_hash(project, name, label)?),
            false => None,
        };
        let from_stored = Some((label, stored_baseline.as_ref()));
        // The stored report must be of this content against this label before its log is
        // worth re-deriving.
        let run_id = crate::ids::RunId::parse(run_id)?;
        project.refuse_tracked_run(&run_id)?;
        let stored: CheckReport = crate::record::read_report(&project.root, &run_id)?;
        gate_of(&stored, name, hash, from_stored)?;
        let report = rederived_report(&project.root, stored, options, progress)?;
        let gate = gate_of(&report, name, hash, from_stored)?;
        return Ok((report, gate, None));
    }
    let baseline = if label_exists { label } else { "HEAD" };
    let request = CheckOptions {
        prompts: vec![name.to_string()],
        baseline: Some(baseline.to_string()),
        candidates: vec!["HEAD".into()],
        // A release needs a decision: sample where it decides, and measure the noise of the
        // cases that agree when that is what leaves the gate undecided.
        adaptive: true,
        calls: options.calls.clone(),
        ..CheckOptions::default()
    };
    let report = checked_now(&project.root, &request, progress)?;
    let shown = report.1.strip_prefix(&project.root).unwrap_or(&report.1);
    let shown = shown.display().to_string();
    let gate = gate_of(&report.0, name, hash, None)?;
    Ok((report.0, gate, Some(shown)))
}

/// The promotion's check, run now as `check` would run it (its reports written), with its
/// run directory.
fn checked_now(
    root: &Path,
    request: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<(CheckReport, std::path::PathBuf)> {
    let ready = Ready::new(root, request, progress)?;
    let readiness = readiness_of(&ready.project, ready.prompts());
    match ready.run(progress)? {
        Checked::Gated(mut outcome) => {
            outcome.report.readiness = readiness;
            crate::report::write(&outcome.run_dir, &outcome.report, &ReportFormat::ALL)?;
            Ok((outcome.report, outcome.run_dir))
        }
        _ => Err(Error::Internal(
            "the promotion's check compared nothing".into(),
        )),
    }
}

/// A stored check's report, re-derived from the run's own results log (with no call made), so
/// a hand-edited `report.json` cannot decide a promotion; refused when the stored report
/// disagrees with its log.
fn rederived_report(
    root: &Path,
    stored: CheckReport,
    options: &PromoteOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CheckReport> {
    let run_id = stored.run_id.as_str();
    let report = rederive(root, run_id, &options.calls.env, progress)?;
    let verdicts = |r: &CheckReport| -> Vec<(String, Verdict)> {
        r.candidates
            .iter()
            .map(|c| (c.label.clone(), c.verdict))
            .collect()
    };
    let remembered = stored.candidates.iter().flat_map(|c| &c.suites).any(|s| {
        s.statistics
            .as_ref()
            .is_some_and(|s| s.remembered.is_some())
    });
    let differ = verdicts(&stored) != verdicts(&report);
    if differ && remembered {
        return Err(Error::refused(format!(
            "run {run_id} was decided with the noise its machine remembered of the provider, and a promotion decides from the run's own calls only (a run directory is not proof of what a machine remembered): on those it is {}; run `promptgate promote` without --from-report, which checks again on this machine",
            report.verdict.as_str()
        )));
    }
    if differ || stored.complete != report.complete {
        return Err(Error::refused(format!(
            "run {run_id}'s report.json does not match its own results log (it says {}, the log gives {}): the report was edited or written by another version; not promoting from it — run `promptgate promote` without --from-report to check again",
            stored.verdict.as_str(),
            report.verdict.as_str()
        )));
    }
    Ok(report)
}
