//! Labels and the versions they serve: the label promotions move unless told otherwise, the
//! promoted version a label points at, and a rollback's move of it (by hand, or by a monitor's
//! kill switch) to an earlier version.

use std::path::Path;

use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::store::{LabelEvent, LabelMove, LabelTarget, Promoted, ReleaseAction, Store};

/// The label promotions move unless told otherwise.
pub const DEFAULT_LABEL: &str = "production";

/// The version `name@label` serves, when it points at one of the promoted tags.
pub(crate) fn current_version<'p>(
    store: &Store,
    name: &PromptName,
    label: &str,
    promoted: &'p [Promoted],
) -> Option<&'p Promoted> {
    let target = store.label_target(name, label)?;
    promoted.iter().find(|p| p.tag_id == target)
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
    /// Move to a version `to` names even when it is newer than the current one, or was pulled
    /// from the label (a breach or an earlier rollback moved the label away from it).
    pub force: bool,
}

/// Moves `name@label` back to an earlier promoted version (`rollback`), recording who, when
/// and why. Made by a monitor when `from` is given: only while the label still serves version
/// `from` (`None` when it no longer does: nothing moves), and recorded as automatic.
pub(crate) fn roll_back(
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
    let history = store.history(&name, label)?;
    let to = options.to.as_deref();
    let target = rollback_target(&name, label, to, current, &promoted, &history)?;
    if target.version == current.version {
        return Err(Error::Usage(format!(
            "{name}@{label} is already at v{}",
            current.version
        )));
    }
    if !options.force {
        refuse_unsafe_target(&name, label, target.version, current.version, &history)?;
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
        forced: options.force,
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

/// The version a rollback moves `name@label` to: `to` (`v3` or `3`), or the latest version
/// promoted to the label before the current one that was not pulled from it since.
fn rollback_target<'p>(
    name: &PromptName,
    label: &str,
    to: Option<&str>,
    current: &Promoted,
    promoted: &'p [Promoted],
    history: &[LabelEvent],
) -> Result<&'p Promoted> {
    let n = match to {
        Some(to) => {
            let n: u32 = to.trim_start_matches('v').parse().map_err(|_| {
                Error::Usage(format!("`--to {to}` is not a version; write it as v3 or 3"))
            })?;
            if !promoted.iter().any(|p| p.version == n) {
                return Err(Error::Usage(format!(
                    "{name} has no version v{n}; promoted versions: {}",
                    promoted
                        .iter()
                        .map(|p| format!("v{}", p.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            n
        }
        None => {
            let order: Vec<u32> = history
                .iter()
                .filter(|e| e.action == ReleaseAction::Promote)
                .map(|e| e.version)
                .collect();
            let earlier = order
                .iter()
                .rposition(|&v| v == current.version)
                .and_then(|i| {
                    order[..i]
                        .iter()
                        .rev()
                        .find(|&&v| v != current.version && pulled(history, v).is_none())
                });
            *earlier.ok_or_else(|| {
                Error::Usage(format!(
                    "{name}@{label} is at v{}, and no earlier version promoted to it is left that was not pulled from it; name one with --to (and --force)",
                    current.version
                ))
            })?
        }
    };
    promoted
        .iter()
        .find(|p| p.version == n)
        .ok_or_else(|| Error::Internal(format!("the tag of v{n} is missing")))
}

/// The rollback that last moved the label away from version `v` after it last reached it:
/// `v` was pulled (by a monitor's breach or by hand).
fn pulled(history: &[LabelEvent], v: u32) -> Option<&LabelEvent> {
    let reached = history.iter().rposition(|e| e.version == v)?;
    history[reached..]
        .iter()
        .rfind(|e| e.action == ReleaseAction::Rollback && e.from == Some(v))
}

/// Refuses a rollback to a version newer than the current one (that is a release, which the
/// gate decides) or to one pulled from the label, unless forced.
fn refuse_unsafe_target(
    name: &PromptName,
    label: &str,
    target: u32,
    current: u32,
    history: &[LabelEvent],
) -> Result<()> {
    if target > current {
        return Err(Error::refused(format!(
            "v{target} is newer than {name}@{label}'s v{current}: moving to it is a release, not a rollback; promote it through the gate (`promptgate promote {name}`), or pass --force with --reason to move the label forward ungated"
        )));
    }
    if let Some(pull) = pulled(history, target) {
        return Err(Error::refused(format!(
            "v{target} was pulled from {name}@{label} on {} by {}{}: {}; name another version with --to, or pass --force with --reason to serve it again",
            pull.at,
            pull.by,
            if pull.automatic {
                " (automatic, on a breach)"
            } else {
                ""
            },
            pull.reason.as_deref().unwrap_or("no reason recorded")
        )));
    }
    Ok(())
}

/// Who a git signature names, as release records show it.
pub(crate) fn identity(signature: &git2::Signature<'_>) -> String {
    format!(
        "{} <{}>",
        signature.name().unwrap_or("?"),
        signature.email().unwrap_or("?")
    )
}
