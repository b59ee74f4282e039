//! Scenario files (TOML) and shard reports (JSON), as `otalab run`, `otalab check`, `otalab
//! report merge` and the dashboard read them: any input is a typed error or a scenario that
//! builds its fleet, writes itself back as TOML and parses to the same thing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_sim::{Report, Scenario};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scenario::parse(text) {
        Ok(scenario) => {
            let _ = scenario.fleet(|_| Err("no files here".into()));
            let again = scenario.to_toml().expect("a parsed scenario writes itself");
            let reparsed = Scenario::parse(&again).expect("what it writes parses");
            assert_eq!(reparsed.name, scenario.name);
            assert_eq!(reparsed.actions.len(), scenario.actions.len());
        }
        Err(error) => assert!(!error.code().is_empty()),
    }
    if let Ok(report) = serde_json::from_str::<Report>(text) {
        let _ = report.to_junit();
        let _ = report.to_csv();
        let _ = report.to_html("fuzz", None);
        let _ = Report::merge(vec![report.clone(), report]);
    }
});
