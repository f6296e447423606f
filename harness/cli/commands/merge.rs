//! `promptgate merge`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Merge;
use crate::checked::print_checked;
use crate::output::{Context, print_json};

/// Gates the shard runs `args` name as one check, or prints the next wave to run.
pub(crate) fn run(args: Merge, cx: &Context) -> Result<i32, Error> {
    let json = args.json;
    let mut options = ops::MergeOptions {
        dirs: args
            .dirs
            .iter()
            .map(|d| crate::output::run_dir_of(cx, d))
            .collect(),
        allow_incomplete: args.allow_incomplete,
        last_wave: args.last_wave,
        calls: ops::CallOptions::default(),
    };
    options.calls.invoked(cx.env(), cx.command_line.clone());
    match cx.with_progress(|p| ops::merge(&cx.root, &options, p))? {
        ops::MergeResult::Gated(outcome) => {
            print_checked(cx, &outcome, json)?;
            Ok(outcome.exit_code)
        }
        ops::MergeResult::NextWave(next) => {
            if json {
                print_json(&next.plan)?;
            } else {
                out!("{}", next_wave(cx, &next));
            }
            Ok(exit::NEXT_WAVE)
        }
    }
}

/// What a merge that needs another wave tells the user: what the wave draws, and how to run it.
fn next_wave(cx: &Context, next: &ops::NextWave) -> String {
    let plan = &next.plan;
    let calls: u32 = plan
        .samples
        .iter()
        .map(|s| (s.baseline.end - s.baseline.start) + (s.candidate.end - s.candidate.start))
        .sum();
    let mut suites: Vec<&str> = plan.samples.iter().map(|s| s.suite.as_str()).collect();
    suites.sort_unstable();
    suites.dedup();
    let path = cx.shown(&next.path);
    format!(
        "wave {wave}: {cases} cases of {suites} need more samples to decide (about {calls} calls, split among the shards).\n\
         Run every shard again:\n  promptgate check --shard I/{total} --wave {path}\n\
         then merge the shards of waves 1 to {wave} together (or pass --final to gate on the waves so far).\n",
        wave = plan.wave,
        cases = plan.samples.len(),
        suites = match suites.as_slice() {
            [one] => format!("suite {one}"),
            many => format!("{} suites", many.len()),
        },
        total = plan.shards,
    )
}
