//! `promptgate man`.

use clap::CommandFactory;
use promptgate::errors::{Error, exit};

use crate::args::Args;

/// Prints the manual page.
pub(crate) fn run() -> Result<i32, Error> {
    let page = clap_mangen::Man::new(Args::command().version(promptgate::BUILD));
    page.render(&mut std::io::stdout())
        .map_err(|e| Error::Internal(format!("cannot write the manual page: {e}")))?;
    Ok(exit::PASS)
}
