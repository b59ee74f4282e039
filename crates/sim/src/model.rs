//! The vocabulary of the simulation, at the bottom of the crate: the words every other module
//! speaks (a device's key, a package, a notice kind, the sandbox's broken URLs, a verdict, a
//! failure, an observed step, a device's row of a report, the counts per verdict) and the
//! helpers that format them. It depends on nothing else in the crate.
//!
//! The crate's module map, bottom to top (each module uses only modules above it in this
//! list; `tests/modules.rs` fails on any import that goes the other way or makes a cycle):
//!
//! | layer | modules |
//! |---|---|
//! | vocabulary | `model` |
//! | devices | `device`, `fleet` |
//! | the verdict rule | `verdict` |
//! | batches | `batch` |
//! | upgrade jobs (policies, refusals, task states) | `jobs` |
//! | expectations | `expect` |
//! | reports | `report` |
//! | the sandbox cloud | `cloud` |
//! | the conformance suite | `conformance` |
//! | scenarios | `scenario` |
//! | a scenario's run (the executor) | `run` |
//! | the in-memory world (broker, HTTP, virtual clock) | `memory` |

use otalab_protocol::Step;
use serde::{Deserialize, Serialize};

/// A device's identity: its productKey and deviceName. Shown and parsed as `pk/dn`; serialized
/// as `["pk", "dn"]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceKey(pub String, pub String);

impl DeviceKey {
    /// The device `product_key`/`device_name` (not checked: see [`str::parse`] for that).
    pub fn new(product_key: impl Into<String>, device_name: impl Into<String>) -> Self {
        Self(product_key.into(), device_name.into())
    }

    /// productKey.
    pub fn product_key(&self) -> &str {
        &self.0
    }

    /// deviceName.
    pub fn device_name(&self) -> &str {
        &self.1
    }

    /// Whether `name` (`productKey/deviceName`, or a bare deviceName) names this device.
    pub fn is_named(&self, name: &str) -> bool {
        named(name, &self.0, &self.1)
    }
}

impl std::fmt::Display for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// A `productKey/deviceName` that names no device the OTA topics allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {reason}")]
pub struct DeviceKeyError {
    /// What was given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl DeviceKeyError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        "INVALID_DEVICE_KEY"
    }
}

impl std::str::FromStr for DeviceKey {
    type Err = DeviceKeyError;

    /// `productKey/deviceName`, each as the OTA topics allow it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| DeviceKeyError {
            text: text.to_owned(),
            reason,
        };
        let (pk, dn) = text
            .split_once('/')
            .ok_or_else(|| error("expected productKey/deviceName".to_owned()))?;
        otalab_protocol::Topic::new(otalab_protocol::TopicKind::Inform, pk, dn)
            .map_err(|e| error(e.to_string()))?;
        Ok(Self::new(pk, dn))
    }
}

/// A firmware package the cloud can push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    /// File name.
    pub name: String,
    /// Download URL (http or https).
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5, lower-case hex.
    pub md5: String,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Version it installs.
    pub version: String,
}

impl Package {
    /// The package at `url` (named by its last path segment) from the digests of its bytes.
    pub fn from_digests(url: &str, version: &str, digests: otalab_protocol::FileDigests) -> Self {
        let (size, md5, sha256) = digests.finish();
        Self {
            name: url
                .rsplit('/')
                .find(|s| !s.is_empty())
                .unwrap_or(url)
                .to_owned(),
            url: url.to_owned(),
            size,
            md5,
            sha256,
            version: version.to_owned(),
        }
    }

    /// The package at `url` holding `bytes`.
    pub fn describe(url: &str, version: &str, bytes: &[u8]) -> Self {
        let mut digests = otalab_protocol::FileDigests::new();
        digests.update(bytes);
        Self::from_digests(url, version, digests)
    }
}

/// Prefixes of deliberately broken URLs on the sandbox HTTP server (the package's file name
/// is appended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultUrls {
    /// Breaks the connection halfway through the first request: devices must resume.
    pub flaky: String,
    /// Answers 403 like an expired OSS link.
    pub expired: String,
    /// Answers 404.
    pub missing: String,
    /// Serves the file slowly (200 KiB/s), so that a download stays in flight for seconds
    /// (empty from a sandbox that does not offer it).
    #[serde(default)]
    pub slow: String,
}

/// Which notice to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Right size, digest and URL.
    Correct,
    /// One digest digit flipped: devices must report -3.
    BadDigest,
    /// Size one byte off: devices must report -3.
    WrongSize,
    /// URL answers 403 like an expired OSS link: -2.
    #[serde(rename = "expired_url")]
    Expired,
    /// URL answers 404: -2.
    #[serde(rename = "missing_url")]
    Missing,
    /// URL breaks the connection halfway: devices must resume with Range.
    #[serde(rename = "flaky_url")]
    Flaky,
    /// Right package, served slowly (200 KiB/s by the sandbox): the download stays in flight
    /// for seconds (a notice repeated mid-download, a cancel mid-download).
    #[serde(rename = "slow_url")]
    Slow,
    /// Delivered over MQTT (`dProtocol: "mqtt"`): the cloud serves the blocks.
    #[serde(rename = "over_mqtt")]
    Mqtt,
    /// Over MQTT, with one reply whose CRC is corrupted: devices must ask again.
    MqttBadCrc,
    /// Over MQTT, with one reply for another offset: devices must ignore it and ask again.
    MqttWrongOffset,
    /// Over MQTT, with one reply dropped: devices must ask again after their timeout.
    MqttDropReply,
    /// Over MQTT, answered with a non-200 frame: devices must fail with -4.
    MqttErrorReply,
}

impl NoticeKind {
    /// All kinds, for selectors and documentation.
    pub const ALL: [NoticeKind; 12] = [
        Self::Correct,
        Self::BadDigest,
        Self::WrongSize,
        Self::Expired,
        Self::Missing,
        Self::Flaky,
        Self::Slow,
        Self::Mqtt,
        Self::MqttBadCrc,
        Self::MqttWrongOffset,
        Self::MqttDropReply,
        Self::MqttErrorReply,
    ];

    /// Its name in scenario files and its i18n key.
    pub fn key(self) -> &'static str {
        match self {
            Self::Correct => "correct",
            Self::BadDigest => "bad_digest",
            Self::WrongSize => "wrong_size",
            Self::Expired => "expired_url",
            Self::Missing => "missing_url",
            Self::Flaky => "flaky_url",
            Self::Slow => "slow_url",
            Self::Mqtt => "over_mqtt",
            Self::MqttBadCrc => "mqtt_bad_crc",
            Self::MqttWrongOffset => "mqtt_wrong_offset",
            Self::MqttDropReply => "mqtt_drop_reply",
            Self::MqttErrorReply => "mqtt_error_reply",
        }
    }

    /// True when the package goes over MQTT.
    pub fn over_mqtt(self) -> bool {
        self.channel_fault().is_some() || self == Self::Mqtt
    }

    /// True when the notice points at one of the sandbox's broken URLs.
    pub fn needs_fault_urls(self) -> bool {
        matches!(
            self,
            Self::Expired | Self::Missing | Self::Flaky | Self::Slow
        )
    }

    /// The fault the cloud injects on the MQTT channel, if any.
    pub(crate) fn channel_fault(self) -> Option<ChannelFault> {
        match self {
            Self::MqttBadCrc => Some(ChannelFault::BadCrc),
            Self::MqttWrongOffset => Some(ChannelFault::WrongOffset),
            Self::MqttDropReply => Some(ChannelFault::DropReply),
            Self::MqttErrorReply => Some(ChannelFault::ErrorReply),
            _ => None,
        }
    }
}

/// A fault of the MQTT delivery channel, injected by the cloud once per device (the error reply
/// on every request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelFault {
    /// One reply with a corrupted CRC.
    BadCrc,
    /// One reply for another offset.
    WrongOffset,
    /// One reply dropped.
    DropReply,
    /// Every reply an error frame.
    ErrorReply,
}

/// A device's outcome by the cloud's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// No job, or the job did not start.
    Pending,
    /// Progress seen, not finished.
    Upgrading,
    /// Reported the target version.
    Succeeded,
    /// Reported a failure code, or a version other than the target after 100.
    Failed,
    /// Its batch was cancelled before the job ended.
    Cancelled,
}

impl Verdict {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Upgrading => "upgrading",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One progress report as the cloud received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStep {
    /// Milliseconds since 1970.
    pub at_ms: u64,
    /// The same instant as a human time (ISO 8601, UTC, milliseconds).
    #[serde(default)]
    pub at: String,
    /// 0..=100 or -1..=-4 (a number in JSON).
    pub step: Step,
    /// Description.
    pub desc: String,
}

/// One device in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceReport {
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// Target version of the job.
    pub target_version: Option<String>,
    /// The notice sent (decoded form), if any.
    pub notice: Option<serde_json::Value>,
    /// Progress reports in arrival order.
    pub steps: Vec<ObservedStep>,
    /// Last reported version.
    pub final_version: Option<String>,
    /// Outcome.
    pub verdict: Verdict,
    /// Why it failed (the first failure step, or the wrong version), when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The batch whose job this is (none for a job made by answering a pull).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// The fault injected into the device, described (simulated devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// Why a job failed: the step code the device reported with its description, or (no code) a
/// wrong version after 100.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// -1 upgrade, -2 download, -3 verify, -4 flash (the number in JSON); `None` for a wrong
    /// version after 100.
    #[serde(with = "failure_code")]
    pub code: Option<otalab_protocol::Failure>,
    /// The device's description, or what went wrong.
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} {}", code.code(), self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// A failure code as its wire number (`-3`) or `null`.
mod failure_code {
    use otalab_protocol::Failure;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(code: &Option<Failure>, s: S) -> Result<S::Ok, S::Error> {
        match code {
            Some(code) => s.serialize_i8(code.code()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Failure>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            None => Ok(None),
            Some(n) => Failure::from_code(n).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("failure code {n} is not one of -1..=-4"))
            }),
        }
    }
}

/// Serde for the fields only drivers built with otalab-sim's `jobs` feature read (a scenario's
/// `job` actions, its task expectations): without the feature a value is refused with a message
/// that says so, nothing is written, and the job code stays out of the build (the page's size).
pub(crate) mod jobs_only {
    #[cfg(feature = "jobs")]
    use serde::{Deserialize, Serialize};
    use serde::{Deserializer, Serializer};

    #[cfg(feature = "jobs")]
    pub fn serialize<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        value.serialize(s)
    }

    #[cfg(feature = "jobs")]
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        T::deserialize(d)
    }

    #[cfg(not(feature = "jobs"))]
    pub fn serialize<T, S: Serializer>(_: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_none()
    }

    #[cfg(not(feature = "jobs"))]
    pub fn deserialize<'de, T, D: Deserializer<'de>>(_: D) -> Result<T, D::Error> {
        Err(serde::de::Error::custom(
            "upgrade jobs are not built into this driver: run the scenario with the otalab runner",
        ))
    }
}

/// The time `ms` (since 1970) as ISO 8601 in UTC with milliseconds: `2026-11-27T04:31:02.123Z`.
pub fn iso_time(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let rest = ms % 86_400_000;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Reads a `T` from a table only (a JSON object, a TOML table): for the hand-written readers
/// of tagged values, whose flat helper struct would otherwise also take a positional array,
/// which serde's tagged form refused.
pub fn from_table<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    /// Takes a map and hands it to `T`.
    struct Table<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Table<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a table with a kind")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_map(Table(std::marker::PhantomData))
}

/// The platform's device status topic, `/as/mqtt/status/{pk}/{dn}`: where its server-side
/// subscription says that a device came online or went offline. The sandbox's plain MQTT port
/// publishes it for every device that logs in; the in-memory world for its devices.
pub fn status_topic(device: &DeviceKey) -> String {
    format!("/as/mqtt/status/{}/{}", device.0, device.1)
}

/// The device a status topic names (`None` for any other topic).
pub fn status_device(topic: &str) -> Option<DeviceKey> {
    let rest = topic.strip_prefix("/as/mqtt/status/")?;
    let (pk, dn) = rest.split_once('/')?;
    (!pk.is_empty() && !dn.is_empty() && !dn.contains('/')).then(|| DeviceKey::new(pk, dn))
}

/// A device status message as the platform sends it: `status` (`online` or `offline`),
/// `productKey`, `deviceName`, `time` (China Standard Time, `2026-12-06 13:05:01.123`),
/// `utcTime`, `lastTime`/`utcLastTime` (its last message before the change) and `clientIp`.
pub fn status_payload(device: &DeviceKey, online: bool, now: u64, last: u64, ip: &str) -> String {
    let local = |ms: u64| {
        iso_time(ms + 8 * 3_600_000)
            .replace('T', " ")
            .replace('Z', "")
    };
    let text = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        r#"{{"status":"{}","productKey":{},"deviceName":{},"time":"{}","utcTime":"{}","lastTime":"{}","utcLastTime":"{}","clientIp":{}}}"#,
        if online { "online" } else { "offline" },
        text(&device.0),
        text(&device.1),
        local(now),
        iso_time(now),
        local(last),
        iso_time(last),
        text(ip),
    )
}

/// `Some(true)` for an `online` status message, `Some(false)` for `offline`, `None` for
/// anything else.
pub fn status_online(payload: &[u8]) -> Option<bool> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    match value.get("status")?.as_str()? {
        "online" => Some(true),
        "offline" => Some(false),
        _ => None,
    }
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Devices in the report.
    pub total: usize,
    /// Pending.
    pub pending: usize,
    /// Upgrading.
    pub upgrading: usize,
    /// Succeeded.
    pub succeeded: usize,
    /// Failed.
    pub failed: usize,
    /// Cancelled with their batch.
    #[serde(default)]
    pub cancelled: usize,
}

impl Summary {
    /// Counts the verdicts.
    pub fn of(verdicts: impl IntoIterator<Item = Verdict>) -> Self {
        let mut s = Self::default();
        for v in verdicts {
            s.total += 1;
            match v {
                Verdict::Pending => s.pending += 1,
                Verdict::Upgrading => s.upgrading += 1,
                Verdict::Succeeded => s.succeeded += 1,
                Verdict::Failed => s.failed += 1,
                Verdict::Cancelled => s.cancelled += 1,
            }
        }
        s
    }
}

/// Whether `name` (`productKey/deviceName`, or a bare deviceName) names this device.
pub fn named(name: &str, product_key: &str, device_name: &str) -> bool {
    match name.split_once('/') {
        Some((pk, dn)) => pk == product_key && dn == device_name,
        None => name == device_name,
    }
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
pub(crate) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_key_shows_parses_and_matches_as_pk_slash_dn() {
        let key: DeviceKey = "a1B2c3/meter-01".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(key, DeviceKey::new("a1B2c3", "meter-01"));
        assert_eq!(key.to_string(), "a1B2c3/meter-01");
        assert_eq!(
            (key.product_key(), key.device_name()),
            ("a1B2c3", "meter-01")
        );
        assert!(key.is_named("a1B2c3/meter-01") && key.is_named("meter-01"));
        assert!(!key.is_named("other/meter-01"));
        // Serialized as the pair it replaced: reports keep their shape.
        assert_eq!(
            serde_json::to_string(&key).unwrap_or_default(),
            r#"["a1B2c3","meter-01"]"#
        );
        for bad in ["a1B2c3", "a1/b/c", "/dn", "pk/", "pk/d n+"] {
            let e = bad.parse::<DeviceKey>().err();
            assert_eq!(
                e.as_ref().map(DeviceKeyError::code),
                Some("INVALID_DEVICE_KEY"),
                "{bad}"
            );
            assert!(
                e.is_some_and(|e| e.to_string().starts_with(&format!("{bad:?}: "))),
                "{bad}"
            );
        }
    }
}
