//! Carries out what a device's machine asks for: publishes, downloads, (re)connections,
//! timers; and feeds it what comes back.

use gloo_timers::callback::Timeout;
use otalab_browser::{DownloadEvent, QoS, download};
use otalab_sim::{Action, Link, Phase};

use super::Simulator;
use super::device::SimDevice;
use crate::state::{AppState, Direction, now_ms};

/// A payload as the log shows it: text as it is; a binary file block frame (T7) summarised by
/// its header and size.
pub fn describe_payload(topic: &str, payload: &[u8]) -> String {
    let kind = otalab_protocol::Topic::parse(topic).map(|t| t.kind);
    if kind == Ok(otalab_protocol::TopicKind::FileDownloadReply) {
        return match otalab_protocol::FileBlockReply::decode(payload) {
            Ok(reply) => format!(
                "[block frame, {} bytes] offset {} · {} bytes · file {} bytes · CRC ok",
                payload.len(),
                reply.offset,
                reply.block.len(),
                reply.file_length
            ),
            Err(error) => format!(
                "[block frame, {} bytes] {}: {error}",
                payload.len(),
                error.code()
            ),
        };
    }
    String::from_utf8_lossy(payload).into_owned()
}

/// Logs and publishes one message of a device; a refusal shows on its row.
pub(super) fn publish(
    state: &AppState,
    d: &mut SimDevice,
    topic: &str,
    payload: &str,
    qos: QoS,
    retain: bool,
) {
    let level = match qos {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
    };
    state.log_message(
        Direction::Out,
        &d.display_name(),
        topic,
        payload,
        Some(level),
        retain,
    );
    let sent = match &d.client {
        Some(client) => client
            .publish_retained(topic, payload.as_bytes(), qos, retain)
            .map(|_| ())
            .map_err(|error| format!("{}: {error}", error.code())),
        None => Err("not connected: message not sent".into()),
    };
    if let Err(error) = sent {
        d.error = Some(error);
    }
}

impl Simulator {
    /// Carries out a machine's actions.
    pub(super) fn exec(self, state: &AppState, id: u32, d: &mut SimDevice, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Publish { topic, payload } => {
                    publish(state, d, &topic, &payload, QoS::AtLeastOnce, false);
                }
                // Block requests go at QoS 0, as Link SDK C sends them.
                Action::RequestBlock { topic, payload } => {
                    publish(state, d, &topic, &payload, QoS::AtMostOnce, false);
                }
                Action::Fetch { url, offset } => {
                    let generation = d.generation;
                    let throttle = d.machine.config().throttle_bytes_per_sec;
                    d.download = Some(download(&url, offset, throttle, move |event| {
                        self.on_download(id, generation, event);
                    }));
                }
                Action::AbortFetch => d.download = None,
                Action::Disconnect => {
                    if let Some(client) = d.client.take() {
                        client.disconnect();
                    }
                    d.link = if matches!(d.machine.phase(), Phase::Rebooting) {
                        Link::Rebooting
                    } else {
                        Link::Offline
                    };
                }
                Action::Connect => self.open_client(state, id, d),
                Action::WakeAt(at) => {
                    let delay = at.saturating_sub(now_ms()).min(u64::from(u32::MAX)) as u32;
                    d.wake = Some(Timeout::new(delay, move || self.on_wake(id)));
                }
            }
        }
    }

    fn on_download(self, id: u32, generation: u64, event: DownloadEvent) {
        self.with_current(id, generation, |state, d| {
            let now = now_ms();
            let actions = match event {
                DownloadEvent::Data(bytes) => d.machine.data(&bytes, now),
                DownloadEvent::End => {
                    d.download = None;
                    d.machine.fetch_ended(now)
                }
                DownloadEvent::Failed { status, message } => {
                    d.download = None;
                    d.machine.fetch_failed(status, &message, now)
                }
            };
            self.exec(state, id, d, actions);
            d.sync();
            true
        });
    }

    fn on_wake(self, id: u32) {
        self.with(|sim| {
            let state = sim.state;
            let Some(d) = sim.devices.get_mut(&id) else {
                return;
            };
            d.wake = None;
            let actions = d.machine.tick(now_ms());
            self.exec(&state, id, d, actions);
            d.sync();
        });
    }
}
