//! Candidate against baseline, case by case: per-case status, per-suite deltas, output diffs.
//! Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff};

/// One scored sample of one case on one version.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleScore {
    /// Whether every assertion held; `None` when the call failed.
    pub pass: Option<bool>,
    /// Call wall time.
    pub latency_ms: u64,
    /// Cost in dollars, `None` when unknown or failed.
    pub cost: Option<f64>,
    /// Input plus output tokens.
    pub tokens: u64,
    /// The call was not made: the budget or an interrupt stopped it.
    pub skipped: bool,
}

/// How a case moved between baseline and candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseStatus {
    /// The candidate passes less often than the baseline.
    Regressed,
    /// A call failed on either version, so the case cannot be compared.
    Error,
    /// A call was not made on either version (budget or interrupt), so the case is not compared.
    Skipped,
    /// The candidate passes more often than the baseline.
    Fixed,
    /// Both always pass.
    UnchangedPass,
    /// Both fail equally often.
    UnchangedFail,
}

impl CaseStatus {
    /// The status as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regressed => "regressed",
            Self::Error => "error",
            Self::Skipped => "skipped",
            Self::Fixed => "fixed",
            Self::UnchangedPass => "unchanged-pass",
            Self::UnchangedFail => "unchanged-fail",
        }
    }
}

/// The fraction of samples that passed, or `None` if any sample errored (a partial rate would
/// compare unlike with like).
pub(crate) fn pass_rate(samples: &[SampleScore]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut passed = 0usize;
    for s in samples {
        match s.pass {
            None => return None,
            Some(true) => passed += 1,
            Some(false) => {}
        }
    }
    Some(passed as f64 / samples.len() as f64)
}

/// Classifies one case from its baseline and candidate samples.
pub(crate) fn case_status(baseline: &[SampleScore], candidate: &[SampleScore]) -> CaseStatus {
    if baseline.iter().chain(candidate).any(|s| s.skipped) {
        return CaseStatus::Skipped;
    }
    match (pass_rate(baseline), pass_rate(candidate)) {
        (Some(b), Some(c)) if c < b => CaseStatus::Regressed,
        (Some(b), Some(c)) if c > b => CaseStatus::Fixed,
        (Some(_), Some(c)) if c >= 1.0 => CaseStatus::UnchangedPass,
        (Some(_), Some(_)) => CaseStatus::UnchangedFail,
        _ => CaseStatus::Error,
    }
}

/// Totals for one version across a suite's cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SideTotals {
    /// Mean per-case pass rate over cases without errors; `None` if every case errored.
    pub pass_rate: Option<f64>,
    /// Total cost of every call, failed ones included; `None` if any call's cost is unknown.
    pub cost: Option<f64>,
    /// Mean latency per call in milliseconds.
    pub mean_latency_ms: f64,
    /// Total tokens.
    pub tokens: u64,
    /// Calls that failed.
    pub errors: usize,
    /// Calls that were not made (budget or interrupt).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: usize,
}

/// For `skip_serializing_if`: a zero count is left out of reports.
pub(crate) fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One suite's comparison of the two versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteComparison {
    /// Cases in the suite.
    pub cases: usize,
    /// Baseline totals.
    pub baseline: SideTotals,
    /// Candidate totals.
    pub candidate: SideTotals,
    /// Candidate minus baseline pass rate, over the cases both versions completed.
    pub pass_rate_delta: Option<f64>,
    /// Number of cases per status.
    pub regressed: usize,
    /// Cases the candidate fixed.
    pub fixed: usize,
    /// Cases that could not be compared.
    pub errors: usize,
    /// Cases not compared because a call was not made (budget or interrupt).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: usize,
}

/// How much the outputs changed between the versions over a suite's cases (a shadow run's
/// output drift): the distance of a case is one minus the word-level similarity of its first
/// baseline and candidate outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Cases with an output on both versions.
    pub cases: usize,
    /// Of those, cases whose outputs differ at all.
    pub changed: usize,
    /// Mean distance over the cases, in [0, 1].
    pub mean: f64,
    /// The most changed cases first (at most [`MOST_CHANGED`]), unchanged ones left out.
    pub most_changed: Vec<CaseDrift>,
}

/// One case's output drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDrift {
    /// The case.
    pub id: String,
    /// One minus the similarity of the outputs, in [0, 1].
    pub distance: f64,
}

/// How many cases [`Drift::most_changed`] lists.
pub(crate) const MOST_CHANGED: usize = 10;

/// The drift over `cases`: each a case id with its baseline and candidate outputs (cases
/// without an output on either side are left out).
pub(crate) fn drift<'a>(cases: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Drift {
    let mut all: Vec<CaseDrift> = cases
        .into_iter()
        .map(|(id, baseline, candidate)| CaseDrift {
            id: id.to_string(),
            distance: if baseline == candidate {
                0.0
            } else {
                (1.0 - crate::score::similarity(baseline, candidate)).clamp(0.0, 1.0)
            },
        })
        .collect();
    let mean = mean(&all.iter().map(|c| c.distance).collect::<Vec<_>>()).unwrap_or(0.0);
    let cases = all.len();
    all.retain(|c| c.distance > 0.0);
    let changed = all.len();
    all.sort_by(|a, b| b.distance.total_cmp(&a.distance).then(a.id.cmp(&b.id)));
    all.truncate(MOST_CHANGED);
    Drift {
        cases,
        changed,
        mean,
        most_changed: all,
    }
}

/// One case's samples on both versions.
pub struct CasePair<'a> {
    /// Baseline samples.
    pub baseline: &'a [SampleScore],
    /// Candidate samples.
    pub candidate: &'a [SampleScore],
}

/// Compares a suite's cases.
pub fn compare_suite(cases: &[CasePair<'_>]) -> SuiteComparison {
    let statuses: Vec<CaseStatus> = cases
        .iter()
        .map(|c| case_status(c.baseline, c.candidate))
        .collect();
    let paired: Vec<(f64, f64)> = cases
        .iter()
        .filter_map(|c| Some((pass_rate(c.baseline)?, pass_rate(c.candidate)?)))
        .collect();
    let pass_rate_delta = mean(&paired.iter().map(|(b, c)| c - b).collect::<Vec<_>>());
    SuiteComparison {
        cases: cases.len(),
        baseline: side_totals(cases.iter().map(|c| c.baseline)),
        candidate: side_totals(cases.iter().map(|c| c.candidate)),
        pass_rate_delta,
        regressed: statuses
            .iter()
            .filter(|s| **s == CaseStatus::Regressed)
            .count(),
        fixed: statuses.iter().filter(|s| **s == CaseStatus::Fixed).count(),
        errors: statuses.iter().filter(|s| **s == CaseStatus::Error).count(),
        skipped: statuses
            .iter()
            .filter(|s| **s == CaseStatus::Skipped)
            .count(),
    }
}

fn side_totals<'a>(cases: impl Iterator<Item = &'a [SampleScore]>) -> SideTotals {
    let cases: Vec<&[SampleScore]> = cases.collect();
    let rates: Vec<f64> = cases.iter().filter_map(|c| pass_rate(c)).collect();
    let samples = || cases.iter().flat_map(|c| c.iter());
    let latencies: Vec<f64> = samples()
        .filter(|s| s.pass.is_some())
        .map(|s| s.latency_ms as f64)
        .collect();
    SideTotals {
        pass_rate: mean(&rates),
        // Failed calls count too: their attempts may have been billed.
        cost: samples()
            .map(|s| s.cost)
            .try_fold(0.0, |total, cost| cost.map(|c| total + c)),
        mean_latency_ms: mean(&latencies).unwrap_or(0.0),
        tokens: samples().map(|s| s.tokens).sum(),
        errors: samples().filter(|s| s.pass.is_none() && !s.skipped).count(),
        skipped: samples().filter(|s| s.skipped).count(),
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// One span of a word-level diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSpan {
    /// `equal`, `delete` (baseline only) or `insert` (candidate only).
    pub tag: DiffTag,
    /// The text of the span.
    pub text: String,
}

/// Which side a diff span belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffTag {
    /// In both.
    Equal,
    /// Only in the baseline.
    Delete,
    /// Only in the candidate.
    Insert,
}

/// A word-level diff of two outputs, adjacent spans of the same tag merged.
pub fn word_diff(baseline: &str, candidate: &str) -> Vec<DiffSpan> {
    let diff = TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .timeout(std::time::Duration::from_millis(200))
        .diff_words(baseline, candidate);
    let mut spans: Vec<DiffSpan> = Vec::new();
    for change in diff.iter_all_changes() {
        let tag = match change.tag() {
            ChangeTag::Equal => DiffTag::Equal,
            ChangeTag::Delete => DiffTag::Delete,
            ChangeTag::Insert => DiffTag::Insert,
        };
        match spans.last_mut() {
            Some(last) if last.tag == tag => last.text.push_str(change.value()),
            _ => spans.push(DiffSpan {
                tag,
                text: change.value().to_string(),
            }),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pass: Option<bool>) -> SampleScore {
        SampleScore {
            pass,
            latency_ms: 100,
            cost: Some(0.01),
            tokens: 10,
            skipped: false,
        }
    }

    #[test]
    fn statuses() {
        let (p, f, e) = (s(Some(true)), s(Some(false)), s(None));
        assert_eq!(case_status(&[p], &[f]), CaseStatus::Regressed);
        assert_eq!(case_status(&[f], &[p]), CaseStatus::Fixed);
        assert_eq!(case_status(&[p], &[p]), CaseStatus::UnchangedPass);
        assert_eq!(case_status(&[f], &[f]), CaseStatus::UnchangedFail);
        assert_eq!(case_status(&[p], &[e]), CaseStatus::Error);
        let skipped = SampleScore { skipped: true, ..e };
        assert_eq!(case_status(&[skipped], &[e]), CaseStatus::Skipped);
        assert_eq!(case_status(&[p, p, f], &[p, f, f]), CaseStatus::Regressed);
    }

    #[test]
    fn suite_totals_and_delta() {
        let (p, f, e) = ([s(Some(true))], [s(Some(false))], [s(None)]);
        let cases = [
            CasePair {
                baseline: &p,
                candidate: &f,
            },
            CasePair {
                baseline: &p,
                candidate: &p,
            },
            CasePair {
                baseline: &f,
                candidate: &p,
            },
            CasePair {
                baseline: &p,
                candidate: &e,
            },
        ];
        let c = compare_suite(&cases);
        assert_eq!((c.regressed, c.fixed, c.errors, c.cases), (1, 1, 1, 4));
        assert_eq!(c.pass_rate_delta, Some(0.0));
        assert_eq!(c.candidate.errors, 1);
        assert!((c.baseline.cost.unwrap() - 0.04).abs() < 1e-12);
        let unknown = [SampleScore {
            cost: None,
            ..s(Some(true))
        }];
        assert_eq!(
            compare_suite(&[CasePair {
                baseline: &unknown,
                candidate: &p
            }])
            .baseline
            .cost,
            None
        );
    }

    #[test]
    fn diff_marks_words() {
        let spans = word_diff("the cat sat", "the dog sat");
        assert!(spans.contains(&DiffSpan {
            tag: DiffTag::Delete,
            text: "cat".into()
        }));
        assert!(spans.contains(&DiffSpan {
            tag: DiffTag::Insert,
            text: "dog".into()
        }));
    }
}
