//! # otalab-dashboard
//!
//! The browser dashboard (Leptos, client-side rendering): QA staff connect simulated devices
//! to the local sandbox, Alibaba Cloud IoT or any broker over MQTT-over-WebSocket, push
//! firmware, watch each device download, verify, flash and report, inject failures, and export
//! what happened.
//!
//! - `state/`: plain Rust state in signals (no logic beyond bookkeeping), the report, i18n;
//! - `sim/`: drives one `otalab_protocol::Device` per simulated device, and the sandbox cloud;
//! - `components/`: one UI component per file;
//! - browser I/O (WebSocket, fetch) lives in the `otalab-browser` crate.
//!
//! Module map, bottom to top: `state` (uses no other area of the crate), `sim` (uses
//! `state`), `components` (use `sim` and `state`), `app` (mounts them). `tests/modules.rs`
//! fails on any import cycle.

pub mod app;
pub mod components;
pub mod sim;
pub mod state;

/// Mounts the dashboard on `<body>`.
pub fn mount() {
    leptos::mount::mount_to_body(app::App);
}
