//! Shards: one check run as N processes on the workers of the CI engine a team already has,
//! each on the cases whose stable identity (suite and case id) hashes to it. Every shard
//! fingerprints the whole plan first, so `merge` gates only shards of one plan.

use sha2::{Digest, Sha256};

use super::prepare::Prepared;
use super::project::Project;
use super::request::{CheckOptions, Shard};
use super::select::ComparisonSpec;
use crate::errors::Result;

/// Keeps in `project` only the cases of `shard`.
pub(crate) fn keep(project: &mut Project, shard: Shard) {
    for suite in &mut project.suites {
        let name = suite.name.clone();
        suite.cases.retain(|c| shard.holds(&name, &c.id));
    }
}

/// The fingerprint of a check's plan, the same in every shard of it and in `merge`: the
/// comparisons (each version's content id), the suites' files and case ids, the config, and
/// the options that decide the calls. Shards of different plans cannot be merged.
pub(crate) fn fingerprint(
    project: &Project,
    options: &CheckOptions,
    specs: &[ComparisonSpec],
) -> Result<String> {
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    for spec in specs {
        part(spec.label.as_bytes());
        let base = Prepared::effective_hash(project, &spec.prompt, &spec.baseline_rev)?;
        let cand = Prepared::effective_hash(project, &spec.candidate.0, &spec.candidate.1)?;
        part(base.as_str().as_bytes());
        part(cand.as_str().as_bytes());
    }
    for suite in &project.suites {
        part(suite.name.as_bytes());
        for case in &suite.cases {
            part(case.id.as_bytes());
        }
        let text = std::fs::read(project.root.join(&suite.path)).unwrap_or_default();
        part(&text);
    }
    let config = std::fs::read(project.root.join(crate::config::CONFIG_FILE)).unwrap_or_default();
    part(&config);
    let decisive = serde_json::json!({
        "suites": options.suites,
        "confirm": options.confirm,
        "max_samples": options.max_samples,
        "control": options.control,
        "adaptive": options.adaptive,
        "provider": options.calls.provider,
    });
    part(decisive.to_string().as_bytes());
    let digest = hash.finalize();
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}
