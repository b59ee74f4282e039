//! # otalab-browser
//!
//! The only code in otalab that touches browser I/O. [`MqttClient`] drives an
//! [`otalab_mqtt::Session`] over a `web_sys::WebSocket` (subprotocol `mqtt`, binary frames),
//! with gloo timers for keep-alive and reconnects. Compiles on any target; works in browsers.

mod mqtt;

pub use mqtt::{ClientError, ClientEvent, ClientOptions, MqttClient};
pub use otalab_mqtt::{Backoff, ConnectError, DisconnectReason, Message, Options, QoS, State};
