//! `OtaBridge`: the bridge SDK's three calls over any MQTT transport.

use js_sys::Function;
use otalab_protocol::{Bridge, DeviceEntry, Outgoing};
use serde::Deserialize;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert::{
    NumberOrText, coded, from_js, optional_string_arg, payload_bytes, string_arg, to_js,
};
use crate::error::{JsResult, bad_argument};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeviceIn {
    original_identity: String,
    product_key: String,
    device_name: String,
    device_secret: String,
}

struct BridgeIn {
    devices: Vec<DeviceIn>,
}

/// `firmwareInfo` as the bridge SDK's `OtaFirmwareInfo`, plus the whole notice.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FirmwareInfo<'a> {
    size: u64,
    sign_method: &'static str,
    sign: &'a str,
    version: &'a str,
    url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Session<'a> {
    original_identity: &'a str,
    product_key: &'a str,
    device_name: &'a str,
}

/// Reports versions and progress and receives notices for the devices of a `devices.conf`.
#[wasm_bindgen(js_name = OtaBridge)]
pub struct JsOtaBridge {
    bridge: Bridge,
    publish: Function,
    handler: Option<Function>,
}

#[wasm_bindgen(js_class = OtaBridge)]
impl JsOtaBridge {
    /// `new OtaBridge({ devices, publish })`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> JsResult<JsOtaBridge> {
        for key in otalab_js::object_keys("options", &options)? {
            if key != "devices" && key != "publish" {
                return Err(bad_argument(
                    &format!("options.{key}"),
                    "unknown option; expected devices and publish",
                ));
            }
        }
        let publish = otalab_js::property("options", &options, "publish")?
            .dyn_into::<Function>()
            .map_err(|_| {
                bad_argument(
                    "options.publish",
                    "expected a function (topic, payload, qos)",
                )
            })?;
        let devices = otalab_js::property("options", &options, "devices")?;
        let parsed = BridgeIn {
            devices: from_js("options.devices", devices)?,
        };
        let devices = parsed
            .devices
            .into_iter()
            .map(|d| DeviceEntry {
                original_identity: d.original_identity,
                product_key: d.product_key,
                device_name: d.device_name,
                device_secret: d.device_secret,
            })
            .collect();
        Ok(Self {
            bridge: coded(Bridge::new(devices))?,
            publish,
            handler: None,
        })
    }

    fn send(&self, out: Outgoing) -> bool {
        let sent = self.publish.call3(
            &JsValue::NULL,
            &out.topic.into(),
            &out.payload.into(),
            &JsValue::from(out.qos),
        );
        // A publish function that throws or returns false did not send.
        matches!(sent, Ok(value) if value != JsValue::FALSE)
    }

    /// `reportOtaVersion(requestId, originalIdentity, version, module?)`: publishes T1.
    #[wasm_bindgen(js_name = reportOtaVersion)]
    pub fn report_ota_version(
        &self,
        request_id: JsValue,
        original_identity: JsValue,
        version: JsValue,
        module: JsValue,
    ) -> JsResult<bool> {
        let id: NumberOrText = from_js("requestId", request_id)?;
        let out = coded(self.bridge.version_report(
            &id.to_text(),
            &string_arg("originalIdentity", &original_identity)?,
            &string_arg("version", &version)?,
            optional_string_arg("module", &module)?.as_deref(),
        ))?;
        Ok(self.send(out))
    }

    /// `reportOtaProgress(requestId, originalIdentity, step, desc, module?)`: publishes T3.
    #[wasm_bindgen(js_name = reportOtaProgress)]
    pub fn report_ota_progress(
        &self,
        request_id: JsValue,
        original_identity: JsValue,
        step: JsValue,
        desc: JsValue,
        module: JsValue,
    ) -> JsResult<bool> {
        let id: NumberOrText = from_js("requestId", request_id)?;
        let step: NumberOrText = from_js("step", step)?;
        let out = coded(
            self.bridge.progress(
                &id.to_text(),
                &string_arg("originalIdentity", &original_identity)?,
                &step.to_text(),
                optional_string_arg("desc", &desc)?
                    .as_deref()
                    .unwrap_or_default(),
                optional_string_arg("module", &module)?.as_deref(),
            ),
        )?;
        Ok(self.send(out))
    }

    /// `setOtaUpgradeHandler((requestId, firmwareInfo, session) => boolean)`.
    #[wasm_bindgen(js_name = setOtaUpgradeHandler)]
    pub fn set_ota_upgrade_handler(&mut self, handler: JsValue) -> JsResult<()> {
        let handler = handler.dyn_into::<Function>().map_err(|_| {
            bad_argument(
                "handler",
                "expected a function (requestId, firmwareInfo, session)",
            )
        })?;
        self.handler = Some(handler);
        Ok(())
    }

    /// Feeds an incoming message. True when it was an upgrade notice for a configured device
    /// (the handler has then been called); throws `OtaError` when such a message is malformed.
    #[wasm_bindgen(js_name = handleMessage)]
    pub fn handle_message(&self, topic: JsValue, payload: JsValue) -> JsResult<bool> {
        let topic = string_arg("topic", &topic)?;
        let bytes = payload_bytes(&payload)?;
        let Some(routed) = coded(self.bridge.route(&topic, &bytes))? else {
            return Ok(false);
        };
        let notice = &routed.notice;
        let Some(handler) = &self.handler else {
            return Ok(true);
        };
        let first = notice.files.first();
        let info = to_js(&FirmwareInfo {
            size: notice.total_size(),
            sign_method: notice.sign_method.as_str(),
            sign: first.map(|f| f.sign.as_str()).unwrap_or_default(),
            version: notice.version.as_str(),
            url: first.and_then(|f| f.url.as_deref()).unwrap_or_default(),
        })?;
        let full = to_js(notice)?;
        if let Some(udi) = notice.package_udi() {
            let _ = js_sys::Reflect::set(&full, &"packageUdi".into(), &udi.into());
        }
        let _ = js_sys::Reflect::set(&info, &"notice".into(), &full);
        let session = to_js(&Session {
            original_identity: &routed.device.original_identity,
            product_key: &routed.device.product_key,
            device_name: &routed.device.device_name,
        })?;
        handler.call3(&JsValue::NULL, &notice.id.as_str().into(), &info, &session)?;
        Ok(true)
    }

    /// The topics the transport must subscribe to (T2 and T5 of every device).
    pub fn subscriptions(&self) -> Vec<String> {
        self.bridge.subscriptions()
    }
}
