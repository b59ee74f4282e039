//! The browser driver of the simulation. `otalab-sim` decides everything (device behaviour,
//! the cloud's rules, verdicts, scenarios); this module only connects it to the browser: one
//! MQTT client, download and timer per simulated device (`device`, `connection`, `exec`), the
//! sandbox cloud's client (`cloud`), and scenario runs in the tab (`scenario`). The state lives
//! in [`Handle`]s provided through context: [`Simulator`] and [`cloud::SandboxCloud`].

pub mod cloud;
mod connection;
mod device;
mod exec;
pub mod handle;
pub mod scenario;
pub mod toml;

use std::collections::VecDeque;
use std::time::Duration;

use gloo_timers::callback::Timeout;
use leptos::prelude::*;
use otalab_protocol::{Module, Step};
use otalab_sim::{Device, DeviceConfig, DeviceKey, Fault, Link};

pub use exec::describe_payload;
pub use handle::Handle;

use device::{SimDevice, dispose_row, new_row};

use crate::state::fleet::{DeviceSpec, to_stored};
use crate::state::{AppState, now_ms, save};

/// localStorage key of the fleet.
pub const FLEET_KEY: &str = "otalab.fleet";

/// The simulated devices of the tab.
pub struct Sim {
    state: AppState,
    devices: Devices,
    next_id: u32,
    queue: VecDeque<u32>,
    opening: Option<u32>,
    open_timer: Option<Timeout>,
}

/// The tab's devices by id, in id order: a sorted `Vec` (ids only grow, so adding appends)
/// rather than a B-tree of one more type in the page's wasm.
#[derive(Default)]
struct Devices(Vec<(u32, SimDevice)>);

impl Devices {
    fn index(&self, id: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |(i, _)| *i)
    }
    fn get(&self, id: &u32) -> Option<&SimDevice> {
        self.index(*id).ok().map(|i| &self.0[i].1)
    }
    fn get_mut(&mut self, id: &u32) -> Option<&mut SimDevice> {
        self.index(*id).ok().map(|i| &mut self.0[i].1)
    }
    fn insert(&mut self, id: u32, device: SimDevice) {
        match self.index(id) {
            Ok(i) => self.0[i].1 = device,
            Err(i) => self.0.insert(i, (id, device)),
        }
    }
    fn remove(&mut self, id: &u32) -> Option<SimDevice> {
        self.index(*id).ok().map(|i| self.0.remove(i).1)
    }
    fn values(&self) -> impl Iterator<Item = &SimDevice> {
        self.0.iter().map(|(_, d)| d)
    }
    fn keys(&self) -> impl Iterator<Item = &u32> {
        self.0.iter().map(|(i, _)| i)
    }
    fn iter(&self) -> impl Iterator<Item = (&u32, &SimDevice)> {
        self.0.iter().map(|(i, d)| (i, d))
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The handle to the tab's simulated devices (`Copy`, from context).
#[derive(Clone, Copy)]
pub struct Simulator(Handle<Sim>);

/// The simulator provided by the app.
pub fn use_simulator() -> Simulator {
    expect_context::<Simulator>()
}

impl Simulator {
    /// A simulator for the app's state (call once, in the app; provide it through context).
    pub fn new(state: AppState) -> Self {
        Self(Handle::new(Sim {
            state,
            devices: Devices::default(),
            next_id: 0,
            queue: VecDeque::new(),
            opening: None,
            open_timer: None,
        }))
    }

    fn with<R: Default>(self, f: impl FnOnce(&mut Sim) -> R) -> R {
        self.0.with("simulator", f)
    }

    /// Runs `f` on a device whose connection generation is still `generation` (events of a
    /// replaced connection or download are dropped).
    fn with_current(
        self,
        id: u32,
        generation: u64,
        f: impl FnOnce(&AppState, &mut SimDevice) -> bool,
    ) -> bool {
        self.with(|sim| {
            let state = sim.state;
            match sim.devices.get_mut(&id) {
                Some(d) if d.generation == generation => f(&state, d),
                _ => false,
            }
        })
    }

    /// Saves the fleet (secrets only when the user asked to remember them).
    pub fn persist_fleet(self) {
        let (specs, remember) = self.with(|sim| {
            let remember = sim.state.settings.get_untracked().remember_secrets;
            let specs: Vec<DeviceSpec> = sim.devices.values().map(|d| d.spec.clone()).collect();
            (specs, remember)
        });
        save(FLEET_KEY, &to_stored(&specs, remember));
    }

    /// Adds devices with the panel's settings (not connected yet).
    pub fn add_devices(self, specs: Vec<DeviceSpec>) {
        let settings = self.with(|sim| Some(sim.state.settings.get_untracked()));
        let Some(settings) = settings else { return };
        let configured = specs
            .into_iter()
            .map(|spec| {
                let mut config =
                    DeviceConfig::new(&spec.product_key, &spec.device_name, &spec.version);
                config.cadence_percent = settings.cadence_percent.max(1);
                config.flash_ms = settings.flash_ms;
                config.auto_upgrade = settings.auto_upgrade;
                (spec, config)
            })
            .collect();
        self.add_configured(configured);
    }

    /// Adds devices with their own machine configuration (a scenario's); a device already in
    /// the fleet is skipped.
    pub fn add_configured(self, devices: Vec<(DeviceSpec, DeviceConfig)>) {
        let rows = self.with(|sim| {
            let mut rows = Vec::new();
            for (spec, config) in devices {
                let exists = sim.devices.values().any(|d| {
                    d.spec.product_key == spec.product_key && d.spec.device_name == spec.device_name
                });
                if exists {
                    continue;
                }
                sim.next_id += 1;
                let id = sim.next_id;
                let row = new_row(id, &spec);
                let d = SimDevice::new(spec, Device::new(config), row);
                d.sync();
                sim.devices.insert(id, d);
                rows.push(row);
            }
            Some((sim.state, rows))
        });
        if let Some((state, rows)) = rows {
            state.devices.update(|all| all.extend(rows));
        }
        self.persist_fleet();
    }

    /// Connects every device that is not connected, one after another.
    pub fn connect_all(self) {
        self.with(|sim| {
            let ids: Vec<u32> = sim
                .devices
                .iter()
                .filter(|(_, d)| d.client.is_none())
                .map(|(id, _)| *id)
                .collect();
            sim.queue.extend(ids);
            self.pump(sim);
        });
    }

    /// Connects one device now.
    pub fn connect(self, id: u32) {
        self.with(|sim| {
            let state = sim.state;
            if let Some(d) = sim.devices.get_mut(&id) {
                self.open_client(&state, id, d);
            }
        });
    }

    /// Disconnects one device (no reconnect).
    pub fn disconnect(self, id: u32) {
        self.with(|sim| {
            if let Some(d) = sim.devices.get_mut(&id) {
                if let Some(client) = d.client.take() {
                    client.disconnect();
                }
                d.download = None;
                d.link = Link::Offline;
                d.sync();
            }
        });
    }

    /// Disconnects every device.
    pub fn disconnect_all(self) {
        let ids: Vec<u32> = self.with(|sim| {
            sim.queue.clear();
            sim.opening = None;
            sim.devices.keys().copied().collect()
        });
        for id in ids {
            self.disconnect(id);
        }
    }

    /// Removes every device and returns their names (so that the cloud can end their jobs);
    /// their rows' signals are freed once the table has let go of them.
    pub fn remove_all(self) -> Vec<DeviceKey> {
        self.disconnect_all();
        let mut removed = Vec::new();
        let rows = self.with(|sim| {
            removed = sim
                .devices
                .values()
                .map(|d| DeviceKey::new(d.spec.product_key.clone(), d.spec.device_name.clone()))
                .collect();
            sim.devices.clear();
            // External devices are not the tab's to remove (each has its own Forget).
            let (external, rows): (Vec<_>, Vec<_>) = sim
                .state
                .devices
                .get_untracked()
                .into_iter()
                .partition(|r| r.external);
            sim.state.devices.set(external);
            sim.state.selected.set(None);
            rows
        });
        if !rows.is_empty() {
            set_timeout(
                move || rows.into_iter().for_each(dispose_row),
                Duration::from_millis(0),
            );
        }
        self.persist_fleet();
        removed
    }

    /// Removes one device and returns its name (so that the cloud can end its job).
    pub fn remove(self, id: u32) -> Option<DeviceKey> {
        self.disconnect(id);
        let removed = self.with(|sim| {
            let d = sim.devices.remove(&id)?;
            sim.queue.retain(|q| *q != id);
            sim.state.devices.update(|rows| rows.retain(|r| r.id != id));
            if sim.state.selected.get_untracked() == Some(id) {
                sim.state.selected.set(None);
            }
            let row = d.row;
            set_timeout(move || dispose_row(row), Duration::from_millis(0));
            Some(DeviceKey::new(
                d.spec.product_key.clone(),
                d.spec.device_name.clone(),
            ))
        });
        self.persist_fleet();
        removed
    }

    /// Publishes any message from one device, as it is (the log's "publish" form). Returns
    /// why it was not sent.
    pub fn publish_raw(
        self,
        id: u32,
        topic: &str,
        payload: &str,
        qos: otalab_browser::QoS,
        retain: bool,
    ) -> Result<(), String> {
        self.with(|sim| {
            let state = sim.state;
            let Some(d) = sim.devices.get_mut(&id) else {
                return Some(Err("that device was removed".to_owned()));
            };
            if d.client.is_none() {
                return Some(Err(format!(
                    "{} is not connected: connect it first",
                    d.display_name()
                )));
            }
            d.error = None;
            exec::publish(&state, d, topic, payload, qos, retain);
            let result = d.error.clone().map_or(Ok(()), Err);
            d.sync();
            Some(result)
        })
        .unwrap_or_else(|| Err("the simulator is busy: try again".to_owned()))
    }

    /// Runs `f` on one device's machine and carries out what it returns.
    fn act(self, id: u32, f: impl FnOnce(&mut Device) -> Vec<otalab_sim::Action>) {
        self.with(|sim| {
            let state = sim.state;
            if let Some(d) = sim.devices.get_mut(&id) {
                let actions = f(&mut d.machine);
                self.exec(&state, id, d, actions);
                d.sync();
            }
        });
    }

    /// Starts the upgrade of the last notice (manual mode).
    pub fn start(self, id: u32) {
        self.act(id, |m| m.start(now_ms()));
    }

    /// Sends T4 (pull) for the default module.
    pub fn check_update(self, id: u32) {
        self.act(id, |m| m.check_for_update(&Module::default()));
    }

    /// Publishes a step by hand.
    pub fn manual(self, id: u32, step: Step, desc: &str) {
        self.act(id, |m| m.manual_progress(step, desc, now_ms()));
    }

    /// Sets a fault on these devices.
    pub fn set_fault(self, ids: &[u32], fault: &Fault, throttle_bytes_per_sec: u32) {
        self.with(|sim| {
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
    pub fn specs(self) -> Vec<DeviceSpec> {
        self.with(|sim| sim.devices.values().map(|d| d.spec.clone()).collect())
    }

    /// The fleet's machine configurations, in fleet order (for saving a session).
    pub fn configs(self) -> Vec<(DeviceSpec, DeviceConfig)> {
        self.with(|sim| {
            sim.devices
                .values()
                .map(|d| (d.spec.clone(), d.machine.config().clone()))
                .collect()
        })
    }

    /// (productKey, deviceName) of the devices with these ids.
    pub fn names(self, ids: &[u32]) -> Vec<DeviceKey> {
        self.with(|sim| {
            ids.iter()
                .filter_map(|id| sim.devices.get(id))
                .map(|d| DeviceKey::new(d.spec.product_key.clone(), d.spec.device_name.clone()))
                .collect()
        })
    }

    /// How many devices are connected.
    pub fn online(self) -> usize {
        self.with(|sim| {
            sim.devices
                .values()
                .filter(|d| d.link == Link::Online)
                .count()
        })
    }
}
