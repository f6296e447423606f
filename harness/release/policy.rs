//! What a release must meet before a label moves: the tier's policy (owner, approvals,
//! required suites), the prompt's readiness, and the gate of the check it is promoted on.

use super::facts::{assess_one, ci_files};
use super::shadow_runs::shadow_runs;
use crate::config::{OnInconclusive, TierPolicy as Policy};
use crate::errors::{Error, Result, exit};
use crate::gate::{self, Completeness, Verdict};
use crate::ids::{ContentHash, PromptName};
use crate::pipeline::prepare::Prepared;
use crate::pipeline::project::Project;
use crate::report::CheckReport;
use crate::store::Approval;
use crate::suite::SuiteKind;

/// Refuses a promotion the tier's policy does not allow yet: no owner past the `low` tier, too
/// few approvals of the exact content, a required suite kind missing. Returns the approvals.
pub(crate) fn check_policy(
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
            "{name} ({} tier) needs {} of content {}{}, and has {approvers}: run `promptgate approve {name}@HEAD --as ID`",
            policy.tier.as_str(),
            crate::report::plural(policy.approvals as usize, "approval"),
            content.short(),
            if policy.approvals > 1 {
                " by different people"
            } else {
                ""
            },
        )));
    }
    check_required_suites(project, name, policy)?;
    Ok(approvals)
}

/// The refusal when the gate blocks promoting `name` to `label` under `policy`; `None` when it
/// passes. A release needs a decision: an inconclusive gate blocks unless the tier allows it.
pub(crate) fn blocked_by(
    gate: &Gate,
    policy: &Policy,
    name: &PromptName,
    label: &str,
    run_id: &crate::ids::RunId,
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

/// Refuses a promotion when the readiness of the content promoted falls short of its tier's
/// minimum.
pub(crate) fn check_readiness(project: &Project, candidate: &Prepared) -> Result<()> {
    let name = &candidate.version.name;
    let ci = ci_files(&project.root);
    let shadow_runs = shadow_runs(project);
    let assessment = assess_one(project, candidate, &ci, &shadow_runs)?;
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
pub(crate) struct Gate {
    pub(crate) verdict: Verdict,
    pub(crate) complete: bool,
    pub(crate) reasons: Vec<String>,
}

/// The gate for `name` with content `hash` in `report`. A stored report (`stored`: the label
/// and its content, if it exists) must have checked exactly that content against exactly the
/// label's.
pub(crate) fn gate_of(
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
