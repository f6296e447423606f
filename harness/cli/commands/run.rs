//! `promptgate run`.

use promptgate::errors::Error;
use promptgate::ops;

use crate::args::Run;
use crate::output::{Context, print_json};

/// Runs suites on one version of each prompt, without comparing.
pub(crate) fn run(args: Run, cx: &Context) -> Result<i32, Error> {
    let json = args.json;
    let failing = args.cases.failing.clone();
    let mut options = ops::RunOptions::from(args);
    options
        .cases
        .ids
        .extend(crate::output::failing_cases(cx, failing)?);
    options.calls.invoked(cx.env(), cx.command_line.clone());
    let outcome = cx.with_progress(|p| ops::run(&cx.root, &options, p))?;
    if json {
        print_json(&outcome.report)?;
    } else {
        let shown = cx.shown(&outcome.run_dir);
        cx.style
            .print(&promptgate::report::run_summary(&outcome.report, &shown));
    }
    Ok(outcome.exit_code)
}
