//! The session's rules, against a broker played by mqtt-protocol-core's server role.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mqtt_protocol_core::mqtt;
use mqtt_protocol_core::mqtt::prelude::*;
use otalab_mqtt::{
    Backoff, ConnectError, DisconnectReason, Options, Output, QoS, RequestError, Session, State,
};

type Packet = mqtt::packet::Packet;

/// A realistic clock: milliseconds since 1970 in late 2023. Timers are absolute, so a test at
/// time 0 would hide a step that drives the connection with the wrong clock.
const T0: u64 = 1_700_000_000_000;

/// The broker side of one socket.
struct Broker {
    conn: mqtt::Connection<mqtt::role::Server>,
}

impl Broker {
    fn new() -> Self {
        let mut conn = mqtt::Connection::<mqtt::role::Server>::new(mqtt::Version::Undetermined);
        conn.set_auto_pub_response(false);
        conn.set_auto_ping_response(false);
        Self { conn }
    }

    /// Parses what the client wrote.
    fn recv(&mut self, bytes: &[u8]) -> Vec<Packet> {
        let mut cursor = mqtt::common::Cursor::new(bytes);
        let mut packets = Vec::new();
        while (cursor.position() as usize) < bytes.len() {
            for event in self.conn.recv(&mut cursor) {
                if let mqtt::connection::Event::NotifyPacketReceived(p) = event {
                    packets.push(p);
                }
            }
        }
        packets
    }

    /// Bytes of a packet the broker sends.
    fn send<T: Sendable<mqtt::role::Server, u16>>(&mut self, packet: T) -> Vec<u8> {
        let mut bytes = Vec::new();
        for event in self.conn.checked_send(packet) {
            if let mqtt::connection::Event::RequestSendPacket { packet, .. } = event {
                bytes.extend(packet.to_continuous_buffer());
            }
        }
        bytes
    }

    fn connack(&mut self, code: mqtt::result_code::ConnectReturnCode) -> Vec<u8> {
        self.send(
            mqtt::packet::v3_1_1::Connack::builder()
                .session_present(false)
                .return_code(code)
                .build()
                .unwrap(),
        )
    }

    fn puback(&mut self, id: u16) -> Vec<u8> {
        self.send(
            mqtt::packet::v3_1_1::Puback::builder()
                .packet_id(id)
                .build()
                .unwrap(),
        )
    }

    fn suback(&mut self, id: u16, codes: Vec<mqtt::result_code::SubackReturnCode>) -> Vec<u8> {
        self.send(
            mqtt::packet::v3_1_1::Suback::builder()
                .packet_id(id)
                .return_codes(codes)
                .build()
                .unwrap(),
        )
    }

    fn publish(&mut self, topic: &str, payload: &[u8], qos1_id: Option<u16>) -> Vec<u8> {
        let mut b = mqtt::packet::v3_1_1::Publish::builder()
            .topic_name(topic)
            .unwrap()
            .payload(payload.to_vec());
        if let Some(id) = qos1_id {
            self.conn.register_packet_id(id).unwrap();
            b = b.qos(mqtt::packet::Qos::AtLeastOnce).packet_id(id);
        }
        self.send(b.build().unwrap())
    }
}

fn sent(out: &[Output]) -> Vec<u8> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn options() -> Options {
    let mut o = Options::new("dev-1").credentials("user", "pass");
    o.keep_alive_secs = 30;
    o.ping_timeout_ms = 5_000;
    o.backoff = Backoff {
        initial_ms: 1000,
        max_ms: 8000,
        factor: 2.0,
        jitter: 0.0,
    };
    o
}

/// A session connected to a fresh broker at time `now`.
fn connected(options: Options, now: u64) -> (Session, Broker) {
    let mut s = Session::new(options);
    assert_eq!(s.start(), [Output::Open]);
    let mut broker = Broker::new();
    let connect = broker.recv(&sent(&s.opened(now)));
    assert!(
        matches!(connect.as_slice(), [Packet::V3_1_1Connect(_)]),
        "{connect:?}"
    );
    let out = s.received(
        &broker.connack(mqtt::result_code::ConnectReturnCode::Accepted),
        now,
    );
    assert!(
        out.contains(&Output::Connected {
            session_present: false
        }),
        "{out:?}"
    );
    assert_eq!(s.state(), State::Connected);
    (s, broker)
}

#[test]
fn connect_carries_client_id_credentials_keep_alive_and_clean_session() {
    let mut s = Session::new(options());
    s.start();
    let mut broker = Broker::new();
    let packets = broker.recv(&sent(&s.opened(T0)));
    let Packet::V3_1_1Connect(connect) = &packets[0] else {
        panic!("{packets:?}")
    };
    assert_eq!(connect.client_id(), "dev-1");
    assert_eq!(connect.user_name(), Some("user"));
    assert_eq!(connect.password(), Some(&b"pass"[..]));
    assert_eq!(connect.keep_alive(), 30);
    assert!(connect.clean_session());
}

#[test]
fn refusals_are_typed_and_permanent_ones_stop_the_session() {
    use mqtt::result_code::ConnectReturnCode as Rc;
    let cases = [
        (
            Rc::BadUserNameOrPassword,
            ConnectError::BadCredentials,
            true,
        ),
        (Rc::NotAuthorized, ConnectError::NotAuthorized, true),
        (
            Rc::IdentifierRejected,
            ConnectError::IdentifierRejected,
            true,
        ),
        (
            Rc::ServerUnavailable,
            ConnectError::ServerUnavailable,
            false,
        ),
    ];
    for (code, error, permanent) in cases {
        let mut s = Session::new(options());
        s.start();
        let mut broker = Broker::new();
        broker.recv(&sent(&s.opened(T0)));
        let out = s.received(&broker.connack(code), T0 + 10);
        assert!(out.contains(&Output::Close), "{out:?}");
        assert!(
            out.contains(&Output::Disconnected(DisconnectReason::Refused(error))),
            "{out:?}"
        );
        if permanent {
            assert_eq!(s.state(), State::Stopped, "{error:?}");
        } else {
            assert_eq!(
                s.state(),
                State::Waiting {
                    reconnect_at: T0 + 1010,
                    attempt: 1
                }
            );
        }
    }
    assert_eq!(ConnectError::BadCredentials.code(), "MQTT_BAD_CREDENTIALS");
}

#[test]
fn subscriptions_made_early_go_out_after_connack_and_refusals_are_reported() {
    let mut s = Session::new(options());
    s.start();
    assert!(
        s.subscribe("/ota/device/upgrade/pk/dn", QoS::AtLeastOnce, T0)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.subscribe("/forbidden/#", QoS::AtMostOnce, T0)
            .unwrap()
            .is_empty()
    );
    let mut broker = Broker::new();
    broker.recv(&sent(&s.opened(T0)));
    let out = s.received(
        &broker.connack(mqtt::result_code::ConnectReturnCode::Accepted),
        T0,
    );
    let packets = broker.recv(&sent(&out));
    let Packet::V3_1_1Subscribe(sub) = &packets[0] else {
        panic!("{packets:?}")
    };
    let filters: Vec<_> = sub
        .entries()
        .iter()
        .map(|e| e.topic_filter().to_string())
        .collect();
    assert_eq!(filters, ["/ota/device/upgrade/pk/dn", "/forbidden/#"]);
    use mqtt::result_code::SubackReturnCode as S;
    let out = s.received(
        &broker.suback(sub.packet_id(), vec![S::SuccessMaximumQos1, S::Failure]),
        T0,
    );
    assert_eq!(
        out,
        [
            Output::Subscribed {
                filter: "/ota/device/upgrade/pk/dn".into(),
                granted: Some(QoS::AtLeastOnce)
            },
            Output::Subscribed {
                filter: "/forbidden/#".into(),
                granted: None
            },
        ]
    );
    assert_eq!(
        s.subscribe("a/#/b", QoS::AtMostOnce, T0)
            .unwrap_err()
            .code(),
        "MQTT_INVALID_FILTER"
    );
    assert_eq!(
        s.subscribe("a/b+", QoS::AtMostOnce, T0).unwrap_err().code(),
        "MQTT_INVALID_FILTER"
    );
}

#[test]
fn qos0_and_qos1_publish_with_distinct_ids_and_acks() {
    let (mut s, mut broker) = connected(options(), T0);
    let (t0, out) = s.publish("/t", b"zero", QoS::AtMostOnce, T0 + 1).unwrap();
    assert!(
        out.contains(&Output::Acked(t0)),
        "QoS 0 is done once written: {out:?}"
    );
    let (t1, out1) = s.publish("/t", b"one", QoS::AtLeastOnce, T0 + 1).unwrap();
    let (t2, out2) = s.publish("/t", b"two", QoS::AtLeastOnce, T0 + 1).unwrap();
    assert!(!out1.contains(&Output::Acked(t1)));
    let mut ids = Vec::new();
    for p in broker.recv(&[sent(&out), sent(&out1), sent(&out2)].concat()) {
        if let Packet::V3_1_1Publish(p) = p {
            ids.push(p.packet_id());
        }
    }
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], None);
    assert_ne!(ids[1], ids[2]);
    assert_eq!(s.pending(), 2);
    let out = s.received(&broker.puback(ids[2].unwrap()), T0 + 2);
    assert_eq!(out, [Output::Acked(t2)]);
    let out = s.received(&broker.puback(ids[1].unwrap()), T0 + 2);
    assert_eq!(out, [Output::Acked(t1)]);
    assert_eq!(s.pending(), 0);
    assert_eq!(
        s.publish("/t/+", b"", QoS::AtMostOnce, T0 + 3)
            .unwrap_err()
            .code(),
        "MQTT_INVALID_TOPIC"
    );
    assert_eq!(QoS::from_u8(2).unwrap_err(), RequestError::Qos { qos: 2 });
}

#[test]
fn incoming_qos1_is_delivered_and_acknowledged() {
    let (mut s, mut broker) = connected(options(), T0);
    let out = s.received(
        &broker.publish("/ota/device/upgrade/pk/dn", b"{}", Some(7)),
        T0 + 5,
    );
    let Some(Output::Message(m)) = out.iter().find(|o| matches!(o, Output::Message(_))) else {
        panic!("{out:?}")
    };
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice(), m.qos),
        ("/ota/device/upgrade/pk/dn", &b"{}"[..], QoS::AtLeastOnce)
    );
    let acks = broker.recv(&sent(&out));
    assert!(
        matches!(&acks[..], [Packet::V3_1_1Puback(p)] if p.packet_id() == 7),
        "{acks:?}"
    );
}

#[test]
fn frames_split_byte_by_byte_or_merged_give_the_same_messages() {
    let (mut s, mut broker) = connected(options(), T0);
    let mut wire = Vec::new();
    for i in 0..5u8 {
        wire.extend(broker.publish(
            &format!("/t/{i}"),
            &[i; 300],
            if i % 2 == 0 { None } else { Some(u16::from(i)) },
        ));
    }
    let mut messages = Vec::new();
    for byte in &wire {
        for o in s.received(std::slice::from_ref(byte), T0 + 1) {
            if let Output::Message(m) = o {
                messages.push(m.topic);
            }
        }
    }
    assert_eq!(messages, ["/t/0", "/t/1", "/t/2", "/t/3", "/t/4"]);

    let (mut s2, mut broker2) = connected(options(), T0);
    let mut merged = Vec::new();
    for i in 0..5u8 {
        merged.extend(broker2.publish(&format!("/m/{i}"), &[i; 10], None));
    }
    // One frame with everything, and one with a packet split across two frames.
    let (a, b) = merged.split_at(merged.len() - 7);
    let mut topics: Vec<String> = Vec::new();
    for chunk in [a, b] {
        for o in s2.received(chunk, T0 + 1) {
            if let Output::Message(m) = o {
                topics.push(m.topic);
            }
        }
    }
    assert_eq!(topics, ["/m/0", "/m/1", "/m/2", "/m/3", "/m/4"]);
}

#[test]
fn oversized_incoming_packets_are_refused_from_the_header() {
    let mut o = options();
    o.max_incoming_packet = 1024;
    let (mut s, mut broker) = connected(o, T0);
    let big = broker.publish("/t", &[0u8; 5000], None);
    // Only the fixed header arrives: the size is known, the body is never buffered.
    let out = s.received(&big[..4], T0 + 10);
    assert!(out.contains(&Output::Close), "{out:?}");
    assert!(
        out.contains(&Output::Disconnected(DisconnectReason::PacketTooLarge {
            limit: 1024
        })),
        "{out:?}"
    );
    assert!(matches!(s.state(), State::Waiting { .. }));
}

#[test]
fn idle_link_sends_pingreq_and_a_missing_pingresp_is_a_dead_link() {
    let (mut s, mut broker) = connected(options(), T0);
    assert_eq!(s.next_deadline(), Some(T0 + 30_000));
    assert!(s.tick(T0 + 29_999).is_empty());
    let out = s.tick(T0 + 30_000);
    let packets = broker.recv(&sent(&out));
    assert!(
        matches!(&packets[..], [Packet::V3_1_1Pingreq(_)]),
        "{packets:?}"
    );
    // PINGRESP in time: the link lives.
    let pong = broker.send(mqtt::packet::v3_1_1::Pingresp::builder().build().unwrap());
    s.received(&pong, T0 + 31_000);
    assert_eq!(s.state(), State::Connected);
    // Next round: no answer within the timeout.
    let deadline = s.next_deadline().unwrap();
    broker.recv(&sent(&s.tick(deadline)));
    let out = s.tick(deadline + 5_000);
    assert!(
        out.contains(&Output::Disconnected(DisconnectReason::DeadLink {
            timeout_ms: 5_000
        })),
        "{out:?}"
    );
    assert!(out.contains(&Output::Close));
}

#[test]
fn no_connack_in_time_closes_and_retries() {
    let mut s = Session::new(options());
    s.start();
    s.opened(T0);
    let out = s.tick(T0 + 10_000);
    assert!(
        out.contains(&Output::Disconnected(DisconnectReason::ConnectTimeout {
            timeout_ms: 10_000
        }))
    );
    assert_eq!(
        s.state(),
        State::Waiting {
            reconnect_at: T0 + 11_000,
            attempt: 1
        }
    );
}

#[test]
fn backoff_grows_is_capped_has_bounded_jitter_and_resets_after_success() {
    let mut s = Session::new(options());
    s.start();
    let mut delays = Vec::new();
    let mut now = 0;
    for _ in 0..6 {
        s.opened(now);
        let out = s.closed(now);
        let Some(Output::Reconnecting { at_ms, .. }) = out.last().cloned() else {
            panic!("{out:?}")
        };
        delays.push(at_ms - now);
        assert!(s.tick(at_ms - 1).is_empty());
        assert_eq!(s.tick(at_ms), [Output::Open]);
        now = at_ms;
    }
    assert_eq!(delays, [1000, 2000, 4000, 8000, 8000, 8000]);
    // Success resets the schedule.
    let mut broker = Broker::new();
    broker.recv(&sent(&s.opened(now)));
    s.received(
        &broker.connack(mqtt::result_code::ConnectReturnCode::Accepted),
        now,
    );
    let out = s.closed(now);
    assert_eq!(
        out.last(),
        Some(&Output::Reconnecting {
            at_ms: now + 1000,
            attempt: 1
        })
    );

    let jittered = Backoff {
        initial_ms: 1000,
        max_ms: 10_000,
        factor: 2.0,
        jitter: 0.5,
    };
    for unit in [0.0, 0.25, 0.999] {
        let d = jittered.delay_ms(2, unit);
        assert!((2000..=6000).contains(&d), "{d}");
    }
    assert_eq!(jittered.delay_ms(60, 0.5), 10_000);
}

#[test]
fn outbox_resends_unacknowledged_qos1_with_dup_in_order_after_reconnect_exactly_once() {
    let (mut s, mut broker) = connected(options(), T0);
    s.subscribe("/ota/device/upgrade/pk/dn", QoS::AtLeastOnce, T0)
        .unwrap();
    let mut tokens = Vec::new();
    let mut first_ids = Vec::new();
    for i in 0..3 {
        let (t, out) = s
            .publish("/up", format!("m{i}").as_bytes(), QoS::AtLeastOnce, T0 + 1)
            .unwrap();
        tokens.push(t);
        for p in broker.recv(&sent(&out)) {
            if let Packet::V3_1_1Publish(p) = p {
                first_ids.push(p.packet_id().unwrap());
            }
        }
    }
    // m0 is acknowledged; the link dies before m1, m2 are.
    assert_eq!(
        s.received(&broker.puback(first_ids[0]), T0 + 2),
        [Output::Acked(tokens[0])]
    );
    s.closed(T0 + 3);
    // Published while away: held.
    for i in 3..5 {
        let (t, out) = s
            .publish("/up", format!("m{i}").as_bytes(), QoS::AtLeastOnce, T0 + 4)
            .unwrap();
        assert!(out.is_empty());
        tokens.push(t);
    }
    assert_eq!(s.pending(), 4);
    let at = s.next_deadline().unwrap();
    assert_eq!(s.tick(at), [Output::Open]);
    let mut broker = Broker::new();
    broker.recv(&sent(&s.opened(at)));
    let out = s.received(
        &broker.connack(mqtt::result_code::ConnectReturnCode::Accepted),
        at,
    );
    let packets = broker.recv(&sent(&out));
    // Resubscribe first, then m1, m2 (DUP, same ids), then m3, m4 (fresh).
    assert!(
        matches!(&packets[0], Packet::V3_1_1Subscribe(_)),
        "{packets:?}"
    );
    let publishes: Vec<_> = packets[1..]
        .iter()
        .map(|p| match p {
            Packet::V3_1_1Publish(p) => (
                p.payload().as_slice().to_vec(),
                p.dup(),
                p.packet_id().unwrap(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(publishes.len(), 4);
    assert_eq!(
        publishes.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        [
            b"m1".to_vec(),
            b"m2".to_vec(),
            b"m3".to_vec(),
            b"m4".to_vec()
        ]
    );
    assert_eq!(
        publishes.iter().map(|p| p.1).collect::<Vec<_>>(),
        [true, true, false, false]
    );
    assert_eq!(
        (publishes[0].2, publishes[1].2),
        (first_ids[1], first_ids[2])
    );
    let mut acked = Vec::new();
    for (_, _, id) in &publishes {
        for o in s.received(&broker.puback(*id), at + 1) {
            if let Output::Acked(t) = o {
                acked.push(t);
            }
        }
    }
    // A stray PUBACK for a finished id is a protocol error to the codec: never a second ack.
    let late = s.received(&broker.puback(publishes[0].2), at + 2);
    assert!(
        !late.iter().any(|o| matches!(o, Output::Acked(_))),
        "{late:?}"
    );
    assert_eq!(acked, tokens[1..]);
    assert_eq!(s.pending(), 0);
}

#[test]
fn stop_sends_disconnect_and_never_reconnects() {
    let (mut s, mut broker) = connected(options(), T0);
    let out = s.stop(T0 + 5);
    let packets = broker.recv(&sent(&out));
    assert!(
        matches!(&packets[..], [Packet::V3_1_1Disconnect(_)]),
        "{packets:?}"
    );
    assert!(out.contains(&Output::Close));
    assert!(out.contains(&Output::Disconnected(DisconnectReason::Requested)));
    assert_eq!(s.state(), State::Stopped);
    assert!(s.closed(T0 + 6).is_empty());
    assert_eq!(s.next_deadline(), None);
    assert_eq!(
        s.publish("/t", b"", QoS::AtMostOnce, T0 + 7).unwrap_err(),
        RequestError::Stopped
    );
}

#[test]
fn subscribing_at_a_real_clock_rearms_keep_alive_from_now_and_sends_no_extra_pingreq() {
    let (mut s, mut broker) = connected(options(), T0);
    let out = s
        .subscribe("/ota/device/upgrade/pk/dn", QoS::AtLeastOnce, T0 + 10_000)
        .unwrap();
    let packets = broker.recv(&sent(&out));
    assert!(
        matches!(&packets[..], [Packet::V3_1_1Subscribe(_)]),
        "{packets:?}"
    );
    // The keep-alive interval counts from the SUBSCRIBE just sent, on the same clock.
    assert_eq!(s.next_deadline(), Some(T0 + 10_000 + 30_000));
    for at in [T0 + 10_001, T0 + 20_000, T0 + 39_999] {
        let out = s.tick(at);
        assert!(sent(&out).is_empty(), "no PINGREQ at {at}: {out:?}");
    }
    let packets = broker.recv(&sent(&s.tick(T0 + 40_000)));
    assert!(
        matches!(&packets[..], [Packet::V3_1_1Pingreq(_)]),
        "{packets:?}"
    );
}

#[test]
fn qos0_publish_is_done_as_soon_as_it_is_written() {
    let (mut s, mut broker) = connected(options(), T0);
    let (token, out) = s
        .publish("/t", b"fire and forget", QoS::AtMostOnce, T0 + 5)
        .unwrap();
    assert!(out.contains(&Output::Acked(token)), "{out:?}");
    let packets = broker.recv(&sent(&out));
    assert!(
        matches!(&packets[..], [Packet::V3_1_1Publish(p)] if p.payload().as_slice() == b"fire and forget"),
        "{packets:?}"
    );
    assert_eq!(s.pending(), 0);
}

/// Found by `scripts/fuzz` (target `mqtt_session`): mqtt-protocol-core 0.7.9 panics when it
/// acknowledges a QoS 1 PUBLISH whose packet identifier is 0.
#[test]
fn a_publish_with_packet_id_0_closes_the_link_instead_of_panicking() {
    for split in [1usize, 3, 64] {
        let (mut s, _broker) = connected(options(), T0);
        // PUBLISH, DUP + QoS 1, topic "/t", packet id 0, payload "x".
        let evil = [0x3a, 0x06, 0x00, 0x02, b'/', b't', 0x00, 0x00, b'x'];
        let mut out = Vec::new();
        for piece in evil.chunks(split) {
            out.extend(s.received(piece, T0 + 1));
        }
        assert!(out.contains(&Output::Close), "{out:?}");
        assert!(
            out.iter().any(|o| matches!(o, Output::Disconnected(DisconnectReason::ProtocolError { detail }) if detail.contains("packet identifier 0"))),
            "{out:?}"
        );
        assert!(!out.iter().any(|o| matches!(o, Output::Message(_))));
        assert!(
            matches!(s.state(), State::Waiting { .. }),
            "{:?}",
            s.state()
        );
    }
    // The same packet with id 7 is delivered and acknowledged as usual, even split byte by byte
    // after other packets (the walk keeps its place across packets and pieces).
    let (mut s, mut broker) = connected(options(), T0);
    let mut wire = broker.publish("/a", &[1; 300], None);
    wire.extend([0x3a, 0x06, 0x00, 0x02, b'/', b't', 0x00, 0x07, b'x']);
    let mut out = Vec::new();
    for byte in &wire {
        out.extend(s.received(std::slice::from_ref(byte), T0 + 2));
    }
    let messages: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Message(m) => Some(m.topic.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(messages, ["/a", "/t"]);
    assert_eq!(s.state(), State::Connected);
}

#[test]
fn a_retained_publish_carries_the_retain_flag_and_a_plain_one_does_not() {
    let (mut s, mut broker) = connected(options(), T0);
    let (_, plain) = s.publish("/t", b"plain", QoS::AtMostOnce, T0 + 1).unwrap();
    let (_, kept) = s
        .publish_retained("/t", b"kept", QoS::AtLeastOnce, true, T0 + 1)
        .unwrap();
    let flags: Vec<(bool, Vec<u8>)> = broker
        .recv(&[sent(&plain), sent(&kept)].concat())
        .into_iter()
        .filter_map(|p| match p {
            Packet::V3_1_1Publish(p) => Some((p.retain(), p.payload().as_slice().to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(
        flags,
        vec![(false, b"plain".to_vec()), (true, b"kept".to_vec())]
    );
}
