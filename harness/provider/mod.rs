//! Providers: the one trait every model backend implements, and the built-in backends.
//!
//! This is the only module that talks to models (and the only one that touches reqwest). A
//! provider turns a [`Request`] into a [`Completion`] or a [`ProviderError`]; retrying,
//! concurrency limits and recording belong to the runner.

mod api;
pub(crate) mod batch;
mod call;
pub(crate) mod cassette;
mod echo;
mod exec;
mod http;
pub(crate) mod local;
mod replay;
mod text_tools;
pub(crate) mod wire;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::{EffectiveParams, Price, ProviderConfig, ProviderKind};
use crate::errors::{Error, Result};

pub use api::Provider;
pub(crate) use call::BoxFuture;
pub use call::{Completion, FinishReason, Request};
pub(crate) use call::{ProviderError, Retry, ToolCall, Usage};
pub(crate) use call::{approximate_tokens, cost};
pub(crate) use echo::Echo;
pub(crate) use exec::Exec;
pub(crate) use http::Endpoint;
pub use local::Local;
pub(crate) use replay::Replay;

/// Builds the provider named `name` from its config.
///
/// `root` is the project root (exec commands and model paths are relative to it), `model_dir`
/// holds the default local model, and `env` supplies the API key variables
/// the config names. Keys are read here and held only inside the provider.
pub(crate) fn build(
    name: &str,
    config: &ProviderConfig,
    root: &Path,
    model_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Arc<dyn Provider>> {
    let timeouts = config.timeouts();
    let setup = |message: String| Error::Provider {
        provider: name.to_string(),
        message,
    };
    let provider: Arc<dyn Provider> = match config.kind {
        ProviderKind::Echo => Arc::new(Echo::new()),
        ProviderKind::Local => {
            let path = match &config.model_path {
                Some(path) => root.join(path),
                None => local::default_model_path(model_dir),
            };
            if !path.is_file() {
                return Err(setup(format!(
                    "model file {} does not exist; run `promptgate model fetch`, or set `model_path`",
                    path.display()
                )));
            }
            Arc::new(Local::open(&path).map_err(setup)?)
        }
        ProviderKind::Exec => Arc::new(Exec::new(
            config.command.clone(),
            root.to_path_buf(),
            (timeouts.call, config.price, config.deterministic),
            &config.env,
            env,
        )),
        ProviderKind::Openai => http_provider::<wire::OpenAi>(config, env).map_err(setup)?,
        ProviderKind::Anthropic => http_provider::<wire::Anthropic>(config, env).map_err(setup)?,
        ProviderKind::Ollama => http_provider::<wire::Ollama>(config, env).map_err(setup)?,
    };
    Ok(Arc::new(Named {
        name: name.to_string(),
        inner: provider,
    }))
}

/// The provider of an HTTP API in the wire format `W`.
fn http_provider<W: wire::WireFormat>(
    config: &ProviderConfig,
    env: &BTreeMap<String, String>,
) -> std::result::Result<Arc<dyn Provider>, String> {
    let (model, base_url, api_key) = endpoint(config, W::DEFAULT_BASE_URL, env)?;
    let endpoint = Endpoint::new(base_url, model, api_key, config.timeouts(), config.stream);
    Ok(Arc::new(wire::Http::<W>::new(
        endpoint,
        config.price,
        config.batch,
    )?))
}

/// A provider whose failed calls say which configured provider failed (`provider `gpt`: …`),
/// so an error in a report or the terminal points at the config entry to fix.
struct Named {
    name: String,
    inner: Arc<dyn Provider>,
}

impl Provider for Named {
    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }

    fn lane_key(&self) -> String {
        self.inner.lane_key()
    }

    fn price(&self) -> Option<Price> {
        self.inner.price()
    }

    fn cacheable(&self) -> bool {
        self.inner.cacheable()
    }

    fn deterministic(&self, params: &EffectiveParams) -> bool {
        self.inner.deterministic(params)
    }

    fn default_concurrency(&self) -> usize {
        self.inner.default_concurrency()
    }

    fn batch(&self) -> Option<&dyn batch::Batch> {
        self.inner.batch()
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            self.inner.complete(request).await.map_err(|mut e| {
                e.message = format!("provider `{}`: {}", self.name, e.message);
                e
            })
        })
    }
}

/// The model, base URL and API key (read from the variable `api_key_env` names) of an HTTP
/// provider.
fn endpoint(
    config: &ProviderConfig,
    default_base_url: &str,
    env: &BTreeMap<String, String>,
) -> Result<(String, String, Option<String>), String> {
    let model = config.model.clone().ok_or("no `model` configured")?;
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| default_base_url.to_string());
    let api_key =
        match &config.api_key_env {
            Some(var) => Some(env.get(var).cloned().filter(|k| !k.is_empty()).ok_or_else(
                || format!("the environment variable `{var}` (api_key_env) is not set"),
            )?),
            None => None,
        };
    Ok((model, base_url, api_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Message;

    #[test]
    fn an_estimate_counts_the_tools_offered_and_reported_counts_win() {
        let mut request = Request {
            messages: vec![Message::text("user", "Where is my order A1001?")],
            params: crate::config::Params::default().effective(),
            sample: 0,
            tools: Vec::new(),
            reply_schema: None,
        };
        let plain = Usage::from_reply((None, None), &request, "It shipped.");
        assert!(plain.estimated);
        request.tools.push(crate::artifact::ToolDef {
            name: "lookup_order".into(),
            description: Some("Find an order by its id and return its status.".into()),
            input_schema: serde_json::json!({ "type": "object", "properties": { "order_id": { "type": "string" } } }),
        });
        let with_tools = Usage::from_reply((None, None), &request, "It shipped.");
        assert!(
            with_tools.input_tokens > plain.input_tokens + 10,
            "{with_tools:?}"
        );
        assert_eq!(with_tools.output_tokens, plain.output_tokens);
        let reported = Usage::from_reply((Some(7), Some(3)), &request, "It shipped.");
        assert_eq!((reported.input_tokens, reported.output_tokens), (7, 3));
        assert!(!reported.estimated);
    }
}
