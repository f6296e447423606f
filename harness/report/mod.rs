//! Reports: the data model of a finished check, its renderers (terminal, JSON, HTML, JUnit,
//! Markdown), and their files in the run directory.

mod failing;
mod html;
mod junit;
mod markdown;
mod runs;
mod terminal;
mod write;

use serde::{Deserialize, Serialize};

use crate::compare::{CaseStatus, SuiteComparison};
use crate::config::{EffectiveParams, Tolerance};
use crate::gate::{Reason, Verdict};
use crate::ids::{PromptName, RunId};
use crate::score::AssertionResult;
use crate::store::Version;

pub use failing::failing_cases;
pub use html::{MAX_OUTPUT_CHARS, escape as escape_html, render_html};
pub use markdown::summary_markdown;
pub(crate) use runs::record_run;
pub use runs::{RunEntry, runs};
pub use terminal::{Detail, check_summary, paint, run_summary, suite_line};
pub use write::ReportFormat;
pub(crate) use write::write;

/// A finished check: every candidate compared with its baseline. Serialized as `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    /// Format of this file; bumped on any incompatible change.
    pub format_version: u32,
    /// The promptgate that wrote it ([`crate::BUILD`]).
    #[serde(default)]
    pub promptgate: String,
    /// The run's id.
    pub run_id: RunId,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// Wall time of the whole check.
    pub duration_ms: u64,
    /// The worst verdict across candidates.
    pub verdict: Verdict,
    /// False when the gate did not see every case: more cases errored than `--max-errors`
    /// allows, the budget skipped cases, or the run was interrupted.
    pub complete: bool,
    /// Why the run is incomplete, in plain words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Totals across the run.
    pub totals: Totals,
    /// A shadow run: the production traffic its cases were sampled from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<crate::traffic::Summary>,
    /// Each compared prompt's production readiness, from facts in the repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readiness: Vec<crate::readiness::Assessment>,
    /// One entry per candidate, best first.
    pub candidates: Vec<CandidateReport>,
}

/// Totals across a run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Case comparisons (cases × candidates).
    pub cases: usize,
    /// Provider calls made (identical requests are made once; cache hits are not calls).
    pub calls: usize,
    /// Requests answered from the response cache.
    #[serde(default)]
    pub cached: usize,
    /// Calls that failed after retries.
    pub errors: usize,
    /// Calls not made because the budget or an interrupt stopped them.
    #[serde(default)]
    pub skipped: usize,
    /// Tokens across all calls.
    pub tokens: u64,
    /// Calls whose provider reported no token counts, so theirs are estimated from the text.
    #[serde(default, skip_serializing_if = "crate::compare::is_zero")]
    pub estimated_tokens: usize,
    /// Dollars across all calls; `None` when any price is unknown.
    pub cost: Option<f64>,
}

impl Totals {
    /// The token count as a person should read it: marked `~` and explained when some calls'
    /// counts are estimates.
    pub fn tokens_shown(&self) -> String {
        match self.estimated_tokens {
            0 => format!("{} tokens", self.tokens),
            n => format!(
                "~{} tokens (estimated for {} whose provider reported none)",
                self.tokens,
                plural(n, "call")
            ),
        }
    }
}

/// One candidate version against its baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CandidateReport {
    /// How the candidate was named (`worktree`, a revision, or a variant).
    pub label: String,
    /// The prompt under test.
    pub prompt: PromptName,
    /// The baseline version.
    pub baseline: Version,
    /// The candidate version.
    pub candidate: Version,
    /// The gate's verdict for this candidate.
    pub verdict: Verdict,
    /// Every breached limit.
    pub reasons: Vec<Reason>,
    /// Limits the baseline breaches as well (a pre-existing attack-success breach): not a
    /// regression of the change, so they do not fail a check; a release must still meet them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Reason>,
    /// What an inconclusive verdict does for this prompt's risk tier.
    pub on_inconclusive: crate::config::OnInconclusive,
    /// A control run: the baseline against itself (`check --control`), to measure noise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control: bool,
    /// Per-suite results.
    pub suites: Vec<SuiteReport>,
}

impl CandidateReport {
    /// One suite's part of the verdict: fail when a limit of the suite is breached, else what
    /// its statistics decided, else pass.
    pub fn suite_verdict(&self, suite: &SuiteReport) -> Verdict {
        if self.reasons.iter().any(|r| r.suite == suite.name) {
            Verdict::Fail
        } else {
            suite
                .statistics
                .as_ref()
                .map_or(Verdict::Pass, |s| s.decision)
        }
    }

    /// Mean pass-rate delta over the candidate's suites, for ranking.
    pub fn mean_delta(&self) -> f64 {
        let deltas: Vec<f64> = self
            .suites
            .iter()
            .filter_map(|s| s.comparison.pass_rate_delta)
            .collect();
        if deltas.is_empty() {
            0.0
        } else {
            deltas.iter().sum::<f64>() / deltas.len() as f64
        }
    }
}

/// One suite's comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteReport {
    /// The suite's name.
    pub name: String,
    /// What the suite tests for; in an adversarial suite a failing case is a successful attack.
    #[serde(default)]
    pub kind: crate::suite::SuiteKind,
    /// The provider used.
    pub provider: String,
    /// The candidate's effective sampling parameters.
    pub params: EffectiveParams,
    /// Samples per case and version.
    pub samples: u32,
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// The numbers.
    pub comparison: SuiteComparison,
    /// The paired statistics and what they decided (`None` without a pass-rate tolerance or
    /// without cases both versions completed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<crate::gate::Statistics>,
    /// Adversarial suites: attack-success rates per category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<crate::adversarial::asr::CategoryRates>,
    /// Shadow suites: how much the outputs changed between the versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::compare::Drift>,
    /// Every case, regressions first.
    pub cases: Vec<CaseReport>,
}

/// One case on both versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseReport {
    /// The case id.
    pub id: String,
    /// The case's description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The attack category, for a case of an adversarial suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// How the case moved.
    pub status: CaseStatus,
    /// Baseline samples.
    pub baseline: SideReport,
    /// Candidate samples.
    pub candidate: SideReport,
}

impl CaseReport {
    /// What failed first on the candidate: its first failing assertion (`type: why`), or its
    /// call's error; for a conversation, after the step where the two trajectories part.
    pub fn first_failure(&self) -> Option<String> {
        let failure = self.candidate.samples.iter().find_map(|s| match &s.error {
            Some(error) => Some(format!("error: {error}")),
            None => s
                .assertions
                .iter()
                .find(|a| !a.pass && !a.advisory)
                .map(|a| format!("{}: {}", a.kind, a.reason)),
        })?;
        Some(match self.first_divergence() {
            Some(step) => format!("trajectories part at step {step} · {failure}"),
            None => failure,
        })
    }

    /// The first step (1-based) where the first samples' trajectories differ: in what the
    /// model said, the tools it called, with what, or what they returned; `None` when the
    /// case is no conversation or the two agree step for step.
    pub fn first_divergence(&self) -> Option<usize> {
        fn trajectory(side: &SideReport) -> Option<&Vec<crate::conversation::Step>> {
            let first = side.samples.first()?;
            first.trajectory.as_ref().map(|t| &t.steps)
        }
        let (base, cand) = (trajectory(&self.baseline)?, trajectory(&self.candidate)?);
        let same = |a: &crate::conversation::Step, b: &crate::conversation::Step| {
            a.text == b.text
                && a.results == b.results
                && a.tool_calls.len() == b.tool_calls.len()
                && a.tool_calls
                    .iter()
                    .zip(&b.tool_calls)
                    .all(|(x, y)| x.name == y.name && x.arguments == y.arguments)
        };
        match base.iter().zip(cand).position(|(a, b)| !same(a, b)) {
            Some(i) => Some(i + 1),
            None if base.len() != cand.len() => Some(base.len().min(cand.len()) + 1),
            None => None,
        }
    }
}

/// One version's samples of a case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SideReport {
    /// Fraction of samples that passed; `None` if a call failed.
    pub pass_rate: Option<f64>,
    /// Every sample.
    pub samples: Vec<SampleReport>,
}

/// One scored sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleReport {
    /// The output, when the call succeeded: the text, then a line `→ NAME(ARGUMENTS)` per
    /// tool call ([`shown_output`]), so every rendering shows and diffs what the model did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The tools the model called, as it called them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<crate::provider::ToolCall>,
    /// A conversation case's steps: each turn's message, the model's text and calls, and the
    /// results the script gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<crate::conversation::Trajectory>,
    /// What the judges said, each with its version and model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judgments: Vec<crate::judge::Judgment>,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Call wall time.
    pub latency_ms: u64,
    /// Dollars, `None` when unknown.
    pub cost: Option<f64>,
    /// Input plus output tokens.
    pub tokens: u64,
    /// Attempts made.
    pub attempts: u32,
    /// Assertion results (empty when the call failed).
    pub assertions: Vec<AssertionResult>,
    /// The call was not made (budget or interrupt); `error` says why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

/// An output as reports show it: the text, then `→ NAME(ARGUMENTS)` for each tool call.
pub(crate) fn shown_output(text: &str, calls: &[crate::provider::ToolCall]) -> String {
    let mut shown = text.to_string();
    for call in calls {
        if !shown.is_empty() {
            shown.push('\n');
        }
        shown.push_str(&format!("→ {}({})", call.name, call.arguments));
    }
    shown
}

impl SampleReport {
    /// Whether every assertion held; `None` when the call failed.
    pub fn pass(&self) -> Option<bool> {
        self.output
            .as_ref()
            .map(|_| self.assertions.iter().all(|a| a.pass || a.advisory))
    }
}

/// Suites run on one version without comparison (`promptgate run`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Format of this file.
    pub format_version: u32,
    /// The run's id.
    pub run_id: RunId,
    /// Totals across the run.
    pub totals: Totals,
    /// One entry per prompt version and suite.
    pub suites: Vec<RunSuiteReport>,
}

/// One suite on one version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSuiteReport {
    /// The suite's name.
    pub name: String,
    /// The version run.
    pub version: Version,
    /// The provider used.
    pub provider: String,
    /// Mean per-case pass rate over cases without errors.
    pub pass_rate: Option<f64>,
    /// Every case.
    pub cases: Vec<RunCaseReport>,
}

/// One case on one version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunCaseReport {
    /// The case id.
    pub id: String,
    /// The samples.
    pub side: SideReport,
}

/// A pass rate as a percentage with one decimal, `n/a` when there is none.
fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".into(), |r| format!("{:.1}%", r * 100.0))
}

/// A pass-rate delta in points, `n/a` when there is none.
fn points(delta: Option<f64>) -> String {
    delta.map_or_else(|| "n/a".into(), |d| format!("{:+.1} pts", d * 100.0))
}

/// Dollars, `cost unknown` when any price was unknown.
fn dollars(cost: Option<f64>) -> String {
    let Some(cost) = cost else {
        return "cost unknown".into();
    };
    // `+ 0.0` turns a negative zero (the sum of nothing) into zero.
    let cost = cost + 0.0;
    if cost == 0.0 {
        "$0".into()
    } else if cost >= 1.0 {
        format!("${cost:.2}")
    } else {
        // Up to three significant digits: $0.00123, $0.0457, $0.5, $0.0003.
        let decimals = (2 - cost.log10().floor() as i32).clamp(3, 12) as usize;
        let text = format!("{cost:.decimals$}");
        format!("${}", text.trim_end_matches('0'))
    }
}

/// A duration as a person reads it: `850 ms`, `12.4 s`, `3 min 05 s`, `1 h 02 min`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{} h {:02} min", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// `n thing` or `n things`.
pub fn plural(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// `items` without repeats, in first-seen order.
fn ordered(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// What a candidate's row says: [`headline`], or "no suite selected" for a candidate no suite
/// checked (a `--suite` filter left its prompt none), which passes nothing.
pub fn candidate_headline(candidate: &CandidateReport, complete: bool) -> &'static str {
    match candidate.suites.is_empty() {
        true => NO_SUITE,
        false => headline(candidate.verdict, complete),
    }
}

/// What a candidate no suite checked says instead of a verdict.
pub const NO_SUITE: &str = "no suite selected";

/// The word a report leads with: `fail` when the gate failed, `incomplete` when the run did not
/// see every case (an unreachable provider never reads as a pass), else the verdict.
pub fn headline(verdict: crate::gate::Verdict, complete: bool) -> &'static str {
    match verdict {
        crate::gate::Verdict::Fail => "fail",
        _ if !complete => "incomplete",
        other => other.as_str(),
    }
}

/// `text` with every character that would act on a terminal or reorder what a person reads
/// shown instead as `\u{..}`: C0 and C1 controls (escape sequences, OSC-8 links, title and
/// clear-screen codes, carriage returns, NUL) and the Unicode bidirectional controls. Newlines
/// and tabs stay. Model output, case ids and errors pass through here before a person reads
/// them in a terminal or a Markdown comment.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if hidden(c) {
                    format!("\\u{{{:x}}}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// One line of what a suite's statistics say: the samples, the change and its intervals, what
/// confirmation found, the calls it took, and the decision with what it rests on.
pub fn statistics_line(stats: &crate::gate::Statistics) -> String {
    let pts = |x: f64| format!("{:+.1}", x * 100.0);
    let mut line = format!(
        "samples per case and version: up to {} · change {} points, 95% interval [{}, {}] {}",
        stats.samples,
        pts(stats.mean_delta),
        pts(stats.interval[0]),
        pts(stats.interval[1]),
        stats.basis.as_str(),
    );
    if stats.basis != crate::gate::Basis::CaseResampling {
        line.push_str(&format!(
            " · on new cases like these [{}, {}]",
            pts(stats.case_interval[0]),
            pts(stats.case_interval[1])
        ));
    }
    line.push_str(&format!(
        " · flaky cases {}/{}",
        stats.flaky_baseline, stats.flaky_candidate
    ));
    let calls = stats.extra_calls;
    if calls.confirm > 0 {
        line.push_str(&format!(" · {} confirmation calls", calls.confirm));
    }
    if calls.adaptive > 0 {
        line.push_str(&format!(" · {} adaptive calls", calls.adaptive));
    }
    format!("{line} — {}: {}", stats.decision.as_str(), stats.rests_on)
}

/// One line of a category's attack-success rates: both versions, the change, the cases and the
/// new successes.
/// A shadow suite's output drift, on one line.
pub fn drift_line(drift: &crate::compare::Drift) -> String {
    let mut line = format!(
        "output drift: {} of {} cases changed, mean distance {:.2}",
        drift.changed, drift.cases, drift.mean
    );
    if !drift.most_changed.is_empty() {
        let most: Vec<String> = drift
            .most_changed
            .iter()
            .take(5)
            .map(|c| format!("{} ({:.2})", c.id, c.distance))
            .collect();
        line.push_str(&format!("; most changed: {}", most.join(", ")));
    }
    line
}

/// Where a shadow run's cases came from, on one line.
pub fn traffic_line(traffic: &crate::traffic::Summary) -> String {
    let mut line = format!(
        "traffic: {} of {} records of the prompt sampled from {}",
        traffic.used,
        traffic.records,
        traffic.files.join(", ")
    );
    if !traffic.skipped.is_empty() {
        let left: Vec<String> = traffic.skipped.iter().map(ToString::to_string).collect();
        line.push_str(&format!("; left out: {}", left.join(", ")));
    }
    line
}

/// An adversarial category's attack-success rates, on one line.
pub fn attack_line(rates: &crate::adversarial::asr::CategoryRates) -> String {
    let mut line = format!(
        "{}: attack success {} → {} ({}) over {} cases",
        rates.category,
        percent(rates.baseline),
        percent(rates.candidate),
        points(rates.delta()),
        rates.cases
    );
    if !rates.new_successes.is_empty() {
        line.push_str(&format!(" · {} new", rates.new_successes.len()));
    }
    if !rates.flaky_successes.is_empty() {
        line.push_str(&format!(
            " · {} flaky (fell on a sample, resisted on most: noise)",
            rates.flaky_successes.len()
        ));
    }
    if rates.excluded > 0 {
        line.push_str(&format!(
            " · {} not compared (a call failed or was not made)",
            rates.excluded
        ));
    }
    line
}

/// How a case's status reads in a suite of `kind`: in an adversarial suite a regression is an
/// attack that now succeeds.
pub fn status_label(kind: crate::suite::SuiteKind, status: CaseStatus) -> &'static str {
    match (kind, status) {
        (crate::suite::SuiteKind::Adversarial, CaseStatus::Regressed) => "new attack success",
        (crate::suite::SuiteKind::Adversarial, CaseStatus::Fixed) => "now resisted",
        (_, status) => status.as_str(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compare::{SideTotals, SuiteComparison};
    use crate::ids::ContentHash;

    fn version(rev: &str, source: &str) -> Version {
        Version {
            name: PromptName::new("support/triage"),
            rev: rev.into(),
            commit: (rev != "worktree").then(|| "0123456789abcdef0123456789abcdef01234567".into()),
            hash: ContentHash::of(source),
            tools: Default::default(),
            source: source.into(),
        }
    }

    fn sample(output: &str, pass: bool) -> SampleReport {
        SampleReport {
            output: Some(output.into()),
            tool_calls: Vec::new(),
            trajectory: None,
            judgments: Vec::new(),
            error: None,
            latency_ms: 120,
            cost: Some(0.0001),
            tokens: 42,
            attempts: 1,
            assertions: vec![AssertionResult {
                kind: "contains".into(),
                pass,
                score: if pass { 1.0 } else { 0.0 },
                reason: if pass {
                    String::new()
                } else {
                    "does not contain \"billing\"".into()
                },
                advisory: false,
            }],
            skipped: false,
        }
    }

    /// A small fixed report: one regression, one unchanged case.
    pub(crate) fn sample_report() -> CheckReport {
        let side = |output: &str, pass: bool| SideReport {
            pass_rate: Some(if pass { 1.0 } else { 0.0 }),
            samples: vec![sample(output, pass)],
        };
        let totals = |rate: f64| SideTotals {
            pass_rate: Some(rate),
            cost: Some(0.0002),
            mean_latency_ms: 120.0,
            tokens: 84,
            errors: 0,
            skipped: 0,
        };
        CheckReport {
            format_version: crate::record::FORMAT_VERSION,
            promptgate: crate::BUILD.into(),
            run_id: RunId::parse("20261121T120000.000Z-abcdef").expect("a plain id"),
            started_at: "2026-11-21T12:00:00+00:00".into(),
            duration_ms: 1500,
            verdict: Verdict::Fail,
            complete: true,
            incomplete: None,
            totals: Totals {
                cases: 2,
                calls: 3,
                cached: 0,
                errors: 0,
                skipped: 0,
                tokens: 126,
                estimated_tokens: 0,
                cost: Some(0.0003),
            },
            traffic: None,
            readiness: Vec::new(),
            candidates: vec![CandidateReport {
                label: "support/triage@worktree".into(),
                prompt: PromptName::new("support/triage"),
                baseline: version("HEAD", "Route to billing, bug or account.\n{{message}}\n"),
                candidate: version("worktree", "Route to bug or account.\n{{message}}\n"),
                verdict: Verdict::Fail,
                reasons: vec![Reason {
                    suite: "triage".into(),
                    metric: "max_pass_rate_drop".into(),
                    limit: 0.02,
                    observed: Some(0.5),
                    message: "pass rate dropped 50.0 points, limit 2.0".into(),
                }],
                warnings: Vec::new(),
                on_inconclusive: crate::config::OnInconclusive::Warn,
                control: false,
                suites: vec![SuiteReport {
                    name: "triage".into(),
                    kind: crate::suite::SuiteKind::Regression,
                    drift: None,
                    provider: "echo".into(),
                    params: EffectiveParams {
                        temperature: 0.0,
                        top_p: 1.0,
                        max_tokens: 256,
                        seed: 7,
                    },
                    samples: 1,
                    tolerance: Tolerance {
                        max_pass_rate_drop: Some(0.02),
                        ..Tolerance::default()
                    },
                    comparison: SuiteComparison {
                        cases: 2,
                        baseline: totals(1.0),
                        candidate: totals(0.5),
                        pass_rate_delta: Some(-0.5),
                        regressed: 1,
                        fixed: 0,
                        errors: 0,
                        skipped: 0,
                    },
                    statistics: None,
                    attacks: Vec::new(),
                    cases: vec![
                        CaseReport {
                            id: "double-charge".into(),
                            description: Some("charged twice".into()),
                            category: None,
                            status: CaseStatus::Regressed,
                            baseline: side("billing", true),
                            candidate: side("account <b>x</b>", false),
                        },
                        CaseReport {
                            id: "crash".into(),
                            description: None,
                            category: None,
                            status: CaseStatus::UnchangedPass,
                            baseline: side("bug", true),
                            candidate: side("bug", true),
                        },
                    ],
                }],
            }],
        }
    }

    #[test]
    fn money_times_and_counts_read_as_a_person_writes_them() {
        assert_eq!(dollars(None), "cost unknown");
        assert_eq!(dollars(Some(-0.0)), "$0");
        assert_eq!(dollars(Some(0.000_423_4)), "$0.000423");
        assert_eq!(dollars(Some(0.0457)), "$0.0457");
        assert_eq!(dollars(Some(0.5123)), "$0.512");
        assert_eq!(dollars(Some(0.0003)), "$0.0003");
        assert_eq!(dollars(Some(12.345)), "$12.35");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_000), "3 min 05 s");
        assert_eq!(duration(3_720_000), "1 h 02 min");
        assert_eq!(plural(1, "call"), "1 call");
        assert_eq!(plural(0, "error"), "0 errors");
    }

    #[test]
    fn markdown_summary_is_short_and_escaped() {
        let md = summary_markdown(&sample_report());
        assert!(
            md.starts_with("<!-- promptgate summary -->\n## promptgate: FAIL"),
            "{md}"
        );
        // A suite column, the suite's own verdict, and the first failure of each regression.
        assert!(
            md.contains("| `support/triage@worktree` | `triage` | `HEAD` `content "),
            "{md}"
        );
        assert!(
            md.contains("| `triage` | `double-charge` | contains: "),
            "{md}"
        );
        assert!(!md.contains("\\*\\*"), "no escaped markup of its own: {md}");
        assert!(md.lines().count() < 30);
    }

    #[test]
    fn reports_round_trip_through_json() {
        let report = sample_report();
        let json = serde_json::to_string(&report).unwrap();
        let back: CheckReport = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
}
