//! The sandbox cloud panel: pick a firmware (demo, or a dropped file whose size and digests the
//! page computes), upload it to the sandbox server, and push a correct or a deliberately wrong
//! notice to the devices, signed with MD5 or SHA-256, delivered over HTTP or over MQTT.

use leptos::prelude::*;
use otalab_protocol::{FileDigests, SignMethod};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::sim::cloud::{NoticeKind, use_cloud};
use crate::sim::use_simulator;
use crate::state::{AppState, Package};

/// Bytes read and hashed at a time: a dropped file of any size needs only this much wasm memory.
const SLICE: f64 = 4.0 * 1024.0 * 1024.0;

/// Size, MD5 and SHA-256 of `file`, read slice by slice into one reused buffer.
async fn hash_file(
    state: AppState,
    file: &web_sys::File,
    name: &str,
) -> Result<(u64, String, String), String> {
    let total = file.size();
    let mut digests = FileDigests::new();
    let mut buffer = Vec::new();
    let mut start = 0.0;
    while start < total {
        let end = (start + SLICE).min(total);
        let blob = file
            .slice_with_f64_and_f64(start, end)
            .map_err(|_| "cannot slice the file".to_string())?;
        let array = JsFuture::from(blob.array_buffer())
            .await
            .map_err(|_| "cannot read the file".to_string())?;
        let view = js_sys::Uint8Array::new(&array);
        buffer.resize(view.length() as usize, 0);
        view.copy_to(&mut buffer);
        digests.update(&buffer);
        start = end;
        state.notice_line.set(format!(
            "hashing {name}… {} %",
            (start / total * 100.0).floor()
        ));
    }
    Ok(digests.finish())
}

/// Hashes a chosen file in the page (in slices, constant memory), uploads it (the browser
/// streams the file), and selects it (the server's digests, computed while it streams, must agree).
fn use_file(state: AppState, file: web_sys::File, version: String) {
    spawn_local(async move {
        let name: String = file
            .name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(128)
            .collect();
        // The server refuses hidden names: no leading dot.
        let name = name.trim_start_matches('.').to_owned();
        let name = if name.is_empty() {
            "firmware.bin".to_owned()
        } else {
            name
        };
        state.notice_line.set(format!("hashing {name}…"));
        let (size, md5, sha256) = match hash_file(state, &file, &name).await {
            Ok(digests) => digests,
            Err(e) => {
                state.notice_line.set(e);
                return;
            }
        };
        state.notice_line.set(format!("uploading {name}…"));
        let url = format!("/upload/{name}");
        match otalab_browser::http::put(&url, file.unchecked_ref()).await {
            Ok(text) => match serde_json::from_str::<Package>(&with_version(&text, &version)) {
                Ok(package)
                    if package.sha256 == sha256 && package.md5 == md5 && package.size == size =>
                {
                    state.notice_line.set(format!(
                        "{} · {} B · sha256 {}",
                        package.name, package.size, package.sha256
                    ));
                    state.package.set(Some(package));
                }
                Ok(_) => state
                    .notice_line
                    .set("the server stored different bytes than the page hashed".into()),
                Err(e) => state.notice_line.set(format!("upload answer: {e}")),
            },
            Err(e) => state.notice_line.set(format!("upload failed: {e}")),
        }
    });
}

fn with_version(json: &str, version: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    value["version"] = version.into();
    value.to_string()
}

/// The platform panel.
#[component]
pub fn Platform() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let cloud = use_cloud();
    let kind = RwSignal::new(NoticeKind::Correct);
    let target = RwSignal::new("2.0.0".to_string());
    let answer = RwSignal::new(true);
    let dragging = RwSignal::new(false);
    let pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            use_file(state, file, target.get_untracked());
        }
    };
    let drop_file = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(file) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|f| f.get(0))
        {
            use_file(state, file, target.get_untracked());
        }
    };
    let method = RwSignal::new(SignMethod::Md5);
    let push = move |only_selected: bool| {
        let Some(mut package) = state.package.get_untracked() else {
            state.notice_line.set("choose a firmware first".into());
            return;
        };
        package.version = target.get_untracked();
        let ids: Vec<u32> = if only_selected {
            state.selected.get_untracked().into_iter().collect()
        } else {
            state
                .devices
                .with_untracked(|rows| rows.iter().map(|r| r.id).collect())
        };
        let names = sim.names(&ids);
        let kind = kind.get_untracked();
        let method = method.get_untracked();
        spawn_local(async move {
            if kind.over_mqtt() {
                state
                    .notice_line
                    .set(format!("loading {} for delivery over MQTT…", package.name));
                if let Err(e) = cloud.prepare_stream(&package).await {
                    state.notice_line.set(e);
                    return;
                }
            }
            match cloud.push(&names, &package, kind, method) {
                Ok(n) => state.notice_line.set(format!(
                    "{n} × {} · {} → {}",
                    state.t(kind.key()),
                    method.name(),
                    package.version
                )),
                Err(e) => state.notice_line.set(e),
            }
        });
    };
    view! {
        <section class="card">
            <h2>{move || state.t("platform")}</h2>
            <label>{move || state.t("firmware")}
                <select data-testid="package" on:change=move |ev| {
                    let name = event_target_value(&ev);
                    let demo = state.sandbox.get_untracked().and_then(|s| s.demo.into_iter().find(|p| p.name == name));
                    if let Some(p) = demo { target.set(p.version.clone()); state.package.set(Some(p)); }
                }>
                    <option value="">"—"</option>
                    {move || state.sandbox.get().map(|s| s.demo.into_iter().map(|p| {
                        let selected = state.package.get().is_some_and(|q| q.name == p.name);
                        view! { <option value=p.name.clone() selected=selected>{format!("{} ({} B)", p.name, p.size)}</option> }
                    }).collect_view())}
                </select>
            </label>
            <label class="drop" class:dragging=move || dragging.get()
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=drop_file>
                {move || state.t("drop_firmware")}
                <input type="file" data-testid="firmware-file" on:change=pick />
            </label>
            <p class="hint" data-testid="package-info">{move || state.package.get().map(|p| format!("{} · {} B · MD5 {} · SHA-256 {}", p.name, p.size, p.md5, p.sha256)).unwrap_or_default()}</p>
            <label>{move || state.t("target_version")}<input data-testid="target" prop:value=target on:input=move |ev| target.set(event_target_value(&ev)) /></label>
            <label>{move || state.t("notice_kind")}
                <select data-testid="notice-kind" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    if let Some(k) = NoticeKind::ALL.into_iter().find(|k| k.key() == value) { kind.set(k) }
                }>
                    {NoticeKind::ALL.into_iter().map(|k| view! { <option value=k.key()>{move || state.t(k.key())}</option> }).collect_view()}
                </select>
            </label>
            <label>{move || state.t("package_sign")}
                <select data-testid="sign-method" on:change=move |ev| {
                    if let Ok(m) = SignMethod::parse(&event_target_value(&ev)) { method.set(m) }
                }>
                    {[SignMethod::Md5, SignMethod::Sha256].into_iter().map(|m| view! {
                        <option value=m.as_str() selected=move || method.get() == m>{m.name()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label><input type="checkbox" prop:checked=answer on:change=move |ev| { let on = event_target_checked(&ev); answer.set(on); cloud.set_answer_pulls(on); } />
                {move || state.t("answer_pulls")}</label>
            <div class="row">
                <button class="primary" data-testid="push" on:click=move |_| push(false)>{move || state.t("to_all")}</button>
                <button data-testid="push-selected" disabled=move || state.selected.get().is_none()
                    on:click=move |_| push(true)>{move || state.t("to_selected")}</button>
            </div>
        </section>
    }
}
