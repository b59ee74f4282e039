//! Every example scenario in the in-memory world (devices, cloud, broker and file server on a
//! virtual clock), judged by its own expectations; the same file twice gives the same report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use otalab_sim::memory::{
    DEMO_FIRMWARE, FIRMWARE_BASE, MemoryOptions, demo_firmware, prepare, run_scenario,
};
use otalab_sim::{FirmwareWanted, Report, Scenario, Shard};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn demo(want: &FirmwareWanted) -> Result<Vec<u8>, String> {
    let name = want.url.strip_prefix(FIRMWARE_BASE).unwrap_or(&want.url);
    DEMO_FIRMWARE
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, size, seed)| demo_firmware(*size, *seed))
        .ok_or_else(|| format!("{name}: not a demo file"))
}

fn run(path: &Path, options: MemoryOptions) -> Report {
    let scenario = Scenario::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let fleet = scenario.fleet(|_| Err("no files".into())).unwrap();
    let (run, mut world) = prepare(&scenario, &fleet, Shard::ALL, options, demo).unwrap();
    run_scenario(run, &mut world).unwrap()
}

#[test]
fn every_example_passes_in_memory() {
    let files = examples();
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let report = run(&path, MemoryOptions::default());
        let failed: Vec<_> = report.expectations.iter().filter(|e| !e.held).collect();
        assert!(report.passed(), "{}: {failed:#?}", path.display());
        assert!(!report.devices.is_empty());
    }
}

#[test]
fn the_same_file_gives_the_same_report() {
    for path in examples() {
        let a = run(&path, MemoryOptions::default()).to_json();
        let b = run(&path, MemoryOptions::default()).to_json();
        assert_eq!(a, b, "{}", path.display());
    }
}
