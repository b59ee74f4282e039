//! T2 notices and T5 pull replies: decoding never panics; canonical forms decode to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::{OtaMessage, TopicKind, UpgradeNotice};

fuzz_target!(|data: &[u8]| {
    if let Ok(notice) = UpgradeNotice::decode(data) {
        let again = UpgradeNotice::decode(notice.encode().as_bytes()).expect("the push decodes");
        assert_eq!(again, notice);
        let reply = UpgradeNotice::decode_reply(notice.encode_reply().as_bytes());
        assert_eq!(reply.expect("the reply decodes"), Some(notice));
    }
    let _ = UpgradeNotice::decode_reply(data);
    for kind in TopicKind::ALL {
        let _ = OtaMessage::decode(kind, data);
    }
});
