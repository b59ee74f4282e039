//! One simulated device as a tokio task: its `otalab-mqtt` session over a real link, its
//! `otalab-sim` machine, its HTTP downloads (bounded in number across the process) and its
//! timers. The task only carries out what the two machines decide.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use otalab_mqtt::{Event, Options, QoS};
use otalab_sim::{Action, Device, DeviceConfig, DeviceJudge, DeviceKey, Job, Phase};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, sleep_until};

use crate::http::{self, Body};
use crate::link::{MqttLink, Ramp};
use crate::now_ms;
use crate::transport::Endpoint;

/// What every device task shares.
pub struct Shared {
    /// Devices that reached CONNACK at least once.
    pub connected: AtomicUsize,
    /// Devices whose machine reached `Upgraded`.
    pub upgraded: AtomicUsize,
    /// Devices whose machine reported a failure.
    pub failed: AtomicUsize,
    /// Downloads running at once.
    pub downloads: Arc<Semaphore>,
    /// How the devices' connections are opened (at once, per second) and how many failed.
    pub ramp: Arc<Ramp>,
    /// Becomes true when the run ends.
    pub stop: watch::Receiver<bool>,
}

/// One device to run.
pub struct DeviceRun {
    /// (productKey, deviceName).
    pub key: DeviceKey,
    /// The machine's configuration.
    pub config: DeviceConfig,
    /// MQTT options (client id, login).
    pub options: Options,
    /// Where to connect.
    pub endpoint: Endpoint,
    /// Judge the upgrade from the device side (when the real cloud pushes).
    pub judge: bool,
}

/// What a device task returns when the run ends.
pub struct DeviceOutcome {
    /// (productKey, deviceName).
    pub key: DeviceKey,
    /// The device-side job (when judging locally).
    pub job: Option<Job>,
    /// The version the device runs at the end.
    pub version: Option<String>,
}

async fn next_chunk(
    body: &mut Option<Body>,
) -> Option<Result<hyper::body::Bytes, http::HttpError>> {
    match body {
        Some(body) => body.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_to(deadline: Option<u64>) {
    match deadline {
        Some(at) => {
            let wait = at.saturating_sub(now_ms());
            sleep_until(Instant::now() + Duration::from_millis(wait)).await;
        }
        None => std::future::pending().await,
    }
}

async fn acquire(semaphore: &Arc<Semaphore>, wanted: bool) -> Option<OwnedSemaphorePermit> {
    if !wanted {
        return std::future::pending().await;
    }
    semaphore.clone().acquire_owned().await.ok()
}

struct Runner {
    key: DeviceKey,
    link: MqttLink,
    machine: Device,
    shared: Arc<Shared>,
    body: Option<Body>,
    fetch: Option<(String, u64)>,
    download_permit: Option<OwnedSemaphorePermit>,
    wake_at: Option<u64>,
    ever_connected: bool,
    counted: bool,
    judge: Option<DeviceJudge>,
}

/// Runs one device until the run stops.
pub async fn run(device: DeviceRun, shared: Arc<Shared>) -> DeviceOutcome {
    let mut stop = shared.stop.clone();
    let mut r = Runner {
        key: device.key,
        link: MqttLink::new(device.options, device.endpoint).ramp(shared.ramp.clone()),
        machine: Device::new(device.config),
        shared,
        body: None,
        fetch: None,
        download_permit: None,
        wake_at: None,
        ever_connected: false,
        counted: false,
        judge: device.judge.then(DeviceJudge::default),
    };
    // Remembered before the first CONNACK: the session subscribes to all of them in one
    // SUBSCRIBE after every (re)connection.
    for topic in r.machine.subscriptions() {
        r.link.subscribe(&topic, QoS::AtLeastOnce);
    }
    // A late joiner (`device.join`) stays offline until its time.
    let mut join_at = match r.machine.config().join_after_ms {
        0 => {
            r.link.start();
            None
        }
        after => Some(now_ms() + after),
    };
    loop {
        Box::pin(r.drain()).await;
        if *stop.borrow() {
            break;
        }
        let deadline = [r.link.deadline(), r.wake_at, join_at]
            .into_iter()
            .flatten()
            .min();
        if r.fetch.is_some() && r.body.is_none() && r.download_permit.is_some() {
            // A resume: the download keeps its permit.
            Box::pin(r.start_fetch()).await;
            continue;
        }
        let downloads = r.shared.downloads.clone();
        let want_permit = r.fetch.is_some() && r.body.is_none();
        tokio::select! {
            _ = stop.changed() => break,
            bytes = r.link.read() => r.link.received(bytes),
            chunk = next_chunk(&mut r.body) => Box::pin(r.on_chunk(chunk)).await,
            permit = acquire(&downloads, want_permit) => {
                r.download_permit = permit;
                Box::pin(r.start_fetch()).await;
            }
            _ = sleep_to(deadline) => {
                let now = now_ms();
                if join_at.is_some_and(|at| now >= at) {
                    join_at = None;
                    r.link.start();
                }
                r.link.tick(now);
                if r.wake_at.is_some_and(|at| now >= at) {
                    r.wake_at = None;
                    let actions = r.machine.tick(now);
                    r.actions(actions, now);
                }
            }
        }
    }
    Box::pin(r.link.close()).await;
    let version = r
        .machine
        .config()
        .modules
        .get(otalab_protocol::Module::DEFAULT)
        .cloned();
    DeviceOutcome {
        key: r.key,
        job: r.judge.and_then(DeviceJudge::into_job),
        version,
    }
}

impl Runner {
    /// Carries out the link's work and the machine's reactions to what happened, until
    /// neither has more to do.
    async fn drain(&mut self) {
        loop {
            let events = self.link.drive().await;
            if events.is_empty() {
                break;
            }
            let now = now_ms();
            for event in events {
                match event {
                    Event::Connected { .. } => {
                        if !self.ever_connected {
                            self.ever_connected = true;
                            self.shared.connected.fetch_add(1, Ordering::Relaxed);
                        }
                        let actions = self.machine.connected(now);
                        self.actions(actions, now);
                    }
                    Event::Message(message) => {
                        if let Ok(Some(actions)) =
                            self.machine.message(&message.topic, &message.payload, now)
                        {
                            self.note_notice(now);
                            self.actions(actions, now);
                        }
                    }
                    Event::Disconnected(_)
                    | Event::Reconnecting { .. }
                    | Event::Subscribed { .. }
                    | Event::Acked(_) => {}
                }
            }
        }
        self.count_outcome();
    }

    fn count_outcome(&mut self) {
        if self.counted {
            return;
        }
        let counter = match self.machine.phase() {
            Phase::Upgraded { .. } => &self.shared.upgraded,
            Phase::Failed { .. } => &self.shared.failed,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.counted = true;
    }

    /// A new notice starts a device-side job (when judging locally).
    fn note_notice(&mut self, now: u64) {
        if let (Some(judge), Some(notice)) = (&mut self.judge, self.machine.notice()) {
            judge.notice(notice, now);
        }
    }

    fn actions(&mut self, actions: Vec<Action>, now: u64) {
        for action in actions {
            match action {
                Action::Publish { topic, payload } => {
                    if let Some(judge) = &mut self.judge {
                        judge.published(&topic, payload.as_bytes(), now);
                    }
                    self.link
                        .publish(&topic, payload.as_bytes(), QoS::AtLeastOnce);
                }
                Action::RequestBlock { topic, payload } => {
                    self.link
                        .publish(&topic, payload.as_bytes(), QoS::AtMostOnce);
                }
                Action::Fetch { url, offset } => {
                    self.body = None;
                    self.fetch = Some((url, offset));
                }
                Action::AbortFetch => {
                    self.body = None;
                    self.fetch = None;
                    self.download_permit = None;
                }
                Action::Disconnect => self.link.drop_link(),
                Action::Connect => self.link.start(),
                Action::WakeAt(at) => self.wake_at = Some(at),
            }
        }
    }

    async fn start_fetch(&mut self) {
        let Some((url, offset)) = self.fetch.clone() else {
            self.download_permit = None;
            return;
        };
        match Box::pin(http::get(&url, offset)).await {
            Ok(body) => self.body = Some(body),
            Err(error) => {
                self.fetch = None;
                self.download_permit = None;
                let actions =
                    self.machine
                        .fetch_failed(error.status(), &error.to_string(), now_ms());
                self.actions(actions, now_ms());
            }
        }
    }

    async fn on_chunk(&mut self, chunk: Option<Result<hyper::body::Bytes, http::HttpError>>) {
        let now = now_ms();
        let actions = match chunk {
            Some(Ok(bytes)) => {
                let throttle = self.machine.config().throttle_bytes_per_sec;
                let actions = self.machine.data(&bytes, now);
                if throttle > 0 {
                    let ms = bytes.len() as u64 * 1000 / u64::from(throttle);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                actions
            }
            Some(Err(error)) => {
                self.finish_fetch();
                self.machine.fetch_failed(None, &error.to_string(), now)
            }
            None => {
                self.finish_fetch();
                self.machine.fetch_ended(now)
            }
        };
        self.actions(actions, now);
    }

    fn finish_fetch(&mut self) {
        self.body = None;
        self.fetch = None;
        self.download_permit = None;
    }
}
