//! The simulated device's OTA flow (reference §3) as a sans-IO state machine: messages, download
//! bytes and time in; [`Action`]s out (publish, fetch from an offset, disconnect, connect, wake).
//! The dashboard drives one per simulated device; tests drive it directly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use otalab_protocol::{
    DEFAULT_BLOCK_SIZE, DEFAULT_FILE_TOKEN, Download, Failure, FileBlockReply, FileBlockRequest,
    FirmwareGet, FirmwareVerifier, MessageId, Module, PayloadError, Progress, Step, Topic,
    TopicKind, UpgradeNotice, Version, VersionReport,
};

// Read by a hand-written `Deserialize` (below) with the rules and messages of serde's tagged
// form, which buffered every fault and cost each wasm build about 9 KB.
/// A failure or misbehaviour injected into one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Fault {
    /// Behave.
    None,
    /// Report `failure` (-1 upgrade, -2 download, -3 verify, -4 flash) once the download reaches
    /// `at_percent` (verify: after the download; flash: at the end of flashing).
    Fail {
        /// Which failure code, by name: `upgrade`, `download`, `verify` or `flash`.
        failure: Failure,
        /// Download percent where it happens (download and general failures).
        at_percent: u8,
    },
    /// After the reboot, report this version instead of the target.
    WrongVersion {
        /// The version reported.
        version: String,
    },
    /// Stop everything (no more reports) once the download reaches `at_percent`.
    Stall {
        /// Download percent.
        at_percent: u8,
    },
    /// Go offline at `at_percent` for `for_ms`, then reconnect (the cloud pushes again).
    Offline {
        /// Download percent.
        at_percent: u8,
        /// How long offline.
        for_ms: u64,
    },
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        /// The `kind`s.
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        enum Kind {
            None,
            Fail,
            WrongVersion,
            Stall,
            Offline,
        }
        /// Every field any kind has; each kind then takes its own and refuses the others.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Flat {
            kind: Kind,
            failure: Option<Failure>,
            at_percent: Option<u8>,
            version: Option<String>,
            for_ms: Option<u64>,
        }
        let flat: Flat = crate::model::from_table(deserializer)?;
        let (allowed, fault): (&'static [&'static str], _) = match flat.kind {
            Kind::None => (&["kind"], Ok(Fault::None)),
            Kind::Fail => (
                &["kind", "failure", "at_percent"],
                flat.failure.ok_or("failure").and_then(|failure| {
                    Ok(Fault::Fail {
                        failure,
                        at_percent: flat.at_percent.ok_or("at_percent")?,
                    })
                }),
            ),
            Kind::WrongVersion => (
                &["kind", "version"],
                flat.version
                    .clone()
                    .map(|version| Fault::WrongVersion { version })
                    .ok_or("version"),
            ),
            Kind::Stall => (
                &["kind", "at_percent"],
                flat.at_percent
                    .map(|at_percent| Fault::Stall { at_percent })
                    .ok_or("at_percent"),
            ),
            Kind::Offline => (
                &["kind", "at_percent", "for_ms"],
                flat.at_percent.ok_or("at_percent").and_then(|at_percent| {
                    Ok(Fault::Offline {
                        at_percent,
                        for_ms: flat.for_ms.ok_or("for_ms")?,
                    })
                }),
            ),
        };
        let given = [
            ("failure", flat.failure.is_some()),
            ("at_percent", flat.at_percent.is_some()),
            ("version", flat.version.is_some()),
            ("for_ms", flat.for_ms.is_some()),
        ];
        if let Some((field, _)) = given
            .iter()
            .find(|(field, set)| *set && !allowed.contains(field))
        {
            return Err(D::Error::unknown_field(field, &allowed[1..]));
        }
        fault.map_err(D::Error::missing_field)
    }
}

/// The fault as reports name it (the same text from every driver), e.g. `-3 verification
/// fails @ 100 %`; empty for [`Fault::None`].
impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::None => Ok(()),
            Fault::Fail {
                failure,
                at_percent,
            } => {
                let what = match failure {
                    Failure::Upgrade => "-1 upgrade fails",
                    Failure::Download => "-2 download fails",
                    Failure::Verify => "-3 verification fails",
                    Failure::Flash => "-4 flashing fails",
                };
                write!(f, "{what} @ {at_percent} %")
            }
            Fault::WrongVersion { version } => {
                write!(f, "Comes back on a wrong version {version}")
            }
            Fault::Stall { at_percent } => write!(f, "Stalls @ {at_percent} %"),
            Fault::Offline { at_percent, for_ms } => {
                write!(f, "Goes offline @ {at_percent} % ({} s)", for_ms / 1000)
            }
        }
    }
}

/// How a simulated device behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// Current version per module (`default` = the whole device).
    pub modules: BTreeMap<String, String>,
    /// Report progress every this many percent (and at 100).
    pub cadence_percent: u8,
    /// How long "flashing" takes.
    pub flash_ms: u64,
    /// How long the "reboot" takes (offline).
    pub reboot_ms: u64,
    /// Start downloading as soon as a notice arrives (otherwise wait for [`Device::start`]).
    pub auto_upgrade: bool,
    /// How many times a broken download is resumed with `Range` before giving up with -2.
    pub max_resumes: u32,
    /// Read at most this many bytes per second (0 = unthrottled); the driver honours it.
    pub throttle_bytes_per_sec: u32,
    /// Bytes asked for per block when a package comes over MQTT (Link SDK C: 5 KiB).
    pub block_size: u64,
    /// How long to wait for a block reply before asking again (Link SDK C: 10 s).
    pub block_timeout_ms: u64,
    /// How many times one block is asked for again (timeout, bad frame, CRC mismatch) before
    /// the download fails with -4 (Link SDK C: 3).
    pub max_block_retries: u32,
    /// Injected misbehaviour.
    pub fault: Fault,
    /// When the driver first connects the device, in ms after the run starts (0: at once;
    /// a scenario's `device.join`).
    pub join_after_ms: u64,
}

/// Report progress every this many percent, unless told otherwise (the page, scenarios).
pub const DEFAULT_CADENCE_PERCENT: u8 = 5;
/// How long flashing takes, unless told otherwise (ms).
pub const DEFAULT_FLASH_MS: u64 = 1500;
/// How long the reboot takes, unless told otherwise (ms).
pub const DEFAULT_REBOOT_MS: u64 = 1000;
/// How many times a broken HTTP download is resumed before -2.
pub const DEFAULT_MAX_RESUMES: u32 = 3;
/// How long a device waits for a block reply before asking again (Link SDK C: 10 s).
pub const DEFAULT_BLOCK_TIMEOUT_MS: u64 = 10_000;

/// The module map of a device with only the default module, on `version` (built by insert:
/// `BTreeMap::from` sorts first, one more generic copy in the wasm builds).
fn default_module(version: &str) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    modules.insert(Module::DEFAULT.to_owned(), version.to_owned());
    modules
}

impl DeviceConfig {
    /// A device running `version` on the default module, with the defaults: cadence 5 %,
    /// flash 1.5 s, reboot 1 s, automatic upgrades, 3 resumes, no fault; over MQTT 5 KiB blocks,
    /// 10 s per block, 3 re-sends (Link SDK C's values).
    pub fn new(product_key: &str, device_name: &str, version: &str) -> Self {
        Self {
            product_key: product_key.to_owned(),
            device_name: device_name.to_owned(),
            modules: default_module(version),
            cadence_percent: DEFAULT_CADENCE_PERCENT,
            flash_ms: DEFAULT_FLASH_MS,
            reboot_ms: DEFAULT_REBOOT_MS,
            auto_upgrade: true,
            max_resumes: DEFAULT_MAX_RESUMES,
            throttle_bytes_per_sec: 0,
            block_size: DEFAULT_BLOCK_SIZE,
            block_timeout_ms: DEFAULT_BLOCK_TIMEOUT_MS,
            max_block_retries: 3,
            fault: Fault::None,
            join_after_ms: 0,
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Publish (QoS 1).
    Publish {
        /// Topic.
        topic: String,
        /// JSON payload.
        payload: String,
    },
    /// Publish a file block request (T6) at QoS 0, as Link SDK C does; the reply arrives on
    /// T7 and goes to [`Device::message`].
    RequestBlock {
        /// The T6 topic.
        topic: String,
        /// The JSON request.
        payload: String,
    },
    /// Download `url` from byte `offset` (a `Range: bytes=offset-` request when > 0) and feed
    /// the body to [`Device::data`], then call [`Device::fetch_ended`] or [`Device::fetch_failed`].
    Fetch {
        /// http(s) URL.
        url: String,
        /// First byte wanted.
        offset: u64,
    },
    /// Stop the running download (its later events are ignored by the machine anyway).
    AbortFetch,
    /// Close the MQTT connection (reboot, injected offline).
    Disconnect,
    /// Open the MQTT connection again.
    Connect,
    /// Call [`Device::tick`] at this time (ms).
    WakeAt(u64),
}

/// Where the device is in the flow.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// Running, no upgrade under way.
    #[default]
    Idle,
    /// A notice arrived; waiting for [`Device::start`] (manual mode).
    Notified,
    /// Downloading and verifying.
    Downloading {
        /// Bytes received over all files.
        received: u64,
        /// Total bytes.
        total: u64,
    },
    /// Writing the image.
    Flashing,
    /// Rebooting (offline).
    Rebooting,
    /// Back up after the reboot; reported the new version.
    Upgraded {
        /// The version reported.
        version: String,
    },
    /// Reported a failure code.
    Failed {
        /// The failure reported (its wire code is `code.code()`).
        code: Failure,
        /// The description sent.
        desc: String,
    },
    /// Stopped reporting (injected).
    Stalled,
    /// Offline (injected); back at the given time.
    Offline,
}

impl Phase {
    /// Lower-case name (`idle`, `downloading`, ...), as the dashboard shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Notified => "notified",
            Phase::Downloading { .. } => "downloading",
            Phase::Flashing => "flashing",
            Phase::Rebooting => "rebooting",
            Phase::Upgraded { .. } => "upgraded",
            Phase::Failed { .. } => "failed",
            Phase::Stalled => "stalled",
            Phase::Offline => "offline",
        }
    }
}

/// A simulated device's MQTT link, as its driver sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Link {
    /// Never connected.
    #[default]
    Idle,
    /// Opening the connection.
    Connecting,
    /// Connected (CONNACK accepted).
    Online,
    /// Lost; trying again.
    Reconnecting,
    /// Disconnected on purpose (or stopped after a refusal).
    Offline,
    /// Disconnected for the simulated reboot.
    Rebooting,
    /// The connection cannot be made (bad options or credentials).
    Error,
}

impl Link {
    /// Lower-case name (`online`, ...), as the dashboard shows it.
    pub fn name(self) -> &'static str {
        match self {
            Link::Idle => "idle",
            Link::Connecting => "connecting",
            Link::Online => "online",
            Link::Reconnecting => "reconnecting",
            Link::Offline => "offline",
            Link::Rebooting => "rebooting",
            Link::Error => "error",
        }
    }
}

/// One progress report the device sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// When (ms).
    pub at_ms: u64,
    /// The step sent (0..=100 or -1..=-4).
    pub step: Step,
    /// The description sent.
    pub desc: String,
}

/// The block being waited for in a download over MQTT (stop-and-wait).
#[derive(Debug)]
struct BlockWait {
    stream_id: u64,
    file_id: u64,
    /// Request ids count up from 1 per download.
    next_request: u64,
    /// Re-sends of the current block so far.
    retries: u32,
    /// When the current request times out (ms).
    deadline: u64,
}

/// The download under way.
#[derive(Debug)]
struct Transfer {
    file: usize,
    verifier: FirmwareVerifier,
    file_received: u64,
    before_file: u64,
    resumes: u32,
    /// Set when the package comes over MQTT.
    blocks: Option<BlockWait>,
}

impl Transfer {
    /// A transfer of file `file` starting from its first byte.
    fn new(
        file: usize,
        verifier: FirmwareVerifier,
        before_file: u64,
        blocks: Option<BlockWait>,
    ) -> Self {
        Self {
            file,
            verifier,
            file_received: 0,
            before_file,
            resumes: 0,
            blocks,
        }
    }
}

/// A simulated device.
#[derive(Debug)]
pub struct Device {
    config: DeviceConfig,
    phase: Phase,
    notice: Option<UpgradeNotice>,
    transfer: Option<Transfer>,
    last_reported: Option<u8>,
    history: Vec<StepRecord>,
    next_id: u64,
    wake_at: Option<u64>,
    booting: bool,
    /// The injected outage happened (an outage happens once per injection, not on every
    /// download the cloud pushes again afterwards).
    outage_done: bool,
}

fn desc_of(error: &impl std::fmt::Display) -> String {
    error.to_string()
}

impl Device {
    /// A device in [`Phase::Idle`].
    pub fn new(config: DeviceConfig) -> Self {
        Self {
            config,
            phase: Phase::Idle,
            notice: None,
            transfer: None,
            last_reported: None,
            history: Vec::new(),
            next_id: 1,
            wake_at: None,
            booting: false,
            outage_done: false,
        }
    }

    /// The configuration (faults can be changed between upgrades with [`config_mut`](Self::config_mut)).
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// Mutable configuration.
    pub fn config_mut(&mut self) -> &mut DeviceConfig {
        self.outage_done = false;
        &mut self.config
    }

    /// The current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The last notice received.
    pub fn notice(&self) -> Option<&UpgradeNotice> {
        self.notice.as_ref()
    }

    /// Every progress report sent, in order.
    pub fn history(&self) -> &[StepRecord] {
        &self.history
    }

    /// The download percent (0..=100) of the upgrade under way, if any.
    pub fn percent(&self) -> Option<u8> {
        match &self.phase {
            Phase::Downloading { received, total } => Some(percent(*received, *total)),
            Phase::Flashing | Phase::Rebooting | Phase::Upgraded { .. } => Some(100),
            _ => None,
        }
    }

    /// The topics to subscribe to (T2, T5, and T7 for packages delivered over MQTT).
    pub fn subscriptions(&self) -> Vec<String> {
        [
            TopicKind::Upgrade,
            TopicKind::FirmwareGetReply,
            TopicKind::FileDownloadReply,
        ]
        .map(|kind| self.topic(kind))
        .to_vec()
    }

    fn topic(&self, kind: TopicKind) -> String {
        Topic {
            kind,
            product_key: self.config.product_key.clone(),
            device_name: self.config.device_name.clone(),
        }
        .to_string()
    }

    fn id(&mut self) -> MessageId {
        let id = MessageId::from(self.next_id);
        self.next_id += 1;
        id
    }

    /// Reports the current version of every module (T1), as on every connect.
    pub fn report_versions(&mut self) -> Vec<Action> {
        let modules: Vec<(String, String)> = self
            .config
            .modules
            .iter()
            .map(|(m, v)| (m.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for (module, version) in modules {
            // Invalid names in a hand-edited config are skipped rather than sent.
            if let (Ok(module), Ok(version)) = (Module::parse(&module), Version::parse(&version)) {
                let id = self.id();
                out.push(Action::Publish {
                    topic: self.topic(TopicKind::Inform),
                    payload: VersionReport::new(id, version, module).encode(),
                });
            }
        }
        out
    }

    /// The MQTT connection is up: report versions; after a reboot this is the new version.
    pub fn connected(&mut self, _now: u64) -> Vec<Action> {
        if self.booting {
            self.booting = false;
            if let Some(notice) = &self.notice {
                let reported = match &self.config.fault {
                    Fault::WrongVersion { version } => version.clone(),
                    _ => notice.version.as_str().to_owned(),
                };
                self.config
                    .modules
                    .insert(notice.module.as_str().to_owned(), reported.clone());
                self.phase = Phase::Upgraded { version: reported };
            }
        } else if self.phase == Phase::Offline {
            // Back from an injected outage: the upgrade was lost; the cloud pushes again.
            self.phase = Phase::Idle;
        }
        self.report_versions()
    }

    /// Asks the cloud for a package (T4).
    pub fn check_for_update(&mut self, module: &Module) -> Vec<Action> {
        let id = self.id();
        vec![Action::Publish {
            topic: self.topic(TopicKind::FirmwareGet),
            payload: FirmwareGet::new(id, module.clone()).encode(),
        }]
    }

    /// Publishes any step by hand (manual mode).
    pub fn manual_progress(&mut self, step: Step, desc: &str, now: u64) -> Vec<Action> {
        let module = self
            .notice
            .as_ref()
            .map(|n| n.module.clone())
            .unwrap_or_default();
        self.progress(step, desc, &module, now)
    }

    fn progress(&mut self, step: Step, desc: &str, module: &Module, now: u64) -> Vec<Action> {
        let id = self.id();
        self.history.push(StepRecord {
            at_ms: now,
            step,
            desc: desc.to_owned(),
        });
        vec![Action::Publish {
            topic: self.topic(TopicKind::Progress),
            payload: Progress::new(id, step, desc, module.clone()).encode(),
        }]
    }

    fn fail(&mut self, failure: Failure, desc: &str, now: u64) -> Vec<Action> {
        let module = self
            .notice
            .as_ref()
            .map(|n| n.module.clone())
            .unwrap_or_default();
        let mut out = Vec::new();
        if self.transfer.take().is_some() {
            out.push(Action::AbortFetch);
        }
        self.phase = Phase::Failed {
            code: failure,
            desc: desc.to_owned(),
        };
        out.extend(self.progress(Step::Failed(failure), desc, &module, now));
        out
    }

    /// A message arrived on one of [`subscriptions`](Self::subscriptions). `Ok(None)` when it is
    /// not a notice for this device (or a pull reply without a package).
    pub fn message(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: u64,
    ) -> Result<Option<Vec<Action>>, PayloadError> {
        let Ok(parsed) = Topic::parse(topic) else {
            return Ok(None);
        };
        if parsed.product_key != self.config.product_key
            || parsed.device_name != self.config.device_name
        {
            return Ok(None);
        }
        let notice = match parsed.kind {
            TopicKind::FileDownloadReply => return Ok(self.block_reply(payload, now)),
            TopicKind::Upgrade => UpgradeNotice::decode(payload)?,
            TopicKind::FirmwareGetReply => match UpgradeNotice::decode_reply(payload)? {
                Some(notice) => notice,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let busy = matches!(
            self.phase,
            Phase::Downloading { .. }
                | Phase::Flashing
                | Phase::Rebooting
                | Phase::Stalled
                | Phase::Offline
        );
        if busy {
            // One upgrade at a time: a notice during an upgrade is ignored.
            return Ok(Some(Vec::new()));
        }
        self.notice = Some(notice);
        self.phase = Phase::Notified;
        if self.config.auto_upgrade {
            Ok(Some(self.start(now)))
        } else {
            Ok(Some(Vec::new()))
        }
    }

    /// Starts the upgrade of the last notice.
    pub fn start(&mut self, now: u64) -> Vec<Action> {
        let Some(notice) = self.notice.clone() else {
            return Vec::new();
        };
        if !matches!(
            self.phase,
            Phase::Notified | Phase::Failed { .. } | Phase::Upgraded { .. } | Phase::Idle
        ) {
            return Vec::new();
        }
        self.last_reported = None;
        self.history.clear();
        let total = notice.total_size();
        self.phase = Phase::Downloading { received: 0, total };
        let mut out = self.progress(Step::Percent(0), "downloading", &notice.module, now);
        self.last_reported = Some(0);
        out.extend(self.begin_file(0, 0, now));
        out
    }

    fn begin_file(&mut self, file: usize, before_file: u64, now: u64) -> Vec<Action> {
        let Some(notice) = &self.notice else {
            return Vec::new();
        };
        let Some(entry) = notice.files.get(file) else {
            return Vec::new();
        };
        let verifier = FirmwareVerifier::new(entry.size, notice.sign_method, entry.sign.clone());
        if notice.download == Download::Mqtt {
            let (Some(stream_id), Some(file_id)) = (notice.stream_id, notice.stream_file_id) else {
                return self.fail(Failure::Download, "the notice has no streamId", now);
            };
            self.transfer = Some(Transfer::new(
                file,
                verifier,
                before_file,
                Some(BlockWait {
                    stream_id,
                    file_id,
                    next_request: 1,
                    retries: 0,
                    deadline: now,
                }),
            ));
            if entry.size == 0 {
                return self.fetch_ended(now);
            }
            return self.request_block(now);
        }
        let Some(url) = entry.url.clone() else {
            return self.fail(Failure::Download, "the notice has no download URL", now);
        };
        self.transfer = Some(Transfer::new(file, verifier, before_file, None));
        vec![Action::Fetch { url, offset: 0 }]
    }

    /// Asks for the next block (or the same one again): stop-and-wait, the last block shortened
    /// to the notice's size, a timeout armed.
    fn request_block(&mut self, now: u64) -> Vec<Action> {
        let size = self.current_file_size();
        let block_size = self.config.block_size.max(1);
        let timeout = self.config.block_timeout_ms;
        let topic = self.topic(TopicKind::FileDownload);
        let Some(transfer) = self.transfer.as_mut() else {
            return Vec::new();
        };
        let offset = transfer.file_received;
        let Some(wait) = transfer.blocks.as_mut() else {
            return Vec::new();
        };
        let request = FileBlockRequest {
            id: MessageId::from(wait.next_request),
            stream_id: wait.stream_id,
            file_id: wait.file_id,
            offset,
            size: size.saturating_sub(offset).min(block_size),
            file_token: Some(DEFAULT_FILE_TOKEN.to_owned()),
        };
        wait.next_request = wait.next_request.saturating_add(1);
        wait.deadline = now.saturating_add(timeout);
        self.wake_at = Some(wait.deadline);
        vec![
            Action::RequestBlock {
                topic,
                payload: request.encode(),
            },
            Action::WakeAt(wait.deadline),
        ]
    }

    fn current_file_size(&self) -> u64 {
        let file = self.transfer.as_ref().map_or(0, |t| t.file);
        self.notice
            .as_ref()
            .and_then(|n| n.files.get(file))
            .map_or(0, |f| f.size)
    }

    /// The block went wrong (timeout, bad frame, CRC): ask again, at most
    /// `max_block_retries` times, then fail with -4 as Link SDK C does.
    fn retry_block(&mut self, why: &str, now: u64) -> Vec<Action> {
        let max = self.config.max_block_retries;
        let Some(wait) = self.transfer.as_mut().and_then(|t| t.blocks.as_mut()) else {
            return Vec::new();
        };
        if wait.retries >= max {
            let desc = format!("block download failed after {max} re-sends: {why}");
            return self.fail(Failure::Flash, &desc, now);
        }
        wait.retries += 1;
        self.request_block(now)
    }

    /// A T7 frame arrived: a block (checked, then verified with the rest of the file), a bad
    /// frame (asked again), a reply for another offset (ignored) or a cloud error (-4).
    fn block_reply(&mut self, frame: &[u8], now: u64) -> Option<Vec<Action>> {
        let expected = self
            .transfer
            .as_ref()
            .filter(|t| t.blocks.is_some())
            .map(|t| t.file_received)?;
        let reply = match FileBlockReply::decode(frame) {
            Ok(reply) => reply,
            Err(PayloadError::CloudError { code, message }) => {
                let desc =
                    format!("the cloud answered the block request with code {code}: {message}");
                return Some(self.fail(Failure::Flash, &desc, now));
            }
            Err(error) => return Some(self.retry_block(&error.to_string(), now)),
        };
        if reply.offset != expected {
            // A late or stray reply: Link SDK C ignores it and keeps waiting.
            return Some(Vec::new());
        }
        if reply.block.is_empty() {
            return Some(self.retry_block("an empty block", now));
        }
        if let Some(wait) = self.transfer.as_mut().and_then(|t| t.blocks.as_mut()) {
            wait.retries = 0;
        }
        let mut out = self.data(&reply.block, now);
        let done = match &self.transfer {
            Some(t) if t.blocks.is_some() => t.file_received >= self.current_file_size(),
            // The block ended the transfer (a failure or an injected fault).
            _ => return Some(out),
        };
        if done {
            self.wake_at = None;
            out.extend(self.fetch_ended(now));
        } else {
            out.extend(self.request_block(now));
        }
        Some(out)
    }

    /// Bytes of the running download arrived.
    pub fn data(&mut self, bytes: &[u8], now: u64) -> Vec<Action> {
        // Taken in pieces that end where a report is due or a fault fires, so that progress
        // is reported at every multiple of the cadence (and a fault fires at its percent)
        // whatever size the network's chunks have.
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(self.next_boundary(rest.len()));
            out.extend(self.data_piece(piece, now));
            rest = tail;
            if self.transfer.is_none() || !matches!(self.phase, Phase::Downloading { .. }) {
                break;
            }
        }
        out
    }

    /// How many of the next `len` bytes to take before something is due: the next report
    /// (last reported + cadence) or the injected fault's percent, whichever comes first.
    fn next_boundary(&self, len: usize) -> usize {
        let Phase::Downloading { received, total } = self.phase else {
            return len;
        };
        if total == 0 {
            return len;
        }
        let current = percent(received, total);
        let cadence = self.config.cadence_percent.max(1);
        let fault_at = match &self.config.fault {
            Fault::Fail {
                failure: Failure::Download | Failure::Upgrade,
                at_percent,
            }
            | Fault::Stall { at_percent } => Some(*at_percent),
            Fault::Offline { at_percent, .. } if !self.outage_done => Some(*at_percent),
            _ => None,
        };
        let report_at = self.last_reported.map(|last| last.saturating_add(cadence));
        let next = [report_at, fault_at]
            .into_iter()
            .flatten()
            .filter(|p| *p > current && *p <= 99)
            .min();
        let Some(p) = next else { return len };
        // The first byte count whose percent reaches p: ceil(p × total / 100).
        let reach = (u128::from(p) * u128::from(total)).div_ceil(100);
        let need = reach.saturating_sub(u128::from(received));
        usize::try_from(need).unwrap_or(usize::MAX).clamp(1, len)
    }

    fn data_piece(&mut self, bytes: &[u8], now: u64) -> Vec<Action> {
        let Some(transfer) = self.transfer.as_mut() else {
            return Vec::new();
        };
        if let Err(error) = transfer.verifier.update(bytes) {
            return self.fail(Failure::Verify, &desc_of(&error), now);
        }
        transfer.file_received = transfer.file_received.saturating_add(bytes.len() as u64);
        let received = transfer.before_file.saturating_add(transfer.file_received);
        let total = match &self.phase {
            Phase::Downloading { total, .. } => *total,
            _ => return Vec::new(),
        };
        self.phase = Phase::Downloading { received, total };
        // While downloading, report at most 99: 100 means downloaded and verified.
        let percent = percent(received, total).min(99);
        let mut out = Vec::new();
        match self.config.fault.clone() {
            Fault::Fail {
                failure,
                at_percent,
            } if percent >= at_percent
                && matches!(failure, Failure::Download | Failure::Upgrade) =>
            {
                let desc = format!("injected {} failure at {percent}%", failure.name());
                return self.fail(failure, &desc, now);
            }
            Fault::Stall { at_percent } if percent >= at_percent => {
                self.transfer = None;
                self.phase = Phase::Stalled;
                return vec![Action::AbortFetch];
            }
            Fault::Offline { at_percent, for_ms } if percent >= at_percent && !self.outage_done => {
                self.outage_done = true;
                self.transfer = None;
                self.phase = Phase::Offline;
                let back_at = now.saturating_add(for_ms);
                self.wake_at = Some(back_at);
                return vec![
                    Action::AbortFetch,
                    Action::Disconnect,
                    Action::WakeAt(back_at),
                ];
            }
            _ => {}
        }
        let cadence = self.config.cadence_percent.max(1);
        let due = self
            .last_reported
            .is_none_or(|last| percent >= last.saturating_add(cadence));
        if due {
            let reported = percent - percent % cadence;
            if self.last_reported != Some(reported) {
                self.last_reported = Some(reported);
                let module = self
                    .notice
                    .as_ref()
                    .map(|n| n.module.clone())
                    .unwrap_or_default();
                out.extend(self.progress(Step::Percent(reported), "downloading", &module, now));
            }
        }
        out
    }

    /// The response body ended. A short body is a broken connection: resume with `Range`.
    pub fn fetch_ended(&mut self, now: u64) -> Vec<Action> {
        let Some(notice) = self.notice.clone() else {
            return Vec::new();
        };
        let Some(transfer) = self.transfer.as_ref() else {
            return Vec::new();
        };
        let size = notice.files.get(transfer.file).map_or(0, |f| f.size);
        if transfer.file_received < size {
            return self.resume("the connection closed early", now);
        }
        let Some(transfer) = self.transfer.take() else {
            return Vec::new();
        };
        let next = transfer.file + 1;
        let before = transfer.before_file.saturating_add(transfer.file_received);
        if let Err(error) = transfer.verifier.finish() {
            return self.fail(Failure::Verify, &desc_of(&error), now);
        }
        if next < notice.files.len() {
            return self.begin_file(next, before, now);
        }
        if let Fault::Fail {
            failure: Failure::Verify,
            ..
        } = self.config.fault
        {
            return self.fail(Failure::Verify, "injected verify failure", now);
        }
        self.phase = Phase::Flashing;
        let mut out = self.progress(
            Step::Percent(100),
            "downloaded and verified",
            &notice.module,
            now,
        );
        self.last_reported = Some(100);
        let flashed_at = now.saturating_add(self.config.flash_ms);
        self.wake_at = Some(flashed_at);
        out.push(Action::WakeAt(flashed_at));
        out
    }

    /// The download failed: an HTTP status (no retry) or a network error (resume with `Range`).
    pub fn fetch_failed(&mut self, status: Option<u16>, message: &str, now: u64) -> Vec<Action> {
        if self.transfer.is_none() {
            return Vec::new();
        }
        let resumed_at = self.transfer.as_ref().map_or(0, |t| t.file_received);
        match status {
            // 416 to a resume: the file ends where the notice says more bytes follow.
            Some(416) if resumed_at > 0 => {
                let desc = format!(
                    "the file ends after {resumed_at} bytes, shorter than the notice's size"
                );
                self.fail(Failure::Verify, &desc, now)
            }
            Some(status) => self.fail(Failure::Download, &format!("HTTP {status}: {message}"), now),
            None => self.resume(message, now),
        }
    }

    fn resume(&mut self, why: &str, now: u64) -> Vec<Action> {
        let max = self.config.max_resumes;
        let Some(transfer) = self.transfer.as_mut() else {
            return Vec::new();
        };
        if transfer.resumes >= max {
            let desc = format!("download failed after {max} resumes: {why}");
            return self.fail(Failure::Download, &desc, now);
        }
        transfer.resumes += 1;
        let offset = transfer.file_received;
        let file = transfer.file;
        let url = self
            .notice
            .as_ref()
            .and_then(|n| n.files.get(file))
            .and_then(|f| f.url.clone())
            .unwrap_or_default();
        vec![Action::Fetch { url, offset }]
    }

    /// Time passed: a block request times out, flashing ends, the reboot ends, an outage ends.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        if self.wake_at.is_none_or(|at| now < at) {
            return Vec::new();
        }
        self.wake_at = None;
        match self.phase {
            Phase::Downloading { .. } => {
                let timeout = self.config.block_timeout_ms;
                match self.transfer.as_ref().and_then(|t| t.blocks.as_ref()) {
                    Some(wait) if now >= wait.deadline => {
                        self.retry_block(&format!("no reply within {timeout} ms"), now)
                    }
                    Some(wait) => {
                        self.wake_at = Some(wait.deadline);
                        vec![Action::WakeAt(wait.deadline)]
                    }
                    None => Vec::new(),
                }
            }
            Phase::Flashing => {
                if let Fault::Fail {
                    failure: Failure::Flash,
                    ..
                } = self.config.fault
                {
                    return self.fail(Failure::Flash, "injected flash failure", now);
                }
                self.phase = Phase::Rebooting;
                self.booting = true;
                let booted_at = now.saturating_add(self.config.reboot_ms);
                self.wake_at = Some(booted_at);
                vec![Action::Disconnect, Action::WakeAt(booted_at)]
            }
            Phase::Rebooting | Phase::Offline => vec![Action::Connect],
            _ => Vec::new(),
        }
    }
}

fn percent(received: u64, total: u64) -> u8 {
    if total == 0 {
        return 100;
    }
    (u128::from(received.min(total)) * 100 / u128::from(total)) as u8
}
