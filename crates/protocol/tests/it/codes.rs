//! Every error variant's stable code, pinned. Changing one of these breaks users: don't.

use otalab_protocol::{CredentialsError, PayloadError, TopicError, ValueError, VerifyError};

#[test]
fn topic_codes() {
    let cases = [
        (
            TopicError::EmptySegment {
                segment: "deviceName",
            },
            "TOPIC_EMPTY_SEGMENT",
        ),
        (
            TopicError::IllegalChar {
                segment: "productKey",
                value: "\"a+\"".into(),
                ch: '+',
            },
            "TOPIC_ILLEGAL_CHAR",
        ),
        (
            TopicError::Unknown {
                topic: "\"/x\"".into(),
            },
            "TOPIC_UNKNOWN",
        ),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code, "{error}");
    }
}

fn value_errors() -> Vec<(ValueError, &'static str)> {
    vec![
        (
            ValueError::Version {
                value: "x".into(),
                reason: "r",
            },
            "INVALID_VERSION",
        ),
        (
            ValueError::Module {
                value: "x".into(),
                reason: "r",
            },
            "INVALID_MODULE",
        ),
        (ValueError::Id { value: "x".into() }, "INVALID_ID"),
        (
            ValueError::Digest {
                method: "MD5",
                value: "x".into(),
                reason: "r".into(),
            },
            "INVALID_DIGEST",
        ),
        (
            ValueError::SignMethod { value: "x".into() },
            "UNKNOWN_SIGN_METHOD",
        ),
        (ValueError::Step { value: "x".into() }, "INVALID_STEP"),
        (
            ValueError::Url {
                value: "x".into(),
                reason: "r",
            },
            "INVALID_URL",
        ),
        (
            ValueError::DownloadProtocol { value: "x".into() },
            "UNKNOWN_DOWNLOAD_PROTOCOL",
        ),
    ]
}

#[test]
fn value_codes_and_payload_codes() {
    for (error, code) in value_errors() {
        assert_eq!(error.code(), code, "{error}");
        let wrapped = PayloadError::Invalid {
            path: "data.x".into(),
            source: error,
        };
        assert_eq!(wrapped.code(), code, "wrapped errors keep the inner code");
        assert!(wrapped.to_string().starts_with("data.x: "), "{wrapped}");
    }
    let cases = [
        (
            PayloadError::TooLarge { size: 2, limit: 1 },
            "PAYLOAD_TOO_LARGE",
        ),
        (
            PayloadError::InvalidJson { detail: "d".into() },
            "INVALID_JSON",
        ),
        (
            PayloadError::WrongType {
                path: "p".into(),
                expected: "e",
                found: "f".into(),
            },
            "WRONG_TYPE",
        ),
        (
            PayloadError::MissingField { path: "p".into() },
            "MISSING_FIELD",
        ),
        (
            PayloadError::CloudError {
                code: "1".into(),
                message: "m".into(),
            },
            "CLOUD_ERROR",
        ),
        (
            PayloadError::ShortFrame {
                length: 1,
                needed: "n".into(),
            },
            "SHORT_FRAME",
        ),
        (
            PayloadError::FrameLength {
                expected: 5,
                actual: 6,
                block_size: 1,
            },
            "FRAME_LENGTH_MISMATCH",
        ),
        (
            PayloadError::CrcMismatch {
                expected: 1,
                actual: 2,
            },
            "CRC_MISMATCH",
        ),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code, "{error}");
    }
}

#[test]
fn verify_codes() {
    let cases = [
        (
            VerifyError::SizeExceeded {
                expected: 1,
                received: 2,
            },
            "SIZE_EXCEEDED",
        ),
        (
            VerifyError::SizeMismatch {
                expected: 2,
                actual: 1,
                actual_digest: "d".into(),
            },
            "SIZE_MISMATCH",
        ),
        (
            VerifyError::DigestMismatch {
                method: "MD5",
                expected: "a".into(),
                actual: "b".into(),
            },
            "DIGEST_MISMATCH",
        ),
        (VerifyError::Finished, "VERIFIER_FINISHED"),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code, "{error}");
    }
}

#[test]
fn credentials_codes() {
    let cases = [
        (
            CredentialsError::Empty {
                field: "deviceSecret",
            },
            "CREDENTIALS_EMPTY_FIELD",
        ),
        (
            CredentialsError::SignMethod { value: "x".into() },
            "UNKNOWN_MQTT_SIGN_METHOD",
        ),
        (
            CredentialsError::ClientId {
                value: "x".into(),
                reason: "r",
            },
            "INVALID_CLIENT_ID",
        ),
        (
            CredentialsError::Timestamp { value: "x".into() },
            "INVALID_TIMESTAMP",
        ),
        (
            CredentialsError::Endpoint {
                field: "region",
                value: "x".into(),
            },
            "INVALID_ENDPOINT",
        ),
        (
            CredentialsError::Identity(TopicError::EmptySegment {
                segment: "productKey",
            }),
            "TOPIC_EMPTY_SEGMENT",
        ),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code, "{error}");
    }
}

#[test]
fn messages_are_lowercase_and_name_the_place() {
    let error = PayloadError::WrongType {
        path: "data.size".into(),
        expected: "a non-negative integer",
        found: "\"abc\"".into(),
    };
    assert_eq!(
        error.to_string(),
        r#"data.size: expected a non-negative integer, found "abc""#
    );
    for (error, _) in value_errors() {
        let text = error.to_string();
        assert!(
            text.chars().next().is_some_and(char::is_lowercase),
            "{text}"
        );
    }
}

#[test]
fn devices_conf_and_bridge_codes() {
    use otalab_protocol::{BridgeError, DevicesConfError};
    let conf = [
        (
            DevicesConfError::Syntax {
                line: 1,
                column: 1,
                message: "m".into(),
            },
            "DEVICES_CONF_SYNTAX",
        ),
        (
            DevicesConfError::Device {
                line: 1,
                identity: "i".into(),
                message: "m".into(),
            },
            "DEVICES_CONF_DEVICE",
        ),
    ];
    for (error, code) in conf {
        assert_eq!(error.code(), code, "{error}");
    }
    let bridge = [
        (
            BridgeError::UnknownDevice {
                identity: "i".into(),
            },
            "UNKNOWN_DEVICE",
        ),
        (
            BridgeError::DuplicateDevice {
                identity: "i".into(),
            },
            "DUPLICATE_DEVICE",
        ),
    ];
    for (error, code) in bridge {
        assert_eq!(error.code(), code, "{error}");
    }
}
