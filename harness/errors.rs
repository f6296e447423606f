//! Error types and the one documented table of exit codes.
//!
//! Every error a user can cause names where it happened (file, line and column, or the revision)
//! and what was expected, and maps to exactly one exit code.

use std::fmt;
use std::path::{Path, PathBuf};

/// Process exit codes, the contract with CI (DESIGN §5). The README carries the same table.
pub mod exit {
    /// The gate passed (or the command succeeded).
    pub const PASS: i32 = 0;
    /// An unexpected internal or environment error.
    pub const UNEXPECTED: i32 = 1;
    /// Usage error or invalid input: config, suite, prompt, or git revision.
    pub const INVALID_INPUT: i32 = 2;
    /// No cases were selected, so nothing was checked.
    pub const NO_CASES: i32 = 3;
    /// The gate failed: a regression beyond tolerance (`run`: a case failed).
    pub const GATE_FAILED: i32 = 10;
    /// The verdict is inconclusive and the policy blocks on inconclusive.
    pub const INCONCLUSIVE_BLOCKED: i32 = 11;
    /// The run is incomplete: provider errors, exhausted budget, or interruption.
    pub const INCOMPLETE: i32 = 12;
    /// A promotion or rollback was refused by policy (approvals, owner, required suites) or lost
    /// a race with another one; nothing was changed.
    pub const REFUSED: i32 = 13;
    /// `monitor`: production breached a threshold of the served version's baseline (an alert
    /// was written, and with `--rollback-on-breach` the label moved back).
    pub const BREACH: i32 = 14;
    /// `merge` of an `--adaptive` check: the shards must draw another wave
    /// (`check --shard I/N --wave FILE`) before it can be gated.
    pub const NEXT_WAVE: i32 = 15;
}

/// A position in a user-written file. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the user would name it (relative to the project root where possible).
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
}

impl Location {
    /// A location in `file` at `line`:`column`.
    pub fn new(file: impl Into<PathBuf>, line: u64, column: u64) -> Self {
        Self {
            file: file.into(),
            line,
            column,
        }
    }

    /// A location naming only the file.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Self::new(file, 0, 0)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        Ok(())
    }
}

/// Why a case's variables do not fit its prompt's input schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableProblem {
    /// The schema requires the variable and the case does not give it.
    Missing,
    /// The case gives a variable the schema does not declare.
    Undeclared,
    /// The value does not match the declared type.
    WrongType,
}

/// Every error promptgate reports. Messages are lowercase fragments that read well after
/// "error: ".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid content in a user-written file, at a known place.
    #[error("{location}: {message}{}", hint_suffix(.hint))]
    Invalid {
        /// Where the problem is.
        location: Location,
        /// What is wrong.
        message: String,
        /// How to fix it, when there is something useful to say.
        hint: Option<String>,
    },
    /// A case's variables do not match the prompt's declared input.
    #[error("{0}")]
    Variable(Box<VariableError>),
    /// A git revision that does not resolve.
    #[error("revision `{rev}` {message}")]
    Revision {
        /// The revision as the user wrote it.
        rev: String,
        /// What went wrong, as a fragment following the revision.
        message: String,
    },
    /// A prompt name that does not exist at the given version.
    #[error("no prompt named `{name}` at {rev} (looked for {path}){}", hint_suffix(.hint))]
    UnknownPrompt {
        /// The prompt name.
        name: String,
        /// The revision searched.
        rev: String,
        /// The path looked up.
        path: String,
        /// Nearby names, if any.
        hint: Option<String>,
    },
    /// Command-line usage that cannot be satisfied.
    #[error("{0}")]
    Usage(String),
    /// The selection of prompts and suites produced no cases.
    #[error("no cases selected: {0}")]
    NoCases(String),
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done ("read", "write", "create directory").
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A git operation failed for a reason other than a bad revision.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    /// A provider could not be set up (not a per-case call failure, which is recorded instead).
    #[error("provider `{provider}`: {message}")]
    Provider {
        /// The provider name from the config.
        provider: String,
        /// What is wrong.
        message: String,
    },
    /// A value could not be encoded as JSON: a bug, since everything promptgate writes can be.
    #[error("cannot encode {what} as JSON")]
    Encode {
        /// What was being encoded ("a results log line").
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Any other failure that is not the user's input.
    #[error("{0}")]
    Internal(String),
    /// Every problem found in the input at once (`validate`, suites), in file order.
    #[error("{}", several(.0))]
    Several(Vec<Error>),
    /// A promotion or rollback that policy, the gate or a concurrent change did not allow;
    /// nothing was changed.
    #[error("{message}")]
    Refused {
        /// Why, and what would allow it.
        message: String,
        /// The exit code: the gate's (10, 11) when the gate refused, else 13.
        code: i32,
    },
}

fn several(errors: &[Error]) -> String {
    let lines: Vec<String> = errors.iter().map(Error::to_string).collect();
    format!("{}\n{} problems", lines.join("\nerror: "), errors.len())
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\n  help: {h}"))
        .unwrap_or_default()
}

/// A case whose variables do not fit its prompt's input schema.
#[derive(Debug)]
pub struct VariableError {
    /// Where the case is defined.
    pub location: Location,
    /// The suite's name.
    pub suite: String,
    /// The case id.
    pub case: String,
    /// The prompt version whose schema was violated.
    pub prompt: String,
    /// The variable in question.
    pub variable: String,
    /// What is wrong with it.
    pub problem: VariableProblem,
    /// Extra detail (the expected type, for instance).
    pub detail: String,
}

impl fmt::Display for VariableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: case `{}` of suite `{}`: {}",
            self.location,
            self.case,
            self.suite,
            variable_message(self.problem, &self.prompt, &self.variable, &self.detail)
        )
    }
}

fn variable_message(
    problem: VariableProblem,
    prompt: &str,
    variable: &str,
    detail: &str,
) -> String {
    match problem {
        VariableProblem::Missing => format!(
            "missing variable `{variable}` required by prompt `{prompt}`\n  help: add `{variable}` to the case's `vars`, or mark it optional (`{variable}?:`) in the prompt's input.schema"
        ),
        VariableProblem::Undeclared => format!(
            "variable `{variable}` is not declared by prompt `{prompt}`\n  help: remove it from the case, or declare it in the prompt's input.schema"
        ),
        VariableProblem::WrongType => {
            format!(
                "variable `{variable}` does not match prompt `{prompt}`'s input.schema: {detail}"
            )
        }
    }
}

impl Error {
    /// An [`Error::Invalid`] at `location` with a message and no hint.
    pub fn invalid(location: Location, message: impl Into<String>) -> Self {
        Self::Invalid {
            location,
            message: message.into(),
            hint: None,
        }
    }

    /// A promotion or rollback refused by policy or by a concurrent change (exit 13).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused {
            message: message.into(),
            code: exit::REFUSED,
        }
    }

    /// An [`Error::Invalid`] with a hint saying how to fix it.
    pub fn invalid_with_hint(
        location: Location,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            location,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// An I/O error while doing `action` on `path`.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The exit code this error maps to (see [`exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Invalid { .. }
            | Self::Variable(_)
            | Self::Revision { .. }
            | Self::UnknownPrompt { .. }
            | Self::Usage(_)
            | Self::Provider { .. } => exit::INVALID_INPUT,
            Self::NoCases(_) => exit::NO_CASES,
            Self::Io { .. } | Self::Git(_) | Self::Encode { .. } | Self::Internal(_) => {
                exit::UNEXPECTED
            }
            Self::Refused { code, .. } => *code,
            Self::Several(errors) => errors.first().map_or(exit::INVALID_INPUT, Error::exit_code),
        }
    }

    /// Wraps a JSON encoding failure of `what`, keeping it as the source.
    pub fn encode(what: &'static str) -> impl FnOnce(serde_json::Error) -> Error {
        move |source| Error::Encode { what, source }
    }

    /// The causes of this error, outermost first, that its own message does not already say:
    /// what the command line prints under it.
    pub fn causes(&self) -> Vec<String> {
        let shown = self.to_string();
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.contains(&text) && !causes.contains(&text) {
                causes.push(text);
            }
            source = cause.source();
        }
        causes
    }

    /// One error for `errors`: none, the one, or all of them together.
    pub fn combine(mut errors: Vec<Error>) -> Result<()> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Self::Several(errors)),
        }
    }
}

/// The known name closest to `input`, when one is close enough to be a likely typo.
pub fn suggest<'a>(input: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(input, k), k))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// `did you mean `x`? ` for a likely typo of a known name, else nothing.
pub fn did_you_mean<'a>(input: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    suggest(input, known).map_or_else(String::new, |k| format!("did you mean `{k}`? "))
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_kept_and_printed_once() {
        let source = serde_json::from_str::<u8>("x").unwrap_err();
        let encode = Error::encode("a results log line")(source);
        assert_eq!(
            encode.to_string(),
            "cannot encode a results log line as JSON"
        );
        assert_eq!(encode.causes(), ["expected value at line 1 column 1"]);

        // A message that already says its cause does not repeat it.
        let io = Error::io(
            "read",
            Path::new("a.yaml"),
            std::io::Error::other("disk on fire"),
        );
        assert!(io.to_string().ends_with("disk on fire"), "{io}");
        assert!(io.causes().is_empty());
    }
}
