//! The application shell: state, start-up (sandbox discovery), layout.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen_futures::spawn_local;

use crate::components::batches::Batches;
use crate::components::conformance::Conformance;
use crate::components::connection::Connection;
use crate::components::fleet_table::FleetTable;
use crate::components::fleet_tools::FleetTools;
use crate::components::header::Header;
use crate::components::injection::Injection;
use crate::components::log::Log;
use crate::components::notice::NoticeDetail;
use crate::components::platform::Platform;
use crate::components::report::ReportExport;
use crate::components::scenario::ScenarioPanel;
use crate::components::summary::Summary;
use crate::sim::cloud::SandboxCloud;
use crate::sim::{FLEET_KEY, Simulator};
use crate::state::fleet::{DeviceSpec, StoredDevice, from_stored};
use crate::state::{AppState, Profile, Sample, SandboxInfo, load, now_ms};

/// Demo devices added when the page opens on the sandbox profile.
const DEMO_DEVICES: [&str; 3] = ["meter-0001", "meter-0002", "meter-0003"];

fn wants_demo() -> bool {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .is_none_or(|q| !q.contains("demo=0"))
}

/// Finds the sandbox (served next to the page by scripts/run) and sets it up; restores the
/// saved fleet (or adds the demo devices) unless the URL says `?demo=0`.
fn discover_sandbox(state: AppState, sim: Simulator, cloud: SandboxCloud) {
    spawn_local(async move {
        let Ok(text) = otalab_browser::http::get_text("/sandbox.json").await else {
            state
                .notice_line
                .set("no local sandbox here: choose Alibaba Cloud IoT or a broker".into());
            return;
        };
        let Ok(info) = serde_json::from_str::<SandboxInfo>(&text) else {
            state.notice_line.set("sandbox.json is not readable".into());
            return;
        };
        let broker_ws = info.broker_ws.clone();
        state.package.set(info.demo.first().cloned());
        state.sandbox.set(Some(info));
        cloud.start(&broker_ws);
        let saved = load::<Vec<StoredDevice>>(FLEET_KEY).unwrap_or_default();
        if !saved.is_empty() && wants_demo() {
            let count = saved.len();
            sim.add_devices(from_stored(saved));
            sim.connect_all();
            // Said once, so that nothing vanishes without a word.
            state.notice_line.set(format!(
                "{} {count} · {}",
                state.t("restored"),
                state.t("restored_detail")
            ));
        } else if state.profile.get_untracked() == Profile::Sandbox && wants_demo() {
            sim.add_devices(
                DEMO_DEVICES
                    .iter()
                    .map(|name| DeviceSpec {
                        product_key: "a1Sandbox01".into(),
                        device_name: (*name).into(),
                        device_secret: String::new(),
                        version: "1.0.0".into(),
                    })
                    .collect(),
            );
            sim.connect_all();
        }
    });
}

/// Samples the verdict counts once a second while anything is under way.
fn sample(state: AppState) {
    let start = now_ms();
    let _ = set_interval_with_handle(
        move || {
            let c = state.devices.with_untracked(|rows| {
                crate::state::report::Summary::of(
                    rows.iter().filter_map(|r| r.verdict.get_untracked()),
                )
            });
            let active = c.upgrading + c.succeeded + c.failed > 0;
            if active {
                state.samples.update(|s| {
                    s.push(Sample {
                        t: (now_ms() - start) as f64 / 1000.0,
                        upgrading: c.upgrading,
                        succeeded: c.succeeded,
                        failed: c.failed,
                    });
                    if s.len() > 900 {
                        s.remove(0);
                    }
                });
            }
        },
        Duration::from_secs(1),
    );
}

/// The dashboard.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    let sim = Simulator::new(state);
    provide_context(sim);
    let cloud = SandboxCloud::new(state);
    provide_context(cloud);
    discover_sandbox(state, sim, cloud);
    sample(state);
    view! {
        <Header />
        <main class="layout">
            <div class="content">
                <Platform />
                <Summary />
                <FleetTable />
                <Batches />
                <NoticeDetail />
                <Log />
            </div>
            <aside>
                <FleetTools />
                <Injection />
                <ReportExport />
                <Conformance />
                <ScenarioPanel />
                <Connection />
            </aside>
        </main>
    }
}
