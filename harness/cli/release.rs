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
                r.at,
                &r.commit[..r.commit.len().min(12)],
                r.verdict.map_or("-", |v| v.as_str()),
                if r.forced { " (forced)" } else { "" },
                r.run.as_deref().unwrap_or("-"),
            );
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
            "rollback {} v{} → v{}",
            e.label,
            e.from.unwrap_or_default(),
            e.version
        ),
    };
    let mut line = format!("{}  {what}  by {}", e.at, e.by);
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
            let _ = writeln!(
                out,
                "{}  {} {}  {}{uncommitted}",
                p.prompt,
                l.label,
                l.version
                    .map_or_else(|| "?".to_string(), |v| format!("v{v}")),
                if differs.is_empty() {
                    "up to date".to_string()
                } else {
                    format!("{} differ", differs.join(" and "))
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
    if let Some(dir) = &p.run_dir {
        let _ = write!(out, "\nreport: {dir}");
    }
    out
}
