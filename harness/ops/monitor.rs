//! `monitor`: production records of the served version against the baseline its promotion
//! recorded, with the kill switch.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::monitor::{Breach, Health, Observation};
use crate::pipeline::prepare::Prepared;
use crate::pipeline::project::Project;
use crate::release::baseline::observe;
use crate::release::labels::{RollbackOptions, current_version, roll_back};
use crate::store::{Baseline, LabelEvent, Measures, Store};
use crate::suite::{Assertion, Suite};
use crate::traffic::{Traffic, Unmapped};

/// What `promptgate monitor` was asked to do.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// The prompt.
    pub name: String,
    /// The label whose version is watched.
    pub label: String,
    /// Production records (JSONL or OTLP JSON).
    pub traffic: Vec<PathBuf>,
    /// Only records this long before `now` (`90m`, `24h`, `7d`).
    pub window: Option<String>,
    /// The end of the window.
    pub now: chrono::DateTime<chrono::Utc>,
    /// On a breach, move the label back to the version promoted before.
    pub rollback_on_breach: bool,
    /// Where alerts go (default `reports/alerts`).
    pub alerts: Option<PathBuf>,
}

/// What `monitor` found.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorReport {
    /// The prompt.
    pub prompt: String,
    /// The label.
    pub label: String,
    /// The version it served.
    pub version: u32,
    /// When the window ended (RFC 3339).
    pub at: String,
    /// The window, as asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Healthy, breach, or too few records.
    pub health: Health,
    /// The thresholds breached.
    pub breaches: Vec<Breach>,
    /// What could not be judged, in plain words.
    pub unjudged: Vec<String>,
    /// The baseline recorded when the version was promoted.
    pub baseline: Baseline,
    /// What production showed in the window.
    pub observed: Measures,
    /// The thresholds of the prompt's tier.
    pub thresholds: crate::config::MonitorThresholds,
    /// The records read, and those left out by reason.
    pub traffic: crate::traffic::Summary,
    /// Who owns the prompt.
    pub owner: Option<String>,
    /// Who to escalate to.
    pub escalation: Option<String>,
    /// The alert files written (on a breach).
    pub alerts: Vec<String>,
    /// The automatic rollback this monitor made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<LabelEvent>,
    /// The label had already moved off the version (another monitor or an operator rolled it
    /// back first): nothing was moved again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_moved: bool,
}

/// Evaluates production records of the version `name@label` serves against the baseline its
/// promotion recorded and the tier's thresholds; on a breach writes an alert, and with
/// `rollback_on_breach` moves the label back (recorded as an automatic rollback).
pub fn monitor(root: &Path, options: &MonitorOptions) -> Result<MonitorReport> {
    let project = Project::open(root)?;
    let store = &project.store;
    let name = PromptName::new(&options.name);
    let label = options.label.as_str();
    store.check_label(label)?;
    let promoted = store.promoted(&name)?;
    let current = current_version(store, &name, label, &promoted)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{name}@{label} does not point at a promoted version, so there is nothing to monitor; promote one first"
            ))
        })?
        .clone();
    let baseline = current.record.baseline.clone().ok_or_else(|| {
        Error::Usage(format!(
            "{name} v{} was promoted without a monitoring baseline (by an earlier promptgate); promote again to record one",
            current.version
        ))
    })?;
    refuse_tracked_traffic(store, &options.traffic)?;
    let served = Prepared::load(&project, &name, &current.record.commit)?;
    let governance = served.prompt.metadata.governance.clone();
    let thresholds = project.config.tier(governance.risk_tier).monitor;
    let shadow = Suite::shadow_for(&project.suites, &name);
    let changed = checks_changed(&project, shadow, &baseline);
    let checks = match (shadow, &changed) {
        (Some(suite), None) => &suite.checks[..],
        _ => &[][..],
    };
    let (traffic, observations) = served_window(&project, options, &name, &current, checks)?;
    let observed = crate::monitor::measure(&observations);
    let (health, breaches, unjudged) =
        crate::monitor::watch(&baseline.measured, &observed, &thresholds, changed);
    let mut report = MonitorReport {
        prompt: name.to_string(),
        label: label.to_string(),
        version: current.version,
        at: options.now.to_rfc3339(),
        window: options.window.clone(),
        health,
        breaches,
        unjudged,
        baseline,
        observed,
        thresholds,
        traffic: traffic.summary(observations.len()),
        owner: governance.owner,
        escalation: governance.escalation,
        alerts: Vec::new(),
        rollback: None,
        already_moved: false,
    };
    if health != Health::Breach {
        return Ok(report);
    }
    if options.rollback_on_breach {
        pull_kill_switch(root, store, &mut report)?;
    }
    // The operator's own folder is created as given; the default one under the project is
    // reached through no symlink (a commit can plant one there).
    let dir = match &options.alerts {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
            dir.clone()
        }
        None => crate::files::confined_dir(&project.root, Path::new("reports/alerts"))?,
    };
    report.alerts = write_alert(&dir, &report)?;
    Ok(report)
}

/// Refuses traffic files git tracks: a commit can write them, and production's records
/// decide a rollback.
fn refuse_tracked_traffic(store: &Store, files: &[PathBuf]) -> Result<()> {
    match files
        .iter()
        .find_map(|f| store.is_tracked(f).map(|t| t.then_some(f)).transpose())
    {
        None => Ok(()),
        Some(Err(e)) => Err(e),
        Some(Ok(file)) => Err(Error::refused(format!(
            "the traffic file {} is tracked by git: a commit can write it, and production's records decide a rollback; export the traffic to a path outside the repository (or keep it in .gitignore and untracked)",
            file.display()
        ))),
    }
}

/// Why quality cannot be judged against `baseline` with the shadow suite as it is now: its
/// checks are not those the baseline was measured with (edited, or gone, since the
/// promotion), and holding unchanged traffic to other checks would breach, or pass, on the
/// edit alone. `None` when they are the same (a baseline of an earlier promptgate, which kept
/// only the checks' kinds, is compared by those).
fn checks_changed(
    project: &Project,
    shadow: Option<&Suite>,
    baseline: &Baseline,
) -> Option<String> {
    if baseline.checks.is_empty() {
        return None;
    }
    let same = match (shadow, &baseline.checks_digest) {
        (None, _) => false,
        (Some(suite), Some(digest)) => {
            crate::release::baseline::checks_digest(project, suite).as_ref() == Some(digest)
        }
        (Some(suite), None) => suite
            .checks
            .iter()
            .map(|c| c.kind())
            .eq(baseline.checks.iter().map(String::as_str)),
    };
    (!same).then(|| {
        "quality: not judged, because the shadow suite's checks are not those the baseline was measured with at the promotion (edited or removed since); promote again to measure a baseline with these checks".to_string()
    })
}

/// What the records of the version `current` that `name@label` serves show in the window,
/// held to `checks`, read a line at a time; the others counted by reason.
fn served_window(
    project: &Project,
    options: &MonitorOptions,
    name: &PromptName,
    current: &crate::store::Promoted,
    checks: &[Assertion],
) -> Result<(Traffic, Vec<Observation>)> {
    let since = match &options.window {
        Some(window) => Some(options.now - parse_window(window)?),
        None => None,
    };
    let known = project.prompt_names()?;
    let (version, content) = (current.version, &current.record.content);
    let mut observations = Vec::new();
    let traffic = Traffic::scan(&options.traffic, &|n: &str| known.contains(n), &mut |r| {
        if r.prompt != name.as_str() {
            return Err(Unmapped::OtherPrompt);
        }
        let served_by = match (r.version, &r.content) {
            (Some(v), _) => v == version,
            (None, Some(c)) => c == content,
            (None, None) => return Err(Unmapped::NoVersion),
        };
        if !served_by {
            return Err(Unmapped::OtherVersion);
        }
        let inside = match (since, r.at) {
            (None, _) => true,
            (Some(since), Some(at)) => at >= since && at <= options.now,
            (Some(_), None) => false,
        };
        if !inside {
            return Err(Unmapped::OutsideWindow);
        }
        let measured = Observation {
            failed: r.error.is_some(),
            passed: None,
            latency_ms: r.latency_ms,
            cost: r.cost,
            tokens: r.tokens,
        };
        observations.push(observe(checks, measured, r.output.as_deref(), &[]));
        Ok(())
    })?;
    Ok((traffic, observations))
}

/// Moves the label back off the breaching version, unless it has moved already (another
/// monitor or an operator won): the rollback, or `already_moved`, lands in `report`.
fn pull_kill_switch(root: &Path, store: &Store, report: &mut MonitorReport) -> Result<()> {
    let reason = format!(
        "monitor: {}",
        report
            .breaches
            .iter()
            .map(|b| b.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    let rollback = RollbackOptions {
        name: report.prompt.clone(),
        label: report.label.clone(),
        to: None,
        reason,
        force: false,
    };
    let name = PromptName::new(&report.prompt);
    match roll_back(root, &rollback, Some(report.version)) {
        Ok(Some(event)) => report.rollback = Some(event),
        Ok(None) => report.already_moved = true,
        // Another rollback won the race: the label is off the breaching version already.
        Err(Error::Refused { .. }) if moved_off(store, &name, &report.label, report.version)? => {
            report.already_moved = true;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Whether `name@label` no longer serves `version`.
fn moved_off(store: &Store, name: &PromptName, label: &str, version: u32) -> Result<bool> {
    let promoted = store.promoted(name)?;
    Ok(current_version(store, name, label, &promoted).is_none_or(|p| p.version != version))
}

/// `90s`, `90m`, `24h` or `7d` as a duration.
fn parse_window(text: &str) -> Result<chrono::Duration> {
    let bad = || {
        Error::Usage(format!(
            "`--window {text}` is not a duration; write it as 90m, 24h or 7d"
        ))
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let duration = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    };
    duration
        .filter(|d| *d > chrono::Duration::zero())
        .ok_or_else(bad)
}

/// Writes the alert as JSON and Markdown into the existing folder `dir`; returns their paths.
fn write_alert(dir: &Path, report: &MonitorReport) -> Result<Vec<String>> {
    let stamp = report.at.replace([':', '-'], "").replace('+', "Z");
    let base = format!(
        "{}-{}-v{}",
        &stamp[..stamp.len().min(15)],
        report.prompt.replace('/', "-"),
        report.version
    );
    let json = dir.join(format!("{base}.json"));
    let bytes = serde_json::to_vec_pretty(report).map_err(Error::encode("the alert"))?;
    crate::files::write_atomic(&json, &bytes)?;
    let markdown = dir.join(format!("{base}.md"));
    crate::files::write_atomic(&markdown, alert_markdown(report).as_bytes())?;
    Ok(vec![
        json.display().to_string(),
        markdown.display().to_string(),
    ])
}

/// The alert for people: what breached, who owns it, what was done.
fn alert_markdown(report: &MonitorReport) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "# Monitoring breach: {}@{} (v{})\n\n",
        report.prompt, report.label, report.version
    );
    let _ = writeln!(
        out,
        "- **Owner:** {}\n- **Escalation:** {}\n- **When:** {}{}\n",
        report
            .owner
            .as_deref()
            .unwrap_or("(none: set `promptgate.owner`)"),
        report
            .escalation
            .as_deref()
            .unwrap_or("(none: set `promptgate.escalation`)"),
        report.at,
        report
            .window
            .as_deref()
            .map(|w| format!(", over the last {w}"))
            .unwrap_or_default()
    );
    out.push_str("## Breaches\n\n");
    for b in &report.breaches {
        let _ = writeln!(out, "- `{}`: {}", b.metric, b.message);
    }
    let _ = writeln!(
        out,
        "\n{} production records of v{}, against the baseline measured on {} run {} ({} outputs).\n",
        report.observed.records,
        report.version,
        report.baseline.source,
        report.baseline.run,
        report.baseline.measured.records
    );
    out.push_str("## Action\n\n");
    match (&report.rollback, report.already_moved) {
        (Some(event), _) => {
            let _ = writeln!(
                out,
                "The kill switch was pulled: {}@{} moved back from v{} to v{} (automatic rollback by {}).",
                event.prompt,
                event.label,
                event.from.unwrap_or_default(),
                event.version,
                event.by
            );
        }
        (None, true) => out.push_str(
            "The label had already moved off this version (another rollback came first); nothing was moved again.\n",
        ),
        (None, false) => {
            let _ = writeln!(
                out,
                "Nothing was moved. To pull the kill switch: `promptgate rollback {} --label {} --reason \"...\"`.",
                report.prompt, report.label
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_bad_ones_say_how_to_write_them() {
        assert_eq!(parse_window("24h").unwrap(), chrono::Duration::hours(24));
        assert_eq!(parse_window("7d").unwrap(), chrono::Duration::days(7));
        for bad in ["", "h", "0h", "-3h", "3w", "x5m"] {
            let err = parse_window(bad).unwrap_err().to_string();
            assert!(err.contains("90m, 24h or 7d"), "{bad}: {err}");
        }
    }
}
