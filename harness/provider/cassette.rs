//! Cassettes: the responses a run used, kept as reviewable JSONL in `fixtures/cassettes/` so a
//! suite can run offline and deterministically (`--record`, then `--provider replay`).
//!
//! One file per configured provider name; one line per request, keyed by the provider's name
//! and the request (messages, parameters, sample), with the case that first asked for it. No
//! key, header or endpoint is written: only what the prompt and the suite already contain, and
//! what the model said.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::errors::{Error, Location, Result};
use crate::provider::call::{Completion, Request};

/// Where cassettes live, relative to the project root.
pub(crate) const CASSETTE_DIR: &str = "fixtures/cassettes";

/// One recorded response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// [`Request::key`] of the request for the provider's configured name.
    pub key: String,
    /// The configured provider name the response came from.
    pub provider: String,
    /// The case that asked for it (`suite/case#sample on prompt@rev`), for reviewers.
    pub case: String,
    /// The request.
    pub request: Request,
    /// The response.
    pub completion: Completion,
}

impl Entry {
    /// An entry for `request` answered by `provider`.
    pub(crate) fn new(
        provider: String,
        case: String,
        request: Request,
        completion: Completion,
    ) -> Result<Self> {
        Ok(Self {
            key: request.key(&provider)?,
            provider,
            case,
            request,
            completion,
        })
    }
}

/// Merges `entries` into the cassette files under `root` (a new response for a key replaces the
/// old one) and writes each file sorted by case, so re-recording gives small diffs. Returns the
/// number of entries written.
pub(crate) fn record(root: &Path, entries: impl IntoIterator<Item = Entry>) -> Result<usize> {
    let mut by_provider: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for entry in entries {
        by_provider
            .entry(entry.provider.clone())
            .or_default()
            .push(entry);
    }
    let mut written = 0;
    for (provider, new) in by_provider {
        let relative = Path::new(CASSETTE_DIR).join(file_name(&provider));
        let mut merged: BTreeMap<String, Entry> = read(root, &relative)?
            .into_iter()
            .map(|e| (e.key.clone(), e))
            .collect();
        for entry in new {
            merged.insert(entry.key.clone(), entry);
        }
        let mut lines: Vec<Entry> = merged.into_values().collect();
        lines.sort_by(|a, b| a.case.cmp(&b.case).then(a.key.cmp(&b.key)));
        let mut text = String::new();
        for entry in &lines {
            text.push_str(
                &serde_json::to_string(entry).map_err(Error::encode("a cassette entry"))?,
            );
            text.push('\n');
        }
        crate::files::write_confined(root, &relative, text.as_bytes())?;
        written += lines.len();
    }
    Ok(written)
}

/// The cassette file of a provider name (`/` and other separators made safe).
fn file_name(provider: &str) -> String {
    let safe: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.jsonl")
}

/// The cassette file of the provider configured as `provider`, relative to the project root.
pub(crate) fn file_of(provider: &str) -> String {
    format!("{CASSETTE_DIR}/{}", file_name(provider))
}

/// The entries of the cassette at `relative` (none when there is no such file).
fn read(root: &Path, relative: &Path) -> Result<Vec<Entry>> {
    let Some(text) = crate::files::read_confined(root, relative)? else {
        return Ok(Vec::new());
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                Error::invalid_with_hint(
                    Location::new(relative, i as u64 + 1, e.column() as u64),
                    format!("not a cassette entry: {e}"),
                    "re-record the cassette with `promptgate check --record`",
                )
            })
        })
        .collect()
}

/// Every recorded response of one provider name, by key.
#[derive(Debug, Default)]
pub(crate) struct Cassette {
    /// The provider name.
    pub provider: String,
    /// The file, relative to the project root.
    pub file: String,
    by_key: HashMap<String, Completion>,
}

impl Cassette {
    /// Loads the cassette of `provider` (empty when there is none).
    pub(crate) fn load(root: &Path, provider: &str) -> Result<Self> {
        let file = file_of(provider);
        let entries = read(root, Path::new(&file))?;
        Ok(Self {
            provider: provider.to_string(),
            file,
            by_key: entries.into_iter().map(|e| (e.key, e.completion)).collect(),
        })
    }

    /// The recorded response to `request`.
    pub(crate) fn get(&self, request: &Request) -> Result<Option<&Completion>> {
        Ok(self.by_key.get(&request.key(&self.provider)?))
    }
}
