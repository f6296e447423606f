//! The `promptgate` command: parses arguments, calls one operation, prints, and exits with the
//! documented code. The only place that prints or reads the environment.
//!
//! [`dispatch`] is the table from a command to its file under `commands/`; `checked` prints
//! a check's result for every command that checks, and `output` what all of them share.

/// `println!` to standard output through [`output::stdout`]: a reader that closed the pipe
/// ends the output, never the command.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::stdout(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}

/// `print!` through [`output::stdout`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout(format!($($arg)*).as_bytes())
    };
}

mod args;
mod checked;
mod commands;
mod output;
mod progress;
mod render;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use promptgate::errors::Error;
use promptgate::ops;
use promptgate::report::visible;

use args::{Args, Command};
use commands as run;
use output::{Context, Style};

/// mimalloc rather than the system's: with glibc, each thread that allocates (the runner's,
/// the scorer's) keeps an arena of its own, and a 100,000-case check peaked 70 MB above what it
/// held.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `--version` names the build and the local model it pins; `-V` the build alone.
    let long_version = format!("{}\nlocal model: {}", promptgate::BUILD, ops::model_pin());
    let matches = Args::command()
        .version(promptgate::BUILD)
        .long_version(long_version.leak() as &str)
        .get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let code = match dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", visible(&e.to_string()));
            for cause in e.causes() {
                eprintln!("  caused by: {}", visible(&cause));
            }
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Runs the command `args` name; returns its exit code.
fn dispatch(args: Args) -> Result<i32, Error> {
    let cx = context(&args)?;
    match args.command {
        Command::Check(c) => run::check::run(c, &cx),
        Command::Shadow(s) => run::shadow::run(s, &cx),
        Command::Merge(m) => run::merge::run(m, &cx),
        Command::Monitor(m) => run::monitor::run(m, &cx),
        Command::Readiness(r) => run::readiness::run(r, &cx),
        Command::Run(r) => run::run::run(r, &cx),
        Command::Validate { json } => run::validate::run(json, &cx),
        Command::Runs { json } => run::runs::run(json, &cx),
        Command::Log(l) => run::log::run(l, &cx),
        Command::Status(s) => run::status::run(s, &cx),
        Command::Promote(p) => run::promote::run(p, &cx),
        Command::Rollback(r) => run::rollback::run(r, &cx),
        Command::Approve(a) => run::approve::run(a, &cx),
        Command::Hook(h) => run::hook::run(h, &cx),
        Command::Init { judges } => run::init::run(judges, &cx),
        Command::Report(r) => run::report::run(r, &cx),
        Command::Cache(c) => run::cache::run(c, &cx),
        Command::Judge(j) => run::judge::run(j, &cx),
        Command::Completions { shell } => run::completions::run(shell),
        Command::Schema { of } => run::schema::run(of),
        Command::Man => run::man::run(),
        Command::Model(m) => run::model::run(m, &cx),
        Command::Show(s) => run::show::run(s, &cx),
    }
}

/// What every command runs with. `init` makes a project where it is run, and the commands
/// that read no project run anywhere; every other command finds the one it is in.
fn context(args: &Args) -> Result<Context, Error> {
    let here = std::env::current_dir()
        .map_err(|e| Error::Internal(format!("cannot read the current directory: {e}")))?;
    let anywhere = matches!(
        args.command,
        Command::Init { .. } | Command::Completions { .. } | Command::Man | Command::Schema { .. }
    );
    let root = match &args.root {
        Some(root) if anywhere => root.clone(),
        Some(root) => ops::project_at(root)?,
        None if anywhere => here,
        None => ops::find_project(&here)?,
    };
    let detail = match (args.quiet, args.verbose) {
        (true, _) => promptgate::report::Detail::Quiet,
        (_, true) => promptgate::report::Detail::Verbose,
        _ => promptgate::report::Detail::Normal,
    };
    Ok(Context {
        root,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        style: Style {
            detail,
            colour: args.color.enabled(std::io::stdout().is_terminal()),
        },
    })
}
