//! The facts each readiness dimension is scored on, gathered from the prompt, its suites,
//! `promptgate.yaml`, the CI files, its releases and its shadow runs.

use std::path::Path;

use super::labels::{DEFAULT_LABEL, current_version};
use super::shadow_runs::{ShadowRun, shadow_runs};
use crate::pipeline::prepare::Prepared;
use crate::pipeline::project::Project;

use crate::config::ProviderKind;
use crate::errors::Result;
use crate::ids::PromptName;
use crate::readiness::{Assessment, Dimension, Fact, assess};
use crate::suite::{Suite, SuiteKind};

/// Written cases a prompt's regression suites need for the data-quality fact.
const MIN_CASES: usize = 10;
/// How recent the shadow traffic must be, in days.
const FRESH_DAYS: i64 = 30;

/// The assessment of one prompt version (`promote` scores the content it promotes; reports
/// and `readiness`, the working tree).
pub(crate) fn assess_one(
    project: &Project,
    prepared: &Prepared,
    ci: &[String],
    shadow_runs: &[ShadowRun],
) -> Result<Assessment> {
    let name = &prepared.version.name;
    let policy = project
        .config
        .tier(prepared.prompt.metadata.governance.risk_tier);
    let about = About {
        project,
        name,
        prepared,
        suites: project.suites.iter().filter(|s| s.targets(name)).collect(),
    };
    let mut facts = Facts::default();
    governance(&about, &mut facts)?;
    infrastructure(&about, ci, &mut facts);
    observability(&about, ci, &mut facts)?;
    data_quality(&about, shadow_runs, &mut facts);
    Ok(assess(name.as_str(), facts.0, policy.min_readiness))
}

/// What the facts are about.
struct About<'a> {
    project: &'a Project,
    name: &'a PromptName,
    prepared: &'a Prepared,
    /// The suites that target the prompt.
    suites: Vec<&'a Suite>,
}

/// The facts found so far.
#[derive(Default)]
struct Facts(Vec<Fact>);

impl Facts {
    fn add(&mut self, dimension: Dimension, holds: bool, found: String, raise: &str) {
        self.0.push(Fact {
            dimension,
            holds,
            found,
            raise: if holds { String::new() } else { raise.into() },
        });
    }
}

/// Who owns it, who is called, its tier, its approvals.
fn governance(about: &About<'_>, facts: &mut Facts) -> Result<()> {
    let governance = &about.prepared.prompt.metadata.governance;
    let mut fact = |holds: bool, found: String, raise: &str| {
        facts.add(Dimension::Governance, holds, found, raise);
    };
    fact(
        governance.owner.is_some(),
        format!("owner: {}", governance.owner.as_deref().unwrap_or("none")),
        "set `promptgate.owner` in the prompt's front matter",
    );
    fact(
        governance.escalation.is_some(),
        format!(
            "escalation contact: {}",
            governance.escalation.as_deref().unwrap_or("none")
        ),
        "set `promptgate.escalation` (who is called on a breach)",
    );
    let declared = governance.tier_declared;
    fact(
        declared,
        format!(
            "risk tier: {}{}",
            governance.risk_tier.as_str(),
            if declared { "" } else { " (the default)" }
        ),
        "declare `promptgate.risk_tier` (low, standard or exceptional)",
    );
    let approvals = about
        .project
        .store
        .approvals(&about.prepared.version.hash)?
        .len();
    fact(
        approvals >= 1,
        format!("{approvals} approval(s) of the working tree's content"),
        "record an approval: `promptgate approve NAME --as ID`",
    );
    Ok(())
}

/// Timeouts, retries, cost control and CI, over the providers the prompt's suites call.
fn infrastructure(about: &About<'_>, ci: &[String], facts: &mut Facts) {
    let project = about.project;
    let mut fact = |holds: bool, found: String, raise: &str| {
        facts.add(Dimension::Infrastructure, holds, found, raise);
    };
    let mut providers: Vec<&str> = about
        .suites
        .iter()
        .map(|s| {
            s.provider
                .as_deref()
                .unwrap_or_else(|| project.config.default_provider())
        })
        .collect();
    providers.sort_unstable();
    providers.dedup();
    let configs: Vec<(&str, Option<&crate::config::ProviderConfig>)> = providers
        .iter()
        .map(|p| (*p, project.config.providers.get(*p)))
        .collect();
    let remote = |c: &crate::config::ProviderConfig| {
        matches!(
            c.kind,
            ProviderKind::Openai | ProviderKind::Anthropic | ProviderKind::Ollama
        )
    };
    let lacking = |missing: &dyn Fn(&crate::config::ProviderConfig) -> bool| -> Vec<&str> {
        configs
            .iter()
            .filter(|(_, c)| c.is_some_and(|c| remote(c) && missing(c)))
            .map(|(p, _)| *p)
            .collect()
    };
    let list = |v: &[&str]| v.join(", ");
    let no_timeout = lacking(&|c| c.timeout_ms.is_none());
    fact(
        no_timeout.is_empty(),
        if no_timeout.is_empty() {
            format!("timeouts: set or in-process for {}", list(&providers))
        } else {
            format!("no `timeout_ms` on {}", list(&no_timeout))
        },
        "set `timeout_ms` on every remote provider",
    );
    let no_retries = lacking(&|c| c.retries.is_none());
    fact(
        no_retries.is_empty(),
        if no_retries.is_empty() {
            "retries: set or not needed on every provider".into()
        } else {
            format!("no `retries` on {}", list(&no_retries))
        },
        "set `retries` on every remote provider",
    );
    cost_and_ci(&configs, ci, facts);
}

/// Whether every provider is priced and CI caps spend, and whether CI runs the gate.
fn cost_and_ci(
    configs: &[(&str, Option<&crate::config::ProviderConfig>)],
    ci: &[String],
    facts: &mut Facts,
) {
    let mut fact = |holds: bool, found: String, raise: &str| {
        facts.add(Dimension::Infrastructure, holds, found, raise);
    };
    let list = |v: &[&str]| v.join(", ");
    let unpriced: Vec<&str> = configs
        .iter()
        .filter(|(_, c)| c.is_some_and(|c| c.price.is_none() && c.kind != ProviderKind::Local))
        .map(|(p, _)| *p)
        .collect();
    let capped = ci.iter().any(|text| text.contains("--max-cost"));
    fact(
        unpriced.is_empty() && capped,
        format!(
            "{}; {}",
            if unpriced.is_empty() {
                "every provider priced".to_string()
            } else {
                format!("no price on {}", list(&unpriced))
            },
            if capped {
                "CI caps spend with --max-cost"
            } else {
                "no CI job caps spend"
            }
        ),
        "price every provider, and pass `--max-cost` in CI",
    );
    let gated = ci.iter().any(|text| text.contains("promptgate check"));
    fact(
        gated,
        if gated {
            "a CI workflow runs `promptgate check`".into()
        } else {
            "no CI workflow runs `promptgate check`".into()
        },
        "add a CI workflow (see docs/ci/)",
    );
}

/// A shadow suite, a baseline, thresholds, a scheduled monitor.
fn observability(about: &About<'_>, ci: &[String], facts: &mut Facts) -> Result<()> {
    let (project, name) = (about.project, about.name);
    let tier = about.prepared.prompt.metadata.governance.risk_tier;
    let mut fact = |holds: bool, found: String, raise: &str| {
        facts.add(Dimension::Observability, holds, found, raise);
    };
    let shadow = Suite::shadow_for(&project.suites, name);
    fact(
        shadow.is_some(),
        match shadow {
            Some(s) => format!("shadow suite `{}` with {} checks", s.name, s.checks.len()),
            None => "no shadow suite".into(),
        },
        "add a `kind: shadow` suite with reference-free checks",
    );
    let promoted = project.store.promoted(name)?;
    let current = current_version(&project.store, name, DEFAULT_LABEL, &promoted);
    let baseline = current.and_then(|c| c.record.baseline.as_ref());
    fact(
        baseline.is_some(),
        match (current, baseline) {
            (Some(c), Some(b)) => format!(
                "v{} on {DEFAULT_LABEL} has a baseline from its {} run",
                c.version, b.source
            ),
            (Some(c), None) => format!("v{} on {DEFAULT_LABEL} has no baseline", c.version),
            (None, _) => format!("nothing promoted to {DEFAULT_LABEL}"),
        },
        "promote through the gate to record a monitoring baseline",
    );
    let written = project.config.monitor.get(tier);
    let thresholds = written.max_quality_drop.is_some()
        || written.max_error_rate.is_some()
        || written.max_latency_rise.is_some()
        || written.max_cost_rise.is_some()
        || written.min_records.is_some();
    fact(
        thresholds,
        if thresholds {
            format!(
                "monitoring thresholds written for the {} tier",
                tier.as_str()
            )
        } else {
            "monitoring thresholds are the built-in defaults".into()
        },
        "write the tier's thresholds under `monitor:` in promptgate.yaml",
    );
    let monitored = ci.iter().any(|text| text.contains("promptgate monitor"));
    fact(
        monitored,
        if monitored {
            "a scheduled job runs `promptgate monitor`".into()
        } else {
            "no job runs `promptgate monitor`".into()
        },
        "schedule `promptgate monitor` (see docs/ci/monitor.yml)",
    );
    Ok(())
}

/// The suites: size, kinds, coverage of the inputs, fresh traffic.
fn data_quality(about: &About<'_>, shadow_runs: &[ShadowRun], facts: &mut Facts) {
    let (suites, inputs) = (&about.suites, &about.prepared.inputs);
    let mut fact = |holds: bool, found: String, raise: &str| {
        facts.add(Dimension::DataQuality, holds, found, raise);
    };
    let written_cases: usize = suites
        .iter()
        .filter(|s| s.kind == SuiteKind::Regression)
        .map(|s| s.cases.len())
        .sum();
    fact(
        written_cases >= MIN_CASES,
        format!("{written_cases} regression cases"),
        "write at least 10 regression cases",
    );
    let kinds = |k: SuiteKind| suites.iter().any(|s| s.kind == k);
    fact(
        kinds(SuiteKind::Regression) && kinds(SuiteKind::Adversarial),
        format!(
            "suite kinds: {}",
            suites
                .iter()
                .map(|s| s.kind.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "target the prompt with both a regression and an adversarial suite",
    );
    let uncovered: Vec<&str> = inputs
        .declared()
        .unwrap_or_default()
        .into_iter()
        .filter(|var| {
            !suites
                .iter()
                .flat_map(|s| &s.cases)
                .any(|c| c.vars.contains_key(*var))
        })
        .collect();
    fact(
        inputs.declared().is_some() && uncovered.is_empty(),
        match inputs.declared() {
            None => "no input schema to cover".into(),
            Some(_) if uncovered.is_empty() => "every declared input appears in a case".into(),
            Some(_) => format!("no case sets {}", uncovered.join(", ")),
        },
        "declare the inputs (`input.schema`) and give every one a case",
    );
    // The newest shadow run that finished complete: only the prompt's runs' reports are read,
    // newest first, until one is.
    let fresh = shadow_runs
        .iter()
        .filter(|r| &r.prompt == about.name)
        .find(|r| crate::record::finished_complete(&about.project.root, &r.id))
        .and_then(|r| chrono::DateTime::parse_from_rfc3339(&r.started_at).ok())
        .map(|at| (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_days());
    fact(
        fresh.is_some_and(|days| days <= FRESH_DAYS),
        match fresh {
            Some(days) => format!("last shadow run on production traffic {days} day(s) ago"),
            None => "never shadowed on production traffic".into(),
        },
        "run `promptgate shadow NAME --traffic FILE` on recent traffic",
    );
}

/// The text of the repository's CI files (GitHub Actions workflows, GitLab CI, and any YAML
/// under `.ci/`), to look for the commands they run.
pub(crate) fn ci_files(root: &Path) -> Vec<String> {
    let mut files = vec![root.join(".gitlab-ci.yml")];
    for dir in [".github/workflows", ".ci"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
    }
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| serde_saphyr::from_str::<serde_json::Value>(&text).ok())
        .map(|workflow| {
            let mut commands = String::new();
            ci_commands(&workflow, false, &mut commands);
            commands
        })
        .collect()
}

/// The commands a CI file runs (the strings under `run`, `script`, `before_script`,
/// `after_script`, `command` and `args`, one a line) appended to `out`: comments, step names
/// and other text never count as a command the CI runs.
fn ci_commands(value: &serde_json::Value, command: bool, out: &mut String) {
    const COMMAND_KEYS: [&str; 6] = [
        "run",
        "script",
        "before_script",
        "after_script",
        "command",
        "args",
    ];
    match value {
        serde_json::Value::String(text) if command => {
            out.push_str(text);
            out.push('\n');
        }
        serde_json::Value::Array(items) => {
            for item in items {
                ci_commands(item, command, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                ci_commands(item, command || COMMAND_KEYS.contains(&key.as_str()), out);
            }
        }
        _ => {}
    }
}

/// Each of `prompts`' readiness, as its working tree stands (a prompt that cannot be read
/// there is left out: the check reports on it anyway).
pub(crate) fn readiness_of<'p>(
    project: &Project,
    prompts: impl IntoIterator<Item = &'p PromptName>,
) -> Vec<Assessment> {
    let mut prompts: Vec<&PromptName> = prompts.into_iter().collect();
    prompts.sort();
    prompts.dedup();
    let ci = ci_files(&project.root);
    let shadow_runs = shadow_runs(project);
    prompts
        .into_iter()
        .filter_map(|name| {
            let prepared = Prepared::load(project, name, crate::store::WORKTREE);
            assess_one(project, &prepared.ok()?, &ci, &shadow_runs).ok()
        })
        .collect()
}
