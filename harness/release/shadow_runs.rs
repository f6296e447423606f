//! The shadow runs under `reports/`: what a promotion's baseline and the readiness of a
//! prompt's traffic are read from.

use crate::ids::{ContentHash, PromptName};
use crate::pipeline::check::rederive;
use crate::pipeline::progress::Progress;
use crate::pipeline::project::{Env, Project};
use crate::pipeline::request::CheckOptions;
use crate::report::CheckReport;

/// A shadow run, as its manifest records it (finished or not).
pub(crate) struct ShadowRun {
    /// Its id.
    pub(crate) id: crate::ids::RunId,
    /// When it started (RFC 3339).
    pub(crate) started_at: String,
    /// The prompt it shadowed.
    pub(crate) prompt: PromptName,
}

/// Every shadow run under `reports/`, newest first, read from the manifests alone: no report
/// is read until a caller needs one, so every other run costs only its small manifest. A run
/// git tracks is none (a commit could have written it), nor is any when git's index cannot be
/// read to tell.
pub(crate) fn shadow_runs(project: &Project) -> Vec<ShadowRun> {
    let root = project.root.as_path();
    let Ok(tracked) = project.tracked_runs() else {
        return Vec::new();
    };
    crate::record::run_ids(root)
        .into_iter()
        .rev()
        .filter(|id| !tracked.contains(id.as_str()))
        .filter_map(|id| {
            let manifest = crate::record::read_manifest(root, &id).ok()?;
            let options: CheckOptions = serde_json::from_value(manifest.resume?).ok()?;
            options.traffic.as_ref()?;
            let [prompt] = options.prompts.as_slice() else {
                return None;
            };
            Some(ShadowRun {
                id,
                started_at: manifest.started_at,
                prompt: PromptName::new(prompt),
            })
        })
        .collect()
}

/// The newest passing shadow run of `name` whose candidate is the content `hash`, as its own
/// results log gives it ([`rederive`]): a stored `report.json` only picks the runs worth
/// re-deriving, and one its log does not bear out is none (said through `progress`).
pub(crate) fn passing_shadow_run(
    project: &Project,
    name: &PromptName,
    hash: &ContentHash,
    env: &Env,
    progress: &mut dyn FnMut(Progress),
) -> Option<CheckReport> {
    let root = project.root.as_path();
    let fits = |report: &CheckReport| {
        report.complete
            && report.verdict == crate::gate::Verdict::Pass
            && report
                .candidates
                .iter()
                .any(|c| &c.prompt == name && &c.candidate.hash == hash)
    };
    shadow_runs(project)
        .iter()
        .filter(|run| &run.prompt == name)
        .filter_map(|run| {
            let stored = crate::record::read_report::<CheckReport>(root, &run.id).ok()?;
            fits(&stored).then_some((run, stored))
        })
        .find_map(|(run, stored)| {
            match rederive(root, run.id.as_str(), env, progress) {
                Ok(report) if compared(&report) != compared(&stored) => {
                    progress(Progress::Note(format!(
                        "shadow run {} is not used: its revisions now name other contents than the ones it compared (a label or HEAD moved since), so its log cannot re-derive it",
                        run.id
                    )));
                }
                Ok(report) if fits(&report) => return Some(report),
                Ok(report) => progress(Progress::Note(format!(
                    "shadow run {} is no passing run of this content: its report.json says so, and its own results log gives {}",
                    run.id,
                    report.verdict.as_str()
                ))),
                Err(e) => progress(Progress::Note(format!(
                    "shadow run {} is not used: it could not be re-derived from its own results log ({e})",
                    run.id
                ))),
            }
            None
        })
}

/// The contents `report` compared: each candidate's baseline and candidate content ids.
fn compared(report: &CheckReport) -> Vec<(&ContentHash, &ContentHash)> {
    report
        .candidates
        .iter()
        .map(|c| (&c.baseline.hash, &c.candidate.hash))
        .collect()
}
