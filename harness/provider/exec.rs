//! The `exec` provider: runs a command per call, with the request as JSON on stdin.
//!
//! The command prints either plain text (the reply) or a JSON object
//! `{"text": "...", "usage": {"input_tokens": n, "output_tokens": m}, "tool_calls": [...]}` on
//! stdout, where each tool call is `{"name": "...", "arguments": {...}}` (arguments as an
//! object or as the string the model wrote; `id` optional). The request's `tools`, when the
//! prompt has any, are in the JSON on stdin; in a conversation the history's calls and results
//! are Dotprompt's `{"toolRequest": {name, ref, input}}` and `{"toolResponse": {name, ref,
//! output}}` parts of its `model` and `tool` messages. A non-zero exit status is a failed call,
//! with the end of stderr as its message. A JSON object is the envelope when it has any of the
//! envelope's keys, and plain text otherwise (a judge's `{"label": ...}`); output that starts
//! with `{` but is not valid JSON fails the call, so tool calls never vanish into text.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// A command's reply may be as long as an HTTP reply; a longer one fails the call.
use super::http::MAX_REPLY_BYTES;
use crate::config::{EffectiveParams, Price};
use crate::provider::api::Provider;
use crate::provider::call::{
    BoxFuture, Completion, FinishReason, ProviderError, Request, ToolCall, Usage,
};

/// Runs a local command for each call.
#[derive(Debug)]
pub(crate) struct Exec {
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
    #[serde(default)]
    text: String,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    finish: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ReplyToolCall>,
}

/// A tool call as a command writes it.
#[derive(Deserialize)]
struct ReplyToolCall {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    arguments: serde_json::Value,
}

impl From<ReplyToolCall> for ToolCall {
    fn from(call: ReplyToolCall) -> Self {
        let arguments = match call.arguments {
            serde_json::Value::String(written) => written,
            serde_json::Value::Null => String::new(),
            value => value.to_string(),
        };
        ToolCall {
            id: call.id,
            name: call.name,
            arguments,
        }
    }
}

/// The digest of the project files `command` names (a script, the program itself), read
/// through no symlink; `None` when it names none.
fn scripts_digest(dir: &std::path::Path, command: &[String]) -> Option<String> {
    let contents: Vec<Vec<u8>> = command
        .iter()
        .map(std::path::Path::new)
        .filter(|word| {
            word.is_relative()
                && !word
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
        })
        .map(|word| dir.join(word))
        .filter(|path| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()))
        .filter_map(|path| std::fs::read(path).ok())
        .collect();
    (!contents.is_empty()).then(|| {
        let digest = crate::ids::ContentHash::of_parts(contents.iter().map(Vec::as_slice));
        digest.as_str()[..12].to_string()
    })
}

impl Exec {
    /// A provider running `command` (program, then arguments) in `dir`, with the basic
    /// environment plus the variables `allowed` names, read from `environment`;
    /// `deterministic` when the config declares that the command answers a request the same
    /// way every time.
    pub(crate) fn new(
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
        // The variables it may see are part of its identity (their names, never their values),
        // and so are the project files it runs: an edited script is another provider, whose
        // replies the cache does not have.
        let mut fingerprint = format!("exec:{}", command.join(" "));
        if !allowed.is_empty() {
            fingerprint.push_str(&format!(" env={}", allowed.join(",")));
        }
        if let Some(scripts) = scripts_digest(&dir, &command) {
            fingerprint.push_str(&format!(" scripts={scripts}"));
        }
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
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group, so everything it starts is stopped with it.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| ProviderError::permanent(format!("cannot start `{program}`: {e}")))?;
        let group = ProcessGroup(child.id());
        let input =
            serde_json::to_vec(request).map_err(|e| ProviderError::permanent(e.to_string()))?;
        let stdin = child.stdin.take();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // A command that exits without reading its input is allowed; its output still
                // counts.
                let _ = stdin.write_all(&input).await;
            }
        };
        let mut stdout = tokio::spawn(read_capped(
            child.stdout.take(),
            MAX_REPLY_BYTES,
            Keep::Start,
        ));
        let mut stderr = tokio::spawn(read_capped(
            child.stderr.take(),
            MAX_STDERR_BYTES,
            Keep::End,
        ));
        let ((), status) = tokio::join!(feed, child.wait());
        let status =
            status.map_err(|e| ProviderError::transient(format!("`{program}` failed: {e}")))?;
        // A process the command left running may hold its output open: its reply is what it
        // wrote before it exited, and whatever it left behind is stopped.
        let (out, err) = match tokio::time::timeout(AFTER_EXIT_GRACE, async {
            tokio::join!(&mut stdout, &mut stderr)
        })
        .await
        {
            Ok(both) => both,
            Err(_) => {
                drop(group);
                tokio::join!(stdout, stderr)
            }
        };
        let (stdout, stdout_len) = out.unwrap_or_default();
        let (stderr, _) = err.unwrap_or_default();
        if !status.success() {
            let stderr = String::from_utf8_lossy(&stderr);
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
                "`{program}` exited with {status}: {tail}"
            )));
        }
        if stdout_len > MAX_REPLY_BYTES {
            return Err(ProviderError::permanent(format!(
                "`{program}` wrote {stdout_len} bytes, more than the {} MiB a reply may have",
                MAX_REPLY_BYTES >> 20
            )));
        }
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        read_reply(&stdout, request)
            .map_err(|e| ProviderError::permanent(format!("`{program}` printed {e}")))
    }
}

/// The keys of the reply envelope: an object with any of them at its top level is the
/// envelope, and must be a valid one.
const ENVELOPE_KEYS: [&str; 4] = ["text", "usage", "finish", "tool_calls"];

/// Reads what a command printed: the envelope (a JSON object with any of the envelope's keys),
/// or plain text (anything else, including a JSON object of other keys, such as a judge's
/// verdict). Output that starts like a JSON object must be valid JSON: structured output that
/// cannot be read (malformed, or nested past the parser's depth) fails the call, rather than
/// turn into plain text whose tool calls vanish.
fn read_reply(stdout: &str, request: &Request) -> Result<Completion, String> {
    let trimmed = stdout.trim();
    let plain = || {
        let text = stdout.strip_suffix('\n').unwrap_or(stdout).to_string();
        Completion {
            usage: Usage::from_reply((None, None), request, &text),
            text,
            finish: FinishReason::Stop,
            fingerprint: None,
            tool_calls: Vec::new(),
        }
    };
    if !trimmed.starts_with('{') {
        return Ok(plain());
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| {
        format!("output that starts like a JSON object but is not valid JSON ({e}); print the reply envelope as valid JSON, or plain text as `{{\"text\": ...}}`")
    })?;
    let is_envelope = value
        .as_object()
        .is_some_and(|object| ENVELOPE_KEYS.iter().any(|key| object.contains_key(*key)));
    if !is_envelope {
        return Ok(plain());
    }
    let reply: Reply = serde_json::from_value(value)
        .map_err(|e| format!("a reply envelope that does not fit its shape: {e}"))?;
    Ok(Completion {
        usage: reply
            .usage
            .unwrap_or_else(|| Usage::from_reply((None, None), request, &reply.text)),
        finish: reply
            .finish
            .as_deref()
            .map_or(FinishReason::Stop, FinishReason::from_provider),
        text: reply.text,
        fingerprint: None,
        tool_calls: reply.tool_calls.into_iter().map(ToolCall::from).collect(),
    })
}

/// The end of stderr kept for a failed call's message.
const MAX_STDERR_BYTES: usize = 64 << 10;

/// How long a command's output may stay open after the command exited.
const AFTER_EXIT_GRACE: Duration = Duration::from_millis(500);

/// Which part of an output longer than its cap is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The beginning (a reply: longer than the cap fails the call anyway).
    Start,
    /// The end (stderr: a failure's message is in its last lines).
    End,
}

/// Reads `pipe` to its end and returns `cap` bytes of it (its start or its end, as `keep`
/// says) and its full length; reading goes on past the cap so the command never blocks on a
/// full pipe.
async fn read_capped(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    cap: usize,
    keep: Keep,
) -> (Vec<u8>, usize) {
    let Some(mut pipe) = pipe else {
        return (Vec::new(), 0);
    };
    let mut kept = Vec::new();
    let mut total = 0;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                match keep {
                    Keep::Start => {
                        let room = cap.saturating_sub(kept.len()).min(n);
                        kept.extend_from_slice(&chunk[..room]);
                    }
                    Keep::End => {
                        kept.extend_from_slice(&chunk[..n]);
                        let over = kept.len().saturating_sub(cap);
                        kept.drain(..over);
                    }
                }
            }
        }
    }
    (kept, total)
}

/// A command's process group, stopped when the call ends (done, failed or timed out), so no
/// process it started outlives the call.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self
            .0
            .and_then(|id| rustix::process::Pid::from_raw(id as i32))
        {
            // The group may be gone already; that is the usual case.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
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

    fn deterministic(&self, _params: &EffectiveParams) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_capped_read_keeps_the_start_of_a_reply_and_the_end_of_stderr() {
        let text: &[u8] = b"first line\nlast line";
        assert_eq!(
            read_capped(Some(text), 5, Keep::Start).await,
            (b"first".to_vec(), text.len())
        );
        assert_eq!(
            read_capped(Some(text), 9, Keep::End).await,
            (b"last line".to_vec(), text.len())
        );
        assert_eq!(read_capped(Some(text), 100, Keep::End).await.0, text);
    }
}
