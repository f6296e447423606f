//! `promptgate cache`: what the response cache holds, and emptying it.

use std::path::Path;

use crate::cache::{CACHE_DIR, Cache};
use crate::errors::Result;

/// What the response cache holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheStats {
    /// Cached responses.
    pub entries: usize,
    /// Their size on disk, in bytes.
    pub bytes: u64,
    /// The cache's folder, relative to the project root.
    pub dir: &'static str,
}

/// Counts the project's cached responses and their size.
pub fn cache_stats(root: &Path) -> Result<CacheStats> {
    let stats = Cache::open(root).stats()?;
    Ok(CacheStats {
        entries: stats.entries,
        bytes: stats.bytes,
        dir: CACHE_DIR,
    })
}

/// Removes every cached response; returns how many there were.
pub fn cache_clear(root: &Path) -> Result<usize> {
    Cache::open(root).clear()
}
