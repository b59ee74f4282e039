//! Scenarios: a test as a file. A scenario names the connection, the fleet, how the devices
//! behave (cadence, flash and reboot times, fault shares), what the sandbox cloud does over
//! time (push which firmware, which notice kind, to whom, when) and the expectations. The
//! format is TOML; `scenario.schema.json` (generated from these types, see [`json_schema`]) lets
//! editors check it. Examples live in `examples/scenarios/`.

use std::collections::BTreeMap;

use otalab_protocol::{Module, MqttSignMethod, SignMethod};
use serde::{Deserialize, Serialize};

use crate::cloud::NoticeKind;
use crate::device::{self, DeviceConfig, Fault};
use crate::expect::Expectations;
use crate::fleet::{DeviceSpec, expand_template, import};
use crate::model::DeviceKey;
pub use crate::model::named;

/// The most devices one scenario may name (shards split them across processes).
pub const MAX_DEVICES: usize = 1_000_000;

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown in reports and JUnit.
    pub name: String,
    /// What the scenario checks, in a sentence or two.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Where devices (and the sandbox cloud) connect.
    #[serde(default)]
    pub connection: Connection,
    /// Which devices.
    pub fleet: FleetSpec,
    /// How the devices behave.
    #[serde(default)]
    pub device: Behaviour,
    /// Firmware packages the actions push, by a name of your choice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub firmware: BTreeMap<String, FirmwareSpec>,
    /// What the sandbox cloud does, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<CloudAction>,
    /// What must hold at the end.
    #[serde(default)]
    pub expect: Expectations,
}

// Read by a hand-written `Deserialize` (below) with the rules of serde's tagged form, which
// buffered the table and cost each wasm build about 8 KB.
/// Where devices connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Connection {
    /// The local sandbox started by `scripts/run` (its HTTP server says where the broker is).
    Sandbox {
        /// The sandbox server (default `http://127.0.0.1:8686`, or `OTALAB_SANDBOX`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Any MQTT broker by URL (`mqtt://`, `mqtts://`, `ws://`, `wss://`); the sandbox cloud
    /// runs on it too (firmware given by `url`), unless `cloud = false`.
    Broker {
        /// The broker URL.
        url: String,
        /// Run the sandbox cloud on this broker (default). With `false`, something else
        /// pushes the notices (your own cloud emulator): actions are not allowed and verdicts
        /// are judged from the device side, as on Alibaba Cloud.
        #[serde(default = "yes")]
        cloud: bool,
        /// User name for every device.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        /// The environment variable holding the password (never the password itself).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_env: Option<String>,
    },
    /// Alibaba Cloud IoT: every device logs in with its own signed credentials; the real
    /// cloud pushes (actions are not allowed) and verdicts are judged from the device side.
    Aliyun {
        /// Region, e.g. `cn-shanghai` (used when no instance id is given).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        /// Instance id (instances created since 2021-07-30).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance_id: Option<String>,
        /// `hmacmd5`, `hmacsha1` or `hmacsha256` (default).
        #[serde(default = "default_mqtt_sign", with = "mqtt_sign")]
        #[cfg_attr(feature = "schema", schemars(with = "String"))]
        sign_method: MqttSignMethod,
        /// Keep-alive seconds (30..=1200, default 60).
        #[serde(default = "default_keep_alive")]
        keep_alive: u16,
    },
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        /// The `kind`s.
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Sandbox,
            Broker,
            Aliyun,
        }
        /// Every field any kind has; each kind then takes its own and refuses the others.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Flat {
            kind: Kind,
            url: Option<String>,
            cloud: Option<bool>,
            username: Option<String>,
            password_env: Option<String>,
            region: Option<String>,
            instance_id: Option<String>,
            #[serde(default, deserialize_with = "some_sign")]
            sign_method: Option<MqttSignMethod>,
            keep_alive: Option<u16>,
        }
        fn some_sign<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<Option<MqttSignMethod>, D::Error> {
            mqtt_sign::deserialize(d).map(Some)
        }
        let flat: Flat = crate::model::from_table(deserializer)?;
        let given = [
            ("url", flat.url.is_some()),
            ("cloud", flat.cloud.is_some()),
            ("username", flat.username.is_some()),
            ("password_env", flat.password_env.is_some()),
            ("region", flat.region.is_some()),
            ("instance_id", flat.instance_id.is_some()),
            ("sign_method", flat.sign_method.is_some()),
            ("keep_alive", flat.keep_alive.is_some()),
        ];
        let (allowed, connection): (&'static [&'static str], _) = match flat.kind {
            Kind::Sandbox => (&["url"], Ok(Connection::Sandbox { url: flat.url })),
            Kind::Broker => (
                &["url", "cloud", "username", "password_env"],
                flat.url.ok_or("url").map(|url| Connection::Broker {
                    url,
                    cloud: flat.cloud.unwrap_or_else(yes),
                    username: flat.username,
                    password_env: flat.password_env,
                }),
            ),
            Kind::Aliyun => (
                &["region", "instance_id", "sign_method", "keep_alive"],
                Ok(Connection::Aliyun {
                    region: flat.region,
                    instance_id: flat.instance_id,
                    sign_method: flat.sign_method.unwrap_or_else(default_mqtt_sign),
                    keep_alive: flat.keep_alive.unwrap_or_else(default_keep_alive),
                }),
            ),
        };
        if let Some((field, _)) = given
            .iter()
            .find(|(field, set)| *set && !allowed.contains(field))
        {
            return Err(D::Error::unknown_field(field, allowed));
        }
        connection.map_err(D::Error::missing_field)
    }
}

fn yes() -> bool {
    true
}

fn default_mqtt_sign() -> MqttSignMethod {
    MqttSignMethod::HmacSha256
}

/// The login's sign method as scenario files spell it (any letter case when read).
mod mqtt_sign {
    use otalab_protocol::MqttSignMethod;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(method: &MqttSignMethod, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(method.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MqttSignMethod, D::Error> {
        let text = String::deserialize(d)?;
        MqttSignMethod::parse(&text).map_err(D::Error::custom)
    }
}

fn default_keep_alive() -> u16 {
    60
}

impl Default for Connection {
    fn default() -> Self {
        Self::Sandbox { url: None }
    }
}

/// Which devices: a name template, a devices.conf, or a CSV (paths relative to the scenario).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// productKey of templated devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    /// Device names: `meter-{0001..0250}` expands to 250 zero-padded names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<String>,
    /// A bridge `devices.conf` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices_conf: Option<String>,
    /// A CSV file: `productKey,deviceName[,deviceSecret[,version]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// The devices themselves (what the dashboard writes when it saves a session).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<ListedDevice>,
    /// The version devices run at the start (CSV rows may say their own).
    #[serde(default = "default_version")]
    pub version: String,
}

fn default_version() -> String {
    "1.0.0".into()
}

/// A device named in the scenario itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ListedDevice {
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// Its version at the start (default: the fleet's `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// How devices behave; defaults are Link SDK C's values and the dashboard's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Report progress every this many percent (1..=100).
    #[serde(default = "default_cadence")]
    pub cadence_percent: u8,
    /// How long flashing takes.
    #[serde(default = "default_flash")]
    pub flash_ms: u64,
    /// How long the reboot takes (offline).
    #[serde(default = "default_reboot")]
    pub reboot_ms: u64,
    /// How many times a broken HTTP download is resumed with Range before -2.
    #[serde(default = "default_resumes")]
    pub max_resumes: u32,
    /// Read at most this many bytes per second per device (0: unthrottled).
    #[serde(default)]
    pub throttle_bytes_per_sec: u32,
    /// Bytes per block over MQTT.
    #[serde(default = "default_block")]
    pub block_size: u64,
    /// How long to wait for a block reply before asking again (Link SDK C: 10 s).
    #[serde(default = "default_block_timeout")]
    pub block_timeout_ms: u64,
    /// Faults given to a share (or a number) of the fleet, in fleet order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultShare>,
    /// Devices that come online late (the end of the fleet), for dynamic upgrade jobs (with
    /// the `jobs` feature: the page is built without it).
    #[cfg(feature = "jobs")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<Join>,
}

/// Late joiners: the last `share` (or `count`) of the fleet, in fleet order, are offline when
/// the run starts and connect for the first time one after another, evenly spaced from
/// `from_ms` to `to_ms` after the start. The run acts once the others are connected and does
/// not settle before every joiner has come online.
#[cfg(feature = "jobs")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Join {
    /// Fraction of the fleet (0..=1, rounded to the nearest device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Number of devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// When the first joiner connects, in ms after the start.
    #[serde(default)]
    pub from_ms: u64,
    /// When the last joiner connects, in ms after the start (at least `from_ms`).
    pub to_ms: u64,
}

#[cfg(feature = "jobs")]
impl Join {
    /// How many of a fleet of `total` devices join late.
    pub fn joiners(&self, total: usize) -> usize {
        portion(self.share, self.count, total)
    }

    /// When the device at `position` (0-based, fleet order) of `total` first connects, in ms
    /// after the start (0 for the devices there from the start).
    pub fn join_after_ms(&self, position: usize, total: usize) -> u64 {
        let n = self.joiners(total);
        let first = total - n;
        if position < first {
            return 0;
        }
        let k = (position - first) as u64;
        let gaps = (n as u64).saturating_sub(1).max(1);
        self.from_ms + (self.to_ms - self.from_ms) * k / gaps
    }
}

fn default_cadence() -> u8 {
    device::DEFAULT_CADENCE_PERCENT
}
fn default_flash() -> u64 {
    device::DEFAULT_FLASH_MS
}
fn default_reboot() -> u64 {
    device::DEFAULT_REBOOT_MS
}
fn default_resumes() -> u32 {
    device::DEFAULT_MAX_RESUMES
}
fn default_block_timeout() -> u64 {
    device::DEFAULT_BLOCK_TIMEOUT_MS
}
fn default_block() -> u64 {
    otalab_protocol::DEFAULT_BLOCK_SIZE
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            cadence_percent: default_cadence(),
            flash_ms: default_flash(),
            reboot_ms: default_reboot(),
            max_resumes: default_resumes(),
            throttle_bytes_per_sec: 0,
            block_size: default_block(),
            block_timeout_ms: default_block_timeout(),
            faults: Vec::new(),
            #[cfg(feature = "jobs")]
            join: None,
        }
    }
}

/// A fault for part of the fleet: give `share` (0..=1), `count`, or `devices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FaultShare {
    /// Fraction of the fleet (rounded to the nearest device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Number of devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// These devices, as `productKey/deviceName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// The fault: `{ kind = "fail", failure = "verify", at_percent = 50 }`,
    /// `{ kind = "wrongVersion", version = "0.9.0" }`, `{ kind = "stall", at_percent = 30 }`,
    /// `{ kind = "offline", at_percent = 40, for_ms = 2000 }`.
    pub fault: Fault,
}

/// A firmware package: a file on the sandbox server, or any http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FirmwareSpec {
    /// The version it installs.
    pub version: String,
    /// A file name on the sandbox server (`demo-2.0.0.bin`, or one uploaded there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Any http(s) URL (the runner downloads it once to learn its size and digests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// How the cloud signs a package.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Signing {
    /// MD5 (the cloud's default).
    #[default]
    Md5,
    /// SHA-256.
    Sha256,
}

impl From<Signing> for SignMethod {
    fn from(s: Signing) -> Self {
        match s {
            Signing::Md5 => SignMethod::Md5,
            Signing::Sha256 => SignMethod::Sha256,
        }
    }
}

/// One thing the sandbox cloud does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CloudAction {
    /// When, in milliseconds after every device of the shard connected.
    #[serde(default)]
    pub at_ms: u64,
    /// Push this firmware (a key of `[firmware]`).
    pub push: String,
    /// Which notice: `correct`, `bad_digest`, `wrong_size`, `expired_url`, `missing_url`,
    /// `flaky_url`, `slow_url`, `over_mqtt`, `mqtt_bad_crc`, `mqtt_wrong_offset`,
    /// `mqtt_drop_reply`, `mqtt_error_reply`.
    #[serde(default = "default_notice")]
    pub notice: NoticeKind,
    /// `md5` (default) or `sha256`.
    #[serde(default)]
    pub sign_method: Signing,
    /// To whom: `"all"` (default), `{ share = 0.5 }`, `{ first = 10 }` or
    /// `{ devices = ["pk/name", ...] }`.
    #[serde(default)]
    pub to: Target,
    /// An upgrade job with the platform's policy instead of the console's push-now batch (its
    /// own `target` replaces `to`). Only the otalab runner reads it (not the page yet).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::model::jobs_only"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<JobAction>"))]
    pub job: Option<JobAction>,
}

/// Which devices a job targets: the platform's `TargetSelection`, or a dynamic job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobTargetKind {
    /// `ALL`: every device (of the shard).
    #[default]
    All,
    /// `SPECIFIC`: `devices`.
    Specific,
    /// `GRAY`: `gray_percent` of the devices.
    Gray,
    /// `GROUP`: the group `group`, whose members are `devices`.
    Group,
    /// A dynamic job (`dynamic_mode` 1 or 2).
    Dynamic,
}

/// `CancelOTATaskByJob` in a scenario: when, and which of the job's tasks (the platform's
/// `Cancel*` switches, in snake case; at least one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JobCancel {
    /// How long after creating the job.
    pub after_ms: u64,
    /// `CancelScheduled`: the job itself while it is still `PLANNED`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scheduled: bool,
    /// `CancelQueued`: `QUEUED` tasks (and `CONFIRM` ones unless `unconfirmed = false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub queued: bool,
    /// `CancelNotified`: `NOTIFIED` tasks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notified: bool,
    /// `CancelInProgress`: `IN_PROGRESS` tasks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_progress: bool,
    /// `CancelUnconfirmedTask`: `CONFIRM` tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfirmed: Option<bool>,
}

impl JobCancel {
    /// The cloud's switches.
    pub fn tasks(&self) -> crate::jobs::CancelTasks {
        crate::jobs::CancelTasks {
            scheduled: self.scheduled,
            queued: self.queued,
            notified: self.notified,
            in_progress: self.in_progress,
            unconfirmed: self.unconfirmed,
        }
    }
}

/// An upgrade job as a scenario writes it: the fields of the platform's
/// `CreateOTAStaticUpgradeJob` / `CreateOTADynamicUpgradeJob`, in snake case, times relative to
/// the action. Every value is checked against the platform's limits when the scenario is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JobAction {
    /// `all` (default), `specific`, `gray`, `group` or `dynamic`.
    #[serde(default)]
    pub target: JobTargetKind,
    /// `specific`: the devices (`productKey/deviceName` or a bare deviceName); `group`: the
    /// group's members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// `gray`: `GrayPercent`, a decimal string with at most 3 decimals (`"10"`, `"12.5"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gray_percent: Option<String>,
    /// `group`: the group's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `dynamic`: `DynamicMode` 1 (current and future devices, default) or 2 (future only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_mode: Option<u8>,
    /// `SrcVersion`: only devices on one of these (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub src_versions: Vec<String>,
    /// `Tag`: sent in the notice's `extData` (at most 10 pairs, 4096 characters).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// `ScheduleTime`, in minutes after the action (5 to 10080).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_in_minutes: Option<u64>,
    /// `ScheduleFinishTime`, in minutes after the start (60 to 43200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_in_minutes: Option<u64>,
    /// `MaximumPerMinute` (10 to 10000; default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_per_minute: Option<u32>,
    /// `RetryInterval` in minutes: 0, 10, 30, 60 or 1440 (with `retry_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_minutes: Option<u32>,
    /// `RetryCount`: 1, 2 or 5 (with `retry_interval_minutes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
    /// `TimeoutInMinutes` (1 to 1440), from the device's first progress report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<u32>,
    /// `OverwriteMode`: 1 (default) keeps a device's unfinished task in another job, 2
    /// replaces it unless it is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite_mode: Option<u8>,
    /// `MultiModuleMode`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_module: bool,
    /// `NeedPush` (default true); false: devices must pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_push: Option<bool>,
    /// `NeedConfirm`: tasks wait in CONFIRM.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub need_confirm: bool,
    /// With `need_confirm`: the run confirms the waiting tasks (ConfirmOTATask, 10 at a
    /// time) this long after creating the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_after_ms: Option<u64>,
    /// `CancelOTATaskByJob` this long after creating the job, as an operator would:
    /// `{ after_ms = 60000, queued = true, in_progress = true }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<JobCancel>,
    /// `ReupgradeOTATask` this long after creating the job (and after any `cancel`): the run
    /// upgrades the job's `FAILED` and `CANCELED` tasks again, 10 ids a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reupgrade_after_ms: Option<u64>,
    /// `DownloadProtocol`: `HTTPS` (default) or `MQTT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<crate::jobs::DownloadProtocol>,
    /// The module upgraded (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// `JobType`: `UPGRADE_FIRMWARE` (default) or `VERIFY_FIRMWARE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<crate::jobs::JobType>,
}

impl JobAction {
    /// The job's policy for a run at `now` whose devices are `fleet` (`specific` and `group`
    /// names are looked up in it; with an empty fleet, names are not looked up). The error
    /// names the field.
    pub fn spec(
        &self,
        fleet: &[DeviceKey],
        now: u64,
    ) -> Result<crate::jobs::JobSpec, (&'static str, String)> {
        use crate::jobs::{DynamicMode, JobSpec, OverwriteMode, Retry, Target as To};
        let named = |field: &'static str| -> Result<Vec<DeviceKey>, (&'static str, String)> {
            if fleet.is_empty() {
                return Ok(self.devices.iter().map(|d| DeviceKey::new("", d)).collect());
            }
            Ok(fleet
                .iter()
                .filter(|key| self.devices.iter().any(|d| key.is_named(d)))
                .cloned()
                .collect::<Vec<_>>())
            .and_then(|keys: Vec<DeviceKey>| {
                if keys.is_empty() && !self.devices.is_empty() {
                    Err((field, "none of these devices is in the fleet".to_owned()))
                } else {
                    Ok(keys)
                }
            })
        };
        let target = match self.target {
            JobTargetKind::All => To::All,
            JobTargetKind::Specific => To::Specific(named("devices")?),
            JobTargetKind::Gray => To::Gray(
                self.gray_percent
                    .clone()
                    .ok_or(("gray_percent", "target gray needs gray_percent".to_owned()))?,
            ),
            JobTargetKind::Group => To::Group(
                self.group
                    .clone()
                    .ok_or(("group", "target group needs group (and devices)".to_owned()))?,
            ),
            JobTargetKind::Dynamic => To::Dynamic(match self.dynamic_mode.unwrap_or(1) {
                1 => DynamicMode::CurrentAndFuture,
                2 => DynamicMode::FutureOnly,
                n => return Err(("dynamic_mode", format!("{n}: 1 or 2"))),
            }),
        };
        if self.dynamic_mode.is_some() && self.target != JobTargetKind::Dynamic {
            return Err(("dynamic_mode", "only for target dynamic".to_owned()));
        }
        let mut spec = JobSpec::new(target);
        if let Some(kind) = self.job_type {
            spec.job_type = kind;
        }
        spec.src_versions = self.src_versions.clone();
        spec.tags = self.tags.clone();
        spec.schedule_ms = self
            .schedule_in_minutes
            .map(|m| now + m.saturating_mul(crate::jobs::MINUTE_MS));
        spec.finish_ms = self
            .finish_in_minutes
            .map(|m| spec.schedule_ms.unwrap_or(now) + m.saturating_mul(crate::jobs::MINUTE_MS));
        if let Some(rate) = self.maximum_per_minute {
            spec.maximum_per_minute = rate;
        }
        spec.retry = match (self.retry_interval_minutes, self.retry_count) {
            (Some(interval_minutes), Some(count)) => Some(Retry {
                interval_minutes,
                count,
            }),
            (None, None) => None,
            _ => {
                return Err((
                    "retry_count",
                    "give retry_interval_minutes and retry_count together".to_owned(),
                ));
            }
        };
        spec.timeout_minutes = self.timeout_minutes;
        spec.overwrite = match self.overwrite_mode.unwrap_or(1) {
            1 => OverwriteMode::Keep,
            2 => OverwriteMode::Replace,
            n => return Err(("overwrite_mode", format!("{n}: 1 or 2"))),
        };
        spec.multi_module = self.multi_module;
        spec.need_push = self.need_push.unwrap_or(true);
        spec.need_confirm = self.need_confirm;
        if self.confirm_after_ms.is_some() && !self.need_confirm {
            return Err((
                "confirm_after_ms",
                "only with need_confirm = true".to_owned(),
            ));
        }
        if self.cancel.is_some_and(|c| c.tasks().is_empty()) {
            return Err((
                "cancel",
                "ask for at least one of scheduled, queued, notified, in_progress, unconfirmed"
                    .to_owned(),
            ));
        }
        if let (Some(cancel), Some(after)) = (self.cancel, self.reupgrade_after_ms)
            && after <= cancel.after_ms
        {
            return Err((
                "reupgrade_after_ms",
                format!("{after}: after cancel.after_ms ({})", cancel.after_ms),
            ));
        }
        spec.download = self.download.unwrap_or_default();
        spec.module = self.module.clone().unwrap_or_default();
        spec.validate(now)
            .map_err(|e| ("", format!("{}: {e}", e.code())))?;
        Ok(spec)
    }
}

fn default_notice() -> NoticeKind {
    NoticeKind::Correct
}

// Read by a hand-written `Deserialize` (below): serde's untagged form buffered the value,
// tried each variant in turn and answered "data did not match any variant".
/// The devices an action is for, in fleet order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Target {
    /// Every device.
    #[default]
    #[serde(serialize_with = "all_word")]
    #[cfg_attr(feature = "schema", schemars(with = "AllWord"))]
    All,
    /// The first `share` of the fleet (rounded to the nearest device).
    Share {
        /// 0..=1.
        share: f64,
    },
    /// The first `first` devices.
    First {
        /// How many.
        first: u64,
    },
    /// These devices, as `productKey/deviceName`.
    Devices {
        /// Names.
        devices: Vec<String>,
    },
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        /// `"all"`, or a table with one of `share`, `first`, `devices`.
        struct TargetVisitor;
        impl<'de> Visitor<'de> for TargetVisitor {
            type Value = Target;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"all\", { share = 0.1 }, { first = 10 } or { devices = [...] }")
            }
            fn visit_str<E: Error>(self, word: &str) -> Result<Target, E> {
                if word == "all" {
                    Ok(Target::All)
                } else {
                    Err(E::custom(format!("expected \"all\", found {word:?}")))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Target, A::Error> {
                const FIELDS: &[&str] = &["share", "first", "devices"];
                let Some(key) = map.next_key::<String>()? else {
                    return Err(A::Error::custom(
                        "an empty target: give share, first or devices",
                    ));
                };
                let target = match key.as_str() {
                    "share" => Target::Share {
                        share: map.next_value()?,
                    },
                    "first" => Target::First {
                        first: map.next_value()?,
                    },
                    "devices" => Target::Devices {
                        devices: map.next_value()?,
                    },
                    other => return Err(A::Error::unknown_field(other, FIELDS)),
                };
                if let Some(more) = map.next_key::<String>()? {
                    return Err(A::Error::custom(format!(
                        "give one of share, first or devices, not {key} and {more}"
                    )));
                }
                Ok(target)
            }
        }
        deserializer.deserialize_any(TargetVisitor)
    }
}

/// The word `all`.
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
enum AllWord {
    /// Every device.
    #[serde(rename = "all")]
    All,
}

/// `Target::All` as the word `all`.
fn all_word<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("all")
}

/// A scenario that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid TOML, or not the scenario format (the message says where).
    #[error("{0}")]
    Syntax(String),
    /// Valid TOML with a value that makes no sense (the path says where).
    #[error("{path}: {message}")]
    Invalid {
        /// Where, e.g. `actions[2].push`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl ScenarioError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax(_) => "SCENARIO_SYNTAX",
            Self::Invalid { .. } => "SCENARIO_INVALID",
        }
    }

    fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// One device of the fleet, as the scenario sets it up.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetDevice {
    /// Identity and starting version (the secret only for Alibaba Cloud).
    pub spec: DeviceSpec,
    /// Its fault (from `device.faults`).
    pub fault: Fault,
    /// When it first connects, in ms after the start (`device.join`; 0: at once).
    pub join_after_ms: u64,
}

/// A deterministic slice of the fleet: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl Shard {
    /// The whole fleet.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `i/n` (1 ≤ i ≤ n).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("shard {text:?}: write it as i/n, e.g. 2/8"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("shard {text:?}: {i:?} is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard {text:?}: {n:?} is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {text:?}: need 1 <= i <= n"));
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Kubernetes Indexed Job pod: `JOB_COMPLETION_INDEX` (0-based) of
    /// `JOB_COMPLETIONS`.
    pub fn from_job(index: &str, completions: &str) -> Result<Shard, String> {
        let i: u32 = index
            .trim()
            .parse()
            .map_err(|_| format!("JOB_COMPLETION_INDEX {index:?} is not a number"))?;
        Shard::parse(&format!("{}/{}", i.saturating_add(1), completions.trim()))
    }

    /// Whether the device at `position` (0-based, fleet order) is in this shard: round robin,
    /// so every shard gets its share of each fault group.
    pub fn contains(&self, position: usize) -> bool {
        position % self.count as usize == (self.index - 1) as usize
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(feature = "paths")]
/// A serde path as the scenario's errors write it (`actions[1].push`; the whole file: `scenario`).
fn path_text(path: &serde_path_to_error::Path) -> String {
    match path.to_string().as_str() {
        "." => "scenario".to_owned(),
        text => text.to_owned(),
    }
}

/// How many of `total` devices a share or a count means.
fn portion(share: Option<f64>, count: Option<u64>, total: usize) -> usize {
    match (share, count) {
        (_, Some(n)) => (n as usize).min(total),
        (Some(s), None) => ((s * total as f64).round() as usize).min(total),
        (None, None) => 0,
    }
}

impl Scenario {
    /// Parses and checks a scenario (TOML; with the `toml` feature, on by default).
    #[cfg(feature = "toml")]
    ///
    /// Not TOML is [`ScenarioError::Syntax`]; TOML with a value of the wrong type or range, or a
    /// key the format does not know, is [`ScenarioError::Invalid`] with the value's path, its
    /// line and column in the message.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let document =
            toml::Deserializer::parse(text).map_err(|e| ScenarioError::Syntax(e.to_string()))?;
        let scenario: Scenario = serde_path_to_error::deserialize(document).map_err(|e| {
            let path = path_text(e.path());
            let inner = e.into_inner();
            let place = inner
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!(" (line {line}, column {column})")
                })
                .unwrap_or_default();
            ScenarioError::invalid(path, format!("{}{place}", inner.message()))
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks a scenario already read into JSON text (what a TOML parser of another language
    /// gives: the page reads TOML in JavaScript and keeps the TOML crate out of its wasm). The
    /// same rules as [`parse`](Self::parse) after the syntax.
    ///
    /// Not JSON is [`ScenarioError::Syntax`]; a value of the wrong type or range, or a key the
    /// format does not know, is [`ScenarioError::Invalid`] with its path.
    #[cfg(feature = "paths")]
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ScenarioError::Syntax(e.to_string()))?;
        Self::from_value(value)
    }

    /// The page's build (without the `paths` feature): a value of the wrong type is a
    /// [`ScenarioError::Syntax`], its place a position in the JSON text.
    #[cfg(not(feature = "paths"))]
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            serde_json::from_str(text).map_err(|e| ScenarioError::Syntax(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks a scenario given as JSON data (see [`from_json`](Self::from_json)).
    #[cfg(feature = "paths")]
    pub fn from_value(value: serde_json::Value) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = path_text(e.path());
            ScenarioError::invalid(path, e.into_inner().to_string())
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The scenario as TOML (with the `toml` feature, on by default).
    #[cfg(feature = "toml")]
    pub fn to_toml(&self) -> Result<String, ScenarioError> {
        toml::to_string_pretty(self).map_err(|e| ScenarioError::Syntax(e.to_string()))
    }

    /// Checks what TOML cannot: references, ranges, and that the fleet is defined once.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let fleet = &self.fleet;
        let sources = [
            fleet.names.is_some(),
            fleet.devices_conf.is_some(),
            fleet.csv.is_some(),
            !fleet.devices.is_empty(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            return Err(ScenarioError::invalid(
                "fleet",
                "give exactly one of names (with product_key), devices_conf, csv or devices",
            ));
        }
        if fleet.names.is_some() && fleet.product_key.as_deref().is_none_or(str::is_empty) {
            return Err(ScenarioError::invalid(
                "fleet.product_key",
                "templated names need a productKey",
            ));
        }
        let b = &self.device;
        if !(1..=100).contains(&b.cadence_percent) {
            return Err(ScenarioError::invalid(
                "device.cadence_percent",
                "must be 1..=100",
            ));
        }
        if b.block_size == 0 || b.block_size > 128 * 1024 {
            return Err(ScenarioError::invalid(
                "device.block_size",
                "must be 1..=131072 bytes",
            ));
        }
        for (i, f) in b.faults.iter().enumerate() {
            let path = format!("device.faults[{i}]");
            let ways = [f.share.is_some(), f.count.is_some(), !f.devices.is_empty()];
            if ways.iter().filter(|w| **w).count() != 1 {
                return Err(ScenarioError::invalid(
                    path,
                    "give one of share, count or devices",
                ));
            }
            match (f.share, f.count) {
                (Some(s), None) if !(0.0..=1.0).contains(&s) => {
                    return Err(ScenarioError::invalid(
                        format!("{path}.share"),
                        "must be 0..=1",
                    ));
                }
                _ => {}
            }
        }
        #[cfg(feature = "jobs")]
        if let Some(join) = &b.join {
            if join.share.is_some() == join.count.is_some() {
                return Err(ScenarioError::invalid(
                    "device.join",
                    "give one of share or count",
                ));
            }
            if join.share.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
                return Err(ScenarioError::invalid("device.join.share", "must be 0..=1"));
            }
            if join.to_ms < join.from_ms {
                return Err(ScenarioError::invalid(
                    "device.join.to_ms",
                    format!("must be at least from_ms ({})", join.from_ms),
                ));
            }
        }
        for (key, fw) in &self.firmware {
            let path = format!("firmware.{key}");
            if fw.file.is_some() == fw.url.is_some() {
                return Err(ScenarioError::invalid(
                    path,
                    "give exactly one of file or url",
                ));
            }
            if let Some(url) = &fw.url {
                otalab_protocol::check_http_url(url)
                    .map_err(|e| ScenarioError::invalid(format!("{path}.url"), e.to_string()))?;
            }
            if fw.file.is_some() && !matches!(self.connection, Connection::Sandbox { .. }) {
                return Err(ScenarioError::invalid(
                    format!("{path}.file"),
                    "files are served by the sandbox; on another broker give a url",
                ));
            }
            otalab_protocol::Version::parse(&fw.version)
                .map_err(|e| ScenarioError::invalid(format!("{path}.version"), e.to_string()))?;
        }
        for (i, action) in self.actions.iter().enumerate() {
            let path = format!("actions[{i}]");
            if matches!(self.connection, Connection::Aliyun { .. }) {
                return Err(ScenarioError::invalid(
                    path,
                    "on Alibaba Cloud the real cloud pushes: create the upgrade batch in its console",
                ));
            }
            if !self.sandbox_cloud() {
                return Err(ScenarioError::invalid(
                    path,
                    "connection.cloud = false: another cloud pushes, so there are no actions",
                ));
            }
            if !self.firmware.contains_key(&action.push) {
                let known: Vec<&str> = self.firmware.keys().map(String::as_str).collect();
                return Err(ScenarioError::invalid(
                    format!("{path}.push"),
                    format!(
                        "no firmware named {:?} (known: {})",
                        action.push,
                        known.join(", ")
                    ),
                ));
            }
            if let Target::Share { share } = action.to
                && !(0.0..=1.0).contains(&share)
            {
                return Err(ScenarioError::invalid(
                    format!("{path}.to.share"),
                    "must be 0..=1",
                ));
            }
            // Without the `jobs` feature a job action cannot be read at all.
            #[cfg(feature = "jobs")]
            if let Some(job) = &action.job {
                let at = |field: &str| {
                    if field.is_empty() {
                        format!("{path}.job")
                    } else {
                        format!("{path}.job.{field}")
                    }
                };
                job.spec(&[], 0)
                    .map_err(|(field, message)| ScenarioError::invalid(at(field), message))?;
                if action.notice != NoticeKind::Correct {
                    return Err(ScenarioError::invalid(
                        format!("{path}.notice"),
                        "a job sends correct notices: leave notice out (download = \"MQTT\" for MQTT)",
                    ));
                }
                if action.to != Target::All {
                    return Err(ScenarioError::invalid(
                        format!("{path}.to"),
                        "a job picks its devices with job.target: leave to out",
                    ));
                }
            }
            if action.notice.needs_fault_urls()
                && !matches!(self.connection, Connection::Sandbox { .. })
            {
                return Err(ScenarioError::invalid(
                    format!("{path}.notice"),
                    "broken-URL notices need the sandbox server",
                ));
            }
        }
        if let Some(window) = self
            .actions
            .windows(2)
            .position(|w| w[1].at_ms < w[0].at_ms)
        {
            return Err(ScenarioError::invalid(
                format!("actions[{}].at_ms", window + 1),
                "actions must be in time order",
            ));
        }
        Ok(())
    }

    /// Whether the sandbox cloud runs (and judges); otherwise verdicts are judged from the
    /// device side.
    pub fn sandbox_cloud(&self) -> bool {
        match self.connection {
            Connection::Sandbox { .. } => true,
            Connection::Broker { cloud, .. } => cloud,
            Connection::Aliyun { .. } => false,
        }
    }

    /// The whole fleet in order, with faults assigned; `read` loads a file named by the fleet
    /// (relative to the scenario; the caller decides how).
    pub fn fleet(
        &self,
        read: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Vec<FleetDevice>, ScenarioError> {
        let f = &self.fleet;
        let specs: Vec<DeviceSpec> = if let Some(names) = &f.names {
            let pk = f.product_key.clone().unwrap_or_default();
            expand_template(names, MAX_DEVICES)
                .map_err(|e| ScenarioError::invalid("fleet.names", e))?
                .into_iter()
                .map(|name| DeviceSpec {
                    product_key: pk.clone(),
                    device_name: name,
                    device_secret: String::new(),
                    version: f.version.clone(),
                })
                .collect()
        } else if !f.devices.is_empty() {
            f.devices
                .iter()
                .map(|d| DeviceSpec {
                    product_key: d.product_key.clone(),
                    device_name: d.device_name.clone(),
                    device_secret: String::new(),
                    version: d.version.clone().unwrap_or_else(|| f.version.clone()),
                })
                .collect()
        } else {
            let (path, file) = match (&f.devices_conf, &f.csv) {
                (Some(p), _) => ("fleet.devices_conf", p),
                (None, Some(p)) => ("fleet.csv", p),
                (None, None) => return Err(ScenarioError::invalid("fleet", "no devices")),
            };
            let text = read(file).map_err(|e| ScenarioError::invalid(path, e))?;
            let mut specs = import(&text).map_err(|e| ScenarioError::invalid(path, e))?;
            for spec in &mut specs {
                if f.devices_conf.is_some() {
                    spec.version.clone_from(&f.version);
                }
            }
            specs
        };
        if specs.is_empty() {
            return Err(ScenarioError::invalid("fleet", "the fleet has no devices"));
        }
        for spec in &specs {
            crate::fleet::check(spec).map_err(|e| {
                ScenarioError::invalid(
                    "fleet",
                    format!("{}/{}: {e}", spec.product_key, spec.device_name),
                )
            })?;
        }
        if specs.len() > MAX_DEVICES {
            return Err(ScenarioError::invalid(
                "fleet",
                format!("{} devices is over the limit of {MAX_DEVICES}", specs.len()),
            ));
        }
        let total = specs.len();
        let mut faults = Vec::with_capacity(total);
        for share in self.device.faults.iter().filter(|f| f.devices.is_empty()) {
            let n = portion(share.share, share.count, total);
            faults.extend(std::iter::repeat_n(share.fault.clone(), n));
        }
        if faults.len() > total {
            return Err(ScenarioError::invalid(
                "device.faults",
                format!("{} faulty devices in a fleet of {total}", faults.len()),
            ));
        }
        faults.resize(total, Fault::None);
        // Faults of named devices take their place.
        for (i, share) in self.device.faults.iter().enumerate() {
            for name in &share.devices {
                let position = specs
                    .iter()
                    .position(|d| named(name, &d.product_key, &d.device_name))
                    .ok_or_else(|| {
                        ScenarioError::invalid(
                            format!("device.faults[{i}].devices"),
                            format!("no device {name:?} in the fleet"),
                        )
                    })?;
                faults[position] = share.fault.clone();
            }
        }
        Ok(specs
            .into_iter()
            .zip(faults)
            .enumerate()
            .map(|(i, (spec, fault))| FleetDevice {
                spec,
                fault,
                join_after_ms: self.join_after_ms(i, total),
            })
            .collect())
    }

    /// The device machine's configuration for one device of the fleet.
    pub fn device_config(&self, device: &FleetDevice) -> DeviceConfig {
        let b = &self.device;
        let mut config = DeviceConfig::new(
            &device.spec.product_key,
            &device.spec.device_name,
            &device.spec.version,
        );
        config
            .modules
            .insert(Module::DEFAULT.to_owned(), device.spec.version.clone());
        config.cadence_percent = b.cadence_percent;
        config.flash_ms = b.flash_ms;
        config.reboot_ms = b.reboot_ms;
        config.max_resumes = b.max_resumes;
        config.throttle_bytes_per_sec = b.throttle_bytes_per_sec;
        config.block_size = b.block_size;
        config.block_timeout_ms = b.block_timeout_ms;
        config.fault = device.fault.clone();
        config.join_after_ms = device.join_after_ms;
        config
    }

    /// When the device at `position` (fleet order) of `total` first connects, in ms after the
    /// start: 0 unless it is a late joiner (`device.join`, with upgrade jobs).
    pub fn join_after_ms(&self, position: usize, total: usize) -> u64 {
        #[cfg(feature = "jobs")]
        if let Some(join) = &self.device.join {
            return join.join_after_ms(position, total);
        }
        let _ = (position, total);
        0
    }
}

impl Target {
    /// The positions (0-based, fleet order) of the devices this target names, from a fleet of
    /// `fleet` devices.
    pub fn select(&self, fleet: &[DeviceKey]) -> Vec<usize> {
        match self {
            Target::All => (0..fleet.len()).collect(),
            Target::Share { share } => (0..portion(Some(*share), None, fleet.len())).collect(),
            Target::First { first } => (0..portion(None, Some(*first), fleet.len())).collect(),
            Target::Devices { devices } => fleet
                .iter()
                .enumerate()
                .filter(|(_, key)| devices.iter().any(|d| key.is_named(d)))
                .map(|(i, _)| i)
                .collect(),
        }
    }
}

/// The JSON Schema of the scenario format (what `examples/scenarios/scenario.schema.json` holds).
/// Only with the `schema` feature (the CLI's `otalab schema`): the page does without it.
#[cfg(feature = "schema")]
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
