//! The browser driver of the sandbox cloud (`otalab_sim::Cloud`): its MQTT client, the firmware
//! fetch for delivery over MQTT, copying verdicts to the rows, and the log of pushes (for
//! saving a session as a scenario). Every rule (notices, pull answers, push-again, block
//! serving, verdicts) is in otalab-sim.

use leptos::prelude::*;
use otalab_browser::{ClientEvent, ClientOptions, MqttClient, Options, QoS};
use otalab_protocol::{SignMethod, Topic};
use otalab_sim::{Cloud, DeviceKey, Outgoing, Qos, Report, Verdict};
use wasm_bindgen_futures::spawn_local;

pub use otalab_sim::NoticeKind;
pub use otalab_sim::cloud::MQTT_DELIVERY_LIMIT;

use super::Handle;
use crate::state::{AppState, Package, now_ms};

/// One push, as the session log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct PushRecord {
    /// When (ms since 1970).
    pub at_ms: u64,
    /// The package.
    pub package: Package,
    /// The notice kind.
    pub kind: NoticeKind,
    /// How it was signed.
    pub method: SignMethod,
    /// To whom.
    pub devices: Vec<DeviceKey>,
}

/// The cloud and its client.
pub struct Driver {
    state: AppState,
    client: Option<MqttClient>,
    cloud: Cloud,
    answer_pulls: bool,
    pushes: Vec<PushRecord>,
}

/// The handle to the sandbox cloud (`Copy`, from context).
#[derive(Clone, Copy)]
pub struct SandboxCloud(Handle<Driver>);

/// The sandbox cloud provided by the app.
pub fn use_cloud() -> SandboxCloud {
    expect_context::<SandboxCloud>()
}

/// Copies a device's verdict (`None`: no job) to its row; true when it changed.
fn show(state: &AppState, key: &DeviceKey, verdict: Option<Verdict>) -> bool {
    state.devices.with_untracked(|rows| {
        let mut changed = false;
        for row in rows {
            if row.name.with_value(|n| n == key) && row.verdict.get_untracked() != verdict {
                row.verdict.set(verdict);
                changed = true;
            }
        }
        changed
    })
}

impl SandboxCloud {
    /// A cloud for the app's state, not connected yet.
    pub fn new(state: AppState) -> Self {
        Self(Handle::new(Driver {
            state,
            client: None,
            cloud: Cloud::new(now_ms()),
            answer_pulls: true,
            pushes: Vec::new(),
        }))
    }

    fn with<R: Default>(self, f: impl FnOnce(&mut Driver) -> R) -> R {
        self.0.with("sandbox cloud", f)
    }

    /// Connects the cloud to the sandbox broker.
    pub fn start(self, broker_ws: &str) {
        // One cloud per page; a unique id keeps two open dashboards from taking over each other.
        let id = format!(
            "otalab-sandbox-cloud-{:08x}",
            (js_sys::Math::random() * 4.0e9) as u64
        );
        let client = MqttClient::new(ClientOptions::new(broker_ws, Options::new(id)));
        client.on_event(move |event| {
            let event = event.clone();
            spawn_local(async move { self.on_event(event) });
        });
        for filter in Cloud::SUBSCRIPTIONS {
            drop(client.subscribe(filter, QoS::AtLeastOnce));
        }
        client.connect();
        self.with(|driver| {
            let faults = driver.state.sandbox.get_untracked().map(|s| s.faults);
            driver.cloud.set_fault_urls(faults);
            driver.client = Some(client);
        });
    }

    /// Answer T4 pulls with the selected package.
    pub fn set_answer_pulls(self, answer: bool) {
        self.with(|driver| driver.answer_pulls = answer);
    }

    fn on_event(self, event: ClientEvent) {
        let ClientEvent::Message(message) = event else {
            return;
        };
        self.with(|driver| {
            let state = driver.state;
            let pull = if driver.answer_pulls {
                state.package.get_untracked()
            } else {
                None
            };
            if driver.cloud.pull_package() != pull.as_ref() {
                driver.cloud.set_pull_package(pull);
            }
            let out = driver
                .cloud
                .message(&message.topic, &message.payload, now_ms());
            driver.send(out);
            if let Ok(topic) = Topic::parse(&message.topic) {
                let key = (topic.product_key, topic.device_name);
                if let Some(job) = driver.cloud.job(&key)
                    && show(&state, &key, Some(job.verdict))
                {
                    driver.refresh();
                }
            }
        });
    }

    /// Cancels batch `id`: its devices whose job has not ended become cancelled.
    pub fn cancel(self, id: u32) -> Result<usize, String> {
        self.with(|driver| {
            let result = driver.cloud.cancel(id, now_ms());
            driver.show_all();
            Some(result.map_err(|e| format!("{}: {e}", e.code())))
        })
        .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".into()))
    }

    /// Pushes batch `id` again to its failed devices, as a new batch; returns its id and how
    /// many devices it targets.
    pub fn retry_failed(self, id: u32) -> Result<(u32, usize), String> {
        self.with(|driver| {
            if driver.client.is_none() {
                return Some(Err("the sandbox cloud is not connected".into()));
            }
            let result = match driver.cloud.retry_failed(id, now_ms()) {
                Ok((batch, out)) => {
                    let n = out.len();
                    driver.send(out);
                    if let Some(b) = driver.cloud.batches().last() {
                        driver.pushes.push(PushRecord {
                            at_ms: b.at_ms,
                            package: b.package.clone(),
                            kind: b.kind,
                            method: b.method,
                            devices: b.devices.clone(),
                        });
                    }
                    Ok((batch, n))
                }
                Err(e) => Err(format!("{}: {e}", e.code())),
            };
            driver.show_all();
            Some(result)
        })
        .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".into()))
    }

    /// Loads `package` for delivery over MQTT (once per package) and returns its stream id.
    pub async fn prepare_stream(self, package: &Package) -> Result<u64, String> {
        if let Some(id) = self.with(|driver| driver.cloud.stream_of(package)) {
            return Ok(id);
        }
        Cloud::check_deliverable(package).map_err(|e| e.to_string())?;
        let bytes = otalab_browser::http::get_bytes(&package.url, MQTT_DELIVERY_LIMIT).await?;
        self.with(|driver| {
            Some(
                driver
                    .cloud
                    .add_stream(package, bytes)
                    .map_err(|e| e.to_string()),
            )
        })
        .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".to_owned()))
    }

    /// Pushes `package` to these devices as a notice of `kind`, signed with `method`; returns
    /// how many were sent. A notice over MQTT needs [`prepare_stream`](Self::prepare_stream) first.
    pub fn push(
        self,
        devices: &[DeviceKey],
        package: &Package,
        kind: NoticeKind,
        method: SignMethod,
    ) -> Result<usize, String> {
        self.with(|driver| {
            if driver.client.is_none() {
                return Some(Err("the sandbox cloud is not connected".into()));
            }
            let now = now_ms();
            let out = match driver.cloud.push(devices, package, kind, method, now) {
                Ok(out) => out,
                Err(error) => return Some(Err(format!("{}: {error}", error.code()))),
            };
            let sent = out.len();
            driver.send(out);
            driver.pushes.push(PushRecord {
                at_ms: now,
                package: package.clone(),
                kind,
                method,
                devices: devices.to_vec(),
            });
            driver.show_all();
            Some(Ok(sent))
        })
        .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".into()))
    }

    /// The report for these devices.
    pub fn report(self, devices: &[DeviceKey]) -> Report {
        self.with(|driver| Some(driver.cloud.report(devices, now_ms())))
            .unwrap_or_else(|| Report::new(now_ms(), Vec::new()))
    }

    /// True when these devices' jobs are final or quiet for `quiet_ms`.
    pub fn settled(self, devices: &[DeviceKey], quiet_ms: u64) -> bool {
        self.with(|driver| driver.cloud.settled_among(devices, now_ms(), quiet_ms))
    }

    /// Forgets these devices' jobs, versions and pushes (a scenario run starts from nothing).
    pub fn forget(self, devices: &[DeviceKey]) {
        self.with(|driver| {
            driver.cloud.forget(devices);
            driver.pushes.clear();
            for key in devices {
                show(&driver.state, key, None);
            }
            driver.refresh();
        });
    }

    /// The pushes of this session, oldest first.
    pub fn pushes(self) -> Vec<PushRecord> {
        self.with(|driver| driver.pushes.clone())
    }
}

impl Driver {
    /// Copies every job's verdict to the rows and refreshes the batches.
    fn show_all(&self) {
        let keys: Vec<DeviceKey> = self
            .state
            .devices
            .with_untracked(|rows| rows.iter().map(|r| r.name.get_value()).collect());
        for key in keys {
            show(&self.state, &key, self.cloud.job(&key).map(|j| j.verdict));
        }
        self.refresh();
    }

    /// Publishes the batches' status (after any verdict changed).
    fn refresh(&self) {
        self.state.batches.set(self.cloud.batch_statuses());
        self.state.cloud_version.update(|v| *v += 1);
    }

    fn send(&self, out: Vec<Outgoing>) {
        let Some(client) = &self.client else { return };
        for message in out {
            let qos = match message.qos {
                Qos::AtMostOnce => QoS::AtMostOnce,
                Qos::AtLeastOnce => QoS::AtLeastOnce,
            };
            let _ = client.publish_token(&message.topic, &message.payload, qos);
        }
    }
}
