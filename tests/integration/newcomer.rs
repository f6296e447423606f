//! A newcomer's path: what a first user meets (a closed pipe, a folder that is no project, a
//! shard, a filter that leaves a prompt nothing) says what happened, and nothing misleads.

use crate::support::{Project, TRIAGE_PROMPT};

/// The triage project with a regression in the worktree: its check fails the gate.
fn regressed() -> Project {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    p
}

#[test]
fn a_closed_pipe_ends_the_output_and_keeps_the_exit_code() {
    let p = regressed();
    for (args, code) in [
        (&["check", "--json"][..], 10),
        (&["check"][..], 10),
        (&["completions", "bash"][..], 0),
        (&["schema", "suite"][..], 0),
        (&["man"][..], 0),
        (&["validate"][..], 0),
    ] {
        let out = p.run_into_closed_pipe(args);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
        assert!(
            !out.stderr.contains("Broken pipe"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn where_there_is_no_project_every_command_says_so_and_names_the_ones_below() {
    // A monorepo whose project is in apps/bot: its root has no promptgate.yaml.
    let p = Project::new();
    std::fs::remove_file(p.path().join("promptgate.yaml")).unwrap();
    p.write("apps/bot/promptgate.yaml", "default_provider: echo\n");
    p.write("apps/bot/prompts/support/triage.prompt", TRIAGE_PROMPT);
    p.write("apps/web/promptgate.yaml", "default_provider: echo\n");
    p.write("node_modules/x/promptgate.yaml", "default_provider: echo\n");
    p.commit("a monorepo");
    for args in [
        &["check"][..],
        &["status"][..],
        &["validate"][..],
        &["run"][..],
    ] {
        let out = p.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}\n{}", out.stdout, out.stderr);
        for expected in [
            "no promptgate project in",
            "no promptgate.yaml there or in a folder above it",
            "apps/bot: use --root apps/bot",
            "apps/web: use --root apps/web",
        ] {
            assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        }
        assert!(!out.stderr.contains("node_modules"), "{}", out.stderr);
    }
    // An empty repository: nothing below either.
    let empty = Project::new();
    std::fs::remove_file(empty.path().join("promptgate.yaml")).unwrap();
    let out = empty.run(&["check"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("run `promptgate init`"),
        "{}",
        out.stderr
    );
    // `--root` at a folder with no project says so; at the project, it works.
    let out = p.run(&["--root", "apps", "validate"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("no promptgate.yaml there;"),
        "{}",
        out.stderr
    );
    p.promptgate(&["--root", "apps/bot", "validate"]).exits(0);
    p.promptgate(&["validate"])
        .in_folder("apps/bot/prompts")
        .exits(0);
}

#[test]
fn a_shard_says_what_it_ran_and_where_and_no_verdict() {
    let p = regressed();
    let ran = p
        .promptgate(&["check", "--shard", "1/2"])
        .exits(0)
        .stdout_has(&[
            "shard 1/2: ",
            "case comparisons of support/triage",
            "logged in reports/",
            "a shard gates nothing",
        ]);
    for verdict in ["verdict", "FAIL", "PASS", "✗"] {
        assert!(
            !ran.output.stdout.contains(verdict),
            "a shard printed a verdict: {}",
            ran.output.stdout
        );
    }
    let json: serde_json::Value = serde_json::from_str(
        &p.promptgate(&["check", "--shard", "2/2", "--json"])
            .exits(0)
            .output
            .stdout,
    )
    .unwrap();
    assert_eq!(json["shard"], "2/2");
    assert!(json.get("verdict").is_none(), "{json}");
    assert!(json["run_dir"].as_str().unwrap().starts_with("reports/"));
}

#[test]
fn a_prompt_the_suite_filter_left_nothing_says_so_and_prompts_never_rank_together() {
    let p = Project::triage();
    p.write(
        "prompts/support/reply.prompt",
        "{{role \"user\"}}Dear {{name}}.\n",
    );
    p.write(
        "suites/reply.yaml",
        "kind: regression\nprompt: support/reply\ncases:\n  - { id: ana, vars: { name: Ana }, assert: [ { type: contains, value: Ana } ] }\n",
    );
    p.commit("a reply prompt");
    p.write(
        "prompts/support/reply.prompt",
        "{{role \"user\"}}Hello {{name}}.\n",
    );
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    let out = p
        .promptgate(&["check", "--suite", "triage"])
        .exits(10)
        .stdout_has(&["NO SUITE SELECTED support/reply", "FAIL support/triage"])
        .output;
    assert!(!out.stdout.contains("PASS support/reply"), "{}", out.stdout);
    assert!(!out.stdout.contains("ranking"), "{}", out.stdout);
    let html = p.read(&format!("{}/index.html", out.report_dir()));
    assert!(
        html.contains("verdict unchecked\">no suite selected"),
        "the HTML report"
    );
    assert!(
        html.contains("no suite ran"),
        "the HTML report names no provider"
    );
}

#[test]
fn a_run_is_named_by_its_id_or_its_directory_everywhere() {
    let p = regressed();
    let dir = p.promptgate(&["check"]).exits(10).output.report_dir();
    let dir = dir.trim_end_matches('/').to_string();
    let id = dir.rsplit('/').next().unwrap().to_string();
    for named in [id.clone(), dir.clone(), format!("{dir}/")] {
        p.promptgate(&["report", &named])
            .exits(0)
            .stdout_has(&[&format!("{dir}/index.html")]);
    }
    // From a folder of the project, the directory is named relative to it.
    p.promptgate(&["report", &format!("../{dir}")])
        .in_folder("prompts")
        .exits(0);
    // A directory outside reports/ is no run.
    let outside = tempfile::tempdir().unwrap();
    let out = p.run(&["report", outside.path().to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);

    // merge takes ids as well as paths.
    let shards: Vec<String> = ["1/2", "2/2"]
        .iter()
        .map(|s| {
            let out = p.promptgate(&["check", "--shard", s, "--json"]).exits(0);
            let run: serde_json::Value = serde_json::from_str(&out.output.stdout).unwrap();
            run["run_id"].as_str().unwrap().to_string()
        })
        .collect();
    p.promptgate(&["merge", &shards[0], &format!("reports/{}", shards[1])])
        .exits(10)
        .stdout_has(&["verdict: FAIL"]);
}

#[cfg(unix)]
#[test]
fn the_small_things_a_first_user_trips_on() {
    use std::os::unix::fs::PermissionsExt;
    let p = regressed();
    let dir = p.promptgate(&["check"]).exits(10).output.report_dir();
    // Every file of a run is readable like its results log.
    let mode = |file: &str| {
        let path = p.path().join(&dir).join(file);
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    let log = mode("results.jsonl");
    for file in [
        "report.json",
        "index.html",
        "junit.xml",
        "summary.md",
        "manifest.json",
    ] {
        assert_eq!(mode(file), log, "{file}");
    }
    // --open where no browser can start: one line that says what to do, and a failure.
    let empty = tempfile::tempdir().unwrap();
    let id = dir.trim_end_matches('/').rsplit('/').next().unwrap();
    let out = p.run_env(
        &["report", id, "--open"],
        &[("PATH", empty.path().to_str().unwrap())],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "only promptgate's own line: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("no browser could be started here"),
        "{}",
        out.stderr
    );
    // Help says a default once, and calibration's lists only what applies to judge calls.
    let help = p.promptgate(&["check", "--help"]).exits(0).output.stdout;
    assert!(!help.contains("Default 0"), "{help}");
    let help = p
        .promptgate(&["judge", "calibrate", "--help"])
        .exits(0)
        .output
        .stdout;
    for irrelevant in ["--batch", "--record", "--max-errors", "--model"] {
        assert!(!help.contains(irrelevant), "{irrelevant}: {help}");
    }
    // A colour terminal shows the diff's words in colour, not its markers.
    let coloured = p
        .promptgate(&["--color", "always", "check"])
        .exits(10)
        .output
        .stdout;
    assert!(
        coloured.contains("\x1b[9;31mbilling, bug,\x1b[0m"),
        "{coloured:?}"
    );
    assert!(!coloured.contains("[-billing"), "{coloured:?}");
    // The history shows times to the second.
    p.write("promptgate.yaml", "default_provider: echo\n");
    p.commit("the standard tier's defaults");
    p.promptgate(&["approve", "support/triage", "--as", "ana"])
        .exits(0);
    p.promptgate(&["promote", "support/triage"]).exits(0);
    let log = p
        .promptgate(&["log", "support/triage"])
        .exits(0)
        .output
        .stdout;
    let nanos = regex::Regex::new(r"\d\d:\d\d:\d\d\.\d").unwrap();
    assert!(!nanos.is_match(&log), "{log}");
    // status says what differs from what.
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("account", "login"),
    );
    p.promptgate(&["status"])
        .exits(0)
        .stdout_has(&["worktree differs from v1"]);
}

/// The ids of the cases a check's report compared.
fn compared(p: &Project, out: &crate::support::Output) -> Vec<String> {
    let report = p.report(out);
    let mut ids: Vec<String> = report["candidates"][0]["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn part_of_a_suite_runs_by_id_pattern_count_or_what_failed_with_its_samples() {
    let p = regressed();
    let check = |args: &[&str], code: i32| {
        let args = [&["check"][..], args].concat();
        p.promptgate(&args).exits(code).output
    };
    let out = check(&["--case", "billing"], 10);
    assert_eq!(compared(&p, &out), ["billing"]);
    assert!(
        out.stderr
            .contains("checking 1 of 3 cases (--case billing)"),
        "{}",
        out.stderr
    );
    let out = check(&["--case", "b*"], 10);
    assert_eq!(compared(&p, &out), ["billing", "bug"]);
    let out = check(&["--case", "triage:refund"], 0);
    assert_eq!(compared(&p, &out), ["refund"]);
    let out = check(&["--filter", "^(bug|refund)$"], 10);
    assert_eq!(compared(&p, &out), ["bug", "refund"]);
    let out = check(&["--limit", "1"], 10);
    assert_eq!(compared(&p, &out), ["billing"]);
    let none = check(&["--case", "nothing-like-it"], 3);
    assert!(
        none.stderr
            .contains("no case of the 3 cases selected matches"),
        "{}",
        none.stderr
    );
    // Two samples per case and version: twice the calls (echo answers identical requests once,
    // so count the planned samples).
    let out = check(&["--samples", "2", "--case", "billing"], 10);
    assert_eq!(p.report(&out)["candidates"][0]["suites"][0]["samples"], 2);
    // What failed, again: the two regressions, by run id or directory.
    let failed = check(&[], 10);
    let dir = failed.report_dir();
    let out = check(&["--failing", dir.trim_end_matches('/')], 10);
    assert_eq!(compared(&p, &out), ["billing", "bug"]);
    // run takes the same filters, and its revision is --rev.
    let ran = p
        .promptgate(&["run", "--rev", "HEAD", "--case", "refund", "--json"])
        .exits(10)
        .output;
    let report: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["suites"][0]["cases"].as_array().unwrap().len(), 1);
}

#[test]
fn a_model_named_on_the_command_line_needs_no_config_block() {
    let mock = crate::mock::Mock::start(vec![]);
    let p = Project::triage();
    let base = mock.base_url.clone();
    let host = base
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    for (model, env) in [
        ("openai/tiny", vec![("OPENAI_BASE_URL", base.as_str())]),
        ("ollama/tiny", vec![("OLLAMA_HOST", host.as_str())]),
    ] {
        let ran = p
            .promptgate(&["run", "--model", model, "--json"])
            .envs(&env)
            .exits(10)
            .output;
        let report: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(report["suites"][0]["provider"], model, "{model}");
        let output = report["suites"][0]["cases"][0]["side"]["samples"][0]["output"]
            .as_str()
            .unwrap();
        assert_eq!(
            output, "CHARGED TWICE",
            "{model}: the mock shouts the message"
        );
    }
    // A kind promptgate does not know is the usual unknown provider.
    let out = p.run(&["run", "--model", "gemini/x"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown provider `gemini/x`"),
        "{}",
        out.stderr
    );
}

#[test]
fn report_shows_a_run_as_its_results() {
    let p = regressed();
    let ran = p.promptgate(&["run", "--json"]).exits(10).output;
    let report: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let id = report["run_id"].as_str().unwrap().to_string();
    p.promptgate(&["report", &id]).exits(0).stdout_has(&[
        "suite triage",
        &format!("run {id} is a `promptgate run`: its results are shown above"),
    ]);
    p.promptgate(&["report", &id, "--open"])
        .exits(2)
        .stderr_has(&["has no HTML report"]);
}

#[test]
fn the_runs_are_listed_and_every_report_links_to_their_index() {
    let p = regressed();
    p.promptgate(&["runs"])
        .exits(0)
        .stdout_has(&["no runs under reports/ yet"]);
    let check = p.promptgate(&["check"]).exits(10).output.report_dir();
    p.promptgate(&["run", "--case", "refund"]).exits(0);
    p.promptgate(&["check", "--shard", "1/2"]).exits(0);
    let listed: serde_json::Value =
        serde_json::from_str(&p.promptgate(&["runs", "--json"]).exits(0).output.stdout).unwrap();
    let kinds: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("shard", "gates nothing"),
            ("run", "passed"),
            ("check", "fail")
        ]
    );
    assert_eq!(listed[2]["prompts"], serde_json::json!(["support/triage"]));
    assert_eq!(listed[2]["calls"], 6);
    p.promptgate(&["runs"]).exits(0).stdout_has(&[
        "check  fail",
        "support/triage",
        "index: reports/index.html",
    ]);
    let html = p.read(&format!("{}/index.html", check.trim_end_matches('/')));
    assert!(html.contains("<a href=\"../index.html\">all runs</a>"));
    let index = p.read("reports/index.html");
    let id = check.trim_end_matches('/').rsplit('/').next().unwrap();
    assert!(
        index.contains(&format!("<a href=\"{id}/index.html\">{id}</a>")),
        "{index}"
    );
}

#[test]
fn a_candidate_that_no_longer_renders_the_attacks_target_fails_the_gate() {
    let p = Project::triage();
    p.write(
        "suites/adversarial/triage.yaml",
        "kind: adversarial\nprompt: support/triage\ntarget: message\npacks: [system-prompt-extraction]\n",
    );
    p.commit("attacks");
    // The user's message no longer reaches the model: every attack would "resist".
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("{{role \"user\"}}{{message}}", "{{role \"user\"}}A ticket."),
    );
    let out = p
        .promptgate(&["check"])
        .exits(10)
        .stdout_has(&[
            "FAIL support/triage",
            "✗ suite adversarial/triage: support/triage@worktree does not render `{{message}}`",
            "never reach the model",
        ])
        .output;
    assert_eq!(
        p.report(&out)["candidates"][0]["reasons"][0]["metric"],
        "target"
    );
    p.promptgate(&["validate"]).exits(2).stderr_has(&[
        "suites/adversarial/triage.yaml:3:",
        "does not render `{{message}}`",
    ]);
}

#[test]
fn a_clone_without_the_release_refs_is_told_how_to_fetch_them() {
    let origin = Project::triage();
    let head = origin.repo().head().unwrap().target().unwrap();
    origin.label("support/triage", "production", head);
    let dir = tempfile::tempdir().unwrap();
    let clone_path = dir.path().join("clone");
    git2::Repository::clone(origin.path().to_str().unwrap(), &clone_path).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_promptgate"))
            .args(args)
            .current_dir(&clone_path)
            .env_remove("CI")
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for args in [
        &["status"][..],
        &["log", "support/triage"][..],
        &["check", "--all"][..],
    ] {
        let (_, stderr) = run(args);
        assert!(
            stderr.contains("this clone has fetched no release refs from `origin`"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("git fetch origin '+refs/prompts/*:refs/prompts/*'"),
            "{stderr}"
        );
    }
    // The command it gives fetches them, and the warning is gone.
    let fetch = std::process::Command::new("git")
        .args([
            "fetch",
            "origin",
            "+refs/prompts/*:refs/prompts/*",
            "+refs/promptgate/*:refs/promptgate/*",
            "refs/tags/prompts/*:refs/tags/prompts/*",
        ])
        .current_dir(&clone_path)
        .output()
        .expect("git runs");
    assert!(
        fetch.status.success(),
        "{}",
        String::from_utf8_lossy(&fetch.stderr)
    );
    let (code, stderr) = run(&["status"]);
    assert_eq!(code, 0);
    assert!(!stderr.contains("fetched no release refs"), "{stderr}");
    // A repository with no remote has nothing to fetch: no warning.
    let (_, stderr) = {
        let out = origin.run(&["status"]);
        (out.code, out.stderr)
    };
    assert!(!stderr.contains("fetched no release refs"), "{stderr}");
}

#[test]
fn a_diff_starts_where_the_versions_part() {
    let p = Project::new();
    let preamble = "Read the ticket with care and route it. ".repeat(12);
    let prompt = TRIAGE_PROMPT.replace("Categories:", &format!("{preamble}Categories:"));
    p.write("prompts/support/triage.prompt", &prompt);
    p.write("suites/triage.yaml", crate::support::TRIAGE_SUITE);
    p.commit("a long preamble");
    p.write(
        "prompts/support/triage.prompt",
        &prompt.replace("billing, bug", "refund"),
    );
    let out = p.promptgate(&["check"]).exits(10).output;
    let diff = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("diff:"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(diff.contains("diff: …"), "{diff}");
    assert!(diff.contains("[-billing, bug,-]{+refund,+}"), "{diff}");
}
