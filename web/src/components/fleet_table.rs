//! The fleet table: one row per device with link state, phase, progress bar and verdict,
//! filtered by the summary chip. Rows are selectable by mouse or keyboard (Tab, then Enter or
//! Space).

use leptos::prelude::*;
use otalab_sim::{DeviceKey, Fault};

use crate::components::summary::matches;
use crate::sim::cloud::use_cloud;
use crate::sim::{Simulator, use_simulator};
use crate::state::{AppState, DeviceRow, Lang, t};

/// The injected fault in words (the report and the table), in `lang`.
pub fn fault_text(lang: Lang, fault: &Fault) -> String {
    let kind = |key: &'static str| t(lang, key);
    match fault {
        Fault::None => String::new(),
        Fault::Fail {
            failure,
            at_percent,
        } => {
            let key = match failure {
                otalab_protocol::Failure::Download => "fault.download",
                otalab_protocol::Failure::Verify => "fault.verify",
                otalab_protocol::Failure::Flash => "fault.flash",
                otalab_protocol::Failure::Upgrade => "fault.upgrade",
            };
            format!("{} @ {at_percent} %", kind(key))
        }
        Fault::WrongVersion { version } => format!("{} {version}", kind("fault.wrong_version")),
        Fault::Stall { at_percent } => format!("{} @ {at_percent} %", kind("fault.stall")),
        Fault::Offline { at_percent, for_ms } => format!(
            "{} @ {at_percent} % ({} s)",
            kind("fault.offline_for"),
            for_ms / 1000
        ),
    }
}

/// The translation key of a link state ("idle" there means "never connected").
fn link_key(name: &str) -> &'static str {
    match name {
        "connecting" => "link.connecting",
        "online" => "link.online",
        "reconnecting" => "link.reconnecting",
        "offline" => "link.offline",
        "rebooting" => "link.rebooting",
        "error" => "link.error",
        _ => "link.idle",
    }
}

/// The translation key of a phase ("idle" there means "no upgrade under way").
fn phase_key(name: &str) -> &'static str {
    match name {
        "notified" => "phase.notified",
        "downloading" => "phase.downloading",
        "flashing" => "phase.flashing",
        "rebooting" => "phase.rebooting",
        "upgraded" => "phase.upgraded",
        "failed" => "phase.failed",
        "stalled" => "phase.stalled",
        "offline" => "phase.offline",
        _ => "phase.idle",
    }
}

/// One device row.
#[component]
fn Row(row: DeviceRow) -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let cloud = use_cloud();
    let status = row.status;
    let id = row.id;
    // One handler type for the four action buttons (one copy of the listener code in the wasm).
    let act = move |action: fn(Simulator, u32)| {
        move |ev: leptos::ev::MouseEvent| {
            ev.stop_propagation();
            action(sim, id)
        }
    };
    let DeviceKey(pk, dn) = row.name.get_value();
    let testid = format!("device-{dn}");
    let full = format!("{pk}/{dn}");
    let percent = move || status.with(|s| s.percent.unwrap_or(0));
    let select = move || state.selected.set(Some(id));
    let verdict_name = move || row.verdict.get().map_or("none", |v| v.name());
    view! {
        <tr data-testid=testid tabindex="0" aria-selected=move || (state.selected.get() == Some(id)).to_string()
            class:selected=move || state.selected.get() == Some(id)
            style:display=move || if matches(state.filter.get(), &row) { "" } else { "none" }
            on:click=move |_| select()
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Enter" || ev.key() == " " { ev.prevent_default(); select() }
            }>
            <td class="name" title=full.clone()><span class="pk">{pk}</span>"/"<b>{dn}</b></td>
            <td><span class=move || format!("badge link-{}", status.with(|s| s.link.name()))
                title=move || status.with(|s| s.link_error.clone().unwrap_or_default())
                data-role="link" data-value=move || status.with(|s| s.link.name())>{move || state.t(link_key(status.with(|s| s.link.name())))}</span></td>
            <td data-role="version">{move || status.with(|s| s.versions.iter().map(|(m, v)| if m == "default" { v.clone() } else { format!("{m}:{v}") }).collect::<Vec<_>>().join(" "))}</td>
            <td class="phase"><span class=move || format!("badge phase-{}", status.with(|s| s.phase.name()))
                data-role="phase" data-value=move || status.with(|s| s.phase.name())>{move || state.t(phase_key(status.with(|s| s.phase.name())))}</span>
                <span class="err" data-role="failure">{move || status.with(|s| s.failure.as_ref().map(|(c, d)| format!(" {} {d}", c.code())).unwrap_or_default())}</span>
                <span class="err" data-role="error">{move || status.with(|s| s.error.clone().unwrap_or_default())}</span></td>
            <td class="progress" title=state.tr("progress_hint")><div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=move || percent().to_string()><div class="fill" style:width=move || format!("{}%", percent())></div></div>
                <span data-role="percent">{move || status.with(|s| s.percent.map(|p| format!("{p}%")).unwrap_or_default())}</span></td>
            <td><span class=move || format!("badge verdict-{}", verdict_name()) data-role="verdict" data-value=verdict_name>
                {move || state.t(row.verdict.get().map_or("no_job", |v| v.name()))}</span></td>
            <td class="fault">{move || { let lang = state.lang.get(); status.with(|s| s.fault.as_ref().map(|f| fault_text(lang, f)).unwrap_or_default()) }}</td>
            <td class="actions">
                {if row.external {
                    view! {
                        <span class="badge external" data-role="external" title=state.tr("external_hint")>{state.tr("external")}</span>
                        <span class="hint" data-role="seen">{move || status.with(|s| format!("{} {} · {} {}",
                            state.t("last_seen"), s.last_seen_ms.map(crate::state::clock_time).unwrap_or_default(),
                            s.notices_sent, state.t("notices_sent")))}</span>
                        <button data-role="remove" class="danger" aria-label=move || format!("{} {}", state.t("forget"), full)
                            on:click=move |ev| { ev.stop_propagation(); cloud.forget_external(id); }>{state.tr("forget")}</button>
                    }.into_any()
                } else {
                    view! {
                        <button data-role="connect" title=state.tr("on") on:click=act(Simulator::connect)>{state.tr("on")}</button>
                        <button data-role="disconnect" title=state.tr("off") on:click=act(Simulator::disconnect)>{state.tr("off")}</button>
                        <button data-role="start" title=state.tr("start_hint") on:click=act(Simulator::start)>{state.tr("start")}</button>
                        <button data-role="check" title=state.tr("check_hint") on:click=act(Simulator::check_update)>{state.tr("check_update")}</button>
                        <button data-role="remove" class="danger" aria-label=move || format!("{} {}", state.t("remove"), full)
                            on:click=move |ev| { ev.stop_propagation(); if let Some(key) = sim.remove(id) { cloud.forget(&[key]); } }>"✕"</button>
                    }.into_any()
                }}
            </td>
        </tr>
    }
}

/// The table.
#[component]
pub fn FleetTable() -> impl IntoView {
    let state = expect_context::<AppState>();
    let shown = move || {
        let filter = state.filter.get();
        state
            .devices
            .with(|rows| rows.iter().filter(|r| matches(filter, r)).count())
    };
    view! {
        <section class="card wide">
            <h2>{state.tr("fleet")}" ("{shown}" / "{move || state.devices.with(Vec::len)}")"</h2>
            <div class="table-wrap">
            <table class="fleet" data-testid="fleet">
                <thead><tr>
                    <th>{state.tr("device")}</th><th>{state.tr("state")}</th>
                    <th>{state.tr("version")}</th><th>{state.tr("phase")}</th>
                    <th title=state.tr("progress_hint")>{state.tr("reported_progress")}</th><th>{state.tr("verdict")}</th>
                    <th>{state.tr("fault")}</th><th>{state.tr("actions")}</th>
                </tr></thead>
                <tbody>
                    <For each=move || state.devices.get() key=|row| row.id children=move |row| view! { <Row row=row /> } />
                </tbody>
            </table>
            </div>
        </section>
    }
}
