//! Topics: every kind builds and parses back.

use otalab_protocol::{Topic, TopicKind};

#[test]
fn every_kind_round_trips() {
    for kind in TopicKind::ALL {
        let topic = Topic::new(kind, "a1B2c3D4e5F", "meter-0001").unwrap();
        let text = topic.to_string();
        assert_eq!(Topic::parse(&text).unwrap(), topic, "{text}");
        assert_eq!(TopicKind::from_name(kind.name()), Some(kind));
    }
}

#[test]
fn downlink_topics_are_upgrade_pull_reply_and_block_reply() {
    let down: Vec<_> = TopicKind::ALL
        .into_iter()
        .filter(|k| k.is_downlink())
        .collect();
    assert_eq!(
        down,
        [
            TopicKind::Upgrade,
            TopicKind::FirmwareGetReply,
            TopicKind::FileDownloadReply
        ]
    );
}

#[test]
fn unknown_kind_name_is_none() {
    assert_eq!(TopicKind::from_name("Upgrade"), None);
    assert_eq!(TopicKind::from_name(""), None);
}
