//! What the HTTP providers share: the client, sending a JSON request, and turning a failed
//! response into a retryable or permanent [`ProviderError`] from its status, headers and body.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ProviderError;

/// Messages as `{role, content}` objects with Dotprompt's `model` role sent as `assistant`, the
/// shape OpenAI-compatible servers and Ollama read.
pub(super) fn chat_messages(messages: &[crate::artifact::Message]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| {
            let role = if m.role == "model" {
                "assistant"
            } else {
                m.role.as_str()
            };
            serde_json::json!({ "role": role, "content": m.text_content() })
        })
        .collect()
}

/// A client with a connect timeout and an overall per-call timeout; neither can be unbounded.
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Sends `request` and decodes a successful JSON body as `T`.
pub(super) async fn send_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, ProviderError> {
    let response = request
        .send()
        .await
        .map_err(|e| ProviderError::transient(describe(e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .map_err(|e| ProviderError::transient(describe(e)))?;
    if !status.is_success() {
        return Err(failure(status.as_u16(), &headers, &text));
    }
    serde_json::from_str(&text).map_err(|e| {
        ProviderError::transient(format!(
            "unreadable response body ({e}): {}",
            snippet(&text)
        ))
    })
}

/// Classifies a failed response. 408, 409, 429 and 5xx (529 included) are transient unless the
/// body says the quota or spend limit is exhausted; `x-should-retry` overrides the status.
fn failure(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = format!(
        "HTTP {status}: {}",
        parsed
            .as_ref()
            .and_then(error_message)
            .unwrap_or_else(|| snippet(body))
    );
    let exhausted = parsed.as_ref().is_some_and(|v| {
        ["/error/code", "/error/type", "/error/details/error_code"]
            .iter()
            .filter_map(|p| v.pointer(p).and_then(Value::as_str))
            .any(|code| code == "insufficient_quota" || code == "enforced_spend_limit_reached")
    });
    let by_status = matches!(status, 408 | 409 | 429) || status >= 500;
    let retry = match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => true,
        Some("false") => false,
        _ => by_status && !exhausted,
    };
    let mut error = if retry {
        ProviderError::transient(message)
    } else {
        ProviderError::permanent(message)
    };
    error.retry_after_ms = retry_after(headers);
    error
}

/// Describes a transport error without the URL's query or any header.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "request timed out".into()
    } else if e.is_connect() {
        "cannot connect to the server".into()
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

/// `retry-after-ms`, else `retry-after` in seconds, as milliseconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(ms.max(0.0) as u64);
    }
    get("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| (s.max(0.0) * 1000.0) as u64)
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
