//! `promptgate promote`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Promote;
use crate::output::{Context, print_json};

/// Gates the prompt at HEAD against its label's version, then tags it and moves the label.
pub(crate) fn run(args: Promote, cx: &Context) -> Result<i32, Error> {
    let json = args.json;
    let mut options = ops::PromoteOptions::from(args);
    options.calls.invoked(cx.env(), cx.command_line.clone());
    let promotion = cx.with_progress(|p| ops::promote(&cx.root, &options, p))?;
    if json {
        print_json(&promotion)?;
    } else {
        outln!("{}", crate::render::promotion(&promotion));
    }
    Ok(exit::PASS)
}
