//! The statistics of the gate: the suite's own pass-rate change given the model's measured
//! output noise (an empirical-Bayes model of each case's pass probability on each version), the
//! paired bootstrap over cases (what new cases like these would show), and the confirmation and
//! adaptive sampling rules. Pure and
//! seeded: the same input gives the same answer on every machine.

use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Bootstrap resamples per interval.
pub(crate) const RESAMPLES: usize = 2000;

/// A paired comparison of per-case pass rates (candidate − baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Paired {
    /// Mean per-case delta.
    pub mean: f64,
    /// Lower end of the 95% percentile-bootstrap interval of the mean.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

/// The paired bootstrap over `deltas` (one per case), seeded.
pub(crate) fn paired_bootstrap(deltas: &[f64], seed: u64) -> Option<Paired> {
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
    Some(Paired {
        mean,
        lo: at(0.025),
        hi: at(0.975),
    })
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

/// One case's samples on one version: when it has more than one, a measurement of how often
/// the provider flips. Remembered per provider ([`crate::noise`]) so the next check starts from
/// what was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionTally {
    /// Samples that passed.
    pub passed: u32,
    /// Samples.
    pub samples: u32,
}

impl VersionTally {
    /// Samples that went the other way from the majority: the calls that flipped.
    pub fn flipped(&self) -> u32 {
        self.passed.min(self.samples.saturating_sub(self.passed))
    }
}

/// The pass probabilities the noise model places its mass on: dense near 0 and 1, where the
/// cases of a nearly deterministic model live, and every 0.05 between.
const GRID: [f64; 25] = [
    0.002, 0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7,
    0.75, 0.8, 0.85, 0.9, 0.94, 0.97, 0.99, 0.998,
];

/// Weight, in cases, of the flat prior mixed into the fitted noise model: it keeps a small suite
/// from being trusted as if its few cases showed every way a model can vary.
const FLAT_PRIOR_CASES: f64 = 0.25;

/// Most EM iterations when fitting the noise model.
const EM_ITERATIONS: usize = 200;

/// The suite's pass-rate change on its own cases, given the output noise measured on them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Change {
    /// The expected change of the suite's pass rate (candidate − baseline).
    pub mean: f64,
    /// Its standard deviation: what the model's noise leaves uncertain.
    pub sd: f64,
}

impl Change {
    /// The central interval holding `level` of the change (0.95: the 95% interval).
    pub(crate) fn interval(&self, level: f64) -> [f64; 2] {
        let z = normal_quantile(0.5 + level / 2.0);
        [
            (self.mean - z * self.sd).max(-1.0),
            (self.mean + z * self.sd).min(1.0),
        ]
    }

    /// The probability that the change is below `threshold`.
    pub(crate) fn probability_below(&self, threshold: f64) -> f64 {
        if self.sd <= 0.0 {
            return if self.mean < threshold { 1.0 } else { 0.0 };
        }
        normal_cdf((threshold - self.mean) / self.sd)
    }
}

/// The standard normal distribution function.
pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// The standard normal quantile, by bisection on [`normal_cdf`] (exact to 1e-12).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (-40.0, 40.0);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    (lo + hi) / 2.0
}

/// The Wilson score interval of a proportion (`hits` of `n`) at two-sided `confidence`:
/// `(low, high)`; `(0, 1)` when `n` is 0.
pub(crate) fn wilson(hits: usize, n: usize, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let (n, p) = (n as f64, hits as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The suite's pass-rate change on exactly these cases, when the provider cannot vary: what
/// was observed, with no uncertainty.
pub(crate) fn exact_change(cases: &[CaseTally]) -> Option<Change> {
    if cases.is_empty() {
        return None;
    }
    let mean = cases.iter().map(CaseTally::delta).sum::<f64>() / cases.len() as f64;
    Some(Change { mean, sd: 0.0 })
}

/// The suite's pass-rate change on exactly these cases, given the output noise measured on
/// them.
///
/// The change is the observed mean of the per-case changes. Its uncertainty is the model's
/// output noise, case by case:
///
/// - a case whose samples disagree (within a version, or between the versions) is as uncertain
///   as the sampling of its observed change makes it: p(1 − p)/k per version, with p that
///   version's pass probability as the fit places it given the case's k samples (so a flip
///   on a provider that rarely flips weighs less than a flip on one that often does);
/// - a case whose samples all agree is as uncertain as the noise measured on the whole suite
///   makes it (empirical Bayes): the joint distribution of (baseline, candidate) pass
///   probability over a grid is fitted by maximum likelihood (EM) to every case's samples,
///   made symmetric between the versions (noise belongs to the model, not to a version) and
///   mixed with a flat prior worth [`FLAT_PRIOR_CASES`] cases. When most cases give the same
///   outcome on both versions and the re-sampled ones reproduce, flips are rare and an
///   agreeing case is nearly certain; when outcomes flip often, it is not.
///
/// `remembered` are case-versions this provider was re-sampled on before (other cases, or
/// other versions): each is one more observation of the fit's distribution of pass
/// probabilities, on one version, so a provider measured to flip rarely makes an agreeing case
/// nearly certain without re-sampling it again. They move the fit, never the change, which is
/// the suite's own cases' alone.
///
/// The sampling design (which cases got more samples) depends only on outcomes already seen,
/// so it does not bias the fit.
pub(crate) fn change_given_noise(
    cases: &[CaseTally],
    remembered: &[VersionTally],
) -> Option<Change> {
    if cases.is_empty() {
        return None;
    }
    // Cases with the same counts share a likelihood: fit on the distinct ones.
    let mut groups: Vec<(CaseTally, f64)> = Vec::new();
    for case in cases {
        match groups.iter_mut().find(|(c, _)| c == case) {
            Some((_, count)) => *count += 1.0,
            None => groups.push((*case, 1.0)),
        }
    }
    let likelihood = |passed: u32, samples: u32| -> Vec<f64> {
        GRID.iter()
            .map(|p| p.powi(passed as i32) * (1.0 - p).powi((samples - passed) as i32))
            .collect()
    };
    let sides: Vec<(Vec<f64>, Vec<f64>)> = groups
        .iter()
        .map(|(c, _)| {
            (
                likelihood(c.baseline_passed, c.baseline_samples),
                likelihood(c.candidate_passed, c.candidate_samples),
            )
        })
        .collect();
    let mut memory: Vec<(Vec<f64>, f64)> = Vec::new();
    let mut seen: Vec<VersionTally> = Vec::new();
    for tally in remembered.iter().filter(|t| t.samples > 1) {
        match seen.iter().position(|t| t == tally) {
            Some(at) => memory[at].1 += 1.0,
            None => {
                seen.push(*tally);
                memory.push((likelihood(tally.passed, tally.samples), 1.0));
            }
        }
    }
    let g = GRID.len();
    let n = cases.len() as f64;
    let observations = n + memory.iter().map(|(_, count)| count).sum::<f64>();
    let flat = FLAT_PRIOR_CASES / (g * g) as f64;
    let mut weights = vec![1.0 / (g * g) as f64; g * g];
    let mut next = vec![0.0; g * g];
    // A remembered case-version is seen on one version: its other side is the fit's own.
    let unseen = vec![1.0; g];
    let observed: Vec<(f64, &[f64], &[f64])> = groups
        .iter()
        .zip(&sides)
        .map(|((_, count), (lb, lc))| (*count, lb.as_slice(), lc.as_slice()))
        .chain(
            memory
                .iter()
                .map(|(lv, count)| (*count, lv.as_slice(), unseen.as_slice())),
        )
        .collect();
    for _ in 0..EM_ITERATIONS {
        next.fill(flat);
        for &(count, lb, lc) in &observed {
            let total: f64 = (0..g)
                .map(|j| lb[j] * (0..g).map(|l| weights[j * g + l] * lc[l]).sum::<f64>())
                .sum();
            if total <= 0.0 {
                continue;
            }
            let scale = count / total;
            for j in 0..g {
                let row = scale * lb[j];
                for l in 0..g {
                    next[j * g + l] += weights[j * g + l] * row * lc[l];
                }
            }
        }
        let norm = observations + FLAT_PRIOR_CASES;
        let mut moved: f64 = 0.0;
        for j in 0..g {
            for l in 0..g {
                // Noise belongs to the model, not to a version: the fit is symmetric under
                // swapping them, so a flip seen on one version is not taken for a drift.
                let v = (next[j * g + l] + next[l * g + j]) / (2.0 * norm);
                moved = moved.max((v - weights[j * g + l]).abs());
                weights[j * g + l] = v;
            }
        }
        if moved < 1e-7 {
            break;
        }
    }
    let (mut mean, mut variance) = (0.0, 0.0);
    for (index, ((_, count), (lb, lc))) in groups.iter().zip(&sides).enumerate() {
        let (mut total, mut first, mut second) = (0.0, 0.0, 0.0);
        let (mut base, mut cand) = (0.0, 0.0);
        for j in 0..g {
            for l in 0..g {
                let w = weights[j * g + l] * lb[j] * lc[l];
                let delta = GRID[l] - GRID[j];
                total += w;
                first += w * delta;
                second += w * delta * delta;
                base += w * GRID[j];
                cand += w * GRID[l];
            }
        }
        if total <= 0.0 {
            continue;
        }
        let (case, _) = &groups[index];
        // A case whose samples disagree is as uncertain as the sampling of its observed change
        // makes it; one whose samples all agree, as uncertain as the noise fitted on the whole
        // suite makes it.
        let case_variance = if case.disagrees() {
            // The sampling variance of its observed change: each version's pass probability
            // as the fit places it given the case's samples, over that version's samples.
            let binomial = |p: f64, samples: u32| p * (1.0 - p) / f64::from(samples.max(1));
            binomial(base / total, case.baseline_samples)
                + binomial(cand / total, case.candidate_samples)
        } else {
            let fitted = first / total;
            (second / total - fitted * fitted).max(0.0)
        };
        mean += count * case.delta();
        variance += count * case_variance;
    }
    Some(Change {
        mean: mean / n,
        sd: variance.sqrt() / n,
    })
}

/// Samples added per version to each chosen case in one adaptive round.
pub(crate) const ADAPTIVE_STEP: u32 = 2;

/// The cases to confirm before a verdict, each with the samples per version it should reach:
/// every discordant case (its pass rate differs between the versions) gets `more` samples on
/// each version.
pub fn confirmation_round(cases: &[CaseTally], more: u32) -> Vec<(usize, u32)> {
    if more == 0 {
        return Vec::new();
    }
    cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.delta() != 0.0)
        .map(|(i, c)| (i, c.baseline_samples.max(c.candidate_samples) + more))
        .collect()
}

/// Most cases whose samples all agree one adaptive round re-samples to measure the noise: all
/// of a small suite, a spread of a large one.
pub(crate) const NOISE_SPREAD: usize = 20;

/// The cases to sample again in an adaptive round, each with the samples per version it should
/// reach: the cases below `cap` whose samples disagree (within a version or between the
/// versions) get [`ADAPTIVE_STEP`] more. With `measure_noise` (the suite is undecided, and the
/// noise of the cases that agree is part of why), cases whose samples all agree get
/// [`ADAPTIVE_STEP`] more too: those with the fewest samples, at most [`NOISE_SPREAD`] of them,
/// spread evenly over the suite. Their samples are what the noise fit learns how often this
/// provider flips from.
pub fn adaptive_round(cases: &[CaseTally], cap: u32, measure_noise: bool) -> Vec<(usize, u32)> {
    let samples = |c: &CaseTally| c.baseline_samples.max(c.candidate_samples);
    let step = |c: &CaseTally| (samples(c) + ADAPTIVE_STEP).min(cap);
    let mut round: Vec<(usize, u32)> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| samples(c) < cap && c.disagrees())
        .map(|(i, c)| (i, step(c)))
        .collect();
    if measure_noise {
        let agreeing: Vec<usize> = (0..cases.len())
            .filter(|&i| samples(&cases[i]) < cap && !cases[i].disagrees())
            .collect();
        if let Some(fewest) = agreeing.iter().map(|&i| samples(&cases[i])).min() {
            let least: Vec<usize> = agreeing
                .into_iter()
                .filter(|&i| samples(&cases[i]) == fewest)
                .collect();
            let every = least.len().div_ceil(NOISE_SPREAD);
            round.extend(
                least
                    .into_iter()
                    .step_by(every)
                    .map(|i| (i, step(&cases[i]))),
            );
            round.sort_unstable();
        }
    }
    round
}

/// Calls `round` (an [`adaptive_round`] of `cases`) would make, both versions counted.
pub(crate) fn round_calls(cases: &[CaseTally], round: &[(usize, u32)]) -> u32 {
    round
        .iter()
        .map(|&(i, target)| {
            let c = &cases[i];
            target.saturating_sub(c.baseline_samples) + target.saturating_sub(c.candidate_samples)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
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
        assert_eq!(
            paired_bootstrap(&deltas, 7),
            Some(b),
            "seeded: reproducible"
        );
        let none = paired_bootstrap(&[0.0; 50], 1).unwrap();
        assert_eq!((none.lo, none.hi), (0.0, 0.0));
        assert_eq!(paired_bootstrap(&[], 1), None);
    }

    fn tally(b: (u32, u32), c: (u32, u32)) -> CaseTally {
        CaseTally {
            baseline_passed: b.0,
            baseline_samples: b.1,
            candidate_passed: c.0,
            candidate_samples: c.1,
        }
    }

    #[test]
    fn adaptive_rounds_sample_only_cases_that_disagree() {
        let agree = tally((3, 3), (3, 3));
        let mixed = tally((3, 3), (2, 3));
        let capped = tally((10, 10), (1, 10));
        assert_eq!(
            adaptive_round(&[agree, mixed, capped], 10, false),
            vec![(1, 5)]
        );
        assert!(
            adaptive_round(&[agree, capped], 10, false).is_empty(),
            "cases that agree get no more samples unless the noise needs measuring"
        );
        assert_eq!(
            adaptive_round(&[agree, mixed, capped], 10, true),
            vec![(0, 5), (1, 5)]
        );
        // A large suite: a spread of the agreeing cases with the fewest samples.
        let many = vec![agree; 100];
        let spread = adaptive_round(&many, 10, true);
        assert_eq!(spread.len(), NOISE_SPREAD);
        assert_eq!(spread[1].0 - spread[0].0, 5);
        assert!(close(mixed.delta(), -1.0 / 3.0, 1e-12));
    }

    #[test]
    fn confirmation_resamples_the_discordant_cases() {
        let cases = [
            tally((1, 1), (0, 1)),
            tally((1, 1), (1, 1)),
            tally((0, 1), (1, 1)),
        ];
        assert_eq!(confirmation_round(&cases, 2), vec![(0, 3), (2, 3)]);
        assert!(confirmation_round(&cases, 0).is_empty());
    }

    #[test]
    fn the_normal_distribution_matches_its_table() {
        assert!(close(normal_cdf(0.0), 0.5, 1e-15));
        assert!(close(normal_cdf(1.959_963_985), 0.975, 1e-9));
        assert!(close(normal_quantile(0.975), 1.959_963_985, 1e-8));
        assert!(close(normal_quantile(0.5), 0.0, 1e-10));
    }

    /// `n` cases: `broken` pass on the baseline and fail on the candidate, the rest pass on
    /// both; one sample each, and the broken ones confirmed on two more.
    fn confirmed_suite(n: usize, broken: usize) -> Vec<CaseTally> {
        let mut cases = vec![tally((3, 3), (0, 3)); broken];
        cases.extend(vec![tally((1, 1), (1, 1)); n - broken]);
        cases
    }

    #[test]
    fn reproduced_regressions_on_a_quiet_model_are_certain() {
        let change = change_given_noise(&confirmed_suite(100, 5), &[]).unwrap();
        assert!(close(change.mean, -0.05, 0.005), "{change:?}");
        assert!(change.probability_below(-0.02) > 0.999, "{change:?}");
        let none = change_given_noise(&confirmed_suite(100, 0), &[]).unwrap();
        assert!(none.probability_below(-0.02) < 1e-6, "{none:?}");
    }

    #[test]
    fn flips_that_did_not_reproduce_are_noise_not_a_drop() {
        // Three cases flipped once, on either version, and then passed twice on both.
        let mut cases = confirmed_suite(100, 0);
        cases[..2].fill(tally((3, 3), (2, 3)));
        cases[2] = tally((2, 3), (3, 3));
        let change = change_given_noise(&cases, &[]).unwrap();
        assert!(change.mean > -0.015, "{change:?}");
        assert!(change.probability_below(-0.02) < 0.1, "{change:?}");
    }

    #[test]
    fn a_noisy_model_leaves_a_small_suite_uncertain() {
        // Every case disagrees within itself: outcomes are coin flips.
        let cases = vec![tally((2, 4), (1, 4)); 4];
        let change = change_given_noise(&cases, &[]).unwrap();
        let interval = change.interval(0.95);
        assert!(interval[0] < -0.2 && interval[1] > 0.0, "{change:?}");
        assert_eq!(exact_change(&cases).unwrap().sd, 0.0);
        assert!(close(exact_change(&cases).unwrap().mean, -0.25, 1e-12));
    }

    #[test]
    fn the_wilson_interval_matches_a_known_value() {
        // 8 of 10 at 95%: (0.4902, 0.9433).
        let (lo, hi) = wilson(8, 10, 0.95);
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0, 0.95), (0.0, 1.0));
    }
}
