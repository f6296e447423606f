//! `promptgate hook install` and `promptgate hook run`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::HookCommand;
use crate::checked::run_check;
use crate::output::Context;

/// Installs the pre-commit hook, or (run by it) gates the prompts the commit stages.
pub(crate) fn run(command: HookCommand, cx: &Context) -> Result<i32, Error> {
    match command {
        HookCommand::Install { force } => install(force, cx),
        HookCommand::Run => gate(cx),
    }
}

fn install(force: bool, cx: &Context) -> Result<i32, Error> {
    let binary = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find this program's path: {e}")))?;
    let path = ops::install_hook(&cx.root, &binary, force)?;
    outln!(
        "installed {}: commits that change prompts are gated",
        path.display()
    );
    Ok(exit::PASS)
}

fn gate(cx: &Context) -> Result<i32, Error> {
    let index_file = std::env::var_os("GIT_INDEX_FILE").map(Into::into);
    let mut options = match ops::hook_gate(&cx.root, index_file)? {
        ops::HookGate::Nothing => return Ok(exit::PASS),
        ops::HookGate::FirstCommit => {
            eprintln!(
                "promptgate: the first commit has no baseline to compare with; the gate starts with the next commit"
            );
            return Ok(exit::PASS);
        }
        ops::HookGate::Check(options) => options,
    };
    options.calls.invoked(cx.env(), cx.command_line.clone());
    let code = run_check(cx, &options, false)?;
    if code != exit::PASS {
        eprintln!(
            "promptgate: the commit is blocked (exit {code}); fix the prompt, or skip the gate once with `git commit --no-verify`"
        );
    }
    Ok(code)
}
