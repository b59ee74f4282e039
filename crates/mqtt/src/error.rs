//! Typed outcomes of the MQTT session, each with a stable code.

use thiserror::Error;

/// The broker refused the connection (CONNACK return code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Return code 1: the broker does not speak MQTT 3.1.1.
    #[error("connection refused: the broker does not accept MQTT 3.1.1")]
    UnacceptableProtocol,
    /// Return code 2: the client id is not allowed.
    #[error("connection refused: client id rejected")]
    IdentifierRejected,
    /// Return code 3: the MQTT service is unavailable.
    #[error("connection refused: server unavailable")]
    ServerUnavailable,
    /// Return code 4: bad user name or password.
    #[error("connection refused: bad user name or password")]
    BadCredentials,
    /// Return code 5: not authorised.
    #[error("connection refused: not authorised")]
    NotAuthorized,
}

impl ConnectError {
    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::UnacceptableProtocol => "MQTT_UNACCEPTABLE_PROTOCOL",
            Self::IdentifierRejected => "MQTT_IDENTIFIER_REJECTED",
            Self::ServerUnavailable => "MQTT_SERVER_UNAVAILABLE",
            Self::BadCredentials => "MQTT_BAD_CREDENTIALS",
            Self::NotAuthorized => "MQTT_NOT_AUTHORIZED",
        }
    }

    /// True when retrying cannot help (everything but "server unavailable").
    pub fn is_permanent(self) -> bool {
        !matches!(self, Self::ServerUnavailable)
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The transport closed (broker gone, network down).
    #[error("connection closed by the network or the broker")]
    Closed,
    /// No PINGRESP arrived in time: the link is dead.
    #[error("no PINGRESP within {timeout_ms} ms: link is dead")]
    DeadLink {
        /// The timeout that ran out.
        timeout_ms: u64,
    },
    /// No CONNACK arrived in time.
    #[error("no CONNACK within {timeout_ms} ms")]
    ConnectTimeout {
        /// The timeout that ran out.
        timeout_ms: u64,
    },
    /// The broker refused the connection.
    #[error(transparent)]
    Refused(ConnectError),
    /// An incoming packet was larger than allowed; it was refused before buffering.
    #[error("incoming packet over the limit of {limit} bytes")]
    PacketTooLarge {
        /// The limit.
        limit: u32,
    },
    /// The broker broke the protocol.
    #[error("protocol error: {detail}")]
    ProtocolError {
        /// What went wrong.
        detail: String,
    },
    /// [`Session::stop`](crate::Session::stop) was called.
    #[error("disconnected on request")]
    Requested,
}

impl DisconnectReason {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Closed => "MQTT_CLOSED",
            Self::DeadLink { .. } => "MQTT_DEAD_LINK",
            Self::ConnectTimeout { .. } => "MQTT_CONNECT_TIMEOUT",
            Self::Refused(e) => e.code(),
            Self::PacketTooLarge { .. } => "MQTT_PACKET_TOO_LARGE",
            Self::ProtocolError { .. } => "MQTT_PROTOCOL_ERROR",
            Self::Requested => "MQTT_DISCONNECTED",
        }
    }
}

/// A publish or subscribe request was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Topic names must be non-empty UTF-8 without `+`/`#` or NUL.
    #[error("invalid topic {topic:?}: {reason}")]
    InvalidTopic {
        /// The topic as given.
        topic: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Topic filters: `+` and `#` only as whole levels, `#` last.
    #[error("invalid topic filter {filter:?}: {reason}")]
    InvalidFilter {
        /// The filter as given.
        filter: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Only QoS 0 and 1 (Alibaba Cloud IoT has no QoS 2).
    #[error("QoS {qos} is not supported; use 0 or 1")]
    Qos {
        /// The QoS asked for.
        qos: u8,
    },
    /// The message would exceed the packet size limit.
    #[error("payload of {size} bytes is over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Payload size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many messages are waiting for the connection.
    #[error("outbox full: {limit} messages are waiting to be sent or acknowledged")]
    OutboxFull {
        /// The limit.
        limit: usize,
    },
    /// The session was stopped.
    #[error("the session is stopped")]
    Stopped,
}

impl RequestError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTopic { .. } => "MQTT_INVALID_TOPIC",
            Self::InvalidFilter { .. } => "MQTT_INVALID_FILTER",
            Self::Qos { .. } => "MQTT_QOS_UNSUPPORTED",
            Self::PayloadTooLarge { .. } => "MQTT_PAYLOAD_TOO_LARGE",
            Self::OutboxFull { .. } => "MQTT_OUTBOX_FULL",
            Self::Stopped => "MQTT_STOPPED",
        }
    }
}
