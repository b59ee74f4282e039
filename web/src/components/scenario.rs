//! The scenario card: import a scenario file, run it against the sandbox with each expectation
//! shown passing or failing, and save the manual session as a scenario file.

use leptos::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::components::save_file;
use crate::sim::cloud::use_cloud;
use crate::sim::scenario::{self, RunStatus};
use crate::sim::use_simulator;
use crate::state::AppState;

/// Scenario files larger than this are refused before reading.
const MAX_SCENARIO_BYTES: f64 = 4.0 * 1024.0 * 1024.0;

/// The card.
#[component]
pub fn ScenarioPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let cloud = use_cloud();
    // Problems with the file or the session, next to the card's buttons.
    let message = RwSignal::new(String::new());
    let pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        if file.size() > MAX_SCENARIO_BYTES {
            message.set(format!("{}: over 4 MiB, not a scenario", file.name()));
            return;
        }
        message.set(String::new());
        spawn_local(async move {
            match JsFuture::from(file.text()).await {
                Ok(text) => scenario::load(state, text.as_string().unwrap_or_default()),
                Err(_) => message.set("cannot read the file".into()),
            }
        });
    };
    let running = move || {
        state.scenario.with(|v| {
            v.as_ref().is_some_and(|v| {
                matches!(v.status, RunStatus::Preparing | RunStatus::Running { .. })
            })
        })
    };
    let runnable = move || {
        state
            .scenario
            .with(|v| v.as_ref().is_some_and(|v| !v.text.is_empty()))
            && !running()
    };
    let save = move |_| match scenario::session_scenario(state, sim, cloud) {
        Ok(text) => save_file("otalab-scenario.toml", "application/toml", &text),
        Err(e) => message.set(e),
    };
    let status = move || {
        state.scenario.with(|v| {
            v.as_ref().map(|v| {
                let (key, text) = match &v.status {
                    RunStatus::Loaded => ("loaded", state.t("scenario_loaded").to_owned()),
                    RunStatus::Preparing => ("preparing", state.t("scenario_preparing").to_owned()),
                    RunStatus::Running { elapsed_ms } => (
                        "running",
                        format!(
                            "{} {:.1} s",
                            state.t("scenario_running"),
                            *elapsed_ms as f64 / 1000.0
                        ),
                    ),
                    RunStatus::Passed => ("passed", state.t("scenario_passed").to_owned()),
                    RunStatus::Failed => ("failed", state.t("scenario_failed").to_owned()),
                    RunStatus::Error(e) => ("error", e.clone()),
                };
                (key, format!("{} · {text}", v.name), v.description.clone())
            })
        })
    };
    view! {
        <section class="card" data-testid="scenario-panel">
            <h2>{state.tr("scenario")}</h2>
            <label>{state.tr("scenario_file")}
                <input type="file" accept=".toml,text/plain" data-testid="scenario-file" on:change=pick />
            </label>
            <div class="row">
                <button data-testid="scenario-run" prop:disabled=move || !runnable()
                    on:click=move |_| scenario::run(state, sim, cloud)>{state.tr("run_scenario")}</button>
                <button data-testid="save-scenario" on:click=save>{state.tr("save_scenario")}</button>
            </div>
            <p class="field-error" role="alert" data-testid="scenario-message">{message}</p>
            {move || status().map(|(key, line, description)| view! {
                <p class=format!("scenario-status status-{key}") data-testid="scenario-status" data-status=key>{line}</p>
                <p class="hint">{description}</p>
            })}
            <ul class="expectations" data-testid="expectations">
                {move || state.scenario.with(|v| v.as_ref().map(|v| v.results.clone()).unwrap_or_default())
                    .into_iter()
                    .map(|r| view! {
                        <li data-testid="expectation" data-held=if r.held { "true" } else { "false" }
                            class=if r.held { "held" } else { "broken" }>
                            <span class="mark">{if r.held { "✓" } else { "✗" }}</span>
                            <b>{r.name}</b>" "<span class="detail">{r.detail}</span>
                        </li>
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
