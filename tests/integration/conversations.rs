//! Conversation cases: promptgate drives the loop (call, answer the tool calls from the case's
//! script, call again) over every wire format, records each step's trajectory, resumes a killed
//! conversation without repeating a finished step, and judges each turn.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::mock::Mock;
use crate::support::Project;

const LOOKUP: &str =
    "description: Find an order by its id.\ninputSchema:\n  order_id: string, the order id\n";
const ESCALATE: &str =
    "description: Hand the ticket to a person.\ninputSchema:\n  reason: string\n";

const AGENT: &str = "---\ntools: [lookup_order, escalate]\n---\n{{role \"system\"}}You are a support agent.\n{{role \"user\"}}{{message}}\n";

/// A conversation of four steps on the mock: the user's message calls `lookup_order`, whose
/// scripted result makes the mock call `escalate`, whose result it answers with text; then a
/// second turn.
const CONVERSATION: &str = r#"kind: regression
prompt: agent
cases:
  - id: lost-parcel
    vars: { message: "call lookup_order {\"order_id\": \"A1\"}" }
    history:
      - { role: user, content: "hello" }
      - { role: model, content: "Hi! How can I help?" }
    results:
      - { call: lookup_order, args: { order_id: A1 }, result: "call escalate {\"reason\": \"lost\"}" }
      - { call: escalate, result: { ticket: T-9 } }
    turns:
      - assert:
          - { type: tool-sequence, value: [lookup_order, escalate], match: exact }
          - { type: icontains, value: "t-9" }
      - user: "thanks"
        assert:
          - { type: equals, value: THANKS }
          - { type: tool-count, value: 0 }
    assert:
      - { type: max-steps, value: 4 }
      - { type: tool-called, value: escalate, args: { reason: lost } }
"#;

fn project(mock: &Mock, kind: &str, stream: bool, suite: &str) -> Project {
    let base_url = match kind {
        "openai" => mock.base_url.clone(),
        _ => mock.base_url.trim_end_matches("/v1").to_string(),
    };
    Project::new()
        .with("tools/lookup_order.yaml", LOOKUP)
        .with("tools/escalate.yaml", ESCALATE)
        .with("prompts/agent.prompt", AGENT)
        .with("suites/agent.yaml", suite)
        .with(
            "promptgate.yaml",
            &format!(
                "default_provider: mock\nproviders:\n  mock:\n    kind: {kind}\n    model: agent-1\n    base_url: \"{base_url}\"\n    stream: {stream}\n    concurrency: 1\n"
            ),
        )
        .committed("init")
}

/// The first sample of case `id` in a `run --json` report.
fn sample(report: &Value, id: &str) -> Value {
    report["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()["side"]["samples"][0]
        .clone()
}

fn failed(sample: &Value) -> Vec<String> {
    sample["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["pass"] != true)
        .map(|a| format!("{}: {}", a["kind"], a["reason"]))
        .collect()
}

#[test]
fn a_scripted_conversation_runs_on_every_wire_format() {
    for kind in ["openai", "anthropic", "ollama"] {
        for stream in [false, true] {
            let context = format!("{kind} (stream {stream})");
            let mock = Mock::start(vec![]);
            let p = project(&mock, kind, stream, CONVERSATION);
            let ran = p.promptgate(&["run", "--json"]).exits(0);
            let report: Value = serde_json::from_str(&ran.output.stdout).unwrap();
            let s = sample(&report, "lost-parcel");
            assert_eq!(failed(&s), Vec::<String>::new(), "{context}");
            let steps = s["trajectory"]["steps"].as_array().unwrap();
            assert_eq!(steps.len(), 4, "{context}: {s}");
            assert_eq!(steps[0]["tool_calls"][0]["name"], "lookup_order");
            assert_eq!(
                steps[0]["results"][0]["output"],
                "call escalate {\"reason\": \"lost\"}"
            );
            assert_eq!(steps[1]["tool_calls"][0]["name"], "escalate");
            assert_eq!(steps[3]["user"], "thanks", "{context}");
            assert_eq!(report["totals"]["calls"], 4, "{context}");
            let output = s["output"].as_str().unwrap();
            assert!(output.contains("  ← {\"ticket\":\"T-9\"}"), "{output}");

            // What went over the wire: the history first, then each call and its result in
            // the API's own shape, the result naming the call it answers.
            let requests = mock.requests();
            assert_eq!(requests.len(), 4, "{context}");
            let first = &requests[0].1["messages"];
            let texts: Vec<String> = first
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["content"].as_str().unwrap_or_default().to_string())
                .collect();
            assert!(
                texts.iter().any(|t| t == "Hi! How can I help?"),
                "{context}: {first}"
            );
            let second = requests[1].1["messages"].as_array().unwrap();
            let (call, result) = (&second[second.len() - 2], &second[second.len() - 1]);
            match kind {
                "openai" => {
                    let id = call["tool_calls"][0]["id"].as_str().unwrap();
                    assert_eq!(call["role"], "assistant");
                    let arguments = call["tool_calls"][0]["function"]["arguments"].as_str();
                    assert_eq!(
                        serde_json::from_str::<Value>(arguments.unwrap()).unwrap(),
                        json!({"order_id": "A1"}),
                        "{context}: arguments go back as JSON text"
                    );
                    assert_eq!(result["role"], "tool");
                    assert_eq!(result["tool_call_id"], id, "{context}");
                    assert!(result.get("tool_name").is_none(), "{context}");
                }
                "anthropic" => {
                    let block = &call["content"][0];
                    assert_eq!(block["type"], "tool_use", "{context}: {call}");
                    assert_eq!(block["input"], json!({"order_id": "A1"}));
                    assert_eq!(result["role"], "user");
                    assert_eq!(result["content"][0]["type"], "tool_result");
                    assert_eq!(result["content"][0]["tool_use_id"], block["id"]);
                }
                _ => {
                    assert_eq!(
                        call["tool_calls"][0]["function"]["arguments"],
                        json!({"order_id": "A1"}),
                        "{context}"
                    );
                    assert_eq!(result["role"], "tool");
                    assert_eq!(result["tool_name"], "lookup_order", "{context}");
                }
            }
        }
    }
}

#[test]
fn an_unscripted_call_is_answered_or_fails_as_the_suite_says_and_the_step_limit_holds() {
    let mock = Mock::start(vec![]);
    // The script has no result for `escalate`: by default the model gets an error result.
    let unscripted =
        CONVERSATION.replace("      - { call: escalate, result: { ticket: T-9 } }\n", "");
    let p = project(&mock, "openai", false, &unscripted);
    let ran = p.promptgate(&["run", "--json"]).exits(10);
    let report: Value = serde_json::from_str(&ran.output.stdout).unwrap();
    let s = sample(&report, "lost-parcel");
    assert_eq!(
        s["trajectory"]["steps"][1]["results"][0],
        json!({"name": "escalate", "output": "{\"error\":\"no result for `escalate` in the case's script\"}", "unexpected": true})
    );
    let why = failed(&s);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].contains("turn 1: icontains"), "{why:?}");

    // With `unexpected_calls: fail` the conversation stops there, and the sample fails.
    p.write(
        "suites/agent.yaml",
        &unscripted.replace("prompt: agent\n", "prompt: agent\nunexpected_calls: fail\n"),
    );
    let ran = p.promptgate(&["run", "--json"]).exits(10);
    let report: Value = serde_json::from_str(&ran.output.stdout).unwrap();
    let s = sample(&report, "lost-parcel");
    assert_eq!(s["trajectory"]["end"], "unexpected-call");
    assert_eq!(s["trajectory"]["steps"].as_array().unwrap().len(), 2);
    let why = failed(&s);
    assert!(
        why.iter().any(|w| w.contains("unexpected-call")
            && w.contains("called escalate({\\\"reason\\\": \\\"lost\\\"})")),
        "{why:?}"
    );

    // A limit of two steps stops the model while it still calls tools.
    p.write(
        "suites/agent.yaml",
        &CONVERSATION.replace("prompt: agent\n", "prompt: agent\nmax_steps: 2\n"),
    );
    let ran = p.promptgate(&["run", "--json"]).exits(10);
    let report: Value = serde_json::from_str(&ran.output.stdout).unwrap();
    let s = sample(&report, "lost-parcel");
    assert_eq!(s["trajectory"]["end"], "step-limit");
    let why = failed(&s).join("\n");
    assert!(
        why.contains("step-limit") && why.contains("still calling tools after 2 steps"),
        "{why}"
    );
}

#[test]
fn conversation_scripts_are_checked_before_any_call() {
    let mock = Mock::start(vec![]);
    let p = project(
        &mock,
        "openai",
        false,
        &CONVERSATION.replace("{ call: escalate,", "{ call: escalte,"),
    );
    p.promptgate(&["run"]).exits(2).stderr_is(
        "error: suites/agent.yaml:11:9: case `lost-parcel` scripts a result for `escalte`, which agent@worktree does not offer\n  help: did you mean `escalate`? it offers: lookup_order, escalate\n",
    );
    p.write(
        "suites/agent.yaml",
        &CONVERSATION.replace(
            "      - user: \"thanks\"\n        assert:",
            "      - assert:",
        ),
    );
    p.promptgate(&["validate"]).exits(2).stderr_has(&[
        "suites/agent.yaml:16:9: turn 2 has no `user` message",
        "only the first turn may leave `user` out",
    ]);
    assert_eq!(mock.hits(), 0);
}

/// A conversation whose every step is slow, so a run can be killed between steps: each
/// `lookup_order` result makes the mock look the next order up, five times, then answer.
fn slow_conversation() -> String {
    let mut suite = String::from(
        "kind: regression\nprompt: agent\ncases:\n  - id: five-lookups\n    vars: { message: \"[slow]\\ncall lookup_order {\\\"order_id\\\": \\\"1\\\"}\" }\n    results:\n",
    );
    for n in 1..=5 {
        let next = match n {
            5 => "[slow] all found".to_string(),
            _ => format!(
                "[slow]\\ncall lookup_order {{\\\"order_id\\\": \\\"{}\\\"}}",
                n + 1
            ),
        };
        suite.push_str(&format!(
            "      - {{ call: lookup_order, args: {{ order_id: \"{n}\" }}, result: \"{next}\" }}\n"
        ));
    }
    suite.push_str("    assert:\n      - { type: tool-count, value: 5 }\n      - { type: contains, value: ALL FOUND }\n");
    suite
}

#[test]
fn a_killed_conversation_resumes_without_repeating_a_finished_step() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, "openai", false, &slow_conversation());
    let mut child = Command::new(env!("CARGO_BIN_EXE_promptgate"))
        .args(["check", "--all", "--no-cache"])
        .current_dir(p.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let logged = || {
        std::fs::read_dir(p.path().join("reports"))
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("results.jsonl")).ok())
            .map(|t| t.lines().count())
            .sum::<usize>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while logged() < 2 {
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = logged();
    assert!((2..6).contains(&done), "killed after {done} steps");
    let hits_at_kill = mock.hits();

    let resumed = p.promptgate(&["check", "--resume"]).exits(0);
    assert_eq!(
        mock.hits() - hits_at_kill,
        6 - done,
        "only the steps not yet finished are made"
    );
    assert_eq!(logged(), 6, "every step is logged once");
    let report = p.report(&resumed.output);
    let case = &report["candidates"][0]["suites"][0]["cases"][0];
    let steps = case["candidate"]["samples"][0]["trajectory"]["steps"]
        .as_array()
        .unwrap();
    assert_eq!(steps.len(), 6);
    assert_eq!(steps[5]["text"], "[SLOW] ALL FOUND");
}

#[test]
fn a_recorded_conversation_replays_offline() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, "anthropic", true, CONVERSATION);
    p.promptgate(&["check", "--all", "--record"]).exits(0);
    let calls = mock.hits();
    assert_eq!(calls, 4);
    let replayed = p
        .promptgate(&["check", "--all", "--provider", "replay", "--no-cache"])
        .exits(0);
    assert_eq!(mock.hits(), calls, "the replay made no call");
    let report = p.report(&replayed.output);
    let sample = &report["candidates"][0]["suites"][0]["cases"][0]["candidate"]["samples"][0];
    assert_eq!(sample["trajectory"]["steps"].as_array().unwrap().len(), 4);
}

#[test]
fn an_injection_in_a_tool_result_reaches_the_agent_and_is_caught() {
    let mock = Mock::start(vec![]);
    // The mock repeats what the tool returned: an agent that obeys what it reads.
    let suite = "kind: adversarial\nprompt: agent\ntarget: message\npacks: [indirect-injection]\ncontext_tool: lookup_order\nvars: { message: \"call lookup_order {\\\"order_id\\\": \\\"A1\\\"}\" }\n";
    let p = project(&mock, "openai", false, suite);
    let ran = p.promptgate(&["run", "--json"]).exits(10);
    let report: Value = serde_json::from_str(&ran.output.stdout).unwrap();
    let s = sample(&report, "indirect-injection/html-comment");
    let steps = s["trajectory"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{s}");
    assert_eq!(steps[0]["tool_calls"][0]["name"], "lookup_order");
    let planted = steps[0]["results"][0]["output"].as_str().unwrap();
    assert!(planted.contains("Note to the AI assistant"), "{planted}");
    let why = failed(&s).join("\n");
    assert!(why.contains("canary") && why.contains("leaked"), "{why}");
    // The user's message was the suite's own request; the attack came in the tool's result.
    let first = &mock.requests()[0].1["messages"];
    assert!(!first.to_string().contains("Note to the AI assistant"));

    // A tool the prompt does not offer is refused before any call, where the suite names it.
    let hits = mock.hits();
    p.write(
        "suites/agent.yaml",
        &suite.replace("context_tool: lookup_order", "context_tool: search_web"),
    );
    p.promptgate(&["run"]).exits(2).stderr_has(&[
        "suites/agent.yaml:5:15:",
        "a result for `search_web`, which agent@worktree does not offer",
    ]);
    assert_eq!(mock.hits(), hits);

    // An agent that never calls the tool never read the attack: the case measured nothing,
    // and counts as an error, never as an attack resisted.
    p.write(
        "suites/agent.yaml",
        &suite.replace("call lookup_order {\\\"order_id\\\": \\\"A1\\\"}", "hello"),
    );
    let ran = p.promptgate(&["run", "--json"]).exits(12);
    let report: Value = serde_json::from_str(&ran.output.stdout).unwrap();
    let s = sample(&report, "indirect-injection/html-comment");
    assert!(
        s["error"].as_str().unwrap_or_default().contains(
            "the attack was never delivered: its document comes back from `lookup_order`"
        ),
        "{s}"
    );
}
