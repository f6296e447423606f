//! `check --dry-run`: what a check would spend — calls, tokens and cost per provider — with no
//! call made and nothing written.

use std::path::Path;
use std::time::Instant;

use crate::errors::{Error, Result};
use crate::pipeline::check::{Attempt, Checked, run, settle};
use crate::pipeline::estimate::Estimate;
use crate::pipeline::progress::Progress;
use crate::pipeline::project::Project;
use crate::pipeline::request::CheckOptions;
use crate::pipeline::select::selection;

/// Plans the check `options` ask for and estimates its calls; `None` when no prompt was named
/// and none changed (nothing would be checked).
pub fn estimate(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<Vec<Estimate>>> {
    let clock = Instant::now();
    let mut project = Project::open_with_index(root, options.index_file.as_deref())?;
    let options = CheckOptions {
        dry_run: true,
        resume: None,
        ..options.clone()
    };
    let (options, _) = settle(&project, &options, progress)?;
    let selection = selection(&project, &options, progress)?;
    let attempt = Attempt {
        earlier: None,
        waves: None,
        clock,
    };
    match run(&mut project, &options, selection, attempt, progress)? {
        Checked::Estimated(estimates) => Ok(Some(estimates)),
        Checked::NothingChanged => Ok(None),
        _ => Err(Error::Internal("a dry run made calls".into())),
    }
}
