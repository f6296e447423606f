//! The gate: a pure function from a suite's tolerance and comparison to reasons to block.

use serde::{Deserialize, Serialize};

use crate::compare::SuiteComparison;
use crate::config::Tolerance;

/// The gate's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every limit held.
    Pass,
    /// At least one limit was breached.
    Fail,
}

impl Verdict {
    /// The verdict as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
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

/// The reasons `comparison` breaches `tolerance` (empty when it passes).
pub fn check(suite: &str, tolerance: &Tolerance, comparison: &SuiteComparison) -> Vec<Reason> {
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
    if let (Some(limit), Some(delta)) = (tolerance.max_pass_rate_drop, comparison.pass_rate_delta) {
        let drop = -delta;
        if drop > limit + EPSILON {
            breach(
                "max_pass_rate_drop",
                limit,
                Some(drop),
                format!(
                    "pass rate dropped {:.1} points, limit {:.1}",
                    drop * 100.0,
                    limit * 100.0
                ),
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

/// `(after - before) / before`, or `None` when the baseline is zero (no meaningful ratio).
fn relative_increase(before: f64, after: f64) -> Option<f64> {
    (before > 0.0).then(|| (after - before) / before)
}

/// The verdict for a set of reasons.
pub fn verdict(reasons: &[Reason]) -> Verdict {
    if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
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

    #[test]
    fn each_breached_limit_gives_one_reason() {
        let tolerance = Tolerance {
            max_pass_rate_drop: Some(0.02),
            max_new_failures: Some(0),
            max_cost_increase: Some(0.10),
            max_latency_increase: Some(0.25),
        };
        let reasons = check(
            "s",
            &tolerance,
            &comparison(-0.1, 1, (Some(1.0), Some(1.2))),
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
        assert_eq!(verdict(&reasons), Verdict::Fail);
    }

    #[test]
    fn limits_are_inclusive_and_unset_limits_are_ignored() {
        let tolerance = Tolerance {
            max_pass_rate_drop: Some(0.02),
            ..Tolerance::default()
        };
        assert!(check("s", &tolerance, &comparison(-0.02, 3, (None, None))).is_empty());
        let unknown_cost = Tolerance {
            max_cost_increase: Some(0.1),
            ..Tolerance::default()
        };
        let reasons = check("s", &unknown_cost, &comparison(0.0, 0, (Some(1.0), None)));
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].observed, None);
    }
}
