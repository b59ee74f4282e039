//! Report export (JSON, CSV).

use leptos::prelude::*;

use crate::components::save_file;
use crate::sim;
use crate::sim::cloud;
use crate::state::AppState;
use crate::state::report::Report;

/// The report of the whole fleet, by the sandbox cloud's observations.
pub fn current_report(state: &AppState) -> Report {
    let ids: Vec<u32> = state
        .devices
        .with_untracked(|rows| rows.iter().map(|r| r.id).collect());
    cloud::report(&sim::names(&ids))
}

/// The export buttons.
#[component]
pub fn ReportExport() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <section class="card">
            <h2>{move || state.t("report")}</h2>
            <div class="row">
                <button data-testid="export-json" on:click=move |_| save_file("otalab-report.json", "application/json", &current_report(&state).to_json())>{move || state.t("export_json")}</button>
                <button data-testid="export-csv" on:click=move |_| save_file("otalab-report.csv", "text/csv", &current_report(&state).to_csv())>{move || state.t("export_csv")}</button>
            </div>
        </section>
    }
}
