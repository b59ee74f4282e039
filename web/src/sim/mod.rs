//! Drives one `otalab_sim::Device` machine per simulated device: its MQTT client, its
//! downloads and its timers. Lives outside the reactive system (thread-local), and reports to
//! the UI by setting each row's status signal.

pub mod cloud;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use gloo_timers::callback::Timeout;
use leptos::prelude::*;
use otalab_browser::{
    Backoff, ClientEvent, ClientOptions, Download, DownloadEvent, MqttClient, Options, QoS, State,
    download,
};
use otalab_protocol::{CredentialOptions, DeviceIdentity, Endpoint, Module, MqttSignMethod, Step};
use otalab_sim::{Action, Device, DeviceConfig, Fault, Phase};
use wasm_bindgen_futures::spawn_local;

use crate::state::fleet::{DeviceSpec, to_stored};
use crate::state::{AppState, DeviceRow, DeviceStatus, Direction, Profile, now_ms, save};

/// localStorage key of the fleet.
pub const FLEET_KEY: &str = "otalab.fleet";

/// Saves the fleet (secrets only when the user asked to remember them).
pub fn persist_fleet() {
    let (specs, remember) = with_sim(|sim| {
        let remember = sim
            .state
            .is_some_and(|s| s.settings.get_untracked().remember_secrets);
        (
            sim.devices
                .values()
                .map(|d| d.spec.clone())
                .collect::<Vec<_>>(),
            remember,
        )
    });
    save(FLEET_KEY, &to_stored(&specs, remember));
}

/// How long one connection may take before the next one is opened anyway.
const OPEN_TIMEOUT_MS: u32 = 5_000;

struct SimDevice {
    spec: DeviceSpec,
    machine: Device,
    client: Option<MqttClient>,
    generation: u64,
    download: Option<Download>,
    wake: Option<Timeout>,
    row: DeviceRow,
    link: String,
    link_error: Option<String>,
    error: Option<String>,
}

#[derive(Default)]
struct Sim {
    state: Option<AppState>,
    devices: BTreeMap<u32, SimDevice>,
    next_id: u32,
    queue: VecDeque<u32>,
    opening: Option<u32>,
    open_timer: Option<Timeout>,
}

thread_local! {
    static SIM: RefCell<Sim> = RefCell::new(Sim::default());
}

fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Idle => "idle",
        Phase::Notified => "notified",
        Phase::Downloading { .. } => "downloading",
        Phase::Flashing => "flashing",
        Phase::Rebooting => "rebooting",
        Phase::Upgraded { .. } => "upgraded",
        Phase::Failed { .. } => "failed",
        Phase::Stalled => "stalled",
        Phase::Offline => "offline",
    }
}

/// A payload as the log shows it: text as it is; a binary file block frame (T7) summarised by
/// its header and size.
pub fn describe_payload(topic: &str, payload: &[u8]) -> String {
    if topic.ends_with("/thing/file/download_reply") {
        return match otalab_protocol::FileBlockReply::decode(payload) {
            Ok(reply) => format!(
                "[block frame, {} bytes] offset {} · {} bytes · file {} bytes · CRC ok",
                payload.len(),
                reply.offset,
                reply.block.len(),
                reply.file_length
            ),
            Err(error) => format!(
                "[block frame, {} bytes] {}: {error}",
                payload.len(),
                error.code()
            ),
        };
    }
    String::from_utf8_lossy(payload).into_owned()
}

fn display_name(spec: &DeviceSpec) -> String {
    format!("{}/{}", spec.product_key, spec.device_name)
}

impl SimDevice {
    /// Copies the machine's view into the row's signal (only when something changed).
    fn sync(&self) {
        let machine = &self.machine;
        let failure = match machine.phase() {
            Phase::Failed { code, desc } => Some((*code, desc.clone())),
            _ => None,
        };
        let fault = match &machine.config().fault {
            Fault::None => None,
            other => Some(other.clone()),
        };
        let versions: Vec<(String, String)> = machine
            .config()
            .modules
            .iter()
            .map(|(m, v)| (m.clone(), v.clone()))
            .collect();
        let phase = phase_name(machine.phase());
        let percent = machine.percent();
        let history_len = machine.history().len();
        self.row.status.maybe_update(|s| {
            let changed = s.link != self.link
                || s.link_error != self.link_error
                || s.phase != phase
                || s.percent != percent
                || s.versions != versions
                || s.failure != failure
                || s.history.len() != history_len
                || s.fault != fault
                || s.error != self.error;
            if changed {
                s.link.clone_from(&self.link);
                s.link_error.clone_from(&self.link_error);
                s.phase = phase.to_owned();
                s.percent = percent;
                s.versions = versions;
                s.failure = failure;
                s.history = machine.history().to_vec();
                s.fault = fault;
                s.error.clone_from(&self.error);
            }
            changed
        });
    }

    fn set_notice(&self) {
        if let Some(notice) = self.machine.notice() {
            let json = serde_json::to_value(notice).unwrap_or_default();
            let raw = notice.encode();
            self.row.status.update(|s| s.notice = Some((json, raw)));
        }
    }
}

fn client_options(state: &AppState, spec: &DeviceSpec) -> Result<ClientOptions, String> {
    let client_id = format!("{}.{}", spec.product_key, spec.device_name);
    let mut options = match state.profile.get_untracked() {
        Profile::Sandbox => {
            let info = state
                .sandbox
                .get_untracked()
                .ok_or("the sandbox is not available (open the page from scripts/run)")?;
            ClientOptions::new(info.broker_ws, Options::new(client_id))
        }
        Profile::Broker {
            url,
            username,
            password,
        } => {
            let mut o = Options::new(client_id);
            if !username.is_empty() {
                o = o.credentials(username, password);
            }
            ClientOptions::new(url, o)
        }
        Profile::Aliyun {
            region,
            instance_id,
            tls,
            sign_method,
            keep_alive,
        } => {
            let identity = DeviceIdentity {
                product_key: spec.product_key.clone(),
                device_name: spec.device_name.clone(),
                device_secret: spec.device_secret.clone(),
            };
            let credentials = CredentialOptions {
                client_id: Some(client_id),
                timestamp: Some(now_ms().to_string()),
                sign_method: MqttSignMethod::parse(&sign_method).map_err(|e| e.to_string())?,
                tls,
            };
            let endpoint = if instance_id.trim().is_empty() {
                Endpoint::region(region.trim())
            } else {
                Endpoint::instance(instance_id.trim())
            }
            .map_err(|e| e.to_string())?;
            ClientOptions::aliyun(&identity, &credentials, &endpoint, keep_alive)
                .map_err(|e| e.to_string())?
        }
    };
    options.session.backoff = Backoff {
        initial_ms: 1000,
        max_ms: 30_000,
        factor: 2.0,
        jitter: 0.3,
    };
    options.session.seed = (js_sys::Math::random() * 9.0e15) as u64;
    Ok(options)
}

/// Opens (or re-opens) a device's MQTT connection.
fn open_client(state: &AppState, id: u32, d: &mut SimDevice) {
    d.client = None;
    let options = match client_options(state, &d.spec) {
        Ok(options) => options,
        Err(error) => {
            d.link = "error".into();
            d.link_error = Some(error);
            d.sync();
            return;
        }
    };
    d.generation += 1;
    let generation = d.generation;
    let client = MqttClient::new(options);
    client.on_event(move |event| {
        let event = event.clone();
        // Deferred: listeners run inside the client's step; the simulator borrows afterwards.
        spawn_local(async move { on_client_event(id, generation, event) });
    });
    d.link = "connecting".into();
    d.link_error = None;
    client.connect();
    d.client = Some(client);
    d.sync();
}

/// Runs `f` on the value in `cell`, unless it is already borrowed by a call further up the
/// stack (a re-entrant call): then `f` does not run, the call returns `R::default()` and the
/// console says so. A `RefCell` panic here would stop every simulated device at once.
pub(crate) fn borrow_or_skip<T: 'static, R: Default>(
    cell: &'static std::thread::LocalKey<RefCell<T>>,
    what: &str,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    cell.with(|c| match c.try_borrow_mut() {
        Ok(mut value) => f(&mut value),
        Err(_) => {
            report_reentry(what);
            R::default()
        }
    })
}

fn report_reentry(what: &str) {
    let text = format!("otalab: re-entrant use of the {what} skipped");
    #[cfg(target_arch = "wasm32")]
    web_sys::console::error_1(&text.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{text}");
}

fn with_sim<R: Default>(f: impl FnOnce(&mut Sim) -> R) -> R {
    borrow_or_skip(&SIM, "simulator", f)
}

/// Runs `f` on a device whose connection generation is still `generation` (events of a
/// replaced connection or download are dropped).
fn with_current(
    id: u32,
    generation: u64,
    f: impl FnOnce(&AppState, &mut SimDevice) -> bool,
) -> bool {
    with_sim(|sim| {
        let Some(state) = sim.state else { return false };
        match sim.devices.get_mut(&id) {
            Some(d) if d.generation == generation => f(&state, d),
            _ => false,
        }
    })
}

fn on_client_event(id: u32, generation: u64, event: ClientEvent) {
    let opened = with_current(id, generation, |state, d| {
        let state = *state;
        let mut opened = false;
        match event {
            ClientEvent::Connected => {
                d.link = "online".into();
                d.link_error = None;
                if let Some(client) = &d.client {
                    for topic in d.machine.subscriptions() {
                        drop(client.subscribe(&topic, QoS::AtLeastOnce));
                    }
                }
                let actions = d.machine.connected(now_ms());
                exec(&state, id, d, actions);
                opened = true;
            }
            ClientEvent::Disconnected(reason) => {
                d.link_error = Some(reason.code().to_owned());
            }
            ClientEvent::Reconnecting { .. } => d.link = "reconnecting".into(),
            ClientEvent::State(State::Stopped) => {
                d.link = "offline".into();
                opened = true;
            }
            ClientEvent::Message(message) => {
                let payload = describe_payload(&message.topic, &message.payload);
                state.log(
                    Direction::In,
                    &display_name(&d.spec),
                    &message.topic,
                    &payload,
                );
                match d
                    .machine
                    .message(&message.topic, &message.payload, now_ms())
                {
                    Ok(Some(actions)) => {
                        d.error = None;
                        d.set_notice();
                        exec(&state, id, d, actions);
                    }
                    Ok(None) => {}
                    Err(error) => d.error = Some(format!("{}: {error}", error.code())),
                }
            }
            _ => {}
        }
        d.sync();
        opened
    });
    if opened {
        with_sim(|sim| {
            if sim.opening == Some(id) {
                sim.opening = None;
                pump(sim);
            }
        });
    }
}

fn on_download(id: u32, generation: u64, event: DownloadEvent) {
    with_current(id, generation, |state, d| {
        let now = now_ms();
        let actions = match event {
            DownloadEvent::Data(bytes) => d.machine.data(&bytes, now),
            DownloadEvent::End => {
                d.download = None;
                d.machine.fetch_ended(now)
            }
            DownloadEvent::Failed { status, message } => {
                d.download = None;
                d.machine.fetch_failed(status, &message, now)
            }
        };
        exec(state, id, d, actions);
        d.sync();
        true
    });
}

fn on_wake(id: u32) {
    with_sim(|sim| {
        let Some(state) = sim.state else { return };
        let Some(d) = sim.devices.get_mut(&id) else {
            return;
        };
        d.wake = None;
        let actions = d.machine.tick(now_ms());
        exec(&state, id, d, actions);
        d.sync();
    });
}

/// Logs and publishes one message of a device; a refusal shows on its row.
fn publish(state: &AppState, d: &mut SimDevice, topic: &str, payload: &str, qos: QoS) {
    state.log(Direction::Out, &display_name(&d.spec), topic, payload);
    let sent = match &d.client {
        Some(client) => client
            .publish_token(topic, payload.as_bytes(), qos)
            .map(|_| ())
            .map_err(|error| format!("{}: {error}", error.code())),
        None => Err("not connected: message not sent".into()),
    };
    if let Err(error) = sent {
        d.error = Some(error);
    }
}

/// Carries out a machine's actions.
fn exec(state: &AppState, id: u32, d: &mut SimDevice, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Publish { topic, payload } => {
                publish(state, d, &topic, &payload, QoS::AtLeastOnce);
            }
            // Block requests go at QoS 0, as Link SDK C sends them.
            Action::RequestBlock { topic, payload } => {
                publish(state, d, &topic, &payload, QoS::AtMostOnce);
            }
            Action::Fetch { url, offset } => {
                let generation = d.generation;
                let throttle = d.machine.config().throttle_bytes_per_sec;
                d.download = Some(download(&url, offset, throttle, move |event| {
                    on_download(id, generation, event);
                }));
            }
            Action::AbortFetch => d.download = None,
            Action::Disconnect => {
                if let Some(client) = d.client.take() {
                    client.disconnect();
                }
                d.link = if matches!(d.machine.phase(), Phase::Rebooting) {
                    "rebooting"
                } else {
                    "offline"
                }
                .into();
            }
            Action::Connect => open_client(state, id, d),
            Action::WakeAt(at) => {
                let delay = at.saturating_sub(now_ms()).min(u64::from(u32::MAX)) as u32;
                d.wake = Some(Timeout::new(delay, move || on_wake(id)));
            }
        }
    }
}

/// Opens the next queued connection, one at a time (browsers open one WebSocket per host at
/// a time and cap a tab at about 255).
fn pump(sim: &mut Sim) {
    let Some(state) = sim.state else { return };
    while sim.opening.is_none() {
        let Some(id) = sim.queue.pop_front() else {
            return;
        };
        let Some(d) = sim.devices.get_mut(&id) else {
            continue;
        };
        if d.client.is_some() {
            continue;
        }
        open_client(&state, id, d);
        sim.opening = Some(id);
        sim.open_timer = Some(Timeout::new(OPEN_TIMEOUT_MS, move || {
            with_sim(|sim| {
                if sim.opening == Some(id) {
                    sim.opening = None;
                    pump(sim);
                }
            });
        }));
    }
}

/// Binds the simulator to the app state (once, at start).
pub fn init(state: AppState) {
    with_sim(|sim| sim.state = Some(state));
}

/// Adds devices (not connected yet).
pub fn add_devices(specs: Vec<DeviceSpec>) {
    let rows = with_sim(|sim| {
        let Some(state) = sim.state else {
            return Vec::new();
        };
        let settings = state.settings.get_untracked();
        let mut rows = Vec::new();
        for spec in specs {
            let exists = sim.devices.values().any(|d| {
                d.spec.product_key == spec.product_key && d.spec.device_name == spec.device_name
            });
            if exists {
                continue;
            }
            sim.next_id += 1;
            let id = sim.next_id;
            let mut config = DeviceConfig::new(&spec.product_key, &spec.device_name, &spec.version);
            config.cadence_percent = settings.cadence_percent.max(1);
            config.flash_ms = settings.flash_ms;
            config.auto_upgrade = settings.auto_upgrade;
            let row = DeviceRow {
                id,
                status: RwSignal::new(DeviceStatus {
                    link: "idle".into(),
                    phase: "idle".into(),
                    ..DeviceStatus::default()
                }),
                name: StoredValue::new((spec.product_key.clone(), spec.device_name.clone())),
                verdict: RwSignal::new(crate::state::report::Verdict::Pending),
            };
            let d = SimDevice {
                spec,
                machine: Device::new(config),
                client: None,
                generation: 0,
                download: None,
                wake: None,
                row,
                link: "idle".into(),
                link_error: None,
                error: None,
            };
            d.sync();
            sim.devices.insert(id, d);
            rows.push(row);
        }
        rows
    });
    with_sim(|sim| {
        if let Some(state) = sim.state {
            state.devices.update(|all| all.extend(rows));
        }
    });
    persist_fleet();
}

/// Connects every device that is not connected, one after another.
pub fn connect_all() {
    with_sim(|sim| {
        let ids: Vec<u32> = sim
            .devices
            .iter()
            .filter(|(_, d)| d.client.is_none())
            .map(|(id, _)| *id)
            .collect();
        sim.queue.extend(ids);
        pump(sim);
    });
}

/// Connects one device now.
pub fn connect(id: u32) {
    with_sim(|sim| {
        let Some(state) = sim.state else { return };
        if let Some(d) = sim.devices.get_mut(&id) {
            open_client(&state, id, d);
        }
    });
}

/// Disconnects one device (no reconnect).
pub fn disconnect(id: u32) {
    with_sim(|sim| {
        if let Some(d) = sim.devices.get_mut(&id) {
            if let Some(client) = d.client.take() {
                client.disconnect();
            }
            d.download = None;
            d.link = "offline".into();
            d.sync();
        }
    });
}

/// Disconnects every device.
pub fn disconnect_all() {
    let ids: Vec<u32> = with_sim(|sim| {
        sim.queue.clear();
        sim.opening = None;
        sim.devices.keys().copied().collect()
    });
    for id in ids {
        disconnect(id);
    }
}

/// Removes every device.
pub fn remove_all() {
    disconnect_all();
    with_sim(|sim| {
        sim.devices.clear();
        if let Some(state) = sim.state {
            state.devices.set(Vec::new());
            state.selected.set(None);
        }
    });
    persist_fleet();
}

/// Runs `f` on one device's machine and carries out what it returns.
fn act(id: u32, f: impl FnOnce(&mut Device) -> Vec<Action>) {
    with_sim(|sim| {
        let Some(state) = sim.state else { return };
        if let Some(d) = sim.devices.get_mut(&id) {
            let actions = f(&mut d.machine);
            exec(&state, id, d, actions);
            d.sync();
        }
    });
}

/// Starts the upgrade of the last notice (manual mode).
pub fn start(id: u32) {
    act(id, |m| m.start(now_ms()));
}

/// Sends T4 (pull) for the default module.
pub fn check_update(id: u32) {
    act(id, |m| m.check_for_update(&Module::default()));
}

/// Publishes a step by hand.
pub fn manual(id: u32, step: Step, desc: &str) {
    act(id, |m| m.manual_progress(step, desc, now_ms()));
}

/// Sets a fault on these devices.
pub fn set_fault(ids: &[u32], fault: &Fault, throttle_bytes_per_sec: u32) {
    with_sim(|sim| {
        for id in ids {
            if let Some(d) = sim.devices.get_mut(id) {
                d.machine.config_mut().fault = fault.clone();
                d.machine.config_mut().throttle_bytes_per_sec = throttle_bytes_per_sec;
                d.sync();
            }
        }
    });
}

/// The fleet's specs (for export and the cloud).
pub fn specs() -> Vec<DeviceSpec> {
    with_sim(|sim| sim.devices.values().map(|d| d.spec.clone()).collect())
}

/// (productKey, deviceName) of the devices with these ids.
pub fn names(ids: &[u32]) -> Vec<(String, String)> {
    with_sim(|sim| {
        ids.iter()
            .filter_map(|id| sim.devices.get(id))
            .map(|d| (d.spec.product_key.clone(), d.spec.device_name.clone()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reentrant_call_is_skipped_not_a_panic() {
        let outer = with_sim(|sim| {
            sim.next_id = 41;
            // A listener that would call back into the simulator while it is borrowed.
            let inner: Option<u32> = with_sim(|sim| Some(sim.next_id));
            assert_eq!(inner, None, "the inner call did not run");
            sim.next_id + 1
        });
        assert_eq!(outer, 42);
        // The simulator is usable again afterwards.
        assert_eq!(with_sim(|sim| Some(sim.next_id)), Some(41));
    }
}
