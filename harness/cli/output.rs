//! What every command's output shares: the invocation's context (project root, command line,
//! environment, style), JSON and styled printing, and paths as the user names them.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use promptgate::errors::Error;
use promptgate::ops;

use crate::progress;

/// What a command runs with: the project root, the command line (for run manifests), and how
/// to print.
pub(crate) struct Context {
    pub(crate) root: PathBuf,
    pub(crate) command_line: String,
    pub(crate) style: Style,
}

impl Context {
    /// The environment, for API keys named in the config.
    pub(crate) fn env(&self) -> ops::Env {
        std::env::vars().collect()
    }

    /// `path` as the user would name it: relative to the project root when under it.
    pub(crate) fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Runs `op` with a live progress bar on stderr (when it is a terminal).
    pub(crate) fn with_progress<T>(
        &self,
        op: impl FnOnce(&mut dyn FnMut(ops::Progress)) -> T,
    ) -> T {
        let quiet = self.style.detail == promptgate::report::Detail::Quiet;
        let mut bar = progress::Bar::new(std::io::stderr().is_terminal(), quiet);
        let done = op(&mut |p| bar.update(p));
        bar.finish();
        done
    }
}

/// The run id a user named a run by: its id, or its directory (`reports/ID`, relative to
/// where the command runs or absolute) when that is a run directory of this project.
pub(crate) fn run_id_of(cx: &Context, named: &str) -> String {
    if is_bare(named) {
        return named.to_string();
    }
    let dir =
        std::env::current_dir().map_or_else(|_| PathBuf::from(named), |here| here.join(named));
    let reports = cx.root.join(promptgate::ops::REPORTS_DIR);
    let under_reports = |d: &Path| {
        d.parent()
            .and_then(|p| p.canonicalize().ok())
            .zip(reports.canonicalize().ok())
            .is_some_and(|(parent, reports)| parent == reports)
    };
    match (dir.file_name(), under_reports(&dir)) {
        (Some(id), true) => id.to_string_lossy().into_owned(),
        _ => named.to_string(),
    }
}

/// The cases `--failing RUN` names (`SUITE:ID`): none without the flag.
pub(crate) fn failing_cases(cx: &Context, failing: Option<String>) -> Result<Vec<String>, Error> {
    match failing {
        Some(run) => promptgate::report::failing_cases(&cx.root, &run_id_of(cx, &run)),
        None => Ok(Vec::new()),
    }
}

/// The run directory a user named a run by: a path as given, or a run id's directory under
/// the project's `reports/` when no such path exists.
pub(crate) fn run_dir_of(cx: &Context, named: &Path) -> PathBuf {
    match is_bare(&named.to_string_lossy()) && !named.exists() {
        true => cx.root.join(promptgate::ops::REPORTS_DIR).join(named),
        false => named.to_path_buf(),
    }
}

/// Whether `named` is a bare name (a run id), not a path.
fn is_bare(named: &str) -> bool {
    !named.contains('/') && !named.contains(std::path::MAIN_SEPARATOR)
}

/// How summaries are printed: how much, and whether in colour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) detail: promptgate::report::Detail,
    pub(crate) colour: bool,
}

impl Style {
    /// Prints a summary, coloured when asked.
    pub(crate) fn print(self, summary: &str) {
        if self.colour {
            outln!("{}", promptgate::report::paint(summary));
        } else {
            outln!("{summary}");
        }
    }
}

/// Writes `bytes` to standard output. A reader that closed the pipe (`promptgate check --json
/// | head -1`) ends the output and nothing else: what follows is dropped, as `git` and `rg` do,
/// and the command still exits with its own code.
pub(crate) fn stdout(bytes: &[u8]) {
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to standard output: {e}");
        }
    }
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(Error::encode("the output"))?;
    outln!("{text}");
    Ok(())
}
