//! The shared tier of the response cache: an object store (`s3://`, `gs://`, `az://`,
//! `file://`) that CI workers read from and publish to, behind each machine's local cache.
//!
//! An entry is the local entry's bytes (the completion and what the call measured: no request,
//! header or credential), under `PREFIX/SHARD/KEY.json`. It is published with a conditional
//! create, so of workers racing on one key one writes and the others find it there; entries
//! are never overwritten. A read-only cache (pull requests from forks) reads and never writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use crate::errors::{Error, Result};

/// An entry's name under the cache directory and its bytes.
type Named = (String, Vec<u8>);

/// Requests in flight at once against the store.
const IN_FLIGHT: usize = 32;

/// The largest entry read: a completion of the largest reply read (16 MiB), with room for what
/// the call measured.
const MAX_ENTRY_BYTES: u64 = 32 << 20;

/// An object store holding cache entries.
pub(crate) struct Shared {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// Where it is, for messages: the URL without credentials or query.
    shown: String,
    read_only: bool,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("at", &self.shown)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// What publishing found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Published {
    /// Entries this machine created.
    pub(crate) created: usize,
    /// Entries another worker had created first.
    pub(crate) existed: usize,
}

impl Shared {
    /// The store at `url`, configured from `env` (`AWS_*`, `GOOGLE_*`, `AZURE_*`: endpoint,
    /// region, credentials), read-only or not. A `file://` store inside `checkout` (the git
    /// work tree the project is in) is refused: a commit can write entries there, and the
    /// refusal of a cache git tracks would be bypassed.
    pub(crate) fn open(
        url: &str,
        read_only: bool,
        env: &BTreeMap<String, String>,
        checkout: &std::path::Path,
    ) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::Usage(format!(
                "the shared cache `{}` is not a URL ({e}); write s3://BUCKET/PREFIX, gs://..., az://... or file:///PATH",
                shown(url)
            ))
        })?;
        if parsed.scheme() == "file" {
            refuse_inside(&parsed, checkout)?;
        }
        let options = env
            .iter()
            .filter(|(k, _)| {
                ["AWS_", "GOOGLE_", "AZURE_"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()));
        let (store, prefix) = object_store::parse_url_opts(&parsed, options).map_err(|e| {
            Error::Usage(format!(
                "the shared cache `{}` cannot be opened: {e}",
                shown(url)
            ))
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("no runtime for the shared cache: {e}")))?;
        Ok(Self {
            store: Arc::from(store),
            prefix,
            shown: shown(url),
            read_only,
            runtime,
        })
    }

    fn path(&self, relative: &str) -> StorePath {
        let mut path = self.prefix.clone();
        for part in relative.split('/') {
            path = path.child(part);
        }
        path
    }

    /// The entries at `relative` paths the store holds, fetched concurrently; a missing one is
    /// left out. A store that cannot be reached is an error.
    pub(crate) fn fetch(&self, relative: &[String]) -> Result<Vec<Named>> {
        let store = &self.store;
        let fetched: Vec<std::result::Result<Option<Named>, object_store::Error>> =
            self.runtime.block_on(
                futures_util::stream::iter(relative.iter().map(|r| {
                    let path = self.path(r);
                    async move {
                        match store.get(&path).await {
                            // An entry past the cap is no reply promptgate wrote (those
                            // are one completion each): left out, never read.
                            Ok(got) if got.meta.size > MAX_ENTRY_BYTES => Ok(None),
                            Ok(got) => Ok(Some((r.clone(), got.bytes().await?.to_vec()))),
                            Err(object_store::Error::NotFound { .. }) => Ok(None),
                            Err(e) => Err(e),
                        }
                    }
                }))
                .buffer_unordered(IN_FLIGHT)
                .collect(),
            );
        let mut found = Vec::new();
        for item in fetched {
            match item {
                Ok(Some(entry)) => found.push(entry),
                Ok(None) => {}
                Err(e) => return Err(self.failed("read", &e)),
            }
        }
        Ok(found)
    }

    /// Publishes `entries` (relative path, bytes) with conditional creates: an entry another
    /// worker created first is left as it is. A read-only cache publishes nothing.
    pub(crate) fn publish(&self, entries: Vec<Named>) -> Result<Published> {
        if self.read_only || entries.is_empty() {
            return Ok(Published::default());
        }
        let store = &self.store;
        let results: Vec<std::result::Result<bool, object_store::Error>> = self.runtime.block_on(
            futures_util::stream::iter(entries.into_iter().map(|(relative, bytes)| {
                let path = self.path(&relative);
                async move {
                    let options = PutOptions::from(PutMode::Create);
                    match store
                        .put_opts(&path, PutPayload::from(bytes), options)
                        .await
                    {
                        Ok(_) => Ok(true),
                        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                        // Some S3-compatible stores answer a lost conditional create with 412.
                        Err(object_store::Error::Precondition { .. }) => Ok(false),
                        Err(e) => Err(e),
                    }
                }
            }))
            .buffer_unordered(IN_FLIGHT)
            .collect(),
        );
        let mut published = Published::default();
        for result in results {
            match result {
                Ok(true) => published.created += 1,
                Ok(false) => published.existed += 1,
                Err(e) => return Err(self.failed("write", &e)),
            }
        }
        Ok(published)
    }

    /// A store error, named by where the store is and never by its credentials.
    fn failed(&self, action: &str, error: &object_store::Error) -> Error {
        Error::Usage(format!(
            "the shared cache at {} could not {action} an entry: {}",
            self.shown,
            crate::secrets::redact(&error.to_string())
        ))
    }
}

/// Refuses a `file://` store at or under `checkout`, however the path is spelled (through
/// `..` or a symlink: the nearest existing folder of the path is compared, resolved).
fn refuse_inside(url: &url::Url, checkout: &std::path::Path) -> Result<()> {
    let path = url.to_file_path().map_err(|()| {
        Error::Usage(format!(
            "the shared cache `{}` is not a local path; write file:///ABSOLUTE/PATH",
            shown(url.as_str())
        ))
    })?;
    let resolved = path
        .ancestors()
        .find_map(|a| std::fs::canonicalize(a).ok())
        .unwrap_or_else(|| path.clone());
    let checkout = std::fs::canonicalize(checkout).unwrap_or_else(|_| checkout.to_path_buf());
    if resolved.starts_with(&checkout) {
        return Err(Error::refused(format!(
            "the shared cache `{}` is inside the checkout ({}), where a commit can write its entries; put it outside the repository, or use an object store",
            shown(url.as_str()),
            checkout.display()
        )));
    }
    Ok(())
}

/// `url` without user info or query, which may carry credentials.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => url.split(['?', '@']).next().unwrap_or_default().to_string(),
    }
}
