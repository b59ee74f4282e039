//! Test harness: `otalab-browser`'s [`MqttClient`] for JavaScript, so Playwright tests and
//! benchmarks drive the real Rust client in a real browser against a real broker.
//! Not part of the product.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Promise};
use otalab_browser::{Backoff, ClientEvent, ClientOptions, Event, MqttClient, Options, QoS};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

fn qos(value: u8) -> Result<QoS, JsValue> {
    match value {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        _ => Err(JsValue::from_str("qos must be 0 or 1")),
    }
}

#[derive(Default)]
struct Log {
    /// Keep message contents (tests) or only count them (benchmarks).
    record: bool,
    events: Vec<String>,
    messages: Vec<(String, String, bool)>,
    received: u64,
}

/// One MQTT client over WebSocket, with a log the test reads.
#[wasm_bindgen]
pub struct Harness {
    client: MqttClient,
    log: Rc<RefCell<Log>>,
}

#[wasm_bindgen]
impl Harness {
    /// `new Harness(url, clientId, username, password, keepAliveSecs, backoffInitialMs, backoffMaxMs)`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: String,
        client_id: String,
        username: Option<String>,
        password: Option<String>,
        keep_alive_secs: u16,
        backoff_initial_ms: u32,
        backoff_max_ms: u32,
    ) -> Harness {
        let mut options = Options::new(client_id);
        options.username = username;
        options.password = password;
        options.keep_alive_secs = keep_alive_secs;
        options.backoff = Backoff {
            initial_ms: u64::from(backoff_initial_ms),
            max_ms: u64::from(backoff_max_ms),
            factor: 2.0,
            jitter: 0.2,
        };
        options.seed = (js_sys::Math::random() * 9.0e15) as u64;
        let client = MqttClient::new(ClientOptions::new(url, options));
        let log = Rc::new(RefCell::new(Log {
            record: true,
            ..Log::default()
        }));
        let sink = log.clone();
        client.on_event(move |event| {
            let mut log = sink.borrow_mut();
            let entry = match event {
                ClientEvent::State(s) => json!({"type": "state", "state": s.name()}),
                ClientEvent::Session(Event::Connected { .. }) => json!({"type": "connected"}),
                ClientEvent::Session(Event::Disconnected(reason)) => {
                    json!({"type": "disconnected", "code": reason.code(), "message": reason.to_string()})
                }
                ClientEvent::Session(Event::Reconnecting { attempt, .. }) => json!({"type": "reconnecting", "attempt": attempt}),
                ClientEvent::Session(Event::Subscribed { filter, granted }) => {
                    json!({"type": "subscribed", "filter": filter, "granted": granted.map(QoS::as_u8)})
                }
                ClientEvent::Session(Event::Message(m)) => {
                    log.received += 1;
                    if !log.record {
                        return;
                    }
                    log.messages.push((
                        m.topic.clone(),
                        String::from_utf8_lossy(&m.payload).into_owned(),
                        m.dup,
                    ));
                    return;
                }
                ClientEvent::Session(Event::Acked(_)) => return,
            };
            log.events.push(entry.to_string());
        });
        Harness { client, log }
    }

    /// Keep message contents (default) or only count them.
    #[wasm_bindgen(js_name = setRecord)]
    pub fn set_record(&self, record: bool) {
        self.log.borrow_mut().record = record;
    }

    /// Starts connecting.
    pub fn connect(&self) {
        self.client.connect();
    }

    /// Disconnects for good.
    pub fn disconnect(&self) {
        self.client.disconnect();
    }

    /// `idle`, `connecting`, `connected`, `waiting` or `stopped`.
    pub fn state(&self) -> String {
        self.client.state().name().into()
    }

    /// Messages waiting in the outbox.
    pub fn pending(&self) -> usize {
        self.client.pending()
    }

    /// The event log so far (JSON strings), emptied.
    #[wasm_bindgen(js_name = takeEvents)]
    pub fn take_events(&self) -> Vec<String> {
        std::mem::take(&mut self.log.borrow_mut().events)
    }

    /// Messages received so far as `[topic, payload, dup]`, emptied.
    #[wasm_bindgen(js_name = takeMessages)]
    pub fn take_messages(&self) -> Array {
        let messages = std::mem::take(&mut self.log.borrow_mut().messages);
        messages
            .into_iter()
            .map(|(t, p, d)| Array::of3(&t.into(), &p.into(), &d.into()))
            .collect()
    }

    /// Count of messages received since creation.
    pub fn received(&self) -> f64 {
        self.log.borrow().received as f64
    }

    /// Resolves with the granted QoS; rejects with the error code (`MQTT_SUBSCRIBE_REFUSED`
    /// when the broker refused the filter).
    pub fn subscribe(&self, filter: String, qos_level: u8) -> Result<Promise, JsValue> {
        let future = self.client.subscribe(&filter, qos(qos_level)?);
        Ok(future_to_promise(async move {
            match future.await {
                Ok(granted) => Ok(JsValue::from(granted.as_u8())),
                Err(e) => Err(JsValue::from_str(e.code())),
            }
        }))
    }

    /// Resolves when acknowledged (QoS 1) or written (QoS 0).
    pub fn publish(
        &self,
        topic: String,
        payload: String,
        qos_level: u8,
    ) -> Result<Promise, JsValue> {
        let future = self
            .client
            .publish(&topic, payload.as_bytes(), qos(qos_level)?);
        Ok(future_to_promise(async move {
            future
                .await
                .map(|()| JsValue::TRUE)
                .map_err(|e| JsValue::from_str(e.code()))
        }))
    }

    /// Publishes without waiting.
    #[wasm_bindgen(js_name = publishNoWait)]
    pub fn publish_no_wait(
        &self,
        topic: String,
        payload: String,
        qos_level: u8,
    ) -> Result<(), JsValue> {
        self.client
            .publish_token(&topic, payload.as_bytes(), qos(qos_level)?)
            .map(|_| ())
            .map_err(|e| JsValue::from_str(e.code()))
    }
}
