//! `junit.xml`: one testsuite per suite and candidate, one testcase per case. Regressions are
//! failures, cases whose calls failed are errors; quick-junit strips characters XML forbids.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{CaseReport, CheckReport};
use crate::compare::CaseStatus;

/// Renders the JUnit XML of a check.
pub fn render_junit(report: &CheckReport) -> String {
    let mut junit = Report::new(format!("promptgate {}", report.run_id));
    junit.set_time(Duration::from_millis(report.duration_ms));
    for c in &report.candidates {
        junit.add_test_suite(gate_suite(report, c));
        for s in &c.suites {
            let mut suite = TestSuite::new(format!("{} @ {}", s.name, c.label));
            for case in &s.cases {
                suite.add_test_case(test_case(case, &s.name));
            }
            junit.add_test_suite(suite);
        }
    }
    junit
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot serialize JUnit: {e} -->\n"))
}

/// The gate of one candidate as tests: a failing test per breached limit, an error when the run
/// is incomplete, else one passing test. CI that reads only JUnit sees the gate's colour.
fn gate_suite(report: &CheckReport, c: &super::CandidateReport) -> TestSuite {
    let mut suite = TestSuite::new(format!("gate @ {}", c.label));
    for reason in &c.reasons {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status.set_message(reason.message.clone());
        let mut test = TestCase::new(format!("{} ({})", reason.metric, reason.suite), status);
        test.set_classname("gate".to_string());
        suite.add_test_case(test);
    }
    if !report.complete {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(
            report
                .incomplete
                .clone()
                .unwrap_or_else(|| "the run is incomplete".into()),
        );
        let mut test = TestCase::new("run complete", status);
        test.set_classname("gate".to_string());
        suite.add_test_case(test);
    }
    if c.reasons.is_empty() && report.complete {
        let mut test = TestCase::new(
            format!("verdict {}", c.verdict.as_str()),
            TestCaseStatus::success(),
        );
        test.set_classname("gate".to_string());
        suite.add_test_case(test);
    }
    suite
}

fn test_case(case: &CaseReport, suite: &str) -> TestCase {
    let failed_assertions = || -> String {
        case.candidate
            .samples
            .iter()
            .flat_map(|s| s.assertions.iter().filter(|a| !a.pass && !a.advisory))
            .map(|a| format!("{}: {}", a.kind, a.reason))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let status = match case.status {
        CaseStatus::Regressed => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!(
                "regressed: pass rate {} → {}",
                super::percent(case.baseline.pass_rate),
                super::percent(case.candidate.pass_rate)
            ));
            status.set_description(failed_assertions());
            status
        }
        CaseStatus::Error => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            let error = [&case.baseline, &case.candidate]
                .iter()
                .flat_map(|side| side.samples.iter())
                .find_map(|s| s.error.clone())
                .unwrap_or_else(|| "a provider call failed".into());
            status.set_message(error);
            status
        }
        CaseStatus::Skipped => {
            let mut status = TestCaseStatus::skipped();
            if let Some(why) = [&case.baseline, &case.candidate]
                .iter()
                .flat_map(|side| side.samples.iter())
                .find(|s| s.skipped)
                .and_then(|s| s.error.clone())
            {
                status.set_message(why);
            }
            status
        }
        CaseStatus::Fixed | CaseStatus::UnchangedPass | CaseStatus::UnchangedFail => {
            TestCaseStatus::success()
        }
    };
    let mut test = TestCase::new(case.id.clone(), status);
    test.set_classname(suite.to_string());
    let millis: u64 = case.candidate.samples.iter().map(|s| s.latency_ms).sum();
    test.set_time(Duration::from_millis(millis));
    if let Some(output) = case
        .candidate
        .samples
        .first()
        .and_then(|s| s.output.as_deref())
    {
        let (text, _) = output
            .char_indices()
            .nth(super::MAX_OUTPUT_CHARS)
            .map_or((output, false), |(i, _)| (&output[..i], true));
        test.set_system_out(text.to_string());
    }
    test
}
