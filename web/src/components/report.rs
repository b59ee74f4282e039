//! Report export: JSON, CSV (with the summary and failure columns), JUnit XML, and a printable
//! HTML page with the chart. Every batch with its notice and grouped failures, every step at a
//! human time, each device's failure and injected fault.

use leptos::prelude::*;

use crate::components::save_file;
use crate::sim::cloud::{SandboxCloud, use_cloud};
use crate::sim::{Simulator, use_simulator};
use crate::state::AppState;
use crate::state::report::Report;

/// The report of the whole fleet by the sandbox cloud's observations, with each simulated
/// device's injected fault, judged by the last run scenario's expectations when there was one.
pub fn current_report(state: &AppState, sim: Simulator, cloud: SandboxCloud) -> Report {
    // Simulated and external devices alike.
    let mut report = cloud.report(&state.keys());
    for (spec, config) in sim.configs() {
        if let Some(row) = report
            .devices
            .iter_mut()
            .find(|d| d.product_key == spec.product_key && d.device_name == spec.device_name)
        {
            let text = config.fault.to_string();
            row.fault = (!text.is_empty()).then_some(text);
        }
    }
    if let Some(judged) = state.judged.get_untracked() {
        report.scenario = Some(judged.name);
        report.judge(&judged.expect, judged.timed_out);
    }
    report
}

/// The formats a report is exported in.
#[derive(Clone, Copy)]
enum Format {
    Html,
    Json,
    Csv,
    Junit,
}

/// The export buttons.
#[component]
pub fn ReportExport() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let cloud = use_cloud();
    // One closure builds the report and writes the chosen format (each button only says
    // which): the report is built in one place of the wasm, not inlined once per button.
    let export = move |format: Format| {
        let report = current_report(&state, sim, cloud);
        let (name, mime, text) = match format {
            Format::Html => {
                let chart = state.samples.with_untracked(|s| {
                    crate::components::chart::svg(s, state.devices.with_untracked(Vec::len))
                });
                (
                    "otalab-report.html",
                    "text/html",
                    report.to_html("otalab report", Some(&chart)),
                )
            }
            Format::Json => ("otalab-report.json", "application/json", report.to_json()),
            Format::Csv => ("otalab-report.csv", "text/csv", report.to_csv()),
            Format::Junit => ("otalab-report.xml", "application/xml", report.to_junit()),
        };
        save_file(name, mime, &text);
    };
    view! {
        <section class="card">
            <h2>{state.tr("report")}</h2>
            <div class="row">
                <button data-testid="export-html" class="primary" on:click=move |_| export(Format::Html)>{state.tr("export_html")}</button>
                <button data-testid="export-json" on:click=move |_| export(Format::Json)>{state.tr("export_json")}</button>
                <button data-testid="export-csv" on:click=move |_| export(Format::Csv)>{state.tr("export_csv")}</button>
                <button data-testid="export-junit" on:click=move |_| export(Format::Junit)>{state.tr("export_junit")}</button>
            </div>
        </section>
    }
}
