//! Preparing what a run calls: each prompt version read at its revision and compiled with its
//! partials and tools, each provider built once with its lane, and every case rendered (its
//! variables checked) before any call, with the parameters its calls carry.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::progress::Progress;
use super::project::{Env, Project, model_dir};
use crate::artifact::{self, Prompt, RenderData, Template};
use crate::errors::{Error, Location, Result};
use crate::ids::{ContentHash, PromptName};
use crate::provider::{self, Provider};
use crate::runner::{Lane, LaneSettings, Lanes};
use crate::store::Version;
use crate::suite::Suite;

/// A prompt version ready to render.
pub(crate) struct Prepared {
    pub(crate) version: Version,
    pub(crate) prompt: Prompt,
    pub(crate) template: Template,
    pub(crate) inputs: artifact::InputCheck,
    /// The tools the version offers the model, from `tools/` at its revision and inline.
    pub(crate) tools: Vec<artifact::ToolDef>,
    /// Each offered tool's input schema, compiled once: what its calls are held to.
    pub(crate) tool_schemas: Vec<(String, crate::suite::JsonSchema)>,
}

impl Prepared {
    /// Reads `name@rev`, parses it and compiles its template with the partials at that revision.
    /// The version's `hash` is its effective content ([`Prepared::effective_hash`]), the one
    /// content id approvals, releases and reports share.
    pub(crate) fn load(project: &Project, name: &PromptName, rev: &str) -> Result<Self> {
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
        let tool_schemas = tools
            .iter()
            .filter_map(|tool| {
                let validator = jsonschema::validator_for(&tool.input_schema).ok()?;
                let schema = tool.input_schema.clone();
                Some((
                    tool.name.clone(),
                    crate::suite::JsonSchema { schema, validator },
                ))
            })
            .collect();
        Ok(Self {
            version,
            prompt,
            template,
            inputs,
            tools,
            tool_schemas,
        })
    }

    /// A hash of everything that determines rendering: the prompt and its partials' sources.
    pub(crate) fn effective_hash(
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
pub(crate) struct SuiteProvider {
    /// The name reports show.
    pub(crate) name: String,
    /// The configured provider whose responses these are (differs from `name` for a replay).
    pub(crate) recorded_as: String,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) lane: Arc<Lane>,
    pub(crate) params: crate::config::Params,
}

/// Builds each provider once, keyed by name.
pub(crate) struct Providers<'p> {
    project: &'p Project,
    env: &'p Env,
    notify: &'p mut dyn FnMut(Progress),
    override_name: Option<&'p str>,
    dry_run: bool,
    built: HashMap<String, Arc<SuiteProvider>>,
    lanes: Lanes,
}

impl<'p> Providers<'p> {
    pub(crate) fn new(
        project: &'p Project,
        env: &'p Env,
        override_name: Option<&'p str>,
        notify: &'p mut dyn FnMut(Progress),
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

    /// Tells the user `text` (what the providers' and judges' setup found).
    pub(crate) fn note(&mut self, text: String) {
        (self.notify)(Progress::Note(text));
    }

    /// Plans without touching anything: the default local model is not fetched.
    pub(crate) fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// The provider for `suite`: the command line's, else the suite's, else the project default.
    pub(crate) fn for_suite(&mut self, suite: &Suite) -> Result<Arc<SuiteProvider>> {
        let own = suite
            .provider
            .as_deref()
            .unwrap_or_else(|| self.project.config.default_provider())
            .to_string();
        self.for_name(&own)
    }

    /// The configuration of the provider `name`: the config's, else (for the command line's
    /// `--model KIND/MODEL` only) one made from the conventional environment ([`ad_hoc`]).
    fn config_of(&self, name: &str) -> Result<crate::config::ProviderConfig> {
        match self.project.config.provider(name) {
            Ok(configured) => Ok(configured),
            Err(e) => ad_hoc(name, self.env)
                .filter(|_| self.override_name == Some(name))
                .ok_or(e),
        }
    }

    /// The provider named `own` (a suite's, or a judge's): the command line's when it names
    /// one, a replay of `own`'s cassette for `--provider replay`.
    pub(crate) fn for_name(&mut self, own: &str) -> Result<Arc<SuiteProvider>> {
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
        let provider_config = self.config_of(&name)?;
        if self.project.distrusted.contains(&name) {
            refuse_distrusted(&name, &provider_config)?;
        }
        let model_dir = model_dir(self.env);
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
                    notify(Progress::Note(note.to_string()))
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

/// Checks `case`'s variables and renders it on `prepared`: the messages every sample sends.
pub(crate) fn render_case(
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
pub(crate) fn check_script(case: &crate::suite::Case, prepared: &Prepared) -> Result<()> {
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
pub(crate) fn leak_reference(
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
pub(crate) fn check_case(
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
pub(crate) fn effective_params(
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
pub(crate) fn described(fingerprint: &str, params: &crate::config::EffectiveParams) -> String {
    format!(
        "{fingerprint} temperature {} top_p {} max_tokens {} seed {}",
        params.temperature, params.top_p, params.max_tokens, params.seed
    )
}

/// The parameters a judge's calls carry: its own `config`, over its provider's and the
/// project's, over the built-in defaults.
pub(crate) fn judge_params(
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
pub(crate) fn suites_for<'s>(
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
pub(crate) fn check_suite_names(suites: &[Suite], selected: &[String]) -> Result<()> {
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
pub(crate) fn ordered_unique<T: Clone + Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
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
pub(crate) fn check_target(suite: &Suite, prepared: &Prepared) -> Result<()> {
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

/// Why the attacks of the adversarial suite `suite` would never reach `prepared`, when they
/// would not: a probe put in its `target` variable (on the suite's first case) appears in
/// none of the messages the version renders, so every case would "resist".
pub(crate) fn unreached_target(suite: &Suite, prepared: &Prepared) -> Option<String> {
    let ((target, _), case) = (suite.target.as_ref()?, suite.cases.first()?);
    const PROBE: &str = "promptgate-target-probe-7f3a";
    let mut input = case.vars.clone();
    input.insert(target.clone(), serde_json::Value::String(PROBE.into()));
    let data = RenderData {
        input,
        messages: case.history.clone(),
        ..RenderData::default()
    };
    // A version that cannot render at all is reported by the case that fails to render.
    let messages = prepared.template.render(&data).ok()?;
    if messages.iter().any(|m| m.text_content().contains(PROBE)) {
        return None;
    }
    Some(format!(
        "{} does not render `{{{{{target}}}}}`, so the suite's attacks never reach the model and every case would \"resist\": put `{{{{{target}}}}}` back where the user's message goes, or point `target:` at the variable that carries it",
        prepared.version.label()
    ))
}

/// The provider `--model KIND/MODEL` names with no config block: `openai/…` (the key from
/// `OPENAI_API_KEY` when set, the server from `OPENAI_BASE_URL`), `anthropic/…`
/// (`ANTHROPIC_API_KEY`) or `ollama/…` (`OLLAMA_HOST`), as those tools' own clients read them.
fn ad_hoc(name: &str, env: &Env) -> Option<crate::config::ProviderConfig> {
    use crate::config::ProviderKind;
    let (kind, model) = name.split_once('/')?;
    let set = |var: &str| env.get(var).filter(|v| !v.trim().is_empty()).cloned();
    let (kind, key, base_url) = match kind {
        "openai" => {
            let base_url = set("OPENAI_BASE_URL");
            // A compatible server may need no key; OpenAI's own API does.
            let key = (base_url.is_none() || set("OPENAI_API_KEY").is_some())
                .then(|| "OPENAI_API_KEY".to_string());
            (ProviderKind::Openai, key, base_url)
        }
        "anthropic" => (
            ProviderKind::Anthropic,
            Some("ANTHROPIC_API_KEY".to_string()),
            set("ANTHROPIC_BASE_URL"),
        ),
        "ollama" => {
            let host = set("OLLAMA_HOST").map(|h| match h.contains("://") {
                true => h,
                false => format!("http://{h}"),
            });
            (ProviderKind::Ollama, None, host)
        }
        _ => return None,
    };
    let mut config = crate::config::ProviderConfig::of_kind(kind);
    config.model = Some(model.to_string()).filter(|m| !m.is_empty());
    config.api_key_env = key;
    config.base_url = base_url;
    Some(config)
}

/// Refuses a provider the change under check added or changed (in CI, see
/// [`Project::trust_baseline`]) when running it would hand it the job's secrets:
/// an `exec` command (it runs as the job, beside its environment) and any provider that reads
/// an API key. One that needs neither (an Ollama server, say) runs as written.
fn refuse_distrusted(name: &str, config: &crate::config::ProviderConfig) -> Result<()> {
    let secret = match (config.kind, &config.api_key_env) {
        (crate::config::ProviderKind::Exec, _) => "runs a command in the CI job".to_string(),
        (_, Some(var)) => format!("reads the secret `{var}`"),
        _ => return Ok(()),
    };
    Err(Error::refused(format!(
        "provider `{name}` is added or changed by the change under check (it differs from the baseline's config), and it {secret}: in CI a pull request's own providers never get the job's secrets; land the provider change on the baseline branch first, or let the maintainers allow it there with `trust_changed_providers: true`"
    )))
}
