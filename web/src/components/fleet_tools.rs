//! Adding, importing, exporting and connecting devices; simulation settings.

use leptos::prelude::*;

use crate::components::FormMessage;

use crate::components::{number_in, save_file};
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
    // Messages next to the form they are about (cleared when the form changes).
    let add_message = RwSignal::new((false, String::new()));
    let import_message = RwSignal::new((false, String::new()));
    let settings_message = RwSignal::new(String::new());
    let confirm_remove = RwSignal::new(false);
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
                    add_message.set((true, error));
                    return;
                }
                let count = specs.len();
                sim.add_devices(specs);
                add_message.set((false, format!("{} {count}", state.t("added"))));
            }
            Err(error) => add_message.set((true, format!("{}: {error}", state.t("name_template")))),
        }
    };
    let do_import = move |_| match import(&import_text.get_untracked()) {
        Ok(specs) => {
            let room = MAX_DEVICES.saturating_sub(state.devices.with_untracked(Vec::len));
            if specs.len() > room {
                import_message.set((
                    true,
                    format!("{} {} > {room}", state.t("too_many"), specs.len()),
                ));
                return;
            }
            let count = specs.len();
            sim.add_devices(specs);
            import_message.set((false, format!("{} {count}", state.t("added"))));
        }
        Err(error) => import_message.set((true, error)),
    };
    let setting = move |testid: &'static str,
                        min: u64,
                        max: u64,
                        get: fn(&crate::state::Settings) -> u64,
                        set: fn(&mut crate::state::Settings, u64)| {
        view! { <input type="number" min=min max=max data-testid=testid
        prop:value=move || state.settings.with(get).to_string()
        on:change=move |ev| match number_in(&state, &event_target_value(&ev), min, max) {
            Ok(v) => { settings_message.set(String::new()); state.settings.update(|s| set(s, v)); state.persist(); }
            Err(e) => settings_message.set(e),
        } /> }
    };
    let clear = move || add_message.set((false, String::new()));
    view! {
        <section class="card">
            <h2>{state.tr("add_devices")}</h2>
            <label>{state.tr("product_key")}<input data-testid="pk" prop:value=pk on:input=move |ev| { pk.set(event_target_value(&ev)); clear() } /></label>
            <label>{state.tr("name_template")}<input data-testid="template" prop:value=template title=state.tr("template_hint")
                on:input=move |ev| { template.set(event_target_value(&ev)); clear() } /></label>
            <label>{state.tr("secret")}<input type="password" prop:value=secret on:input=move |ev| secret.set(event_target_value(&ev)) /></label>
            <label>{state.tr("version")}<input data-testid="version" prop:value=version on:input=move |ev| { version.set(event_target_value(&ev)); clear() } /></label>
            <button data-testid="add" on:click=add>{state.tr("add")}</button>
            <FormMessage message=add_message testid="add-message" />
            <details>
                <summary>{state.tr("import")}" (devices.conf / CSV / JSON)"</summary>
                <label>{state.tr("import_text")}
                <textarea data-testid="import-text" rows="5" prop:value=import_text
                    on:input=move |ev| { import_text.set(event_target_value(&ev)); import_message.set((false, String::new())) }></textarea></label>
                <button data-testid="import" on:click=do_import>{state.tr("import")}</button>
                <FormMessage message=import_message testid="import-message" />
            </details>
            <div class="row">
                <button data-testid="connect-all" on:click=move |_| sim.connect_all()>{state.tr("connect_all")}</button>
                <button on:click=move |_| sim.disconnect_all()>{state.tr("disconnect_all")}</button>
                <button data-testid="export-fleet" on:click=move |_| save_file("otalab-fleet.json", "application/json", &export(&sim.specs()))>{state.tr("export_fleet")}</button>
                <Show when=move || !confirm_remove.get()>
                    <button data-testid="remove-all" class="danger" disabled=move || state.devices.with(Vec::is_empty)
                        on:click=move |_| confirm_remove.set(true)>{state.tr("remove_all")}</button>
                </Show>
            </div>
            <Show when=move || confirm_remove.get()>
                <div class="confirm" role="alertdialog" data-testid="remove-all-confirm">
                    <span>{move || format!("{} ({})", state.t("confirm_remove_all"), state.devices.with(Vec::len))}</span>
                    <button class="danger" data-testid="remove-all-yes" on:click=move |_| {
                        confirm_remove.set(false);
                        // Removed devices' upgrade jobs end with them: names added again start clean.
                        let removed = sim.remove_all();
                        cloud.forget(&removed);
                        // The chart's history was of the removed fleet.
                        state.samples.set(Vec::new());
                        add_message.set((false, format!("{} {}", state.t("removed"), removed.len())));
                    }>{state.tr("yes")}</button>
                    <button data-testid="remove-all-no" on:click=move |_| confirm_remove.set(false)>{state.tr("no")}</button>
                </div>
            </Show>
            <h2>{state.tr("settings")}</h2>
            <label>{state.tr("cadence")}{setting("cadence", 1, 100, |s| u64::from(s.cadence_percent), |s, v| s.cadence_percent = v as u8)}</label>
            <label>{state.tr("flash_ms")}{setting("flash-ms", 0, 600_000, |s| s.flash_ms, |s, v| s.flash_ms = v)}</label>
            <p class="field-error" role="alert" data-testid="settings-error">{move || settings_message.get()}</p>
            <label class="check"><input type="checkbox" prop:checked=move || state.settings.get().auto_upgrade
                on:change=move |ev| { let on = event_target_checked(&ev); state.settings.update(|s| s.auto_upgrade = on); state.persist(); } />
                {state.tr("auto_upgrade")}</label>
        </section>
    }
}
