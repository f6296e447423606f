//! The terminal summary: one block per candidate, the regressions with their diffs, and the
//! verdict last, where the eye lands.

use std::fmt::Write;

use super::{CheckReport, RunReport, SampleReport};
use crate::compare::{CaseStatus, DiffTag, word_diff};

/// Regressed or fixed cases shown per suite before the list is cut.
const MAX_CASES: usize = 8;
/// Characters of an output shown in a diff line.
const MAX_CHARS: usize = 240;

/// Renders a check for the terminal (no colour codes: the caller decides).
pub fn check_summary(report: &CheckReport, run_dir: &str) -> String {
    let mut out = String::new();
    for c in &report.candidates {
        let _ = writeln!(
            out,
            "{} {}  {} ({}) vs {} ({})",
            super::headline(c.verdict, report.complete).to_uppercase(),
            c.prompt,
            c.label,
            c.candidate.hash,
            c.baseline.rev,
            c.baseline.hash
        );
        for s in &c.suites {
            let cmp = &s.comparison;
            let _ = writeln!(
                out,
                "  suite {:<24} {} {} -> {} ({})  regressed {}  fixed {}  errors {}",
                s.name,
                match s.kind {
                    crate::suite::SuiteKind::Regression => "pass",
                    crate::suite::SuiteKind::Adversarial => "resisted",
                },
                super::percent(cmp.baseline.pass_rate),
                super::percent(cmp.candidate.pass_rate),
                super::points(cmp.pass_rate_delta),
                cmp.regressed,
                cmp.fixed,
                cmp.errors
            );
            if let Some(stats) = &s.statistics {
                let _ = writeln!(out, "    {}", super::statistics_line(stats));
            }
            for rates in &s.attacks {
                let _ = writeln!(out, "    {}", super::attack_line(rates));
            }
            for status in [CaseStatus::Regressed, CaseStatus::Error, CaseStatus::Fixed] {
                let cases: Vec<_> = s.cases.iter().filter(|k| k.status == status).collect();
                for k in cases.iter().take(MAX_CASES) {
                    let _ = writeln!(
                        out,
                        "    {:<10} {}",
                        super::status_label(s.kind, status),
                        k.id
                    );
                    match (k.baseline.samples.first(), k.candidate.samples.first()) {
                        (Some(b), Some(cand)) if status != CaseStatus::Error => {
                            let _ = writeln!(out, "      diff: {}", inline_diff(b, cand));
                            for a in cand.assertions.iter().filter(|a| !a.pass) {
                                let _ = writeln!(
                                    out,
                                    "      candidate failed {}: {}",
                                    a.kind, a.reason
                                );
                            }
                        }
                        (b, cand) => {
                            for e in [b, cand]
                                .into_iter()
                                .flatten()
                                .filter_map(|s| s.error.as_deref())
                            {
                                let _ = writeln!(out, "      error: {e}");
                            }
                        }
                    }
                }
                if cases.len() > MAX_CASES {
                    let _ = writeln!(
                        out,
                        "    … {} more {} cases in the report",
                        cases.len() - MAX_CASES,
                        super::status_label(s.kind, status)
                    );
                }
            }
        }
        for r in &c.reasons {
            let _ = writeln!(out, "  ✗ {} ({}): {}", r.metric, r.suite, r.message);
        }
    }
    if report.candidates.len() > 1 {
        let _ = writeln!(out, "ranking (best first):");
        for (i, c) in report.candidates.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {} {} ({:+.1} pts)",
                i + 1,
                c.label,
                c.verdict.as_str(),
                c.mean_delta() * 100.0
            );
        }
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "{} case comparisons, {} calls, {} cached, {} errors, {}, {}, {:.1}s",
        t.cases,
        t.calls,
        t.cached,
        t.errors,
        t.tokens_shown(),
        super::dollars(t.cost),
        report.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(out, "report: {run_dir}");
    let inconclusive = report
        .candidates
        .iter()
        .filter(|c| !c.control && c.verdict == crate::gate::Verdict::Inconclusive)
        .map(|c| {
            format!(
                "{} is inconclusive; its risk tier's policy: {}",
                c.label,
                match c.on_inconclusive {
                    crate::config::OnInconclusive::Block => "block",
                    crate::config::OnInconclusive::Warn => "warn (not blocked)",
                }
            )
        })
        .collect::<Vec<_>>();
    for line in inconclusive {
        let _ = writeln!(out, "{line}");
    }
    if report.candidates.iter().any(|c| c.control) {
        let _ = writeln!(
            out,
            "control run: the baseline against itself; the intervals above are the noise floor (never blocks)"
        );
    }
    let _ = write!(
        out,
        "verdict: {}{}",
        super::headline(report.verdict, report.complete).to_uppercase(),
        match (&report.incomplete, report.complete) {
            (_, true) => String::new(),
            (Some(why), false) => format!(" (incomplete: {why})"),
            (None, false) => " (incomplete)".to_string(),
        }
    );
    // Model output and case ids must not act on the terminal.
    super::visible(&out).into_owned()
}

/// Renders a run (no comparison) for the terminal.
pub fn run_summary(report: &RunReport, run_dir: &str) -> String {
    let mut out = String::new();
    for s in &report.suites {
        let _ = writeln!(
            out,
            "{} {}  suite {}  pass {}",
            s.version.label(),
            s.version.hash,
            s.name,
            super::percent(s.pass_rate)
        );
        for case in &s.cases {
            let failed = case
                .side
                .samples
                .iter()
                .filter(|x| x.pass() != Some(true))
                .count();
            if failed > 0 {
                let _ = writeln!(
                    out,
                    "    fail {} ({failed}/{} samples)",
                    case.id,
                    case.side.samples.len()
                );
                if let Some(sample) = case.side.samples.iter().find(|x| x.pass() != Some(true)) {
                    if let Some(e) = &sample.error {
                        let _ = writeln!(out, "      error: {e}");
                    }
                    for a in sample.assertions.iter().filter(|a| !a.pass) {
                        let _ = writeln!(out, "      {}: {}", a.kind, a.reason);
                    }
                }
            }
        }
    }
    let t = &report.totals;
    let _ = write!(
        out,
        "{} calls, {} errors, {}\nreport: {run_dir}",
        t.calls,
        t.errors,
        t.tokens_shown()
    );
    super::visible(&out).into_owned()
}

/// How the candidate's output differs from the baseline's: an inline `[-removed-]{+added+}` word
/// diff when the outputs are mostly alike, else both outputs on their own lines (interleaving two
/// unrelated texts word by word reads as noise).
fn inline_diff(baseline: &SampleReport, candidate: &SampleReport) -> String {
    let b = baseline.output.as_deref().unwrap_or_default();
    let c = candidate.output.as_deref().unwrap_or_default();
    if crate::score::similarity(b, c) < 0.5 {
        return format!("\n        - {}\n        + {}", one_line(b), one_line(c));
    }
    let mut line = String::new();
    for span in word_diff(b, c) {
        let text = span.text.replace('\n', "⏎");
        match span.tag {
            DiffTag::Equal => line.push_str(&text),
            DiffTag::Delete => {
                let _ = write!(line, "[-{text}-]");
            }
            DiffTag::Insert => {
                let _ = write!(line, "{{+{text}+}}");
            }
        }
    }
    cut(&line)
}

fn one_line(text: &str) -> String {
    cut(&text.replace('\n', "⏎"))
}

fn cut(line: &str) -> String {
    match line.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}
