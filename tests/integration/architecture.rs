//! The library's layers hold: every module of `harness/` has a layer in `docs/architecture.md`,
//! uses only modules of its own layer or below, and no modules depend on each other in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of every module, as `docs/architecture.md`'s table gives it.
fn layers(root: &Path) -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut layers = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | layer | name | modules |
        let [_, layer, _, modules, _] = cells[..] else {
            continue;
        };
        let Ok(layer) = layer.parse::<usize>() else {
            continue;
        };
        for module in modules.split(',').map(str::trim) {
            assert!(
                layers.insert(module.to_string(), layer).is_none(),
                "{module} has two layers"
            );
        }
    }
    assert!(layers.len() > 10, "the layer table was not found");
    layers
}

/// The library's top-level modules, each with its source files.
fn modules(harness: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(harness).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "cli" {
            continue;
        }
        let files = modules.entry(name).or_default();
        if path.is_dir() {
            let mut stack = vec![path];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(dir).unwrap().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "rs") {
                        files.push(path);
                    }
                }
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    modules
}

/// The top-level modules a source file uses through `crate::` paths (`crate::a::b`, and each
/// item of `crate::{a::b, c}`), leaving out comments and the unit tests at its end.
fn uses(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    found.insert(ident(item.trim()));
                }
            } else {
                found.insert(ident(rest));
            }
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn every_module_uses_only_its_layer_and_below_and_no_cycle_forms() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(root);
    let modules = modules(&root.join("harness"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (module, files) in &modules {
        let Some(&layer) = layers.get(module) else {
            problems.push(format!(
                "{module} has no layer: add it to the table in docs/architecture.md"
            ));
            continue;
        };
        for file in files {
            let source = std::fs::read_to_string(file).unwrap();
            for used in uses(&source).into_iter().filter(|u| u != module) {
                match layers.get(&used) {
                    Some(&above) if above > layer => problems.push(format!(
                        "{} (layer {layer}) uses {used} (layer {above})",
                        file.strip_prefix(root).unwrap().display()
                    )),
                    _ => {}
                }
                graph.entry(module.clone()).or_default().insert(used);
            }
        }
    }
    for module in layers.keys() {
        if !modules.contains_key(module) {
            problems.push(format!(
                "docs/architecture.md names {module}, which does not exist"
            ));
        }
    }
    if let Some(cycle) = cycle(&graph) {
        problems.push(format!("a cycle: {}", cycle.join(" → ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reader_of_imports_sees_every_form() {
    let source = "use crate::a::B;\nuse crate::{c::D, e};\n// crate::commented\nfn f() { crate::g::h(); }\n#[cfg(test)]\nmod tests { use crate::t; }\n";
    let found: Vec<String> = uses(source).into_iter().collect();
    assert_eq!(found, ["a", "c", "e", "g"]);
    let mut graph = BTreeMap::new();
    graph.insert("x".to_string(), BTreeSet::from(["y".to_string()]));
    graph.insert("y".to_string(), BTreeSet::from(["x".to_string()]));
    assert_eq!(cycle(&graph).unwrap(), ["x", "y", "x"]);
}
