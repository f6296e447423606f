//! The cases of an adversarial suite: the seeds of its packs and its own attacks, each once as
//! written and once per transform, with a canary planted and detectors compiled.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::assertions::{Assertion, AssertionSpec, JsonSchema, ToolPolicy};
use super::case::Case;
use super::raw::{RawCase, RawSuite};
use super::script::{Script, ScriptedResult, Turn, UnexpectedCalls};
use crate::adversarial::packs::{self, Pack};
use crate::adversarial::transform::{self, Transform};
use crate::adversarial::{Attack, CANARY_SLOT, Plant, canary_for};
use crate::errors::{Error, Location, Result};

/// Category of a suite's own attack that names none.
const OWN_CATEGORY: &str = "custom";

/// An adversarial suite's settings, ready to build cases.
pub(super) struct AttackSuite<'d> {
    /// The prompt variable the attack text goes into.
    target: String,
    /// The prompt variable documents go into; without it they follow the attack text.
    context: Option<String>,
    /// The tool whose result carries documents, with where the suite names it: such attacks
    /// are conversations in which the tool returns the document.
    context_tool: Option<(String, Location)>,
    /// Conversation settings, for attacks through a tool.
    conversation: super::script::ConversationDefaults,
    /// Values of the prompt's other variables.
    vars: Map<String, Value>,
    /// The packs, each with where the suite names it.
    packs: Vec<(&'static Pack, Location)>,
    /// Every case is also run once per transform.
    transforms: Vec<Transform>,
    /// What structured output must keep to; `None` accepts any JSON.
    schema: Option<Arc<JsonSchema>>,
    /// What the agent may do with its tools, with where the suite writes it.
    tool_policy: Option<(Arc<ToolPolicy>, Location)>,
    /// The suite's default assertions, which every case gets first.
    defaults: &'d [Assertion],
}

/// One of the suite's own attacks, as written.
pub(super) struct OwnAttack {
    pub(super) id: Option<String>,
    pub(super) description: Option<String>,
    pub(super) category: Option<String>,
    pub(super) attack: Option<String>,
    pub(super) document: Option<String>,
    pub(super) plant: Plant,
    pub(super) vars: Map<String, Value>,
    pub(super) file: Option<String>,
    pub(super) assertions: Vec<Assertion>,
    pub(super) location: Location,
}

impl<'d> AttackSuite<'d> {
    /// Reads the adversarial settings of `raw` (the file at `path`).
    pub(super) fn new(
        path: &Path,
        raw: &RawSuite,
        defaults: &'d [Assertion],
        conversation: super::script::ConversationDefaults,
    ) -> Result<Self> {
        let at = |loc: &serde_saphyr::Location| crate::yaml::location(path, loc, 1);
        let context_tool = raw
            .context_tool
            .as_ref()
            .map(|t| (t.value.clone(), at(&t.referenced)));
        if let (Some((_, location)), Some(_)) = (&context_tool, &raw.context) {
            return Err(Error::invalid_with_hint(
                location.clone(),
                "a suite has both `context` and `context_tool`",
                "documents go into a variable (`context`) or come back from a tool (`context_tool`), not both",
            ));
        }
        let target = raw
            .target
            .as_ref()
            .map(|t| t.value.clone())
            .ok_or_else(|| {
                Error::invalid_with_hint(
                    Location::new(path, 1, 1),
                    "an adversarial suite names no `target`",
                    "add `target: VAR`, the prompt variable that carries the user's message",
                )
            })?;
        let mut packs = Vec::new();
        for name in raw.pack.iter().chain(&raw.packs) {
            let location = at(&name.referenced);
            if name.value == "all" {
                // A pack that judges tool calls needs the suite's `tool_policy`; `all` takes it
                // when there is one.
                let fits = |p: &&Pack| raw.tool_policy.is_some() || !p.needs_tool_policy();
                packs.extend(
                    packs::all()
                        .iter()
                        .filter(fits)
                        .map(|p| (p, location.clone())),
                );
                continue;
            }
            let pack = packs::get(&name.value).ok_or_else(|| {
                Error::invalid_with_hint(
                    location.clone(),
                    format!("unknown attack pack `{}`", name.value),
                    format!(
                        "{}packs: {}, or `all`",
                        crate::errors::did_you_mean(
                            &name.value,
                            packs::all().iter().map(|p| p.name)
                        ),
                        packs::names()
                    ),
                )
            })?;
            packs.push((pack, location));
        }
        let mut transforms = Vec::new();
        for name in &raw.transforms {
            let parsed = Transform::parse(&name.value).ok_or_else(|| {
                Error::invalid_with_hint(
                    at(&name.referenced),
                    format!("unknown transform `{}`", name.value),
                    format!("transforms: {}", transform::NAMES),
                )
            })?;
            transforms.extend(parsed);
        }
        let schema = match &raw.schema {
            None => None,
            Some(schema) => {
                let validator = jsonschema::validator_for(schema).map_err(|e| {
                    Error::invalid(
                        Location::file(path),
                        format!("invalid JSON Schema in `schema`: {e}"),
                    )
                })?;
                Some(Arc::new(JsonSchema {
                    schema: schema.clone(),
                    validator,
                }))
            }
        };
        let tool_policy = match &raw.tool_policy {
            None => None,
            Some(policy) => {
                let location = at(&policy.referenced);
                let parsed =
                    ToolPolicy::parse(&policy.value).map_err(|(message, hint)| Error::Invalid {
                        location: location.clone(),
                        message: format!("`tool_policy`: {message}"),
                        hint,
                    })?;
                Some((Arc::new(parsed), location))
            }
        };
        Ok(Self {
            target,
            context: raw.context.clone(),
            context_tool,
            conversation,
            vars: raw.vars.clone(),
            packs,
            transforms,
            schema,
            tool_policy,
            defaults,
        })
    }

    /// Adds the cases of every pack the suite names.
    pub(super) fn pack_cases(&self, out: &mut Vec<Case>) -> Result<()> {
        for (pack, location) in &self.packs {
            let detectors = self.pack_detectors(pack, location)?;
            let mut assertions = self.defaults.to_vec();
            assertions.extend(detectors);
            for seed in &pack.seeds {
                self.variants(
                    &Variant {
                        id: format!("{}/{}", pack.name, seed.id),
                        description: None,
                        category: pack.name,
                        attack: &seed.attack,
                        document: seed.document.as_deref(),
                        plant: pack.plant,
                        vars: &Map::new(),
                        assertions: &assertions,
                        location,
                    },
                    out,
                );
            }
        }
        Ok(())
    }

    /// Adds one of the suite's own attacks, after checking it can be detected.
    pub(super) fn own_case(&self, own: OwnAttack, out: &mut Vec<Case>) -> Result<()> {
        let location = own.location;
        if own.file.is_some() {
            return Err(Error::invalid_with_hint(
                location,
                "an adversarial suite cannot read cases from a file",
                "write each attack inline with `id` and `attack`",
            ));
        }
        let id = own.id.ok_or_else(|| {
            Error::invalid_with_hint(
                location.clone(),
                "case has no `id`",
                "give every case a unique `id`",
            )
        })?;
        let attack = own.attack.ok_or_else(|| {
            Error::invalid_with_hint(
                location.clone(),
                format!("attack case `{id}` has no `attack`"),
                "write the user's message as `attack: \"...\"`; `{canary}` marks where the canary goes",
            )
        })?;
        let planted = own.plant != Plant::None
            || attack.contains(CANARY_SLOT)
            || own
                .document
                .as_deref()
                .is_some_and(|d| d.contains(CANARY_SLOT));
        let mut assertions = self.defaults.to_vec();
        assertions.extend(own.assertions);
        if assertions.is_empty() && planted {
            assertions.push(Assertion::Canary);
        }
        if assertions.is_empty() {
            return Err(Error::invalid_with_hint(
                location,
                format!("attack case `{id}` has no detector"),
                "add detectors under `assert` (`canary`, `regex-any`, `json-schema`, `stop-reason`, `ngram-overlap`)",
            ));
        }
        if !planted && assertions.iter().any(|a| matches!(a, Assertion::Canary)) {
            return Err(Error::invalid_with_hint(
                location,
                format!("attack case `{id}` detects a canary it never plants"),
                format!(
                    "put `{CANARY_SLOT}` in its `attack` or `document`, or give it `plant:` ({})",
                    Plant::NAMES
                ),
            ));
        }
        if assertions.iter().all(|a| matches!(a, Assertion::Refusal)) {
            return Err(Error::invalid_with_hint(
                location,
                format!("attack case `{id}` has `refusal` as its only detector"),
                "refusal phrasing is a weak signal: add a `canary`, `regex-any` or other detector",
            ));
        }
        self.variants(
            &Variant {
                id,
                description: own.description,
                category: own.category.as_deref().unwrap_or(OWN_CATEGORY),
                attack: &attack,
                document: own.document.as_deref(),
                plant: own.plant,
                vars: &own.vars,
                assertions: &assertions,
                location: &location,
            },
            out,
        );
        Ok(())
    }

    /// A pack's detectors, compiled; `json-schema` without a value checks the suite's `schema`
    /// (any JSON when the suite has none), and `tool-policy` the suite's `tool_policy` (which
    /// the pack then needs, at `location` where the suite names it).
    fn pack_detectors(&self, pack: &Pack, location: &Location) -> Result<Vec<Assertion>> {
        pack.detectors
            .iter()
            .map(|d| {
                if d.kind == "tool-policy" && d.value.is_none() {
                    return match &self.tool_policy {
                        Some((policy, _)) => Ok(Assertion::ToolPolicy(policy.clone())),
                        None => Err(Error::invalid_with_hint(
                            location.clone(),
                            format!("the `{}` pack judges tool calls against the suite's `tool_policy`, and this suite has none", pack.name),
                            "add `tool_policy: { forbid: [delete_account], args: { issue_refund: { properties: { amount: { maximum: 100 } } } } }`",
                        )),
                    };
                }
                if d.kind == "json-schema" && d.value.is_none() {
                    return Ok(match &self.schema {
                        Some(schema) => Assertion::JsonSchema(schema.clone()),
                        None => Assertion::IsJson,
                    });
                }
                AssertionSpec::<()> {
                    value: d.value.clone(),
                    threshold: d.threshold,
                    ..AssertionSpec::default()
                }
                .compile(&d.kind)
                .map_err(|(message, _)| {
                    Error::Internal(format!("built-in pack {}: {message}", pack.name))
                })
            })
            .collect()
    }

    /// Adds `v` as written and once per transform.
    fn variants(&self, v: &Variant<'_>, out: &mut Vec<Case>) {
        out.push(self.case(v, None));
        for &t in &self.transforms {
            out.push(self.case(v, Some(t)));
        }
    }

    /// One case of `v`: its canary derived from its id, the transform applied to its payload
    /// (the document when there is one, else the attack), its variables filled.
    fn case(&self, v: &Variant<'_>, transform: Option<Transform>) -> Case {
        let id = match transform {
            Some(t) => format!("{}~{}", v.id, t.name()),
            None => v.id.clone(),
        };
        let canary = canary_for(&id);
        let fill = |text: &str| text.replace(CANARY_SLOT, &canary);
        let payload = |text: &str| match transform {
            Some(t) => t.apply(text, &canary),
            None => fill(text),
        };
        let (attack, document) = match v.document {
            Some(document) => (fill(v.attack), Some(payload(document))),
            None => (payload(v.attack), None),
        };
        let mut vars = self.vars.clone();
        vars.extend(v.vars.iter().map(|(k, val)| (k.clone(), val.clone())));
        let mut script = None;
        let mut through = None;
        let message = match (document, &self.context, &self.context_tool) {
            (Some(document), _, Some((tool, location))) => {
                script = Some(Arc::new(self.tool_returns(tool, location, document)));
                through = Some(tool.clone());
                // The user's own request, when the suite gives one, is what makes the agent
                // call the tool; else the attack's task.
                match self.vars.get(&self.target) {
                    Some(Value::String(request)) => request.clone(),
                    _ => attack,
                }
            }
            (Some(document), Some(context), None) => {
                vars.insert(context.clone(), Value::String(document));
                attack
            }
            (Some(document), None, None) => format!("{attack}\n\n{document}"),
            (None, ..) => attack,
        };
        vars.insert(self.target.clone(), Value::String(message));
        Case {
            id,
            description: v.description.clone(),
            vars,
            expected: None,
            assertions: v.assertions.to_vec(),
            location: v.location.clone(),
            attack: Some(Box::new(Attack {
                category: v.category.to_string(),
                plant: v.plant.line(&canary),
                canary,
                through,
            })),
            history: Vec::new(),
            script,
        }
    }

    /// A one-turn conversation in which every call of `tool` returns `document`.
    fn tool_returns(&self, tool: &str, location: &Location, document: String) -> Script {
        Script {
            turns: vec![Turn {
                user: None,
                results: Vec::new(),
                assertions: Vec::new(),
            }],
            results: vec![ScriptedResult {
                tool: tool.to_string(),
                args: None,
                result: Value::String(document),
                location: location.clone(),
            }],
            max_steps: self.conversation.max_steps,
            unexpected: UnexpectedCalls::Answer,
        }
    }
}

/// One attack before its variants are made.
struct Variant<'a> {
    id: String,
    description: Option<String>,
    category: &'a str,
    attack: &'a str,
    document: Option<&'a str>,
    plant: Plant,
    vars: &'a Map<String, Value>,
    assertions: &'a [Assertion],
    location: &'a Location,
}

/// Refuses adversarial settings in a regression suite, naming the first one found.
pub(super) fn reject_attack_fields(raw: &RawSuite, kind_at: &Location) -> Result<()> {
    let tolerance = raw.tolerance.as_ref().map(|t| &t.value);
    let set = [
        ("target", raw.target.is_some()),
        ("context", raw.context.is_some()),
        ("context_tool", raw.context_tool.is_some()),
        ("vars", !raw.vars.is_empty()),
        ("pack", raw.pack.is_some()),
        ("packs", !raw.packs.is_empty()),
        ("transforms", !raw.transforms.is_empty()),
        ("schema", raw.schema.is_some()),
        ("tool_policy", raw.tool_policy.is_some()),
        (
            "tolerance.max_new_successes",
            tolerance.is_some_and(|t| t.max_new_successes.is_some()),
        ),
        (
            "tolerance.max_asr",
            tolerance.is_some_and(|t| t.max_asr.is_some()),
        ),
        (
            "tolerance.max_asr_increase",
            tolerance.is_some_and(|t| t.max_asr_increase.is_some()),
        ),
    ];
    reject_first(
        &set,
        kind_at,
        "adversarial suites",
        "write `kind: adversarial`, or remove it",
    )
}

/// Refuses attack fields on a regression suite's case.
pub(super) fn reject_case_attack_fields(raw: &RawCase, location: &Location) -> Result<()> {
    let set = [
        ("attack", raw.attack.is_some()),
        ("document", raw.document.is_some()),
        ("category", raw.category.is_some()),
        ("plant", raw.plant.is_some()),
    ];
    reject_first(
        &set,
        location,
        "cases of adversarial suites",
        "write `kind: adversarial` at the top of the suite, or remove it",
    )
}

/// Refuses conversation fields on an adversarial suite's own attack: its attacks are single
/// messages (attacks through a tool's result use the suite's `context_tool`).
pub(super) fn reject_conversation_fields(raw: &RawCase, location: &Location) -> Result<()> {
    let set = [
        ("turns", !raw.turns.is_empty()),
        ("results", !raw.results.is_empty()),
        ("history", !raw.history.is_empty()),
        ("max_steps", raw.max_steps.is_some()),
    ];
    reject_first(
        &set,
        location,
        "cases of regression suites",
        "an attack that arrives in a tool's result is written with the suite's `context_tool: TOOL`",
    )
}

/// An error naming the first field of `fields` that is present, which is only for `only_for`.
fn reject_first(
    fields: &[(&str, bool)],
    location: &Location,
    only_for: &str,
    hint: &str,
) -> Result<()> {
    match fields.iter().find(|(_, present)| *present) {
        Some((field, _)) => Err(Error::invalid_with_hint(
            location.clone(),
            format!("`{field}` is only for {only_for}"),
            hint,
        )),
        None => Ok(()),
    }
}
