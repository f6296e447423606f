//! YAML decoding with errors that name the file, line and column.
//!
//! All user-written YAML (front matter, suites, config) goes through [`from_str`], so every parse
//! error looks the same and carries a [`Location`].

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::errors::{Error, Location};

/// Decodes `text`, the content of `file` starting at 1-based line `first_line`.
///
/// `first_line` lets callers decode YAML embedded in a larger file (front matter starts on
/// line 2 of a `.prompt` file) and still report the line in the file itself.
pub(crate) fn from_str<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    first_line: u64,
) -> Result<T, Error> {
    serde_saphyr::from_str(text).map_err(|e| {
        let line_offset = first_line.saturating_sub(1);
        let (line, column) = e
            .location()
            .map(|l| (l.line() + line_offset, l.column()))
            .unwrap_or((0, 0));
        let message = e
            .without_snippet()
            .render_with_options(serde_saphyr::render_options! {
                snippets: serde_saphyr::SnippetMode::Off,
            });
        Error::invalid(Location::new(file, line, column), clean_message(&message))
    })
}

/// Converts a span from a [`serde_saphyr::Spanned`] value into a [`Location`] in `file`.
pub(crate) fn location(file: &Path, loc: &serde_saphyr::Location, first_line: u64) -> Location {
    Location::new(
        file,
        loc.line() + first_line.saturating_sub(1),
        loc.column(),
    )
}

/// Drops the parser's own " at line X column Y" suffix: the location is reported once, up front.
fn clean_message(message: &str) -> String {
    let trimmed = message.trim();
    match trimmed.rfind(" at line ") {
        Some(i) if trimmed[i..].contains("column") => trimmed[..i].to_string(),
        _ => trimmed.to_string(),
    }
}
