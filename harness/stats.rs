//! The statistics of the gate: a paired bootstrap over cases, the exact McNemar (sign) test,
//! Holm's step-down adjustment, and the adaptive sampling rule. Pure and seeded: the same input
//! gives the same interval on every machine.

use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::{Rng, SeedableRng};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 2000;

/// A paired comparison of per-case pass rates (candidate − baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// Cases both versions completed.
    pub cases: usize,
    /// Mean per-case delta.
    pub mean: f64,
    /// Lower end of the 95% percentile-bootstrap interval of the mean.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// One-sided p-value of "the candidate is not worse": the share of bootstrap means at or
    /// above zero (with the usual +1 correction).
    pub p_worse: f64,
}

/// The paired bootstrap over `deltas` (one per case), seeded.
pub fn paired_bootstrap(deltas: &[f64], seed: u64) -> Option<Paired> {
    let n = deltas.len();
    if n == 0 {
        return None;
    }
    let mean = deltas.iter().sum::<f64>() / n as f64;
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let total: f64 = (0..n)
                .map(|_| deltas[(rng.next_u64() % n as u64) as usize])
                .sum();
            total / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * RESAMPLES as f64) as usize).min(RESAMPLES - 1)];
    // A mean within rounding of zero counts as zero.
    let not_worse = means.iter().filter(|m| **m >= -1e-12).count();
    Some(Paired {
        cases: n,
        mean,
        lo: at(0.025),
        hi: at(0.975),
        p_worse: (not_worse + 1) as f64 / (RESAMPLES + 1) as f64,
    })
}

/// Exact one-sided McNemar (sign) test on discordant cases: the probability of at least `worse`
/// regressions among `worse + better` discordant cases if either direction were equally likely.
pub fn mcnemar_one_sided(worse: u64, better: u64) -> f64 {
    let n = worse + better;
    if n == 0 {
        return 1.0;
    }
    // Sum binomial(n, i) / 2^n for i >= worse, in logs to stay finite for large n.
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut total = 0.0;
    for i in 0..=n {
        if i >= worse {
            total += (ln_choose - ln_half_n).exp();
        }
        ln_choose += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    total.min(1.0)
}

/// Exact two-sided McNemar p-value (twice the smaller tail, at most 1).
pub fn mcnemar_two_sided(worse: u64, better: u64) -> f64 {
    let tail = mcnemar_one_sided(worse.max(better), worse.min(better));
    (2.0 * tail).min(1.0)
}

/// Holm's step-down adjustment of `p` (family-wise error control), in the input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// One case's results so far: passes and samples on each version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseTally {
    /// Baseline samples that passed.
    pub baseline_passed: u32,
    /// Baseline samples.
    pub baseline_samples: u32,
    /// Candidate samples that passed.
    pub candidate_passed: u32,
    /// Candidate samples.
    pub candidate_samples: u32,
}

impl CaseTally {
    /// Whether the case's samples disagree, within a version or between the versions.
    pub fn disagrees(&self) -> bool {
        let mixed = |passed: u32, samples: u32| passed > 0 && passed < samples;
        mixed(self.baseline_passed, self.baseline_samples)
            || mixed(self.candidate_passed, self.candidate_samples)
            || (self.baseline_passed == 0) != (self.candidate_passed == 0)
            || (self.baseline_passed == self.baseline_samples)
                != (self.candidate_passed == self.candidate_samples)
    }

    /// Candidate minus baseline pass rate.
    pub fn delta(&self) -> f64 {
        let rate = |p: u32, n: u32| {
            if n == 0 {
                0.0
            } else {
                f64::from(p) / f64::from(n)
            }
        };
        rate(self.candidate_passed, self.candidate_samples)
            - rate(self.baseline_passed, self.baseline_samples)
    }
}

/// Samples added per version to each chosen case in one adaptive round.
pub const ADAPTIVE_STEP: u32 = 2;

/// The cases to sample again in an adaptive round, each with the samples per version it should
/// reach.
///
/// While a suite is undecided: the cases below `cap` whose results disagree get
/// [`ADAPTIVE_STEP`] more; when none disagree, every case below `cap` does. Before a `fail`
/// found on unevenly sampled cases is accepted (`confirm`), every case is brought up to the
/// most-sampled one: a case whose few samples happened to agree would otherwise count as
/// certain, and the interval would be too narrow.
pub fn adaptive_round(cases: &[CaseTally], cap: u32, confirm: bool) -> Vec<(usize, u32)> {
    let samples = |c: &CaseTally| c.baseline_samples.max(c.candidate_samples);
    if confirm {
        let most = cases.iter().map(samples).max().unwrap_or(0).min(cap);
        return cases
            .iter()
            .enumerate()
            .filter(|(_, c)| samples(c) < most)
            .map(|(i, _)| (i, most))
            .collect();
    }
    let next = |c: &CaseTally| (samples(c) + ADAPTIVE_STEP).min(cap);
    let below: Vec<(usize, &CaseTally)> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| samples(c) < cap)
        .collect();
    let disagreeing: Vec<(usize, u32)> = below
        .iter()
        .filter(|(_, c)| c.disagrees())
        .map(|(i, c)| (*i, next(c)))
        .collect();
    if !disagreeing.is_empty() {
        return disagreeing;
    }
    below.iter().map(|(i, c)| (*i, next(c))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn mcnemar_matches_the_binomial_table() {
        // P(X >= k) for X ~ Binomial(n, 1/2), from the standard table.
        assert!(close(mcnemar_one_sided(8, 2), 56.0 / 1024.0, 1e-12));
        assert!(close(mcnemar_one_sided(15, 5), 0.020_694, 1e-6));
        assert!(close(mcnemar_one_sided(5, 0), 1.0 / 32.0, 1e-12));
        assert!(close(mcnemar_one_sided(0, 7), 1.0, 1e-12));
        assert!(close(mcnemar_two_sided(8, 2), 0.109_375, 1e-9));
        assert!(close(mcnemar_two_sided(2, 8), 0.109_375, 1e-9));
        assert!(close(mcnemar_two_sided(10, 10), 1.0, 1e-12));
        assert!(close(mcnemar_two_sided(60, 40), 0.056_883, 1e-5));
        assert_eq!(mcnemar_one_sided(0, 0), 1.0);
    }

    #[test]
    fn bootstrap_interval_on_a_fixed_data_set() {
        // 100 cases: 20 regressed by one, 80 unchanged. Mean −0.2; the standard error of the
        // mean is sqrt(0.2 · 0.8 / 100) = 0.04, so the 95% interval is about −0.2 ± 0.078.
        let mut deltas = vec![-1.0; 20];
        deltas.extend(vec![0.0; 80]);
        let b = paired_bootstrap(&deltas, 7).unwrap();
        assert!(close(b.mean, -0.2, 1e-12));
        assert!(close(b.lo, -0.28, 0.012), "{b:?}");
        assert!(close(b.hi, -0.12, 0.012), "{b:?}");
        assert!(b.p_worse < 0.001);
        assert_eq!(
            paired_bootstrap(&deltas, 7),
            Some(b),
            "seeded: reproducible"
        );
        let none = paired_bootstrap(&[0.0; 50], 1).unwrap();
        assert_eq!((none.lo, none.hi, none.p_worse), (0.0, 0.0, 1.0));
        assert_eq!(paired_bootstrap(&[], 1), None);
    }

    #[test]
    fn holm_steps_down() {
        let adjusted = holm(&[0.01, 0.04, 0.03]);
        assert!(close(adjusted[0], 0.03, 1e-12));
        assert!(close(adjusted[2], 0.06, 1e-12));
        assert!(
            close(adjusted[1], 0.06, 1e-12),
            "monotone: never below an earlier step"
        );
        assert_eq!(holm(&[]), Vec::<f64>::new());
    }

    #[test]
    fn adaptive_rounds_pick_disagreeing_cases_first() {
        let agree = CaseTally {
            baseline_passed: 3,
            baseline_samples: 3,
            candidate_passed: 3,
            candidate_samples: 3,
        };
        let mixed = CaseTally {
            candidate_passed: 2,
            ..agree
        };
        let capped = CaseTally {
            candidate_passed: 1,
            baseline_samples: 10,
            candidate_samples: 10,
            baseline_passed: 10,
        };
        assert_eq!(
            adaptive_round(&[agree, mixed, capped], 10, false),
            vec![(1, 5)]
        );
        assert_eq!(adaptive_round(&[agree, capped], 10, false), vec![(0, 5)]);
        assert!(adaptive_round(&[capped], 10, false).is_empty());
        assert_eq!(
            adaptive_round(&[agree, mixed, capped], 10, true),
            vec![(0, 10), (1, 10)],
            "a fail on uneven samples is confirmed on even ones"
        );
        assert!(adaptive_round(&[agree, mixed], 10, true).is_empty());
        assert!(close(mixed.delta(), -1.0 / 3.0, 1e-12));
    }
}
