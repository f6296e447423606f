//! `promote`, `rollback`, `approve`, `history` and `status`: releases as git operations, gated
//! by the check and by the prompt's risk-tier policy.

use std::path::Path;

use serde::Serialize;

use super::check::{CheckOptions, CheckResult, check};
use super::plan::Prepared;
use super::{CallOptions, Progress, Project};
use crate::config::{OnInconclusive, TierPolicy as Policy};
use crate::errors::{Error, Result, exit};
use crate::gate::{self, Completeness, Verdict};
use crate::ids::{ContentHash, PromptName};
use crate::report::CheckReport;
use crate::store::{
    Approval, LabelEvent, LabelMove, LabelTarget, Promoted, ReleaseAction, Store, WORKTREE,
};
use crate::suite::SuiteKind;

/// The label promotions move unless told otherwise.
pub const DEFAULT_LABEL: &str = "production";

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
    let commit = candidate
        .version
        .commit
        .clone()
        .ok_or_else(|| Error::Internal("HEAD resolved to no commit".into()))?;
    let content = Prepared::effective_hash(&project, &name, "HEAD")?;
    let governance = &candidate.prompt.metadata.governance;
    let policy = project.config.tier(governance.risk_tier);

    // Read the refs the promotion will move before anything slow, to detect a race later.
    let expected_label = store.label_target(&name, label);
    let expected_history = store.history_tip(&name, label);
    let promoted = store.promoted(&name)?;
    let current = current_version(store, &name, label, &promoted);
    if let Some(current) = current {
        if current.record.content == content.as_str() {
            return Ok(Promotion {
                tag: current.tag.clone(),
                record: current.record.clone(),
                unchanged: true,
                run_dir: None,
            });
        }
    }

    let approvals = check_policy(&project, &name, &candidate, &content, &policy)?;
    check_readiness(&project, &candidate)?;
    let versions = (&name, &candidate.version.hash, expected_label.is_some());
    let (report, gate, run_dir) = gate_report(&project, options, versions, progress)?;
    let blocked = blocked_by(&gate, &policy, (&name, label, &report.run_id));
    let forced = blocked.is_some();
    if let (Some(refusal), false) = (blocked, options.force) {
        return Err(refusal);
    }
    // The monitoring baseline: production traffic's, from a passing shadow run of this
    // content, when there is one; else the gate's run.
    let shadow =
        super::production::passing_shadow_run(&project.root, &name, &candidate.version.hash);
    if policy.require.contains(&SuiteKind::Shadow) && shadow.is_none() && !options.force {
        return Err(Error::refused(format!(
            "the `{}` tier requires a passing shadow run of this content before {name} is promoted: run `promptgate shadow {name} --traffic FILE` first",
            policy.tier.as_str()
        )));
    }
    let baseline = match &shadow {
        Some(run) => super::production::baseline_of(&project, &name, run, "shadow"),
        None => super::production::baseline_of(&project, &name, &report, "gate"),
    };

    let signature = store.signature()?;
    let version = promoted.last().map_or(1, |p| p.version + 1);
    let record = LabelEvent {
        action: ReleaseAction::Promote,
        prompt: name.to_string(),
        label: label.to_string(),
        version,
        from: current.map(|c| c.version),
        commit: commit.clone(),
        content: content.as_str().to_string(),
        by: identity(&signature),
        at: chrono::Utc::now().to_rfc3339(),
        reason: options.reason.clone().filter(|r| !r.trim().is_empty()),
        forced,
        verdict: Some(gate.verdict),
        reasons: gate.reasons.clone(),
        run: Some(report.run_id.to_string()),
        report_digest: crate::record::report_digest(&project.root, &report.run_id),
        approvals: approvals.iter().map(|a| a.id.clone()).collect(),
        baseline: Some(baseline),
        automatic: false,
    };
    store.move_label(
        &LabelMove {
            name: &name,
            label,
            expected_label,
            expected_history,
            event: &record,
        },
        LabelTarget::NewVersion { commit: &commit },
        &signature,
    )?;
    Ok(Promotion {
        tag: store.version_tag(&name, version),
        record,
        unchanged: false,
        run_dir,
    })
}

/// Refuses a promotion the tier's policy does not allow yet: no owner past the `low` tier, too
/// few approvals of the exact content, a required suite kind missing. Returns the approvals.
fn check_policy(
    project: &Project,
    name: &PromptName,
    candidate: &Prepared,
    content: &ContentHash,
    policy: &Policy,
) -> Result<Vec<Approval>> {
    let governance = &candidate.prompt.metadata.governance;
    if governance.owner.is_none() && policy.tier != crate::artifact::RiskTier::Low {
        return Err(Error::refused(format!(
            "{name} has no `promptgate.owner`; a prompt without an owner cannot be promoted past the `low` tier (it is `{}`)",
            policy.tier.as_str()
        )));
    }
    let approvals = project.store.approvals(content)?;
    // One person under several `--as` ids is one approval: count the git identities that
    // recorded them.
    let approvers = approvals
        .iter()
        .map(|a| a.recorded_by.to_lowercase())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if (approvers as u32) < policy.approvals {
        return Err(Error::refused(format!(
            "{name} ({} tier) needs {} approval{} of content {} by different people, and has {approvers}: run `promptgate approve {name}@HEAD --as ID`",
            policy.tier.as_str(),
            policy.approvals,
            if policy.approvals == 1 { "" } else { "s" },
            content.short(),
        )));
    }
    check_required_suites(project, name, policy)?;
    Ok(approvals)
}

/// The report the promotion is gated on, and its gate for the candidate content `hash`: a
/// stored check's, re-derived from its own results log (`--from-report`), or a check run now
/// of HEAD against the label (against HEAD when the label is new). Returns them with the new
/// run's directory, if one ran.
fn gate_report(
    project: &Project,
    options: &PromoteOptions,
    (name, hash, label_exists): (&PromptName, &ContentHash, bool),
    progress: &mut dyn FnMut(Progress),
) -> Result<(CheckReport, Gate, Option<String>)> {
    let label = options.label.as_str();
    if let Some(run_id) = &options.from_report {
        let stored_baseline = match label_exists {
            true => Some(Prepared::effective_hash(project, name, label)?),
            false => None,
        };
        let from_stored = Some((label, stored_baseline.as_ref()));
        // The stored report must be of this content against this label before its log is
        // worth re-deriving.
        let stored: CheckReport =
            crate::record::read_report(&project.root, &crate::ids::RunId::parse(run_id)?)?;
        gate_of(&stored, name, hash, from_stored)?;
        let report = rederived_report(&project.root, stored, options, progress)?;
        let gate = gate_of(&report, name, hash, from_stored)?;
        return Ok((report, gate, None));
    }
    let baseline = if label_exists { label } else { "HEAD" };
    let check_options = CheckOptions {
        prompts: vec![name.to_string()],
        baseline: Some(baseline.to_string()),
        candidates: vec!["HEAD".into()],
        // A release needs a decision: sample where it decides, and measure the noise of the
        // cases that agree when that is what leaves the gate undecided.
        adaptive: true,
        calls: options.calls.clone(),
        ..CheckOptions::default()
    };
    match check(&project.root, &check_options, progress)? {
        CheckResult::Checked(outcome) => {
            let shown = outcome
                .run_dir
                .strip_prefix(&project.root)
                .unwrap_or(&outcome.run_dir)
                .display()
                .to_string();
            let gate = gate_of(&outcome.report, name, hash, None)?;
            Ok((outcome.report, gate, Some(shown)))
        }
        _ => Err(Error::Internal(
            "the promotion's check compared nothing".into(),
        )),
    }
}

/// The refusal when the gate blocks promoting `name` to `label` under `policy`; `None` when it
/// passes. A release needs a decision: an inconclusive gate blocks unless the tier allows it.
fn blocked_by(
    gate: &Gate,
    policy: &Policy,
    (name, label, run_id): (&PromptName, &str, &crate::ids::RunId),
) -> Option<Error> {
    let on_inconclusive = if policy.promote_on_inconclusive {
        OnInconclusive::Warn
    } else {
        OnInconclusive::Block
    };
    let run = if gate.complete {
        Completeness::Complete
    } else {
        Completeness::Incomplete
    };
    let (code, why) = match gate::exit_code(gate.verdict, run, on_inconclusive) {
        exit::PASS => return None,
        code @ exit::GATE_FAILED => (code, "the gate failed".to_string()),
        code @ exit::INCONCLUSIVE_BLOCKED => (
            code,
            format!(
                "the gate is inconclusive, and the `{}` tier does not promote on an inconclusive gate (set `promote_on_inconclusive: true` in its policy to allow it)",
                policy.tier.as_str()
            ),
        ),
        code => (code, "the check is incomplete".to_string()),
    };
    let reasons = if gate.reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", gate.reasons.join("; "))
    };
    Some(Error::Refused {
        message: format!(
            "not promoting {name} to {label}: {why} (run {run_id}){reasons}; fix the prompt, or pass --force --reason TEXT"
        ),
        code,
    })
}

/// The version `name@label` serves, when it points at one of the promoted tags.
pub(super) fn current_version<'p>(
    store: &Store,
    name: &PromptName,
    label: &str,
    promoted: &'p [Promoted],
) -> Option<&'p Promoted> {
    let target = store.label_target(name, label)?;
    promoted.iter().find(|p| p.tag_id == target)
}

/// Refuses a promotion when the readiness of the content promoted falls short of its tier's
/// minimum.
fn check_readiness(project: &Project, candidate: &Prepared) -> Result<()> {
    let name = &candidate.version.name;
    let ci = super::readiness::ci_files(&project.root);
    let shadow_runs = super::production::shadow_runs(&project.root);
    let assessment = super::readiness::assess_one(project, candidate, &ci, &shadow_runs)?;
    if assessment.short.is_empty() {
        return Ok(());
    }
    let scores = assessment
        .scores
        .iter()
        .map(|s| format!("{} {}", s.dimension.as_str(), s.score))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::refused(format!(
        "{name} is not ready for production: {} ({scores}; total {}); `promptgate readiness {name}` lists what would raise each score",
        assessment.short.join("; "),
        assessment.total
    )))
}

/// Refuses a promotion when a suite kind the policy requires does not target the prompt.
fn check_required_suites(project: &Project, name: &PromptName, policy: &Policy) -> Result<()> {
    for kind in &policy.require {
        // A shadow suite's cases come from traffic; the run it needs is checked after the gate.
        let present = project.suites.iter().any(|s| {
            s.kind == *kind
                && s.targets(name)
                && (*kind == SuiteKind::Shadow || !s.cases.is_empty())
        });
        if !present {
            return Err(Error::refused(format!(
                "the `{}` tier requires a `{}` suite for {name}, and none targets it; add one under suites/ with `kind: {}` and `prompt: {name}`",
                policy.tier.as_str(),
                kind.as_str(),
                kind.as_str()
            )));
        }
    }
    Ok(())
}

/// What a check said about one candidate.
struct Gate {
    verdict: Verdict,
    complete: bool,
    reasons: Vec<String>,
}

/// The gate for `name` with content `hash` in `report`. A stored report (`stored`: the label
/// and its content, if it exists) must have checked exactly that content against exactly the
/// label's.
fn gate_of(
    report: &CheckReport,
    name: &PromptName,
    hash: &ContentHash,
    stored: Option<(&str, Option<&ContentHash>)>,
) -> Result<Gate> {
    let candidate = report
        .candidates
        .iter()
        .find(|c| &c.prompt == name && !c.control && &c.candidate.hash == hash)
        .ok_or_else(|| {
            if stored.is_some() {
                Error::Usage(format!(
                    "run {} did not check {name} with the content at HEAD ({}); run `promptgate promote {name}` to check it now",
                    report.run_id,
                    hash.short()
                ))
            } else {
                Error::Internal(format!("the check did not report on {name}"))
            }
        })?;
    if let Some((label, Some(expected))) = stored {
        if &candidate.baseline.hash != expected {
            return Err(Error::Usage(format!(
                "run {} compared {name} against {} ({}), not against {label} ({}); check against the label, or run `promptgate promote {name}`",
                report.run_id,
                candidate.baseline.rev,
                candidate.baseline.hash.short(),
                expected.short()
            )));
        }
    }
    // A pre-existing breach is not the change's fault, so a check only warns; but the label
    // is what production serves, and a release must meet its ceilings.
    let verdict = match candidate.warnings.is_empty() {
        true => candidate.verdict,
        false => Verdict::Fail,
    };
    Ok(Gate {
        verdict,
        complete: report.complete,
        reasons: candidate
            .reasons
            .iter()
            .chain(&candidate.warnings)
            .map(|r| format!("{} ({}): {}", r.metric, r.suite, r.message))
            .collect(),
    })
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
    let check_options = CheckOptions {
        resume: Some(run_id.to_string()),
        calls: CallOptions {
            env: options.calls.env.clone(),
            from_log: true,
            ..CallOptions::default()
        },
        ..CheckOptions::default()
    };
    let report = match check(root, &check_options, progress)? {
        CheckResult::Checked(outcome) => outcome.report,
        _ => {
            return Err(Error::Internal(format!(
                "run {run_id} could not be re-derived"
            )));
        }
    };
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

/// What `promptgate rollback` was asked to do.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// The prompt.
    pub name: String,
    /// The label to move back.
    pub label: String,
    /// The version to go back to (`vN` or `N`); default the one promoted before the current.
    pub to: Option<String>,
    /// Why (required).
    pub reason: String,
}

/// Moves `name@label` back to an earlier promoted version, at once and without a gate, and
/// records who, when and why.
pub fn rollback(root: &Path, options: &RollbackOptions) -> Result<LabelEvent> {
    rollback_guarded(root, options, None)?
        .ok_or_else(|| Error::Internal("an unguarded rollback moved nothing".into()))
}

/// [`rollback`], made by `monitor` when `from` is given: only while the label still serves
/// version `from` (`None` when it no longer does: nothing moves), and recorded as automatic.
pub(super) fn rollback_guarded(
    root: &Path,
    options: &RollbackOptions,
    from: Option<u32>,
) -> Result<Option<LabelEvent>> {
    let store = Store::open(root)?;
    let name = PromptName::new(&options.name);
    let label = options.label.as_str();
    store.check_label(label)?;
    if options.reason.trim().is_empty() {
        return Err(Error::Usage("rollback needs --reason TEXT".into()));
    }
    let expected_label = store.label_target(&name, label);
    let expected_history = store.history_tip(&name, label);
    let promoted = store.promoted(&name)?;
    let current = current_version(&store, &name, label, &promoted).ok_or_else(|| {
        Error::Usage(format!(
            "{name}@{label} does not point at a promoted version; promote one first (`promptgate promote {name} --label {label}`)"
        ))
    })?;
    if from.is_some_and(|v| v != current.version) {
        return Ok(None);
    }
    let target = rollback_target(
        &store,
        (&name, label),
        options.to.as_deref(),
        current,
        &promoted,
    )?;
    if target.version == current.version {
        return Err(Error::Usage(format!(
            "{name}@{label} is already at v{}",
            current.version
        )));
    }
    let signature = store.signature()?;
    let event = LabelEvent {
        action: ReleaseAction::Rollback,
        prompt: name.to_string(),
        label: label.to_string(),
        version: target.version,
        from: Some(current.version),
        commit: target.record.commit.clone(),
        content: target.record.content.clone(),
        by: identity(&signature),
        at: chrono::Utc::now().to_rfc3339(),
        reason: Some(options.reason.clone()),
        forced: false,
        verdict: None,
        reasons: Vec::new(),
        run: None,
        report_digest: None,
        approvals: Vec::new(),
        baseline: None,
        automatic: from.is_some(),
    };
    store.move_label(
        &LabelMove {
            name: &name,
            label,
            expected_label,
            expected_history,
            event: &event,
        },
        LabelTarget::Existing(target.tag_id),
        &signature,
    )?;
    Ok(Some(event))
}

/// The version a rollback moves `name@label` to: `to` (`v3` or `3`), or the version promoted
/// to the label before the current one.
fn rollback_target<'p>(
    store: &Store,
    (name, label): (&PromptName, &str),
    to: Option<&str>,
    current: &Promoted,
    promoted: &'p [Promoted],
) -> Result<&'p Promoted> {
    Ok(match to {
        Some(to) => {
            let n: u32 = to.trim_start_matches('v').parse().map_err(|_| {
                Error::Usage(format!("`--to {to}` is not a version; write it as v3 or 3"))
            })?;
            promoted.iter().find(|p| p.version == n).ok_or_else(|| {
                Error::Usage(format!(
                    "{name} has no version v{n}; promoted versions: {}",
                    promoted
                        .iter()
                        .map(|p| format!("v{}", p.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?
        }
        None => {
            let history = store.history(name, label)?;
            let order: Vec<u32> = history
                .iter()
                .filter(|e| e.action == ReleaseAction::Promote)
                .map(|e| e.version)
                .collect();
            let earlier = order
                .iter()
                .rposition(|&v| v == current.version)
                .and_then(|i| order[..i].iter().rev().find(|&&v| v != current.version));
            let n = earlier.ok_or_else(|| {
                Error::Usage(format!(
                    "{name}@{label} is at v{}, and no earlier version was promoted to it; name one with --to",
                    current.version
                ))
            })?;
            promoted
                .iter()
                .find(|p| p.version == *n)
                .ok_or_else(|| Error::Internal(format!("the tag of v{n} is missing")))?
        }
    })
}

/// Records an approval by `id` of `spec` (`NAME@REV`, REV default HEAD), bound to that
/// version's content hash.
pub fn approve(root: &Path, spec: &str, id: &str, note: Option<String>) -> Result<Approval> {
    let project = Project::open(root)?;
    let (name, rev) = spec.split_once('@').unwrap_or((spec, "HEAD"));
    let name = PromptName::new(name);
    let content = Prepared::effective_hash(&project, &name, rev)?;
    let signature = project.store.signature()?;
    let approval = Approval {
        // `Bob` and `bob` are one approver.
        id: id.to_lowercase(),
        prompt: name.to_string(),
        rev: rev.to_string(),
        content: content.as_str().to_string(),
        recorded_by: identity(&signature),
        at: chrono::Utc::now().to_rfc3339(),
        note,
    };
    project.store.approve(&content, &approval)?;
    Ok(approval)
}

/// A prompt's release history: versions, labels, every label move and the commits.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The prompt.
    pub prompt: String,
    /// Each label and the version it serves (`None`: not a promoted version).
    pub labels: Vec<(String, Option<u32>)>,
    /// Promoted versions, oldest first.
    pub versions: Vec<Promoted>,
    /// Every move of every label, oldest first.
    pub moves: Vec<LabelEvent>,
    /// The commits that changed the prompt, newest first.
    pub commits: Vec<crate::store::LogEntry>,
}

/// `promptgate log NAME`: the audit trail from the tags and the labels' histories.
pub fn history(root: &Path, name: &str) -> Result<History> {
    let store = Store::open(root)?;
    let name = PromptName::new(name);
    let commits = store.log(&name)?;
    let versions = store.promoted(&name)?;
    let labels = store.labels(&name)?;
    if commits.is_empty() && versions.is_empty() {
        store.version(&name, WORKTREE)?;
    }
    let mut moves = Vec::new();
    for label in &labels {
        moves.extend(store.history(&name, label)?);
    }
    moves.sort_by(|a, b| a.at.cmp(&b.at));
    let labels = labels
        .into_iter()
        .map(|label| {
            let version = current_version(&store, &name, &label, &versions).map(|p| p.version);
            (label, version)
        })
        .collect();
    Ok(History {
        prompt: name.to_string(),
        labels,
        versions,
        moves,
        commits,
    })
}

/// One prompt's labels against HEAD and the working tree.
#[derive(Debug, Clone, Serialize)]
pub struct PromptStatus {
    /// The prompt.
    pub prompt: String,
    /// Each label with its version and whether HEAD and the working tree hold other content.
    pub labels: Vec<LabelStatus>,
    /// HEAD's content differs from the working tree's.
    pub uncommitted: bool,
}

/// One label of a prompt.
#[derive(Debug, Clone, Serialize)]
pub struct LabelStatus {
    /// The label.
    pub label: String,
    /// The promoted version it serves, if it points at one.
    pub version: Option<u32>,
    /// HEAD holds other content than the label.
    pub head_differs: bool,
    /// The working tree holds other content than the label.
    pub worktree_differs: bool,
}

/// `promptgate status`: every prompt with its label versions and what differs from them.
pub fn status(root: &Path) -> Result<Vec<PromptStatus>> {
    let project = Project::open(root)?;
    let store = &project.store;
    let mut names = store.prompt_names(WORKTREE)?;
    if let Ok(head) = store.prompt_names("HEAD") {
        names.extend(head);
    }
    names.sort();
    names.dedup();
    let hash_at = |name: &PromptName, rev: &str| Prepared::effective_hash(&project, name, rev).ok();
    names
        .iter()
        .map(|name| {
            let head = hash_at(name, "HEAD");
            let worktree = hash_at(name, WORKTREE);
            let promoted = store.promoted(name)?;
            let labels = store
                .labels(name)?
                .into_iter()
                .map(|label| {
                    let at_label = hash_at(name, &label);
                    LabelStatus {
                        version: current_version(store, name, &label, &promoted).map(|p| p.version),
                        head_differs: head != at_label,
                        worktree_differs: worktree != at_label,
                        label,
                    }
                })
                .collect();
            Ok(PromptStatus {
                prompt: name.to_string(),
                labels,
                uncommitted: head != worktree,
            })
        })
        .collect()
}

fn identity(signature: &git2::Signature<'_>) -> String {
    format!(
        "{} <{}>",
        signature.name().unwrap_or("?"),
        signature.email().unwrap_or("?")
    )
}
