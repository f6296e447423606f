//! `promptgate show`.

use promptgate::errors::{Error, exit};
use promptgate::ops;
use promptgate::report::visible;

use crate::args::Show;
use crate::output::{Context, print_json};

/// Prints a prompt version rendered to messages.
pub(crate) fn run(args: Show, cx: &Context) -> Result<i32, Error> {
    let options = ops::ShowOptions {
        prompt: args.prompt,
        case: args.case,
    };
    let messages = ops::show(&cx.root, &options)?;
    if args.json {
        print_json(&messages)?;
        return Ok(exit::PASS);
    }
    for m in messages {
        outln!("--- {} ---", visible(&m.role));
        outln!("{}", visible(&m.text_content()));
    }
    Ok(exit::PASS)
}
