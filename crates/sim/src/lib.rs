//! # otalab-sim
//!
//! The simulation as plain Rust, driven by the dashboard in the browser (and, next, by the
//! native runner): the simulated device's OTA flow as a sans-IO state machine with its fault
//! model. Messages, download bytes and time go in; [`Action`]s come out. The wire protocol it
//! speaks is `otalab-protocol`'s.

mod device;

pub use device::{Action, Device, DeviceConfig, FailureKind, Fault, Phase, StepRecord};
