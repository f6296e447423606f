//! Reading files inside the project, and nothing outside it: a path from a suite, a prompt
//! name or the command line is relative to the project root, never absolute, never climbs out
//! with `..`, and never passes through a symlink (a pull request can commit one pointing
//! anywhere).

use std::path::{Component, Path};

use crate::errors::{Error, Result};

/// The text of `relative` under `root`, or `None` when there is no such file. Refuses an
/// absolute path, a `..` part, and a symlink anywhere along the path.
pub fn read_confined(root: &Path, relative: &Path) -> Result<Option<String>> {
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
                    "`{}` is a symlink: promptgate reads only regular files inside the project",
                    at.strip_prefix(root).unwrap_or(&at).display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &at, e)),
        }
    }
    match std::fs::read_to_string(&at) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &at, e)),
    }
}
