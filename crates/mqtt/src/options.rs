//! Session options and the reconnect policy.

/// Exponential back-off with jitter and a cap. Delay of attempt `n` (0-based):
/// `min(cap, initial * factor^n)`, then scaled by a random factor in `[1 - jitter, 1 + jitter]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// First delay in milliseconds.
    pub initial_ms: u64,
    /// Largest delay in milliseconds.
    pub max_ms: u64,
    /// Growth per attempt.
    pub factor: f64,
    /// Relative jitter, 0.0..=1.0.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_ms: 500,
            max_ms: 30_000,
            factor: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0-based), for a random number `unit` in `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u64 {
        let exp = self.factor.max(1.0).powi(attempt.min(64) as i32);
        let base = (self.initial_ms as f64 * exp).min(self.max_ms as f64);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let scale = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
        (base * scale).round().max(0.0) as u64
    }
}

/// How the session connects and behaves. `Debug` shows a password as `<redacted>`.
#[derive(Clone, PartialEq)]
pub struct Options {
    /// MQTT client id.
    pub client_id: String,
    /// User name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Keep-alive in seconds (0 = off). Alibaba Cloud IoT accepts 30..=1200.
    pub keep_alive_secs: u16,
    /// Clean session flag of CONNECT.
    pub clean_session: bool,
    /// How long to wait for PINGRESP before the link is declared dead.
    pub ping_timeout_ms: u64,
    /// How long to wait for CONNACK.
    pub connect_timeout_ms: u64,
    /// Largest incoming packet accepted (bigger ones are refused before buffering).
    pub max_incoming_packet: u32,
    /// Largest outgoing payload.
    pub max_outgoing_payload: usize,
    /// Most messages held while waiting for a connection or an acknowledgement.
    pub max_outbox: usize,
    /// Reconnect policy.
    pub backoff: Backoff,
    /// Reconnect after the link is lost (otherwise the session stops).
    pub reconnect: bool,
    /// Seed of the jitter's random numbers (pass something random in production).
    pub seed: u64,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("keep_alive_secs", &self.keep_alive_secs)
            .field("clean_session", &self.clean_session)
            .field("ping_timeout_ms", &self.ping_timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("max_incoming_packet", &self.max_incoming_packet)
            .field("max_outgoing_payload", &self.max_outgoing_payload)
            .field("max_outbox", &self.max_outbox)
            .field("backoff", &self.backoff)
            .field("reconnect", &self.reconnect)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Options {
    /// Defaults for a client id: keep-alive 60 s, clean session, 10 s timeouts, 256 KiB packets.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            username: None,
            password: None,
            keep_alive_secs: 60,
            clean_session: true,
            ping_timeout_ms: 10_000,
            connect_timeout_ms: 10_000,
            max_incoming_packet: 256 * 1024 + 1024,
            max_outgoing_payload: 256 * 1024,
            max_outbox: 10_000,
            backoff: Backoff::default(),
            reconnect: true,
            seed: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// Sets user name and password.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }
}
