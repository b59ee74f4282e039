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
            <figcaption>{state.tr("chart")}</figcaption>
            <svg viewBox="0 0 600 120" preserveAspectRatio="none" role="img">
                <polyline class="l-upgrading" fill="none" points=line(|s| s.upgrading) />
                <polyline class="l-succeeded" fill="none" points=line(|s| s.succeeded) />
                <polyline class="l-failed" fill="none" points=line(|s| s.failed) />
            </svg>
        </figure>
    }
}

/// The same chart as a standalone SVG document (for the printable report), with a legend and
/// the time axis in seconds. Only numbers go into it.
pub fn svg(samples: &[Sample], total: usize) -> String {
    let t_max = samples.last().map_or(1.0, |s| s.t.max(1.0));
    let line = |pick: fn(&Sample) -> usize, colour: &str| {
        format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" transform=\"translate(40,10)\" points=\"{}\"/>",
            points(samples, total, pick)
        )
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 680 170\" role=\"img\">\
<rect x=\"40\" y=\"20\" width=\"600\" height=\"100\" fill=\"none\" stroke=\"#ccc\"/>\
<text x=\"34\" y=\"24\" font-size=\"10\" text-anchor=\"end\">{total}</text>\
<text x=\"34\" y=\"124\" font-size=\"10\" text-anchor=\"end\">0</text>\
<text x=\"40\" y=\"136\" font-size=\"10\">0 s</text>\
<text x=\"640\" y=\"136\" font-size=\"10\" text-anchor=\"end\">{t_max:.0} s</text>\
{}{}{}\
<text x=\"40\" y=\"158\" font-size=\"11\" fill=\"#1f6feb\">upgrading</text>\
<text x=\"130\" y=\"158\" font-size=\"11\" fill=\"#17663a\">succeeded</text>\
<text x=\"220\" y=\"158\" font-size=\"11\" fill=\"#b3261e\">failed</text></svg>",
        line(|s| s.upgrading, "#1f6feb"),
        line(|s| s.succeeded, "#17663a"),
        line(|s| s.failed, "#b3261e"),
    )
}
