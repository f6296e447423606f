//! The shadow runs under `reports/`: what a promotion's baseline and the readiness of a
//! prompt's traffic are read from.

use crate::ids::{ContentHash, PromptName};
use crate::pipeline::project::Project;
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

/// The newest passing shadow run of `name` whose candidate is the content `hash`.
pub(crate) fn passing_shadow_run(
    project: &Project,
    name: &PromptName,
    hash: &ContentHash,
) -> Option<CheckReport> {
    let root = project.root.as_path();
    shadow_runs(project)
        .iter()
        .filter(|run| &run.prompt == name)
        .find_map(|run| {
            let report: CheckReport = crate::record::read_report(root, &run.id).ok()?;
            let fits = report.complete
                && report.verdict == crate::gate::Verdict::Pass
                && report
                    .candidates
                    .iter()
                    .any(|c| &c.prompt == name && &c.candidate.hash == hash);
            fits.then_some(report)
        })
}
