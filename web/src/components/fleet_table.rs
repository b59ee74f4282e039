//! The fleet table: one row per device with link state, phase, progress bar and verdict.

use leptos::prelude::*;

use crate::sim::use_simulator;
use crate::state::{AppState, DeviceRow};

fn fault_label(fault: &otalab_sim::Fault) -> String {
    use otalab_sim::Fault;
    match fault {
        Fault::None => String::new(),
        Fault::Fail {
            failure,
            at_percent,
        } => format!("{failure:?}@{at_percent}%"),
        Fault::WrongVersion { version } => format!("version {version}"),
        Fault::Stall { at_percent } => format!("stall@{at_percent}%"),
        Fault::Offline { at_percent, for_ms } => format!("offline@{at_percent}% {for_ms}ms"),
    }
}

/// One device row.
#[component]
fn Row(row: DeviceRow) -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let status = row.status;
    let id = row.id;
    let (pk, dn) = row.name.get_value();
    let testid = format!("device-{dn}");
    let percent = move || status.with(|s| s.percent.unwrap_or(0));
    view! {
        <tr data-testid=testid
            class:selected=move || state.selected.get() == Some(id)
            on:click=move |_| state.selected.set(Some(id))>
            <td class="name"><span class="pk">{pk}</span>"/"<b>{dn}</b></td>
            <td><span class=move || format!("badge link-{}", status.with(|s| s.link.name()))
                title=move || status.with(|s| s.link_error.clone().unwrap_or_default())
                data-role="link">{move || status.with(|s| s.link.name())}</span></td>
            <td data-role="version">{move || status.with(|s| s.versions.iter().map(|(m, v)| if m == "default" { v.clone() } else { format!("{m}:{v}") }).collect::<Vec<_>>().join(" "))}</td>
            <td><span class=move || format!("badge phase-{}", status.with(|s| s.phase.name()))
                data-role="phase">{move || status.with(|s| s.phase.name())}</span>
                <span class="err" data-role="failure">{move || status.with(|s| s.failure.as_ref().map(|(c, d)| format!(" {c} {d}")).unwrap_or_default())}</span>
                <span class="err">{move || status.with(|s| s.error.clone().unwrap_or_default())}</span></td>
            <td class="progress"><div class="bar"><div class="fill" style:width=move || format!("{}%", percent())></div></div>
                <span data-role="percent">{move || status.with(|s| s.percent.map(|p| format!("{p}%")).unwrap_or_default())}</span></td>
            <td><span class=move || format!("badge verdict-{}", row.verdict.get().name()) data-role="verdict">{move || state.t(row.verdict.get().name())}</span></td>
            <td class="fault">{move || status.with(|s| s.fault.as_ref().map(fault_label).unwrap_or_default())}</td>
            <td class="actions">
                <button data-role="connect" on:click=move |ev| { ev.stop_propagation(); sim.connect(id) }>{move || state.t("on")}</button>
                <button data-role="disconnect" on:click=move |ev| { ev.stop_propagation(); sim.disconnect(id) }>{move || state.t("off")}</button>
                <button data-role="start" on:click=move |ev| { ev.stop_propagation(); sim.start(id) }>{move || state.t("start")}</button>
                <button data-role="check" on:click=move |ev| { ev.stop_propagation(); sim.check_update(id) }>{move || state.t("check_update")}</button>
            </td>
        </tr>
    }
}

/// The table.
#[component]
pub fn FleetTable() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <section class="card wide">
            <h2>{move || state.t("fleet")}" ("{move || state.devices.with(Vec::len)}")"</h2>
            <table class="fleet" data-testid="fleet">
                <thead><tr>
                    <th>{move || state.t("device")}</th><th>{move || state.t("state")}</th>
                    <th>{move || state.t("version")}</th><th>{move || state.t("phase")}</th>
                    <th>{move || state.t("progress")}</th><th>{move || state.t("verdict")}</th>
                    <th>{move || state.t("fault")}</th><th>{move || state.t("actions")}</th>
                </tr></thead>
                <tbody>
                    <For each=move || state.devices.get() key=|row| row.id children=move |row| view! { <Row row=row /> } />
                </tbody>
            </table>
        </section>
    }
}
