//! The dashboard's fleet import (devices.conf, CSV, JSON) and name templates, compiled from the
//! dashboard's own source file without the UI around it.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code, missing_docs)]
#[path = "../../web/src/state/fleet.rs"]
mod fleet;

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
