//! Providers over real processes and real HTTP: `exec` runs a script, `openai` talks to the mock.

use crate::mock::{Mock, Reply};
use crate::support::{Project, TRIAGE_PROMPT};

const SHOUT_SUITE: &str = "kind: regression\nprompt: support/triage\ncases:\n  - id: billing\n    vars: { message: \"charged twice\" }\n    assert:\n      - { type: contains, value: CHARGED }\n  - id: bug\n    vars: { message: \"app crashes\" }\n    assert:\n      - { type: contains, value: CRASH }\n";

fn openai_project(mock: &Mock, extra: &str) -> Project {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    p.write("suites/triage.yaml", SHOUT_SUITE);
    p.write(
        "promptgate.yaml",
        &format!(
            "default_provider: mock\nproviders:\n  mock:\n    kind: openai\n    model: tiny-1\n    base_url: \"{}\"\n    api_key_env: MOCK_API_KEY\n    price: {{ input_per_mtok: 1.0, output_per_mtok: 2.0 }}\n{extra}params: {{ temperature: 0.3, top_p: 0.9, max_tokens: 64, seed: 11 }}\n",
            mock.base_url
        ),
    );
    p.commit("init");
    p
}

const KEY: &str = "sk-test-5ecret-never-written";

#[test]
fn openai_requests_carry_explicit_params_and_the_key_stays_secret() {
    let mock = Mock::start(vec![]);
    let p = openai_project(&mock, "");
    let out = p
        .promptgate(&["check", "--all"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(0)
        .output;
    assert_eq!(
        mock.hits(),
        2,
        "baseline and candidate are identical, so each case is called once"
    );
    let (headers, body) = &mock.requests()[0];
    assert_eq!(headers["authorization"], format!("Bearer {KEY}").as_str());
    assert_eq!(body["model"], "tiny-1");
    assert_eq!(
        (body["temperature"].as_f64(), body["top_p"].as_f64()),
        (Some(0.3), Some(0.9))
    );
    assert_eq!(
        (body["max_tokens"].as_u64(), body["seed"].as_u64()),
        (Some(64), Some(11))
    );
    assert_eq!(body["messages"][0]["role"], "system");
    let report = p.report(&out);
    let totals = &report["totals"];
    assert_eq!(totals["tokens"], 28);
    let expected_cost = 2.0 * (11.0 * 1.0 + 3.0 * 2.0) / 1e6;
    assert!(
        (totals["cost"].as_f64().unwrap() - expected_cost).abs() < 1e-12,
        "{totals}"
    );
    // The key appears in no file the run wrote, nor in the output.
    for entry in std::fs::read_dir(p.path().join(out.report_dir())).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(KEY) && !text.contains("5ecret"));
    }
    assert!(!out.stdout.contains(KEY) && !out.stderr.contains(KEY));
}

#[test]
fn a_missing_key_variable_is_a_setup_error_naming_the_variable() {
    let mock = Mock::start(vec![]);
    let p = openai_project(&mock, "");
    let out = p.promptgate(&["check", "--all"]).exits(2).output;
    assert!(
        out.stderr
            .contains("`MOCK_API_KEY` (api_key_env) is not set"),
        "{}",
        out.stderr
    );
    assert_eq!(mock.hits(), 0);
}

#[test]
fn transient_errors_are_retried_and_permanent_ones_recorded() {
    // Two server errors then success for the first call; a 429 with retry-after for the next.
    let mock = Mock::start(vec![
        Reply::Status(500),
        Reply::Status(503),
        Reply::Status(429),
    ]);
    let p = openai_project(&mock, "    concurrency: 1\n");
    let out = p
        .promptgate(&["check", "--all"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(0)
        .output;
    assert_eq!(
        mock.hits(),
        5,
        "3 attempts for the first call, 2 for the second"
    );
    let report = p.report(&out);
    let attempts: Vec<u64> = report["candidates"][0]["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["candidate"]["samples"][0]["attempts"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts.iter().sum::<u64>(), 5);

    // A 401 is permanent: one attempt, recorded as an error, the run goes on and is incomplete.
    let mock = Mock::start(vec![Reply::Status(401)]);
    let p = openai_project(&mock, "    concurrency: 1\n");
    let out = p
        .promptgate(&["check", "--all"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(12)
        .output;
    assert_eq!(mock.hits(), 2);
    let report = p.report(&out);
    assert_eq!(report["complete"], false);
    assert_eq!(report["totals"]["errors"], 1);
    assert!(
        out.stdout.contains("HTTP 401: scripted 401"),
        "{}",
        out.stdout
    );

    // --max-errors decides when errors make the run incomplete (1 errored case of 2).
    let rerun = |budget: &str, script: Vec<Reply>| {
        let mock = Mock::start(script);
        let p = openai_project(&mock, "    concurrency: 1\n");
        p.run_env(
            &["check", "--all", "--no-cache", "--max-errors", budget],
            &[("MOCK_API_KEY", KEY)],
        )
    };
    assert_eq!(rerun("1", vec![Reply::Status(401)]).code, 0);
    assert_eq!(rerun("50%", vec![Reply::Status(401)]).code, 0);
    assert_eq!(rerun("0.4", vec![Reply::Status(401)]).code, 12);
    let bad = rerun("lots", vec![]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("expected a count (3), a fraction (0.05) or a percentage (5%)"),
        "{}",
        bad.stderr
    );
}

#[test]
fn an_unreadable_body_is_an_error_for_that_case_only() {
    let mock = Mock::start(vec![]);
    let p = openai_project(&mock, "");
    p.write(
        "suites/triage.yaml",
        &SHOUT_SUITE.replace("app crashes", "[garbage] app crashes"),
    );
    let out = p
        .promptgate(&["run"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(12)
        .output;
    assert!(
        out.stdout.contains("unreadable response body"),
        "{}",
        out.stdout
    );
    let report = p.report(&out);
    assert_eq!(report["totals"]["errors"], 1);
    assert_eq!(report["totals"]["calls"], 2);
    assert_eq!(
        mock.hits(),
        4,
        "the garbage case was tried three times, the other once"
    );
}

#[test]
fn a_reply_past_16_mib_fails_its_call_without_being_held() {
    // One reply of 20 MiB, then ordinary ones: the big one fails (and is not retried), the
    // other case is answered.
    let huge = serde_json::json!({
        "choices": [{ "message": { "role": "assistant", "content": "x".repeat(20 << 20) }, "finish_reason": "stop" }],
    });
    let mock = Mock::start(vec![Reply::Custom(200, huge, vec![])]);
    let p = openai_project(&mock, "    retries: 2\n");
    let out = p
        .promptgate(&["run", "--concurrency", "1"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(12)
        .output;
    assert!(
        out.stdout
            .contains("the response is larger than 16 MiB, more than promptgate reads of one"),
        "{}",
        out.stdout
    );
    assert_eq!(p.report(&out)["totals"]["errors"], 1);
    assert_eq!(mock.hits(), 2, "a reply too large is not asked for again");
}

#[test]
fn exec_runs_a_command_with_the_request_on_stdin() {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    p.write("suites/triage.yaml", SHOUT_SUITE);
    p.write(
        "bot.py",
        "import json, sys\nreq = json.load(sys.stdin)\nlast = req['messages'][-1]['content'][0]['text']\nif 'crash' in last:\n    sys.exit('bot cannot handle crashes')\nprint(json.dumps({'text': last.upper() + ' seed=' + str(req['params']['seed']), 'usage': {'input_tokens': 5, 'output_tokens': 2}}))\n",
    );
    p.write("promptgate.yaml", "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"bot.py\"] }\n");
    p.commit("init");
    let out = p.run(&["run"]);
    assert_eq!(
        out.code, 12,
        "one case errors, the run goes on:\n{}\n{}",
        out.stdout, out.stderr
    );
    let report = p.report(&out);
    let cases = report["suites"][0]["cases"].as_array().unwrap();
    let billing = cases.iter().find(|c| c["id"] == "billing").unwrap();
    assert_eq!(
        billing["side"]["samples"][0]["output"],
        "CHARGED TWICE seed=7"
    );
    assert_eq!(billing["side"]["samples"][0]["tokens"], 7);
    let bug = cases.iter().find(|c| c["id"] == "bug").unwrap();
    assert!(
        bug["side"]["samples"][0]["error"]
            .as_str()
            .unwrap()
            .contains("bot cannot handle crashes")
    );
}

#[test]
fn a_rerun_of_an_unchanged_check_is_answered_from_the_cache() {
    let mock = Mock::start(vec![]);
    let p = openai_project(&mock, "");
    p.write(".gitignore", ".promptgate/\n");
    let env = [("MOCK_API_KEY", KEY)];
    let dry = p
        .promptgate(&["check", "--all", "--dry-run"])
        .envs(&env)
        .exits(0)
        .output;
    assert!(
        dry.stdout.contains(": 2 calls (0 answered from the cache)"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("at most 128 output tokens, at most $"),
        "{}",
        dry.stdout
    );
    assert_eq!(mock.hits(), 0, "a dry run makes no call");
    assert!(
        !p.path().join("reports").exists(),
        "a dry run starts no run"
    );
    let first = p.promptgate(&["check", "--all"]).envs(&env).exits(0).output;
    assert_eq!(mock.hits(), 2);
    let second = p.promptgate(&["check", "--all"]).envs(&env).exits(0).output;
    assert_eq!(mock.hits(), 2, "the rerun made no call");
    let dry = p.run_env(&["check", "--all", "--dry-run"], &env);
    assert!(
        dry.stdout.contains(": 0 calls (2 answered from the cache)"),
        "{}",
        dry.stdout
    );
    let report = p.report(&second);
    assert_eq!(
        (
            report["totals"]["calls"].as_u64(),
            report["totals"]["cached"].as_u64()
        ),
        (Some(0), Some(2))
    );
    assert_eq!(
        report["candidates"][0]["suites"][0]["cases"][0]["candidate"]["samples"][0]["attempts"],
        0
    );
    // The cached rerun reaches the same verdict with the same outputs.
    assert_eq!(
        p.report(&first)["candidates"][0]["suites"][0]["cases"],
        report["candidates"][0]["suites"][0]["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let mut c = c.clone();
                for side in ["baseline", "candidate"] {
                    c[side]["samples"][0]["attempts"] = serde_json::json!(1);
                }
                c
            })
            .collect::<serde_json::Value>()
    );
    // A changed parameter is a different request.
    p.write(
        "suites/triage.yaml",
        &SHOUT_SUITE.replace("cases:", "params: { max_tokens: 65 }\ncases:"),
    );
    assert_eq!(p.run_env(&["check", "--all"], &env).code, 0);
    assert_eq!(mock.hits(), 4);
    assert_eq!(p.run_env(&["check", "--all", "--no-cache"], &env).code, 0);
    assert_eq!(mock.hits(), 6, "--no-cache calls again");

    let stats = p.run(&["cache", "stats"]);
    assert!(
        stats.stdout.starts_with("4 cached responses"),
        "{}",
        stats.stdout
    );
    assert!(
        !std::fs::read_dir(p.path().join(".promptgate/cache"))
            .unwrap()
            .flatten()
            .any(|shard| {
                std::fs::read_dir(shard.path()).unwrap().flatten().any(|f| {
                    let text = std::fs::read_to_string(f.path()).unwrap_or_default();
                    text.contains(KEY) || f.path().extension().is_some_and(|e| e == "tmp")
                })
            }),
        "no key and no temporary file in the cache"
    );
    let cleared = p.run(&["cache", "clear"]);
    assert_eq!(cleared.stdout.trim(), "removed 4 cached responses");
    assert_eq!(p.run_env(&["check", "--all"], &env).code, 0);
    assert_eq!(mock.hits(), 8);
}

#[test]
fn a_killed_run_loses_nothing_and_its_rerun_repeats_no_completed_call() {
    let mock = Mock::start(vec![]);
    let p = openai_project(&mock, "    concurrency: 1\n");
    let mut suite = String::from("kind: regression\nprompt: support/triage\ncases:\n");
    for i in 0..12 {
        suite.push_str(&format!("  - id: c{i}\n    vars: {{ message: \"[slow] ticket {i}\" }}\n    assert:\n      - {{ type: contains, value: TICKET }}\n"));
    }
    p.write("suites/triage.yaml", &suite);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_promptgate"))
        .args(["check", "--all"])
        .current_dir(p.path())
        .env("MOCK_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let results = || -> Option<std::path::PathBuf> {
        let dir = std::fs::read_dir(p.path().join("reports"))
            .ok()?
            .flatten()
            .find(|e| e.path().is_dir())?;
        Some(dir.path().join("results.jsonl"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let lines = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    while results().is_none_or(|r| lines(&r) < 3) {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let log = results().unwrap();
    let completed = std::fs::read_to_string(&log).unwrap();
    for line in completed.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).expect("every logged line is whole");
        assert!(
            record["result"]["completion"]["text"]
                .as_str()
                .unwrap()
                .contains("TICKET")
        );
    }
    let done = completed.lines().count();
    assert!((3..12).contains(&done), "killed mid-run after {done} calls");
    let hits_at_kill = mock.hits();

    let rerun = p
        .promptgate(&["check", "--all"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(0)
        .output;
    assert_eq!(
        mock.hits() - hits_at_kill,
        12 - done,
        "only the calls that had not finished are made again"
    );
    let report = p.report(&rerun);
    assert_eq!(report["totals"]["cached"].as_u64(), Some(done as u64));
    assert_eq!(report["complete"], true);
}

fn wire_project(provider: &str) -> Project {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    p.write("suites/triage.yaml", SHOUT_SUITE);
    p.write(
        "promptgate.yaml",
        &format!("default_provider: remote\nproviders:\n  remote:\n{provider}    concurrency: 1\nparams: {{ temperature: 0.2, top_p: 0.9, max_tokens: 50, seed: 5 }}\n"),
    );
    p.commit("init");
    p
}

#[test]
fn anthropic_messages_wire_format() {
    let base = Mock::start(vec![Reply::Status(529)]);
    let root = base.base_url.trim_end_matches("/v1").to_string();
    let p = wire_project(&format!(
        "    kind: anthropic\n    model: claude-test\n    base_url: \"{root}\"\n    api_key_env: ANTHROPIC_TEST_KEY\n"
    ));
    let out = p
        .promptgate(&["run"])
        .envs(&[("ANTHROPIC_TEST_KEY", KEY)])
        .exits(0)
        .output;
    assert_eq!(base.hits(), 3, "the 529 overloaded answer was retried");
    let (headers, body) = &base.requests()[1];
    assert_eq!(headers["x-api-key"], KEY);
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert!(headers.get("authorization").is_none());
    assert_eq!(
        body["system"], "Categories: billing, bug, account.\n",
        "system text is top level"
    );
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            body["max_tokens"].as_u64(),
            body["temperature"].as_f64(),
            body["top_p"].as_f64()
        ),
        (Some(50), Some(0.2), Some(0.9))
    );
    let report = p.report(&out);
    let sample = &report["suites"][0]["cases"][0]["side"]["samples"][0];
    assert_eq!(sample["output"], "CHARGED TWICE");
    assert_eq!(sample["tokens"], 13);
}

#[test]
fn ollama_native_wire_format() {
    let mock = Mock::start(vec![Reply::Status(404)]);
    let root = mock.base_url.trim_end_matches("/v1").to_string();
    let p = wire_project(&format!(
        "    kind: ollama\n    model: llama3.2\n    base_url: \"{root}\"\n"
    ));
    let out = p.run(&["run"]);
    assert_eq!(
        out.code, 12,
        "the 404 is permanent: that case errors, the other passes\n{}",
        out.stdout
    );
    assert_eq!(mock.hits(), 2, "a 404 is not retried");
    assert!(
        out.stdout.contains("HTTP 404: scripted 404"),
        "{}",
        out.stdout
    );
    let (_, body) = &mock.requests()[1];
    assert_eq!(body["stream"], false);
    assert_eq!(
        body["options"],
        serde_json::json!({ "temperature": 0.2, "top_p": 0.9, "seed": 5, "num_predict": 50 })
    );
    assert_eq!(body["messages"][0]["role"], "system");
    let report = p.report(&out);
    let outputs: Vec<&str> = report["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["side"]["samples"][0]["output"].as_str())
        .collect();
    assert_eq!(outputs.len(), 1);
    assert!(
        outputs[0] == "CHARGED TWICE" || outputs[0] == "APP CRASHES",
        "{outputs:?}"
    );
}

#[test]
fn a_call_that_hangs_times_out_and_the_run_goes_on() {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    p.write("suites/triage.yaml", SHOUT_SUITE);
    // Hangs on one case, answers the other at once.
    p.write(
        "bot.sh",
        "#!/bin/sh\ninput=$(cat)\ncase \"$input\" in *crash*) sleep 30 ;; esac\necho CHARGED\n",
    );
    p.write(
        "promptgate.yaml",
        "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"sh\", \"bot.sh\"], timeout_ms: 300 }\n",
    );
    p.commit("init");
    let out = p.promptgate(&["run"]).exits(12).output;
    // Had the call not been abandoned, the command would have answered after 30 s.
    assert!(
        out.stdout.contains("timed out after 300ms"),
        "{}",
        out.stdout
    );
    let report = p.report(&out);
    let bug = report["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "bug")
        .unwrap();
    assert_eq!(
        bug["side"]["samples"][0]["attempts"], 3,
        "a timeout is retried like a server error"
    );
    let billing = report["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "billing")
        .unwrap();
    assert_eq!(billing["side"]["samples"][0]["output"], "CHARGED");
}
