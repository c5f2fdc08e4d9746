//! Protocol control messages (RTMP §5.4) and user control messages
//! (RTMP §6.2, events in §7.1.7), plus the message type ids of §5.4 and
//! §7.1.
//!
//! Only payloads are parsed and produced here; they travel as ordinary
//! messages through the chunk layer ([`crate::chunk`]) on chunk stream
//! [`CONTROL_CSID`] and message stream 0.

/// Message type ids (RTMP §5.4, §6.2 and §7.1).
pub mod type_id {
    /// Set Chunk Size (§5.4.1).
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// Abort Message (§5.4.2).
    pub const ABORT: u8 = 2;
    /// Acknowledgement (§5.4.3).
    pub const ACKNOWLEDGEMENT: u8 = 3;
    /// User Control Message (§6.2).
    pub const USER_CONTROL: u8 = 4;
    /// Window Acknowledgement Size (§5.4.4).
    pub const WINDOW_ACK_SIZE: u8 = 5;
    /// Set Peer Bandwidth (§5.4.5).
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    /// Audio message (§7.1.4).
    pub const AUDIO: u8 = 8;
    /// Video message (§7.1.5).
    pub const VIDEO: u8 = 9;
    /// Data message, AMF3 (§7.1.2).
    pub const DATA_AMF3: u8 = 15;
    /// Shared object message, AMF3 (§7.1.3).
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    /// Command message, AMF3 (§7.1.1).
    pub const COMMAND_AMF3: u8 = 17;
    /// Data message, AMF0 (§7.1.2).
    pub const DATA_AMF0: u8 = 18;
    /// Shared object message, AMF0 (§7.1.3).
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    /// Command message, AMF0 (§7.1.1).
    pub const COMMAND_AMF0: u8 = 20;
    /// Aggregate message (§7.1.6).
    pub const AGGREGATE: u8 = 22;
}

/// Control messages go on chunk stream 2, message stream 0 (§5.4).
pub const CONTROL_CSID: u32 = 2;
/// Message stream id of protocol and user control messages (§5.4, §6.2).
pub const CONTROL_STREAM_ID: u32 = 0;

/// Why a control message payload was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{what} payload of {len} bytes is shorter than {need}")]
    Truncated {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("invalid peer bandwidth limit type {0}")]
    BadLimitType(u8),
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    #[error("message type {0} is not a protocol control message")]
    NotControl(u8),
}

/// Limit type of Set Peer Bandwidth (§5.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitType {
    /// 0: limit the output bandwidth to the window size.
    Hard,
    /// 1: limit to the window size or the limit in effect, whichever is smaller.
    Soft,
    /// 2: hard if the previous limit was hard, otherwise ignored.
    Dynamic,
}

impl LimitType {
    /// Wire value (§5.4.5).
    pub fn to_u8(self) -> u8 {
        match self {
            LimitType::Hard => 0,
            LimitType::Soft => 1,
            LimitType::Dynamic => 2,
        }
    }

    /// From the wire value (§5.4.5).
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(LimitType::Hard),
            1 => Some(LimitType::Soft),
            2 => Some(LimitType::Dynamic),
            _ => None,
        }
    }
}

/// A protocol control message (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMessage {
    /// §5.4.1: new maximum chunk size of the sender, 1..=0x7FFFFFFF.
    SetChunkSize(u32),
    /// §5.4.2: discard the partial message on this chunk stream.
    Abort { csid: u32 },
    /// §5.4.3: bytes received so far (wrapping).
    Acknowledgement { sequence: u32 },
    /// §5.4.4: the sender wants an acknowledgement every this many bytes.
    WindowAckSize(u32),
    /// §5.4.5: limit the receiver's output bandwidth.
    SetPeerBandwidth { size: u32, limit: LimitType },
}

/// The first 4 bytes of `payload` as a big-endian u32.
fn be32(what: &'static str, payload: &[u8]) -> Result<u32, ControlError> {
    match payload.first_chunk::<4>() {
        Some(b) => Ok(u32::from_be_bytes(*b)),
        None => Err(ControlError::Truncated {
            what,
            len: payload.len(),
            need: 4,
        }),
    }
}

impl ControlMessage {
    /// Parses the payload of a message of type 1, 2, 3, 5 or 6. Bytes past
    /// the fields are ignored.
    pub fn parse(type_id: u8, payload: &[u8]) -> Result<Self, ControlError> {
        match type_id {
            type_id::SET_CHUNK_SIZE => {
                // §5.4.1: the top bit must be zero, and a chunk holds at
                // least one byte.
                let size = be32("Set Chunk Size", payload)?;
                if size == 0 || size & 0x8000_0000 != 0 {
                    return Err(ControlError::InvalidChunkSize(size));
                }
                Ok(ControlMessage::SetChunkSize(size))
            }
            type_id::ABORT => Ok(ControlMessage::Abort {
                csid: be32("Abort Message", payload)?,
            }),
            type_id::ACKNOWLEDGEMENT => Ok(ControlMessage::Acknowledgement {
                sequence: be32("Acknowledgement", payload)?,
            }),
            type_id::WINDOW_ACK_SIZE => Ok(ControlMessage::WindowAckSize(be32(
                "Window Acknowledgement Size",
                payload,
            )?)),
            type_id::SET_PEER_BANDWIDTH => {
                let Some(b) = payload.first_chunk::<5>() else {
                    return Err(ControlError::Truncated {
                        what: "Set Peer Bandwidth",
                        len: payload.len(),
                        need: 5,
                    });
                };
                let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                let limit = LimitType::from_u8(b[4]).ok_or(ControlError::BadLimitType(b[4]))?;
                Ok(ControlMessage::SetPeerBandwidth { size, limit })
            }
            other => Err(ControlError::NotControl(other)),
        }
    }

    /// Message type id to send it with (§5.4).
    pub fn type_id(&self) -> u8 {
        match self {
            ControlMessage::SetChunkSize(_) => type_id::SET_CHUNK_SIZE,
            ControlMessage::Abort { .. } => type_id::ABORT,
            ControlMessage::Acknowledgement { .. } => type_id::ACKNOWLEDGEMENT,
            ControlMessage::WindowAckSize(_) => type_id::WINDOW_ACK_SIZE,
            ControlMessage::SetPeerBandwidth { .. } => type_id::SET_PEER_BANDWIDTH,
        }
    }

    /// The payload: a big-endian u32, followed by the limit type byte for
    /// Set Peer Bandwidth.
    pub fn encode(&self) -> Vec<u8> {
        let (value, limit) = match *self {
            ControlMessage::SetChunkSize(v)
            | ControlMessage::Abort { csid: v }
            | ControlMessage::Acknowledgement { sequence: v }
            | ControlMessage::WindowAckSize(v) => (v, None),
            ControlMessage::SetPeerBandwidth { size, limit } => (size, Some(limit)),
        };
        let mut out = Vec::with_capacity(5);
        out.extend_from_slice(&value.to_be_bytes());
        if let Some(limit) = limit {
            out.push(limit.to_u8());
        }
        out
    }
}

/// A user control message event (§6.2, event types in §7.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControlEvent {
    /// 0: the stream with this id became functional.
    StreamBegin(u32),
    /// 1: playback of the stream with this id is over.
    StreamEof(u32),
    /// 2: no more data on the stream with this id for now.
    StreamDry(u32),
    /// 3: the client's buffer length for a stream, in milliseconds.
    SetBufferLength { stream_id: u32, buffer_ms: u32 },
    /// 4: the stream with this id is a recorded stream.
    StreamIsRecorded(u32),
    /// 6: the server's ping, carrying its local time.
    PingRequest(u32),
    /// 7: the answer to a ping, echoing its time.
    PingResponse(u32),
    /// Any other event type; its data is skipped.
    Unknown { event_type: u16 },
}

impl UserControlEvent {
    /// Event type on the wire (§7.1.7).
    pub fn event_type(&self) -> u16 {
        match self {
            UserControlEvent::StreamBegin(_) => 0,
            UserControlEvent::StreamEof(_) => 1,
            UserControlEvent::StreamDry(_) => 2,
            UserControlEvent::SetBufferLength { .. } => 3,
            UserControlEvent::StreamIsRecorded(_) => 4,
            UserControlEvent::PingRequest(_) => 6,
            UserControlEvent::PingResponse(_) => 7,
            UserControlEvent::Unknown { event_type } => *event_type,
        }
    }

    /// Parses a user control message payload (§6.2): a 2-byte event type,
    /// then its data. Bytes past the fields are ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, ControlError> {
        let Some((head, data)) = payload.split_first_chunk::<2>() else {
            return Err(ControlError::Truncated {
                what: "User Control",
                len: payload.len(),
                need: 2,
            });
        };
        let event_type = u16::from_be_bytes(*head);
        let word = |what| {
            be32(what, data).map_err(|_| ControlError::Truncated {
                what,
                len: payload.len(),
                need: 6,
            })
        };
        Ok(match event_type {
            0 => UserControlEvent::StreamBegin(word("Stream Begin")?),
            1 => UserControlEvent::StreamEof(word("Stream EOF")?),
            2 => UserControlEvent::StreamDry(word("Stream Dry")?),
            3 => {
                let Some(b) = data.first_chunk::<8>() else {
                    return Err(ControlError::Truncated {
                        what: "Set Buffer Length",
                        len: payload.len(),
                        need: 10,
                    });
                };
                UserControlEvent::SetBufferLength {
                    stream_id: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    buffer_ms: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                }
            }
            4 => UserControlEvent::StreamIsRecorded(word("Stream Is Recorded")?),
            6 => UserControlEvent::PingRequest(word("Ping Request")?),
            7 => UserControlEvent::PingResponse(word("Ping Response")?),
            other => UserControlEvent::Unknown { event_type: other },
        })
    }

    /// The payload (§6.2): event type, then the event data. `Unknown`
    /// encodes as its event type alone.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10);
        out.extend_from_slice(&self.event_type().to_be_bytes());
        match *self {
            UserControlEvent::StreamBegin(v)
            | UserControlEvent::StreamEof(v)
            | UserControlEvent::StreamDry(v)
            | UserControlEvent::StreamIsRecorded(v)
            | UserControlEvent::PingRequest(v)
            | UserControlEvent::PingResponse(v) => out.extend_from_slice(&v.to_be_bytes()),
            UserControlEvent::SetBufferLength {
                stream_id,
                buffer_ms,
            } => {
                out.extend_from_slice(&stream_id.to_be_bytes());
                out.extend_from_slice(&buffer_ms.to_be_bytes());
            }
            UserControlEvent::Unknown { .. } => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        assert_eq!(ControlMessage::SetChunkSize(4096).encode(), [0, 0, 0x10, 0]);
        assert_eq!(
            ControlMessage::WindowAckSize(2_500_000).encode(),
            [0x00, 0x26, 0x25, 0xA0]
        );
        assert_eq!(
            ControlMessage::SetPeerBandwidth {
                size: 2_500_000,
                limit: LimitType::Dynamic
            }
            .encode(),
            [0x00, 0x26, 0x25, 0xA0, 0x02]
        );
        assert_eq!(ControlMessage::Abort { csid: 4 }.encode(), [0, 0, 0, 4]);
        assert_eq!(
            ControlMessage::Acknowledgement {
                sequence: 0x0102_0304
            }
            .encode(),
            [1, 2, 3, 4]
        );
        assert_eq!(
            ControlMessage::parse(1, &[0, 0, 0x10, 0]),
            Ok(ControlMessage::SetChunkSize(4096))
        );
        assert_eq!(
            ControlMessage::parse(6, &[0, 0, 0x10, 0, 0]),
            Ok(ControlMessage::SetPeerBandwidth {
                size: 4096,
                limit: LimitType::Hard
            })
        );
        assert_eq!(
            ControlMessage::parse(6, &[0, 0, 0x10, 0, 1]),
            Ok(ControlMessage::SetPeerBandwidth {
                size: 4096,
                limit: LimitType::Soft
            })
        );

        assert_eq!(
            UserControlEvent::StreamBegin(1).encode(),
            [0, 0, 0, 0, 0, 1]
        );
        assert_eq!(UserControlEvent::StreamEof(1).encode(), [0, 1, 0, 0, 0, 1]);
        assert_eq!(UserControlEvent::StreamDry(1).encode(), [0, 2, 0, 0, 0, 1]);
        assert_eq!(
            UserControlEvent::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000
            }
            .encode(),
            [0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8]
        );
        assert_eq!(
            UserControlEvent::StreamIsRecorded(1).encode(),
            [0, 4, 0, 0, 0, 1]
        );
        assert_eq!(
            UserControlEvent::PingRequest(0x1234_5678).encode(),
            [0, 6, 0x12, 0x34, 0x56, 0x78]
        );
        assert_eq!(
            UserControlEvent::PingResponse(0x1234_5678).encode(),
            [0, 7, 0x12, 0x34, 0x56, 0x78]
        );
        assert_eq!(
            UserControlEvent::parse(&[0, 7, 0x12, 0x34, 0x56, 0x78]),
            Ok(UserControlEvent::PingResponse(0x1234_5678))
        );
        assert_eq!(
            UserControlEvent::parse(&[0, 31, 0, 0, 0, 1]),
            Ok(UserControlEvent::Unknown { event_type: 31 })
        );
        assert_eq!(
            UserControlEvent::parse(&[0, 26]),
            Ok(UserControlEvent::Unknown { event_type: 26 })
        );
    }

    #[test]
    fn rejects_bad_payloads() {
        assert_eq!(
            ControlMessage::parse(1, &[0, 0, 0, 0]),
            Err(ControlError::InvalidChunkSize(0))
        );
        assert_eq!(
            ControlMessage::parse(1, &[0x80, 0, 0, 1]),
            Err(ControlError::InvalidChunkSize(0x8000_0001))
        );
        assert_eq!(
            ControlMessage::parse(1, &[0x7F, 0xFF, 0xFF, 0xFF]),
            Ok(ControlMessage::SetChunkSize(0x7FFF_FFFF))
        );
        assert!(matches!(
            ControlMessage::parse(1, &[0, 0, 1]),
            Err(ControlError::Truncated {
                len: 3,
                need: 4,
                ..
            })
        ));
        assert!(matches!(
            ControlMessage::parse(2, &[]),
            Err(ControlError::Truncated { .. })
        ));
        assert!(matches!(
            ControlMessage::parse(3, &[1]),
            Err(ControlError::Truncated { .. })
        ));
        assert!(matches!(
            ControlMessage::parse(5, &[1, 2]),
            Err(ControlError::Truncated { .. })
        ));
        assert!(matches!(
            ControlMessage::parse(6, &[0, 0, 0, 1]),
            Err(ControlError::Truncated { need: 5, .. })
        ));
        assert_eq!(
            ControlMessage::parse(6, &[0, 0, 0, 1, 3]),
            Err(ControlError::BadLimitType(3))
        );
        assert_eq!(
            ControlMessage::parse(4, &[0, 0, 0, 0, 0, 1]),
            Err(ControlError::NotControl(4))
        );
        assert_eq!(
            ControlMessage::parse(20, &[]),
            Err(ControlError::NotControl(20))
        );

        assert!(matches!(
            UserControlEvent::parse(&[]),
            Err(ControlError::Truncated { .. })
        ));
        assert!(matches!(
            UserControlEvent::parse(&[0]),
            Err(ControlError::Truncated { .. })
        ));
        assert!(matches!(
            UserControlEvent::parse(&[0, 6, 1, 2, 3]),
            Err(ControlError::Truncated { need: 6, .. })
        ));
        assert!(matches!(
            UserControlEvent::parse(&[0, 3, 0, 0, 0, 1, 0, 0, 1]),
            Err(ControlError::Truncated { need: 10, .. })
        ));
    }

    fn control_message() -> impl Strategy<Value = ControlMessage> {
        let limit = prop_oneof![
            Just(LimitType::Hard),
            Just(LimitType::Soft),
            Just(LimitType::Dynamic)
        ];
        prop_oneof![
            (1u32..=0x7FFF_FFFF).prop_map(ControlMessage::SetChunkSize),
            any::<u32>().prop_map(|csid| ControlMessage::Abort { csid }),
            any::<u32>().prop_map(|sequence| ControlMessage::Acknowledgement { sequence }),
            any::<u32>().prop_map(ControlMessage::WindowAckSize),
            (any::<u32>(), limit)
                .prop_map(|(size, limit)| ControlMessage::SetPeerBandwidth { size, limit }),
        ]
    }

    fn user_control_event() -> impl Strategy<Value = UserControlEvent> {
        prop_oneof![
            any::<u32>().prop_map(UserControlEvent::StreamBegin),
            any::<u32>().prop_map(UserControlEvent::StreamEof),
            any::<u32>().prop_map(UserControlEvent::StreamDry),
            (any::<u32>(), any::<u32>()).prop_map(|(stream_id, buffer_ms)| {
                UserControlEvent::SetBufferLength {
                    stream_id,
                    buffer_ms,
                }
            }),
            any::<u32>().prop_map(UserControlEvent::StreamIsRecorded),
            any::<u32>().prop_map(UserControlEvent::PingRequest),
            any::<u32>().prop_map(UserControlEvent::PingResponse),
            (8u16..).prop_map(|event_type| UserControlEvent::Unknown { event_type }),
            Just(UserControlEvent::Unknown { event_type: 5 }),
        ]
    }

    proptest! {
        #[test]
        fn control_round_trip(msg in control_message()) {
            let bytes = msg.encode();
            prop_assert_eq!(bytes.len(), if msg.type_id() == type_id::SET_PEER_BANDWIDTH { 5 } else { 4 });
            prop_assert_eq!(ControlMessage::parse(msg.type_id(), &bytes), Ok(msg));
        }

        #[test]
        fn user_control_round_trip(event in user_control_event()) {
            let bytes = event.encode();
            prop_assert_eq!(UserControlEvent::parse(&bytes), Ok(event));
        }

        #[test]
        fn arbitrary_payloads_do_not_panic(type_id in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(msg) = ControlMessage::parse(type_id, &payload) {
                prop_assert_eq!(msg.type_id(), type_id);
                prop_assert_eq!(&msg.encode()[..], &payload[..msg.encode().len()]);
            }
            if let Ok(event) = UserControlEvent::parse(&payload) {
                prop_assert_eq!(&event.encode()[..], &payload[..event.encode().len()]);
            }
        }
    }
}
