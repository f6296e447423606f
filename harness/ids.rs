//! Typed identifiers: prompt names, content hashes and run ids.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A prompt's name: its path under `prompts/` without the `.prompt` extension
/// (`prompts/support/triage.prompt` is `support/triage`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PromptName(String);

impl PromptName {
    /// Wraps a name, normalising path separators and stripping a `.prompt` suffix.
    pub fn new(name: impl AsRef<str>) -> Self {
        let name = name.as_ref().replace('\\', "/");
        let name = name.strip_suffix(".prompt").unwrap_or(&name);
        let name = name.strip_prefix("prompts/").unwrap_or(name);
        Self(name.trim_matches('/').to_string())
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path of the prompt file relative to the project root.
    pub fn path(&self) -> String {
        format!("prompts/{}.prompt", self.0)
    }

    /// The name without a Dotprompt variant (`support/triage.terse` → `support/triage`).
    pub fn base(&self) -> PromptName {
        match self.variant() {
            Some(v) => Self(self.0[..self.0.len() - v.len() - 1].to_string()),
            None => self.clone(),
        }
    }

    /// The Dotprompt variant, the part after the last `.` of the file stem, if any.
    pub fn variant(&self) -> Option<&str> {
        let stem = self.0.rsplit('/').next().unwrap_or(&self.0);
        stem.split_once('.').map(|(_, v)| v)
    }

    /// Whether this is a partial (`_name.prompt`), which is included, never run alone.
    pub fn is_partial(&self) -> bool {
        self.0
            .rsplit('/')
            .next()
            .is_some_and(|stem| stem.starts_with('_'))
    }
}

impl fmt::Display for PromptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 of some content, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: impl AsRef<[u8]>) -> Self {
        Self(hex(&Sha256::digest(bytes.as_ref())))
    }

    /// Hashes several parts, each length-prefixed so that boundaries cannot be confused.
    pub fn of_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        Self(hex(&hasher.finalize()))
    }

    /// The full hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A run's id: a UTC timestamp then a random suffix, so ids sort by start time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// A fresh id for a run starting now.
    pub fn generate() -> Self {
        let now = chrono::Utc::now();
        let entropy = ContentHash::of(format!(
            "{}{}{:?}",
            now.timestamp_nanos_opt().unwrap_or_default(),
            std::process::id(),
            std::thread::current().id()
        ));
        Self(format!(
            "{}-{}",
            now.format("%Y%m%dT%H%M%S%.3fZ"),
            &entropy.as_str()[..6]
        ))
    }

    /// An existing id, from the command line or a stored run. A run id is a plain name under
    /// `reports/`: letters, digits, `.`, `_` and `-`, not starting with a dot, so no id can
    /// name a directory elsewhere.
    pub fn parse(id: &str) -> Result<Self, crate::errors::Error> {
        let plain = !id.is_empty()
            && id.len() <= 128
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if plain {
            Ok(Self(id.to_string()))
        } else {
            Err(crate::errors::Error::Usage(format!(
                "`{}` is not a run id: run ids are the directory names under reports/ (letters, digits, `.`, `_` and `-`)",
                id.escape_debug()
            )))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_names_normalise_and_split_variants() {
        let n = PromptName::new("prompts/support/triage.terse.prompt");
        assert_eq!(n.as_str(), "support/triage.terse");
        assert_eq!(n.variant(), Some("terse"));
        assert_eq!(n.base().as_str(), "support/triage");
        assert_eq!(n.path(), "prompts/support/triage.terse.prompt");
        assert!(!n.is_partial());
        assert!(PromptName::new("shared/_tone").is_partial());
        assert_eq!(PromptName::new("a/b").variant(), None);
    }

    #[test]
    fn run_ids_sort_by_time() {
        let a = RunId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = RunId::generate();
        assert!(a < b, "{a} < {b}");
    }

    #[test]
    fn part_hashing_separates_boundaries() {
        assert_ne!(
            ContentHash::of_parts([b"ab".as_slice(), b"c"]),
            ContentHash::of_parts([b"a".as_slice(), b"bc"])
        );
    }
}
