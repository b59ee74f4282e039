//! The selected device's notice in full, and its progress history. All as text.

use leptos::prelude::*;

use crate::state::AppState;
use otalab_sim::DeviceKey;

/// The notice detail.
#[component]
pub fn NoticeDetail() -> impl IntoView {
    let state = expect_context::<AppState>();
    let row = move || {
        state.selected.get().and_then(|id| {
            state
                .devices
                .with(|rows| rows.iter().find(|r| r.id == id).copied())
        })
    };
    let field = |notice: &serde_json::Value, key: &str| match &notice[key] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    view! {
        <section class="card wide" data-testid="notice">
            <h2>{state.tr("notice")}" "{move || row().map(|r| r.name.with_value(DeviceKey::to_string)).unwrap_or_default()}</h2>
            {move || row().and_then(|r| r.status.with(|s| s.notice.clone())).map(|(notice, raw)| {
                let files = notice["files"].as_array().cloned().unwrap_or_default();
                view! {
                    <dl class="notice">
                        <dt>"id"</dt><dd>{field(&notice, "id")}</dd>
                        <dt>{state.tr("version")}</dt><dd data-testid="notice-version">{field(&notice, "version")}</dd>
                        <dt>"module"</dt><dd>{field(&notice, "module")}</dd>
                        <dt>"signMethod"</dt><dd>{field(&notice, "signMethod")}</dd>
                        <dt>"isDiff"</dt><dd>{field(&notice, "isDiff")}</dd>
                        <dt>"download"</dt><dd data-testid="notice-download">{
                            let download = field(&notice, "download");
                            if download == "mqtt" {
                                format!("mqtt · streamId {} · streamFileId {}", field(&notice, "streamId"), field(&notice, "streamFileId"))
                            } else {
                                download
                            }
                        }</dd>
                        <dt>"digestsign"</dt><dd>{field(&notice, "digestSign")}</dd>
                        <dt>"files"</dt><dd>
                            <ul>{files.into_iter().map(|f| view! {
                                <li>{format!("{} · {} B · {} · ", f["name"].as_str().unwrap_or("-"), f["size"], f["sign"].as_str().unwrap_or_default())}
                                    // Only http(s) URLs are linked; shown as text either way.
                                    <span class="url">{f["url"].as_str().unwrap_or_default().to_owned()}</span></li>
                            }).collect_view()}</ul></dd>
                        <dt>"extData"</dt><dd data-testid="notice-ext">{notice["extData"].to_string()}</dd>
                        <dt>"_package_udi"</dt><dd>{notice["extData"]["_package_udi"].as_str().unwrap_or_default().to_owned()}</dd>
                        <dt>"unknown"</dt><dd>{notice["unknown"].to_string()}</dd>
                    </dl>
                    <details><summary>{state.tr("raw")}</summary><pre data-testid="notice-raw">{raw}</pre></details>
                }
            })}
            <ol class="history" data-testid="history">
                {move || row().map(|r| r.status.with(|s| s.history.iter().map(|h| view! {
                    <li><time title=otalab_sim::report::iso_time(h.at_ms)>{crate::state::clock_time(h.at_ms)}</time>{format!(" · {} · ", h.step)}<span>{h.desc.clone()}</span></li>
                }).collect_view()))}
            </ol>
        </section>
    }
}
