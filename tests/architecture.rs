//! The layers of `src/`: every import between top-level modules points down.
//!
//! Reads the sources (test modules left out), collects each top-level module's `crate::…`
//! paths, and checks them against the order below. A new top-level module has to be placed
//! in it, which is the point: where it sits is a decision, not an accident.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Lower layers first. A module may import modules of its own layer or of a layer before
/// it; never one after it. Within a layer the graph must still be acyclic.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &["domain", "auth", "ids", "enrich", "telemetry", "lifecycle"],
    ),
    ("configuration", &["config", "metrics"]),
    ("adapters", &["storage", "pipeline"]),
    ("process memory", &["cache", "throttle"]),
    ("use cases", &["checkout", "attribution", "worker"]),
    ("application state", &["state"]),
    ("edge", &["http"]),
    ("wiring", &["startup", "cli"]),
];

/// Modules that stay pure: they import nothing else of the crate.
const SELF_CONTAINED: &[&str] = &["domain"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The source without comments, string contents and `#[cfg(test)]` items, so that only
/// code the shipped binary compiles is read.
fn shipped_code(source: &str) -> String {
    let mut code = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '"' => {
                code.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                code.push('"');
            }
            // A char literal holding a quote or a brace would confuse the scanners below.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("\\") {
                    chars.by_ref().take_while(|c| *c != '\'').for_each(drop);
                    code.push_str("' '");
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.next();
                    chars.next();
                    code.push_str("' '");
                } else {
                    code.push('\'');
                }
            }
            _ => code.push(c),
        }
    }
    without_test_items(&code)
}

fn without_test_items(code: &str) -> String {
    let mut kept = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(start) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..start]);
        let after = &rest[start..];
        // The item ends at its `;` (a `mod x;` or a `use`) or at the brace closing its body.
        let body = after.find(['{', ';']).expect("a cfg(test) item");
        if after.as_bytes()[body] == b';' {
            rest = &after[body + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[body..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = body + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    kept.push_str(rest);
    kept
}

/// The top-level modules named by every `crate::` path in `code`, including each branch of
/// a `use crate::{a, b::c}` group.
fn imported_modules(code: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        let trimmed = rest.trim_start();
        if let Some(group) = trimmed.strip_prefix('{') {
            let mut depth = 1usize;
            let mut item_start = true;
            let mut ident = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        if !ident.is_empty() {
                            modules.insert(std::mem::take(&mut ident));
                        }
                        item_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 1 && item_start {
                    if c.is_alphanumeric() || c == '_' {
                        ident.push(c);
                        continue;
                    }
                    if !ident.is_empty() {
                        modules.insert(std::mem::take(&mut ident));
                        item_start = false;
                    }
                }
            }
            if !ident.is_empty() {
                modules.insert(ident);
            }
        } else {
            let ident: String = trimmed
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                modules.insert(ident);
            }
        }
    }
    modules
}

/// Top-level module → the other top-level modules it imports.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a file name");
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let source = fs::read_to_string(&file).expect("readable source");
        let imports = graph.entry(module.clone()).or_default();
        for imported in imported_modules(&shipped_code(&source)) {
            if imported != module && imported != "self" && imported != "super" {
                imports.insert(imported);
            }
        }
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[start..].iter().map(|n| n.to_string()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn every_top_level_module_has_a_layer() {
    let unplaced: Vec<_> = module_graph()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "place these modules in LAYERS: {unplaced:?}"
    );
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = module_graph();
    assert_eq!(find_cycle(&graph), None, "imports: {graph:#?}");
}

#[test]
fn imports_only_point_down() {
    let mut upward = Vec::new();
    for (module, imports) in module_graph() {
        let Some(own) = layer_of(&module) else {
            continue;
        };
        for imported in imports {
            match layer_of(&imported) {
                Some(layer) if layer <= own => {}
                Some(layer) => upward.push(format!(
                    "{module} ({}) imports {imported} ({})",
                    LAYERS[own].0, LAYERS[layer].0
                )),
                None => upward.push(format!("{module} imports unplaced {imported}")),
            }
        }
    }
    assert!(upward.is_empty(), "imports pointing up: {upward:#?}");
}

#[test]
fn pure_modules_import_nothing_of_the_crate() {
    let graph = module_graph();
    for module in SELF_CONTAINED {
        let imports = graph.get(*module).cloned().unwrap_or_default();
        assert!(imports.is_empty(), "{module} imports {imports:?}");
    }
}

#[test]
fn storage_knows_nothing_of_the_layers_above_it() {
    let graph = module_graph();
    let storage = graph.get("storage").cloned().unwrap_or_default();
    for forbidden in [
        "http", "startup", "cli", "worker", "checkout", "cache", "state", "pipeline",
    ] {
        assert!(
            !storage.contains(forbidden),
            "storage imports {forbidden}: {storage:?}"
        );
    }
}

#[test]
fn the_scanner_reads_groups_and_skips_tests_and_comments() {
    let code = shipped_code(
        "use crate::{a, b::{c, d}, e::f as g};\n\
         // crate::commented\n\
         let s = \"crate::quoted\";\n\
         fn x() { crate::h::call(); $crate::macro_path(); }\n\
         #[cfg(test)]\nmod tests { use crate::tested; fn y() { if true { } } }\n\
         use crate::after_tests;",
    );
    let found: Vec<_> = imported_modules(&code).into_iter().collect();
    assert_eq!(found, ["a", "after_tests", "b", "e", "h"]);
}

/// The README's "Layout" section is the map a newcomer reads first: every module of
/// `src/` must be on it, so a new one cannot be added without saying where it sits.
#[test]
fn the_readme_layout_names_every_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md");
    let layout = readme
        .split("\n## Layout\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a \"## Layout\" section");
    let words: BTreeSet<&str> = layout
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let missing: Vec<String> = files
        .iter()
        .filter_map(|path| path.file_stem()?.to_str())
        .filter(|stem| !matches!(*stem, "lib" | "main" | "mod"))
        .filter(|stem| !words.contains(stem))
        .map(str::to_owned)
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from the README's Layout: {missing:?}"
    );
}

/// SQL is spoken in `storage` alone: a query anywhere else would be a table's rules kept
/// in a second place (the redeemer once called `redeem_codes` itself, the readiness probe
/// sent its own `SELECT 1`).
#[test]
fn only_storage_sends_sql() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let speaking: Vec<String> = files
        .iter()
        .filter(|file| !file.starts_with(src.join("storage")))
        .filter(|file| {
            let code = shipped_code(&fs::read_to_string(file).expect("readable source"));
            ["sqlx::query", "query_as(", "query_scalar(", ".execute("]
                .iter()
                .any(|call| code.contains(call))
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(speaking.is_empty(), "SQL outside src/storage: {speaking:?}");
}
