//! The RTMP chunk stream (RTMP §5.3): splitting messages into chunks and
//! putting them back together.
//!
//! A chunk is a basic header (§5.3.1.1: format and chunk stream id), a
//! message header of 11, 7, 3 or 0 bytes (§5.3.1.2, formats 0 to 3), an
//! optional extended timestamp (§5.3.1.3) and at most one chunk size of
//! payload. Headers are compressed against the previous message on the same
//! chunk stream, so both ends keep per-chunk-stream state.
//!
//! [`ChunkDecoder`] turns received bytes into [`RawMessage`]s, [`ChunkEncoder`]
//! does the reverse for one connection, and [`write_type0_message`] produces
//! self-contained chunks that can be shared by many connections.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Chunk size both directions use until a Set Chunk Size message (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size a Set Chunk Size message can announce (§5.4.1).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Largest message the 24-bit message length field can describe (§5.3.1.2.1).
pub const MAX_MESSAGE_LEN: u32 = 0x00FF_FFFF;
/// Lowest chunk stream id; 0 and 1 select the longer basic headers (§5.3.1.1).
pub const MIN_CSID: u32 = 2;
/// Highest chunk stream id, reachable with the 3-byte basic header (§5.3.1.1).
pub const MAX_CSID: u32 = 65_599;

/// Timestamp field value that announces an extended timestamp (§5.3.1.3).
const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;
/// Most bytes reserved for a message before its data has arrived.
const MAX_PREALLOC: u32 = 64 * 1024;

/// Why the chunk stream from the peer was rejected. Every error is fatal for
/// the connection: the decoder state is no longer in step with the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("message of {len} bytes exceeds the limit of {limit}")]
    MessageTooLarge { len: u32, limit: u32 },
    #[error("chunk stream {csid} continues a message header that was never sent")]
    MissingHeader { csid: u32 },
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    #[error("chunk size {size} exceeds the limit of {limit}")]
    ChunkSizeOverLimit { size: u32, limit: u32 },
    #[error("too many chunk streams (limit {limit})")]
    TooManyChunkStreams { limit: usize },
    #[error("partial messages hold more than {limit} bytes")]
    TooMuchBuffered { limit: usize },
}

/// Resource limits applied to a peer's chunk stream.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    /// Longest message accepted, checked as soon as its header arrives.
    /// The default, 16 MiB, admits every length the 24-bit field can carry.
    pub max_message_len: u32,
    /// Most chunk streams tracked at once (the id space has 65 598 of them).
    pub max_chunk_streams: usize,
    /// Largest chunk size the peer may set. The default accepts any valid
    /// size: buffered memory is bounded by `max_message_len` anyway.
    pub max_chunk_size: u32,
    /// Most bytes held in partial messages across all chunk streams, so
    /// interleaved large messages cannot multiply `max_message_len`.
    pub max_buffered_bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_message_len: 16 * 1024 * 1024,
            max_chunk_streams: 64,
            max_chunk_size: MAX_CHUNK_SIZE,
            max_buffered_bytes: 32 * 1024 * 1024,
        }
    }
}

/// A complete message from the chunk stream (§5.1 and §5.3.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// Absolute timestamp in milliseconds, wrapping at 2^32 (§5.3.1.2).
    pub timestamp: u32,
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    pub payload: Bytes,
}

/// Parses a basic header (§5.3.1.1): format, chunk stream id and header
/// length, or `None` when not all of it has arrived.
fn parse_basic_header(b: &[u8]) -> Option<(u8, u32, usize)> {
    let first = *b.first()?;
    let fmt = first >> 6;
    match first & 0x3F {
        0 => Some((fmt, 64 + u32::from(*b.get(1)?), 2)),
        1 => {
            let low = u32::from(*b.get(1)?);
            let high = u32::from(*b.get(2)?);
            Some((fmt, 64 + low + (high << 8), 3))
        }
        id => Some((fmt, u32::from(id), 1)),
    }
}

/// Length of the basic header for `csid` (§5.3.1.1).
fn basic_header_len(csid: u32) -> usize {
    match csid {
        0..=63 => 1,
        64..=319 => 2,
        _ => 3,
    }
}

/// Writes a basic header (§5.3.1.1) with the shortest form for `csid`.
fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    debug_assert!(
        (MIN_CSID..=MAX_CSID).contains(&csid),
        "invalid chunk stream id {csid}"
    );
    let fmt = fmt << 6;
    match csid {
        0..=63 => out.put_u8(fmt | csid as u8),
        64..=319 => out.put_slice(&[fmt, (csid - 64) as u8]),
        _ => {
            let id = csid.wrapping_sub(64);
            out.put_slice(&[fmt | 1, id as u8, (id >> 8) as u8]);
        }
    }
}

fn be24(b: [u8; 3]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

/// Bytes of message header for each chunk format (§5.3.1.2).
const MESSAGE_HEADER_LEN: [usize; 4] = [11, 7, 3, 0];

/// Receive state of one chunk stream.
#[derive(Debug)]
struct InStream {
    csid: u32,
    /// Absolute timestamp of the current (or last) message.
    timestamp: u32,
    /// Delta a type-3 chunk starting a new message adds (§5.3.1.2.4): the
    /// last type 1/2 delta, or the timestamp of a type-0 header.
    delta: u32,
    len: u32,
    type_id: u8,
    stream_id: u32,
    /// Value of the extended timestamp of the last type 0/1/2 header, if it
    /// had one; type-3 chunks then carry it too (§5.3.1.3).
    extended: Option<u32>,
    /// Payload received so far of a message spanning several chunks.
    partial: BytesMut,
    received: u32,
    in_progress: bool,
}

/// Reassembles messages from the peer's chunk stream (§5.3).
///
/// Sans-IO: append received bytes to a buffer and call [`decode`] until it
/// returns `None`.
///
/// [`decode`]: ChunkDecoder::decode
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: ChunkLimits,
    chunk_size: u32,
    streams: Vec<InStream>,
}

/// What the header of the chunk at the front of the buffer says.
struct ChunkHead {
    header_len: usize,
    /// `None` for a type-3 chunk continuing a message in progress.
    new_message: Option<NewMessage>,
}

struct NewMessage {
    timestamp: u32,
    delta: u32,
    len: u32,
    type_id: u8,
    stream_id: u32,
    /// `Some(extended)` for a type 0/1/2 header, `None` for type 3 (which
    /// keeps the previous header's state).
    extended: Option<Option<u32>>,
}

impl ChunkDecoder {
    /// A decoder for a new connection; the incoming chunk size starts at 128
    /// (§5.4.1).
    pub fn new(limits: ChunkLimits) -> Self {
        ChunkDecoder {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
        }
    }

    /// Current incoming chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Applies a Set Chunk Size from the peer (§5.4.1): 1 to 0x7FFFFFFF, and
    /// not above `limits.max_chunk_size`.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::InvalidChunkSize(size));
        }
        if size > self.limits.max_chunk_size {
            return Err(ChunkError::ChunkSizeOverLimit {
                size,
                limit: self.limits.max_chunk_size,
            });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Abort Message (§5.4.2): drops the partial message on chunk stream
    /// `csid`, keeping its header state for the chunks that follow.
    pub fn abort(&mut self, csid: u32) {
        if let Some(st) = self.streams.iter_mut().find(|s| s.csid == csid) {
            st.partial = BytesMut::new();
            st.received = 0;
            st.in_progress = false;
        }
    }

    /// Decodes the complete chunks at the front of `buf`, consuming them,
    /// until a message is complete; returns it, or `None` when more bytes are
    /// needed. A chunk is consumed only once all of it has arrived. Call
    /// again until `None`, applying Set Chunk Size messages in between.
    ///
    /// A message that arrives in a single chunk is split off `buf` without
    /// copying.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            let Some((fmt, csid, basic_len)) = parse_basic_header(buf) else {
                return Ok(None);
            };
            let index = self.streams.iter().position(|s| s.csid == csid);
            let Some(head) = self.parse_head(buf, fmt, csid, basic_len, index)? else {
                return Ok(None);
            };

            let (message_len, remaining) = match (&head.new_message, index) {
                (Some(m), _) => (m.len, m.len),
                (None, Some(i)) => {
                    let st = &self.streams[i];
                    (st.len, st.len - st.received)
                }
                // parse_head yields a continuation only for a known stream.
                (None, None) => return Err(ChunkError::MissingHeader { csid }),
            };
            let data_len = remaining.min(self.chunk_size) as usize;
            if buf.len() - head.header_len < data_len {
                return Ok(None);
            }

            // The whole chunk is here: commit.
            let i = match index {
                Some(i) => i,
                None => {
                    self.streams.push(InStream {
                        csid,
                        timestamp: 0,
                        delta: 0,
                        len: 0,
                        type_id: 0,
                        stream_id: 0,
                        extended: None,
                        partial: BytesMut::new(),
                        received: 0,
                        in_progress: false,
                    });
                    self.streams.len() - 1
                }
            };
            let st = &mut self.streams[i];
            buf.advance(head.header_len);
            if let Some(m) = head.new_message {
                st.timestamp = m.timestamp;
                st.delta = m.delta;
                st.len = m.len;
                st.type_id = m.type_id;
                st.stream_id = m.stream_id;
                if let Some(extended) = m.extended {
                    st.extended = extended;
                }
                // A new header in the middle of a message abandons it.
                st.partial.clear();
                st.received = 0;
                st.in_progress = false;
                if data_len == message_len as usize {
                    return Ok(Some(RawMessage {
                        csid,
                        timestamp: st.timestamp,
                        type_id: st.type_id,
                        stream_id: st.stream_id,
                        payload: buf.split_to(data_len).freeze(),
                    }));
                }
                st.partial.reserve(message_len.min(MAX_PREALLOC) as usize);
                st.in_progress = true;
            }
            let buffered: usize = self.streams.iter().map(|s| s.partial.len()).sum();
            if buffered + data_len > self.limits.max_buffered_bytes {
                return Err(ChunkError::TooMuchBuffered { limit: self.limits.max_buffered_bytes });
            }
            let st = &mut self.streams[i];
            st.partial.extend_from_slice(&buf[..data_len]);
            buf.advance(data_len);
            st.received += data_len as u32;
            if st.received == st.len {
                st.received = 0;
                st.in_progress = false;
                return Ok(Some(RawMessage {
                    csid,
                    timestamp: st.timestamp,
                    type_id: st.type_id,
                    stream_id: st.stream_id,
                    payload: std::mem::take(&mut st.partial).freeze(),
                }));
            }
        }
    }

    /// Reads the message header and extended timestamp of the chunk at the
    /// front of `buf` without consuming anything; `None` when incomplete.
    fn parse_head(
        &self,
        buf: &[u8],
        fmt: u8,
        csid: u32,
        basic_len: usize,
        index: Option<usize>,
    ) -> Result<Option<ChunkHead>, ChunkError> {
        let prev = index.map(|i| &self.streams[i]);
        let rest = &buf[basic_len..];
        if prev.is_none() {
            if fmt != 0 {
                return Err(ChunkError::MissingHeader { csid });
            }
            if self.streams.len() >= self.limits.max_chunk_streams {
                return Err(ChunkError::TooManyChunkStreams {
                    limit: self.limits.max_chunk_streams,
                });
            }
        }

        if let (3, Some(prev)) = (fmt, prev) {
            let mut header_len = basic_len;
            if let Some(extended) = prev.extended {
                // §5.3.1.3: present on type-3 chunks after a header that had
                // one. Some encoders leave it out; take the 4 bytes only when
                // they repeat the value.
                let Some(v) = rest.first_chunk::<4>() else {
                    return Ok(None);
                };
                if u32::from_be_bytes(*v) == extended {
                    header_len += 4;
                }
            }
            let new_message = (!prev.in_progress).then(|| NewMessage {
                // §5.3.1.2.4: a new message reuses the whole previous header,
                // timestamp delta included.
                timestamp: prev.timestamp.wrapping_add(prev.delta),
                delta: prev.delta,
                len: prev.len,
                type_id: prev.type_id,
                stream_id: prev.stream_id,
                extended: None,
            });
            return Ok(Some(ChunkHead {
                header_len,
                new_message,
            }));
        }

        let header_len = basic_len + MESSAGE_HEADER_LEN[usize::from(fmt)];
        let (field, len, type_id, stream_id) = match (fmt, prev) {
            (1, Some(prev)) => {
                let Some(h) = rest.first_chunk::<7>() else {
                    return Ok(None);
                };
                (
                    be24([h[0], h[1], h[2]]),
                    be24([h[3], h[4], h[5]]),
                    h[6],
                    prev.stream_id,
                )
            }
            (2, Some(prev)) => {
                let Some(h) = rest.first_chunk::<3>() else {
                    return Ok(None);
                };
                (be24(*h), prev.len, prev.type_id, prev.stream_id)
            }
            _ => {
                let Some(h) = rest.first_chunk::<11>() else {
                    return Ok(None);
                };
                let stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
                (
                    be24([h[0], h[1], h[2]]),
                    be24([h[3], h[4], h[5]]),
                    h[6],
                    stream_id,
                )
            }
        };
        if len > self.limits.max_message_len {
            return Err(ChunkError::MessageTooLarge {
                len,
                limit: self.limits.max_message_len,
            });
        }
        let (field, header_len, extended) = if field == EXTENDED_TIMESTAMP {
            let Some(v) = buf[header_len..].first_chunk::<4>() else {
                return Ok(None);
            };
            let v = u32::from_be_bytes(*v);
            (v, header_len + 4, Some(v))
        } else {
            (field, header_len, None)
        };
        // §5.3.1.2.1: type 0 carries the absolute timestamp, which a
        // following type-3 header reuses as its delta; types 1 and 2 carry a
        // delta (§5.3.1.2.2, §5.3.1.2.3).
        let timestamp = match prev {
            Some(prev) if fmt != 0 => prev.timestamp.wrapping_add(field),
            _ => field,
        };
        Ok(Some(ChunkHead {
            header_len,
            new_message: Some(NewMessage {
                timestamp,
                delta: field,
                len,
                type_id,
                stream_id,
                extended: Some(extended),
            }),
        }))
    }
}

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
    fn write_with(
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
    use crate::control::{CONTROL_CSID, ControlMessage, type_id};
    use proptest::prelude::*;

    fn msg(csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) -> RawMessage {
        RawMessage {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    /// Decodes everything in `bytes`, fed `step` bytes at a time, applying
    /// Set Chunk Size messages.
    fn decode_all(
        dec: &mut ChunkDecoder,
        bytes: &[u8],
        step: usize,
    ) -> Result<Vec<RawMessage>, ChunkError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(m) = dec.decode(&mut buf)? {
                if m.csid == CONTROL_CSID && m.type_id == type_id::SET_CHUNK_SIZE {
                    let Ok(ControlMessage::SetChunkSize(size)) =
                        ControlMessage::parse(m.type_id, &m.payload)
                    else {
                        panic!("bad Set Chunk Size in test stream");
                    };
                    dec.set_chunk_size(size)?;
                }
                out.push(m);
            }
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        Ok(out)
    }

    /// §5.3.2.1: four audio messages of 32 bytes on chunk stream 3 become a
    /// type-0, a type-2 and two type-3 chunks.
    #[test]
    fn spec_example_1() {
        let data: Vec<u8> = (0..32).collect();
        let mut expected = vec![
            0x03, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x20, 0x08, 0x39, 0x30, 0x00, 0x00,
        ];
        expected.extend_from_slice(&data);
        expected.extend_from_slice(&[0x83, 0x00, 0x00, 0x14]);
        expected.extend_from_slice(&data);
        expected.push(0xC3);
        expected.extend_from_slice(&data);
        expected.push(0xC3);
        expected.extend_from_slice(&data);

        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        for ts in [1000, 1020, 1040, 1060] {
            enc.write(3, ts, 8, 12345, &data, &mut out);
        }
        assert_eq!(&out[..], &expected[..]);

        for step in [1, 3, expected.len()] {
            let mut dec = ChunkDecoder::new(ChunkLimits::default());
            let got = decode_all(&mut dec, &expected, step).unwrap();
            let want: Vec<_> = [1000, 1020, 1040, 1060]
                .map(|ts| msg(3, ts, 8, 12345, &data))
                .into();
            assert_eq!(got, want);
        }
    }

    /// §5.3.2.2: a 307-byte video message at chunk size 128 becomes a type-0
    /// chunk and two type-3 chunks.
    #[test]
    fn spec_example_2() {
        let data: Vec<u8> = (0..307u32).map(|i| i as u8).collect();
        let mut expected = vec![
            0x04, 0x00, 0x03, 0xE8, 0x00, 0x01, 0x33, 0x09, 0x39, 0x30, 0x00, 0x00,
        ];
        expected.extend_from_slice(&data[..128]);
        expected.push(0xC4);
        expected.extend_from_slice(&data[128..256]);
        expected.push(0xC4);
        expected.extend_from_slice(&data[256..]);

        let mut out = BytesMut::new();
        ChunkEncoder::new().write(4, 1000, 9, 12345, &data, &mut out);
        assert_eq!(&out[..], &expected[..]);

        let mut shared = BytesMut::new();
        write_type0_message(4, 1000, 9, 12345, &data, 128, &mut shared);
        assert_eq!(&shared[..], &expected[..]);
        assert_eq!(type0_message_len(4, 1000, data.len(), 128), expected.len());

        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        assert_eq!(
            decode_all(&mut dec, &expected, 1).unwrap(),
            vec![msg(4, 1000, 9, 12345, &data)]
        );
    }

    #[test]
    fn basic_header_forms() {
        for (csid, header) in [
            (2u32, vec![0x02]),
            (63, vec![0x3F]),
            (64, vec![0x00, 0x00]),
            (319, vec![0x00, 0xFF]),
            (320, vec![0x01, 0x00, 0x01]),
            (65599, vec![0x01, 0xFF, 0xFF]),
        ] {
            let mut out = BytesMut::new();
            ChunkEncoder::new().write(csid, 5, 8, 1, b"x", &mut out);
            assert_eq!(&out[..header.len()], &header[..], "csid {csid}");
            assert_eq!(out.len(), header.len() + 11 + 1);
            let mut dec = ChunkDecoder::new(ChunkLimits::default());
            assert_eq!(
                decode_all(&mut dec, &out, 1).unwrap(),
                vec![msg(csid, 5, 8, 1, b"x")]
            );
        }
        // csid 64..=319 may also arrive in the 3-byte form.
        let mut bytes = vec![0x01, 0x00, 0x00];
        bytes.extend_from_slice(&[0, 0, 5, 0, 0, 1, 8, 1, 0, 0, 0, b'x']);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        assert_eq!(
            decode_all(&mut dec, &bytes, 1).unwrap(),
            vec![msg(64, 5, 8, 1, b"x")]
        );
    }

    /// A type-0 header followed by type-3 chunks, extended timestamp
    /// `0x01020304`, with or without the 4 bytes repeated on the type-3
    /// chunks.
    fn extended_message(payload: &[u8], repeat: bool) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut bytes = vec![0x06, 0xFF, 0xFF, 0xFF];
        bytes.extend_from_slice(&len.to_be_bytes()[1..]);
        bytes.extend_from_slice(&[9, 1, 0, 0, 0, 1, 2, 3, 4]);
        for (i, chunk) in payload.chunks(128).enumerate() {
            if i > 0 {
                bytes.push(0xC6);
                if repeat {
                    bytes.extend_from_slice(&[1, 2, 3, 4]);
                }
            }
            bytes.extend_from_slice(chunk);
        }
        bytes
    }

    #[test]
    fn extended_timestamp_on_type3_present_and_absent() {
        let payload: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        let want = vec![msg(6, 0x0102_0304, 9, 1, &payload)];
        for repeat in [true, false] {
            let bytes = extended_message(&payload, repeat);
            for step in [1, 2, 5, bytes.len()] {
                let mut dec = ChunkDecoder::new(ChunkLimits::default());
                assert_eq!(
                    decode_all(&mut dec, &bytes, step).unwrap(),
                    want,
                    "repeat {repeat} step {step}"
                );
            }
        }
        // The encoder repeats it.
        let mut out = BytesMut::new();
        ChunkEncoder::new().write(6, 0x0102_0304, 9, 1, &payload, &mut out);
        assert_eq!(&out[..], &extended_message(&payload, true)[..]);
        let mut shared = BytesMut::new();
        write_type0_message(6, 0x0102_0304, 9, 1, &payload, 128, &mut shared);
        assert_eq!(&shared[..], &out[..]);
    }

    #[test]
    fn extended_delta_on_type3_new_message() {
        // Type 0 at 10, type 2 with extended delta 0x01000000, then a type-3
        // new message adding the same delta, with and without the repeat.
        for repeat in [true, false] {
            let mut bytes = vec![0x05, 0, 0, 10, 0, 0, 1, 8, 0, 0, 0, 0, b'a'];
            bytes.extend_from_slice(&[0x85, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, b'b']);
            bytes.push(0xC5);
            if repeat {
                bytes.extend_from_slice(&[1, 0, 0, 0]);
            }
            bytes.push(b'c');
            // Pad so the decoder can look 4 bytes past a type-3 header.
            bytes.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 8]);
            let mut dec = ChunkDecoder::new(ChunkLimits::default());
            let got = decode_all(&mut dec, &bytes, 1).unwrap();
            assert_eq!(
                got,
                vec![
                    msg(5, 10, 8, 0, b"a"),
                    msg(5, 0x0100_000A, 8, 0, b"b"),
                    msg(5, 0x0200_000A, 8, 0, b"c"),
                    msg(5, 0x0200_000A, 8, 0, b""),
                ],
                "repeat {repeat}"
            );
        }
    }

    #[test]
    fn type3_after_type0_adds_its_timestamp() {
        // §5.3.1.2.4: the delta of a type-3 chunk after a type-0 one is the
        // type-0 timestamp.
        let bytes = [
            0x04, 0, 0, 100, 0, 0, 1, 8, 1, 0, 0, 0, b'a', 0xC4, b'b', 0xC4, b'c',
        ];
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let got = decode_all(&mut dec, &bytes, 1).unwrap();
        assert_eq!(
            got,
            vec![
                msg(4, 100, 8, 1, b"a"),
                msg(4, 200, 8, 1, b"b"),
                msg(4, 300, 8, 1, b"c")
            ]
        );
    }

    #[test]
    fn type1_and_type2_deltas_accumulate_and_wrap() {
        let mut bytes = vec![
            0x04, 0xFF, 0xFF, 0xFF, 0, 0, 1, 8, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0, b'a',
        ];
        bytes.extend_from_slice(&[0x44, 0, 0, 0x20, 0, 0, 2, 9, b'b', b'c']);
        bytes.extend_from_slice(&[0x84, 0, 0, 0x01, b'd', b'e']);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let got = decode_all(&mut dec, &bytes, 1).unwrap();
        assert_eq!(
            got,
            vec![
                msg(4, 0xFFFF_FFF0, 8, 1, b"a"),
                msg(4, 0x10, 9, 1, b"bc"),
                msg(4, 0x11, 9, 1, b"de")
            ]
        );
    }

    #[test]
    fn missing_header() {
        for first in [0x45u8, 0x85, 0xC5] {
            let mut dec = ChunkDecoder::new(ChunkLimits::default());
            let mut buf = BytesMut::from(&[first, 0, 0, 0, 0, 0, 1, 8][..]);
            assert_eq!(
                dec.decode(&mut buf),
                Err(ChunkError::MissingHeader { csid: 5 })
            );
        }
        // A header on another chunk stream does not count.
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let mut buf = BytesMut::from(&[0x04, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0xC5][..]);
        assert!(dec.decode(&mut buf).unwrap().is_some());
        assert_eq!(
            dec.decode(&mut buf),
            Err(ChunkError::MissingHeader { csid: 5 })
        );
    }

    #[test]
    fn message_too_large_on_header() {
        // The 24-bit field cannot exceed the default 16 MiB limit, so use a
        // smaller one; the error comes before any data.
        let header = [0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0];
        let limits = ChunkLimits {
            max_message_len: 0xFF_FFFE,
            ..ChunkLimits::default()
        };
        let mut dec = ChunkDecoder::new(limits);
        let mut buf = BytesMut::from(&header[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(ChunkError::MessageTooLarge {
                len: 0xFF_FFFF,
                limit: 0xFF_FFFE
            })
        );

        // Type 1 too.
        let mut dec = ChunkDecoder::new(ChunkLimits {
            max_message_len: 1000,
            ..ChunkLimits::default()
        });
        let mut buf = BytesMut::from(
            &[
                0x04, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0, 0x44, 0, 0, 0, 0, 0x03, 0xE9, 9,
            ][..],
        );
        assert!(dec.decode(&mut buf).unwrap().is_some());
        assert_eq!(
            dec.decode(&mut buf),
            Err(ChunkError::MessageTooLarge {
                len: 1001,
                limit: 1000
            })
        );

        // The largest length is accepted by default and waits for data.
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let mut buf = BytesMut::from(&header[..]);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), header.len());
    }

    #[test]
    fn too_many_chunk_streams() {
        let limits = ChunkLimits {
            max_chunk_streams: 3,
            ..ChunkLimits::default()
        };
        let mut dec = ChunkDecoder::new(limits);
        let mut out = BytesMut::new();
        let mut enc = ChunkEncoder::new();
        for csid in [3, 400, 70, 3, 400] {
            enc.write(csid, 0, 8, 1, b"", &mut out);
        }
        assert_eq!(decode_all(&mut dec, &out, 7).unwrap().len(), 5);
        let mut buf = BytesMut::from(&[0x05][..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(ChunkError::TooManyChunkStreams { limit: 3 })
        );
    }

    #[test]
    fn chunk_size_limits() {
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        assert_eq!(dec.set_chunk_size(0), Err(ChunkError::InvalidChunkSize(0)));
        assert_eq!(
            dec.set_chunk_size(0x8000_0000),
            Err(ChunkError::InvalidChunkSize(0x8000_0000))
        );
        assert_eq!(dec.chunk_size(), 128);
        let mut dec = ChunkDecoder::new(ChunkLimits {
            max_chunk_size: 65536,
            ..ChunkLimits::default()
        });
        assert_eq!(
            dec.set_chunk_size(65537),
            Err(ChunkError::ChunkSizeOverLimit {
                size: 65537,
                limit: 65536
            })
        );
        assert_eq!(dec.set_chunk_size(65536), Ok(()));
        assert_eq!(dec.set_chunk_size(1), Ok(()));
        assert_eq!(dec.chunk_size(), 1);
    }

    #[test]
    fn huge_chunk_size_single_chunk_without_copy() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut enc = ChunkEncoder::new();
        let mut out = BytesMut::new();
        enc.set_chunk_size(MAX_CHUNK_SIZE);
        enc.write(6, 40, 9, 1, &payload, &mut out);
        assert_eq!(out.len(), 12 + payload.len());

        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        dec.set_chunk_size(0x7FFF_FFFF).unwrap();
        let data_start = out[12..].as_ptr();
        let mut partial = out.split_to(50_000);
        assert_eq!(dec.decode(&mut partial), Ok(None));
        assert_eq!(
            partial.len(),
            50_000,
            "nothing consumed before the chunk is whole"
        );
        partial.unsplit(out);
        let got = dec.decode(&mut partial).unwrap().unwrap();
        assert_eq!(got, msg(6, 40, 9, 1, &payload));
        assert_eq!(
            got.payload.as_ptr(),
            data_start,
            "single-chunk payload is not copied"
        );
        assert!(partial.is_empty());
    }

    #[test]
    fn partial_messages_are_bounded_in_total() {
        let limits = ChunkLimits { max_buffered_bytes: 1000, ..ChunkLimits::default() };
        let mut dec = ChunkDecoder::new(limits);
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        write_type0_message(3, 0, 9, 1, &[1u8; 800], 128, &mut a);
        write_type0_message(4, 0, 9, 1, &[2u8; 800], 128, &mut b);
        // Interleave: first chunks of both (128 + 128), then continuations.
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&a.split_to(12 + 128));
        wire.extend_from_slice(&b.split_to(12 + 128));
        for _ in 0..3 {
            wire.extend_from_slice(&a.split_to(1 + 128));
            wire.extend_from_slice(&b.split_to(1 + 128));
        }
        let err = match dec.decode(&mut wire) {
            Ok(Some(m)) => panic!("no message should complete: {m:?}"),
            Ok(None) => panic!("the limit should have been hit"),
            Err(e) => e,
        };
        assert_eq!(err, ChunkError::TooMuchBuffered { limit: 1000 });
    }

    #[test]
    fn abort_drops_partial_message() {
        let payload = [7u8; 300];
        let mut out = BytesMut::new();
        ChunkEncoder::new().write(5, 0, 9, 1, &payload, &mut out);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let mut buf = out.split_to(12 + 128);
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
        dec.abort(5);
        dec.abort(77);
        // The next type-3 chunk now starts a new message with the same header.
        dec.set_chunk_size(300).unwrap();
        let mut tail = vec![0xC5];
        tail.extend_from_slice(&payload);
        let mut buf = BytesMut::from(&tail[..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(msg(5, 0, 9, 1, &payload))
        );
    }

    #[test]
    fn new_header_mid_message_replaces_it() {
        let mut bytes = vec![0x05, 0, 0, 1, 0, 0, 3, 8, 1, 0, 0, 0, b'a'];
        bytes.extend_from_slice(&[0x45, 0, 0, 1, 0, 0, 1, 9, b'z']);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        dec.set_chunk_size(1).unwrap();
        assert_eq!(
            decode_all(&mut dec, &bytes, 1).unwrap(),
            vec![msg(5, 2, 9, 1, b"z")]
        );
    }

    #[test]
    fn interleaved_chunk_streams() {
        let a = [1u8; 200];
        let b = [2u8; 150];
        let mut enc = ChunkEncoder::new();
        let (mut ma, mut mb) = (BytesMut::new(), BytesMut::new());
        enc.write(4, 10, 8, 1, &a, &mut ma);
        enc.write(6, 20, 9, 1, &b, &mut mb);
        // a: 12 + 128, 1 + 72; b: 12 + 128, 1 + 22.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&ma[..140]);
        bytes.extend_from_slice(&mb[..140]);
        bytes.extend_from_slice(&mb[140..]);
        bytes.extend_from_slice(&ma[140..]);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        assert_eq!(
            decode_all(&mut dec, &bytes, 1).unwrap(),
            vec![msg(6, 20, 9, 1, &b), msg(4, 10, 8, 1, &a)]
        );
    }

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

    /// xorshift64*, for reproducible test data from one seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    #[derive(Debug, Clone)]
    enum Ts {
        Absolute(u32),
        Delta(u32),
        SameDelta,
    }

    #[derive(Debug, Clone)]
    struct Spec {
        csid: usize,
        ts: Ts,
        type_id: u8,
        stream: usize,
        len: Option<usize>,
    }

    fn csid() -> impl Strategy<Value = u32> {
        prop_oneof![
            2u32..=63,
            64u32..=319,
            320u32..=65599,
            Just(64u32),
            Just(319u32),
            Just(320u32),
            Just(65599u32)
        ]
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let ts = prop_oneof![
            any::<u32>().prop_map(Ts::Absolute),
            (0xFF_FFF0u32..0x100_0010).prop_map(Ts::Absolute),
            (0u32..100).prop_map(Ts::Delta),
            (0xFF_FFF0u32..0x100_0010).prop_map(Ts::Delta),
            Just(Ts::SameDelta),
        ];
        let type_id = prop_oneof![
            Just(8u8),
            Just(9u8),
            any::<u8>().prop_map(|t| if t == 1 { 18 } else { t })
        ];
        let len = prop_oneof![
            Just(None),
            (0usize..20_000).prop_map(Some),
            (0usize..300).prop_map(Some)
        ];
        (0usize..4, ts, type_id, 0usize..2, len).prop_map(|(csid, ts, type_id, stream, len)| Spec {
            csid,
            ts,
            type_id,
            stream,
            len,
        })
    }

    fn chunk_size() -> impl Strategy<Value = u32> {
        prop_oneof![1u32..=16, 17u32..=1000, 128u32..=70_000]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Messages on several chunk streams, chunk sizes changing between
        /// segments, chunks of different chunk streams interleaved, fed in
        /// random pieces: the decoder returns the same messages.
        #[test]
        fn round_trip(
            csids in proptest::collection::vec(csid(), 4),
            stream_ids in (any::<u32>(), 0u32..4),
            segments in proptest::collection::vec((chunk_size(), proptest::collection::vec(spec(), 1..10)), 1..4),
            seed in any::<u64>(),
            max_piece in prop_oneof![Just(1usize), 1usize..16, 1usize..5000, Just(1usize << 20)],
        ) {
            let mut rng = Rng(seed | 1);
            let stream_ids = [stream_ids.0, stream_ids.1];
            let mut enc = ChunkEncoder::new();
            let mut wire = BytesMut::new();
            let mut expected = Vec::new();
            // Per csid slot: last timestamp, last delta, last length.
            let mut last = [(0u32, 0u32, 0usize); 4];
            for (size, specs) in segments {
                // §5.4.1: announce, then switch.
                let set = ControlMessage::SetChunkSize(size);
                enc.write(CONTROL_CSID, 0, set.type_id(), 0, &set.encode(), &mut wire);
                enc.set_chunk_size(size);
                expected.push(msg(CONTROL_CSID, 0, type_id::SET_CHUNK_SIZE, 0, &set.encode()));

                // Encode each message on its own, remembering chunk ends.
                let mut queues: Vec<std::collections::VecDeque<(RawMessage, Vec<Bytes>)>> = vec![Default::default(); 4];
                for s in specs {
                    let (prev_ts, prev_delta, prev_len) = last[s.csid];
                    let ts = match s.ts {
                        Ts::Absolute(t) => t,
                        Ts::Delta(d) => prev_ts.wrapping_add(d),
                        Ts::SameDelta => prev_ts.wrapping_add(prev_delta),
                    };
                    let len = s.len.unwrap_or(prev_len);
                    last[s.csid] = (ts, ts.wrapping_sub(prev_ts), len);
                    let m = RawMessage {
                        csid: csids[s.csid],
                        timestamp: ts,
                        type_id: s.type_id,
                        stream_id: stream_ids[s.stream],
                        payload: rng.bytes(len).into(),
                    };
                    let mut out = BytesMut::new();
                    let mut ends = Vec::new();
                    enc.write_with(m.csid, m.timestamp, m.type_id, m.stream_id, &m.payload, &mut out, |o| ends.push(o.len()));
                    let mut out = out.freeze();
                    let mut chunks = Vec::new();
                    let mut start = 0;
                    for end in ends {
                        chunks.push(out.split_to(end - start));
                        start = end;
                    }
                    prop_assert!(out.is_empty());
                    // Same csid value in two slots: keep them in one queue.
                    let q = csids.iter().position(|&c| c == m.csid).unwrap();
                    queues[q].push_back((m, chunks));
                }
                // Interleave chunk by chunk across chunk streams.
                loop {
                    let live: Vec<usize> = (0..4).filter(|&i| !queues[i].is_empty()).collect();
                    if live.is_empty() {
                        break;
                    }
                    let q = &mut queues[live[rng.below(live.len())]];
                    let (_, chunks) = q.front_mut().unwrap();
                    wire.extend_from_slice(&chunks.remove(0));
                    if chunks.is_empty() {
                        expected.push(q.pop_front().unwrap().0);
                    }
                }
            }

            let mut dec = ChunkDecoder::new(ChunkLimits::default());
            let mut got = Vec::new();
            let mut buf = BytesMut::new();
            let mut wire = wire.freeze();
            while !wire.is_empty() {
                let n = (1 + rng.below(max_piece)).min(wire.len());
                buf.extend_from_slice(&wire.split_to(n));
                while let Some(m) = dec.decode(&mut buf)? {
                    if m.csid == CONTROL_CSID
                        && let Ok(ControlMessage::SetChunkSize(size)) = ControlMessage::parse(m.type_id, &m.payload)
                    {
                        dec.set_chunk_size(size)?;
                    }
                    got.push(m);
                }
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(&expected) {
                prop_assert_eq!(g, e);
            }
        }

        #[test]
        fn type0_message_decodes(
            csid in csid(),
            timestamp in prop_oneof![any::<u32>(), 0xFF_FFF0u32..0x100_0010],
            type_id in any::<u8>(),
            stream_id in any::<u32>(),
            len in 0usize..20_000,
            chunk_size in chunk_size(),
            seed in any::<u64>(),
        ) {
            let payload = Rng(seed | 1).bytes(len);
            let mut out = BytesMut::new();
            write_type0_message(csid, timestamp, type_id, stream_id, &payload, chunk_size, &mut out);
            prop_assert_eq!(out.len(), type0_message_len(csid, timestamp, len, chunk_size));
            // Twice in a row: the second decodes on its own type-0 header.
            let mut wire = out.clone();
            wire.extend_from_slice(&out);
            let mut dec = ChunkDecoder::new(ChunkLimits::default());
            dec.set_chunk_size(chunk_size).unwrap();
            let want = msg(csid, timestamp, type_id, stream_id, &payload);
            prop_assert_eq!(dec.decode(&mut wire)?, Some(want.clone()));
            prop_assert_eq!(dec.decode(&mut wire)?, Some(want));
            prop_assert!(wire.is_empty());
        }

        #[test]
        fn arbitrary_bytes_do_not_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            chunk_size in chunk_size(),
            max_message_len in prop_oneof![Just(16u32 << 20), 0u32..512],
            max_chunk_streams in 0usize..8,
            step in 1usize..64,
        ) {
            let limits = ChunkLimits { max_message_len, max_chunk_streams, ..ChunkLimits::default() };
            let mut dec = ChunkDecoder::new(limits);
            dec.set_chunk_size(chunk_size).unwrap();
            let mut buf = BytesMut::new();
            'feed: for piece in bytes.chunks(step) {
                buf.extend_from_slice(piece);
                loop {
                    match dec.decode(&mut buf) {
                        Ok(Some(m)) => {
                            prop_assert!(m.payload.len() as u32 <= max_message_len);
                            if m.type_id == 2 && m.payload.len() >= 4 {
                                dec.abort(u32::from_be_bytes([m.payload[0], m.payload[1], m.payload[2], m.payload[3]]));
                            }
                        }
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
        }
    }
}
