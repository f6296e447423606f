//! Loading suites: every file under `suites/` read, its cases (inline, from case files, from
//! attack packs) validated up front, so a bad suite fails before any provider call, naming
//! the file and line.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::assertions::{Assertion, compile_raw};
use super::case::{Case, CaseOrigin, Suite};
use super::raw::{JsonlCase, RawSuite};
use super::script::DEFAULT_MAX_STEPS;
use super::{attacks, script};
use crate::config::Tolerance;
use crate::errors::{Error, Location, Result};
use crate::ids::PromptName;
use crate::vocabulary::SuiteKind;

/// Where suite files live, relative to the project root.
pub(crate) const SUITES_DIR: &str = "suites";

impl Suite {
    /// Loads and validates the suite at `path` (relative to `root`).
    pub fn load(root: &Path, path: &Path) -> Result<Suite> {
        let text = crate::files::read_text(&root.join(path), path)?.ok_or_else(|| {
            Error::io(
                "read",
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })?;
        let mut raw: RawSuite = crate::yaml::from_str(path, &text, 1)?;
        let at = |loc: &serde_saphyr::Location| crate::yaml::location(path, loc, 1);
        let kind = match raw.kind.value.as_str() {
            "regression" => SuiteKind::Regression,
            "adversarial" => SuiteKind::Adversarial,
            "shadow" => SuiteKind::Shadow,
            other => {
                return Err(Error::invalid_with_hint(
                    at(&raw.kind.referenced),
                    format!("unknown suite kind `{other}`"),
                    "expected `regression`, `adversarial` or `shadow`",
                ));
            }
        };
        let tolerance = match &raw.tolerance {
            Some(spanned) => {
                if let Some((_, problem)) = spanned.value.problem() {
                    return Err(Error::invalid(at(&spanned.referenced), problem));
                }
                spanned.value
            }
            None => Tolerance::default(),
        };
        let kind_at = at(&raw.kind.referenced);
        if kind != SuiteKind::Adversarial {
            attacks::reject_attack_fields(&raw, &kind_at)?;
        }
        let mut prompts: Vec<PromptName> = raw.prompts.iter().map(PromptName::new).collect();
        prompts.extend(raw.prompt.iter().map(PromptName::new));
        if prompts.is_empty() {
            return Err(Error::invalid_with_hint(
                Location::new(path, 1, 1),
                "the suite names no prompt",
                "add `prompt: NAME` (the path under prompts/ without .prompt)",
            ));
        }
        let samples = match &raw.samples {
            Some(s) if s.value == 0 => {
                return Err(Error::invalid(
                    at(&s.referenced),
                    "samples must be at least 1",
                ));
            }
            Some(s) => s.value,
            None => 1,
        };
        let defaults = std::mem::take(&mut raw.defaults.assert)
            .into_iter()
            .map(|a| compile_raw(path, a))
            .collect::<Result<Vec<_>>>()?;

        let conversation = script::ConversationDefaults {
            max_steps: match &raw.max_steps {
                Some(s) if s.value == 0 => {
                    return Err(Error::invalid(
                        at(&s.referenced),
                        "max_steps must be at least 1",
                    ));
                }
                Some(s) => s.value,
                None => DEFAULT_MAX_STEPS,
            },
            unexpected: raw.unexpected_calls,
        };
        let mut cases = Vec::new();
        let attack_suite = match kind {
            SuiteKind::Adversarial => Some(attacks::AttackSuite::new(
                path,
                &raw,
                &defaults,
                conversation,
            )?),
            SuiteKind::Regression => None,
            SuiteKind::Shadow => {
                shadow_checks(path, &raw, &defaults, &kind_at)?;
                None
            }
        };
        if let Some(suite) = &attack_suite {
            suite.pack_cases(&mut cases)?;
        }
        for entry in std::mem::take(&mut raw.cases) {
            let location = at(&entry.referenced);
            let raw_case = entry.value;
            if let Some(suite) = &attack_suite {
                attacks::reject_conversation_fields(&raw_case, &location)?;
                let mut own = Vec::new();
                for a in raw_case.assert {
                    own.push(compile_raw(path, a)?);
                }
                suite.own_case(
                    attacks::OwnAttack {
                        id: raw_case.id,
                        description: raw_case.description,
                        category: raw_case.category,
                        attack: raw_case.attack,
                        document: raw_case.document,
                        plant: raw_case.plant.unwrap_or_default(),
                        vars: raw_case.vars,
                        file: raw_case.file,
                        assertions: own,
                        location,
                    },
                    &mut cases,
                )?;
                continue;
            }
            attacks::reject_case_attack_fields(&raw_case, &location)?;
            if let Some(file) = raw_case.file {
                if raw_case.id.is_some() || !raw_case.vars.is_empty() || !raw_case.assert.is_empty()
                {
                    return Err(Error::invalid_with_hint(
                        location,
                        "a case entry has both `file` and its own fields",
                        "an entry is either `file: PATH.jsonl` or an inline case with `id`, `vars` and `assert`",
                    ));
                }
                load_jsonl(root, Path::new(&file), &location, &defaults, &mut cases)?;
                continue;
            }
            let id = raw_case.id.ok_or_else(|| {
                Error::invalid_with_hint(
                    location.clone(),
                    "case has no `id`",
                    "give every case a unique `id`",
                )
            })?;
            let mut assertions = defaults.clone();
            for a in raw_case.assert {
                assertions.push(compile_raw(path, a)?);
            }
            let (history, script) = script::compile(
                path,
                script::RawConversation {
                    turns: raw_case.turns,
                    results: raw_case.results,
                    history: raw_case.history,
                    max_steps: raw_case.max_steps,
                },
                conversation,
            )?;
            cases.push(Case {
                id,
                description: raw_case.description,
                vars: compact(raw_case.vars),
                expected: raw_case.expected,
                assertions,
                location,
                attack: None,
                history,
                script: script.map(std::sync::Arc::new),
            });
        }
        // Cases are held for the whole run: without the room their vector grew into.
        cases.shrink_to_fit();
        let mut seen = std::collections::HashSet::new();
        for case in &cases {
            if case.attack.is_none()
                && case
                    .assertions
                    .iter()
                    .any(|a| matches!(a, Assertion::Canary))
            {
                return Err(Error::invalid_with_hint(
                    case.location.clone(),
                    format!(
                        "case `{}` has a `canary` assertion, but only attack cases have a canary",
                        case.id
                    ),
                    "use `canary` in a `kind: adversarial` suite",
                ));
            }
            let needs_expected = case
                .assertions
                .iter()
                .any(|a| matches!(a, Assertion::Similar { value: None, .. }));
            if needs_expected && case.expected.is_none() {
                return Err(Error::invalid_with_hint(
                    case.location.clone(),
                    format!(
                        "case `{}` has a `similar` assertion without a `value` and no `expected` text",
                        case.id
                    ),
                    "give the case `expected: ...`, or the assertion a `value`",
                ));
            }
            if !seen.insert(case.id.as_str()) {
                return Err(Error::invalid_with_hint(
                    case.location.clone(),
                    format!("duplicate case id `{}`", case.id),
                    "case ids must be unique within a suite",
                ));
            }
        }
        let name = path
            .strip_prefix(SUITES_DIR)
            .unwrap_or(path)
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/");
        Ok(Suite {
            name,
            path: path.to_path_buf(),
            kind,
            prompts,
            provider: raw.provider,
            samples,
            // A shadow suite's cases are a sample of traffic, whatever the file says.
            cases_are: match kind {
                SuiteKind::Shadow => CaseOrigin::Sampled,
                _ => raw.cases_are,
            },
            tolerance,
            params: raw.params,
            cases,
            checks: defaults,
            target: raw
                .target
                .as_ref()
                .map(|t| (t.value.clone(), at(&t.referenced))),
        })
    }

    /// This shadow suite with `records` as its cases: each record's variables, the suite's
    /// checks, and the record's place in its file as the case's location.
    pub(crate) fn with_traffic(&self, records: &[&crate::traffic::Record]) -> Suite {
        let mut suite = self.clone();
        suite.cases = records
            .iter()
            .map(|r| Case {
                id: r.id.clone(),
                description: None,
                vars: r.vars.clone(),
                expected: None,
                assertions: self.checks.clone(),
                location: r.source.clone(),
                attack: None,
                history: Vec::new(),
                script: None,
            })
            .collect();
        suite
    }

    /// Finds and loads every suite under `root/suites/`, sorted by name.
    pub fn load_all(root: &Path) -> Result<Vec<Suite>> {
        let mut files = Vec::new();
        collect_yaml(&root.join(SUITES_DIR), Path::new(SUITES_DIR), &mut files);
        files.sort();
        // Every broken suite is reported at once, not only the first.
        let mut suites = Vec::new();
        let mut errors = Vec::new();
        for file in &files {
            match Suite::load(root, file) {
                Ok(suite) => suites.push(suite),
                Err(e) => errors.push(e),
            }
        }
        Error::combine(errors)?;
        Ok(suites)
    }
}

/// Refuses what a shadow suite cannot have: cases of its own (they come from traffic), and
/// checks that need an expected output (`similar` without a `value`).
fn shadow_checks(
    path: &Path,
    raw: &RawSuite,
    checks: &[Assertion],
    kind_at: &Location,
) -> Result<()> {
    if let Some(case) = raw.cases.first() {
        return Err(Error::invalid_with_hint(
            crate::yaml::location(path, &case.referenced, 1),
            "a shadow suite has no cases of its own: they are a sample of production traffic",
            "remove `cases:`, and run `promptgate shadow NAME --traffic FILE`",
        ));
    }
    let needs_reference = checks
        .iter()
        .find(|a| matches!(a, Assertion::Similar { value: None, .. }));
    if let Some(check) = needs_reference {
        return Err(Error::invalid_with_hint(
            kind_at.clone(),
            format!(
                "a shadow suite's `{}` check needs an expected output, which traffic does not have",
                check.kind()
            ),
            "give it a `value` to compare with, or use reference-free checks (format, schema, length, detectors, tool policy)",
        ));
    }
    if checks.is_empty() {
        return Err(Error::invalid_with_hint(
            kind_at.clone(),
            "a shadow suite has no checks",
            "add reference-free checks under `defaults: { assert: [...] }`",
        ));
    }
    Ok(())
}

fn collect_yaml(dir: &Path, shown: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let shown = shown.join(entry.file_name());
        if path.is_dir() {
            collect_yaml(&path, &shown, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(shown);
        }
    }
}

/// `vars` in a map of its own size: a parsed map keeps the room it grew into, once per case
/// for as long as the run lasts.
fn compact(vars: Map<String, Value>) -> Map<String, Value> {
    vars.into_iter().collect()
}

fn load_jsonl(
    root: &Path,
    file: &Path,
    from: &Location,
    defaults: &[Assertion],
    cases: &mut Vec<Case>,
) -> Result<()> {
    let text = match crate::files::read_confined(root, file) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err(Error::invalid_with_hint(
                from.clone(),
                format!("case file `{}` does not exist", file.display()),
                "case file paths are relative to the project root",
            ));
        }
        Err(Error::Usage(message)) => return Err(Error::invalid(from.clone(), message)),
        Err(e) => return Err(e),
    };
    let stem = file
        .file_stem()
        .map_or_else(|| "case".into(), |s| s.to_string_lossy().into_owned());
    for (index, line) in text.lines().enumerate() {
        let line_no = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let location = Location::new(file, line_no, 1);
        let raw: JsonlCase = serde_json::from_str(line).map_err(|e| {
            Error::invalid_with_hint(
                Location::new(file, line_no, e.column() as u64),
                format!("invalid case: {e}"),
                "each line is one JSON object with `vars` and optionally `id`, `expected` and `assert`",
            )
        })?;
        let mut assertions = defaults.to_vec();
        for spec in raw.assert {
            let kind = spec.kind.clone();
            assertions.push(
                spec.compile(&kind)
                    .map_err(|(message, hint)| Error::Invalid {
                        location: location.clone(),
                        message,
                        hint,
                    })?,
            );
        }
        let id = raw.id.unwrap_or_else(|| format!("{stem}-{line_no}"));
        cases.push(Case {
            id,
            description: raw.description,
            vars: compact(raw.vars),
            expected: raw.expected,
            assertions,
            location,
            attack: None,
            history: Vec::new(),
            script: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project folder holding `files`.
    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_suite_with_defaults_a_case_file_and_its_own_limits() {
        let dir = project(&[
            (
                "suites/support/triage.yaml",
                "kind: regression\nprompt: support/triage\nsamples: 3\ntolerance: { max_pass_rate_drop: 0.1 }\ndefaults:\n  assert:\n    - { type: max-length, value: 200 }\ncases:\n  - id: billing\n    vars: { message: charged twice }\n    assert:\n      - { type: contains, value: billing }\n  - file: fixtures/more.jsonl\n",
            ),
            (
                "fixtures/more.jsonl",
                "{\"id\": \"bug\", \"vars\": {\"message\": \"it crashes\"}, \"assert\": [{\"type\": \"icontains\", \"value\": \"bug\"}]}\n",
            ),
        ]);
        let suites = Suite::load_all(dir.path()).unwrap();
        let [suite] = &suites[..] else {
            panic!("one suite, got {}", suites.len())
        };
        assert_eq!(suite.name, "support/triage");
        assert_eq!((suite.kind, suite.samples), (SuiteKind::Regression, 3));
        assert_eq!(suite.tolerance.max_pass_rate_drop, Some(0.1));
        assert!(suite.targets(&PromptName::new("support/triage.terse")));
        let ids: Vec<&str> = suite.cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["billing", "bug"]);
        // The suite's defaults come first in every case, the case's own after.
        for case in &suite.cases {
            assert_eq!(case.assertions.len(), 2);
            assert!(matches!(case.assertions[0], Assertion::MaxLength(200)));
        }
        assert_eq!(
            suite.cases[1].location.to_string(),
            "fixtures/more.jsonl:1:1"
        );
    }

    #[test]
    fn every_broken_suite_is_reported_at_once_at_its_line() {
        let dir = project(&[
            (
                "suites/a.yaml",
                "kind: regression\nprompt: p\ncases:\n  - id: x\n    vars: {}\n  - id: x\n    vars: {}\n",
            ),
            ("suites/b.yaml", "kind: regresion\nprompt: p\ncases: []\n"),
        ]);
        let error = Suite::load_all(dir.path()).unwrap_err();
        let Error::Several(errors) = &error else {
            panic!("two errors, got {error}")
        };
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(shown[0].starts_with("suites/a.yaml:6:"), "{}", shown[0]);
        assert!(shown[0].contains("`x`"), "{}", shown[0]);
        assert!(shown[1].starts_with("suites/b.yaml:1:"), "{}", shown[1]);
        assert!(shown[1].contains("regression"), "{}", shown[1]);
    }
}
