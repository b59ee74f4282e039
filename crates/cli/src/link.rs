//! The runner's one MQTT link loop, for its devices and its sandbox cloud alike: an
//! `otalab-mqtt` [`Session`] over a [`Link`] (TCP, TLS, WebSocket). It carries out the
//! session's socket work (open, send, close; the packets of one round in one write), feeds it
//! what the socket reads and the time of its deadlines, and hands the caller only what happened
//! ([`Event`]): connected, a message, a SUBACK, a lost link. Reconnecting is the session's
//! (backoff, resubscribing, resending unacknowledged QoS 1 publishes).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otalab_mqtt::{Event, Options, Output, QoS, Session};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::now_ms;
use crate::transport::{Endpoint, Link};

/// How fast a process's devices connect, shared by all of them: at most `at_once`
/// connections being opened (from the TCP connect until CONNACK or the failure), and, with a
/// rate, attempts started at most `rate` per second, evenly spaced. Reconnections go through
/// it too. It counts the attempts that failed (refused, reset, timed out, or a CONNACK
/// refusal): the figure that says the ramp is too fast for the broker.
#[derive(Debug)]
pub struct Ramp {
    opening: Arc<Semaphore>,
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
    failures: AtomicU64,
}

impl Ramp {
    /// At most `at_once` connections opening at once (at least 1) and, when `rate` is not 0,
    /// at most `rate` attempts started per second.
    pub fn new(at_once: usize, rate: u32) -> Self {
        Self {
            opening: Arc::new(Semaphore::new(at_once.max(1))),
            interval: (rate > 0).then(|| Duration::from_secs(1) / rate),
            next: Mutex::new(None),
            failures: AtomicU64::new(0),
        }
    }

    /// Connection attempts that failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Waits for a place among the connections opening at once, then for this attempt's turn.
    async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.opening.clone().acquire_owned().await.ok();
        if let Some(interval) = self.interval {
            let slot = {
                let now = Instant::now();
                let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
                let slot = next.map_or(now, |at| at.max(now));
                *next = Some(slot + interval);
                slot
            };
            tokio::time::sleep_until(slot).await;
        }
        permit
    }
}

/// A session and its link.
pub struct MqttLink {
    session: Session,
    endpoint: Endpoint,
    link: Option<Link>,
    work: VecDeque<Output>,
    /// Packets waiting for the next write.
    outbuf: Vec<u8>,
    /// Bounds and paces the connections being opened (a burst of 10,000 SYNs overflows
    /// accept queues); the permit is held from the open until CONNACK or the failure.
    ramp: Option<Arc<Ramp>>,
    open_permit: Option<OwnedSemaphorePermit>,
    read_chunk: Option<usize>,
}

impl MqttLink {
    /// A session with `options`, to connect to `endpoint` once [`start`](Self::start)ed.
    pub fn new(options: Options, endpoint: Endpoint) -> Self {
        Self {
            session: Session::new(options),
            endpoint,
            link: None,
            work: VecDeque::new(),
            outbuf: Vec::new(),
            ramp: None,
            open_permit: None,
            read_chunk: None,
        }
    }

    /// Opens connections as `ramp` allows, and counts the failed attempts there.
    pub fn ramp(mut self, ramp: Arc<Ramp>) -> Self {
        self.ramp = Some(ramp);
        self
    }

    /// One failed connection attempt (before CONNACK).
    fn attempt_failed(&mut self) {
        if self.open_permit.take().is_some()
            && let Some(ramp) = &self.ramp
        {
            ramp.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reads up to `bytes` at a time (the cloud reads block requests of many devices).
    pub fn read_chunk(mut self, bytes: usize) -> Self {
        self.read_chunk = Some(bytes);
        self
    }

    /// Subscribes `filter` now and after every reconnection.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) {
        if let Ok(out) = self.session.subscribe(filter, qos, now_ms()) {
            self.work.extend(out);
        }
    }

    /// Publishes (QoS 1 publishes wait for the link and are resent until acknowledged).
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS) {
        if let Ok((_, out)) = self.session.publish(topic, payload, qos, now_ms()) {
            self.work.extend(out);
        }
    }

    /// Connects (and keeps reconnecting).
    pub fn start(&mut self) {
        let out = self.session.start();
        self.work.extend(out);
    }

    /// Drops the link at once, as a device that loses power does (nothing more is written).
    pub fn drop_link(&mut self) {
        let out = self.session.stop(now_ms());
        self.work.extend(out);
        self.link = None;
    }

    /// Carries out the session's socket work until none is left; returns what happened.
    pub async fn drive(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            while let Some(output) = self.work.pop_front() {
                match output {
                    Output::Open => self.open().await,
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
                    other => {
                        match other {
                            Output::Connected { .. } => self.open_permit = None,
                            Output::Disconnected(_) => self.attempt_failed(),
                            _ => {}
                        }
                        events.extend(other.into_event());
                    }
                }
            }
            if self.outbuf.is_empty() {
                return events;
            }
            self.flush().await;
        }
    }

    async fn open(&mut self) {
        if self.open_permit.is_none()
            && let Some(ramp) = &self.ramp
        {
            self.open_permit = ramp.admit().await;
        }
        match Box::pin(Link::open(&self.endpoint)).await {
            Ok(mut link) => {
                if let Some(bytes) = self.read_chunk {
                    link.set_read_chunk(bytes);
                }
                self.link = Some(link);
                let out = self.session.opened(now_ms());
                self.work.extend(out);
            }
            Err(_) => {
                self.attempt_failed();
                let out = self.session.closed(now_ms());
                self.work.extend(out);
            }
        }
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

    /// The next bytes from the link (never ready without one): give them to
    /// [`received`](Self::received).
    pub async fn read(&mut self) -> std::io::Result<Vec<u8>> {
        match &mut self.link {
            Some(link) => link.read().await,
            None => std::future::pending().await,
        }
    }

    /// What [`read`](Self::read) gave: bytes for the session, or a lost link.
    pub fn received(&mut self, read: std::io::Result<Vec<u8>>) {
        let now = now_ms();
        let out = match read {
            Ok(bytes) if !bytes.is_empty() => self.session.received(&bytes, now),
            _ => {
                self.link = None;
                self.session.closed(now)
            }
        };
        self.work.extend(out);
    }

    /// When the session wants [`tick`](Self::tick) (keep-alive, retries, reconnection).
    pub fn deadline(&self) -> Option<u64> {
        self.session.next_deadline()
    }

    /// Time passed.
    pub fn tick(&mut self, now: u64) {
        let out = self.session.tick(now);
        self.work.extend(out);
    }

    /// Closes the link (the end of the run).
    pub async fn close(&mut self) {
        if let Some(link) = &mut self.link {
            Box::pin(link.close()).await;
        }
    }
}
