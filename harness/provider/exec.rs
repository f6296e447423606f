//! The `exec` provider: runs a command per call, with the request as JSON on stdin.
//!
//! The command prints either plain text (the reply) or a JSON object
//! `{"text": "...", "usage": {"input_tokens": n, "output_tokens": m}}` on stdout. A non-zero exit
//! status is a failed call, with the end of stderr as its message.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{
    BoxFuture, Completion, FinishReason, Provider, ProviderError, Request, Usage,
    approximate_tokens,
};
use crate::config::Price;

/// Runs a local command for each call.
#[derive(Debug)]
pub struct Exec {
    command: Vec<String>,
    dir: PathBuf,
    timeout: Duration,
    price: Option<Price>,
    deterministic: bool,
    env: Vec<(String, String)>,
    fingerprint: String,
}

/// Variables every command sees, when they are set: what a program needs to start and find
/// its tools, never a credential.
const BASIC_ENV: [&str; 9] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SYSTEMROOT",
];

#[derive(Deserialize)]
struct Reply {
    text: String,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    finish: Option<String>,
}

impl Exec {
    /// A provider running `command` (program, then arguments) in `dir`, with the basic
    /// environment plus the variables `allowed` names, read from `environment`;
    /// `deterministic` when the config declares that the command answers a request the same
    /// way every time.
    pub fn new(
        command: Vec<String>,
        dir: PathBuf,
        (timeout, price, deterministic): (Duration, Option<Price>, bool),
        allowed: &[String],
        environment: &std::collections::BTreeMap<String, String>,
    ) -> Self {
        let env = BASIC_ENV
            .iter()
            .map(|v| v.to_string())
            .chain(allowed.iter().cloned())
            .filter_map(|name| environment.get(&name).map(|value| (name, value.clone())))
            .collect();
        // The variables it may see are part of its identity (their names, never their values).
        let fingerprint = if allowed.is_empty() {
            format!("exec:{}", command.join(" "))
        } else {
            format!("exec:{} env={}", command.join(" "), allowed.join(","))
        };
        Self {
            command,
            dir,
            timeout,
            price,
            deterministic,
            env,
            fingerprint,
        }
    }

    async fn call(&self, request: &Request) -> Result<Completion, ProviderError> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| ProviderError::permanent("exec provider has an empty command"))?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ProviderError::permanent(format!("cannot start `{program}`: {e}")))?;
        let input =
            serde_json::to_vec(request).map_err(|e| ProviderError::permanent(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading its input is allowed; its output still counts.
            let _ = stdin.write_all(&input).await;
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| ProviderError::transient(format!("`{program}` failed: {e}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: String = stderr
                .trim()
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(ProviderError::transient(format!(
                "`{program}` exited with {}: {tail}",
                output.status
            )));
        }
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let input_tokens = request
            .messages
            .iter()
            .map(|m| approximate_tokens(&m.text_content()))
            .sum();
        match serde_json::from_str::<Reply>(stdout.trim()) {
            Ok(reply) => Ok(Completion {
                usage: reply.usage.unwrap_or(Usage {
                    input_tokens,
                    output_tokens: approximate_tokens(&reply.text),
                }),
                finish: reply
                    .finish
                    .as_deref()
                    .map_or(FinishReason::Stop, FinishReason::from_provider),
                text: reply.text,
                fingerprint: None,
            }),
            Err(_) => {
                let text = stdout.strip_suffix('\n').unwrap_or(&stdout).to_string();
                Ok(Completion {
                    usage: Usage {
                        input_tokens,
                        output_tokens: approximate_tokens(&text),
                    },
                    text,
                    finish: FinishReason::Stop,
                    fingerprint: None,
                })
            }
        }
    }
}

impl Provider for Exec {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn price(&self) -> Option<Price> {
        self.price
    }

    fn deterministic(&self) -> bool {
        self.deterministic
    }

    fn complete<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            tokio::time::timeout(self.timeout, self.call(request))
                .await
                .unwrap_or_else(|_| {
                    Err(ProviderError::transient(format!(
                        "timed out after {:?}",
                        self.timeout
                    )))
                })
        })
    }
}
