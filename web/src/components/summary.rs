//! Fleet summary by the cloud's rule, with the step-over-time chart. Each count is a chip that
//! filters the fleet table to its devices (click again to show every device).

use leptos::prelude::*;

use crate::components::chart::Chart;
use crate::state::report::{Summary as Counts, Verdict};
use crate::state::{AppState, RowFilter};

/// Counts of the current verdicts of the devices with a job.
pub fn counts(state: &AppState) -> Counts {
    state
        .devices
        .with(|rows| Counts::of(rows.iter().filter_map(|r| r.verdict.get())))
}

/// True when `row` is one of the devices behind `filter`.
pub fn matches(filter: Option<RowFilter>, row: &crate::state::DeviceRow) -> bool {
    match filter {
        None => true,
        Some(RowFilter::Online) => row.status.with(|s| s.link == otalab_sim::Link::Online),
        Some(RowFilter::NoJob) => row.verdict.get().is_none(),
        Some(RowFilter::Verdict(v)) => row.verdict.get() == Some(v),
    }
}

/// The summary card.
#[component]
pub fn Summary() -> impl IntoView {
    let state = expect_context::<AppState>();
    let count = move |f: RowFilter| {
        state
            .devices
            .with(|rows| rows.iter().filter(|r| matches(Some(f), r)).count())
    };
    let chip = move |f: RowFilter, key: &'static str, testid: &'static str, class: &'static str| {
        view! {
            <button class=format!("count {class}") data-testid=testid
                aria-pressed=move || (state.filter.get() == Some(f)).to_string()
                title=state.tr("chip_hint")
                on:click=move |_| state.filter.update(|c| *c = if *c == Some(f) { None } else { Some(f) })>
                {state.tr(key)}" "<b>{move || count(f)}</b>
            </button>
        }
    };
    view! {
        <section class="card wide summary">
            <h2>{state.tr("summary")}</h2>
            <div class="counts" role="group" aria-label=state.tr("summary")>
                <button class="count" data-testid="count-all" aria-pressed=move || state.filter.get().is_none().to_string()
                    on:click=move |_| state.filter.set(None)>{state.tr("show_all")}" "<b>{move || state.devices.with(Vec::len)}</b></button>
                {chip(RowFilter::Online, "online", "count-online", "")}
                {chip(RowFilter::NoJob, "no_job", "count-nojob", "verdict-none")}
                {chip(RowFilter::Verdict(Verdict::Pending), "pending", "count-pending", "verdict-pending")}
                {chip(RowFilter::Verdict(Verdict::Upgrading), "upgrading", "count-upgrading", "verdict-upgrading")}
                {chip(RowFilter::Verdict(Verdict::Succeeded), "succeeded", "count-succeeded", "verdict-succeeded")}
                {chip(RowFilter::Verdict(Verdict::Failed), "failed", "count-failed", "verdict-failed")}
                {chip(RowFilter::Verdict(Verdict::Cancelled), "cancelled", "count-cancelled", "verdict-cancelled")}
            </div>
            <Chart />
        </section>
    }
}
