//! The library's layers and floors hold: every module of `harness/` has a layer in
//! `docs/architecture.md` and uses only modules of its own layer or below; every file of the
//! engine (`pipeline/`) and of governance (`release/`) has a row there; no two files depend on
//! each other in a circle; no command (`ops/`) uses another; and no function of the upper
//! floors (`pipeline/`, `release/`, `ops/`, `cli/`) is longer than 80 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The longest a function of the upper floors may be, signature to closing brace.
const MAX_FUNCTION_LINES: usize = 80;

/// The floors whose functions are held to [`MAX_FUNCTION_LINES`].
const UPPER_FLOORS: [&str; 4] = ["pipeline", "release", "ops", "cli"];

/// The layer of every module, as `docs/architecture.md`'s table gives it.
fn layers(doc: &str) -> BTreeMap<String, usize> {
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

/// The files `docs/architecture.md` gives a row of their own: `| pipeline/x.rs | ... |`.
fn file_rows(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|line| {
            let cell = line.strip_prefix('|')?.split('|').next()?.trim();
            let file = cell.trim_matches('`');
            file.ends_with(".rs").then(|| file.to_string())
        })
        .collect()
}

/// Every `.rs` file under `dir`, relative to it, with `/` separators.
fn rust_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(dir).unwrap();
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

/// A crate's files by module path: `a/b.rs` and `a/b/mod.rs` are `a::b`; the root file (`lib.rs`
/// or `main.rs`) is the empty path.
struct Crate {
    files: BTreeMap<Vec<String>, String>,
}

impl Crate {
    /// The crate rooted at `root_file` among `files` (paths relative to the crate's folder).
    fn new(files: &[String], root_file: &str) -> Self {
        let mut by_module = BTreeMap::new();
        for file in files {
            by_module.insert(module_of(file, root_file), file.clone());
        }
        Self { files: by_module }
    }

    /// The file the path `segments` reaches from the module `at`: the deepest module along it.
    fn resolve(&self, at: &[String], segments: &[String]) -> Option<&String> {
        let mut module: Vec<String> = at.to_vec();
        let mut rest = segments;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                module.clear();
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().is_some_and(|s| s == "super") {
                    module.pop()?;
                    rest = &rest[1..];
                }
            }
            _ => {}
        }
        for segment in rest {
            let mut deeper = module.clone();
            deeper.push(segment.clone());
            if !self.files.contains_key(&deeper) {
                break;
            }
            module = deeper;
        }
        self.files.get(&module)
    }
}

/// The module path of `file` in a crate whose root file is `root_file`.
fn module_of(file: &str, root_file: &str) -> Vec<String> {
    if file == root_file {
        return Vec::new();
    }
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// A file's code without its unit tests (after `#[cfg(test)]`), line comments and string
/// literals' contents (so a message naming `crate::x` is not a use of it).
fn code_of(source: &str) -> String {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = String::new();
    for line in code.lines() {
        let mut in_string = false;
        let mut previous = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_string && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && previous != '\\' {
                in_string = !in_string;
                out.push('"');
            } else if !in_string {
                out.push(c);
            }
            previous = c;
        }
        out.push('\n');
    }
    out
}

/// The paths a file's code names through `crate::`, `super::`, `self::` or one of its own
/// child modules (`children`), each `use` group expanded (`a::{b::C, d}` is `a::b::C` and
/// `a::d`). A re-export (`pub use`, `pub(crate) use`) is not a use of what it re-exports.
fn paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for statement in code.split(';') {
        let chars: Vec<char> = statement.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let starts_word =
                i == 0 || !(chars[i - 1].is_alphanumeric() || "_:".contains(chars[i - 1]));
            if !starts_word || !(chars[i].is_alphabetic() || chars[i] == '_') {
                i += 1;
                continue;
            }
            let word = ident_at(&chars, i);
            let rooted =
                ["crate", "super", "self"].contains(&word.as_str()) || children.contains(&word);
            let followed = chars[i + word.len()..].starts_with(&[':', ':']);
            let before: String = chars[..i].iter().collect();
            let before = before.trim_end();
            let reexport = before.ends_with("pub use") || before.ends_with("pub(crate) use");
            if rooted && followed && reexport {
                i = parse_path(&chars, i, &mut Vec::new(), &mut Vec::new());
            } else if rooted && followed {
                i = parse_path(&chars, i, &mut Vec::new(), &mut found);
            } else {
                i += word.len().max(1);
            }
        }
    }
    found
}

/// The identifier starting at `chars[i]`.
fn ident_at(chars: &[char], i: usize) -> String {
    chars[i..]
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_')
        .collect()
}

/// Parses the path (or `use` tree) at `chars[i]` under `prefix`, adding each full path to
/// `found`; returns where it ends.
fn parse_path(
    chars: &[char],
    mut i: usize,
    prefix: &mut Vec<String>,
    found: &mut Vec<Vec<String>>,
) -> usize {
    let depth = prefix.len();
    loop {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        match chars.get(i) {
            Some('{') => {
                i += 1;
                loop {
                    while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                        i += 1;
                    }
                    match chars.get(i) {
                        None => break,
                        Some('}') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i = parse_path(chars, i, prefix, found),
                    }
                }
                prefix.truncate(depth);
                return i;
            }
            Some(c) if c.is_alphabetic() || *c == '_' => {
                let word = ident_at(chars, i);
                i += word.len();
                prefix.push(word);
                if chars[i..].starts_with(&[':', ':']) {
                    i += 2;
                    continue;
                }
                found.push(prefix.clone());
                prefix.truncate(depth);
                return i;
            }
            _ => {
                if prefix.len() > depth {
                    found.push(prefix.clone());
                }
                prefix.truncate(depth);
                return i.max(1);
            }
        }
    }
}

/// The child modules a file declares (`mod x;`, `pub(crate) mod x;`).
fn children(code: &str) -> BTreeSet<String> {
    code.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub(crate) mod ")
                .or_else(|| line.strip_prefix("pub mod "))
                .or_else(|| line.strip_prefix("mod "))?;
            rest.strip_suffix(';').map(str::to_string)
        })
        .collect()
}

/// Which files each file of a crate uses, as paths relative to `harness/`.
fn file_graph(
    dir: &Path,
    prefix: &str,
    root_file: &str,
    skip: &str,
) -> BTreeMap<String, BTreeSet<String>> {
    let files: Vec<String> = rust_files(dir)
        .into_iter()
        .filter(|f| skip.is_empty() || !f.starts_with(skip))
        .collect();
    let krate = Crate::new(&files, root_file);
    let mut graph = BTreeMap::new();
    for file in &files {
        let code = code_of(&std::fs::read_to_string(dir.join(file)).unwrap());
        let at = module_of(file, root_file);
        let used: BTreeSet<String> = paths(&code, &children(&code))
            .iter()
            .filter_map(|path| krate.resolve(&at, path))
            .filter(|target| *target != file)
            .map(|target| format!("{prefix}{target}"))
            .collect();
        graph.insert(format!("{prefix}{file}"), used);
    }
    graph
}

/// A cycle in `graph`, if there is one, as the nodes along it.
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

/// Every circle in `graph`, one line each: each found is broken at its last edge and the
/// search goes on, so one run names them all.
fn circles(mut graph: BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    while let Some(circle) = cycle(&graph) {
        found.push(format!("a circle between files: {}", circle.join(" → ")));
        let (from, to) = (&circle[circle.len() - 2], &circle[circle.len() - 1]);
        if let Some(edges) = graph.get_mut(from) {
            edges.remove(to);
        }
    }
    found
}

/// The top-level module of a file of the library (`pipeline/calls/ledger.rs` is `pipeline`).
fn top_module(file: &str) -> String {
    file.split('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches(".rs")
        .to_string()
}

/// What breaks the layers: a module without a layer, a use of a higher layer, a layer for a
/// module that does not exist, a cycle between modules.
fn layer_problems(
    layers: &BTreeMap<String, usize>,
    graph: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, used) in graph
        .iter()
        .filter(|(f, _)| !f.starts_with("cli/") && *f != "lib.rs")
    {
        let module = top_module(file);
        let Some(&layer) = layers.get(&module) else {
            problems.push(format!(
                "{module} has no layer: add it to the table in docs/architecture.md"
            ));
            continue;
        };
        let edges = modules.entry(module.clone()).or_default();
        for used in used
            .iter()
            .map(|u| top_module(u))
            .filter(|u| *u != module && u != "lib")
        {
            if let Some(&above) = layers.get(&used).filter(|&&l| l > layer) {
                problems.push(format!(
                    "harness/{file} (layer {layer}) uses {used} (layer {above})"
                ));
            }
            edges.insert(used);
        }
    }
    problems.extend(
        layers
            .keys()
            .filter(|m| !modules.contains_key(*m))
            .map(|m| format!("docs/architecture.md names {m}, which does not exist")),
    );
    if let Some(cycle) = cycle(&modules) {
        problems.push(format!("a cycle between modules: {}", cycle.join(" → ")));
    }
    problems
}

/// Commands that use another command, or the module that gathers them.
fn command_imports(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let command = |f: &str| f.starts_with("ops/") && f != "ops/mod.rs";
    graph
        .iter()
        .filter(|(file, _)| command(file))
        .flat_map(|(file, used)| {
            used.iter()
                .filter(|u| u.starts_with("ops/"))
                .map(move |u| format!("the command harness/{file} uses harness/{u}: a command composes the floors below, never another command"))
        })
        .collect()
}

/// The functions of `source` longer than `max` lines, with their first line's number.
fn long_functions(source: &str, max: usize) -> Vec<(usize, String, usize)> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let lines: Vec<&str> = code.lines().collect();
    let mut long = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let signature = trimmed
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ")
            .trim_start_matches("async ")
            .trim_start_matches("const ");
        let Some(name) = signature.strip_prefix("fn ") else {
            continue;
        };
        if line.trim_end().ends_with('}') || line.trim_end().ends_with(';') {
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        let end = lines[i + 1..].iter().position(|l| {
            l.strip_prefix(indent).is_some_and(|rest| {
                !rest.starts_with(char::is_whitespace)
                    && (rest.starts_with('}') || rest.trim_end().ends_with(';'))
            })
        });
        let Some(end) = end else { continue };
        let length = end + 2;
        let is_body = lines[i + 1 + end]
            .strip_prefix(indent)
            .is_some_and(|r| r.starts_with('}'));
        if is_body && length > max {
            long.push((i + 1, ident(name), length));
        }
    }
    long
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Every file of the engine and governance floors has a row in the doc, and every row names a
/// file that exists.
fn row_problems(
    rows: &BTreeSet<String>,
    graph: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let floored = |f: &str| f.starts_with("pipeline/") || f.starts_with("release/");
    let mut problems: Vec<String> = graph
        .keys()
        .filter(|f| floored(f) && !rows.contains(*f))
        .map(|f| format!("harness/{f} has no row in docs/architecture.md's floor tables"))
        .collect();
    problems.extend(
        rows.iter()
            .filter(|r| !graph.contains_key(*r))
            .map(|r| format!("docs/architecture.md has a row for {r}, which does not exist")),
    );
    problems
}

#[test]
fn the_layers_and_floors_hold_with_no_circle_no_command_using_another_and_short_functions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let harness = root.join("harness");
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut graph = file_graph(&harness, "", "lib.rs", "cli/");
    graph.extend(file_graph(&harness.join("cli"), "cli/", "main.rs", ""));
    let mut problems = layer_problems(&layers(&doc), &graph);
    problems.extend(row_problems(&file_rows(&doc), &graph));
    problems.extend(command_imports(&graph));
    problems.extend(circles(graph.clone()));
    for file in graph
        .keys()
        .filter(|f| UPPER_FLOORS.contains(&top_module(f).as_str()))
    {
        let source = std::fs::read_to_string(harness.join(file)).unwrap();
        for (line, name, length) in long_functions(&source, MAX_FUNCTION_LINES) {
            problems.push(format!(
                "harness/{file}:{line}: fn {name} is {length} lines, more than {MAX_FUNCTION_LINES}: split it into steps with names"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reader_of_imports_sees_every_form() {
    let source = "use crate::a::B;\nuse crate::{c::D, e};\nuse super::{f::{G, h::I}, J};\n// crate::commented\npub use child::K;\nfn f() { crate::g::h(); child::x(); let s = \"crate::quoted\"; }\n#[cfg(test)]\nmod tests { use crate::t; }\n";
    let code = code_of(source);
    let children = BTreeSet::from(["child".to_string()]);
    let found: Vec<String> = paths(&code, &children)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "crate::a::B",
            "crate::c::D",
            "crate::e",
            "super::f::G",
            "super::f::h::I",
            "super::J",
            "crate::g::h",
            "child::x"
        ]
    );
    // Paths resolve to the deepest file along them, `super` from the module's parent.
    let files: Vec<String> = ["lib.rs", "a/mod.rs", "a/b.rs", "a/c.rs", "d.rs"]
        .map(String::from)
        .to_vec();
    let krate = Crate::new(&files, "lib.rs");
    let at = module_of("a/b.rs", "lib.rs");
    let resolve = |p: &str| {
        krate
            .resolve(&at, &p.split("::").map(String::from).collect::<Vec<_>>())
            .cloned()
    };
    assert_eq!(resolve("super::c::Thing").as_deref(), Some("a/c.rs"));
    assert_eq!(resolve("super::Thing").as_deref(), Some("a/mod.rs"));
    assert_eq!(resolve("crate::d::f").as_deref(), Some("d.rs"));
    assert_eq!(resolve("crate::x").as_deref(), Some("lib.rs"));
}

#[test]
fn a_circle_a_command_using_another_and_a_long_function_are_each_found() {
    let mut graph = BTreeMap::new();
    graph.insert(
        "pipeline/x.rs".to_string(),
        BTreeSet::from(["pipeline/y.rs".to_string()]),
    );
    graph.insert(
        "pipeline/y.rs".to_string(),
        BTreeSet::from(["pipeline/x.rs".to_string()]),
    );
    assert_eq!(
        cycle(&graph).unwrap(),
        ["pipeline/x.rs", "pipeline/y.rs", "pipeline/x.rs"]
    );
    let mut commands = BTreeMap::new();
    commands.insert(
        "ops/promote.rs".to_string(),
        BTreeSet::from(["ops/check.rs".to_string(), "pipeline/x.rs".to_string()]),
    );
    commands.insert(
        "ops/check.rs".to_string(),
        BTreeSet::from(["pipeline/x.rs".to_string()]),
    );
    let found = command_imports(&commands);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].contains("ops/promote.rs uses harness/ops/check.rs"),
        "{found:?}"
    );
    let body = "    let x = 1;\n".repeat(80);
    let source = format!(
        "/// Doc.\nfn long(\n    a: u32,\n) -> u32 {{\n{body}    a\n}}\n\nfn short() -> u32 {{\n    1\n}}\n\ntrait T {{\n    fn declared(&self)\n        -> u32;\n}}\n"
    );
    assert_eq!(long_functions(&source, 80), [(2, "long".to_string(), 85)]);
}
