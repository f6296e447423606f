//! Terminal renderings of releases: a prompt's audit trail, the status of every prompt, a
//! promotion.

use std::fmt::Write;

use promptgate::ops::{History, Promotion, PromptStatus};
use promptgate::ops::{LabelEvent, ReleaseAction};

/// `promptgate log NAME`: labels, promoted versions, every label move in order, and commits.
pub(crate) fn history(h: &History) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", h.prompt);
    if h.labels.is_empty() {
        let _ = writeln!(
            out,
            "  labels: none (promote with `promptgate promote {}`)",
            h.prompt
        );
    } else {
        let labels: Vec<String> = h
            .labels
            .iter()
            .map(|(label, v)| match v {
                Some(v) => format!("{label} → v{v}"),
                None => format!("{label} → (not a promoted version)"),
            })
            .collect();
        let _ = writeln!(out, "  labels: {}", labels.join(", "));
    }
    if !h.versions.is_empty() {
        let _ = writeln!(out, "  versions:");
        for v in &h.versions {
            let r = &v.record;
            let _ = writeln!(
                out,
                "    v{:<3} {}  commit {}  gate {}{}  run {}",
                v.version,
                shown_time(&r.at),
                &r.commit[..r.commit.len().min(12)],
                r.verdict.map_or("-", |v| v.as_str()),
                if r.forced { " (forced)" } else { "" },
                r.run.as_deref().unwrap_or("-"),
            );
            if let Some(b) = &r.baseline {
                let _ = writeln!(out, "         baseline: {}", baseline(b));
            }
        }
    }
    if !h.moves.is_empty() {
        let _ = writeln!(out, "  history:");
        for e in &h.moves {
            let _ = writeln!(out, "    {}", event(e));
        }
    }
    let _ = writeln!(out, "  commits:");
    if h.commits.is_empty() {
        let _ = writeln!(out, "    none yet");
    }
    for c in &h.commits {
        let _ = writeln!(
            out,
            "    {}  {}  {}  {}  {}",
            &c.commit[..12],
            c.date,
            c.hash,
            c.author,
            c.subject
        );
    }
    out
}

/// A monitoring baseline, on one line.
fn baseline(b: &promptgate::ops::Baseline) -> String {
    format!(
        "{} run {} ({} outputs), {}",
        b.source,
        b.run,
        b.measured.records,
        measures(&b.measured)
    )
}

/// What a set of outputs measured, on one line; what was not measured is left out.
fn measures(m: &promptgate::ops::Measures) -> String {
    let mut parts = Vec::new();
    if let Some(q) = m.quality {
        parts.push(format!("checks pass {:.1}%", q * 100.0));
    }
    parts.push(format!("errors {:.1}%", m.error_rate * 100.0));
    if let Some(ms) = m.latency_ms {
        parts.push(format!("median latency {ms:.0} ms"));
    }
    if let Some(c) = m.cost_per_call {
        parts.push(format!("${c:.6}/call"));
    }
    parts.join(", ")
}

/// One label move, on one line.
fn event(e: &LabelEvent) -> String {
    let what = match e.action {
        ReleaseAction::Promote if e.forced => format!(
            "FORCED promote v{} to {} past gate {}",
            e.version,
            e.label,
            e.verdict.map_or("-", |v| v.as_str())
        ),
        ReleaseAction::Promote => format!(
            "promote v{} to {} (gate {})",
            e.version,
            e.label,
            e.verdict.map_or("-", |v| v.as_str())
        ),
        ReleaseAction::Rollback => format!(
            "{}{} {} v{} → v{}",
            if e.automatic { "AUTOMATIC " } else { "" },
            match (e.forced, e.version > e.from.unwrap_or_default()) {
                (true, true) => "FORCED move forward of",
                (true, false) => "FORCED rollback",
                (false, _) => "rollback",
            },
            e.label,
            e.from.unwrap_or_default(),
            e.version
        ),
    };
    let mut line = format!("{}  {what}  by {}", shown_time(&e.at), e.by);
    if let Some(reason) = &e.reason {
        let _ = write!(line, "  reason: {reason}");
    }
    if !e.approvals.is_empty() {
        let _ = write!(line, "  approved by {}", e.approvals.join(", "));
    }
    line
}

/// `promptgate status`: one line per prompt and label.
pub(crate) fn status(prompts: &[PromptStatus]) -> String {
    let mut out = String::new();
    for p in prompts {
        let uncommitted = if p.uncommitted {
            "  (uncommitted changes)"
        } else {
            ""
        };
        if p.labels.is_empty() {
            let _ = writeln!(out, "{}  never promoted{uncommitted}", p.prompt);
        }
        for l in &p.labels {
            let differs: Vec<&str> = [("HEAD", l.head_differs), ("worktree", l.worktree_differs)]
                .iter()
                .filter(|(_, d)| *d)
                .map(|(what, _)| *what)
                .collect();
            let version = l
                .version
                .map_or_else(|| "?".to_string(), |v| format!("v{v}"));
            let _ = writeln!(
                out,
                "{}  {} {version}  {}{uncommitted}",
                p.prompt,
                l.label,
                match differs.as_slice() {
                    [] => "up to date".to_string(),
                    [one] => format!("{one} differs from {version}"),
                    both => format!("{} both differ from {version}", both.join(" and ")),
                }
            );
        }
    }
    out
}

/// The outcome of `promptgate promote`.
pub(crate) fn promotion(p: &Promotion) -> String {
    let r = &p.record;
    if p.unchanged {
        return format!(
            "{}@{} already serves this content as {}; nothing changed",
            r.prompt, r.label, p.tag
        );
    }
    let mut out = format!(
        "promoted {}: {}@{} {} → v{} (gate {}{})",
        p.tag,
        r.prompt,
        r.label,
        r.from
            .map_or_else(|| "(new)".to_string(), |v| format!("v{v}")),
        r.version,
        r.verdict.map_or("-", |v| v.as_str()),
        if r.forced { ", FORCED" } else { "" }
    );
    for line in &p.suites {
        let _ = write!(out, "\n  {}", promptgate::report::visible(line));
    }
    if let Some(dir) = &p.run_dir {
        let _ = write!(out, "\nreport: {dir}");
    }
    out
}

/// `promptgate monitor`: the verdict, the measures against the baseline, what was done.
pub(crate) fn monitored(r: &promptgate::ops::MonitorReport) -> String {
    let mut out = String::new();
    let health = match r.health {
        promptgate::ops::Health::Healthy => "healthy",
        promptgate::ops::Health::Breach => "BREACH",
        promptgate::ops::Health::TooFewRecords => "not judged (too few records)",
    };
    let _ = writeln!(out, "{}@{} v{}: {health}", r.prompt, r.label, r.version);
    let _ = writeln!(
        out,
        "  production: {} records{}, {}",
        r.observed.records,
        r.window
            .as_deref()
            .map(|w| format!(" in the last {w}"))
            .unwrap_or_default(),
        measures(&r.observed)
    );
    let _ = writeln!(out, "  baseline:   {}", baseline(&r.baseline));
    for b in &r.breaches {
        let _ = writeln!(out, "  breach {}: {}", b.metric, b.message);
    }
    for u in &r.unjudged {
        let _ = writeln!(out, "  not judged: {u}");
    }
    for s in &r.traffic.skipped {
        let _ = writeln!(
            out,
            "  left out: {} {} ({}; first at {})",
            s.count,
            s.reason.as_str(),
            s.meaning,
            s.first
        );
    }
    if let Some(e) = &r.rollback {
        let _ = writeln!(
            out,
            "  kill switch pulled: {} moved back v{} → v{}",
            e.label,
            e.from.unwrap_or_default(),
            e.version
        );
    } else if r.already_moved {
        let _ = writeln!(
            out,
            "  the label had already moved off v{}; nothing was moved again",
            r.version
        );
    }
    for a in &r.alerts {
        let _ = writeln!(out, "  alert: {a}");
    }
    out
}

/// `promptgate readiness`: each prompt's four scores with their facts.
pub(crate) fn readiness(assessments: &[promptgate::ops::Assessment]) -> String {
    let mut out = String::new();
    for a in assessments {
        let _ = writeln!(
            out,
            "{}: {}/20{}",
            a.prompt,
            a.total,
            match (a.required, a.short.is_empty()) {
                (Some((total, each)), true) =>
                    format!(" (meets the tier's {total}, each ≥ {each})"),
                (Some(_), false) => format!(" — NOT READY: {}", a.short.join("; ")),
                (None, _) => String::new(),
            }
        );
        for s in &a.scores {
            let _ = writeln!(out, "  {:<15} {}/5", s.dimension.as_str(), s.score);
            for f in &s.facts {
                let mark = if f.holds { "✓" } else { "✗" };
                let _ = write!(out, "    {mark} {}", f.found);
                if !f.raise.is_empty() {
                    let _ = write!(out, "  → {}", f.raise);
                }
                let _ = writeln!(out);
            }
        }
    }
    out
}

/// An RFC 3339 time as a person reads it in a list: to the second, in UTC (`2026-12-04
/// 21:09:35Z`); a time that does not parse is shown as stored.
pub(crate) fn shown_time(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at).map_or_else(
        |_| at.to_string(),
        |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%SZ")
                .to_string()
        },
    )
}
