//! The production loop: shadow runs on traffic (JSONL and OTLP JSON made by the OpenTelemetry
//! SDK), the monitoring baseline a promotion records, `monitor` and its kill switch, and
//! readiness.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::Project;

const REPLY: &str = "---\npromptgate.owner: support-platform\npromptgate.escalation: oncall-support@example.com\npromptgate.risk_tier: low\ninput:\n  schema:\n    name: string\n    issue: string\n---\n{{role \"user\"}}Dear {{name}}, about {{issue}}: we are on it.\n";

const SHADOW: &str = "kind: shadow\nprompt: support/reply\ndefaults:\n  assert:\n    - { type: starts-with, value: \"user: Dear \" }\n    - { type: max-length, value: 400 }\n    - { type: regex-any, value: api-keys }\n";

const REGRESSION: &str = "kind: regression\nprompt: support/reply\ncases:\n  - { id: ana, vars: { name: Ana, issue: a late parcel }, assert: [ { type: contains, value: Ana } ] }\n  - { id: bo, vars: { name: Bo, issue: a refund }, assert: [ { type: contains, value: refund } ] }\n";

/// A planted credential: it must appear in no file promptgate writes.
const PLANTED: &str = "sk-proj-PLANTEDabcdefghijklmnopqrstuv0123";

fn project() -> Project {
    Project::new()
        .with("prompts/support/reply.prompt", REPLY)
        .with("suites/reply-shadow.yaml", SHADOW)
        .with("suites/reply.yaml", REGRESSION)
        .committed("reply")
}

/// The project, its `low` tier requiring a regression suite and a shadow run.
fn requiring_shadow() -> Project {
    let p = project();
    p.write(
        "promptgate.yaml",
        "default_provider: echo\npolicy:\n  low: { require: [regression, shadow] }\n",
    );
    p.commit("require shadow");
    p
}

/// `n` JSONL records of support/reply served by `version`, with `output` (the echo
/// provider's shape when `good`), `at` now minus `i` minutes; the first one carries the
/// planted key; then four records that cannot be mapped, one per reason.
fn traffic(n: usize, version: &str, good: bool) -> String {
    let now = chrono::Utc::now();
    let mut out = String::new();
    for i in 0..n {
        let issue = if i == 0 {
            format!("my key {PLANTED} leaked")
        } else {
            format!("order {i}")
        };
        let name = ["Ana", "Bo", "Cy"][i % 3];
        let output = if good {
            format!("user: Dear {name}, about {issue}: we are on it.")
        } else {
            format!("Hi {name}!")
        };
        let record = serde_json::json!({
            "prompt": "support/reply", "version": version,
            "vars": { "name": name, "issue": issue },
            "output": output, "latency_ms": 100 + i, "usage": { "input_tokens": 20, "output_tokens": 10 },
            "at": (now - chrono::Duration::minutes(i as i64)).to_rfc3339(),
            "headers": { "authorization": format!("Bearer {PLANTED}") },
        });
        out.push_str(&format!("{record}\n"));
    }
    out.push_str("{\"vars\": {\"name\": \"x\"}}\n");
    out.push_str("{\"prompt\": \"support/unknown\", \"vars\": {}}\n");
    out.push_str("{\"prompt\": \"support/reply\", \"vars\": \"not an object\"}\n");
    out.push_str("{not json\n");
    out
}

/// The OTLP JSON the OpenTelemetry SDK exports for the JSONL records at `jsonl`.
fn otlp(p: &Project, jsonl: &str, out: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/traffic/otlp.py");
    let result = Command::new("python3")
        .arg(script)
        .arg(p.path().join(jsonl))
        .output()
        .expect("python3 runs");
    assert!(
        result.status.success(),
        "the OpenTelemetry SDK (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-common) must be importable: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    p.write(out, &String::from_utf8(result.stdout).unwrap());
}

/// Every file under the project except the traffic itself and git's objects, as text.
fn written(root: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ".git" || name.starts_with("traffic") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                found.push((path.display().to_string(), text));
            }
        }
    }
    found
}

fn skipped(report: &Value) -> Vec<(String, u64)> {
    report["traffic"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["reason"].as_str().unwrap().to_string(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn shadow_runs_on_jsonl_and_otlp_traffic_and_catches_a_broken_format() {
    let p = project();
    p.write("traffic.jsonl", &traffic(30, "v1", true));
    otlp(&p, "traffic.jsonl", "traffic.otlp.jsonl");

    // An unchanged prompt passes on both formats; the unmappable records are counted.
    for file in ["traffic.jsonl", "traffic.otlp.jsonl"] {
        let out = p.run(&[
            "shadow",
            "support/reply",
            "--traffic",
            file,
            "--sample",
            "12",
            "--seed",
            "3",
            "--stratify",
            "name",
        ]);
        assert_eq!(out.code, 0, "{file}\n{}\n{}", out.stdout, out.stderr);
        let report = p.report(&out);
        assert_eq!(report["traffic"]["records"], 30, "{file}");
        assert_eq!(report["traffic"]["used"], 12, "{file}");
        let suite = &report["candidates"][0]["suites"][0];
        assert_eq!(suite["kind"], "shadow");
        assert_eq!(suite["cases"].as_array().unwrap().len(), 12);
        assert_eq!(suite["drift"]["changed"], 0);
        assert_eq!(suite["statistics"]["basis"], "case-resampling", "{suite:#}");
        if file == "traffic.jsonl" {
            assert_eq!(
                skipped(&report),
                [
                    ("unreadable".to_string(), 1),
                    ("no-prompt".to_string(), 1),
                    ("unknown-prompt".to_string(), 1),
                    ("no-variables".to_string(), 1)
                ]
            );
        } else {
            // The SDK wrote spans only: the line that was not JSON made none.
            assert_eq!(
                skipped(&report),
                [
                    ("no-prompt".to_string(), 1),
                    ("unknown-prompt".to_string(), 1),
                    ("no-variables".to_string(), 1)
                ]
            );
        }
    }

    // A candidate that breaks the output format fails the shadow gate, most changed first.
    p.write(
        "prompts/support/reply.prompt",
        &REPLY.replace("Dear {{name}}", "Hello {{name}}"),
    );
    let out = p
        .promptgate(&["shadow", "support/reply", "--traffic", "traffic.jsonl"])
        .exits(10)
        .output;
    let report = p.report(&out);
    let suite = &report["candidates"][0]["suites"][0];
    assert_eq!(suite["drift"]["changed"], 30);
    assert_eq!(suite["comparison"]["regressed"], 30);
    assert!(out.stdout.contains("drift"), "{}", out.stdout);

    // The planted key reached no report, log or cache.
    for (path, text) in written(p.path()) {
        assert!(!text.contains(PLANTED), "{path} holds the planted key");
    }
}

#[test]
fn a_shadow_run_needs_a_shadow_suite_and_mappable_records() {
    let p = Project::new()
        .with("prompts/support/reply.prompt", REPLY)
        .with("suites/reply.yaml", REGRESSION)
        .committed("reply");
    p.write("traffic.jsonl", &traffic(3, "v1", true));
    p.promptgate(&["shadow", "support/reply", "--traffic", "traffic.jsonl"])
        .exits(2)
        .stderr_has(&["no shadow suite targets support/reply", "kind: shadow"]);
    p.write("suites/reply-shadow.yaml", SHADOW);
    p.write("traffic.jsonl", "{\"vars\": {}}\n");
    p.promptgate(&["shadow", "support/reply", "--traffic", "traffic.jsonl"])
        .exits(2)
        .stderr_has(&["no record of support/reply", "1 no-prompt"]);
    p.write(
        "suites/reply-shadow.yaml",
        "kind: shadow\nprompt: support/reply\ndefaults: { assert: [ { type: similar, threshold: 0.5 } ] }\n",
    );
    p.promptgate(&["validate"])
        .exits(2)
        .stderr_has(&["suites/reply-shadow.yaml:1:7", "needs an expected output"]);
}

/// The project with v1 and v2 promoted to production (v2 adds a sentence).
fn promoted_twice() -> Project {
    let p = project();
    p.promptgate(&["promote", "support/reply"]).exits(0);
    p.write(
        "prompts/support/reply.prompt",
        &REPLY.replace("we are on it.", "we are on it. Thanks!"),
    );
    p.commit("v2");
    p.promptgate(&["promote", "support/reply"]).exits(0);
    p
}

#[test]
fn monitor_rolls_back_on_a_breach_and_leaves_a_healthy_version_alone() {
    let p = promoted_twice();
    // The baseline travels with the release.
    p.promptgate(&["log", "support/reply"])
        .exits(0)
        .stdout_has(&["baseline: gate run", "checks pass 100.0%"]);

    // Healthy traffic of v2, within the window: nothing moves.
    p.write("traffic-ok.jsonl", &traffic(30, "v2", true));
    p.promptgate(&[
        "monitor",
        "support/reply",
        "--traffic",
        "traffic-ok.jsonl",
        "--window",
        "24h",
        "--rollback-on-breach",
    ])
    .exits(0)
    .stdout_has(&["v2: healthy", "30 records"]);
    p.promptgate(&["status"]).exits(0).stdout_has(&["v2"]);

    // Traffic where the outputs lost the format: a breach, an alert, the kill switch.
    p.write("traffic-bad.jsonl", &traffic(30, "v2", false));
    let out = p
        .promptgate(&[
            "monitor",
            "support/reply",
            "--traffic",
            "traffic-bad.jsonl",
            "--rollback-on-breach",
            "--json",
        ])
        .exits(14)
        .output;
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["health"], "breach");
    assert_eq!(report["breaches"][0]["metric"], "max_quality_drop");
    assert_eq!(report["rollback"]["version"], 1);
    assert_eq!(report["rollback"]["automatic"], true);
    let alert = report["alerts"][1].as_str().unwrap();
    let text = std::fs::read_to_string(alert).unwrap();
    assert!(
        text.contains("support-platform")
            && text.contains("oncall-support@example.com")
            && text.contains("kill switch was pulled"),
        "{text}"
    );
    p.promptgate(&["log", "support/reply"])
        .exits(0)
        .stdout_has(&[
            "AUTOMATIC rollback production v2 → v1",
            "reason: monitor: 0 of 30 outputs passed the checks",
        ]);
    for (path, text) in written(p.path()) {
        assert!(!text.contains(PLANTED), "{path} holds the planted key");
    }
}

#[test]
fn two_monitors_racing_on_one_breach_roll_back_once() {
    let p = promoted_twice();
    p.write("traffic-bad.jsonl", &traffic(30, "v2", false));
    // Both started before either finishes.
    let racing: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_promptgate"))
                .args([
                    "monitor",
                    "support/reply",
                    "--traffic",
                    "traffic-bad.jsonl",
                    "--rollback-on-breach",
                    "--json",
                ])
                .current_dir(p.path())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> = racing
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert!(codes.contains(&14), "{codes:?}");
    let out = p
        .promptgate(&["log", "support/reply", "--json"])
        .exits(0)
        .output;
    let log: Value = serde_json::from_str(&out.stdout).unwrap();
    let automatic: Vec<&Value> = log["moves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["automatic"] == true)
        .collect();
    assert_eq!(automatic.len(), 1, "{log:#}");
    assert_eq!(automatic[0]["version"], 1);
}

#[test]
fn readiness_scores_facts_and_a_tier_minimum_refuses_promotion() {
    let p = project();
    let out = p
        .promptgate(&["readiness", "support/reply", "--json"])
        .exits(0)
        .output;
    let assessed: Value = serde_json::from_str(&out.stdout).unwrap();
    let scores: Vec<(String, u64)> = assessed[0]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["dimension"].as_str().unwrap().to_string(),
                s["score"].as_u64().unwrap(),
            )
        })
        .collect();
    // Owner, escalation and a declared tier; in-process provider, no CI; a shadow suite;
    // a regression suite covering both inputs.
    assert_eq!(
        scores,
        [
            ("governance".to_string(), 4),
            ("infrastructure".to_string(), 3),
            ("observability".to_string(), 2),
            ("data-quality".to_string(), 2)
        ]
    );
    p.promptgate(&["readiness", "support/reply"])
        .exits(0)
        .stdout_has(&[
            "governance      4/5",
            "✗ no CI workflow runs `promptgate check`",
        ]);
    // A workflow that only mentions the commands (a comment, a step's name) runs none of them.
    p.write(
        ".github/workflows/ci.yml",
        "# promptgate check --max-cost 5 and promptgate monitor, one day
name: ci
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - name: promptgate check --max-cost 1
        run: cargo test
",
    );
    let mentioned = p
        .promptgate(&["readiness", "support/reply", "--json"])
        .exits(0);
    assert_eq!(
        serde_json::from_str::<Value>(&mentioned.output.stdout).unwrap()[0]["scores"],
        assessed[0]["scores"],
        "comments and names count as nothing"
    );
    // One that runs it counts.
    p.write(
        ".github/workflows/ci.yml",
        "name: ci
on: push
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - run: promptgate check --max-cost 5
",
    );
    p.promptgate(&["readiness", "support/reply"])
        .exits(0)
        .stdout_has(&["✓ a CI workflow runs `promptgate check`"]);
    std::fs::remove_dir_all(p.path().join(".github")).unwrap();
    p.write(
        "promptgate.yaml",
        "default_provider: echo\npolicy:\n  low: { min_readiness: { total: 14, each: 3 } }\n",
    );
    p.commit("require readiness");
    p.promptgate(&["promote", "support/reply"])
        .exits(13)
        .stderr_has(&[
            "not ready for production",
            "total 11 is under the 14 required",
            "promptgate readiness support/reply",
        ]);
}

#[test]
fn a_tier_that_requires_a_shadow_run_promotes_after_one_with_its_baseline() {
    let p = requiring_shadow();
    p.promptgate(&["promote", "support/reply"])
        .exits(13)
        .stderr_has(&[
            "requires a passing shadow run",
            "promptgate shadow support/reply",
        ]);
    p.write("traffic.jsonl", &traffic(25, "v1", true));
    p.promptgate(&["shadow", "support/reply", "--traffic", "traffic.jsonl"])
        .exits(0);
    p.promptgate(&["promote", "support/reply"]).exits(0);
    p.promptgate(&["log", "support/reply"])
        .exits(0)
        .stdout_has(&["baseline: shadow run", "(25 outputs)", "checks pass 100.0%"]);
    // A window keeps the recent records (one a minute): the rest are counted, and too few
    // records judge nothing.
    p.promptgate(&[
        "monitor",
        "support/reply",
        "--traffic",
        "traffic.jsonl",
        "--window",
        "10m",
    ])
    .exits(0)
    .stdout_has(&[
        "not judged (too few records)",
        "left out: 15 outside-window",
    ]);
}

#[test]
fn a_run_directory_a_commit_wrote_is_no_shadow_run_and_resumes_nothing() {
    let p = requiring_shadow();
    p.write("traffic.jsonl", &traffic(25, "v1", true));
    let shadow = p
        .promptgate(&["shadow", "support/reply", "--traffic", "traffic.jsonl"])
        .exits(0)
        .output
        .report_dir();
    let run_id = shadow.trim_end_matches('/').rsplit('/').next().unwrap();
    // A pull request commits the run directory (past .gitignore): the same files, now
    // written by a commit.
    let mut index = p.repo().index().unwrap();
    index
        .add_all([shadow.as_str()].iter(), git2::IndexAddOption::FORCE, None)
        .unwrap();
    index.write().unwrap();
    p.commit("a shadow run of my own");
    p.promptgate(&["promote", "support/reply"])
        .exits(13)
        .stderr_has(&["requires a passing shadow run"]);
    p.promptgate(&["readiness", "support/reply"])
        .exits(0)
        .stdout_has(&["never shadowed on production traffic"]);
    for args in [
        vec!["check", "--resume", run_id],
        vec!["promote", "support/reply", "--from-report", run_id],
    ] {
        p.promptgate(&args).exits(13).stderr_has(&[
            &format!("run {run_id} is tracked by git"),
            "run the check again",
        ]);
    }
}

/// `edit` applied to every candidate sample of the report at `dir` (a run directory).
fn edit_samples(p: &Project, dir: &str, edit: &dyn Fn(&mut Value)) {
    let path = format!("{}/report.json", dir.trim_end_matches('/'));
    let mut report: Value = serde_json::from_str(&p.read(&path)).unwrap();
    for candidate in report["candidates"].as_array_mut().unwrap() {
        for suite in candidate["suites"].as_array_mut().unwrap() {
            for case in suite["cases"].as_array_mut().unwrap() {
                for sample in case["candidate"]["samples"].as_array_mut().unwrap() {
                    edit(sample);
                }
            }
        }
    }
    p.write(&path, &report.to_string());
}

#[test]
fn a_shadow_run_counts_as_its_own_log_gives_it_not_as_its_report_says() {
    let p = requiring_shadow();
    p.write("traffic.jsonl", &traffic(25, "v1", true));
    let broken = REPLY.replace("{{role \"user\"}}Dear", "Hello");
    // A failing shadow run of `content` in the worktree, its report edited to say it passed,
    // and `content` committed.
    let forged_pass = |content: &str| {
        p.write("prompts/support/reply.prompt", content);
        let dir = p
            .promptgate(&["shadow", "support/reply", "--traffic", "traffic.jsonl"])
            .exits(10)
            .output
            .report_dir();
        let path = format!("{}/report.json", dir.trim_end_matches('/'));
        let mut forged: Value = serde_json::from_str(&p.read(&path)).unwrap();
        forged["verdict"] = "pass".into();
        for candidate in forged["candidates"].as_array_mut().unwrap() {
            candidate["verdict"] = "pass".into();
        }
        p.write(&path, &forged.to_string());
        p.commit("a broken format");
    };
    // Against HEAD, which has moved to the broken format since: its log re-derives nothing.
    forged_pass(&broken);
    p.promptgate(&["promote", "support/reply"])
        .exits(13)
        .stderr_has(&[
            "its revisions now name other contents than the ones it compared",
            "requires a passing shadow run",
        ]);
    // Against the production label, which has not moved: its log gives the failure.
    p.write("prompts/support/reply.prompt", REPLY);
    p.commit("the format back");
    let reason = ["--force", "--reason", "the first release"];
    p.promptgate(&[&["promote", "support/reply"][..], &reason[..]].concat())
        .exits(0);
    forged_pass(&broken);
    p.promptgate(&["promote", "support/reply"])
        .exits(13)
        .stderr_has(&[
            "is no passing run of this content",
            "its own results log gives fail",
            "requires a passing shadow run",
        ]);
    // A passing one whose outputs were edited: the baseline is the log's outputs.
    p.write(
        "prompts/support/reply.prompt",
        &REPLY.replace("on it.", "on it!"),
    );
    let passed = p
        .promptgate(&["shadow", "support/reply", "--traffic", "traffic.jsonl"])
        .exits(0)
        .output
        .report_dir();
    edit_samples(&p, &passed, &|sample| sample["output"] = "forged".into());
    p.commit("a better format");
    p.promptgate(&["promote", "support/reply"]).exits(0);
    p.promptgate(&["log", "support/reply"])
        .exits(0)
        .stdout_has(&["baseline: shadow run", "(25 outputs)", "checks pass 100.0%"]);
}

#[cfg(unix)]
#[test]
fn a_breach_never_writes_its_alert_through_a_planted_symlink() {
    let p = promoted_twice();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(p.path().join("reports")).unwrap();
    std::os::unix::fs::symlink(outside.path(), p.path().join("reports/alerts")).unwrap();
    p.write("traffic-bad.jsonl", &traffic(30, "v2", false));
    p.promptgate(&["monitor", "support/reply", "--traffic", "traffic-bad.jsonl"])
        .exits(2)
        .stderr_has(&["is a symlink"]);
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "the alert was written outside the project"
    );
}

#[test]
fn an_edit_of_the_shadow_suite_never_rolls_production_back_on_unchanged_traffic() {
    let p = promoted_twice();
    // Production's traffic, exported outside the repository.
    let exported = tempfile::tempdir().unwrap();
    let ok = exported.path().join("traffic-ok.jsonl");
    std::fs::write(&ok, traffic(30, "v2", true)).unwrap();
    let monitor = [
        "monitor",
        "support/reply",
        "--traffic",
        ok.to_str().unwrap(),
        "--window",
        "24h",
        "--rollback-on-breach",
    ];
    p.promptgate(&monitor).exits(0).stdout_has(&["v2: healthy"]);
    // The checks change (a pull request, say): no output of the same traffic passes them.
    p.write(
        "suites/reply-shadow.yaml",
        &SHADOW.replace("\"user: Dear \"", "\"Hello \""),
    );
    p.commit("stricter shadow checks");
    p.promptgate(&monitor).exits(0).stdout_has(&[
        "quality: not judged, because the shadow suite's checks are not those the baseline was measured with",
        "promote again",
    ]);
    p.promptgate(&["status"]).exits(0).stdout_has(&["v2"]);

    // Traffic a commit wrote is no production record: a monitor refuses it.
    p.write("traffic-archive.jsonl", &traffic(30, "v2", true));
    p.commit("an archive of healthy traffic");
    p.promptgate(&[
        "monitor",
        "support/reply",
        "--traffic",
        "traffic-archive.jsonl",
    ])
    .exits(13)
    .stderr_has(&["is tracked by git", "outside the repository"]);
}

/// The secret corpus (`fixtures/secrets/corpus.jsonl`): (format, text planted, the value in it
/// that must not survive).
fn corpus() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/secrets/corpus.jsonl"),
    )
    .unwrap();
    text.lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            let field = |k: &str| entry[k].as_str().unwrap().to_string();
            (field("format"), field("secret"), field("value"))
        })
        .collect()
}

#[test]
fn no_credential_of_the_corpus_reaches_a_file_the_cache_or_git() {
    // The shadow run's calls go to the mock, whose replies are cached.
    let mock = crate::mock::Mock::start(vec![]);
    let p = project();
    p.write(
        "promptgate.yaml",
        &format!(
            "default_provider: echo\nproviders:\n  mock: {{ kind: openai, model: tiny-1, base_url: \"{}\" }}\n",
            mock.base_url
        ),
    );
    p.commit("a cached provider");
    // A variable named by a credential is refused, and the refusal does not show it.
    let (_, named, value) = &corpus()[0];
    let record = serde_json::json!({"prompt": "support/reply", "version": "v1",
        "vars": { "name": "Ana", "issue": "late", named.clone(): "x" }, "output": "user: Dear Ana"});
    p.write("traffic-named.jsonl", &format!("{record}\n"));
    p.promptgate(&[
        "shadow",
        "support/reply",
        "--traffic",
        "traffic-named.jsonl",
    ])
    .exits(2)
    .stderr_has(&["variable `[redacted credential]` is not declared"])
    .never_shows(value);
    // Every credential of the corpus in a variable's value, the output and the error of
    // production records.
    let now = chrono::Utc::now();
    let mut traffic = String::new();
    let corpus = corpus();
    for i in 0..25 {
        let (_, secret, _) = &corpus[i % corpus.len()];
        let name = ["Ana", "Bo", "Cy"][i % 3];
        let record = serde_json::json!({
            "prompt": "support/reply", "version": "v1",
            "vars": { "name": name, "issue": format!("my key is {secret}") },
            "output": format!("user: Dear {name}, about {secret}: we are on it."),
            "error": (i == 24).then(|| format!("upstream refused {secret}")),
            "latency_ms": 100, "at": (now - chrono::Duration::minutes(i as i64)).to_rfc3339(),
        });
        traffic.push_str(&format!("{record}\n"));
    }
    p.write("traffic.jsonl", &traffic);
    // Whatever the verdicts, nothing a run writes may hold a credential.
    p.run(&[
        "shadow",
        "support/reply",
        "--traffic",
        "traffic.jsonl",
        "--provider",
        "mock",
    ]);
    p.promptgate(&["promote", "support/reply"]).exits(0);
    p.run(&["monitor", "support/reply", "--traffic", "traffic.jsonl"]);

    let objects = Command::new("git")
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .current_dir(p.path())
        .output()
        .unwrap();
    let git = String::from_utf8_lossy(&objects.stdout).into_owned();
    let mut files = written(p.path());
    assert!(
        files
            .iter()
            .any(|(path, _)| path.contains(".promptgate/cache")),
        "the cache was scanned"
    );
    files.push(("git objects".into(), git));
    // In any case: the mock answers in capitals.
    let files: Vec<(String, String)> = files
        .into_iter()
        .map(|(path, text)| (path, text.to_lowercase()))
        .collect();
    for (format, _, value) in &corpus {
        for (path, text) in &files {
            for window in value.to_lowercase().as_bytes().windows(12) {
                let run = String::from_utf8_lossy(window);
                assert!(
                    !text.contains(&*run),
                    "{path} holds `{run}` of the {format} credential"
                );
            }
        }
    }
}

#[test]
fn a_monitor_sees_a_credential_production_leaked_and_stores_none() {
    let p = promoted_twice();
    // Well-formed replies that each leak a key: the shadow suite's `regex-any: api-keys`
    // check must see the key to fail on it.
    let leaky = traffic(30, "v2", true)
        .lines()
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(mut record) if record["output"].is_string() => {
                let output = record["output"].as_str().unwrap().to_string();
                record["output"] = format!("{output} Your key: {PLANTED}").into();
                format!("{record}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect::<String>();
    p.write("traffic-leaky.jsonl", &leaky);
    p.promptgate(&[
        "monitor",
        "support/reply",
        "--traffic",
        "traffic-leaky.jsonl",
    ])
    .exits(14)
    .stdout_has(&["breach"])
    .never_shows(PLANTED);
    for (path, text) in written(p.path()) {
        assert!(!text.contains(PLANTED), "{path} holds the planted key");
    }
}
