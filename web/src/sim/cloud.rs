//! The sandbox cloud: an MQTT client that plays Alibaba Cloud IoT's OTA service for testing
//! without a cloud. It pushes notices (correct or deliberately wrong, signed with MD5 or
//! SHA-256, delivered over HTTP or over MQTT), serves MQTT file blocks, answers pulls, pushes
//! again when a device comes back mid-upgrade, and judges each device by the cloud's rule.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use leptos::prelude::*;
use otalab_browser::{ClientEvent, ClientOptions, MqttClient, Options, QoS};
use otalab_protocol::{
    Digest, Download as Delivery, FileBlockReply, FileBlockRequest, FirmwareFile, FirmwareGet,
    MessageId, Module, Progress, SignMethod, Topic, TopicKind, UpgradeNotice, Version,
    VersionReport,
};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use wasm_bindgen_futures::spawn_local;

use crate::state::report::{DeviceReport, ObservedStep, Report, Verdict};
use crate::state::{AppState, Package, now_ms};

/// Which notice to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoticeKind {
    /// Right size, digest and URL.
    Correct,
    /// One digest digit flipped: devices must report -3.
    BadDigest,
    /// Size one byte off: devices must report -3.
    WrongSize,
    /// URL answers 403 like an expired OSS link: -2.
    Expired,
    /// URL answers 404: -2.
    Missing,
    /// URL breaks the connection halfway: devices must resume with Range.
    Flaky,
    /// Delivered over MQTT (`dProtocol: "mqtt"`): the cloud serves the blocks.
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
    /// All kinds, for the selector.
    pub const ALL: [NoticeKind; 11] = [
        Self::Correct,
        Self::BadDigest,
        Self::WrongSize,
        Self::Expired,
        Self::Missing,
        Self::Flaky,
        Self::Mqtt,
        Self::MqttBadCrc,
        Self::MqttWrongOffset,
        Self::MqttDropReply,
        Self::MqttErrorReply,
    ];

    /// Its i18n key.
    pub fn key(self) -> &'static str {
        match self {
            Self::Correct => "correct",
            Self::BadDigest => "bad_digest",
            Self::WrongSize => "wrong_size",
            Self::Expired => "expired_url",
            Self::Missing => "missing_url",
            Self::Flaky => "flaky_url",
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

    /// The fault the cloud injects on the MQTT channel, if any.
    fn channel_fault(self) -> Option<ChannelFault> {
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
enum ChannelFault {
    BadCrc,
    WrongOffset,
    DropReply,
    ErrorReply,
}

/// The platform delivers files of at most 16 MB over MQTT.
pub const MQTT_DELIVERY_LIMIT: usize = 16 * 1024 * 1024;

/// The largest block the cloud serves in one frame (its upload twin allows 128 KiB).
const MAX_BLOCK: u64 = 128 * 1024;

struct Job {
    notice: UpgradeNotice,
    steps: Vec<ObservedStep>,
    final_version: Option<String>,
    verdict: Verdict,
    /// The MQTT channel fault still to inject for this device.
    channel_fault: Option<ChannelFault>,
}

impl Job {
    /// A job for a notice just sent.
    fn new(notice: UpgradeNotice, channel_fault: Option<ChannelFault>) -> Self {
        Self {
            notice,
            steps: Vec::new(),
            final_version: None,
            verdict: Verdict::Pending,
            channel_fault,
        }
    }
}

#[derive(Default)]
struct Cloud {
    state: Option<AppState>,
    client: Option<MqttClient>,
    jobs: BTreeMap<(String, String), Job>,
    versions: BTreeMap<(String, String), String>,
    answer_pulls: bool,
    next_id: u64,
    /// Files served over MQTT, by stream id.
    streams: BTreeMap<u64, Rc<[u8]>>,
    /// The stream of each package, by its SHA-256.
    stream_of: BTreeMap<String, u64>,
    /// How pushes and pull answers are signed (the panel's choice).
    sign_method: Option<SignMethod>,
}

thread_local! {
    static CLOUD: RefCell<Cloud> = RefCell::new(Cloud::default());
}

const UPLINK: [&str; 4] = [
    "/ota/device/inform/+/+",
    "/ota/device/progress/+/+",
    "/sys/+/+/thing/ota/firmware/get",
    "/sys/+/+/thing/file/download",
];

/// Connects the cloud to the sandbox broker.
pub fn start(state: AppState, broker_ws: &str) {
    // One cloud per page; a unique id keeps two open dashboards from taking over each other.
    let id = format!(
        "otalab-sandbox-cloud-{:08x}",
        (js_sys::Math::random() * 4.0e9) as u64
    );
    let client = MqttClient::new(ClientOptions::new(broker_ws, Options::new(id)));
    client.on_event(|event| {
        let event = event.clone();
        spawn_local(async move { on_event(event) });
    });
    for filter in UPLINK {
        drop(client.subscribe(filter, QoS::AtLeastOnce));
    }
    client.connect();
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |cloud| {
        cloud.state = Some(state);
        cloud.client = Some(client);
        cloud.answer_pulls = true;
        cloud.next_id = now_ms();
    });
}

/// Answer T4 pulls with the selected package.
pub fn set_answer_pulls(answer: bool) {
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |cloud| cloud.answer_pulls = answer);
}

fn bump(state: &AppState) {
    state.cloud_version.update(|v| *v += 1);
}

/// Copies a job's verdict to its row.
fn show(state: &AppState, key: &(String, String), verdict: Verdict) {
    state.devices.with_untracked(|rows| {
        for row in rows {
            if row.name.with_value(|n| n == key) && row.verdict.get_untracked() != verdict {
                row.verdict.set(verdict);
            }
        }
    });
}

fn publish(cloud: &Cloud, topic: &str, payload: &str) {
    if let Some(client) = &cloud.client {
        let _ = client.publish_token(topic, payload.as_bytes(), QoS::AtLeastOnce);
    }
}

/// Answers one file block request (T6) with a frame on T7 (QoS 0, as the platform does), or
/// with the job's channel fault.
fn serve_block(cloud: &mut Cloud, key: &(String, String), payload: &[u8]) {
    let reply_topic = Topic {
        kind: TopicKind::FileDownloadReply,
        product_key: key.0.clone(),
        device_name: key.1.clone(),
    }
    .to_string();
    let frame = match FileBlockRequest::decode(payload) {
        Err(error) => FileBlockReply::error("0", 400, &error.to_string()).encode(),
        Ok(request) => block_frame(cloud, key, &request),
    };
    if frame.is_empty() {
        return; // the injected dropped reply
    }
    if let Some(client) = &cloud.client {
        let _ = client.publish_token(&reply_topic, &frame, QoS::AtMostOnce);
    }
}

/// The frame for a well-formed request; empty for a reply the cloud drops on purpose.
fn block_frame(cloud: &mut Cloud, key: &(String, String), request: &FileBlockRequest) -> Vec<u8> {
    let id = request.id.as_str();
    let Some(file) = cloud.streams.get(&request.stream_id).cloned() else {
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
    let mut reply = FileBlockReply::block(id, length, request.offset, block(request.offset, end));
    reply.file_token = request.file_token.clone();
    // Faults fire once a third of the file has gone, so that progress shows first.
    let fault = cloud.jobs.get_mut(key).and_then(|job| {
        let due = job
            .channel_fault
            .is_some_and(|f| f == ChannelFault::ErrorReply || request.offset >= length / 3);
        if due { job.channel_fault.take() } else { None }
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
            if let Some(job) = cloud.jobs.get_mut(key) {
                job.channel_fault = Some(ChannelFault::ErrorReply);
            }
            FileBlockReply::error(id, 500, "injected error reply").encode()
        }
    }
}

fn on_event(event: ClientEvent) {
    let ClientEvent::Message(message) = event else {
        return;
    };
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |cloud| {
        let Some(state) = cloud.state else { return };
        let Ok(topic) = Topic::parse(&message.topic) else {
            return;
        };
        let key = (topic.product_key.clone(), topic.device_name.clone());
        match topic.kind {
            TopicKind::Inform => {
                let Ok(report) = VersionReport::decode(&message.payload) else {
                    return;
                };
                let version = report.version.as_str().to_owned();
                cloud.versions.insert(key.clone(), version.clone());
                let mut push_again = None;
                if let Some(job) = cloud.jobs.get_mut(&key)
                    && report.module == job.notice.module
                {
                    job.final_version = Some(version.clone());
                    if version == job.notice.version.as_str() {
                        if job.verdict != Verdict::Failed {
                            job.verdict = Verdict::Succeeded;
                        }
                    } else if job.steps.last().is_some_and(|s| s.step == 100) {
                        // Reported 100 but came back with another version: failed.
                        job.verdict = Verdict::Failed;
                    } else if job.verdict == Verdict::Upgrading {
                        // Back online mid-upgrade: the cloud pushes again.
                        push_again = Some(job.notice.encode());
                    }
                }
                if let Some(payload) = push_again {
                    let t = Topic {
                        kind: TopicKind::Upgrade,
                        product_key: key.0.clone(),
                        device_name: key.1.clone(),
                    };
                    publish(cloud, &t.to_string(), &payload);
                }
            }
            TopicKind::Progress => {
                let Ok(progress) = Progress::decode(&message.payload) else {
                    return;
                };
                if let Some(job) = cloud.jobs.get_mut(&key) {
                    let step = progress.step.value();
                    job.steps.push(ObservedStep {
                        at_ms: now_ms(),
                        step,
                        desc: progress.desc.clone(),
                    });
                    if step < 0 {
                        job.verdict = Verdict::Failed;
                    } else if job.verdict == Verdict::Pending {
                        job.verdict = Verdict::Upgrading;
                    }
                }
            }
            TopicKind::FileDownload => serve_block(cloud, &key, &message.payload),
            TopicKind::FirmwareGet => {
                let Ok(request) = FirmwareGet::decode(&message.payload) else {
                    return;
                };
                let reply_topic = Topic {
                    kind: TopicKind::FirmwareGetReply,
                    product_key: key.0.clone(),
                    device_name: key.1.clone(),
                }
                .to_string();
                let reply = match cloud.jobs.get(&key) {
                    Some(job) if job.verdict != Verdict::Succeeded => {
                        let mut notice = job.notice.clone();
                        notice.id = request.id.clone();
                        notice.encode_reply()
                    }
                    _ => match (cloud.answer_pulls, state.package.get_untracked()) {
                        (true, Some(package)) => match build_notice(
                            &package,
                            NoticeKind::Correct,
                            cloud.sign_method.unwrap_or(SignMethod::Md5),
                            None,
                            &state,
                            request.id.clone(),
                        ) {
                            Some(notice) => {
                                let payload = notice.encode_reply();
                                cloud.jobs.insert(key.clone(), Job::new(notice, None));
                                payload
                            }
                            None => UpgradeNotice::encode_empty_reply(&request.id),
                        },
                        _ => UpgradeNotice::encode_empty_reply(&request.id),
                    },
                };
                publish(cloud, &reply_topic, &reply);
            }
            _ => {}
        }
        if let Some(job) = cloud.jobs.get(&key) {
            show(&state, &key, job.verdict);
        }
    });
}

fn flip(hex: &str) -> String {
    let mut chars: Vec<char> = hex.chars().collect();
    if let Some(c) = chars.first_mut() {
        *c = if *c == '0' { '1' } else { '0' };
    }
    chars.into_iter().collect()
}

/// The notice for `package` in the form `kind` asks for, signed with `method`; `stream` is the
/// stream id of a package delivered over MQTT.
fn build_notice(
    package: &Package,
    kind: NoticeKind,
    method: SignMethod,
    stream: Option<u64>,
    state: &AppState,
    id: MessageId,
) -> Option<UpgradeNotice> {
    let faults = state.sandbox.get_untracked().map(|s| s.faults);
    let url = match (kind, &faults) {
        _ if stream.is_some() => None,
        (NoticeKind::Expired, Some(f)) => Some(format!("{}{}", f.expired, package.name)),
        (NoticeKind::Missing, Some(f)) => Some(format!("{}{}", f.missing, package.name)),
        (NoticeKind::Flaky, Some(f)) => Some(format!("{}{}", f.flaky, package.name)),
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
        package.size + 1
    } else {
        package.size
    };
    Some(UpgradeNotice {
        id,
        version: Version::parse(&package.version).ok()?,
        module: Module::default(),
        is_diff: false,
        sign_method: method,
        files: vec![FirmwareFile {
            name: None,
            size,
            url,
            sign: Digest::parse(method, &sign).ok()?,
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

/// Loads `package` for delivery over MQTT (once per package) and returns its stream id.
pub async fn prepare_stream(package: &Package) -> Result<u64, String> {
    if let Some(id) = super::borrow_or_skip(&CLOUD, "sandbox cloud", |cloud| {
        cloud.stream_of.get(&package.sha256).copied()
    }) {
        return Ok(id);
    }
    if package.size > MQTT_DELIVERY_LIMIT as u64 {
        return Err(format!(
            "{} is {} bytes: the platform delivers at most {MQTT_DELIVERY_LIMIT} bytes over MQTT",
            package.name, package.size
        ));
    }
    let bytes = otalab_browser::http::get_bytes(&package.url, MQTT_DELIVERY_LIMIT).await?;
    let actual = otalab_protocol::digest_hex(SignMethod::Sha256, &bytes);
    if actual != package.sha256 {
        return Err(format!(
            "{}: the server sent different bytes (sha256 {actual})",
            package.name
        ));
    }
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |cloud| {
        // Stream ids look like the platform's: five-digit numbers.
        let id = 10_000 + cloud.streams.len() as u64 + 1;
        cloud.streams.insert(id, Rc::from(bytes));
        cloud.stream_of.insert(package.sha256.clone(), id);
        Some(id)
    })
    .ok_or_else(|| "the sandbox cloud is busy: try again".to_owned())
}

/// Pushes `package` to these devices as a notice of `kind`, signed with `method`; returns how
/// many were sent. A notice over MQTT needs [`prepare_stream`] first (`stream`).
pub fn push(
    devices: &[(String, String)],
    package: &Package,
    kind: NoticeKind,
    method: SignMethod,
    stream: Option<u64>,
) -> Result<usize, String> {
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |cloud| {
        Some(push_locked(cloud, devices, package, kind, method, stream))
    })
    .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".into()))
}

fn push_locked(
    cloud: &mut Cloud,
    devices: &[(String, String)],
    package: &Package,
    kind: NoticeKind,
    method: SignMethod,
    stream: Option<u64>,
) -> Result<usize, String> {
    let Some(state) = cloud.state else {
        return Err("the sandbox cloud is not running".into());
    };
    if cloud.client.is_none() {
        return Err("the sandbox cloud is not connected".into());
    }
    if kind.over_mqtt() && stream.is_none() {
        return Err("a notice over MQTT needs the package loaded first".into());
    }
    let stream = if kind.over_mqtt() { stream } else { None };
    cloud.sign_method = Some(method);
    let mut sent = 0;
    for (pk, dn) in devices {
        cloud.next_id += 1;
        let id = MessageId::from(cloud.next_id);
        let notice = build_notice(package, kind, method, stream, &state, id)
            .ok_or_else(|| format!("package {} has an invalid version or digest", package.name))?;
        let topic = Topic::new(TopicKind::Upgrade, pk, dn).map_err(|e| e.to_string())?;
        publish(cloud, &topic.to_string(), &notice.encode());
        let key = (pk.clone(), dn.clone());
        cloud
            .jobs
            .insert(key.clone(), Job::new(notice, kind.channel_fault()));
        show(&state, &key, Verdict::Pending);
        sent += 1;
    }
    bump(&state);
    Ok(sent)
}

/// The cloud's verdict for a device.
pub fn verdict(pk: &str, dn: &str) -> Verdict {
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |cloud| {
        cloud
            .jobs
            .get(&(pk.to_owned(), dn.to_owned()))
            .map(|j| j.verdict)
    })
    .unwrap_or(Verdict::Pending)
}

/// The report for these devices (all known to the simulator).
pub fn report(devices: &[(String, String)]) -> Report {
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |cloud| {
        Some(report_locked(cloud, devices))
    })
    .unwrap_or_else(|| Report::new(now_ms(), Vec::new()))
}

fn report_locked(cloud: &Cloud, devices: &[(String, String)]) -> Report {
    let unique: BTreeSet<&(String, String)> = devices.iter().collect();
    let rows = unique
        .into_iter()
        .map(|key| {
            let job = cloud.jobs.get(key);
            DeviceReport {
                product_key: key.0.clone(),
                device_name: key.1.clone(),
                target_version: job.map(|j| j.notice.version.as_str().to_owned()),
                notice: job.and_then(|j| serde_json::to_value(&j.notice).ok()),
                steps: job.map(|j| j.steps.clone()).unwrap_or_default(),
                final_version: job
                    .and_then(|j| j.final_version.clone())
                    .or_else(|| cloud.versions.get(key).cloned()),
                verdict: job.map_or(Verdict::Pending, |j| j.verdict),
            }
        })
        .collect();
    Report::new(now_ms(), rows)
}
