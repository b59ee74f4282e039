//! Step over time: upgrading / succeeded / failed counts as SVG lines.

use leptos::prelude::*;

use crate::state::{AppState, Sample};

fn points(samples: &[Sample], total: usize, pick: fn(&Sample) -> usize) -> String {
    let t_max = samples.last().map_or(1.0, |s| s.t.max(1.0));
    let y_max = total.max(1) as f64;
    samples
        .iter()
        .map(|s| {
            format!(
                "{:.1},{:.1}",
                s.t / t_max * 600.0,
                110.0 - pick(s) as f64 / y_max * 100.0
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The chart.
#[component]
pub fn Chart() -> impl IntoView {
    let state = expect_context::<AppState>();
    let line = move |pick: fn(&Sample) -> usize| {
        move || {
            let total = state.devices.with(Vec::len);
            state.samples.with(|s| points(s, total, pick))
        }
    };
    view! {
        <figure class="chart">
            <figcaption>{move || state.t("chart")}</figcaption>
            <svg viewBox="0 0 600 120" preserveAspectRatio="none" role="img">
                <polyline class="l-upgrading" fill="none" points=line(|s| s.upgrading) />
                <polyline class="l-succeeded" fill="none" points=line(|s| s.succeeded) />
                <polyline class="l-failed" fill="none" points=line(|s| s.failed) />
            </svg>
        </figure>
    }
}
