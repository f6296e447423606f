//! The `promptgate` command: parses arguments, calls one operation, prints, and exits with the
//! documented code. The only place that prints or reads the environment.

mod args;
mod progress;
mod release;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use promptgate::errors::{Error, exit};
use promptgate::ops;
use promptgate::report::visible;

use args::{Args, CacheCommand, Command, HookCommand, ModelCommand};

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

fn dispatch(args: Args) -> Result<i32, Error> {
    let here = std::env::current_dir()
        .map_err(|e| Error::Internal(format!("cannot read the current directory: {e}")))?;
    // `init` makes a project where it is run; every other command finds the one it is in.
    let root = match args.root {
        Some(root) => root,
        None if matches!(
            args.command,
            Command::Init { .. }
                | Command::Completions { .. }
                | Command::Man
                | Command::Schema { .. }
        ) =>
        {
            here
        }
        None => ops::find_project(&here),
    };
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let style = Style {
        detail: match (args.quiet, args.verbose) {
            (true, _) => promptgate::report::Detail::Quiet,
            (_, true) => promptgate::report::Detail::Verbose,
            _ => promptgate::report::Detail::Normal,
        },
        colour: args.color.enabled(std::io::stdout().is_terminal()),
    };
    let env = || -> ops::Env { std::env::vars().collect() };
    match args.command {
        Command::Check(c) => {
            let json = c.json;
            let shard = c.shard.clone();
            let wave = c.wave.clone();
            let mut options = ops::CheckOptions::from(c);
            options.calls.invoked(env(), command_line);
            options.shard = match shard.as_deref() {
                None => None,
                Some("auto") => {
                    Some(ops::Shard::from_env(&options.calls.env).map_err(Error::Usage)?)
                }
                Some(given) => Some(given.parse().map_err(Error::Usage)?),
            };
            options.wave = wave.as_deref().map(ops::WavePlan::read).transpose()?;
            check(&root, &options, json, style)
        }
        Command::Shadow(s) => {
            let json = s.json;
            let mut options = ops::CheckOptions::from(s);
            if let Some(traffic) = &mut options.traffic {
                // Absolute, so `--resume` finds the files from anywhere.
                let cwd =
                    std::env::current_dir().map_err(|e| Error::io("read", ".".as_ref(), e))?;
                for file in &mut traffic.files {
                    *file = cwd.join(&*file);
                }
            }
            options.calls.invoked(env(), command_line);
            check(&root, &options, json, style)
        }
        Command::Monitor(m) => {
            let options = ops::MonitorOptions {
                name: m.prompt,
                label: m.label,
                traffic: m.traffic,
                window: m.window,
                now: chrono::Utc::now(),
                rollback_on_breach: m.rollback_on_breach,
                alerts: m.alerts,
            };
            let report = ops::monitor(&root, &options)?;
            if m.json {
                print_json(&report)?;
            } else {
                print!("{}", release::monitored(&report));
            }
            Ok(match report.health {
                ops::Health::Breach => exit::BREACH,
                _ => exit::PASS,
            })
        }
        Command::Readiness(r) => {
            let assessments = ops::readiness(&root, &r.prompts)?;
            if r.json {
                print_json(&assessments)?;
            } else {
                print!("{}", release::readiness(&assessments));
            }
            Ok(exit::PASS)
        }
        Command::Merge(m) => {
            let json = m.json;
            let mut options = ops::MergeOptions {
                dirs: m.dirs,
                allow_incomplete: m.allow_incomplete,
                last_wave: m.last_wave,
                calls: ops::CallOptions::default(),
            };
            options.calls.invoked(env(), command_line);
            let mut bar = progress::Bar::new(std::io::stderr().is_terminal());
            let merged = ops::merge(&root, &options, &mut |p| bar.update(p));
            bar.finish();
            match merged? {
                ops::MergeResult::Gated(outcome) => {
                    print_checked(&root, &outcome, json, style)?;
                    Ok(outcome.exit_code)
                }
                ops::MergeResult::NextWave(next) => {
                    if json {
                        print_json(&next.plan)?;
                    } else {
                        print!("{}", next_wave(&root, &next));
                    }
                    Ok(exit::NEXT_WAVE)
                }
            }
        }
        Command::Run(r) => {
            let json = r.json;
            let mut options = ops::RunOptions::from(r);
            options.calls.invoked(env(), command_line);
            let mut bar = progress::Bar::new(std::io::stderr().is_terminal());
            let outcome = ops::run(&root, &options, &mut |p| bar.update(p));
            bar.finish();
            let outcome = outcome?;
            let shown = shown(&root, &outcome.run_dir);
            if json {
                print_json(&outcome.report)?;
            } else {
                style.print(&promptgate::report::run_summary(&outcome.report, &shown));
            }
            Ok(outcome.exit_code)
        }
        Command::Validate { json } => {
            let v = ops::validate(&root, &env())?;
            for warning in &v.warnings {
                eprintln!("warning: {warning}");
            }
            if json {
                print_json(&v)?;
            } else {
                println!(
                    "ok: {} prompts, {} suites, {} cases checked",
                    v.prompts, v.suites, v.cases
                );
            }
            Ok(exit::PASS)
        }
        Command::Log(l) => {
            let history = ops::history(&root, &l.prompt)?;
            if l.json {
                print_json(&history)?;
            } else {
                print!("{}", release::history(&history));
            }
            Ok(exit::PASS)
        }
        Command::Status(s) => {
            let status = ops::status(&root)?;
            if s.json {
                print_json(&status)?;
            } else {
                print!("{}", release::status(&status));
            }
            Ok(exit::PASS)
        }
        Command::Promote(p) => {
            let json = p.json;
            let mut options = ops::PromoteOptions::from(p);
            options.calls.invoked(env(), command_line);
            let mut bar = progress::Bar::new(std::io::stderr().is_terminal());
            let promotion = ops::promote(&root, &options, &mut |p| bar.update(p));
            bar.finish();
            let promotion = promotion?;
            if json {
                print_json(&promotion)?;
            } else {
                println!("{}", release::promotion(&promotion));
            }
            Ok(exit::PASS)
        }
        Command::Rollback(r) => {
            let json = r.json;
            let event = ops::rollback(&root, &r.into())?;
            if json {
                print_json(&event)?;
                return Ok(exit::PASS);
            }
            println!(
                "rolled back {}@{}: v{} → v{} ({})",
                event.prompt,
                event.label,
                event.from.unwrap_or_default(),
                event.version,
                event.reason.as_deref().unwrap_or_default()
            );
            Ok(exit::PASS)
        }
        Command::Approve(a) => {
            let approval = ops::approve(&root, &a.version, &a.id, a.note)?;
            if a.json {
                print_json(&approval)?;
                return Ok(exit::PASS);
            }
            println!(
                "{} approved {}@{} (content {})",
                approval.id,
                approval.prompt,
                approval.rev,
                &approval.content[..12]
            );
            Ok(exit::PASS)
        }
        Command::Hook(HookCommand::Install { force }) => {
            let binary = std::env::current_exe()
                .map_err(|e| Error::Internal(format!("cannot find this program's path: {e}")))?;
            let path = ops::install_hook(&root, &binary, force)?;
            println!(
                "installed {}: commits that change prompts are gated",
                path.display()
            );
            Ok(exit::PASS)
        }
        Command::Hook(HookCommand::Run) => {
            let index_file = std::env::var_os("GIT_INDEX_FILE").map(Into::into);
            let mut options = match ops::hook_gate(&root, index_file)? {
                ops::HookGate::Nothing => return Ok(exit::PASS),
                ops::HookGate::FirstCommit => {
                    eprintln!(
                        "promptgate: the first commit has no baseline to compare with; the gate starts with the next commit"
                    );
                    return Ok(exit::PASS);
                }
                ops::HookGate::Check(options) => options,
            };
            options.calls.invoked(env(), command_line);
            let code = check(&root, &options, false, style)?;
            if code != exit::PASS {
                eprintln!(
                    "promptgate: the commit is blocked (exit {code}); fix the prompt, or skip the gate once with `git commit --no-verify`"
                );
            }
            Ok(code)
        }
        Command::Init { judges } => {
            let done = ops::init(&root, judges)?;
            if done.git_initialised {
                println!("created a git repository");
            }
            for f in &done.created {
                println!("created {f}");
            }
            for f in &done.kept {
                println!("kept {f} (it exists)");
            }
            println!(
                "next: commit; edit a prompt and run `promptgate check` (the report is under reports/);\n\
                 release a prompt with `promptgate approve NAME@HEAD --as YOU` and `promptgate promote NAME`,\n\
                 then push the release refs: git push origin 'refs/prompts/*' 'refs/promptgate/*' 'refs/tags/prompts/*';\n\
                 `promptgate hook install` gates every commit"
            );
            Ok(exit::PASS)
        }
        Command::Report(r) => {
            let formats: Vec<ops::ReportFormat> = if r.format.is_empty() {
                ops::ReportFormat::ALL.to_vec()
            } else {
                r.format.into_iter().map(Into::into).collect()
            };
            let run_dir = ops::rerender(&root, &r.run_id, &formats)?;
            for format in formats.iter().filter(|f| **f != ops::ReportFormat::Json) {
                println!("{}", run_dir.join(format.file_name()).display());
            }
            if r.open {
                open_in_browser(&run_dir.join(ops::ReportFormat::Html.file_name()));
            }
            Ok(exit::PASS)
        }
        Command::Cache(CacheCommand::Stats { json }) => {
            let stats = ops::cache_stats(&root)?;
            if json {
                print_json(&stats)?;
            } else {
                println!(
                    "{} cached responses, {:.1} MB in {}",
                    stats.entries,
                    stats.bytes as f64 / 1e6,
                    stats.dir
                );
            }
            Ok(exit::PASS)
        }
        Command::Judge(args::JudgeCommand::Calibrate(c)) => {
            let json = c.json;
            let mut options = ops::CalibrateOptions::from(c);
            options.calls.invoked(env(), command_line);
            let mut bar = progress::Bar::new(std::io::stderr().is_terminal());
            let calibration = ops::calibrate(&root, &options, &mut |p| bar.update(p));
            bar.finish();
            let calibration = calibration?;
            if json {
                print_json(&calibration)?;
            } else {
                print!("{}", calibration_summary(&calibration));
            }
            Ok(exit::PASS)
        }
        Command::Cache(CacheCommand::Clear) => {
            println!("removed {} cached responses", ops::cache_clear(&root)?);
            Ok(exit::PASS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Args::command(),
                "promptgate",
                &mut std::io::stdout(),
            );
            Ok(exit::PASS)
        }
        Command::Schema { of } => {
            print_json(&match of {
                args::SchemaOf::Config => ops::config_schema(),
                args::SchemaOf::Suite => ops::suite_schema(),
            })?;
            Ok(exit::PASS)
        }
        Command::Man => {
            let page = clap_mangen::Man::new(Args::command().version(promptgate::BUILD));
            page.render(&mut std::io::stdout())
                .map_err(|e| Error::Internal(format!("cannot write the manual page: {e}")))?;
            Ok(exit::PASS)
        }
        Command::Model(ModelCommand::Fetch) => {
            let path = ops::fetch_model(&env(), &mut |note| eprintln!("{note}"))?;
            println!("{}", path.display());
            Ok(exit::PASS)
        }
        Command::Show(s) => {
            let messages = ops::show(
                &root,
                &ops::ShowOptions {
                    prompt: s.prompt,
                    case: s.case,
                },
            )?;
            if s.json {
                print_json(&messages)?;
                return Ok(exit::PASS);
            }
            for m in messages {
                println!("--- {} ---", visible(&m.role));
                println!("{}", visible(&m.text_content()));
            }
            Ok(exit::PASS)
        }
    }
}

/// Runs a check and prints its summary (or JSON); returns the verdict's exit code.
fn check(
    root: &std::path::Path,
    options: &ops::CheckOptions,
    json: bool,
    style: Style,
) -> Result<i32, Error> {
    let mut bar = progress::Bar::new(std::io::stderr().is_terminal());
    let outcome = ops::check(root, options, &mut |p| bar.update(p));
    bar.finish();
    let outcome = match outcome? {
        ops::CheckResult::Checked(outcome) => outcome,
        ops::CheckResult::Estimated(estimates) => {
            if json {
                print_json(&estimates)?;
                return Ok(exit::PASS);
            }
            for e in &estimates {
                println!(
                    "{}: {} calls ({} answered from the cache), ~{} input tokens, at most {} output tokens, at most {}",
                    e.provider,
                    e.calls,
                    e.cached,
                    e.input_tokens,
                    e.max_output_tokens,
                    e.max_cost.map_or_else(
                        || "an unknown cost (no price configured)".to_string(),
                        |c| format!("${c:.4}")
                    )
                );
            }
            return Ok(exit::PASS);
        }
        ops::CheckResult::NothingChanged => {
            println!(
                "nothing to check: no prompt differs between the baseline and the candidate (name prompts, or pass --all)"
            );
            return Ok(exit::PASS);
        }
        ops::CheckResult::Drawn(drawn) if json => {
            print_json(&drawn)?;
            return Ok(drawn.exit_code);
        }
        ops::CheckResult::Drawn(drawn) => {
            let shard = options.shard.unwrap_or(ops::Shard { index: 1, total: 1 });
            println!(
                "wave {} of shard {}/{}: {} calls logged in {}; merge the shards of every wave together with `promptgate merge`",
                drawn.wave,
                shard.index,
                shard.total,
                drawn.calls,
                shown(root, &drawn.run_dir)
            );
            return Ok(drawn.exit_code);
        }
    };
    print_checked(root, &outcome, json, style)?;
    if let Some(shard) = options.shard {
        println!(
            "shard {}/{}: this run gates nothing; gate the shards' run directories together with `promptgate merge`",
            shard.index, shard.total
        );
    }
    Ok(outcome.exit_code)
}

/// `path` as the user would name it: relative to the project root when under it.
fn shown(root: &std::path::Path, path: &std::path::Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// What a merge that needs another wave tells the user: what the wave draws, and how to run it.
fn next_wave(root: &std::path::Path, next: &ops::NextWave) -> String {
    let plan = &next.plan;
    let calls: u32 = plan
        .samples
        .iter()
        .map(|s| (s.baseline.end - s.baseline.start) + (s.candidate.end - s.candidate.start))
        .sum();
    let mut suites: Vec<&str> = plan.samples.iter().map(|s| s.suite.as_str()).collect();
    suites.sort_unstable();
    suites.dedup();
    let path = shown(root, &next.path);
    format!(
        "wave {wave}: {cases} cases of {suites} need more samples to decide (about {calls} calls, split among the shards).\n\
         Run every shard again:\n  promptgate check --shard I/{total} --wave {path}\n\
         then merge the shards of waves 1 to {wave} together (or pass --final to gate on the waves so far).\n",
        wave = plan.wave,
        cases = plan.samples.len(),
        suites = match suites.as_slice() {
            [one] => format!("suite {one}"),
            many => format!("{} suites", many.len()),
        },
        total = plan.shards,
    )
}

/// Prints a finished check (or merge): its report as JSON, or its summary; and appends the
/// Markdown summary to the CI step summary.
fn print_checked(
    root: &std::path::Path,
    outcome: &ops::CheckOutcome,
    json: bool,
    style: Style,
) -> Result<(), Error> {
    let shown = shown(root, &outcome.run_dir);
    if json {
        print_json(&outcome.report)?;
    } else {
        style.print(&promptgate::report::check_summary(
            &outcome.report,
            &shown,
            style.detail,
        ));
    }
    write_step_summary(&outcome.run_dir);
    Ok(())
}

/// How summaries are printed: how much, and whether in colour.
#[derive(Debug, Clone, Copy)]
struct Style {
    detail: promptgate::report::Detail,
    colour: bool,
}

impl Style {
    /// Prints a summary, coloured when asked.
    fn print(self, summary: &str) {
        if self.colour {
            println!("{}", promptgate::report::paint(summary));
        } else {
            println!("{summary}");
        }
    }
}

/// Prints `value` as pretty JSON.
fn print_json(value: &impl serde::Serialize) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(Error::encode("the output"))?;
    println!("{text}");
    Ok(())
}

/// Opens a file with the desktop's default application, reporting (not failing) if it cannot.
fn open_in_browser(path: &std::path::Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener).arg(path).status() {
        eprintln!(
            "warning: cannot run `{opener}` to open {}: {e}",
            path.display()
        );
    }
}

/// Appends the run's Markdown summary to the CI job summary when the CI provides one.
fn write_step_summary(run_dir: &std::path::Path) {
    let Some(target) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let Ok(summary) =
        std::fs::read_to_string(run_dir.join(ops::ReportFormat::Markdown.file_name()))
    else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&target)
        .and_then(|mut f| std::io::Write::write_all(&mut f, summary.as_bytes()));
    if let Err(e) = appended {
        eprintln!("warning: cannot write GITHUB_STEP_SUMMARY: {e}");
    }
}

/// A judge's calibration as the terminal shows it.
fn calibration_summary(c: &ops::Calibration) -> String {
    let a = &c.agreement;
    let mut out = format!(
        "judge {} (content {}) on {}
  {} examples: accuracy {:.1}%, Cohen's kappa {:.2}, self-consistency {:.1}% over {} samples
  confusion (human → judge):
",
        c.judge,
        &c.hash[..c.hash.len().min(12)],
        c.model,
        a.examples,
        a.accuracy * 100.0,
        a.kappa,
        c.self_consistency * 100.0,
        c.samples
    );
    for (human, judge, n) in &a.confusion {
        out.push_str(&format!(
            "    {human} → {judge}: {n}
"
        ));
    }
    for (line, human, judge) in c.wrong.iter().take(10) {
        out.push_str(&format!(
            "  wrong: line {line}: human {human}, judge {judge}
"
        ));
    }
    if c.wrong.len() > 10 {
        out.push_str(&format!(
            "  … {} more wrong
",
            c.wrong.len() - 10
        ));
    }
    out.push_str(&format!(
        "stored in {}/{}.json
",
        "calibrations", c.judge
    ));
    out
}
