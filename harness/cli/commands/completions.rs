//! `promptgate completions`.

use clap::CommandFactory;
use promptgate::errors::{Error, exit};

use crate::args::Args;

/// Prints the completion script for `shell`.
pub(crate) fn run(shell: clap_complete::Shell) -> Result<i32, Error> {
    clap_complete::generate(
        shell,
        &mut Args::command(),
        "promptgate",
        &mut std::io::stdout(),
    );
    Ok(exit::PASS)
}
