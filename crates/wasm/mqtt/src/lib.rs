//! # otalab-mqtt-wasm
//!
//! The npm package's `otalab/mqtt` entry: otalab's own MQTT 3.1.1 client over WebSocket (the
//! dashboard's [`otalab_browser::MqttClient`] on the [`otalab_mqtt`] session) for JavaScript.
//! It runs wherever a global `WebSocket` exists: browsers, and Node (22 and later, or with the
//! `ws` package assigned to `globalThis.WebSocket`). Its methods are the adapter `otalab/sim`
//! takes (`publish`, `subscribe`, `onMessage`, `connect`, `disconnect`), so an `MqttClient` is
//! handed to `SimulatedDevice`, `Cloud` and `ConformanceSuite` as it is. Errors are thrown as
//! `OtaError { code, message, ...details }` ([`otalab_js`]).

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::oneshot;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use otalab_browser::{ClientError, ClientEvent, ClientOptions, MqttClient};
use otalab_mqtt::{Event, Options, QoS, State};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

pub use otalab_js::set_error_class;
use otalab_js::{
    JsResult, bad_argument, function_arg, integer_arg, object_keys, ota_error, payload_arg,
    property, string_arg, type_name,
};

/// The options `new MqttClient(options)` knows.
const OPTIONS: [&str; 8] = [
    "url",
    "clientId",
    "username",
    "password",
    "keepAliveSecs",
    "cleanSession",
    "reconnect",
    "connectTimeoutMs",
];

/// A client error as an `OtaError` with its stable code.
fn client_error(error: &ClientError) -> JsValue {
    ota_error(error.code(), &error.to_string(), Vec::new())
}

/// `options[name]`, or `None` when it is absent (`undefined` or `null`); a getter that throws
/// is refused.
fn field(options: &JsValue, name: &str) -> JsResult<Option<JsValue>> {
    let value = property("options", options, name)?;
    Ok((!value.is_undefined() && !value.is_null()).then_some(value))
}

/// An optional string option.
fn string_option(options: &JsValue, name: &str) -> JsResult<Option<String>> {
    field(options, name)?
        .map(|v| string_arg(&format!("options.{name}"), &v))
        .transpose()
}

/// An optional boolean option.
fn bool_option(options: &JsValue, name: &str) -> JsResult<Option<bool>> {
    field(options, name)?
        .map(|v| {
            v.as_bool().ok_or_else(|| {
                bad_argument(
                    &format!("options.{name}"),
                    format!("expected a boolean, found {}", type_name(&v)),
                )
            })
        })
        .transpose()
}

/// An optional whole-number option within `0..=max`.
fn number_option(options: &JsValue, name: &str, max: u32) -> JsResult<Option<u32>> {
    field(options, name)?
        .map(|v| integer_arg(&format!("options.{name}"), &v, 0, u64::from(max)).map(|n| n as u32))
        .transpose()
}

/// `0` or `1` (otalab speaks MQTT QoS 0 and 1, as Alibaba Cloud IoT does).
fn qos_arg(argument: &str, value: Option<JsValue>) -> JsResult<QoS> {
    match value.as_ref().and_then(JsValue::as_f64) {
        None if value.is_none() => Ok(QoS::AtLeastOnce),
        Some(0.0) => Ok(QoS::AtMostOnce),
        Some(1.0) => Ok(QoS::AtLeastOnce),
        _ => Err(bad_argument(
            argument,
            format!(
                "expected 0 or 1, found {}",
                type_name(value.as_ref().unwrap_or(&JsValue::UNDEFINED))
            ),
        )),
    }
}

/// A method's optional options object (`undefined` or `null`: none).
fn method_options(options: &JsValue) -> JsResult<JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(Object::new().into());
    }
    object_keys("options", options)?;
    Ok(options.clone())
}

/// A plain object from key/value pairs.
fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (key, value) in pairs {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &(*key).into(), value);
    }
    o.into()
}

/// What `onEvent` listeners see, or `None` for what they do not (messages, acknowledgements,
/// SUBACKs go to `onMessage` and the promises).
fn event_object(event: &ClientEvent) -> Option<JsValue> {
    Some(match event {
        ClientEvent::State(state) => {
            object(&[("kind", "state".into()), ("state", state.name().into())])
        }
        ClientEvent::Session(Event::Connected { session_present }) => object(&[
            ("kind", "connected".into()),
            ("sessionPresent", (*session_present).into()),
        ]),
        ClientEvent::Session(Event::Disconnected(reason)) => object(&[
            ("kind", "disconnected".into()),
            ("code", reason.code().into()),
            ("reason", reason.to_string().into()),
        ]),
        ClientEvent::Session(Event::Reconnecting { at_ms, attempt }) => object(&[
            ("kind", "reconnecting".into()),
            ("atMs", (*at_ms as f64).into()),
            ("attempt", (*attempt).into()),
        ]),
        _ => return None,
    })
}

/// Calls every function of a list with `args`, a listener's throw going to the console only.
fn call_all(list: &Rc<RefCell<Vec<Function>>>, args: &Array) {
    let listeners: Vec<Function> = list.borrow().clone();
    for f in listeners {
        if let Err(e) = f.apply(&JsValue::NULL, args) {
            web_log(&e);
        }
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_log(value: &JsValue);
}

/// A `connect()` waiting for CONNACK or the first failure.
type Waiter = oneshot::Sender<Result<(), JsValue>>;

/// otalab's MQTT 3.1.1 client over WebSocket: QoS 0 and 1, keep-alive, reconnects with
/// back-off and re-subscription, bounded buffers. The adapter `otalab/sim` takes, as it is.
#[wasm_bindgen(js_name = MqttClient)]
pub struct JsMqttClient {
    client: MqttClient,
    messages: Rc<RefCell<Vec<Function>>>,
    listeners: Rc<RefCell<Vec<Function>>>,
    waiters: Rc<RefCell<Vec<Waiter>>>,
}

#[wasm_bindgen(js_class = MqttClient)]
impl JsMqttClient {
    /// `new MqttClient({ url, clientId, username?, password?, keepAliveSecs?, cleanSession?,
    /// reconnect?, connectTimeoutMs? })`: nothing is opened until `connect()`. `url` is the
    /// broker's `ws://` or `wss://` listener (`MQTT_BAD_URL` otherwise). Throws OtaError
    /// `INVALID_ARGUMENT` with `path` for a bad or unknown option.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> JsResult<JsMqttClient> {
        for key in object_keys("options", &options)? {
            if !OPTIONS.contains(&key.as_str()) {
                return Err(bad_argument(
                    &format!("options.{key}"),
                    format!("unknown option; the options are {}", OPTIONS.join(", ")),
                ));
            }
        }
        let url = string_option(&options, "url")?.ok_or_else(|| {
            bad_argument("options.url", "missing: the broker's ws:// or wss:// URL")
        })?;
        ClientOptions::check_url(&url).map_err(|e| {
            ota_error(
                e.code(),
                &e.to_string(),
                vec![("path", "options.url".into())],
            )
        })?;
        let client_id = string_option(&options, "clientId")?
            .ok_or_else(|| bad_argument("options.clientId", "missing"))?;
        let mut session = Options::new(client_id);
        session.username = string_option(&options, "username")?;
        session.password = string_option(&options, "password")?;
        if let Some(secs) = number_option(&options, "keepAliveSecs", 65_535)? {
            session.keep_alive_secs = secs as u16;
        }
        if let Some(clean) = bool_option(&options, "cleanSession")? {
            session.clean_session = clean;
        }
        if let Some(reconnect) = bool_option(&options, "reconnect")? {
            session.reconnect = reconnect;
        }
        if let Some(ms) = number_option(&options, "connectTimeoutMs", 3_600_000)? {
            session.connect_timeout_ms = u64::from(ms);
        }
        session.seed = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let client = MqttClient::new(ClientOptions::new(url, session));
        let messages: Rc<RefCell<Vec<Function>>> = Rc::default();
        let listeners: Rc<RefCell<Vec<Function>>> = Rc::default();
        let waiters: Rc<RefCell<Vec<Waiter>>> = Rc::default();
        {
            let (messages, listeners, waiters) =
                (messages.clone(), listeners.clone(), waiters.clone());
            client.on_event(move |event| {
                match event {
                    ClientEvent::Session(Event::Message(m)) => {
                        let args = Array::of2(
                            &m.topic.as_str().into(),
                            &Uint8Array::from(m.payload.as_slice()),
                        );
                        call_all(&messages, &args);
                    }
                    ClientEvent::Session(Event::Connected { .. }) => {
                        let done: Vec<Waiter> = waiters.borrow_mut().drain(..).collect();
                        for waiter in done {
                            let _ = waiter.send(Ok(()));
                        }
                    }
                    ClientEvent::Session(Event::Disconnected(reason)) => {
                        let done: Vec<Waiter> = waiters.borrow_mut().drain(..).collect();
                        for waiter in done {
                            let error = ota_error(
                                reason.code(),
                                &format!("could not connect: {reason}"),
                                Vec::new(),
                            );
                            let _ = waiter.send(Err(error));
                        }
                    }
                    _ => {}
                }
                if let Some(e) = event_object(event) {
                    call_all(&listeners, &Array::of1(&e));
                }
            });
        }
        Ok(Self {
            client,
            messages,
            listeners,
            waiters,
        })
    }

    /// Opens the connection. Resolves at CONNACK; rejects with OtaError (the reason's code:
    /// `MQTT_CLOSED`, `MQTT_CONNECT_TIMEOUT`, a refusal such as `MQTT_NOT_AUTHORIZED`) when the
    /// first attempt fails, and then stops (no retries behind a rejected promise). Once
    /// connected, a lost link is reconnected with back-off (unless `reconnect: false`).
    pub fn connect(&self) -> Promise {
        if self.client.state() == State::Connected {
            return Promise::resolve(&JsValue::UNDEFINED);
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(tx);
        let client = self.client.clone();
        self.client.connect();
        future_to_promise(async move {
            match rx.await {
                Ok(Ok(())) => Ok(JsValue::UNDEFINED),
                // A failed first attempt stops the client: the rejection is the answer.
                Ok(Err(error)) => {
                    client.disconnect();
                    Err(error)
                }
                Err(_) => Err(client_error(&ClientError::Stopped)),
            }
        })
    }

    /// Sends DISCONNECT and closes; no reconnect until `connect()` is called again.
    pub fn disconnect(&self) {
        self.client.disconnect();
    }

    /// Publishes `payload` (text or bytes) with `{ qos: 0 | 1 (default 1), retain }`. Resolves
    /// when QoS 1 is acknowledged or QoS 0 is written; while disconnected it waits in a bounded
    /// outbox. Rejects with OtaError (`MQTT_INVALID_TOPIC`, `MQTT_OUTBOX_FULL`, `MQTT_STOPPED`, ...).
    pub fn publish(&self, topic: JsValue, payload: JsValue, options: JsValue) -> Promise {
        let checked = (|| {
            let topic = string_arg("topic", &topic)?;
            let payload = payload_arg("payload", &payload)?;
            let options = method_options(&options)?;
            let qos = qos_arg("options.qos", field(&options, "qos")?)?;
            let retain = match field(&options, "retain")? {
                None => false,
                Some(v) => v.as_bool().ok_or_else(|| {
                    bad_argument(
                        "options.retain",
                        format!("expected a boolean, found {}", type_name(&v)),
                    )
                })?,
            };
            Ok::<_, JsValue>((topic, payload, qos, retain))
        })();
        let (topic, payload, qos, retain) = match checked {
            Ok(v) => v,
            Err(e) => return Promise::reject(&e),
        };
        let sent = self.client.publish_with(&topic, &payload, qos, retain);
        future_to_promise(async move {
            sent.await
                .map(|()| JsValue::UNDEFINED)
                .map_err(|e| client_error(&e))
        })
    }

    /// Subscribes to a filter or a list of them (`{ qos }`, default 1), now and after every
    /// reconnect. Resolves with the granted QoS of each; rejects with OtaError
    /// `MQTT_SUBSCRIBE_REFUSED` when the broker refused one (SUBACK 0x80).
    pub fn subscribe(&self, filters: JsValue, options: JsValue) -> Promise {
        let checked = (|| {
            let list: Vec<String> = if let Some(one) = filters.as_string() {
                vec![one]
            } else if otalab_js::is_array("filters", &filters)? {
                otalab_js::string_list_arg("filters", &filters)?
            } else {
                return Err(bad_argument(
                    "filters",
                    format!(
                        "expected a filter or a list of them, found {}",
                        type_name(&filters)
                    ),
                ));
            };
            let options = method_options(&options)?;
            let qos = qos_arg("options.qos", field(&options, "qos")?)?;
            Ok((list, qos))
        })();
        let (list, qos) = match checked {
            Ok(v) => v,
            Err(e) => return Promise::reject(&e),
        };
        let pending: Vec<_> = list.iter().map(|f| self.client.subscribe(f, qos)).collect();
        future_to_promise(async move {
            let granted = Array::new();
            for sub in pending {
                let qos = sub.await.map_err(|e| client_error(&e))?;
                granted.push(&JsValue::from(u8::from(qos == QoS::AtLeastOnce)));
            }
            Ok(granted.into())
        })
    }

    /// Calls `handler(topic, payload: Uint8Array)` for every message from now on.
    #[wasm_bindgen(js_name = onMessage)]
    pub fn on_message(&self, handler: JsValue) -> JsResult<()> {
        let handler = function_arg("handler", &handler)?;
        self.messages.borrow_mut().push(handler);
        Ok(())
    }

    /// Calls `listener(event)` for `{ kind: 'state', state }`, `{ kind: 'connected',
    /// sessionPresent }`, `{ kind: 'disconnected', code, reason }` and `{ kind:
    /// 'reconnecting', atMs, attempt }`.
    #[wasm_bindgen(js_name = onEvent)]
    pub fn on_event(&self, listener: JsValue) -> JsResult<()> {
        let listener = function_arg("listener", &listener)?;
        self.listeners.borrow_mut().push(listener);
        Ok(())
    }

    /// `idle`, `connecting`, `connected`, `waiting` (to reconnect) or `stopped`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.client.state().name().to_owned()
    }

    /// Messages waiting for a connection or an acknowledgement.
    #[wasm_bindgen(getter)]
    pub fn pending(&self) -> usize {
        self.client.pending()
    }
}
