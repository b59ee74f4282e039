//! T4 pull requests: decoding never panics, and what decodes re-encodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::FirmwareGet;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = FirmwareGet::decode(data) {
        let again =
            FirmwareGet::decode(message.encode().as_bytes()).expect("the canonical form decodes");
        assert_eq!(again, message);
    }
});
