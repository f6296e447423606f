//! The bundled model's place in a build without it (`--no-default-features`): every `local`
//! provider says how to get it, and nothing is ever generated.

use std::path::Path;

use crate::artifact::Message;
use crate::config::EffectiveParams;
use crate::provider::call::{FinishReason, Usage};

/// No model can be loaded in this build: the type has no value.
pub(super) enum Model {}

/// One generation's result (never made in this build).
pub(super) struct Generated {
    pub(super) text: String,
    pub(super) finish: FinishReason,
    pub(super) usage: Usage,
}

/// Why `path` cannot be run, in one line with the fix.
fn not_built(path: &Path) -> String {
    format!(
        "cannot run the model {}: this promptgate was built without the bundled model (cargo feature `local-model`, on by default); build it with that feature, or choose another provider",
        path.display()
    )
}

impl Model {
    pub(super) fn check(path: &Path) -> Result<(), String> {
        Err(not_built(path))
    }

    pub(super) fn load(path: &Path) -> Result<Self, String> {
        Err(not_built(path))
    }

    pub(super) fn prompt(&self, _: &[Message]) -> Result<String, String> {
        match *self {}
    }

    pub(super) fn generate(
        &self,
        _: &[Message],
        _: &EffectiveParams,
        _: u32,
    ) -> Result<Generated, String> {
        match *self {}
    }

    pub(super) fn tokenize(&self, _: &str) -> Result<Vec<String>, String> {
        match *self {}
    }
}
