//! What the HTTP providers share: the client, sending a JSON request, and turning a failed
//! response into a retryable or permanent [`ProviderError`] from its status, headers and body.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Timeouts;
use crate::provider::call::ProviderError;

/// Where and how an HTTP provider calls: base URL, model, key, timeouts and streaming.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// Base URL of the API.
    pub base_url: String,
    /// The model name sent with each request.
    pub model: String,
    /// The API key, when the config names a variable for it; never printed.
    api_key: Option<String>,
    /// The timeouts of one attempt.
    pub timeouts: Timeouts,
    /// Whether to stream responses.
    pub stream: bool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key is deliberately absent.
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint; `base_url` loses any trailing slash.
    pub(crate) fn new(
        base_url: String,
        model: String,
        api_key: Option<String>,
        timeouts: Timeouts,
        stream: bool,
    ) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            model,
            api_key,
            timeouts,
            stream,
        }
    }

    /// The base URL as records show it: any `user:password@` in it removed, so credentials
    /// never reach results, caches, cassettes or reports.
    pub(super) fn shown_url(&self) -> String {
        let Some((scheme, rest)) = self.base_url.split_once("://") else {
            return self.base_url.clone();
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        format!("{scheme}://{host}{path}")
    }

    /// The API key, for the request header.
    pub(super) fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// A client with the connect and whole-attempt timeouts; neither can be unbounded.
    pub(super) fn client(&self) -> Result<reqwest::Client, String> {
        self.client_for(self.timeouts.call)
    }

    /// A client for a batch API's uploads and downloads, which may carry hundreds of
    /// megabytes: the whole-attempt timeout is at least ten minutes (the first-byte and idle
    /// timeouts still catch a stalled server).
    pub(super) fn transfer_client(&self) -> Result<reqwest::Client, String> {
        self.client_for(self.timeouts.call.max(TRANSFER_TIMEOUT))
    }

    /// A client whose whole attempt may take `total` (the connect timeout still applies).
    fn client_for(&self, total: Duration) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .connect_timeout(self.timeouts.connect.min(self.timeouts.call))
            .timeout(total)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }

    /// `fingerprint` plus a digest of the key, so that two keys for one endpoint get separate
    /// rate limits. Kept in memory only.
    pub(super) fn lane_key(&self, fingerprint: &str) -> String {
        match &self.api_key {
            Some(key) => format!(
                "{fingerprint}#{}",
                &crate::ids::ContentHash::of(key).to_string()[..12]
            ),
            None => fingerprint.to_string(),
        }
    }
}

/// The shortest whole-attempt timeout of a batch upload or download.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// Sends `request` and returns the response once its status says success; a failed status is
/// classified from its headers and body. The first byte must come within `first_byte`.
pub(super) async fn send(
    request: reqwest::RequestBuilder,
    timeouts: Timeouts,
) -> Result<reqwest::Response, ProviderError> {
    let response = tokio::time::timeout(timeouts.first_byte, request.send())
        .await
        .map_err(|_| {
            ProviderError::transient(format!(
                "no response within {} s (first_byte_timeout_ms)",
                timeouts.first_byte.as_secs_f64()
            ))
        })?
        .map_err(|e| ProviderError::transient(describe(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let body = read_body(response, timeouts.idle, MAX_ERROR_BODY_BYTES)
        .await
        .unwrap_or_default();
    Err(failure(status.as_u16(), &headers, &body))
}

/// The largest reply body read, and the longest line of a stream: a hostile or broken server
/// cannot make a run hold more than this per call.
pub(super) const MAX_REPLY_BYTES: usize = 16 << 20;

/// The largest batch result file read (a batch's replies in one JSONL download).
const MAX_BATCH_FILE_BYTES: usize = 1 << 30;

/// The most of an error body read for its message.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// Reads a whole body, allowing at most `idle` between chunks; a body past `limit` bytes is a
/// permanent failure (the same request would get it again), read no further.
async fn read_body(
    mut response: reqwest::Response,
    idle: Duration,
    limit: usize,
) -> Result<String, ProviderError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = next_chunk(&mut response, idle).await? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn too_large(limit: usize) -> ProviderError {
    ProviderError::permanent(format!(
        "the response is larger than {} MiB, more than promptgate reads of one",
        limit >> 20
    ))
}

async fn next_chunk(
    response: &mut reqwest::Response,
    idle: Duration,
) -> Result<Option<bytes::Bytes>, ProviderError> {
    tokio::time::timeout(idle, response.chunk())
        .await
        .map_err(|_| {
            ProviderError::transient(format!(
                "the response stalled for {} s (idle_timeout_ms)",
                idle.as_secs_f64()
            ))
        })?
        .map_err(|e| ProviderError::transient(describe(e)))
}

/// Sends `request` and returns its successful body as text (a batch's JSONL results).
pub(super) async fn send_text(
    request: reqwest::RequestBuilder,
    timeouts: Timeouts,
) -> Result<String, ProviderError> {
    let response = send(request, timeouts).await?;
    read_body(response, timeouts.idle, MAX_BATCH_FILE_BYTES).await
}

/// Sends `request` and decodes a successful JSON body as `T`.
pub(super) async fn send_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    timeouts: Timeouts,
) -> Result<T, ProviderError> {
    let response = send(request, timeouts).await?;
    let text = read_body(response, timeouts.idle, MAX_REPLY_BYTES).await?;
    serde_json::from_str(&text).map_err(|e| {
        ProviderError::transient(format!(
            "unreadable response body ({e}): {}",
            snippet(&text)
        ))
    })
}

/// Sends a streaming `request` and feeds each line of the body to `on_line` as it arrives,
/// allowing at most the idle timeout between chunks; `on_line` returns `true` when the stream
/// is complete. A stream that ends before that is an error (the response was cut off).
pub(super) async fn stream_lines(
    request: reqwest::RequestBuilder,
    timeouts: Timeouts,
    mut on_line: impl FnMut(&str) -> Result<bool, ProviderError>,
) -> Result<(), ProviderError> {
    let mut response = send(request, timeouts).await?;
    let mut pending: Vec<u8> = Vec::new();
    let mut read = 0;
    loop {
        let Some(chunk) = next_chunk(&mut response, timeouts.idle).await? else {
            let rest = String::from_utf8_lossy(&pending).into_owned();
            if !rest.trim().is_empty() && on_line(rest.trim_end_matches('\r'))? {
                return Ok(());
            }
            return Err(ProviderError::transient(
                "the stream ended before the response was complete",
            ));
        };
        read += chunk.len();
        if read > MAX_REPLY_BYTES {
            return Err(too_large(MAX_REPLY_BYTES));
        }
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]);
            if on_line(line.trim_end_matches('\r'))? {
                return Ok(());
            }
        }
    }
}

/// A JSON event from a stream; an unreadable one is a transient error.
pub(super) fn stream_event(data: &str) -> Result<Value, ProviderError> {
    serde_json::from_str(data).map_err(|e| {
        ProviderError::transient(format!("unreadable stream event ({e}): {}", snippet(data)))
    })
}

/// An error event inside an otherwise successful stream (the status was already 200).
pub(super) fn mid_stream_error(value: &Value) -> ProviderError {
    let overloaded = ["/error/type", "/error/code", "/type"]
        .iter()
        .filter_map(|p| value.pointer(p).and_then(Value::as_str))
        .any(|t| t == "overloaded_error" || t == "rate_limit_error" || t == "rate_limit_exceeded");
    let mut error = ProviderError::transient(format!(
        "error in the middle of the stream: {}",
        error_message(value).unwrap_or_else(|| snippet(&value.to_string()))
    ));
    error.rate_limited = overloaded;
    error
}

/// Error codes that no retry can fix.
const PERMANENT_CODES: [&str; 6] = [
    "insufficient_quota",
    "enforced_spend_limit_reached",
    "context_length_exceeded",
    "exceed_context_size_error",
    "model_not_found",
    "invalid_api_key",
];

/// Classifies a failed response. 408, 409, 429 and 5xx (529 included) are transient unless the
/// body says the quota or spend limit is exhausted; `x-should-retry` overrides the status.
pub(super) fn failure(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = format!(
        "HTTP {status}: {}",
        parsed
            .as_ref()
            .and_then(error_message)
            .unwrap_or_else(|| snippet(body))
    );
    // These are permanent whatever the status says (a 429 for an exhausted quota, a 400 or
    // 404 for a context overflow or an unknown model).
    let permanent_code = parsed.as_ref().is_some_and(|v| {
        [
            "/error/code",
            "/error/type",
            "/error/details/error_code",
            "/code",
            "/type",
        ]
        .iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_str))
        .any(|code| PERMANENT_CODES.contains(&code))
    });
    let by_status = matches!(status, 408 | 409 | 429) || status >= 500;
    let retry = match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => true,
        Some("false") => false,
        _ => by_status && !permanent_code,
    };
    let mut error = if retry {
        ProviderError::transient(message)
    } else {
        ProviderError::permanent(message)
    };
    error.retry_after_ms = retry_after(headers);
    error.rate_limited = matches!(status, 429 | 529) && retry;
    error
}

/// Describes a transport error, naming the server (scheme, host, port and path: never the
/// query, credentials or any header).
fn describe(e: reqwest::Error) -> String {
    let server = e.url().map(|url| {
        format!(
            " at {}://{}{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default(),
            url.path()
        )
    });
    let server = server.unwrap_or_default();
    if e.is_timeout() {
        format!("request{server} timed out")
    } else if e.is_connect() {
        format!("cannot connect to the server{server}")
    } else {
        e.without_url().to_string()
    }
}

/// The message of an error body in any of the common shapes (OpenAI and Anthropic
/// `error.message`, Ollama `error`, FastAPI `detail`, plain `message`).
fn error_message(value: &Value) -> Option<String> {
    [
        value.pointer("/error/message"),
        value.pointer("/message"),
        value.pointer("/detail"),
        value.get("error"),
    ]
    .into_iter()
    .flatten()
    .find_map(|v| v.as_str().map(str::to_string))
}

/// The start of a body, for messages.
pub(super) fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

/// `retry-after-ms`, else `retry-after` in seconds or as an HTTP date, as milliseconds from now.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    retry_after_at(headers, chrono::Utc::now())
}

fn retry_after_at(
    headers: &reqwest::header::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<u64> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(ms.max(0.0) as u64);
    }
    let value = get("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return Some((seconds.max(0.0) * 1000.0) as u64);
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .num_milliseconds()
            .max(0) as u64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Retry;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    reqwest::header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn credentials_in_a_base_url_are_never_shown() {
        let endpoint = |url: &str| {
            Endpoint::new(url.into(), "m".into(), None, Timeouts::default(), false).shown_url()
        };
        assert_eq!(
            endpoint("https://user:s3cret@api.example.test/v1/"),
            "https://api.example.test/v1"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8000/v1"),
            "http://127.0.0.1:8000/v1"
        );
        assert_eq!(endpoint("http://a@b@host/x@y"), "http://host/x@y");
    }

    #[test]
    fn statuses_and_bodies_decide_retries() {
        let none = HeaderMap::new();
        for status in [408, 409, 429, 500, 503, 529] {
            assert_eq!(
                failure(status, &none, "{}").retry,
                Retry::Transient,
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 413] {
            assert_eq!(
                failure(status, &none, "{}").retry,
                Retry::Permanent,
                "{status}"
            );
        }
        let quota = r#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}"#;
        let e = failure(429, &none, quota);
        assert_eq!(e.retry, Retry::Permanent);
        assert_eq!(e.message, "HTTP 429: You exceeded your current quota");
        let spend = r#"{"type": "error", "error": {"type": "rate_limit_error", "message": "cap", "details": {"error_code": "enforced_spend_limit_reached"}}}"#;
        assert_eq!(failure(429, &none, spend).retry, Retry::Permanent);
    }

    #[test]
    fn headers_override_and_pace_retries() {
        assert_eq!(
            failure(500, &headers(&[("x-should-retry", "false")]), "").retry,
            Retry::Permanent
        );
        assert_eq!(
            failure(400, &headers(&[("x-should-retry", "true")]), "").retry,
            Retry::Transient
        );
        assert_eq!(
            failure(429, &headers(&[("retry-after", "2")]), "").retry_after_ms,
            Some(2000)
        );
        assert_eq!(
            failure(
                429,
                &headers(&[("retry-after-ms", "250"), ("retry-after", "9")]),
                ""
            )
            .retry_after_ms,
            Some(250)
        );
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2026 07:28:00 GMT")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            retry_after_at(
                &headers(&[("retry-after", "Wed, 21 Oct 2026 07:28:03 GMT")]),
                now
            ),
            Some(3000),
            "an HTTP date"
        );
        assert_eq!(
            retry_after_at(
                &headers(&[("retry-after", "Wed, 21 Oct 2026 07:27:00 GMT")]),
                now
            ),
            Some(0),
            "a date in the past means now"
        );
        assert!(failure(429, &HeaderMap::new(), "{}").rate_limited);
        assert!(!failure(503, &HeaderMap::new(), "{}").rate_limited);
    }

    #[test]
    fn error_bodies_of_every_shape_give_their_message() {
        let none = HeaderMap::new();
        assert_eq!(
            failure(500, &none, r#"{"error": "model 'x' not found"}"#).message,
            "HTTP 500: model 'x' not found"
        );
        assert_eq!(
            failure(422, &none, r#"{"detail": "bad field"}"#).message,
            "HTTP 422: bad field"
        );
        assert_eq!(
            failure(502, &none, "<html>bad gateway</html>").message,
            "HTTP 502: <html>bad gateway</html>"
        );
    }
}
