//! Shards: one check run as N processes on the workers of the CI engine a team already has,
//! each on the cases whose stable identity (suite and case id) hashes to it, and `merge`,
//! which checks the shards belong to one plan and gates their union once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::rounds::Waves;
use super::select::ComparisonSpec;
use super::wave::WavePlan;
use super::{CheckOptions, CheckOutcome, CheckResult, Checked};
use crate::errors::{Error, Result};
use crate::ids::RunId;
use crate::ops::plan::Prepared;
use crate::ops::reports::{ReportFormat, write_reports};
use crate::ops::{Env, Progress, Project};
use crate::record::{Manifest, RunDir, ShardRecord};

/// One shard of a check: `index` of `total`, counted from 1 (as nextest, Playwright and GitLab
/// count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// 1 to `total`.
    pub index: u32,
    /// How many shards.
    pub total: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, with 1 ≤ I ≤ N.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let (index, total) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: a shard is I/N (for example 2/4), or `auto`"))?;
        let number = |n: &str| {
            n.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}`: `{n}` is not a whole number"))
        };
        Self::new(number(index)?, number(total)?)
    }
}

impl Shard {
    fn new(index: u32, total: u32) -> std::result::Result<Self, String> {
        if total == 0 || index == 0 || index > total {
            return Err(format!(
                "shard {index}/{total}: the index counts from 1 to the total"
            ));
        }
        Ok(Self { index, total })
    }

    /// The shard the CI engine's environment names (`--shard auto`): GitLab's
    /// `CI_NODE_INDEX`/`CI_NODE_TOTAL`, a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`
    /// (0-based) with `PROMPTGATE_SHARD_TOTAL`, or `PROMPTGATE_SHARD_INDEX` (1-based) with
    /// `PROMPTGATE_SHARD_TOTAL`.
    pub fn from_env(env: &Env) -> std::result::Result<Self, String> {
        let get = |key: &str| env.get(key).filter(|v| !v.trim().is_empty());
        let number = |key: &str, value: &String| {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("{key}={value} is not a whole number"))
        };
        let total = |key: &str| -> std::result::Result<u32, String> {
            let value = get(key).ok_or_else(|| format!("{key} is not set"))?;
            number(key, value)
        };
        if let Some(index) = get("PROMPTGATE_SHARD_INDEX") {
            return Self::new(
                number("PROMPTGATE_SHARD_INDEX", index)?,
                total("PROMPTGATE_SHARD_TOTAL")?,
            );
        }
        if let Some(index) = get("CI_NODE_INDEX") {
            return Self::new(number("CI_NODE_INDEX", index)?, total("CI_NODE_TOTAL")?);
        }
        if let Some(index) = get("JOB_COMPLETION_INDEX") {
            let total = total("PROMPTGATE_SHARD_TOTAL").map_err(|e| {
                format!("{e}: a Kubernetes Indexed Job names its index, not its completions")
            })?;
            return Self::new(number("JOB_COMPLETION_INDEX", index)? + 1, total);
        }
        Err("`--shard auto` found no shard in the environment: set CI_NODE_INDEX and CI_NODE_TOTAL (GitLab `parallel:`), JOB_COMPLETION_INDEX and PROMPTGATE_SHARD_TOTAL (a Kubernetes Indexed Job), or PROMPTGATE_SHARD_INDEX and PROMPTGATE_SHARD_TOTAL".into())
    }

    /// Whether the case `case` of suite `suite` is this shard's. All of a case's samples, on
    /// both versions, go with it; a new case moves no other.
    pub(super) fn holds(&self, suite: &str, case: &str) -> bool {
        let digest = Sha256::new()
            .chain_update(suite.as_bytes())
            .chain_update([0])
            .chain_update(case.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.total) == u64::from(self.index - 1)
    }
}

/// Keeps in `project` only the cases of `shard`.
pub(super) fn keep(project: &mut Project, shard: Shard) {
    for suite in &mut project.suites {
        let name = suite.name.clone();
        suite.cases.retain(|c| shard.holds(&name, &c.id));
    }
}

/// The fingerprint of a check's plan, the same in every shard of it and in `merge`: the
/// comparisons (each version's content id), the suites' files and case ids, the config, and
/// the options that decide the calls. Shards of different plans cannot be merged.
pub(super) fn fingerprint(
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
    pub calls: crate::ops::CallOptions,
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

/// Merges shard runs: checks that they belong to one plan (this checkout's), that every index
/// of every wave is there once, then gates the union of their calls as one check on this
/// machine would, writing every report into a run directory of its own; or, for an
/// `--adaptive` check whose next round the shards did not draw, writes it as the next wave's
/// plan. No call is made.
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
    let mut shards: Vec<(PathBuf, Manifest)> = Vec::new();
    for dir in &options.dirs {
        shards.push((dir.clone(), crate::record::read_manifest_at(dir)?));
    }
    let first = shards[0].1.clone();
    let place = |dir: &Path, m: &Manifest| -> Result<ShardRecord> {
        m.shard.clone().ok_or_else(|| {
            Error::Usage(format!(
                "{} is not a shard run (run `promptgate check --shard I/N`)",
                dir.display()
            ))
        })
    };
    let plan = place(&shards[0].0, &first)?;
    let mut seen: HashMap<(u32, u32), &Path> = HashMap::new();
    for (dir, manifest) in &shards {
        let shard = place(dir, manifest)?;
        if shard.plan != plan.plan || shard.total != plan.total {
            return Err(Error::Usage(format!(
                "{} is shard {}/{} of plan {}, and {} is of plan {} ({} shards): shards of different checks (another commit, suite or option) cannot be merged",
                dir.display(),
                shard.index,
                shard.total,
                shard.plan,
                shards[0].0.display(),
                plan.plan,
                plan.total
            )));
        }
        if let Some(other) = seen.insert((shard.wave, shard.index), dir) {
            return Err(Error::Usage(format!(
                "shard {} is given twice: {} and {}",
                place_name(shard.wave, shard.index, shard.total),
                other.display(),
                dir.display()
            )));
        }
    }
    let waves = seen.keys().map(|&(wave, _)| wave).max().unwrap_or(1);
    let missing: Vec<String> = (1..=waves)
        .flat_map(|wave| (1..=plan.total).map(move |index| (wave, index)))
        .filter(|key| !seen.contains_key(key))
        .map(|(wave, index)| place_name(wave, index, plan.total))
        .collect();
    if !missing.is_empty() && !options.allow_incomplete {
        return Err(Error::Usage(format!(
            "shard {} of plan {} is missing; merge every shard, or pass --allow-incomplete to gate the others (exit 12)",
            missing.join(", "),
            plan.plan
        )));
    }
    // The check's options, as the first wave's shards stored them.
    let (first_dir, first) = shards
        .iter()
        .find(|(_, m)| m.shard.as_ref().is_some_and(|s| s.wave == 1))
        .unwrap_or(&shards[0]);
    let stored = first.resume.clone().ok_or_else(|| {
        Error::Usage(format!(
            "{} has no stored check options",
            first_dir.display()
        ))
    })?;
    let mut check: CheckOptions = serde_json::from_value(stored.clone()).map_err(|e| {
        Error::Usage(format!(
            "{} was written by another version of promptgate: {e}",
            first_dir.display()
        ))
    })?;
    check.shard = None;
    check.wave = None;
    check.calls.env = options.calls.env.clone();
    check.calls.command = options.calls.command.clone();
    check.calls.from_log = true;
    check.calls.allow_missing = options.allow_incomplete;
    check.calls = check.calls.over_config(&project.config);
    // This checkout must plan what the shards planned.
    let specs = super::select::select(&project, &check, progress)?;
    let here = fingerprint(&project, &check, &specs)?;
    if here != plan.plan {
        return Err(Error::Usage(format!(
            "the shards are of plan {}, and this checkout plans {here}: merge on the commit, with the options, the shards ran",
            plan.plan
        )));
    }
    let manifest = Manifest {
        format_version: crate::record::FORMAT_VERSION,
        run_id: RunId::generate(),
        started_at: chrono::Utc::now().to_rfc3339(),
        command: options.calls.command.clone(),
        calls: shards.iter().map(|s| s.1.calls).sum(),
        resume: Some(serde_json::to_value(&check).map_err(Error::encode("the check's options"))?),
        shard: None,
    };
    let mut run_dir = RunDir::create(&project.root, &manifest)?;
    let mut logged = HashMap::new();
    for (dir, _) in &shards {
        crate::record::for_each_logged(dir, |line, record| {
            run_dir.append_copied(line)?;
            logged.entry(record.key).or_insert(record.outcome);
            Ok(())
        })?;
    }
    run_dir.finish()?;
    let earlier = Some((manifest, logged));
    // The shards ran elsewhere: the merge decides from their calls alone.
    check.fresh_noise = true;
    let waves = check.adaptive.then_some(Waves {
        merged: waves,
        last: options.last_wave,
    });
    let outcome = match super::checked(&mut project, &check, earlier, waves, clock, progress)? {
        Checked::Result(CheckResult::Checked(outcome)) => outcome,
        Checked::NextWave {
            wave,
            samples,
            run_dir,
        } => {
            let next = WavePlan::new((plan.plan, plan.total, stored), wave, samples);
            let path = next.write(&run_dir)?;
            return Ok(MergeResult::NextWave(NextWave { plan: next, path }));
        }
        Checked::Result(_) => return Err(Error::Internal("a merge planned nothing".into())),
    };
    let mut outcome = *outcome;
    if !missing.is_empty() {
        outcome.report.complete = false;
        outcome.report.incomplete = Some(format!("shard {} not merged", missing.join(", ")));
        outcome.exit_code = crate::errors::exit::INCOMPLETE;
    }
    write_reports(&outcome.run_dir, &outcome.report, &ReportFormat::ALL)?;
    Ok(MergeResult::Gated(outcome))
}

/// How a shard is named in a merge's messages: `I/N`, and past the first wave, its wave.
fn place_name(wave: u32, index: u32, total: u32) -> String {
    match wave {
        1 => format!("{index}/{total}"),
        _ => format!("{index}/{total} of wave {wave}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_in_exactly_one_shard_and_new_cases_move_no_other() {
        let shards: Vec<Shard> = (1..=4).map(|i| Shard::new(i, 4).unwrap()).collect();
        let mut counts = [0; 4];
        for i in 0..400 {
            let id = format!("case-{i}");
            let holders: Vec<usize> = (0..4).filter(|&s| shards[s].holds("triage", &id)).collect();
            assert_eq!(holders.len(), 1, "{id}");
            counts[holders[0]] += 1;
        }
        assert!(counts.iter().all(|&c| c > 60), "balanced: {counts:?}");
        // The shard of a case depends on nothing but its suite and id.
        assert!(shards.iter().any(|s| s.holds("triage", "case-7")));
        assert_eq!(
            shards.iter().position(|s| s.holds("triage", "case-7")),
            shards.iter().position(|s| s.holds("triage", "case-7"))
        );
    }

    #[test]
    fn shards_are_read_from_the_flag_and_from_each_engine() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, total: 4 }));
        for bad in ["0/4", "5/4", "2", "a/4", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let env = |pairs: &[(&str, &str)]| -> Env {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let gitlab = env(&[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "5")]);
        assert_eq!(Shard::from_env(&gitlab), Ok(Shard { index: 3, total: 5 }));
        let k8s = env(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("PROMPTGATE_SHARD_TOTAL", "4"),
        ]);
        assert_eq!(Shard::from_env(&k8s), Ok(Shard { index: 1, total: 4 }));
        let own = env(&[
            ("PROMPTGATE_SHARD_INDEX", "4"),
            ("PROMPTGATE_SHARD_TOTAL", "4"),
        ]);
        assert_eq!(Shard::from_env(&own), Ok(Shard { index: 4, total: 4 }));
        let half = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert!(
            Shard::from_env(&half)
                .unwrap_err()
                .contains("PROMPTGATE_SHARD_TOTAL is not set")
        );
        assert!(
            Shard::from_env(&env(&[]))
                .unwrap_err()
                .contains("found no shard")
        );
    }
}
