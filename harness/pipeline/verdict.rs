//! The verdict stage: each candidate's suites decided by the gate from their evidence, the
//! noise the check measured, and the check's report with the exit code it maps to.

use std::time::Instant;

use super::evidence::{comparison_of, complete_tallies, evidence, score_cases, totals};
use super::plan::{PlannedCandidate, PlannedSuite};
use super::prepare::effective_params;
use super::project::Project;
use super::request::{CheckOptions, ErrorBudget};
use crate::adversarial::asr::{self, AttackResult, CategoryRates};
use crate::config::OnInconclusive;
use crate::gate::{self, Completeness, Statistics, Verdict};
use crate::ids::RunId;
use crate::noise::{Measured, Measurement};

use crate::record::FORMAT_VERSION;
use crate::report::{CandidateReport, CaseReport, CheckReport, SuiteReport};
use crate::runner::Outcome;
use crate::stats;

/// The output of a side's first sample, if it has one.
fn first_output(side: &crate::report::SideReport) -> Option<&str> {
    side.samples.first().and_then(|s| s.output.as_deref())
}

/// One candidate's report: its suites scored, compared, decided by the gate.
fn candidate_report(
    project: &Project,
    planned: &PlannedCandidate<'_>,
    outcomes: &[Outcome],
    cap: u32,
    measured: &mut Measured,
) -> CandidateReport {
    let (mut reasons, mut warnings) = (Vec::new(), Vec::new());
    let suites: Vec<SuiteReport> = planned
        .suites
        .iter()
        .map(|p| {
            let mut cases = score_cases(p, planned, outcomes);
            let comparison = comparison_of(&cases);
            let attacks = attack_rates(&cases);
            let (indices, tallies) = complete_tallies(&cases);
            let decision = gate::evaluate_suite(&evidence(p, &comparison, &tallies, &attacks, cap));
            if p.noise == gate::Noise::Measured {
                add_measurements(measured, p, planned, &indices, &tallies);
            }
            sort_stably_in_place(&mut cases, |c| c.status);
            let drift = (p.suite.kind == crate::suite::SuiteKind::Shadow).then(|| {
                crate::compare::drift(cases.iter().filter_map(|c| {
                    Some((
                        c.id.as_str(),
                        first_output(&c.baseline)?,
                        first_output(&c.candidate)?,
                    ))
                }))
            });
            reasons.extend(decision.reasons);
            reasons.extend(p.unreached.iter().map(|why| gate::Reason {
                suite: p.suite.name.clone(),
                metric: "target".into(),
                limit: 0.0,
                observed: None,
                message: why.clone(),
            }));
            warnings.extend(decision.warnings);
            SuiteReport {
                name: p.suite.name.clone(),
                kind: p.suite.kind,
                provider: p.provider.name.clone(),
                params: effective_params(p.suite, &planned.candidate, &p.provider),
                samples: p.samples,
                tolerance: p.tolerance,
                comparison,
                statistics: decision.statistics,
                attacks,
                drift,
                cases,
            }
        })
        .collect();
    let statistics: Vec<Option<&Statistics>> =
        suites.iter().map(|s| s.statistics.as_ref()).collect();
    let tier = planned.candidate.prompt.metadata.governance.risk_tier;
    CandidateReport {
        label: planned.spec.label.clone(),
        prompt: planned.spec.prompt.clone(),
        baseline: planned.baseline.version.clone(),
        candidate: planned.candidate.version.clone(),
        verdict: gate::verdict(&reasons, &statistics),
        reasons,
        warnings,
        on_inconclusive: project.config.tier(tier).on_inconclusive,
        control: planned.spec.control,
        suites,
    }
}

/// Adds to `measured` the case-versions of a suite its check sampled more than once, each
/// under the identity of its provider at that version's parameters: what the next check on it
/// remembers. A control run's two sides are one version, so their samples are one
/// measurement, kept apart from the version's own entry: a check against that baseline has
/// one sample of it, and the control run is what says how often it flips.
fn add_measurements(
    measured: &mut Measured,
    p: &PlannedSuite<'_>,
    planned: &PlannedCandidate<'_>,
    indices: &[usize],
    tallies: &[stats::CaseTally],
) {
    let control = planned.spec.control;
    let mut add = |case: usize, at: usize, passed: u32, samples: u32| {
        if samples > 1 {
            let version = [&planned.baseline, &planned.candidate][at];
            let measurement = Measurement {
                key: p.measured_key(case, version, control),
                tally: stats::VersionTally { passed, samples },
            };
            measured.add(&p.identities[at], measurement);
        }
    };
    for (&case, t) in indices.iter().zip(tallies) {
        if control {
            add(
                case,
                0,
                t.baseline_passed + t.candidate_passed,
                t.baseline_samples + t.candidate_samples,
            );
        } else {
            add(case, 0, t.baseline_passed, t.baseline_samples);
            add(case, 1, t.candidate_passed, t.candidate_samples);
        }
    }
}

/// Sorts `items` by `key`, keeping their order among equal keys: a stable sort of their
/// indices (a stable sort of 100,000 case reports themselves takes a buffer of half of them),
/// then the permutation applied in place, one cycle at a time.
fn sort_stably_in_place<T, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| key(&items[i]));
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        // Position `at` takes the case at `order[at]`; follow the cycle from `start`.
        let mut at = start;
        while !placed[at] {
            placed[at] = true;
            let from = order[at];
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

/// Attack-success rates per category of an adversarial suite's cases (empty for a regression
/// suite).
fn attack_rates(cases: &[CaseReport]) -> Vec<CategoryRates> {
    let results: Vec<AttackResult<'_>> = cases
        .iter()
        .filter_map(|c| {
            Some(AttackResult {
                id: &c.id,
                category: c.category.as_deref()?,
                baseline: c.baseline.pass_rate,
                candidate: c.candidate.pass_rate,
            })
        })
        .collect();
    asr::rates(&results)
}

/// What a check did not see: whether an interrupt stopped it, the case comparisons the budget
/// skipped (with the reason the first skipped call gave), and those that errored, against what
/// `--max-errors` allows of its cases.
struct Shortfall {
    interrupted: bool,
    skipped: usize,
    skip_reason: Option<String>,
    errors: usize,
    cases: usize,
    max_errors: ErrorBudget,
    first_error: Option<String>,
}

impl Shortfall {
    /// Why the check of run `run_id` is incomplete, in plain words; `None` when the gate saw
    /// every case.
    fn incompleteness(self, run_id: &RunId) -> Option<String> {
        if self.interrupted {
            return Some(format!(
                "interrupted; finish it with `promptgate check --resume {run_id}`"
            ));
        }
        if self.skipped > 0 {
            return Some(format!(
                "{} case comparisons skipped ({}); raise the budget and run `promptgate check --resume {run_id}`",
                self.skipped,
                self.skip_reason.unwrap_or_else(|| "budget".into())
            ));
        }
        let (errors, cases) = (self.errors, self.cases);
        (!self.max_errors.allows(errors, cases)).then(|| {
            format!(
                "{errors} of {cases} case comparisons errored, more than --max-errors allows{}",
                self.first_error
                    .map_or(String::new(), |e| format!("; the first: {e}"))
            )
        })
    }
}

/// The reason the first skipped call gave (`--max-calls 100 reached`).
fn skip_reason(outcomes: &[crate::runner::Outcome]) -> Option<String> {
    outcomes
        .iter()
        .find(|o| o.skipped)
        .and_then(|o| o.result.as_ref().err().map(|e| e.message.clone()))
}

/// What [`decide`] came to.
pub(crate) struct Decided {
    /// The check's report.
    pub(crate) report: CheckReport,
    /// The exit code it maps to.
    pub(crate) exit_code: i32,
    /// The case-versions the check sampled more than once: the noise it measured.
    pub(crate) measured: Measured,
}

/// The check's report from every outcome: each candidate's suites scored, compared and gated,
/// worst first; the totals; whether the gate saw every case, and why not. Returns it with the
/// exit code it maps to and the noise it measured.
pub(crate) fn decide(
    project: &Project,
    planned: &[PlannedCandidate<'_>],
    outcomes: &[Outcome],
    run: Run<'_>,
    options: &CheckOptions,
) -> Decided {
    let max_samples = options.max_samples();
    let mut measured = Measured::default();
    let mut candidates: Vec<CandidateReport> = planned
        .iter()
        .map(|candidate| candidate_report(project, candidate, outcomes, max_samples, &mut measured))
        .collect();
    candidates.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then(b.mean_delta().total_cmp(&a.mean_delta()))
    });
    let gated = || candidates.iter().filter(|c| !c.control);
    let verdict = gated().map(|c| c.verdict).max().unwrap_or(Verdict::Pass);
    let blocked_inconclusive = gated()
        .any(|c| c.verdict == Verdict::Inconclusive && c.on_inconclusive == OnInconclusive::Block);
    let comparisons = || {
        candidates
            .iter()
            .flat_map(|c| &c.suites)
            .map(|s| &s.comparison)
    };
    let case_errors: usize = comparisons().map(|c| c.errors).sum();
    let case_skips: usize = comparisons().map(|c| c.skipped).sum();
    let cases: usize = planned
        .iter()
        .flat_map(|p| &p.suites)
        .map(|s| s.suite.cases.len())
        .sum();
    let shortfall = Shortfall {
        interrupted: run.interrupted,
        skipped: case_skips,
        skip_reason: skip_reason(outcomes),
        errors: case_errors,
        cases,
        max_errors: options.calls.max_errors,
        first_error: outcomes
            .iter()
            .filter(|o| !o.skipped)
            .find_map(|o| o.result.as_ref().err().map(|e| e.message.clone())),
    };
    let incomplete = shortfall.incompleteness(run.id);
    let report = CheckReport {
        format_version: FORMAT_VERSION,
        promptgate: crate::BUILD.to_string(),
        run_id: run.id.clone(),
        started_at: run.started_at.to_string(),
        duration_ms: run.clock.elapsed().as_millis() as u64,
        verdict,
        complete: incomplete.is_none(),
        incomplete,
        totals: totals(cases, outcomes),
        traffic: None,
        readiness: Vec::new(),
        candidates,
    };
    let exit_code = exit_code_of(&report, run.interrupted, blocked_inconclusive);
    Decided {
        report,
        exit_code,
        measured,
    }
}

/// The exit code a check's report maps to: its verdict, whether the run was interrupted or
/// is incomplete, and whether an inconclusive candidate's tier blocks on it.
fn exit_code_of(report: &CheckReport, interrupted: bool, blocked_inconclusive: bool) -> i32 {
    gate::exit_code(
        report.verdict,
        match (interrupted, report.complete) {
            (true, _) => Completeness::Interrupted,
            (false, false) => Completeness::Incomplete,
            (false, true) => Completeness::Complete,
        },
        match blocked_inconclusive {
            true => OnInconclusive::Block,
            false => OnInconclusive::Warn,
        },
    )
}

/// The run a report is of.
pub(crate) struct Run<'a> {
    pub(crate) id: &'a RunId,
    pub(crate) started_at: &'a str,
    pub(crate) clock: Instant,
    pub(crate) interrupted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_place_sort_is_stable() {
        let mut items: Vec<(u8, usize)> = [3, 1, 2, 1, 3, 0, 2, 1]
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        let mut expected = items.clone();
        expected.sort_by_key(|&(k, _)| k);
        sort_stably_in_place(&mut items, |&(k, _)| k);
        assert_eq!(items, expected);
        let mut empty: Vec<u8> = Vec::new();
        sort_stably_in_place(&mut empty, |&k| k);
        assert!(empty.is_empty());
    }

    #[test]
    fn an_incomplete_check_says_why_and_how_to_finish_it() {
        let id = RunId::parse("20261130T000000.000Z-abcdef").unwrap();
        let none = ErrorBudget::default();
        let incompleteness = |id: &RunId,
                              interrupted: bool,
                              (skipped, skip_reason): (usize, Option<String>),
                              (errors, cases, max_errors): (usize, usize, ErrorBudget),
                              first_error: Option<String>| {
            Shortfall {
                interrupted,
                skipped,
                skip_reason,
                errors,
                cases,
                max_errors,
                first_error,
            }
            .incompleteness(id)
        };
        assert_eq!(
            incompleteness(&id, false, (0, None), (0, 10, none), None),
            None
        );
        let interrupted = incompleteness(&id, true, (3, None), (0, 10, none), None).unwrap();
        assert_eq!(
            interrupted,
            "interrupted; finish it with `promptgate check --resume 20261130T000000.000Z-abcdef`"
        );
        let skipped = incompleteness(
            &id,
            false,
            (3, Some("--max-calls 5 reached".into())),
            (0, 10, none),
            None,
        );
        assert_eq!(
            skipped.unwrap(),
            "3 case comparisons skipped (--max-calls 5 reached); raise the budget and run `promptgate check --resume 20261130T000000.000Z-abcdef`"
        );
        let errored = incompleteness(
            &id,
            false,
            (0, None),
            (2, 10, none),
            Some("HTTP 500".into()),
        );
        assert_eq!(
            errored.unwrap(),
            "2 of 10 case comparisons errored, more than --max-errors allows; the first: HTTP 500"
        );
        let tolerated = "0.2".parse::<ErrorBudget>().unwrap();
        assert_eq!(
            incompleteness(&id, false, (0, None), (2, 10, tolerated), None),
            None
        );
    }
}
