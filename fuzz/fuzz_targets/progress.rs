//! T3 progress reports: decoding never panics, and what decodes re-encodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::Progress;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Progress::decode(data) {
        let again =
            Progress::decode(message.encode().as_bytes()).expect("the canonical form decodes");
        assert_eq!(again, message);
    }
});
