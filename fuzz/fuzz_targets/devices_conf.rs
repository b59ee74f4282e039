//! The bridge's devices.conf (HOCON subset): never panics; what parses builds a bridge or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::{Bridge, parse_devices_conf};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(devices) = parse_devices_conf(text) {
        let _ = Bridge::new(devices);
    }
});
