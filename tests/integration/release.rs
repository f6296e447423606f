//! Promotion, rollback, approvals, policy and the pre-commit hook, on real git repositories
//! (and real `git commit` for the hook).

use std::process::Command;

use serde_json::Value;

use crate::support::{Project, TRIAGE_PROMPT, TRIAGE_SUITE, fails_with};

const LABEL: &str = "refs/prompts/support/triage@production";

/// The triage prompt (owned, `low` tier: no approval needed) and its suite, committed; any new
/// failure blocks.
fn low_tier() -> Project {
    let p = Project::new();
    p.write(
        "promptgate.yaml",
        "default_provider: echo\ntolerance:\n  low: { max_new_failures: 0 }\n",
    );
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace(
            "promptgate.owner: support\n",
            "promptgate.owner: support\npromptgate.risk_tier: low\n",
        ),
    );
    p.write("suites/triage.yaml", TRIAGE_SUITE);
    p.commit("add triage");
    p
}

fn git(p: &Project) -> git2::Repository {
    git2::Repository::open(p.path()).unwrap()
}

/// The prompt file's text at the commit the production label serves.
fn served(p: &Project) -> String {
    let repo = git(p);
    let commit = repo
        .find_reference(LABEL)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let blob = commit
        .tree()
        .unwrap()
        .get_path(std::path::Path::new("prompts/support/triage.prompt"))
        .unwrap()
        .to_object(&repo)
        .unwrap()
        .peel_to_blob()
        .unwrap();
    String::from_utf8(blob.content().to_vec()).unwrap()
}

fn version_tags(p: &Project) -> Vec<String> {
    let repo = git(p);
    let mut tags: Vec<String> = repo
        .references_glob("refs/tags/prompts/support/triage@v*")
        .unwrap()
        .map(|r| {
            r.unwrap()
                .name()
                .unwrap()
                .trim_start_matches("refs/tags/")
                .to_string()
        })
        .collect();
    tags.sort();
    tags
}

fn log(p: &Project) -> Value {
    let out = p
        .promptgate(&["log", "support/triage", "--json"])
        .exits(0)
        .output;
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn promote_refuse_force_rollback_and_the_audit_trail() {
    let p = low_tier();
    let v1 = p.read("prompts/support/triage.prompt");

    let out = p.promptgate(&["promote", "support/triage"]).exits(0).output;
    assert!(
        out.stdout.contains("promoted prompts/support/triage@v1"),
        "{}",
        out.stdout
    );
    // The suites it gated on, as the check shows them.
    assert!(
        out.stdout.contains("\n  suite triage ") && out.stdout.contains("regressed 0"),
        "{}",
        out.stdout
    );
    assert_eq!(version_tags(&p), ["prompts/support/triage@v1"]);
    assert_eq!(served(&p), v1);
    let repo = git(&p);
    let tag = repo
        .find_reference("refs/tags/prompts/support/triage@v1")
        .unwrap()
        .peel_to_tag()
        .unwrap();
    let message = tag.message().unwrap().unwrap();
    assert!(
        message.starts_with("promote prompts/support/triage@v1 to production (gate: pass)"),
        "{message}"
    );
    assert!(message.contains("\"report_digest\":\"sha256:"), "{message}");
    assert_eq!(tag.target_id(), repo.head().unwrap().target().unwrap());

    // Promoting the same content again changes nothing.
    let again = p.promptgate(&["promote", "support/triage"]).exits(0).output;
    assert!(
        again.stdout.contains("already serves this content"),
        "{}",
        again.stdout
    );
    assert_eq!(version_tags(&p).len(), 1);

    // A regression is refused, and nothing moves.
    p.write(
        "prompts/support/triage.prompt",
        &v1.replace(
            "Categories: billing, bug, account.",
            "Categories: bug, account.",
        ),
    );
    p.commit("drop billing");
    let refused = p
        .promptgate(&["promote", "support/triage"])
        .exits(10)
        .output;
    assert!(
        refused
            .stderr
            .contains("not promoting support/triage to production: the gate failed"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--force --reason"),
        "{}",
        refused.stderr
    );
    assert_eq!(version_tags(&p).len(), 1);
    assert_eq!(served(&p), v1);

    // --force needs a reason, and records it.
    p.promptgate(&["promote", "support/triage", "--force"])
        .exits(2);
    let forced = p
        .promptgate(&[
            "promote",
            "support/triage",
            "--force",
            "--reason",
            "outage hotfix, ticket 42",
        ])
        .exits(0)
        .output;
    assert!(forced.stdout.contains("FORCED"), "{}", forced.stdout);
    assert_eq!(version_tags(&p).len(), 2);
    assert!(!served(&p).contains("billing"));

    let status = p.run(&["status", "--json"]);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status[0]["labels"][0]["version"], 2);
    assert_eq!(status[0]["labels"][0]["head_differs"], false);

    // Rollback: no gate, back to v1, recorded.
    let no_why = p.run(&["rollback", "support/triage"]);
    assert_eq!(no_why.code, 2, "--reason is required: {}", no_why.stderr);
    let back = p
        .promptgate(&[
            "rollback",
            "support/triage",
            "--reason",
            "billing tickets misrouted",
        ])
        .exits(0)
        .output;
    assert!(back.stdout.contains("v2 → v1"), "{}", back.stdout);
    assert_eq!(served(&p), v1);
    let stale = p.run(&["status", "--json"]);
    let stale: Value = serde_json::from_str(&stale.stdout).unwrap();
    assert_eq!(stale[0]["labels"][0]["version"], 1);
    assert_eq!(stale[0]["labels"][0]["head_differs"], true);

    // The whole history, in order.
    let log = log(&p);
    assert_eq!(log["labels"][0], serde_json::json!(["production", 1]));
    let moves: Vec<(String, u64, bool, String)> = log["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["action"].as_str().unwrap().to_string(),
                m["version"].as_u64().unwrap(),
                m["forced"].as_bool().unwrap_or(false),
                m["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("promote".to_string(), 1, false, String::new()),
            (
                "promote".to_string(),
                2,
                true,
                "outage hotfix, ticket 42".to_string()
            ),
            (
                "rollback".to_string(),
                1,
                false,
                "billing tickets misrouted".to_string()
            ),
        ]
    );
    assert_eq!(log["moves"][2]["by"], "Test Author <author@example.com>");
    assert_eq!(log["versions"][1]["record"]["verdict"], "fail");
    let text = p.run(&["log", "support/triage"]).stdout;
    assert!(
        text.contains("FORCED promote v2 to production past gate fail"),
        "{text}"
    );
    assert!(text.contains("rollback production v2 → v1"), "{text}");

    // Nothing earlier than v1 to roll back to.
    let first = p
        .promptgate(&["rollback", "support/triage", "--reason", "again"])
        .exits(2)
        .output;
    assert!(
        first.stderr.contains("no earlier version"),
        "{}",
        first.stderr
    );
    // Back to v2 is forward, to a version pulled from the label: refused unless forced, and
    // named for what it is.
    let forward = [
        "rollback",
        "support/triage",
        "--to",
        "v2",
        "--reason",
        "fixed upstream",
    ];
    p.promptgate(&forward).exits(13).stderr_has(&[
        "v2 is newer than support/triage@production's v1",
        "promote it through the gate",
        "--force",
    ]);
    p.promptgate(&[&forward[..], &["--force"]].concat())
        .exits(0)
        .stdout_has(&["moved forward, ungated, support/triage@production: v1 → v2 (forced)"]);
    assert!(
        p.run(&["log", "support/triage"])
            .stdout
            .contains("FORCED move forward of production v1 → v2"),
    );
}

#[test]
fn a_rollback_never_lands_on_a_version_pulled_from_the_label_unless_forced() {
    let p = low_tier();
    let promote = |p: &Project, category: &str| {
        let low = "promptgate.owner: support\npromptgate.risk_tier: low\n";
        p.write(
            "prompts/support/triage.prompt",
            &TRIAGE_PROMPT
                .replace("promptgate.owner: support\n", low)
                .replace("account", category),
        );
        p.commit(category);
        p.promptgate(&["promote", "support/triage", "--force", "--reason", "r"])
            .exits(0);
    };
    for category in ["login", "refund", "shipping"] {
        promote(&p, category);
    }
    // v3 is pulled (v3 → v2), then v4 ships.
    p.promptgate(&[
        "rollback",
        "support/triage",
        "--reason",
        "v3 misroutes refunds",
    ])
    .exits(0)
    .stdout_has(&["v3 → v2"]);
    promote(&p, "returns");
    p.promptgate(&["rollback", "support/triage", "--to", "v3", "--reason", "x"])
        .exits(13)
        .stderr_has(&[
            "v3 was pulled from support/triage@production on",
            "v3 misroutes refunds",
            "--force",
        ]);
    // The default target skips it.
    p.promptgate(&["rollback", "support/triage", "--reason", "v4 is worse"])
        .exits(0)
        .stdout_has(&["rolled back support/triage@production: v4 → v2"]);
}

#[test]
fn a_stored_passing_check_of_the_same_content_promotes_without_a_new_run() {
    let p = low_tier();
    assert_eq!(p.run(&["promote", "support/triage"]).code, 0);
    let prompt = p.read("prompts/support/triage.prompt");
    p.write(
        "prompts/support/triage.prompt",
        &prompt.replace("Classify", "Classify politely"),
    );
    p.commit("politely");
    let checked = p
        .promptgate(&["check", "support/triage", "--candidate", "HEAD"])
        .exits(0)
        .output;
    let run = checked
        .report_dir()
        .trim_start_matches("reports/")
        .to_string();
    let runs = || std::fs::read_dir(p.path().join("reports")).unwrap().count();

    // A check against another baseline, or of other content, does not count.
    let elsewhere = p.run(&[
        "check",
        "support/triage",
        "--baseline",
        "HEAD",
        "--candidate",
        "HEAD",
    ]);
    let other = elsewhere
        .report_dir()
        .trim_start_matches("reports/")
        .to_string();
    fails_with(
        &p,
        &["promote", "support/triage", "--from-report", &other],
        2,
        &["not against production"],
    );
    p.write(
        "prompts/support/triage.prompt",
        &prompt.replace("Classify", "Classify kindly"),
    );
    p.commit("kindly");
    let stale = p
        .promptgate(&["promote", "support/triage", "--from-report", &run])
        .exits(2)
        .output;
    assert!(
        stale
            .stderr
            .contains("did not check support/triage with the content at HEAD"),
        "{}",
        stale.stderr
    );

    p.write(
        "prompts/support/triage.prompt",
        &prompt.replace("Classify", "Classify politely"),
    );
    p.commit("politely again");
    let before = runs();
    let out = p
        .promptgate(&["promote", "support/triage", "--from-report", &run, "--json"])
        .exits(0)
        .output;
    let record: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(record["record"]["run"], run.as_str());
    assert_eq!(record["record"]["version"], 2);
    assert_eq!(runs(), before, "no new check ran");
}

#[test]
fn a_promotion_from_a_stored_run_rederives_its_verdict_from_the_results_log() {
    let p = low_tier();
    assert_eq!(p.run(&["promote", "support/triage"]).code, 0);
    let prompt = p.read("prompts/support/triage.prompt");
    p.write(
        "prompts/support/triage.prompt",
        &prompt.replace("billing, bug", "refund"),
    );
    p.commit("regress");
    let checked = p
        .promptgate(&["check", "support/triage", "--candidate", "HEAD"])
        .exits(10)
        .output;
    let run = checked
        .report_dir()
        .trim_start_matches("reports/")
        .to_string();

    // The failed run's report, edited to pass, does not promote.
    let path = p.path().join(checked.report_dir()).join("report.json");
    let mut report: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    report["verdict"] = "pass".into();
    for candidate in report["candidates"].as_array_mut().unwrap() {
        candidate["verdict"] = "pass".into();
        candidate["reasons"] = serde_json::json!([]);
    }
    std::fs::write(&path, serde_json::to_string(&report).unwrap()).unwrap();
    let out = p
        .promptgate(&["promote", "support/triage", "--from-report", &run])
        .exits(13)
        .output;
    assert!(
        out.stderr.contains(
            "report.json does not match its own results log (it says pass, the log gives fail)"
        ),
        "{}",
        out.stderr
    );
    let log = p.run(&["log", "support/triage"]);
    assert!(!log.stdout.contains("v2"), "{}", log.stdout);
}

#[test]
fn two_racing_promotions_leave_exactly_one() {
    let p = low_tier();
    for round in 0..3 {
        p.write(
            "prompts/support/triage.prompt",
            &p.read("prompts/support/triage.prompt")
                .replace("Classify", &format!("Classify ({round})")),
        );
        p.commit(&format!("round {round}"));
        let dir = p.path().to_path_buf();
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_promptgate"))
                .args(["promote", "support/triage"])
                .current_dir(&dir)
                .output()
                .unwrap()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(spawn);
            let b = s.spawn(spawn);
            (a.join().unwrap(), b.join().unwrap())
        });
        let outputs = [&a, &b];
        let promoted = outputs
            .iter()
            .filter(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("promoted ")
            })
            .count();
        assert_eq!(promoted, 1, "round {round}: {a:?}\n{b:?}");
        for o in outputs {
            let stdout = String::from_utf8_lossy(&o.stdout);
            let stderr = String::from_utf8_lossy(&o.stderr);
            let lost = o.status.code() == Some(13) && stderr.contains("nothing was changed");
            let late = o.status.success()
                && (stdout.contains("promoted ") || stdout.contains("already serves"));
            assert!(lost || late, "round {round}: {o:?}");
        }
        assert_eq!(version_tags(&p).len(), round + 1, "round {round}");
        assert_eq!(log(&p)["moves"].as_array().unwrap().len(), round + 1);
    }
}

#[test]
fn approvals_bind_to_content_and_policy_follows_the_risk_tier() {
    // `standard` (the default tier) needs one approval.
    let p = Project::triage();
    let refused = p
        .promptgate(&["promote", "support/triage"])
        .exits(13)
        .output;
    assert!(
        refused.stderr.contains("needs 1 approval of content"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("has 0"), "{}", refused.stderr);

    // An approval of other content (an uncommitted edit) does not count.
    let committed = p.read("prompts/support/triage.prompt");
    p.write(
        "prompts/support/triage.prompt",
        &committed.replace("Classify", "Sort"),
    );
    p.promptgate(&["approve", "support/triage@worktree", "--as", "alice"])
        .exits(0);
    p.write("prompts/support/triage.prompt", &committed);
    let still = p
        .promptgate(&["promote", "support/triage"])
        .exits(13)
        .output;
    assert!(still.stderr.contains("has 0"), "{}", still.stderr);
    assert_eq!(git(&p).find_reference(LABEL).ok().map(|_| ()), None);

    p.promptgate(&["approve", "support/triage", "--as", "bob..x"])
        .exits(2);
    p.promptgate(&[
        "approve",
        "support/triage",
        "--as",
        "alice",
        "--note",
        "read the diff",
    ])
    .exits(0);
    let promoted = p
        .promptgate(&["promote", "support/triage", "--json"])
        .exits(0)
        .output;
    let record: Value = serde_json::from_str(&promoted.stdout).unwrap();
    assert_eq!(record["record"]["approvals"], serde_json::json!(["alice"]));

    // Without an owner, nothing past `low` is promoted.
    let orphan = Project::new();
    orphan.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("promptgate.owner: support\n", ""),
    );
    orphan.write("suites/triage.yaml", TRIAGE_SUITE);
    orphan.commit("orphan");
    let out = orphan
        .promptgate(&["promote", "support/triage"])
        .exits(13)
        .output;
    assert!(
        out.stderr.contains("has no `promptgate.owner`"),
        "{}",
        out.stderr
    );

    // `exceptional` requires an adversarial suite and three samples per case.
    let strict = Project::new();
    strict.write(
        "promptgate.yaml",
        // Readiness has its own test (production.rs); here it must not stand in the way.
        "default_provider: echo\npolicy:\n  exceptional: { approvals: 0, min_readiness: { total: 4, each: 1 } }\n",
    );
    strict.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace(
            "promptgate.owner: support\n",
            "promptgate.owner: support\npromptgate.risk_tier: exceptional\n",
        ),
    );
    strict.write("suites/triage.yaml", TRIAGE_SUITE);
    strict.commit("exceptional");
    let out = strict
        .promptgate(&["promote", "support/triage"])
        .exits(13)
        .output;
    assert!(
        out.stderr.contains("requires a `adversarial` suite"),
        "{}",
        out.stderr
    );
    strict.write(
        "suites/attacks.yaml",
        "kind: adversarial\nprompt: support/triage\ntarget: message\ncases:\n  - id: say\n    attack: \"say hello\"\n    assert: [{ type: not-contains, value: PWNED }]\n",
    );
    strict.commit("attacks");
    strict.promptgate(&["promote", "support/triage"]).exits(0);
    let checked = strict.run(&["check", "support/triage", "--json"]);
    let report: Value = serde_json::from_str(&checked.stdout).unwrap();
    assert_eq!(report["candidates"][0]["suites"][0]["samples"], 3);
}

#[test]
fn the_pre_commit_hook_lets_the_first_commit_of_a_new_repository_through() {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    p.write("suites/triage.yaml", TRIAGE_SUITE);
    assert_eq!(p.run(&["hook", "install"]).code, 0);
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(p.path())
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap()
    };
    assert!(run(&["add", "-A"]).status.success());
    let first = run(&["commit", "-q", "-m", "first"]);
    assert!(first.status.success(), "{first:?}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("the first commit has no baseline to compare with"),
        "{stderr}"
    );
}

#[test]
fn the_pre_commit_hook_blocks_a_regression_and_lets_a_harmless_change_through() {
    let p = Project::triage();
    p.promptgate(&["hook", "install"]).exits(0);
    let git_commit = |message: &str| {
        let add = Command::new("git")
            .args(["add", "-A"])
            .current_dir(p.path())
            .output()
            .unwrap();
        assert!(add.status.success());
        Command::new("git")
            .args(["commit", "-q", "-m", message])
            .current_dir(p.path())
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap()
    };
    let head = || git(&p).head().unwrap().target().unwrap();
    let before = head();

    let prompt = p.read("prompts/support/triage.prompt");
    p.write(
        "prompts/support/triage.prompt",
        &prompt.replace(
            "Categories: billing, bug, account.",
            "Categories: billing, bug, account. Be brief.",
        ),
    );
    let harmless = git_commit("be brief");
    assert!(harmless.status.success(), "{harmless:?}");
    assert_ne!(head(), before);
    let after_harmless = head();

    p.write(
        "prompts/support/triage.prompt",
        &prompt.replace(
            "Categories: billing, bug, account.",
            "Categories: bug, account.",
        ),
    );
    let regression = git_commit("drop billing");
    assert!(!regression.status.success(), "{regression:?}");
    let stderr = String::from_utf8_lossy(&regression.stderr);
    assert!(
        stderr.contains("the commit is blocked (exit 10)"),
        "{stderr}"
    );
    assert_eq!(head(), after_harmless, "the regressing commit was not made");
    // `git commit -a` and `git commit PATH` stage into an index of their own
    // ($GIT_INDEX_FILE): the hook gates what they commit too.
    let unstaged = Command::new("git")
        .args(["reset", "-q"])
        .current_dir(p.path())
        .output()
        .unwrap();
    assert!(unstaged.status.success());
    for args in [
        vec!["commit", "-q", "-a", "-m", "drop billing"],
        vec![
            "commit",
            "-q",
            "-m",
            "drop billing",
            "prompts/support/triage.prompt",
        ],
    ] {
        let out = Command::new("git")
            .args(&args)
            .current_dir(p.path())
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("the commit is blocked (exit 10)"),
            "{args:?}: {out:?}"
        );
        assert_eq!(head(), after_harmless, "{args:?} committed the regression");
    }

    // A commit that touches no prompt is not gated.
    p.write("prompts/support/triage.prompt", &prompt);
    p.write("notes.txt", "unrelated");
    let unrelated = git_commit("notes");
    assert!(unrelated.status.success(), "{unrelated:?}");

    // Deleting a prompt its suites still target is blocked; deleting both goes through.
    std::fs::remove_file(p.path().join("prompts/support/triage.prompt")).unwrap();
    let deleted = git_commit("delete the prompt");
    assert!(!deleted.status.success(), "{deleted:?}");
    let stderr = String::from_utf8_lossy(&deleted.stderr);
    assert!(stderr.contains("suites still target it"), "{stderr}");
    std::fs::remove_file(p.path().join("suites/triage.yaml")).unwrap();
    let both = git_commit("delete the prompt and its suite");
    assert!(both.status.success(), "{both:?}");
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(
        stderr.contains("support/triage is deleted at staged; no suite targets it any more"),
        "{stderr}"
    );

    // A hook promptgate did not write is kept unless forced.
    let hook = p.path().join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    p.promptgate(&["hook", "install"]).exits(2);
    assert!(p.run(&["hook", "install", "--force"]).code == 0);
}

#[test]
fn init_scaffolds_a_project_that_validates() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_promptgate"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["init"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for f in [
        "promptgate.yaml",
        "prompts/greet.prompt",
        "suites/greet.yaml",
        "suites/adversarial/greet.yaml",
        ".github/workflows/promptgate.yml",
        ".gitignore",
    ] {
        assert!(stdout.contains(&format!("created {f}")), "{f}: {stdout}");
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    assert!(dir.path().join(".git").is_dir());
    let validate = run(&["validate"]);
    assert!(validate.status.success(), "{validate:?}");
    assert!(String::from_utf8_lossy(&validate.stdout).contains("2 suites, 53 cases"));
    // The ready judges are files a project copies, and each is a valid judge prompt.
    let again = run(&["init", "--judges"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("kept promptgate.yaml"));
    for judge in ["reply-quality", "relevance", "pairwise"] {
        let file = format!("prompts/judges/{judge}.prompt");
        assert!(String::from_utf8_lossy(&again.stdout).contains(&format!("created {file}")));
        let text = std::fs::read_to_string(dir.path().join(&file)).unwrap();
        assert!(text.contains("promptgate.judge:"), "{file}");
    }
    let validate = run(&["validate"]);
    assert!(validate.status.success(), "{validate:?}");
    let ignore = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert_eq!(ignore.matches(".promptgate/").count(), 1);
}

#[test]
fn one_version_has_one_content_id_in_check_approve_and_reports() {
    let p = Project::triage();
    let approve = p
        .promptgate(&["approve", "support/triage@HEAD", "--as", "alice"])
        .exits(0)
        .output;
    let id = approve
        .stdout
        .split("(content ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("approve names the content")
        .to_string();
    let check = p.run(&["check", "--all"]);
    assert!(
        check
            .stdout
            .contains(&format!("(content {id}) vs HEAD (content {id})")),
        "{id}\n{}",
        check.stdout
    );
    let report = p.report(&check);
    assert!(
        report["candidates"][0]["candidate"]["hash"]
            .as_str()
            .unwrap()
            .starts_with(&id)
    );
}
