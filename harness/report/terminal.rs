//! The terminal summary: one block per candidate, the regressions with their diffs, and the
//! verdict last, where the eye lands.

use std::fmt::Write;

use super::{CheckReport, RunReport, SampleReport};
use crate::compare::{CaseStatus, DiffTag, word_diff};

/// Regressed or fixed cases shown per suite before the list is cut.
const MAX_CASES: usize = 8;
/// Characters of an output shown in a diff line.
const MAX_CHARS: usize = 240;

/// How much a terminal summary shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Detail {
    /// The verdict line only (`-q`).
    Quiet,
    /// What regressed and why, first; improvements as one line.
    #[default]
    Normal,
    /// Also the statistics each suite's decision rests on, and every improvement (`-v`).
    Verbose,
}

/// Renders a check for the terminal (no colour codes: [`paint`] adds them). Failing
/// candidates and suites come first, each with why it failed and its regressed cases.
pub fn check_summary(report: &CheckReport, run_dir: &str, detail: Detail) -> String {
    let mut out = String::new();
    if detail == Detail::Quiet {
        write_verdict(&mut out, report);
        return super::visible(&out).into_owned();
    }
    if let Some(traffic) = &report.traffic {
        let _ = writeln!(out, "{}", super::traffic_line(traffic));
    }
    let mut candidates: Vec<_> = report.candidates.iter().collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.verdict));
    for c in candidates {
        let _ = writeln!(
            out,
            "{} {}  {} (content {}) vs {} (content {})",
            super::candidate_headline(c, report.complete).to_uppercase(),
            c.prompt,
            c.label,
            c.candidate.hash.short(),
            c.baseline.rev,
            c.baseline.hash.short()
        );
        for r in &c.reasons {
            let _ = writeln!(out, "  ✗ suite {}: {}", r.suite, r.message);
        }
        for w in &c.warnings {
            let _ = writeln!(out, "  ! suite {}: {}", w.suite, w.message);
        }
        let mut suites: Vec<_> = c.suites.iter().collect();
        suites.sort_by_key(|s| std::cmp::Reverse(c.suite_verdict(s)));
        for s in suites {
            let _ = writeln!(out, "  {}", suite_line(s));
            match s.statistics.as_ref() {
                Some(stats) if detail == Detail::Verbose => {
                    let _ = writeln!(out, "    {}", super::statistics_line(stats));
                }
                // An undecided suite always says why, and what would decide it.
                Some(stats) if stats.decision == crate::gate::Verdict::Inconclusive => {
                    let _ = writeln!(out, "    inconclusive: {}", stats.rests_on);
                }
                _ => {}
            }
            for rates in &s.attacks {
                let _ = writeln!(out, "    {}", super::attack_line(rates));
            }
            if let Some(drift) = &s.drift {
                let _ = writeln!(out, "    {}", super::drift_line(drift));
            }
            let shown: &[CaseStatus] = if detail == Detail::Verbose {
                &[CaseStatus::Regressed, CaseStatus::Error, CaseStatus::Fixed]
            } else {
                &[CaseStatus::Regressed, CaseStatus::Error]
            };
            for &status in shown {
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
                            for a in cand.assertions.iter().filter(|a| !a.pass) {
                                let _ = writeln!(
                                    out,
                                    "      candidate failed {}: {}",
                                    a.kind, a.reason
                                );
                            }
                            if let Some(step) = k.first_divergence() {
                                let _ = writeln!(
                                    out,
                                    "      the trajectories first differ at step {step}"
                                );
                            }
                            let _ = writeln!(out, "      diff: {}", inline_diff(b, cand));
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
            let fixed: Vec<&str> = s
                .cases
                .iter()
                .filter(|k| k.status == CaseStatus::Fixed)
                .map(|k| k.id.as_str())
                .collect();
            if detail == Detail::Normal && !fixed.is_empty() {
                let _ = writeln!(
                    out,
                    "    {} {}: {}{}",
                    super::status_label(s.kind, CaseStatus::Fixed),
                    fixed.len(),
                    fixed
                        .iter()
                        .take(MAX_CASES)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                    if fixed.len() > MAX_CASES { ", …" } else { "" }
                );
            }
        }
    }
    // Only candidates of one prompt rank against each other.
    for ranked in rankings(report) {
        let _ = writeln!(out, "ranking of {} (best first):", ranked[0].prompt);
        for (i, c) in ranked.iter().enumerate() {
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
        "{}, {}, {} cached, {}, {}, {}, {}",
        super::plural(t.cases, "case comparison"),
        super::plural(t.calls, "call"),
        t.cached,
        super::plural(t.errors, "error"),
        t.tokens_shown(),
        super::dollars(t.cost),
        super::duration(report.duration_ms)
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
    write_verdict(&mut out, report);
    // Model output and case ids must not act on the terminal.
    super::visible(&out).into_owned()
}

/// The candidates of each prompt that has more than one with a suite, in the report's order
/// (best first).
fn rankings(report: &CheckReport) -> Vec<Vec<&super::CandidateReport>> {
    let mut by_prompt: Vec<Vec<&super::CandidateReport>> = Vec::new();
    for c in report.candidates.iter().filter(|c| !c.suites.is_empty()) {
        match by_prompt.iter_mut().find(|r| r[0].prompt == c.prompt) {
            Some(ranked) => ranked.push(c),
            None => by_prompt.push(vec![c]),
        }
    }
    by_prompt.retain(|r| r.len() > 1);
    by_prompt
}

/// A suite's line: its pass (or resisted) rate on both versions, and what changed.
pub fn suite_line(s: &super::SuiteReport) -> String {
    let cmp = &s.comparison;
    format!(
        "suite {:<24} {} {} → {} ({})  regressed {}  fixed {}  errors {}",
        s.name,
        match s.kind {
            crate::suite::SuiteKind::Regression | crate::suite::SuiteKind::Shadow => "pass",
            crate::suite::SuiteKind::Adversarial => "resisted",
        },
        super::percent(cmp.baseline.pass_rate),
        super::percent(cmp.candidate.pass_rate),
        super::points(cmp.pass_rate_delta),
        cmp.regressed,
        cmp.fixed,
        cmp.errors
    )
}

/// The last line: the verdict, and why the run is incomplete when it is.
fn write_verdict(out: &mut String, report: &CheckReport) {
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
}

/// ANSI styles for a summary [`check_summary`] or [`run_summary`] wrote: verdicts coloured
/// by what they mean, reasons and regressions red, fixes green. Only the words promptgate
/// writes at the start of its own lines are styled; everything else is left as it is.
pub fn paint(summary: &str) -> String {
    const RED: &str = "\x1b[1;31m";
    const GREEN: &str = "\x1b[1;32m";
    const YELLOW: &str = "\x1b[1;33m";
    const MAGENTA: &str = "\x1b[1;35m";
    const DIM: &str = "\x1b[2m";
    const RESET: &str = "\x1b[0m";
    let verdict_colour = |word: &str| match word {
        "PASS" => Some(GREEN),
        "FAIL" => Some(RED),
        "INCONCLUSIVE" => Some(YELLOW),
        "INCOMPLETE" => Some(MAGENTA),
        _ => None,
    };
    let mut painted = String::with_capacity(summary.len() + 64);
    for (i, line) in summary.split('\n').enumerate() {
        if i > 0 {
            painted.push('\n');
        }
        let indent = line.len() - line.trim_start().len();
        let (lead, rest) = line.split_at(indent);
        let first = rest.split(' ').next().unwrap_or_default();
        let styled = if let Some(verdict) = rest.strip_prefix("verdict: ") {
            let word = verdict.split(' ').next().unwrap_or_default();
            verdict_colour(word)
                .map(|c| format!("verdict: {c}{word}{RESET}{}", &verdict[word.len()..]))
        } else if indent == 0 {
            verdict_colour(first).map(|c| format!("{c}{first}{RESET}{}", &rest[first.len()..]))
        } else {
            const STYLED: [(&str, &str); 8] = [
                ("✗", RED),
                ("regressed", RED),
                ("new attack success", RED),
                ("fail ", RED),
                ("fixed", GREEN),
                ("now resisted", GREEN),
                ("diff:", DIM),
                ("samples per case", DIM),
            ];
            STYLED
                .iter()
                .find(|(prefix, _)| rest.starts_with(prefix))
                .map(|(prefix, colour)| {
                    if *prefix == "diff:" {
                        // Coloured words replace the diff's markers.
                        format!("{DIM}diff:{RESET}{}", coloured_diff(&rest[prefix.len()..]))
                    } else if *colour == DIM {
                        format!("{DIM}{rest}{RESET}")
                    } else {
                        format!("{colour}{prefix}{RESET}{}", &rest[prefix.len()..])
                    }
                })
        };
        painted.push_str(lead);
        painted.push_str(styled.as_deref().unwrap_or(rest));
    }
    painted
}

/// A diff line's `[-removed-]` and `{+added+}` words as struck red and green, without the
/// markers (what a colour terminal shows instead of them).
fn coloured_diff(line: &str) -> String {
    const REMOVED: &str = "\x1b[9;31m";
    const ADDED: &str = "\x1b[32m";
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(line.len() + 32);
    let mut rest = line;
    loop {
        let next = [("[-", "-]", REMOVED), ("{+", "+}", ADDED)]
            .into_iter()
            .filter_map(|(open, close, colour)| {
                let at = rest.find(open)?;
                let end = rest[at + 2..].find(close)? + at + 2;
                Some((at, end, open.len(), close.len(), colour))
            })
            .min_by_key(|(at, ..)| *at);
        let Some((at, end, open, close, colour)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        out.push_str(colour);
        out.push_str(&rest[at + open..end]);
        out.push_str(RESET);
        rest = &rest[end + close..];
    }
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
        "{}, {}, {}\nreport: {run_dir}",
        super::plural(t.calls, "call"),
        super::plural(t.errors, "error"),
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
        // Both from where they part: an agent's two trajectories share their first steps.
        let shared = b.chars().zip(c.chars()).take_while(|(x, y)| x == y).count();
        return format!(
            "\n        - {}\n        + {}",
            from_change(&b.replace('\n', "⏎"), shared),
            from_change(&c.replace('\n', "⏎"), shared)
        );
    }
    let mut line = String::new();
    let mut first_change = None;
    for span in word_diff(b, c) {
        let text = span.text.replace('\n', "⏎");
        if span.tag != DiffTag::Equal && first_change.is_none() {
            first_change = Some(line.chars().count());
        }
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
    from_change(&line, first_change.unwrap_or(0))
}

/// Characters shown before a diff's first change when the line is cut to start near it.
const CONTEXT_CHARS: usize = 40;

/// `line` cut to [`MAX_CHARS`], starting shortly before its first change (at character
/// `first`) when the change would fall past the cut: the part where two versions part is
/// always shown.
fn from_change(line: &str, first: usize) -> String {
    let start = match first + CONTEXT_CHARS > MAX_CHARS {
        true => first.saturating_sub(CONTEXT_CHARS),
        false => 0,
    };
    let shown: String = line.chars().skip(start).collect();
    let lead = if start > 0 { "…" } else { "" };
    match shown.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => format!("{lead}{}…", &shown[..i]),
        None => format!("{lead}{shown}"),
    }
}
