//! Integration tests of otalab-protocol, one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bridge;
mod codes;
mod credentials;
mod messages;
mod properties;
mod secrets;
mod topics;
mod vectors;
mod verify;
