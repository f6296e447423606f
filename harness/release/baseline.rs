//! The monitoring baseline a promotion records: the outputs of a check's candidate (a
//! passing shadow run's, else the gate's), held to the shadow suite's checks.

use super::shadow_runs::passing_shadow_run;
use crate::config::TierPolicy;
use crate::errors::{Error, Result};
use crate::ids::{ContentHash, PromptName};
use crate::monitor::Observation;
use crate::pipeline::progress::Progress;
use crate::pipeline::project::{Env, Project};
use crate::report::CheckReport;
use crate::score::Observed;
use crate::store::Baseline;
use crate::suite::{Assertion, Suite, SuiteKind};

/// `measured` (a call's failure, latency, cost and tokens) with whether its `output` passed
/// every check: not judged without checks, or when the call failed or left no output.
pub(crate) fn observe(
    checks: &[Assertion],
    measured: Observation,
    output: Option<&str>,
    tool_calls: &[crate::provider::ToolCall],
) -> Observation {
    let passed = match output {
        Some(text) if !checks.is_empty() && !measured.failed => {
            let observed = Observed {
                text,
                latency_ms: measured.latency_ms.unwrap_or_default(),
                cost: measured.cost,
                tool_calls,
                ..Observed::default()
            };
            Some(crate::score::all_pass(&crate::score::score(
                checks, observed,
            )))
        }
        _ => None,
    };
    Observation { passed, ..measured }
}

/// The monitoring baseline `report` shows for `name`'s candidate: its outputs in every suite
/// but the adversarial ones, held to the shadow suite's checks.
pub(crate) fn baseline_of(
    project: &Project,
    name: &PromptName,
    report: &CheckReport,
    source: &str,
) -> Baseline {
    let shadow = Suite::shadow_for(&project.suites, name);
    let checks = shadow.map_or(&[][..], |s| &s.checks[..]);
    let observations: Vec<Observation> = report
        .candidates
        .iter()
        .filter(|c| &c.prompt == name)
        .flat_map(|c| &c.suites)
        .filter(|s| s.kind != SuiteKind::Adversarial)
        .flat_map(|s| &s.cases)
        .flat_map(|c| &c.candidate.samples)
        .filter(|s| !s.skipped)
        .map(|s| {
            let measured = Observation {
                failed: s.error.is_some(),
                passed: None,
                latency_ms: Some(s.latency_ms),
                cost: s.cost,
                tokens: Some(s.tokens),
            };
            observe(checks, measured, s.output.as_deref(), &s.tool_calls)
        })
        .collect();
    Baseline {
        source: source.to_string(),
        run: report.run_id.to_string(),
        checks: checks.iter().map(|c| c.kind().to_string()).collect(),
        checks_digest: shadow.and_then(|suite| checks_digest(project, suite)),
        measured: crate::monitor::measure(&observations),
    }
}

/// The content id of the shadow suite `suite` as its file reads now (`None` when it cannot be
/// read): what a baseline's checks and a monitor's are compared by.
pub(crate) fn checks_digest(project: &Project, suite: &Suite) -> Option<String> {
    let text = crate::files::read_confined(&project.root, &suite.path).ok()??;
    Some(ContentHash::of(text.as_bytes()).as_str().to_string())
}

/// What a release promotes: the prompt, its content, and whether it is forced past its gate.
pub(crate) struct Promoted<'a> {
    pub(crate) name: &'a PromptName,
    pub(crate) hash: &'a ContentHash,
    pub(crate) forced: bool,
}

/// The monitoring baseline a release of `name`'s content `hash` records: production
/// traffic's, from the newest passing shadow run of that content, when there is one; else the
/// gate's `report`. A tier that requires a shadow run refuses a release without one, unless
/// it is `forced`. A shadow run is read as its results log gives it, with `env` to replay it.
pub(crate) fn for_release(
    project: &Project,
    promoted: Promoted<'_>,
    report: &CheckReport,
    policy: &TierPolicy,
    env: &Env,
    progress: &mut dyn FnMut(Progress),
) -> Result<Baseline> {
    let Promoted { name, hash, forced } = promoted;
    let shadow = passing_shadow_run(project, name, hash, env, progress);
    if policy.require.contains(&SuiteKind::Shadow) && shadow.is_none() && !forced {
        return Err(Error::refused(format!(
            "the `{}` tier requires a passing shadow run of this content before {name} is promoted: run `promptgate shadow {name} --traffic FILE` first",
            policy.tier.as_str()
        )));
    }
    Ok(match &shadow {
        Some(run) => baseline_of(project, name, run, "shadow"),
        None => baseline_of(project, name, report, "gate"),
    })
}
