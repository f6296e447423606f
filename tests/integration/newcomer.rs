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
