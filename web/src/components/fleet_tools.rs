//! Adding, importing, exporting and connecting devices; simulation settings.

use leptos::prelude::*;

use crate::components::save_file;
use crate::sim::cloud::use_cloud;
use crate::sim::use_simulator;
use crate::state::AppState;
use crate::state::fleet::{DeviceSpec, check, expand_template, export, import};

/// Most devices in one tab (browsers cap a tab at about 255 WebSockets).
pub const MAX_DEVICES: usize = 250;

/// The fleet tools.
#[component]
pub fn FleetTools() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let cloud = use_cloud();
    let pk = RwSignal::new("a1Sandbox01".to_string());
    let template = RwSignal::new("meter-{0001..0003}".to_string());
    let secret = RwSignal::new(String::new());
    let version = RwSignal::new("1.0.0".to_string());
    let import_text = RwSignal::new(String::new());
    let add = move |_| {
        let existing = state.devices.with_untracked(Vec::len);
        match expand_template(
            &template.get_untracked(),
            MAX_DEVICES.saturating_sub(existing),
        ) {
            Ok(names) => {
                let specs: Vec<DeviceSpec> = names
                    .into_iter()
                    .map(|device_name| DeviceSpec {
                        product_key: pk.get_untracked(),
                        device_name,
                        device_secret: secret.get_untracked(),
                        version: version.get_untracked(),
                    })
                    .collect();
                // Nothing is added unless every device is valid.
                if let Some(error) = specs.iter().find_map(|s| check(s).err()) {
                    state.notice_line.set(error);
                    return;
                }
                let count = specs.len();
                sim.add_devices(specs);
                state.notice_line.set(format!("+{count}"));
            }
            Err(error) => state.notice_line.set(error),
        }
    };
    let do_import = move |_| match import(&import_text.get_untracked()) {
        Ok(specs) => {
            let count = specs.len();
            sim.add_devices(specs);
            state.notice_line.set(format!("+{count}"));
        }
        Err(error) => state.notice_line.set(error),
    };
    let setting = move |get: fn(&crate::state::Settings) -> u64,
                        set: fn(&mut crate::state::Settings, u64)| {
        view! { <input type="number" min="0"
        prop:value=move || state.settings.with(get).to_string()
        on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse() { state.settings.update(|s| set(s, v)); state.persist(); } } /> }
    };
    view! {
        <section class="card">
            <h2>{move || state.t("add_devices")}</h2>
            <label>{move || state.t("product_key")}<input data-testid="pk" prop:value=pk on:input=move |ev| pk.set(event_target_value(&ev)) /></label>
            <label>{move || state.t("name_template")}<input data-testid="template" prop:value=template on:input=move |ev| template.set(event_target_value(&ev)) /></label>
            <label>{move || state.t("secret")}<input type="password" prop:value=secret on:input=move |ev| secret.set(event_target_value(&ev)) /></label>
            <label>{move || state.t("version")}<input data-testid="version" prop:value=version on:input=move |ev| version.set(event_target_value(&ev)) /></label>
            <button data-testid="add" on:click=add>{move || state.t("add")}</button>
            <details>
                <summary>{move || state.t("import")}" (devices.conf / CSV / JSON)"</summary>
                <textarea data-testid="import-text" rows="5" prop:value=import_text on:input=move |ev| import_text.set(event_target_value(&ev))></textarea>
                <button data-testid="import" on:click=do_import>{move || state.t("import")}</button>
            </details>
            <div class="row">
                <button data-testid="connect-all" on:click=move |_| sim.connect_all()>{move || state.t("connect_all")}</button>
                <button on:click=move |_| sim.disconnect_all()>{move || state.t("disconnect_all")}</button>
                <button data-testid="remove-all" on:click=move |_| {
                    // Removed devices' upgrade jobs end with them: names added again start clean.
                    let removed = sim.remove_all();
                    cloud.forget(&removed);
                    // The chart's history was of the removed fleet.
                    state.samples.set(Vec::new());
                }>{move || state.t("remove_all")}</button>
                <button data-testid="export-fleet" on:click=move |_| save_file("otalab-fleet.json", "application/json", &export(&sim.specs()))>{move || state.t("export_fleet")}</button>
            </div>
            <h2>{move || state.t("settings")}</h2>
            <label>{move || state.t("cadence")}{setting(|s| u64::from(s.cadence_percent), |s, v| s.cadence_percent = v.clamp(1, 100) as u8)}</label>
            <label>{move || state.t("flash_ms")}{setting(|s| s.flash_ms, |s, v| s.flash_ms = v)}</label>
            <label><input type="checkbox" prop:checked=move || state.settings.get().auto_upgrade
                on:change=move |ev| { let on = event_target_checked(&ev); state.settings.update(|s| s.auto_upgrade = on); state.persist(); } />
                {move || state.t("auto_upgrade")}</label>
        </section>
    }
}
