//! Report export (JSON, CSV, JUnit XML).

use leptos::prelude::*;

use crate::components::save_file;
use crate::sim::cloud::{SandboxCloud, use_cloud};
use crate::sim::{Simulator, use_simulator};
use crate::state::AppState;
use crate::state::report::Report;

/// The report of the whole fleet by the sandbox cloud's observations, judged by the last run
/// scenario's expectations when there was one.
pub fn current_report(state: &AppState, sim: Simulator, cloud: SandboxCloud) -> Report {
    let ids: Vec<u32> = state
        .devices
        .with_untracked(|rows| rows.iter().map(|r| r.id).collect());
    let mut report = cloud.report(&sim.names(&ids));
    if let Some(judged) = state.judged.get_untracked() {
        report.scenario = Some(judged.name);
        report.judge(&judged.expect, judged.timed_out);
    }
    report
}

/// The export buttons.
#[component]
pub fn ReportExport() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let cloud = use_cloud();
    let report = move || current_report(&state, sim, cloud);
    view! {
        <section class="card">
            <h2>{move || state.t("report")}</h2>
            <div class="row">
                <button data-testid="export-json" on:click=move |_| save_file("otalab-report.json", "application/json", &report().to_json())>{move || state.t("export_json")}</button>
                <button data-testid="export-csv" on:click=move |_| save_file("otalab-report.csv", "text/csv", &report().to_csv())>{move || state.t("export_csv")}</button>
                <button data-testid="export-junit" on:click=move |_| save_file("otalab-report.xml", "application/xml", &report().to_junit())>{move || state.t("export_junit")}</button>
            </div>
        </section>
    }
}
