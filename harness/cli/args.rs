//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use promptgate::ops;

/// Gate prompt changes on regression suites: candidate against baseline, case by case.
#[derive(Debug, Parser)]
#[command(name = "promptgate", version, about, after_help = EXIT_CODES)]
pub(crate) struct Args {
    /// Project folder (where `promptgate.yaml` is, in a git work tree); default: the nearest
    /// one upward from the current directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// Colour: `auto` (on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces it),
    /// `always`, or `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
    /// Print only the verdict.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Also print the statistics each decision rests on, and every improved case.
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// When to colour the terminal output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (`CLICOLOR_FORCE` forces it).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour output to a stream that `is_terminal` or not, given the environment.
    pub(crate) fn enabled(self, is_terminal: bool) -> bool {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto if set("CLICOLOR_FORCE") => true,
            Self::Auto => is_terminal && !set("NO_COLOR"),
        }
    }
}

const EXIT_CODES: &str = "Exit codes: 0 pass · 1 unexpected error · 2 invalid input (config, suite, prompt, revision) · \
3 no cases selected · 10 gate failed · 11 inconclusive and blocked · 12 run incomplete · \
13 refused (a promotion or rollback: policy, approvals, owner, a concurrent move) · \
14 monitor found a breach · 15 merge needs another wave";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Compare candidate and baseline versions of prompts on their suites, and gate.
    #[command(after_help = "Examples:
  promptgate check                                  the changed prompts, worktree against HEAD
  promptgate check support/triage --suite triage    one prompt, one suite
  promptgate check --all --baseline origin/main     every prompt, against the target branch (CI)
  promptgate check --candidate triage.terse         a variant against its base prompt
  promptgate check --dry-run                        what it would call and spend
  promptgate check --resume                         finish the last interrupted check")]
    Check(Check),
    /// Run suites on one version of each prompt, without comparing.
    #[command(after_help = "Examples:
  promptgate run                                    every suite on the working tree
  promptgate run support/triage --rev HEAD~1        one prompt at an earlier commit")]
    Run(Run),
    /// Check the config, every prompt and every suite without calling a provider.
    Validate {
        /// Print what was checked as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A prompt's audit trail: promoted versions, labels, every promotion and rollback, commits.
    Log(Log),
    /// Every prompt with its label versions, and whether HEAD or the working tree differ.
    Status(Status),
    /// Gate the prompt at HEAD against its label's version, then tag it and move the label.
    #[command(after_help = "Examples:
  promptgate approve support/triage@HEAD --as alice && promptgate promote support/triage
  promptgate promote support/triage --from-report RUN-ID      reuse a stored check of HEAD
  git push origin 'refs/prompts/*' 'refs/promptgate/*' 'refs/tags/prompts/*'   share the release")]
    Promote(Promote),
    /// Move a label back to an earlier promoted version, at once, recording why.
    #[command(after_help = "Example:
  promptgate rollback support/triage --reason \"wrong department since v7\"")]
    Rollback(Rollback),
    /// Approve a prompt version's exact content for promotion.
    Approve(Approve),
    /// The git pre-commit hook that gates staged prompts.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Scaffold a project: config, a prompt, its suites, ignore rules and a CI workflow.
    #[command(after_help = "Example (in your repository, or a folder of it):
  promptgate init && git add -A && git commit -m promptgate && promptgate check --all")]
    Init {
        /// Also copy the ready judges (a pass/fail reply judge, a 1-5 relevance judge and a
        /// pairwise judge) into prompts/judges/, to version, edit and calibrate.
        #[arg(long)]
        judges: bool,
    },
    /// Print a prompt version rendered to messages.
    Show(Show),
    /// Re-render a stored check's reports from its report.json (a `run`'s results are shown).
    Report(Report),
    /// The runs under reports/, newest first: id, kind, prompts, verdict, calls, cost, when.
    Runs {
        /// Print the runs as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect or clear the response cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Gate the shard runs of one check (`check --shard I/N`) as one check: every report, once.
    #[command(
        after_help = "Example (after `promptgate check --all --shard 1/2` and `--shard 2/2`):
  promptgate merge reports/RUN-ID-1 reports/RUN-ID-2"
    )]
    Merge(Merge),
    /// Run the candidate and the version a label serves on a sample of production traffic,
    /// with the prompt's shadow suite (reference-free checks), and gate.
    #[command(after_help = "Examples:
  promptgate shadow support/reply --traffic traffic.jsonl
  promptgate shadow support/reply --traffic traces.otlp.jsonl --sample 500 --stratify lang")]
    Shadow(Shadow),
    /// Check production records of the version a label serves against its monitoring
    /// baseline; on a breach, alert and (with --rollback-on-breach) roll back.
    #[command(after_help = "Example (a scheduled job):
  promptgate monitor support/reply --traffic today.jsonl --window 24h --rollback-on-breach")]
    Monitor(Monitor),
    /// Score a prompt's production readiness (governance, infrastructure, observability, data
    /// quality; 1 to 5 each) from facts in the repository.
    Readiness(Readiness),
    /// Calibrate a judge against human labels.
    #[command(subcommand)]
    Judge(JudgeCommand),
    /// Manage the default local model.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Print a shell completion script (e.g. `promptgate completions bash > /etc/bash_completion.d/promptgate`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `promptgate man > promptgate.1 && man ./promptgate.1`).
    Man,
    /// Print the JSON Schema of `promptgate.yaml` or of a suite file, for editors (`init`
    /// writes both to schemas/).
    Schema {
        /// Which file.
        #[arg(value_enum)]
        of: SchemaOf,
    },
}

/// A file promptgate has a JSON Schema for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SchemaOf {
    /// `promptgate.yaml`.
    Config,
    /// A suite under suites/.
    Suite,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JudgeCommand {
    /// Run a judge on examples humans labelled; report and store its agreement with them
    /// (accuracy, Cohen's kappa, confusion matrix), its self-consistency, and what it got wrong.
    #[command(after_help = "Example:
  promptgate judge calibrate judges/reply-quality --labels fixtures/judges/reply-quality.jsonl")]
    Calibrate(Calibrate),
}

#[derive(Debug, clap::Args)]
pub(crate) struct Calibrate {
    /// The judge (its path under prompts/ without .prompt, e.g. judges/polite).
    pub(crate) judge: String,
    /// The human labels: JSONL, one example per line with the judge's variables and `label`.
    #[arg(long, value_name = "FILE")]
    pub(crate) labels: std::path::PathBuf,
    /// Calls per example, to measure how often the judge agrees with itself.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) samples: u32,
    /// Print the calibration as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) calls: JudgeCalls,
}

/// How a calibration's judge calls are made: the options of [`Calls`] that apply to them.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct JudgeCalls {
    /// Run the judge on this provider instead of its own.
    #[arg(long, value_name = "NAME")]
    pub(crate) provider: Option<String>,
    /// Judge calls in flight at once (default 16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) concurrency: Option<u16>,
    /// Neither read nor write the response cache (.promptgate/cache).
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Make at most this many judge calls (retries count).
    #[arg(long, value_name = "N")]
    pub(crate) max_calls: Option<u64>,
    /// Spend at most this many dollars (needs prices in the config).
    #[arg(long, value_name = "USD", value_parser = dollars)]
    pub(crate) max_cost: Option<f64>,
}

impl From<JudgeCalls> for ops::CallOptions {
    fn from(c: JudgeCalls) -> Self {
        Calls {
            provider: c.provider,
            concurrency: c.concurrency,
            no_cache: c.no_cache,
            max_calls: c.max_calls,
            max_cost: c.max_cost,
            ..Calls::default()
        }
        .into()
    }
}

impl From<Calibrate> for ops::CalibrateOptions {
    fn from(c: Calibrate) -> Self {
        ops::CalibrateOptions {
            judge: c.judge,
            labels: c.labels,
            samples: c.samples,
            calls: c.calls.into(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Count the cached responses and their size.
    Stats {
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete every cached response.
    Clear,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Download and verify the default local model (SmolLM2-135M-Instruct, about 98 MB) into
    /// $PROMPTGATE_MODEL_DIR or the user's cache directory.
    Fetch,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Check {
    /// Prompts to check (default: those that differ between baseline and candidate).
    pub(crate) prompts: Vec<String>,
    /// Check every prompt, changed or not.
    #[arg(long)]
    pub(crate) all: bool,
    /// Only run these suites (repeatable).
    #[arg(long, value_name = "SUITE")]
    pub(crate) suite: Vec<String>,
    /// Baseline revision (default: the prompt's `production` label, else HEAD).
    #[arg(long, value_name = "REV")]
    pub(crate) baseline: Option<String>,
    /// Candidate revision or variant such as `triage.terse` or `triage.*` (repeatable;
    /// default: the working tree).
    #[arg(long, value_name = "REV|VARIANT")]
    pub(crate) candidate: Vec<String>,
    /// Print the calls, tokens and cost the check would spend, and make no call.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print report.json to stdout instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// When a suite is inconclusive, draw more samples for the cases whose results disagree
    /// until it is decided, they reach --max-samples, or the budget runs out.
    #[arg(long)]
    pub(crate) adaptive: bool,
    /// The most samples per case and version --adaptive draws (default 10).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_samples: Option<u32>,
    /// Samples per version drawn again for each case whose versions disagree, before the
    /// verdict (default: `confirm` in promptgate.yaml, else 2; never on a provider that cannot
    /// vary). A regression that reproduces is a regression; one that does not is noise.
    #[arg(long, value_name = "N")]
    pub(crate) confirm: Option<u32>,
    /// Run each prompt's baseline against itself (A/A) and report the spread: the noise floor
    /// to set tolerances from. Never blocks.
    #[arg(long, conflicts_with = "candidate")]
    pub(crate) control: bool,
    /// Decide from this check's own samples only: use no noise remembered from earlier checks
    /// on the same provider, and remember none (`.promptgate/noise/`).
    #[arg(long)]
    pub(crate) fresh_noise: bool,
    /// Finish an interrupted or killed check (default: the latest) with its original options;
    /// no completed call is made again.
    #[arg(long, value_name = "RUN-ID", num_args = 0..=1, default_missing_value = "")]
    pub(crate) resume: Option<String>,
    /// Run only shard I of N (1-based) of the cases, into a run directory that gates nothing;
    /// `auto` reads the CI engine's index and total. Gate the shards with `promptgate merge`.
    #[arg(long, value_name = "I/N|auto", conflicts_with = "resume")]
    pub(crate) shard: Option<String>,
    /// With --shard: draw this shard's part of the wave that `promptgate merge` planned for an
    /// --adaptive check (the wave.json it wrote, exit 15), for the next merge.
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub(crate) wave: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) cases: Cases,
    #[command(flatten)]
    pub(crate) calls: Calls,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Merge {
    /// The shards' run directories (reports/RUN-ID, or wherever the CI engine put them).
    #[arg(required = true, value_name = "DIR")]
    pub(crate) dirs: Vec<std::path::PathBuf>,
    /// Gate the shards given even when some are missing; the report is incomplete (exit 12).
    #[arg(long)]
    pub(crate) allow_incomplete: bool,
    /// For an --adaptive check: gate on the waves given, planning no further wave (the suites
    /// still undecided stay inconclusive).
    #[arg(long = "final")]
    pub(crate) last_wave: bool,
    /// Print report.json to stdout instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Shadow {
    /// The prompt (its path under prompts/ without .prompt).
    pub(crate) prompt: String,
    /// Production traffic: JSONL records or OTLP JSON traces (repeatable).
    #[arg(long, value_name = "FILE", required = true, num_args = 1..)]
    pub(crate) traffic: Vec<std::path::PathBuf>,
    /// Records to sample.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) sample: u64,
    /// The sample's seed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) seed: u64,
    /// A variable whose values each get their share of the sample.
    #[arg(long, value_name = "VAR")]
    pub(crate) stratify: Option<String>,
    /// Baseline revision (default: the prompt's `production` label, else HEAD).
    #[arg(long, value_name = "REV")]
    pub(crate) baseline: Option<String>,
    /// Candidate revision or variant (repeatable; default: the working tree).
    #[arg(long, value_name = "REV|VARIANT")]
    pub(crate) candidate: Vec<String>,
    /// Samples per version drawn again for each case whose versions disagree.
    #[arg(long, value_name = "N")]
    pub(crate) confirm: Option<u32>,
    /// Print report.json to stdout instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) calls: Calls,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Monitor {
    /// The prompt.
    pub(crate) prompt: String,
    /// Production records: JSONL or OTLP JSON traces (repeatable).
    #[arg(long, value_name = "FILE", required = true, num_args = 1..)]
    pub(crate) traffic: Vec<std::path::PathBuf>,
    /// The label whose version is monitored.
    #[arg(long, default_value = ops::DEFAULT_LABEL)]
    pub(crate) label: String,
    /// Only records of the last DURATION (`90m`, `24h`, `7d`) before now.
    #[arg(long, value_name = "DURATION")]
    pub(crate) window: Option<String>,
    /// On a breach, move the label back to the previous version (the kill switch).
    #[arg(long)]
    pub(crate) rollback_on_breach: bool,
    /// Where alerts are written (default: reports/alerts).
    #[arg(long, value_name = "DIR")]
    pub(crate) alerts: Option<std::path::PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Readiness {
    /// Prompts to score (default: every prompt).
    pub(crate) prompts: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Run {
    /// Prompts to run (default: every prompt a suite targets).
    pub(crate) prompts: Vec<String>,
    /// Only run these suites (repeatable).
    #[arg(long, value_name = "SUITE")]
    pub(crate) suite: Vec<String>,
    /// Revision to run (default: the working tree).
    #[arg(long, value_name = "REV")]
    pub(crate) rev: Option<String>,
    /// Print the run's report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) cases: Cases,
    #[command(flatten)]
    pub(crate) calls: Calls,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Log {
    /// The prompt's name (its path under prompts/ without .prompt).
    pub(crate) prompt: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Status {
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Promote {
    /// The prompt to promote, at HEAD.
    pub(crate) prompt: String,
    /// The label to move.
    #[arg(long, default_value = ops::DEFAULT_LABEL)]
    pub(crate) label: String,
    /// Gate on this stored check of the same content instead of running the check: its verdict
    /// is re-derived from its own results log, with no call made.
    #[arg(long, value_name = "RUN-ID")]
    pub(crate) from_report: Option<String>,
    /// Promote past a gate that does not allow it (recorded, with --reason).
    #[arg(long, requires = "reason")]
    pub(crate) force: bool,
    /// Why (required with --force; recorded in the tag and the label's history).
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: Option<String>,
    /// Print the promotion's record as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) calls: Calls,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Rollback {
    /// The prompt.
    pub(crate) prompt: String,
    /// The label to move back.
    #[arg(long, default_value = ops::DEFAULT_LABEL)]
    pub(crate) label: String,
    /// The version to go back to (default: the one promoted before the current).
    #[arg(long, value_name = "vN")]
    pub(crate) to: Option<String>,
    /// Why (recorded in the label's history).
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: String,
    /// Move to the version --to names even when it is newer than the current one or was
    /// pulled from the label (recorded as forced).
    #[arg(long)]
    pub(crate) force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Approve {
    /// NAME@REV (REV default HEAD): the approval binds to that version's content.
    pub(crate) version: String,
    /// Who approves.
    #[arg(long = "as", value_name = "ID")]
    pub(crate) id: String,
    /// A note for the audit trail.
    #[arg(long, value_name = "TEXT")]
    pub(crate) note: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HookCommand {
    /// Write .git/hooks/pre-commit to run `promptgate hook run` before every commit.
    Install {
        /// Replace a pre-commit hook that promptgate did not write.
        #[arg(long)]
        force: bool,
    },
    /// Gate the prompts staged for commit against HEAD (what the hook runs).
    Run,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Show {
    /// NAME or NAME@REV (REV: worktree, a commit, branch, tag, or label).
    pub(crate) prompt: String,
    /// Render with this case's variables.
    #[arg(long, value_name = "SUITE:ID")]
    pub(crate) case: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Report {
    /// The run id (a directory name under reports/).
    pub(crate) run_id: String,
    /// Formats to write (repeatable; default: all).
    #[arg(long, value_enum)]
    pub(crate) format: Vec<Format>,
    /// Open index.html in the default browser afterwards.
    #[arg(long)]
    pub(crate) open: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Html,
    Junit,
    Md,
}

impl From<Format> for ops::ReportFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Html => Self::Html,
            Format::Junit => Self::Junit,
            Format::Md => Self::Markdown,
        }
    }
}

/// Which part of the suites runs; shared by `check` and `run` (peers: promptfoo's
/// `--filter-*`, inspect's `--sample-id` and `--limit`).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Cases {
    /// Only cases with this id (repeatable; `*` and `?` glob; `SUITE:ID` for one suite's).
    #[arg(long = "case", value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// Only cases whose id matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub(crate) filter: Option<String>,
    /// Only the first N cases of each suite (after --case and --filter).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// Only the cases that failed or regressed in this earlier run (its id or directory).
    #[arg(long, value_name = "RUN")]
    pub(crate) failing: Option<String>,
    /// Samples per case and version for every suite, over the suites' own.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) samples: Option<u32>,
}

impl From<Cases> for ops::CaseFilter {
    fn from(c: Cases) -> Self {
        ops::CaseFilter {
            ids: c.ids,
            pattern: c.filter,
            limit: c.limit,
            samples: c.samples,
        }
    }
}

/// How the calls are made; shared by `check`, `run` and `promote`.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Calls {
    /// Run every suite on this provider (`replay`: answer from fixtures/cassettes/).
    #[arg(long, value_name = "NAME", conflicts_with = "model")]
    pub(crate) provider: Option<String>,
    /// Run every suite on this model, with no config block: `openai/MODEL` (with
    /// OPENAI_API_KEY, and OPENAI_BASE_URL for a compatible server), `anthropic/MODEL`
    /// (ANTHROPIC_API_KEY) or `ollama/MODEL` (OLLAMA_HOST).
    #[arg(long, value_name = "KIND/MODEL")]
    pub(crate) model: Option<String>,
    /// Provider calls in flight at once (default 16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) concurrency: Option<u16>,
    /// Neither read nor write the response cache (.promptgate/cache).
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Cases whose calls may fail before the run counts as incomplete (exit 12): a count (3), a
    /// fraction (0.05) or a percentage (5%).
    #[arg(long, value_name = "N|FRACTION", default_value = "0")]
    pub(crate) max_errors: ops::ErrorBudget,
    /// Make at most this many provider calls (retries count); cases past it are skipped.
    #[arg(long, value_name = "N")]
    pub(crate) max_calls: Option<u64>,
    /// Spend at most this many tokens (input plus output; each call reserves its worst case).
    #[arg(long, value_name = "N")]
    pub(crate) max_tokens: Option<u64>,
    /// Spend at most this many dollars; a provider without a price cannot be called under it.
    #[arg(long, value_name = "USD", value_parser = dollars)]
    pub(crate) max_cost: Option<f64>,
    /// Write the responses the run used to fixtures/cassettes/ (replay them with
    /// `--provider replay`).
    #[arg(long)]
    pub(crate) record: bool,
    /// Send the calls through the providers' batch APIs (OpenAI Batch, Anthropic Message
    /// Batches) at the batch price, and wait for the batches; a killed run resumes with
    /// `--resume` and never submits a batch twice.
    #[arg(long)]
    pub(crate) batch: bool,
}

impl From<Calls> for ops::CallOptions {
    /// The calls as the command line asks for them; the CLI adds its environment and command
    /// line ([`ops::CallOptions::invoked`]).
    fn from(calls: Calls) -> Self {
        ops::CallOptions {
            provider: calls.provider.or(calls.model),
            concurrency: calls.concurrency.map(usize::from),
            no_cache: calls.no_cache,
            max_errors: calls.max_errors,
            budget: ops::BudgetLimits {
                max_calls: calls.max_calls,
                max_tokens: calls.max_tokens,
                max_cost: calls.max_cost,
            },
            record: calls.record,
            batch: calls.batch,
            handle_interrupts: true,
            ..ops::CallOptions::default()
        }
    }
}

impl From<Check> for ops::CheckOptions {
    fn from(c: Check) -> Self {
        ops::CheckOptions {
            prompts: c.prompts,
            index_file: None,
            all: c.all,
            suites: c.suite,
            baseline: c.baseline,
            candidates: c.candidate,
            dry_run: c.dry_run,
            resume: c.resume,
            adaptive: c.adaptive,
            max_samples: c.max_samples,
            confirm: c.confirm,
            control: c.control,
            fresh_noise: c.fresh_noise,
            // Resolved from the flag (and for `auto`, the environment) by the caller.
            shard: None,
            // Read from the file by the caller.
            wave: None,
            traffic: None,
            cases: c.cases.into(),
            calls: c.calls.into(),
        }
    }
}

impl From<Shadow> for ops::CheckOptions {
    fn from(s: Shadow) -> Self {
        ops::CheckOptions {
            prompts: vec![s.prompt],
            baseline: s.baseline,
            candidates: s.candidate,
            confirm: s.confirm,
            traffic: Some(ops::TrafficSample {
                files: s.traffic,
                size: usize::try_from(s.sample).unwrap_or(usize::MAX),
                seed: s.seed,
                stratify: s.stratify,
            }),
            calls: s.calls.into(),
            ..ops::CheckOptions::default()
        }
    }
}

impl From<Run> for ops::RunOptions {
    fn from(r: Run) -> Self {
        ops::RunOptions {
            prompts: r.prompts,
            suites: r.suite,
            version: r.rev,
            cases: r.cases.into(),
            calls: r.calls.into(),
        }
    }
}

impl From<Promote> for ops::PromoteOptions {
    fn from(p: Promote) -> Self {
        ops::PromoteOptions {
            name: p.prompt,
            label: p.label,
            from_report: p.from_report,
            force: p.force,
            reason: p.reason,
            calls: p.calls.into(),
        }
    }
}

impl From<Rollback> for ops::RollbackOptions {
    fn from(r: Rollback) -> Self {
        ops::RollbackOptions {
            name: r.prompt,
            label: r.label,
            to: r.to,
            reason: r.reason,
            force: r.force,
        }
    }
}

/// A finite, non-negative amount of dollars (`NaN` or `inf` would switch the cap off).
fn dollars(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{text}` is not an amount of dollars: give a finite number, at least 0"
        )),
    }
}
