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

#[test]
fn the_conformance_suite_runs_in_memory_through_its_events() {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use otalab_sim::memory::World;
    use otalab_sim::{
        Case, DeviceConfig, DeviceKey, Grade, Package, Suite, SuiteEvent, SuiteOptions,
    };

    let mut config = DeviceConfig::new("pk", "dev", "1.0.0");
    config.flash_ms = 100;
    config.reboot_ms = 100;
    config.block_timeout_ms = 500;
    let bytes = demo_firmware(200_000, 3);
    let package = Package::describe(&format!("{FIRMWARE_BASE}fw.bin"), "2.0.0", &bytes);
    let files = BTreeMap::from([(package.url.clone(), Arc::from(bytes.clone()))]);
    let mut world = World::new(vec![config], files, MemoryOptions::default());
    world.cloud_mut().add_stream(&package, bytes).unwrap();
    let options = SuiteOptions {
        case_timeout_ms: 30_000,
        reaction_ms: 5_000,
        settle_ms: 1_000,
        gap_ms: 200,
        quiet_ms: 500,
    };
    let mut suite = Suite::new(
        DeviceKey::new("pk", "dev"),
        package,
        Case::ALL,
        options,
        world.now(),
    );
    // No version given: the suite waits for the device's T1 (it connects within a second).
    suite.wait_for_version(world.now() + 10_000);
    world.set_suite(suite);
    while world.suite().is_some_and(|s| !s.is_done()) && world.step() {}
    let card = world.suite().unwrap().report();
    let grades: Vec<(&str, Grade)> = card
        .cases
        .iter()
        .map(|c| (c.case.name(), c.grade))
        .collect();
    assert_eq!(grades.len(), Case::ALL.len(), "{grades:?}");
    // The same grades as the socket-free world of tests/cloud.rs gives a correct device.
    for (name, grade) in &grades {
        let expected = match *name {
            "pull" | "second_module" | "ignored_notice" => Grade::NotApplicable,
            _ => Grade::Pass,
        };
        assert_eq!(
            *grade,
            expected,
            "{name}: {grades:?} {:#?}",
            card.cases.iter().find(|c| c.case.name() == *name)
        );
    }

    // The events, as a driver sees them: the version, each case started and judged in order,
    // then the card.
    let mut cloud = otalab_sim::Cloud::new(1);
    let mut suite = Suite::new(
        DeviceKey::new("pk", "dev"),
        Package::describe("http://127.0.0.1:1/fw.bin", "2.0.0", b"x"),
        &[Case::Md5],
        SuiteOptions::default(),
        0,
    );
    suite.wait_for_version(1000);
    suite.handle_timeout(&mut cloud, 500);
    assert_eq!(suite.poll_event(), None, "still waiting");
    suite.handle_timeout(&mut cloud, 1000);
    assert!(matches!(
        suite.poll_event(),
        Some(SuiteEvent::NoVersion { .. })
    ));
    assert_eq!(suite.poll_timeout(1000), None, "over");
}
