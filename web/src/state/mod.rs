//! The dashboard's state: plain Rust types in signals, provided through context.

pub mod i18n;
pub mod scenario;

pub use otalab_sim::{Package, SandboxInfo, fleet, report};

use std::collections::VecDeque;

use leptos::prelude::*;
use otalab_sim::{DeviceKey, Fault, Link, Phase, StepRecord};
use serde::{Deserialize, Serialize};

pub use i18n::{Lang, t};

/// Milliseconds since 1970.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

// Read by a hand-written `Deserialize` (below) with the rules of serde's tagged form, which
// buffered the stored profile and cost the page's wasm about 3 KB.
/// How devices connect. `Debug` shows the broker password as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Profile {
    /// The local sandbox broker (from `/sandbox.json`).
    Sandbox,
    /// Alibaba Cloud IoT: per-device credentials.
    Aliyun {
        /// Region (e.g. cn-shanghai); used when no instance id is given.
        region: String,
        /// Instance id (instances since 2021-07-30).
        instance_id: String,
        /// wss (securemode=2) or ws (securemode=3).
        tls: bool,
        /// hmacmd5, hmacsha1 or hmacsha256.
        sign_method: String,
        /// Keep-alive seconds (30..=1200).
        keep_alive: u16,
    },
    /// Any broker by URL, one login for all devices.
    Broker {
        /// ws:// or wss:// URL.
        url: String,
        /// User name (empty: none).
        username: String,
        /// Password (stored only with "remember secrets").
        password: String,
    },
}

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        /// The `kind`s.
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        enum Kind {
            Sandbox,
            Aliyun,
            Broker,
        }
        /// Every field any kind has (others are ignored, as before).
        #[derive(Deserialize)]
        struct Flat {
            kind: Kind,
            region: Option<String>,
            instance_id: Option<String>,
            tls: Option<bool>,
            sign_method: Option<String>,
            keep_alive: Option<u16>,
            url: Option<String>,
            username: Option<String>,
            password: Option<String>,
        }
        let flat: Flat = otalab_sim::model::from_table(deserializer)?;
        let need = |field: Option<String>, name: &'static str| {
            field.ok_or_else(|| D::Error::missing_field(name))
        };
        Ok(match flat.kind {
            Kind::Sandbox => Profile::Sandbox,
            Kind::Aliyun => Profile::Aliyun {
                region: need(flat.region, "region")?,
                instance_id: need(flat.instance_id, "instance_id")?,
                tls: flat.tls.ok_or_else(|| D::Error::missing_field("tls"))?,
                sign_method: need(flat.sign_method, "sign_method")?,
                keep_alive: flat
                    .keep_alive
                    .ok_or_else(|| D::Error::missing_field("keep_alive"))?,
            },
            Kind::Broker => Profile::Broker {
                url: need(flat.url, "url")?,
                username: need(flat.username, "username")?,
                password: need(flat.password, "password")?,
            },
        })
    }
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sandbox => f.write_str("Sandbox"),
            Self::Aliyun {
                region,
                instance_id,
                tls,
                sign_method,
                keep_alive,
            } => f
                .debug_struct("Aliyun")
                .field("region", region)
                .field("instance_id", instance_id)
                .field("tls", tls)
                .field("sign_method", sign_method)
                .field("keep_alive", keep_alive)
                .finish(),
            Self::Broker { url, username, .. } => f
                .debug_struct("Broker")
                .field("url", url)
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// Simulation settings applied to new devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Progress cadence in percent.
    pub cadence_percent: u8,
    /// Flash duration.
    pub flash_ms: u64,
    /// Start downloading when notified.
    pub auto_upgrade: bool,
    /// Store device secrets and broker passwords in localStorage.
    pub remember_secrets: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cadence_percent: otalab_sim::DEFAULT_CADENCE_PERCENT,
            flash_ms: otalab_sim::DEFAULT_FLASH_MS,
            auto_upgrade: true,
            remember_secrets: false,
        }
    }
}

/// What a device row shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceStatus {
    /// The MQTT link.
    pub link: Link,
    /// Last link error code, if any.
    pub link_error: Option<String>,
    /// Where the device is in the OTA flow.
    pub phase: Phase,
    /// Download percent.
    pub percent: Option<u8>,
    /// Versions per module.
    pub versions: Vec<(String, String)>,
    /// Last failure code and description.
    pub failure: Option<(otalab_protocol::Failure, String)>,
    /// The notice as decoded (JSON) and raw.
    pub notice: Option<(serde_json::Value, String)>,
    /// Progress sent.
    pub history: Vec<StepRecord>,
    /// Injected fault.
    pub fault: Option<Fault>,
    /// Last error (bad payload, publish refused, ...).
    pub error: Option<String>,
    /// When an external device last sent anything (ms since 1970).
    pub last_seen_ms: Option<u64>,
    /// Notices the sandbox cloud sent to an external device.
    pub notices_sent: u32,
}

/// One row of the fleet table.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRow {
    /// Stable id.
    pub id: u32,
    /// Status, updated by the simulator.
    pub status: RwSignal<DeviceStatus>,
    /// Name (productKey/deviceName).
    pub name: StoredValue<DeviceKey>,
    /// The cloud's verdict of the device's job (sandbox cloud only); `None`: no job.
    pub verdict: RwSignal<Option<report::Verdict>>,
    /// A device on the broker that this tab does not simulate (a real board, another process).
    pub external: bool,
}

/// Direction of a logged message, or a connection event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// Cloud → device.
    In,
    /// Device → cloud.
    Out,
    /// A connection event of the device (connected, disconnected, subscribed…).
    Event,
}

/// One logged message or event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Sequence number.
    pub seq: u64,
    /// When.
    pub at_ms: u64,
    /// Direction.
    pub direction: Direction,
    /// Device name.
    pub device: String,
    /// Topic (the event's name for events).
    pub topic: String,
    /// Payload as text (the event's detail for events).
    pub payload: String,
    /// QoS of a message.
    pub qos: Option<u8>,
    /// RETAIN flag of a message.
    pub retain: bool,
}

/// What the fleet table shows: everything, or the devices behind one summary chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFilter {
    /// Devices connected now.
    Online,
    /// Devices without an upgrade job.
    NoJob,
    /// Devices whose job has this verdict.
    Verdict(report::Verdict),
}

/// The local time of `ms` as `HH:MM:SS.mmm` (the log and the batches).
pub fn clock_time(ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds(),
        date.get_milliseconds()
    )
}

/// A point of the step-over-time chart.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Seconds since the first sample.
    pub t: f64,
    /// Counts.
    pub upgrading: usize,
    /// Counts.
    pub succeeded: usize,
    /// Counts.
    pub failed: usize,
}

/// Everything the components share.
#[derive(Debug, Clone, Copy)]
pub struct AppState {
    /// UI language.
    pub lang: RwSignal<Lang>,
    /// Connection profile.
    pub profile: RwSignal<Profile>,
    /// Simulation settings.
    pub settings: RwSignal<Settings>,
    /// Sandbox description, when served by the sandbox.
    pub sandbox: RwSignal<Option<SandboxInfo>>,
    /// Fleet rows.
    pub devices: RwSignal<Vec<DeviceRow>>,
    /// Device whose notice is shown.
    pub selected: RwSignal<Option<u32>>,
    /// Message log, newest first.
    pub log: RwSignal<VecDeque<LogEntry>>,
    /// Log paused (new entries dropped).
    pub log_paused: RwSignal<bool>,
    /// Keep the last N entries.
    pub log_limit: RwSignal<usize>,
    /// Chart samples.
    pub samples: RwSignal<Vec<Sample>>,
    /// Selected package.
    pub package: RwSignal<Option<Package>>,
    /// The batches pushed so far, oldest first, with their status (refreshed by the cloud).
    pub batches: RwSignal<Vec<otalab_sim::BatchStatus>>,
    /// Firmware uploaded in this session (listed with the demo packages).
    pub uploaded: RwSignal<Vec<Package>>,
    /// The summary chip filtering the fleet table.
    pub filter: RwSignal<Option<RowFilter>>,
    /// The conformance suite's report card (so far) and whether it still runs.
    pub conformance: RwSignal<
        Option<(
            otalab_sim::ConformanceReport,
            Option<otalab_sim::Case>,
            bool,
        )>,
    >,
    /// The token for writing to a sandbox on the network (from the page URL's `#token=`).
    pub token: RwSignal<Option<String>>,
    /// Status line.
    pub notice_line: RwSignal<String>,
    /// The imported scenario and its run.
    pub scenario: RwSignal<Option<scenario::ScenarioView>>,
    /// The scenario whose expectations judge the exported report (the last run's).
    pub judged: RwSignal<Option<scenario::Judged>>,
}

impl AppState {
    /// The (productKey, deviceName) of every row, simulated and external, in table order.
    pub fn keys(&self) -> Vec<DeviceKey> {
        self.devices
            .with_untracked(|rows| rows.iter().map(|r| r.name.get_value()).collect())
    }

    /// Fresh state, restoring language, profile and settings from localStorage.
    pub fn new() -> Self {
        Self {
            lang: RwSignal::new(load("otalab.lang").unwrap_or_default()),
            profile: RwSignal::new(load("otalab.profile").unwrap_or(Profile::Sandbox)),
            settings: RwSignal::new(load("otalab.settings").unwrap_or_default()),
            sandbox: RwSignal::new(None),
            devices: RwSignal::new(Vec::new()),
            selected: RwSignal::new(None),
            log: RwSignal::new(VecDeque::new()),
            log_paused: RwSignal::new(false),
            log_limit: RwSignal::new(500),
            samples: RwSignal::new(Vec::new()),
            package: RwSignal::new(None),
            batches: RwSignal::new(Vec::new()),
            uploaded: RwSignal::new(Vec::new()),
            filter: RwSignal::new(None),
            conformance: RwSignal::new(None),
            token: RwSignal::new(
                web_sys::window()
                    .and_then(|w| w.location().hash().ok())
                    .and_then(|h| h.strip_prefix("#token=").map(str::to_owned))
                    .filter(|t| t.len() <= 128 && t.bytes().all(|b| b.is_ascii_hexdigit())),
            ),
            notice_line: RwSignal::new(String::new()),
            scenario: RwSignal::new(None),
            judged: RwSignal::new(None),
        }
    }

    /// The text of `key` in the current language.
    pub fn t(&self, key: &'static str) -> &'static str {
        t(self.lang.get(), key)
    }

    /// The text of `key` as a view or attribute value that follows the language. Every key
    /// gives the same closure type, so the page's wasm has one copy of the code that renders a
    /// reactive text instead of one per `move || state.t(..)` in a view.
    pub fn tr(self, key: &'static str) -> impl Fn() -> &'static str + Copy + Send + Sync + 'static {
        move || self.t(key)
    }

    /// Logs a message at QoS 1, not retained (unless paused), keeping the last `log_limit`.
    pub fn log(&self, direction: Direction, device: &str, topic: &str, payload: &str) {
        self.log_message(direction, device, topic, payload, Some(1), false);
    }

    /// Logs a device's connection event (`what`: connected, disconnected…; `detail`).
    pub fn log_event(&self, device: &str, what: &str, detail: &str) {
        self.log_message(Direction::Event, device, what, detail, None, false);
    }

    /// Adds a log entry (unless paused), keeping the last `log_limit`.
    pub fn log_message(
        &self,
        direction: Direction,
        device: &str,
        topic: &str,
        payload: &str,
        qos: Option<u8>,
        retain: bool,
    ) {
        if self.log_paused.get_untracked() {
            return;
        }
        let limit = self.log_limit.get_untracked().max(1);
        self.log.update(|log| {
            let seq = log.front().map_or(1, |e| e.seq + 1);
            log.push_front(LogEntry {
                seq,
                at_ms: now_ms(),
                direction,
                device: device.to_owned(),
                topic: topic.to_owned(),
                payload: payload.to_owned(),
                qos,
                retain,
            });
            log.truncate(limit);
        });
    }

    /// Saves language, profile (secrets only when asked to) and settings.
    pub fn persist(&self) {
        save("otalab.lang", &self.lang.get_untracked());
        save("otalab.settings", &self.settings.get_untracked());
        let mut profile = self.profile.get_untracked();
        if !self.settings.get_untracked().remember_secrets
            && let Profile::Broker { password, .. } = &mut profile
        {
            password.clear();
        }
        save("otalab.profile", &profile);
    }
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Reads a JSON value from localStorage.
pub fn load<T: for<'de> Deserialize<'de>>(key: &str) -> Option<T> {
    let text = storage()?.get_item(key).ok()??;
    serde_json::from_str(&text).ok()
}

/// Writes a JSON value to localStorage.
pub fn save<T: Serialize>(key: &str, value: &T) {
    if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(value)) {
        let _ = storage.set_item(key, &text);
    }
}

#[cfg(test)]
mod tests {
    use super::Profile;

    #[test]
    fn a_profile_never_shows_its_password() {
        let profile = Profile::Broker {
            url: "ws://127.0.0.1:1".into(),
            username: "u".into(),
            password: "pl4nted-s3cret".into(),
        };
        let text = format!("{profile:?}");
        assert!(!text.contains("pl4nted-s3cret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn a_stored_profile_reads_back_as_written() {
        let profiles = [
            Profile::Sandbox,
            Profile::Aliyun {
                region: "cn-shanghai".into(),
                instance_id: String::new(),
                tls: true,
                sign_method: "hmacsha256".into(),
                keep_alive: 60,
            },
            Profile::Broker {
                url: "ws://127.0.0.1:1".into(),
                username: "u".into(),
                password: String::new(),
            },
        ];
        for profile in profiles {
            let text = serde_json::to_string(&profile).unwrap_or_default();
            assert_eq!(
                serde_json::from_str::<Profile>(&text).ok(),
                Some(profile),
                "{text}"
            );
        }
        for (bad, want) in [
            (
                r#"{"kind":"broker","url":"ws://x","username":""}"#,
                "missing field `password`",
            ),
            (
                r#"{"kind":"aliyun","region":"r"}"#,
                "missing field `instance_id`",
            ),
            (r#"{"kind":"mars"}"#, "unknown variant `mars`"),
            (r#"{"url":"ws://x"}"#, "missing field `kind`"),
        ] {
            let error = serde_json::from_str::<Profile>(bad)
                .err()
                .map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains(want)),
                "{bad}: {error:?}"
            );
        }
    }
}
