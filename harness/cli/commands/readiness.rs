//! `promptgate readiness`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Readiness;
use crate::output::{Context, print_json};

/// Scores how ready the prompts `args` name are for production.
pub(crate) fn run(args: Readiness, cx: &Context) -> Result<i32, Error> {
    let assessments = ops::readiness(&cx.root, &args.prompts)?;
    if args.json {
        print_json(&assessments)?;
    } else {
        out!("{}", crate::render::readiness(&assessments));
    }
    Ok(exit::PASS)
}
