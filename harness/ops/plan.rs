//! Planning a run: prompt versions prepared for rendering, every case rendered (and its
//! variables checked) before any call, and identical requests merged into one job.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use crate::artifact::{self, Prompt, RenderData, Template};
use crate::errors::{Error, Location, Result};
use crate::ids::{ContentHash, PromptName};
use crate::provider::{self, Provider, Request};
use crate::runner::{Job, Limits};
use crate::store::Version;
use crate::suite::Suite;

use super::{Env, Project};

/// A prompt version ready to render.
pub(super) struct Prepared {
    pub(super) version: Version,
    pub(super) prompt: Prompt,
    pub(super) template: Template,
    pub(super) inputs: artifact::InputCheck,
}

impl Prepared {
    /// Reads `name@rev`, parses it and compiles its template with the partials at that revision.
    pub(super) fn load(project: &Project, name: &PromptName, rev: &str) -> Result<Self> {
        let version = project.store.version(name, rev)?;
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
        Ok(Self {
            version,
            prompt,
            template,
            inputs,
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
        let mut parts: Vec<&[u8]> = vec![version.source.as_bytes()];
        for (name, source) in &partials {
            parts.push(name.as_bytes());
            parts.push(source.as_bytes());
        }
        Ok(ContentHash::of_parts(parts))
    }
}

/// The provider a suite runs on, ready to call.
pub(super) struct SuiteProvider {
    pub(super) name: String,
    pub(super) provider: Arc<dyn Provider>,
    pub(super) limit: Arc<tokio::sync::Semaphore>,
    pub(super) params: crate::config::Params,
}

/// Builds each provider once, keyed by name.
pub(super) struct Providers<'p> {
    project: &'p Project,
    env: &'p Env,
    notify: &'p mut dyn FnMut(super::Progress),
    override_name: Option<&'p str>,
    built: HashMap<String, Arc<SuiteProvider>>,
    limits: Limits,
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
            built: HashMap::new(),
            limits: Limits::default(),
        }
    }

    /// The provider for `suite`: the command line's, else the suite's, else the project default.
    pub(super) fn for_suite(&mut self, suite: &Suite) -> Result<Arc<SuiteProvider>> {
        let config = &self.project.config;
        let name = self
            .override_name
            .or(suite.provider.as_deref())
            .unwrap_or_else(|| config.default_provider())
            .to_string();
        if let Some(p) = self.built.get(&name) {
            return Ok(p.clone());
        }
        let provider_config = config.provider(&name)?;
        let model_dir = super::model_dir(self.env);
        let needs_default_model = provider_config.kind == crate::config::ProviderKind::Local
            && provider_config.model_path.is_none()
            && !crate::provider::local::default_model_path(&model_dir).is_file();
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
        let provider = provider::build(
            &name,
            &provider_config,
            &self.project.root,
            &model_dir,
            self.env,
        )?;
        let permits = provider_config
            .concurrency
            .unwrap_or_else(|| provider.default_concurrency());
        let limit = self.limits.for_provider(provider.as_ref(), permits);
        let built = Arc::new(SuiteProvider {
            name: name.clone(),
            provider,
            limit,
            params: provider_config.params.over(config.params),
        });
        self.built.insert(name, built.clone());
        Ok(built)
    }
}

/// Calls, deduplicated: identical requests to the same provider become one job.
#[derive(Default)]
pub(super) struct Jobs {
    pub(super) jobs: Vec<Job>,
    pub(super) keys: Vec<String>,
    index: HashMap<String, usize>,
}

impl Jobs {
    /// Adds a call, or finds the identical one already planned; returns its index.
    pub(super) fn add(&mut self, provider: &SuiteProvider, request: Request) -> usize {
        let identity =
            serde_json::to_string(&(provider.provider.fingerprint(), &request)).unwrap_or_default();
        let key = ContentHash::of(identity).as_str().to_string();
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.jobs.len();
        self.jobs.push(Job {
            provider: provider.provider.clone(),
            limit: provider.limit.clone(),
            request,
        });
        self.keys.push(key.clone());
        self.index.insert(key, i);
        i
    }
}

/// Renders every case of `suite` on `prepared` and plans `samples` calls per case.
///
/// Returns, per case, the job index of each sample. Variable errors name the suite, case and
/// variable, and stop the run before any call.
pub(super) fn plan_suite(
    suite: &Suite,
    prepared: &Prepared,
    provider: &SuiteProvider,
    jobs: &mut Jobs,
) -> Result<Vec<Vec<usize>>> {
    let params = effective_params(suite, prepared, provider);
    let mut per_case = Vec::with_capacity(suite.cases.len());
    for case in &suite.cases {
        let messages = render_case(suite, case, prepared)?;
        let samples = (0..suite.samples)
            .map(|sample| {
                jobs.add(
                    provider,
                    Request {
                        messages: messages.clone(),
                        params,
                        sample,
                    },
                )
            })
            .collect();
        per_case.push(samples);
    }
    Ok(per_case)
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
        ..RenderData::default()
    };
    prepared.template.render(&data).map_err(|e| {
        Error::invalid(
            case.location.clone(),
            format!(
                "case `{}`: cannot render {}: {e}",
                case.id,
                prepared.version.label()
            ),
        )
    })
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
        .collect()
}

/// Checks that every suite the user named exists.
pub(super) fn check_suite_names(suites: &[Suite], selected: &[String]) -> Result<()> {
    for name in selected {
        if !suites.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "unknown suite `{name}`; suites: {}",
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
