//! The browser driver of the sandbox cloud (`otalab_sim::Cloud`): its MQTT client, the firmware
//! fetch for delivery over MQTT, copying verdicts to the rows, and the log of pushes (for
//! saving a session as a scenario). Every rule (notices, pull answers, push-again, block
//! serving, verdicts) is in otalab-sim.

use leptos::prelude::*;
use otalab_browser::{ClientEvent, ClientOptions, Event, MqttClient, Options, QoS};
use otalab_protocol::{Progress, SignMethod, Step, Topic, TopicKind, VersionReport};
use otalab_sim::{
    Case, Cloud, CloudEvent, DeviceKey, Link, Outgoing, Phase, Qos, Report, RunEvent, ScenarioRun,
    StepRecord, Suite, SuiteOptions, Verdict,
};
use wasm_bindgen_futures::spawn_local;

pub use otalab_sim::NoticeKind;
pub use otalab_sim::cloud::MQTT_DELIVERY_LIMIT;

use super::Handle;
use crate::state::{AppState, DeviceRow, DeviceStatus, Direction, Package, now_ms};

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
    /// The conformance suite under way (it decides what pulls are answered with).
    suite: Option<Suite>,
    /// Ids for external rows (above the simulator's).
    next_external: u32,
    /// The external devices' rows, by name (looked up for every message in and out).
    /// Sorted by key (a sorted `Vec`: one B-tree type less in the page's wasm).
    externals: Vec<(DeviceKey, DeviceRow)>,
}

/// Row ids of external devices start here (the simulator counts from 0).
const EXTERNAL_IDS: u32 = 1 << 30;

/// The handle to the sandbox cloud (`Copy`, from context).
#[derive(Clone, Copy)]
pub struct SandboxCloud(Handle<Driver>);

/// The sandbox cloud provided by the app.
pub fn use_cloud() -> SandboxCloud {
    expect_context::<SandboxCloud>()
}

/// What the cloud's events change on the page: verdicts of the rows concerned, the batches.
#[derive(Default)]
struct Updates {
    verdicts: Vec<(DeviceKey, Option<Verdict>)>,
    batches: Option<Vec<otalab_sim::BatchStatus>>,
}

impl Updates {
    /// Sets the rows concerned (by their device key) and the batches. Runs after the cloud is
    /// released, so nothing a signal triggers can find it borrowed.
    fn apply(self, state: AppState) {
        if !self.verdicts.is_empty() {
            state.devices.with_untracked(|rows| {
                for (key, verdict) in &self.verdicts {
                    if let Some(row) = rows.iter().find(|r| r.name.with_value(|n| n == key))
                        && row.verdict.get_untracked() != *verdict
                    {
                        row.verdict.set(*verdict);
                    }
                }
            });
        }
        if let Some(batches) = self.batches {
            state.batches.set(batches);
        }
    }
}

impl SandboxCloud {
    /// A cloud for the app's state, not connected yet.
    pub fn new(state: AppState) -> Self {
        // The page shows what changes, from the cloud's own events.
        let mut cloud = Cloud::new(now_ms());
        cloud.record_events();
        Self(Handle::new(Driver {
            state,
            client: None,
            cloud,
            answer_pulls: true,
            pushes: Vec::new(),
            suite: None,
            next_external: EXTERNAL_IDS,
            externals: Vec::new(),
        }))
    }

    /// Runs `f` on the driver; then what changed in the cloud is shown (outside the borrow).
    fn with<R: Default>(self, f: impl FnOnce(&mut Driver) -> R) -> R {
        let (result, updates) = self
            .0
            .with("sandbox cloud", |driver| {
                let result = f(driver);
                Some((result, driver.updates()))
            })
            .unwrap_or_default();
        if let Some((state, updates)) = updates {
            updates.apply(state);
        }
        result
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
        for filter in Cloud::subscriptions(None) {
            drop(client.subscribe(&filter, QoS::AtLeastOnce));
        }
        client.connect();
        self.with(|driver| {
            let faults = driver.state.sandbox.get_untracked().map(|s| s.faults);
            driver.cloud.set_fault_urls(faults);
            driver.client = Some(client);
        });
        // The conformance suite's clock.
        let _ = set_interval_with_handle(
            move || self.tick_suite(),
            std::time::Duration::from_millis(200),
        );
    }

    /// Answer T4 pulls with the selected package.
    pub fn set_answer_pulls(self, answer: bool) {
        self.with(|driver| driver.answer_pulls = answer);
    }

    fn on_event(self, event: ClientEvent) {
        let ClientEvent::Session(Event::Message(message)) = event else {
            return;
        };
        self.with(|driver| {
            let state = driver.state;
            let now = now_ms();
            driver.external(&message.topic, &message.payload, message.qos as u8, now);
            // While the suite runs, it alone decides what a pull is answered with.
            let out = match &mut driver.suite {
                Some(suite) => {
                    suite.handle_message(&mut driver.cloud, &message.topic, &message.payload, now)
                }
                None => {
                    let pull = driver
                        .answer_pulls
                        .then(|| state.package.get_untracked())
                        .flatten();
                    if driver.cloud.pull_package() != pull.as_ref() {
                        driver.cloud.set_pull_package(pull);
                    }
                    driver.cloud.message(&message.topic, &message.payload, now)
                }
            };
            driver.send(out);
        });
    }

    /// Runs the conformance suite against `device` with `package` (loaded for delivery over
    /// MQTT first when it can be; otherwise that case is not applicable).
    pub async fn start_suite(
        self,
        device: DeviceKey,
        package: Package,
        options: SuiteOptions,
    ) -> Result<(), String> {
        if self.with(|d| Some(d.suite.as_ref().is_some_and(|s| !s.is_done()))) == Some(true) {
            return Err("a conformance run is under way".into());
        }
        if Cloud::check_deliverable(&package).is_ok() {
            let _ = self.prepare_stream(&package).await;
        }
        let versions: Vec<(String, String)> = self
            .with(|driver| {
                driver.state.devices.with_untracked(|rows| {
                    rows.iter()
                        .find(|r| r.name.with_value(|n| *n == device))
                        .map(|r| r.status.with_untracked(|s| s.versions.clone()))
                })
            })
            .unwrap_or_default();
        self.with(|driver| {
            if driver.client.is_none() {
                return Some(Err("the sandbox cloud is not connected".to_owned()));
            }
            let mut suite = Suite::new(device, package, Case::ALL, options, now_ms());
            for (module, version) in &versions {
                suite.knows_version(module, version);
            }
            driver
                .state
                .conformance
                .set(Some((suite.report(), None, true)));
            driver.suite = Some(suite);
            Some(Ok(()))
        })
        .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".into()))
    }

    /// Stops the conformance run (its results so far stay).
    pub fn stop_suite(self) {
        self.with(|driver| {
            if let Some(suite) = driver.suite.take() {
                driver
                    .state
                    .conformance
                    .set(Some((suite.report(), None, false)));
            }
        });
    }

    fn tick_suite(self) {
        self.with(|driver| {
            let Some(suite) = &mut driver.suite else {
                return;
            };
            suite.handle_timeout(&mut driver.cloud, now_ms());
            let out: Vec<Outgoing> = std::iter::from_fn(|| suite.poll_transmit()).collect();
            // The card is redrawn from the report below; the events say nothing more here.
            while suite.poll_event().is_some() {}
            let running = !suite.is_done();
            let view = (suite.report(), suite.current(), running);
            if !running {
                driver.suite = None;
            }
            if driver.state.conformance.with_untracked(|c| {
                c.as_ref().is_none_or(|(r, case, run)| {
                    r.cases.len() != view.0.cases.len() || *case != view.1 || *run != view.2
                })
            }) {
                driver.state.conformance.set(Some(view));
            }
            driver.send(out);
        });
    }

    /// Forgets an external device: its row, its job.
    pub fn forget_external(self, id: u32) {
        self.with(|driver| {
            let row = driver
                .state
                .devices
                .with_untracked(|rows| rows.iter().find(|r| r.id == id && r.external).copied());
            if let Some(row) = row {
                let key = row.name.get_value();
                if let Ok(i) = driver.externals.binary_search_by(|(k, _)| k.cmp(&key)) {
                    driver.externals.remove(i);
                }
                driver
                    .state
                    .devices
                    .update(|rows| rows.retain(|r| r.id != id));
                if driver.state.selected.get_untracked() == Some(id) {
                    driver.state.selected.set(None);
                }
                driver.cloud.forget(&[row.name.get_value()]);
                set_timeout(
                    move || super::device::dispose_row(row),
                    std::time::Duration::from_millis(0),
                );
            }
        });
    }

    /// Cancels batch `id`: its devices whose job has not ended become cancelled.
    pub fn cancel(self, id: u32) -> Result<usize, String> {
        self.with(|driver| {
            let result = driver.cloud.cancel(id, now_ms());
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
            Some(Ok(sent))
        })
        .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".into()))
    }

    /// Lends the cloud to a scenario run at `now`: due actions are pushed (and logged as this
    /// session's pushes), the jobs checked; returns what happened.
    pub fn drive(self, run: &mut ScenarioRun, now: u64) -> Vec<RunEvent> {
        self.with(|driver| {
            run.handle_timeout(&mut driver.cloud, now);
            driver.send(std::iter::from_fn(|| run.poll_transmit()).collect());
            let events: Vec<RunEvent> = std::iter::from_fn(|| run.poll_event()).collect();
            for event in &events {
                if let RunEvent::Pushed {
                    package,
                    kind,
                    method,
                    devices,
                    at_ms,
                    ..
                } = event
                {
                    driver.pushes.push(PushRecord {
                        at_ms: *at_ms,
                        package: package.clone(),
                        kind: *kind,
                        method: *method,
                        devices: devices.clone(),
                    });
                }
            }
            Some(events)
        })
        .unwrap_or_default()
    }

    /// The run's expectations as they stand.
    pub fn live(self, run: &ScenarioRun) -> Vec<otalab_sim::ExpectationResult> {
        self.with(|driver| Some(run.live(&driver.cloud, now_ms())))
            .unwrap_or_default()
    }

    /// When the run (with this cloud's job timers) is due next.
    pub fn run_due(self, run: &ScenarioRun) -> Option<u64> {
        self.with(|driver| run.poll_timeout(&driver.cloud))
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
        });
    }

    /// The pushes of this session, oldest first.
    pub fn pushes(self) -> Vec<PushRecord> {
        self.with(|driver| driver.pushes.clone())
    }
}

impl Driver {
    /// A message from a device on the broker: shown on its row when the tab does not simulate
    /// it (a row is made on its first version report), and logged.
    fn external(&mut self, topic: &str, payload: &[u8], qos: u8, now: u64) {
        let Ok(parsed) = Topic::parse(topic) else {
            return;
        };
        let key = DeviceKey(parsed.product_key.clone(), parsed.device_name.clone());
        let at = self.externals.binary_search_by(|(k, _)| k.cmp(&key));
        let row = match at {
            Ok(i) => self.externals[i].1,
            // A device of this tab (only a version report can introduce a new one).
            Err(_)
                if parsed.kind != TopicKind::Inform
                    || self.state.devices.with_untracked(|rows| {
                        rows.iter().any(|r| r.name.with_value(|n| *n == key))
                    }) =>
            {
                return;
            }
            Err(i) => {
                let row = DeviceRow {
                    id: self.next_external,
                    status: RwSignal::new(DeviceStatus {
                        link: Link::Online,
                        ..DeviceStatus::default()
                    }),
                    name: StoredValue::new(key.clone()),
                    verdict: RwSignal::new(None),
                    external: true,
                };
                self.next_external += 1;
                self.externals.insert(i, (key.clone(), row));
                self.state.devices.update(|rows| rows.push(row));
                row
            }
        };
        let name = format!("{}/{}", key.0, key.1);
        let text = super::describe_payload(topic, payload);
        self.state
            .log_message(Direction::Out, &name, topic, &text, Some(qos), false);
        row.status.update(|s| {
            s.last_seen_ms = Some(now);
            s.link = Link::Online;
            match parsed.kind {
                TopicKind::Inform => {
                    if let Ok(report) = VersionReport::decode(payload) {
                        let module = report.module.as_str().to_owned();
                        let version = report.version.as_str().to_owned();
                        match s.versions.iter_mut().find(|(m, _)| *m == module) {
                            Some(entry) => entry.1 = version,
                            None => s.versions.push((module, version)),
                        }
                        if matches!(s.phase, Phase::Downloading { .. } | Phase::Flashing) {
                            s.phase = Phase::Idle;
                        }
                    }
                }
                TopicKind::Progress => {
                    if let Ok(progress) = Progress::decode(payload) {
                        let step = progress.step;
                        s.history.push(StepRecord {
                            at_ms: now,
                            step,
                            desc: progress.desc.clone(),
                        });
                        match step {
                            Step::Failed(failure) => {
                                s.failure = Some((failure, progress.desc.clone()));
                                s.phase = Phase::Failed {
                                    code: failure,
                                    desc: progress.desc.clone(),
                                };
                            }
                            Step::Percent(percent) => {
                                s.failure = None;
                                s.percent = Some(percent);
                                s.phase = if percent >= 100 {
                                    Phase::Flashing
                                } else {
                                    Phase::Downloading {
                                        received: 0,
                                        total: 0,
                                    }
                                };
                            }
                        }
                    }
                }
                _ => {}
            }
        });
    }

    /// The external device's row that `topic` is about.
    fn is_external(&self, topic: &str) -> Option<DeviceRow> {
        let parsed = Topic::parse(topic).ok()?;
        let key = DeviceKey(parsed.product_key, parsed.device_name);
        let i = self.externals.binary_search_by(|(k, _)| k.cmp(&key)).ok()?;
        Some(self.externals[i].1)
    }

    /// What the cloud's events since the last call change on the page.
    fn updates(&mut self) -> Option<(AppState, Updates)> {
        let mut updates = Updates::default();
        let mut batches = false;
        while let Some(event) = self.cloud.poll_event() {
            match event {
                CloudEvent::VerdictChanged { device, verdict } => {
                    updates.verdicts.retain(|(k, _)| *k != device);
                    updates.verdicts.push((device, verdict));
                }
                CloudEvent::BatchChanged { .. } => batches = true,
                CloudEvent::JobCreated { .. } => {}
            }
        }
        if batches {
            updates.batches = Some(self.cloud.batch_statuses());
        }
        (batches || !updates.verdicts.is_empty()).then_some((self.state, updates))
    }

    fn send(&self, out: Vec<Outgoing>) {
        let Some(client) = &self.client else { return };
        for message in out {
            let qos = match message.qos {
                Qos::AtMostOnce => QoS::AtMostOnce,
                Qos::AtLeastOnce => QoS::AtLeastOnce,
            };
            // What the cloud sends an external device is in the log, and counted on its row.
            if let Some(row) = self.is_external(&message.topic) {
                let name = row.name.with_value(DeviceKey::to_string);
                let text = super::describe_payload(&message.topic, &message.payload);
                self.state.log_message(
                    Direction::In,
                    &name,
                    &message.topic,
                    &text,
                    Some(qos as u8),
                    false,
                );
                if Topic::parse(&message.topic).is_ok_and(|t| t.kind == TopicKind::Upgrade) {
                    row.status.update(|s| {
                        s.notices_sent += 1;
                        if let Ok(notice) = otalab_protocol::UpgradeNotice::decode(&message.payload)
                        {
                            s.notice = Some((
                                serde_json::to_value(&notice).unwrap_or_default(),
                                String::from_utf8_lossy(&message.payload).into_owned(),
                            ));
                            s.phase = Phase::Notified;
                            s.percent = None;
                            s.failure = None;
                        }
                    });
                }
            }
            let _ = client.publish_token(&message.topic, &message.payload, qos);
        }
    }
}
