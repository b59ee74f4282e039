//! T1 version reports: decoding never panics, and what decodes re-encodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::VersionReport;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = VersionReport::decode(data) {
        let again =
            VersionReport::decode(message.encode().as_bytes()).expect("the canonical form decodes");
        assert_eq!(again, message);
    }
});
