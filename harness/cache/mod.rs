//! The response cache: provider completions stored by the content key of their request
//! (provider fingerprint, model, effective parameters, rendered messages, sample index), in
//! `.promptgate/cache/`. A rerun of unchanged cases makes no calls.
//!
//! One file per entry, written to a temporary name and renamed into place, so concurrent writers
//! and a crash mid-write never leave a torn entry; an unreadable entry is a miss.
//!
//! With a [`Shared`] store behind it (`cache: { shared: URL }`), a run first fills the local
//! cache with the entries the store has for its keys, and after each wave publishes the entries
//! it added: workers of one CI engine share their responses.

mod shared;

pub(crate) use shared::{Published, Shared};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::errors::{Error, Result};
use crate::provider::Completion;

/// Where the cache lives, relative to the project root.
pub(crate) const CACHE_DIR: &str = ".promptgate/cache";

/// Bumped when the entry format changes; older entries become misses.
const ENTRY_FORMAT: u32 = 1;

/// A cached completion with what the original call measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    format: u32,
    /// The completion.
    pub completion: Completion,
    /// Wall time of the original call.
    pub latency_ms: u64,
    /// Cost of the original call, `None` when unknown.
    pub cost: Option<f64>,
}

/// An entry's name under the cache directory, and in the shared store (`SHARD/KEY.json`).
fn store_name(key: &str) -> String {
    let shard = key.get(..2).unwrap_or("xx");
    format!("{shard}/{key}.json")
}

/// Size of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Stats {
    /// Entries stored.
    pub entries: usize,
    /// Bytes on disk.
    pub bytes: u64,
}

/// The project's response cache.
#[derive(Debug)]
pub(crate) struct Cache {
    root: PathBuf,
    dir: PathBuf,
    /// The store shared between machines, if any.
    shared: Option<Shared>,
    /// Keys put since the last [`Cache::publish`].
    added: std::sync::Mutex<Vec<String>>,
}

impl Cache {
    /// The cache of the project at `root` (created on first write).
    pub(crate) fn open(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            dir: root.join(CACHE_DIR),
            shared: None,
            added: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// This cache with `shared` behind it.
    pub(crate) fn with_shared(mut self, shared: Option<Shared>) -> Self {
        self.shared = shared;
        self
    }

    /// Fills the local cache with the entries the shared store has for those of `keys` it
    /// lacks; returns how many it took. Without a shared store, does nothing.
    pub(crate) fn prefetch<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Result<usize> {
        let Some(shared) = &self.shared else {
            return Ok(0);
        };
        let missing: Vec<String> = keys
            .into_iter()
            .filter(|k| !self.path(k).is_file())
            .map(store_name)
            .collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let mut taken = 0;
        for (name, bytes) in shared.fetch(&missing)? {
            // Only a well-formed entry of this format is kept.
            let valid =
                serde_json::from_slice::<Entry>(&bytes).is_ok_and(|e| e.format == ENTRY_FORMAT);
            if valid {
                crate::files::write_confined(
                    &self.root,
                    &Path::new(CACHE_DIR).join(&name),
                    &bytes,
                )?;
                taken += 1;
            }
        }
        Ok(taken)
    }

    /// Publishes to the shared store the entries put since the last call (none when it is
    /// read-only, or there is none).
    pub(crate) fn publish(&self) -> Result<Published> {
        let added = std::mem::take(&mut *self.added.lock().unwrap_or_else(|e| e.into_inner()));
        let Some(shared) = &self.shared else {
            return Ok(Published::default());
        };
        let entries = added
            .iter()
            .filter_map(|k| Some((store_name(k), std::fs::read(self.path(k)).ok()?)))
            .collect();
        shared.publish(entries)
    }

    /// The entry file of `key`, relative to the project root.
    fn relative(key: &str) -> PathBuf {
        Path::new(CACHE_DIR).join(store_name(key))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(Self::relative(key))
    }

    /// The entry for `key`, if present and readable.
    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice::<Entry>(&bytes)
            .ok()
            .filter(|e| e.format == ENTRY_FORMAT)
    }

    /// Stores a completion under `key`.
    pub(crate) fn put(
        &self,
        key: &str,
        completion: &Completion,
        latency_ms: u64,
        cost: Option<f64>,
    ) -> Result<()> {
        let entry = Entry {
            format: ENTRY_FORMAT,
            completion: completion.clone(),
            latency_ms,
            cost,
        };
        let bytes = serde_json::to_vec(&entry).map_err(Error::encode("a cache entry"))?;
        crate::files::write_confined(&self.root, &Self::relative(key), &bytes)?;
        if self.shared.is_some() {
            self.added
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(key.to_string());
        }
        Ok(())
    }

    /// Counts entries and bytes.
    pub(crate) fn stats(&self) -> Result<Stats> {
        let mut stats = Stats::default();
        for file in self.files()? {
            stats.entries += 1;
            stats.bytes += file.metadata().map(|m| m.len()).unwrap_or(0);
        }
        Ok(stats)
    }

    /// Removes every entry; returns how many there were.
    pub(crate) fn clear(&self) -> Result<usize> {
        let count = self.files()?.len();
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Error::io("remove", &self.dir, e)),
        }
    }

    fn files(&self) -> Result<Vec<std::fs::DirEntry>> {
        let mut files = Vec::new();
        let shards = match std::fs::read_dir(&self.dir) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(Error::io("read", &self.dir, e)),
        };
        for shard in shards.flatten().filter(|s| s.path().is_dir()) {
            let entries =
                std::fs::read_dir(shard.path()).map_err(|e| Error::io("read", &shard.path(), e))?;
            files.extend(
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json")),
            );
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{FinishReason, Usage};

    fn completion(text: &str) -> Completion {
        Completion {
            text: text.into(),
            finish: FinishReason::Stop,
            usage: Usage::reported(3, 1),
            fingerprint: None,
            tool_calls: Vec::new(),
        }
    }

    #[test]
    fn entries_round_trip_and_torn_files_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path());
        assert!(cache.get("ab12").is_none());
        cache.put("ab12", &completion("hi"), 40, Some(0.5)).unwrap();
        let entry = cache.get("ab12").unwrap();
        assert_eq!(
            (entry.completion.text.as_str(), entry.latency_ms, entry.cost),
            ("hi", 40, Some(0.5))
        );
        std::fs::create_dir_all(cache.path("cd34").parent().unwrap()).unwrap();
        std::fs::write(cache.path("cd34"), b"{\"format\": 1, \"compl").unwrap();
        assert!(cache.get("cd34").is_none(), "a torn entry is a miss");
        assert_eq!(cache.stats().unwrap().entries, 2);
        assert_eq!(cache.clear().unwrap(), 2);
        assert_eq!(cache.stats().unwrap(), Stats::default());
    }

    #[test]
    fn concurrent_writers_never_tear_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = std::sync::Arc::new(Cache::open(dir.path()));
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        cache
                            .put("ef56", &completion(&format!("writer {i}")), 1, None)
                            .unwrap();
                        assert!(cache.get("ef56").is_some());
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert!(
            cache
                .get("ef56")
                .unwrap()
                .completion
                .text
                .starts_with("writer ")
        );
        assert_eq!(
            cache.stats().unwrap().entries,
            1,
            "no temporary files are left behind"
        );
    }
}
