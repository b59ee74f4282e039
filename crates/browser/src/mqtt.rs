//! MQTT over a browser WebSocket.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};

use futures_channel::{mpsc, oneshot};
use gloo_timers::callback::Timeout;
use js_sys::{ArrayBuffer, Uint8Array};
use otalab_mqtt::{Event, Options, Output, QoS, RequestError, Session, State, Token};
use otalab_protocol::{
    CredentialOptions, CredentialsError, DeviceIdentity, Endpoint, MqttCredentials,
};
use thiserror::Error;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, MessageEvent, WebSocket};

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// `ws://` or `wss://` URL of the broker's WebSocket listener.
    pub url: String,
    /// Session options (client id, credentials, keep-alive, back-off, ...).
    pub session: Options,
}

impl ClientOptions {
    /// Any broker.
    pub fn new(url: impl Into<String>, session: Options) -> Self {
        Self {
            url: url.into(),
            session,
        }
    }

    /// Checks a broker URL before any connection: browsers open only `ws://` and `wss://`
    /// (WebSocket) URLs, and the URL needs a host. `mqtt://`, `javascript:`, an empty URL (which
    /// would reach the page's own server) are refused with [`ClientError::Url`].
    pub fn check_url(url: &str) -> Result<(), ClientError> {
        let bad = |reason: &str| ClientError::Url {
            url: url.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        let rest = if let Some(rest) = url.strip_prefix("wss://") {
            rest
        } else if let Some(rest) = url.strip_prefix("ws://") {
            rest
        } else if url.trim().is_empty() {
            return Err(bad("empty: give the broker's ws:// or wss:// address"));
        } else if url.starts_with("mqtt://")
            || url.starts_with("mqtts://")
            || url.starts_with("tcp://")
        {
            return Err(bad(
                "a browser cannot open plain MQTT over TCP: use the broker's WebSocket listener (ws:// or wss://)",
            ));
        } else {
            return Err(bad("only ws:// and wss:// URLs are allowed"));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(bad("no host after the scheme"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("spaces or control characters are not allowed"));
        }
        Ok(())
    }

    /// An Alibaba Cloud IoT device: client id, user name and HMAC password from its secret, the
    /// region or instance endpoint's URL, and a keep-alive the cloud accepts (30..=1200 s).
    pub fn aliyun(
        device: &DeviceIdentity,
        credentials: &CredentialOptions,
        endpoint: &Endpoint,
        keep_alive_secs: u16,
    ) -> Result<Self, ClientError> {
        if !(30..=1200).contains(&keep_alive_secs) {
            return Err(ClientError::KeepAlive {
                secs: keep_alive_secs,
            });
        }
        let login = MqttCredentials::new(device, credentials)?;
        let mut session = Options::new(login.client_id).credentials(login.username, login.password);
        session.keep_alive_secs = keep_alive_secs;
        Ok(Self {
            url: endpoint.websocket_url(&device.product_key, credentials.tls),
            session,
        })
    }
}

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The request was refused before sending.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Aliyun credentials could not be made.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Keep-alive outside what Alibaba Cloud IoT accepts.
    #[error("keep-alive {secs} s is outside 30..=1200 s, which Alibaba Cloud IoT refuses")]
    KeepAlive {
        /// The value asked for.
        secs: u16,
    },
    /// A broker URL a browser cannot connect to.
    #[error("broker URL {url:?}: {reason}")]
    Url {
        /// The URL (at most 200 characters of it).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The client stopped (disconnect, permanent refusal) before the request completed.
    #[error("the client stopped before the request completed")]
    Stopped,
    /// The broker refused a subscription (SUBACK return code 0x80), e.g. forbidden by its ACL.
    #[error(
        "the broker refused the subscription to {filter:?} (SUBACK 0x80: not authorised or not allowed)"
    )]
    SubscribeRefused {
        /// The filter that was refused.
        filter: String,
    },
}

impl ClientError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Request(e) => e.code(),
            Self::Credentials(e) => e.code(),
            Self::KeepAlive { .. } => "MQTT_KEEP_ALIVE_RANGE",
            Self::Url { .. } => "MQTT_BAD_URL",
            Self::Stopped => "MQTT_STOPPED",
            Self::SubscribeRefused { .. } => "MQTT_SUBSCRIBE_REFUSED",
        }
    }
}

/// What listeners are told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The state changed.
    State(State),
    /// What the session reports: connected, a lost link, a reconnection scheduled, a SUBACK,
    /// a message, a finished publish (the same [`Event`] the native runner's link loop gives).
    Session(Event),
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

type Listener = Rc<dyn Fn(&ClientEvent)>;
type AckWaiter = oneshot::Sender<Result<(), ClientError>>;
type SubscribeWaiter = oneshot::Sender<Result<QoS, ClientError>>;

/// The socket with the closures it calls, owned together: dropping it detaches and closes.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut()>,
}

thread_local! {
    /// The error handler of every socket. A failed connection is reported by the close event
    /// that follows; the error event is still handled, also after the socket is dropped, so that
    /// WebSocket implementations which throw unhandled errors (Node's `ws`) do not.
    static IGNORE_ERROR: Closure<dyn FnMut()> = Closure::new(|| {});
}

fn ignore_errors(ws: &WebSocket) {
    IGNORE_ERROR.with(|noop| ws.set_onerror(Some(noop.as_ref().unchecked_ref())));
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        ignore_errors(&self.ws);
        let _ = self.ws.close();
    }
}

struct Inner {
    session: Session,
    url: String,
    socket: Option<Socket>,
    generation: u64,
    timer: Option<(u64, Timeout)>,
    /// Packets written in this JS task, sent as one WebSocket frame in a microtask.
    out_buf: Vec<u8>,
    flush_queued: bool,
    acks: HashMap<Token, AckWaiter>,
    subs: HashMap<String, Vec<SubscribeWaiter>>,
    listeners: Vec<Listener>,
    last_state: State,
}

/// An MQTT client over a browser WebSocket. Cheap to clone (all clones are one client).
#[derive(Clone)]
pub struct MqttClient {
    inner: Rc<RefCell<Inner>>,
}

impl std::fmt::Debug for MqttClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.try_borrow() {
            Ok(inner) => write!(f, "MqttClient({} {:?})", inner.url, inner.session.state()),
            Err(_) => f.write_str("MqttClient(busy)"),
        }
    }
}

impl MqttClient {
    /// A client that has not connected yet.
    pub fn new(options: ClientOptions) -> Self {
        let session = Session::new(options.session);
        Self {
            inner: Rc::new(RefCell::new(Inner {
                last_state: session.state(),
                session,
                url: options.url,
                socket: None,
                generation: 0,
                timer: None,
                out_buf: Vec::new(),
                flush_queued: false,
                acks: HashMap::new(),
                subs: HashMap::new(),
                listeners: Vec::new(),
            })),
        }
    }

    /// Calls `listener` for every event from now on.
    pub fn on_event(&self, listener: impl Fn(&ClientEvent) + 'static) {
        self.inner.borrow_mut().listeners.push(Rc::new(listener));
    }

    /// Every event from now on, as a stream.
    pub fn events(&self) -> mpsc::UnboundedReceiver<ClientEvent> {
        let (tx, rx) = mpsc::unbounded();
        self.on_event(move |event| {
            let _ = tx.unbounded_send(event.clone());
        });
        rx
    }

    /// The session state.
    pub fn state(&self) -> State {
        self.inner.borrow().session.state()
    }

    /// Messages waiting for a connection or an acknowledgement.
    pub fn pending(&self) -> usize {
        self.inner.borrow().session.pending()
    }

    /// Starts connecting (and reconnecting after losses).
    pub fn connect(&self) {
        drive(&self.inner, |inner| inner.session.start());
    }

    /// Disconnects for good (DISCONNECT, no reconnect).
    pub fn disconnect(&self) {
        drive(&self.inner, |inner| inner.session.stop(now_ms()));
    }

    /// Publishes; the future resolves when QoS 1 is acknowledged, or when QoS 0 is handed to
    /// the open connection (it reaches the WebSocket at the end of the current JS task; while
    /// disconnected, once it is written after the next CONNACK).
    pub fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
    ) -> impl std::future::Future<Output = Result<(), ClientError>> + 'static {
        self.publish_with(topic, payload, qos, false)
    }

    /// [`publish`](Self::publish) with the RETAIN flag: the broker keeps the message for
    /// later subscribers.
    pub fn publish_with(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> impl std::future::Future<Output = Result<(), ClientError>> + 'static {
        let (tx, rx) = oneshot::channel();
        let mut waiter = Some(tx);
        let mut result = Err(ClientError::Stopped);
        drive(&self.inner, |inner| {
            match inner
                .session
                .publish_retained(topic, payload, qos, retain, now_ms())
            {
                Ok((token, out)) => {
                    // Registered before the outputs are applied: a QoS 0 publish is done
                    // within this very step.
                    if let Some(tx) = waiter.take() {
                        inner.acks.insert(token, tx);
                    }
                    result = Ok(());
                    out
                }
                Err(e) => {
                    result = Err(e.into());
                    Vec::new()
                }
            }
        });
        async move {
            result?;
            rx.await.unwrap_or(Err(ClientError::Stopped))
        }
    }

    /// Publishes without waiting; [`Event::Acked`] names the token when done.
    pub fn publish_token(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
    ) -> Result<Token, ClientError> {
        self.publish_retained(topic, payload, qos, false)
    }

    /// [`publish_token`](Self::publish_token) with the RETAIN flag.
    pub fn publish_retained(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Token, ClientError> {
        let mut token = None;
        let mut error = None;
        drive(&self.inner, |inner| {
            match inner
                .session
                .publish_retained(topic, payload, qos, retain, now_ms())
            {
                Ok((t, out)) => {
                    token = Some(t);
                    out
                }
                Err(e) => {
                    error = Some(e);
                    Vec::new()
                }
            }
        });
        match (token, error) {
            (Some(token), _) => Ok(token),
            (None, Some(e)) => Err(e.into()),
            (None, None) => Err(ClientError::Stopped),
        }
    }

    /// Subscribes (now, and again after every reconnect). Resolves with the first SUBACK's
    /// granted QoS, or fails with [`ClientError::SubscribeRefused`] when the broker refused the
    /// filter (SUBACK 0x80, e.g. forbidden by its ACL).
    pub fn subscribe(
        &self,
        filter: &str,
        qos: QoS,
    ) -> impl std::future::Future<Output = Result<QoS, ClientError>> + 'static {
        let (tx, rx) = oneshot::channel();
        let mut error = None;
        self.inner
            .borrow_mut()
            .subs
            .entry(filter.to_owned())
            .or_default()
            .push(tx);
        drive(&self.inner, |inner| {
            match inner.session.subscribe(filter, qos, now_ms()) {
                Ok(out) => out,
                Err(e) => {
                    error = Some(e);
                    Vec::new()
                }
            }
        });
        if error.is_some() {
            self.inner.borrow_mut().subs.remove(filter);
        }
        async move {
            if let Some(e) = error {
                return Err(e.into());
            }
            rx.await.unwrap_or(Err(ClientError::Stopped))
        }
    }
}

/// Runs one session step, carries out its outputs, then tells listeners (outside the borrow,
/// so listeners may call the client again).
fn drive(rc: &Rc<RefCell<Inner>>, step: impl FnOnce(&mut Inner) -> Vec<Output>) {
    let outputs = {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return;
        };
        step(&mut inner)
    };
    dispatch(rc, outputs);
}

/// Applies a session step's outputs and tells the waiting calls and the listeners. One copy for
/// every kind of step (`drive` is generic: keeping this out of it keeps the wasm small).
#[inline(never)]
fn dispatch(rc: &Rc<RefCell<Inner>>, outputs: Vec<Output>) {
    let events = {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return;
        };
        inner.apply(outputs, rc)
    };
    if events.is_empty() {
        return;
    }
    let (listeners, mut acks, mut subs) = {
        let Ok(mut inner) = rc.try_borrow_mut() else {
            return;
        };
        let mut acks = Vec::new();
        let mut subs = Vec::new();
        for event in &events {
            match event {
                ClientEvent::Session(Event::Acked(token)) => {
                    if let Some(tx) = inner.acks.remove(token) {
                        acks.push((tx, Ok(())));
                    }
                }
                ClientEvent::Session(Event::Subscribed { filter, granted }) => {
                    let result = granted.ok_or_else(|| ClientError::SubscribeRefused {
                        filter: filter.clone(),
                    });
                    for tx in inner.subs.remove(filter).unwrap_or_default() {
                        subs.push((tx, result.clone()));
                    }
                }
                ClientEvent::State(State::Stopped) => {
                    for (_, tx) in inner.acks.drain() {
                        acks.push((tx, Err(ClientError::Stopped)));
                    }
                    for (_, txs) in inner.subs.drain() {
                        subs.extend(txs.into_iter().map(|tx| (tx, Err(ClientError::Stopped))));
                    }
                }
                _ => {}
            }
        }
        (
            inner.listeners.clone(),
            std::mem::take(&mut acks),
            std::mem::take(&mut subs),
        )
    };
    for (tx, result) in acks.drain(..) {
        let _ = tx.send(result);
    }
    for (tx, result) in subs.drain(..) {
        let _ = tx.send(result);
    }
    for event in &events {
        for listener in &listeners {
            listener(event);
        }
    }
}

impl Inner {
    /// Carries out outputs (socket, timer) and turns them into listener events.
    fn apply(&mut self, outputs: Vec<Output>, rc: &Rc<RefCell<Inner>>) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        let mut queue: VecDeque<Output> = outputs.into();
        while let Some(output) = queue.pop_front() {
            match output {
                Output::Open => {
                    // Bytes not flushed belonged to the old socket; the session re-sends.
                    self.out_buf.clear();
                    self.socket = None;
                    match self.open_socket(rc) {
                        Ok(socket) => self.socket = Some(socket),
                        // An unusable URL fails like a refused connection: back off, retry.
                        Err(_) => queue.extend(self.session.closed(now_ms())),
                    }
                }
                Output::Send(bytes) => {
                    if self.socket.is_some() {
                        self.out_buf.extend_from_slice(&bytes);
                        self.queue_flush(rc);
                    }
                }
                Output::Close => {
                    // A DISCONNECT written just before must still go out.
                    self.flush();
                    self.socket = None;
                }
                other => events.extend(other.into_event().map(ClientEvent::Session)),
            }
        }
        let state = self.session.state();
        if state != self.last_state {
            self.last_state = state;
            events.push(ClientEvent::State(state));
        }
        self.schedule(rc);
        events
    }

    /// Writes the buffered packets as one frame.
    fn flush(&mut self) {
        if let Some(socket) = &self.socket
            && !self.out_buf.is_empty()
        {
            let _ = socket.ws.send_with_u8_array(&self.out_buf);
        }
        self.out_buf.clear();
    }

    /// Flushes at the end of the current JS task (a microtask), so that packets produced
    /// together (a burst of publishes, resubscribe + outbox after CONNACK) share one frame.
    fn queue_flush(&mut self, rc: &Rc<RefCell<Inner>>) {
        if self.flush_queued {
            return;
        }
        self.flush_queued = true;
        let weak = Rc::downgrade(rc);
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(rc) = weak.upgrade()
                && let Ok(mut inner) = rc.try_borrow_mut()
            {
                inner.flush_queued = false;
                inner.flush();
            }
        });
    }

    /// Wakes the session at its next deadline. One timer; it is only replaced when the deadline
    /// moves earlier (sending pushes the keep-alive deadline later on every packet, and an
    /// early wake-up just ticks and re-arms), so busy links do not churn browser timers.
    fn schedule(&mut self, rc: &Rc<RefCell<Inner>>) {
        let Some(deadline) = self.session.next_deadline() else {
            self.timer = None;
            return;
        };
        if let Some((armed_for, _)) = &self.timer
            && *armed_for <= deadline
        {
            return;
        }
        let delay = deadline.saturating_sub(now_ms()).min(u64::from(u32::MAX)) as u32;
        let weak = Rc::downgrade(rc);
        let timeout = Timeout::new(delay, move || {
            if let Some(rc) = weak.upgrade() {
                if let Ok(mut inner) = rc.try_borrow_mut() {
                    inner.timer = None;
                }
                drive(&rc, |inner| inner.session.tick(now_ms()));
            }
        });
        self.timer = Some((deadline, timeout));
    }

    fn open_socket(&mut self, rc: &Rc<RefCell<Inner>>) -> Result<Socket, JsValue> {
        let ws = WebSocket::new_with_str(&self.url, "mqtt")?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        self.generation += 1;
        let generation = self.generation;
        // Events of a replaced socket are ignored: only the current generation drives the session.
        let handler = |weak: Weak<RefCell<Inner>>, step: fn(&mut Inner) -> Vec<Output>| {
            move || {
                if let Some(rc) = weak.upgrade() {
                    let current = rc
                        .try_borrow()
                        .map(|i| i.generation == generation)
                        .unwrap_or(false);
                    if current {
                        drive(&rc, step);
                    }
                }
            }
        };
        let on_open = Closure::<dyn FnMut()>::new(handler(Rc::downgrade(rc), |inner| {
            inner.session.opened(now_ms())
        }));
        let on_close = Closure::<dyn FnMut()>::new(handler(Rc::downgrade(rc), |inner| {
            inner.socket = None;
            inner.session.closed(now_ms())
        }));
        let weak = Rc::downgrade(rc);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(rc) = weak.upgrade() else { return };
            let current = rc
                .try_borrow()
                .map(|i| i.generation == generation)
                .unwrap_or(false);
            if !current {
                return;
            }
            if let Ok(buffer) = event.data().dyn_into::<ArrayBuffer>() {
                let bytes = Uint8Array::new(&buffer).to_vec();
                drive(&rc, |inner| inner.session.received(&bytes, now_ms()));
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ignore_errors(&ws);
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }
}
