//! Production against its baseline: what a window of production records measures, and which
//! of a tier's monitoring thresholds it breaches. Pure: no I/O, no clock.
//!
//! A breach must be measured, not guessed: the share of outputs passing the checks breaches
//! only when even the top of its 95% Wilson interval is below the baseline less the allowed
//! drop, and the error rate only when the bottom of its interval is above the limit. Latency
//! (the median) and cost (the mean per call) are compared as they are, once the window holds
//! the tier's minimum of records.

use serde::{Deserialize, Serialize};

use crate::config::MonitorThresholds;
use crate::store::Measures;

/// The confidence of the intervals a breach is judged on.
const CONFIDENCE: f64 = 0.95;

/// One output's measurements, in a run or in production.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Observation {
    /// The call failed.
    pub failed: bool,
    /// Whether the output passed every check; `None` when not checked (no output, or no
    /// checks).
    pub passed: Option<bool>,
    /// Wall time, when known.
    pub latency_ms: Option<u64>,
    /// Cost in dollars, when known.
    pub cost: Option<f64>,
    /// Tokens, when known.
    pub tokens: Option<u64>,
}

/// What `observations` measure.
pub(crate) fn measure(observations: &[Observation]) -> Measures {
    let records = observations.len();
    let judged: Vec<bool> = observations.iter().filter_map(|o| o.passed).collect();
    let passed = judged.iter().filter(|&&p| p).count();
    let errors = observations.iter().filter(|o| o.failed).count();
    let mut latencies: Vec<u64> = observations.iter().filter_map(|o| o.latency_ms).collect();
    latencies.sort_unstable();
    let latency_ms = match latencies.len() {
        0 => None,
        n if n % 2 == 1 => Some(latencies[n / 2] as f64),
        n => Some((latencies[n / 2 - 1] as f64 + latencies[n / 2] as f64) / 2.0),
    };
    // The mean over the records that measured it (one record without a cost does not switch
    // cost monitoring off); a running mean, as a sum of huge values would overflow.
    let mean_of = |values: Vec<Option<f64>>| {
        let measured: Vec<f64> = values.into_iter().flatten().collect();
        (!measured.is_empty()).then(|| {
            measured
                .iter()
                .enumerate()
                .fold(0.0, |mean, (i, x)| mean + (x - mean) / (i + 1) as f64)
        })
    };
    Measures {
        records,
        checked: judged.len(),
        passed,
        quality: (!judged.is_empty()).then(|| passed as f64 / judged.len() as f64),
        errors,
        error_rate: if records == 0 {
            0.0
        } else {
            errors as f64 / records as f64
        },
        latency_ms,
        cost_per_call: mean_of(observations.iter().map(|o| o.cost).collect()),
        tokens_per_call: mean_of(
            observations
                .iter()
                .map(|o| o.tokens.map(|t| t as f64))
                .collect(),
        ),
    }
}

/// What the window shows against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Every threshold held.
    Healthy,
    /// At least one threshold was breached.
    Breach,
    /// Too few records to judge.
    TooFewRecords,
}

/// One threshold breached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// The threshold (`max_quality_drop`, ...).
    pub metric: String,
    /// The baseline's value.
    pub baseline: f64,
    /// What production showed.
    pub observed: f64,
    /// The threshold's value.
    pub limit: f64,
    /// In plain words.
    pub message: String,
}

/// Judges `now` against `baseline` with `thresholds`; also the metrics that could not be
/// judged (in plain words). `quality_unjudged` says why quality is not comparable when it is
/// not (the checks changed since the baseline was measured): then it is not judged.
pub(crate) fn watch(
    baseline: &Measures,
    now: &Measures,
    thresholds: &MonitorThresholds,
    quality_unjudged: Option<String>,
) -> (Health, Vec<Breach>, Vec<String>) {
    let mut unjudged = Vec::new();
    if now.records < thresholds.min_records {
        return (
            Health::TooFewRecords,
            Vec::new(),
            vec![format!(
                "{} records in the window, fewer than the {} the tier needs (min_records)",
                now.records, thresholds.min_records
            )],
        );
    }
    let mut breaches = Vec::new();
    match (quality_unjudged, baseline.quality, now.quality) {
        (Some(why), ..) => unjudged.push(why),
        (None, Some(base), Some(observed)) => {
            let floor = base - thresholds.max_quality_drop;
            let (_, high) = crate::stats::wilson(now.passed, now.checked, CONFIDENCE);
            if high < floor {
                breaches.push(Breach {
                    metric: "max_quality_drop".into(),
                    baseline: base,
                    observed,
                    limit: thresholds.max_quality_drop,
                    message: format!(
                        "{} of {} outputs passed the checks ({}, at most {} at 95% confidence), against {} at release; the limit is a drop of {} points",
                        now.passed,
                        now.checked,
                        percent(observed),
                        percent(high),
                        percent(base),
                        points(thresholds.max_quality_drop)
                    ),
                });
            }
        }
        (None, None, _) => unjudged.push(
            "quality: the baseline has no checks (no shadow suite when it was promoted)".into(),
        ),
        (None, _, None) => {
            unjudged.push("quality: no record in the window has an output to check".into())
        }
    }
    let (low, _) = crate::stats::wilson(now.errors, now.records, CONFIDENCE);
    if low > thresholds.max_error_rate {
        breaches.push(Breach {
            metric: "max_error_rate".into(),
            baseline: baseline.error_rate,
            observed: now.error_rate,
            limit: thresholds.max_error_rate,
            message: format!(
                "{} of {} calls failed ({}, at least {} at 95% confidence); the limit is {}",
                now.errors,
                now.records,
                percent(now.error_rate),
                percent(low),
                percent(thresholds.max_error_rate)
            ),
        });
    }
    let mut rise =
        |metric: &str, what: &str, base: Option<f64>, observed: Option<f64>, limit: f64| match (
            base, observed,
        ) {
            (Some(base), Some(observed)) if base > 0.0 => {
                if observed > base * (1.0 + limit) {
                    breaches.push(Breach {
                        metric: metric.into(),
                        baseline: base,
                        observed,
                        limit,
                        message: format!(
                            "{what} rose {} (from {} to {}); the limit is {}",
                            percent(observed / base - 1.0),
                            trim(base),
                            trim(observed),
                            percent(limit)
                        ),
                    });
                }
            }
            (Some(_), Some(_)) => unjudged.push(format!(
                "{what}: the baseline's is 0, so a rise has no ratio"
            )),
            _ => unjudged.push(format!("{what}: not measured on both sides")),
        };
    rise(
        "max_latency_rise",
        "median latency (ms)",
        baseline.latency_ms,
        now.latency_ms,
        thresholds.max_latency_rise,
    );
    rise(
        "max_cost_rise",
        "cost per call ($)",
        baseline.cost_per_call,
        now.cost_per_call,
        thresholds.max_cost_rise,
    );
    let health = if breaches.is_empty() {
        Health::Healthy
    } else {
        Health::Breach
    };
    (health, breaches, unjudged)
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn points(share: f64) -> String {
    format!("{:.1}", share * 100.0)
}

fn trim(value: f64) -> String {
    if value >= 1.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> MonitorThresholds {
        MonitorThresholds {
            max_quality_drop: 0.05,
            max_error_rate: 0.05,
            max_latency_rise: 0.5,
            max_cost_rise: 0.25,
            min_records: 20,
        }
    }

    #[test]
    fn a_record_without_a_cost_leaves_the_others_measured() {
        let with = |cost| Observation {
            failed: false,
            passed: None,
            latency_ms: Some(100),
            cost,
            tokens: None,
        };
        let m = measure(&[with(Some(0.002)), with(None), with(Some(0.004))]);
        assert!((m.cost_per_call.unwrap() - 0.003).abs() < 1e-12);
        assert_eq!(m.tokens_per_call, None, "no record measured tokens");
    }

    #[test]
    fn extreme_latencies_and_costs_give_finite_measures() {
        let huge = |latency_ms, cost| Observation {
            failed: false,
            passed: None,
            latency_ms: Some(latency_ms),
            cost: Some(cost),
            tokens: Some(u64::MAX),
        };
        let m = measure(&[huge(u64::MAX, f64::MAX), huge(u64::MAX, f64::MAX)]);
        assert_eq!(m.latency_ms, Some(u64::MAX as f64));
        assert_eq!(m.cost_per_call, Some(f64::MAX));
        assert!(m.tokens_per_call.unwrap().is_finite());
    }

    fn window(n: usize, passing: usize, failed: usize, latency: u64) -> Measures {
        let observations: Vec<Observation> = (0..n)
            .map(|i| Observation {
                failed: i < failed,
                passed: (i >= failed).then_some(i < failed + passing),
                latency_ms: Some(latency),
                cost: Some(0.001),
                tokens: Some(10),
            })
            .collect();
        measure(&observations)
    }

    #[test]
    fn a_measured_drop_breaches_and_noise_does_not() {
        let base = window(100, 100, 0, 100);
        let t = thresholds();
        // 28 of 40 pass: at most ~83% at 95%, far under 95%.
        let (health, breaches, _) = watch(&base, &window(40, 28, 0, 100), &t, None);
        assert_eq!(health, Health::Breach);
        assert_eq!(breaches[0].metric, "max_quality_drop");
        // 36 of 40 (90%) could still be 95%: not a measured breach.
        let (health, _, _) = watch(&base, &window(40, 36, 0, 100), &t, None);
        assert_eq!(health, Health::Healthy);
    }

    #[test]
    fn errors_latency_and_too_few_records() {
        let base = window(100, 100, 0, 100);
        let t = thresholds();
        let (_, breaches, _) = watch(&base, &window(40, 10, 20, 400), &t, None);
        let metrics: Vec<&str> = breaches.iter().map(|b| b.metric.as_str()).collect();
        assert_eq!(
            metrics,
            ["max_quality_drop", "max_error_rate", "max_latency_rise"]
        );
        let (health, _, why) = watch(&base, &window(5, 0, 5, 900), &t, None);
        assert_eq!(health, Health::TooFewRecords);
        assert!(why[0].contains("5 records"));
    }
}
