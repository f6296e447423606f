//! `check --shard I/N --wave FILE`: a shard's part of the next wave of a sharded `--adaptive`
//! check, drawn with the check's stored request from the plan `merge` wrote, and logged for
//! the next merge (no verdict of its own).

use std::path::Path;

use crate::errors::{Error, Result};
use crate::pipeline::check::{Checked, DrawnWave, Ready};
use crate::pipeline::progress::Progress;
use crate::pipeline::request::CheckOptions;

/// Draws this shard's samples of the wave `options` carry.
pub fn draw(
    root: &Path,
    options: &CheckOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<DrawnWave> {
    let Some(wave) = &options.wave else {
        return Err(Error::Internal("a draw takes a wave".into()));
    };
    if options.shard.is_none() {
        return Err(Error::Usage(
            "a wave is drawn by the shards of a check: pass --shard I/N with --wave".into(),
        ));
    }
    let options = options.for_wave(wave)?;
    match Ready::new(root, &options, progress)?.run(progress)? {
        Checked::Drawn(drawn) => Ok(*drawn),
        _ => Err(Error::Internal("a wave's shard drew nothing".into())),
    }
}
