//! The sans-IO device, cloud and conformance suite of `otalab/sim` for the entry's JavaScript
//! drivers (`SimulatedDevice`, `Cloud`, `ConformanceSuite` in `sim_driver.js`): messages, bytes and times in, what to publish,
//! fetch or wait for out, as plain objects. The drivers do the I/O with the user's MQTT client.

use std::collections::BTreeMap;

use js_sys::{Array, Uint8Array};
use otalab_js::{
    JsResult, bad_argument, bytes_arg, integer_arg, object_arg, optional_object_arg, ota_error,
    payload_arg, string_arg, string_list_arg, time_arg,
};
use otalab_protocol::{Module, SignMethod, Topic, TopicKind, Version};
use otalab_sim::model::status_device;
use otalab_sim::{
    Action, Case, Cloud, CloudError, Device, DeviceConfig, DeviceKey, Fault, FaultUrls, NoticeKind,
    Outgoing, Package, Qos, Suite, SuiteEvent, SuiteOptions,
};
use serde::Deserialize;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

use crate::{JsSimReport, json_value};

/// A device key argument (`productKey/deviceName`): its error names the argument.
fn device_key(argument: &str, value: &JsValue) -> JsResult<DeviceKey> {
    parse_device_key(argument, &string_arg(argument, value)?)
}

/// `productKey/deviceName` read from text, its error naming `argument`.
fn parse_device_key(argument: &str, text: &str) -> JsResult<DeviceKey> {
    text.parse::<DeviceKey>().map_err(|e| {
        ota_error(
            e.code(),
            &format!("{argument}: {e}"),
            vec![("path", argument.into())],
        )
    })
}

/// A list of device keys.
fn device_keys(argument: &str, value: &JsValue) -> JsResult<Vec<DeviceKey>> {
    string_list_arg(argument, value)?
        .iter()
        .enumerate()
        .map(|(i, d)| parse_device_key(&format!("{argument}[{i}]"), d))
        .collect()
}

/// A package (what `Cloud.describe` gives): an http(s) URL, a version and hex digests.
fn package_arg(argument: &str, value: &JsValue) -> JsResult<Package> {
    let package: Package = object_arg(argument, value)?;
    otalab_protocol::check_http_url(&package.url)
        .map_err(|e| bad_argument(&format!("{argument}.url"), e))?;
    // The engine's code for a package that cannot be pushed, with the field's path.
    let invalid = |field: &str, message: String| {
        let path = format!("{argument}.{field}");
        ota_error(
            "INVALID_PACKAGE",
            &format!("{path}: {message}"),
            vec![("path", path.as_str().into())],
        )
    };
    Version::parse(&package.version).map_err(|e| invalid("version", e.to_string()))?;
    for (field, digest, length) in [("md5", &package.md5, 32), ("sha256", &package.sha256, 64)] {
        if digest.len() != length || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                field,
                format!("expected {length} hexadecimal digits, found {digest:?}"),
            ));
        }
    }
    if package.size > otalab_js::MAX_SAFE_INTEGER {
        return Err(bad_argument(&format!("{argument}.size"), "too large"));
    }
    Ok(package)
}

/// How a simulated device behaves: `new SimulatedDevice(options)`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeviceOptions {
    product_key: String,
    device_name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    modules: BTreeMap<String, String>,
    #[serde(default)]
    cadence_percent: Option<u8>,
    #[serde(default)]
    flash_ms: Option<u64>,
    #[serde(default)]
    reboot_ms: Option<u64>,
    #[serde(default)]
    auto_upgrade: Option<bool>,
    #[serde(default)]
    max_resumes: Option<u32>,
    #[serde(default)]
    block_size: Option<u64>,
    #[serde(default)]
    block_timeout_ms: Option<u64>,
    #[serde(default)]
    max_block_retries: Option<u32>,
    #[serde(default)]
    fault: Option<Fault>,
}

impl DeviceOptions {
    fn config(self) -> JsResult<DeviceConfig> {
        Topic::new(TopicKind::Inform, &self.product_key, &self.device_name).map_err(|e| {
            let path = match &e {
                otalab_protocol::TopicError::EmptySegment { segment }
                | otalab_protocol::TopicError::IllegalChar { segment, .. } => {
                    format!("options.{segment}")
                }
                _ => "options".to_owned(),
            };
            ota_error(
                e.code(),
                &format!("{path}: {e}"),
                vec![("path", path.as_str().into())],
            )
        })?;
        let version = self.version.unwrap_or_else(|| "1.0.0".to_owned());
        Version::parse(&version).map_err(|e| bad_argument("options.version", e))?;
        let mut config = DeviceConfig::new(&self.product_key, &self.device_name, &version);
        config.modules.extend(self.modules);
        for (module, version) in &config.modules {
            let place = format!("options.modules.{module}");
            Module::parse(module).map_err(|e| bad_argument(&place, e))?;
            Version::parse(version).map_err(|e| bad_argument(&place, e))?;
        }
        if let Some(cadence) = self.cadence_percent {
            if !(1..=100).contains(&cadence) {
                return Err(bad_argument(
                    "options.cadencePercent",
                    format!("expected 1 to 100, found {cadence}"),
                ));
            }
            config.cadence_percent = cadence;
        }
        config.flash_ms = self.flash_ms.unwrap_or(config.flash_ms);
        config.reboot_ms = self.reboot_ms.unwrap_or(config.reboot_ms);
        config.auto_upgrade = self.auto_upgrade.unwrap_or(config.auto_upgrade);
        config.max_resumes = self.max_resumes.unwrap_or(config.max_resumes);
        config.block_size = self.block_size.unwrap_or(config.block_size).max(1);
        config.block_timeout_ms = self.block_timeout_ms.unwrap_or(config.block_timeout_ms);
        config.max_block_retries = self.max_block_retries.unwrap_or(config.max_block_retries);
        config.fault = self.fault.unwrap_or(Fault::None);
        Ok(config)
    }
}

/// The device's actions as plain objects, `{ kind, ... }`.
fn actions(actions: Vec<Action>) -> JsResult<JsValue> {
    let list: Vec<Value> = actions
        .into_iter()
        .map(|action| match action {
            Action::Publish { topic, payload } => {
                json!({ "kind": "publish", "topic": topic, "payload": payload, "qos": 1 })
            }
            Action::RequestBlock { topic, payload } => {
                json!({ "kind": "publish", "topic": topic, "payload": payload, "qos": 0 })
            }
            Action::Fetch { url, offset } => {
                json!({ "kind": "fetch", "url": url, "offset": offset })
            }
            Action::AbortFetch => json!({ "kind": "abortFetch" }),
            Action::Disconnect => json!({ "kind": "disconnect" }),
            Action::Connect => json!({ "kind": "connect" }),
            Action::WakeAt(at) => json!({ "kind": "wakeAt", "at": at }),
        })
        .collect();
    json_value(&list)
}

/// The sans-IO simulated device under `SimulatedDevice`.
#[wasm_bindgen(js_name = DeviceMachine)]
pub struct JsDeviceMachine {
    device: Device,
}

#[wasm_bindgen(js_class = DeviceMachine)]
impl JsDeviceMachine {
    /// A device from its options (see `SimulatedDevice` in `sim.d.ts`).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> JsResult<JsDeviceMachine> {
        let options: DeviceOptions = object_arg("options", &options)?;
        Ok(Self {
            device: Device::new(options.config()?),
        })
    }

    /// `productKey/deviceName`.
    #[wasm_bindgen(getter)]
    pub fn key(&self) -> String {
        let config = self.device.config();
        format!("{}/{}", config.product_key, config.device_name)
    }

    /// The topics it listens on.
    pub fn subscriptions(&self) -> Vec<String> {
        self.device.subscriptions()
    }

    /// The connection is up (first time, after a reboot or an outage): reports its versions.
    pub fn connected(&mut self, now: JsValue) -> JsResult<JsValue> {
        actions(self.device.connected(time_arg("now", &now)?))
    }

    /// A message on one of its topics; throws the payload's `OtaError` for a malformed one.
    pub fn message(&mut self, topic: JsValue, body: JsValue, now: JsValue) -> JsResult<JsValue> {
        let topic = string_arg("topic", &topic)?;
        let body = payload_arg("payload", &body)?;
        match self.device.message(&topic, &body, time_arg("now", &now)?) {
            Ok(out) => actions(out.unwrap_or_default()),
            Err(e) => Err(ota_error(
                e.code(),
                &format!("{topic}: {e}"),
                vec![("topic", topic.as_str().into())],
            )),
        }
    }

    /// Starts the upgrade it was notified of (with `autoUpgrade: false`).
    pub fn start(&mut self, now: JsValue) -> JsResult<JsValue> {
        actions(self.device.start(time_arg("now", &now)?))
    }

    /// Bytes of the download under way.
    pub fn data(&mut self, bytes: JsValue, now: JsValue) -> JsResult<JsValue> {
        let bytes = bytes_arg("bytes", &bytes)?.to_vec();
        actions(self.device.data(&bytes, time_arg("now", &now)?))
    }

    /// The download's body ended.
    #[wasm_bindgen(js_name = fetchEnded)]
    pub fn fetch_ended(&mut self, now: JsValue) -> JsResult<JsValue> {
        actions(self.device.fetch_ended(time_arg("now", &now)?))
    }

    /// The download failed: an HTTP status (or none for a network error) and why.
    #[wasm_bindgen(js_name = fetchFailed)]
    pub fn fetch_failed(
        &mut self,
        status: JsValue,
        message: JsValue,
        now: JsValue,
    ) -> JsResult<JsValue> {
        let status = if status.is_undefined() || status.is_null() {
            None
        } else {
            Some(integer_arg("status", &status, 0, 999)? as u16)
        };
        let message = string_arg("message", &message)?;
        actions(
            self.device
                .fetch_failed(status, &message, time_arg("now", &now)?),
        )
    }

    /// A wake-up it asked for is due.
    pub fn tick(&mut self, now: JsValue) -> JsResult<JsValue> {
        actions(self.device.tick(time_arg("now", &now)?))
    }

    /// `{ key, phase, percent, versions, steps }`: where it is and what it reported.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsResult<JsValue> {
        json_value(&json!({
            "key": self.key(),
            "phase": self.device.phase().name(),
            "percent": self.device.percent(),
            "versions": self.device.config().modules,
            "steps": self.device.history(),
        }))
    }
}

/// A message for the driver to publish, `{ topic, payload, qos }` (payload text, or bytes for a
/// block frame).
fn outgoing(out: Vec<Outgoing>) -> JsValue {
    let list = Array::new();
    for message in out {
        let item = js_sys::Object::new();
        let binary =
            Topic::parse(&message.topic).is_ok_and(|t| t.kind == TopicKind::FileDownloadReply);
        let body: JsValue = match String::from_utf8(message.payload) {
            Ok(text) if !binary => text.into(),
            Ok(text) => Uint8Array::from(text.as_bytes()).into(),
            Err(e) => Uint8Array::from(e.as_bytes()).into(),
        };
        let qos = match message.qos {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
        };
        let _ = js_sys::Reflect::set(&item, &"topic".into(), &message.topic.into());
        let _ = js_sys::Reflect::set(&item, &"payload".into(), &body);
        let _ = js_sys::Reflect::set(&item, &"qos".into(), &qos.into());
        list.push(&item);
    }
    list.into()
}

fn cloud_error(error: CloudError) -> JsValue {
    ota_error(error.code(), &error.to_string(), Vec::new())
}

/// `push(...)`'s options.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PushOptions {
    #[serde(default)]
    kind: Option<NoticeKind>,
    #[serde(default)]
    sign_method: Option<String>,
    #[serde(default)]
    module: Option<String>,
}

/// The sans-IO sandbox cloud under `Cloud`.
#[wasm_bindgen(js_name = CloudMachine)]
pub struct JsCloudMachine {
    cloud: Cloud,
}

#[wasm_bindgen(js_class = CloudMachine)]
impl JsCloudMachine {
    /// A cloud whose notice ids start at `firstId`.
    #[wasm_bindgen(constructor)]
    pub fn new(first_id: JsValue) -> JsResult<JsCloudMachine> {
        let first_id = integer_arg("options.firstId", &first_id, 1, otalab_js::MAX_SAFE_INTEGER)?;
        Ok(Self {
            cloud: Cloud::new(first_id),
        })
    }

    /// The topic filters it listens on (every device's T1, T3, T4 and T6).
    pub fn subscriptions() -> Vec<String> {
        Cloud::subscriptions(None)
    }

    /// Describes a firmware file from its bytes (its `url` must be http or https):
    /// `{ name, url, size, md5, sha256, version }`.
    pub fn describe(url: JsValue, version: JsValue, bytes: JsValue) -> JsResult<JsValue> {
        let url = string_arg("url", &url)?;
        otalab_protocol::check_http_url(&url).map_err(|e| bad_argument("url", e))?;
        let version = string_arg("version", &version)?;
        Version::parse(&version).map_err(|e| bad_argument("version", e))?;
        let bytes = bytes_arg("bytes", &bytes)?.to_vec();
        json_value(&Package::describe(&url, &version, &bytes))
    }

    /// Keeps a package's bytes to serve it over MQTT; returns its stream id.
    #[wasm_bindgen(js_name = addStream)]
    pub fn add_stream(&mut self, package: JsValue, bytes: JsValue) -> JsResult<f64> {
        let package = package_arg("pkg", &package)?;
        let bytes = bytes_arg("bytes", &bytes)?.to_vec();
        self.cloud
            .add_stream(&package, bytes)
            .map(|id| id as f64)
            .map_err(cloud_error)
    }

    /// Where the broken-URL notice kinds point: `{ flaky, expired, missing, slow }`.
    #[wasm_bindgen(js_name = setFaultUrls)]
    pub fn set_fault_urls(&mut self, urls: JsValue) -> JsResult<()> {
        let urls: FaultUrls = object_arg("urls", &urls)?;
        check_fault_urls("urls", &urls)?;
        self.cloud.set_fault_urls(Some(urls));
        Ok(())
    }

    /// Pushes `package` to `devices` (`"pk/dn"`): `{ kind, signMethod, module }`. Returns what to
    /// publish.
    pub fn push(
        &mut self,
        devices: JsValue,
        package: JsValue,
        how: JsValue,
        now: JsValue,
    ) -> JsResult<JsValue> {
        let keys = device_keys("devices", &devices)?;
        let package = package_arg("pkg", &package)?;
        let how: PushOptions = optional_object_arg("options", &how)?;
        let method = match &how.sign_method {
            Some(m) => SignMethod::parse(m).map_err(|e| bad_argument("options.signMethod", e))?,
            None => SignMethod::Md5,
        };
        let module = match &how.module {
            Some(m) => Module::parse(m).map_err(|e| bad_argument("options.module", e))?,
            None => Module::default(),
        };
        let out = self
            .cloud
            .push_module(
                &keys,
                &package,
                how.kind.unwrap_or(NoticeKind::Correct),
                method,
                &module,
                time_arg("now", &now)?,
            )
            .map_err(cloud_error)?;
        Ok(outgoing(out))
    }

    /// A message from a device; returns what to publish (answers to pulls, block frames, and
    /// notices pushed again).
    pub fn message(&mut self, topic: JsValue, body: JsValue, now: JsValue) -> JsResult<JsValue> {
        let topic = string_arg("topic", &topic)?;
        let body = payload_arg("payload", &body)?;
        Ok(outgoing(self.cloud.message(
            &topic,
            &body,
            time_arg("now", &now)?,
        )))
    }

    /// Cancels batch `id`: the number of jobs cancelled.
    pub fn cancel(&mut self, id: JsValue, now: JsValue) -> JsResult<u32> {
        let id = batch_id(&id)?;
        self.cloud
            .cancel(id, time_arg("now", &now)?)
            .map(|n| n as u32)
            .map_err(cloud_error)
    }

    /// Pushes batch `id` again to its failed devices: `{ batch, messages }`.
    #[wasm_bindgen(js_name = retryFailed)]
    pub fn retry_failed(&mut self, id: JsValue, now: JsValue) -> JsResult<JsValue> {
        let id = batch_id(&id)?;
        let (batch, out) = self
            .cloud
            .retry_failed(id, time_arg("now", &now)?)
            .map_err(cloud_error)?;
        let result = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&result, &"batch".into(), &batch.into());
        let _ = js_sys::Reflect::set(&result, &"messages".into(), &outgoing(out));
        Ok(result.into())
    }

    /// When the cloud next needs `handleTimeout` (ms), if ever.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.cloud.poll_timeout().map(|t| t as f64)
    }

    /// Its timers are due: what to publish.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: JsValue) -> JsResult<JsValue> {
        Ok(outgoing(self.cloud.handle_timeout(time_arg("now", &now)?)))
    }

    /// A device's verdict: `pending`, `upgrading`, `succeeded`, `failed` or `cancelled`.
    pub fn verdict(&self, device: JsValue) -> JsResult<String> {
        let key = device_key("device", &device)?;
        let verdict = serde_json::to_value(self.cloud.verdict(&key)).unwrap_or_default();
        Ok(verdict.as_str().unwrap_or_default().to_owned())
    }

    /// The batches so far, with their counts and grouped failures.
    pub fn batches(&self) -> JsResult<JsValue> {
        json_value(&self.cloud.batch_statuses())
    }

    /// Whether every job is final, or quiet for `quietMs`.
    pub fn settled(&self, now: JsValue, quiet_ms: JsValue) -> JsResult<bool> {
        Ok(self.cloud.settled(
            time_arg("now", &now)?,
            time_arg("options.quietMs", &quiet_ms)?,
        ))
    }

    /// The report of `devices` (`"pk/dn"`) at `now`.
    pub fn report(&self, devices: JsValue, now: JsValue) -> JsResult<JsSimReport> {
        let keys = device_keys("devices", &devices)?;
        Ok(JsSimReport::new(
            self.cloud.report(&keys, time_arg("now", &now)?),
            "otalab".to_owned(),
        ))
    }
}

/// `new ConformanceSuite(options)`'s settings, as the machine takes them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SuiteSettings {
    device: String,
    package: Package,
    #[serde(default)]
    cases: Option<Vec<Case>>,
    #[serde(default)]
    limits: Option<SuiteOptions>,
    #[serde(default)]
    fault_urls: Option<FaultUrls>,
    #[serde(default = "default_wait_ms")]
    wait_ms: u64,
}

fn default_wait_ms() -> u64 {
    60_000
}

/// The sans-IO conformance suite under `ConformanceSuite`, with the cloud it pushes through.
#[wasm_bindgen(js_name = SuiteMachine)]
pub struct JsSuiteMachine {
    suite: Suite,
    cloud: Cloud,
}

#[wasm_bindgen(js_class = SuiteMachine)]
impl JsSuiteMachine {
    /// A suite for `settings.device` from `now`; `firmware` (bytes of the package) is needed for
    /// the MQTT cases.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: JsValue, firmware: JsValue, now: JsValue) -> JsResult<JsSuiteMachine> {
        let settings: SuiteSettings = object_arg("options", &settings)?;
        let now = time_arg("now", &now)?;
        let device = parse_device_key("options.device", &settings.device)?;
        let package = package_arg("options.package", &json_value(&settings.package)?)?;
        let firmware = if firmware.is_undefined() || firmware.is_null() {
            None
        } else {
            Some(bytes_arg("options.firmware", &firmware)?)
        };
        if let Some(urls) = &settings.fault_urls {
            check_fault_urls("options.faultUrls", urls)?;
        }
        if settings.wait_ms > otalab_js::MAX_SAFE_INTEGER {
            return Err(bad_argument("options.waitMs", "too large"));
        }
        let cases = settings.cases.unwrap_or_else(|| Case::ALL.to_vec());
        if cases.is_empty() {
            return Err(bad_argument("options.cases", "no case to run"));
        }
        let mut cloud = Cloud::new(now);
        if let Some(urls) = settings.fault_urls {
            cloud.set_fault_urls(Some(urls));
        } else if let Some(case) = cases
            .iter()
            .find(|c| matches!(c, Case::ExpiredUrl | Case::MissingUrl | Case::FlakyUrl))
        {
            return Err(bad_argument(
                "options.faultUrls",
                format!(
                    "case {} needs the broken URLs ({{ flaky, expired, missing }}, as the sandbox serves them); give them or leave the case out",
                    case.name()
                ),
            ));
        }
        let over_mqtt = cases.iter().any(|c| c.name().starts_with("mqtt"));
        match firmware {
            Some(bytes) if over_mqtt => {
                cloud
                    .add_stream(&package, bytes.to_vec())
                    .map_err(cloud_error)?;
            }
            None if over_mqtt => {
                return Err(bad_argument(
                    "options.firmware",
                    "the MQTT cases serve the package's bytes: give them (or leave the cases out)",
                ));
            }
            _ => {}
        }
        let mut suite = Suite::new(
            device,
            package,
            &cases,
            settings.limits.unwrap_or_default(),
            now,
        );
        suite.wait_for_version(now.saturating_add(settings.wait_ms));
        Ok(Self { suite, cloud })
    }

    /// The topics it listens on: its own device's only, so that suites share a broker (its OTA
    /// topics and the platform's status topic of it, `/as/mqtt/status/{pk}/{dn}`).
    pub fn subscriptions(&self) -> Vec<String> {
        self.suite.subscriptions()
    }

    /// Every case's name, in the order the suite runs them.
    pub fn cases() -> Vec<String> {
        Case::ALL.iter().map(|c| c.name().to_owned()).collect()
    }

    /// A message from the device under test: the suite sees it, then the cloud answers. What to
    /// publish. Other devices' messages are left alone (other suites may be grading them).
    pub fn message(&mut self, topic: JsValue, body: JsValue, now: JsValue) -> JsResult<JsValue> {
        let topic = string_arg("topic", &topic)?;
        let DeviceKey(pk, dn) = self.suite.device();
        let mine = Topic::parse(&topic).is_ok_and(|t| t.product_key == *pk && t.device_name == *dn)
            || status_device(&topic).is_some_and(|key| key == *self.suite.device());
        if !mine {
            return Ok(Array::new().into());
        }
        let body = payload_arg("payload", &body)?;
        let now = time_arg("now", &now)?;
        Ok(outgoing(self.suite.handle_message(
            &mut self.cloud,
            &topic,
            &body,
            now,
        )))
    }

    /// When `handleTimeout` is next due (ms), or nothing once the suite is over.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self, now: JsValue) -> JsResult<Option<f64>> {
        Ok(self
            .suite
            .poll_timeout(time_arg("now", &now)?)
            .map(|t| t as f64))
    }

    /// Time passed: `{ messages, events }`, events as `{ kind: 'version' | 'noVersion' |
    /// 'caseStarted' | 'caseJudged' | 'finished', ... }`.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: JsValue) -> JsResult<JsValue> {
        let now = time_arg("now", &now)?;
        self.suite.handle_timeout(&mut self.cloud, now);
        let messages: Vec<Outgoing> = std::iter::from_fn(|| self.suite.poll_transmit()).collect();
        let mut events = Vec::new();
        while let Some(event) = self.suite.poll_event() {
            events.push(match event {
                SuiteEvent::DeviceVersion { version } => {
                    json!({ "kind": "version", "version": version })
                }
                SuiteEvent::NoVersion { waited_ms } => {
                    json!({ "kind": "noVersion", "waitedMs": waited_ms })
                }
                SuiteEvent::CaseStarted(case) => {
                    json!({ "kind": "caseStarted", "case": case.name() })
                }
                SuiteEvent::CaseJudged(result) => json!({ "kind": "caseJudged", "result": result }),
                SuiteEvent::Finished(_) => json!({ "kind": "finished" }),
            });
        }
        let result = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&result, &"messages".into(), &outgoing(messages));
        let _ = js_sys::Reflect::set(&result, &"events".into(), &json_value(&events)?);
        Ok(result.into())
    }

    /// The report card so far: `{ productKey, deviceName, startedAt, cases }`.
    pub fn report(&self) -> JsResult<JsValue> {
        json_value(&self.suite.report())
    }

    /// The report card as JUnit XML (a failure per failed case, with its evidence).
    #[wasm_bindgen(js_name = reportJunit)]
    pub fn report_junit(&self) -> String {
        self.suite.report().to_junit()
    }
}

/// A batch id (what `push` returned).
fn batch_id(value: &JsValue) -> JsResult<u32> {
    integer_arg("batch", value, 0, u64::from(u32::MAX)).map(|id| id as u32)
}

/// Broken-URL prefixes must be http(s) URLs.
fn check_fault_urls(argument: &str, urls: &FaultUrls) -> JsResult<()> {
    let value = serde_json::to_value(urls).unwrap_or_default();
    if let Some(map) = value.as_object() {
        for (name, url) in map {
            if let Some(url) = url.as_str().filter(|u| !u.is_empty()) {
                otalab_protocol::check_http_url(url)
                    .map_err(|e| bad_argument(&format!("{argument}.{name}"), e))?;
            }
        }
    }
    Ok(())
}
