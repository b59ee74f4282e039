//! T6 file block requests (with Link SDK C's trailing comma): decoding never panics, and what decodes re-encodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::FileBlockRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = FileBlockRequest::decode(data) {
        let again = FileBlockRequest::decode(message.encode().as_bytes())
            .expect("the canonical form decodes");
        assert_eq!(again, message);
    }
});
