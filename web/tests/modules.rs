//! The dashboard's modules use each other without a cycle: `state` (plain state) at the bottom,
//! `sim` (the browser driver of otalab-sim) above it, `components` above both, `app` on top.
//! Every `crate::…` and `super::…` path in `src/` is an edge from its file's module to the
//! deepest module file it names; the graph must have no cycle. (A `mod.rs` naming its own
//! children by relative path is the usual facade and is not an edge.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `src/sim/cloud.rs` -> `sim::cloud`, `src/sim/mod.rs` -> `sim`, `src/lib.rs` -> `` (root).
fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The modules a file's text names, resolved against the known module files.
fn edges(text: &str, module: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let parent: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", parent[..parent.len().saturating_sub(1)].to_vec()),
    ] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            // `crate::` inside `a::crate::` or `super::` inside `xsuper::` are not paths.
            let before = &rest[..at];
            let standalone = before
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            rest = &rest[at + prefix.len()..];
            if !standalone {
                continue;
            }
            let mut path: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
            let mut deepest = path.join("::");
            for segment in rest.split("::") {
                let name: String = segment
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                if name.is_empty() {
                    break;
                }
                path.push(name.clone());
                let candidate = path.join("::");
                if modules.contains(&candidate) {
                    deepest = candidate;
                }
                if name.len() != segment.len() {
                    break;
                }
            }
            if deepest != module && !deepest.is_empty() {
                found.insert(deepest);
            }
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&src).expect("under src")))
        .collect();
    files
        .iter()
        .map(|f| {
            let module = module_of(f.strip_prefix(&src).expect("under src"));
            // Code only: doc and line comments may name other modules without using them.
            let text: String = std::fs::read_to_string(f)
                .expect("readable")
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let deps = edges(&text, &module, &modules);
            (module, deps)
        })
        .fold(BTreeMap::new(), |mut g, (m, d)| {
            g.entry(m).or_insert_with(BTreeSet::new).extend(d);
            g
        })
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_dashboard_modules_have_no_cycle() {
    let graph = graph();
    assert!(graph.contains_key("state") && graph.contains_key("sim::cloud"));
    assert!(
        graph["sim::cloud"].contains("state"),
        "the scanner sees sim::cloud's use of state: {graph:?}"
    );
    if let Some(found) = cycle(&graph) {
        panic!("import cycle: {}", found.join(" -> "));
    }
    // State is the bottom: it names no other area of the crate.
    let state_deps: Vec<&String> = graph
        .iter()
        .filter(|(m, _)| m.as_str() == "state" || m.starts_with("state::"))
        .flat_map(|(_, d)| d)
        .filter(|d| !d.starts_with("state"))
        .collect();
    assert!(state_deps.is_empty(), "state uses {state_deps:?}");
}

#[test]
fn the_checker_finds_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        cycle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    let modules = BTreeSet::from([
        "sim".to_owned(),
        "sim::cloud".to_owned(),
        "state".to_owned(),
    ]);
    assert_eq!(
        edges(
            "use crate::sim::cloud::SandboxCloud; use super::Handle; crate::state::now_ms()",
            "sim::scenario",
            &modules
        ),
        BTreeSet::from([
            "sim".to_owned(),
            "sim::cloud".to_owned(),
            "state".to_owned()
        ])
    );
}
