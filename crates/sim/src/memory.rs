//! The in-memory world: simulated devices, the sandbox cloud, an in-process MQTT broker and an
//! HTTP file server, all on a virtual clock. Nothing sleeps and nothing touches a socket: an
//! event queue ordered by (virtual time, arrival) carries every message, download chunk and
//! timer, so flash and reboot times, stalls, quiet periods and time limits of minutes or hours
//! pass in as long as the work takes, and the same input gives the same run every time.
//!
//! - **The broker** routes each publish to the subscriptions whose filter matches (`+` and `#`
//!   wildcards; devices hold their exact OTA topics, the cloud [`Cloud::subscriptions`]) after a
//!   fixed latency, in order. Sessions are clean, as the runner's: a device that is offline
//!   misses what is published to it, and its QoS 1 publishes wait in its outbox until it is back
//!   (QoS 0 ones, such as block requests, are dropped). Nothing in OTA is retained, so the
//!   broker keeps no retained messages.
//! - **The file server** serves the firmware it was given by URL, in chunks at a link rate (or
//!   the device's own throttle), with the sandbox's broken URLs: `flaky` (half of any request
//!   from byte 0, then a reset), `expired` (403), `missing` (404), `slow` (200 KiB/s); an unknown
//!   URL is a 404 and a range past the end a 416.
//! - **The clock** starts at [`ORIGIN_MS`]; devices connect over the first
//!   [`MemoryOptions::ramp_ms`], each at a time drawn from the seed.
//!
//! [`run_scenario`] drives a [`ScenarioRun`] in it: `otalab run --in-memory`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::cloud::{Cloud, Outgoing, Qos};
use crate::conformance::Suite;
use crate::device::{Action, Device, DeviceConfig};
use crate::model::{DeviceKey, FaultUrls, Package};
use crate::report::Report;
use crate::run::{CHECK_EVERY_MS, FirmwareWanted, RunError, RunEvent, ScenarioRun};
use crate::scenario::{FleetDevice, Scenario, Shard};

/// Where the virtual clock starts: 2026-01-01T00:00:00Z.
pub const ORIGIN_MS: u64 = 1_767_225_600_000;

/// The in-memory file server's firmware base (a name under `.invalid`: it never resolves).
pub const FIRMWARE_BASE: &str = "http://sandbox.invalid/firmware/";

/// The in-memory file server's broken URLs, as the sandbox's.
pub fn fault_urls() -> FaultUrls {
    FaultUrls {
        flaky: "http://sandbox.invalid/flaky/".into(),
        expired: "http://sandbox.invalid/expired/".into(),
        missing: "http://sandbox.invalid/missing/".into(),
        slow: "http://sandbox.invalid/slow/".into(),
    }
}

/// The sandbox's demo firmware: (file name, size, generator seed).
pub const DEMO_FIRMWARE: [(&str, usize, u32); 2] = [
    ("demo-2.0.0.bin", 1024 * 1024, 1),
    ("demo-2.1.0.bin", 4 * 1024 * 1024, 2),
];

/// The bytes of the sandbox's demo firmware file `name` (`demo-2.0.0.bin`, `demo-2.1.0.bin`), or
/// `None` for another name.
pub fn demo_file(name: &str) -> Option<Vec<u8>> {
    DEMO_FIRMWARE
        .iter()
        .find(|(demo, _, _)| *demo == name)
        .map(|(_, size, seed)| demo_firmware(*size, *seed))
}

/// The bytes of a demo firmware file, the same as the sandbox writes (`demoFirmware` in
/// `sandbox/sandbox.mjs`: a linear congruential generator's high bytes).
pub fn demo_firmware(size: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..size)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 24) as u8
        })
        .collect()
}

/// The slow URL's rate, as the sandbox's (bytes per second).
pub const SLOW_BYTES_PER_SEC: u64 = 200 * 1024;

/// How the world behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryOptions {
    /// Seeds the devices' connection times and the cloud's first notice id.
    pub seed: u64,
    /// Broker latency per hop (ms).
    pub latency_ms: u64,
    /// Each device's download rate when it sets no throttle (bytes per second).
    pub link_bytes_per_sec: u64,
    /// Devices connect at times spread over this long (ms).
    pub ramp_ms: u64,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            latency_ms: 1,
            link_bytes_per_sec: 12_500_000,
            ramp_ms: 1000,
        }
    }
}

/// Bytes a download chunk carries.
const CHUNK: usize = 64 * 1024;
/// Bytes a slow download chunk carries.
const SLOW_CHUNK: usize = 8 * 1024;

/// A download under way: its next chunk.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    device: u32,
    /// The device's download number it belongs to.
    download: u32,
    /// The file (index into the world's URLs).
    file: u32,
    offset: u64,
    /// Where the answer ends (half the file on the flaky URL).
    end: u64,
    slow: bool,
}

/// A publish: topic and payload.
type Message = (String, Arc<[u8]>);

/// Who is on the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Cloud,
    Device(u32),
}

#[derive(Debug)]
enum Event {
    Deliver(Client, String, Arc<[u8]>),
    Connect(u32),
    Wake(u32),
    /// The next chunk of a download.
    Chunk(Chunk),
    SuiteTick,
    /// The cloud's upgrade-job timers are due.
    CloudTick,
}

/// What the world counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Messages the broker delivered.
    pub delivered: u64,
    /// Firmware bytes the file server sent.
    pub served_bytes: u64,
    /// Events handled.
    pub events: u64,
}

/// Devices, the cloud, a broker, a file server and a virtual clock. See the module docs.
pub struct World {
    now: u64,
    options: MemoryOptions,
    cloud: Cloud,
    suite: Option<Suite>,
    devices: Vec<Device>,
    online: Vec<bool>,
    ever: Vec<bool>,
    connected: usize,
    /// Each device's download number: a new fetch or an abort ends the one under way.
    fetching: Vec<u32>,
    /// QoS 1 publishes of offline devices.
    outbox: HashMap<u32, Vec<Message>>,
    exact: HashMap<String, Vec<Client>>,
    wildcard: Vec<(String, Client)>,
    files: BTreeMap<String, Arc<[u8]>>,
    urls: Vec<String>,
    faults: FaultUrls,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    stats: WorldStats,
    /// When a [`Event::CloudTick`] is queued for.
    cloud_tick: Option<u64>,
    /// When the last one ran.
    cloud_ticked: Option<u64>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .field("devices", &self.devices.len())
            .field("connected", &self.connected)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

/// Whether an MQTT topic filter (`+`, `#`) matches a topic.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A number from the seed and an index (splitmix64).
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl World {
    /// A world of these devices, serving `files` (by URL) and the broken URLs of
    /// [`fault_urls`]. The devices connect over the ramp; the cloud is subscribed from the start.
    pub fn new(
        configs: Vec<DeviceConfig>,
        files: BTreeMap<String, Arc<[u8]>>,
        options: MemoryOptions,
    ) -> Self {
        let n = configs.len();
        let mut cloud = Cloud::new(1000 + options.seed % 1_000_000_000);
        cloud.set_fault_urls(Some(fault_urls()));
        let mut world = Self {
            now: ORIGIN_MS,
            options,
            cloud,
            suite: None,
            devices: configs.into_iter().map(Device::new).collect(),
            online: vec![false; n],
            ever: vec![false; n],
            connected: 0,
            fetching: vec![0; n],
            outbox: HashMap::new(),
            exact: HashMap::new(),
            wildcard: Cloud::subscriptions(None)
                .into_iter()
                .map(|f| (f, Client::Cloud))
                .collect(),
            urls: files.keys().cloned().collect(),
            files,
            faults: fault_urls(),
            queue: BTreeMap::new(),
            seq: 0,
            stats: WorldStats::default(),
            cloud_tick: None,
            cloud_ticked: None,
        };
        for i in 0..n as u32 {
            // Spread over the ramp; a late joiner (`device.join`) after its delay.
            let delay = 1 + mix(options.seed, u64::from(i)) % options.ramp_ms.max(1);
            let join = world.devices[i as usize].config().join_after_ms;
            world.at(join + delay, Event::Connect(i));
        }
        world
    }

    /// The virtual time (ms since 1970).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The sandbox cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// The sandbox cloud, to push or to lend to a [`ScenarioRun`].
    pub fn cloud_mut(&mut self) -> &mut Cloud {
        &mut self.cloud
    }

    /// The devices, in the order given.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// Devices connected at least once.
    pub fn connected(&self) -> usize {
        self.connected
    }

    /// What the world counted so far.
    pub fn stats(&self) -> WorldStats {
        self.stats
    }

    /// Runs a conformance suite: every message to the cloud is shown to it first
    /// ([`Suite::handle_message`]), and it is stepped every 100 ms.
    /// With upgrade jobs, the suite also gets the platform's status messages of its device
    /// (online on every connection, offline on every disconnection), which
    /// `report_after_reboot` is judged on.
    pub fn set_suite(&mut self, suite: Suite) {
        // Only what the cloud's own filters do not cover: a message is delivered once.
        for filter in suite.subscriptions() {
            if !self
                .wildcard
                .iter()
                .any(|(f, _)| filter_matches(f, &filter))
            {
                self.wildcard.push((filter, Client::Cloud));
            }
        }
        self.suite = Some(suite);
        self.at(0, Event::SuiteTick);
    }

    /// The suite, while it runs or when it is done.
    pub fn suite(&self) -> Option<&Suite> {
        self.suite.as_ref()
    }

    /// Publishes what the cloud sends (through the broker, after its latency).
    pub fn publish(&mut self, out: impl IntoIterator<Item = Outgoing>) {
        for message in out {
            let payload: Arc<[u8]> = Arc::from(message.payload);
            self.route(&message.topic, &payload);
        }
        self.schedule_cloud();
    }

    /// Queues a [`Event::CloudTick`] for the cloud's next timer, unless one is queued earlier.
    fn schedule_cloud(&mut self) {
        // A timer that is still due after its tick runs a millisecond later, so the clock
        // always moves on.
        let after = self.cloud_ticked.map_or(0, |t| t + 1);
        if let Some(due) = self
            .cloud
            .poll_timeout()
            .map(|d| d.max(self.now).max(after))
            && self.cloud_tick.is_none_or(|queued| due < queued)
        {
            self.seq += 1;
            self.queue.insert((due, self.seq), Event::CloudTick);
            self.cloud_tick = Some(due);
        }
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Option<u64> {
        self.queue.first_key_value().map(|((at, _), _)| *at)
    }

    /// Handles every event due up to `until`, then sets the clock to `until`.
    pub fn advance_to(&mut self, until: u64) {
        self.schedule_cloud();
        while self.next_at().is_some_and(|at| at <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Handles the next event (moving the clock to its time); false when none is left.
    pub fn step(&mut self) -> bool {
        self.schedule_cloud();
        let Some(((at, _), event)) = self.queue.pop_first() else {
            return false;
        };
        self.now = self.now.max(at);
        self.stats.events += 1;
        let now = self.now;
        match event {
            Event::Deliver(Client::Cloud, topic, payload) => {
                let out = match &mut self.suite {
                    Some(suite) => suite.handle_message(&mut self.cloud, &topic, &payload, now),
                    None => self.cloud.message(&topic, &payload, now),
                };
                self.publish(out);
            }
            Event::Deliver(Client::Device(i), topic, payload) => {
                if self.online[i as usize]
                    && let Ok(Some(actions)) =
                        self.devices[i as usize].message(&topic, &payload, now)
                {
                    self.exec(i, actions);
                }
            }
            Event::Connect(i) => self.connect(i),
            Event::Wake(i) => {
                let actions = self.devices[i as usize].tick(now);
                self.exec(i, actions);
            }
            Event::Chunk(chunk) => self.chunk(chunk),
            Event::SuiteTick => {
                if let Some(suite) = &mut self.suite {
                    suite.handle_timeout(&mut self.cloud, now);
                    let out: Vec<Outgoing> = std::iter::from_fn(|| suite.poll_transmit()).collect();
                    let next = suite.poll_timeout(now);
                    self.publish(out);
                    if let Some(at) = next {
                        self.at(at.saturating_sub(now), Event::SuiteTick);
                    }
                }
            }
            Event::CloudTick => {
                if self.cloud_tick.is_some_and(|at| at <= now) {
                    self.cloud_tick = None;
                }
                self.cloud_ticked = Some(now);
                let out = self.cloud.handle_timeout(now);
                self.publish(out);
            }
        }
        self.schedule_cloud();
        true
    }

    fn at(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + delay, self.seq), event);
    }

    fn route(&mut self, topic: &str, payload: &Arc<[u8]>) {
        let latency = self.options.latency_ms;
        let mut to: Vec<Client> = self.exact.get(topic).cloned().unwrap_or_default();
        to.extend(
            self.wildcard
                .iter()
                .filter(|(f, _)| filter_matches(f, topic))
                .map(|(_, c)| *c),
        );
        for client in to {
            self.stats.delivered += 1;
            self.at(
                latency,
                Event::Deliver(client, topic.to_owned(), payload.clone()),
            );
        }
    }

    fn connect(&mut self, i: u32) {
        let d = i as usize;
        if self.online[d] {
            return;
        }
        self.online[d] = true;
        if !self.ever[d] {
            self.ever[d] = true;
            self.connected += 1;
        }
        // The session subscribes before anything else goes out (clean session: again on
        // every connection).
        for topic in self.devices[d].subscriptions() {
            let subscribers = self.exact.entry(topic).or_default();
            if !subscribers.contains(&Client::Device(i)) {
                subscribers.push(Client::Device(i));
            }
        }
        if let Some(waiting) = self.outbox.remove(&i) {
            for (topic, payload) in waiting {
                self.route(&topic, &payload);
            }
        }
        self.status(i, true);
        let actions = self.devices[d].connected(self.now);
        self.exec(i, actions);
    }

    /// The platform's status message for device `i`, while a suite runs (nobody else listens).
    fn status(&mut self, i: u32, online: bool) {
        #[cfg(feature = "jobs")]
        if self.suite.is_some() {
            let config = self.devices[i as usize].config();
            let key = DeviceKey::new(&config.product_key, &config.device_name);
            let payload =
                crate::model::status_payload(&key, online, self.now, self.now, "127.0.0.1");
            self.route(
                &crate::model::status_topic(&key),
                &Arc::from(payload.into_bytes()),
            );
        }
        #[cfg(not(feature = "jobs"))]
        let _ = (i, online);
    }

    fn disconnect(&mut self, i: u32) {
        let d = i as usize;
        self.online[d] = false;
        self.status(i, false);
        for topic in self.devices[d].subscriptions() {
            if let Some(subscribers) = self.exact.get_mut(&topic) {
                subscribers.retain(|c| *c != Client::Device(i));
                if subscribers.is_empty() {
                    self.exact.remove(&topic);
                }
            }
        }
    }

    fn device_publish(&mut self, i: u32, topic: String, payload: String, qos: Qos) {
        let payload: Arc<[u8]> = Arc::from(payload.into_bytes());
        if self.online[i as usize] {
            self.route(&topic, &payload);
        } else if qos == Qos::AtLeastOnce {
            self.outbox.entry(i).or_default().push((topic, payload));
        }
    }

    fn exec(&mut self, i: u32, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Publish { topic, payload } => {
                    self.device_publish(i, topic, payload, Qos::AtLeastOnce);
                }
                Action::RequestBlock { topic, payload } => {
                    self.device_publish(i, topic, payload, Qos::AtMostOnce);
                }
                Action::Fetch { url, offset } => self.fetch(i, &url, offset),
                Action::AbortFetch => self.fetching[i as usize] += 1,
                Action::Disconnect => self.disconnect(i),
                Action::Connect => {
                    let latency = self.options.latency_ms;
                    self.at(latency, Event::Connect(i));
                }
                Action::WakeAt(at) => {
                    let delay = at.saturating_sub(self.now);
                    self.at(delay, Event::Wake(i));
                }
            }
        }
    }

    /// A request for `url` from `offset`, as the sandbox's file server answers it.
    fn fetch(&mut self, i: u32, url: &str, offset: u64) {
        let d = i as usize;
        self.fetching[d] += 1;
        let download = self.fetching[d];
        let now = self.now;
        let (kind, name) = self.classify(url);
        let file = self
            .urls
            .iter()
            .position(|u| u.rsplit('/').next() == Some(name) || u == url);
        let failure = match (kind, file) {
            (Served::Expired, _) => Some((403, "Forbidden")),
            (Served::Missing, _) | (_, None) => Some((404, "Not Found")),
            _ => None,
        };
        if let Some((status, message)) = failure {
            let actions = self.devices[d].fetch_failed(Some(status), message, now);
            return self.exec(i, actions);
        }
        let Some(index) = file else { return };
        let size = self.files[&self.urls[index]].len() as u64;
        if offset >= size {
            let actions = self.devices[d].fetch_failed(Some(416), "Range Not Satisfiable", now);
            return self.exec(i, actions);
        }
        // The flaky URL sends the first half of a request from byte 0, then breaks.
        let end = if kind == Served::Flaky && offset == 0 {
            size / 2
        } else {
            size
        };
        let chunk = Chunk {
            device: i,
            download,
            file: index as u32,
            offset,
            end,
            slow: kind == Served::Slow,
        };
        self.at(self.options.latency_ms, Event::Chunk(chunk));
    }

    fn classify<'a>(&self, url: &'a str) -> (Served, &'a str) {
        let f = &self.faults;
        for (prefix, kind) in [
            (&f.flaky, Served::Flaky),
            (&f.expired, Served::Expired),
            (&f.missing, Served::Missing),
            (&f.slow, Served::Slow),
        ] {
            if let Some(name) = url.strip_prefix(prefix.as_str()) {
                return (kind, name);
            }
        }
        (Served::Plain, url)
    }

    fn chunk(&mut self, chunk: Chunk) {
        let Chunk {
            device: i,
            download,
            file,
            offset,
            end,
            slow,
        } = chunk;
        let d = i as usize;
        if download != self.fetching[d] {
            return;
        }
        let now = self.now;
        let bytes = self.files[&self.urls[file as usize]].clone();
        let size = if slow { SLOW_CHUNK } else { CHUNK } as u64;
        let stop = (offset + size).min(end);
        let mut actions = self.devices[d].data(&bytes[offset as usize..stop as usize], now);
        self.stats.served_bytes += stop - offset;
        let aborted = actions.iter().any(|a| matches!(a, Action::AbortFetch));
        if !aborted {
            if stop < end {
                let throttle = u64::from(self.devices[d].config().throttle_bytes_per_sec);
                let rate = if slow {
                    SLOW_BYTES_PER_SEC
                } else if throttle > 0 {
                    throttle
                } else {
                    self.options.link_bytes_per_sec
                };
                let delay = ((stop - offset) * 1000).div_ceil(rate.max(1));
                let next = Chunk {
                    offset: stop,
                    ..chunk
                };
                self.at(delay, Event::Chunk(next));
            } else if end < bytes.len() as u64 {
                self.fetching[d] += 1;
                actions.extend(self.devices[d].fetch_failed(None, "connection reset", now));
            } else {
                self.fetching[d] += 1;
                actions.extend(self.devices[d].fetch_ended(now));
            }
        }
        self.exec(i, actions);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    Plain,
    Flaky,
    Expired,
    Missing,
    Slow,
}

/// Why a scenario cannot run in memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// In memory the sandbox cloud plays the cloud: a scenario judged on the device side
    /// (Alibaba Cloud, or a broker with `cloud = false`) has nothing to push to it.
    #[error(
        "connection: in memory the sandbox cloud pushes and judges; this scenario's connection leaves that to another cloud (run it over sockets)"
    )]
    NoSandboxCloud,
    /// A firmware package could not be read.
    #[error("firmware.{key}: {message}")]
    Firmware {
        /// The firmware key.
        key: String,
        /// Why.
        message: String,
    },
    /// The run could not go on.
    #[error("{0}")]
    Run(#[from] RunError),
}

impl MemoryError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSandboxCloud => "NO_SANDBOX_CLOUD",
            Self::Firmware { .. } => "FIRMWARE_UNREADABLE",
            Self::Run(e) => e.code(),
        }
    }
}

/// A scenario's run and its world, ready for [`run_scenario`]: the shard's devices, each
/// firmware package read once with `read` (given what the run wants: `file` entries have a
/// URL under [`FIRMWARE_BASE`], `url` entries their own) and served at that URL.
pub fn prepare(
    scenario: &Scenario,
    fleet: &[FleetDevice],
    shard: Shard,
    options: MemoryOptions,
    mut read: impl FnMut(&FirmwareWanted) -> Result<Vec<u8>, String>,
) -> Result<(ScenarioRun, World), MemoryError> {
    if !scenario.sandbox_cloud() {
        return Err(MemoryError::NoSandboxCloud);
    }
    let keys: Vec<DeviceKey> = fleet
        .iter()
        .map(|d| DeviceKey::new(d.spec.product_key.clone(), d.spec.device_name.clone()))
        .collect();
    let mut run = ScenarioRun::new(scenario.clone(), keys, shard);
    run.set_faults(fleet);
    let mut files = BTreeMap::new();
    let mut streams = Vec::new();
    for want in run.firmware(Some(FIRMWARE_BASE))? {
        let bytes = read(&want).map_err(|message| MemoryError::Firmware {
            key: want.key.clone(),
            message,
        })?;
        let package = Package::describe(&want.url, &want.version, &bytes);
        let bytes: Arc<[u8]> = Arc::from(bytes);
        if want.stream {
            streams.push((package.clone(), bytes.clone()));
        }
        files.insert(want.url.clone(), bytes);
        run.handle_firmware(&want.key, package);
    }
    let configs = fleet
        .iter()
        .enumerate()
        .filter(|(i, _)| shard.contains(*i))
        .map(|(_, d)| scenario.device_config(d))
        .collect();
    let mut world = World::new(configs, files, options);
    for (package, bytes) in streams {
        world
            .cloud_mut()
            .add_stream(&package, bytes.to_vec())
            .map_err(|e| MemoryError::Firmware {
                key: package.name.clone(),
                message: format!("{}: {e}", e.code()),
            })?;
    }
    Ok((run, world))
}

/// Runs `run` in `world` until it finishes; returns its report (made at the virtual time).
pub fn run_scenario(mut run: ScenarioRun, world: &mut World) -> Result<Report, MemoryError> {
    if !run.cloud_judges() {
        return Err(MemoryError::NoSandboxCloud);
    }
    run.start(world.now())?;
    loop {
        run.handle_connected(world.connected(), world.now());
        if run
            .poll_timeout(world.cloud())
            .is_some_and(|at| at <= world.now())
        {
            let now = world.now();
            run.handle_timeout(world.cloud_mut(), now);
        }
        world.publish(std::iter::from_fn(|| run.poll_transmit()));
        while let Some(event) = run.poll_event() {
            match event {
                RunEvent::Finished(report) => return Ok(*report),
                RunEvent::Failed(error) => return Err(error.into()),
                _ => {}
            }
        }
        match (world.next_at(), run.poll_timeout(world.cloud())) {
            (Some(next), Some(due)) if due < next => world.advance_to(due),
            (Some(_), _) => {
                world.step();
            }
            (None, Some(due)) => world.advance_to(due),
            // A run always has a deadline until it finishes.
            (None, None) => world.advance_to(world.now() + CHECK_EVERY_MS),
        }
    }
}
