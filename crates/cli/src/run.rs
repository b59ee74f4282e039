//! `otalab run`: loads a scenario, resolves the connection and the firmware, starts the sandbox
//! cloud (its own MQTT client running `otalab_sim::Cloud`) and one task per device of the shard,
//! carries out the cloud's actions on time, waits until every upgrade job is final or silent
//! (or the time limit), and judges the report by the scenario's expectations.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otalab_mqtt::{Event, Options, QoS};
use otalab_protocol::{
    CredentialOptions, DeviceIdentity, Endpoint as AliyunEndpoint, FileDigests, MqttCredentials,
    Topic,
};
use otalab_sim::cloud::{MQTT_DELIVERY_LIMIT, device_report};
use otalab_sim::model::status_device;
use otalab_sim::{
    Cloud, Connection, DeviceKey, FaultUrls, Outgoing, Package, Qos, Report, RunEvent, RunPhase,
    SandboxInfo, Scenario, ScenarioRun, Shard,
};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::device::{self, DeviceRun, Shared};
use crate::http;
use crate::link::{MqttLink, Ramp};
use crate::now_ms;
use crate::transport::Endpoint;

/// How `otalab run` was asked to run.
pub struct RunOptions {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Overrides the broker (sandbox and broker connections).
    pub broker: Option<String>,
    /// The sandbox server (`--sandbox`).
    pub sandbox: Option<String>,
    /// `$OTALAB_SANDBOX` (after `--sandbox` and the scenario's own).
    pub sandbox_env: Option<String>,
    /// The slice of the fleet.
    pub shard: Shard,
    /// Downloads at once.
    pub downloads: usize,
    /// Progress output.
    pub progress: Progress,
    /// Local source addresses the devices connect from, round robin (empty: the system's).
    pub bind: Vec<std::net::IpAddr>,
    /// Device connections being opened at once (TCP connect until CONNACK).
    pub connecting: usize,
    /// Device connection attempts started per second (0: no pacing).
    pub connect_rate: u32,
    /// Fleet devices run elsewhere (a real device, another tool): not started here, counted
    /// as connected when the sandbox cloud hears from them, pushed to and judged by it.
    pub external: Vec<DeviceKey>,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// A progress bar.
    Bar,
    /// A line every two seconds.
    Plain,
    /// Nothing until the end.
    None,
}

/// A run that could not happen (exit code 2), as opposed to expectations that failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

pub(crate) fn setup(message: impl Into<String>) -> SetupError {
    SetupError(message.into())
}

/// The default sandbox server (as `scripts/run` starts it).
pub const DEFAULT_SANDBOX: &str = "http://127.0.0.1:8686";

/// Reads the sandbox's `/sandbox.json`.
pub(crate) async fn sandbox_info(base: &str) -> Result<SandboxInfo, SetupError> {
    let url = format!("{}/sandbox.json", base.trim_end_matches('/'));
    let bytes = http::get_all(&url, 1 << 20).await.map_err(|e| {
        setup(format!(
            "the sandbox does not answer ({e}); start it with scripts/run or pass --sandbox URL"
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| setup(format!("{url}: {e}")))
}

/// Size and digests of a package, streamed once from its URL.
async fn describe(key: &str, url: &str, version: &str) -> Result<Package, SetupError> {
    let mut digests = FileDigests::new();
    http::for_each_chunk(url, u64::MAX, |chunk| digests.update(chunk))
        .await
        .map_err(|e| setup(format!("firmware.{key}: {e}")))?;
    Ok(Package::from_digests(url, version, digests))
}

/// The sandbox cloud's MQTT client: publishes what the cloud sends, feeds it what arrives.
/// What the sandbox cloud's client needs.
pub(crate) struct CloudClient {
    pub(crate) options: Options,
    pub(crate) endpoint: Endpoint,
    /// Topic filters (wildcards, or the shard's own devices' topics).
    pub(crate) filters: Vec<String>,
    /// The devices this cloud answers for.
    pub(crate) owned: Arc<HashSet<DeviceKey>>,
    pub(crate) cloud: Arc<Mutex<Cloud>>,
    /// A conformance suite that sees each message first (and sets the pull package).
    pub(crate) suite: Option<Arc<Mutex<otalab_sim::Suite>>>,
    /// Fleet devices run elsewhere, counted when the cloud first hears from them.
    pub(crate) external: Arc<External>,
}

/// Fleet devices that `otalab run` does not start (`--external`): a real device on the bench or
/// another tool logs in with their identities. The sandbox cloud counts one as connected when it
/// first hears from it (its version report), then pushes to it and judges it like the others.
#[derive(Default)]
pub(crate) struct External {
    keys: HashSet<DeviceKey>,
    heard: Mutex<HashSet<DeviceKey>>,
    count: AtomicUsize,
}

impl External {
    /// These devices are run elsewhere.
    pub(crate) fn new(keys: impl IntoIterator<Item = DeviceKey>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
            ..Self::default()
        }
    }

    /// The cloud heard from `key`.
    fn heard_from(&self, key: &DeviceKey) {
        if self.keys.contains(key)
            && let Ok(mut heard) = self.heard.lock()
            && heard.insert(key.clone())
        {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many of them the cloud has heard from.
    fn connected(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

pub(crate) async fn run_cloud(
    client: CloudClient,
    mut outgoing: mpsc::UnboundedReceiver<Vec<Outgoing>>,
    subscribed: watch::Sender<usize>,
    mut stop: watch::Receiver<bool>,
) {
    let CloudClient {
        options,
        endpoint,
        filters,
        owned,
        cloud,
        suite,
        external,
    } = client;
    let mut link = MqttLink::new(options, endpoint).read_chunk(64 * 1024);
    link.start();
    for filter in &filters {
        link.subscribe(filter, QoS::AtLeastOnce);
    }
    let mut granted = 0;
    loop {
        loop {
            let events = link.drive().await;
            if events.is_empty() {
                break;
            }
            for event in events {
                match event {
                    Event::Subscribed {
                        granted: Some(_), ..
                    } => {
                        granted += 1;
                        let _ = subscribed.send(granted);
                    }
                    Event::Message(message) => {
                        // Another shard's devices are that shard's cloud's business. A
                        // device's status message (the conformance suite's) is not the
                        // device speaking.
                        let ota = Topic::parse(&message.topic)
                            .ok()
                            .map(|t| DeviceKey(t.product_key, t.device_name));
                        let spoke = ota.is_some();
                        let Some(key) = ota
                            .or_else(|| status_device(&message.topic))
                            .filter(|key| owned.contains(key))
                        else {
                            continue;
                        };
                        if spoke {
                            external.heard_from(&key);
                        }
                        let now = now_ms();
                        let answers = match cloud.lock() {
                            Ok(mut c) => match suite.as_ref().map(|s| s.lock()) {
                                Some(Ok(mut s)) => {
                                    s.handle_message(&mut c, &message.topic, &message.payload, now)
                                }
                                _ => c.message(&message.topic, &message.payload, now),
                            },
                            Err(_) => Vec::new(),
                        };
                        publish(&mut link, answers);
                    }
                    _ => {}
                }
            }
        }
        if *stop.borrow() {
            break;
        }
        let deadline = link.deadline();
        tokio::select! {
            _ = stop.changed() => {}
            Some(batch) = outgoing.recv() => publish(&mut link, batch),
            bytes = link.read() => link.received(bytes),
            _ = async {
                match deadline {
                    Some(at) => tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await,
                    None => std::future::pending().await,
                }
            } => link.tick(now_ms()),
        }
    }
    link.close().await;
}

fn publish(link: &mut MqttLink, batch: Vec<Outgoing>) {
    for message in batch {
        let qos = match message.qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
        };
        link.publish(&message.topic, &message.payload, qos);
    }
}

/// A random-enough number for client ids and jitter seeds.
pub(crate) fn nonce() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32)
}

/// Runs a scenario; returns the judged report.
pub async fn run(opts: RunOptions) -> Result<Report, SetupError> {
    let text = std::fs::read_to_string(&opts.scenario)
        .map_err(|e| setup(format!("{}: {e}", opts.scenario.display())))?;
    let scenario = Scenario::parse(&text)
        .map_err(|e| setup(format!("{}: {}: {e}", opts.scenario.display(), e.code())))?;
    let base = opts
        .scenario
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let fleet = scenario
        .fleet(|file| std::fs::read_to_string(base.join(file)).map_err(|e| format!("{file}: {e}")))
        .map_err(|e| setup(format!("{}: {}: {e}", opts.scenario.display(), e.code())))?;
    let names: Vec<DeviceKey> = fleet
        .iter()
        .map(|d| DeviceKey::new(d.spec.product_key.clone(), d.spec.device_name.clone()))
        .collect();
    let shard: Vec<usize> = (0..fleet.len())
        .filter(|i| opts.shard.contains(*i))
        .collect();
    for key in &opts.external {
        if !names.contains(key) {
            return Err(setup(format!(
                "--external {key}: not a device of the fleet"
            )));
        }
        if !shard.iter().any(|i| names[*i] == *key) {
            return Err(setup(format!(
                "--external {key}: not a device of this shard"
            )));
        }
    }
    // The devices this process starts; every device of the shard is the cloud's.
    let mine: Vec<usize> = shard
        .iter()
        .copied()
        .filter(|i| !opts.external.contains(&names[*i]))
        .collect();
    let external = Arc::new(External::new(opts.external.iter().cloned()));

    // Where to connect, and the firmware.
    let mut fault_urls: Option<FaultUrls> = None;
    let mut firmware_base: Option<String> = None;
    // Without the sandbox cloud (Alibaba Cloud, or another cloud on a broker), each device
    // judges its own upgrade by the same rule.
    let device_judged = !scenario.sandbox_cloud();
    if device_judged && !opts.external.is_empty() {
        return Err(setup(
            "--external needs the sandbox cloud: this scenario's devices judge themselves",
        ));
    }
    let broker: Option<Endpoint> = match &scenario.connection {
        Connection::Sandbox { url } => {
            let server = opts
                .sandbox
                .clone()
                .or_else(|| url.clone())
                .or_else(|| opts.sandbox_env.clone())
                .unwrap_or_else(|| DEFAULT_SANDBOX.to_owned());
            let info = sandbox_info(&server).await?;
            fault_urls = Some(info.faults.clone());
            firmware_base = Some(info.firmware_base.clone());
            let url = opts
                .broker
                .clone()
                .or(info.broker_tcp.clone())
                .unwrap_or_else(|| info.broker_ws.clone());
            Some(Endpoint::parse(&url).map_err(setup)?)
        }
        Connection::Broker { url, .. } => {
            Some(Endpoint::parse(opts.broker.as_deref().unwrap_or(url)).map_err(setup)?)
        }
        Connection::Aliyun { .. } => None,
    };
    let mut exec = ScenarioRun::new(scenario.clone(), names.clone(), opts.shard);
    exec.set_faults(&fleet);
    let mut cloud = Cloud::new(nonce() % 1_000_000_000);
    cloud.set_fault_urls(fault_urls);
    let wanted = exec
        .firmware(firmware_base.as_deref())
        .map_err(|e| setup(e.to_string()))?;
    for want in wanted {
        let package = describe(&want.key, &want.url, &want.version).await?;
        if want.stream && cloud.stream_of(&package).is_none() {
            Cloud::check_deliverable(&package).map_err(|e| setup(e.to_string()))?;
            let bytes = http::get_all(&package.url, MQTT_DELIVERY_LIMIT)
                .await
                .map_err(|e| setup(e.to_string()))?;
            cloud
                .add_stream(&package, bytes)
                .map_err(|e| setup(e.to_string()))?;
        }
        exec.handle_firmware(&want.key, package);
    }
    let cloud = Arc::new(Mutex::new(cloud));

    // The sandbox cloud.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (cloud_tx, cloud_rx) = mpsc::unbounded_channel();
    let mut cloud_task = None;
    if let Some(endpoint) = broker.as_ref().filter(|_| !device_judged) {
        let mut options = Options::new(format!(
            "otalab-cloud-{}-{:x}",
            opts.shard.index,
            nonce() & 0xffff_ffff
        ));
        options.max_outbox = usize::MAX;
        apply_login(&scenario.connection, &mut options)?;
        let (sub_tx, mut sub_rx) = watch::channel(0);
        let owned: HashSet<DeviceKey> = shard.iter().map(|i| names[*i].clone()).collect();
        // One shard of many listens to its own devices only (the broker does not copy every
        // device's messages to every shard's cloud); a whole fleet uses the wildcards.
        let filters: Vec<String> = if opts.shard.count > 1 {
            owned
                .iter()
                .flat_map(|key| Cloud::subscriptions(Some(key)))
                .collect()
        } else {
            Cloud::subscriptions(None)
        };
        let wanted = filters.len();
        let client = CloudClient {
            options,
            endpoint: endpoint.clone(),
            filters,
            owned: Arc::new(owned),
            cloud: cloud.clone(),
            suite: None,
            external: external.clone(),
        };
        cloud_task = Some(tokio::spawn(run_cloud(
            client,
            cloud_rx,
            sub_tx,
            stop_rx.clone(),
        )));
        let ready =
            tokio::time::timeout(Duration::from_secs(15), sub_rx.wait_for(|n| *n >= wanted)).await;
        if !matches!(ready, Ok(Ok(_))) {
            let _ = stop_tx.send(true);
            return Err(setup(format!(
                "the sandbox cloud could not subscribe on {}:{} within 15 s",
                endpoint.host, endpoint.port
            )));
        }
    }

    if !opts.external.is_empty() {
        let keys: Vec<String> = opts.external.iter().map(ToString::to_string).collect();
        eprintln!(
            "otalab: the cloud is listening: start the external devices now ({})",
            keys.join(", ")
        );
    }

    // The devices of this shard.
    let shared = Arc::new(Shared {
        connected: AtomicUsize::new(0),
        upgraded: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        downloads: Arc::new(Semaphore::new(opts.downloads.max(1))),
        ramp: Arc::new(Ramp::new(opts.connecting, opts.connect_rate)),
        stop: stop_rx.clone(),
    });
    exec.start(now_ms()).map_err(|e| setup(e.to_string()))?;
    let mut tasks = Vec::with_capacity(mine.len());
    let seed = nonce();
    for (k, &i) in mine.iter().enumerate() {
        let d = &fleet[i];
        let (options, mut endpoint) =
            device_login(&scenario.connection, broker.as_ref(), d, seed ^ i as u64)?;
        if !opts.bind.is_empty() {
            endpoint.bind = Some(opts.bind[k % opts.bind.len()]);
        }
        let run = DeviceRun {
            key: names[i].clone(),
            config: scenario.device_config(d),
            options,
            endpoint,
            judge: device_judged,
        };
        tasks.push(tokio::spawn(device::run(run, shared.clone())));
    }
    let display = Display::new(opts.progress, shard.len());

    // The executor is otalab-sim's: this loop only feeds it the time, the devices' counts
    // and the cloud, and carries out what it asks for.
    let mut report = loop {
        let now = now_ms();
        let load = |counter: &AtomicUsize| counter.load(Ordering::Relaxed);
        let (upgraded, failed) = (load(&shared.upgraded), load(&shared.failed));
        exec.handle_connected(load(&shared.connected) + external.connected(), now);
        exec.handle_device_final(upgraded + failed);
        if let Ok(mut c) = cloud.lock()
            && exec.poll_timeout(&c).is_some_and(|at| at <= now)
        {
            exec.handle_timeout(&mut c, now);
        }
        let out: Vec<Outgoing> = std::iter::from_fn(|| exec.poll_transmit()).collect();
        if !out.is_empty() {
            let _ = cloud_tx.send(out);
        }
        let mut finished = None;
        while let Some(event) = exec.poll_event() {
            match event {
                RunEvent::Stop { .. } => {
                    display.finish();
                    let _ = stop_tx.send(true);
                    // The devices end (and their memory goes) before the report is built:
                    // from the cloud at the next handle_timeout, or from their own rows.
                    let mut rows = Vec::with_capacity(if device_judged { tasks.len() } else { 0 });
                    for task in tasks.drain(..) {
                        if let Ok(o) = task.await
                            && device_judged
                        {
                            rows.push(device_report(&o.key, o.job.as_ref(), o.version.as_ref()));
                        }
                    }
                    tasks.shrink_to_fit();
                    if let Some(task) = cloud_task.take() {
                        let _ = task.await;
                    }
                    exec.handle_device_reports(rows, now_ms());
                }
                RunEvent::Finished(report) => finished = Some(*report),
                RunEvent::Failed(e) => {
                    let _ = stop_tx.send(true);
                    return Err(setup(format!("{}: {e}", e.code())));
                }
                RunEvent::AllConnected { .. }
                | RunEvent::Pushed { .. }
                | RunEvent::JobCreated { .. } => {}
            }
        }
        if let Some(report) = finished {
            break report;
        }
        if let Ok(c) = cloud.lock() {
            let counts = device_judged.then_some((upgraded, failed));
            let p = exec.progress(&c, counts, now_ms());
            let phase = match p.phase {
                RunPhase::Connecting => "connecting",
                _ => "upgrading",
            };
            display.show(p.connected, p.summary.succeeded, p.summary.failed, phase);
        }
        let due = cloud.lock().ok().and_then(|c| exec.poll_timeout(&c));
        let wait = due
            .map_or(100, |at| at.saturating_sub(now_ms()))
            .clamp(1, 100);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    };
    if let Some(t) = &mut report.timings {
        t.peak_rss_kib = peak_rss_kib();
        t.connect_failures = Some(shared.ramp.failures());
    }
    Ok(report)
}

/// The process's peak resident memory (`VmHWM` in /proc/self/status, Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Sets the login of a plain broker connection (the password from its environment variable).
fn apply_login(connection: &Connection, options: &mut Options) -> Result<(), SetupError> {
    if let Connection::Broker {
        username: Some(user),
        password_env,
        ..
    } = connection
    {
        let password = match password_env {
            Some(var) => std::env::var(var)
                .map_err(|_| setup(format!("connection.password_env: {var} is not set")))?,
            None => String::new(),
        };
        options.username = Some(user.clone());
        options.password = Some(password);
    }
    Ok(())
}

/// A device's MQTT options and endpoint.
pub(crate) fn device_login(
    connection: &Connection,
    broker: Option<&Endpoint>,
    device: &otalab_sim::FleetDevice,
    seed: u64,
) -> Result<(Options, Endpoint), SetupError> {
    let spec = &device.spec;
    let mut options;
    let endpoint;
    match (connection, broker) {
        (
            Connection::Aliyun {
                region,
                instance_id,
                sign_method,
                keep_alive,
            },
            _,
        ) => {
            let identity = DeviceIdentity {
                product_key: spec.product_key.clone(),
                device_name: spec.device_name.clone(),
                device_secret: spec.device_secret.clone(),
            };
            let credentials = CredentialOptions {
                client_id: None,
                timestamp: Some(now_ms().to_string()),
                sign_method: *sign_method,
                tls: true,
            };
            let login = MqttCredentials::new(&identity, &credentials)
                .map_err(|e| setup(format!("{}/{}: {e}", spec.product_key, spec.device_name)))?;
            let at = match (instance_id, region) {
                (Some(id), _) => AliyunEndpoint::instance(id),
                (None, Some(region)) => AliyunEndpoint::region(region),
                (None, None) => {
                    return Err(setup("connection: give region or instance_id"));
                }
            }
            .map_err(|e| setup(e.to_string()))?;
            options = Options::new(login.client_id).credentials(login.username, login.password);
            options.keep_alive_secs = *keep_alive;
            endpoint = Endpoint {
                host: at.host(&spec.product_key),
                port: 1883,
                tls: true,
                websocket: None,
                bind: None,
            };
        }
        (_, Some(broker)) => {
            options = Options::new(format!("{}.{}", spec.product_key, spec.device_name));
            apply_login(connection, &mut options)?;
            endpoint = broker.clone();
        }
        (_, None) => return Err(setup("no broker to connect to")),
    }
    options.seed = seed;
    options.backoff.initial_ms = 500;
    options.backoff.max_ms = 10_000;
    Ok((options, endpoint))
}

/// Progress on the terminal: a bar, or a plain line every two seconds.
struct Display {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    last: Mutex<u64>,
    total: usize,
}

impl Display {
    fn new(progress: Progress, total: usize) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (bar, plain) = match progress {
            Progress::Bar => (true, false),
            Progress::Auto if terminal => (true, false),
            Progress::Auto | Progress::Plain => (false, true),
            Progress::None => (false, false),
        };
        let bar = bar.then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} settled · {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            plain,
            last: Mutex::new(0),
            total,
        }
    }

    fn show(&self, connected: usize, succeeded: usize, failed: usize, phase: &str) {
        let msg = format!(
            "{phase}: connected {connected}/{} · succeeded {succeeded} · failed {failed}",
            self.total
        );
        if let Some(bar) = &self.bar {
            bar.set_position((succeeded + failed) as u64);
            bar.set_message(msg);
        } else if self.plain {
            let now = now_ms();
            if let Ok(mut last) = self.last.lock()
                && now.saturating_sub(*last) >= 2000
            {
                *last = now;
                eprintln!("otalab: {msg}");
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `otalab run --in-memory`: the same [`ScenarioRun`] with the devices, the sandbox cloud, a
/// broker and a file server in this process on a virtual clock (`otalab_sim::memory`). Each
/// firmware package is read once: a `file` from beside the scenario, else the sandbox's demo
/// file of that name (generated as the sandbox does); a `url` over HTTP.
pub fn run_in_memory(path: &Path, shard: Shard, seed: u64) -> Result<Report, SetupError> {
    use otalab_sim::memory::{self, MemoryOptions};
    let wall = std::time::Instant::now();
    let text =
        std::fs::read_to_string(path).map_err(|e| setup(format!("{}: {e}", path.display())))?;
    let scenario = Scenario::parse(&text)
        .map_err(|e| setup(format!("{}: {}: {e}", path.display(), e.code())))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let fleet = scenario
        .fleet(|file| std::fs::read_to_string(base.join(file)).map_err(|e| format!("{file}: {e}")))
        .map_err(|e| setup(format!("{}: {}: {e}", path.display(), e.code())))?;
    let read = |want: &otalab_sim::FirmwareWanted| -> Result<Vec<u8>, String> {
        if let Some(file) = want.url.strip_prefix(memory::FIRMWARE_BASE) {
            let local = base.join(file);
            if local.is_file() {
                return std::fs::read(&local).map_err(|e| format!("{}: {e}", local.display()));
            }
            return memory::demo_file(file).ok_or_else(|| {
                    format!(
                        "{file}: no such file beside the scenario, and not one of the sandbox's demo files"
                    )
                });
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(http::get_all(&want.url, usize::MAX))
            .map_err(|e| format!("{}: {e}", want.url))
    };
    let options = MemoryOptions {
        seed,
        ..MemoryOptions::default()
    };
    let (exec, mut world) = memory::prepare(&scenario, &fleet, shard, options, read)
        .map_err(|e| setup(format!("{}: {e}", e.code())))?;
    let mut report =
        memory::run_scenario(exec, &mut world).map_err(|e| setup(format!("{}: {e}", e.code())))?;
    // Steps and timings are on the virtual clock; the generation time is the wall clock's.
    // The peak memory stays out of the report (it would differ between two runs), and is
    // printed with the wall time.
    report.generated_at_ms = now_ms();
    let stats = world.stats();
    eprintln!(
        "otalab: in memory: {} devices, {:.1} virtual s in {:.2} wall s, peak RSS {} KiB; {} messages, {} MiB of firmware served, {} events",
        world.devices().len(),
        report.timings.as_ref().map_or(0, |t| t.total_ms) as f64 / 1000.0,
        wall.elapsed().as_secs_f64(),
        peak_rss_kib().unwrap_or(0),
        stats.delivered,
        stats.served_bytes >> 20,
        stats.events
    );
    Ok(report)
}
