//! The connection profile: local sandbox, Alibaba Cloud IoT, or any broker. Every field is
//! checked with the rules the connection itself applies (the protocol core's endpoint and
//! sign-method parsers, the client's URL and keep-alive rules); a bad value is shown next to
//! its field and not applied.

use leptos::prelude::*;
use otalab_browser::ClientOptions;
use otalab_protocol::{Endpoint, MqttSignMethod};

use crate::components::number_in;
use crate::sim::use_simulator;
use crate::state::{AppState, Profile};

/// A text field of the profile: `check` turns the typed text into the profile's new value or
/// says what is wrong (shown under the field, in `testid`-error).
fn checked_text(
    state: AppState,
    label: &'static str,
    testid: &'static str,
    get: fn(&Profile) -> Option<String>,
    check: fn(&AppState, &str) -> Result<String, String>,
    set: fn(&mut Profile, String),
) -> impl IntoView {
    let error = RwSignal::new(String::new());
    view! {
        <label>{state.tr(label)}
            <input type="text" data-testid=testid aria-invalid=move || (!error.get().is_empty()).to_string()
                prop:value=move || state.profile.with(get).unwrap_or_default()
                on:change=move |ev| match check(&state, &event_target_value(&ev)) {
                    Ok(value) => { error.set(String::new()); state.profile.update(|p| set(p, value)); state.persist(); }
                    Err(e) => error.set(e),
                } /></label>
        <p class="field-error" role="alert" data-testid=format!("{testid}-error")>{move || error.get()}</p>
    }
}

fn check_region(_: &AppState, text: &str) -> Result<String, String> {
    let text = text.trim();
    Endpoint::region(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("{}: {e}", e.code()))
}

fn check_instance(_: &AppState, text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(String::new());
    }
    Endpoint::instance(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("{}: {e}", e.code()))
}

fn check_url(_: &AppState, text: &str) -> Result<String, String> {
    let text = text.trim();
    ClientOptions::check_url(text)
        .map(|()| text.to_owned())
        .map_err(|e| format!("{}: {e}", e.code()))
}

/// The profile editor.
#[component]
pub fn Connection() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sim = use_simulator();
    let keep_alive_error = RwSignal::new(String::new());
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
    view! {
        <section class="card" data-testid="connection">
            <h2>{state.tr("connection")}</h2>
            <label>{state.tr("profile")}
                <select data-testid="profile" on:change=choose prop:value=kind>
                    <option value="sandbox">{state.tr("sandbox")}</option>
                    <option value="aliyun">{state.tr("aliyun")}</option>
                    <option value="broker">{state.tr("broker")}</option>
                </select>
            </label>
            <Show when=move || kind() == "sandbox">
                <p class="hint">{move || state.sandbox.get().map_or_else(
                    || state.t("no_sandbox").to_string(),
                    |s| s.broker_ws)}</p>
                {move || state.sandbox.get().and_then(|s| s.auto_subscribe).map(|auto| view! {
                    <p class="hint" data-testid="auto-subscribe">
                        {format!("{} {}: {}", state.t("auto_subscribe"), auto.port, auto.topics.join(", "))}
                    </p>
                })}
                {move || state.sandbox.get().and_then(|s| s.lan).map(|lan| view! {
                    <div class="lan" data-testid="lan-info">
                        <b>{state.tr("lan_title")}</b>
                        <p>{format!("{}: {} · MQTT {} ({}) · WebSocket {} · {}", state.t("lan_host"), lan.host, lan.mqtt_port,
                            if lan.tls { "TLS" } else { state.t("no_tls") }, lan.ws_port, state.t("any_login"))}</p>
                        <p class="hint">{format!("{}: {}", state.t("lan_addresses"), lan.addresses.join(", "))}</p>
                    </div>
                })}
            </Show>
            <Show when=move || kind() == "aliyun">
                {checked_text(state, "region", "aliyun-region",
                    |p| match p { Profile::Aliyun { region, .. } => Some(region.clone()), _ => None },
                    check_region,
                    |p, v| if let Profile::Aliyun { region, .. } = p { *region = v })}
                {checked_text(state, "instance", "aliyun-instance",
                    |p| match p { Profile::Aliyun { instance_id, .. } => Some(instance_id.clone()), _ => None },
                    check_instance,
                    |p, v| if let Profile::Aliyun { instance_id, .. } = p { *instance_id = v })}
                <label>{state.tr("sign_method")}
                    <select data-testid="aliyun-sign-method"
                        prop:value=move || match state.profile.get() { Profile::Aliyun { sign_method, .. } => sign_method, _ => String::new() }
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            if MqttSignMethod::parse(&v).is_ok() {
                                state.profile.update(|p| if let Profile::Aliyun { sign_method, .. } = p { *sign_method = v });
                                state.persist();
                            }
                        }>
                        <option value="hmacsha256">"hmacsha256"</option>
                        <option value="hmacsha1">"hmacsha1"</option>
                        <option value="hmacmd5">"hmacmd5"</option>
                    </select></label>
                <label>{state.tr("keep_alive")}
                    <input type="number" min="30" max="1200" data-testid="aliyun-keep-alive"
                        aria-invalid=move || (!keep_alive_error.get().is_empty()).to_string()
                        prop:value=move || match state.profile.get() { Profile::Aliyun { keep_alive, .. } => keep_alive.to_string(), _ => String::new() }
                        on:change=move |ev| match number_in(&state, &event_target_value(&ev), 30, 1200) {
                            Ok(v) => {
                                keep_alive_error.set(String::new());
                                state.profile.update(|p| if let Profile::Aliyun { keep_alive, .. } = p { *keep_alive = v as u16 });
                                state.persist();
                            }
                            Err(e) => keep_alive_error.set(e),
                        } /></label>
                <p class="field-error" role="alert" data-testid="aliyun-keep-alive-error">{move || keep_alive_error.get()}</p>
                <label class="check"><input type="checkbox"
                    prop:checked=move || matches!(state.profile.get(), Profile::Aliyun { tls: true, .. })
                    on:change=move |ev| { let on = event_target_checked(&ev); state.profile.update(|p| if let Profile::Aliyun { tls, .. } = p { *tls = on }); state.persist(); } />
                    {state.tr("tls")}</label>
            </Show>
            <Show when=move || kind() == "broker">
                {checked_text(state, "url", "broker-url",
                    |p| match p { Profile::Broker { url, .. } => Some(url.clone()), _ => None },
                    check_url,
                    |p, v| if let Profile::Broker { url, .. } = p { *url = v })}
                {checked_text(state, "username", "broker-username",
                    |p| match p { Profile::Broker { username, .. } => Some(username.clone()), _ => None },
                    |_, v| Ok(v.to_owned()),
                    |p, v| if let Profile::Broker { username, .. } = p { *username = v })}
                <label>{state.tr("password")}
                    <input type="password" data-testid="broker-password"
                        on:change=move |ev| { let v = event_target_value(&ev); state.profile.update(|p| if let Profile::Broker { password, .. } = p { *password = v }); state.persist(); } /></label>
            </Show>
            <label class="check"><input type="checkbox"
                prop:checked=move || state.settings.get().remember_secrets
                on:change=move |ev| { let on = event_target_checked(&ev); state.settings.update(|s| s.remember_secrets = on); state.persist(); sim.persist_fleet(); } />
                {state.tr("remember_secrets")}</label>
        </section>
    }
}
