//! The built-in attack packs, one per category, shipped inside the binary. Every seed was
//! written for promptgate; none comes from a dataset. Payloads are benign (say a canary, reveal a
//! planted fake value), so the packs are safe to run against any model.

use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use super::Plant;

/// One attack category's seeds, with where they plant the canary and how success is detected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pack {
    /// The pack's name, which is also its category (`system-prompt-extraction`).
    #[serde(skip)]
    pub name: &'static str,
    /// Where each seed plants its canary besides the attack text.
    pub plant: Plant,
    /// The detectors every seed gets, as assertion specs.
    pub detectors: Vec<Detector>,
    /// The attacks.
    pub seeds: Vec<Seed>,
}

impl Pack {
    /// Whether the pack judges tool calls against the suite's `tool_policy`.
    pub(crate) fn needs_tool_policy(&self) -> bool {
        self.detectors
            .iter()
            .any(|d| d.kind == "tool-policy" && d.value.is_none())
    }
}

/// A detector as a pack writes it: an assertion type and its options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Detector {
    /// The assertion type (`canary`, `regex-any`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its value, if it takes one.
    #[serde(default)]
    pub value: Option<Value>,
    /// Its threshold, if it takes one.
    #[serde(default)]
    pub threshold: Option<f64>,
}

/// One attack.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Seed {
    /// Unique within the pack.
    pub id: String,
    /// The user's message; `{canary}` marks where the canary goes.
    pub attack: String,
    /// A document the user's message is about, which carries the injection (indirect attacks).
    #[serde(default)]
    pub document: Option<String>,
}

const SOURCES: [(&str, &str); 9] = [
    (
        "prompt-injection",
        include_str!("packs/prompt-injection.yaml"),
    ),
    (
        "indirect-injection",
        include_str!("packs/indirect-injection.yaml"),
    ),
    (
        "system-prompt-extraction",
        include_str!("packs/system-prompt-extraction.yaml"),
    ),
    ("jailbreak", include_str!("packs/jailbreak.yaml")),
    (
        "excessive-agency",
        include_str!("packs/excessive-agency.yaml"),
    ),
    ("pii-leakage", include_str!("packs/pii-leakage.yaml")),
    (
        "output-handling",
        include_str!("packs/output-handling.yaml"),
    ),
    (
        "structured-output",
        include_str!("packs/structured-output.yaml"),
    ),
    (
        "unbounded-output",
        include_str!("packs/unbounded-output.yaml"),
    ),
];

static PACKS: LazyLock<Vec<Pack>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|&(name, text)| {
            let file = Path::new("packs").join(format!("{name}.yaml"));
            let mut pack: Pack = crate::yaml::from_str(&file, text, 1)
                .unwrap_or_else(|e| panic!("built-in pack {name} is invalid: {e}"));
            pack.name = name;
            pack
        })
        .collect()
});

/// Every built-in pack, in catalogue order.
pub(crate) fn all() -> &'static [Pack] {
    &PACKS
}

/// The built-in pack called `name`.
pub(crate) fn get(name: &str) -> Option<&'static Pack> {
    all().iter().find(|p| p.name == name)
}

/// The names of the built-in packs, for messages.
pub(crate) fn names() -> String {
    SOURCES.map(|(name, _)| name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pack_parses_with_at_least_25_unique_seeds() {
        assert_eq!(all().len(), 9);
        for pack in all() {
            assert!(
                pack.seeds.len() >= 25,
                "{} has {}",
                pack.name,
                pack.seeds.len()
            );
            let mut ids: Vec<&str> = pack.seeds.iter().map(|s| s.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(
                ids.len(),
                pack.seeds.len(),
                "duplicate seed id in {}",
                pack.name
            );
            assert!(!pack.detectors.is_empty());
        }
    }

    #[test]
    fn canary_packs_plant_a_canary_in_every_seed() {
        for pack in all() {
            if !pack.detectors.iter().any(|d| d.kind == "canary") || pack.plant != Plant::None {
                continue;
            }
            for seed in &pack.seeds {
                let text = seed.document.as_deref().unwrap_or(&seed.attack);
                assert!(
                    text.contains(super::super::CANARY_SLOT),
                    "{}/{} plants no canary",
                    pack.name,
                    seed.id
                );
            }
        }
    }

    #[test]
    fn refusal_is_never_a_pack_detector() {
        for pack in all() {
            assert!(
                pack.detectors.iter().all(|d| d.kind != "refusal"),
                "{}",
                pack.name
            );
        }
    }
}
