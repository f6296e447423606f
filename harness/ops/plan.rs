//! Planning a run: prompt versions prepared for rendering, every case rendered (and its
//! variables checked) before any call, and identical requests merged into one job.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::artifact::{self, Prompt, RenderData, Template};
use crate::conversation::Conversation;

use super::judging::{JudgeLibrary, JudgeTask};
use crate::errors::{Error, Location, Result};
use crate::ids::{ContentHash, PromptName};
use crate::provider::{self, Provider, Request};
use crate::runner::{Job, Lane, LaneSettings, Lanes};
use crate::store::Version;
use crate::suite::Suite;

use super::{Env, Project};

/// A prompt version ready to render.
pub(super) struct Prepared {
    pub(super) version: Version,
    pub(super) prompt: Prompt,
    pub(super) template: Template,
    pub(super) inputs: artifact::InputCheck,
    /// The tools the version offers the model, from `tools/` at its revision and inline.
    pub(super) tools: Vec<artifact::ToolDef>,
}

impl Prepared {
    /// Reads `name@rev`, parses it and compiles its template with the partials at that revision.
    /// The version's `hash` is its effective content ([`Prepared::effective_hash`]), the one
    /// content id approvals, releases and reports share.
    pub(super) fn load(project: &Project, name: &PromptName, rev: &str) -> Result<Self> {
        let mut version = project.store.version(name, rev)?;
        let file = Path::new(&version.name.path()).to_path_buf();
        let prompt = artifact::parse(name.clone(), &file, &version.source, &Default::default())?;
        let partials = project.store.partials(&prompt.template, rev)?;
        let template = Template::compile(&prompt, &partials).map_err(|e| {
            Error::invalid_with_hint(
                Location::file(&file),
                format!("{e} (at {rev})"),
                "partial `a/b` is read from prompts/a/_b.prompt; templates use Handlebars syntax",
            )
        })?;
        let inputs = artifact::InputCheck::new(&prompt);
        let tool_sources = project.store.tool_sources(&prompt.metadata.tools, rev)?;
        let tools = artifact::resolve_tools(
            &prompt.metadata.tools,
            &tool_sources,
            &prompt.metadata.tool_defs,
            prompt
                .metadata
                .tools_at
                .as_ref()
                .unwrap_or(&Location::file(&file)),
        )
        .map_err(|e| at_revision(e, rev))?;
        version.hash = content_of(&version.source, &partials, &tool_sources);
        version.tools = tool_sources
            .into_iter()
            .filter_map(|(name, source)| Some((name, source?)))
            .collect();
        Ok(Self {
            version,
            prompt,
            template,
            inputs,
            tools,
        })
    }

    /// A hash of everything that determines rendering: the prompt and its partials' sources.
    pub(super) fn effective_hash(
        project: &Project,
        name: &PromptName,
        rev: &str,
    ) -> Result<ContentHash> {
        let version = project.store.version(name, rev)?;
        let body = artifact::body_of(&version.source);
        let partials = project.store.partials(body, rev)?;
        let file = Path::new(&version.name.path()).to_path_buf();
        let prompt = artifact::parse(name.clone(), &file, &version.source, &Default::default())?;
        let tool_sources = project.store.tool_sources(&prompt.metadata.tools, rev)?;
        Ok(content_of(&version.source, &partials, &tool_sources))
    }
}

/// The content id of a prompt's source with the partials it renders with and the definitions
/// of the tools it names: a change to any of them is a change to the prompt. (A prompt without
/// tools keeps the id it had before tools existed.)
fn content_of(
    source: &str,
    partials: &BTreeMap<String, String>,
    tools: &BTreeMap<String, Option<String>>,
) -> ContentHash {
    let mut parts: Vec<&[u8]> = vec![source.as_bytes()];
    for (name, partial) in partials {
        parts.push(name.as_bytes());
        parts.push(partial.as_bytes());
    }
    for (name, definition) in tools {
        parts.push(b"\0tool\0");
        parts.push(name.as_bytes());
        parts.push(definition.as_deref().unwrap_or_default().as_bytes());
    }
    ContentHash::of_parts(parts)
}

/// An error in a tool definition read at `rev`, saying which revision when it is not the
/// working tree (the file on disk may differ).
fn at_revision(error: Error, rev: &str) -> Error {
    match error {
        Error::Invalid {
            location,
            message,
            hint,
        } if rev != crate::store::WORKTREE => Error::Invalid {
            location,
            message: format!("{message} (at {rev})"),
            hint,
        },
        other => other,
    }
}

/// The provider a suite runs on, ready to call.
pub(super) struct SuiteProvider {
    /// The name reports show.
    pub(super) name: String,
    /// The configured provider whose responses these are (differs from `name` for a replay).
    pub(super) recorded_as: String,
    pub(super) provider: Arc<dyn Provider>,
    pub(super) lane: Arc<Lane>,
    pub(super) params: crate::config::Params,
}

/// Builds each provider once, keyed by name.
pub(super) struct Providers<'p> {
    project: &'p Project,
    env: &'p Env,
    notify: &'p mut dyn FnMut(super::Progress),
    override_name: Option<&'p str>,
    dry_run: bool,
    built: HashMap<String, Arc<SuiteProvider>>,
    lanes: Lanes,
}

impl<'p> Providers<'p> {
    pub(super) fn new(
        project: &'p Project,
        env: &'p Env,
        override_name: Option<&'p str>,
        notify: &'p mut dyn FnMut(super::Progress),
    ) -> Self {
        Self {
            project,
            env,
            notify,
            override_name,
            dry_run: false,
            built: HashMap::new(),
            lanes: Lanes::default(),
        }
    }

    /// Plans without touching anything: the default local model is not fetched.
    pub(super) fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// The provider for `suite`: the command line's, else the suite's, else the project default.
    pub(super) fn for_suite(&mut self, suite: &Suite) -> Result<Arc<SuiteProvider>> {
        let own = suite
            .provider
            .as_deref()
            .unwrap_or_else(|| self.project.config.default_provider())
            .to_string();
        self.for_name(&own)
    }

    /// The provider named `own` (a suite's, or a judge's): the command line's when it names
    /// one, a replay of `own`'s cassette for `--provider replay`.
    pub(super) fn for_name(&mut self, own: &str) -> Result<Arc<SuiteProvider>> {
        let config = &self.project.config;
        let replay = self.override_name == Some(crate::config::REPLAY)
            && !config.providers.contains_key(crate::config::REPLAY);
        let name = match self.override_name {
            Some(_) if replay => format!("{}:{own}", crate::config::REPLAY),
            Some(name) => name.to_string(),
            None => own.to_string(),
        };
        if let Some(p) = self.built.get(&name) {
            return Ok(p.clone());
        }
        if replay {
            let provider_config = config.provider(own)?;
            let cassette = crate::provider::cassette::Cassette::load(&self.project.root, own)?;
            let provider: Arc<dyn Provider> = Arc::new(crate::provider::Replay::new(cassette));
            // A replay reads a file: the recorded provider's rate limits do not apply to it.
            let settings = LaneSettings {
                concurrency: provider.default_concurrency(),
                ..LaneSettings::default()
            };
            let lane = self.lanes.for_provider(provider.as_ref(), settings);
            let built = Arc::new(SuiteProvider {
                name: name.clone(),
                recorded_as: own.to_string(),
                provider,
                lane,
                params: provider_config.params.over(config.params),
            });
            self.built.insert(name, built.clone());
            return Ok(built);
        }
        let provider_config = config.provider(&name)?;
        let model_dir = super::model_dir(self.env);
        let needs_default_model = provider_config.kind == crate::config::ProviderKind::Local
            && provider_config.model_path.is_none()
            && !crate::provider::local::default_model_path(&model_dir).is_file();
        let provider: Arc<dyn Provider> = if needs_default_model && self.dry_run {
            Arc::new(crate::provider::local::Local::unfetched(
                &crate::provider::local::default_model_path(&model_dir),
            ))
        } else {
            if needs_default_model {
                let notify = &mut *self.notify;
                crate::provider::local::fetch(&model_dir, &mut |note| {
                    notify(super::Progress::Note(note.to_string()))
                })
                .map_err(|message| Error::Provider {
                    provider: name.clone(),
                    message,
                })?;
            }
            provider::build(
                &name,
                &provider_config,
                &self.project.root,
                &model_dir,
                self.env,
            )?
        };
        let settings = lane_settings(&provider_config, provider.default_concurrency());
        let lane = self.lanes.for_provider(provider.as_ref(), settings);
        let built = Arc::new(SuiteProvider {
            name: name.clone(),
            recorded_as: name.clone(),
            provider,
            lane,
            params: provider_config.params.over(config.params),
        });
        self.built.insert(name, built.clone());
        Ok(built)
    }
}

/// How the runner schedules and retries a provider's calls; `default_concurrency` is the
/// provider's own when the config sets none.
fn lane_settings(
    config: &crate::config::ProviderConfig,
    default_concurrency: usize,
) -> LaneSettings {
    let defaults = LaneSettings::default();
    let ms = std::time::Duration::from_millis;
    LaneSettings {
        concurrency: config.concurrency.unwrap_or(default_concurrency),
        rpm: config.rpm,
        tpm: config.tpm,
        retries: config.retries.unwrap_or(defaults.retries),
        backoff: defaults.backoff,
        max_retry_after: config
            .max_retry_after_ms
            .map_or(defaults.max_retry_after, ms),
        case_timeout: config.case_timeout_ms.map_or(defaults.case_timeout, ms),
    }
}

/// Calls, deduplicated: identical requests to the same provider become one job.
#[derive(Default)]
pub(super) struct Jobs {
    pub(super) jobs: Vec<Job>,
    /// The content key of each job (cache and results log).
    pub(super) keys: Vec<String>,
    /// The first case that planned each job (`suite/case#sample on prompt@rev`), for cassettes.
    pub(super) labels: Vec<String>,
    /// The configured name of each job's provider, for cassettes.
    pub(super) providers: Vec<String>,
    /// The conversation each job starts, when it is a conversation case's first call.
    pub(super) conversations: Vec<Option<Box<Conversation>>>,
    /// The judges that grade each job's output once it is done.
    pub(super) judges: Vec<Vec<JudgeTask>>,
    /// The judges the run's suites name.
    pub(super) library: Arc<JudgeLibrary>,
    /// Each job by the digest of its identity, to find duplicates while planning (dropped
    /// before the calls).
    pub(super) index: HashMap<[u8; 32], usize>,
}

impl Jobs {
    /// No jobs yet, graded by the judges of `library`.
    pub(super) fn judged_by(library: Arc<JudgeLibrary>) -> Self {
        Self {
            library,
            ..Self::default()
        }
    }

    /// Makes room for `more` jobs at once (planning 200,000 calls one push at a time would
    /// leave a quarter of every vector empty).
    pub(super) fn reserve(&mut self, more: usize) {
        self.jobs.reserve_exact(more);
        self.keys.reserve_exact(more);
        self.labels.reserve_exact(more);
        self.providers.reserve_exact(more);
        self.conversations.reserve_exact(more);
        self.judges.reserve_exact(more);
        self.index.reserve(more);
    }

    /// Has the pairwise judges of `case` grade job `candidate` against job `baseline` (the
    /// same case and sample on the baseline version).
    pub(super) fn pair(
        &mut self,
        case: &crate::suite::Case,
        tier: crate::artifact::RiskTier,
        (baseline, candidate): (usize, usize),
    ) {
        let tasks = self.library.tasks(case, tier, Some(baseline));
        self.judges[candidate].extend(tasks);
    }

    /// Adds a call, or finds the identical one already planned; returns its index.
    pub(super) fn add(
        &mut self,
        provider: &SuiteProvider,
        request: Request,
        label: String,
    ) -> Result<usize> {
        self.add_call(provider, request, label, (None, Vec::new()))
    }

    /// Adds a call (a conversation's first, when it starts one) that `judges` grade; identical
    /// calls that differ in their conversation or grading stay apart.
    fn add_call(
        &mut self,
        provider: &SuiteProvider,
        request: Request,
        label: String,
        (conversation, judges): (Option<Conversation>, Vec<JudgeTask>),
    ) -> Result<usize> {
        let key = request.key(provider.provider.fingerprint())?;
        // A digest, not the text: 200,000 identities take about 9 MB rather than 25.
        let mut identity = Sha256::new().chain_update(key.as_bytes());
        if let Some(c) = &conversation {
            identity.update(format!(" {:p}", Arc::as_ptr(c.script())).as_bytes());
        }
        for task in &judges {
            identity.update([0]);
            identity.update(task.identity().as_bytes());
        }
        let identity: [u8; 32] = identity.finalize().into();
        if let Some(&i) = self.index.get(&identity) {
            return Ok(i);
        }
        let i = self.jobs.len();
        self.jobs.push(Job {
            provider: provider.provider.clone(),
            lane: provider.lane.clone(),
            request,
        });
        self.keys.push(key.clone());
        self.labels.push(label);
        self.providers.push(provider.recorded_as.clone());
        // Boxed: most jobs start none, and 200,000 empty slots of a whole conversation are 32 MB.
        self.conversations.push(conversation.map(Box::new));
        self.judges.push(judges);
        self.index.insert(identity, i);
        Ok(i)
    }
}

/// Samples per case and version for `suite` on `prepared`: the suite's own, but at least what
/// the prompt's risk tier requires.
pub(super) fn samples_for(project: &Project, suite: &Suite, prepared: &Prepared) -> u32 {
    let tier = prepared.prompt.metadata.governance.risk_tier;
    suite.samples.max(project.config.tier(tier).min_samples)
}

/// Renders every case of `suite` on `prepared` and plans `samples` calls per case, numbered
/// from `first_sample` (a control run plans its second side after the first's samples).
///
/// Returns, per case, the job index of each sample. Variable errors name the suite, case and
/// variable, and stop the run before any call.
pub(super) fn plan_suite(
    suite: &Suite,
    prepared: &Prepared,
    provider: &SuiteProvider,
    jobs: &mut Jobs,
    (first_sample, count): (u32, u32),
) -> Result<Vec<Vec<usize>>> {
    check_target(suite, prepared)?;
    let samples = first_sample..first_sample + count;
    suite
        .cases
        .iter()
        .map(|case| plan_case(suite, case, prepared, provider, jobs, samples.clone()))
        .collect()
}

/// Plans the calls of `samples` of one case; returns their job indices.
pub(super) fn plan_case(
    suite: &Suite,
    case: &crate::suite::Case,
    prepared: &Prepared,
    provider: &SuiteProvider,
    jobs: &mut Jobs,
    samples: std::ops::Range<u32>,
) -> Result<Vec<usize>> {
    let params = effective_params(suite, prepared, provider);
    let messages = render_case(suite, case, prepared)?;
    check_script(case, prepared)?;
    let tier = prepared.prompt.metadata.governance.risk_tier;
    samples
        .map(|sample| {
            let request = Request {
                messages: messages.clone(),
                params,
                sample,
                tools: prepared.tools.clone(),
            };
            let label = format!(
                "{}/{}#{sample} on {}",
                suite.name,
                case.id,
                prepared.version.label()
            );
            let judges = jobs.library.tasks(case, tier, None);
            match &case.script {
                Some(script) => {
                    let (conversation, first) = Conversation::start(script.clone(), request);
                    jobs.add_call(provider, first, label, (Some(conversation), judges))
                }
                None => jobs.add_call(provider, request, label, (None, judges)),
            }
        })
        .collect()
}

/// Checks `case`'s variables and renders it on `prepared`: the messages every sample sends.
pub(super) fn render_case(
    suite: &Suite,
    case: &crate::suite::Case,
    prepared: &Prepared,
) -> Result<Vec<crate::artifact::Message>> {
    check_case(suite, case, prepared)?;
    let data = RenderData {
        input: case.vars.clone(),
        messages: case.history.clone(),
        ..RenderData::default()
    };
    let mut messages = prepared.template.render(&data).map_err(|e| {
        Error::invalid(
            case.location.clone(),
            format!(
                "case `{}`: cannot render {}: {e}",
                case.id,
                prepared.version.label()
            ),
        )
    })?;
    if let Some(line) = case.attack.as_ref().and_then(|a| a.plant.as_deref()) {
        crate::adversarial::plant_in_system(&mut messages, line);
    }
    Ok(messages)
}

/// Refuses a conversation script with results for tools `prepared` does not offer: they could
/// never be called, so the case would not test what it says. Located at the result.
fn check_script(case: &crate::suite::Case, prepared: &Prepared) -> Result<()> {
    let Some(script) = &case.script else {
        return Ok(());
    };
    let offered: Vec<&str> = prepared.tools.iter().map(|t| t.name.as_str()).collect();
    match script
        .all_results()
        .find(|r| !offered.contains(&r.tool.as_str()))
    {
        None => Ok(()),
        Some(result) => Err(Error::invalid_with_hint(
            result.location.clone(),
            format!(
                "case `{}` scripts a result for `{}`, which {} does not offer",
                case.id,
                result.tool,
                prepared.version.label()
            ),
            match offered.is_empty() {
                true => "the prompt offers no tools; name them in its `tools:`".to_string(),
                false => format!(
                    "{}it offers: {}",
                    crate::errors::did_you_mean(&result.tool, offered.iter().copied()),
                    offered.join(", ")
                ),
            },
        )),
    }
}

/// The system prompt `case` sends on `prepared`, when one of its assertions measures leaks of
/// it (`ngram-overlap`); `None` otherwise.
pub(super) fn leak_reference(
    suite: &Suite,
    case: &crate::suite::Case,
    prepared: &Prepared,
) -> Option<String> {
    let measures = case
        .assertions
        .iter()
        .any(|a| matches!(a, crate::suite::Assertion::NgramOverlap { .. }));
    if !measures {
        return None;
    }
    let messages = render_case(suite, case, prepared).ok()?;
    crate::adversarial::system_text(&messages)
}

/// Checks `case`'s variables against `prepared`'s input schema, naming the suite, case,
/// prompt version and variable when they do not fit.
pub(super) fn check_case(
    suite: &Suite,
    case: &crate::suite::Case,
    prepared: &Prepared,
) -> Result<()> {
    match prepared.inputs.check(&case.vars) {
        None => Ok(()),
        Some((variable, problem, detail)) => {
            Err(Error::Variable(Box::new(crate::errors::VariableError {
                location: case.location.clone(),
                suite: suite.name.clone(),
                case: case.id.clone(),
                prompt: prepared.version.label(),
                variable,
                problem,
                detail,
            })))
        }
    }
}

/// The parameters every call of `suite` on `prepared` carries: the suite's, over the prompt's own
/// `config`, over the provider's and the project's, over the built-in defaults.
pub(super) fn effective_params(
    suite: &Suite,
    prepared: &Prepared,
    provider: &SuiteProvider,
) -> crate::config::EffectiveParams {
    suite
        .params
        .over(prompt_params(&prepared.prompt))
        .over(provider.params)
        .effective()
}

/// A provider at its parameters, in words: what its flips depend on.
pub(super) fn described(fingerprint: &str, params: &crate::config::EffectiveParams) -> String {
    format!(
        "{fingerprint} temperature {} top_p {} max_tokens {} seed {}",
        params.temperature, params.top_p, params.max_tokens, params.seed
    )
}

/// The parameters a judge's calls carry: its own `config`, over its provider's and the
/// project's, over the built-in defaults.
pub(super) fn judge_params(
    judge: &Prepared,
    provider: &SuiteProvider,
) -> crate::config::EffectiveParams {
    prompt_params(&judge.prompt)
        .over(provider.params)
        .effective()
}

/// Parameters a prompt's own `config` sets (Dotprompt names), as a layer.
fn prompt_params(prompt: &Prompt) -> crate::config::Params {
    let config = &prompt.metadata.config;
    let number = |key: &str| config.get(key).and_then(serde_json::Value::as_f64);
    crate::config::Params {
        temperature: number("temperature"),
        top_p: number("topP"),
        max_tokens: config
            .get("maxOutputTokens")
            .and_then(serde_json::Value::as_u64)
            .map(|v| v as u32),
        seed: config.get("seed").and_then(serde_json::Value::as_u64),
    }
}

/// The suites that target `prompt`, filtered by the names the user selected (if any).
pub(super) fn suites_for<'s>(
    suites: &'s [Suite],
    prompt: &PromptName,
    selected: &[String],
) -> Vec<&'s Suite> {
    suites
        .iter()
        .filter(|s| s.targets(prompt))
        .filter(|s| selected.is_empty() || selected.contains(&s.name))
        // A shadow suite has cases only when `shadow` filled it with traffic.
        .filter(|s| s.kind != crate::suite::SuiteKind::Shadow || !s.cases.is_empty())
        .collect()
}

/// Checks that every suite the user named exists.
pub(super) fn check_suite_names(suites: &[Suite], selected: &[String]) -> Result<()> {
    for name in selected {
        if !suites.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "unknown suite `{name}`; {}suites: {}",
                crate::errors::did_you_mean(name, known.iter().copied()),
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Groups values by key, keeping first-seen key order.
pub(super) fn ordered_unique<T: Clone + Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for item in items {
        if seen.insert(item.clone(), ()).is_none() {
            out.push(item);
        }
    }
    out
}

/// Refuses an adversarial suite whose `target` is not a variable its prompt declares: the
/// attacks would go nowhere, and every case would "resist". Located at the `target:` line.
pub(super) fn check_target(suite: &Suite, prepared: &Prepared) -> Result<()> {
    let (Some((target, location)), Some(declared)) = (&suite.target, prepared.inputs.declared())
    else {
        return Ok(());
    };
    if declared.contains(&target.as_str()) {
        return Ok(());
    }
    Err(Error::invalid_with_hint(
        location.clone(),
        format!(
            "`target: {target}` is not a variable of {} (it declares {})",
            prepared.version.name,
            declared.join(", ")
        ),
        format!(
            "{}the target is the variable that carries the user's message",
            crate::errors::did_you_mean(target, declared.iter().copied())
        ),
    ))
}
