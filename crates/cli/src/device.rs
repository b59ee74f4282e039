//! One simulated device as a tokio task: its `otalab-mqtt` session over a real link, its
//! `otalab-sim` machine, its HTTP downloads (bounded in number across the process) and its
//! timers. The task only carries out what the two machines decide.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use otalab_mqtt::{Options, Output, QoS, Session};
use otalab_protocol::{Progress, Topic, TopicKind, VersionReport};
use otalab_sim::{Action, Device, DeviceConfig, DeviceKey, Job, Phase};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, sleep_until};

use crate::http::{self, Body};
use crate::now_ms;
use crate::transport::{Endpoint, Link};

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
    /// Connections being opened at once (a burst of 10,000 SYNs overflows accept queues).
    pub opening: Arc<Semaphore>,
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

async fn read(link: &mut Option<Link>) -> std::io::Result<Vec<u8>> {
    match link {
        Some(link) => link.read().await,
        None => std::future::pending().await,
    }
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
    session: Session,
    machine: Device,
    endpoint: Endpoint,
    shared: Arc<Shared>,
    link: Option<Link>,
    body: Option<Body>,
    fetch: Option<(String, u64)>,
    download_permit: Option<OwnedSemaphorePermit>,
    open_permit: Option<OwnedSemaphorePermit>,
    wake_at: Option<u64>,
    ever_connected: bool,
    counted: bool,
    judge: Option<Option<Job>>,
    work: VecDeque<Output>,
    /// Packets waiting for the next write.
    outbuf: Vec<u8>,
}

/// Runs one device until the run stops.
pub async fn run(device: DeviceRun, shared: Arc<Shared>) -> DeviceOutcome {
    let mut stop = shared.stop.clone();
    let mut r = Runner {
        key: device.key,
        session: Session::new(device.options),
        machine: Device::new(device.config),
        endpoint: device.endpoint,
        shared,
        link: None,
        body: None,
        fetch: None,
        download_permit: None,
        open_permit: None,
        wake_at: None,
        ever_connected: false,
        counted: false,
        judge: device.judge.then_some(None),
        work: VecDeque::new(),
        outbuf: Vec::new(),
    };
    // Remembered before the first CONNACK: the session subscribes to all of them in one
    // SUBSCRIBE after every (re)connection.
    for topic in r.machine.subscriptions() {
        let _ = r.session.subscribe(&topic, QoS::AtLeastOnce, now_ms());
    }
    let start = r.session.start();
    r.work.extend(start);
    loop {
        Box::pin(r.drain()).await;
        if *stop.borrow() {
            break;
        }
        let deadline = [r.session.next_deadline(), r.wake_at]
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
            bytes = read(&mut r.link) => {
                let now = now_ms();
                match bytes {
                    Ok(bytes) if !bytes.is_empty() => {
                        let out = r.session.received(&bytes, now);
                        r.work.extend(out);
                    }
                    _ => {
                        r.link = None;
                        let out = r.session.closed(now);
                        r.work.extend(out);
                    }
                }
            }
            chunk = next_chunk(&mut r.body) => Box::pin(r.on_chunk(chunk)).await,
            permit = acquire(&downloads, want_permit) => {
                r.download_permit = permit;
                Box::pin(r.start_fetch()).await;
            }
            _ = sleep_to(deadline) => {
                let now = now_ms();
                let out = r.session.tick(now);
                r.work.extend(out);
                if r.wake_at.is_some_and(|at| now >= at) {
                    r.wake_at = None;
                    let actions = r.machine.tick(now);
                    r.actions(actions, now);
                }
            }
        }
    }
    if let Some(link) = &mut r.link {
        Box::pin(link.close()).await;
    }
    let version = r
        .machine
        .config()
        .modules
        .get(otalab_protocol::Module::DEFAULT)
        .cloned();
    DeviceOutcome {
        key: r.key,
        job: r.judge.flatten(),
        version,
    }
}

impl Runner {
    /// Carries out queued session outputs (and what they lead to) until none are left. The
    /// packets of one round go out in one write.
    async fn drain(&mut self) {
        loop {
            while let Some(output) = self.work.pop_front() {
                self.output(output).await;
            }
            if self.outbuf.is_empty() {
                break;
            }
            self.flush().await;
        }
        self.count_outcome();
    }

    /// Writes the packets gathered so far; a failed write is a lost link.
    async fn flush(&mut self) {
        if self.outbuf.is_empty() {
            return;
        }
        let failed = match &mut self.link {
            Some(link) => Box::pin(link.write(&self.outbuf)).await.is_err(),
            None => false,
        };
        self.outbuf.clear();
        if self.outbuf.capacity() > 16 * 1024 {
            self.outbuf = Vec::new();
        }
        if failed {
            self.link = None;
            let out = self.session.closed(now_ms());
            self.work.extend(out);
        }
    }

    async fn output(&mut self, output: Output) {
        let now = now_ms();
        match output {
            Output::Open => {
                if self.open_permit.is_none() {
                    self.open_permit = self.shared.opening.clone().acquire_owned().await.ok();
                }
                match Box::pin(Link::open(&self.endpoint)).await {
                    Ok(link) => {
                        self.link = Some(link);
                        let out = self.session.opened(now_ms());
                        self.work.extend(out);
                    }
                    Err(_) => {
                        self.open_permit = None;
                        let out = self.session.closed(now_ms());
                        self.work.extend(out);
                    }
                }
            }
            Output::Send(bytes) => {
                if self.link.is_some() {
                    self.outbuf.extend_from_slice(&bytes);
                }
            }
            Output::Close => {
                self.flush().await;
                if let Some(mut link) = self.link.take() {
                    Box::pin(link.close()).await;
                }
                self.open_permit = None;
            }
            Output::Connected { .. } => {
                self.open_permit = None;
                if !self.ever_connected {
                    self.ever_connected = true;
                    self.shared.connected.fetch_add(1, Ordering::Relaxed);
                }
                let actions = self.machine.connected(now);
                self.actions(actions, now);
            }
            Output::Disconnected(_) => self.open_permit = None,
            Output::Message(message) => {
                if let Ok(Some(actions)) =
                    self.machine.message(&message.topic, &message.payload, now)
                {
                    self.note_notice(now);
                    self.actions(actions, now);
                }
            }
            Output::Reconnecting { .. } | Output::Subscribed { .. } | Output::Acked(_) => {}
        }
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
        let Some(judge) = &mut self.judge else { return };
        if let Some(notice) = self.machine.notice()
            && judge.as_ref().is_none_or(|j| j.notice.id != notice.id)
            && !matches!(
                judge.as_ref().map(|j| j.verdict),
                Some(otalab_sim::Verdict::Upgrading)
            )
        {
            *judge = Some(Job::new(notice.clone(), now));
        }
    }

    /// Feeds what the device publishes to its device-side job.
    fn judge_outgoing(&mut self, topic: &str, payload: &str, now: u64) {
        let Some(Some(job)) = &mut self.judge else {
            return;
        };
        match Topic::parse(topic).map(|t| t.kind) {
            Ok(TopicKind::Progress) => {
                if let Ok(p) = Progress::decode(payload.as_bytes()) {
                    job.progress(p.step.value(), &p.desc, now);
                }
            }
            Ok(TopicKind::Inform) => {
                if let Ok(r) = VersionReport::decode(payload.as_bytes()) {
                    job.version(&r.module, r.version.as_str(), now);
                }
            }
            _ => {}
        }
    }

    fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, now: u64) {
        if let Ok((_, out)) = self.session.publish(topic, payload, qos, now) {
            self.work.extend(out);
        }
    }

    fn actions(&mut self, actions: Vec<Action>, now: u64) {
        for action in actions {
            match action {
                Action::Publish { topic, payload } => {
                    self.judge_outgoing(&topic, &payload, now);
                    self.publish(&topic, payload.as_bytes(), QoS::AtLeastOnce, now);
                }
                Action::RequestBlock { topic, payload } => {
                    self.publish(&topic, payload.as_bytes(), QoS::AtMostOnce, now);
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
                Action::Disconnect => {
                    let out = self.session.stop(now);
                    self.work.extend(out);
                    self.link = None;
                }
                Action::Connect => {
                    let out = self.session.start();
                    self.work.extend(out);
                }
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
