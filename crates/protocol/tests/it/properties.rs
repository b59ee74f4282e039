//! Property tests: no input panics a decoder, and encode → decode gives back what went in.

use std::collections::BTreeMap;

use otalab_protocol::{
    Digest, Download, FileBlockReply, FileBlockRequest, FirmwareFile, FirmwareGet,
    MAX_SAFE_INTEGER, MessageId, Module, OtaMessage, Progress, SignMethod, Step, Topic, TopicKind,
    UpgradeNotice, Version, VersionReport,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn decode_everything(bytes: &[u8]) {
    for kind in TopicKind::ALL {
        let _ = OtaMessage::decode(kind, bytes);
    }
    let _ = UpgradeNotice::decode_reply(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = Topic::parse(&text);
    let _ = otalab_protocol::parse_devices_conf(&text);
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        "-?[0-9]{1,22}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the known keys of OTA messages, each holding any JSON (or absent).
fn message_shaped() -> impl Strategy<Value = Value> {
    const DATA_KEYS: [&str; 16] = [
        "size",
        "version",
        "url",
        "md5",
        "sign",
        "signMethod",
        "isDiff",
        "module",
        "extData",
        "digestsign",
        "dProtocol",
        "streamId",
        "streamFileId",
        "files",
        "step",
        "desc",
    ];
    let fields = prop::collection::vec(prop::option::of(any_json()), DATA_KEYS.len());
    let files = prop::collection::vec(prop::collection::vec(prop::option::of(any_json()), 4), 0..3);
    (any_json(), any_json(), fields, files).prop_map(|(id, code, values, files)| {
        let mut data = Map::new();
        for (key, value) in DATA_KEYS.iter().zip(values) {
            if let Some(value) = value {
                data.insert((*key).into(), value);
            }
        }
        if !files.is_empty() {
            let list = files
                .into_iter()
                .map(|f| {
                    let mut entry = Map::new();
                    for (key, value) in ["fileName", "fileSize", "fileUrl", "fileSign"]
                        .iter()
                        .zip(f)
                    {
                        if let Some(value) = value {
                            entry.insert((*key).into(), value);
                        }
                    }
                    Value::Object(entry)
                })
                .collect();
            data.insert("files".into(), Value::Array(list));
        }
        let body = Value::Object(data);
        json!({"id": id, "code": code, "data": body.clone(), "params": body})
    })
}

fn id() -> impl Strategy<Value = MessageId> {
    "[0-9]{1,20}".prop_map(|s| MessageId::parse(&s).unwrap())
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,64}"
}

fn module() -> impl Strategy<Value = Module> {
    prop_oneof![
        Just(Module::default()),
        name().prop_map(|m| Module::parse(&m).unwrap())
    ]
}

fn extra() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x_[a-z]{1,5}", any_json(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![0i64..=100, -4i64..=-1].prop_map(|v| Step::from_i64(v).unwrap())
}

fn notice() -> impl Strategy<Value = UpgradeNotice> {
    let method = prop_oneof![Just(SignMethod::Md5), Just(SignMethod::Sha256)];
    (method, any::<bool>()).prop_flat_map(|(method, mqtt)| {
        let download = if mqtt {
            Download::Mqtt
        } else {
            Download::Https
        };
        let url = if mqtt {
            prop::option::of("https://h[a-z]{0,4}/[a-z]{1,8}").boxed()
        } else {
            "https?://[a-z]{1,8}(:[0-9]{1,4})?/[a-z]{0,8}"
                .prop_map(Some)
                .boxed()
        };
        let hex = proptest::string::string_regex(&format!("[0-9a-fA-F]{{{}}}", method.hex_len()))
            .expect("valid regex");
        let file = (
            prop::option::of("[a-z]{1,8}\\.bin"),
            0..=MAX_SAFE_INTEGER,
            url,
            hex,
        )
            .prop_map(move |(name, size, url, sign)| FirmwareFile {
                name,
                size,
                url,
                sign: Digest::parse(method, &sign.to_ascii_lowercase()).unwrap(),
                unknown: Map::new(),
            });
        (
            (id(), name(), module(), any::<bool>()),
            prop::collection::vec(file, 1..4),
            (
                prop::option::of(0..=MAX_SAFE_INTEGER),
                prop::option::of(0..=MAX_SAFE_INTEGER),
            ),
            prop::option::of("[A-Za-z0-9+/=]{0,16}"),
            prop::collection::btree_map("[a-z_]{1,8}", ".{0,8}", 0..3),
            (extra(), extra()),
        )
            .prop_map(
                move |(
                    (id, version, module, is_diff),
                    files,
                    (stream_id, stream_file_id),
                    digest_sign,
                    ext_data,
                    (unknown, unknown_envelope),
                )| {
                    UpgradeNotice {
                        id,
                        version: Version::parse(&version).unwrap(),
                        module,
                        is_diff,
                        sign_method: method,
                        files,
                        download,
                        // An MQTT notice without both stream numbers is refused.
                        stream_id: stream_id.or(mqtt.then_some(1)),
                        stream_file_id: stream_file_id.or(mqtt.then_some(1)),
                        digest_sign,
                        ext_data: ext_data.into_iter().collect::<BTreeMap<_, _>>(),
                        unknown,
                        unknown_envelope,
                    }
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn random_json_never_panics(value in any_json()) {
        decode_everything(value.to_string().as_bytes());
    }

    #[test]
    fn message_shaped_json_never_panics(value in message_shaped()) {
        decode_everything(value.to_string().as_bytes());
    }

    #[test]
    fn version_report_round_trips(id in id(), version in name(), module in module(), unknown in extra(), envelope in extra()) {
        let mut report = VersionReport::new(id, Version::parse(&version).unwrap(), module);
        report.unknown = unknown;
        report.unknown_envelope = envelope;
        prop_assert_eq!(VersionReport::decode(report.encode().as_bytes()).unwrap(), report);
    }

    #[test]
    fn progress_round_trips(id in id(), step in step(), desc in ".{0,40}", module in module(), unknown in extra()) {
        let mut progress = Progress::new(id, step, desc, module);
        progress.unknown = unknown;
        prop_assert_eq!(Progress::decode(progress.encode().as_bytes()).unwrap(), progress);
    }

    #[test]
    fn firmware_get_round_trips(id in id(), module in module(), envelope in extra()) {
        let mut get = FirmwareGet::new(id, module);
        get.unknown_envelope = envelope;
        prop_assert_eq!(FirmwareGet::decode(get.encode().as_bytes()).unwrap(), get);
    }

    #[test]
    fn notice_round_trips_as_push_and_reply(notice in notice()) {
        prop_assert_eq!(&UpgradeNotice::decode(notice.encode().as_bytes()).unwrap(), &notice);
        prop_assert_eq!(UpgradeNotice::decode_reply(notice.encode_reply().as_bytes()).unwrap(), Some(notice));
    }

    #[test]
    fn topics_round_trip(kind in 0usize..TopicKind::ALL.len(), pk in "[^/+#\\x00-\\x1f\\x7f-\\x9f]{1,16}", dn in "[^/+#\\x00-\\x1f\\x7f-\\x9f]{1,16}") {
        let kind = TopicKind::ALL[kind];
        let topic = Topic::new(kind, &pk, &dn).unwrap();
        prop_assert_eq!(Topic::parse(&topic.to_string()).unwrap(), topic);
    }

    #[test]
    fn block_request_round_trips(id in id(), stream_id in 0..=MAX_SAFE_INTEGER, file_id in 0..=MAX_SAFE_INTEGER,
                                 offset in 0..=MAX_SAFE_INTEGER, size in 0..=MAX_SAFE_INTEGER, token in prop::option::of(".{0,12}")) {
        let request = FileBlockRequest { id, stream_id, file_id, offset, size, file_token: token };
        prop_assert_eq!(FileBlockRequest::decode(request.encode().as_bytes()).unwrap(), request);
    }

    #[test]
    fn block_frame_round_trips(id in "[0-9]{1,12}", token in prop::option::of("[ -~]{0,12}"), file_length in 0..=MAX_SAFE_INTEGER,
                               offset in 0..=MAX_SAFE_INTEGER, block in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut reply = FileBlockReply::block(&id, file_length, offset, block);
        reply.file_token = token;
        let frame = reply.encode();
        prop_assert_eq!(frame.len(), 2 + usize::from(u16::from_be_bytes([frame[0], frame[1]])) + reply.block.len() + 2);
        prop_assert_eq!(FileBlockReply::decode(&frame).unwrap(), reply);
    }

    #[test]
    fn any_damage_to_a_block_or_its_crc_is_caught(block in prop::collection::vec(any::<u8>(), 1..1024), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let frame = FileBlockReply::block("1", block.len() as u64, 0, block).encode();
        let header_end = 2 + usize::from(u16::from_be_bytes([frame[0], frame[1]]));
        // Any single bit flipped in the block or in the CRC itself.
        let index = header_end + at.index(frame.len() - header_end);
        let mut damaged = frame.clone();
        damaged[index] ^= 1 << bit;
        let error = FileBlockReply::decode(&damaged).unwrap_err();
        prop_assert_eq!(error.code(), "CRC_MISMATCH");
    }

    #[test]
    fn random_frames_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), header_length in any::<u16>()) {
        let _ = FileBlockReply::decode(&bytes);
        let mut framed = header_length.to_be_bytes().to_vec();
        framed.extend(&bytes);
        let _ = FileBlockReply::decode(&framed);
        let _ = FileBlockRequest::decode(&bytes);
    }
}
