//! The message log, like MQTTX's: every message in and out with its local time, QoS and
//! RETAIN flag, each device's connection events (connected, subscribed, disconnected,
//! reconnecting), filterable, pausable, copyable; and a form to publish any message on any
//! topic from any device.

use leptos::prelude::*;
use otalab_browser::QoS;

use crate::sim::use_simulator;
use crate::state::{AppState, Direction, clock_time};
use otalab_sim::DeviceKey;

fn pretty(payload: &str) -> String {
    serde_json::from_str::<serde_json::Value>(payload)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| payload.to_owned())
}

/// Rows shown at most (the log keeps more).
const SHOWN: usize = 200;

/// Publishing an arbitrary message from one device.
#[component]
fn Publish() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let device = RwSignal::new(None::<u32>);
    let topic = RwSignal::new(String::new());
    let payload = RwSignal::new(String::new());
    let qos = RwSignal::new(1u8);
    let retain = RwSignal::new(false);
    let message = RwSignal::new(String::new());
    let send = move |_| {
        let Some(id) = device
            .get_untracked()
            .or_else(|| state.devices.with_untracked(|r| r.first().map(|r| r.id)))
        else {
            message.set(state.t("need_device").to_owned());
            return;
        };
        let topic_text = topic.get_untracked();
        if topic_text.trim().is_empty() {
            message.set(state.t("need_topic").to_owned());
            return;
        }
        let level = if qos.get_untracked() == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        match sim.publish_raw(
            id,
            &topic_text,
            &payload.get_untracked(),
            level,
            retain.get_untracked(),
        ) {
            Ok(()) => message.set(format!("{} {topic_text}", state.t("published"))),
            Err(e) => message.set(e),
        }
    };
    view! {
        <details class="publish" data-testid="publish">
            <summary>{state.tr("publish")}</summary>
            <div class="form-grid">
                <label>{state.tr("from_device")}
                    <select data-testid="publish-device" on:change=move |ev| device.set(event_target_value(&ev).parse().ok())>
                        <For each=move || state.devices.get() key=|r| r.id children=move |r| {
                            let DeviceKey(pk, dn) = r.name.get_value();
                            view! { <option value=r.id.to_string()>{format!("{pk}/{dn}")}</option> }
                        } />
                    </select></label>
                <label>{state.tr("topic")}
                    <input data-testid="publish-topic" placeholder="/sys/{productKey}/{deviceName}/thing/event/property/post"
                        prop:value=topic on:input=move |ev| { topic.set(event_target_value(&ev)); message.set(String::new()); } /></label>
                <label>"QoS"<select data-testid="publish-qos" on:change=move |ev| qos.set(event_target_value(&ev).parse().unwrap_or(1))>
                    <option value="1" selected>"1"</option><option value="0">"0"</option></select></label>
                <label class="check"><input type="checkbox" data-testid="publish-retain" prop:checked=retain
                    on:change=move |ev| retain.set(event_target_checked(&ev)) />{state.tr("retain")}</label>
            </div>
            <label>{state.tr("payload")}
                <textarea data-testid="publish-payload" rows="3" prop:value=payload on:input=move |ev| payload.set(event_target_value(&ev))></textarea></label>
            <button data-testid="publish-send" on:click=send>{state.tr("send")}</button>
            <p class="msg" role="status" data-testid="publish-message">{message}</p>
        </details>
    }
}

/// The log.
#[component]
pub fn Log() -> impl IntoView {
    let state = expect_context::<AppState>();
    let filter = RwSignal::new(String::new());
    let direction = RwSignal::new("all".to_string());
    let pretty_on = RwSignal::new(false);
    let limit_error = RwSignal::new(String::new());
    let rows = move || {
        // ASCII case folding: device names and topics are ASCII on the platform (and Unicode
        // case tables would be 14 KB of the page's wasm).
        let needle = filter.get().to_ascii_lowercase();
        let dir = direction.get();
        state.log.with(|log| {
            log.iter()
                .filter(|e| match dir.as_str() {
                    "in" => e.direction == Direction::In,
                    "out" => e.direction == Direction::Out,
                    "messages" => e.direction != Direction::Event,
                    "events" => e.direction == Direction::Event,
                    _ => true,
                })
                .filter(|e| {
                    needle.is_empty()
                        || e.device.to_ascii_lowercase().contains(&needle)
                        || e.topic.to_ascii_lowercase().contains(&needle)
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
            <h2>{state.tr("log")}" ("{move || state.log.with(|l| l.len())}")"</h2>
            <div class="row">
                <label>{state.tr("filter")}<input data-testid="log-filter" prop:value=filter on:input=move |ev| filter.set(event_target_value(&ev)) /></label>
                <label>{state.tr("show")}<select data-testid="log-direction" on:change=move |ev| direction.set(event_target_value(&ev))>
                    <option value="all">{state.tr("log_all")}</option>
                    <option value="messages">{state.tr("log_messages")}</option>
                    <option value="in">{state.tr("log_in")}</option>
                    <option value="out">{state.tr("log_out")}</option>
                    <option value="events">{state.tr("log_events")}</option>
                </select></label>
                <button data-testid="log-pause" on:click=move |_| state.log_paused.update(|p| *p = !*p)>
                    {move || if state.log_paused.get() { state.t("resume") } else { state.t("pause") }}</button>
                <label>{state.tr("keep_last")}<input type="number" min="1" max="20000" data-testid="log-limit" prop:value=move || state.log_limit.get().to_string()
                    on:change=move |ev| match crate::components::number_in(&state, &event_target_value(&ev), 1, 20_000) {
                        Ok(n) => { state.log_limit.set(n as usize); limit_error.set(String::new()); }
                        Err(e) => limit_error.set(e),
                    } /></label>
                <label class="check"><input type="checkbox" prop:checked=pretty_on on:change=move |ev| pretty_on.set(event_target_checked(&ev)) />"JSON"</label>
                <button on:click=move |_| state.log.update(|l| l.clear())>{state.tr("clear")}</button>
            </div>
            <p class="field-error" role="alert" data-testid="log-limit-error">{move || limit_error.get()}</p>
            <Publish />
            <div class="table-wrap log-wrap">
            <table class="log" data-testid="log">
                <thead><tr><th>{state.tr("time")}</th><th></th><th>{state.tr("device")}</th><th>{state.tr("topic")}</th>
                    <th>"QoS"</th><th>{state.tr("retain")}</th><th>{state.tr("payload")}</th><th></th></tr></thead>
                <tbody>
                    <For each=rows key=|e| e.seq children=move |e| {
                        let payload = e.payload.clone();
                        let shown = e.payload.clone();
                        let (class, arrow) = match e.direction {
                            Direction::In => ("in", "↓"),
                            Direction::Out => ("out", "↑"),
                            Direction::Event => ("event", "●"),
                        };
                        view! {
                            <tr class=class data-direction=class>
                                <td class="time"><time title=otalab_sim::report::iso_time(e.at_ms)>{clock_time(e.at_ms)}</time></td>
                                <td>{arrow}</td>
                                <td class="dev">{e.device.clone()}</td>
                                <td class="topic">{e.topic.clone()}</td>
                                <td data-role="qos">{e.qos.map(|q| q.to_string()).unwrap_or_default()}</td>
                                <td data-role="retain">{if e.retain { "✓" } else { "" }}</td>
                                <td class="payload"><pre>{move || if pretty_on.get() { pretty(&shown) } else { shown.clone() }}</pre></td>
                                <td><button on:click=move |_| copy(payload.clone())>{state.tr("copy")}</button></td>
                            </tr>
                        }
                    } />
                </tbody>
            </table>
            </div>
        </section>
    }
}
