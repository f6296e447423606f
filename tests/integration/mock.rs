//! A mock OpenAI-compatible server on 127.0.0.1 (random port) with scripted failures and a
//! record of every request it received.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the server does with the next requests.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// A normal completion: the last user message, upper-cased.
    Shout,
    /// An HTTP error with an OpenAI-shaped body.
    Status(u16),
    /// A 200 with a body that is not JSON.
    Garbage,
}

#[derive(Default)]
struct Shared {
    script: Mutex<Vec<Reply>>,
    requests: Mutex<Vec<(HeaderMap, Value)>>,
    hits: AtomicUsize,
}

/// A running mock (a message containing `[garbage]` always gets a non-JSON body, one containing
/// `[slow]` is answered after 150 ms); it stops when the test process ends.
pub(crate) struct Mock {
    pub(crate) base_url: String,
    shared: Arc<Shared>,
}

impl Mock {
    /// Starts a server that plays `script` in order, then `Shout` forever.
    pub(crate) fn start(script: Vec<Reply>) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            ..Shared::default()
        });
        let state = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new()
                    .route("/v1/chat/completions", post(chat))
                    .route("/v1/messages", post(anthropic))
                    .route("/api/chat", post(ollama))
                    .with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Self {
            base_url: format!("http://{addr}/v1"),
            shared,
        }
    }

    pub(crate) fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    pub(crate) fn requests(&self) -> Vec<(HeaderMap, Value)> {
        self.shared.requests.lock().unwrap().clone()
    }
}

/// Records the request and picks the scripted reply; `last` is the text of the last message.
fn next_reply(shared: &Shared, headers: HeaderMap, body: &Value, last: &str) -> Reply {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    shared
        .requests
        .lock()
        .unwrap()
        .push((headers, body.clone()));
    if last.contains("[garbage]") {
        // A marker in the message makes the reply independent of scheduling order.
        return Reply::Garbage;
    }
    let mut script = shared.script.lock().unwrap();
    if script.is_empty() {
        Reply::Shout
    } else {
        script.remove(0)
    }
}

fn last_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The Anthropic Messages wire format.
async fn anthropic(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let last = last_text(&body);
    match next_reply(&shared, headers, &body, &last) {
        Reply::Shout => Json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{ "type": "text", "text": last.to_uppercase() }],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": { "input_tokens": 9, "output_tokens": 4 }
        }))
        .into_response(),
        Reply::Status(code) => {
            let kind = if code == 529 {
                "overloaded_error"
            } else {
                "api_error"
            };
            let body = json!({ "type": "error", "error": { "type": kind, "message": format!("scripted {code}") }, "request_id": "req_1" });
            (StatusCode::from_u16(code).unwrap(), Json(body)).into_response()
        }
        Reply::Garbage => (StatusCode::OK, "not json").into_response(),
    }
}

/// Ollama's native chat wire format.
async fn ollama(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let last = last_text(&body);
    match next_reply(&shared, headers, &body, &last) {
        Reply::Shout => Json(json!({
            "model": body["model"], "created_at": "2026-11-21T00:00:00Z",
            "message": { "role": "assistant", "content": last.to_uppercase() },
            "done": true, "done_reason": "stop", "prompt_eval_count": 7, "eval_count": 2
        }))
        .into_response(),
        Reply::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            Json(json!({ "error": format!("scripted {code}") })),
        )
            .into_response(),
        Reply::Garbage => (StatusCode::OK, "not json").into_response(),
    }
}

/// The OpenAI chat completions wire format.
async fn chat(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let last = last_text(&body);
    if last.contains("[slow]") {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let reply = next_reply(&shared, headers, &body, &last);
    match reply {
        Reply::Shout => {
            let last = body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .cloned()
                .unwrap_or_default();
            let text = last["content"].as_str().unwrap_or_default().to_uppercase();
            Json(json!({
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "system_fingerprint": "fp_mock",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14 }
            }))
            .into_response()
        }
        Reply::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap();
            let body = json!({ "error": { "message": format!("scripted {code}"), "type": "test", "code": null } });
            let mut response = (status, Json(body)).into_response();
            if code == 429 {
                response
                    .headers_mut()
                    .insert("retry-after-ms", "10".parse().unwrap());
            }
            response
        }
        Reply::Garbage => (StatusCode::OK, "<html>not json</html>").into_response(),
    }
}
