//! T7 block frames: decoding never panics, accepted frames re-encode to a frame that decodes to
//! the same value, and every accepted frame's block really has its CRC.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::{FileBlockReply, crc16_arc};

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = FileBlockReply::decode(data) {
        assert_eq!(reply.code, 200);
        let carried = u16::from_le_bytes([data[data.len() - 2], data[data.len() - 1]]);
        assert_eq!(carried, crc16_arc(&reply.block));
        let again = FileBlockReply::decode(&reply.encode()).expect("the canonical frame decodes");
        assert_eq!(again, reply);
    }
});
