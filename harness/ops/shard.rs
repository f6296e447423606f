//! `check --shard I/N`: one shard's cases of a check, on one worker of the CI engine a team
//! already has, into a run directory that gates nothing: `merge` gates the shards together.

use std::path::Path;

use crate::errors::{Error, Result};
use crate::pipeline::check::{CheckOutcome, Checked, Ready};
use crate::pipeline::progress::Progress;
use crate::pipeline::request::CheckOptions;
use crate::report::ReportFormat;

/// Runs the cases of the shard `options` name (their first samples, confirmed), logs every
/// call and writes the shard's reports; `None` when no prompt was named and none changed.
/// Its exit code is 0 unless the shard is incomplete (run it again).
pub fn shard(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<CheckOutcome>> {
    if options.shard.is_none() || options.wave.is_some() {
        return Err(Error::Internal(
            "a shard run takes a shard and no wave".into(),
        ));
    }
    match Ready::new(root, options, progress)?.run(progress)? {
        Checked::Gated(outcome) => {
            crate::report::write(&outcome.run_dir, &outcome.report, &ReportFormat::ALL)?;
            Ok(Some(*outcome))
        }
        Checked::NothingChanged => Ok(None),
        _ => Err(Error::Internal("a shard run drew a wave".into())),
    }
}
