//! `judge calibrate`: a judge run on examples humans labelled, and how far it agrees with them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::artifact::{JudgeSpec, JudgeVerdict};
use crate::errors::{Error, Location, Result};
use crate::ids::PromptName;
use crate::pipeline::calls::{RunTarget, execute};
use crate::pipeline::jobs::Jobs;
use crate::pipeline::panel::{Calibration, PreparedJudge};
use crate::pipeline::prepare::Providers;
use crate::pipeline::progress::Progress;
use crate::pipeline::project::Project;
use crate::pipeline::request::CallOptions;
use crate::runner::Outcome;

/// What `promptgate judge calibrate` is asked.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// The judge (`judges/polite`).
    pub judge: String,
    /// The human labels: JSONL, one example per line, with the judge's variables (`input`,
    /// `output`, `expected`, `first`, `second`, ...) and the human's `label`.
    pub labels: PathBuf,
    /// Samples per example, for self-consistency (at least 1).
    pub samples: u32,
    /// How to make the calls.
    pub calls: CallOptions,
}

/// One labelled example: the judge's variables and the human's verdict.
struct Example {
    line: usize,
    data: Map<String, Value>,
    label: String,
}

/// Runs the judge on the examples humans labelled and measures how far it agrees with them
/// (accuracy, Cohen's kappa, the confusion matrix), how consistent it is with itself over
/// `samples` calls per example, and which examples it gets wrong; stores the result under
/// `calibrations/` with the judge's content id (an edit of the judge invalidates it).
pub fn calibrate(
    root: &Path,
    options: &CalibrateOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Calibration> {
    let project = Project::open(root)?;
    let name = PromptName::new(&options.judge);
    let mut providers = Providers::new(
        &project,
        &options.calls.env,
        options.calls.provider.as_deref(),
        progress,
    );
    let judge = PreparedJudge::load(
        &project,
        &mut providers,
        &name,
        project.config.default_provider(),
    )?;
    let examples = read_labels(&project.root, &options.labels, &judge.spec)?;
    let samples = options.samples.max(1);
    let mut jobs = Jobs::default();
    let mut planned: Vec<Vec<usize>> = Vec::new();
    for example in &examples {
        let mut indices = Vec::new();
        for sample in 0..samples {
            let request = judge.request(example.data.clone(), sample)?;
            let label = format!("{} on line {} #{sample}", name, example.line);
            indices.push(jobs.add(&judge.provider, request, label)?);
        }
        planned.push(indices);
    }
    let calls = options.calls.over_config(&project.config);
    let target = RunTarget::new(
        &project.root,
        &crate::ids::RunId::generate(),
        &chrono::Utc::now().to_rfc3339(),
        &calls,
        &jobs,
        None,
    );
    let executed = execute(target, jobs, &calls, progress)?;
    if executed.interrupted {
        return Err(Error::Usage(
            "the calibration was interrupted; run it again (finished calls are cached)".into(),
        ));
    }
    let calibration = measured(&judge, &examples, &planned, &executed.outcomes, samples);
    let text = serde_json::to_string_pretty(&calibration)
        .map_err(Error::encode("a judge's calibration"))?;
    crate::files::write_confined(
        &project.root,
        &Calibration::relative(&name),
        format!("{text}\n").as_bytes(),
    )?;
    Ok(calibration)
}

/// How far the judge's verdicts on `examples` (its first sample of each; `planned` are each
/// example's jobs) agree with the human labels, and how often all its samples agreed.
fn measured(
    judge: &PreparedJudge,
    examples: &[Example],
    planned: &[Vec<usize>],
    outcomes: &[Outcome],
    samples: u32,
) -> Calibration {
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut verdict_of = |outcome: &Outcome| -> String {
        let judgment = judge.judge(&[outcome], false);
        match (judgment.error, judgment.label, judgment.score) {
            (Some(error), ..) => {
                *errors.entry(error_kind(&error)).or_default() += 1;
                "error".to_string()
            }
            (None, Some(label), _) => label,
            (None, None, Some(score)) => score.to_string(),
            (None, None, None) => {
                *errors
                    .entry("the judge gave no verdict".into())
                    .or_default() += 1;
                "error".to_string()
            }
        }
    };
    let mut pairs = Vec::new();
    let (mut wrong, mut wrong_replies) = (Vec::new(), Vec::new());
    let mut consistent = 0;
    for (example, indices) in examples.iter().zip(planned) {
        let verdicts: Vec<String> = indices.iter().map(|&i| verdict_of(&outcomes[i])).collect();
        consistent +=
            usize::from(verdicts[0] != "error" && verdicts.iter().all(|v| v == &verdicts[0]));
        if verdicts[0] != example.label {
            wrong.push((example.line, example.label.clone(), verdicts[0].clone()));
            wrong_replies.push(reply_of(&outcomes[indices[0]]));
        }
        pairs.push((example.label.clone(), verdicts[0].clone()));
    }
    Calibration {
        judge: judge.name.to_string(),
        hash: judge.prepared.version.hash.as_str().to_string(),
        model: judge.provider.provider.fingerprint().to_string(),
        agreement: crate::judge::agreement(&pairs),
        samples,
        self_consistency: consistent as f64 / examples.len().max(1) as f64,
        wrong,
        wrong_replies,
        errors: by_count(errors),
        calibrated_at: chrono::Utc::now().to_rfc3339(),
    }
}

/// What the judge replied on `outcome` (or why the call failed), redacted, on one line and cut
/// at 160 characters.
fn reply_of(outcome: &Outcome) -> String {
    let text = match &outcome.result {
        Ok(completion) => completion.text.clone(),
        Err(e) => format!("(the call failed: {e})"),
    };
    let line: String = crate::secrets::redact(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match line.chars().count() > 160 {
        true => line.chars().take(160).collect::<String>() + "…",
        false => line,
    }
}

/// A judge error without the reply it quotes, so that the same fault counts once.
fn error_kind(error: &str) -> String {
    use crate::judge::UNREADABLE_REPLY;
    if error.starts_with(UNREADABLE_REPLY) {
        return UNREADABLE_REPLY.to_string();
    }
    error.chars().take(200).collect()
}

/// `counts` most first (then by text).
fn by_count(counts: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// Reads a labels file: one JSON object per line with a `label` the judge can give.
fn read_labels(root: &Path, file: &Path, spec: &JudgeSpec) -> Result<Vec<Example>> {
    let text = crate::files::read_confined(root, file)?
        .ok_or_else(|| Error::Usage(format!("labels file `{}` does not exist", file.display())))?;
    let hint = "each line is a JSON object with the judge's variables (`input`, `output`, ...) and the human's `label`";
    let mut examples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = Location::new(file, index as u64 + 1, 1);
        let mut data: Map<String, Value> = serde_json::from_str(line).map_err(|e| {
            Error::invalid_with_hint(at.clone(), format!("invalid example: {e}"), hint)
        })?;
        let label = match data.remove("label") {
            Some(Value::String(label)) => label,
            Some(Value::Number(score)) => score.to_string(),
            _ => {
                return Err(Error::invalid_with_hint(
                    at,
                    "the example has no `label`",
                    hint,
                ));
            }
        };
        let allowed: Vec<String> = match &spec.verdict {
            JudgeVerdict::Labels(labels) => labels.clone(),
            JudgeVerdict::Pairwise => vec!["A".into(), "B".into(), "same".into()],
            JudgeVerdict::Scale(..) => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.contains(&label) {
            return Err(Error::invalid_with_hint(
                at,
                format!("`{label}` is not a label the judge gives"),
                format!("labels: {}", allowed.join(", ")),
            ));
        }
        examples.push(Example {
            line: index + 1,
            data,
            label,
        });
    }
    if examples.is_empty() {
        return Err(Error::Usage(format!(
            "labels file `{}` has no example",
            file.display()
        )));
    }
    Ok(examples)
}
