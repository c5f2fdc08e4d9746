//! Media messages: the chunk streams Liu sends them on, their shared
//! serialization for fan-out, and aggregate messages (RTMP §7.1.6).

use bytes::{Bytes, BytesMut};

use crate::chunk::{type0_message_len, write_type0_message};
use crate::control::type_id;

/// Chunk stream for commands and status answers sent by Liu.
pub const COMMAND_CSID: u32 = 3;
/// Chunk stream for audio messages sent by Liu.
pub const AUDIO_CSID: u32 = 4;
/// Chunk stream for data messages (`onMetaData`) sent by Liu.
pub const DATA_CSID: u32 = 5;
/// Chunk stream for video messages sent by Liu.
pub const VIDEO_CSID: u32 = 6;

/// The kind of a media message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    /// An AMF0 data message such as `onMetaData`.
    Data,
}

impl MediaKind {
    pub fn type_id(self) -> u8 {
        match self {
            MediaKind::Audio => type_id::AUDIO,
            MediaKind::Video => type_id::VIDEO,
            MediaKind::Data => type_id::DATA_AMF0,
        }
    }

    pub fn csid(self) -> u32 {
        match self {
            MediaKind::Audio => AUDIO_CSID,
            MediaKind::Video => VIDEO_CSID,
            MediaKind::Data => DATA_CSID,
        }
    }
}

/// Serializes a media message as self-contained chunks (a type-0 header,
/// then type-3 continuations), so one buffer can be written unchanged to
/// every viewer that uses the same message stream id and chunk size.
pub fn serialize_media(
    kind: MediaKind,
    timestamp: u32,
    stream_id: u32,
    payload: &[u8],
    chunk_size: u32,
) -> Bytes {
    let len = type0_message_len(kind.csid(), timestamp, payload.len(), chunk_size);
    let mut out = BytesMut::with_capacity(len);
    write_type0_message(
        kind.csid(),
        timestamp,
        kind.type_id(),
        stream_id,
        payload,
        chunk_size,
        &mut out,
    );
    out.freeze()
}

/// One message inside an aggregate message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubMessage {
    pub type_id: u8,
    pub timestamp: u32,
    pub payload: Bytes,
}

/// Splits an aggregate message (RTMP §7.1.6) into its sub-messages.
///
/// Each sub-message is an FLV-style tag (11-byte header, body, 4-byte back
/// pointer). Sub-message timestamps are rebased so the first one equals the
/// aggregate's own timestamp. A truncated tail ends the list.
pub fn split_aggregate(timestamp: u32, payload: &Bytes) -> Vec<SubMessage> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut first_ts: Option<u32> = None;
    while payload.len() - pos >= 11 {
        let h = &payload[pos..pos + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body_start = pos + 11;
        let Some(body_end) = body_start.checked_add(size) else {
            break;
        };
        if body_end > payload.len() {
            break;
        }
        let base = *first_ts.get_or_insert(ts);
        out.push(SubMessage {
            type_id: h[0],
            timestamp: timestamp.wrapping_add(ts.wrapping_sub(base)),
            payload: payload.slice(body_start..body_end),
        });
        pos = body_end.saturating_add(4).min(payload.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(type_id: u8, ts: u32, body: &[u8]) -> Vec<u8> {
        let mut v = vec![type_id];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(&ts.to_be_bytes()[1..]);
        v.push((ts >> 24) as u8);
        v.extend_from_slice(&[0, 0, 0]);
        v.extend_from_slice(body);
        v.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        v
    }

    #[test]
    fn aggregate_split_rebases_timestamps() {
        let mut agg = tag(9, 1000, b"abc");
        agg.extend(tag(8, 1020, b"de"));
        agg.extend_from_slice(&[9, 0, 0]); // truncated tail
        let subs = split_aggregate(50, &Bytes::from(agg));
        assert_eq!(subs.len(), 2);
        assert_eq!(
            (subs[0].type_id, subs[0].timestamp, &subs[0].payload[..]),
            (9, 50, &b"abc"[..])
        );
        assert_eq!(
            (subs[1].type_id, subs[1].timestamp, &subs[1].payload[..]),
            (8, 70, &b"de"[..])
        );
    }

    #[test]
    fn aggregate_with_huge_size_is_ignored() {
        let mut agg = tag(9, 0, b"x");
        agg[1] = 0xFF;
        agg[2] = 0xFF;
        agg[3] = 0xFF;
        assert!(split_aggregate(0, &Bytes::from(agg)).is_empty());
    }
}
