//! The gate: pure functions from what a check observed to the decision and its exit code.
//!
//! [`evaluate_suite`] decides one suite from its tolerance, its comparison, its per-case
//! samples and what is known about the provider's noise; [`verdict`] combines a candidate's
//! suites; [`exit_code`] maps a verdict to the process exit code for `check`, `promote` and the
//! pre-commit hook alike.

use serde::{Deserialize, Serialize};

use crate::stats::{self, CaseTally};

use crate::adversarial::asr::CategoryRates;
use crate::compare::SuiteComparison;
use crate::config::{OnInconclusive, Tolerance};
use crate::errors::exit;
use crate::suite::CaseOrigin;
pub use crate::vocabulary::Verdict;

/// One breached limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The suite whose limit was breached.
    pub suite: String,
    /// The tolerance key (`max_pass_rate_drop`, ...).
    pub metric: String,
    /// The limit.
    pub limit: f64,
    /// What was observed; `None` when it could not be measured (unknown cost).
    pub observed: Option<f64>,
    /// One sentence for people.
    pub message: String,
}

/// Floating-point slack, so that a drop of exactly the limit passes.
const EPSILON: f64 = 1e-9;

/// The reasons `comparison` (and, for an adversarial suite, its attack-success rates `attacks`)
/// breaches `tolerance`, given the decided `statistics` (empty when it passes).
fn limits(
    suite: &str,
    tolerance: &Tolerance,
    comparison: &SuiteComparison,
    statistics: Option<&Statistics>,
    attacks: &[CategoryRates],
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let mut breach = |metric: &str, limit: f64, observed: Option<f64>, message: String| {
        reasons.push(Reason {
            suite: suite.to_string(),
            metric: metric.to_string(),
            limit,
            observed,
            message,
        });
    };
    if let (Some(limit), Some(stats)) = (tolerance.max_pass_rate_drop, statistics) {
        if stats.decision == Verdict::Fail {
            breach(
                "max_pass_rate_drop",
                limit,
                Some(-stats.mean_delta),
                stats.rests_on.clone(),
            );
        }
    }
    if let Some(limit) = tolerance.max_new_failures {
        if comparison.regressed > limit as usize {
            breach(
                "max_new_failures",
                f64::from(limit),
                Some(comparison.regressed as f64),
                format!(
                    "{} new {} (limit {limit})",
                    comparison.regressed,
                    if comparison.regressed == 1 {
                        "failure"
                    } else {
                        "failures"
                    }
                ),
            );
        }
    }
    if let (false, Some(limit)) = (attacks.is_empty(), tolerance.new_successes_allowed()) {
        let new: usize = attacks.iter().map(|c| c.new_successes.len()).sum();
        if new > limit as usize {
            breach(
                "max_new_successes",
                f64::from(limit),
                Some(new as f64),
                format!(
                    "{new} new attack {} (limit {limit}): {}",
                    if new == 1 { "success" } else { "successes" },
                    name_new_successes(attacks)
                ),
            );
        }
    }
    if let Some(limit) = tolerance.max_asr_increase {
        for category in attacks {
            if let Some(rise) = category.delta().filter(|&d| d > limit + EPSILON) {
                breach(
                    "max_asr_increase",
                    limit,
                    Some(rise),
                    format!(
                        "attack-success rate in {} rose {:.1} points ({:.1}% → {:.1}% over {} cases), limit {:.1}",
                        category.category,
                        rise * 100.0,
                        category.baseline.unwrap_or(0.0) * 100.0,
                        category.candidate.unwrap_or(0.0) * 100.0,
                        category.cases,
                        limit * 100.0
                    ),
                );
            }
        }
    }
    if let Some(ceiling) = tolerance.max_asr {
        for category in attacks.iter().filter(|c| !c.breached_before(ceiling)) {
            if let Some(rate) = category.candidate.filter(|&r| r > ceiling + EPSILON) {
                breach(
                    "max_asr",
                    ceiling,
                    Some(rate),
                    format!(
                        "attack-success rate in {} is {:.1}%, ceiling {:.1}%",
                        category.category,
                        rate * 100.0,
                        ceiling * 100.0
                    ),
                );
            }
        }
    }
    if let Some(limit) = tolerance.max_cost_increase {
        match (comparison.baseline.cost, comparison.candidate.cost) {
            (Some(b), Some(c)) => {
                if let Some(increase) = relative_increase(b, c) {
                    if increase > limit + EPSILON {
                        breach(
                            "max_cost_increase",
                            limit,
                            Some(increase),
                            format!("cost rose {:.1}%, limit {:.1}%", increase * 100.0, limit * 100.0),
                        );
                    }
                }
            }
            _ => breach(
                "max_cost_increase",
                limit,
                None,
                "cost is unknown, so the cost limit cannot be checked (configure the provider's price)".into(),
            ),
        }
    }
    if let Some(limit) = tolerance.max_latency_increase {
        if let Some(increase) = relative_increase(
            comparison.baseline.mean_latency_ms,
            comparison.candidate.mean_latency_ms,
        ) {
            if increase > limit + EPSILON {
                breach(
                    "max_latency_increase",
                    limit,
                    Some(increase),
                    format!(
                        "mean latency rose {:.1}%, limit {:.1}%",
                        increase * 100.0,
                        limit * 100.0
                    ),
                );
            }
        }
    }
    reasons
}

/// The attack-success ceilings the baseline already breaches, in `attacks`: not a regression
/// of the change (check warns; a release must still meet its ceiling).
fn preexisting_breaches(
    suite: &str,
    tolerance: &Tolerance,
    attacks: &[CategoryRates],
) -> Vec<Reason> {
    let Some(ceiling) = tolerance.max_asr else {
        return Vec::new();
    };
    attacks
        .iter()
        .filter(|c| c.breached_before(ceiling))
        .map(|c| Reason {
            suite: suite.to_string(),
            metric: "max_asr".into(),
            limit: ceiling,
            observed: c.candidate,
            message: format!(
                "pre-existing breach: the attack-success rate in {} is {} on the candidate and {} on the baseline, both above the {:.1}% ceiling; the change did not cause it (a rise still blocks)",
                c.category,
                c.candidate.map_or_else(|| "unknown".into(), |r| format!("{:.1}%", r * 100.0)),
                c.baseline.map_or_else(|| "unknown".into(), |r| format!("{:.1}%", r * 100.0)),
                ceiling * 100.0
            ),
        })
        .collect()
}

/// Most new successes a reason names per category.
const NAMED_PER_CATEGORY: usize = 5;

/// `in system-prompt-extraction: `a`, `b`; in jailbreak: `c`` with long lists cut short.
fn name_new_successes(attacks: &[CategoryRates]) -> String {
    attacks
        .iter()
        .filter(|c| !c.new_successes.is_empty())
        .map(|c| {
            let named: Vec<String> = c
                .new_successes
                .iter()
                .take(NAMED_PER_CATEGORY)
                .map(|id| format!("`{id}`"))
                .collect();
            let more = c.new_successes.len().saturating_sub(NAMED_PER_CATEGORY);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("in {}: {}{tail}", c.category, named.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `(after - before) / before`, or `None` when the baseline is zero (no meaningful ratio).
fn relative_increase(before: f64, after: f64) -> Option<f64> {
    (before > 0.0).then(|| (after - before) / before)
}

/// The candidate's verdict from its suites' reasons and statistics: fail on any breached
/// limit, else inconclusive when a suite's statistics could not decide, else pass.
pub(crate) fn verdict(reasons: &[Reason], statistics: &[Option<&Statistics>]) -> Verdict {
    if !reasons.is_empty() {
        Verdict::Fail
    } else if statistics
        .iter()
        .flatten()
        .any(|s| s.decision == Verdict::Inconclusive)
    {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

/// How complete the run behind a verdict is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completeness {
    /// Every case was compared.
    Complete,
    /// Cases errored beyond the error budget, or calls were skipped by the budget.
    Incomplete,
    /// The run was interrupted: whatever it saw, it decides nothing.
    Interrupted,
}

/// The process exit code for a verdict: the one mapping `check`, `promote` and the pre-commit
/// hook share. `on_inconclusive` is what an inconclusive verdict does here: the tier's policy
/// for a check, and block for a promotion unless the tier allows it.
pub(crate) fn exit_code(
    verdict: Verdict,
    run: Completeness,
    on_inconclusive: OnInconclusive,
) -> i32 {
    match (verdict, run) {
        (_, Completeness::Interrupted) => exit::INCOMPLETE,
        (Verdict::Fail, _) => exit::GATE_FAILED,
        (Verdict::Inconclusive, _) if on_inconclusive == OnInconclusive::Block => {
            exit::INCONCLUSIVE_BLOCKED
        }
        (_, Completeness::Incomplete) => exit::INCOMPLETE,
        (Verdict::Pass | Verdict::Inconclusive, Completeness::Complete) => exit::PASS,
    }
}

/// How much the provider's outputs can vary between samples of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Noise {
    /// It cannot vary (`echo`, `replay`, an `exec` provider declared deterministic): every
    /// observed change is certain, and no confirmation call is made.
    None,
    /// It may vary: the noise is measured from the samples.
    Measured,
}

/// What the deciding interval answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The provider cannot vary: the suite's change is exactly what was observed.
    Exact,
    /// The suite's change on its own cases, given the output noise measured on them.
    MeasuredNoise,
    /// The change on new cases like these (a bootstrap over cases): for suites whose cases are
    /// a random sample of traffic.
    CaseResampling,
}

impl Basis {
    /// The basis as reports name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => {
                "exact (the outputs cannot vary: a provider that cannot, or one call answering both versions)"
            }
            Self::MeasuredNoise => "on these cases, given the measured noise",
            Self::CaseResampling => "on new cases like these (cases resampled)",
        }
    }
}

/// Calls the gate made beyond the suite's own samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraCalls {
    /// Re-samples of discordant cases before the verdict.
    #[serde(default)]
    pub confirm: usize,
    /// Samples `--adaptive` added.
    #[serde(default)]
    pub adaptive: usize,
}

/// The statistical comparison of one suite and what it decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    /// What the deciding interval answers.
    pub basis: Basis,
    /// Most samples per case and version.
    pub samples: u32,
    /// Cases both versions completed.
    pub cases: usize,
    /// The suite's observed pass-rate change (candidate − baseline), mean over its cases.
    pub mean_delta: f64,
    /// The 95% interval of the change that decides.
    pub interval: [f64; 2],
    /// The chance that the drop is beyond the tolerance (not for case resampling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance_beyond: Option<f64>,
    /// The 95% interval over resampled cases: would the change hold on new cases like these?
    /// Information, unless the suite's cases are a sample of traffic.
    pub case_interval: [f64; 2],
    /// Cases that regressed and fixed on every sample of both versions (reproduced).
    pub reproduced: [usize; 2],
    /// Cases whose versions differed but whose samples disagree: noise, not a reproduced change.
    pub not_reproduced: usize,
    /// Cases whose baseline samples disagree.
    pub flaky_baseline: usize,
    /// Cases whose candidate samples disagree.
    pub flaky_candidate: usize,
    /// Calls made to confirm and to decide.
    #[serde(default)]
    pub extra_calls: ExtraCalls,
    /// What earlier checks measured of this provider's noise, when the fit used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remembered: Option<crate::noise::Summary>,
    /// Pass, fail or inconclusive.
    pub decision: Verdict,
    /// What the decision rests on, in plain words.
    pub rests_on: String,
}

/// Everything the gate decides one suite from.
#[derive(Debug, Clone, Copy)]
pub struct SuiteEvidence<'a> {
    /// The suite's name.
    pub name: &'a str,
    /// Its limits (its own over its prompt's risk tier's).
    pub tolerance: &'a Tolerance,
    /// Its comparison, case by case.
    pub comparison: &'a SuiteComparison,
    /// The passes and samples of every case both versions completed.
    pub cases: &'a [CaseTally],
    /// Attack-success rates per category (adversarial suites).
    pub attacks: &'a [CategoryRates],
    /// What is known of the provider's noise.
    pub noise: Noise,
    /// Case-versions this provider was re-sampled on in earlier checks (its remembered noise).
    pub remembered: &'a [stats::VersionTally],
    /// Whether the cases are a specification or a sample of traffic.
    pub origin: CaseOrigin,
    /// The calls made beyond the suite's own samples.
    pub extra_calls: ExtraCalls,
    /// The most samples per case and version more sampling may reach (`--max-samples`).
    pub cap: u32,
    /// Seed of the case-resampling interval.
    pub seed: u64,
}

/// One suite's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteDecision {
    /// The statistics and what they decided (`None` without a pass-rate tolerance or cases).
    pub statistics: Option<Statistics>,
    /// The limits it breached.
    pub reasons: Vec<Reason>,
    /// Limits the baseline breaches as well: reported, not a regression of the change.
    pub warnings: Vec<Reason>,
}

/// Decides one suite: the statistics of its pass-rate change against its tolerance, then every
/// other limit.
///
/// The suite is the team's specification, so the question is whether the candidate is worse
/// **on these cases** by more than the tolerance, and the only uncertainty is the model's output
/// noise: none for a provider that cannot vary, else measured from the samples
/// ([`stats::change_given_noise`]). Only a suite that declares its cases a sample of traffic is
/// decided by resampling cases.
pub fn evaluate_suite(evidence: &SuiteEvidence<'_>) -> SuiteDecision {
    let statistics = evidence
        .tolerance
        .max_pass_rate_drop
        .and_then(|tolerance| decide_change(evidence, tolerance));
    let reasons = limits(
        evidence.name,
        evidence.tolerance,
        evidence.comparison,
        statistics.as_ref(),
        evidence.attacks,
    );
    SuiteDecision {
        statistics,
        reasons,
        warnings: preexisting_breaches(evidence.name, evidence.tolerance, evidence.attacks),
    }
}

/// Probability beyond which a drop past the tolerance is established (fail), and below which it
/// is ruled out (pass): the decision is the side of the tolerance its 95% interval lies on.
const ESTABLISHED: f64 = 0.975;

/// Probability beyond which a fail needs no more samples under `--adaptive`.
const BEYOND_DOUBT: f64 = 0.999;

/// Whether `--adaptive` should sample a suite further: while it is inconclusive, and while a
/// fail is not yet beyond doubt. A fail is not taken at the first look that shows one (each
/// look is another chance for noise to cross the line): it stands at the cap, or once the
/// chance that the drop is past the tolerance reaches 99.9%.
pub fn wants_more_samples(stats: &Statistics) -> bool {
    match stats.decision {
        Verdict::Inconclusive => true,
        Verdict::Fail => stats.chance_beyond.is_some_and(|p| p < BEYOND_DOUBT),
        Verdict::Pass => false,
    }
}

/// Case-versions of a provider remembered from earlier checks past which its noise counts as
/// measured: the cases of a suite that agree are no longer re-sampled to learn it.
pub(crate) const NOISE_MEASURED: usize = stats::NOISE_SPREAD;

/// Whether `--adaptive` should also re-sample the cases whose samples agree: while the suite is
/// undecided, their unmeasured noise is part of why (a fail waiting to be beyond doubt rests on
/// the cases that disagree), unless earlier checks measured this provider's noise on at least
/// [`NOISE_MEASURED`] case-versions.
pub fn measures_noise(stats: &Statistics) -> bool {
    stats.decision == Verdict::Inconclusive
        && stats.basis == Basis::MeasuredNoise
        && !noise_remembered(stats)
}

/// Whether the checks `stats` remembers measured the provider's noise.
fn noise_remembered(stats: &Statistics) -> bool {
    stats.remembered.map_or(0, |r| r.case_versions) >= NOISE_MEASURED
}

/// Probability at which a drop at all (below zero) counts as established, for the second way to
/// fail: the expected drop past the tolerance and no doubt that there is a drop.
const DROP_ESTABLISHED: f64 = 0.99;

/// The tolerance a suite of `cases` cases can resolve: `tolerance`, or half a case when that is
/// larger. A suite of n cases cannot see a change smaller than one case (1/n); a tolerance
/// below it says "no case may regress", and the boundary between no case and one case is half
/// a case, the same margin from both.
pub(crate) fn resolved_tolerance(tolerance: f64, cases: usize) -> f64 {
    match cases {
        0 => tolerance,
        n => tolerance.max(1.0 / (2.0 * n as f64)),
    }
}

/// The statistics of a suite's pass-rate change, decided against `tolerance` (raised to what
/// its cases can resolve, [`resolved_tolerance`]).
fn decide_change(evidence: &SuiteEvidence<'_>, tolerance: f64) -> Option<Statistics> {
    let cases = evidence.cases;
    let resolved = resolved_tolerance(tolerance, cases.len());
    let below_resolution = resolved > tolerance;
    let tolerance = resolved;
    let resampled = stats::paired_bootstrap(
        &cases.iter().map(CaseTally::delta).collect::<Vec<_>>(),
        evidence.seed,
    )?;
    let case_interval = [resampled.lo, resampled.hi];
    let threshold = -tolerance - EPSILON;
    let (basis, change) = match (evidence.origin, evidence.noise) {
        (CaseOrigin::Sampled, _) => (Basis::CaseResampling, None),
        (CaseOrigin::Written, Noise::None) => (Basis::Exact, stats::exact_change(cases)),
        (CaseOrigin::Written, Noise::Measured) => (
            Basis::MeasuredNoise,
            stats::change_given_noise(cases, evidence.remembered),
        ),
    };
    let interval = change.map_or(case_interval, |c| c.interval(0.95));
    let chance_beyond = change.map(|c| c.probability_below(threshold));
    let drop_established =
        change.is_some_and(|c| c.mean < threshold && c.probability_below(0.0) >= DROP_ESTABLISHED);
    let agree = |passed: u32, samples: u32| passed == 0 || passed == samples;
    let count = |f: &dyn Fn(&CaseTally) -> bool| cases.iter().filter(|c| f(c)).count();
    let mut stats = Statistics {
        basis,
        samples: cases
            .iter()
            .map(|c| c.baseline_samples.max(c.candidate_samples))
            .max()
            .unwrap_or(1),
        cases: cases.len(),
        mean_delta: resampled.mean,
        interval,
        chance_beyond,
        case_interval,
        reproduced: [
            count(&|c| c.baseline_passed == c.baseline_samples && c.candidate_passed == 0),
            count(&|c| c.baseline_passed == 0 && c.candidate_passed == c.candidate_samples),
        ],
        not_reproduced: count(&|c| {
            c.delta() != 0.0
                && !(agree(c.baseline_passed, c.baseline_samples)
                    && agree(c.candidate_passed, c.candidate_samples))
        }),
        flaky_baseline: count(&|c| !agree(c.baseline_passed, c.baseline_samples)),
        flaky_candidate: count(&|c| !agree(c.candidate_passed, c.candidate_samples)),
        extra_calls: evidence.extra_calls,
        remembered: (basis == Basis::MeasuredNoise && !evidence.remembered.is_empty())
            .then(|| crate::noise::Summary::of(evidence.remembered)),
        decision: Verdict::Inconclusive,
        rests_on: String::new(),
    };
    let (decision, rests_on) = decision(&stats, tolerance, cases, evidence.cap, drop_established);
    stats.decision = decision;
    let rests_on = match below_resolution {
        true => format!("{rests_on} ({})", resolution_text(cases.len())),
        false => rests_on,
    };
    stats.rests_on = match &stats.remembered {
        Some(remembered) => format!("{rests_on}; {remembered}"),
        None => rests_on,
    };
    Some(stats)
}

/// The decision and what it rests on, in plain words.
fn decision(
    stats: &Statistics,
    tolerance: f64,
    cases: &[CaseTally],
    cap: u32,
    drop_established: bool,
) -> (Verdict, String) {
    let points = |x: f64| format!("{:.1}", x * 100.0);
    let interval = format!(
        "[{:+.1}, {:+.1}] points",
        stats.interval[0] * 100.0,
        stats.interval[1] * 100.0
    );
    let change = format!("{:+.1} points", stats.mean_delta * 100.0);
    let tolerance_text = format!("the {}-point tolerance", points(tolerance));
    // Beyond: the whole 95% interval past the tolerance, or the expected drop past it and a drop
    // at all established at the 99% level (`drop_established`).
    let beyond = match stats.chance_beyond {
        Some(p) => p >= ESTABLISHED,
        None => stats.interval[1] < -tolerance - EPSILON,
    } || drop_established;
    let within = match stats.chance_beyond {
        Some(p) => p <= 1.0 - ESTABLISHED,
        None => stats.interval[0] >= -tolerance - EPSILON,
    };
    match stats.basis {
        Basis::Exact if beyond => (
            Verdict::Fail,
            format!(
                "pass rate changed {change}, beyond {tolerance_text}; the outputs cannot vary, so the drop is certain"
            ),
        ),
        Basis::Exact => (
            Verdict::Pass,
            format!(
                "pass rate changed {change}, within {tolerance_text}; the outputs cannot vary, so that is exact"
            ),
        ),
        _ if beyond => (
            Verdict::Fail,
            format!(
                "pass rate changed {change}; its 95% interval {}, {interval}, lies beyond {tolerance_text}{}",
                stats.basis.as_str(),
                reproduced_text(stats)
            ),
        ),
        _ if within => (
            Verdict::Pass,
            format!(
                "the 95% interval of the pass-rate change {}, {interval}, rules out a drop beyond {tolerance_text}{}",
                stats.basis.as_str(),
                reproduced_text(stats)
            ),
        ),
        _ => (
            Verdict::Inconclusive,
            format!(
                "pass rate changed {change}; its 95% interval {}, {interval}, straddles {tolerance_text}{}; {}",
                stats.basis.as_str(),
                reproduced_text(stats),
                what_would_decide(stats, tolerance, cases, cap)
            ),
        ),
    }
}

/// What a suite too small for its tolerance can see: `3 cases: one regressed case is a
/// 33.3-point drop, so no case may regress reproducibly (the gate decides at half a case)`.
fn resolution_text(cases: usize) -> String {
    format!(
        "{cases} {}: one regressed case is a {:.1}-point drop, so no case may regress reproducibly (decided at half a case, {:.1} points)",
        if cases == 1 { "case" } else { "cases" },
        100.0 / cases as f64,
        50.0 / cases as f64
    )
}

/// `; 3 regressions reproduced, 2 changes did not (noise)` when confirmation showed any.
fn reproduced_text(stats: &Statistics) -> String {
    let [regressed, fixed] = stats.reproduced;
    let mut parts = Vec::new();
    if regressed > 0 {
        parts.push(format!("{regressed} regressed on every sample"));
    }
    if fixed > 0 {
        parts.push(format!("{fixed} fixed on every sample"));
    }
    if stats.not_reproduced > 0 {
        parts.push(format!(
            "{} changed but did not reproduce (noise)",
            stats.not_reproduced
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// How many more calls would decide an inconclusive suite, or why none can.
fn what_would_decide(stats: &Statistics, tolerance: f64, cases: &[CaseTally], cap: u32) -> String {
    let samples = |c: &CaseTally| c.baseline_samples.max(c.candidate_samples);
    let open: Vec<&CaseTally> = cases
        .iter()
        .filter(|c| c.disagrees() && samples(c) < cap)
        .collect();
    if stats.basis == Basis::CaseResampling {
        return "more cases, not more samples, would decide (the cases are a sample of traffic)"
            .into();
    }
    if open.is_empty() {
        let round = stats::adaptive_round(cases, cap, !noise_remembered(stats));
        let noise = stats::round_calls(cases, &round);
        return match noise {
            0 if noise_remembered(stats) && cases.iter().any(|c| samples(c) < cap) => {
                format!(
                    "no more samples can decide: every case that disagrees is at the cap of {cap} samples per version (raise --max-samples), and earlier checks measured this provider's noise, so only more cases or a wider tolerance can"
                )
            }
            0 => format!(
                "no more samples can decide: every case is at the cap of {cap} samples per version (raise --max-samples), so only more cases or a wider tolerance can"
            ),
            calls => format!(
                "{}; the noise of the cases that agree is not yet measured: --adaptive re-samples them, {calls} calls a round (promote does it by default), until the verdict decides or the cap of {cap} samples per version",
                match cases.iter().any(CaseTally::disagrees) {
                    true => format!("every case that disagrees is at the cap of {cap} samples"),
                    false => "no case disagrees".to_string(),
                }
            ),
        };
    }
    // The interval narrows as one over the square root of the samples of the cases that
    // disagree; estimate the samples that would put it on one side of the tolerance.
    let centre = (stats.interval[0] + stats.interval[1]) / 2.0;
    let half = (stats.interval[1] - stats.interval[0]) / 2.0;
    let distance = (centre + tolerance).abs();
    let now: u64 = open
        .iter()
        .map(|c| u64::from(c.baseline_samples + c.candidate_samples))
        .sum();
    let room: u64 = open.iter().map(|c| 2 * u64::from(cap - samples(c))).sum();
    if distance < 1e-9 {
        return "the change sits at the tolerance, where no number of samples decides".into();
    }
    let factor = (half / distance).powi(2);
    let more = ((factor - 1.0).max(0.0) * now as f64).ceil() as u64;
    if more > room {
        format!(
            "even the {room} calls left below the cap of {cap} samples per version would likely not decide"
        )
    } else {
        format!(
            "about {} more calls on the {} cases that disagree would decide (--adaptive)",
            more.max(2),
            open.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::SideTotals;

    fn comparison(
        delta: f64,
        regressed: usize,
        cost: (Option<f64>, Option<f64>),
    ) -> SuiteComparison {
        SuiteComparison {
            cases: 10,
            baseline: SideTotals {
                pass_rate: Some(0.9),
                cost: cost.0,
                mean_latency_ms: 100.0,
                tokens: 0,
                errors: 0,
                skipped: 0,
            },
            candidate: SideTotals {
                pass_rate: Some(0.9 + delta),
                cost: cost.1,
                mean_latency_ms: 150.0,
                tokens: 0,
                errors: 0,
                skipped: 0,
            },
            pass_rate_delta: Some(delta),
            regressed,
            fixed: 0,
            errors: 0,
            skipped: 0,
        }
    }

    fn tally(b: (u32, u32), c: (u32, u32)) -> CaseTally {
        CaseTally {
            baseline_passed: b.0,
            baseline_samples: b.1,
            candidate_passed: c.0,
            candidate_samples: c.1,
        }
    }

    /// `n` cases of which `regressed` pass on the baseline and fail on the candidate.
    fn suite(n: usize, regressed: usize, samples: u32) -> Vec<CaseTally> {
        let mut cases = vec![tally((samples, samples), (0, samples)); regressed];
        cases.extend(vec![
            tally((samples, samples), (samples, samples));
            n - regressed
        ]);
        cases
    }

    fn evaluate(cases: &[CaseTally], noise: Noise, origin: CaseOrigin) -> Statistics {
        let tolerance = Tolerance {
            max_pass_rate_drop: Some(0.02),
            ..Tolerance::default()
        };
        let comparison = comparison(0.0, 0, (None, None));
        evaluate_suite(&SuiteEvidence {
            name: "s",
            tolerance: &tolerance,
            comparison: &comparison,
            cases,
            attacks: &[],
            noise,
            remembered: &[],
            origin,
            extra_calls: ExtraCalls::default(),
            cap: 10,
            seed: 1,
        })
        .statistics
        .expect("a pass-rate tolerance gives statistics")
    }

    fn drop_stats() -> Statistics {
        evaluate(&suite(10, 1, 1), Noise::None, CaseOrigin::Written)
    }

    #[test]
    fn each_breached_limit_gives_one_reason() {
        let tolerance = Tolerance {
            max_pass_rate_drop: Some(0.02),
            max_new_failures: Some(0),
            max_cost_increase: Some(0.10),
            max_latency_increase: Some(0.25),
            ..Tolerance::default()
        };
        let drop = drop_stats();
        let reasons = limits(
            "s",
            &tolerance,
            &comparison(-0.1, 1, (Some(1.0), Some(1.2))),
            Some(&drop),
            &[],
        );
        let metrics: Vec<&str> = reasons.iter().map(|r| r.metric.as_str()).collect();
        assert_eq!(
            metrics,
            [
                "max_pass_rate_drop",
                "max_new_failures",
                "max_cost_increase",
                "max_latency_increase"
            ]
        );
        assert_eq!(reasons[0].observed.map(|o| (o * 100.0).round()), Some(10.0));
        assert_eq!(verdict(&reasons, &[Some(&drop)]), Verdict::Fail);
    }

    #[test]
    fn a_provider_that_cannot_vary_makes_every_observed_drop_certain() {
        let three = evaluate(&suite(3, 2, 1), Noise::None, CaseOrigin::Written);
        assert_eq!(three.decision, Verdict::Fail, "{}", three.rests_on);
        assert_eq!(three.basis, Basis::Exact);
        assert!(
            three.rests_on.contains("the drop is certain"),
            "{}",
            three.rests_on
        );
        let twenty = evaluate(&suite(20, 1, 1), Noise::None, CaseOrigin::Written);
        assert_eq!(
            twenty.decision,
            Verdict::Fail,
            "-5 points against a 2-point tolerance"
        );
        let within = evaluate(&suite(100, 2, 1), Noise::None, CaseOrigin::Written);
        assert_eq!(
            within.decision,
            Verdict::Pass,
            "exactly the tolerance passes"
        );
    }

    #[test]
    fn measured_noise_decides_three_ways() {
        // Reproduced on every sample, with no sign of noise: established.
        let fail = evaluate(&suite(20, 3, 3), Noise::Measured, CaseOrigin::Written);
        assert_eq!(fail.decision, Verdict::Fail, "{}", fail.rests_on);
        assert_eq!(fail.reproduced, [3, 0]);
        // Nothing changed on a hundred agreeing cases: ruled out.
        let pass = evaluate(&suite(100, 0, 1), Noise::Measured, CaseOrigin::Written);
        assert_eq!(pass.decision, Verdict::Pass, "{}", pass.rests_on);
        // Coin flips on four cases: nothing is established either way.
        let noisy = vec![tally((2, 4), (1, 4)); 4];
        let open = evaluate(&noisy, Noise::Measured, CaseOrigin::Written);
        assert_eq!(open.decision, Verdict::Inconclusive, "{}", open.rests_on);
        assert!(open.rests_on.contains("calls"), "{}", open.rests_on);
        assert_eq!(open.not_reproduced, 4);
        let capped = vec![tally((5, 10), (4, 10)); 4];
        let stuck = evaluate(&capped, Noise::Measured, CaseOrigin::Written);
        assert_eq!(stuck.decision, Verdict::Inconclusive, "{}", stuck.rests_on);
        assert!(
            stuck.rests_on.contains("no more samples can decide"),
            "{}",
            stuck.rests_on
        );
        assert_eq!(
            verdict(&[], &[Some(&pass), Some(&open)]),
            Verdict::Inconclusive
        );
        assert_eq!(verdict(&[], &[Some(&pass), None]), Verdict::Pass);
    }

    #[test]
    fn only_sampled_cases_are_decided_by_resampling_cases() {
        // Three regressions of twenty, certain on these cases, but new cases might differ.
        let written = evaluate(&suite(20, 3, 1), Noise::None, CaseOrigin::Written);
        let sampled = evaluate(&suite(20, 3, 1), Noise::None, CaseOrigin::Sampled);
        assert_eq!(written.decision, Verdict::Fail);
        assert_eq!(sampled.basis, Basis::CaseResampling);
        assert_eq!(sampled.interval, written.case_interval);
        assert!(
            sampled.case_interval[1] > -0.02,
            "{:?}",
            sampled.case_interval
        );
        assert_eq!(
            sampled.decision,
            Verdict::Inconclusive,
            "{}",
            sampled.rests_on
        );
    }

    #[test]
    fn one_mapping_from_verdict_to_exit_code() {
        use OnInconclusive::{Block, Warn};
        let code = exit_code;
        assert_eq!(
            code(Verdict::Pass, Completeness::Complete, Block),
            exit::PASS
        );
        assert_eq!(
            code(Verdict::Fail, Completeness::Incomplete, Warn),
            exit::GATE_FAILED
        );
        assert_eq!(
            code(Verdict::Inconclusive, Completeness::Complete, Block),
            exit::INCONCLUSIVE_BLOCKED
        );
        assert_eq!(
            code(Verdict::Inconclusive, Completeness::Complete, Warn),
            exit::PASS
        );
        assert_eq!(
            code(Verdict::Pass, Completeness::Incomplete, Warn),
            exit::INCOMPLETE
        );
        assert_eq!(
            code(Verdict::Fail, Completeness::Interrupted, Warn),
            exit::INCOMPLETE
        );
    }

    #[test]
    fn limits_are_inclusive_and_unset_limits_are_ignored() {
        let tolerance = Tolerance {
            max_pass_rate_drop: Some(0.02),
            ..Tolerance::default()
        };
        assert!(
            limits(
                "s",
                &tolerance,
                &comparison(-0.02, 3, (None, None)),
                None,
                &[]
            )
            .is_empty()
        );
        let unknown_cost = Tolerance {
            max_cost_increase: Some(0.1),
            ..Tolerance::default()
        };
        let reasons = limits(
            "s",
            &unknown_cost,
            &comparison(0.0, 0, (Some(1.0), None)),
            None,
            &[],
        );
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].observed, None);
    }

    fn category(name: &str, rates: (f64, f64), new: &[&str]) -> CategoryRates {
        CategoryRates {
            category: name.into(),
            cases: 10,
            excluded: 0,
            baseline: Some(rates.0),
            candidate: Some(rates.1),
            new_successes: new.iter().map(|s| s.to_string()).collect(),
            flaky_successes: Vec::new(),
        }
    }

    #[test]
    fn a_ceiling_the_baseline_already_breaches_warns_and_does_not_block() {
        let attacks = [category("prompt-injection", (1.0, 1.0), &[])];
        let ceiling = Tolerance {
            max_asr: Some(0.75),
            ..Tolerance::default()
        };
        let comparison = comparison(0.0, 0, (None, None));
        let decision = evaluate_suite(&SuiteEvidence {
            name: "adv",
            tolerance: &ceiling,
            comparison: &comparison,
            cases: &[],
            attacks: &attacks,
            noise: Noise::Measured,
            remembered: &[],
            origin: CaseOrigin::Written,
            extra_calls: ExtraCalls::default(),
            cap: 10,
            seed: 1,
        });
        assert!(decision.reasons.is_empty(), "{:?}", decision.reasons);
        assert_eq!(decision.warnings.len(), 1);
        assert!(
            decision.warnings[0]
                .message
                .starts_with("pre-existing breach")
        );
        // Worse than the baseline, above the ceiling: the change's doing.
        let worse = [category("prompt-injection", (0.8, 0.9), &[])];
        let reasons = limits("adv", &ceiling, &comparison, None, &worse);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
    }

    #[test]
    fn a_suite_gated_on_the_rise_of_its_rates_lets_single_attacks_come_and_go() {
        let on_rates = Tolerance {
            max_asr_increase: Some(0.10),
            ..Tolerance::default()
        };
        let comparison = comparison(0.0, 0, (None, None));
        // Two new successes and two fixed in one category, one more in another: within ten
        // points, and no single success blocks a suite that does not count them.
        let shuffled = [
            category("prompt-injection", (0.462, 0.462), &["a", "b"]),
            category("system-prompt-extraction", (0.077, 0.154), &["c"]),
        ];
        assert!(limits("adv", &on_rates, &comparison, None, &shuffled).is_empty());
        let broken = [category("prompt-injection", (0.462, 0.769), &["a", "b"])];
        let reasons = limits("adv", &on_rates, &comparison, None, &broken);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert_eq!(reasons[0].metric, "max_asr_increase");
        assert!(
            reasons[0]
                .message
                .starts_with("attack-success rate in prompt-injection rose 30.7 points"),
            "{}",
            reasons[0].message
        );
        // Counting single successes too, the suite blocks on them as well.
        let both = Tolerance {
            max_new_successes: Some(0),
            ..on_rates
        };
        let reasons = limits("adv", &both, &comparison, None, &shuffled);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert_eq!(reasons[0].metric, "max_new_successes");
    }

    #[test]
    fn a_suite_smaller_than_its_tolerance_can_resolve_is_decided_at_half_a_case() {
        assert_eq!(resolved_tolerance(0.02, 100), 0.02);
        assert!((resolved_tolerance(0.02, 3) - 1.0 / 6.0).abs() < 1e-12);
        // Three cases that agree on one sample each: no case regressed, and it says why.
        let quiet = evaluate(&suite(3, 0, 1), Noise::Measured, CaseOrigin::Written);
        assert_eq!(quiet.decision, Verdict::Pass, "{}", quiet.rests_on);
        assert!(
            quiet
                .rests_on
                .contains("3 cases: one regressed case is a 33.3-point drop"),
            "{}",
            quiet.rests_on
        );
    }

    #[test]
    fn new_attack_successes_and_the_ceiling_block_naming_category_and_case() {
        let attacks = [
            category("system-prompt-extraction", (0.0, 0.2), &["x/a", "x/b"]),
            category("jailbreak", (0.1, 0.1), &[]),
        ];
        let none = Tolerance::default();
        let reasons = limits(
            "adv",
            &none,
            &comparison(0.0, 0, (None, None)),
            None,
            &attacks,
        );
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert_eq!(reasons[0].metric, "max_new_successes");
        assert_eq!(
            reasons[0].message,
            "2 new attack successes (limit 0): in system-prompt-extraction: `x/a`, `x/b`"
        );
        let lenient = Tolerance {
            max_new_successes: Some(2),
            max_asr: Some(0.15),
            ..Tolerance::default()
        };
        let reasons = limits(
            "adv",
            &lenient,
            &comparison(0.0, 0, (None, None)),
            None,
            &attacks,
        );
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert_eq!(reasons[0].metric, "max_asr");
        assert!(
            reasons[0]
                .message
                .contains("system-prompt-extraction is 20.0%")
        );
        let many: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let long = [category("jailbreak", (0.0, 0.7), &many)];
        let reasons = limits("adv", &none, &comparison(0.0, 0, (None, None)), None, &long);
        assert!(
            reasons[0].message.ends_with("`c4` and 2 more"),
            "{}",
            reasons[0].message
        );
    }
}
