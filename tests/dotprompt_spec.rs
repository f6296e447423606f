//! Runs Dotprompt's own conformance vectors (`tests/data/dotprompt-spec`, from google/dotprompt,
//! Apache-2.0) through promptgate's parser and renderer.
//!
//! Every vector in every file runs. Nothing is skipped: if one must ever be, list it in `SKIPPED`
//! with the reason, and the test checks that the list stays accurate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promptgate::internals::artifact::{self, Message, RenderData, Template};
use promptgate::internals::ids::PromptName;
use serde_json::{Map, Value};

/// `(file, group, test description, reason)` for vectors that are knowingly not run.
const SKIPPED: &[(&str, &str, &str, &str)] = &[];

fn spec_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dotprompt-spec");
    let mut files: Vec<PathBuf> = ["", "helpers"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(root.join(sub)).expect("spec dir exists"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn object(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

fn run_vector(file: &Path, group: &Value, test: &Value) -> Result<(), String> {
    let source = group["template"].as_str().ok_or("group has no template")?;
    let named = object(group.get("schemas"));
    let mut prompt = artifact::parse(PromptName::new("spec"), file, source, &named)
        .map_err(|e| e.to_string())?;
    if let Some(default) = test
        .pointer("/options/input/default")
        .and_then(Value::as_object)
    {
        prompt
            .metadata
            .input
            .get_or_insert_with(Default::default)
            .default = default.clone();
    }
    let mut partials = BTreeMap::new();
    for key in ["partials", "resolverPartials"] {
        for (name, body) in object(group.get(key)) {
            partials.insert(name, body.as_str().unwrap_or_default().to_string());
        }
    }
    let template = Template::compile(&prompt, &partials)?;
    let mut data = object(group.get("data"));
    data.extend(object(test.get("data")));
    let history: Vec<Message> = match data.get("messages") {
        Some(m) => {
            serde_json::from_value(m.clone()).map_err(|e| format!("bad history in vector: {e}"))?
        }
        None => Vec::new(),
    };
    let render_data = RenderData {
        input: object(data.get("input")),
        context: object(data.get("context")),
        messages: history,
    };
    let messages = template.render(&render_data)?;

    let expect = &test["expect"];
    let got = serde_json::to_value(&messages).expect("messages serialize");
    if got != expect["messages"] {
        return Err(format!(
            "messages differ\n  expected: {}\n  got:      {got}",
            expect["messages"]
        ));
    }
    let metadata = serde_json::to_value(&prompt.metadata).expect("metadata serializes");
    for (key, want) in object(Some(expect)) {
        if key == "messages" {
            continue;
        }
        if metadata.get(&key) != Some(&want) {
            return Err(format!(
                "metadata `{key}` differs\n  expected: {want}\n  got:      {:?}",
                metadata.get(&key)
            ));
        }
    }
    Ok(())
}

#[test]
fn dotprompt_conformance_vectors() {
    let mut ran = 0;
    let mut failures = Vec::new();
    let mut skipped_seen = 0;
    for file in spec_files() {
        let text = std::fs::read_to_string(&file).expect("read spec file");
        let groups: Vec<Value> = serde_saphyr::from_str(&text).expect("spec file is YAML");
        let file_name = file.file_name().unwrap().to_string_lossy().to_string();
        for group in &groups {
            let group_name = group["name"].as_str().unwrap_or("?");
            for test in group["tests"].as_array().expect("tests list") {
                let desc = test["desc"].as_str().unwrap_or("?");
                if SKIPPED
                    .iter()
                    .any(|(f, g, d, _)| *f == file_name && *g == group_name && *d == desc)
                {
                    skipped_seen += 1;
                    continue;
                }
                ran += 1;
                if let Err(e) = run_vector(&file, group, test) {
                    failures.push(format!("{file_name} / {group_name} / {desc}: {e}"));
                }
            }
        }
    }
    assert_eq!(
        skipped_seen,
        SKIPPED.len(),
        "every SKIPPED entry must name an existing vector"
    );
    assert!(ran >= 110, "expected the full vector set, ran {ran}");
    assert!(
        failures.is_empty(),
        "{} of {ran} vectors failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
