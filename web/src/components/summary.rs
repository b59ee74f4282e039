//! Fleet summary by the cloud's rule, with the step-over-time chart.

use leptos::prelude::*;

use crate::components::chart::Chart;
use crate::state::AppState;
use crate::state::report::{Summary as Counts, Verdict};

/// Counts of the current verdicts.
pub fn counts(state: &AppState) -> Counts {
    state
        .devices
        .with(|rows| Counts::of(rows.iter().map(|r| r.verdict.get())))
}

/// The summary card.
#[component]
pub fn Summary() -> impl IntoView {
    let state = expect_context::<AppState>();
    let online = move || {
        state.devices.with(|rows| {
            rows.iter()
                .filter(|r| r.status.with(|s| s.link == otalab_sim::Link::Online))
                .count()
        })
    };
    let count = move |v: Verdict| {
        let c = counts(&state);
        match v {
            Verdict::Pending => c.pending,
            Verdict::Upgrading => c.upgrading,
            Verdict::Succeeded => c.succeeded,
            Verdict::Failed => c.failed,
        }
    };
    view! {
        <section class="card wide summary">
            <h2>{move || state.t("summary")}</h2>
            <div class="counts">
                <span class="count" data-testid="count-online">{move || state.t("online")}" "<b>{online}</b></span>
                <span class="count verdict-pending" data-testid="count-pending">{move || state.t("pending")}" "<b>{move || count(Verdict::Pending)}</b></span>
                <span class="count verdict-upgrading" data-testid="count-upgrading">{move || state.t("upgrading")}" "<b>{move || count(Verdict::Upgrading)}</b></span>
                <span class="count verdict-succeeded" data-testid="count-succeeded">{move || state.t("succeeded")}" "<b>{move || count(Verdict::Succeeded)}</b></span>
                <span class="count verdict-failed" data-testid="count-failed">{move || state.t("failed")}" "<b>{move || count(Verdict::Failed)}</b></span>
            </div>
            <Chart />
        </section>
    }
}
