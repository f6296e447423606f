//! Files inside the project, and nothing outside it. A path from a suite, a prompt name or the
//! command line is relative to the project root, never absolute, never climbs out with `..`,
//! and never passes through a symlink (a pull request can commit one pointing anywhere); every
//! file promptgate writes is written whole, through [`write_atomic`], in a directory reached
//! the same way.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::errors::{Error, Result};

/// What to do where a confined path does not exist yet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Stop: the file is not there.
    Stop,
    /// Create the directory.
    Create,
}

/// Walks `relative` under `root`, refusing an absolute path, a `..` part and a symlink
/// anywhere along it. Returns the full path, or `None` when a part is missing and `missing`
/// says to stop.
fn walk(root: &Path, relative: &Path, missing: Missing) -> Result<Option<PathBuf>> {
    let mut at = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => at.push(part),
            Component::CurDir => {}
            _ => {
                return Err(Error::Usage(format!(
                    "`{}` is outside the project: paths are relative to the project root and cannot use `..`",
                    relative.display()
                )));
            }
        }
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::Usage(format!(
                    "`{}` is a symlink: promptgate reads and writes only regular files and directories inside the project",
                    at.strip_prefix(root).unwrap_or(&at).display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match missing {
                Missing::Stop => return Ok(None),
                Missing::Create => match std::fs::create_dir(&at) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io("create directory", &at, e)),
                },
            },
            Err(e) => return Err(Error::io("read", &at, e)),
        }
    }
    Ok(Some(at))
}

/// The text of `relative` under `root`, or `None` when there is no such file. Refuses an
/// absolute path, a `..` part, and a symlink anywhere along the path.
pub(crate) fn read_confined(root: &Path, relative: &Path) -> Result<Option<String>> {
    let Some(at) = walk(root, relative, Missing::Stop)? else {
        return Ok(None);
    };
    if at.is_dir() {
        return Err(Error::Usage(format!(
            "`{}` is a directory (a submodule?): promptgate reads only regular files inside the project",
            relative.display()
        )));
    }
    read_text(&at, relative)
}

/// The text of the file at `path` (shown to people as `shown`), or `None` when there is no
/// such file. A file that is not UTF-8 is a located error (exit 2) naming the line of the
/// first bad byte.
pub(crate) fn read_text(path: &Path, shown: &Path) -> Result<Option<String>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        Error::invalid_with_hint(
            crate::errors::Location::new(shown, line, 0),
            "not UTF-8 text",
            "save the file as UTF-8",
        )
    })
}

/// The directory `relative` under `root`, created (with its parents) where missing; refuses
/// an absolute path, a `..` part, and a symlink anywhere along the path, so nothing written
/// into it lands outside the project.
pub(crate) fn confined_dir(root: &Path, relative: &Path) -> Result<PathBuf> {
    walk(root, relative, Missing::Create)?
        .ok_or_else(|| Error::Internal("a created directory is missing".into()))
}

/// Writes `bytes` to `path` atomically, and never through a planted symlink: the bytes go to a
/// new temporary file in the target directory, created exclusively under an unpredictable name,
/// which is then renamed over `path` (replacing a symlink there, never following it). Every
/// file promptgate writes goes through here.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the content streamed by `write` into a buffered writer, so a
/// large file (a 100,000-case report) is never held whole in memory.
pub(crate) fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".promptgate-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    let mut buffered = std::io::BufWriter::new(file.as_file_mut());
    write(&mut buffered)
        .and_then(|()| buffered.flush())
        .map_err(|e| Error::io("write", path, e))?;
    drop(buffered);
    // Readable like the files the run appends to (a temporary file is made private).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io("set the permissions of", path, e))?;
    }
    file.persist(path)
        .map_err(|e| Error::io("write", path, e.error))?;
    Ok(())
}

/// Writes `bytes` to `relative` under `root` with [`write_atomic`], creating its directory
/// with [`confined_dir`].
pub(crate) fn write_confined(root: &Path, relative: &Path, bytes: &[u8]) -> Result<()> {
    let dir = confined_dir(root, relative.parent().unwrap_or(Path::new("")))?;
    let name = relative
        .file_name()
        .ok_or_else(|| Error::Internal(format!("`{}` names no file", relative.display())))?;
    write_atomic(&dir.join(name), bytes)
}

/// Opens `path` to append to it, creating it where missing, and never through a symlink: on
/// Unix the open itself refuses one (`O_NOFOLLOW`), so no link planted between a check and the
/// open can send a run's writes outside the project.
pub(crate) fn open_append(path: &Path) -> Result<std::fs::File> {
    let symlink = || {
        Error::Usage(format!(
            "{} is a symlink: promptgate writes only regular files inside the project",
            path.display()
        ))
    };
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(symlink());
    }
    options.open(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => symlink(),
        _ => Error::io("open", path, e),
    })
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn an_append_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("results.jsonl");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let refused = super::open_append(&link).unwrap_err().to_string();
        assert!(refused.contains("is a symlink"), "{refused}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // A regular file is appended to, and a missing one created.
        use std::io::Write;
        let log = dir.path().join("log");
        super::open_append(&log).unwrap().write_all(b"a").unwrap();
        super::open_append(&log).unwrap().write_all(b"b").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "ab");
    }
}
