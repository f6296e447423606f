//! A run's panel: the judge prompts its suites name, prepared once at the working tree with
//! the calibration each carries, and the task each judge has on each planned call (the calls
//! stage makes the judges' calls, like any other: cached, logged, recorded, budgeted).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::prepare::{Prepared, Providers, SuiteProvider, described, judge_params, suites_for};
use super::project::Project;
use crate::artifact::{JudgeSpec, JudgeVerdict, RenderData, RiskTier};
use crate::errors::{Error, Location, Result};
use crate::ids::PromptName;
use crate::judge::{Agreement, Judgment};
use crate::provider::Request;
use crate::runner::Outcome;
use crate::suite::{Assertion, Case, Suite};

/// Where calibrations are kept, relative to the project root: `calibrations/NAME.json`,
/// committed with the judge so CI sees them.
pub(crate) const CALIBRATIONS_DIR: &str = "calibrations";

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
    /// Share of examples on which every sample gave the same verdict (an example whose
    /// samples gave none is not consistent).
    pub self_consistency: f64,
    /// The examples it got wrong: (line of the labels file, human label, judge label).
    pub wrong: Vec<(usize, String, String)>,
    /// The judge's reply on each of `wrong`, redacted and cut short: shown to the person
    /// calibrating, never stored with the calibration (the file is committed).
    #[serde(skip)]
    pub wrong_replies: Vec<String>,
    /// Why the judge gave no verdict, with how many of its calls said so (most first): what
    /// an `error` in the confusion matrix was.
    #[serde(default)]
    pub errors: Vec<(String, usize)>,
    /// When.
    pub calibrated_at: String,
}

impl Calibration {
    /// Where the calibration of `judge` is kept, relative to the project root.
    pub(crate) fn relative(judge: &PromptName) -> PathBuf {
        Path::new(CALIBRATIONS_DIR).join(format!("{}.json", judge.as_str()))
    }

    /// The stored calibration of `judge`, if any (an unreadable one, or one reached through a
    /// symlink, counts as none).
    pub(crate) fn load(root: &Path, judge: &PromptName) -> Option<Self> {
        let text = crate::files::read_confined(root, &Self::relative(judge)).ok()??;
        serde_json::from_str(&text).ok()
    }

    /// The calibration of `judge` a check trusts: the one at the check's baseline revision when
    /// it has one and the change under check edited or deleted it (a change cannot turn a
    /// blocking judge advisory by lowering its kappa or deleting its file), with a note saying
    /// so; else the working tree's.
    pub(crate) fn trusted(project: &Project, judge: &PromptName) -> (Option<Self>, Option<String>) {
        let own = Self::load(&project.root, judge);
        let Some(rev) = &project.trusted_rev else {
            return (own, None);
        };
        let path = Self::relative(judge);
        let at_baseline: Option<Self> = project
            .store
            .read_at(rev, &path.to_string_lossy(), None)
            .ok()
            .flatten()
            .and_then(|text| serde_json::from_str(&text).ok());
        match at_baseline {
            Some(baseline) if own.as_ref() != Some(&baseline) => {
                let note = format!(
                    "the change under check {} the calibration of judge {judge} ({}): the baseline's (kappa {:.2}) is the one used; calibrations change on the baseline branch",
                    if own.is_some() { "edits" } else { "deletes" },
                    path.display(),
                    baseline.agreement.kappa,
                );
                (Some(baseline), Some(note))
            }
            _ => (own, None),
        }
    }
}

/// A judge prompt ready to grade.
pub(crate) struct PreparedJudge {
    pub(crate) name: PromptName,
    pub(crate) prepared: Prepared,
    pub(crate) spec: JudgeSpec,
    pub(crate) provider: Arc<SuiteProvider>,
    params: crate::config::EffectiveParams,
    /// Its stored calibration, when it is of this version of the judge on this model.
    pub(crate) calibration: Option<Calibration>,
    /// What a check must say about its calibration: the baseline's was taken over the
    /// change's, or none applies (the judge's content or model changed since).
    pub(crate) notices: Vec<String>,
}

impl PreparedJudge {
    /// Reads the judge `name` at the working tree, with its provider (its own, else `fallback`).
    pub(crate) fn load(
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
        let params = judge_params(&prepared, &provider);
        let model = provider.provider.fingerprint().to_string();
        let (calibration, replaced) = Calibration::trusted(project, name);
        let lost = calibration
            .as_ref()
            .filter(|c| c.hash != prepared.version.hash.as_str() || c.model != model)
            .map(|c| {
                let was = &c.hash[..c.hash.len().min(12)];
                let now = prepared.version.hash.as_str();
                format!(
                    "judge {name} lost its calibration (kappa {:.2} for content {was} on {}; it is now content {} on {model}): its verdicts only advise until `promptgate judge calibrate {name} --labels FILE` measures it again",
                    c.agreement.kappa,
                    c.model,
                    &now[..now.len().min(12)],
                )
            });
        let calibration = calibration.filter(|_| lost.is_none());
        let notices = replaced.into_iter().chain(lost).collect();
        Ok(Self {
            name: name.clone(),
            prepared,
            spec,
            provider,
            params,
            calibration,
            notices,
        })
    }

    /// The judge's request for `data` (its template's variables), as sample `sample`: the judged
    /// texts between nonce lines, and the shape of its answer for APIs that constrain replies.
    pub(crate) fn request(&self, mut data: Map<String, Value>, sample: u32) -> Result<Request> {
        let hash = self.prepared.version.hash.as_str();
        for key in crate::judge::JUDGED {
            if let Some(Value::String(text)) = data.get(key) {
                let delimited = crate::judge::delimit(hash, text);
                data.insert(key.into(), Value::String(delimited));
            }
        }
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
            reply_schema: Some(crate::judge::reply_schema(&self.spec.verdict)),
        })
    }

    /// A judgment of this judge, with its version and model.
    pub(crate) fn judgment(&self, advisory: bool) -> Judgment {
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
    pub(crate) fn judge(&self, replies: &[&Outcome], advisory: bool) -> Judgment {
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
                let preference = crate::judge::preference(
                    first.label.as_deref().unwrap_or_default(),
                    second.label.as_deref().unwrap_or_default(),
                );
                match preference {
                    Ok(label) => judgment.label = Some(label.to_string()),
                    Err(e) => judgment.error = Some(e),
                }
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
pub(crate) struct JudgeLibrary {
    judges: BTreeMap<PromptName, Arc<PreparedJudge>>,
    /// The agreement each tier requires before a judge's verdicts may block.
    min_kappa: BTreeMap<&'static str, Option<f64>>,
}

impl JudgeLibrary {
    /// Prepares every judge the assertions of `suites` name, checking each assertion fits its
    /// judge (a labelling judge's labels, a scoring judge's threshold, a pairwise judge).
    pub(crate) fn load(
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
                        for notice in &judge.notices {
                            providers.note(notice.clone());
                        }
                        library.judges.insert(name.clone(), Arc::new(judge));
                    }
                    fits(assertion, &library.judges[name], case)?;
                }
            }
        }
        Ok(library)
    }

    /// [`JudgeLibrary::load`] for the suites that target `prompts` (of those `selected`, when
    /// the user selected some).
    pub(crate) fn for_prompts<'p>(
        project: &Project,
        providers: &mut Providers<'_>,
        prompts: impl IntoIterator<Item = &'p PromptName>,
        selected: &[String],
    ) -> Result<Self> {
        let mut judged: Vec<&Suite> = Vec::new();
        for prompt in prompts {
            for suite in suites_for(&project.suites, prompt, selected) {
                if !judged.iter().any(|s| s.name == suite.name) {
                    judged.push(suite);
                }
            }
        }
        Self::load(project, providers, &judged)
    }

    /// The judges the assertions of `suite` name, in words (name, version, provider and
    /// parameters), in name order: part of the identity its noise is remembered under.
    pub(crate) fn described_for(&self, suite: &Suite) -> String {
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
                    described(judge.provider.provider.fingerprint(), &judge.params)
                )
            })
            .collect()
    }

    /// Whether every judge the assertions of `suite` name cannot vary (its provider at its
    /// parameters): a judge-graded assertion is as noisy as its judge.
    pub(crate) fn exact_for(&self, suite: &Suite) -> bool {
        suite
            .cases
            .iter()
            .flat_map(|case| &case.assertions)
            .filter_map(|assertion| self.judges.get(assertion.judge()?))
            .all(|judge| judge.provider.provider.deterministic(&judge.params))
    }

    /// The grading `case` needs on a sample of a prompt of `tier`: one task per judge it
    /// names (pairwise judges only with `against`, the baseline sample's job).
    pub(crate) fn tasks(
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
pub(crate) struct JudgeTask {
    judge: Arc<PreparedJudge>,
    data: Map<String, Value>,
    advisory: bool,
    /// A pairwise task's baseline job.
    pub(crate) against: Option<usize>,
}

impl JudgeTask {
    /// What tells this task apart from another's for the same request.
    pub(crate) fn identity(&self) -> String {
        format!("{}\0{}", self.judge.name, Value::Object(self.data.clone()))
    }

    /// The judge's calls on `output` (for a pairwise judge, against `baseline`, in both
    /// orders), as sample `sample`.
    pub(crate) fn requests(
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
    pub(crate) fn judgment(&self, replies: &[&Outcome]) -> Judgment {
        self.judge.judge(replies, self.advisory)
    }

    /// A pairwise judgment with no call: the two sides are one call, so one output.
    pub(crate) fn identical(&self) -> Judgment {
        let mut judgment = self.judge.judgment(self.advisory);
        judgment.label = Some("same".into());
        judgment.reason = "both versions made the same call, so their outputs are one".into();
        judgment
    }

    /// The provider the judge runs on.
    pub(crate) fn provider(&self) -> &SuiteProvider {
        &self.judge.provider
    }

    /// The judge's name.
    pub(crate) fn name(&self) -> &PromptName {
        &self.judge.name
    }
}
