//! `summary.md`: the verdict, its reasons and the regressions, short enough for a pull request.
//!
//! Text from users and models is escaped where it lands: as Markdown text ([`escape`]) or
//! inside a code span ([`code`], where backslash escapes would show literally).

use std::fmt::Write;

use super::CheckReport;
use crate::compare::CaseStatus;

/// Most regressions listed before the table is cut.
const MAX_ROWS: usize = 25;

/// The first line of every summary, so CI can find its earlier comment and update it in place.
const SUMMARY_MARKER: &str = "<!-- promptgate summary -->";

/// The most characters of a failing assertion's reason shown in a table cell.
const MAX_FAILURE_CHARS: usize = 120;

/// One bullet per limit of every candidate that `pick` selects (its reasons or its warnings).
fn limit_lines(
    report: &CheckReport,
    pick: fn(&super::CandidateReport) -> &[crate::gate::Reason],
) -> Vec<String> {
    report
        .candidates
        .iter()
        .flat_map(|c| {
            pick(c).iter().map(move |r| {
                format!(
                    "- **{}**, suite {}: {}",
                    escape(&c.label),
                    code(&r.suite),
                    escape(&r.message)
                )
            })
        })
        .collect()
}

/// Renders the Markdown summary of a check.
pub fn summary_markdown(report: &CheckReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{SUMMARY_MARKER}");
    let _ = writeln!(
        md,
        "## promptgate: {}",
        super::headline(report.verdict, report.complete).to_uppercase()
    );
    let _ = writeln!(md);
    if let Some(why) = report.incomplete.as_ref().filter(|_| !report.complete) {
        let _ = writeln!(md, "**Incomplete:** {}", escape(why));
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "Run {}: {}, {}, {}, {}.",
        code(report.run_id.as_str()),
        super::plural(report.totals.cases, "case comparison"),
        super::plural(report.totals.calls, "call"),
        super::plural(report.totals.errors, "error"),
        super::dollars(report.totals.cost)
    );
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "| candidate | suite | baseline | verdict | pass rate (base → cand) | regressed | fixed | errors |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for c in &report.candidates {
        for s in &c.suites {
            let cmp = &s.comparison;
            let _ = writeln!(
                md,
                "| {} | {} | {} {} | {} | {} → {} ({}) | {} | {} | {} |",
                code(&c.label),
                code(&s.name),
                code(&c.baseline.rev),
                code(&format!("content {}", c.baseline.hash.short())),
                c.suite_verdict(s).as_str(),
                super::percent(cmp.baseline.pass_rate),
                super::percent(cmp.candidate.pass_rate),
                super::points(cmp.pass_rate_delta),
                cmp.regressed,
                cmp.fixed,
                cmp.errors
            );
        }
    }
    let warnings = limit_lines(report, |c| &c.warnings);
    if !warnings.is_empty() {
        let _ = writeln!(md, "\n### Warnings\n");
        for w in warnings {
            let _ = writeln!(md, "{w}");
        }
    }
    let reasons = limit_lines(report, |c| &c.reasons);
    if !reasons.is_empty() {
        let _ = writeln!(md, "\n### Why it failed\n");
        for r in reasons {
            let _ = writeln!(md, "{r}");
        }
    }
    let regressions: Vec<(&str, &str, &super::CaseReport)> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.suites.iter().flat_map(move |s| {
                s.cases
                    .iter()
                    .filter(|k| k.status == CaseStatus::Regressed)
                    .map(move |k| (c.label.as_str(), s.name.as_str(), k))
            })
        })
        .collect();
    if !regressions.is_empty() {
        let _ = writeln!(md, "\n### Regressions\n");
        let _ = writeln!(md, "| candidate | suite | case | first failure |");
        let _ = writeln!(md, "|---|---|---|---|");
        for (candidate, suite, case) in regressions.iter().take(MAX_ROWS) {
            let failure = case.first_failure().unwrap_or_default();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                code(candidate),
                code(suite),
                code(&case.id),
                escape(&shortened(&failure, MAX_FAILURE_CHARS))
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
    let statistics: Vec<String> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.suites.iter().filter_map(move |s| {
                let stats = s.statistics.as_ref()?;
                Some(format!(
                    "- {} on {}: {}",
                    code(&c.label),
                    code(&s.name),
                    escape(&super::statistics_line(stats))
                ))
            })
        })
        .collect();
    let attacks: Vec<String> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.suites.iter().flat_map(move |s| {
                s.attacks.iter().map(move |rates| {
                    format!(
                        "| {} | {} | {} | {} | {} → {} | {} | {} |",
                        code(&c.label),
                        code(&s.name),
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
    let drifts: Vec<String> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.suites.iter().filter_map(move |s| {
                Some(format!(
                    "- {} on {}: {}",
                    code(&c.label),
                    code(&s.name),
                    escape(&super::drift_line(s.drift.as_ref()?))
                ))
            })
        })
        .collect();
    if let Some(traffic) = &report.traffic {
        let _ = writeln!(md);
        let _ = writeln!(md, "{}", escape(&super::traffic_line(traffic)));
    }
    for line in &drifts {
        let _ = writeln!(md);
        let _ = writeln!(md, "{line}");
    }
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
    if !statistics.is_empty() {
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "<details><summary>What the verdict rests on</summary>\n"
        );
        for line in statistics {
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md, "\n</details>");
    }
    // Control characters in case ids, reasons or outputs act on whoever reads the comment.
    super::visible(&md).into_owned()
}

/// At most `max` characters of `text`, with `…` when cut.
fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// User and model text as Markdown text: nothing in it becomes markup, a link, HTML or a
/// table cell boundary, and it stays on one line.
fn escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '\\' | '|' | '<' | '>' | '[' | ']' | '`' | '*' | '_' | '#' | '~' | '!' | '&' => {
                vec!['\\', c]
            }
            '\n' | '\r' => vec![' '],
            c => vec![c],
        })
        .collect()
}

/// Text as an inline code span. Backslash escapes do not work inside one, so the span is
/// fenced with more backticks than any run in the text; newlines become spaces, and `|` is
/// escaped, which GitHub's tables require even inside code.
fn code(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ").replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders Markdown as GitHub does (tables on) and returns the text a reader sees.
    fn rendered(md: &str) -> String {
        let parser = pulldown_cmark::Parser::new_ext(md, pulldown_cmark::Options::ENABLE_TABLES);
        let mut html = String::new();
        pulldown_cmark::html::push_html(&mut html, parser);
        html
    }

    #[test]
    fn hostile_text_renders_as_itself_with_no_stray_backslashes() {
        for text in [
            "support/triage@worktree",
            "**bold** _it_ [link](x) <b>html</b> a|b ~~s~~ # h \\ back",
            "`tick` and ``two``",
        ] {
            let html = rendered(&format!(
                "| a | b |\n|---|---|\n| {} | {} |\n",
                code(text),
                escape(text)
            ));
            assert!(!html.contains("<strong>") && !html.contains("<em>") && !html.contains("<a "));
            assert!(!html.contains("<b>"), "{html}");
            let cells: Vec<&str> = html.matches("<td>").collect();
            assert_eq!(cells.len(), 2, "one row of two cells: {html}");
            let plain = text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            assert!(
                html.contains(&format!("<td>{plain}</td>")),
                "as text: {html}"
            );
            assert!(
                html.contains(&format!("<td><code>{plain}</code></td>")),
                "as code: {html}"
            );
        }
    }
}
