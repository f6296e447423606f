//! `junit.xml`: one testsuite per suite and candidate, one testcase per case, written case by
//! case as it is read (a 100,000-case report is not built a second time in memory). Regressions
//! are failures, cases whose calls failed are errors; characters XML forbids are dropped.

use std::borrow::Cow;
use std::io::{self, Write};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{CandidateReport, CaseReport, CheckReport};
use crate::compare::CaseStatus;

/// Writes the JUnit XML of a check to `out`.
pub(crate) fn write_junit(report: &CheckReport, out: impl Write) -> io::Result<()> {
    let gates: Vec<Vec<Test>> = report
        .candidates
        .iter()
        .map(|c| gate_tests(report, c))
        .collect();
    let mut total = Counts::default();
    for (c, gate) in report.candidates.iter().zip(&gates) {
        total.add(&Counts::of_tests(gate));
        for s in &c.suites {
            total.add(&Counts::of_cases(&s.cases));
        }
    }
    let mut xml = Writer::new_with_indent(out, b' ', 4);
    xml.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let name = format!("promptgate {}", report.run_id);
    let time = seconds(report.duration_ms);
    let mut attributes = total.attributes();
    attributes.insert(0, ("name", xml_safe(&name).into_owned()));
    attributes.push(("time", time));
    xml.create_element("testsuites")
        .with_attributes(attributes.iter().map(|(k, v)| (*k, v.as_str())))
        .write_inner_content(|xml| {
            for (c, gate) in report.candidates.iter().zip(gates) {
                let counts = Counts::of_tests(&gate);
                write_suite(xml, &format!("gate @ {}", c.label), &counts, gate)?;
                for s in &c.suites {
                    let counts = Counts::of_cases(&s.cases);
                    let name = format!("{} @ {}", s.name, c.label);
                    let tests = s.cases.iter().map(|case| test_case(case, &s.name));
                    write_suite(xml, &name, &counts, tests)?;
                }
            }
            Ok(())
        })?;
    xml.get_mut().write_all(b"\n")
}

/// What a test came to.
enum Status {
    Success,
    Failure {
        message: String,
        description: Option<String>,
    },
    Error {
        message: String,
    },
    Skipped {
        message: Option<String>,
    },
}

/// One testcase.
struct Test {
    name: String,
    classname: String,
    time_ms: Option<u64>,
    status: Status,
    system_out: Option<String>,
}

/// A testsuite's tallies.
#[derive(Default)]
struct Counts {
    tests: usize,
    skipped: usize,
    failures: usize,
    errors: usize,
}

impl Counts {
    fn count(&mut self, failure: bool, error: bool, skipped: bool) {
        self.tests += 1;
        self.failures += usize::from(failure);
        self.errors += usize::from(error);
        self.skipped += usize::from(skipped);
    }

    fn of_tests(tests: &[Test]) -> Self {
        let mut counts = Self::default();
        for t in tests {
            counts.count(
                matches!(t.status, Status::Failure { .. }),
                matches!(t.status, Status::Error { .. }),
                matches!(t.status, Status::Skipped { .. }),
            );
        }
        counts
    }

    fn of_cases(cases: &[CaseReport]) -> Self {
        let mut counts = Self::default();
        for c in cases {
            counts.count(
                c.status == CaseStatus::Regressed,
                c.status == CaseStatus::Error,
                c.status == CaseStatus::Skipped,
            );
        }
        counts
    }

    fn add(&mut self, other: &Self) {
        self.tests += other.tests;
        self.skipped += other.skipped;
        self.failures += other.failures;
        self.errors += other.errors;
    }

    fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("tests", self.tests.to_string()),
            ("skipped", self.skipped.to_string()),
            ("failures", self.failures.to_string()),
            ("errors", self.errors.to_string()),
        ]
    }
}

/// Writes one testsuite and its tests.
fn write_suite<W: Write>(
    xml: &mut Writer<W>,
    name: &str,
    counts: &Counts,
    tests: impl IntoIterator<Item = Test>,
) -> io::Result<()> {
    let mut attributes = counts.attributes();
    attributes.insert(0, ("name", xml_safe(name).into_owned()));
    xml.create_element("testsuite")
        .with_attributes(attributes.iter().map(|(k, v)| (*k, v.as_str())))
        .write_inner_content(|xml| {
            for test in tests {
                write_test(xml, &test)?;
            }
            Ok(())
        })?;
    Ok(())
}

/// Writes one testcase: its status, and what it printed.
fn write_test<W: Write>(xml: &mut Writer<W>, test: &Test) -> io::Result<()> {
    let name = xml_safe(&test.name);
    let classname = xml_safe(&test.classname);
    let time = test.time_ms.map(seconds);
    let mut element = xml
        .create_element("testcase")
        .with_attribute(("name", &*name))
        .with_attribute(("classname", &*classname));
    if let Some(time) = &time {
        element = element.with_attribute(("time", time.as_str()));
    }
    if matches!(test.status, Status::Success) && test.system_out.is_none() {
        element.write_empty()?;
        return Ok(());
    }
    element.write_inner_content(|xml| {
        let (tag, message, description) = match &test.status {
            Status::Success => ("", None, None),
            Status::Failure {
                message,
                description,
            } => ("failure", Some(message.as_str()), description.as_deref()),
            Status::Error { message } => ("error", Some(message.as_str()), None),
            Status::Skipped { message } => ("skipped", message.as_deref(), None),
        };
        if !tag.is_empty() {
            let message = message.map(xml_safe);
            let mut status = xml.create_element(tag);
            if let Some(message) = &message {
                status = status.with_attribute(("message", &**message));
            }
            match description {
                Some(text) => status.write_text_content(BytesText::new(&xml_safe(text)))?,
                None => status.write_empty()?,
            };
        }
        if let Some(out) = &test.system_out {
            xml.create_element("system-out")
                .write_text_content(BytesText::new(&xml_safe(out)))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Milliseconds as JUnit's seconds, to the millisecond.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `text` without the characters XML 1.0 cannot carry (most control characters, lone
/// surrogates cannot occur in a `str`, and U+FFFE/U+FFFF).
fn xml_safe(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    };
    match text.chars().all(allowed) {
        true => Cow::Borrowed(text),
        false => Cow::Owned(text.chars().filter(|&c| allowed(c)).collect()),
    }
}

/// The gate of one candidate as tests: a failing test per breached limit, an error when the run
/// is incomplete, else one passing test. CI that reads only JUnit sees the gate's colour.
fn gate_tests(report: &CheckReport, c: &CandidateReport) -> Vec<Test> {
    let gate = |name: String, status: Status| Test {
        name,
        classname: "gate".into(),
        time_ms: None,
        status,
        system_out: None,
    };
    let mut tests: Vec<Test> = c
        .reasons
        .iter()
        .map(|reason| {
            gate(
                format!("{} ({})", reason.metric, reason.suite),
                Status::Failure {
                    message: reason.message.clone(),
                    description: None,
                },
            )
        })
        .collect();
    if !report.complete {
        let message = report
            .incomplete
            .clone()
            .unwrap_or_else(|| "the run is incomplete".into());
        tests.push(gate("run complete".into(), Status::Error { message }));
    }
    if c.reasons.is_empty() && report.complete {
        tests.push(gate(
            format!("verdict {}", c.verdict.as_str()),
            Status::Success,
        ));
    }
    tests
}

fn test_case(case: &CaseReport, suite: &str) -> Test {
    let failed_assertions = || -> String {
        case.candidate
            .samples
            .iter()
            .flat_map(|s| s.assertions.iter().filter(|a| !a.pass && !a.advisory))
            .map(|a| format!("{}: {}", a.kind, a.reason))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let samples = || {
        [&case.baseline, &case.candidate]
            .into_iter()
            .flat_map(|side| side.samples.iter())
    };
    let status = match case.status {
        CaseStatus::Regressed => Status::Failure {
            message: format!(
                "regressed: pass rate {} → {}",
                super::percent(case.baseline.pass_rate),
                super::percent(case.candidate.pass_rate)
            ),
            description: Some(failed_assertions()),
        },
        CaseStatus::Error => Status::Error {
            message: samples()
                .find_map(|s| s.error.clone())
                .unwrap_or_else(|| "a provider call failed".into()),
        },
        CaseStatus::Skipped => Status::Skipped {
            message: samples().find(|s| s.skipped).and_then(|s| s.error.clone()),
        },
        CaseStatus::Fixed | CaseStatus::UnchangedPass | CaseStatus::UnchangedFail => {
            Status::Success
        }
    };
    let system_out = case
        .candidate
        .samples
        .first()
        .and_then(|s| s.output.as_deref())
        .map(|output| {
            let (text, _) = output
                .char_indices()
                .nth(super::MAX_OUTPUT_CHARS)
                .map_or((output, false), |(i, _)| (&output[..i], true));
            text.to_string()
        });
    Test {
        name: case.id.clone(),
        classname: suite.to_string(),
        time_ms: Some(case.candidate.samples.iter().map(|s| s.latency_ms).sum()),
        status,
        system_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_xml_cannot_carry_are_dropped() {
        assert_eq!(xml_safe("fine\ttext\n"), "fine\ttext\n");
        assert!(matches!(xml_safe("fine"), Cow::Borrowed(_)));
        assert_eq!(xml_safe("a\u{0}b\u{1b}[31mc\u{FFFE}"), "ab[31mc");
        assert_eq!(seconds(1234), "1.234");
        assert_eq!(seconds(5), "0.005");
    }
}
