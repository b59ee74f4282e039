//! The sandbox cloud panel: pick a firmware (demo, or a dropped file whose size and digests the
//! page computes), upload it to the sandbox server, and push a correct or a deliberately wrong
//! notice to the devices, signed with MD5 or SHA-256, delivered over HTTP or over MQTT.

use leptos::prelude::*;

use crate::components::FormMessage;
use otalab_protocol::{FileDigests, SignMethod, Version};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use crate::sim::cloud::{NoticeKind, use_cloud};
use crate::state::{AppState, Package};
use otalab_sim::DeviceKey;

/// Bytes read and hashed at a time: a dropped file of any size needs only this much wasm memory.
const SLICE: f64 = 4.0 * 1024.0 * 1024.0;

/// Size, MD5 and SHA-256 of `file`, read slice by slice into one reused buffer.
async fn hash_file(
    state: AppState,
    line: RwSignal<(bool, String)>,
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
        line.set((
            false,
            format!(
                "{} {name}… {} %",
                state.t("hashing"),
                (start / total * 100.0).floor()
            ),
        ));
    }
    Ok(digests.finish())
}

/// Hashes a chosen file in the page (in slices, constant memory), uploads it (the browser
/// streams the file), and selects it (the server's digests, computed while it streams, must agree).
fn use_file(state: AppState, line: RwSignal<(bool, String)>, file: web_sys::File, version: String) {
    let fail = move |text: String| line.set((true, text));
    if file.size() == 0.0 {
        fail(format!(
            "{}: {}",
            file.name().chars().take(128).collect::<String>(),
            state.t("empty_firmware")
        ));
        return;
    }
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
        line.set((false, format!("{} {name}…", state.t("hashing"))));
        let (size, md5, sha256) = match hash_file(state, line, &file, &name).await {
            Ok(digests) => digests,
            Err(e) => return fail(e),
        };
        line.set((false, format!("{} {name}…", state.t("uploading"))));
        // A sandbox on the network takes uploads only with its token.
        let url = match state.token.get_untracked() {
            Some(token) => format!("/upload/{name}?token={token}"),
            None => format!("/upload/{name}"),
        };
        match otalab_browser::http::put(&url, file.unchecked_ref()).await {
            Ok(text) => match serde_json::from_str::<Package>(&with_version(&text, &version)) {
                Ok(package)
                    if package.sha256 == sha256 && package.md5 == md5 && package.size == size =>
                {
                    line.set((
                        false,
                        format!(
                            "{} {} · {} B",
                            state.t("uploaded"),
                            package.name,
                            package.size
                        ),
                    ));
                    state.uploaded.update(|list| {
                        list.retain(|p| p.name != package.name);
                        list.push(package.clone());
                    });
                    state.package.set(Some(package));
                }
                Ok(_) => fail("the server stored different bytes than the page hashed".into()),
                Err(e) => fail(format!("upload answer: {e}")),
            },
            Err(e) => fail(format!("upload failed: {e}")),
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
    let cloud = use_cloud();
    let kind = RwSignal::new(NoticeKind::Correct);
    let target = RwSignal::new("2.0.0".to_string());
    let answer = RwSignal::new(true);
    let dragging = RwSignal::new(false);
    let file_line = RwSignal::new((false, String::new()));
    let push_line = RwSignal::new((false, String::new()));
    let target_error = RwSignal::new(String::new());
    let pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            use_file(state, file_line, file, target.get_untracked());
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
            use_file(state, file_line, file, target.get_untracked());
        }
    };
    let method = RwSignal::new(SignMethod::Md5);
    let push = move |only_selected: bool| {
        let Some(mut package) = state.package.get_untracked() else {
            push_line.set((true, state.t("choose_firmware").to_owned()));
            return;
        };
        if let Err(e) = Version::parse(&target.get_untracked()) {
            push_line.set((true, format!("{}: {e}", state.t("target_version"))));
            return;
        }
        package.version = target.get_untracked();
        // Simulated and external devices alike.
        let names: Vec<DeviceKey> = if only_selected {
            let selected = state.selected.get_untracked();
            state.devices.with_untracked(|rows| {
                rows.iter()
                    .filter(|r| Some(r.id) == selected)
                    .map(|r| r.name.get_value())
                    .collect()
            })
        } else {
            state.keys()
        };
        let kind = kind.get_untracked();
        let method = method.get_untracked();
        spawn_local(async move {
            if kind.over_mqtt() {
                push_line.set((
                    false,
                    format!("{} {}…", state.t("loading_mqtt"), package.name),
                ));
                if let Err(e) = cloud.prepare_stream(&package).await {
                    push_line.set((true, e));
                    return;
                }
            }
            match cloud.push(&names, &package, kind, method) {
                Ok(n) => push_line.set((
                    false,
                    format!(
                        "{} {} · {n} × {} · {} → {}",
                        state.t("batch"),
                        state
                            .batches
                            .with_untracked(|b| b.last().map_or(0, |b| b.id)),
                        state.t(kind.key()),
                        method.name(),
                        package.version
                    ),
                )),
                Err(e) => push_line.set((true, e)),
            }
        });
    };
    let packages = move || {
        let mut list = state.sandbox.get().map(|s| s.demo).unwrap_or_default();
        list.extend(state.uploaded.get());
        list
    };
    view! {
        <section class="card wide platform" data-testid="platform">
            <h2>{state.tr("platform")}</h2>
            <div class="platform-grid">
            <div>
            <label>{state.tr("firmware")}
                <select data-testid="package" on:change=move |ev| {
                    let name = event_target_value(&ev);
                    if let Some(p) = packages().into_iter().find(|p| p.name == name) { target.set(p.version.clone()); target_error.set(String::new()); state.package.set(Some(p)); }
                }>
                    <option value="">"—"</option>
                    {move || packages().into_iter().map(|p| {
                        let selected = state.package.get().is_some_and(|q| q.name == p.name);
                        view! { <option value=p.name.clone() selected=selected>{format!("{} ({} B)", p.name, p.size)}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label class="drop" class:dragging=move || dragging.get()
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=drop_file>
                {state.tr("drop_firmware")}
                <input type="file" data-testid="firmware-file" on:change=pick />
            </label>
            <FormMessage message=file_line testid="firmware-message" />
            <p class="hint package-info" data-testid="package-info">{move || state.package.get().map(|p| format!("{} · {} B · MD5 {} · SHA-256 {}", p.name, p.size, p.md5, p.sha256)).unwrap_or_default()}</p>
            </div>
            <div>
            <label>{state.tr("target_version")}<input data-testid="target" prop:value=target aria-invalid=move || (!target_error.get().is_empty()).to_string()
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    target_error.set(Version::parse(&v).err().map(|e| e.to_string()).unwrap_or_default());
                    target.set(v);
                } /></label>
            <p class="field-error" role="alert" data-testid="target-error">{move || target_error.get()}</p>
            <label>{state.tr("notice_kind")}
                <select data-testid="notice-kind" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    if let Some(k) = NoticeKind::ALL.into_iter().find(|k| k.key() == value) { kind.set(k) }
                }>
                    {NoticeKind::ALL.into_iter().map(|k| view! { <option value=k.key()>{state.tr(k.key())}</option> }).collect_view()}
                </select>
            </label>
            <label>{state.tr("package_sign")}
                <select data-testid="sign-method" on:change=move |ev| {
                    if let Ok(m) = SignMethod::parse(&event_target_value(&ev)) { method.set(m) }
                }>
                    {[SignMethod::Md5, SignMethod::Sha256].into_iter().map(|m| view! {
                        <option value=m.as_str() selected=move || method.get() == m>{m.name()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label class="check"><input type="checkbox" prop:checked=answer on:change=move |ev| { let on = event_target_checked(&ev); answer.set(on); cloud.set_answer_pulls(on); } />
                {state.tr("answer_pulls")}</label>
            </div>
            </div>
            <div class="row">
                <button class="primary" data-testid="push" disabled=move || state.devices.with(Vec::is_empty) on:click=move |_| push(false)>{state.tr("to_all")}</button>
                <button data-testid="push-selected" disabled=move || state.selected.get().is_none()
                    title=state.tr("select_first") on:click=move |_| push(true)>{state.tr("to_selected")}</button>
            </div>
            <FormMessage message=push_line testid="push-message" />
        </section>
    }
}
