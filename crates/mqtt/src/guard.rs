//! A light walk over the incoming byte stream, packet by packet, that refuses what the codec
//! underneath would panic on instead of reporting an error.
//!
//! mqtt-protocol-core 0.7.9 unwraps the packet identifier of an incoming PUBLISH at QoS 1 or 2
//! when it answers it, and a packet identifier of 0 (invalid in MQTT) makes that unwrap panic.
//! Found by `scripts/fuzz` (target `mqtt_session`); pinned by
//! `crates/mqtt/tests/session.rs::a_publish_with_packet_id_0_closes_the_link_instead_of_panicking`.
//! The guard reads only fixed headers and, for such PUBLISHes, the two bytes of the identifier;
//! the codec still does all the real parsing.

/// Where the walk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Reading a fixed header: its first byte (if read), the remaining length so far, and how
    /// many length bytes were read.
    Header {
        first: Option<u8>,
        length: u32,
        length_bytes: u8,
    },
    /// Inside a packet body: `seen` of `length` bytes, and (for a PUBLISH at QoS 1 or 2) what is
    /// known of where its packet identifier sits.
    Body {
        length: u32,
        seen: u32,
        publish: Option<IdScan>,
    },
}

/// The scan for a PUBLISH packet identifier: topic length bytes, then the two id bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct IdScan {
    topic_length: [u8; 2],
    id: [u8; 2],
}

/// Walks incoming bytes; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct IncomingGuard {
    step: Step,
}

impl Default for IncomingGuard {
    fn default() -> Self {
        Self {
            step: Step::Header {
                first: None,
                length: 0,
                length_bytes: 0,
            },
        }
    }
}

impl IncomingGuard {
    /// Checks the next bytes of the stream; an error names what the codec must not see.
    pub(crate) fn check(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while !bytes.is_empty() {
            match &mut self.step {
                Step::Header {
                    first,
                    length,
                    length_bytes,
                } => {
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    let Some(kind) = *first else {
                        *first = Some(byte);
                        continue;
                    };
                    if *length_bytes >= 4 {
                        // A malformed length: the codec reports it; stop walking.
                        self.step = Step::Body {
                            length: u32::MAX,
                            seen: 0,
                            publish: None,
                        };
                        continue;
                    }
                    *length |= u32::from(byte & 0x7f) << (7 * u32::from(*length_bytes));
                    *length_bytes += 1;
                    if byte & 0x80 == 0 {
                        let qos = (kind >> 1) & 0b11;
                        let publish = (kind >> 4 == 3 && qos > 0).then(IdScan::default);
                        self.step = Step::Body {
                            length: *length,
                            seen: 0,
                            publish,
                        };
                        self.end_of_packet_if_done();
                    }
                }
                Step::Body {
                    length,
                    seen,
                    publish,
                } => {
                    let Some(scan) = publish else {
                        let take = (*length - *seen).min(bytes.len() as u32);
                        *seen += take;
                        bytes = &bytes[take as usize..];
                        self.end_of_packet_if_done();
                        continue;
                    };
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    let topic_length = u32::from(u16::from_be_bytes(scan.topic_length));
                    match *seen {
                        0 | 1 => scan.topic_length[*seen as usize] = byte,
                        at if at == 2 + topic_length => scan.id[0] = byte,
                        at if at == 3 + topic_length => {
                            scan.id[1] = byte;
                            if scan.id == [0, 0] {
                                return Err("PUBLISH at QoS 1 or 2 with packet identifier 0".into());
                            }
                            *publish = None;
                        }
                        _ => {}
                    }
                    *seen += 1;
                    self.end_of_packet_if_done();
                }
            }
        }
        Ok(())
    }

    fn end_of_packet_if_done(&mut self) {
        if let Step::Body { length, seen, .. } = self.step
            && seen >= length
        {
            *self = Self::default();
        }
    }
}
