//! Failure injection for the selected device or a share of the fleet, and manual reports.

use leptos::prelude::*;
use otalab_protocol::Step;
use otalab_sim::{FailureKind, Fault};

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
    let fault = move || {
        let at_percent = percent.get_untracked().min(100);
        match kind.get_untracked().as_str() {
            "download" => Fault::Fail {
                failure: FailureKind::Download,
                at_percent,
            },
            "verify" => Fault::Fail {
                failure: FailureKind::Verify,
                at_percent,
            },
            "flash" => Fault::Fail {
                failure: FailureKind::Flash,
                at_percent,
            },
            "upgrade" => Fault::Fail {
                failure: FailureKind::Upgrade,
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
    let apply_selected = move |_| {
        if let Some(id) = state.selected.get_untracked() {
            sim.set_fault(&[id], &fault(), throttle.get_untracked());
        }
    };
    let apply_share = move |_| {
        let ids: Vec<u32> = state
            .devices
            .with_untracked(|rows| rows.iter().map(|r| r.id).collect());
        let wanted = (ids.len() * usize::from(share.get_untracked().min(100))).div_ceil(100);
        // A random share: shuffle by sorting on random keys.
        let mut keyed: Vec<(f64, u32)> = ids
            .into_iter()
            .map(|id| (js_sys::Math::random(), id))
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        let chosen: Vec<u32> = keyed.into_iter().take(wanted).map(|(_, id)| id).collect();
        sim.set_fault(&chosen, &fault(), throttle.get_untracked());
        state
            .notice_line
            .set(format!("{} × {:?}", chosen.len(), fault()));
    };
    let send_manual = move |_| {
        let Some(id) = state.selected.get_untracked() else {
            return;
        };
        match Step::parse(&step.get_untracked()) {
            Ok(s) => sim.manual(id, s, &desc.get_untracked()),
            Err(e) => state.notice_line.set(e.to_string()),
        }
    };
    let options = [
        ("none", "none"),
        ("download", "-2 download"),
        ("verify", "-3 verify"),
        ("flash", "-4 flash"),
        ("upgrade", "-1 upgrade"),
        ("wrong_version", "wrong version"),
        ("stall", "stall"),
        ("offline", "offline"),
    ];
    view! {
        <section class="card">
            <h2>{move || state.t("fault")}</h2>
            <select data-testid="fault-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                {options.into_iter().map(|(v, label)| view! { <option value=v>{label}</option> }).collect_view()}
            </select>
            <label>"%"<input type="number" min="0" max="100" data-testid="fault-percent" prop:value=move || percent.get().to_string()
                on:change=move |ev| percent.set(event_target_value(&ev).parse().unwrap_or(50)) /></label>
            <label>{move || state.t("version")}<input prop:value=version on:input=move |ev| version.set(event_target_value(&ev)) /></label>
            <label>"B/s"<input type="number" min="0" data-testid="throttle" prop:value=move || throttle.get().to_string()
                on:change=move |ev| throttle.set(event_target_value(&ev).parse().unwrap_or(0)) /></label>
            <div class="row">
                <button data-testid="fault-selected" on:click=apply_selected>{move || state.t("apply")}" ▸ "{move || state.t("device")}</button>
                <label>{move || state.t("share")}<input type="number" min="0" max="100" data-testid="fault-share" prop:value=move || share.get().to_string()
                    on:change=move |ev| share.set(event_target_value(&ev).parse().unwrap_or(100)) /></label>
                <button data-testid="fault-share-apply" on:click=apply_share>{move || state.t("apply")}</button>
            </div>
            <h2>{move || state.t("manual")}</h2>
            <div class="row">
                <input data-testid="manual-step" size="4" prop:value=step on:input=move |ev| step.set(event_target_value(&ev)) />
                <input data-testid="manual-desc" prop:value=desc on:input=move |ev| desc.set(event_target_value(&ev)) />
                <button data-testid="manual-send" on:click=send_manual>{move || state.t("send")}</button>
            </div>
        </section>
    }
}
