//! # otalab-mqtt
//!
//! A sans-IO MQTT 3.1.1 client session on top of the `mqtt-protocol-core` codec and connection
//! state machine. Bytes in, bytes out, time passed in as milliseconds: no I/O, no timers, no
//! threads. A driver (the browser WebSocket transport, a test) does what the [`Output`]s say
//! and calls [`Session::tick`] at [`Session::next_deadline`].
//!
//! What the session adds to the per-socket protocol machine:
//! - subscriptions are remembered and re-sent after every reconnect;
//! - QoS 1 publishes wait in an outbox until their PUBACK; after a reconnect the ones already
//!   sent are re-sent first, in order, with DUP and their packet id, then the rest;
//! - reconnects follow an exponential back-off with jitter and a cap ([`Backoff`]); a
//!   permanent refusal (bad credentials, not authorised) stops the session;
//! - keep-alive: PINGREQ on an idle link, and a dead-link verdict when PINGRESP does not come;
//! - incoming packets over a size limit are refused before they are buffered.
//!
//! ```
//! use otalab_mqtt::{Options, Output, QoS, Session};
//!
//! let mut session = Session::new(Options::new("meter-0001").credentials("user", "secret"));
//! assert_eq!(session.start(), [Output::Open]);           // driver: open a WebSocket
//! let out = session.opened(0);                           // socket open: CONNECT goes out
//! assert!(matches!(out.as_slice(), [Output::Send(bytes)] if bytes[0] == 0x10));
//! let (token, out) = session.publish("/a/b", b"hi", QoS::AtLeastOnce, 1).unwrap();
//! assert!(out.is_empty()); // not connected yet: held in the outbox
//! assert_eq!(session.pending(), 1);
//! # let _ = token;
//! ```

mod error;
mod guard;
mod options;
mod session;

pub use error::{ConnectError, DisconnectReason, RequestError};
pub use options::{Backoff, Options};
pub use session::{Event, Message, Output, QoS, Session, State, Token, check_filter, check_topic};
