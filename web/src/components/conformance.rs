//! The conformance card: grades one device's OTA behaviour (an external board, or a device of
//! this tab) with `otalab_sim::Suite`, case after case, and shows the report card with each
//! case's evidence; exported as JSON and JUnit XML.

use leptos::prelude::*;
use otalab_sim::{DeviceKey, Grade, SuiteOptions};
use wasm_bindgen_futures::spawn_local;

use crate::components::{FormMessage, number_in, save_file};
use crate::sim::cloud::use_cloud;
use crate::state::AppState;

fn grade_key(grade: Grade) -> &'static str {
    match grade {
        Grade::Pass => "grade.pass",
        Grade::Degraded => "grade.degraded",
        Grade::Fail => "grade.fail",
        Grade::NotApplicable => "grade.na",
    }
}

fn grade_name(grade: Grade) -> &'static str {
    match grade {
        Grade::Pass => "pass",
        Grade::Degraded => "degraded",
        Grade::Fail => "fail",
        Grade::NotApplicable => "not_applicable",
    }
}

/// The card.
#[component]
pub fn Conformance() -> impl IntoView {
    let state = expect_context::<AppState>();
    let cloud = use_cloud();
    let device = RwSignal::new(String::new());
    let timeout = RwSignal::new(120u64);
    let reaction = RwSignal::new(20u64);
    let message = RwSignal::new((false, String::new()));
    let running = move || state.conformance.with(|c| c.as_ref().is_some_and(|c| c.2));
    let run = move |_| {
        let chosen = device.get_untracked();
        let key = state
            .keys()
            .into_iter()
            .find(|key| key.to_string() == chosen)
            .or_else(|| {
                state.selected.get_untracked().and_then(|id| {
                    state.devices.with_untracked(|rows| {
                        rows.iter().find(|r| r.id == id).map(|r| r.name.get_value())
                    })
                })
            });
        let Some(key) = key else {
            message.set((true, state.t("choose_device").to_owned()));
            return;
        };
        let Some(package) = state.package.get_untracked() else {
            message.set((true, state.t("choose_firmware").to_owned()));
            return;
        };
        let options = SuiteOptions {
            case_timeout_ms: timeout.get_untracked() * 1000,
            reaction_ms: reaction.get_untracked() * 1000,
            ..SuiteOptions::default()
        };
        message.set((false, String::new()));
        spawn_local(async move {
            if let Err(e) = cloud.start_suite(key, package, options).await {
                message.set((true, e));
            }
        });
    };
    let export = move |junit: bool| {
        if let Some((card, _, _)) = state.conformance.get_untracked() {
            if junit {
                save_file(
                    "otalab-conformance.xml",
                    "application/xml",
                    &card.to_junit(),
                );
            } else {
                save_file(
                    "otalab-conformance.json",
                    "application/json",
                    &card.to_json(),
                );
            }
        }
    };
    let number = move |sig: RwSignal<u64>, testid: &'static str, min: u64, max: u64| {
        view! { <input type="number" min=min max=max data-testid=testid prop:value=move || sig.get().to_string()
        on:change=move |ev| match number_in(&state, &event_target_value(&ev), min, max) {
            Ok(v) => { sig.set(v); message.set((false, String::new())); }
            Err(e) => message.set((true, e)),
        } /> }
    };
    view! {
        <section class="card" data-testid="conformance">
            <h2>{state.tr("conformance")}</h2>
            <p class="hint">{state.tr("conformance_hint")}</p>
            <label>{state.tr("device")}
                <select data-testid="conformance-device" on:change=move |ev| device.set(event_target_value(&ev))>
                    <option value="">{state.tr("selected_device")}</option>
                    <For each=move || state.devices.get() key=|r| r.id children=move |r| {
                        let DeviceKey(pk, dn) = r.name.get_value();
                        let name = format!("{pk}/{dn}");
                        let label = if r.external { format!("{name} ({})", state.t("external")) } else { name.clone() };
                        view! { <option value=name>{label}</option> }
                    } />
                </select></label>
            <div class="form-grid">
                <label>{state.tr("case_timeout")}{number(timeout, "conformance-timeout", 5, 3600)}</label>
                <label>{state.tr("reaction")}{number(reaction, "conformance-reaction", 2, 600)}</label>
            </div>
            <div class="row">
                <button class="primary" data-testid="conformance-run" disabled=running on:click=run>{state.tr("run_conformance")}</button>
                <button data-testid="conformance-stop" disabled=move || !running() on:click=move |_| cloud.stop_suite()>{state.tr("stop")}</button>
                <button data-testid="conformance-json" disabled=move || state.conformance.with(Option::is_none) on:click=move |_| export(false)>"JSON"</button>
                <button data-testid="conformance-junit" disabled=move || state.conformance.with(Option::is_none) on:click=move |_| export(true)>"JUnit"</button>
            </div>
            <FormMessage message=message testid="conformance-message" />
            {move || state.conformance.get().map(|(card, current, run)| view! {
                <p class="hint" data-testid="conformance-status" data-status=if run { "running" } else { "done" }>
                    {format!("{}/{} · ", card.product_key, card.device_name)}
                    {if run { format!("{} {}", state.t("running_case"), current.map_or("…", |c| c.name())) } else { state.t("suite_done").to_owned() }}
                </p>
                <ol class="cases">
                    {card.cases.into_iter().map(|c| {
                        let grade = c.grade;
                        view! {
                            <li data-testid="conformance-case" data-case=c.case.name() data-grade=grade_name(grade)>
                                <span class=format!("badge grade-{}", grade_name(grade))>{state.tr(grade_key(grade))}</span>
                                " "<b>{c.case.name()}</b>" "<span class="observed">{c.observed.clone()}</span>
                                <details><summary>{state.tr("evidence")}</summary>
                                    <p class="hint">{format!("{}: {}", state.t("expected"), c.expected)}</p>
                                    <pre>{c.evidence.join("\n")}</pre></details>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            })}
        </section>
    }
}
