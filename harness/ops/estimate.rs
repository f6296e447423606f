//! `check --dry-run`: what a check would spend — calls, tokens and cost per provider — with no
//! call made and nothing written.

use std::path::Path;

use crate::errors::{Error, Result};
use crate::pipeline::check::{Checked, Ready};
use crate::pipeline::estimate::Estimate;
use crate::pipeline::progress::Progress;
use crate::pipeline::request::CheckOptions;

/// Plans the check `options` ask for and estimates its calls; `None` when no prompt was named
/// and none changed (nothing would be checked).
pub fn estimate(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<Vec<Estimate>>> {
    let options = CheckOptions {
        dry_run: true,
        resume: None,
        ..options.clone()
    };
    match Ready::new(root, &options, progress)?.run(progress)? {
        Checked::Estimated(estimates) => Ok(Some(estimates)),
        Checked::NothingChanged => Ok(None),
        _ => Err(Error::Internal("a dry run made calls".into())),
    }
}
