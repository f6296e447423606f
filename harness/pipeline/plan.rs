//! A check's comparisons planned on their suites: the jobs of every case's samples on both
//! versions, and the limits each suite is gated on.

use std::collections::HashMap;
use std::sync::Arc;

use super::jobs::{Jobs, plan_suite, samples_for};
use super::panel::JudgeLibrary;
use super::prepare::{
    Prepared, Providers, SuiteProvider, described, effective_params, suites_for, unreached_target,
};
use super::progress::Progress;
use super::project::Project;
use super::request::CheckOptions;
use super::select::ComparisonSpec;
use crate::errors::{Error, Result};
use crate::gate::{self, Noise};
use crate::ids::PromptName;
use crate::noise::{Identity, Measurement, Memory};
use crate::stats::VersionTally;
use crate::suite::{Suite, SuiteKind};

/// A suite planned on both versions: the job indices of each case's samples per version.
pub(crate) struct PlannedSuite<'s> {
    pub(crate) suite: &'s Suite,
    /// Why an adversarial suite's attacks never reach the candidate, when they do not: a
    /// reason the gate fails on (its cases would all "resist").
    pub(crate) unreached: Option<String>,
    pub(crate) provider: Arc<SuiteProvider>,
    /// The limits the suite is gated on.
    pub(crate) tolerance: crate::config::Tolerance,
    /// Samples per case and version (the suite's, raised to the risk tier's minimum).
    pub(crate) samples: u32,
    /// Per case, the jobs of the baseline's samples.
    pub(crate) baseline: Vec<Vec<usize>>,
    /// Per case, the jobs of the candidate's samples.
    pub(crate) candidate: Vec<Vec<usize>>,
    /// Whether the provider's outputs can vary.
    pub(crate) noise: Noise,
    /// Calls made after the first samples, by round.
    pub(crate) extra_calls: gate::ExtraCalls,
    /// What each version's provider is remembered under (baseline, candidate).
    pub(crate) identities: [Identity; 2],
    /// The case-versions earlier checks re-sampled this suite's provider on.
    pub(crate) remembered: Vec<VersionTally>,
}

impl PlannedSuite<'_> {
    /// The key a case's samples on one version are remembered under (by a control run, or
    /// by a comparison).
    pub(crate) fn measured_key(&self, case: usize, version: &Prepared, control: bool) -> String {
        Measurement::key_of(
            &self.suite.name,
            &self.suite.cases[case].id,
            version.version.hash.as_str(),
            control,
        )
    }
}

/// Which version a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Baseline,
    Candidate,
}

/// A comparison planned on its suites.
pub(crate) struct PlannedCandidate<'s> {
    pub(crate) spec: &'s ComparisonSpec,
    pub(crate) baseline: Arc<Prepared>,
    pub(crate) candidate: Arc<Prepared>,
    pub(crate) suites: Vec<PlannedSuite<'s>>,
}

/// The limits a suite is gated on: its own over its prompt's risk tier's. An adversarial suite
/// is gated on attack successes; pass-rate and new-failure limits apply to it only when it sets
/// them itself, and a new success blocks unless it allows some, or the suite is gated on the
/// rise of its categories' rates instead (`max_asr_increase`).
fn suite_tolerance(suite: &Suite, tier: crate::config::Tolerance) -> crate::config::Tolerance {
    let own = suite.tolerance;
    match suite.kind {
        SuiteKind::Regression | SuiteKind::Shadow => own.over(tier),
        SuiteKind::Adversarial => {
            let merged = own.over(tier);
            crate::config::Tolerance {
                max_pass_rate_drop: own.max_pass_rate_drop,
                max_new_failures: own.max_new_failures,
                max_new_successes: merged.new_successes_allowed(),
                ..merged
            }
        }
    }
}

/// Plans every comparison on its suites: the jobs of each case's samples on both versions,
/// each suite with the noise `memory` remembers of its provider (none without it).
/// A selection whose suites have no case at all is an error (exit 3).
pub(crate) fn plan<'s>(
    project: &'s Project,
    options: &CheckOptions,
    specs: &'s [ComparisonSpec],
    mut memory: Option<&mut Memory>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Vec<PlannedCandidate<'s>>, Jobs)> {
    let mut versions: HashMap<(PromptName, String), Arc<Prepared>> = HashMap::new();
    let mut prepare = |name: &PromptName, rev: &str| -> Result<Arc<Prepared>> {
        let key = (name.clone(), rev.to_string());
        if let Some(p) = versions.get(&key) {
            return Ok(p.clone());
        }
        let prepared = Arc::new(Prepared::load(project, name, rev)?);
        versions.insert(key, prepared.clone());
        Ok(prepared)
    };
    let mut providers = Providers::new(
        project,
        &options.calls.env,
        options.calls.provider.as_deref(),
        progress,
    );
    if options.dry_run {
        providers = providers.dry_run();
    }
    let prompts = specs.iter().map(|spec| &spec.prompt);
    let library = JudgeLibrary::for_prompts(project, &mut providers, prompts, &options.suites)?;
    let mut jobs = Jobs::judged_by(Arc::new(library));
    // Every case's first samples on both versions, as the suites ask (identical requests make
    // fewer; a risk tier asking for more samples grows the vectors past it).
    let most: usize = specs
        .iter()
        .flat_map(|spec| suites_for(&project.suites, &spec.prompt, &options.suites))
        .map(|suite| suite.cases.len() * suite.samples as usize * 2)
        .sum();
    jobs.reserve(most);
    let mut planned = Vec::new();
    for spec in specs {
        let baseline = prepare(&spec.prompt, &spec.baseline_rev)?;
        let candidate = prepare(&spec.candidate.0, &spec.candidate.1)?;
        let mut suites = Vec::new();
        for suite in suites_for(&project.suites, &spec.prompt, &options.suites) {
            let provider = providers.for_suite(suite)?;
            let versions = Versions {
                baseline: &baseline,
                candidate: &candidate,
            };
            let mut planned = plan_one(project, spec, suite, provider, versions, &mut jobs)?;
            if let Some(memory) = memory.as_deref_mut() {
                planned.remembered = recall(memory, &planned, versions, spec.control);
            }
            suites.push(planned);
        }
        planned.push(PlannedCandidate {
            spec,
            baseline,
            candidate,
            suites,
        });
    }
    if planned
        .iter()
        .all(|p| p.suites.iter().all(|s| s.suite.cases.is_empty()))
    {
        let names: Vec<String> = specs.iter().map(|s| s.prompt.to_string()).collect();
        return Err(Error::NoCases(format!(
            "no suite with cases targets {}; add a suite under suites/ with `prompt: NAME`",
            if names.is_empty() {
                "the selected prompts".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    Ok((planned, jobs))
}

/// The two versions a comparison plans a suite on.
#[derive(Clone, Copy)]
struct Versions<'p> {
    baseline: &'p Prepared,
    candidate: &'p Prepared,
}

/// One suite planned on both versions of a comparison.
fn plan_one<'s>(
    project: &Project,
    spec: &ComparisonSpec,
    suite: &'s Suite,
    provider: Arc<SuiteProvider>,
    versions: Versions<'_>,
    jobs: &mut Jobs,
) -> Result<PlannedSuite<'s>> {
    let Versions {
        baseline,
        candidate,
    } = versions;
    let samples = samples_for(project, suite, candidate);
    let base_jobs = plan_suite(suite, baseline, &provider, jobs, 0..samples)?;
    // A control run's second side asks for fresh samples of the same version.
    let first = if spec.control { samples } else { 0 };
    let cand_jobs = plan_suite(suite, candidate, &provider, jobs, first..first + samples)?;
    let tier = candidate.prompt.metadata.governance.risk_tier;
    for (case, (base, cand)) in suite.cases.iter().zip(base_jobs.iter().zip(&cand_jobs)) {
        for (&baseline, &candidate) in base.iter().zip(cand) {
            jobs.pair(case, tier, baseline, candidate);
        }
    }
    // Identical requests on both sides are one call: their outcomes cannot differ. Otherwise a
    // suite is exact only when its subject cannot vary at either version's parameters (a
    // prompt's own `config` may set them) and no judge grading it can.
    let params = [baseline, candidate].map(|version| effective_params(suite, version, &provider));
    let exact =
        params.iter().all(|p| provider.provider.deterministic(p)) && jobs.library.exact_for(suite);
    let noise = if exact || base_jobs == cand_jobs {
        Noise::None
    } else {
        Noise::Measured
    };
    let judges = jobs.library.described_for(suite);
    let identities = params.map(|params| {
        Identity::new(format!(
            "{}{judges}",
            described(provider.provider.fingerprint(), &params)
        ))
    });
    Ok(PlannedSuite {
        suite,
        unreached: unreached_target(suite, candidate),
        tolerance: suite_tolerance(suite, project.config.tier(tier).tolerance),
        provider,
        samples,
        baseline: base_jobs,
        candidate: cand_jobs,
        noise,
        extra_calls: gate::ExtraCalls::default(),
        identities,
        remembered: Vec::new(),
    })
}

/// What `memory` remembers of the noise of `p`'s provider at both versions' parameters,
/// except the suite's own case-versions (their samples are this check's).
fn recall(
    memory: &mut Memory,
    p: &PlannedSuite<'_>,
    versions: Versions<'_>,
    control: bool,
) -> Vec<VersionTally> {
    let Versions {
        baseline,
        candidate,
    } = versions;
    if p.noise == Noise::None {
        return Vec::new();
    }
    let [first, second] = &p.identities;
    let mut remembered: Vec<Measurement> = memory.recall(first).to_vec();
    if second != first {
        remembered.extend_from_slice(memory.recall(second));
    }
    if remembered.is_empty() {
        return Vec::new();
    }
    let own: std::collections::HashSet<String> = (0..p.suite.cases.len())
        .flat_map(|case| {
            [
                p.measured_key(case, baseline, control),
                p.measured_key(case, candidate, control),
            ]
        })
        .collect();
    remembered
        .into_iter()
        .filter(|m| !own.contains(&m.key))
        .map(|m| m.tally)
        .collect()
}
