//! Devices' MQTT connections: options per connection profile, opening one connection at a time
//! (browsers throttle WebSocket opens and cap a tab at about 255), and the client's events.

use gloo_timers::callback::Timeout;
use otalab_browser::{Backoff, ClientEvent, ClientOptions, Event, MqttClient, Options, QoS, State};
use otalab_protocol::{CredentialOptions, DeviceIdentity, Endpoint, Module, MqttSignMethod};
use otalab_sim::Link;
use wasm_bindgen_futures::spawn_local;

use super::device::SimDevice;
use super::exec::describe_payload;
use super::{Sim, Simulator};
use crate::state::fleet::DeviceSpec;
use crate::state::{AppState, Direction, Profile, now_ms};

/// How long one connection may take before the next one is opened anyway.
const OPEN_TIMEOUT_MS: u32 = 5_000;

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
            ClientOptions::check_url(&url).map_err(|e| format!("{}: {e}", e.code()))?;
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

use leptos::prelude::GetUntracked;

impl Simulator {
    /// Opens (or re-opens) a device's MQTT connection.
    pub(super) fn open_client(self, state: &AppState, id: u32, d: &mut SimDevice) {
        d.client = None;
        let options = match client_options(state, &d.spec) {
            Ok(options) => options,
            Err(error) => {
                d.link = Link::Error;
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
            spawn_local(async move { self.on_client_event(id, generation, event) });
        });
        d.link = Link::Connecting;
        d.link_error = None;
        client.connect();
        d.client = Some(client);
        d.sync();
    }

    fn on_client_event(self, id: u32, generation: u64, event: ClientEvent) {
        let mut upgraded = false;
        let opened = self.with_current(id, generation, |state, d| {
            let mut opened = false;
            match event {
                ClientEvent::Session(Event::Connected { .. }) => {
                    state.log_event(&d.display_name(), "connected", "CONNACK accepted");
                    d.link = Link::Online;
                    d.link_error = None;
                    if let Some(client) = &d.client {
                        for topic in d.machine.subscriptions() {
                            drop(client.subscribe(&topic, QoS::AtLeastOnce));
                        }
                    }
                    let actions = d.machine.connected(now_ms());
                    self.exec(state, id, d, actions);
                    // Back from a reboot on another version: the saved fleet keeps it.
                    if let Some(now_running) = d.machine.config().modules.get(Module::DEFAULT)
                        && *now_running != d.spec.version
                    {
                        d.spec.version.clone_from(now_running);
                        upgraded = true;
                    }
                    opened = true;
                }
                ClientEvent::Session(Event::Disconnected(reason)) => {
                    state.log_event(
                        &d.display_name(),
                        "disconnected",
                        &format!("{}: {reason}", reason.code()),
                    );
                    d.link_error = Some(reason.code().to_owned());
                }
                ClientEvent::Session(Event::Reconnecting { at_ms, attempt }) => {
                    state.log_event(
                        &d.display_name(),
                        "reconnecting",
                        &format!("attempt {attempt} in {} ms", at_ms.saturating_sub(now_ms())),
                    );
                    d.link = Link::Reconnecting;
                }
                ClientEvent::Session(Event::Subscribed { filter, granted }) => {
                    let detail = match granted {
                        Some(qos) => format!("{filter} (QoS {})", qos as u8),
                        None => format!("{filter} refused by the broker"),
                    };
                    state.log_event(&d.display_name(), "subscribed", &detail);
                }
                ClientEvent::State(State::Stopped) => {
                    state.log_event(&d.display_name(), "stopped", "the connection is closed");
                    d.link = Link::Offline;
                    opened = true;
                }
                ClientEvent::Session(Event::Message(message)) => {
                    let payload = describe_payload(&message.topic, &message.payload);
                    state.log_message(
                        Direction::In,
                        &d.display_name(),
                        &message.topic,
                        &payload,
                        Some(message.qos as u8),
                        message.retain,
                    );
                    match d
                        .machine
                        .message(&message.topic, &message.payload, now_ms())
                    {
                        Ok(Some(actions)) => {
                            d.error = None;
                            d.set_notice();
                            self.exec(state, id, d, actions);
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
        if upgraded {
            self.persist_fleet();
        }
        if opened {
            self.with(|sim| {
                if sim.opening == Some(id) {
                    sim.opening = None;
                    self.pump(sim);
                }
            });
        }
    }

    /// Opens the next queued connection, one at a time.
    pub(super) fn pump(self, sim: &mut Sim) {
        let state = sim.state;
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
            self.open_client(&state, id, d);
            sim.opening = Some(id);
            sim.open_timer = Some(Timeout::new(OPEN_TIMEOUT_MS, move || {
                self.with(|sim| {
                    if sim.opening == Some(id) {
                        sim.opening = None;
                        self.pump(sim);
                    }
                });
            }));
        }
    }
}
