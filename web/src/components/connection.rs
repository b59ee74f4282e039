//! The connection profile: local sandbox, Alibaba Cloud IoT, or any broker.

use leptos::prelude::*;

use crate::sim::use_simulator;

use crate::state::{AppState, Profile};

/// The profile editor.
#[component]
pub fn Connection() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let kind = move || match state.profile.get() {
        Profile::Sandbox => "sandbox",
        Profile::Aliyun { .. } => "aliyun",
        Profile::Broker { .. } => "broker",
    };
    let choose = move |ev| {
        let profile = match event_target_value(&ev).as_str() {
            "aliyun" => Profile::Aliyun {
                region: "cn-shanghai".into(),
                instance_id: String::new(),
                tls: true,
                sign_method: "hmacsha256".into(),
                keep_alive: 60,
            },
            "broker" => Profile::Broker {
                url: "ws://127.0.0.1:8688".into(),
                username: String::new(),
                password: String::new(),
            },
            _ => Profile::Sandbox,
        };
        state.profile.set(profile);
        state.persist();
    };
    let text = move |get: fn(&Profile) -> Option<String>, set: fn(&mut Profile, String)| {
        view! {
            <input type="text"
                prop:value=move || state.profile.with(get).unwrap_or_default()
                on:change=move |ev| { state.profile.update(|p| set(p, event_target_value(&ev))); state.persist(); } />
        }
    };
    view! {
        <section class="card" data-testid="connection">
            <h2>{move || state.t("connection")}</h2>
            <label>{move || state.t("profile")}
                <select data-testid="profile" on:change=choose prop:value=kind>
                    <option value="sandbox">{move || state.t("sandbox")}</option>
                    <option value="aliyun">{move || state.t("aliyun")}</option>
                    <option value="broker">{move || state.t("broker")}</option>
                </select>
            </label>
            <Show when=move || kind() == "sandbox">
                <p class="hint">{move || state.sandbox.get().map_or_else(
                    || "no sandbox: start the page with scripts/run".to_string(),
                    |s| s.broker_ws)}</p>
            </Show>
            <Show when=move || kind() == "aliyun">
                <label>{move || state.t("region")}
                    {text(|p| match p { Profile::Aliyun { region, .. } => Some(region.clone()), _ => None },
                          |p, v| if let Profile::Aliyun { region, .. } = p { *region = v })}</label>
                <label>{move || state.t("instance")}
                    {text(|p| match p { Profile::Aliyun { instance_id, .. } => Some(instance_id.clone()), _ => None },
                          |p, v| if let Profile::Aliyun { instance_id, .. } = p { *instance_id = v })}</label>
                <label>{move || state.t("sign_method")}
                    {text(|p| match p { Profile::Aliyun { sign_method, .. } => Some(sign_method.clone()), _ => None },
                          |p, v| if let Profile::Aliyun { sign_method, .. } = p { *sign_method = v })}</label>
                <label>"keep-alive (30..1200 s)"
                    <input type="number" min="30" max="1200"
                        prop:value=move || match state.profile.get() { Profile::Aliyun { keep_alive, .. } => keep_alive.to_string(), _ => String::new() }
                        on:change=move |ev| {
                            if let Ok(v) = event_target_value(&ev).parse::<u16>() {
                                state.profile.update(|p| if let Profile::Aliyun { keep_alive, .. } = p { *keep_alive = v });
                                state.persist();
                            }
                        } /></label>
                <label><input type="checkbox"
                    prop:checked=move || matches!(state.profile.get(), Profile::Aliyun { tls: true, .. })
                    on:change=move |ev| { let on = event_target_checked(&ev); state.profile.update(|p| if let Profile::Aliyun { tls, .. } = p { *tls = on }); state.persist(); } />
                    {move || state.t("tls")}</label>
            </Show>
            <Show when=move || kind() == "broker">
                <label>{move || state.t("url")}
                    {text(|p| match p { Profile::Broker { url, .. } => Some(url.clone()), _ => None },
                          |p, v| if let Profile::Broker { url, .. } = p { *url = v })}</label>
                <label>{move || state.t("username")}
                    {text(|p| match p { Profile::Broker { username, .. } => Some(username.clone()), _ => None },
                          |p, v| if let Profile::Broker { username, .. } = p { *username = v })}</label>
                <label>{move || state.t("password")}
                    <input type="password" data-testid="broker-password"
                        on:change=move |ev| { let v = event_target_value(&ev); state.profile.update(|p| if let Profile::Broker { password, .. } = p { *password = v }); state.persist(); } /></label>
            </Show>
            <label><input type="checkbox"
                prop:checked=move || state.settings.get().remember_secrets
                on:change=move |ev| { let on = event_target_checked(&ev); state.settings.update(|s| s.remember_secrets = on); state.persist(); sim.persist_fleet(); } />
                {move || state.t("remember_secrets")}</label>
        </section>
    }
}
