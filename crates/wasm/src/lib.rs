//! # otalab-wasm
//!
//! The npm package `otalab`: [`otalab_protocol`] for JavaScript. This crate only names,
//! converts and maps errors; every decision is made by the protocol crate. Errors are thrown as
//! `OtaError { name: 'OtaError', code, message, ...details }`.

mod block;
mod bridge;
mod convert;
mod error;
mod verifier;

use js_sys::Reflect;
use otalab_protocol::{
    CredentialOptions, DeviceIdentity, Endpoint, FirmwareGet, MqttCredentials, MqttSignMethod,
    Progress, Topic, TopicKind, UpgradeNotice, Version, VersionReport, parse_devices_conf,
};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

pub use block::{
    decode_file_block_reply, decode_file_block_request, encode_file_block_reply,
    encode_file_block_request,
};
pub use bridge::JsOtaBridge;
use convert::{
    NumberOrText, argument_error, coded, from_js, message_id, module, payload_bytes, step,
    string_arg, to_js,
};
pub use error::set_error_class;
use error::{JsResult, bad_argument};
pub use verifier::{
    JsFirmwareVerifier, bytes_argument, verifier_error, verifier_expect, verifier_judge,
    verify_firmware,
};

/// `topic(kind, productKey, deviceName)`: the topic string.
#[wasm_bindgen]
pub fn topic(kind: JsValue, product_key: JsValue, device_name: JsValue) -> JsResult<String> {
    let kind = string_arg("kind", &kind)?;
    let product_key = string_arg("productKey", &product_key)?;
    let device_name = string_arg("deviceName", &device_name)?;
    let kind = TopicKind::from_name(&kind).ok_or_else(|| {
        bad_argument(
            "kind",
            format!("unknown topic kind {kind:?}; expected inform, upgrade, progress, firmwareGet, firmwareGetReply, fileDownload or fileDownloadReply"),
        )
    })?;
    coded(Topic::new(kind, &product_key, &device_name)).map(|t| t.to_string())
}

/// `parseTopic(topic)`: `{ kind, productKey, deviceName }`.
#[wasm_bindgen(js_name = parseTopic)]
pub fn parse_topic(topic: JsValue) -> JsResult<JsValue> {
    to_js(&coded(Topic::parse(&string_arg("topic", &topic)?))?)
}

/// Converts a decoded notice, adding `packageUdi`.
fn notice_to_js(notice: &UpgradeNotice) -> JsResult<JsValue> {
    let value = to_js(notice)?;
    if let Some(udi) = notice.package_udi() {
        let _ = Reflect::set(&value, &"packageUdi".into(), &udi.into());
    }
    Ok(value)
}

/// `decodeUpgradeNotice(payload)`: a T2 push.
#[wasm_bindgen(js_name = decodeUpgradeNotice)]
pub fn decode_upgrade_notice(payload: JsValue) -> JsResult<JsValue> {
    notice_to_js(&coded(UpgradeNotice::decode(&payload_bytes(&payload)?))?)
}

/// `decodeFirmwareGetReply(payload)`: a T5 reply; `null` when the cloud has no package.
#[wasm_bindgen(js_name = decodeFirmwareGetReply)]
pub fn decode_firmware_get_reply(payload: JsValue) -> JsResult<JsValue> {
    match coded(UpgradeNotice::decode_reply(&payload_bytes(&payload)?))? {
        Some(notice) => notice_to_js(&notice),
        None => Ok(JsValue::NULL),
    }
}

#[derive(Deserialize)]
struct ReportIn {
    id: NumberOrText,
    version: String,
    module: Option<String>,
}

/// `encodeVersionReport({ id, version, module? })`: a T1 body.
#[wasm_bindgen(js_name = encodeVersionReport)]
pub fn encode_version_report(report: JsValue) -> JsResult<String> {
    let r: ReportIn = from_js("report", report)?;
    let version = Version::parse(&r.version).map_err(|e| argument_error("report.version", e))?;
    let report = VersionReport::new(
        message_id("report.id", &r.id)?,
        version,
        module("report.module", r.module.as_deref())?,
    );
    Ok(report.encode())
}

/// `decodeVersionReport(payload)`: `{ id, version, module }`.
#[wasm_bindgen(js_name = decodeVersionReport)]
pub fn decode_version_report(payload: JsValue) -> JsResult<JsValue> {
    to_js(&coded(VersionReport::decode(&payload_bytes(&payload)?))?)
}

#[derive(Deserialize)]
struct ProgressIn {
    id: NumberOrText,
    step: NumberOrText,
    desc: Option<String>,
    module: Option<String>,
}

/// `encodeProgress({ id, step, desc?, module? })`: a T3 body.
#[wasm_bindgen(js_name = encodeProgress)]
pub fn encode_progress(progress: JsValue) -> JsResult<String> {
    let p: ProgressIn = from_js("progress", progress)?;
    let progress = Progress::new(
        message_id("progress.id", &p.id)?,
        step("progress.step", &p.step)?,
        p.desc.unwrap_or_default(),
        module("progress.module", p.module.as_deref())?,
    );
    Ok(progress.encode())
}

/// `decodeProgress(payload)`: `{ id, step, desc, module }`.
#[wasm_bindgen(js_name = decodeProgress)]
pub fn decode_progress(payload: JsValue) -> JsResult<JsValue> {
    to_js(&coded(Progress::decode(&payload_bytes(&payload)?))?)
}

#[derive(Deserialize)]
struct FirmwareGetIn {
    id: NumberOrText,
    module: Option<String>,
}

/// `encodeFirmwareGet({ id, module? })`: a T4 body.
#[wasm_bindgen(js_name = encodeFirmwareGet)]
pub fn encode_firmware_get(request: JsValue) -> JsResult<String> {
    let r: FirmwareGetIn = from_js("request", request)?;
    Ok(FirmwareGet::new(
        message_id("request.id", &r.id)?,
        module("request.module", r.module.as_deref())?,
    )
    .encode())
}

/// `decodeFirmwareGet(payload)`: `{ id, module }` of a T4 body.
#[wasm_bindgen(js_name = decodeFirmwareGet)]
pub fn decode_firmware_get(payload: JsValue) -> JsResult<JsValue> {
    to_js(&coded(FirmwareGet::decode(&payload_bytes(&payload)?))?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsIn {
    product_key: String,
    device_name: String,
    device_secret: String,
    client_id: Option<String>,
    timestamp: Option<NumberOrText>,
    sign_method: Option<String>,
    tls: Option<bool>,
    region: Option<String>,
    instance_id: Option<String>,
}

/// `aliyunCredentials(options)`: `{ clientId, username, password, url? }`.
#[wasm_bindgen(js_name = aliyunCredentials)]
pub fn aliyun_credentials(options: JsValue) -> JsResult<JsValue> {
    let o: CredentialsIn = from_js("options", options)?;
    let sign_method = match &o.sign_method {
        Some(m) => coded(MqttSignMethod::parse(m))?,
        None => MqttSignMethod::default(),
    };
    let tls = o.tls.unwrap_or(true);
    let endpoint = match (&o.region, &o.instance_id) {
        (Some(_), Some(_)) => {
            return Err(bad_argument(
                "options",
                "give region or instanceId, not both",
            ));
        }
        (Some(region), None) => Some(coded(Endpoint::region(region))?),
        (None, Some(id)) => Some(coded(Endpoint::instance(id))?),
        (None, None) => None,
    };
    let identity = DeviceIdentity {
        product_key: o.product_key,
        device_name: o.device_name,
        device_secret: o.device_secret,
    };
    let options = CredentialOptions {
        client_id: o.client_id,
        timestamp: o.timestamp.as_ref().map(NumberOrText::to_text),
        sign_method,
        tls,
    };
    let login = coded(MqttCredentials::new(&identity, &options))?;
    let value = to_js(&login)?;
    if let Some(endpoint) = endpoint {
        let url = endpoint.websocket_url(&identity.product_key, tls);
        let _ = Reflect::set(&value, &"url".into(), &url.into());
    }
    Ok(value)
}

/// `parseDevicesConf(text)`: the devices of a bridge `devices.conf`.
#[wasm_bindgen(js_name = parseDevicesConf)]
pub fn parse_devices_conf_js(text: JsValue) -> JsResult<JsValue> {
    to_js(&coded(parse_devices_conf(&string_arg("text", &text)?))?)
}
