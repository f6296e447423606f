//! The mock's batch APIs, in the shapes of the providers' documentation: OpenAI's Batch API
//! (a JSONL file uploaded as multipart form data to `/v1/files`, a batch created on it at
//! `/v1/batches`, polled there, its output and error files read from
//! `/v1/files/{id}/content`) and Anthropic's Message Batches (`/v1/messages/batches`, polled
//! there, results as JSONL from `.../results`).
//!
//! A batch runs for one poll, then ends, unless batches are held. Each request is answered as
//! the direct endpoint would (the last message shouted), except for two markers:
//! `[batch-expire]` (the request did not run before the batch expired) and `[batch-refuse]`
//! (an invalid request inside the batch). A batch with more requests than the limit is refused
//! (OpenAI: the batch fails validation; Anthropic: a 400), as the real APIs refuse one over
//! theirs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::mock::{last_text, shout};

/// What the batch APIs hold.
#[derive(Default)]
pub(crate) struct Batches {
    files: Mutex<HashMap<String, String>>,
    batches: Mutex<Vec<MockBatch>>,
    /// While set, every batch stays in progress.
    pub(crate) hold: AtomicBool,
    /// The most requests a batch may hold (0: no limit).
    pub(crate) limit: AtomicUsize,
    /// Polls of any batch so far.
    pub(crate) polls: AtomicUsize,
}

/// A batch as the mock keeps it.
#[derive(Clone)]
pub(crate) struct MockBatch {
    pub(crate) id: String,
    anthropic: bool,
    /// Each request's custom id and body.
    pub(crate) items: Vec<(String, Value)>,
    polls: usize,
    refused: Option<String>,
}

impl Batches {
    /// Every batch created so far, in order.
    pub(crate) fn all(&self) -> Vec<MockBatch> {
        self.batches.lock().unwrap().clone()
    }
}

/// The routes, for the mock's router.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(batches: Arc<Batches>) -> axum::Router<S> {
    axum::Router::new()
        .route("/v1/files", post(upload))
        .route("/v1/files/{id}/content", get(file_content))
        .route("/v1/batches", post(create_openai))
        .route("/v1/batches/{id}", get(poll_openai))
        .route("/v1/messages/batches", post(create_anthropic))
        .route("/v1/messages/batches/{id}", get(poll_anthropic))
        .route("/v1/messages/batches/{id}/results", get(results_anthropic))
        .with_state(batches)
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "message": message, "type": "invalid_request_error" } })),
    )
        .into_response()
}

/// `multipart/form-data` with a `purpose` of `batch` and a `file`.
async fn upload(State(b): State<Arc<Batches>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return error(StatusCode::BAD_REQUEST, "not multipart/form-data");
    };
    let text = String::from_utf8_lossy(&body);
    let (mut purpose, mut file) = (None, None);
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content).to_string();
        if head.contains("name=\"purpose\"") {
            purpose = Some(content);
        } else if head.contains("name=\"file\"") {
            file = Some(content);
        }
    }
    let (Some(purpose), Some(file)) = (purpose, file) else {
        return error(StatusCode::BAD_REQUEST, "a purpose and a file are required");
    };
    if purpose != "batch" {
        return error(StatusCode::BAD_REQUEST, "purpose must be batch");
    }
    let mut files = b.files.lock().unwrap();
    let id = format!("file-{}", files.len() + 1);
    let bytes = file.len();
    files.insert(id.clone(), file);
    Json(json!({ "id": id, "object": "file", "bytes": bytes, "purpose": "batch" })).into_response()
}

async fn file_content(State(b): State<Arc<Batches>>, Path(id): Path<String>) -> Response {
    match b.files.lock().unwrap().get(&id) {
        Some(content) => content.clone().into_response(),
        None => error(StatusCode::NOT_FOUND, "no such file"),
    }
}

/// Why a batch of these items is refused, if it is.
fn refusal(b: &Batches, items: &[(String, Value)]) -> Option<String> {
    let limit = b.limit.load(Ordering::SeqCst);
    if limit > 0 && items.len() > limit {
        return Some(format!(
            "the batch has {} requests, more than {limit}",
            items.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .find(|(id, _)| !seen.insert(id.clone()))
        .map(|(id, _)| format!("custom_id {id} appears twice"))
}

async fn create_openai(State(b): State<Arc<Batches>>, Json(body): Json<Value>) -> Response {
    let Some(file) = body["input_file_id"]
        .as_str()
        .and_then(|id| b.files.lock().unwrap().get(id).cloned())
    else {
        return error(StatusCode::NOT_FOUND, "no such input file");
    };
    if body["endpoint"] != "/v1/chat/completions" || body["completion_window"] != "24h" {
        return error(StatusCode::BAD_REQUEST, "unsupported endpoint or window");
    }
    let mut items = Vec::new();
    for line in file.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return error(StatusCode::BAD_REQUEST, "a line of the file is not JSON");
        };
        if v["method"] != "POST" || v["url"] != "/v1/chat/completions" {
            return error(
                StatusCode::BAD_REQUEST,
                "each line must POST /v1/chat/completions",
            );
        }
        items.push((
            v["custom_id"].as_str().unwrap_or_default().to_string(),
            v["body"].clone(),
        ));
    }
    let refused = refusal(&b, &items);
    let mut batches = b.batches.lock().unwrap();
    let id = format!("batch_{}", batches.len() + 1);
    let total = items.len();
    batches.push(MockBatch {
        id: id.clone(),
        anthropic: false,
        items,
        polls: 0,
        refused,
    });
    Json(json!({ "id": id, "object": "batch", "endpoint": "/v1/chat/completions", "status": "validating", "request_counts": { "total": total, "completed": 0, "failed": 0 } }))
        .into_response()
}

/// Polls `id`: whether it has ended (it ends on its second poll unless batches are held).
fn polled(b: &Batches, id: &str) -> Option<(MockBatch, bool)> {
    let mut batches = b.batches.lock().unwrap();
    let batch = batches.iter_mut().find(|x| x.id == id)?;
    batch.polls += 1;
    b.polls.fetch_add(1, Ordering::SeqCst);
    let ended = batch.polls >= 2 && !b.hold.load(Ordering::SeqCst);
    Some((batch.clone(), ended))
}

/// What the batch says for one request: `Ok(reply)`, or `Err(true)` expired, `Err(false)`
/// refused.
fn answer(body: &Value) -> Result<String, bool> {
    let last = last_text(body);
    if last.contains("[batch-expire]") {
        return Err(true);
    }
    if last.contains("[batch-refuse]") {
        return Err(false);
    }
    Ok(shout(&last))
}

async fn poll_openai(State(b): State<Arc<Batches>>, Path(id): Path<String>) -> Response {
    let Some((batch, ended)) = polled(&b, &id) else {
        return error(StatusCode::NOT_FOUND, "no such batch");
    };
    let total = batch.items.len();
    if let Some(reason) = &batch.refused {
        return Json(json!({ "id": id, "object": "batch", "status": "failed", "errors": { "object": "list", "data": [{ "code": "too_many_requests_in_batch", "message": reason, "line": null }] }, "request_counts": { "total": 0, "completed": 0, "failed": 0 } })).into_response();
    }
    if !ended {
        return Json(json!({ "id": id, "object": "batch", "status": "in_progress", "output_file_id": null, "error_file_id": null, "request_counts": { "total": total, "completed": 0, "failed": 0 } })).into_response();
    }
    let (mut output, mut errors) = (Vec::new(), Vec::new());
    for (n, (custom_id, body)) in batch.items.iter().enumerate() {
        match answer(body) {
            Ok(text) => output.push(json!({
                "id": format!("batch_req_{n}"), "custom_id": custom_id,
                "response": { "status_code": 200, "request_id": format!("req_{n}"), "body": {
                    "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                    "system_fingerprint": "fp_mock",
                    "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
                    "usage": { "prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14 }
                } },
                "error": null
            })),
            Err(true) => errors.push(json!({
                "id": format!("batch_req_{n}"), "custom_id": custom_id, "response": null,
                "error": { "code": "batch_expired", "message": "This request could not be executed before the completion window expired." }
            })),
            Err(false) => errors.push(json!({
                "id": format!("batch_req_{n}"), "custom_id": custom_id,
                "response": { "status_code": 400, "request_id": format!("req_{n}"), "body": { "error": { "message": "refused in the batch", "type": "invalid_request_error", "code": null } } },
                "error": null
            })),
        }
    }
    let mut files = b.files.lock().unwrap();
    let mut store = |name: String, lines: &[Value]| -> Value {
        if lines.is_empty() {
            return Value::Null;
        }
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        files.insert(name.clone(), text.join("\n") + "\n");
        json!(name)
    };
    let output_file = store(format!("file-{id}-output"), &output);
    let error_file = store(format!("file-{id}-errors"), &errors);
    Json(json!({
        "id": id, "object": "batch", "status": "completed",
        "output_file_id": output_file, "error_file_id": error_file,
        "request_counts": { "total": total, "completed": output.len(), "failed": errors.len() }
    }))
    .into_response()
}

async fn create_anthropic(State(b): State<Arc<Batches>>, Json(body): Json<Value>) -> Response {
    let Some(requests) = body["requests"].as_array() else {
        return error(StatusCode::BAD_REQUEST, "requests: an array is required");
    };
    let items: Vec<(String, Value)> = requests
        .iter()
        .map(|r| {
            (
                r["custom_id"].as_str().unwrap_or_default().to_string(),
                r["params"].clone(),
            )
        })
        .collect();
    let valid_id = |id: &str| {
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    };
    if let Some(reason) = refusal(&b, &items) {
        return error(StatusCode::BAD_REQUEST, &reason);
    }
    if items.iter().any(|(id, _)| !valid_id(id)) {
        return error(
            StatusCode::BAD_REQUEST,
            "custom_id must match ^[a-zA-Z0-9_-]{1,64}$",
        );
    }
    let mut batches = b.batches.lock().unwrap();
    let id = format!("msgbatch_{}", batches.len() + 1);
    let total = items.len();
    batches.push(MockBatch {
        id: id.clone(),
        anthropic: true,
        items,
        polls: 0,
        refused: None,
    });
    Json(anthropic_batch(&id, false, total)).into_response()
}

fn anthropic_batch(id: &str, ended: bool, total: usize) -> Value {
    let (processing, succeeded) = if ended { (0, total) } else { (total, 0) };
    json!({
        "id": id, "type": "message_batch",
        "processing_status": if ended { "ended" } else { "in_progress" },
        "request_counts": { "processing": processing, "succeeded": succeeded, "errored": 0, "canceled": 0, "expired": 0 },
        "ended_at": null, "created_at": "2026-11-30T00:00:00Z", "expires_at": "2026-12-01T00:00:00Z",
        "cancel_initiated_at": null,
        // A results URL on another host: the client must not follow it with its key.
        "results_url": if ended { json!(format!("https://elsewhere.invalid/v1/messages/batches/{id}/results")) } else { Value::Null }
    })
}

async fn poll_anthropic(State(b): State<Arc<Batches>>, Path(id): Path<String>) -> Response {
    match polled(&b, &id) {
        Some((batch, ended)) if batch.anthropic => {
            Json(anthropic_batch(&id, ended, batch.items.len())).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "no such batch"),
    }
}

async fn results_anthropic(State(b): State<Arc<Batches>>, Path(id): Path<String>) -> Response {
    let batches = b.batches.lock().unwrap();
    let Some(batch) = batches.iter().find(|x| x.id == id && x.anthropic) else {
        return error(StatusCode::NOT_FOUND, "no such batch");
    };
    let lines: Vec<String> = batch
        .items
        .iter()
        .map(|(custom_id, body)| {
            let result = match answer(body) {
                Ok(text) => json!({ "type": "succeeded", "message": {
                    "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                    "content": [{ "type": "text", "text": text }],
                    "stop_reason": "end_turn", "stop_sequence": null,
                    "usage": { "input_tokens": 9, "output_tokens": 4 }
                } }),
                Err(true) => json!({ "type": "expired" }),
                Err(false) => json!({ "type": "errored", "error": { "type": "error", "error": { "type": "invalid_request_error", "message": "refused in the batch" } } }),
            };
            json!({ "custom_id": custom_id, "result": result }).to_string()
        })
        .collect();
    (lines.join("\n") + "\n").into_response()
}
