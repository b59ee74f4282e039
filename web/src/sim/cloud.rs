//! The browser driver of the sandbox cloud (`otalab_sim::Cloud`): its MQTT client, the firmware
//! fetch for delivery over MQTT, and copying verdicts to the rows. Every rule (notices, pull
//! answers, push-again, block serving, verdicts) is in otalab-sim.

use std::cell::RefCell;

use leptos::prelude::*;
use otalab_browser::{ClientEvent, ClientOptions, MqttClient, Options, QoS};
use otalab_protocol::{SignMethod, Topic};
use otalab_sim::{Cloud, DeviceKey, Outgoing, Qos};
use wasm_bindgen_futures::spawn_local;

pub use otalab_sim::NoticeKind;
pub use otalab_sim::cloud::MQTT_DELIVERY_LIMIT;

use crate::state::report::{Report, Verdict};
use crate::state::{AppState, Package, now_ms};

#[derive(Default)]
struct Driver {
    state: Option<AppState>,
    client: Option<MqttClient>,
    cloud: Cloud,
    answer_pulls: bool,
}

thread_local! {
    static CLOUD: RefCell<Driver> = RefCell::new(Driver::default());
}

/// Connects the cloud to the sandbox broker.
pub fn start(state: AppState, broker_ws: &str) {
    // One cloud per page; a unique id keeps two open dashboards from taking over each other.
    let id = format!(
        "otalab-sandbox-cloud-{:08x}",
        (js_sys::Math::random() * 4.0e9) as u64
    );
    let client = MqttClient::new(ClientOptions::new(broker_ws, Options::new(id)));
    client.on_event(|event| {
        let event = event.clone();
        spawn_local(async move { on_event(event) });
    });
    for filter in Cloud::SUBSCRIPTIONS {
        drop(client.subscribe(filter, QoS::AtLeastOnce));
    }
    client.connect();
    let faults = state.sandbox.get_untracked().map(|s| s.faults);
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |driver| {
        driver.state = Some(state);
        driver.client = Some(client);
        driver.answer_pulls = true;
        driver.cloud = Cloud::new(now_ms());
        driver.cloud.set_fault_urls(faults);
    });
}

/// Answer T4 pulls with the selected package.
pub fn set_answer_pulls(answer: bool) {
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |driver| {
        driver.answer_pulls = answer
    });
}

/// Copies a device's verdict to its row.
fn show(state: &AppState, key: &DeviceKey, verdict: Verdict) {
    state.devices.with_untracked(|rows| {
        for row in rows {
            if row.name.with_value(|n| n == key) && row.verdict.get_untracked() != verdict {
                row.verdict.set(verdict);
            }
        }
    });
}

fn send(driver: &Driver, out: Vec<Outgoing>) {
    let Some(client) = &driver.client else { return };
    for message in out {
        let qos = match message.qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
        };
        let _ = client.publish_token(&message.topic, &message.payload, qos);
    }
}

fn on_event(event: ClientEvent) {
    let ClientEvent::Message(message) = event else {
        return;
    };
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |driver| {
        let Some(state) = driver.state else { return };
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
        send(driver, out);
        if let Ok(topic) = Topic::parse(&message.topic) {
            let key = (topic.product_key, topic.device_name);
            if driver.cloud.job(&key).is_some() {
                show(&state, &key, driver.cloud.verdict(&key));
            }
        }
    });
}

/// Loads `package` for delivery over MQTT (once per package) and returns its stream id.
pub async fn prepare_stream(package: &Package) -> Result<u64, String> {
    let known = super::borrow_or_skip(&CLOUD, "sandbox cloud", |driver| {
        driver.cloud.stream_of(package)
    });
    if let Some(id) = known {
        return Ok(id);
    }
    Cloud::check_deliverable(package).map_err(|e| e.to_string())?;
    let bytes = otalab_browser::http::get_bytes(&package.url, MQTT_DELIVERY_LIMIT).await?;
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |driver| {
        Some(
            driver
                .cloud
                .add_stream(package, bytes)
                .map_err(|e| e.to_string()),
        )
    })
    .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".to_owned()))
}

/// Pushes `package` to these devices as a notice of `kind`, signed with `method`; returns how
/// many were sent. A notice over MQTT needs [`prepare_stream`] first.
pub fn push(
    devices: &[DeviceKey],
    package: &Package,
    kind: NoticeKind,
    method: SignMethod,
) -> Result<usize, String> {
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |driver| {
        let Some(state) = driver.state else {
            return Some(Err("the sandbox cloud is not running".into()));
        };
        if driver.client.is_none() {
            return Some(Err("the sandbox cloud is not connected".into()));
        }
        let out = match driver.cloud.push(devices, package, kind, method, now_ms()) {
            Ok(out) => out,
            Err(error) => return Some(Err(format!("{}: {error}", error.code()))),
        };
        let sent = out.len();
        send(driver, out);
        for key in devices {
            show(&state, key, Verdict::Pending);
        }
        state.cloud_version.update(|v| *v += 1);
        Some(Ok(sent))
    })
    .unwrap_or_else(|| Err("the sandbox cloud is busy: try again".into()))
}

/// The report for these devices (all known to the simulator).
pub fn report(devices: &[DeviceKey]) -> Report {
    super::borrow_or_skip(&CLOUD, "sandbox cloud", |driver| {
        Some(driver.cloud.report(devices, now_ms()))
    })
    .unwrap_or_else(|| Report::new(now_ms(), Vec::new()))
}
