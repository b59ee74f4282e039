//! # otalab-browser
//!
//! The only code in otalab that touches browser I/O. [`MqttClient`] drives an
//! [`otalab_mqtt::Session`] over a `web_sys::WebSocket` (subprotocol `mqtt`, binary frames),
//! with gloo timers for keep-alive and reconnects; [`download`] streams a firmware file with
//! `fetch` (Range from an offset, abortable, optionally throttled). Compiles on any target;
//! works in browsers.

mod download;
pub mod http;
mod mqtt;

pub use download::{Download, DownloadEvent, download};
pub use mqtt::{ClientError, ClientEvent, ClientOptions, MqttClient};
pub use otalab_mqtt::{
    Backoff, ConnectError, DisconnectReason, Event, Message, Options, QoS, State,
};
