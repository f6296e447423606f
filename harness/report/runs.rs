//! The run history: one small entry per finished run (`entry.json`, beside its report), the
//! list `promptgate runs` prints, and `reports/index.html`, the page every report links to so
//! a reviewer moves between runs without a server.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CheckReport, RunReport};
use crate::errors::Result;
use crate::ids::RunId;
use crate::record;

/// The file of a run's entry in its run directory.
const ENTRY_FILE: &str = "entry.json";
/// The index page's style (its hash is the page's only allowed source).
const INDEX_CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1d2330}table{border-collapse:collapse}td,th{border-bottom:1px solid #d9dee7;padding:.3em .8em;text-align:left}.fail,.failed{color:#c0262d}.pass,.passed{color:#1a7f37}.num{text-align:right}";
/// The index page under `reports/`.
const INDEX_FILE: &str = "index.html";

/// What a finished run came to, as its entry keeps it: small, so listing a thousand runs reads
/// no report.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Finished {
    prompts: Vec<String>,
    /// `pass`, `fail`, `inconclusive`, `incomplete`; for a `run`, `passed` or `failed`.
    verdict: String,
    calls: usize,
    cost: Option<f64>,
    html: bool,
}

/// One run of the history.
#[derive(Debug, Clone, Serialize)]
pub struct RunEntry {
    /// Its id (the directory under `reports/`).
    pub run_id: String,
    /// `check`, `shadow`, `shard`, `merge` or `run`.
    pub kind: &'static str,
    /// The prompts it covered (empty when it did not finish).
    pub prompts: Vec<String>,
    /// What it came to; `unfinished` for a run that was stopped (resume it); `gates nothing`
    /// for a shard.
    pub verdict: String,
    /// Calls made (planned, for an unfinished run).
    pub calls: usize,
    /// Dollars spent, when every price is known.
    pub cost: Option<f64>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Whether it has an HTML report.
    pub html: bool,
}

/// Records a finished check's entry in `run_dir`.
pub(crate) fn record_check(run_dir: &Path, report: &CheckReport) -> Result<()> {
    let mut prompts: Vec<String> = report
        .candidates
        .iter()
        .map(|c| c.prompt.to_string())
        .collect();
    prompts.dedup();
    let finished = Finished {
        prompts,
        verdict: super::headline(report.verdict, report.complete).to_string(),
        calls: report.totals.calls,
        cost: report.totals.cost,
        html: true,
    };
    record::write_json(&run_dir.join(ENTRY_FILE), &finished)
}

/// Records a finished `run`'s entry in `run_dir`, and the index beside it.
pub(crate) fn record_run(run_dir: &Path, report: &RunReport) -> Result<()> {
    let mut prompts: Vec<String> = report
        .suites
        .iter()
        .map(|s| s.version.name.to_string())
        .collect();
    prompts.sort();
    prompts.dedup();
    let failed = report
        .suites
        .iter()
        .flat_map(|s| &s.cases)
        .any(|c| c.side.pass_rate.is_none_or(|r| r < 1.0));
    let finished = Finished {
        prompts,
        verdict: if failed { "failed" } else { "passed" }.to_string(),
        calls: report.totals.calls,
        cost: report.totals.cost,
        html: false,
    };
    record::write_json(&run_dir.join(ENTRY_FILE), &finished)?;
    write_index(run_dir)
}

/// Every run under `root`'s `reports/`, newest first, from the manifests and entries alone.
pub fn runs(root: &Path) -> Vec<RunEntry> {
    record::run_ids(root)
        .into_iter()
        .rev()
        .filter_map(|id| entry(root, &id))
        .collect()
}

fn entry(root: &Path, id: &RunId) -> Option<RunEntry> {
    let manifest = record::read_manifest(root, id).ok()?;
    let dir = record::RunDir::path_of(root, id);
    let finished: Option<Finished> = record::read_run_file(root, id, ENTRY_FILE)
        .ok()
        .flatten()
        .and_then(|(_, text)| serde_json::from_str(&text).ok());
    let kind = match &manifest.resume {
        None => "run",
        Some(_) if manifest.shard.is_some() => "shard",
        Some(options) if options.get("traffic").is_some_and(|t| !t.is_null()) => "shadow",
        Some(_) if manifest.command.split_whitespace().nth(1) == Some("merge") => "merge",
        Some(_) => "check",
    };
    Some(match finished {
        Some(f) => RunEntry {
            run_id: id.to_string(),
            kind,
            prompts: f.prompts,
            // A shard's own comparison decides nothing: `merge` gates the shards together.
            verdict: match kind {
                "shard" => "gates nothing".into(),
                _ => f.verdict,
            },
            calls: f.calls,
            cost: f.cost,
            started_at: manifest.started_at,
            html: f.html,
        },
        None => RunEntry {
            run_id: id.to_string(),
            kind,
            prompts: Vec::new(),
            verdict: "unfinished".into(),
            calls: manifest.calls,
            cost: None,
            started_at: manifest.started_at,
            html: dir.join(record::HTML_FILE).is_file(),
        },
    })
}

/// Writes `reports/index.html` (beside the run directory `run_dir`): every run, newest first,
/// linking to its report.
pub(crate) fn write_index(run_dir: &Path) -> Result<()> {
    let Some(reports) = run_dir.parent() else {
        return Ok(());
    };
    let Some(root) = reports.parent() else {
        return Ok(());
    };
    let escape = super::escape_html;
    let mut h = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>promptgate runs</title>\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'\">\
         <meta name=\"referrer\" content=\"no-referrer\"><style>{INDEX_CSS}</style></head><body>\n<h1>promptgate runs</h1>\n<table>\n\
         <tr><th>run</th><th>kind</th><th>prompts</th><th>verdict</th><th class=\"num\">calls</th><th class=\"num\">cost</th><th>started</th></tr>\n",
        super::html::csp_hash(INDEX_CSS)
    );
    for run in runs(root) {
        let id = escape(&run.run_id);
        let name = match run.html {
            true => format!("<a href=\"{id}/{}\">{id}</a>", record::HTML_FILE),
            false => format!("<code>{id}</code>"),
        };
        let _ = writeln!(
            h,
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            run.kind,
            escape(&run.prompts.join(", ")),
            escape(&run.verdict),
            escape(&run.verdict),
            run.calls,
            super::dollars(run.cost),
            escape(&run.started_at),
        );
    }
    h.push_str("</table>\n</body></html>\n");
    crate::files::write_atomic(&reports.join(INDEX_FILE), h.as_bytes())
}
