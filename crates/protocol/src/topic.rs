//! The OTA topics T1–T5 (reference §1): build them from a device identity and parse them back.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{TopicError, quote};

/// Which OTA topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TopicKind {
    /// T1 `/ota/device/inform/{pk}/{dn}`: device reports its version (device → cloud).
    Inform,
    /// T2 `/ota/device/upgrade/{pk}/{dn}`: upgrade notice (cloud → device).
    Upgrade,
    /// T3 `/ota/device/progress/{pk}/{dn}`: progress or failure code (device → cloud).
    Progress,
    /// T4 `/sys/{pk}/{dn}/thing/ota/firmware/get`: device asks for its package (device → cloud).
    FirmwareGet,
    /// T5 `/sys/{pk}/{dn}/thing/ota/firmware/get_reply`: reply to T4 (cloud → device).
    FirmwareGetReply,
    /// T6 `/sys/{pk}/{dn}/thing/file/download`: a file block request of a package delivered
    /// over MQTT (device → cloud).
    FileDownload,
    /// T7 `/sys/{pk}/{dn}/thing/file/download_reply`: the binary block frame answering T6
    /// (cloud → device).
    FileDownloadReply,
}

impl TopicKind {
    /// All seven kinds, in T1..T7 order.
    pub const ALL: [TopicKind; 7] = [
        Self::Inform,
        Self::Upgrade,
        Self::Progress,
        Self::FirmwareGet,
        Self::FirmwareGetReply,
        Self::FileDownload,
        Self::FileDownloadReply,
    ];

    /// The camelCase name used by the JavaScript API: `inform`, `upgrade`, `progress`,
    /// `firmwareGet`, `firmwareGetReply`, `fileDownload`, `fileDownloadReply`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Inform => "inform",
            Self::Upgrade => "upgrade",
            Self::Progress => "progress",
            Self::FirmwareGet => "firmwareGet",
            Self::FirmwareGetReply => "firmwareGetReply",
            Self::FileDownload => "fileDownload",
            Self::FileDownloadReply => "fileDownloadReply",
        }
    }

    /// Parses a name as returned by [`TopicKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// True for the topics a device subscribes to (T2, T5 and T7).
    pub fn is_downlink(self) -> bool {
        matches!(
            self,
            Self::Upgrade | Self::FirmwareGetReply | Self::FileDownloadReply
        )
    }
}

/// An OTA topic of one device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    /// Which topic.
    pub kind: TopicKind,
    /// The product key.
    pub product_key: String,
    /// The device name.
    pub device_name: String,
}

/// Checks one productKey / deviceName segment.
pub(crate) fn check_segment(segment: &'static str, value: &str) -> Result<(), TopicError> {
    if value.is_empty() {
        return Err(TopicError::EmptySegment { segment });
    }
    match value
        .chars()
        .find(|c| matches!(c, '/' | '+' | '#') || c.is_control())
    {
        Some(ch) => Err(TopicError::IllegalChar {
            segment,
            value: quote(value),
            ch,
        }),
        None => Ok(()),
    }
}

impl Topic {
    /// Builds a topic, checking that productKey and deviceName are legal segments.
    pub fn new(kind: TopicKind, product_key: &str, device_name: &str) -> Result<Self, TopicError> {
        check_segment("productKey", product_key)?;
        check_segment("deviceName", device_name)?;
        Ok(Self {
            kind,
            product_key: product_key.to_owned(),
            device_name: device_name.to_owned(),
        })
    }

    /// Parses one of the seven OTA topics.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let unknown = || TopicError::Unknown {
            topic: quote(topic),
        };
        let parts: Vec<&str> = topic.split('/').collect();
        let (kind, pk, dn) = match parts.as_slice() {
            ["", "ota", "device", action, pk, dn] => {
                let kind = match *action {
                    "inform" => TopicKind::Inform,
                    "upgrade" => TopicKind::Upgrade,
                    "progress" => TopicKind::Progress,
                    _ => return Err(unknown()),
                };
                (kind, *pk, *dn)
            }
            ["", "sys", pk, dn, "thing", "ota", "firmware", last] => {
                let kind = match *last {
                    "get" => TopicKind::FirmwareGet,
                    "get_reply" => TopicKind::FirmwareGetReply,
                    _ => return Err(unknown()),
                };
                (kind, *pk, *dn)
            }
            ["", "sys", pk, dn, "thing", "file", last] => {
                let kind = match *last {
                    "download" => TopicKind::FileDownload,
                    "download_reply" => TopicKind::FileDownloadReply,
                    _ => return Err(unknown()),
                };
                (kind, *pk, *dn)
            }
            _ => return Err(unknown()),
        };
        Self::new(kind, pk, dn)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pk, dn) = (&self.product_key, &self.device_name);
        match self.kind {
            TopicKind::Inform => write!(f, "/ota/device/inform/{pk}/{dn}"),
            TopicKind::Upgrade => write!(f, "/ota/device/upgrade/{pk}/{dn}"),
            TopicKind::Progress => write!(f, "/ota/device/progress/{pk}/{dn}"),
            TopicKind::FirmwareGet => write!(f, "/sys/{pk}/{dn}/thing/ota/firmware/get"),
            TopicKind::FirmwareGetReply => write!(f, "/sys/{pk}/{dn}/thing/ota/firmware/get_reply"),
            TopicKind::FileDownload => write!(f, "/sys/{pk}/{dn}/thing/file/download"),
            TopicKind::FileDownloadReply => write!(f, "/sys/{pk}/{dn}/thing/file/download_reply"),
        }
    }
}

impl FromStr for Topic {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
