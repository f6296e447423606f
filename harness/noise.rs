//! Remembered noise: the case-versions a provider was sampled more than once on, kept per
//! provider identity in `.promptgate/noise/`, so the next check on the same provider starts
//! from what was measured instead of measuring it again.
//!
//! A provider's identity is what its flips depend on: its fingerprint (kind, model, endpoint),
//! the sampling parameters of the calls, and the judges grading them. Each identity has one
//! record, `NOISE_DIR/<digest>.json`, holding its latest [`REMEMBERED`] case-versions, each
//! under the key of the case and version it measured (a rerun replaces its entry; it never
//! counts twice).
//!
//! Remembered noise decides verdicts, so it follows the response cache's trust rule: nothing a
//! commit can plant is read. A record under a git-tracked path, behind a symlink, malformed or
//! out of bounds is not read at all; the check then measures the noise itself, which only
//! costs calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::errors::Result;
use crate::ids::ContentHash;
use crate::stats::VersionTally;

/// Where remembered noise lives, relative to the project root.
pub(crate) const NOISE_DIR: &str = ".promptgate/noise";

/// Bumped when the record format changes; older records are not read.
const RECORD_FORMAT: u32 = 1;

/// Most case-versions one record keeps: the latest. Enough to pin how often a provider flips
/// to within a few points, few enough that a provider that changes is re-learned in a few
/// checks.
pub(crate) const REMEMBERED: usize = 200;

/// Most samples a remembered case-version may claim: more than any check draws
/// (`--max-samples` is capped well below), so a larger count is a forged record.
const MOST_SAMPLES: u32 = 1000;

/// What a provider's noise is kept under: a digest of everything its flips depend on, and the
/// same in words for the record's reader.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    digest: String,
    described: String,
}

impl Identity {
    /// The identity described by `described` (fingerprint, parameters and judges, in words).
    pub(crate) fn new(described: String) -> Self {
        Self {
            digest: ContentHash::of(&described).as_str()[..32].to_string(),
            described,
        }
    }
}

/// One measured case-version: the key of the case and version it is of, and its samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Measurement {
    /// The case and version measured (suite, case id, effective content hash), hashed.
    pub key: String,
    /// Its samples and passes.
    #[serde(flatten)]
    pub tally: VersionTally,
}

impl Measurement {
    /// The key of `case` of `suite` measured on the version whose content hash is `version`,
    /// by a comparison or by a control run.
    pub(crate) fn key_of(suite: &str, case: &str, version: &str, control: bool) -> String {
        let by: &[u8] = if control { b"control" } else { b"comparison" };
        ContentHash::of_parts([suite.as_bytes(), case.as_bytes(), version.as_bytes(), by]).as_str()
            [..32]
            .to_string()
    }
}

/// What one check measured, by identity, each holding at most the latest [`REMEMBERED`] (a
/// record keeps no more, so a 100,000-case suite does not hold the rest).
#[derive(Debug, Default)]
pub(crate) struct Measured(Vec<(Identity, Vec<Measurement>)>);

impl Measured {
    /// Adds one measured case-version of `identity`.
    pub(crate) fn add(&mut self, identity: &Identity, measurement: Measurement) {
        let at = match self.0.iter().position(|(i, _)| i == identity) {
            Some(at) => at,
            None => {
                self.0.push((identity.clone(), Vec::new()));
                self.0.len() - 1
            }
        };
        let list = &mut self.0[at].1;
        list.push(measurement);
        // Amortised: the oldest go once the list holds twice what a record keeps.
        if list.len() >= 2 * REMEMBERED {
            list.drain(..list.len() - REMEMBERED);
        }
    }
}

/// One identity's record on disk.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    format: u32,
    /// The identity in words.
    provider: String,
    /// Oldest first.
    measured: Vec<Measurement>,
}

impl Record {
    /// Whether every entry is one a check could have written.
    fn in_bounds(&self) -> bool {
        self.format == RECORD_FORMAT
            && self.measured.len() <= REMEMBERED
            && self.measured.iter().all(|m| {
                m.tally.samples > 1
                    && m.tally.samples <= MOST_SAMPLES
                    && m.tally.passed <= m.tally.samples
                    && m.key.len() == 32
                    && m.key.bytes().all(|b| b.is_ascii_hexdigit())
            })
    }
}

/// What a provider's remembered noise comes to: how many calls re-sampled it and how many of
/// them flipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Case-versions remembered.
    pub case_versions: usize,
    /// Their samples.
    pub calls: u64,
    /// Samples that went the other way from their case-version's majority.
    pub flipped: u64,
}

impl Summary {
    /// The summary of `tallies`.
    pub(crate) fn of(tallies: &[VersionTally]) -> Self {
        Self {
            case_versions: tallies.len(),
            calls: tallies.iter().map(|t| u64::from(t.samples)).sum(),
            flipped: tallies.iter().map(|t| u64::from(t.flipped())).sum(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let share = match self.calls {
            0 => 0.0,
            calls => 100.0 * self.flipped as f64 / calls as f64,
        };
        write!(
            f,
            "earlier checks saw this provider flip on {share:.1}% of {} re-sampled calls",
            self.calls
        )
    }
}

/// The project's remembered noise: records read once each, and what this check measured.
#[derive(Debug)]
pub(crate) struct Memory {
    root: PathBuf,
    /// Whether records may be read (nothing under [`NOISE_DIR`] is tracked by git).
    readable: bool,
    records: HashMap<Identity, Vec<Measurement>>,
}

impl Memory {
    /// The remembered noise of the project at `root`; `readable` is false when something
    /// under [`NOISE_DIR`] is tracked by git (a commit could plant it), and then nothing is
    /// read and nothing written (a tracked file is never overwritten).
    pub(crate) fn open(root: &Path, readable: bool) -> Self {
        Self {
            root: root.to_path_buf(),
            readable,
            records: HashMap::new(),
        }
    }

    fn relative(identity: &Identity) -> PathBuf {
        Path::new(NOISE_DIR).join(format!("{}.json", identity.digest))
    }

    /// The case-versions remembered for `identity`, oldest first.
    pub(crate) fn recall(&mut self, identity: &Identity) -> &[Measurement] {
        let readable = self.readable;
        let root = &self.root;
        self.records
            .entry(identity.clone())
            .or_insert_with(|| match readable {
                true => read(root, identity),
                false => Vec::new(),
            })
    }

    /// Adds what a check `measured` to each identity's record and writes it: each
    /// measurement replaces an entry under its key, and the oldest go past [`REMEMBERED`].
    /// Returns the records that could not be written, with why.
    pub(crate) fn remember_all(&mut self, measured: Measured) -> Vec<crate::errors::Error> {
        if !self.readable {
            return Vec::new();
        }
        measured
            .0
            .into_iter()
            .filter_map(|(identity, list)| self.remember(&identity, list).err())
            .collect()
    }

    /// Adds `measured` case-versions of `identity` to its record and writes it.
    fn remember(&mut self, identity: &Identity, mut measured: Vec<Measurement>) -> Result<()> {
        if measured.is_empty() || !self.readable {
            return Ok(());
        }
        // Only the latest can be kept.
        measured.drain(..measured.len().saturating_sub(REMEMBERED));
        let mut entries = match self.records.remove(identity) {
            Some(entries) => entries,
            None => read(&self.root, identity),
        };
        entries.retain(|old| !measured.iter().any(|new| new.key == old.key));
        entries.extend(measured);
        let over = entries.len().saturating_sub(REMEMBERED);
        entries.drain(..over);
        let record = Record {
            format: RECORD_FORMAT,
            provider: identity.described.clone(),
            measured: entries,
        };
        let bytes = serde_json::to_vec_pretty(&record)
            .map_err(crate::errors::Error::encode("a noise record"))?;
        crate::files::write_confined(&self.root, &Self::relative(identity), &bytes)?;
        self.records.insert(identity.clone(), record.measured);
        Ok(())
    }
}

/// The entries of `identity`'s record; none when it is missing, unreadable, malformed, of
/// another identity or out of bounds (a record no check wrote is not read).
fn read(root: &Path, identity: &Identity) -> Vec<Measurement> {
    let Ok(Some(text)) = crate::files::read_confined(root, &Memory::relative(identity)) else {
        return Vec::new();
    };
    match serde_json::from_str::<Record>(&text) {
        Ok(record) if record.in_bounds() && record.provider == identity.described => {
            record.measured
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(key: u8, passed: u32, samples: u32) -> Measurement {
        Measurement {
            key: format!("{key:032x}"),
            tally: VersionTally { passed, samples },
        }
    }

    #[test]
    fn a_record_keeps_the_latest_measurement_of_each_case_version() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::new("mock:model temperature 0".into());
        let mut memory = Memory::open(dir.path(), true);
        assert!(memory.recall(&identity).is_empty());
        memory
            .remember(&identity, vec![measured(1, 3, 3), measured(2, 0, 3)])
            .unwrap();
        memory.remember(&identity, vec![measured(1, 4, 5)]).unwrap();
        let mut fresh = Memory::open(dir.path(), true);
        assert_eq!(
            fresh.recall(&identity),
            [measured(2, 0, 3), measured(1, 4, 5)],
            "a rerun replaces its entry"
        );
        let other = Identity::new("mock:model temperature 0.7".into());
        assert!(fresh.recall(&other).is_empty());
    }

    #[test]
    fn a_record_is_capped_at_the_latest_measurements() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::new("mock".into());
        let mut memory = Memory::open(dir.path(), true);
        let many: Vec<Measurement> = (0..=255u8).map(|k| measured(k, 2, 2)).collect();
        memory.remember(&identity, many).unwrap();
        let recalled = Memory::open(dir.path(), true).recall(&identity).to_vec();
        assert_eq!(recalled.len(), REMEMBERED);
    }

    #[test]
    fn a_forged_or_unreadable_record_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::new("mock".into());
        let path = dir.path().join(Memory::relative(&identity));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let forged = |provider: &str, passed: u32, samples: u32| {
            serde_json::json!({
                "format": RECORD_FORMAT,
                "provider": provider,
                "measured": [{"key": format!("{:032x}", 1), "passed": passed, "samples": samples}],
            })
            .to_string()
        };
        for text in [
            forged("mock", 5, 3),
            forged("mock", 1_000_000, 1_000_000),
            forged("mock", 1, 1),
            forged("another provider", 3, 3),
            "{ not json".to_string(),
        ] {
            std::fs::write(&path, text).unwrap();
            let recalled = Memory::open(dir.path(), true).recall(&identity).to_vec();
            assert!(recalled.is_empty(), "{recalled:?}");
        }
        std::fs::write(&path, forged("mock", 3, 3)).unwrap();
        assert_eq!(Memory::open(dir.path(), true).recall(&identity).len(), 1);
        assert!(
            Memory::open(dir.path(), false).recall(&identity).is_empty(),
            "nothing is read where a commit could plant it"
        );
    }

    #[test]
    fn the_summary_counts_the_calls_that_flipped() {
        let tallies = [
            VersionTally {
                passed: 3,
                samples: 3,
            },
            VersionTally {
                passed: 1,
                samples: 5,
            },
            VersionTally {
                passed: 4,
                samples: 5,
            },
        ];
        let summary = Summary::of(&tallies);
        assert_eq!((summary.calls, summary.flipped), (13, 2));
        assert_eq!(
            summary.to_string(),
            "earlier checks saw this provider flip on 15.4% of 13 re-sampled calls"
        );
    }
}
