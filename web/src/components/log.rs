//! The message log: every topic and payload in and out, filterable, pausable, copyable.

use leptos::prelude::*;

use crate::state::{AppState, Direction};

fn pretty(payload: &str) -> String {
    serde_json::from_str::<serde_json::Value>(payload)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| payload.to_owned())
}

/// Rows shown at most (the log keeps more).
const SHOWN: usize = 200;

/// The log.
#[component]
pub fn Log() -> impl IntoView {
    let state = expect_context::<AppState>();
    let filter = RwSignal::new(String::new());
    let direction = RwSignal::new("all".to_string());
    let pretty_on = RwSignal::new(false);
    let rows = move || {
        let needle = filter.get().to_lowercase();
        let dir = direction.get();
        state.log.with(|log| {
            log.iter()
                .filter(|e| match dir.as_str() {
                    "in" => e.direction == Direction::In,
                    "out" => e.direction == Direction::Out,
                    _ => true,
                })
                .filter(|e| {
                    needle.is_empty()
                        || e.device.to_lowercase().contains(&needle)
                        || e.topic.to_lowercase().contains(&needle)
                })
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let copy = |text: String| {
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
        }
    };
    view! {
        <section class="card wide">
            <h2>{move || state.t("log")}" ("{move || state.log.with(|l| l.len())}")"</h2>
            <div class="row">
                <input placeholder=move || state.t("filter") data-testid="log-filter" prop:value=filter on:input=move |ev| filter.set(event_target_value(&ev)) />
                <select on:change=move |ev| direction.set(event_target_value(&ev))>
                    <option value="all">"in + out"</option><option value="in">"↓ in"</option><option value="out">"↑ out"</option>
                </select>
                <button data-testid="log-pause" on:click=move |_| state.log_paused.update(|p| *p = !*p)>
                    {move || if state.log_paused.get() { state.t("resume") } else { state.t("pause") }}</button>
                <label>{move || state.t("keep_last")}<input type="number" min="1" max="20000" prop:value=move || state.log_limit.get().to_string()
                    on:change=move |ev| state.log_limit.set(event_target_value(&ev).parse().unwrap_or(500)) /></label>
                <label><input type="checkbox" prop:checked=pretty_on on:change=move |ev| pretty_on.set(event_target_checked(&ev)) />"JSON"</label>
                <button on:click=move |_| state.log.update(|l| l.clear())>{move || state.t("clear")}</button>
            </div>
            <table class="log" data-testid="log">
                <tbody>
                    <For each=rows key=|e| e.seq children=move |e| {
                        let payload = e.payload.clone();
                        let shown = e.payload.clone();
                        view! {
                            <tr class=if e.direction == Direction::In { "in" } else { "out" }>
                                <td>{if e.direction == Direction::In { "↓" } else { "↑" }}</td>
                                <td class="dev">{e.device.clone()}</td>
                                <td class="topic">{e.topic.clone()}</td>
                                <td class="payload"><pre>{move || if pretty_on.get() { pretty(&shown) } else { shown.clone() }}</pre></td>
                                <td><button on:click=move |_| copy(payload.clone())>{move || state.t("copy")}</button></td>
                            </tr>
                        }
                    } />
                </tbody>
            </table>
        </section>
    }
}
