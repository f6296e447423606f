//! `rollback`: a label moved back to an earlier promoted version, at once and without a gate.

use std::path::Path;

use crate::errors::{Error, Result};
use crate::release::labels::{RollbackOptions, roll_back};
use crate::store::LabelEvent;

/// Moves `name@label` back to an earlier promoted version, at once and without a gate, and
/// records who, when and why.
pub fn rollback(root: &Path, options: &RollbackOptions) -> Result<LabelEvent> {
    roll_back(root, options, None)?
        .ok_or_else(|| Error::Internal("an unguarded rollback moved nothing".into()))
}
