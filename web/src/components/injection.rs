//! Failure injection for the selected device or a share of the fleet, and manual reports.

use leptos::prelude::*;

use crate::components::FormMessage;
use otalab_protocol::Failure;
use otalab_protocol::Step;
use otalab_sim::Fault;

use crate::components::fleet_table::fault_text;
use crate::components::number_in;
use crate::sim::use_simulator;
use crate::state::AppState;

/// The injection panel.
#[component]
pub fn Injection() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let kind = RwSignal::new("none".to_string());
    let percent = RwSignal::new(50u8);
    let share = RwSignal::new(100u8);
    let version = RwSignal::new("9.9.9".to_string());
    let throttle = RwSignal::new(0u32);
    let step = RwSignal::new("50".to_string());
    let desc = RwSignal::new(String::new());
    // Messages next to this panel: (is an error, text).
    let message = RwSignal::new((false, String::new()));
    let manual_message = RwSignal::new((false, String::new()));
    let fault = move || {
        let at_percent = percent.get_untracked().min(100);
        match kind.get_untracked().as_str() {
            "download" => Fault::Fail {
                failure: Failure::Download,
                at_percent,
            },
            "verify" => Fault::Fail {
                failure: Failure::Verify,
                at_percent,
            },
            "flash" => Fault::Fail {
                failure: Failure::Flash,
                at_percent,
            },
            "upgrade" => Fault::Fail {
                failure: Failure::Upgrade,
                at_percent,
            },
            "wrong_version" => Fault::WrongVersion {
                version: version.get_untracked(),
            },
            "stall" => Fault::Stall { at_percent },
            "offline" => Fault::Offline {
                at_percent,
                for_ms: 5_000,
            },
            _ => Fault::None,
        }
    };
    let describe = move |f: Fault| match f {
        Fault::None => state.t("fault.none").to_owned(),
        other => fault_text(state.lang.get_untracked(), &other),
    };
    let apply_selected = move |_| {
        if let Some(id) = state.selected.get_untracked() {
            sim.set_fault(&[id], &fault(), throttle.get_untracked());
            message.set((false, format!("1 × {}", describe(fault()))));
        }
    };
    let apply_share = move |_| {
        let ids: Vec<u32> = state
            .devices
            .with_untracked(|rows| rows.iter().map(|r| r.id).collect());
        let wanted = (ids.len() * usize::from(share.get_untracked().min(100))).div_ceil(100);
        // A random share: the first `wanted` of a Fisher-Yates shuffle.
        let mut ids = ids;
        let n = ids.len();
        for i in 0..wanted.min(n) {
            let pick = i + (js_sys::Math::random() * (n - i) as f64) as usize;
            ids.swap(i, pick.min(n - 1));
        }
        ids.truncate(wanted);
        let chosen = ids;
        sim.set_fault(&chosen, &fault(), throttle.get_untracked());
        message.set((false, format!("{} × {}", chosen.len(), describe(fault()))));
    };
    let send_manual = move |_| {
        let Some(id) = state.selected.get_untracked() else {
            return;
        };
        match Step::parse(&step.get_untracked()) {
            Ok(s) => {
                sim.manual(id, s, &desc.get_untracked());
                manual_message.set((false, format!("{} {}", state.t("sent"), s.value())));
            }
            Err(e) => manual_message.set((true, format!("{}: {e}", e.code()))),
        }
    };
    let options = [
        ("none", "fault.none"),
        ("download", "fault.download"),
        ("verify", "fault.verify"),
        ("flash", "fault.flash"),
        ("upgrade", "fault.upgrade"),
        ("wrong_version", "fault.wrong_version"),
        ("stall", "fault.stall"),
        ("offline", "fault.offline"),
    ];
    let checked = move |text: String, min: u64, max: u64, set: &dyn Fn(u64)| match number_in(
        &state, &text, min, max,
    ) {
        Ok(v) => {
            set(v);
            message.set((false, String::new()));
        }
        Err(e) => message.set((true, e)),
    };
    view! {
        <section class="card">
            <h2>{state.tr("fault")}</h2>
            <label>{state.tr("fault_kind")}
            <select data-testid="fault-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                {options.into_iter().map(|(v, key)| view! { <option value=v>{state.tr(key)}</option> }).collect_view()}
            </select></label>
            <div class="form-grid">
            <label>{state.tr("at_percent")}<input type="number" min="0" max="100" data-testid="fault-percent" prop:value=move || percent.get().to_string()
                on:change=move |ev| checked(event_target_value(&ev), 0, 100, &|v| percent.set(v as u8)) /></label>
            <label>{state.tr("wrong_version")}<input data-testid="fault-version" prop:value=version on:input=move |ev| version.set(event_target_value(&ev)) /></label>
            <label>{state.tr("throttle")}<input type="number" min="0" data-testid="throttle" prop:value=move || throttle.get().to_string()
                on:change=move |ev| checked(event_target_value(&ev), 0, 1_000_000_000, &|v| throttle.set(v as u32)) /></label>
            <label>{state.tr("share")}<input type="number" min="0" max="100" data-testid="fault-share" prop:value=move || share.get().to_string()
                on:change=move |ev| checked(event_target_value(&ev), 0, 100, &|v| share.set(v as u8)) /></label>
            </div>
            <div class="row">
                <button data-testid="fault-selected" disabled=move || state.selected.get().is_none()
                    title=state.tr("select_first") on:click=apply_selected>{state.tr("to_selected_device")}</button>
                <button data-testid="fault-share-apply" disabled=move || state.devices.with(Vec::is_empty) on:click=apply_share>{state.tr("to_share")}</button>
            </div>
            <FormMessage message=message testid="fault-message" />
            <h2>{state.tr("manual")}</h2>
            <div class="row">
                <label>{state.tr("manual_step")}<input data-testid="manual-step" size="4" prop:value=step on:input=move |ev| step.set(event_target_value(&ev)) /></label>
                <label>{state.tr("manual_desc")}<input data-testid="manual-desc" prop:value=desc on:input=move |ev| desc.set(event_target_value(&ev)) /></label>
                <button data-testid="manual-send" disabled=move || state.selected.get().is_none() on:click=send_manual>{state.tr("send")}</button>
            </div>
            <FormMessage message=manual_message testid="manual-message" />
        </section>
    }
}
