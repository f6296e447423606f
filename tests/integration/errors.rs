//! Bad input exits 2 (or 3) with a message naming the file and line, or the revision, and what
//! was expected. Every message is asserted; nothing may panic.

use crate::support::{Project, TRIAGE_PROMPT, TRIAGE_SUITE, fails_with};

#[test]
fn malformed_yaml_names_file_and_line() {
    let p = Project::triage();
    p.write("suites/triage.yaml", "kind: regression\nprompt: support/triage\ncases:\n  - id: x\n    vars: { message: \"unclosed }\n");
    fails_with(&p, &["check", "--all"], 2, &["error: suites/triage.yaml:"]);
    let out = p.run(&["validate"]);
    let line: u32 = out
        .stderr
        .split(':')
        .nth(2)
        .and_then(|l| l.trim().parse().ok())
        .expect("a line number");
    assert!((4..=6).contains(&line), "{}", out.stderr);
}

#[test]
fn unknown_keys_are_errors_with_lines() {
    let p = Project::triage();
    p.write(
        "suites/triage.yaml",
        &TRIAGE_SUITE.replace("cases:", "sampels: 3\ncases:"),
    );
    fails_with(&p, &["validate"], 2, &["suites/triage.yaml:3:", "sampels"]);
    p.write("suites/triage.yaml", TRIAGE_SUITE);
    p.write("promptgate.yaml", "default_provider: echo\nconcurency: 4\n");
    fails_with(&p, &["validate"], 2, &["promptgate.yaml:2:", "concurency"]);
}

#[test]
fn unknown_assertion_type_and_invalid_regex() {
    let p = Project::triage();
    p.write(
        "suites/triage.yaml",
        &TRIAGE_SUITE.replace("type: contains, value: bug", "type: contain, value: bug"),
    );
    fails_with(
        &p,
        &["validate"],
        2,
        &[
            "suites/triage.yaml:11:",
            "unknown assertion type `contain`",
            "expected one of: equals",
        ],
    );
    p.write(
        "suites/triage.yaml",
        &TRIAGE_SUITE.replace("type: contains, value: bug", "type: regex, value: \"(bug\""),
    );
    fails_with(
        &p,
        &["check", "--all"],
        2,
        &["suites/triage.yaml:11:", "invalid regex"],
    );
}

#[test]
fn variables_are_checked_before_any_call() {
    let p = Project::triage();
    p.write(
        "suites/triage.yaml",
        &TRIAGE_SUITE.replace(
            "{ message: \"app crashes\" }",
            "{ mesage: \"app crashes\" }",
        ),
    );
    fails_with(
        &p,
        &["check", "--all"],
        2,
        &[
            "suites/triage.yaml:8:",
            "case `bug`",
            "missing variable `message`",
            "support/triage@",
        ],
    );
    p.write(
        "suites/triage.yaml",
        &TRIAGE_SUITE.replace(
            "{ message: \"app crashes\" }",
            "{ message: \"x\", tone: formal }",
        ),
    );
    fails_with(
        &p,
        &["check", "--all"],
        2,
        &[
            "case `bug`",
            "variable `tone` is not declared by prompt `support/triage@",
        ],
    );
    assert!(
        !p.path()
            .join("reports")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "no run was started"
    );
}

#[test]
fn unknown_prompts_revisions_and_suites() {
    let p = Project::triage();
    fails_with(
        &p,
        &["check", "support/triag"],
        2,
        &[
            "no prompt named `support/triag`",
            "prompts/support/triag.prompt",
            "did you mean support/triage",
        ],
    );
    fails_with(
        &p,
        &["check", "--baseline", "v9"],
        2,
        &["revision `v9` does not exist"],
    );
    fails_with(
        &p,
        &["check", "--candidate", "nope~3"],
        2,
        &["revision `nope~3`"],
    );
    fails_with(
        &p,
        &["check", "--all", "--suite", "nosuch"],
        2,
        &["unknown suite `nosuch`"],
    );
    fails_with(
        &p,
        &["check", "--all", "--provider", "gpt"],
        2,
        &["unknown provider `gpt`"],
    );
    fails_with(
        &p,
        &["show", "support/triage@HEAD", "--case", "triage:nope"],
        2,
        &["has no case `nope`"],
    );
}

#[test]
fn a_prompt_without_suites_selects_no_cases() {
    let p = Project::triage();
    p.write("prompts/other.prompt", "Hello");
    p.commit("other");
    fails_with(&p, &["check", "other"], 3, &["no cases selected"]);
}

#[test]
fn an_empty_repository_names_the_fix() {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    p.write("suites/triage.yaml", TRIAGE_SUITE);
    fails_with(
        &p,
        &["check", "support/triage"],
        2,
        &["revision `HEAD` does not exist: the repository has no commits yet"],
    );
}

#[test]
fn broken_prompts_are_located() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        "---\ninput:\n  schema:\n    message: strng\n---\n{{message}}",
    );
    fails_with(
        &p,
        &["validate"],
        2,
        &["prompts/support/triage.prompt:2:", "unknown type `strng`"],
    );
    p.write(
        "prompts/support/triage.prompt",
        "---\npromptgate.risk_tier: extreme\n---\nHi",
    );
    fails_with(
        &p,
        &["validate"],
        2,
        &[
            "prompts/support/triage.prompt:2:",
            "expected one of: low, standard, exceptional",
        ],
    );
    p.write("prompts/support/triage.prompt", "{{#if x}}unclosed");
    fails_with(
        &p,
        &["validate"],
        2,
        &["prompts/support/triage.prompt", "template"],
    );
    p.write("prompts/support/triage.prompt", "{{> missing}}");
    fails_with(&p, &["validate"], 2, &["partial `missing` not found"]);
}

#[test]
fn garbage_never_panics() {
    let p = Project::triage();
    let garbage = [
        "\u{0}\u{1}---\n---\n",
        "---\n: : :\n---",
        "---\n[1, 2]\n---\n{{",
        "\u{feff}---\nx: !!binary AAA\n---",
        "{{{{raw}}}}",
    ];
    for g in garbage {
        p.write("prompts/support/triage.prompt", g);
        let out = p.run(&["validate"]);
        assert!(matches!(out.code, 0 | 2), "{g:?}: {}", out.stderr);
        p.write("suites/triage.yaml", g);
        let out = p.run(&["check", "--all"]);
        assert!(
            matches!(out.code, 2),
            "{g:?}: {} {}",
            out.stdout,
            out.stderr
        );
        p.write("suites/triage.yaml", TRIAGE_SUITE);
    }
}

#[test]
fn a_missing_pip_names_the_fix() {
    let p = Project::triage();
    let models = tempfile::tempdir().unwrap();
    let empty_path = tempfile::tempdir().unwrap();
    let env = [
        ("PATH", empty_path.path().to_str().unwrap()),
        ("PROMPTGATE_MODEL_DIR", models.path().to_str().unwrap()),
    ];
    let out = p.promptgate(&["model", "fetch"]).envs(&env).exits(2).output;
    assert!(
        out.stderr.contains("cannot download the default model"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("install pip") && out.stderr.contains("PROMPTGATE_MODEL_DIR"),
        "{}",
        out.stderr
    );
    // The same happens, before any call, when a check needs the model.
    let out = p
        .promptgate(&["check", "--all", "--provider", "local"])
        .envs(&env)
        .exits(2)
        .output;
    assert!(
        out.stderr
            .contains("provider `local`: cannot download the default model"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_reports_every_problem_at_once_with_likely_fixes() {
    let p = Project::triage();
    p.write(
        "suites/more.yaml",
        "kind: regression\nprompt: support/triage\ncases:\n  - id: a\n    vars: { message: hi }\n    assert:\n      - { type: icontain, value: x }\n",
    );
    p.write(
        "suites/attacks.yaml",
        "kind: adversarial\nprompt: support/triage\ntarget: mesage\npacks: [prompt-injecton]\n",
    );
    let out = p.promptgate(&["validate"]).exits(2).output;
    assert!(
        out.stderr.contains("suites/attacks.yaml:4:")
            && out.stderr.contains("did you mean `prompt-injection`?")
            && out.stderr.contains("suites/more.yaml:7:")
            && out.stderr.contains("did you mean `icontains`?")
            && out.stderr.contains("2 problems"),
        "{}",
        out.stderr
    );

    // Once the suites load, a target that is not a variable is named at its own line.
    p.write(
        "suites/more.yaml",
        "kind: regression\nprompt: support/triage\ncases: []\n",
    );
    p.write(
        "suites/attacks.yaml",
        "kind: adversarial\nprompt: support/triage\ntarget: mesage\npacks: [prompt-injection]\n",
    );
    let out = p.promptgate(&["validate"]).exits(2).output;
    assert!(
        out.stderr.contains(
            "suites/attacks.yaml:3:9: `target: mesage` is not a variable of support/triage"
        ) && out.stderr.contains("did you mean `message`?"),
        "{}",
        out.stderr
    );
    let out = p.run(&["check", "--all", "--suite", "attack"]);
    assert!(
        out.stderr.contains("did you mean `attacks`?"),
        "{}",
        out.stderr
    );
    let out = p.run(&["show", "support/triag"]);
    assert!(
        out.stderr.contains("did you mean support/triage?"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_warns_about_a_key_that_is_not_set_and_connection_errors_name_the_server() {
    let p = Project::triage();
    p.write(
        "promptgate.yaml",
        "default_provider: gpt\nproviders:\n  gpt: { kind: openai, model: m, base_url: \"http://127.0.0.1:9/v1\", api_key_env: PROMPTGATE_TEST_UNSET_KEY, retries: 0 }\n",
    );
    fails_with(
        &p,
        &["validate"],
        0,
        &[
            "warning: provider `gpt` reads its API key from `PROMPTGATE_TEST_UNSET_KEY`, which is not set",
        ],
    );
    let out = p
        .promptgate(&["run"])
        .envs(&[("PROMPTGATE_TEST_UNSET_KEY", "sk-test")])
        .exits(12)
        .output;
    assert!(
        out.stdout.contains(
            "provider `gpt`: cannot connect to the server at http://127.0.0.1:9/v1/chat/completions"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_file_that_is_not_utf8_is_a_located_error() {
    for (file, line) in [
        ("suites/triage.yaml", 2),
        ("prompts/support/triage.prompt", 2),
        ("promptgate.yaml", 2),
    ] {
        let p = Project::triage();
        let mut bytes = p.read(file).into_bytes();
        let second_line = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        bytes.insert(second_line, 0xff);
        std::fs::write(p.path().join(file), bytes).unwrap();
        let out = p.run(&["validate"]);
        assert_eq!(out.code, 2, "{file}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{file}:{line}"))
                && out.stderr.contains("not UTF-8 text")
                && out.stderr.contains("save the file as UTF-8"),
            "{file}: {}",
            out.stderr
        );
    }
}
