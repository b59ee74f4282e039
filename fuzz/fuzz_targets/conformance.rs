//! The sandbox cloud and the conformance suite fed whatever a device (or anyone on the broker)
//! publishes, in any order and at any time: no panic, no hang, and the suite always ends with
//! a report card once time runs on.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_sim::{Case, Cloud, DeviceKey, FaultUrls, Package, Suite, SuiteOptions};

const TOPICS: [&str; 9] = [
    "/ota/device/inform/pk/dn",
    "/ota/device/progress/pk/dn",
    "/sys/pk/dn/thing/ota/firmware/get",
    "/sys/pk/dn/thing/file/download",
    "/ota/device/inform/pk/other",
    "/ota/device/progress/pk/other",
    "/ota/device/upgrade/pk/dn",
    "/not/ota",
    "",
];

fuzz_target!(|data: &[u8]| {
    let package = Package {
        name: "fw.bin".into(),
        url: "http://127.0.0.1:1/firmware/fw.bin".into(),
        size: 1000,
        md5: "0".repeat(32),
        sha256: "0".repeat(64),
        version: "2.0.0".into(),
    };
    let mut cloud = Cloud::new(1);
    cloud.set_fault_urls(Some(FaultUrls {
        flaky: "http://127.0.0.1:1/flaky/".into(),
        expired: "http://127.0.0.1:1/expired/".into(),
        missing: "http://127.0.0.1:1/missing/".into(),
        slow: "http://127.0.0.1:1/slow/".into(),
    }));
    let options = SuiteOptions {
        case_timeout_ms: 5_000,
        reaction_ms: 1_000,
        settle_ms: 200,
        gap_ms: 10,
        quiet_ms: 100,
    };
    let mut suite = Suite::new(DeviceKey::new("pk", "dn"), package, Case::ALL, options, 0);
    let mut now = 0;
    for chunk in data.split(|b| *b == 0xff) {
        let Some((&selector, payload)) = chunk.split_first() else {
            continue;
        };
        now += u64::from(selector >> 4) * 100;
        let topic = TOPICS[usize::from(selector & 0x0f) % TOPICS.len()];
        let _ = suite.handle_message(&mut cloud, topic, payload, now);
        let _ = suite.step(&mut cloud, now);
    }
    for _ in 0..10_000 {
        if suite.is_done() {
            break;
        }
        now += 500;
        let _ = suite.step(&mut cloud, now);
    }
    assert!(suite.is_done(), "the suite ends as time runs on");
    let card = suite.report();
    assert_eq!(card.cases.len(), Case::ALL.len());
    let _ = card.to_junit();
    let _ = card.to_json();
});
