//! `promptgate man`.

use clap::CommandFactory;
use promptgate::errors::{Error, exit};

use crate::args::Args;

/// Prints the manual page.
pub(crate) fn run() -> Result<i32, Error> {
    let page = clap_mangen::Man::new(Args::command().version(promptgate::BUILD));
    let mut text = Vec::new();
    page.render(&mut text)
        .map_err(|e| Error::Internal(format!("cannot render the manual page: {e}")))?;
    crate::output::stdout(&text);
    Ok(exit::PASS)
}
