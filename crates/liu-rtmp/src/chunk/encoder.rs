//! Sending side of the chunk stream: [`ChunkEncoder`] for one connection,
//! [`write_type0_message`] for chunks shared by many.

use bytes::{BufMut, BytesMut};

use super::{
    DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE, MAX_MESSAGE_LEN, MESSAGE_HEADER_LEN,
    basic_header_len, put_basic_header, put_u24,
};

/// Send state of one chunk stream: the header the peer last saw.
#[derive(Debug)]
struct OutStream {
    csid: u32,
    timestamp: u32,
    delta: u32,
    /// The last header was type 0, so `delta` is its absolute timestamp.
    delta_is_absolute: bool,
    len: u32,
    type_id: u8,
    stream_id: u32,
    extended: Option<u32>,
}

/// Splits messages into chunks for one connection (§5.3), compressing
/// headers against the previous message on the same chunk stream.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    streams: Vec<OutStream>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    /// An encoder with the initial outgoing chunk size of 128 (§5.4.1).
    pub fn new() -> Self {
        ChunkEncoder {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
        }
    }

    /// Current outgoing chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the outgoing chunk size (clamped to 1..=0x7FFFFFFF). The
    /// caller also sends Set Chunk Size (§5.4.1) before any chunk that uses
    /// the new size.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_CHUNK_SIZE);
    }

    /// Forgets what was last sent on `csid`, so the next message there gets
    /// a type-0 header. Needed after sending [`write_type0_message`] bytes
    /// on a chunk stream this encoder also writes to.
    pub fn reset_csid(&mut self, csid: u32) {
        self.streams.retain(|s| s.csid != csid);
    }

    /// Appends the message as chunks to `out`. The first chunk gets the
    /// smallest header the previous message on `csid` allows (§5.3.1.2), the
    /// rest type 3; extended timestamps are written where needed, type-3
    /// chunks included (§5.3.1.3).
    ///
    /// `csid` must be in 2..=65599 and the payload at most 0xFFFFFF bytes
    /// (the protocol cannot express more; a longer payload is not written).
    pub fn write(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
        out: &mut BytesMut,
    ) {
        self.write_with(csid, timestamp, type_id, stream_id, payload, out, |_| {});
    }

    /// [`write`](Self::write), calling `on_chunk` after each chunk.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_with(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
        out: &mut BytesMut,
        on_chunk: impl FnMut(&BytesMut),
    ) {
        debug_assert!(
            payload.len() <= MAX_MESSAGE_LEN as usize,
            "RTMP message too long"
        );
        if payload.len() > MAX_MESSAGE_LEN as usize {
            return;
        }
        let len = payload.len() as u32;
        let index = self.streams.iter().position(|s| s.csid == csid);
        // §5.3.1.2: type 0 for a new chunk stream, another message stream or
        // a timestamp going backward; type 1 when only the stream id is
        // shared; type 2 when length and type are too; type 3 when even the
        // delta is. Type 3 after type 0 is used only for a zero delta, whose
        // meaning no implementation disputes.
        let fmt = match index.map(|i| &self.streams[i]) {
            Some(p) if p.stream_id == stream_id && timestamp >= p.timestamp => {
                let delta = timestamp - p.timestamp;
                if p.len != len || p.type_id != type_id {
                    1
                } else if delta != p.delta || (p.delta_is_absolute && delta != 0) {
                    2
                } else {
                    3
                }
            }
            _ => 0,
        };
        let st = match index {
            Some(i) => &mut self.streams[i],
            None => {
                self.streams.push(OutStream {
                    csid,
                    timestamp: 0,
                    delta: 0,
                    delta_is_absolute: true,
                    len: 0,
                    type_id: 0,
                    stream_id: 0,
                    extended: None,
                });
                let last = self.streams.len() - 1;
                &mut self.streams[last]
            }
        };
        if fmt != 3 {
            let field = if fmt == 0 {
                timestamp
            } else {
                timestamp - st.timestamp
            };
            st.delta = field;
            st.delta_is_absolute = fmt == 0;
            st.len = len;
            st.type_id = type_id;
            st.stream_id = stream_id;
            st.extended = (field >= EXTENDED_TIMESTAMP).then_some(field);
        }
        st.timestamp = timestamp;
        let (delta, extended) = (st.delta, st.extended);

        let chunk_size = self.chunk_size as usize;
        let basic_len = basic_header_len(csid);
        let ext_len = if extended.is_some() { 4 } else { 0 };
        let chunks = payload.len().div_ceil(chunk_size).max(1);
        out.reserve(MESSAGE_HEADER_LEN[fmt] + payload.len() + chunks * (basic_len + ext_len));

        put_basic_header(out, fmt as u8, csid);
        let field = delta.min(EXTENDED_TIMESTAMP);
        match fmt {
            0 => {
                put_u24(out, field);
                put_u24(out, len);
                out.put_u8(type_id);
                out.put_u32_le(stream_id);
            }
            1 => {
                put_u24(out, field);
                put_u24(out, len);
                out.put_u8(type_id);
            }
            2 => put_u24(out, field),
            _ => {}
        }
        put_chunks(out, csid, extended, payload, chunk_size, on_chunk);
    }
}

/// Writes the extended timestamp, if any, then the payload: the first chunk's
/// data (its header is already in `out`), then type-3 chunks (§5.3.1.2.4)
/// repeating the extended timestamp (§5.3.1.3).
fn put_chunks(
    out: &mut BytesMut,
    csid: u32,
    extended: Option<u32>,
    payload: &[u8],
    chunk_size: usize,
    mut on_chunk: impl FnMut(&BytesMut),
) {
    let (first, rest) = payload.split_at(payload.len().min(chunk_size));
    if let Some(v) = extended {
        out.put_u32(v);
    }
    out.put_slice(first);
    on_chunk(out);
    for data in rest.chunks(chunk_size) {
        put_basic_header(out, 3, csid);
        if let Some(v) = extended {
            out.put_u32(v);
        }
        out.put_slice(data);
        on_chunk(out);
    }
}

/// Appends the message as self-contained chunks: a type-0 header (§5.3.1.2.1)
/// on the first, type 3 on the rest, with extended timestamps as needed
/// (§5.3.1.3). The bytes depend only on the arguments, so a media message
/// serialized once can be sent to every viewer using the same chunk stream,
/// message stream id and chunk size. A [`ChunkEncoder`] that also writes on
/// `csid` must be told with [`ChunkEncoder::reset_csid`].
///
/// `csid` must be in 2..=65599, the payload at most 0xFFFFFF bytes (a
/// longer one is not written) and `chunk_size` is clamped to at least 1.
pub fn write_type0_message(
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
    chunk_size: u32,
    out: &mut BytesMut,
) {
    debug_assert!(
        payload.len() <= MAX_MESSAGE_LEN as usize,
        "RTMP message too long"
    );
    if payload.len() > MAX_MESSAGE_LEN as usize {
        return;
    }
    out.reserve(type0_message_len(
        csid,
        timestamp,
        payload.len(),
        chunk_size,
    ));
    put_basic_header(out, 0, csid);
    put_u24(out, timestamp.min(EXTENDED_TIMESTAMP));
    put_u24(out, payload.len() as u32);
    out.put_u8(type_id);
    out.put_u32_le(stream_id);
    let extended = (timestamp >= EXTENDED_TIMESTAMP).then_some(timestamp);
    put_chunks(
        out,
        csid,
        extended,
        payload,
        chunk_size.max(1) as usize,
        |_| {},
    );
}

/// Exact number of bytes [`write_type0_message`] appends for these
/// arguments.
pub fn type0_message_len(csid: u32, timestamp: u32, payload_len: usize, chunk_size: u32) -> usize {
    if payload_len > MAX_MESSAGE_LEN as usize {
        return 0;
    }
    let ext_len = if timestamp >= EXTENDED_TIMESTAMP {
        4
    } else {
        0
    };
    let chunks = payload_len.div_ceil(chunk_size.max(1) as usize).max(1);
    MESSAGE_HEADER_LEN[0] + payload_len + chunks * (basic_header_len(csid) + ext_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::tests::{decode_all, msg};
    use crate::chunk::{ChunkDecoder, ChunkLimits};

    #[test]
    fn encoder_header_choice() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        let mut fmt_of_next = |enc: &mut ChunkEncoder, ts: u32, ty: u8, sid: u32, len: usize| {
            out.clear();
            enc.write(7, ts, ty, sid, &vec![0; len], &mut out);
            out[0] >> 6
        };
        assert_eq!(fmt_of_next(&mut enc, 0, 8, 1, 10), 0);
        assert_eq!(
            fmt_of_next(&mut enc, 0, 8, 1, 10),
            3,
            "zero delta after type 0"
        );
        assert_eq!(fmt_of_next(&mut enc, 100, 8, 1, 10), 2);
        assert_eq!(fmt_of_next(&mut enc, 200, 8, 1, 10), 3);
        assert_eq!(fmt_of_next(&mut enc, 300, 8, 1, 11), 1);
        assert_eq!(fmt_of_next(&mut enc, 400, 9, 1, 11), 1);
        assert_eq!(fmt_of_next(&mut enc, 500, 9, 1, 11), 3);
        assert_eq!(fmt_of_next(&mut enc, 400, 9, 1, 11), 0, "backward");
        assert_eq!(
            fmt_of_next(&mut enc, 800, 9, 1, 11),
            2,
            "no type 3 after a nonzero type 0"
        );
        assert_eq!(
            fmt_of_next(&mut enc, 900, 9, 2, 11),
            0,
            "other message stream"
        );
        enc.reset_csid(7);
        assert_eq!(fmt_of_next(&mut enc, 900, 9, 2, 11), 0, "after reset");
    }

    #[test]
    fn zero_length_messages() {
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        enc.write(3, 0, 20, 0, b"", &mut out);
        enc.write(3, 0, 20, 0, b"", &mut out);
        enc.write(3, 5, 20, 0, b"", &mut out);
        assert_eq!(out.len(), 12 + 1 + 4);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        assert_eq!(
            decode_all(&mut dec, &out, 1).unwrap(),
            vec![
                msg(3, 0, 20, 0, b""),
                msg(3, 0, 20, 0, b""),
                msg(3, 5, 20, 0, b"")
            ]
        );
    }
}
