//! `promptgate runs`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::output::{Context, print_json};

/// Lists the runs under `reports/`, newest first.
pub(crate) fn run(json: bool, cx: &Context) -> Result<i32, Error> {
    let runs = ops::runs(&cx.root);
    if json {
        print_json(&runs)?;
        return Ok(exit::PASS);
    }
    if runs.is_empty() {
        outln!("no runs under {}/ yet", ops::REPORTS_DIR);
        return Ok(exit::PASS);
    }
    outln!(
        "{:<27} {:<6} {:<12} {:>6} {:>9}  {:<20}  prompts",
        "run",
        "kind",
        "verdict",
        "calls",
        "cost",
        "started"
    );
    for r in &runs {
        outln!(
            "{:<27} {:<6} {:<12} {:>6} {:>9}  {:<20}  {}",
            r.run_id,
            r.kind,
            r.verdict,
            r.calls,
            r.cost
                .map_or_else(|| "?".to_string(), |c| format!("${c:.4}")),
            crate::render::shown_time(&r.started_at),
            promptgate::report::visible(&r.prompts.join(", "))
        );
    }
    outln!(
        "index: {}/index.html",
        cx.shown(&cx.root.join(ops::REPORTS_DIR))
    );
    Ok(exit::PASS)
}
