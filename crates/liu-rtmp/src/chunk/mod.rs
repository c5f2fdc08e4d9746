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

use bytes::{BufMut, Bytes, BytesMut};

mod decoder;
mod encoder;

pub use decoder::ChunkDecoder;
pub use encoder::{ChunkEncoder, type0_message_len, write_type0_message};

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

#[cfg(test)]
mod tests;
