//! `promptgate completions`.

use clap::CommandFactory;
use promptgate::errors::{Error, exit};

use crate::args::Args;

/// Prints the completion script for `shell`.
pub(crate) fn run(shell: clap_complete::Shell) -> Result<i32, Error> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Args::command(), "promptgate", &mut script);
    crate::output::stdout(&script);
    Ok(exit::PASS)
}
