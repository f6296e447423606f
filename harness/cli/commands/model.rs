//! `promptgate model fetch`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::ModelCommand;
use crate::output::Context;

/// Downloads and verifies the bundled model; prints where it is.
pub(crate) fn run(command: ModelCommand, cx: &Context) -> Result<i32, Error> {
    let ModelCommand::Fetch = command;
    let path = ops::fetch_model(&cx.env(), &mut |note| eprintln!("{note}"))?;
    outln!("{}", path.display());
    Ok(exit::PASS)
}
