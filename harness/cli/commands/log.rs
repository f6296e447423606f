//! `promptgate log`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Log;
use crate::output::{Context, print_json};

/// Prints a prompt's audit trail.
pub(crate) fn run(args: Log, cx: &Context) -> Result<i32, Error> {
    let history = ops::history(&cx.root, &args.prompt)?;
    if let Some(warning) = ops::unfetched_releases(&cx.root) {
        eprintln!("{warning}");
    }
    if args.json {
        print_json(&history)?;
    } else {
        out!("{}", crate::render::history(&history));
    }
    Ok(exit::PASS)
}
