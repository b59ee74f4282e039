//! Topic parsing: any string either parses to a topic that prints back to itself, or errs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::Topic;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(topic) = Topic::parse(text) {
        assert_eq!(topic.to_string(), text);
        assert_eq!(Topic::parse(&topic.to_string()), Ok(topic));
    }
});
