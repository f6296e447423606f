//! Nothing lost, nothing overspent: budget caps at high concurrency, resume after `kill -9`,
//! two-stage Ctrl-C, record and replay, and no key in any file a run writes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mock::Mock;
use crate::support::{Project, TRIAGE_PROMPT};

/// A check killed after 3 of its 6 calls, as promptgate stored it before its engine moved into
/// `pipeline/` (commit bf47379): the triage project on `echo`, its prompt given a fourth
/// category.
const STORED_RUN: &str = "tests/data/runs/before-pipeline";

const KEY: &str = "sk-durable-5ecret-key";

/// A project on the mock with `cases` cases (messages carry `marker`), a key variable, a price
/// unless `priced` is false, and a committed baseline that differs from the working tree when
/// `changed` (so each case needs two calls).
fn project(mock: &Mock, cases: usize, marker: &str, provider_extra: &str) -> Project {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    let mut suite = String::from("kind: regression\nprompt: support/triage\ncases:\n");
    for i in 0..cases {
        suite.push_str(&format!(
            "  - id: c{i:03}\n    vars: {{ message: \"{marker} ticket {i}\" }}\n    assert:\n      - {{ type: contains, value: TICKET }}\n"
        ));
    }
    p.write("suites/triage.yaml", &suite);
    p.write(
        "promptgate.yaml",
        &format!(
            "default_provider: mock\nproviders:\n  mock:\n    kind: openai\n    model: tiny-1\n    base_url: \"{}\"\n    api_key_env: MOCK_API_KEY\n{provider_extra}params: {{ max_tokens: 16 }}\n",
            mock.base_url
        ),
    );
    p.commit("init");
    p
}

const PRICED: &str =
    "    price: { input_per_mtok: 1.0, output_per_mtok: 2.0 }\n    concurrency: 64\n";

/// Edits the prompt so baseline and candidate differ: every case then needs two calls.
fn change_prompt(p: &Project) {
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("Categories:", "Pick one of these categories:"),
    );
}

fn spawn(p: &Project, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_promptgate"))
        .args(args)
        .current_dir(p.path())
        .env("MOCK_API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The one run directory under reports/, once it has a results log.
fn run_dir(p: &Project) -> Option<PathBuf> {
    std::fs::read_dir(p.path().join("reports"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|d| d.join("results.jsonl").is_file())
}

fn logged(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Waits until the run has logged at least `n` calls; returns its directory.
fn wait_for_calls(p: &Project, n: usize) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(dir) = run_dir(p).filter(|d| logged(d) >= n) {
            return dir;
        }
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn report_of(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn budget_caps_hold_at_concurrency_64_and_the_rest_is_skipped() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, 120, "", PRICED);
    change_prompt(&p);
    let env = [("MOCK_API_KEY", KEY)];
    let check = |cap: &[&str]| {
        let before = mock.hits();
        let mut args = vec!["check", "--all", "--no-cache", "--concurrency", "64"];
        args.extend_from_slice(cap);
        let out = p.run_env(&args, &env);
        (out, mock.hits() - before)
    };

    let (out, calls) = check(&["--max-calls", "50"]);
    assert_eq!(out.code, 12, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(calls, 50, "exactly the cap, never more");
    let report = p.report(&out);
    assert_eq!(report["totals"]["calls"], 50);
    assert_eq!(report["totals"]["skipped"], 190);
    assert_eq!(report["complete"], false);
    let why = report["incomplete"].as_str().unwrap();
    assert!(why.contains("--max-calls 50 reached"), "{why}");
    assert!(out.stdout.contains("incomplete:"), "{}", out.stdout);
    let skipped = report["candidates"][0]["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "skipped")
        .count();
    assert!(skipped >= 120 - 50, "{skipped} cases skipped");

    // Tokens: each call uses 14; the cap is never passed however the calls interleave.
    let (out, calls) = check(&["--max-tokens", "1000"]);
    assert_eq!(out.code, 12);
    let tokens = p.report(&out)["totals"]["tokens"].as_u64().unwrap();
    assert!(
        tokens <= 1000 && tokens == calls as u64 * 14,
        "{tokens} tokens in {calls} calls"
    );
    assert!(calls > 0);

    // Dollars: 17 µ$ a call.
    let (out, calls) = check(&["--max-cost", "0.0005"]);
    assert_eq!(out.code, 12);
    let cost = p.report(&out)["totals"]["cost"].as_f64().unwrap();
    assert!(cost <= 0.0005 && calls > 0, "${cost} in {calls} calls");

    // A generous budget changes nothing.
    let (out, calls) = check(&["--max-calls", "1000", "--max-cost", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(calls, 240);
}

#[test]
fn a_cost_cap_refuses_a_provider_without_a_price() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, 3, "", "");
    let out = p
        .promptgate(&["check", "--all", "--max-cost", "5"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(12)
        .output;
    assert_eq!(mock.hits(), 0, "an unknown price never counts as zero");
    let report = p.report(&out);
    assert!(
        report["incomplete"]
            .as_str()
            .unwrap()
            .contains("price is unknown")
    );
}

#[test]
fn a_killed_run_resumes_without_repeating_a_completed_call() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, 12, "[slow]", "    concurrency: 1\n");
    // No cache: only the results log can tell which calls are done.
    let mut child = spawn(&p, &["check", "--all", "--no-cache"]);
    let dir = wait_for_calls(&p, 3);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let done = logged(&dir);
    assert!((3..12).contains(&done), "killed mid-run after {done} calls");
    assert!(!dir.join("report.json").exists());
    let hits_at_kill = mock.hits();

    let out = p
        .promptgate(&["check", "--resume"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(0)
        .output;
    assert!(
        out.stderr.contains(&format!("{done} calls already done")),
        "{}",
        out.stderr
    );
    assert_eq!(
        p.path().join(out.report_dir()),
        dir,
        "the same run is finished"
    );
    assert_eq!(
        mock.hits() - hits_at_kill,
        12 - done,
        "only calls that had not finished are made"
    );
    assert_eq!(logged(&dir), 12, "every call is logged once");
    let report = report_of(&dir);
    assert_eq!(report["complete"], true);
    assert_eq!(report["totals"]["calls"], 12);
    assert_eq!(report["totals"]["cached"], 0);

    let again = p
        .promptgate(&["check", "--resume"])
        .envs(&[("MOCK_API_KEY", KEY)])
        .exits(2)
        .output;
    assert!(
        again.stderr.contains("no interrupted check to resume"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_run_stored_before_the_engine_moved_still_resumes() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("bug, account.", "bug, account, refund."),
    );
    let stored = Path::new(env!("CARGO_MANIFEST_DIR")).join(STORED_RUN);
    let manifest = std::fs::read_to_string(stored.join("manifest.json")).unwrap();
    let id = serde_json::from_str::<Value>(&manifest).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = p.path().join("reports").join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["manifest.json", "results.jsonl"] {
        std::fs::copy(stored.join(file), dir.join(file)).unwrap();
    }
    assert_eq!(logged(&dir), 3);
    p.promptgate(&["check", "--resume", &id])
        .exits(0)
        .stderr_has(&[&format!("resuming run {id}: 3 calls already done")])
        .stdout_has(&["PASS support/triage", "fixed 1: refund"]);
    assert_eq!(logged(&dir), 6, "only the 3 calls not logged were made");
    let report = report_of(&dir);
    assert_eq!(report["complete"], true);
    assert_eq!(report["verdict"], "pass");
}

#[test]
fn a_first_ctrl_c_finishes_in_flight_calls_and_writes_an_incomplete_report() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, 12, "[slow]", "    concurrency: 1\n");
    let child = spawn(&p, &["check", "--all", "--no-cache"]);
    let dir = wait_for_calls(&p, 3);
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{stderr}");
    assert!(stderr.contains("interrupted: no new calls"), "{stderr}");
    let report = report_of(&dir);
    assert_eq!(report["complete"], false);
    let why = report["incomplete"].as_str().unwrap();
    assert!(
        why.contains("interrupted") && why.contains("--resume"),
        "{why}"
    );
    let done = logged(&dir);
    assert!(done < 12, "scheduling stopped after {done} calls");
    assert_eq!(report["totals"]["calls"].as_u64(), Some(done as u64));
    assert!(dir.join("index.html").is_file() && dir.join("summary.md").is_file());

    let before = mock.hits();
    p.promptgate(&[
        "check",
        "--resume",
        dir.file_name().unwrap().to_str().unwrap(),
    ])
    .envs(&[("MOCK_API_KEY", KEY)])
    .exits(0);
    assert_eq!(mock.hits() - before, 12 - done);
    assert_eq!(report_of(&dir)["complete"], true);
}

#[test]
fn a_second_ctrl_c_abandons_calls_in_flight() {
    let mock = Mock::start(vec![]);
    // Streams that stall for ten seconds: only an abort ends them early.
    let p = project(
        &mock,
        4,
        "[stall]",
        "    stream: true\n    concurrency: 2\n",
    );
    let child = spawn(&p, &["check", "--all", "--no-cache"]);
    let started = Instant::now();
    while mock.hits() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "{stderr}");
    assert!(stderr.contains("aborted the calls in flight"), "{stderr}");
    let dir = run_dir(&p).unwrap();
    assert_eq!(logged(&dir), 0);
    let report = report_of(&dir);
    assert_eq!(report["totals"]["skipped"], 4);
    assert_eq!(mock.hits(), 2, "no call started after the first Ctrl-C");
}

#[test]
fn recorded_responses_replay_offline_and_a_missing_one_names_its_case() {
    let mock = Mock::start(vec![]);
    let p = project(&mock, 3, "", PRICED);
    p.promptgate(&["check", "--all", "--record"])
        .env("MOCK_API_KEY", KEY)
        .exits(0)
        .never_shows(KEY)
        .wrote("fixtures/cassettes/mock.jsonl", &["triage/c000#0"]);
    let cassette = p.read("fixtures/cassettes/mock.jsonl");
    assert_eq!(cassette.lines().count(), 3);
    let entry: Value = serde_json::from_str(cassette.lines().next().unwrap()).unwrap();
    assert_eq!(entry["case"], "triage/c000#0 on support/triage@HEAD");
    assert!(
        entry["completion"]["text"]
            .as_str()
            .unwrap()
            .contains("TICKET 0")
    );

    // Offline: no key, and the server is not asked.
    let hits = mock.hits();
    let out = p
        .promptgate(&["check", "--all", "--provider", "replay"])
        .exits(0)
        .output;
    assert_eq!(mock.hits(), hits);
    let report = p.report(&out);
    assert_eq!(
        report["candidates"][0]["suites"][0]["provider"],
        "replay:mock"
    );

    // A new case has no recording: its case errors and says how to record it.
    let suite = p.read("suites/triage.yaml");
    p.write(
        "suites/triage.yaml",
        &format!("{suite}  - id: brand-new\n    vars: {{ message: \"new ticket\" }}\n"),
    );
    let out = p
        .promptgate(&["check", "--all", "--provider", "replay"])
        .exits(12)
        .output;
    assert!(out.stdout.contains("brand-new"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("no recorded response for this request in fixtures/cassettes/mock.jsonl"),
        "{}",
        out.stdout
    );

    // The key is in no file any of these runs wrote.
    assert_no_key_under(p.path());
}

fn assert_no_key_under(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            assert_no_key_under(&path);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("5ecret"),
                "the key leaked into {}",
                path.display()
            );
        }
    }
}
