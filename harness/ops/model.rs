//! `model fetch`: the bundled model downloaded and verified against the hash it is pinned by.

use std::path::PathBuf;

use crate::errors::{Error, Result};
use crate::pipeline::project::{Env, model_dir};

/// Downloads and verifies the default local model (`promptgate model fetch`).
pub fn fetch_model(env: &Env, notify: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    crate::provider::local::fetch(&model_dir(env), notify).map_err(|message| Error::Provider {
        provider: crate::config::LOCAL.into(),
        message,
    })
}
