//! `summary.md`: the verdict, its reasons and the regressions, short enough for a pull request.

use std::fmt::Write;

use super::CheckReport;
use crate::compare::CaseStatus;

/// Most regressions listed before the table is cut.
const MAX_ROWS: usize = 25;

/// Renders the Markdown summary of a check.
pub fn summary_markdown(report: &CheckReport) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## promptgate: {}",
        super::headline(report.verdict, report.complete).to_uppercase()
    );
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Run `{}`: {} case comparisons, {} calls, {} errors, {}.",
        report.run_id,
        report.totals.cases,
        report.totals.calls,
        report.totals.errors,
        super::dollars(report.totals.cost)
    );
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "| candidate | baseline | verdict | pass rate (base → cand) | regressed | fixed | errors |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for c in &report.candidates {
        for s in &c.suites {
            let cmp = &s.comparison;
            let _ = writeln!(
                md,
                "| {} `{}` | `{}` {} | {} | {} → {} ({}) | {} | {} | {} |",
                escape(&c.candidate.name.to_string()),
                escape(&c.label),
                escape(&c.baseline.rev),
                c.baseline.hash,
                c.verdict.as_str(),
                super::percent(cmp.baseline.pass_rate),
                super::percent(cmp.candidate.pass_rate),
                super::points(cmp.pass_rate_delta),
                cmp.regressed,
                cmp.fixed,
                cmp.errors
            );
        }
    }
    let statistics: Vec<String> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.suites.iter().filter_map(move |s| {
                let stats = s.statistics.as_ref()?;
                Some(format!(
                    "- `{}` on `{}`: {}",
                    escape(&c.label),
                    escape(&s.name),
                    escape(&super::statistics_line(stats))
                ))
            })
        })
        .collect();
    if !statistics.is_empty() {
        let _ = writeln!(md);
        let _ = writeln!(md, "**What the verdict rests on**");
        let _ = writeln!(md);
        for line in statistics {
            let _ = writeln!(md, "{line}");
        }
    }
    let attacks: Vec<String> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.suites.iter().flat_map(move |s| {
                s.attacks.iter().map(move |rates| {
                    format!(
                        "| `{}` | `{}` | {} | {} | {} → {} | {} | {} |",
                        escape(&c.label),
                        escape(&s.name),
                        escape(&rates.category),
                        rates.cases,
                        super::percent(rates.baseline),
                        super::percent(rates.candidate),
                        super::points(rates.delta()),
                        rates.new_successes.len()
                    )
                })
            })
        })
        .collect();
    if !attacks.is_empty() {
        let _ = writeln!(md);
        let _ = writeln!(md, "**Attack-success rates** (lower is safer)");
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "| candidate | suite | category | cases | base → cand | change | new successes |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for row in attacks {
            let _ = writeln!(md, "{row}");
        }
    }
    let reasons: Vec<String> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.reasons.iter().map(move |r| {
                format!(
                    "- **{}** ({}, suite `{}`): {}",
                    c.label, r.metric, r.suite, r.message
                )
            })
        })
        .collect();
    if !reasons.is_empty() {
        let _ = writeln!(md, "\n### Why it failed\n");
        for r in reasons {
            let _ = writeln!(md, "{}", escape(&r));
        }
    }
    let regressions: Vec<(&str, &str, &str)> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.suites.iter().flat_map(move |s| {
                s.cases
                    .iter()
                    .filter(|k| k.status == CaseStatus::Regressed)
                    .map(move |k| (c.label.as_str(), s.name.as_str(), k.id.as_str()))
            })
        })
        .collect();
    if !regressions.is_empty() {
        let _ = writeln!(md, "\n### Regressions\n");
        let _ = writeln!(md, "| candidate | suite | case |");
        let _ = writeln!(md, "|---|---|---|");
        for (candidate, suite, case) in regressions.iter().take(MAX_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                escape(candidate),
                escape(suite),
                escape(case)
            );
        }
        if regressions.len() > MAX_ROWS {
            let _ = writeln!(
                md,
                "\n…and {} more in `report.json`.",
                regressions.len() - MAX_ROWS
            );
        }
    }
    // Control characters in case ids, reasons or outputs act on whoever reads the comment.
    super::visible(&md).into_owned()
}

/// Keeps user and model text from breaking the table or injecting markup.
fn escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '|' | '<' | '>' | '[' | ']' | '`' | '*' | '_' => vec!['\\', c],
            '\n' | '\r' => vec![' '],
            c => vec![c],
        })
        .collect()
}
