//! The session: one `mqtt-protocol-core` connection per socket, plus what outlives a socket
//! (subscriptions, the QoS 1 outbox, the reconnect schedule).

use std::collections::VecDeque;
use std::sync::Arc;

use mqtt_protocol_core::mqtt;
use mqtt_protocol_core::mqtt::prelude::*;

use crate::error::{ConnectError, DisconnectReason, RequestError};
use crate::guard::IncomingGuard;
use crate::options::Options;

type Conn = mqtt::Connection<mqtt::role::Client>;
type CoreEvent = mqtt::connection::Event;
type TimerKind = mqtt::connection::TimerKind;

/// Identifies one publish request; [`Output::Acked`] names it when it is done.
pub type Token = u64;

/// Quality of service (Alibaba Cloud IoT has no QoS 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QoS {
    /// Fire and forget.
    AtMostOnce,
    /// Acknowledged with PUBACK; re-sent until then.
    AtLeastOnce,
}

impl QoS {
    /// From 0 or 1.
    pub fn from_u8(qos: u8) -> Result<Self, RequestError> {
        match qos {
            0 => Ok(Self::AtMostOnce),
            1 => Ok(Self::AtLeastOnce),
            _ => Err(RequestError::Qos { qos }),
        }
    }

    /// 0 or 1.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::AtMostOnce => 0,
            Self::AtLeastOnce => 1,
        }
    }

    fn core(self) -> mqtt::packet::Qos {
        match self {
            Self::AtMostOnce => mqtt::packet::Qos::AtMostOnce,
            Self::AtLeastOnce => mqtt::packet::Qos::AtLeastOnce,
        }
    }
}

/// A message that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// QoS it was delivered with.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// DUP flag (a re-delivery).
    pub dup: bool,
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started.
    Idle,
    /// A socket is being opened or CONNECT is waiting for CONNACK.
    Connecting,
    /// CONNACK accepted.
    Connected,
    /// The link was lost; the next attempt is due at `reconnect_at` (ms).
    Waiting {
        /// When to open the next socket.
        reconnect_at: u64,
        /// How many attempts failed in a row.
        attempt: u32,
    },
    /// Stopped on request or after a permanent refusal; no more attempts.
    Stopped,
}

impl State {
    /// The state's name as the JavaScript clients spell it: `idle`, `connecting`, `connected`,
    /// `waiting` (to reconnect) or `stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Waiting { .. } => "waiting",
            Self::Stopped => "stopped",
        }
    }
}

/// What the driver must do or may show, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a new socket and call [`Session::opened`] (or [`Session::closed`] on failure).
    Open,
    /// Write these bytes to the socket (one MQTT packet).
    Send(Vec<u8>),
    /// Close the socket. The session already counts the link as lost.
    Close,
    /// CONNACK accepted.
    Connected {
        /// The broker kept a session.
        session_present: bool,
    },
    /// The link was lost or refused.
    Disconnected(DisconnectReason),
    /// The next attempt is scheduled.
    Reconnecting {
        /// When (ms).
        at_ms: u64,
        /// Attempt number (1-based).
        attempt: u32,
    },
    /// SUBACK for a filter: the granted QoS, or `None` when the broker refused it.
    Subscribed {
        /// The filter.
        filter: String,
        /// Granted QoS, `None` if refused.
        granted: Option<QoS>,
    },
    /// A message arrived (QoS 1 messages have been acknowledged already).
    Message(Message),
    /// A publish is done: PUBACK for QoS 1, written for QoS 0.
    Acked(Token),
}

/// What happened, for the application: an [`Output`] without the socket work (`Open`, `Send`,
/// `Close`), which only the driver of the link carries out. Every driver (the runner's link
/// loop, the browser client) hands these to what runs above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK accepted.
    Connected {
        /// The broker kept a session.
        session_present: bool,
    },
    /// The link was lost or refused.
    Disconnected(DisconnectReason),
    /// The next attempt is scheduled.
    Reconnecting {
        /// When (ms).
        at_ms: u64,
        /// Attempt number (1-based).
        attempt: u32,
    },
    /// SUBACK for a filter: the granted QoS, or `None` when the broker refused it.
    Subscribed {
        /// The filter.
        filter: String,
        /// Granted QoS, `None` if refused.
        granted: Option<QoS>,
    },
    /// A message arrived.
    Message(Message),
    /// A publish is done.
    Acked(Token),
}

impl Output {
    /// What happened, or `None` for socket work (`Open`, `Send`, `Close`).
    pub fn into_event(self) -> Option<Event> {
        Some(match self {
            Output::Open | Output::Send(_) | Output::Close => return None,
            Output::Connected { session_present } => Event::Connected { session_present },
            Output::Disconnected(reason) => Event::Disconnected(reason),
            Output::Reconnecting { at_ms, attempt } => Event::Reconnecting { at_ms, attempt },
            Output::Subscribed { filter, granted } => Event::Subscribed { filter, granted },
            Output::Message(message) => Event::Message(message),
            Output::Acked(token) => Event::Acked(token),
        })
    }
}

/// A publish waiting for a connection or for its PUBACK.
#[derive(Debug, Clone)]
struct Pending {
    token: Token,
    topic: String,
    /// Shared with the packets built from it: re-sends do not copy the payload.
    payload: Arc<[u8]>,
    qos: QoS,
    /// The RETAIN flag.
    retain: bool,
    /// Packet id once sent (kept across reconnects so the re-send carries it with DUP).
    packet_id: Option<u16>,
}

fn timer_index(kind: TimerKind) -> usize {
    match kind {
        TimerKind::PingreqSend => 0,
        TimerKind::PingreqRecv => 1,
        TimerKind::PingrespRecv => 2,
    }
}

const TIMERS: [TimerKind; 3] = [
    TimerKind::PingreqSend,
    TimerKind::PingreqRecv,
    TimerKind::PingrespRecv,
];

/// Checks a topic name for PUBLISH.
pub fn check_topic(topic: &str) -> Result<(), RequestError> {
    let reason = if topic.is_empty() {
        Some("must not be empty")
    } else if topic.contains(['+', '#']) {
        Some("wildcards are not allowed in topic names")
    } else if topic.contains('\0') {
        Some("NUL is not allowed")
    } else if topic.len() > 65_535 {
        Some("longer than 65535 bytes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(RequestError::InvalidTopic {
            topic: topic.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Checks a topic filter for SUBSCRIBE.
pub fn check_filter(filter: &str) -> Result<(), RequestError> {
    let fail = |reason| {
        Err(RequestError::InvalidFilter {
            filter: filter.to_owned(),
            reason,
        })
    };
    if filter.is_empty() {
        return fail("must not be empty");
    }
    if filter.contains('\0') {
        return fail("NUL is not allowed");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return fail("'#' must be a whole level and the last one");
        }
        if level.contains('+') && *level != "+" {
            return fail("'+' must be a whole level");
        }
    }
    Ok(())
}

/// A sans-IO MQTT 3.1.1 client session. Feed it socket events and the time; do what its
/// [`Output`]s say; wake it at [`Session::next_deadline`].
pub struct Session {
    options: Options,
    state: State,
    conn: Option<Conn>,
    /// Walks what the current socket received (reset with each connection).
    guard: IncomingGuard,
    timers: [Option<u64>; 3],
    connack_deadline: Option<u64>,
    close_reason: Option<DisconnectReason>,
    subscriptions: Vec<(String, QoS)>,
    sub_requests: Vec<(u16, Vec<String>)>,
    outbox: VecDeque<Pending>,
    /// Outbox entries not yet sent on the current connection (always the tail of the outbox).
    unsent: usize,
    next_token: Token,
    attempt: u32,
    rng: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("client_id", &self.options.client_id)
            .field("state", &self.state)
            .field("subscriptions", &self.subscriptions)
            .field("outbox", &self.outbox.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session that has not started.
    pub fn new(options: Options) -> Self {
        let rng = options.seed | 1;
        Self {
            options,
            state: State::Idle,
            conn: None,
            guard: IncomingGuard::default(),
            timers: [None; 3],
            connack_deadline: None,
            close_reason: None,
            subscriptions: Vec::new(),
            sub_requests: Vec::new(),
            outbox: VecDeque::new(),
            unsent: 0,
            next_token: 1,
            attempt: 0,
            rng,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Messages waiting to be sent or acknowledged.
    pub fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// The remembered subscriptions (re-sent after every reconnect).
    pub fn subscriptions(&self) -> &[(String, QoS)] {
        &self.subscriptions
    }

    /// Starts connecting: the driver opens a socket.
    pub fn start(&mut self) -> Vec<Output> {
        match self.state {
            State::Idle | State::Stopped => {
                self.state = State::Connecting;
                vec![Output::Open]
            }
            _ => Vec::new(),
        }
    }

    /// The socket is open: CONNECT goes out.
    pub fn opened(&mut self, now: u64) -> Vec<Output> {
        let mut out = Vec::new();
        if self.state != State::Connecting {
            return out;
        }
        let options = mqtt::connection::ConnectionOptions::new()
            .maximum_packet_size_recv(self.options.max_incoming_packet);
        let mut conn = Conn::with_options(mqtt::Version::V3_1_1, options);
        conn.set_auto_pub_response(true);
        conn.set_pingresp_recv_timeout(self.options.ping_timeout_ms);
        let connect = match self.connect_packet() {
            Ok(connect) => connect,
            Err(detail) => {
                out.push(Output::Close);
                self.state = State::Stopped;
                out.push(Output::Disconnected(DisconnectReason::ProtocolError {
                    detail,
                }));
                return out;
            }
        };
        self.close_reason = None;
        self.conn = Some(conn);
        self.guard = IncomingGuard::default();
        self.connack_deadline = Some(now.saturating_add(self.options.connect_timeout_ms));
        let events = self.with_conn(|c| c.checked_send(connect));
        self.process(events, now, &mut out);
        out
    }

    fn connect_packet(&self) -> Result<mqtt::packet::v3_1_1::Connect, String> {
        let o = &self.options;
        let mut builder = mqtt::packet::v3_1_1::Connect::builder()
            .client_id(o.client_id.as_str())
            .map_err(|e| format!("client id: {e:?}"))?
            .clean_session(o.clean_session)
            .keep_alive(o.keep_alive_secs);
        if let Some(user) = &o.username {
            builder = builder
                .user_name(user.as_str())
                .map_err(|e| format!("user name: {e:?}"))?;
        }
        if let Some(password) = &o.password {
            builder = builder
                .password(password.as_str())
                .map_err(|e| format!("password: {e:?}"))?;
        }
        builder.build().map_err(|e| format!("CONNECT: {e:?}"))
    }

    fn with_conn(&mut self, f: impl FnOnce(&mut Conn) -> Vec<CoreEvent>) -> Vec<CoreEvent> {
        self.conn.as_mut().map(f).unwrap_or_default()
    }

    /// Bytes arrived from the socket (any split: partial packets, several packets).
    pub fn received(&mut self, bytes: &[u8], now: u64) -> Vec<Output> {
        let mut out = Vec::new();
        if self.conn.is_none() {
            return out;
        }
        if let Err(detail) = self.guard.check(bytes) {
            // The broker broke the protocol in a way the codec cannot report: drop the link.
            out.push(Output::Close);
            self.link_lost(DisconnectReason::ProtocolError { detail }, now, &mut out);
            return out;
        }
        let mut cursor = mqtt::common::Cursor::new(bytes);
        while (cursor.position() as usize) < bytes.len() {
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            let events = conn.recv(&mut cursor);
            self.process(events, now, &mut out);
        }
        out
    }

    /// The socket closed (or failed to open).
    pub fn closed(&mut self, now: u64) -> Vec<Output> {
        let mut out = Vec::new();
        if matches!(self.state, State::Connecting | State::Connected) {
            let reason = self.close_reason.take().unwrap_or(DisconnectReason::Closed);
            self.link_lost(reason, now, &mut out);
        }
        out
    }

    /// Time passed: keep-alive, timeouts, reconnects. Call at [`next_deadline`](Self::next_deadline).
    pub fn tick(&mut self, now: u64) -> Vec<Output> {
        let mut out = Vec::new();
        if let State::Waiting { reconnect_at, .. } = self.state
            && now >= reconnect_at
        {
            self.state = State::Connecting;
            out.push(Output::Open);
            return out;
        }
        if let Some(deadline) = self.connack_deadline
            && now >= deadline
        {
            out.push(Output::Close);
            let timeout_ms = self.options.connect_timeout_ms;
            self.link_lost(
                DisconnectReason::ConnectTimeout { timeout_ms },
                now,
                &mut out,
            );
            return out;
        }
        for kind in TIMERS {
            let index = timer_index(kind);
            if self.timers[index].is_some_and(|deadline| now >= deadline) {
                self.timers[index] = None;
                if kind == TimerKind::PingrespRecv {
                    self.close_reason = Some(DisconnectReason::DeadLink {
                        timeout_ms: self.options.ping_timeout_ms,
                    });
                }
                let events = self.with_conn(|c| c.notify_timer_fired(kind));
                self.process(events, now, &mut out);
            }
        }
        out
    }

    /// When [`tick`](Self::tick) must be called next, if ever.
    pub fn next_deadline(&self) -> Option<u64> {
        let waiting = match self.state {
            State::Waiting { reconnect_at, .. } => Some(reconnect_at),
            _ => None,
        };
        self.timers
            .iter()
            .flatten()
            .copied()
            .chain(self.connack_deadline)
            .chain(waiting)
            .min()
    }

    /// Subscribes now if connected, and after every reconnect. `now` is the current time (ms):
    /// sending re-arms the keep-alive timer from it.
    pub fn subscribe(
        &mut self,
        filter: &str,
        qos: QoS,
        now: u64,
    ) -> Result<Vec<Output>, RequestError> {
        check_filter(filter)?;
        if self.state == State::Stopped {
            return Err(RequestError::Stopped);
        }
        match self.subscriptions.iter_mut().find(|(f, _)| f == filter) {
            Some(entry) => entry.1 = qos,
            None => self.subscriptions.push((filter.to_owned(), qos)),
        }
        let mut out = Vec::new();
        if self.state == State::Connected {
            self.send_subscribe(vec![(filter.to_owned(), qos)], now, &mut out);
        }
        Ok(out)
    }

    fn send_subscribe(&mut self, entries: Vec<(String, QoS)>, now: u64, out: &mut Vec<Output>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let Ok(packet_id) = conn.acquire_packet_id() else {
            return;
        };
        let sub_entries: Vec<_> = entries
            .iter()
            .filter_map(|(filter, qos)| {
                let opts = mqtt::packet::SubOpts::new().set_qos(qos.core());
                mqtt::packet::SubEntry::new(filter.as_str(), opts).ok()
            })
            .collect();
        let Ok(subscribe) = mqtt::packet::v3_1_1::Subscribe::builder()
            .entries(sub_entries)
            .packet_id(packet_id)
            .build()
        else {
            return;
        };
        self.sub_requests
            .push((packet_id, entries.into_iter().map(|(f, _)| f).collect()));
        let events = conn.checked_send(subscribe);
        self.process(events, now, out);
    }

    /// Publishes now if connected, otherwise after the next CONNACK. QoS 1 messages stay in the
    /// outbox until their PUBACK and are re-sent (DUP) after a reconnect.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        now: u64,
    ) -> Result<(Token, Vec<Output>), RequestError> {
        self.publish_retained(topic, payload, qos, false, now)
    }

    /// [`publish`](Self::publish) with the RETAIN flag: the broker keeps the message for
    /// future subscribers of the topic when `retain` is true.
    pub fn publish_retained(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        now: u64,
    ) -> Result<(Token, Vec<Output>), RequestError> {
        check_topic(topic)?;
        if self.state == State::Stopped {
            return Err(RequestError::Stopped);
        }
        if payload.len() > self.options.max_outgoing_payload {
            return Err(RequestError::PayloadTooLarge {
                size: payload.len(),
                limit: self.options.max_outgoing_payload,
            });
        }
        if self.outbox.len() >= self.options.max_outbox {
            return Err(RequestError::OutboxFull {
                limit: self.options.max_outbox,
            });
        }
        let token = self.next_token;
        self.next_token += 1;
        let mut pending = Pending {
            token,
            topic: topic.to_owned(),
            payload: Arc::from(payload),
            qos,
            retain,
            packet_id: None,
        };
        let mut out = Vec::new();
        if self.state == State::Connected && self.unsent == 0 {
            // QoS 1 waits for its PUBACK; anything unsent waits for the next connection.
            let sent = self.send_publish(&mut pending, now, &mut out);
            if !sent {
                self.unsent += 1;
                self.outbox.push_back(pending);
            } else if qos == QoS::AtLeastOnce {
                self.outbox.push_back(pending);
            }
        } else {
            // Keep order: what is queued goes out first (at the next CONNACK).
            self.unsent += 1;
            self.outbox.push_back(pending);
        }
        Ok((token, out))
    }

    /// Sends one message on the current connection. Returns false if it could not be sent.
    fn send_publish(&mut self, pending: &mut Pending, now: u64, out: &mut Vec<Output>) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        let builder = mqtt::packet::v3_1_1::Publish::builder()
            .topic_name(pending.topic.as_str())
            .map(|b| {
                b.qos(pending.qos.core())
                    .retain(pending.retain)
                    .payload(pending.payload.clone())
            });
        let Ok(mut builder) = builder else {
            return false;
        };
        if pending.qos == QoS::AtLeastOnce {
            let (id, dup) = match pending.packet_id {
                Some(id) if conn.register_packet_id(id).is_ok() => (id, true),
                Some(_) | None => match conn.acquire_packet_id() {
                    Ok(id) => (id, pending.packet_id.is_some()),
                    Err(_) => return false,
                },
            };
            pending.packet_id = Some(id);
            builder = builder.packet_id(id).dup(dup);
        }
        let Ok(publish) = builder.build() else {
            return false;
        };
        let events = conn.checked_send(publish);
        self.process(events, now, out);
        if pending.qos == QoS::AtMostOnce {
            out.push(Output::Acked(pending.token));
        }
        true
    }

    /// After CONNACK: re-sends everything in the outbox, in order.
    fn flush_outbox(&mut self, now: u64, out: &mut Vec<Output>) {
        let mut queue = std::mem::take(&mut self.outbox);
        let mut kept = VecDeque::with_capacity(queue.len());
        let mut unsent = 0;
        while let Some(mut pending) = queue.pop_front() {
            let sent = unsent == 0 && self.send_publish(&mut pending, now, out);
            if !sent {
                unsent += 1;
                kept.push_back(pending);
            } else if pending.qos == QoS::AtLeastOnce {
                kept.push_back(pending);
            }
        }
        self.outbox = kept;
        self.unsent = unsent;
    }

    /// Ends the session: DISCONNECT if connected, no reconnects. The outbox is kept.
    pub fn stop(&mut self, now: u64) -> Vec<Output> {
        let mut out = Vec::new();
        if self.state == State::Connected
            && let Ok(disconnect) = mqtt::packet::v3_1_1::Disconnect::builder().build()
        {
            let events = self.with_conn(|c| c.checked_send(disconnect));
            self.process(events, now, &mut out);
        }
        if self.conn.is_some() || self.state == State::Connecting {
            out.push(Output::Close);
        }
        let was_active = self.state != State::Stopped && self.state != State::Idle;
        self.state = State::Stopped;
        self.drop_connection();
        if was_active {
            out.push(Output::Disconnected(DisconnectReason::Requested));
        }
        out
    }

    fn drop_connection(&mut self) {
        self.conn = None;
        self.timers = [None; 3];
        self.connack_deadline = None;
        self.sub_requests.clear();
    }

    fn random_unit(&mut self) -> f64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let value = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }

    fn link_lost(&mut self, reason: DisconnectReason, now: u64, out: &mut Vec<Output>) {
        self.drop_connection();
        // The whole outbox goes out again after the next CONNACK, which recounts this.
        self.unsent = 0;
        let permanent = matches!(&reason, DisconnectReason::Refused(e) if e.is_permanent());
        out.push(Output::Disconnected(reason));
        if self.state == State::Stopped || permanent || !self.options.reconnect {
            self.state = State::Stopped;
            return;
        }
        let unit = self.random_unit();
        let delay = self.options.backoff.delay_ms(self.attempt, unit);
        self.attempt = self.attempt.saturating_add(1);
        let at_ms = now.saturating_add(delay);
        self.state = State::Waiting {
            reconnect_at: at_ms,
            attempt: self.attempt,
        };
        out.push(Output::Reconnecting {
            at_ms,
            attempt: self.attempt,
        });
    }

    fn process(&mut self, events: Vec<CoreEvent>, now: u64, out: &mut Vec<Output>) {
        // The connection reports an error after asking to close: read the reason first.
        for event in &events {
            if let CoreEvent::NotifyError(error) = event
                && self.close_reason.is_none()
            {
                self.close_reason = Some(match error {
                    mqtt::result_code::MqttError::PacketTooLarge => {
                        DisconnectReason::PacketTooLarge {
                            limit: self.options.max_incoming_packet,
                        }
                    }
                    other => DisconnectReason::ProtocolError {
                        detail: format!("{other:?}"),
                    },
                });
            }
        }
        for event in events {
            match event {
                CoreEvent::RequestSendPacket { packet, .. } => {
                    out.push(Output::Send(packet.to_continuous_buffer()));
                }
                CoreEvent::NotifyPacketReceived(packet) => self.on_packet(packet, now, out),
                CoreEvent::NotifyPacketIdReleased(id) => {
                    if let Some(index) = self
                        .outbox
                        .iter()
                        .position(|p| p.qos == QoS::AtLeastOnce && p.packet_id == Some(id))
                        && let Some(done) = self.outbox.remove(index)
                    {
                        out.push(Output::Acked(done.token));
                    }
                }
                CoreEvent::NotifyError(_) => {}
                CoreEvent::RequestClose => {
                    if self.conn.is_some() {
                        out.push(Output::Close);
                        let reason = self.close_reason.take().unwrap_or(DisconnectReason::Closed);
                        self.link_lost(reason, now, out);
                    }
                }
                CoreEvent::RequestTimerReset { kind, duration_ms } => {
                    self.timers[timer_index(kind)] = Some(now.saturating_add(duration_ms));
                }
                CoreEvent::RequestTimerCancel(kind) => self.timers[timer_index(kind)] = None,
            }
        }
    }

    fn on_packet(&mut self, packet: mqtt::packet::Packet, now: u64, out: &mut Vec<Output>) {
        use mqtt::packet::Packet;
        match packet {
            Packet::V3_1_1Connack(connack) => {
                self.connack_deadline = None;
                let code = connack.return_code();
                if code.is_success() {
                    self.state = State::Connected;
                    self.attempt = 0;
                    out.push(Output::Connected {
                        session_present: connack.session_present(),
                    });
                    if !self.subscriptions.is_empty() {
                        let all = self.subscriptions.clone();
                        self.send_subscribe(all, now, out);
                    }
                    self.flush_outbox(now, out);
                } else {
                    use mqtt::result_code::ConnectReturnCode as Rc;
                    let error = match code {
                        Rc::UnacceptableProtocolVersion => ConnectError::UnacceptableProtocol,
                        Rc::IdentifierRejected => ConnectError::IdentifierRejected,
                        Rc::BadUserNameOrPassword => ConnectError::BadCredentials,
                        Rc::NotAuthorized => ConnectError::NotAuthorized,
                        _ => ConnectError::ServerUnavailable,
                    };
                    out.push(Output::Close);
                    self.link_lost(DisconnectReason::Refused(error), now, out);
                }
            }
            Packet::V3_1_1Suback(suback) => {
                let id = suback.packet_id();
                if let Some(index) = self.sub_requests.iter().position(|(pid, _)| *pid == id) {
                    let (_, filters) = self.sub_requests.remove(index);
                    for (filter, code) in filters.into_iter().zip(suback.return_codes()) {
                        use mqtt::result_code::SubackReturnCode as S;
                        let granted = match code {
                            S::SuccessMaximumQos0 => Some(QoS::AtMostOnce),
                            S::SuccessMaximumQos1 | S::SuccessMaximumQos2 => Some(QoS::AtLeastOnce),
                            S::Failure => None,
                        };
                        out.push(Output::Subscribed { filter, granted });
                    }
                }
            }
            Packet::V3_1_1Publish(publish) => {
                let qos = match publish.qos() {
                    mqtt::packet::Qos::AtMostOnce => QoS::AtMostOnce,
                    _ => QoS::AtLeastOnce,
                };
                out.push(Output::Message(Message {
                    topic: publish.topic_name().to_owned(),
                    payload: publish.payload().as_slice().to_vec(),
                    qos,
                    retain: publish.retain(),
                    dup: publish.dup(),
                }));
            }
            _ => {}
        }
    }
}
