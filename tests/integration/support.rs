//! A throwaway project: a git repository in a temp dir, files, commits, and the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A temporary promptgate project in its own git repository.
pub(crate) struct Project {
    dir: tempfile::TempDir,
    repo: git2::Repository,
}

/// What a run of the binary produced.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// The `report: reports/<id>` path printed by check and run.
    pub(crate) fn report_dir(&self) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("report: "))
            .unwrap_or_else(|| panic!("no report line in:\n{}\n{}", self.stdout, self.stderr))
            .to_string()
    }
}

pub(crate) const TRIAGE_PROMPT: &str = "---\ndescription: Classify a ticket.\npromptgate.owner: support\ninput:\n  schema:\n    message: string, the ticket\n---\n{{role \"system\"}}Categories: billing, bug, account.\n{{role \"user\"}}{{message}}\n";

pub(crate) const TRIAGE_SUITE: &str = "kind: regression\nprompt: support/triage\ncases:\n  - id: billing\n    vars: { message: \"charged twice\" }\n    assert:\n      - { type: contains, value: billing }\n  - id: bug\n    vars: { message: \"app crashes\" }\n    assert:\n      - { type: contains, value: bug }\n  - id: refund\n    vars: { message: \"money back please\" }\n    assert:\n      - { type: contains, value: refund }\n";

impl Project {
    /// An empty repository with a committer identity, set up for the `echo` provider (whose
    /// reply is the rendered prompt, so outcomes follow prompt edits deterministically). The
    /// test suites are tiny, far too small for the statistical gate to decide anything, so the
    /// standard tier also blocks any new failure outright.
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = git2::Repository::init(dir.path()).expect("git init");
        let mut config = repo.config().expect("config");
        config.set_str("user.name", "Test Author").unwrap();
        config.set_str("user.email", "author@example.com").unwrap();
        let project = Self { dir, repo };
        project.write(
            "promptgate.yaml",
            "default_provider: echo\ntolerance:\n  standard: { max_new_failures: 0 }\n",
        );
        // As `promptgate init` leaves it: the cache and the reports are never committed.
        project.write(".gitignore", ".promptgate/\nreports/\n");
        project
    }

    /// The triage prompt and its suite, committed.
    pub(crate) fn triage() -> Self {
        let p = Self::new();
        p.write("prompts/support/triage.prompt", TRIAGE_PROMPT);
        p.write("suites/triage.yaml", TRIAGE_SUITE);
        p.commit("add triage");
        p
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, path: &str, content: &str) -> &Self {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
        self
    }

    pub(crate) fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(path)).unwrap()
    }

    /// The repository.
    pub(crate) fn repo(&self) -> &git2::Repository {
        &self.repo
    }

    /// Commits every file in the work tree; returns the commit id.
    pub(crate) fn commit(&self, message: &str) -> git2::Oid {
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = self.repo.signature().unwrap();
        let parents: Vec<git2::Commit<'_>> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
    }

    /// The id of the commit HEAD names, as a revision to pass.
    pub(crate) fn head_id(&self) -> String {
        self.repo.head().unwrap().target().unwrap().to_string()
    }

    /// Points `refs/prompts/NAME@LABEL` at a commit.
    pub(crate) fn label(&self, name: &str, label: &str, commit: git2::Oid) {
        self.repo
            .reference(
                &format!("refs/prompts/{name}@{label}"),
                commit,
                true,
                "label",
            )
            .unwrap();
    }

    /// Runs the binary in the project with the given arguments.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run_in("", args, env)
    }

    /// Runs the binary in `folder` of the repository (`""`: its root).
    pub(crate) fn run_in(&self, folder: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_promptgate"))
            .args(args)
            .current_dir(self.dir.path().join(folder))
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("GITHUB_OUTPUT")
            // A check in CI distrusts providers a change adds: the tests say when they are in CI.
            .env_remove("CI")
            .envs(env.iter().copied())
            .output()
            .expect("run promptgate");
        let output = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !output.stderr.contains("panicked"),
            "promptgate panicked:\n{}",
            output.stderr
        );
        output
    }

    /// Runs the binary with its standard output a pipe whose reader has gone (`| head` that
    /// exited): its exit code and its standard error.
    pub(crate) fn run_into_closed_pipe(&self, args: &[&str]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_promptgate"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("GITHUB_OUTPUT")
            .env_remove("CI")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run promptgate");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for promptgate");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The report.json of a run.
    pub(crate) fn report(&self, output: &Output) -> Value {
        let path: PathBuf = self
            .dir
            .path()
            .join(output.report_dir())
            .join("report.json");
        serde_json::from_str(&std::fs::read_to_string(&path).expect("report.json exists"))
            .expect("report.json is JSON")
    }
}

/// `case id → status` for the first candidate's first suite.
pub(crate) fn statuses(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report["candidates"][0]["suites"][0]["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

pub(crate) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// Runs `args` in `p` and asserts the exit code and that stderr holds every fragment; returns
/// the output for further assertions.
pub(crate) fn fails_with(p: &Project, args: &[&str], code: i32, fragments: &[&str]) -> Output {
    p.promptgate(args).exits(code).stderr_has(fragments).output
}

impl Project {
    /// Writes a file, for chaining: `Project::new().with(a, x).with(b, y).committed("m")`.
    pub(crate) fn with(self, path: &str, content: &str) -> Self {
        self.write(path, content);
        self
    }

    /// Commits every file, for chaining.
    pub(crate) fn committed(self, message: &str) -> Self {
        self.commit(message);
        self
    }

    /// A `promptgate` command to run in the project, written as a specification:
    /// `p.promptgate(&["validate"]).exits(2).stderr_is("error: …\n")`.
    pub(crate) fn promptgate(&self, args: &[&str]) -> Invocation<'_> {
        Invocation {
            project: self,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            folder: String::new(),
        }
    }
}

/// A command about to run, with its environment and folder.
pub(crate) struct Invocation<'p> {
    project: &'p Project,
    args: Vec<String>,
    env: Vec<(String, String)>,
    folder: String,
}

impl<'p> Invocation<'p> {
    /// Sets an environment variable for the command.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets each of `vars` in the command's environment.
    pub(crate) fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        for (key, value) in vars {
            self.env.push((key.to_string(), value.to_string()));
        }
        self
    }

    /// Runs the command in `folder` of the repository.
    pub(crate) fn in_folder(mut self, folder: &str) -> Self {
        self.folder = folder.into();
        self
    }

    /// Runs the command and asserts its exit code.
    pub(crate) fn exits(self, code: i32) -> Ran<'p> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let output = self.project.run_in(&self.folder, &args, &env);
        let ran = Ran {
            project: self.project,
            args: self.args,
            output,
        };
        assert_eq!(ran.output.code, code, "{}", ran.context());
        ran
    }
}

/// A command that ran, and assertions on what it did.
pub(crate) struct Ran<'p> {
    project: &'p Project,
    args: Vec<String>,
    pub(crate) output: Output,
}

impl Ran<'_> {
    fn context(&self) -> String {
        format!(
            "promptgate {}\nexit {}\nstdout:\n{}\nstderr:\n{}",
            self.args.join(" "),
            self.output.code,
            self.output.stdout,
            self.output.stderr
        )
    }

    /// Standard error is exactly `expected`.
    pub(crate) fn stderr_is(self, expected: &str) -> Self {
        assert_eq!(self.output.stderr, expected, "{}", self.context());
        self
    }

    /// Standard error holds every fragment.
    pub(crate) fn stderr_has(self, fragments: &[&str]) -> Self {
        for f in fragments {
            assert!(
                self.output.stderr.contains(f),
                "expected {f:?}\n{}",
                self.context()
            );
        }
        self
    }

    /// Standard output holds every fragment.
    pub(crate) fn stdout_has(self, fragments: &[&str]) -> Self {
        for f in fragments {
            assert!(
                self.output.stdout.contains(f),
                "expected {f:?}\n{}",
                self.context()
            );
        }
        self
    }

    /// Neither output holds `text`.
    pub(crate) fn never_shows(self, text: &str) -> Self {
        assert!(
            !self.output.stdout.contains(text) && !self.output.stderr.contains(text),
            "{text:?} was shown\n{}",
            self.context()
        );
        self
    }

    /// The command wrote `path` (relative to the project), holding every fragment.
    pub(crate) fn wrote(self, path: &str, fragments: &[&str]) -> Self {
        let full = self.project.path().join(path);
        let text = std::fs::read_to_string(&full)
            .unwrap_or_else(|e| panic!("{path} was not written ({e})\n{}", self.context()));
        for f in fragments {
            assert!(text.contains(f), "expected {f:?} in {path}:\n{text}");
        }
        self
    }
}

/// The base prompt of [`polite_tickets`].
const TICKET_PROMPT: &str = "---\ninput:\n  schema:\n    message: string\n    polite?: boolean\n---\n{{role \"user\"}}{{message}}\n";

/// A committed project with the `promptgate.yaml` given and 24 ticket cases (then
/// `extra_cases`, YAML list items) for the prompt `bot`, whose working-tree candidate adds
/// "please" to every fifth case, which its assertion forbids: 5 regressions (c00, c05, c10,
/// c15, c20).
pub(crate) fn polite_tickets(config: &str, extra_cases: &str) -> Project {
    let mut suite = String::from("kind: regression\nprompt: bot\ncases:\n");
    for i in 0..24 {
        let polite = if i % 5 == 0 { ", polite: true" } else { "" };
        suite.push_str(&format!(
            "  - {{ id: c{i:02}, vars: {{ message: \"ticket {i}\"{polite} }}, assert: [ {{ type: not-contains, value: PLEASE }}, {{ type: contains, value: TICKET }} ] }}\n"
        ));
    }
    suite.push_str(extra_cases);
    let p = Project::new()
        .with("prompts/bot.prompt", TICKET_PROMPT)
        .with("suites/bot.yaml", &suite)
        .with("promptgate.yaml", config)
        .committed("init");
    p.write(
        "prompts/bot.prompt",
        &TICKET_PROMPT.replace("{{message}}\n", "{{message}}{{#if polite}} please{{/if}}\n"),
    );
    p
}
