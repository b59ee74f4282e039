//! # otalab-protocol
//!
//! The Alibaba Cloud IoT OTA protocol as plain Rust: the five OTA topics, their messages
//! (decoded tolerantly, encoded canonically), streaming firmware verification, and the Aliyun
//! MQTT login. No I/O, no wasm or DOM dependency: the same code runs natively, in Node and in
//! the browser.
//!
//! ```
//! use otalab_protocol::{FirmwareVerifier, Topic, TopicKind, UpgradeNotice};
//!
//! let topic = Topic::parse("/ota/device/upgrade/a1B2c3D4e5F/meter-0001").unwrap();
//! assert_eq!(topic.kind, TopicKind::Upgrade);
//!
//! let notice = UpgradeNotice::decode(br#"{"code":"1000","id":42,"message":"success",
//!   "data":{"size":5,"version":"2.0.0","url":"https://fw.example/fw.bin",
//!           "md5":"5d41402abc4b2a76b9719d911017c592"}}"#).unwrap();
//! let file = &notice.files[0];
//! let mut verifier = FirmwareVerifier::new(file.size, notice.sign_method, file.sign.clone());
//! verifier.update(b"hello").unwrap();
//! assert!(verifier.finish().is_ok());
//! ```
//!
//! Every error is a value with a stable `code()`; no input makes any function panic.

mod block;
mod bridge;
mod credentials;
mod devices_conf;
mod error;
mod json;
mod message;
mod topic;
mod value;
mod verify;

pub use block::{
    DEFAULT_BLOCK_SIZE, DEFAULT_FILE_TOKEN, FileBlockReply, FileBlockRequest, crc16_arc,
};
pub use bridge::{Bridge, BridgeError, DeviceNotice, Outgoing};
pub use credentials::{
    CredentialOptions, DeviceIdentity, Endpoint, MqttCredentials, MqttSignMethod,
};
pub use devices_conf::{DeviceEntry, DevicesConfError, parse_devices_conf};
pub use error::{CredentialsError, PayloadError, TopicError, ValueError, VerifyError};
pub use json::{MAX_PAYLOAD_BYTES, MAX_SAFE_INTEGER};
pub use message::{
    Download, FIRMWARE_GET_METHOD, FirmwareFile, FirmwareGet, OtaMessage, Progress, UpgradeNotice,
    VersionReport,
};
pub use topic::{Topic, TopicKind};
pub use value::{Digest, Failure, MessageId, Module, SignMethod, Step, Version, check_http_url};
pub use verify::{FileDigests, FirmwareVerifier, Verified, digest_hex, judge_firmware};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
