//! Scenarios in the tab: run an imported scenario file against the sandbox (its fleet, device
//! behaviour, cloud actions on time) with each expectation judged live by `otalab-sim`, and
//! save a manual session as a scenario that `otalab run` replays.

use std::collections::BTreeMap;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use otalab_protocol::{FileDigests, SignMethod};
use otalab_sim::scenario::Signing;
use otalab_sim::{
    Behaviour, CloudAction, Connection, CountRule, DeviceKey, Expectations, FaultShare,
    FirmwareSpec, FleetSpec, ListedDevice, Package, Scenario, Target, Verdict,
};
use wasm_bindgen_futures::spawn_local;

use super::Simulator;
use super::cloud::SandboxCloud;
pub use crate::state::scenario::{Judged, RunStatus, ScenarioView};
use crate::state::{AppState, now_ms};

/// One tab holds at most this many simulated devices (Chromium's WebSocket limit).
pub const MAX_TAB_DEVICES: usize = 250;

/// Firmware fetched to be hashed in the page is at most this large.
const MAX_FETCHED_FIRMWARE: usize = 64 * 1024 * 1024;

/// Reads a scenario file into the card (or shows why it is not one).
pub fn load(state: AppState, text: String) {
    let view = match Scenario::parse(&text) {
        Ok(s) => ScenarioView {
            name: s.name,
            description: s.description,
            text,
            status: RunStatus::Loaded,
            results: Vec::new(),
        },
        Err(e) => ScenarioView {
            name: String::new(),
            description: String::new(),
            text: String::new(),
            status: RunStatus::Error(format!("{}: {e}", e.code())),
            results: Vec::new(),
        },
    };
    state.scenario.set(Some(view));
}

fn set_status(state: AppState, status: RunStatus) {
    state.scenario.update(|v| {
        if let Some(v) = v {
            v.status = status;
        }
    });
}

/// Size and digests of a package at `url`, fetched and hashed in the page.
async fn describe(name: &str, url: &str, version: &str) -> Result<Package, String> {
    let bytes = otalab_browser::http::get_bytes(url, MAX_FETCHED_FIRMWARE).await?;
    let mut digests = FileDigests::new();
    digests.update(&bytes);
    let (size, md5, sha256) = digests.finish();
    Ok(Package {
        name: name.to_owned(),
        url: url.to_owned(),
        size,
        md5,
        sha256,
        version: version.to_owned(),
    })
}

/// Runs the loaded scenario: replaces the fleet, carries out the cloud's actions on time and
/// judges the expectations until every job is final or silent, or the time limit.
pub fn run(state: AppState, sim: Simulator, cloud: SandboxCloud) {
    let Some(view) = state.scenario.get_untracked() else {
        return;
    };
    spawn_local(async move {
        if let Err(e) = run_inner(state, sim, cloud, &view.text).await {
            set_status(state, RunStatus::Error(e));
        }
    });
}

async fn run_inner(
    state: AppState,
    sim: Simulator,
    cloud: SandboxCloud,
    text: &str,
) -> Result<(), String> {
    let scenario = Scenario::parse(text).map_err(|e| format!("{}: {e}", e.code()))?;
    if !matches!(scenario.connection, Connection::Sandbox { .. }) {
        return Err("the dashboard runs sandbox scenarios; run this one with otalab run".into());
    }
    let info = state
        .sandbox
        .get_untracked()
        .ok_or("the sandbox is not available (open the page from scripts/run)")?;
    let fleet = scenario
        .fleet(|file| {
            Err(format!(
                "{file}: the dashboard reads fleets written in the scenario (names or devices); run file fleets with otalab run"
            ))
        })
        .map_err(|e| e.to_string())?;
    if fleet.len() > MAX_TAB_DEVICES {
        return Err(format!(
            "{} devices: a tab holds at most {MAX_TAB_DEVICES}; run it with otalab run",
            fleet.len()
        ));
    }
    set_status(state, RunStatus::Preparing);
    state.scenario.update(|v| {
        if let Some(v) = v {
            v.results.clear();
        }
    });
    let mut packages: BTreeMap<String, Package> = BTreeMap::new();
    for (key, spec) in &scenario.firmware {
        let package = match (&spec.file, &spec.url) {
            (Some(file), _) => match info.demo.iter().find(|p| &p.name == file) {
                Some(demo) => Package {
                    version: spec.version.clone(),
                    ..demo.clone()
                },
                None => {
                    let url = format!("{}{file}", info.firmware_base);
                    describe(file, &url, &spec.version).await?
                }
            },
            (None, Some(url)) => describe(key, url, &spec.version).await?,
            (None, None) => return Err(format!("firmware.{key}: no file or url")),
        };
        packages.insert(key.clone(), package);
    }
    let keys: Vec<DeviceKey> = fleet
        .iter()
        .map(|d| DeviceKey::new(d.spec.product_key.clone(), d.spec.device_name.clone()))
        .collect();
    let removed = sim.remove_all();
    cloud.forget(&removed);
    cloud.forget(&keys);
    sim.add_configured(
        fleet
            .iter()
            .map(|d| (d.spec.clone(), scenario.device_config(d)))
            .collect(),
    );
    sim.connect_all();
    let started = now_ms();
    let deadline = started + scenario.expect.time_limit_ms;
    while sim.online() < keys.len() && now_ms() < deadline {
        TimeoutFuture::new(100).await;
    }
    let t0 = now_ms();
    for action in &scenario.actions {
        let at = (t0 + action.at_ms).min(deadline);
        while now_ms() < at {
            set_status(
                state,
                RunStatus::Running {
                    elapsed_ms: now_ms() - t0,
                },
            );
            TimeoutFuture::new((at - now_ms()).min(250) as u32).await;
        }
        let package = packages
            .get(&action.push)
            .ok_or_else(|| format!("no firmware {}", action.push))?;
        if action.notice.over_mqtt() {
            cloud.prepare_stream(package).await?;
        }
        let targets: Vec<DeviceKey> = action
            .to
            .select(&keys)
            .into_iter()
            .map(|i| keys[i].clone())
            .collect();
        if !targets.is_empty() {
            cloud.push(&targets, package, action.notice, action.sign_method.into())?;
        }
    }
    let expect = &scenario.expect;
    let timed_out = loop {
        let report = cloud.report(&keys);
        let results = report.check(expect, false);
        state.scenario.update(|v| {
            if let Some(v) = v {
                v.results = results;
                v.status = RunStatus::Running {
                    elapsed_ms: now_ms() - t0,
                };
            }
        });
        if cloud.settled(&keys, expect.quiet_ms) {
            break false;
        }
        if now_ms() >= deadline {
            break true;
        }
        TimeoutFuture::new(500).await;
    };
    let report = cloud.report(&keys);
    let results = report.check(expect, timed_out);
    let passed = results.iter().all(|r| r.held);
    state.judged.set(Some(Judged {
        name: scenario.name.clone(),
        expect: expect.clone(),
        timed_out,
    }));
    state.scenario.update(|v| {
        if let Some(v) = v {
            v.results = results;
            v.status = if passed {
                RunStatus::Passed
            } else {
                RunStatus::Failed
            };
        }
    });
    Ok(())
}

/// The session so far as a scenario: the fleet with each device's version and fault, the
/// panel's behaviour settings, every push at its time, and what the cloud judged as the
/// expectations (so that `otalab run` checks the same outcome again).
pub fn session_scenario(
    state: AppState,
    sim: Simulator,
    cloud: SandboxCloud,
) -> Result<String, String> {
    let configs = sim.configs();
    if configs.is_empty() {
        return Err("add devices first".into());
    }
    let settings = state.settings.get_untracked();
    let keys: Vec<DeviceKey> = configs
        .iter()
        .map(|(s, _)| DeviceKey::new(s.product_key.clone(), s.device_name.clone()))
        .collect();
    let mut faults: Vec<FaultShare> = Vec::new();
    for (spec, config) in &configs {
        if config.fault == otalab_sim::Fault::None {
            continue;
        }
        let name = format!("{}/{}", spec.product_key, spec.device_name);
        match faults.iter_mut().find(|f| f.fault == config.fault) {
            Some(group) => group.devices.push(name),
            None => faults.push(FaultShare {
                share: None,
                count: None,
                devices: vec![name],
                fault: config.fault.clone(),
            }),
        }
    }
    let base = state
        .sandbox
        .get_untracked()
        .map(|i| i.firmware_base)
        .unwrap_or_default();
    let pushes = cloud.pushes();
    let first = pushes.first().map_or(0, |p| p.at_ms);
    let mut firmware: BTreeMap<String, FirmwareSpec> = BTreeMap::new();
    let mut actions = Vec::new();
    for push in &pushes {
        let spec = match push.package.url.strip_prefix(&base) {
            Some(file) if !base.is_empty() => FirmwareSpec {
                version: push.package.version.clone(),
                file: Some(file.to_owned()),
                url: None,
            },
            _ => FirmwareSpec {
                version: push.package.version.clone(),
                file: None,
                url: Some(push.package.url.clone()),
            },
        };
        let key = match firmware.iter().find(|(_, f)| **f == spec) {
            Some((key, _)) => key.clone(),
            None => {
                let key = format!("fw{}", firmware.len() + 1);
                firmware.insert(key.clone(), spec);
                key
            }
        };
        let to =
            if push.devices.len() == keys.len() && keys.iter().all(|k| push.devices.contains(k)) {
                Target::All
            } else {
                Target::Devices {
                    devices: push.devices.iter().map(DeviceKey::to_string).collect(),
                }
            };
        actions.push(CloudAction {
            at_ms: push.at_ms - first,
            push: key,
            notice: push.kind,
            sign_method: match push.method {
                SignMethod::Md5 => Signing::Md5,
                SignMethod::Sha256 => Signing::Sha256,
            },
            to,
        });
    }
    let report = cloud.report(&keys);
    let mut expect = Expectations::default();
    let s = report.summary;
    for (verdict, count) in [
        (Verdict::Succeeded, s.succeeded),
        (Verdict::Failed, s.failed),
        (Verdict::Upgrading, s.upgrading),
        (Verdict::Pending, s.pending),
    ] {
        if count > 0 {
            expect
                .verdicts
                .insert(verdict, CountRule::Exactly(count as u64));
        }
    }
    for d in &report.devices {
        if let Some(v) = &d.final_version {
            let entry = expect
                .final_versions
                .entry(v.clone())
                .or_insert(CountRule::Exactly(0));
            if let CountRule::Exactly(n) = entry {
                *n += 1;
            }
        }
    }
    let scenario = Scenario {
        name: format!(
            "dashboard session {}",
            js_sys::Date::new_0()
                .to_iso_string()
                .as_string()
                .unwrap_or_default()
        ),
        description: "Saved from the otalab dashboard.".into(),
        connection: Connection::Sandbox { url: None },
        fleet: FleetSpec {
            product_key: None,
            names: None,
            devices_conf: None,
            csv: None,
            devices: configs
                .iter()
                .map(|(spec, _)| ListedDevice {
                    product_key: spec.product_key.clone(),
                    device_name: spec.device_name.clone(),
                    version: Some(spec.version.clone()),
                })
                .collect(),
            version: "1.0.0".into(),
        },
        device: Behaviour {
            cadence_percent: settings.cadence_percent.max(1),
            flash_ms: settings.flash_ms,
            faults,
            ..Behaviour::default()
        },
        firmware,
        actions,
        expect,
    };
    scenario.validate().map_err(|e| e.to_string())?;
    scenario.to_toml().map_err(|e| e.to_string())
}
