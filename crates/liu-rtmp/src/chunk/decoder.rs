//! Receiving side of the chunk stream: [`ChunkDecoder`] reassembles the
//! peer's chunks into [`RawMessage`]s.

use bytes::{Buf, BytesMut};

use super::{
    ChunkError, ChunkLimits, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE,
    MESSAGE_HEADER_LEN, RawMessage, be24, parse_basic_header,
};

/// Most bytes reserved for a message before its data has arrived.
const MAX_PREALLOC: u32 = 64 * 1024;

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
                return Err(ChunkError::TooMuchBuffered {
                    limit: self.limits.max_buffered_bytes,
                });
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

#[cfg(test)]
mod tests;
