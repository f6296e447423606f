//! The `promptgate` command: parses arguments, calls one operation, prints, and exits with the
//! documented code. The only place that prints or reads the environment.

mod args;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use promptgate::errors::{Error, exit};
use promptgate::ops;

use args::{Args, CacheCommand, Command, ModelCommand};

fn main() -> ExitCode {
    let args = Args::parse();
    let code = match dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn dispatch(args: Args) -> Result<i32, Error> {
    let root = match args.root {
        Some(root) => root,
        None => std::env::current_dir()
            .map_err(|e| Error::Internal(format!("cannot read the current directory: {e}")))?,
    };
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let env = || -> ops::Env { std::env::vars().collect() };
    match args.command {
        Command::Check(c) => {
            let options = ops::CheckOptions {
                prompts: c.prompts,
                all: c.all,
                suites: c.suite,
                baseline: c.baseline,
                candidates: c.candidate,
                dry_run: c.dry_run,
                resume: c.resume,
                adaptive: c.adaptive,
                max_samples: c.max_samples,
                control: c.control,
                calls: c.calls.into_options(env(), command_line),
            };
            let mut bar = progress::Bar::new(std::io::stderr().is_terminal());
            let outcome = ops::check(&root, &options, &mut |p| bar.update(p));
            bar.finish();
            let outcome = match outcome? {
                ops::CheckResult::Checked(outcome) => outcome,
                ops::CheckResult::Estimated(estimates) => {
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
            };
            let shown = outcome
                .run_dir
                .strip_prefix(&root)
                .unwrap_or(&outcome.run_dir)
                .display()
                .to_string();
            if c.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome.report)
                        .map_err(|e| Error::Internal(e.to_string()))?
                );
            } else {
                println!(
                    "{}",
                    promptgate::report::check_summary(&outcome.report, &shown)
                );
            }
            write_step_summary(&outcome.run_dir);
            Ok(outcome.exit_code)
        }
        Command::Run(r) => {
            let options = ops::RunOptions {
                prompts: r.prompts,
                suites: r.suite,
                version: r.version,
                calls: r.calls.into_options(env(), command_line),
            };
            let mut bar = progress::Bar::new(std::io::stderr().is_terminal());
            let outcome = ops::run(&root, &options, &mut |p| bar.update(p));
            bar.finish();
            let outcome = outcome?;
            let shown = outcome
                .run_dir
                .strip_prefix(&root)
                .unwrap_or(&outcome.run_dir)
                .display()
                .to_string();
            println!(
                "{}",
                promptgate::report::run_summary(&outcome.report, &shown)
            );
            Ok(outcome.exit_code)
        }
        Command::Validate => {
            let v = ops::validate(&root)?;
            println!(
                "ok: {} prompts, {} suites, {} cases checked",
                v.prompts, v.suites, v.cases
            );
            Ok(exit::PASS)
        }
        Command::Log(l) => {
            let entries = ops::log(&root, &l.prompt)?;
            if l.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&entries)
                        .map_err(|e| Error::Internal(e.to_string()))?
                );
            } else if entries.is_empty() {
                println!("{} has no committed versions yet", l.prompt);
            } else {
                for e in entries {
                    println!(
                        "{}  {}  {}  {}  {}",
                        &e.commit[..12],
                        e.date,
                        e.hash,
                        e.author,
                        e.subject
                    );
                }
            }
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
        Command::Cache(command) => {
            let cache = promptgate::cache::Cache::open(&root);
            match command {
                CacheCommand::Stats => {
                    let stats = cache.stats()?;
                    println!(
                        "{} cached responses, {:.1} MB in {}",
                        stats.entries,
                        stats.bytes as f64 / 1e6,
                        promptgate::cache::CACHE_DIR
                    );
                }
                CacheCommand::Clear => println!("removed {} cached responses", cache.clear()?),
            }
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
            for m in messages {
                println!("--- {} ---", m.role);
                println!("{}", m.text_content());
            }
            Ok(exit::PASS)
        }
    }
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
    let Ok(summary) = std::fs::read_to_string(run_dir.join("summary.md")) else {
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
