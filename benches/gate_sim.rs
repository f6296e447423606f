//! Simulation of the statistical gate against a stochastic provider whose per-case pass
//! probabilities are known: how often each gate blocks a change with no effect, and how often
//! it catches a true 5-point drop. Prints one table.
//!
//!     cargo bench --bench gate_sim            (1,000 simulated checks per row)
//!     cargo bench --bench gate_sim -- 200     (fewer, for a quick look)
//!
//! The provider: 200 cases with baseline pass probabilities spread evenly over 0.55–0.98
//! (seeded); the candidate's are the same (no change) or 0.05 lower (a true drop). Tolerance
//! `max_pass_rate_drop: 0.02`. The gate under test is promptgate's own (`gate::statistics`,
//! `gate::decide`, `stats::adaptive_round`); the naive gate blocks when the candidate's pass
//! rate is below the baseline's minus the tolerance.

use promptgate::gate::{self, Verdict};
use promptgate::stats::CaseTally;
use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::{Rng, SeedableRng};

const CASES: usize = 200;
const TOLERANCE: f64 = 0.02;
const FIXED_SAMPLES: u32 = 3;
const ADAPTIVE_CAP: u32 = 10;

/// The stochastic provider: one pass or fail per call.
struct Provider {
    rng: Pcg64Mcg,
}

impl Provider {
    fn passes(&mut self, probability: f64, samples: u32) -> u32 {
        (0..samples)
            .filter(|_| (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= probability)
            .count() as u32
    }
}

/// What one simulated check decided and what it cost.
struct Check {
    verdict: Verdict,
    naive_blocks: bool,
    calls: u64,
}

fn simulate(
    provider: &mut Provider,
    base: &[f64],
    cand: &[f64],
    adaptive: bool,
    seed: u64,
) -> Check {
    let mut cases: Vec<CaseTally> = base
        .iter()
        .zip(cand)
        .map(|(&b, &c)| CaseTally {
            baseline_passed: provider.passes(b, FIXED_SAMPLES),
            baseline_samples: FIXED_SAMPLES,
            candidate_passed: provider.passes(c, FIXED_SAMPLES),
            candidate_samples: FIXED_SAMPLES,
        })
        .collect();
    let mut calls = (CASES as u64) * 2 * u64::from(FIXED_SAMPLES);
    let naive = {
        let rate = |f: fn(&CaseTally) -> (u32, u32)| {
            cases
                .iter()
                .map(|c| {
                    let (p, n) = f(c);
                    f64::from(p) / f64::from(n)
                })
                .sum::<f64>()
                / CASES as f64
        };
        rate(|c| (c.candidate_passed, c.candidate_samples))
            < rate(|c| (c.baseline_passed, c.baseline_samples)) - TOLERANCE
    };
    loop {
        let mut statistics = gate::statistics(&cases, seed, 0).expect("cases");
        gate::decide(&mut statistics, TOLERANCE);
        let round = if adaptive {
            gate::adaptive_round(&statistics, &cases, ADAPTIVE_CAP)
        } else {
            Vec::new()
        };
        if round.is_empty() {
            return Check {
                verdict: statistics.decision,
                naive_blocks: naive,
                calls,
            };
        }
        for (i, target) in round {
            let c = &mut cases[i];
            let more = target - c.baseline_samples;
            c.baseline_passed += provider.passes(base[i], more);
            c.baseline_samples += more;
            c.candidate_passed += provider.passes(cand[i], more);
            c.candidate_samples += more;
            calls += 2 * u64::from(more);
        }
    }
}

fn main() {
    let checks: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let mut setup = Pcg64Mcg::seed_from_u64(2026);
    let mut base: Vec<f64> = (0..CASES)
        .map(|i| 0.55 + 0.43 * i as f64 / (CASES - 1) as f64)
        .collect();
    // Shuffle so case order carries no signal.
    for i in (1..CASES).rev() {
        base.swap(i, (setup.next_u64() % (i as u64 + 1)) as usize);
    }
    let dropped: Vec<f64> = base.iter().map(|p| (p - 0.05).max(0.0)).collect();
    println!(
        "{CASES} cases, pass probabilities 0.55–0.98, tolerance {TOLERANCE}, {checks} simulated checks per row\n"
    );
    println!(
        "| true change | sampling | promptgate fail | inconclusive | pass | naive gate blocks | mean calls per check |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (change, cand) in [("none", &base), ("-5 points", &dropped)] {
        for adaptive in [false, true] {
            let mut provider = Provider {
                rng: Pcg64Mcg::seed_from_u64(if adaptive { 11 } else { 7 }),
            };
            let (mut fail, mut inconclusive, mut pass, mut naive, mut calls) = (0, 0, 0, 0, 0u64);
            for check in 0..checks {
                let result = simulate(&mut provider, &base, cand, adaptive, check as u64);
                match result.verdict {
                    Verdict::Fail => fail += 1,
                    Verdict::Inconclusive => inconclusive += 1,
                    Verdict::Pass => pass += 1,
                }
                naive += usize::from(result.naive_blocks);
                calls += result.calls;
            }
            let share = |n: usize| format!("{:.1}%", 100.0 * n as f64 / checks as f64);
            println!(
                "| {change} | {} | {} | {} | {} | {} | {:.0} |",
                if adaptive {
                    format!("adaptive, 3 to {ADAPTIVE_CAP} per case")
                } else {
                    format!("fixed {FIXED_SAMPLES} per case")
                },
                share(fail),
                share(inconclusive),
                share(pass),
                if adaptive {
                    "—".to_string()
                } else {
                    share(naive)
                },
                calls as f64 / checks as f64
            );
        }
    }
}
