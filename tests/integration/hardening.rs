//! A hostile repository and hostile data cannot take the gate over: marker text in data stays
//! text (see `adversarial`), writes never follow planted symlinks, and run ids name nothing
//! outside `reports/`.

use crate::support::{Project, TRIAGE_PROMPT, fails_with};

#[cfg(unix)]
#[test]
fn report_writes_never_follow_a_planted_symlink() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    let out = p.promptgate(&["check"]).exits(10).output;
    let dir = p.path().join(out.report_dir());
    let outside = tempfile::tempdir().unwrap();
    let mut victims = Vec::new();
    for name in ["index", "summary", "junit"] {
        let victim = outside.path().join(format!("{name}-victim.txt"));
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(format!("{name}.tmp"))).unwrap();
        victims.push(victim);
    }
    let victim = outside.path().join("html-victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::remove_file(dir.join("index.html")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("index.html")).unwrap();
    victims.push(victim);

    let run_id = dir.file_name().unwrap().to_str().unwrap().to_string();
    p.promptgate(&["report", &run_id]).exits(0);
    for victim in &victims {
        assert_eq!(
            std::fs::read_to_string(victim).unwrap(),
            "precious",
            "{} was written through a symlink",
            victim.display()
        );
    }
    let html = dir.join("index.html");
    assert!(
        !std::fs::symlink_metadata(&html)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was replaced by the report, not followed"
    );
    assert!(std::fs::read_to_string(html).unwrap().contains("<html"));
}

/// Every directory promptgate writes into, planted as a symlink to a folder outside the
/// project, with a command that writes there: nothing lands outside, and the command says why
/// it stopped (the report files, the alerts and the calibrations have tests of their own).
#[cfg(unix)]
#[test]
fn no_write_path_follows_a_planted_directory_symlink() {
    let mock = crate::mock::Mock::start(vec![]);
    let triage = || {
        let p = Project::triage();
        // A provider whose answers are cached.
        p.write(
            "promptgate.yaml",
            &format!(
                "default_provider: mock\nproviders:\n  mock: {{ kind: openai, model: m, base_url: \"{}\", api_key_env: MOCK_API_KEY }}\n",
                mock.base_url
            ),
        );
        p.commit("on the mock");
        p.write(
            "prompts/support/triage.prompt",
            &TRIAGE_PROMPT.replace("billing, bug", "refund"),
        );
        p
    };
    let bare = || {
        let p = Project::new();
        std::fs::remove_file(p.path().join("promptgate.yaml")).unwrap();
        p
    };
    // Each link, whether the triage project (else a bare repository) plants it, and the
    // command.
    let planted: [(&str, bool, &[&str]); 6] = [
        ("reports", true, &["check"]),
        (".promptgate", true, &["check"]),
        (".promptgate/cache", true, &["check"]),
        ("prompts", false, &["init"]),
        ("schemas", false, &["init"]),
        (".github/workflows", false, &["init"]),
    ];
    for (link, on_triage, args) in planted {
        let p = if on_triage { triage() } else { bare() };
        let outside = tempfile::tempdir().unwrap();
        let at = p.path().join(link);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(outside.path(), &at).unwrap();
        let out = p.run_env(args, &[("MOCK_API_KEY", "k")]);
        let written: Vec<_> = std::fs::read_dir(outside.path())
            .unwrap()
            .flatten()
            .collect();
        assert!(
            written.is_empty(),
            "{link}: `{}` wrote {written:?} outside the project\n{}",
            args.join(" "),
            out.stderr
        );
        assert_eq!(out.code, 2, "{link}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("symlink"), "{link}: {}", out.stderr);
    }
}

#[test]
fn a_run_id_names_a_directory_under_reports_and_nothing_else() {
    let p = Project::triage();
    for id in ["../../etc", "/tmp", "a/b", ".hidden", ""] {
        let out = p.run(&["report", id]);
        assert_eq!(out.code, 2, "{id}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("is not a run id"),
            "{id}: {}",
            out.stderr
        );
        let out = p.run(&["promote", "support/triage", "--from-report", id]);
        assert_ne!(out.code, 0, "{id}");
    }
}

#[test]
fn controls_that_would_switch_off_are_refused_with_their_location() {
    let p = Project::triage();
    for (file, text, expected) in [
        (
            "suites/triage.yaml",
            crate::support::TRIAGE_SUITE.replace("cases:", "tolerance: { max_pass_rate_drop: .nan }\ncases:"),
            "suites/triage.yaml:3:",
        ),
        (
            "suites/triage.yaml",
            crate::support::TRIAGE_SUITE.replace("cases:", "tolerance: { max_pass_rate_drop: 7 }\ncases:"),
            "write 0.07",
        ),
        (
            "promptgate.yaml",
            "default_provider: echo\ntolerance:\n  standard: { max_cost_increase: -1 }\n".to_string(),
            "promptgate.yaml:3:",
        ),
        (
            "promptgate.yaml",
            "providers:\n  api:\n    kind: openai\n    model: m\n    price: { input_per_mtok: .inf, output_per_mtok: 1 }\n".to_string(),
            "prices must be finite",
        ),
    ] {
        let original = p.read(file);
        p.write(file, &text);
        let out = p.run(&["validate"]);
        assert_eq!(out.code, 2, "{text}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(expected), "{expected}: {}", out.stderr);
        p.write(file, &original);
    }
    for cap in ["NaN", "inf", "-1"] {
        let out = p.run(&["check", "--max-cost", cap]);
        assert_eq!(out.code, 2, "{cap}: {}", out.stderr);
    }
}

#[test]
fn control_characters_from_data_are_shown_not_obeyed() {
    let p = Project::new();
    p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
    p.write(
        "suites/triage.yaml",
        "kind: regression\nprompt: support/triage\ncases:\n  - id: \"evil\\e[2J\"\n    vars: { message: \"\\e]8;;http://evil.test\\a click \\e]8;;\\a \\e]0;title\\a \\e[2J \\r over \\0 nul \\u202Eevil\" }\n    assert:\n      - { type: contains, value: billing }\n",
    );
    p.commit("hostile case data");
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    let out = p.promptgate(&["check"]).exits(10).output;
    let summary = p.read(&format!("{}/summary.md", out.report_dir()));
    let show = p.run(&["show", "support/triage", "--case", "triage/evil\u{1b}[2J"]);
    for (what, text) in [
        ("check", &out.stdout),
        ("summary.md", &summary),
        ("show", &show.stdout),
        ("show errors", &show.stderr),
    ] {
        for raw in ['\u{1b}', '\u{7}', '\r', '\0', '\u{202e}'] {
            assert!(!text.contains(raw), "{what} carries {:?} raw:\n{text}", raw);
        }
    }
    assert!(out.stdout.contains("\\u{1b}[2J"), "{}", out.stdout);
}

#[test]
fn labels_and_prompt_names_git_cannot_carry_are_refused() {
    let p = Project::triage();
    let repo = git2::Repository::open(p.path()).unwrap();
    let branch = repo.head().unwrap().shorthand().unwrap().to_string();
    for label in [
        "HEAD", &branch, "a b", "x..y", "v.lock", "@{1}", "a~1", "*", ".x",
    ] {
        let flag = format!("--label={label}");
        let out = p.run(&["promote", "support/triage", &flag]);
        assert_eq!(out.code, 2, "{label}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("cannot be a label"),
            "{label}: {}",
            out.stderr
        );
    }
    assert!(
        repo.references_glob("refs/prompts/*")
            .unwrap()
            .next()
            .is_none(),
        "no label ref was written"
    );
    p.write("prompts/support/tri age.prompt", TRIAGE_PROMPT);
    let out = p.promptgate(&["check", "--all"]).exits(2).output;
    assert!(
        out.stderr.contains("prompts/support/tri age.prompt")
            && out.stderr.contains("cannot name a prompt"),
        "{}",
        out.stderr
    );
}

#[test]
fn deleting_a_prompt_its_suites_target_fails_the_gate() {
    let p = Project::triage();
    std::fs::remove_file(p.path().join("prompts/support/triage.prompt")).unwrap();
    let out = p.promptgate(&["check"]).exits(10).output;
    assert!(
        out.stderr.contains(
            "support/triage is deleted at worktree, but suites still target it: suites/triage.yaml"
        ),
        "{}",
        out.stderr
    );
    std::fs::remove_file(p.path().join("suites/triage.yaml")).unwrap();
    p.promptgate(&["check"]).exits(0);
}

#[test]
fn partials_cannot_read_outside_prompts_or_recurse_for_ever() {
    let p = Project::triage();
    std::fs::write(p.path().join("secret.prompt"), "TOP SECRET").unwrap();
    std::fs::write(p.path().join("prompts/_secret.prompt"), "TOP SECRET").unwrap();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("{{message}}", "{{message}} {{> ../../secret}}"),
    );
    let out = p
        .promptgate(&["show", "support/triage", "--case", "triage/billing"])
        .exits(2)
        .output;
    assert!(!out.stdout.contains("TOP SECRET"));
    assert!(
        out.stderr.contains("not a name under prompts/"),
        "{}",
        out.stderr
    );

    p.write("prompts/support/_a.prompt", "A {{> support/b}}");
    p.write("prompts/support/_b.prompt", "B {{> support/a}}");
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("{{message}}", "{{message}} {{> support/a}}"),
    );
    let out = p.promptgate(&["check"]).exits(2).output;
    assert!(
        out.stderr.contains("prompts/support/triage.prompt") && out.stderr.contains("cycle"),
        "{}",
        out.stderr
    );
}

#[test]
fn every_headline_says_incomplete_when_nothing_was_evaluated() {
    let p = Project::triage();
    p.write(
        "promptgate.yaml",
        "default_provider: down\nproviders:\n  down: { kind: openai, model: m, base_url: \"http://127.0.0.1:1/v1\", retries: 0 }\n",
    );
    p.commit("an unreachable provider");
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("Categories:", "Categories, briefly:"),
    );
    let out = p.promptgate(&["check"]).exits(12).output;
    assert!(out.stdout.starts_with("INCOMPLETE "), "{}", out.stdout);
    let last = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("verdict:"))
        .unwrap();
    assert!(
        last.starts_with("verdict: INCOMPLETE (incomplete: 3 of 3 case comparisons errored")
            && last.contains("the first:"),
        "{last}"
    );
    let dir = out.report_dir();
    let summary = p.read(&format!("{dir}/summary.md"));
    assert!(
        summary.starts_with("<!-- promptgate summary -->\n## promptgate: INCOMPLETE"),
        "{summary}"
    );
    let html = p.read(&format!("{dir}/index.html"));
    assert!(html.contains("<span class=\"verdict incomplete\">incomplete</span>"));
    assert!(!html.contains("verdict pass"), "no green badge anywhere");
    let junit = p.read(&format!("{dir}/junit.xml"));
    assert!(
        junit.contains("run complete") && junit.contains("<error"),
        "{junit}"
    );
}

#[cfg(unix)]
#[test]
fn reads_stay_inside_the_project() {
    let p = Project::triage();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.jsonl");
    std::fs::write(
        &secret,
        "{\"id\": \"x\", \"vars\": {\"message\": \"TOP SECRET\"}}\n",
    )
    .unwrap();
    for file in [secret.display().to_string(), "../secret.jsonl".to_string()] {
        p.write(
            "suites/triage.yaml",
            &format!("kind: regression\nprompt: support/triage\ncases:\n  - file: \"{file}\"\n"),
        );
        let out = p.run(&["validate"]);
        assert_eq!(out.code, 2, "{file}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("suites/triage.yaml:4")
                && out.stderr.contains("outside the project"),
            "{file}: {}",
            out.stderr
        );
    }
    p.write("suites/triage.yaml", crate::support::TRIAGE_SUITE);

    std::fs::write(outside.path().join("x.prompt"), "TOP SECRET").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("x.prompt"),
        p.path().join("prompts/support/leak.prompt"),
    )
    .unwrap();
    let out = fails_with(&p, &["show", "support/leak"], 2, &["is a symlink"]);
    assert!(!out.stdout.contains("TOP SECRET"));

    fails_with(&p, &["show", "../../x"], 2, &["is not a prompt name"]);
}

#[test]
fn one_person_is_one_approval_whatever_ids_they_use() {
    let p = Project::triage();
    p.write(
        "promptgate.yaml",
        "default_provider: echo\npolicy:\n  standard: { approvals: 2 }\n",
    );
    p.commit("two approvals");
    for id in ["Bob", "bob", "carol"] {
        p.promptgate(&["approve", "support/triage", "--as", id])
            .exits(0);
    }
    fails_with(
        &p,
        &["promote", "support/triage"],
        13,
        &["by different people, and has 1"],
    );

    let repo = git2::Repository::open(p.path()).unwrap();
    let mut config = repo.config().unwrap();
    config.set_str("user.name", "Dana Reviewer").unwrap();
    config.set_str("user.email", "dana@example.com").unwrap();
    p.promptgate(&["approve", "support/triage", "--as", "dana"])
        .exits(0);
    p.promptgate(&["promote", "support/triage"]).exits(0);
}

#[test]
fn a_key_pasted_into_the_config_is_never_echoed() {
    let p = Project::triage();
    let key = "sk-proj-PASTEDxSECRETx0123456789";
    p.write(
        "promptgate.yaml",
        &format!(
            "providers:\n  api:\n    kind: openai\n    model: m\n    base_url: \"https://user:hunter2@api.example.test/v1\"\n    api_key_env: \"{key}\"\n"
        ),
    );
    let out = fails_with(&p, &["validate"], 2, &["promptgate.yaml:6:18:"]);
    assert!(
        out.stderr.contains("must name an environment variable"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("PASTED") && !out.stdout.contains("PASTED"));
}

#[test]
fn an_exec_command_sees_only_the_variables_its_config_names() {
    let p = Project::triage();
    p.write(
        "bot.py",
        "import os\nprint('key=' + os.environ.get('OPENAI_API_KEY', 'absent') + ' path=' + ('yes' if os.environ.get('PATH') else 'no'))\n",
    );
    let outputs = |config: &str| {
        p.write("promptgate.yaml", config);
        let out = p.run_env(&["run"], &[("OPENAI_API_KEY", "sk-live-not-for-bots")]);
        assert_eq!(
            out.code, 10,
            "the bot fails the suite: {}\n{}",
            out.stdout, out.stderr
        );
        p.report(&out)["suites"][0]["cases"][0]["side"]["samples"][0]["output"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        outputs(
            "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"bot.py\"] }\n"
        ),
        "key=absent path=yes"
    );
    assert_eq!(
        outputs(
            "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"bot.py\"], env: [OPENAI_API_KEY] }\n"
        ),
        "key=sk-live-not-for-bots path=yes"
    );
}

/// Whether process `pid` is still running (a zombie waiting for its reaper is not).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
}

#[cfg(target_os = "linux")]
#[test]
fn an_exec_command_is_stopped_with_everything_it_started() {
    let p = Project::triage();
    let config = |script: &str, timeout_ms: u32| {
        format!(
            "default_provider: bot\nproviders:\n  bot: {{ kind: exec, command: [\"python3\", \"{script}\"], timeout_ms: {timeout_ms}, retries: 0 }}\n"
        )
    };
    // A command that leaves a process holding its stdout: its reply is what it wrote before it
    // exited, not a timeout, and the process it left is stopped.
    p.write(
        "leaves.py",
        "import subprocess, sys, os\nchild = subprocess.Popen(['sleep', '60'])\nopen('left.' + str(os.getpid()), 'w').write(str(child.pid))\nprint('billing bug refund')\nsys.stdout.flush()\n",
    );
    p.write("promptgate.yaml", &config("leaves.py", 30_000));
    let out = p.promptgate(&["run"]).exits(0).output;
    let report = p.report(&out);
    let sample = &report["suites"][0]["cases"][0]["side"]["samples"][0];
    assert_eq!(sample["output"], "billing bug refund", "{sample}");
    let pids: Vec<String> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("left."))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "one command per case");
    for pid in &pids {
        assert!(!running(pid), "process {pid} outlived its call");
    }

    // A command that times out is stopped with what it started.
    p.write(
        "hangs.py",
        "import subprocess, time, os\nchild = subprocess.Popen(['sleep', '60'], stdout=subprocess.DEVNULL)\nopen('hung.' + str(os.getpid()), 'w').write(str(child.pid))\ntime.sleep(60)\n",
    );
    p.write("promptgate.yaml", &config("hangs.py", 5_000));
    let out = p.run(&["run"]);
    assert_ne!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("timed out"), "{}", out.stdout);
    let hung: Vec<String> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("hung."))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(hung.len(), 3, "one command per case");
    for pid in &hung {
        assert!(!running(pid), "process {pid} outlived its timed-out call");
    }
}

#[test]
fn an_exec_reply_is_capped_and_its_tokens_are_never_next_to_nothing() {
    let p = Project::triage();
    p.write(
        "big.py",
        "import sys, json\nreq = json.load(sys.stdin)\nn = 20_000_000 if 'crash' in json.dumps(req) else 1_000_000\nsys.stdout.write('a' * n)\n",
    );
    p.write(
        "promptgate.yaml",
        "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"big.py\"], retries: 0 }\n",
    );
    let out = p.run(&["run"]);
    let report = p.report(&out);
    let cases = report["suites"][0]["cases"].as_array().unwrap();
    let sample =
        |id: &str| cases.iter().find(|c| c["id"] == id).unwrap()["side"]["samples"][0].clone();
    let big = sample("bug");
    assert!(
        big["error"]
            .as_str()
            .unwrap()
            .contains("more than the 16 MiB"),
        "{}",
        big["error"]
    );
    let word_free = sample("billing");
    assert!(
        word_free["tokens"].as_u64().unwrap() >= 250_000,
        "a million word-free bytes are not one token: {}",
        word_free["tokens"]
    );
}

/// A project whose provider is a deterministic exec bot (cacheable, unlike `echo`).
fn bot_project() -> Project {
    let p = Project::triage();
    p.write(
        "bot.py",
        "import sys\nsys.stdin.read()\nprint('billing bug refund')\n",
    );
    p.write(
        "promptgate.yaml",
        "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"bot.py\"] }\n",
    );
    p.commit("bot");
    p
}

#[cfg(unix)]
#[test]
fn planted_directories_and_logs_are_refused_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    let empty = |what: &str| {
        assert_eq!(
            std::fs::read_dir(outside.path()).unwrap().count(),
            0,
            "{what} wrote outside the project"
        );
    };
    for dir in ["reports", ".promptgate/cache", "fixtures/cassettes"] {
        let p = bot_project();
        let link = p.path().join(dir);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let _ = std::fs::remove_dir_all(&link);
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        let out = p.run(&["run", "--record"]);
        assert_eq!(out.code, 2, "{dir}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("is a symlink"), "{dir}: {}", out.stderr);
        empty(dir);
    }

    // A cassette that points outside is not read.
    let p = bot_project();
    std::fs::write(outside.path().join("secret"), "TOP SECRET").unwrap();
    std::fs::create_dir_all(p.path().join("fixtures/cassettes")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret"),
        p.path().join("fixtures/cassettes/bot.jsonl"),
    )
    .unwrap();
    let out = fails_with(&p, &["run", "--provider", "replay"], 2, &["is a symlink"]);
    assert!(!out.stderr.contains("TOP SECRET") && !out.stdout.contains("TOP SECRET"));
    std::fs::remove_file(outside.path().join("secret")).unwrap();

    // Resuming never appends through a results log swapped for a symlink.
    let p = bot_project();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("bug", "bugs"),
    );
    let out = p.run(&["check"]);
    let dir = p.path().join(out.report_dir());
    std::fs::remove_file(dir.join("report.json")).unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::remove_file(dir.join("results.jsonl")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("results.jsonl")).unwrap();
    let run_id = dir.file_name().unwrap().to_str().unwrap().to_string();
    fails_with(&p, &["check", "--resume", &run_id], 2, &["is a symlink"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn a_response_cache_committed_to_git_is_never_read() {
    let p = bot_project();
    p.promptgate(&["run"]).exits(0);
    // A pull request commits cache entries (forced past .gitignore) answering its requests.
    let mut index = p.repo().index().unwrap();
    index
        .add_all(
            [".promptgate/cache"].iter(),
            git2::IndexAddOption::FORCE,
            None,
        )
        .unwrap();
    index.write().unwrap();
    for args in [&["run"][..], &["check", "--all"][..]] {
        let out = p.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr
                .contains("tracked by git under .promptgate/cache/")
                && out.stderr.contains("git rm -r --cached .promptgate/cache"),
            "{}",
            out.stderr
        );
    }
    p.promptgate(&["run", "--no-cache"]).exits(0);
}

#[cfg(unix)]
#[test]
fn revision_reads_refuse_what_worktree_reads_refuse() {
    let p = Project::triage();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(p.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    // A committed symlink: git stores its target, which must not be read as the prompt.
    std::os::unix::fs::symlink(
        "/etc/hostname",
        p.path().join("prompts/support/leak.prompt"),
    )
    .unwrap();
    // A submodule (gitlink) where a prompt file should be.
    let head = git(&["rev-parse", "HEAD"]);
    git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},prompts/support/sub.prompt"),
    ]);
    git(&["add", "prompts/support/leak.prompt"]);
    git(&["commit", "-q", "-m", "hostile entries"]);
    for (name, kind) in [
        ("support/leak", "a symlink"),
        ("support/sub", "a submodule"),
    ] {
        let out = p.run(&["show", &format!("{name}@HEAD")]);
        assert_eq!(out.code, 2, "{name}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(&format!("is {kind} in git")),
            "{name}: {}",
            out.stderr
        );
    }
    fails_with(&p, &["show", "support/leak"], 2, &["is a symlink"]);

    // A label ref pointing at a blob is a located refusal, not an internal error.
    let blob = git(&["hash-object", "-w", "prompts/support/triage.prompt"]);
    git(&[
        "update-ref",
        "refs/prompts/support/triage@production",
        &blob,
    ]);
    fails_with(
        &p,
        &["check", "support/triage"],
        2,
        &["promptgate never writes such a ref"],
    );
}

#[test]
fn a_bad_model_file_is_one_clear_line() {
    let p = Project::triage();
    p.write("model.gguf", "garbage text, not a model\n");
    p.write("short.gguf", "GGUF\u{3}");
    for file in ["model.gguf", "short.gguf"] {
        p.write(
            "promptgate.yaml",
            &format!(
                "default_provider: loc\nproviders:\n  loc: {{ kind: local, model_path: {file} }}\n"
            ),
        );
        let out = p
            .promptgate(&["run"])
            .envs(&[("RUST_BACKTRACE", "1")])
            .exits(2)
            .output;
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains(file), "{}", out.stderr);
        assert!(!out.stderr.contains("garbage"), "{}", out.stderr);
    }
}

#[cfg(unix)]
#[test]
fn re_rendering_a_report_never_writes_through_a_planted_run_directory() {
    let p = bot_project();
    let out = p.run(&["run"]);
    let dir = p.path().join(out.report_dir());
    let run_id = dir.file_name().unwrap().to_str().unwrap().to_string();
    // The run directory is swapped for a link to a copy of it outside the project.
    let outside = tempfile::tempdir().unwrap();
    let report = std::fs::read(dir.join("report.json")).unwrap();
    std::fs::write(outside.path().join("report.json"), report).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(outside.path(), &dir).unwrap();
    fails_with(&p, &["report", &run_id], 2, &["is a symlink"]);
    let left: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        left,
        ["report.json"],
        "a report was written outside the project"
    );
}

#[test]
fn in_ci_a_provider_the_change_adds_or_changes_never_gets_the_jobs_secrets() {
    let mock = crate::mock::Mock::start(vec![]);
    let p = Project::triage();
    let base = p.head_id();
    let secrets = [
        ("CI", "true"),
        ("GH_TOKEN", "ghs_JOBTOKEN"),
        ("MOCK_KEY", "sk-test-JOBKEY"),
    ];
    // The pull request's bot would print the job's token into its replies.
    p.write(
        "bot.py",
        "import os, sys\nsys.stdin.read()\nopen('bot-ran', 'w').write(os.environ.get('GH_TOKEN', ''))\nprint('billing bug refund')\n",
    );
    let exec = "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"bot.py\"], env: [GH_TOKEN] }\n";
    let http = format!(
        "default_provider: api\nproviders:\n  api: {{ kind: openai, model: tiny-1, base_url: \"{}\", api_key_env: MOCK_KEY }}\n",
        mock.base_url
    );
    for (config, secret) in [
        (exec.to_string(), "runs a command in the CI job"),
        (http.clone(), "reads the secret `MOCK_KEY`"),
    ] {
        p.write("promptgate.yaml", &config);
        p.commit("my own provider");
        p.promptgate(&["check", "--all", "--baseline", &base])
            .envs(&secrets)
            .exits(13)
            .stderr_has(&[
                "is added or changed by the change under check",
                secret,
                "trust_changed_providers: true",
            ]);
    }
    assert!(
        !p.path().join("bot-ran").exists(),
        "the pull request's command ran"
    );
    assert_eq!(mock.hits(), 0, "the pull request's endpoint got the key");

    // Out of CI (an author's checkout) the config is the author's own.
    p.promptgate(&["check", "--all", "--baseline", &base])
        .envs(&[("MOCK_KEY", "sk-test-JOBKEY")])
        .exits(0);
    // Once the provider is on the baseline, an unchanged definition is trusted.
    let landed = p.head_id();
    p.write(
        "prompts/support/triage.prompt",
        &TRIAGE_PROMPT.replace("bug", "bugs"),
    );
    p.promptgate(&["check", "--all", "--baseline", &landed])
        .envs(&secrets)
        .exits(0);
    // A changed endpoint is a changed provider; the maintainers' config can allow it.
    p.write("promptgate.yaml", &http.replace("tiny-1", "tiny-2"));
    p.commit("another model");
    p.promptgate(&["check", "--all", "--baseline", &landed])
        .envs(&secrets)
        .exits(13);
    let trusting = p.read("promptgate.yaml") + "trust_changed_providers: true\n";
    p.write("promptgate.yaml", &trusting);
    p.commit("the maintainers trust their contributors' providers");
    let trusted = p.head_id();
    p.write("promptgate.yaml", &trusting.replace("tiny-2", "tiny-3"));
    p.promptgate(&["check", "--all", "--baseline", &trusted])
        .envs(&secrets)
        .exits(0);
}

#[test]
fn an_edited_exec_script_is_another_provider_whose_replies_are_not_cached() {
    let p = bot_project();
    let cached = |p: &Project| {
        let out = p.run(&["run", "--json"]);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        report["totals"]["cached"].as_u64().unwrap()
    };
    assert_eq!(cached(&p), 0);
    assert_eq!(
        cached(&p),
        3,
        "an unchanged script's replies come from the cache"
    );
    p.write(
        "bot.py",
        "import sys\nsys.stdin.read()\nprint('nothing to see')\n",
    );
    assert_eq!(cached(&p), 0, "the edited script is asked again");
}
