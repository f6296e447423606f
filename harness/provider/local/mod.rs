//! The `local` provider: a GGUF model run in-process on the CPU, so suites run with a real model
//! and no keys, servers or network.
//!
//! The weights are loaded once per process and shared; each call gets its own KV cache and one
//! thread (one thread per sequence measured fastest on small machines), and the runner gives the
//! provider as many concurrent calls as there are cores.

mod fetch;
#[cfg(feature = "local-model")]
mod model;
#[cfg(not(feature = "local-model"))]
#[path = "absent.rs"]
mod model;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub(crate) use fetch::{DEFAULT_MODEL_BYTES, DEFAULT_MODEL_FILE, default_model_path};
pub use fetch::{fetch, model_pin};

use crate::config::Price;
use crate::provider::api::Provider;
use crate::provider::call::{BoxFuture, Completion, FinishReason, ProviderError, Request};
use model::Model;

/// A model run in this process. The weights load on the first call that needs them, once per
/// process, so a run answered entirely from the cache never loads them.
pub struct Local {
    path: PathBuf,
    fingerprint: String,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Models loaded so far in this process, by canonical path.
fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<Model>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Model>>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// The model at `path`, loading it if this process has not yet.
fn shared_model(path: &Path) -> Result<Arc<Model>, String> {
    let mut cache = loaded()
        .lock()
        .map_err(|_| "the model cache is poisoned".to_string())?;
    if let Some(model) = cache.get(path) {
        return Ok(model.clone());
    }
    let model = Arc::new(Model::load(path)?);
    cache.insert(path.to_path_buf(), model.clone());
    Ok(model)
}

impl Local {
    /// Opens the GGUF model at `path`, checking its metadata (architecture, tokenizer, chat
    /// template) now and loading the weights on first use.
    pub fn open(path: &Path) -> Result<Self, String> {
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("cannot open the model {}: {e}", path.display()))?;
        Model::check(&canonical)?;
        let size = std::fs::metadata(&canonical)
            .map(|m| m.len())
            .unwrap_or_default();
        let name = canonical
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        Ok(Self {
            path: canonical,
            fingerprint: format!("local:{name}:{size}"),
        })
    }

    /// The default model at `path` as it will be once fetched, for planning a run without
    /// touching it (`check --dry-run`): its identity is known, its weights are not there.
    pub fn unfetched(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            fingerprint: format!("local:{DEFAULT_MODEL_FILE}:{DEFAULT_MODEL_BYTES}"),
        }
    }

    fn model(&self) -> Result<Arc<Model>, String> {
        shared_model(&self.path)
    }

    /// The tokens `text` splits into, as vocabulary strings (byte-level: `Ġ` marks a space).
    pub fn tokenize(&self, text: &str) -> Result<Vec<String>, String> {
        self.model()?.tokenize(text)
    }

    /// Renders `messages` with the model's chat template (what the model actually reads).
    pub fn prompt(&self, messages: &[crate::artifact::Message]) -> Result<String, String> {
        self.model()?.prompt(messages)
    }
}

impl Provider for Local {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn price(&self) -> Option<Price> {
        Some(Price {
            input_per_mtok: 0.0,
            output_per_mtok: 0.0,
        })
    }

    /// Greedy decoding at temperature 0, one thread per sequence: the same request gives the
    /// same tokens every time (the test `local_model` repeats calls and compares them byte for
    /// byte). Above 0 each sample draws its own seeded tokens.
    fn deterministic(&self, params: &crate::config::EffectiveParams) -> bool {
        params.temperature == 0.0
    }

    fn default_concurrency(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        let request = request.clone();
        let tools = request.tools.clone();
        let path = self.path.clone();
        Box::pin(async move {
            let generated = tokio::task::spawn_blocking(move || {
                let model = shared_model(&path)?;
                // One thread per sequence: nested parallel work inside candle stays on it.
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .map_err(|e| e.to_string())?;
                // The model has no tool API: tools are offered and called as text.
                let messages = super::text_tools::with_offer(&request.messages, &request.tools);
                pool.install(|| model.generate(&messages, &request.params, request.sample))
            })
            .await
            .map_err(|e| ProviderError::permanent(format!("generation panicked: {e}")))?
            .map_err(ProviderError::permanent)?;
            let tool_calls = super::text_tools::calls(&generated.text, &tools);
            Ok(Completion {
                finish: if tool_calls.is_empty() {
                    generated.finish
                } else {
                    FinishReason::ToolCalls
                },
                text: generated.text,
                usage: generated.usage,
                fingerprint: None,
                tool_calls,
            })
        })
    }
}
