//! The sandbox cloud: an MQTT client that plays Alibaba Cloud IoT's OTA service for testing
//! without a cloud. It pushes notices (correct or deliberately wrong), answers pulls, pushes
//! again when a device comes back mid-upgrade, and judges each device by the cloud's rule.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use otalab_browser::{ClientEvent, ClientOptions, MqttClient, Options, QoS};
use otalab_protocol::{
    Digest, Download as Delivery, FirmwareFile, FirmwareGet, MessageId, Module, Progress,
    SignMethod, Topic, TopicKind, UpgradeNotice, Version, VersionReport,
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
}

impl NoticeKind {
    /// All kinds, for the selector.
    pub const ALL: [NoticeKind; 6] = [
        Self::Correct,
        Self::BadDigest,
        Self::WrongSize,
        Self::Expired,
        Self::Missing,
        Self::Flaky,
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
        }
    }
}

struct Job {
    notice: UpgradeNotice,
    steps: Vec<ObservedStep>,
    final_version: Option<String>,
    verdict: Verdict,
}

impl Job {
    /// A job for a notice just sent.
    fn new(notice: UpgradeNotice) -> Self {
        Self {
            notice,
            steps: Vec::new(),
            final_version: None,
            verdict: Verdict::Pending,
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
}

thread_local! {
    static CLOUD: RefCell<Cloud> = RefCell::new(Cloud::default());
}

const UPLINK: [&str; 3] = [
    "/ota/device/inform/+/+",
    "/ota/device/progress/+/+",
    "/sys/+/+/thing/ota/firmware/get",
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
    CLOUD.with_borrow_mut(|cloud| {
        cloud.state = Some(state);
        cloud.client = Some(client);
        cloud.answer_pulls = true;
        cloud.next_id = now_ms();
    });
}

/// Answer T4 pulls with the selected package.
pub fn set_answer_pulls(answer: bool) {
    CLOUD.with_borrow_mut(|cloud| cloud.answer_pulls = answer);
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

fn on_event(event: ClientEvent) {
    let ClientEvent::Message(message) = event else {
        return;
    };
    CLOUD.with_borrow_mut(|cloud| {
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
                            &state,
                            request.id.clone(),
                        ) {
                            Some(notice) => {
                                let payload = notice.encode_reply();
                                cloud.jobs.insert(key.clone(), Job::new(notice));
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

/// The notice for `package` in the form `kind` asks for.
fn build_notice(
    package: &Package,
    kind: NoticeKind,
    state: &AppState,
    id: MessageId,
) -> Option<UpgradeNotice> {
    let faults = state.sandbox.get_untracked().map(|s| s.faults);
    let url = match (kind, &faults) {
        (NoticeKind::Expired, Some(f)) => format!("{}{}", f.expired, package.name),
        (NoticeKind::Missing, Some(f)) => format!("{}{}", f.missing, package.name),
        (NoticeKind::Flaky, Some(f)) => format!("{}{}", f.flaky, package.name),
        _ => package.url.clone(),
    };
    let sign = if kind == NoticeKind::BadDigest {
        flip(&package.sha256)
    } else {
        package.sha256.clone()
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
        sign_method: SignMethod::Sha256,
        files: vec![FirmwareFile {
            name: None,
            size,
            url: Some(url),
            sign: Digest::parse(SignMethod::Sha256, &sign).ok()?,
            unknown: Map::new(),
        }],
        download: Delivery::Https,
        stream_id: None,
        stream_file_id: None,
        digest_sign: None,
        ext_data: BTreeMap::new(),
        unknown: Map::new(),
        unknown_envelope: Map::new(),
    })
}

/// Pushes `package` to these devices as a notice of `kind`; returns how many were sent.
pub fn push(
    devices: &[(String, String)],
    package: &Package,
    kind: NoticeKind,
) -> Result<usize, String> {
    CLOUD.with_borrow_mut(|cloud| {
        let Some(state) = cloud.state else {
            return Err("the sandbox cloud is not running".into());
        };
        if cloud.client.is_none() {
            return Err("the sandbox cloud is not connected".into());
        }
        let mut sent = 0;
        for (pk, dn) in devices {
            cloud.next_id += 1;
            let notice = build_notice(package, kind, &state, MessageId::from(cloud.next_id))
                .ok_or_else(|| {
                    format!("package {} has an invalid version or digest", package.name)
                })?;
            let topic = Topic::new(TopicKind::Upgrade, pk, dn).map_err(|e| e.to_string())?;
            publish(cloud, &topic.to_string(), &notice.encode());
            let key = (pk.clone(), dn.clone());
            cloud.jobs.insert(key.clone(), Job::new(notice));
            show(&state, &key, Verdict::Pending);
            sent += 1;
        }
        bump(&state);
        Ok(sent)
    })
}

/// The cloud's verdict for a device.
pub fn verdict(pk: &str, dn: &str) -> Verdict {
    CLOUD.with_borrow(|cloud| {
        cloud
            .jobs
            .get(&(pk.to_owned(), dn.to_owned()))
            .map_or(Verdict::Pending, |j| j.verdict)
    })
}

/// The report for these devices (all known to the simulator).
pub fn report(devices: &[(String, String)]) -> Report {
    CLOUD.with_borrow(|cloud| {
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
    })
}
