//! Batch mode: a check's calls go through the mock's OpenAI Batch API and Anthropic Message
//! Batches (submitted, split at the limits, polled, collected), at the batch price; expired
//! requests are made directly and refused ones are errors; a run killed while its batches run
//! resumes without submitting them again; a provider without a batch API is refused.

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mock::Mock;
use crate::support::{Project, polite_tickets, statuses};

/// 24 cases (plus `extra` cases), as in the shard tests: the candidate adds "please" to every
/// fifth one, which its assertion forbids. The provider is `kind` on the mock, priced, with
/// batches of at most 10 requests polled every 20 ms.
fn project(mock: &Mock, kind: &str, extra: &str) -> Project {
    let base_url = match kind {
        "openai" => mock.base_url.clone(),
        _ => mock.base_url.trim_end_matches("/v1").to_string(),
    };
    polite_tickets(
        &format!(
            "default_provider: mock\nproviders:\n  mock:\n    kind: {kind}\n    model: tiny-1\n    base_url: \"{base_url}\"\n    api_key_env: MOCK_KEY\n    price: {{ input_per_mtok: 1.0, output_per_mtok: 2.0 }}\n    batch: {{ max_requests: 10, poll_ms: 20, max_poll_ms: 100 }}\n"
        ),
        extra,
    )
}

const KEY: &str = "sk-batch-secret-0123456789";

fn comparison(report: &Value) -> &Value {
    &report["candidates"][0]["suites"][0]["comparison"]
}

/// A request (custom id) that went into two batches, if one did.
fn submitted_twice(mock: &Mock) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    mock.batches()
        .all()
        .into_iter()
        .flat_map(|b| b.items)
        .map(|(id, _)| id)
        .find(|id| !seen.insert(id.clone()))
}

#[test]
fn both_batch_apis_answer_a_check_split_at_the_limit_and_at_the_batch_price() {
    for kind in ["openai", "anthropic"] {
        let mock = Mock::start(vec![]);
        // The mock refuses a batch over the limit, as the APIs refuse one over theirs.
        mock.batches().limit.store(10, Ordering::SeqCst);
        let p = project(&mock, kind, "");
        let direct = p
            .promptgate(&["check", "--no-cache"])
            .env("MOCK_KEY", KEY)
            .exits(10);
        let direct_report = p.report(&direct.output);
        let direct_calls = mock.hits();
        // 24 cases, 5 of them changed, and the 5 regressions confirmed with 2 more samples on
        // each side.
        assert_eq!(direct_calls, 49, "{kind}");

        // The estimate prices the calls at the batch price.
        let max_cost = |args: &[&str]| {
            let out = p.promptgate(args).env("MOCK_KEY", KEY).exits(0);
            let estimates: Value = serde_json::from_str(&out.output.stdout).unwrap();
            estimates[0]["max_cost"].as_f64().unwrap()
        };
        let full = max_cost(&["check", "--dry-run", "--json"]);
        let half = max_cost(&["check", "--dry-run", "--json", "--batch"]);
        assert!(
            full > 0.0 && (half * 2.0 - full).abs() < 1e-12,
            "{half} {full}"
        );

        let batched = p
            .promptgate(&["check", "--no-cache", "--batch"])
            .env("MOCK_KEY", KEY)
            .exits(10)
            .stdout_has(&["FAIL bot"])
            .stderr_has(&["submitted batch"])
            .never_shows(KEY);
        assert_eq!(
            mock.hits(),
            direct_calls,
            "{kind}: no direct call in batch mode"
        );
        let batches = mock.batches().all();
        let sizes: Vec<usize> = batches.iter().map(|b| b.items.len()).collect();
        assert_eq!(
            sizes,
            [10, 10, 9, 10, 10],
            "{kind}: 29 requests, then 20 confirmations, split at 10"
        );
        assert_eq!(submitted_twice(&mock), None);
        let report = p.report(&batched.output);
        assert_eq!(statuses(&report), statuses(&direct_report), "{kind}");
        assert_eq!(comparison(&report)["regressed"], 5, "{kind}");
        for side in ["baseline", "candidate"] {
            let full = comparison(&direct_report)[side]["cost"].as_f64().unwrap();
            let half = comparison(&report)[side]["cost"].as_f64().unwrap();
            assert!(full > 0.0);
            assert!(
                (half * 2.0 - full).abs() < 1e-12,
                "{kind} {side}: {half} is half of {full}"
            );
        }
        // Every logged call says it was batched, and the batches are recorded for a resume.
        let dir = batched.output.report_dir();
        let log = p.read(&format!("{dir}/results.jsonl"));
        assert!(log.lines().all(|l| l.contains("\"batched\":true")));
        let recorded = p.read(&format!("{dir}/batches.jsonl"));
        assert_eq!(recorded.lines().count(), 5, "{kind}");
        for file in [&log, &recorded] {
            assert!(!file.contains(KEY));
        }

        // Batched responses go to the response cache: a rerun submits nothing.
        p.promptgate(&["check", "--batch"])
            .env("MOCK_KEY", KEY)
            .exits(10);
        assert_eq!(mock.batches().all().len(), 10, "{kind}");
        p.promptgate(&["check", "--batch"])
            .env("MOCK_KEY", KEY)
            .exits(10)
            .stderr_has(&["cached"]);
        assert_eq!(
            mock.batches().all().len(),
            10,
            "{kind}: a cached rerun submits nothing"
        );
    }
}

#[test]
fn expired_requests_are_made_directly_and_refused_ones_are_errors() {
    let extra = "  - { id: late, vars: { message: \"ticket [batch-expire]\" }, assert: [ { type: contains, value: TICKET } ] }\n  - { id: bad, vars: { message: \"ticket [batch-refuse]\" }, assert: [ { type: contains, value: TICKET } ] }\n";
    for kind in ["openai", "anthropic"] {
        let mock = Mock::start(vec![]);
        let p = project(&mock, kind, extra);
        let run = p
            .promptgate(&["check", "--no-cache", "--batch", "--max-errors", "1"])
            .env("MOCK_KEY", KEY)
            .exits(10)
            .stderr_has(&["did not run in their batch", "calling them directly"]);
        assert_eq!(
            mock.hits(),
            1,
            "{kind}: only the expired request is made directly"
        );
        let report = p.report(&run.output);
        let status = |id: &str| {
            statuses(&report)
                .into_iter()
                .find(|(case, _)| case == id)
                .unwrap()
                .1
        };
        assert_eq!(status("late"), "unchanged-pass", "{kind}");
        assert_eq!(status("bad"), "error", "{kind}");
        assert!(
            p.read(&format!("{}/results.jsonl", run.output.report_dir()))
                .contains("refused in the batch"),
            "{kind}"
        );
    }
}

/// Starts `promptgate ARGS` on `p` and waits until the run directory records `batches`
/// batches and the process has polled each of them while they are held.
fn started_with_batches(
    p: &Project,
    mock: &Mock,
    args: &[&str],
    batches: usize,
) -> std::process::Child {
    let polls_before = mock.batches().polls.load(Ordering::SeqCst);
    let child = Command::new(env!("CARGO_BIN_EXE_promptgate"))
        .args(args)
        .env("MOCK_KEY", KEY)
        .current_dir(p.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let recorded = || {
        std::fs::read_dir(p.path().join("reports"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("batches.jsonl")).ok())
            .map(|text| text.lines().count())
            .sum::<usize>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let polls = || mock.batches().polls.load(Ordering::SeqCst) - polls_before;
    while recorded() < batches || polls() < batches {
        assert!(
            Instant::now() < deadline,
            "the batches were never recorded and polled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn an_interrupted_or_killed_batch_run_resumes_without_submitting_again() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, "openai", "");
    mock.batches().hold.store(true, Ordering::SeqCst);

    // Ctrl-C: the batches go on at the provider, and the run is incomplete.
    let child = started_with_batches(&p, &mock, &["check", "--no-cache", "--batch"], 3);
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{stderr}");
    assert!(
        stderr.contains("the batches go on at the provider"),
        "{stderr}"
    );

    // Resumed, then killed with SIGKILL while it waits for the same batches.
    let mut child = started_with_batches(&p, &mock, &["check", "--resume"], 3);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(mock.batches().all().len(), 3, "neither run submitted again");

    mock.batches().hold.store(false, Ordering::SeqCst);
    let resumed = p
        .promptgate(&["check", "--resume"])
        .env("MOCK_KEY", KEY)
        .exits(10)
        .stdout_has(&["FAIL bot"]);
    // The resumed run collects the three batches and submits only the confirmations'.
    assert_eq!(mock.batches().all().len(), 5);
    assert_eq!(
        submitted_twice(&mock),
        None,
        "no request is submitted twice"
    );
    assert_eq!(mock.hits(), 0, "and no call is made directly");
    let report = p.report(&resumed.output);
    assert_eq!(report["complete"], true);
    assert_eq!(comparison(&report)["regressed"], 5);
}

#[test]
fn a_provider_without_a_batch_api_and_a_latency_gate_are_refused() {
    let p = Project::triage();
    p.promptgate(&["check", "--batch", "--all"])
        .exits(2)
        .stderr_has(&["--batch:", "has no batch API", "run without --batch"]);

    let mock = Mock::start(vec![]);
    let p = project(&mock, "anthropic", "");
    p.write(
        "suites/bot.yaml",
        &p.read("suites/bot.yaml").replace(
            "prompt: bot\n",
            "prompt: bot\ntolerance: { max_latency_increase: 0.5 }\n",
        ),
    );
    p.promptgate(&["check", "--batch"])
        .env("MOCK_KEY", KEY)
        .exits(2)
        .stderr_has(&["suite `bot` is gated on `max_latency_increase`"]);
    assert!(mock.batches().all().is_empty());
}

#[test]
fn a_batch_that_never_ends_is_left_to_resume_after_the_wait() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, "openai", "");
    p.write(
        "promptgate.yaml",
        &p.read("promptgate.yaml")
            .replace("max_poll_ms: 100 }", "max_poll_ms: 100, max_wait_ms: 400 }"),
    );
    mock.batches().hold.store(true, Ordering::SeqCst);
    p.promptgate(&["check", "--no-cache", "--batch"])
        .env("MOCK_KEY", KEY)
        .exits(12)
        .stdout_has(&["did not end within the run's wait (max_wait_ms)"]);
    let submitted = mock.batches().all().len();
    // Once the provider ends them, `--resume` collects the same batches.
    mock.batches().hold.store(false, Ordering::SeqCst);
    p.promptgate(&["check", "--resume"])
        .env("MOCK_KEY", KEY)
        .exits(10);
    assert_eq!(
        submitted_twice(&mock),
        None,
        "no request is submitted twice"
    );
    assert!(mock.batches().all().len() >= submitted);
}
