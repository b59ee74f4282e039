//! The fleet import (devices.conf, CSV, JSON) and name templates of the dashboard and of
//! scenario files (`otalab_sim::fleet`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_sim::fleet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(specs) = fleet::import(text) {
        let stored = fleet::to_stored(&specs, false);
        assert!(stored.iter().all(|s| s.device_secret.is_none()));
        let _ = fleet::from_stored(stored);
    }
    if let Ok(names) = fleet::expand_template(text, 250) {
        assert!(names.len() <= 250);
    }
});
