//! The gate: a pure function from a suite's tolerance and comparison to reasons to block.

use serde::{Deserialize, Serialize};

use crate::stats::{self, CaseTally};

use crate::adversarial::asr::CategoryRates;
use crate::compare::SuiteComparison;
use crate::config::Tolerance;

/// The gate's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every limit held.
    Pass,
    /// No limit was breached, but the data cannot rule out a drop beyond tolerance.
    Inconclusive,
    /// At least one limit was breached.
    Fail,
}

impl Verdict {
    /// The verdict as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Inconclusive => "inconclusive",
            Self::Fail => "fail",
        }
    }
}

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
/// breaches `tolerance` (empty when it passes).
pub fn check(
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
                format!("{} cases regressed, limit {limit}", comparison.regressed),
            );
        }
    }
    if !attacks.is_empty() {
        let limit = tolerance.max_new_successes.unwrap_or(0);
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
    if let Some(ceiling) = tolerance.max_asr {
        for category in attacks {
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

/// The verdict for a set of reasons.
/// The candidate's verdict: fail on any breached limit, else inconclusive when a suite's
/// statistics could not decide, else pass.
pub fn verdict(reasons: &[Reason], statistics: &[Option<&Statistics>]) -> Verdict {
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

/// The significance level of the test behind a `fail` (after Holm's adjustment across the
/// candidate's suites): a change with no true effect is blocked at most this often per check.
pub const ALPHA: f64 = 0.005;

/// Which test gave the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Test {
    /// Exact McNemar (sign) test on the discordant cases; one sample per case.
    McnemarExact,
    /// Paired bootstrap over cases; several samples per case.
    PairedBootstrap,
}

impl Test {
    /// The test's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::McnemarExact => "exact McNemar test",
            Self::PairedBootstrap => "paired bootstrap",
        }
    }
}

/// The statistical comparison of one suite and what it decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    /// The test behind the p-value.
    pub test: Test,
    /// Most samples per case and version.
    pub samples: u32,
    /// Cases both versions completed.
    pub cases: usize,
    /// Mean per-case pass-rate delta (candidate − baseline).
    pub mean_delta: f64,
    /// 95% paired-bootstrap interval of the mean delta.
    pub interval: [f64; 2],
    /// One-sided p-value of "the candidate is not worse".
    pub p_value: f64,
    /// `p_value` after Holm's adjustment across the candidate's suites.
    pub p_adjusted: f64,
    /// Discordant cases (regressed, fixed) when there is one sample per case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discordant: Option<[u64; 2]>,
    /// Cases whose baseline samples disagree.
    pub flaky_baseline: usize,
    /// Cases whose candidate samples disagree.
    pub flaky_candidate: usize,
    /// Calls `--adaptive` added.
    #[serde(default)]
    pub extra_calls: usize,
    /// Pass, fail or inconclusive.
    pub decision: Verdict,
    /// What the decision rests on, in plain words.
    pub rests_on: String,
}

/// The adaptive round a decided or undecided suite needs, if any: more samples while it is
/// inconclusive; evenly sampled cases before a `fail` on uneven ones stands.
pub fn adaptive_round(stats: &Statistics, cases: &[CaseTally], cap: u32) -> Vec<(usize, u32)> {
    match stats.decision {
        Verdict::Inconclusive => stats::adaptive_round(cases, cap, false),
        Verdict::Fail => stats::adaptive_round(cases, cap, true),
        Verdict::Pass => Vec::new(),
    }
}

/// The paired statistics of a suite's completed cases, undecided (see [`decide`]): the exact
/// McNemar test when every case has one sample per version, else the paired bootstrap.
pub fn statistics(cases: &[CaseTally], seed: u64, extra_calls: usize) -> Option<Statistics> {
    let deltas: Vec<f64> = cases.iter().map(CaseTally::delta).collect();
    let paired = stats::paired_bootstrap(&deltas, seed)?;
    let samples = cases
        .iter()
        .map(|c| c.baseline_samples.max(c.candidate_samples))
        .max()
        .unwrap_or(1);
    let single = cases
        .iter()
        .all(|c| c.baseline_samples == 1 && c.candidate_samples == 1);
    let (test, p_value, discordant) = if single {
        let worse = deltas.iter().filter(|d| **d < 0.0).count() as u64;
        let better = deltas.iter().filter(|d| **d > 0.0).count() as u64;
        (
            Test::McnemarExact,
            stats::mcnemar_one_sided(worse, better),
            Some([worse, better]),
        )
    } else {
        (Test::PairedBootstrap, paired.p_worse, None)
    };
    let flaky = |side: fn(&CaseTally) -> (u32, u32)| {
        cases
            .iter()
            .filter(|c| {
                let (passed, samples) = side(c);
                passed > 0 && passed < samples
            })
            .count()
    };
    Some(Statistics {
        test,
        samples,
        cases: paired.cases,
        mean_delta: paired.mean,
        interval: [paired.lo, paired.hi],
        p_value,
        p_adjusted: p_value,
        discordant,
        flaky_baseline: flaky(|c| (c.baseline_passed, c.baseline_samples)),
        flaky_candidate: flaky(|c| (c.candidate_passed, c.candidate_samples)),
        extra_calls,
        decision: Verdict::Inconclusive,
        rests_on: String::new(),
    })
}

/// Decides a suite from its statistics against `tolerance` (the largest allowed drop):
///
/// - **pass** when the 95% interval rules out a drop beyond the tolerance (its lower end is at
///   or above −tolerance);
/// - **fail** when the whole interval lies beyond the tolerance, or when the mean drop is beyond
///   the tolerance *and* the drop is significant (the Holm-adjusted one-sided p-value is below
///   [`ALPHA`]);
/// - **inconclusive** otherwise: a drop beyond the tolerance is still possible, but not shown.
pub fn decide(stats: &mut Statistics, tolerance: f64) {
    let points = |x: f64| format!("{:.1}", x * 100.0);
    let interval = format!(
        "[{:+.1}, {:+.1}] points",
        stats.interval[0] * 100.0,
        stats.interval[1] * 100.0
    );
    let test = format!(
        "{} p = {:.3} (Holm-adjusted {:.3})",
        stats.test.as_str(),
        stats.p_value,
        stats.p_adjusted
    );
    let (decision, rests_on) = if stats.interval[0] >= -tolerance - EPSILON {
        (
            Verdict::Pass,
            format!(
                "the 95% interval of the pass-rate change, {interval}, rules out a drop of more than {} points",
                points(tolerance)
            ),
        )
    } else if stats.interval[1] < -tolerance - EPSILON {
        (
            Verdict::Fail,
            format!(
                "pass rate dropped {} points and the whole 95% interval, {interval}, lies beyond the {}-point tolerance",
                points(-stats.mean_delta),
                points(tolerance)
            ),
        )
    } else if stats.mean_delta < -tolerance - EPSILON && stats.p_adjusted < ALPHA {
        (
            Verdict::Fail,
            format!(
                "pass rate dropped {} points (95% interval {interval}), beyond the {}-point tolerance, and the drop is significant: {test} < {ALPHA}",
                points(-stats.mean_delta),
                points(tolerance)
            ),
        )
    } else {
        (
            Verdict::Inconclusive,
            format!(
                "the 95% interval {interval} still allows a drop of more than {} points, but the data do not show one ({test}); more samples (--adaptive) would decide",
                points(tolerance)
            ),
        )
    };
    stats.decision = decision;
    stats.rests_on = rests_on;
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

    fn stats(mean: f64, interval: [f64; 2], p: f64) -> Statistics {
        let mut s = Statistics {
            test: Test::PairedBootstrap,
            samples: 3,
            cases: 200,
            mean_delta: mean,
            interval,
            p_value: p,
            p_adjusted: p,
            discordant: None,
            flaky_baseline: 0,
            flaky_candidate: 0,
            extra_calls: 0,
            decision: Verdict::Pass,
            rests_on: String::new(),
        };
        decide(&mut s, 0.02);
        s
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
        let drop = stats(-0.1, [-0.15, -0.05], 0.0005);
        let reasons = check(
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
    fn the_interval_and_the_test_decide_three_ways() {
        let pass = stats(-0.01, [-0.019, 0.0], 0.2);
        assert_eq!(pass.decision, Verdict::Pass);
        assert!(
            pass.rests_on
                .contains("rules out a drop of more than 2.0 points")
        );
        let fail = stats(-0.05, [-0.08, -0.02], 0.004);
        assert_eq!(fail.decision, Verdict::Fail, "{}", fail.rests_on);
        let not_significant = stats(-0.05, [-0.1, 0.01], 0.03);
        assert_eq!(not_significant.decision, Verdict::Inconclusive);
        let small_but_sure = stats(-0.015, [-0.025, -0.005], 0.001);
        assert_eq!(
            small_but_sure.decision,
            Verdict::Inconclusive,
            "a significant drop within tolerance does not fail"
        );
        assert_eq!(
            verdict(&[], &[Some(&pass), Some(&small_but_sure)]),
            Verdict::Inconclusive
        );
        assert_eq!(verdict(&[], &[Some(&pass), None]), Verdict::Pass);
    }

    #[test]
    fn limits_are_inclusive_and_unset_limits_are_ignored() {
        let tolerance = Tolerance {
            max_pass_rate_drop: Some(0.02),
            ..Tolerance::default()
        };
        assert!(
            check(
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
        let reasons = check(
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
        }
    }

    #[test]
    fn new_attack_successes_and_the_ceiling_block_naming_category_and_case() {
        let attacks = [
            category("system-prompt-extraction", (0.0, 0.2), &["x/a", "x/b"]),
            category("jailbreak", (0.1, 0.1), &[]),
        ];
        let none = Tolerance::default();
        let reasons = check(
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
        let reasons = check(
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
        let reasons = check("adv", &none, &comparison(0.0, 0, (None, None)), None, &long);
        assert!(
            reasons[0].message.ends_with("`c4` and 2 more"),
            "{}",
            reasons[0].message
        );
    }
}
