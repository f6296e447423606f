//! Judges in a run: the judge prompts a run's suites name, prepared once at the working tree;
//! the calls that grade each sample once its own call is done (calls like any other: cached,
//! logged, recorded, budgeted); and the calibration each judge carries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Project;
use super::plan::{Prepared, Providers, SuiteProvider};
use crate::artifact::{JudgeSpec, JudgeVerdict, RenderData, RiskTier};
use crate::errors::{Error, Location, Result};
use crate::ids::PromptName;
use crate::judge::{Agreement, Judgment};
use crate::provider::Request;
use crate::runner::Outcome;
use crate::suite::{Assertion, Case, Suite};

/// Where calibrations are kept, relative to the project root: `calibrations/NAME.json`,
/// committed with the judge so CI sees them.
pub(super) const CALIBRATIONS_DIR: &str = "calibrations";

/// A judge's agreement with human labels, for one version of the judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The judge.
    pub judge: String,
    /// The judge's content id when it was calibrated; an edit invalidates the calibration.
    pub hash: String,
    /// The provider that ran it.
    pub model: String,
    /// Agreement of its verdicts (its first sample per example) with the human labels.
    pub agreement: Agreement,
    /// Samples per example.
    pub samples: u32,
    /// Share of examples on which every sample gave the same verdict.
    pub self_consistency: f64,
    /// The examples it got wrong: (line of the labels file, human label, judge label).
    pub wrong: Vec<(usize, String, String)>,
    /// When.
    pub calibrated_at: String,
}

impl Calibration {
    /// Where the calibration of `judge` is kept.
    pub(super) fn path(root: &Path, judge: &PromptName) -> PathBuf {
        root.join(CALIBRATIONS_DIR)
            .join(format!("{}.json", judge.as_str()))
    }

    /// The stored calibration of `judge`, if any (an unreadable one counts as none).
    fn load(root: &Path, judge: &PromptName) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(root, judge)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// A judge prompt ready to grade.
pub(super) struct PreparedJudge {
    pub(super) name: PromptName,
    pub(super) prepared: Prepared,
    pub(super) spec: JudgeSpec,
    pub(super) provider: Arc<SuiteProvider>,
    params: crate::config::EffectiveParams,
    /// Its stored calibration, when it is of this version of the judge.
    pub(super) calibration: Option<Calibration>,
}

impl PreparedJudge {
    /// Reads the judge `name` at the working tree, with its provider (its own, else `fallback`).
    pub(super) fn load(
        project: &Project,
        providers: &mut Providers<'_>,
        name: &PromptName,
        fallback: &str,
    ) -> Result<Self> {
        let prepared = Prepared::load(project, name, crate::store::WORKTREE)?;
        let file = Location::file(Path::new(&name.path()));
        let spec = prepared
            .prompt
            .metadata
            .governance
            .judge
            .clone()
            .ok_or_else(|| {
                Error::invalid_with_hint(
                    file,
                    format!("{name} is not a judge"),
                    "a judge says what it answers: `promptgate.judge: { labels: [pass, fail] }`, `{ scale: [1, 5] }` or `{ pairwise: true }`",
                )
            })?;
        let provider = providers.for_name(spec.provider.as_deref().unwrap_or(fallback))?;
        let params = super::plan::judge_params(&prepared, &provider);
        let calibration = Calibration::load(&project.root, name)
            .filter(|c| c.hash == prepared.version.hash.as_str());
        Ok(Self {
            name: name.clone(),
            prepared,
            spec,
            provider,
            params,
            calibration,
        })
    }

    /// The judge's request for `data` (its template's variables), as sample `sample`.
    pub(super) fn request(&self, data: Map<String, Value>, sample: u32) -> Result<Request> {
        let messages = self
            .prepared
            .template
            .render(&RenderData {
                input: data,
                ..RenderData::default()
            })
            .map_err(|e| {
                Error::invalid(
                    Location::file(Path::new(&self.name.path())),
                    format!("cannot render judge {}: {e}", self.name),
                )
            })?;
        Ok(Request {
            messages,
            params: self.params,
            sample,
            tools: Vec::new(),
        })
    }

    /// A judgment of this judge, with its version and model.
    fn judgment(&self, advisory: bool) -> Judgment {
        Judgment {
            judge: self.name.to_string(),
            hash: self.prepared.version.hash.as_str().to_string(),
            model: self.provider.provider.fingerprint().to_string(),
            label: None,
            score: None,
            reason: String::new(),
            error: None,
            advisory,
            first_label: false,
            calls: 0,
            tokens: 0,
            cost: Some(0.0),
        }
    }

    /// The judgment one reply (or, for a pairwise judge, the replies in both orders) gives.
    pub(super) fn judge(&self, replies: &[&Outcome], advisory: bool) -> Judgment {
        let mut judgment = self.judgment(advisory);
        for reply in replies.iter().filter(|r| !r.cached) {
            judgment.calls += 1;
            judgment.cost = judgment.cost.zip(reply.cost).map(|(a, b)| a + b);
        }
        judgment.tokens = replies
            .iter()
            .filter_map(|r| r.result.as_ref().ok())
            .map(|c| c.usage.total())
            .sum();
        let mut readings = Vec::new();
        for reply in replies {
            let read = match &reply.result {
                Ok(c) => crate::judge::read(&self.spec.verdict, &c.text),
                Err(e) => Err(format!("the judge's call failed: {}", e.message)),
            };
            match read {
                Ok(reading) => readings.push(reading),
                Err(e) => {
                    judgment.error = Some(e);
                    return judgment;
                }
            }
        }
        match (&self.spec.verdict, &readings[..]) {
            (JudgeVerdict::Pairwise, [first, second]) => {
                let label = crate::judge::preference(
                    first.label.as_deref().unwrap_or_default(),
                    second.label.as_deref().unwrap_or_default(),
                );
                judgment.label = Some(label.to_string());
                judgment.reason = format!(
                    "baseline shown first: {} ({}); candidate shown first: {} ({})",
                    first.label.as_deref().unwrap_or_default(),
                    first.reason,
                    second.label.as_deref().unwrap_or_default(),
                    second.reason
                );
            }
            (verdict, [reading]) => {
                judgment.first_label = match verdict {
                    JudgeVerdict::Labels(labels) => labels.first() == reading.label.as_ref(),
                    _ => false,
                };
                judgment.label = reading.label.clone();
                judgment.score = reading.score;
                judgment.reason = reading.reason.clone();
            }
            _ => judgment.error = Some("the judge gave no verdict".into()),
        }
        judgment
    }
}

/// The judges of a run, by name.
#[derive(Default)]
pub(super) struct JudgeLibrary {
    judges: BTreeMap<PromptName, Arc<PreparedJudge>>,
    /// The agreement each tier requires before a judge's verdicts may block.
    min_kappa: BTreeMap<&'static str, Option<f64>>,
}

impl JudgeLibrary {
    /// Prepares every judge the assertions of `suites` name, checking each assertion fits its
    /// judge (a labelling judge's labels, a scoring judge's threshold, a pairwise judge).
    pub(super) fn load(
        project: &Project,
        providers: &mut Providers<'_>,
        suites: &[&Suite],
    ) -> Result<Self> {
        let mut library = Self::default();
        for tier in [RiskTier::Low, RiskTier::Standard, RiskTier::Exceptional] {
            library
                .min_kappa
                .insert(tier.as_str(), project.config.tier(tier).min_judge_kappa);
        }
        for suite in suites {
            let fallback = suite
                .provider
                .clone()
                .unwrap_or_else(|| project.config.default_provider().to_string());
            for case in &suite.cases {
                for assertion in &case.assertions {
                    let Some(name) = assertion.judge() else {
                        continue;
                    };
                    if !library.judges.contains_key(name) {
                        let judge = PreparedJudge::load(project, providers, name, &fallback)
                            .map_err(|e| in_case(e, suite, case))?;
                        library.judges.insert(name.clone(), Arc::new(judge));
                    }
                    fits(assertion, &library.judges[name], case)?;
                }
            }
        }
        Ok(library)
    }

    /// The judges the assertions of `suite` name, in words (name, version, provider and
    /// parameters), in name order: part of the identity its noise is remembered under.
    pub(super) fn described_for(&self, suite: &Suite) -> String {
        let mut names: Vec<&PromptName> = suite
            .cases
            .iter()
            .flat_map(|case| &case.assertions)
            .filter_map(|assertion| assertion.judge())
            .collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| self.judges.get(name))
            .map(|judge| {
                format!(
                    "; judge {} {}: {}",
                    judge.name,
                    judge.prepared.version.hash.as_str(),
                    super::plan::described(judge.provider.provider.fingerprint(), &judge.params)
                )
            })
            .collect()
    }

    /// Whether every judge the assertions of `suite` name cannot vary (its provider at its
    /// parameters): a judge-graded assertion is as noisy as its judge.
    pub(super) fn exact_for(&self, suite: &Suite) -> bool {
        suite
            .cases
            .iter()
            .flat_map(|case| &case.assertions)
            .filter_map(|assertion| self.judges.get(assertion.judge()?))
            .all(|judge| judge.provider.provider.deterministic(&judge.params))
    }

    /// The grading `case` needs on a sample of a prompt of `tier`: one task per judge it
    /// names (pairwise judges only with `against`, the baseline sample's job).
    pub(super) fn tasks(
        &self,
        case: &Case,
        tier: RiskTier,
        against: Option<usize>,
    ) -> Vec<JudgeTask> {
        let mut tasks: Vec<JudgeTask> = Vec::new();
        for assertion in &case.assertions {
            let pairwise = matches!(assertion, Assertion::JudgePairwise(_));
            let Some(judge) = assertion.judge().and_then(|n| self.judges.get(n)) else {
                continue;
            };
            if pairwise != against.is_some() || tasks.iter().any(|t| t.judge.name == judge.name) {
                continue;
            }
            let min = self.min_kappa.get(tier.as_str()).copied().flatten();
            let advisory = match &judge.calibration {
                None => true,
                Some(c) => min.is_some_and(|m| c.agreement.kappa < m),
            };
            tasks.push(JudgeTask {
                judge: judge.clone(),
                data: case_data(case),
                advisory,
                against: against.filter(|_| pairwise),
            });
        }
        tasks
    }
}

/// `error` in a judge a case names, said with the suite and case.
fn in_case(error: Error, suite: &Suite, case: &Case) -> Error {
    match error {
        Error::Invalid { .. } => error,
        other => Error::invalid(
            case.location.clone(),
            format!("suite {}, case `{}`: {other}", suite.name, case.id),
        ),
    }
}

/// Checks that `assertion` asks `judge` something it answers.
fn fits(assertion: &Assertion, judge: &PreparedJudge, case: &Case) -> Result<()> {
    let problem = match (assertion, &judge.spec.verdict) {
        (Assertion::JudgePairwise(_), JudgeVerdict::Pairwise) => None,
        (Assertion::JudgePairwise(_), _) => Some(format!(
            "`judge-pairwise` needs a pairwise judge, and {} is not (`promptgate.judge: {{ pairwise: true }}`)",
            judge.name
        )),
        (Assertion::Judge { .. }, JudgeVerdict::Pairwise) => Some(format!(
            "{} is a pairwise judge: use it with `judge-pairwise`",
            judge.name
        )),
        (Assertion::Judge { pass, .. }, JudgeVerdict::Labels(labels)) => {
            pass.iter().find(|p| !labels.contains(p)).map(|p| {
                format!(
                    "`{p}` is not a label of {} ({})",
                    judge.name,
                    labels.join(", ")
                )
            })
        }
        (
            Assertion::Judge {
                threshold: None, ..
            },
            JudgeVerdict::Scale(min, max),
        ) => Some(format!(
            "{} scores from {min} to {max}: give the assertion a `threshold`",
            judge.name
        )),
        _ => None,
    };
    match problem {
        None => Ok(()),
        Some(message) => Err(Error::invalid(
            case.location.clone(),
            format!("case `{}`: {message}", case.id),
        )),
    }
}

/// What a judge's template reads of a case: `input` (the one variable's value, or all of them
/// as JSON), `vars` and `expected`.
fn case_data(case: &Case) -> Map<String, Value> {
    let mut data = Map::new();
    let input = match case.vars.values().collect::<Vec<_>>()[..] {
        [Value::String(only)] => only.clone(),
        _ => Value::Object(case.vars.clone()).to_string(),
    };
    data.insert("input".into(), Value::String(input));
    data.insert("vars".into(), Value::Object(case.vars.clone()));
    if let Some(expected) = &case.expected {
        data.insert("expected".into(), Value::String(expected.clone()));
    }
    data
}

/// One judge grading one planned call's output.
#[derive(Clone)]
pub(super) struct JudgeTask {
    judge: Arc<PreparedJudge>,
    data: Map<String, Value>,
    advisory: bool,
    /// A pairwise task's baseline job.
    pub(super) against: Option<usize>,
}

impl JudgeTask {
    /// What tells this task apart from another's for the same request.
    pub(super) fn identity(&self) -> String {
        format!("{}\0{}", self.judge.name, Value::Object(self.data.clone()))
    }

    /// The judge's calls on `output` (for a pairwise judge, against `baseline`, in both
    /// orders), as sample `sample`.
    pub(super) fn requests(
        &self,
        output: &str,
        baseline: Option<&str>,
        sample: u32,
    ) -> Result<Vec<Request>> {
        let mut data = self.data.clone();
        data.insert("output".into(), Value::String(output.to_string()));
        let Some(baseline) = baseline else {
            return Ok(vec![self.judge.request(data, sample)?]);
        };
        let order = |first: &str, second: &str| {
            let mut data = data.clone();
            data.insert("first".into(), Value::String(first.to_string()));
            data.insert("second".into(), Value::String(second.to_string()));
            self.judge.request(data, sample)
        };
        Ok(vec![order(baseline, output)?, order(output, baseline)?])
    }

    /// The judgment the task's replies give.
    pub(super) fn judgment(&self, replies: &[&Outcome]) -> Judgment {
        self.judge.judge(replies, self.advisory)
    }

    /// A pairwise judgment with no call: the two sides are one call, so one output.
    pub(super) fn identical(&self) -> Judgment {
        let mut judgment = self.judge.judgment(self.advisory);
        judgment.label = Some("same".into());
        judgment.reason = "both versions made the same call, so their outputs are one".into();
        judgment
    }

    /// The provider the judge runs on.
    pub(super) fn provider(&self) -> &SuiteProvider {
        &self.judge.provider
    }

    /// The judge's name.
    pub(super) fn name(&self) -> &PromptName {
        &self.judge.name
    }
}

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
    pub calls: super::CallOptions,
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
    progress: &mut dyn FnMut(super::Progress),
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
    let mut jobs = super::plan::Jobs::default();
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
    let target = super::calls::RunTarget::new(
        &project.root,
        &crate::ids::RunId::generate(),
        &chrono::Utc::now().to_rfc3339(),
        &calls,
        &jobs,
        None,
    );
    let executed = super::calls::execute(target, jobs, &calls, progress)?;
    if executed.interrupted {
        return Err(Error::Usage(
            "the calibration was interrupted; run it again (finished calls are cached)".into(),
        ));
    }
    let verdict_of = |outcome: &Outcome| -> String {
        let judgment = judge.judge(&[outcome], false);
        match (judgment.error, judgment.label, judgment.score) {
            (Some(_), ..) => "error".to_string(),
            (None, Some(label), _) => label,
            (None, None, Some(score)) => score.to_string(),
            (None, None, None) => "error".to_string(),
        }
    };
    let mut pairs = Vec::new();
    let mut wrong = Vec::new();
    let mut consistent = 0;
    for (example, indices) in examples.iter().zip(&planned) {
        let verdicts: Vec<String> = indices
            .iter()
            .map(|&i| verdict_of(&executed.outcomes[i]))
            .collect();
        consistent += usize::from(verdicts.iter().all(|v| v == &verdicts[0]));
        if verdicts[0] != example.label {
            wrong.push((example.line, example.label.clone(), verdicts[0].clone()));
        }
        pairs.push((example.label.clone(), verdicts[0].clone()));
    }
    let calibration = Calibration {
        judge: name.to_string(),
        hash: judge.prepared.version.hash.as_str().to_string(),
        model: judge.provider.provider.fingerprint().to_string(),
        agreement: crate::judge::agreement(&pairs),
        samples,
        self_consistency: consistent as f64 / examples.len().max(1) as f64,
        wrong,
        calibrated_at: chrono::Utc::now().to_rfc3339(),
    };
    let path = Calibration::path(&project.root, &name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    let text = serde_json::to_string_pretty(&calibration)
        .map_err(Error::encode("a judge's calibration"))?;
    crate::files::write_atomic(&path, format!("{text}\n").as_bytes())?;
    Ok(calibration)
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
