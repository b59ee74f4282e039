//! Message details the vectors do not show well.

use otalab_protocol::{
    FirmwareGet, MAX_PAYLOAD_BYTES, MessageId, Module, OtaMessage, Progress, Step, TopicKind,
    UpgradeNotice, Version, VersionReport,
};

const NOTICE: &str = r#"{"code":"1000","id":1626969597470,"message":"success","data":{"size":432945,"version":"2.0.0","isDiff":1,"url":"https://b.example/fw.bin","md5":"93230c3bde425a9d7984a594ac55ea1e","sign":"93230c3bde425a9d7984a594ac55ea1e","signMethod":"MD5","digestsign":"A4WOP","module":"MCU","extData":{"key1":"value1","_package_udi":"{\"ota_notice\":\"x\"}"}}}"#;

#[test]
fn notice_accessors() {
    let notice = UpgradeNotice::decode(NOTICE.as_bytes()).unwrap();
    assert_eq!(notice.package_udi(), Some(r#"{"ota_notice":"x"}"#));
    assert_eq!(notice.total_size(), 432_945);
    assert_eq!(notice.id.as_str(), "1626969597470");
    assert!(notice.is_diff);
}

#[test]
fn dispatch_by_topic_kind() {
    let message = OtaMessage::decode(TopicKind::Upgrade, NOTICE.as_bytes()).unwrap();
    assert!(matches!(message, OtaMessage::Upgrade(ref n) if n.version.as_str() == "2.0.0"));
    let reply = OtaMessage::decode(
        TopicKind::FirmwareGetReply,
        br#"{"id":"9","code":200,"data":{}}"#,
    )
    .unwrap();
    assert_eq!(
        reply,
        OtaMessage::FirmwareGetReply {
            id: MessageId::from(9),
            notice: None
        }
    );
    // A notice on the progress topic is not a progress message.
    let wrong = OtaMessage::decode(TopicKind::Progress, NOTICE.as_bytes()).unwrap_err();
    assert_eq!(wrong.code(), "MISSING_FIELD");
}

#[test]
fn builders_encode_canonically() {
    let id = MessageId::from(1);
    let report = VersionReport::new(
        id.clone(),
        Version::parse("1.0.1").unwrap(),
        Module::default(),
    );
    assert_eq!(
        report.encode(),
        r#"{"id":"1","params":{"version":"1.0.1"}}"#
    );
    let progress = Progress::new(
        id.clone(),
        Step::parse("-3").unwrap(),
        "verify",
        Module::parse("MCU").unwrap(),
    );
    assert_eq!(
        progress.encode(),
        r#"{"id":"1","params":{"step":"-3","desc":"verify","module":"MCU"}}"#
    );
    let get = FirmwareGet::new(id, Module::default());
    assert_eq!(
        get.encode(),
        r#"{"id":"1","version":"1.0","params":{},"method":"thing.ota.firmware.get"}"#
    );
}

#[test]
fn size_limit_is_checked_before_parsing() {
    let huge = vec![b'x'; MAX_PAYLOAD_BYTES + 1];
    assert_eq!(
        UpgradeNotice::decode(&huge).unwrap_err().code(),
        "PAYLOAD_TOO_LARGE"
    );
    let exactly = {
        let mut p = br#"{"id":"1","params":{"version":"1"}}"#.to_vec();
        p.resize(MAX_PAYLOAD_BYTES, b' ');
        p
    };
    assert!(VersionReport::decode(&exactly).is_ok());
}

#[test]
fn steps() {
    for (value, expected) in [(0, "0"), (57, "57"), (100, "100"), (-1, "-1"), (-4, "-4")] {
        assert_eq!(Step::from_i64(value).unwrap().to_string(), expected);
    }
    for value in [101, -5, i64::MIN, i64::MAX] {
        assert_eq!(Step::from_i64(value).unwrap_err().code(), "INVALID_STEP");
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        UpgradeNotice::decode(deep.as_bytes()).unwrap_err().code(),
        "INVALID_JSON"
    );
}
