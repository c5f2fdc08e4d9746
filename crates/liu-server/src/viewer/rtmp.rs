//! RTMP viewers' form: each frame as one RTMP message (RTMP §6.1, §7.1.5),
//! chunked once per frame on message stream 1 and shared. A viewer on
//! another message stream, or on a timeline of its own, gets a patched copy
//! of the first chunk's type-0 header (RTMP §5.3.1.2.1: timestamp, message
//! stream id), the rest shared. Viewers on their own timeline share a form
//! chunked at time 0, so no chunk carries an extended timestamp to patch
//! (§5.3.1.3) until a viewer has played for 2^24 ms (4.6 hours): from then
//! on it gets messages of its own.

use bytes::Bytes;
use liu_rtmp::media::{MediaKind, serialize_media};

use super::form::FlvForm;
use crate::hub::{DirectBytes, FormSlot, Frame, FrameKind};

/// The shared RTMP chunk form of a frame (message stream 1, the configured chunk size).
pub const RTMP_FORM: FormSlot = FormSlot(0);
/// The same at timestamp 0, for viewers on their own timeline.
pub const RTMP_ZERO_FORM: FormSlot = FormSlot(2);
/// The largest timestamp a type-0 header holds without the extended field.
const MAX_SHORT_TIMESTAMP: u32 = 0x00ff_fffe;
/// Message stream id of the shared chunked form.
const SHARED_STREAM_ID: u32 = 1;
/// A one-byte basic header (csid < 64) and an 11-byte type-0 message header.
const TYPE0_HEADER_LEN: usize = 12;
/// Where the big-endian 24-bit timestamp sits in that header.
const TIMESTAMP_OFFSET: usize = 1;
/// Where the little-endian message stream id sits in that header.
const MSID_OFFSET: usize = 8;

/// One RTMP viewer's messages.
#[derive(Debug, Clone, Copy)]
pub struct RtmpMessages {
    /// The message stream the viewer plays on.
    pub stream_id: u32,
    /// The chunk size of the shared form (`[rtmp] chunk_size`).
    pub chunk_size: u32,
    /// The chunk size this connection sends with; another than the shared
    /// one means messages of its own.
    pub out_chunk_size: u32,
}

impl RtmpMessages {
    /// True when this viewer takes the shared chunked form.
    pub fn shares(&self) -> bool {
        self.out_chunk_size == self.chunk_size
    }
}

impl FlvForm for RtmpMessages {
    const FILE: bool = false;

    fn frame(&mut self, frame: &Frame, timestamp: u32, out: &mut DirectBytes) {
        let own_time = timestamp != frame.wire_timestamp();
        if !self.shares() || (own_time && timestamp > MAX_SHORT_TIMESTAMP) {
            let chunk_size = self.out_chunk_size;
            out.shared(rtmp_message(frame, timestamp, self.stream_id, chunk_size));
            return;
        }
        let chunk_size = self.chunk_size;
        let form = if own_time {
            frame.form(RTMP_ZERO_FORM, |f| {
                rtmp_message(f, 0, SHARED_STREAM_ID, chunk_size)
            })
        } else {
            frame.form(RTMP_FORM, |f| {
                rtmp_message(f, f.wire_timestamp(), SHARED_STREAM_ID, chunk_size)
            })
        };
        if form.len() < TYPE0_HEADER_LEN {
            // Too long for an RTMP message (24-bit length): not sent.
            return;
        }
        if !own_time && self.stream_id == SHARED_STREAM_ID {
            out.shared(form);
            return;
        }
        // Only the first chunk's header has the timestamp and names the
        // message stream.
        let mut head = [0u8; TYPE0_HEADER_LEN];
        head.copy_from_slice(&form[..TYPE0_HEADER_LEN]);
        if own_time {
            head[TIMESTAMP_OFFSET..TIMESTAMP_OFFSET + 3]
                .copy_from_slice(&timestamp.to_be_bytes()[1..]);
        }
        head[MSID_OFFSET..].copy_from_slice(&self.stream_id.to_le_bytes());
        out.copy(&head);
        out.shared(form.slice(TYPE0_HEADER_LEN..));
    }
}

/// A frame as one chunked RTMP message at `timestamp`.
pub fn rtmp_message(frame: &Frame, timestamp: u32, stream_id: u32, chunk_size: u32) -> Bytes {
    let kind = match frame.kind {
        FrameKind::Audio => MediaKind::Audio,
        FrameKind::Video => MediaKind::Video,
        FrameKind::Data => MediaKind::Data,
    };
    serialize_media(kind, timestamp, stream_id, &frame.payload, chunk_size)
}
