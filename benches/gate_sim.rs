//! Simulation of the gate against providers whose per-case pass probabilities are known: how
//! often it blocks a change with no effect, how often it catches a real drop, and the calls it
//! spends. Prints one table (the README's).
//!
//!     cargo bench --bench gate_sim            (1,000 simulated checks per row)
//!     cargo bench --bench gate_sim -- 200     (fewer, for a quick look)
//!
//! Three providers, each with tolerance `max_pass_rate_drop: 0.02`:
//!
//! - **deterministic** (`echo`, `replay`, a declared `exec`): each case passes or fails the same
//!   way on every call; a share of the cases is broken by the candidate;
//! - **nearly deterministic**, like a temperature-0 API: each case has a fixed answer and 1% of
//!   calls flip it; one sample per case, then the gate's confirmation of discordant cases;
//! - **noisy**: 200 cases with pass probabilities spread over 0.55–0.98 (seeded), 3 samples per
//!   case, the candidate the same or 5 points lower on every case, with and without
//!   `--adaptive`.
//!
//! The gate under test is promptgate's own: `gate::evaluate_suite` for the decision,
//! `stats::confirmation_round`, `gate::wants_more_samples` and `stats::adaptive_round` for the
//! extra samples, exactly as `check` drives them.

use promptgate::internals::adversarial::CategoryRates;
use promptgate::internals::compare::{SideTotals, SuiteComparison};
use promptgate::internals::config::Tolerance;
use promptgate::internals::gate::{self, ExtraCalls, Noise, SuiteEvidence, Verdict};
use promptgate::internals::stats::{self, CaseTally, VersionTally};
use promptgate::internals::suite::CaseOrigin;
use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::{Rng, SeedableRng};

const TOLERANCE: f64 = 0.02;
const CONFIRM: u32 = 2;
const CAP: u32 = 10;

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

/// One simulated scenario: per-case pass probabilities of both versions and how the check runs.
struct Scenario {
    base: Vec<f64>,
    cand: Vec<f64>,
    noise: Noise,
    samples: u32,
    adaptive: bool,
    /// Earlier checks of a harmless edit on the same provider whose re-samples the check
    /// remembers (their candidates' case-versions; the baseline's are this check's own).
    remembered_checks: usize,
}

/// What one simulated check decided and what it cost.
struct Check {
    verdict: Verdict,
    calls: u64,
    extra: u64,
    /// The candidate's case-versions it sampled more than once: what the next check remembers.
    resampled: Vec<VersionTally>,
}

/// The verdict, whether `--adaptive` samples further, and whether it re-samples the cases that
/// agree to measure the noise.
fn decide(
    cases: &[CaseTally],
    remembered: &[VersionTally],
    noise: Noise,
    extra: ExtraCalls,
    seed: u64,
) -> (Verdict, bool, bool) {
    let tolerance = Tolerance {
        max_pass_rate_drop: Some(TOLERANCE),
        ..Tolerance::default()
    };
    let side = SideTotals {
        pass_rate: None,
        cost: None,
        mean_latency_ms: 0.0,
        tokens: 0,
        errors: 0,
        skipped: 0,
    };
    let comparison = SuiteComparison {
        cases: cases.len(),
        baseline: side,
        candidate: side,
        pass_rate_delta: None,
        regressed: 0,
        fixed: 0,
        errors: 0,
        skipped: 0,
    };
    let attacks: [CategoryRates; 0] = [];
    gate::evaluate_suite(&SuiteEvidence {
        name: "sim",
        tolerance: &tolerance,
        comparison: &comparison,
        cases,
        attacks: &attacks,
        noise,
        remembered,
        origin: CaseOrigin::Written,
        extra_calls: extra,
        cap: CAP,
        seed,
    })
    .statistics
    .map_or((Verdict::Pass, false, false), |s| {
        (
            s.decision,
            gate::wants_more_samples(&s),
            gate::measures_noise(&s),
        )
    })
}

fn simulate(
    provider: &mut Provider,
    s: &Scenario,
    remembered: &[VersionTally],
    seed: u64,
) -> Check {
    let mut cases: Vec<CaseTally> = s
        .base
        .iter()
        .zip(&s.cand)
        .map(|(&b, &c)| CaseTally {
            baseline_passed: provider.passes(b, s.samples),
            baseline_samples: s.samples,
            candidate_passed: provider.passes(c, s.samples),
            candidate_samples: s.samples,
        })
        .collect();
    let initial = (cases.len() as u64) * 2 * u64::from(s.samples);
    let mut extra = ExtraCalls::default();
    let mut sample = |cases: &mut Vec<CaseTally>, round: Vec<(usize, u32)>| -> usize {
        let mut calls = 0;
        for (i, target) in round {
            let c = &mut cases[i];
            let more_b = target.saturating_sub(c.baseline_samples);
            let more_c = target.saturating_sub(c.candidate_samples);
            c.baseline_passed += provider.passes(s.base[i], more_b);
            c.baseline_samples += more_b;
            c.candidate_passed += provider.passes(s.cand[i], more_c);
            c.candidate_samples += more_c;
            calls += (more_b + more_c) as usize;
        }
        calls
    };
    // As `check` does: confirmation first (never on a deterministic provider), then adaptive
    // rounds while the suite is inconclusive.
    if s.noise == Noise::Measured {
        let round = stats::confirmation_round(&cases, CONFIRM);
        extra.confirm = sample(&mut cases, round);
    }
    loop {
        let (verdict, more, measure) = decide(&cases, remembered, s.noise, extra, seed);
        let round = if s.adaptive && more && s.noise == Noise::Measured {
            stats::adaptive_round(&cases, CAP, measure)
        } else {
            Vec::new()
        };
        if round.is_empty() {
            let extra_calls = (extra.confirm + extra.adaptive) as u64;
            let resampled = cases
                .iter()
                .filter(|c| c.candidate_samples > 1)
                .map(|c| VersionTally {
                    passed: c.candidate_passed,
                    samples: c.candidate_samples,
                })
                .collect();
            return Check {
                verdict,
                calls: initial + extra_calls,
                extra: extra_calls,
                resampled,
            };
        }
        extra.adaptive += sample(&mut cases, round);
    }
}

/// A row of the table: the share of checks blocked (fail), inconclusive and passed.
fn row(label: &str, scenario: &Scenario, checks: usize, seed: u64) {
    let mut provider = Provider {
        rng: Pcg64Mcg::seed_from_u64(seed),
    };
    let (mut fail, mut inconclusive, mut pass, mut calls, mut extra) = (0, 0, 0, 0u64, 0u64);
    let harmless = Scenario {
        base: scenario.base.clone(),
        cand: scenario.base.clone(),
        ..*scenario
    };
    for check in 0..checks {
        let mut remembered = Vec::new();
        for earlier in 0..scenario.remembered_checks {
            let seed = (checks * (earlier + 1) + check) as u64;
            remembered.extend(simulate(&mut provider, &harmless, &remembered, seed).resampled);
        }
        let result = simulate(&mut provider, scenario, &remembered, check as u64);
        match result.verdict {
            Verdict::Fail => fail += 1,
            Verdict::Inconclusive => inconclusive += 1,
            Verdict::Pass => pass += 1,
        }
        calls += result.calls;
        extra += result.extra;
    }
    let share = |n: usize| format!("{:.1}%", 100.0 * n as f64 / checks as f64);
    println!(
        "| {label} | {} | {} | {} | {:.0} | {:.1} |",
        share(fail),
        share(inconclusive),
        share(pass),
        calls as f64 / checks as f64,
        extra as f64 / checks as f64
    );
}

/// `n` cases of which the first `broken` pass (with probability `high`) on the baseline and
/// fail on the candidate; the rest pass on both. Every tenth intact case fails on both, as a
/// suite's known failures do.
fn fixed_answers(n: usize, broken: usize, high: f64) -> (Vec<f64>, Vec<f64>) {
    let low = 1.0 - high;
    let base: Vec<f64> = (0..n)
        .map(|i| {
            if i >= broken && i % 10 == 9 {
                low
            } else {
                high
            }
        })
        .collect();
    let cand: Vec<f64> = base
        .iter()
        .enumerate()
        .map(|(i, &p)| if i < broken { low } else { p })
        .collect();
    (base, cand)
}

/// `, remembering 5 earlier checks` for a row whose checks remember `earlier` ones.
fn remembered(earlier: usize) -> String {
    match earlier {
        0 => String::new(),
        1 => ", remembering one earlier check".to_string(),
        _ => format!(", remembering {earlier} earlier checks"),
    }
}

fn main() {
    let checks: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    println!("tolerance {TOLERANCE}, {checks} simulated checks per row\n");
    println!(
        "| provider, cases, true change | blocked (fail) | inconclusive | pass | mean calls per check | of which extra |"
    );
    println!("|---|---|---|---|---|---|");

    for (n, broken) in [(3, 1), (3, 2), (20, 1), (20, 3), (200, 10), (200, 134)] {
        let (base, cand) = fixed_answers(n, broken, 1.0);
        let label = format!(
            "deterministic, {n} cases, {broken} broken ({:.0}%)",
            100.0 * broken as f64 / n as f64
        );
        let scenario = Scenario {
            base,
            cand,
            noise: Noise::None,
            samples: 1,
            adaptive: false,
            remembered_checks: 0,
        };
        row(&label, &scenario, checks, 3);
    }

    // Small suites on a nearly deterministic provider, as `promote` runs them (adaptive); then
    // the same on a provider whose noise earlier checks of harmless edits measured.
    let small = [(3, 0), (5, 0), (10, 0), (20, 0), (3, 1), (5, 1), (10, 1)];
    let remembering = [
        (3, 0, 1),
        (3, 0, 5),
        (5, 0, 1),
        (10, 0, 1),
        (3, 1, 1),
        (3, 1, 5),
        (5, 1, 1),
    ];
    let fresh = small.iter().map(|&(n, broken)| (n, broken, 0));
    for (n, broken, earlier) in fresh.chain(remembering) {
        let (base, cand) = fixed_answers(n, broken, 0.99);
        let change = match broken {
            0 => "no change".to_string(),
            _ => format!("1 broken (−{:.0} points)", 100.0 / n as f64),
        };
        let label = format!(
            "1% flips, {n} cases, {change}, as promote runs it{}",
            remembered(earlier)
        );
        let scenario = Scenario {
            base,
            cand,
            noise: Noise::Measured,
            samples: 1,
            adaptive: true,
            remembered_checks: earlier,
        };
        row(&label, &scenario, checks, 13);
    }

    for broken in [0, 5] {
        let (base, cand) = fixed_answers(100, broken, 0.99);
        let label = if broken == 0 {
            "1% flips, 100 cases, no change".to_string()
        } else {
            format!("1% flips, 100 cases, {broken} broken (−{broken} points)")
        };
        let scenario = Scenario {
            base,
            cand,
            noise: Noise::Measured,
            samples: 1,
            adaptive: false,
            remembered_checks: 0,
        };
        row(&label, &scenario, checks, 5);
    }

    let cases = 200;
    let mut setup = Pcg64Mcg::seed_from_u64(2026);
    let mut base: Vec<f64> = (0..cases)
        .map(|i| 0.55 + 0.43 * i as f64 / (cases - 1) as f64)
        .collect();
    // Shuffle so case order carries no signal.
    for i in (1..cases).rev() {
        base.swap(i, (setup.next_u64() % (i as u64 + 1)) as usize);
    }
    // Five noisy cases, no change, as `promote` runs them.
    let scenario = Scenario {
        base: base[..5].to_vec(),
        cand: base[..5].to_vec(),
        noise: Noise::Measured,
        samples: 1,
        adaptive: true,
        remembered_checks: 0,
    };
    row(
        "noisy (0.55–0.98), 5 cases, no change, as promote runs it",
        &scenario,
        checks,
        17,
    );
    for earlier in [1, 5] {
        let remembering = Scenario {
            base: base[..5].to_vec(),
            cand: base[..5].to_vec(),
            remembered_checks: earlier,
            ..scenario
        };
        let label = format!(
            "noisy (0.55–0.98), 5 cases, no change, as promote runs it{}",
            remembered(earlier)
        );
        row(&label, &remembering, checks, 17);
    }
    let dropped: Vec<f64> = base.iter().map(|p| (p - 0.05).max(0.0)).collect();
    for (change, cand) in [("no change", &base), ("−5 points", &dropped)] {
        for adaptive in [false, true] {
            let label = format!(
                "noisy (0.55–0.98), {cases} cases, {change}, {}",
                if adaptive {
                    format!("--adaptive 3 to {CAP}")
                } else {
                    "3 samples".to_string()
                }
            );
            let scenario = Scenario {
                base: base.clone(),
                cand: cand.clone(),
                noise: Noise::Measured,
                samples: 3,
                adaptive,
                remembered_checks: 0,
            };
            row(&label, &scenario, checks, if adaptive { 11 } else { 7 });
        }
    }
}
