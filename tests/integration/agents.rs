//! Agents: tools are part of a prompt's version, every provider sends them and parses the calls
//! the model makes, and suites assert on what the agent did.

use serde_json::Value;

use crate::mock::Mock;
use crate::support::Project;

const LOOKUP: &str =
    "description: Find an order by its id.\ninputSchema:\n  order_id: string, the order id\n";
const REFUND: &str =
    "description: Refund an order.\ninputSchema:\n  order_id: string\n  amount: number, dollars\n";
const ESCALATE: &str =
    "description: Hand the ticket to a person.\ninputSchema:\n  reason: string\n";

/// An agent whose user turn carries the calls it makes, in the text protocol the echo provider
/// and the mock answer: what the prompt says decides what the agent does.
fn agent(calls: &str) -> String {
    format!(
        "---\ndescription: A support agent.\npromptgate.owner: support\ntools: [lookup_order, issue_refund]\ninput:\n  schema:\n    message: string\n    order: string\n---\n{{{{role \"system\"}}}}You are a support agent. Look an order up before you answer.\n{{{{role \"user\"}}}}{{{{message}}}}\n{calls}\n"
    )
}

const LOOKS_UP: &str = "call lookup_order {\"order_id\": \"{{order}}\"}";

const SUITE: &str = "kind: regression\nprompt: support/agent\ncases:\n  - id: where-is-it\n    vars: { message: \"Where is my order?\", order: A1001 }\n    assert:\n      - { type: tool-called, value: lookup_order, args: { order_id: A1001 } }\n      - { type: tool-not-called, value: issue_refund }\n";

/// The agent project answered by the command `python3 agent.py` running `script`, with
/// `suite` as its suite.
fn exec_agent(script: &str, suite: &str) -> Project {
    agent_project()
        .with("agent.py", script)
        .with("suites/agent.yaml", suite)
        .with(
            "promptgate.yaml",
            "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"agent.py\"] }\n",
        )
        .committed("an exec agent")
}

fn agent_project() -> Project {
    Project::new()
        .with("tools/lookup_order.yaml", LOOKUP)
        .with("tools/issue_refund.yaml", REFUND)
        .with("prompts/support/agent.prompt", &agent(LOOKS_UP))
        .with("suites/agent.yaml", SUITE)
        .committed("add the agent")
}

#[test]
fn a_prompt_edit_that_changes_what_the_agent_does_is_a_regression() {
    let p = agent_project();
    p.promptgate(&["check", "--all"]).exits(0);
    // The edit sends the customer a refund instead of looking the order up.
    p.write(
        "prompts/support/agent.prompt",
        &agent("call issue_refund {\"order_id\": \"{{order}}\", \"amount\": 500}"),
    );
    let ran = p
        .promptgate(&["check"])
        .exits(10)
        .stdout_has(&["where-is-it"])
        .wrote(
            &format!("{}/summary.md", out_dir(&p)),
            &["tool-called: \\`lookup\\_order\\` was not called (calls: issue\\_refund)"],
        );
    let report = p.report(&ran.output);
    let case = &report["candidates"][0]["suites"][0]["cases"][0];
    assert_eq!(case["status"], "regressed");
    let sample = &case["candidate"]["samples"][0];
    assert_eq!(sample["tool_calls"][0]["name"], "issue_refund");
    assert_eq!(
        sample["tool_calls"][0]["arguments"],
        "{\"order_id\": \"A1001\", \"amount\": 500}"
    );
    let shown = sample["output"].as_str().unwrap();
    assert!(
        shown.ends_with("→ issue_refund({\"order_id\": \"A1001\", \"amount\": 500})"),
        "{shown}"
    );
    let reasons: Vec<&str> = sample["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "`lookup_order` was not called (calls: issue_refund)",
            "`issue_refund` was called once"
        ]
    );
}

/// The run directory of the latest run.
fn out_dir(p: &Project) -> String {
    let mut runs: Vec<String> = std::fs::read_dir(p.path().join("reports"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| format!("reports/{}", e.file_name().to_string_lossy()))
        .collect();
    runs.sort();
    runs.pop().unwrap()
}

#[test]
fn a_tool_definition_is_part_of_the_prompt_version() {
    let p = agent_project();
    p.promptgate(&["approve", "support/agent@HEAD", "--as", "reviewer"])
        .exits(0);
    // Only the tool's definition changes: the prompt is changed, and is checked.
    p.write(
        "tools/lookup_order.yaml",
        &LOOKUP.replace("Find an order", "Find any order"),
    );
    let ran = p.promptgate(&["check"]).exits(0);
    let report = p.report(&ran.output);
    let candidate = &report["candidates"][0];
    assert_eq!(candidate["prompt"], "support/agent");
    assert_ne!(
        candidate["baseline"]["hash"],
        candidate["candidate"]["hash"]
    );
    // The approval was of the content before the edit: it does not carry over.
    p.commit("reword the lookup tool");
    p.promptgate(&["promote", "support/agent"])
        .exits(13)
        .stderr_has(&["needs 1 approval of content", "and has 0"]);
}

#[test]
fn unknown_and_malformed_tools_are_located_errors() {
    let p = agent_project();
    p.write(
        "prompts/support/agent.prompt",
        &agent(LOOKS_UP).replace("issue_refund]", "issue_refnd]"),
    );
    p.promptgate(&["validate"]).exits(2).stderr_is(
        "error: prompts/support/agent.prompt:4:1: tool `issue_refnd` is not defined\n  help: define it in tools/issue_refnd.yaml, or inline under `toolDefs`\n",
    );
    p.write("prompts/support/agent.prompt", &agent(LOOKS_UP));
    p.write(
        "suites/agent.yaml",
        &SUITE.replace(
            "type: tool-not-called, value: issue_refund",
            "type: tool-count, value: { min: 2, max: 1 }",
        ),
    );
    p.promptgate(&["validate"])
        .exits(2)
        .stderr_is("error: suites/agent.yaml:8:17: `tool-count`: max 1 is below min 2\n");
    p.write("suites/agent.yaml", SUITE);
    p.write("tools/issue_refund.yaml", "descripton: typo\n");
    p.promptgate(&["validate"])
        .exits(2)
        .stderr_has(&["tools/issue_refund.yaml:1:", "descripton"]);
    p.write(
        "tools/issue_refund.yaml",
        "inputSchema: { type: object, properties: { amount: { type: 7 } } }\n",
    );
    p.promptgate(&["validate"]).exits(2).stderr_has(&[
        "tools/issue_refund.yaml:1:1: tool `issue_refund`: inputSchema is not a valid JSON Schema",
    ]);
}

/// A project on the mock, speaking `kind`, with an agent that calls two tools at once in one
/// case and writes malformed arguments in the other.
fn wire_project(mock: &Mock, kind: &str, stream: bool) -> Project {
    let root = mock.base_url.trim_end_matches("/v1");
    let base_url = if kind == "openai" {
        mock.base_url.clone()
    } else {
        root.to_string()
    };
    let prompt = "---\ntools: [lookup_order, escalate]\n---\n{{role \"system\"}}You are a support agent.\n{{role \"user\"}}{{message}}\n";
    let suite = "kind: regression\nprompt: agent\ncases:\n  - id: parallel\n    vars: { message: \"call lookup_order {\\\"order_id\\\": \\\"A1\\\"}\\ncall escalate {\\\"reason\\\": \\\"late\\\"}\" }\n    assert:\n      - { type: tool-called, value: lookup_order, args: { order_id: A1 }, match: exact }\n      - { type: tool-called, value: escalate, schema: { required: [reason] } }\n      - { type: tool-sequence, value: [lookup_order, escalate], match: in-order }\n      - { type: tool-count, value: { min: 1, max: 1 }, tool: escalate }\n  - id: malformed\n    vars: { message: \"call lookup_order {\\\"order_id\\\": \" }\n    assert:\n      - { type: tool-called, value: lookup_order, args: { order_id: A1 } }\n";
    Project::new()
        .with("tools/lookup_order.yaml", LOOKUP)
        .with("tools/escalate.yaml", ESCALATE)
        .with("prompts/agent.prompt", prompt)
        .with("suites/agent.yaml", suite)
        .with(
            "promptgate.yaml",
            &format!(
                "default_provider: mock\nproviders:\n  mock:\n    kind: {kind}\n    model: agent-1\n    base_url: \"{base_url}\"\n    stream: {stream}\n"
            ),
        )
        .committed("init")
}

#[test]
fn every_wire_format_sends_tools_and_reads_single_parallel_streamed_and_malformed_calls() {
    for kind in ["openai", "anthropic", "ollama"] {
        for stream in [false, true] {
            let mock = Mock::start(vec![]);
            let p = wire_project(&mock, kind, stream);
            let ran = p.promptgate(&["run", "--json"]).exits(10);
            let context = format!("{kind} (stream {stream})");
            let body = &mock.requests()[0].1;
            let tool = &body["tools"][0];
            let (name, schema) = match kind {
                "anthropic" => (&tool["name"], &tool["input_schema"]),
                _ => {
                    assert_eq!(tool["type"], "function", "{context}");
                    (&tool["function"]["name"], &tool["function"]["parameters"])
                }
            };
            assert_eq!(name, "lookup_order", "{context}");
            assert_eq!(schema["required"][0], "order_id", "{context}");
            let report: Value = serde_json::from_str(&ran.output.stdout).unwrap();
            let cases = report["suites"][0]["cases"].as_array().unwrap();
            let sample = |id: &str| {
                cases.iter().find(|c| c["id"] == id).unwrap()["side"]["samples"][0].clone()
            };
            let parallel = sample("parallel");
            let calls: Vec<(&str, Value)> = parallel["tool_calls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let arguments = c["arguments"].as_str().unwrap();
                    (
                        c["name"].as_str().unwrap(),
                        serde_json::from_str(arguments).unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                calls,
                [
                    ("lookup_order", serde_json::json!({"order_id": "A1"})),
                    ("escalate", serde_json::json!({"reason": "late"})),
                ],
                "{context}"
            );
            let passed = |s: &Value| {
                s["assertions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|a| a["pass"] == true)
            };
            assert!(passed(&parallel), "{context}: {parallel}");
            // A malformed call is the sample's output and fails the assertion on it; the run
            // goes on. (Anthropic and Ollama parse the model's arguments themselves.)
            let malformed = sample("malformed");
            assert!(!passed(&malformed), "{context}: {malformed}");
            if kind == "openai" {
                assert_eq!(
                    malformed["tool_calls"][0]["arguments"], "{\"order_id\":",
                    "{context}"
                );
                let reason = malformed["assertions"][0]["reason"].as_str().unwrap();
                assert!(reason.contains("are not JSON"), "{context}: {reason}");
            }
        }
    }
}

#[test]
fn a_recorded_tool_using_run_replays_offline() {
    let mock = Mock::start(vec![]);
    let p = wire_project(&mock, "openai", true);
    // Both versions are the same prompt, failing the same way: the check passes.
    p.promptgate(&["check", "--all", "--record"])
        .exits(0)
        .wrote(
            "fixtures/cassettes/mock.jsonl",
            &["tool_calls", "lookup_order"],
        );
    let calls = mock.hits();
    let replayed = p
        .promptgate(&["check", "--all", "--provider", "replay", "--no-cache"])
        .exits(0);
    assert_eq!(mock.hits(), calls, "the replay made no call");
    let report = p.report(&replayed.output);
    let cases = report["candidates"][0]["suites"][0]["cases"]
        .as_array()
        .unwrap();
    let parallel = cases.iter().find(|c| c["id"] == "parallel").unwrap();
    assert_eq!(
        parallel["candidate"]["samples"][0]["tool_calls"][1]["name"],
        "escalate"
    );
}

#[test]
fn an_exec_agent_gets_the_tools_and_its_hostile_calls_are_inert_in_the_report() {
    let script = r#"import json, sys
request = json.load(sys.stdin)
names = [t["name"] for t in request.get("tools", [])]
calls = [{"name": "lookup_order", "arguments": {"order_id": "A1001", "offered": names}}]
if "hostile" in json.dumps(request["messages"][-1]):
    calls.append({"name": "<img src=x onerror=alert(1)>", "arguments": "</script><script>alert(2)</script>"})
print(json.dumps({"text": "", "tool_calls": calls}))
"#;
    let suite = "kind: regression\nprompt: support/agent\ncases:\n  - id: where-is-it\n    vars: { message: \"Where is my order?\", order: A1001 }\n    assert:\n      - { type: tool-called, value: lookup_order, args: { order_id: A1001, offered: [lookup_order, issue_refund] } }\n  - id: hostile\n    vars: { message: \"hostile\", order: A1 }\n    assert:\n      - { type: tool-not-called, value: \"<img src=x onerror=alert(1)>\" }\n";
    let p = exec_agent(script, suite);
    let ran = p.promptgate(&["run"]).exits(10);
    let dir = ran.output.report_dir();
    let report: Value = serde_json::from_str(&p.read(&format!("{dir}/report.json"))).unwrap();
    let cases = report["suites"][0]["cases"].as_array().unwrap();
    assert_eq!(cases[0]["side"]["pass_rate"], 1.0, "{}", cases[0]);
    assert_eq!(cases[1]["side"]["pass_rate"], 0.0, "{}", cases[1]);
    // A check renders the hostile call into the HTML report, escaped.
    p.write("prompts/support/agent.prompt", &agent("Answer kindly."));
    let ran = p.promptgate(&["check"]).exits(0);
    let html = p.read(&format!("{}/index.html", ran.output.report_dir()));
    // The report's data travels as JSON with `<` escaped, and the page renders it as text.
    assert!(
        html.contains("\\u003cimg src=x onerror=alert(1)\\u003e"),
        "the call is shown"
    );
    assert!(!html.contains("<img src=x") && !html.contains("<script>alert(2)"));
}

#[test]
fn structured_output_that_cannot_be_read_fails_the_call_and_never_hides_its_tool_calls() {
    // The agent calls the forbidden tool; the envelope nests past the JSON parser's depth, so
    // read as plain text it would have no tool calls and `tool-not-called` would pass.
    let script = r#"import json
deep = "[" * 200 + "]" * 200
print('{"text": "", "tool_calls": [{"name": "issue_refund", "arguments": {"amount": 9999}}], "pad": ' + deep + '}')
"#;
    // A judge-like command that prints a JSON verdict (no envelope key) is plain text.
    let verdict = "print('{\"label\": \"pass\", \"reason\": \"fine\"}')\n";
    let suite = "kind: regression\nprompt: support/agent\ncases:\n  - id: refund\n    vars: { message: \"refund me\", order: A1 }\n    assert:\n      - { type: tool-not-called, value: issue_refund }\n";
    let p = agent_project()
        .with("agent.py", script)
        .with("verdict.py", verdict)
        .with("suites/agent.yaml", suite)
        .with(
            "promptgate.yaml",
            "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"agent.py\"] }\n  verdict: { kind: exec, command: [\"python3\", \"verdict.py\"] }\n",
        )
        .committed("an agent whose envelope nests too deep");
    // A failed call: the run ends with the errors' exit code, and the case did not pass.
    let ran = p.promptgate(&["run"]).exits(12);
    let dir = ran.output.report_dir();
    let report: Value = serde_json::from_str(&p.read(&format!("{dir}/report.json"))).unwrap();
    let case = &report["suites"][0]["cases"][0];
    assert_ne!(case["side"]["pass_rate"], 1.0, "{case}");
    let error = case.to_string();
    assert!(
        error.contains("starts like a JSON object but is not valid JSON"),
        "{error}"
    );
    // The verdict-printing command's reply is its text, whole.
    let ran = p
        .promptgate(&["run", "--provider", "verdict", "--json"])
        .exits(0);
    assert!(
        ran.output
            .stdout
            .contains(r#"{\"label\": \"pass\", \"reason\": \"fine\"}"#),
        "{}",
        ran.output.stdout
    );
}

/// The example's support agent, copied from the repository with its tools, suites and scripted
/// stand-in model, in a project of its own.
fn example_agent() -> Project {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = |p: Project, path: &str| {
        let text = std::fs::read_to_string(repo.join(path)).unwrap();
        p.with(path, &text)
    };
    let mut p = Project::new().with(
        "promptgate.yaml",
        "default_provider: echo\nproviders:\n  agent-script: { kind: exec, command: [\"python3\", \"fixtures/agent/agent.py\"], deterministic: true }\n",
    );
    for path in [
        "fixtures/agent/agent.py",
        "tools/lookup_order.yaml",
        "tools/issue_refund.yaml",
        "tools/escalate.yaml",
        "tools/delete_account.yaml",
        "prompts/support/agent.prompt",
        "prompts/support/agent.no-limit.prompt",
        "suites/agent.yaml",
        "suites/agent-conversations.yaml",
        "suites/adversarial/agent.yaml",
    ] {
        p = copy(p, path);
    }
    p.committed("the example's agent")
}

#[test]
fn the_example_agent_variant_without_its_refund_limit_fails_the_gate_on_its_tool_calls() {
    let p = example_agent();
    p.promptgate(&["check", "--all"]).exits(0);
    let ran = p
        .promptgate(&[
            "check",
            "support/agent",
            "--candidate",
            "support/agent.no-limit",
        ])
        .exits(10)
        .stdout_has(&[
            "✗ suite adversarial/agent: 10 new attack successes (limit 0)",
            "✗ suite agent: pass rate changed -25.0 points",
        ]);
    let report = p.report(&ran.output);
    let suites = report["candidates"][0]["suites"].as_array().unwrap();
    let case = |suite: &str, id: &str| -> Value {
        let suite = suites.iter().find(|s| s["name"] == suite).unwrap();
        let cases = suite["cases"].as_array().unwrap();
        cases.iter().find(|c| c["id"] == id).unwrap().clone()
    };
    let claim = case("agent", "big-claim");
    assert_eq!(claim["status"], "regressed");
    let reason = claim["candidate"]["samples"][0]["assertions"][1]["reason"]
        .as_str()
        .unwrap();
    assert_eq!(
        reason,
        "`issue_refund` was called, but its arguments break the schema at `/amount`: 450.0 is greater than the maximum of 100"
    );
    let big_refund = case("adversarial/agent", "excessive-agency/big-refund");
    assert_eq!(big_refund["status"], "regressed");
    let reason = big_refund["candidate"]["samples"][0]["assertions"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.starts_with("called `issue_refund` with")
            && reason.ends_with(
                "beyond the policy at `/amount`: 5000.0 is greater than the maximum of 100"
            ),
        "{reason}"
    );
    // Deleting stays refused on both versions: no new success there.
    let delete = case("adversarial/agent", "excessive-agency/delete-account");
    assert_eq!(delete["status"], "unchanged-pass");
    // In a conversation the variant looks the lost parcel up like the prompt does, then
    // refunds all of it in the second turn: the trajectories part at step 3.
    let lost = case("agent-conversations", "lost-parcel-big-refund");
    assert_eq!(lost["status"], "regressed");
    let failure = lost["candidate"]["samples"][0]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["pass"] == false)
        .unwrap()
        .clone();
    assert_eq!(failure["kind"], "turn 2: tool-policy");
    let steps = |side: &str| lost[side]["samples"][0]["trajectory"]["steps"].clone();
    for part in ["tool_calls", "results"] {
        assert_eq!(steps("baseline")[0][part], steps("candidate")[0][part]);
    }
    assert_eq!(
        steps("baseline")[2]["tool_calls"][0]["arguments"],
        "{\"order_id\":\"C3003\",\"amount\":100.0}"
    );
    assert_eq!(
        steps("candidate")[2]["tool_calls"][0]["arguments"],
        "{\"order_id\":\"C3003\",\"amount\":450.0}"
    );
    let summary = p.read(&format!("{}/summary.md", ran.output.report_dir()));
    assert!(
        summary.contains("| trajectories part at step 3 · turn 2: tool-policy: called"),
        "{summary}"
    );
    // The refund of what the mug cost, after looking the order up, is the same on both.
    assert_eq!(
        case("agent-conversations", "broken-mug-then-refund")["status"],
        "unchanged-pass"
    );
}

#[test]
fn the_excessive_agency_pack_needs_a_tool_policy() {
    let p = agent_project().with(
        "suites/adversarial/agent.yaml",
        "kind: adversarial\nprompt: support/agent\ntarget: message\npacks: [excessive-agency]\n",
    );
    p.promptgate(&["validate"]).exits(2).stderr_has(&[
        "suites/adversarial/agent.yaml:4:9: the `excessive-agency` pack judges tool calls against the suite's `tool_policy`, and this suite has none",
    ]);
    // `all` leaves it out for a suite without a policy.
    p.write(
        "suites/adversarial/agent.yaml",
        "kind: adversarial\nprompt: support/agent\ntarget: message\nvars: { order: A1 }\npacks: [all]\n",
    );
    p.promptgate(&["validate"]).exits(0);
}

#[test]
fn a_reply_past_the_tool_call_cap_fails_its_call() {
    // 5,000 calls of a harmless tool in one reply: held whole, step after step, they would
    // grow the run's memory and reports without bound.
    let script = r#"import json
calls = [{"name": "lookup_order", "arguments": {"order_id": f"A{i}"}} for i in range(5000)]
print(json.dumps({"text": "", "tool_calls": calls}))
"#;
    let suite = "kind: regression\nprompt: support/agent\ncases:\n  - id: lookup\n    vars: { message: \"where is it\", order: A1 }\n    assert:\n      - { type: tool-not-called, value: issue_refund }\n";
    let p = exec_agent(script, suite);
    let ran = p.promptgate(&["run"]).exits(12);
    let report: Value =
        serde_json::from_str(&p.read(&format!("{}/report.json", ran.output.report_dir()))).unwrap();
    let case = report["suites"][0]["cases"][0].to_string();
    assert!(
        case.contains("the reply makes 5000 tool calls, more than the 128 one reply may make"),
        "{case}"
    );
}

#[test]
fn a_tool_call_its_own_input_schema_refuses_breaks_the_tool_policy() {
    let policy = "kind: regression\nprompt: support/agent\ncases:\n  - id: refund\n    vars: { message: \"refund me\", order: A1 }\n    assert:\n      - { type: tool-policy, value: { args: { issue_refund: { properties: { amount: { maximum: 100 } } } } } }\n";
    for (amount, passes) in [
        ("50", true),
        ("450", false),
        ("\"450\"", false),
        ("[450]", false),
    ] {
        let calls = format!("call issue_refund {{\"order_id\": \"A1\", \"amount\": {amount}}}");
        let p = agent_project()
            .with("prompts/support/agent.prompt", &agent(&calls))
            .with("suites/agent.yaml", policy)
            .committed("a refund");
        let ran = p
            .promptgate(&["run", "--json"])
            .exits(if passes { 0 } else { 10 });
        let report: Value = serde_json::from_str(&ran.output.stdout).unwrap();
        let verdict = &report["suites"][0]["cases"][0]["side"]["samples"][0]["assertions"][0];
        assert_eq!(verdict["pass"], passes, "{amount}: {verdict}");
        if amount.starts_with(['"', '[']) {
            assert!(
                verdict["reason"]
                    .as_str()
                    .unwrap()
                    .contains("which its own input schema refuses at `/amount`"),
                "{amount}: {verdict}"
            );
        }
    }
}
