//! The sandbox cloud as a sans-IO machine: it plays Alibaba Cloud IoT's OTA service for tests
//! without a cloud. It builds notices (correct or deliberately wrong, signed with MD5 or
//! SHA-256, delivered over HTTP or over MQTT), serves MQTT file blocks (with injected channel
//! faults), answers pulls, pushes again when a device comes back mid-upgrade, and keeps one
//! [`Job`] per device, judged by [`crate::verdict`]. Messages from the broker and time go in;
//! [`Outgoing`] messages come out. The dashboard and the native runner each drive one over
//! their own MQTT client.

use std::collections::BTreeMap;
use std::sync::Arc;

use otalab_protocol::{
    Digest, Download as Delivery, FileBlockReply, FileBlockRequest, FirmwareFile, FirmwareGet,
    MessageId, Module, Progress, SignMethod, Topic, TopicKind, UpgradeNotice, Version,
    VersionReport,
};
use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::batch::{Batch, BatchStatus};
#[cfg(feature = "jobs")]
use crate::jobs::{
    CancelTasks, DownloadProtocol, DynamicMode, JobError, JobSpec, JobStatus, JobView, MINUTE_MS,
    Target, Task, TaskStatus, UpgradeJob,
};
pub(crate) use crate::model::ChannelFault;
pub use crate::model::{DeviceKey, FaultUrls, NoticeKind, Package};
use crate::report::{DeviceReport, Report, Verdict};
use crate::verdict::{Job, VersionOutcome};

/// What the sandbox server's `/sandbox.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxInfo {
    /// ws:// URL of the broker.
    pub broker_ws: String,
    /// mqtt:// URL of the broker's plain TCP listener.
    #[serde(default)]
    pub broker_tcp: Option<String>,
    /// Base URL of the firmware files.
    pub firmware_base: String,
    /// Demo packages.
    pub demo: Vec<Package>,
    /// Broken URL prefixes.
    pub faults: FaultUrls,
    /// How devices on the network reach the sandbox (`scripts/run --lan` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lan: Option<LanInfo>,
    /// What the plain MQTT port does for devices that never subscribe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_subscribe: Option<AutoSubscribe>,
}

/// The sandbox's automatic topic subscription, as on Alibaba Cloud: devices on the plain MQTT
/// port are subscribed to their OTA reply topics when they log in as `dn&pk` (or `pk.dn|…`) or
/// first publish on their OTA topics, so a stock Link SDK C device needs no SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoSubscribe {
    /// The plain MQTT port that does it.
    pub port: u16,
    /// The topics, with `{productKey}` and `{deviceName}` in them.
    pub topics: Vec<String>,
}

/// What a device on the network configures to reach a sandbox started with `--lan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LanInfo {
    /// The address handed out.
    pub host: String,
    /// Every network address of the machine.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Plain MQTT port.
    pub mqtt_port: u16,
    /// MQTT over WebSocket port.
    pub ws_port: u16,
    /// The HTTP server's port (firmware, the page).
    pub http_port: u16,
    /// Whether the MQTT listener uses TLS.
    pub tls: bool,
    /// Any client id, user name and password are accepted.
    pub any_login: bool,
    /// Uploads need the token printed at start.
    pub token_required: bool,
}

/// The platform delivers files of at most 16 MB over MQTT.
pub const MQTT_DELIVERY_LIMIT: usize = 16 * 1024 * 1024;

/// The largest block the cloud serves in one frame (its upload twin allows 128 KiB).
const MAX_BLOCK: u64 = 128 * 1024;

/// MQTT delivery guarantee of an [`Outgoing`] message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// QoS 0 (file block replies, as the platform sends them).
    AtMostOnce,
    /// QoS 1 (notices and pull answers).
    AtLeastOnce,
}

/// A message the cloud publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Topic.
    pub topic: String,
    /// Payload (JSON text, or a binary block frame on T7).
    pub payload: Vec<u8>,
    /// QoS.
    pub qos: Qos,
}

/// Why the cloud refused to push.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// The package's version or digest does not parse.
    #[error("package {name}: {reason}")]
    InvalidPackage {
        /// File name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A device name that cannot be in a topic.
    #[error("device {product_key}/{device_name}: {reason}")]
    InvalidDevice {
        /// productKey.
        product_key: String,
        /// deviceName.
        device_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A notice over MQTT for a package whose bytes were not loaded with [`Cloud::add_stream`].
    #[error("package {name} is not loaded for delivery over MQTT")]
    NotLoaded {
        /// File name.
        name: String,
    },
    /// A package too large for delivery over MQTT.
    #[error(
        "{name} is {size} bytes: the platform delivers at most {MQTT_DELIVERY_LIMIT} bytes over MQTT"
    )]
    TooLarge {
        /// File name.
        name: String,
        /// Its size.
        size: u64,
    },
    /// The bytes loaded are not the package's (SHA-256 differs).
    #[error("{name}: the server sent different bytes (sha256 {actual})")]
    DifferentBytes {
        /// File name.
        name: String,
        /// SHA-256 of what arrived.
        actual: String,
    },
    /// A notice kind that points at broken URLs, without the sandbox's fault URLs.
    #[error("notice kind {kind} needs the sandbox server's broken URLs")]
    NoFaultUrls {
        /// The kind asked for.
        kind: &'static str,
    },
    /// A push to no device.
    #[error("no device to push to: add or select devices first")]
    NoDevices,
    /// A batch id the cloud never made.
    #[error("there is no batch {id}")]
    NoSuchBatch {
        /// The id asked for.
        id: u32,
    },
    /// Cancelling a batch twice.
    #[error("batch {id} is already cancelled")]
    BatchCancelled {
        /// The batch.
        id: u32,
    },
    /// Retrying a batch without failed devices.
    #[error("batch {id} has no failed device to retry")]
    NothingToRetry {
        /// The batch.
        id: u32,
    },
    /// An upgrade job call the platform refuses.
    #[cfg(feature = "jobs")]
    #[error(transparent)]
    Job(#[from] JobError),
}

impl CloudError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPackage { .. } => "INVALID_PACKAGE",
            Self::InvalidDevice { .. } => "INVALID_DEVICE",
            Self::NotLoaded { .. } => "PACKAGE_NOT_LOADED",
            Self::TooLarge { .. } => "PACKAGE_TOO_LARGE",
            Self::DifferentBytes { .. } => "PACKAGE_BYTES_DIFFER",
            Self::NoFaultUrls { .. } => "NO_FAULT_URLS",
            Self::NoDevices => "NO_DEVICES",
            Self::NoSuchBatch { .. } => "NO_SUCH_BATCH",
            Self::BatchCancelled { .. } => "BATCH_CANCELLED",
            Self::NothingToRetry { .. } => "NOTHING_TO_RETRY",
            #[cfg(feature = "jobs")]
            Self::Job(e) => e.code(),
        }
    }
}

/// What changed in the cloud, for a driver that shows it (recorded only after
/// [`Cloud::record_events`]; taken with [`Cloud::poll_event`]). The page updates the rows and
/// batches concerned from these instead of querying every device again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudEvent {
    /// A job was made for a device: a push, a push again, a pull answered with a package.
    JobCreated {
        /// The device.
        device: DeviceKey,
        /// The batch that made it (none for a pull answer).
        batch: Option<u32>,
    },
    /// A device's verdict changed (`None`: it has no job any more).
    VerdictChanged {
        /// The device.
        device: DeviceKey,
        /// The verdict now.
        verdict: Option<Verdict>,
    },
    /// A batch's counts or status changed.
    BatchChanged {
        /// The batch.
        id: u32,
    },
}

/// A device's job as events compare it: notice id, verdict, batch.
type JobMark = Option<(String, Verdict, Option<u32>)>;

/// A job plus the channel fault still to inject for its device.
#[derive(Debug, Clone)]
struct CloudJob {
    job: Job,
    channel_fault: Option<ChannelFault>,
    /// The batch that made it (none for a pull answer or an upgrade job's task).
    batch: Option<u32>,
    /// The upgrade job's task it is an attempt of.
    #[cfg(feature = "jobs")]
    task: Option<u64>,
}

/// The stream id of the first file the cloud serves over MQTT (ids count up from it).
const FIRST_STREAM_ID: u64 = 10_001;

/// The sandbox cloud.
#[derive(Debug, Clone, Default)]
pub struct Cloud {
    jobs: BTreeMap<DeviceKey, CloudJob>,
    versions: BTreeMap<DeviceKey, String>,
    pull_package: Option<Package>,
    sign_method: Option<SignMethod>,
    next_id: u64,
    /// Files served over MQTT: stream id `FIRST_STREAM_ID + i` is `streams[i]`.
    streams: Vec<Arc<[u8]>>,
    /// The stream of each package, by its SHA-256.
    stream_of: BTreeMap<String, u64>,
    fault_urls: Option<FaultUrls>,
    /// Every push, oldest first.
    batches: Vec<Batch>,
    /// The last answer to each device's pull.
    pulls: BTreeMap<DeviceKey, PullAnswer>,
    /// What changed, while recorded.
    events: Option<std::collections::VecDeque<CloudEvent>>,
    /// Upgrade jobs, oldest first (job id = index + 1).
    #[cfg(feature = "jobs")]
    upgrade_jobs: Vec<UpgradeJob>,
    /// Their tasks, by id.
    #[cfg(feature = "jobs")]
    tasks: BTreeMap<u64, Task>,
    /// Each device's unfinished task (a device is in one unfinished job at a time).
    #[cfg(feature = "jobs")]
    task_of: BTreeMap<DeviceKey, u64>,
    /// Device groups, for `GROUP` targets.
    #[cfg(feature = "jobs")]
    groups: BTreeMap<String, Vec<DeviceKey>>,
    /// Minutes between pushes of an ignored notice (`None`: the default; 0: never).
    #[cfg(feature = "jobs")]
    repush_minutes: Option<u64>,
    /// Every task timer (a retry, a timeout, a repush) as (due, task), earliest first: a timer
    /// that falls due touches its own task only, however many tasks the jobs hold. An entry
    /// whose task no longer has that due time is stale and skipped. (Heaps rather than ordered
    /// sets: each B-tree type costs the wasm builds several KB.)
    #[cfg(feature = "jobs")]
    timers: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u64)>>,
    /// Each job's `QUEUED` tasks (by job index), lowest id first: a job's rate takes them from
    /// here. Entries of tasks no longer queued are stale and skipped.
    #[cfg(feature = "jobs")]
    queued: Vec<std::collections::BinaryHeap<std::cmp::Reverse<u64>>>,
    /// When a job's timer is due next.
    next_due: Option<u64>,
    /// The latest time the cloud was given.
    clock: u64,
}

/// What the cloud answered a device's pull (T4) with, as sent on T5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullAnswer {
    /// When (ms).
    pub at_ms: u64,
    /// The module asked about.
    pub module: String,
    /// The version offered (`None`: "no upgrade").
    pub version: Option<String>,
    /// Where the package is (`None` for no upgrade or a package over MQTT).
    pub url: Option<String>,
}

impl std::fmt::Display for PullAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.version, &self.url) {
            (Some(v), Some(url)) => write!(f, "{v} ({url})")?,
            (Some(v), None) => write!(f, "{v} (over MQTT)")?,
            (None, _) => f.write_str("no upgrade")?,
        }
        if self.module != Module::DEFAULT {
            write!(f, " for module {}", self.module)?;
        }
        Ok(())
    }
}

impl Cloud {
    /// The topics the cloud listens on: version reports, progress, pulls, block requests.
    pub const LISTENS: [TopicKind; 4] = [
        TopicKind::Inform,
        TopicKind::Progress,
        TopicKind::FirmwareGet,
        TopicKind::FileDownload,
    ];

    /// The filters the cloud subscribes to: [`LISTENS`](Self::LISTENS) for every device (`+`
    /// wildcards), or for one device only (a shard's cloud listens to its own devices).
    pub fn subscriptions(device: Option<&DeviceKey>) -> Vec<String> {
        let (pk, dn) = device.map_or(("+", "+"), |DeviceKey(pk, dn)| (pk.as_str(), dn.as_str()));
        Self::LISTENS
            .iter()
            .map(|kind| {
                Topic {
                    kind: *kind,
                    product_key: pk.to_owned(),
                    device_name: dn.to_owned(),
                }
                .to_string()
            })
            .collect()
    }

    /// A cloud whose notice ids count up from `first_id` (the dashboard uses the clock, so that
    /// two sessions do not reuse ids).
    pub fn new(first_id: u64) -> Self {
        Self {
            next_id: first_id,
            ..Self::default()
        }
    }

    /// Records what changes from now on as [`CloudEvent`]s (a driver that shows the cloud
    /// takes them with [`poll_event`](Self::poll_event); nothing is kept otherwise).
    pub fn record_events(&mut self) {
        self.events.get_or_insert_with(Default::default);
    }

    /// The next change, oldest first.
    pub fn poll_event(&mut self) -> Option<CloudEvent> {
        self.events.as_mut()?.pop_front()
    }

    fn mark(&self, key: &DeviceKey) -> JobMark {
        self.events.as_ref()?;
        self.jobs
            .get(key)
            .map(|j| (j.job.notice.id.as_str().to_owned(), j.job.verdict, j.batch))
    }

    /// Records what changed for `key` since `before` (see [`mark`](Self::mark)).
    fn changed(&mut self, key: &DeviceKey, before: JobMark) {
        if self.events.is_none() {
            return;
        }
        let after = self.mark(key);
        if after == before {
            return;
        }
        let Some(events) = self.events.as_mut() else {
            return;
        };
        if let Some((id, _, batch)) = &after
            && before.as_ref().is_none_or(|(old, _, _)| old != id)
        {
            events.push_back(CloudEvent::JobCreated {
                device: key.clone(),
                batch: *batch,
            });
        }
        let verdict = |m: &JobMark| m.as_ref().map(|(_, v, _)| *v);
        if verdict(&before) != verdict(&after) {
            events.push_back(CloudEvent::VerdictChanged {
                device: key.clone(),
                verdict: verdict(&after),
            });
        }
        let batches = [&before, &after].map(|m| m.as_ref().and_then(|(_, _, b)| *b));
        for id in batches.into_iter().flatten() {
            if events.back() != Some(&CloudEvent::BatchChanged { id }) {
                events.push_back(CloudEvent::BatchChanged { id });
            }
        }
    }

    /// Where the broken URLs are (the sandbox server's), for the notice kinds that need them.
    pub fn set_fault_urls(&mut self, urls: Option<FaultUrls>) {
        self.fault_urls = urls;
    }

    /// The package that answers pulls (T4) from devices without a job; `None` answers
    /// "no upgrade".
    pub fn set_pull_package(&mut self, package: Option<Package>) {
        self.pull_package = package;
    }

    /// The package answering pulls.
    pub fn pull_package(&self) -> Option<&Package> {
        self.pull_package.as_ref()
    }

    /// The stream id of a package loaded for delivery over MQTT.
    pub fn stream_of(&self, package: &Package) -> Option<u64> {
        self.stream_of.get(&package.sha256).copied()
    }

    /// Checks the package's bytes (size limit, SHA-256) and serves them over MQTT from now on;
    /// returns the stream id (loading one package twice gives the same id).
    pub fn add_stream(&mut self, package: &Package, bytes: Vec<u8>) -> Result<u64, CloudError> {
        if let Some(id) = self.stream_of(package) {
            return Ok(id);
        }
        Self::check_deliverable(package)?;
        let actual = otalab_protocol::digest_hex(SignMethod::Sha256, &bytes);
        if actual != package.sha256 {
            return Err(CloudError::DifferentBytes {
                name: package.name.clone(),
                actual,
            });
        }
        // Stream ids look like the platform's: five-digit numbers.
        let id = FIRST_STREAM_ID + self.streams.len() as u64;
        self.streams.push(Arc::from(bytes));
        self.stream_of.insert(package.sha256.clone(), id);
        Ok(id)
    }

    /// Refuses a package too large for delivery over MQTT (before fetching it).
    pub fn check_deliverable(package: &Package) -> Result<(), CloudError> {
        if package.size > MQTT_DELIVERY_LIMIT as u64 {
            return Err(CloudError::TooLarge {
                name: package.name.clone(),
                size: package.size,
            });
        }
        Ok(())
    }

    /// Pushes `package` to `devices` as a notice of `kind` signed with `method` (one job per
    /// device, replacing any earlier one). A notice over MQTT needs [`add_stream`](Self::add_stream)
    /// first. Nothing is sent when any notice cannot be built.
    pub fn push(
        &mut self,
        devices: &[DeviceKey],
        package: &Package,
        kind: NoticeKind,
        method: SignMethod,
        now: u64,
    ) -> Result<Vec<Outgoing>, CloudError> {
        self.push_module(devices, package, kind, method, &Module::default(), now)
    }

    /// [`push`](Self::push) for one module of the devices (a notice with `module`).
    pub fn push_module(
        &mut self,
        devices: &[DeviceKey],
        package: &Package,
        kind: NoticeKind,
        method: SignMethod,
        module: &Module,
        now: u64,
    ) -> Result<Vec<Outgoing>, CloudError> {
        if devices.is_empty() {
            return Err(CloudError::NoDevices);
        }
        let stream = if kind.over_mqtt() {
            Some(
                self.stream_of(package)
                    .ok_or_else(|| CloudError::NotLoaded {
                        name: package.name.clone(),
                    })?,
            )
        } else {
            None
        };
        if kind.needs_fault_urls() && self.fault_urls.is_none() {
            return Err(CloudError::NoFaultUrls { kind: kind.key() });
        }
        self.sign_method = Some(method);
        let batch = self.batches.last().map_or(1, |b| b.id + 1);
        let mut out = Vec::with_capacity(devices.len());
        let mut jobs = Vec::with_capacity(devices.len());
        for DeviceKey(pk, dn) in devices {
            let topic =
                Topic::new(TopicKind::Upgrade, pk, dn).map_err(|e| CloudError::InvalidDevice {
                    product_key: pk.clone(),
                    device_name: dn.clone(),
                    reason: e.to_string(),
                })?;
            self.next_id += 1;
            let id = MessageId::from(self.next_id);
            let mut notice = self.notice(package, kind, method, stream, id)?;
            notice.module = module.clone();
            out.push(Outgoing {
                topic: topic.to_string(),
                payload: notice.encode().into_bytes(),
                qos: Qos::AtLeastOnce,
            });
            jobs.push((
                DeviceKey(pk.clone(), dn.clone()),
                CloudJob {
                    job: Job::new(notice, now),
                    channel_fault: kind.channel_fault(),
                    batch: Some(batch),
                    #[cfg(feature = "jobs")]
                    task: None,
                },
            ));
        }
        let notice = jobs
            .first()
            .and_then(|(_, j)| serde_json::from_str(&j.job.notice.encode()).ok());
        self.clock = self.clock.max(now);
        for (key, job) in jobs {
            let before = self.mark(&key);
            if let Some(old) = self.jobs.insert(key.clone(), job) {
                #[cfg(feature = "jobs")]
                if let Some(task) = old.task {
                    self.end_task(
                        task,
                        TaskStatus::Canceled,
                        &format!("replaced by batch {batch}"),
                        now,
                    );
                }
                self.freeze(key.clone(), old);
            }
            self.changed(&key, before);
        }
        self.batches.push(Batch {
            id: batch,
            at_ms: now,
            package: package.clone(),
            kind,
            method,
            devices: devices.to_vec(),
            cancelled_at_ms: None,
            retry_of: None,
            notice,
            frozen: BTreeMap::new(),
        });
        Ok(out)
    }

    /// Keeps a job that is being replaced or forgotten with its batch, as it stands.
    fn freeze(&mut self, key: DeviceKey, old: CloudJob) {
        if let Some(batch) = old
            .batch
            .and_then(|id| self.batches.iter_mut().find(|b| b.id == id))
        {
            batch.frozen.insert(key, old.job);
        }
    }

    /// Every batch, oldest first.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// The status of batch `id`: counts, grouped failures.
    pub fn batch_status(&self, id: u32) -> Option<BatchStatus> {
        let batch = self.batches.iter().find(|b| b.id == id)?;
        Some(batch.status(|key| {
            self.jobs
                .get(key)
                .filter(|j| j.batch == Some(id))
                .map(|j| &j.job)
        }))
    }

    /// The status of every batch, oldest first.
    pub fn batch_statuses(&self) -> Vec<BatchStatus> {
        self.batches
            .iter()
            .filter_map(|b| self.batch_status(b.id))
            .collect()
    }

    /// Cancels batch `id` at `now`: its jobs that have not ended become cancelled (their
    /// devices are no longer pushed to again, and a pull gets no upgrade). Returns how many.
    pub fn cancel(&mut self, id: u32, now: u64) -> Result<usize, CloudError> {
        let batch = self
            .batches
            .iter_mut()
            .find(|b| b.id == id)
            .ok_or(CloudError::NoSuchBatch { id })?;
        if batch.cancelled_at_ms.is_some() {
            return Err(CloudError::BatchCancelled { id });
        }
        batch.cancelled_at_ms = Some(now);
        let devices = batch.devices.clone();
        let mut cancelled = 0;
        for key in &devices {
            let before = self.mark(key);
            if let Some(j) = self.jobs.get_mut(key).filter(|j| j.batch == Some(id))
                && j.job.cancel()
            {
                j.channel_fault = None;
                cancelled += 1;
            }
            self.changed(key, before);
        }
        if let Some(events) = self.events.as_mut() {
            events.push_back(CloudEvent::BatchChanged { id });
        }
        Ok(cancelled)
    }

    /// Pushes batch `id`'s firmware again, the same way, to its failed devices: a new batch
    /// (returned with what to send). Devices since pushed to by a later batch are not retried.
    pub fn retry_failed(&mut self, id: u32, now: u64) -> Result<(u32, Vec<Outgoing>), CloudError> {
        let batch = self
            .batches
            .iter()
            .find(|b| b.id == id)
            .ok_or(CloudError::NoSuchBatch { id })?;
        let failed: Vec<DeviceKey> = batch
            .devices
            .iter()
            .filter(|key| {
                self.jobs
                    .get(*key)
                    .is_some_and(|j| j.batch == Some(id) && j.job.verdict == Verdict::Failed)
            })
            .cloned()
            .collect();
        if failed.is_empty() {
            return Err(CloudError::NothingToRetry { id });
        }
        let (package, kind, method) = (batch.package.clone(), batch.kind, batch.method);
        let out = self.push(&failed, &package, kind, method, now)?;
        let retry = self.batches.last_mut().map_or(0, |b| {
            b.retry_of = Some(id);
            b.id
        });
        Ok((retry, out))
    }

    /// A message from the broker on one of the [`subscriptions`](Self::subscriptions); returns
    /// what to publish in answer. Malformed messages are ignored (the device sees no answer,
    /// as with the real cloud).
    pub fn message(&mut self, topic: &str, payload: &[u8], now: u64) -> Vec<Outgoing> {
        let Ok(topic) = Topic::parse(topic) else {
            return Vec::new();
        };
        let key = DeviceKey(topic.product_key.clone(), topic.device_name.clone());
        self.clock = self.clock.max(now);
        let kind = topic.kind;
        let before = self.mark(&key);
        #[cfg_attr(not(feature = "jobs"), allow(unused_mut))]
        let mut out = self.handle(topic, &key, payload, now);
        self.changed(&key, before);
        #[cfg(feature = "jobs")]
        if !self.upgrade_jobs.is_empty() {
            self.sync_task(&key, now);
            if kind == TopicKind::Inform
                && let Ok(report) = VersionReport::decode(payload)
                && report.module.is_default()
            {
                out.extend(self.version_seen(&key, report.version.as_str(), now));
            }
            if self.next_due.is_some_and(|due| due <= now) {
                out.extend(self.run_jobs(now));
            }
        }
        #[cfg(not(feature = "jobs"))]
        let _ = kind;
        out
    }

    fn handle(&mut self, topic: Topic, key: &DeviceKey, payload: &[u8], now: u64) -> Vec<Outgoing> {
        let key = key.clone();
        match topic.kind {
            TopicKind::Inform => {
                let Ok(report) = VersionReport::decode(payload) else {
                    return Vec::new();
                };
                let version = report.version.as_str().to_owned();
                self.versions.insert(key.clone(), version.clone());
                let Some(cloud_job) = self.jobs.get_mut(&key) else {
                    return Vec::new();
                };
                match cloud_job.job.version(&report.module, &version, now) {
                    VersionOutcome::Noted => Vec::new(),
                    VersionOutcome::PushAgain => vec![Outgoing {
                        topic: reply_topic(TopicKind::Upgrade, &key),
                        payload: cloud_job.job.notice.encode().into_bytes(),
                        qos: Qos::AtLeastOnce,
                    }],
                }
            }
            TopicKind::Progress => {
                if let (Ok(progress), Some(cloud_job)) =
                    (Progress::decode(payload), self.jobs.get_mut(&key))
                {
                    cloud_job.job.progress(progress.step, &progress.desc, now);
                }
                Vec::new()
            }
            TopicKind::FileDownload => self.serve_block(&key, payload),
            TopicKind::FirmwareGet => match FirmwareGet::decode(payload) {
                Ok(request) => vec![self.answer_pull(&key, request.id, &request.module, now)],
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The answer to a pull of `module`: the module's job's notice while the job is under way,
    /// else (for the default module) a new job for the pull package, else "no upgrade".
    fn answer_pull(
        &mut self,
        key: &DeviceKey,
        id: MessageId,
        module: &Module,
        now: u64,
    ) -> Outgoing {
        // A task of a job that does not push is started by the device's pull.
        #[cfg(feature = "jobs")]
        self.pull_task(key, module, now);
        let job = self
            .jobs
            .get(key)
            .filter(|j| j.job.notice.module == *module);
        // The notice offered, if any (none: "no upgrade").
        let offered = match job {
            // A cancelled job: no upgrade for this device.
            Some(cloud_job) if cloud_job.job.verdict == Verdict::Cancelled => None,
            // A job under way is offered again; an ended one is over.
            Some(cloud_job) if !cloud_job.job.is_final() => {
                let mut notice = cloud_job.job.notice.clone();
                notice.id = id.clone();
                Some(notice)
            }
            _ => self
                .pull_package
                .clone()
                .filter(|_| module.as_str() == Module::DEFAULT)
                .and_then(|package| {
                    let method = self.sign_method.unwrap_or(SignMethod::Md5);
                    let notice = self
                        .notice(&package, NoticeKind::Correct, method, None, id.clone())
                        .ok()?;
                    self.jobs.insert(
                        key.clone(),
                        CloudJob {
                            job: Job::new(notice.clone(), now),
                            channel_fault: None,
                            batch: None,
                            #[cfg(feature = "jobs")]
                            task: None,
                        },
                    );
                    Some(notice)
                }),
        };
        let payload = offered.as_ref().map_or_else(
            || UpgradeNotice::encode_empty_reply(&id),
            UpgradeNotice::encode_reply,
        );
        self.pulls.insert(
            key.clone(),
            PullAnswer {
                at_ms: now,
                module: module.as_str().to_owned(),
                version: offered.as_ref().map(|n| n.version.as_str().to_owned()),
                url: offered
                    .as_ref()
                    .and_then(|n| n.files.first())
                    .and_then(|f| f.url.clone()),
            },
        );
        Outgoing {
            topic: reply_topic(TopicKind::FirmwareGetReply, key),
            payload: payload.into_bytes(),
            qos: Qos::AtLeastOnce,
        }
    }

    /// The last answer to `key`'s pull, as sent.
    pub fn last_pull(&self, key: &DeviceKey) -> Option<&PullAnswer> {
        self.pulls.get(key)
    }

    /// Ends `key`'s job: an unfinished one is cancelled and kept with its batch as it stands,
    /// and the device has no job any more (its late reports change nothing, a pull is answered
    /// as for a device without a job). The version it reported is kept. True when it had one.
    pub fn end_job(&mut self, key: &DeviceKey) -> bool {
        let before = self.mark(key);
        let ended = match self.jobs.remove(key) {
            Some(mut old) => {
                #[cfg(feature = "jobs")]
                if let Some(task) = old.task {
                    self.end_task(
                        task,
                        TaskStatus::Canceled,
                        "the device's job was ended",
                        self.clock,
                    );
                }
                old.job.cancel();
                self.freeze(key.clone(), old);
                true
            }
            None => false,
        };
        self.changed(key, before);
        ended
    }

    /// Answers one file block request (T6) with a frame on T7 (QoS 0, as the platform does),
    /// or with the job's channel fault.
    fn serve_block(&mut self, key: &DeviceKey, payload: &[u8]) -> Vec<Outgoing> {
        let frame = match FileBlockRequest::decode(payload) {
            Err(error) => FileBlockReply::error("0", 400, &error.to_string()).encode(),
            Ok(request) => self.block_frame(key, &request),
        };
        if frame.is_empty() {
            return Vec::new(); // the injected dropped reply
        }
        vec![Outgoing {
            topic: reply_topic(TopicKind::FileDownloadReply, key),
            payload: frame,
            qos: Qos::AtMostOnce,
        }]
    }

    /// The frame for a well-formed request; empty for a reply the cloud drops on purpose.
    fn block_frame(&mut self, key: &DeviceKey, request: &FileBlockRequest) -> Vec<u8> {
        let id = request.id.as_str();
        let file = request
            .stream_id
            .checked_sub(FIRST_STREAM_ID)
            .and_then(|i| self.streams.get(usize::try_from(i).ok()?))
            .cloned();
        let Some(file) = file else {
            let msg = format!("unknown streamId {}", request.stream_id);
            return FileBlockReply::error(id, 404, &msg).encode();
        };
        let length = file.len() as u64;
        if request.size == 0 || request.offset >= length {
            let msg = format!(
                "block of {} bytes at offset {} is outside the file ({length} bytes)",
                request.size, request.offset
            );
            return FileBlockReply::error(id, 400, &msg).encode();
        }
        let end = request
            .offset
            .saturating_add(request.size.min(MAX_BLOCK))
            .min(length);
        let block = |from: u64, to: u64| {
            file.get(from as usize..to as usize)
                .map(<[u8]>::to_vec)
                .unwrap_or_default()
        };
        let mut reply =
            FileBlockReply::block(id, length, request.offset, block(request.offset, end));
        reply.file_token = request.file_token.clone();
        // Faults fire once a third of the file has gone, so that progress shows first.
        let fault = self.jobs.get_mut(key).and_then(|cloud_job| {
            let due = cloud_job
                .channel_fault
                .is_some_and(|f| f == ChannelFault::ErrorReply || request.offset >= length / 3);
            if due {
                cloud_job.channel_fault.take()
            } else {
                None
            }
        });
        match fault {
            None => reply.encode(),
            Some(ChannelFault::BadCrc) => {
                let mut frame = reply.encode();
                if let Some(last) = frame.last_mut() {
                    *last ^= 0xff;
                }
                frame
            }
            Some(ChannelFault::WrongOffset) => {
                // The block after the one asked for, correctly framed, at its own offset.
                let next = if end < length { end } else { 0 };
                let mut stray = FileBlockReply::block(
                    id,
                    length,
                    next,
                    block(next, length.min(next + request.size)),
                );
                stray.file_token = request.file_token.clone();
                stray.encode()
            }
            Some(ChannelFault::DropReply) => Vec::new(),
            Some(ChannelFault::ErrorReply) => {
                if let Some(cloud_job) = self.jobs.get_mut(key) {
                    cloud_job.channel_fault = Some(ChannelFault::ErrorReply);
                }
                FileBlockReply::error(id, 500, "injected error reply").encode()
            }
        }
    }

    /// The notice for `package` in the form `kind` asks for, signed with `method`; `stream` is
    /// the stream id of a package delivered over MQTT.
    fn notice(
        &self,
        package: &Package,
        kind: NoticeKind,
        method: SignMethod,
        stream: Option<u64>,
        id: MessageId,
    ) -> Result<UpgradeNotice, CloudError> {
        let invalid = |reason: String| CloudError::InvalidPackage {
            name: package.name.clone(),
            reason,
        };
        let broken = |prefix: fn(&FaultUrls) -> &str| {
            self.fault_urls
                .as_ref()
                .map(prefix)
                .filter(|p| !p.is_empty())
                .map(|p| format!("{p}{}", package.name))
                .ok_or(CloudError::NoFaultUrls { kind: kind.key() })
        };
        let url = match kind {
            _ if stream.is_some() => None,
            NoticeKind::Expired => Some(broken(|f| &f.expired)?),
            NoticeKind::Missing => Some(broken(|f| &f.missing)?),
            NoticeKind::Flaky => Some(broken(|f| &f.flaky)?),
            NoticeKind::Slow => Some(broken(|f| &f.slow)?),
            _ => Some(package.url.clone()),
        };
        let digest = match method {
            SignMethod::Md5 => &package.md5,
            SignMethod::Sha256 => &package.sha256,
        };
        let sign = if kind == NoticeKind::BadDigest {
            flip(digest)
        } else {
            digest.clone()
        };
        let size = if kind == NoticeKind::WrongSize {
            package.size.saturating_add(1)
        } else {
            package.size
        };
        Ok(UpgradeNotice {
            id,
            version: Version::parse(&package.version).map_err(|e| invalid(e.to_string()))?,
            module: Module::default(),
            is_diff: false,
            sign_method: method,
            files: vec![FirmwareFile {
                name: None,
                size,
                url,
                sign: Digest::parse(method, &sign).map_err(|e| invalid(e.to_string()))?,
                unknown: Map::new(),
            }],
            download: if stream.is_some() {
                Delivery::Mqtt
            } else {
                Delivery::Https
            },
            stream_id: stream,
            stream_file_id: stream.map(|_| 1),
            digest_sign: None,
            ext_data: BTreeMap::new(),
            unknown: Map::new(),
            unknown_envelope: Map::new(),
        })
    }

    /// When the upgrade jobs' timers are due next (a schedule, the rate window, a retry, a
    /// push again, a timeout, a forced finish); `None` when nothing waits (always, without
    /// the `jobs` feature). It may be early (a timer that no longer applies):
    /// [`handle_timeout`](Self::handle_timeout) then sends nothing.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.next_due
    }

    /// Runs the upgrade jobs' timers due at `now`; returns what to send.
    pub fn handle_timeout(&mut self, now: u64) -> Vec<Outgoing> {
        #[cfg(feature = "jobs")]
        return self.run_jobs(now);
        #[cfg(not(feature = "jobs"))]
        {
            self.clock = self.clock.max(now);
            Vec::new()
        }
    }

    /// True while an upgrade job still has work the cloud will do by itself: a job waiting
    /// for its start, a task queued behind the rate, a retry waiting for its interval, a
    /// timeout still to come.
    pub fn jobs_busy(&self, now: u64) -> bool {
        #[cfg(feature = "jobs")]
        {
            let planned_or_queued = self.upgrade_jobs.iter().any(|job| match job.status {
                JobStatus::Planned => true,
                JobStatus::InProgress => {
                    // A forced finish still to come ends the unfinished tasks then.
                    (job.open > 0 && job.spec.finish_ms.is_some_and(|at| at > now))
                        || job.spec.need_push
                            && self
                                .job_index(job.id)
                                .and_then(|i| self.queued.get(i))
                                .is_some_and(|q| q.iter().any(|r| self.is_queued(r.0)))
                }
                JobStatus::Completed | JobStatus::Canceled => false,
            });
            // A retry or a timeout still to come (a repush of an ignored notice is not work).
            planned_or_queued
                || self.timers.iter().any(|r| {
                    let (at, id) = r.0;
                    self.tasks.get(&id).is_some_and(|t| {
                        t.due_ms == Some(at)
                            && matches!(t.status, TaskStatus::Failed | TaskStatus::InProgress)
                    })
                })
        }
        #[cfg(not(feature = "jobs"))]
        {
            let _ = now;
            false
        }
    }

    /// The last version the device reported (T1, default module), with or without a job.
    pub fn reported_version(&self, key: &DeviceKey) -> Option<&str> {
        self.versions.get(key).map(String::as_str)
    }

    /// The device's job, if the cloud pushed to it (or answered its pull with a package).
    pub fn job(&self, key: &DeviceKey) -> Option<&Job> {
        self.jobs.get(key).map(|j| &j.job)
    }

    /// The device's verdict (pending without a job).
    pub fn verdict(&self, key: &DeviceKey) -> Verdict {
        self.job(key).map_or(Verdict::Pending, |j| j.verdict)
    }

    /// True when every job is final, or has been quiet for `quiet_ms` (a stalled device).
    pub fn settled(&self, now: u64, quiet_ms: u64) -> bool {
        self.jobs
            .values()
            .all(|j| j.job.is_final() || now.saturating_sub(j.job.last_activity_ms) >= quiet_ms)
    }

    /// True when the jobs of these devices are final, or quiet for `quiet_ms`.
    pub fn settled_among(&self, devices: &[DeviceKey], now: u64, quiet_ms: u64) -> bool {
        devices
            .iter()
            .filter_map(|k| self.jobs.get(k))
            .all(|j| j.job.is_final() || now.saturating_sub(j.job.last_activity_ms) >= quiet_ms)
    }

    /// Forgets the jobs and versions of these devices (a new run starts from nothing).
    pub fn forget(&mut self, devices: &[DeviceKey]) {
        for key in devices {
            let before = self.mark(key);
            if let Some(old) = self.jobs.remove(key) {
                #[cfg(feature = "jobs")]
                if let Some(task) = old.task {
                    self.end_task(
                        task,
                        TaskStatus::Canceled,
                        "the device was forgotten",
                        self.clock,
                    );
                }
                self.freeze(key.clone(), old);
            }
            self.versions.remove(key);
            self.changed(key, before);
        }
    }

    /// True when every job is final.
    pub fn all_final(&self) -> bool {
        self.jobs.values().all(|j| j.job.is_final())
    }

    /// The verdict counts of these devices, without building a report.
    pub fn summary(&self, devices: &[DeviceKey]) -> crate::model::Summary {
        crate::model::Summary::of(devices.iter().map(|key| self.verdict(key)))
    }

    /// The report for these devices (duplicates counted once), made at `now`.
    pub fn report(&self, devices: &[DeviceKey], now: u64) -> Report {
        // In key order, once each (the map type of `versions`: no set or sort of its own in wasm).
        let mut unique: BTreeMap<DeviceKey, String> = BTreeMap::new();
        for key in devices {
            unique.insert(key.clone(), String::new());
        }
        let rows = unique
            .keys()
            .map(|key| {
                let mut row = device_report(key, self.job(key), self.versions.get(key));
                row.batch = self.jobs.get(key).and_then(|j| j.batch);
                row
            })
            .collect();
        let mut report = Report::new(now, rows);
        // The batches that pushed to any of these devices.
        report.batches = self
            .batches
            .iter()
            .filter(|b| b.devices.iter().any(|k| unique.contains_key(k)))
            .filter_map(|b| self.batch_status(b.id))
            .collect();
        #[cfg(feature = "jobs")]
        {
            report.jobs = self
                .upgrade_jobs
                .iter()
                .filter(|j| {
                    j.tasks
                        .iter()
                        .filter_map(|t| self.tasks.get(t))
                        .any(|t| unique.contains_key(&t.device))
                })
                .filter_map(|j| self.job_view(j.id))
                .collect();
        }
        report
    }
}

/// Upgrade jobs ([`crate::jobs`]): created, driven by device messages and by the cloud's own
/// timers ([`poll_timeout`](Cloud::poll_timeout), [`handle_timeout`](Cloud::handle_timeout)).
#[cfg(feature = "jobs")]
impl Cloud {
    /// Names a device group for jobs that target `GROUP`.
    pub fn define_group(&mut self, name: &str, devices: Vec<DeviceKey>) {
        self.groups.insert(name.to_owned(), devices);
    }

    /// Minutes between pushes of a notice a device ignores (no progress report): 0 never
    /// pushes again on a timer (a device that comes back online is still pushed to). The
    /// default is [`DEFAULT_REPUSH_MINUTES`](crate::jobs::DEFAULT_REPUSH_MINUTES).
    pub fn set_repush_minutes(&mut self, minutes: u64) {
        self.repush_minutes = Some(minutes);
    }

    fn repush_ms(&self) -> Option<u64> {
        match self
            .repush_minutes
            .unwrap_or(crate::jobs::DEFAULT_REPUSH_MINUTES)
        {
            0 => None,
            m => Some(m * MINUTE_MS),
        }
    }

    /// Creates an upgrade job for `package` (notices signed with `method`) at `now`, as
    /// `CreateOTAStaticUpgradeJob` or `CreateOTADynamicUpgradeJob` would: `fleet` is every
    /// device a static job may target (`ALL`, `GRAY`), in order. Returns the job id and what to
    /// send now; the rest is sent as the job's timers fall due.
    pub fn create_job(
        &mut self,
        spec: JobSpec,
        package: &Package,
        method: SignMethod,
        fleet: &[DeviceKey],
        now: u64,
    ) -> Result<(u32, Vec<Outgoing>), CloudError> {
        self.clock = self.clock.max(now);
        spec.validate(now)?;
        Version::parse(&package.version).map_err(|e| CloudError::InvalidPackage {
            name: package.name.clone(),
            reason: e.to_string(),
        })?;
        if !spec.module.is_empty() {
            Module::parse(&spec.module).map_err(|e| CloudError::InvalidPackage {
                name: package.name.clone(),
                reason: format!("module {:?}: {e}", spec.module),
            })?;
        }
        let stream = match spec.download {
            DownloadProtocol::Https => None,
            DownloadProtocol::Mqtt => {
                Self::check_deliverable(package)?;
                Some(
                    self.stream_of(package)
                        .ok_or_else(|| CloudError::NotLoaded {
                            name: package.name.clone(),
                        })?,
                )
            }
        };
        if spec.is_dynamic()
            && let Some(running) = self.upgrade_jobs.iter().find(|j| {
                j.spec.is_dynamic()
                    && j.package.sha256 == package.sha256
                    && matches!(j.status, JobStatus::Planned | JobStatus::InProgress)
            })
        {
            return Err(JobError::DynamicJobExists {
                package: package.name.clone(),
                job: running.id,
            }
            .into());
        }
        if let Target::Group(name) = &spec.target
            && !self.groups.contains_key(name)
        {
            return Err(JobError::NoSuchGroup { name: name.clone() }.into());
        }
        let planned = spec.schedule_ms.is_some_and(|at| at > now);
        let id = self.upgrade_jobs.len() as u32 + 1;
        let mut job = UpgradeJob {
            id,
            spec,
            package: package.clone(),
            method,
            status: JobStatus::Planned,
            created_ms: now,
            started_ms: None,
            ended_ms: None,
            tasks: Vec::new(),
            stream,
            window: (now, 0),
            fleet: fleet.to_vec(),
            matches: BTreeMap::new(),
            open: 0,
            strategy_canceled: false,
        };
        if !planned {
            let targets = self.targets(&job);
            if targets.is_empty() && !job.spec.is_dynamic() {
                return Err(JobError::NoMatchingDevice.into());
            }
        } else {
            self.wake(job.spec.schedule_ms.unwrap_or(now));
        }
        job.fleet = if planned { job.fleet } else { Vec::new() };
        self.upgrade_jobs.push(job);
        if !planned {
            self.start_job(id, fleet, now);
        }
        Ok((id, self.handle_timeout(now)))
    }

    /// The devices a job targets now: its selection, less devices on the target version or
    /// (with source versions) not on one of them.
    fn targets(&self, job: &UpgradeJob) -> Vec<DeviceKey> {
        let spec = &job.spec;
        let eligible = |key: &DeviceKey| {
            let version = self.versions.get(key);
            version.is_none_or(|v| *v != job.package.version)
                && (spec.src_versions.is_empty()
                    || version.is_some_and(|v| spec.src_versions.contains(v)))
        };
        let unique = |keys: &[DeviceKey]| {
            // The map type of `task_of`, rather than a set of its own: one B-tree less in wasm.
            let mut seen: BTreeMap<DeviceKey, u64> = BTreeMap::new();
            keys.iter()
                .filter(|k| seen.insert((*k).clone(), 0).is_none() && eligible(k))
                .cloned()
                .collect::<Vec<_>>()
        };
        match &spec.target {
            Target::All => unique(&job.fleet),
            Target::Specific(devices) => unique(devices),
            Target::Gray(percent) => {
                let mut all = unique(&job.fleet);
                let count = crate::jobs::gray_count(percent, all.len()).unwrap_or(0);
                all.truncate(count);
                all
            }
            Target::Group(name) => unique(self.groups.get(name).map_or(&[], Vec::as_slice)),
            Target::Dynamic(DynamicMode::CurrentAndFuture) => self
                .versions
                .iter()
                .filter(|(_, v)| **v != job.package.version)
                .filter(|(k, _)| eligible(k))
                .map(|(k, _)| k.clone())
                .collect(),
            Target::Dynamic(DynamicMode::FutureOnly) => Vec::new(),
        }
    }

    /// Starts job `id`: `IN_PROGRESS`, with a task for each target.
    fn start_job(&mut self, id: u32, fleet: &[DeviceKey], now: u64) {
        let Some(index) = self.job_index(id) else {
            return;
        };
        let job = &mut self.upgrade_jobs[index];
        job.status = JobStatus::InProgress;
        job.started_ms = Some(now);
        job.window = (now, 0);
        if job.fleet.is_empty() {
            job.fleet = fleet.to_vec();
        }
        let targets = self.targets(&self.upgrade_jobs[index]);
        self.upgrade_jobs[index].fleet = Vec::new();
        let dynamic = self.upgrade_jobs[index].spec.is_dynamic();
        for key in targets {
            if dynamic {
                *self.upgrade_jobs[index]
                    .matches
                    .entry(key.clone())
                    .or_default() += 1;
            }
            self.add_task(index, key, now);
        }
        if let Some(finish) = self.upgrade_jobs[index].spec.finish_ms {
            self.wake(finish);
        }
        self.wake(now);
    }

    fn job_index(&self, id: u32) -> Option<usize> {
        let index = (id as usize).checked_sub(1)?;
        (index < self.upgrade_jobs.len()).then_some(index)
    }

    /// Adds the task of job `index` for `key`: `CONFIRM` or `QUEUED`, or `FAILED` at once when
    /// the device has an unfinished task the job may not replace.
    fn add_task(&mut self, index: usize, key: DeviceKey, now: u64) {
        let (job_id, overwrite, confirm) = {
            let job = &self.upgrade_jobs[index];
            (job.id, job.spec.overwrite, job.spec.need_confirm)
        };
        let id = self.tasks.keys().next_back().map_or(1, |last| last + 1);
        let first = if confirm {
            TaskStatus::Confirm
        } else {
            TaskStatus::Queued
        };
        let mut task = Task::new(id, job_id, key.clone(), first, now);
        if let Some(&other) = self.task_of.get(&key)
            && let Some(existing) = self.tasks.get(&other)
        {
            let replace = overwrite == crate::jobs::OverwriteMode::Replace
                && existing.status != TaskStatus::InProgress;
            if replace {
                self.end_task(
                    other,
                    TaskStatus::Canceled,
                    &format!("replaced by job {job_id}"),
                    now,
                );
            } else {
                let desc = format!(
                    "the device has an unfinished task ({other}, {}) in job {}",
                    existing.status, existing.job
                );
                task.set(TaskStatus::Failed, &desc, now);
                self.tasks.insert(id, task);
                self.upgrade_jobs[index].tasks.push(id);
                return;
            }
        }
        self.task_of.insert(key, id);
        self.tasks.insert(id, task);
        if first == TaskStatus::Queued {
            self.enqueue(index, id);
        }
        self.upgrade_jobs[index].tasks.push(id);
        self.upgrade_jobs[index].open += 1;
    }

    /// Ends task `id` in `status` (`CANCELED`, or `FAILED` for a reason of the cloud's own):
    /// the device's attempt, if under way, ends with it.
    fn end_task(&mut self, id: u64, status: TaskStatus, desc: &str, now: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        if task.is_final() {
            return;
        }
        let Some(key) = self.finish_task(id, status, desc, now) else {
            return;
        };
        let before = self.mark(&key);
        if let Some(cloud_job) = self.jobs.get_mut(&key).filter(|j| j.task == Some(id)) {
            if status == TaskStatus::Canceled {
                cloud_job.job.cancel();
            } else {
                cloud_job.job.fail(desc);
            }
            cloud_job.channel_fault = None;
        }
        self.changed(&key, before);
    }

    /// Sends task `id`'s notice (a first push, a retry): a new attempt. `None` when no notice
    /// can be built (the task then fails with the reason).
    fn attempt(&mut self, id: u64, now: u64) -> Option<Outgoing> {
        let task = self.tasks.get(&id)?;
        let key = task.device.clone();
        let index = self.job_index(task.job)?;
        let job = &self.upgrade_jobs[index];
        let (package, method, stream) = (job.package.clone(), job.method, job.stream);
        let module = job.spec.module.clone();
        let tags = job.spec.tags.clone();
        let repush = self.repush_ms();
        self.next_id += 1;
        let built = self
            .notice(
                &package,
                NoticeKind::Correct,
                method,
                stream,
                MessageId::from(self.next_id),
            )
            .and_then(|mut notice| {
                if !module.is_empty() {
                    notice.module =
                        Module::parse(&module).map_err(|e| CloudError::InvalidPackage {
                            name: package.name.clone(),
                            reason: e.to_string(),
                        })?;
                }
                notice.ext_data.extend(tags);
                let topic = Topic::new(TopicKind::Upgrade, &key.0, &key.1).map_err(|e| {
                    CloudError::InvalidDevice {
                        product_key: key.0.clone(),
                        device_name: key.1.clone(),
                        reason: e.to_string(),
                    }
                })?;
                Ok((notice, topic))
            });
        let (notice, topic) = match built {
            Ok(built) => built,
            Err(error) => {
                self.end_task(id, TaskStatus::Failed, &error.to_string(), now);
                return None;
            }
        };
        let payload = notice.encode().into_bytes();
        let before = self.mark(&key);
        let attempt = CloudJob {
            job: Job::new(notice, now),
            channel_fault: None,
            batch: None,
            task: Some(id),
        };
        if let Some(old) = self.jobs.insert(key.clone(), attempt) {
            self.freeze(key.clone(), old);
        }
        self.changed(&key, before);
        let task = self.tasks.get_mut(&id)?;
        task.pushes += 1;
        task.first_progress_ms = None;
        self.set_task(id, TaskStatus::Notified, "", now);
        self.set_due(id, repush.map(|every| now + every));
        Some(Outgoing {
            topic: topic.to_string(),
            payload,
            qos: Qos::AtLeastOnce,
        })
    }

    /// Follows the device's attempt into its task after a message from it.
    fn sync_task(&mut self, key: &DeviceKey, now: u64) {
        let Some(cloud_job) = self.jobs.get(key) else {
            return;
        };
        let Some(id) = cloud_job.task else {
            return;
        };
        let verdict = cloud_job.job.verdict;
        let failure = cloud_job.job.failure();
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        if task.is_final() || (task.status == TaskStatus::Failed && task.due_ms.is_some()) {
            return;
        }
        let Some(job) = self.job_index(task.job).map(|i| &self.upgrade_jobs[i]) else {
            return;
        };
        let (timeout, retry) = (job.spec.timeout_minutes, job.spec.retry);
        match verdict {
            Verdict::Pending => {}
            Verdict::Upgrading => {
                if task.status == TaskStatus::Notified
                    && let Some(task) = self.tasks.get_mut(&id)
                {
                    let first = *task.first_progress_ms.get_or_insert(now);
                    self.set_task(id, TaskStatus::InProgress, "", now);
                    self.set_due(id, timeout.map(|m| first + u64::from(m) * MINUTE_MS));
                }
            }
            Verdict::Succeeded => {
                self.finish_task(id, TaskStatus::Succeeded, "", now);
            }
            Verdict::Cancelled => {
                self.finish_task(id, TaskStatus::Canceled, "its attempt was cancelled", now);
            }
            Verdict::Failed => {
                let reason = failure.map(|f| f.to_string()).unwrap_or_default();
                let retry_at = retry
                    .filter(|r| task.retries < r.count)
                    .map(|r| now + u64::from(r.interval_minutes) * MINUTE_MS);
                match retry_at {
                    Some(at) => {
                        self.set_task(id, TaskStatus::Failed, &reason, now);
                        self.set_due(id, Some(at));
                    }
                    None => {
                        self.finish_task(id, TaskStatus::Failed, &reason, now);
                    }
                }
            }
        }
    }

    /// Task `id` ended by the device's doing (its attempt already says so).
    /// Returns its device.
    fn finish_task(
        &mut self,
        id: u64,
        status: TaskStatus,
        desc: &str,
        now: u64,
    ) -> Option<DeviceKey> {
        self.set_due(id, None);
        self.set_task(id, status, desc, now);
        let task = self.tasks.get(&id)?;
        let (key, job) = (task.device.clone(), task.job);
        if self.task_of.get(&key) == Some(&id) {
            self.task_of.remove(&key);
        }
        self.task_closed(job, now);
        Some(key)
    }

    /// A task of job `job` ended for good: a static job whose tasks have all ended is
    /// completed (counted, so that each end costs the same however large the job).
    fn task_closed(&mut self, job: u32, now: u64) {
        let Some(index) = self.job_index(job) else {
            return;
        };
        let job = &mut self.upgrade_jobs[index];
        job.open = job.open.saturating_sub(1);
        if job.open == 0 && !job.spec.is_dynamic() && job.status == JobStatus::InProgress {
            self.complete(index, now);
        }
    }

    /// A device reported `version` (default module): it is online. Its ignored notice is
    /// pushed again, and dynamic jobs take it on if it matches.
    fn version_seen(&mut self, key: &DeviceKey, version: &str, now: u64) -> Vec<Outgoing> {
        let mut out = Vec::new();
        if let Some(&id) = self.task_of.get(key)
            && let Some(task) = self.tasks.get(&id)
            && task.status == TaskStatus::Notified
            && let Some(cloud_job) = self.jobs.get(key).filter(|j| j.task == Some(id))
            && cloud_job.job.target() != version
        {
            out.push(Outgoing {
                topic: reply_topic(TopicKind::Upgrade, key),
                payload: cloud_job.job.notice.encode().into_bytes(),
                qos: Qos::AtLeastOnce,
            });
            if let Some(task) = self.tasks.get_mut(&id) {
                task.pushes += 1;
            }
        }
        // A device with an unfinished task (in any job) is not matched again.
        if self.task_of.contains_key(key) {
            return out;
        }
        for index in 0..self.upgrade_jobs.len() {
            let job = &self.upgrade_jobs[index];
            let matches = job.status == JobStatus::InProgress
                && job.spec.is_dynamic()
                && !job.strategy_canceled
                && job.package.version != version
                && (job.spec.src_versions.is_empty()
                    || job.spec.src_versions.iter().any(|v| v == version))
                && job.matches.get(key).copied().unwrap_or(0)
                    < u64::from(crate::jobs::MAX_DYNAMIC_MATCHES);
            if matches {
                *self.upgrade_jobs[index]
                    .matches
                    .entry(key.clone())
                    .or_default() += 1;
                self.add_task(index, key.clone(), now);
                // The new task goes out now if the rate allows (without a pass over every
                // task of the job), else at the next minute.
                let job = &self.upgrade_jobs[index];
                if let Some(&id) = job.tasks.last()
                    && job.spec.need_push
                    && self
                        .tasks
                        .get(&id)
                        .is_some_and(|t| t.status == TaskStatus::Queued)
                {
                    self.dispatch(index, id, now, &mut out);
                }
                break;
            }
        }
        out
    }

    /// Starts a `QUEUED` task of a job that does not push, when its device pulls.
    fn pull_task(&mut self, key: &DeviceKey, module: &Module, now: u64) {
        let Some(&id) = self.task_of.get(key) else {
            return;
        };
        let waiting = self.tasks.get(&id).is_some_and(|t| {
            t.status == TaskStatus::Queued
                && self.job_index(t.job).is_some_and(|i| {
                    let job = &self.upgrade_jobs[i];
                    let job_module = if job.spec.module.is_empty() {
                        Module::DEFAULT
                    } else {
                        job.spec.module.as_str()
                    };
                    !job.spec.need_push
                        && job.status == JobStatus::InProgress
                        && job_module == module.as_str()
                })
        });
        if waiting {
            // The pull answer carries the notice; nothing is pushed.
            let _ = self.attempt(id, now);
        }
    }

    fn wake(&mut self, at: u64) {
        self.next_due = Some(self.next_due.map_or(at, |due| due.min(at)));
    }

    /// Sets task `id`'s status; a task queued again joins its job's queue.
    fn set_task(&mut self, id: u64, status: TaskStatus, desc: &str, now: u64) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.set(status, desc, now);
            let job = task.job;
            if status == TaskStatus::Queued
                && let Some(index) = self.job_index(job)
            {
                self.enqueue(index, id);
            }
        }
    }

    fn enqueue(&mut self, index: usize, id: u64) {
        if self.queued.len() <= index {
            self.queued.resize_with(index + 1, Default::default);
        }
        self.queued[index].push(std::cmp::Reverse(id));
    }

    fn is_queued(&self, id: u64) -> bool {
        self.tasks
            .get(&id)
            .is_some_and(|t| t.status == TaskStatus::Queued)
    }

    /// Sets (or clears) task `id`'s timer and wakes the cloud for it.
    fn set_due(&mut self, id: u64, due: Option<u64>) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.due_ms = due;
            if let Some(at) = due {
                self.timers.push(std::cmp::Reverse((at, id)));
                self.wake(at);
            }
        }
    }

    /// Whether the timer `(at, id)` is still task `id`'s.
    fn is_due(&self, at: u64, id: u64) -> bool {
        self.tasks.get(&id).is_some_and(|t| t.due_ms == Some(at))
    }

    /// Runs the jobs' timers due at `now`; returns what to send. The work is the jobs, the
    /// timers that fell due and the queued tasks the rates let out, never every task.
    fn run_jobs(&mut self, now: u64) -> Vec<Outgoing> {
        self.clock = self.clock.max(now);
        self.next_due = None;
        let mut out = Vec::new();
        for index in 0..self.upgrade_jobs.len() {
            let job = &self.upgrade_jobs[index];
            match job.status {
                JobStatus::Planned => match job.spec.schedule_ms {
                    Some(at) if at > now => self.wake(at),
                    _ => {
                        let id = job.id;
                        self.start_job(id, &[], now);
                    }
                },
                JobStatus::InProgress => match job.spec.finish_ms {
                    Some(at) if at <= now => {
                        for id in job.tasks.clone() {
                            self.end_task(
                                id,
                                TaskStatus::Failed,
                                "the job's finish time passed",
                                now,
                            );
                        }
                        self.complete(index, now);
                    }
                    Some(at) => self.wake(at),
                    None => {}
                },
                JobStatus::Completed | JobStatus::Canceled => {}
            }
        }
        let repush = self.repush_ms();
        while let Some(&std::cmp::Reverse((at, id))) = self.timers.peek()
            && at <= now
        {
            self.timers.pop();
            if self.is_due(at, id) {
                if let Some(task) = self.tasks.get_mut(&id) {
                    task.due_ms = None;
                }
                self.task_timer(id, repush, now, &mut out);
            }
        }
        for index in 0..self.upgrade_jobs.len() {
            let job = &self.upgrade_jobs[index];
            if job.status != JobStatus::InProgress {
                continue;
            }
            if job.spec.need_push {
                // Lowest id first, until the window refuses one (which sets the wake-up for
                // the next minute) or the queue is empty.
                while let Some(std::cmp::Reverse(id)) =
                    self.queued.get_mut(index).and_then(|q| q.pop())
                {
                    if !self.is_queued(id) {
                        continue;
                    }
                    if !self.dispatch(index, id, now, &mut out) {
                        self.enqueue(index, id);
                        break;
                    }
                }
            }
            let job = &self.upgrade_jobs[index];
            if !job.spec.is_dynamic() && job.open == 0 {
                self.complete(index, now);
            }
        }
        while let Some(&std::cmp::Reverse((at, id))) = self.timers.peek() {
            if self.is_due(at, id) {
                self.wake(at);
                break;
            }
            self.timers.pop();
        }
        out
    }

    /// Task `id`'s timer fell due at `now`: a retry is sent, an ignored notice pushed again, an
    /// attempt timed out.
    fn task_timer(&mut self, id: u64, repush: Option<u64>, now: u64, out: &mut Vec<Outgoing>) {
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        let Some(index) = self.job_index(task.job) else {
            return;
        };
        if self.upgrade_jobs[index].status != JobStatus::InProgress {
            return;
        }
        match task.status {
            TaskStatus::Failed => {
                let retries = task.retries + 1;
                if let Some(task) = self.tasks.get_mut(&id) {
                    task.retries = retries;
                }
                self.set_task(id, TaskStatus::Queued, &format!("retry {retries}"), now);
                out.extend(self.attempt(id, now));
            }
            TaskStatus::Notified => {
                let key = task.device.clone();
                if let Some(cloud_job) = self.jobs.get(&key).filter(|j| j.task == Some(id)) {
                    out.push(Outgoing {
                        topic: reply_topic(TopicKind::Upgrade, &key),
                        payload: cloud_job.job.notice.encode().into_bytes(),
                        qos: Qos::AtLeastOnce,
                    });
                }
                if let Some(task) = self.tasks.get_mut(&id) {
                    task.pushes += 1;
                }
                self.set_due(id, repush.map(|every| now + every));
            }
            TaskStatus::InProgress => {
                let timeout = self.upgrade_jobs[index].spec.timeout_minutes;
                self.time_out(id, timeout.unwrap_or(0), now);
            }
            _ => {}
        }
    }

    /// Notifies queued task `id` of job `index` if the job's rate allows it in the current
    /// minute (true), else wakes the cloud when the next minute starts (false).
    fn dispatch(&mut self, index: usize, id: u64, now: u64, out: &mut Vec<Outgoing>) -> bool {
        let rate = self.upgrade_jobs[index].spec.maximum_per_minute;
        let (start, sent) = self.upgrade_jobs[index].window;
        let (start, sent) = if now >= start + MINUTE_MS {
            (now, 0)
        } else {
            (start, sent)
        };
        if sent >= rate {
            self.upgrade_jobs[index].window = (start, sent);
            self.wake(start + MINUTE_MS);
            return false;
        }
        self.upgrade_jobs[index].window = (start, sent + 1);
        out.extend(self.attempt(id, now));
        true
    }

    fn time_out(&mut self, id: u64, minutes: u32, now: u64) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.timed_out = true;
        }
        let desc =
            format!("timed out: no result {minutes} minutes after the first progress report");
        self.end_task(id, TaskStatus::Failed, &desc, now);
    }

    fn complete(&mut self, index: usize, now: u64) {
        let job = &mut self.upgrade_jobs[index];
        if matches!(job.status, JobStatus::Planned | JobStatus::InProgress) {
            job.status = JobStatus::Completed;
            job.ended_ms = Some(now);
        }
    }

    /// `ConfirmOTATask`: these `CONFIRM` tasks (1 to 10) are queued and sent as the rate
    /// allows.
    pub fn confirm_tasks(&mut self, ids: &[u64], now: u64) -> Result<Vec<Outgoing>, CloudError> {
        self.check_task_ids(
            ids,
            None,
            TaskStatus::Confirm,
            "only CONFIRM tasks are confirmed",
        )?;
        for id in ids {
            self.set_task(*id, TaskStatus::Queued, "confirmed", now);
        }
        Ok(self.handle_timeout(now))
    }

    /// `ReupgradeOTATask`: these `FAILED` or `CANCELED` tasks (1 to 10) of job `job` are queued
    /// again, retries counted afresh.
    pub fn reupgrade_tasks(
        &mut self,
        job: u32,
        ids: &[u64],
        now: u64,
    ) -> Result<Vec<Outgoing>, CloudError> {
        let index = self.job_index(job).ok_or(JobError::NoSuchJob { id: job })?;
        let status = self.upgrade_jobs[index].status;
        if status != JobStatus::InProgress && status != JobStatus::Completed {
            return Err(JobError::JobEnded { id: job, status }.into());
        }
        if ids.is_empty() || ids.len() > crate::jobs::MAX_TASK_IDS {
            return Err(JobError::TaskIdCount { given: ids.len() }.into());
        }
        for id in ids {
            let task = self
                .tasks
                .get(id)
                .filter(|t| t.job == job)
                .ok_or(JobError::NoSuchTask { task: *id })?;
            if !matches!(task.status, TaskStatus::Failed | TaskStatus::Canceled) || !task.is_final()
            {
                return Err(JobError::WrongTaskStatus {
                    task: *id,
                    status: task.status,
                    needs: "only FAILED or CANCELED tasks are upgraded again",
                }
                .into());
            }
            if let Some(other) = self.task_of.get(&task.device) {
                return Err(JobError::WrongTaskStatus {
                    task: *id,
                    status: task.status,
                    needs: if *other == *id {
                        "the task is already queued"
                    } else {
                        "the device has an unfinished task in another job"
                    },
                }
                .into());
            }
        }
        self.upgrade_jobs[index].status = JobStatus::InProgress;
        self.upgrade_jobs[index].ended_ms = None;
        for id in ids {
            if let Some(task) = self.tasks.get_mut(id) {
                task.retries = 0;
                task.timed_out = false;
                self.task_of.insert(task.device.clone(), *id);
                self.upgrade_jobs[index].open += 1;
                self.set_task(*id, TaskStatus::Queued, "upgraded again", now);
            }
        }
        Ok(self.handle_timeout(now))
    }

    fn check_task_ids(
        &self,
        ids: &[u64],
        job: Option<u32>,
        status: TaskStatus,
        needs: &'static str,
    ) -> Result<(), CloudError> {
        if ids.is_empty() || ids.len() > crate::jobs::MAX_TASK_IDS {
            return Err(JobError::TaskIdCount { given: ids.len() }.into());
        }
        for id in ids {
            let task = self
                .tasks
                .get(id)
                .filter(|t| job.is_none_or(|j| t.job == j))
                .ok_or(JobError::NoSuchTask { task: *id })?;
            if task.status != status {
                return Err(JobError::WrongTaskStatus {
                    task: *id,
                    status: task.status,
                    needs,
                }
                .into());
            }
        }
        Ok(())
    }

    /// `CancelOTATaskByJob`: cancels job `job`'s tasks in the states asked for (a planned job
    /// with `scheduled`); returns how many tasks were cancelled.
    pub fn cancel_tasks(
        &mut self,
        job: u32,
        what: CancelTasks,
        now: u64,
    ) -> Result<usize, CloudError> {
        if what.is_empty() {
            return Err(JobError::NothingToCancel.into());
        }
        let index = self.job_index(job).ok_or(JobError::NoSuchJob { id: job })?;
        let status = self.upgrade_jobs[index].status;
        if what.scheduled {
            if status == JobStatus::Planned {
                let job = &mut self.upgrade_jobs[index];
                job.status = JobStatus::Canceled;
                job.ended_ms = Some(now);
                return Ok(0);
            }
            let only_scheduled = CancelTasks {
                scheduled: false,
                ..what
            }
            .is_empty();
            if only_scheduled {
                return Err(JobError::NotScheduled { id: job, status }.into());
            }
        }
        let mut cancelled = 0;
        for id in self.upgrade_jobs[index].tasks.clone() {
            let covered = self
                .tasks
                .get(&id)
                .is_some_and(|t| what.covers(t.status) && !t.is_final());
            if covered {
                self.end_task(
                    id,
                    TaskStatus::Canceled,
                    "cancelled by CancelOTATaskByJob",
                    now,
                );
                cancelled += 1;
            }
        }
        self.wake(now);
        Ok(cancelled)
    }

    /// `CancelOTATaskByDevice`: cancels the unfinished tasks of `devices` in job `job`;
    /// returns how many were cancelled.
    pub fn cancel_device_tasks(
        &mut self,
        job: u32,
        devices: &[DeviceKey],
        now: u64,
    ) -> Result<usize, CloudError> {
        let index = self.job_index(job).ok_or(JobError::NoSuchJob { id: job })?;
        let mut cancelled = 0;
        for id in self.upgrade_jobs[index].tasks.clone() {
            let covered = self
                .tasks
                .get(&id)
                .is_some_and(|t| devices.contains(&t.device) && !t.is_final());
            if covered {
                self.end_task(
                    id,
                    TaskStatus::Canceled,
                    "cancelled by CancelOTATaskByDevice",
                    now,
                );
                cancelled += 1;
            }
        }
        self.wake(now);
        Ok(cancelled)
    }

    /// `CancelOTAStrategyByJob`: dynamic job `job` takes no new device from now on (its
    /// tasks go on).
    pub fn cancel_strategy(&mut self, job: u32) -> Result<(), CloudError> {
        let index = self.job_index(job).ok_or(JobError::NoSuchJob { id: job })?;
        let job = &mut self.upgrade_jobs[index];
        if !job.spec.is_dynamic() {
            return Err(JobError::NotDynamic { id: job.id }.into());
        }
        job.strategy_canceled = true;
        Ok(())
    }

    /// `UpdateOTAJob` (dynamic jobs): a new rate and a new timeout, checked as at creation.
    pub fn update_job(
        &mut self,
        job: u32,
        maximum_per_minute: Option<u32>,
        timeout_minutes: Option<u32>,
        now: u64,
    ) -> Result<(), CloudError> {
        let index = self.job_index(job).ok_or(JobError::NoSuchJob { id: job })?;
        let current = &self.upgrade_jobs[index];
        if !current.spec.is_dynamic() {
            return Err(JobError::NotDynamic { id: current.id }.into());
        }
        let mut spec = current.spec.clone();
        if let Some(rate) = maximum_per_minute {
            spec.maximum_per_minute = rate;
        }
        if timeout_minutes.is_some() {
            spec.timeout_minutes = timeout_minutes;
        }
        // The schedule was checked at creation; only the new values are checked again.
        spec.schedule_ms = None;
        spec.finish_ms = None;
        spec.validate(now)?;
        let job = &mut self.upgrade_jobs[index];
        job.spec.maximum_per_minute = spec.maximum_per_minute;
        job.spec.timeout_minutes = spec.timeout_minutes;
        self.wake(now);
        Ok(())
    }

    /// Every upgrade job, oldest first.
    pub fn upgrade_jobs(&self) -> &[UpgradeJob] {
        &self.upgrade_jobs
    }

    /// `QueryOTAJob`: job `id`'s status and its tasks' counts.
    pub fn job_view(&self, id: u32) -> Option<JobView> {
        let job = &self.upgrade_jobs[self.job_index(id)?];
        let mut counts: BTreeMap<TaskStatus, usize> =
            TaskStatus::ALL.iter().map(|s| (*s, 0)).collect();
        let (mut timed_out, mut retried, mut retries, mut pushes) = (0, 0, 0, 0);
        for task in job.tasks.iter().filter_map(|t| self.tasks.get(t)) {
            *counts.entry(task.status).or_default() += 1;
            timed_out += usize::from(task.timed_out);
            retried += usize::from(task.retries > 0);
            retries += task.retries;
            pushes += task.pushes;
        }
        Some(JobView {
            id,
            target: job.spec.target.name().to_owned(),
            status: job.status,
            firmware: job.package.name.clone(),
            version: job.package.version.clone(),
            counts,
            timed_out,
            retried,
            retries,
            pushes,
        })
    }

    /// A task by id.
    pub fn task(&self, id: u64) -> Option<&Task> {
        self.tasks.get(&id)
    }

    /// `ListOTATaskByJob`: page `page` (from 1) of `size` tasks of job `job`.
    pub fn list_tasks(&self, job: u32, page: u32, size: u32) -> Result<Vec<&Task>, CloudError> {
        let index = self.job_index(job).ok_or(JobError::NoSuchJob { id: job })?;
        if page == 0
            || size == 0
            || size > crate::jobs::MAX_PAGE_SIZE
            || u64::from(page) * u64::from(size) > crate::jobs::MAX_PAGE_REACH
        {
            return Err(JobError::PageOutOfRange { page, size }.into());
        }
        let skip = (page as usize - 1) * size as usize;
        Ok(self.upgrade_jobs[index]
            .tasks
            .iter()
            .skip(skip)
            .take(size as usize)
            .filter_map(|t| self.tasks.get(t))
            .collect())
    }

    /// Every task of a device, oldest first (its timeline across jobs).
    pub fn device_tasks(&self, key: &DeviceKey) -> Vec<&Task> {
        self.tasks.values().filter(|t| t.device == *key).collect()
    }
}

/// One device's row of a report: its job (if any) and the last version it reported.
pub fn device_report(key: &DeviceKey, job: Option<&Job>, version: Option<&String>) -> DeviceReport {
    DeviceReport {
        product_key: key.0.clone(),
        device_name: key.1.clone(),
        target_version: job.map(|j| j.target().to_owned()),
        notice: job.and_then(|j| serde_json::to_value(&j.notice).ok()),
        steps: job.map(|j| j.steps.clone()).unwrap_or_default(),
        final_version: job
            .and_then(|j| j.final_version.clone())
            .or_else(|| version.cloned()),
        verdict: job.map_or(Verdict::Pending, |j| j.verdict),
        failure: job.and_then(Job::failure),
        batch: None,
        fault: None,
    }
}

/// The topic of `kind` for a device.
pub(crate) fn reply_topic(kind: TopicKind, key: &DeviceKey) -> String {
    Topic {
        kind,
        product_key: key.0.clone(),
        device_name: key.1.clone(),
    }
    .to_string()
}

fn flip(hex: &str) -> String {
    let mut chars: Vec<char> = hex.chars().collect();
    if let Some(c) = chars.first_mut() {
        *c = if *c == '0' { '1' } else { '0' };
    }
    chars.into_iter().collect()
}
