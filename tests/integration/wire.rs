//! The wire formats under stress: streams in all three formats, stalls, mid-stream errors, cut
//! streams, slow headers, `retry-after` in every form, and errors that must not be retried.

use serde_json::{Value, json};

use crate::mock::{Mock, Reply};
use crate::support::{Project, TRIAGE_PROMPT};

/// A project whose `remote` provider is `provider` (YAML lines, indented four spaces) and whose
/// suite has one case per message, each expecting the message's first word shouted back.
fn project(provider: &str, messages: &[&str]) -> Project {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    let mut suite = String::from("kind: regression\nprompt: support/triage\ncases:\n");
    for (i, m) in messages.iter().enumerate() {
        let word = m.split_whitespace().next().unwrap().to_uppercase();
        suite.push_str(&format!(
            "  - id: c{i}\n    vars: {{ message: \"{m}\" }}\n    assert:\n      - {{ type: contains, value: \"{word}\" }}\n"
        ));
    }
    p.write("suites/triage.yaml", &suite);
    p.write(
        "promptgate.yaml",
        &format!("default_provider: remote\nproviders:\n  remote:\n{provider}    concurrency: 1\nparams: {{ max_tokens: 50 }}\n"),
    );
    p.commit("init");
    p
}

fn openai(mock: &Mock, extra: &str) -> String {
    format!(
        "    kind: openai\n    model: m\n    base_url: \"{}\"\n{extra}",
        mock.base_url
    )
}

/// Samples of the candidate side, by case id.
fn samples(p: &Project, out: &crate::support::Output) -> Vec<(String, Value)> {
    let report = p.report(out);
    let mut cases: Vec<(String, Value)> = report["candidates"][0]["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["candidate"]["samples"][0].clone(),
            )
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

#[test]
fn streamed_responses_in_all_three_formats_give_text_usage_and_finish() {
    let mock = Mock::start(vec![]);
    let root = mock.base_url.trim_end_matches("/v1").to_string();
    let providers = [
        (openai(&mock, "    stream: true\n"), 14),
        (
            format!(
                "    kind: anthropic\n    model: claude-x\n    base_url: \"{root}\"\n    stream: true\n"
            ),
            13,
        ),
        (
            format!(
                "    kind: ollama\n    model: llama\n    base_url: \"{root}\"\n    stream: true\n"
            ),
            9,
        ),
    ];
    for (provider, tokens) in providers {
        let p = project(&provider, &["refund please", "crash report"]);
        let before = mock.hits();
        let out = p.run(&["check", "--all"]);
        assert_eq!(out.code, 0, "{provider}\n{}\n{}", out.stdout, out.stderr);
        assert_eq!(mock.hits() - before, 2);
        for (_, sample) in samples(&p, &out) {
            assert_eq!(sample["tokens"], tokens, "{provider}: {sample}");
            assert_eq!(sample["attempts"], 1);
            assert!(
                sample["output"].as_str().unwrap().contains("PLEASE")
                    || sample["output"].as_str().unwrap().contains("REPORT")
            );
        }
        let (_, body) = mock.requests().pop().unwrap();
        assert_eq!(body["stream"], true, "{provider}");
    }
    let openai_body = &mock.requests()[0].1;
    assert_eq!(
        openai_body["stream_options"],
        json!({ "include_usage": true })
    );
    assert_eq!(
        openai_body["max_tokens"], 50,
        "a compatible server gets max_tokens"
    );
}

#[test]
fn a_server_that_reports_no_usage_gets_estimated_counts_never_zero() {
    // llama.cpp's server streams no usage chunk even when asked for one; a plain reply may
    // leave `usage` out too. Budgets and costs must not read zero.
    let mock = Mock::start(vec![]);
    for extra in ["    stream: true\n", ""] {
        let p = project(
            &openai(&mock, extra),
            &["refund please [no-usage]", "crash report [no-usage]"],
        );
        let out = p.run(&["check", "--all", "--max-tokens", "100000"]);
        assert_eq!(out.code, 0, "{extra}\n{}\n{}", out.stdout, out.stderr);
        for (id, sample) in samples(&p, &out) {
            let tokens = sample["tokens"].as_u64().unwrap();
            assert!(tokens > 0, "{extra}{id}: {sample}");
        }
        let report = p.report(&out);
        assert_eq!(report["totals"]["estimated_tokens"], 2, "{extra}");
        assert!(report["totals"]["tokens"].as_u64().unwrap() > 0);
        assert!(
            out.stdout
                .contains("tokens (estimated for 2 calls whose provider reported none)"),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn stalled_cut_and_failing_streams_are_failed_attempts_and_the_run_goes_on() {
    let mock = Mock::start(vec![]);
    let p = project(
        &openai(
            &mock,
            "    stream: true\n    idle_timeout_ms: 300\n    retries: 1\n",
        ),
        &[
            "fine answer",
            "stall [stall]",
            "error [midstream-error]",
            "cut [cut]",
        ],
    );
    let out = p
        .promptgate(&["check", "--all", "--max-errors", "3"])
        .exits(0)
        .output;
    let samples = samples(&p, &out);
    assert_eq!(samples[0].1["output"], "FINE ANSWER");
    let expect = [
        (1, "the response stalled for 0.3 s (idle_timeout_ms)"),
        (
            2,
            "error in the middle of the stream: The server had an error",
        ),
        (3, "the stream ended before the response was complete"),
    ];
    for (i, message) in expect {
        let sample = &samples[i].1;
        assert!(
            sample["error"].as_str().unwrap().contains(message),
            "case {i}: {sample}"
        );
        assert_eq!(sample["attempts"], 2, "retried once: {sample}");
    }
    assert_eq!(mock.hits(), 1 + 3 * 2);
}

#[test]
fn anthropic_overload_in_the_stream_and_ollama_errors_in_ndjson_are_caught() {
    let mock = Mock::start(vec![]);
    let root = mock.base_url.trim_end_matches("/v1").to_string();
    for provider in [
        format!(
            "    kind: anthropic\n    model: c\n    base_url: \"{root}\"\n    stream: true\n    retries: 0\n"
        ),
        format!(
            "    kind: ollama\n    model: l\n    base_url: \"{root}\"\n    stream: true\n    retries: 0\n"
        ),
    ] {
        let p = project(&provider, &["boom [midstream-error]"]);
        let out = p.promptgate(&["check", "--all"]).exits(12).output;
        let error = samples(&p, &out)[0].1["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            error.contains("Overloaded") || error.contains("unexpectedly stopped"),
            "{error}"
        );
    }
}

#[test]
fn slow_headers_hit_the_first_byte_timeout() {
    let mock = Mock::start(vec![]);
    let p = project(
        &openai(&mock, "    first_byte_timeout_ms: 40\n    retries: 0\n"),
        &["slow [slow]", "quick one"],
    );
    let out = p.promptgate(&["check", "--all"]).exits(12).output;
    let samples = samples(&p, &out);
    assert!(
        samples[0].1["error"]
            .as_str()
            .unwrap()
            .contains("no response within 0.04 s (first_byte_timeout_ms)")
    );
    assert_eq!(samples[1].1["output"], "QUICK ONE");
}

#[test]
fn retry_after_in_every_form_and_errors_that_no_retry_can_fix() {
    let error = |code: &str| json!({ "error": { "message": format!("scripted {code}"), "type": "invalid_request_error", "code": code } });
    let in_a_second = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let cases: Vec<(Reply, u64, &str)> = vec![
        // An HTTP date is honoured, then the call succeeds.
        (
            Reply::Custom(
                429,
                error("rate_limit_exceeded"),
                vec![("retry-after", in_a_second)],
            ),
            2,
            "",
        ),
        (
            Reply::Custom(429, error("rate_limit_exceeded"), vec![]),
            2,
            "",
        ),
        // A server that asks for an hour is not waited for.
        (
            Reply::Custom(
                429,
                error("rate_limit_exceeded"),
                vec![("retry-after", "3600".into())],
            ),
            1,
            "HTTP 429",
        ),
        (
            Reply::Custom(429, error("insufficient_quota"), vec![]),
            1,
            "HTTP 429",
        ),
        (
            Reply::Custom(400, error("context_length_exceeded"), vec![]),
            1,
            "HTTP 400",
        ),
        (
            Reply::Custom(404, error("model_not_found"), vec![]),
            1,
            "HTTP 404",
        ),
        (
            Reply::Custom(
                500,
                error("server_error"),
                vec![("x-should-retry", "false".into())],
            ),
            1,
            "HTTP 500",
        ),
        (
            Reply::Custom(
                400,
                error("flaky_gateway"),
                vec![("x-should-retry", "true".into())],
            ),
            2,
            "",
        ),
        (
            Reply::Custom(
                529,
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                vec![],
            ),
            2,
            "",
        ),
        (
            Reply::Custom(
                408,
                json!({"object": "error", "message": "timeout", "code": 408}),
                vec![],
            ),
            2,
            "",
        ),
    ];
    for (reply, attempts, error_start) in cases {
        let shown = format!("{reply:?}");
        let mock = Mock::start(vec![reply]);
        let p = project(&openai(&mock, ""), &["hello there"]);
        let out = p.run(&["check", "--all"]);
        let sample = samples(&p, &out)[0].1.clone();
        assert_eq!(sample["attempts"], attempts, "{shown}: {sample}");
        if error_start.is_empty() {
            assert_eq!(out.code, 0, "{shown}\n{}", out.stderr);
            assert_eq!(sample["output"], "HELLO THERE");
        } else {
            assert_eq!(out.code, 12, "{shown}");
            // Every failed call names the configured provider first.
            let error = sample["error"].as_str().unwrap();
            assert!(
                error
                    .strip_prefix("provider `remote`: ")
                    .is_some_and(|e| e.starts_with(error_start)),
                "{shown}: {sample}"
            );
        }
    }
}

#[test]
fn finish_reasons_and_empty_choices_are_recorded() {
    let mock = Mock::start(vec![]);
    let p = project(
        &openai(&mock, "    retries: 0\n"),
        &["long [length]", "empty [no-choices]"],
    );
    let out = p.promptgate(&["check", "--all"]).exits(12).output;
    let log =
        std::fs::read_to_string(p.path().join(out.report_dir()).join("results.jsonl")).unwrap();
    assert!(log.contains(r#""finish":"length""#), "{log}");
    assert!(log.contains("response has no choices"), "{log}");
}
