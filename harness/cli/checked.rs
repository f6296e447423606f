//! A check's result printed, for every command that checks (check, shadow, merge, the hook):
//! its report as JSON or its summary, the CI step summary, an estimate, a wave drawn.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::output::{Context, print_json};

/// Prints a finished check (or merge): its report as JSON, or its summary; and appends the
/// Markdown summary to the CI step summary.
pub(crate) fn print_checked(
    cx: &Context,
    outcome: &ops::CheckOutcome,
    json: bool,
) -> Result<(), Error> {
    if json {
        print_json(&outcome.report)?;
    } else {
        cx.style.print(&promptgate::report::check_summary(
            &outcome.report,
            &cx.shown(&outcome.run_dir),
            cx.style.detail,
        ));
    }
    write_step_summary(&outcome.run_dir);
    write_step_output(&outcome.run_dir);
    Ok(())
}

/// Prints what a check would spend; returns the exit code (0).
pub(crate) fn print_estimates(estimates: &[ops::Estimate], json: bool) -> Result<i32, Error> {
    if json {
        print_json(&estimates)?;
        return Ok(exit::PASS);
    }
    for e in estimates {
        outln!(
            "{}: {} calls ({} answered from the cache){}; at most {} calls with the rounds after them (every case sampled again as if its versions disagreed), ~{} input tokens, at most {} output tokens, at most {}",
            e.provider,
            e.calls,
            e.cached,
            match e.judge_calls {
                0 => String::new(),
                n => format!(" and {n} judge calls"),
            },
            e.max_calls,
            e.input_tokens,
            e.max_output_tokens,
            e.max_cost.map_or_else(
                || "an unknown cost (no price configured)".to_string(),
                |c| format!("${c:.4}")
            )
        );
    }
    Ok(exit::PASS)
}

/// Says that nothing needed checking; returns the exit code (0).
pub(crate) fn print_nothing_changed() -> i32 {
    outln!(
        "nothing to check: no prompt differs between the baseline and the candidate (name prompts, or pass --all)"
    );
    exit::PASS
}

/// Prints a shard's part of a wave, drawn; returns its exit code.
pub(crate) fn print_drawn(
    cx: &Context,
    drawn: &ops::DrawnWave,
    shard: Option<ops::Shard>,
    json: bool,
) -> Result<i32, Error> {
    if json {
        print_json(drawn)?;
        return Ok(drawn.exit_code);
    }
    let shard = shard.unwrap_or(ops::Shard { index: 1, total: 1 });
    outln!(
        "wave {} of shard {}/{}: {} calls logged in {}; merge the shards of every wave together with `promptgate merge`",
        drawn.wave,
        shard.index,
        shard.total,
        drawn.calls,
        cx.shown(&drawn.run_dir)
    );
    Ok(drawn.exit_code)
}

/// What a shard ran and where it logged it, with no verdict: a shard gates nothing.
#[derive(serde::Serialize)]
struct ShardRun<'a> {
    shard: String,
    run_id: &'a str,
    run_dir: String,
    prompts: Vec<&'a str>,
    totals: &'a promptgate::report::Totals,
    complete: bool,
}

/// Prints a shard's run (no verdict: `merge` gates the shards together); returns its exit
/// code (0 unless the shard is incomplete).
fn print_shard(
    cx: &Context,
    outcome: &ops::CheckOutcome,
    shard: ops::Shard,
    json: bool,
) -> Result<i32, Error> {
    let report = &outcome.report;
    let run = ShardRun {
        shard: format!("{}/{}", shard.index, shard.total),
        run_id: report.run_id.as_str(),
        run_dir: cx.shown(&outcome.run_dir),
        prompts: report
            .candidates
            .iter()
            .map(|c| c.prompt.as_str())
            .collect(),
        totals: &report.totals,
        complete: report.complete,
    };
    write_step_output(&outcome.run_dir);
    if json {
        print_json(&run)?;
    } else {
        let t = run.totals;
        let mut prompts = run.prompts.clone();
        prompts.dedup();
        outln!(
            "shard {}: {} case comparisons of {}, {} calls ({} cached, {} errors{}), logged in {}",
            run.shard,
            t.cases,
            if prompts.is_empty() {
                "no prompt".to_string()
            } else {
                prompts.join(", ")
            },
            t.calls,
            t.cached,
            t.errors,
            match t.skipped {
                0 => String::new(),
                n => format!(", {n} skipped: run the shard again"),
            },
            run.run_dir
        );
        outln!(
            "a shard gates nothing: gate the shards' run directories together with `promptgate merge`"
        );
    }
    Ok(outcome.exit_code)
}

/// Runs a check — the estimate, a wave's draw, a shard's run or the check itself, as
/// `options` ask — and prints it; returns its exit code.
pub(crate) fn run_check(
    cx: &Context,
    options: &ops::CheckOptions,
    json: bool,
) -> Result<i32, Error> {
    let root = &cx.root;
    if options.resume.is_some() {
        let result = cx.with_progress(|p| ops::check(root, options, p))?;
        return print_result(cx, result, options.shard, json);
    }
    if options.dry_run {
        return match cx.with_progress(|p| ops::estimate(root, options, p))? {
            Some(estimates) => print_estimates(&estimates, json),
            None => Ok(print_nothing_changed()),
        };
    }
    if options.wave.is_some() {
        let drawn = cx.with_progress(|p| ops::draw(root, options, p))?;
        return print_drawn(cx, &drawn, options.shard, json);
    }
    if let Some(shard) = options.shard {
        let Some(outcome) = cx.with_progress(|p| ops::shard(root, options, p))? else {
            return Ok(print_nothing_changed());
        };
        return print_shard(cx, &outcome, shard, json);
    }
    let result = cx.with_progress(|p| ops::check(root, options, p))?;
    print_result(cx, result, None, json)
}

/// Prints what `check` found to do; returns its exit code.
fn print_result(
    cx: &Context,
    result: ops::CheckResult,
    shard: Option<ops::Shard>,
    json: bool,
) -> Result<i32, Error> {
    match result {
        ops::CheckResult::Checked(outcome) => {
            print_checked(cx, &outcome, json)?;
            Ok(outcome.exit_code)
        }
        ops::CheckResult::Estimated(estimates) => print_estimates(&estimates, json),
        ops::CheckResult::NothingChanged => Ok(print_nothing_changed()),
        ops::CheckResult::Drawn(drawn) => print_drawn(cx, &drawn, shard, json),
    }
}

/// Names this run's directory as the step's `run-dir` output when the CI provides step
/// outputs, so later steps (the pull-request comment) read this run and never guess it from
/// `reports/`, where a pull request can commit a directory of its own.
fn write_step_output(run_dir: &std::path::Path) {
    append_to_ci_file("GITHUB_OUTPUT", &format!("run-dir={}\n", run_dir.display()));
}

/// Appends the run's Markdown summary to the CI job summary when the CI provides one.
fn write_step_summary(run_dir: &std::path::Path) {
    let summary = run_dir.join(ops::ReportFormat::Markdown.file_name());
    if let Ok(summary) = std::fs::read_to_string(summary) {
        append_to_ci_file("GITHUB_STEP_SUMMARY", &summary);
    }
}

/// Appends `text` to the file the CI names in the variable `var`, when it names one.
fn append_to_ci_file(var: &str, text: &str) {
    let Some(target) = std::env::var_os(var) else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&target)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    if let Err(e) = appended {
        eprintln!("warning: cannot write {var}: {e}");
    }
}
