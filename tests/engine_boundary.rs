//! The engine knows nothing of its content: no module under `src/` (the
//! engine) names a Mable type or the shipped dataflows, and the engine's
//! top-level modules import one another one way, without cycles. The
//! binary's `main.rs` is content's entry point, so it is not engine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`run`, `sink`, …).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn engine_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.retain(|f| {
        let m = module_of(f);
        m != "main"
    });
    files
}

#[test]
fn no_engine_module_names_a_mable_type_or_the_shipped_dataflows() {
    let content = [
        "MableEvent",
        "TestStruct",
        "Conversion",
        "Cdas",
        "dataflows::",
        "mable_event::",
        "conversions::",
    ];
    let mut found = Vec::new();
    for f in engine_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in content {
                if line.contains(word) {
                    found.push(format!("{}:{}: {word}", f.display(), i + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the engine names content:\n{}",
        found.join("\n")
    );
}

/// Who imports whom among the engine's top-level modules.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in engine_files() {
        let from = module_of(&f);
        if from == "lib" {
            continue;
        }
        // Code only: a doc link is not an import.
        let text: String = std::fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let entry = graph.entry(from.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            let before = &text[..at];
            if before.ends_with('$') || before.ends_with("mable_pipeline::") {
                continue;
            }
            let rest = &text[at + "crate::".len()..];
            let to: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !to.is_empty() && to != from && to != "dataflows" {
                entry.insert(to);
            }
        }
    }
    graph
}

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Every elementary path that comes back to its start, found from its
    // smallest module so each cycle is listed once.
    let mut out = Vec::new();
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flatten() {
            if next == start {
                out.push(path.clone());
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                walk(graph, start, path, out);
                path.pop();
            }
        }
    }
    for m in graph.keys() {
        walk(graph, m, &mut vec![m.clone()], &mut out);
    }
    out
}

#[test]
fn the_engine_modules_import_one_way() {
    let graph = imports();
    let map: Vec<String> = graph
        .iter()
        .map(|(m, to)| {
            format!(
                "{m} → {}",
                to.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    eprintln!("module map:\n{}", map.join("\n"));
    let found = cycles(&graph);
    let shown: Vec<String> = found.iter().map(|c| c.join(" → ")).collect();
    eprintln!("{} cycles:\n{}", found.len(), shown.join("\n"));
    assert!(found.is_empty(), "module cycles:\n{}", shown.join("\n"));
}
