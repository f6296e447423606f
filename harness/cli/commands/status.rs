//! `promptgate status`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Status;
use crate::output::{Context, print_json};

/// Prints every prompt with its label versions.
pub(crate) fn run(args: Status, cx: &Context) -> Result<i32, Error> {
    let status = ops::status(&cx.root)?;
    if let Some(warning) = ops::unfetched_releases(&cx.root) {
        eprintln!("{warning}");
    }
    if args.json {
        print_json(&status)?;
    } else {
        out!("{}", crate::render::status(&status));
    }
    Ok(exit::PASS)
}
