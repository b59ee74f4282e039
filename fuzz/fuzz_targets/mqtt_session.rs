//! The MQTT session fed arbitrary broker bytes, in arbitrary pieces, after a real CONNECT and
//! CONNACK: never panics, and holds no more than the maximum packet size (the run limits memory
//! with -malloc_limit_mb; a packet announced bigger than the limit is refused from its header).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mqtt_protocol_core::mqtt;
use mqtt_protocol_core::mqtt::prelude::*;
use otalab_mqtt::{Options, Output, QoS, Session};

const NOW: u64 = 1_700_000_000_000;

fn connack() -> Vec<u8> {
    let mut broker = mqtt::Connection::<mqtt::role::Server>::new(mqtt::Version::V3_1_1);
    let connack = mqtt::packet::v3_1_1::Connack::builder()
        .session_present(false)
        .return_code(mqtt::result_code::ConnectReturnCode::Accepted)
        .build()
        .expect("a CONNACK");
    let mut bytes = Vec::new();
    // The server role only sends a CONNACK after it has seen a CONNECT.
    let connect = mqtt::packet::v3_1_1::Connect::builder()
        .client_id("fuzz")
        .expect("client id")
        .build()
        .expect("a CONNECT");
    let mut client = mqtt::Connection::<mqtt::role::Client>::new(mqtt::Version::V3_1_1);
    for event in client.checked_send(connect) {
        if let mqtt::connection::Event::RequestSendPacket { packet, .. } = event {
            let wire = packet.to_continuous_buffer();
            let mut cursor = mqtt::common::Cursor::new(wire.as_slice());
            let _ = broker.recv(&mut cursor);
        }
    }
    for event in broker.checked_send(connack) {
        if let mqtt::connection::Event::RequestSendPacket { packet, .. } = event {
            bytes.extend(packet.to_continuous_buffer());
        }
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    let mut options = Options::new("fuzz");
    options.max_incoming_packet = 4096;
    let mut session = Session::new(options);
    session.start();
    session.opened(NOW);
    let connected = session.received(&connack(), NOW);
    assert!(
        connected
            .iter()
            .any(|o| matches!(o, Output::Connected { .. }))
    );
    let _ = session.subscribe("/ota/device/upgrade/pk/dn", QoS::AtLeastOnce, NOW);
    // The first byte chooses the piece size, so frames arrive split and merged.
    let (step, rest) = data
        .split_first()
        .map_or((1, data), |(s, r)| (usize::from(*s).max(1), r));
    let mut now = NOW;
    for piece in rest.chunks(step) {
        now += 1;
        for output in session.received(piece, now) {
            if let Output::Message(message) = output {
                assert!(message.payload.len() <= 4096);
            }
        }
        let _ = session.tick(now);
    }
    let _ = session.publish("/ota/device/progress/pk/dn", b"{}", QoS::AtLeastOnce, now);
    let _ = session.tick(now + 120_000);
});
