//! Scenarios in the tab: run an imported scenario file against the sandbox (its fleet, device
//! behaviour, cloud actions on time) with each expectation judged live by `otalab-sim`, and
//! save a manual session as a scenario that `otalab run` replays.

use std::collections::BTreeMap;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use otalab_protocol::SignMethod;
use otalab_sim::scenario::Signing;
use otalab_sim::{
    Behaviour, CloudAction, Connection, CountRule, DeviceKey, Expectations, FaultShare,
    FirmwareSpec, FleetSpec, ListedDevice, Package, RunEvent, RunPhase, Scenario, ScenarioRun,
    Shard, Target, Verdict,
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
    let view = match super::toml::parse(&text) {
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
async fn describe(url: &str, version: &str) -> Result<Package, String> {
    let bytes = otalab_browser::http::get_bytes(url, MAX_FETCHED_FIRMWARE).await?;
    Ok(Package::describe(url, version, &bytes))
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
    let scenario = super::toml::parse(text).map_err(|e| format!("{}: {e}", e.code()))?;
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
    let keys: Vec<DeviceKey> = fleet
        .iter()
        .map(|d| DeviceKey::new(d.spec.product_key.clone(), d.spec.device_name.clone()))
        .collect();
    // The executor is otalab-sim's: this loop feeds it the time and the fleet's connections,
    // lends it the cloud, and shows what it reports.
    let mut run = ScenarioRun::new(scenario.clone(), keys.clone(), Shard::ALL);
    run.set_faults(&fleet);
    let wanted = run
        .firmware(Some(&info.firmware_base))
        .map_err(|e| format!("{}: {e}", e.code()))?;
    for want in wanted {
        // The sandbox's demo packages are described in sandbox.json: no need to fetch them.
        let package = match info.demo.iter().find(|p| p.url == want.url) {
            Some(demo) => Package {
                version: want.version.clone(),
                ..demo.clone()
            },
            None => describe(&want.url, &want.version).await?,
        };
        if want.stream {
            cloud.prepare_stream(&package).await?;
        }
        run.handle_firmware(&want.key, package);
    }
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
    run.start(now_ms())
        .map_err(|e| format!("{}: {e}", e.code()))?;
    let mut live_at = 0;
    let mut timed_out = false;
    let report = loop {
        let now = now_ms();
        run.handle_connected(sim.online(), now);
        let mut finished = None;
        for event in cloud.drive(&mut run, now) {
            match event {
                RunEvent::Stop { timed_out: t } => timed_out = t,
                RunEvent::Finished(report) => finished = Some(report),
                RunEvent::Failed(e) => return Err(format!("{}: {e}", e.code())),
                RunEvent::AllConnected { .. }
                | RunEvent::Pushed { .. }
                | RunEvent::JobCreated { .. } => {}
            }
        }
        if let Some(report) = finished {
            break report;
        }
        // The expectations as they stand, twice a second.
        let results = (now >= live_at && run.phase() == RunPhase::Settling).then(|| {
            live_at = now + 500;
            cloud.live(&run)
        });
        state.scenario.update(|v| {
            if let Some(v) = v {
                if let Some(results) = results {
                    v.results = results;
                }
                if run.phase() != RunPhase::Connecting {
                    v.status = RunStatus::Running {
                        elapsed_ms: run.elapsed_ms(now),
                    };
                }
            }
        });
        let wait = cloud
            .run_due(&run)
            .map_or(250, |at| at.saturating_sub(now_ms()))
            .clamp(10, 250);
        TimeoutFuture::new(wait as u32).await;
    };
    let expect = &scenario.expect;
    let passed = report.passed();
    state.judged.set(Some(Judged {
        name: scenario.name.clone(),
        expect: expect.clone(),
        timed_out,
    }));
    state.scenario.update(|v| {
        if let Some(v) = v {
            v.results = report.expectations.clone();
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
            job: None,
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
    super::toml::to_toml(&scenario)
}
