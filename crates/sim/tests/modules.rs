//! The crate's module map (`src/model.rs`) holds: every `crate::module` a source file names is
//! a module listed below its own, so there is no import cycle. A new module must be added to
//! `ORDER` (and to the map in `model.rs`) at the layer it belongs to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom to top, as in `src/model.rs`.
const ORDER: [&str; 13] = [
    "model",
    "device",
    "fleet",
    "verdict",
    "batch",
    "jobs",
    "expect",
    "report",
    "cloud",
    "conformance",
    "scenario",
    "run",
    "memory",
];

/// `crate::name` references in `text` that name a module of the crate.
fn uses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if ORDER.contains(&name.as_str()) && !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" {
            continue;
        }
        assert!(
            ORDER.contains(&name.as_str()),
            "src/{name}.rs is not in the module map: add it to ORDER here and to src/model.rs"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        graph.insert(name, uses(&text));
    }
    let rank = |m: &str| ORDER.iter().position(|o| *o == m).unwrap();
    let mut wrong = Vec::new();
    for (module, deps) in &graph {
        for dep in deps {
            if dep != module && rank(dep) >= rank(module) {
                wrong.push(format!("{module} uses {dep}, which is not below it"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(graph.len(), ORDER.len(), "{graph:?}");
}

#[test]
fn the_checker_sees_an_upward_use() {
    assert_eq!(
        uses("use crate::cloud::Cloud; use crate::Report; crate::model::iso_time(1)"),
        vec!["cloud".to_owned(), "model".to_owned()]
    );
}
