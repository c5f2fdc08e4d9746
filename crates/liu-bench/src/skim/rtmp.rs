//! A light RTMP chunk stream reader (RTMP §5.3) for viewers: tracks the
//! per-chunk-stream header state (all four formats, extended timestamps,
//! Set Chunk Size, Abort) and skips payloads, keeping only prefixes.

use super::{MAX_BODY, Message, PREFIX_LEN};
use crate::error::BenchError;

/// Most chunk streams tracked at once.
const MAX_CHUNK_STREAMS: usize = 64;
/// Timestamp field value that announces an extended timestamp (§5.3.1.3).
const EXTENDED: u32 = 0x00FF_FFFF;
/// Bytes of message header for each chunk format (§5.3.1.2).
const MESSAGE_HEADER_LEN: [usize; 4] = [11, 7, 3, 0];
/// Longest chunk header: 3-byte basic header, 11-byte message header, 4-byte extended timestamp.
const MAX_HEADER: usize = 18;

const SET_CHUNK_SIZE: u8 = 1;
const ABORT: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Prefix,
    Body,
    Skip,
}

/// What a message's payload is kept as, by type id.
fn keep_for(type_id: u8, len: u32) -> Keep {
    match type_id {
        8 | 9 | 22 => Keep::Prefix,
        1..=6 | 17 | 20 if len <= MAX_BODY => Keep::Body,
        _ => Keep::Skip,
    }
}

/// Receive state of one chunk stream.
#[derive(Debug)]
struct Stream {
    csid: u32,
    timestamp: u32,
    /// What a type-3 chunk starting a new message adds to the timestamp.
    delta: u32,
    len: u32,
    type_id: u8,
    stream_id: u32,
    /// Extended timestamp of the last type 0/1/2 header, repeated on type 3.
    extended: Option<u32>,
    received: u32,
    in_progress: bool,
    keep: Keep,
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// Reused for every kept non-media payload of this chunk stream.
    body: Vec<u8>,
}

impl Stream {
    fn new(csid: u32) -> Self {
        Stream {
            csid,
            timestamp: 0,
            delta: 0,
            len: 0,
            type_id: 0,
            stream_id: 0,
            extended: None,
            received: 0,
            in_progress: false,
            keep: Keep::Skip,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            body: Vec::new(),
        }
    }

    /// What is kept of the current message.
    fn data(&self) -> &[u8] {
        match self.keep {
            Keep::Prefix => &self.prefix[..self.prefix_len],
            Keep::Body => &self.body,
            Keep::Skip => &[],
        }
    }

    fn begin_message(&mut self) {
        self.received = 0;
        self.in_progress = true;
        self.keep = keep_for(self.type_id, self.len);
        self.prefix_len = 0;
        self.body.clear();
    }
}

/// Reads the server-to-client chunk stream of one connection.
///
/// Sans-IO: [`feed`](RtmpSkimmer::feed) any number of bytes; complete
/// messages are reported to the callback in order.
#[derive(Debug)]
pub struct RtmpSkimmer {
    chunk_size: u32,
    streams: Vec<Stream>,
    head: [u8; MAX_HEADER],
    head_len: usize,
    /// The chunk whose payload is being read: stream index, bytes left.
    chunk: Option<(usize, u32)>,
    /// Index of the last chunk stream used (chunks often repeat it).
    last: usize,
    media_bytes: u64,
}

impl Default for RtmpSkimmer {
    fn default() -> Self {
        Self::new()
    }
}

fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Format, chunk stream id and length of a basic header (§5.3.1.1), if complete.
fn basic_header(h: &[u8]) -> Option<(u8, u32, usize)> {
    let first = *h.first()?;
    let fmt = first >> 6;
    match first & 0x3f {
        0 => Some((fmt, 64 + u32::from(*h.get(1)?), 2)),
        1 => Some((
            fmt,
            64 + u32::from(*h.get(1)?) + (u32::from(*h.get(2)?) << 8),
            3,
        )),
        id => Some((fmt, u32::from(id), 1)),
    }
}

impl RtmpSkimmer {
    /// A skimmer for a new connection (incoming chunk size 128, §5.4.1).
    pub fn new() -> Self {
        RtmpSkimmer {
            chunk_size: 128,
            streams: Vec::new(),
            head: [0; MAX_HEADER],
            head_len: 0,
            chunk: None,
            last: 0,
            media_bytes: 0,
        }
    }

    /// Audio/video payload bytes read so far.
    pub fn media_bytes(&self) -> u64 {
        self.media_bytes
    }

    /// Current incoming chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    fn find(&self, csid: u32) -> Option<usize> {
        if self.streams.get(self.last).is_some_and(|s| s.csid == csid) {
            return Some(self.last);
        }
        self.streams.iter().position(|s| s.csid == csid)
    }

    /// Consumes `data`, reporting each complete message to `on`.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        on: &mut impl FnMut(&Message<'_>),
    ) -> Result<(), BenchError> {
        loop {
            if let Some((i, left)) = self.chunk {
                if data.is_empty() {
                    return Ok(());
                }
                let n = (left as usize).min(data.len());
                self.take_payload(i, &data[..n]);
                data = &data[n..];
                if n < left as usize {
                    self.chunk = Some((i, left - n as u32));
                    return Ok(());
                }
                self.chunk = None;
                self.end_chunk(i, on)?;
                continue;
            }
            // Take up to a whole header at once, then keep only what it needs.
            let old = self.head_len;
            let n = (MAX_HEADER - old).min(data.len());
            self.head[old..old + n].copy_from_slice(&data[..n]);
            self.head_len = old + n;
            let need = self.header_need()?;
            if self.head_len < need {
                // `data` is used up: a header is never longer than MAX_HEADER.
                return Ok(());
            }
            data = &data[need - old..];
            self.head_len = need;
            if let Some(replay) = self.start_chunk(on)? {
                // Four bytes taken for a repeated extended timestamp that was not one.
                self.feed(&replay, on)?;
            }
        }
    }

    /// Bytes the chunk header at `head` needs, as far as known so far.
    fn header_need(&self) -> Result<usize, BenchError> {
        let h = &self.head[..self.head_len];
        let Some(&first) = h.first() else {
            return Ok(1);
        };
        let Some((fmt, csid, basic)) = basic_header(h) else {
            return Ok(match first & 0x3f {
                0 => 2,
                _ => 3,
            });
        };
        let prev = self.find(csid).map(|i| &self.streams[i]);
        if fmt == 3 {
            let prev = prev.ok_or(BenchError::MissingHeader { csid })?;
            return Ok(basic + if prev.extended.is_some() { 4 } else { 0 });
        }
        if fmt != 0 && prev.is_none() {
            return Err(BenchError::MissingHeader { csid });
        }
        let end = basic + MESSAGE_HEADER_LEN[usize::from(fmt)];
        if h.len() < end {
            return Ok(end);
        }
        Ok(end + if be24(&h[basic..]) == EXTENDED { 4 } else { 0 })
    }

    /// Applies the complete header in `head` and starts its chunk. Returns
    /// bytes to read again when a type-3 header's assumed extended timestamp
    /// was payload after all.
    fn start_chunk(
        &mut self,
        on: &mut impl FnMut(&Message<'_>),
    ) -> Result<Option<[u8; 4]>, BenchError> {
        let h = self.head;
        self.head_len = 0;
        let Some((fmt, csid, basic)) = basic_header(&h) else {
            return Err(BenchError::Chunk("bad basic header"));
        };
        let mut replay = None;
        let i = if fmt == 3 {
            let i = self.find(csid).ok_or(BenchError::MissingHeader { csid })?;
            let st = &mut self.streams[i];
            if let Some(ext) = st.extended {
                let v: [u8; 4] = [h[basic], h[basic + 1], h[basic + 2], h[basic + 3]];
                if u32::from_be_bytes(v) != ext {
                    replay = Some(v);
                }
            }
            if !st.in_progress {
                // §5.3.1.2.4: a new message reuses the whole previous header.
                st.timestamp = st.timestamp.wrapping_add(st.delta);
                st.begin_message();
            }
            i
        } else {
            let m = &h[basic..];
            let field = be24(m);
            let end = basic + MESSAGE_HEADER_LEN[usize::from(fmt)];
            let (field, extended) = if field == EXTENDED {
                (be32(&h[end..]), true)
            } else {
                (field, false)
            };
            let i = match self.find(csid) {
                Some(i) => i,
                None => {
                    if self.streams.len() >= MAX_CHUNK_STREAMS {
                        return Err(BenchError::Chunk("too many chunk streams"));
                    }
                    self.streams.push(Stream::new(csid));
                    self.streams.len() - 1
                }
            };
            let st = &mut self.streams[i];
            match fmt {
                0 => {
                    st.timestamp = field;
                    st.len = be24(&m[3..]);
                    st.type_id = m[6];
                    st.stream_id = u32::from_le_bytes([m[7], m[8], m[9], m[10]]);
                }
                1 => {
                    st.timestamp = st.timestamp.wrapping_add(field);
                    st.len = be24(&m[3..]);
                    st.type_id = m[6];
                }
                _ => st.timestamp = st.timestamp.wrapping_add(field),
            }
            st.delta = field;
            st.extended = extended.then_some(field);
            // A new header in the middle of a message abandons it.
            st.begin_message();
            i
        };
        self.last = i;
        let st = &self.streams[i];
        let data_len = (st.len - st.received).min(self.chunk_size);
        if data_len == 0 {
            self.end_chunk(i, on)?;
        } else {
            self.chunk = Some((i, data_len));
        }
        Ok(replay)
    }

    fn take_payload(&mut self, i: usize, data: &[u8]) {
        let st = &mut self.streams[i];
        st.received += data.len() as u32;
        match st.keep {
            Keep::Prefix => {
                self.media_bytes += data.len() as u64;
                let n = (PREFIX_LEN - st.prefix_len).min(data.len());
                st.prefix[st.prefix_len..st.prefix_len + n].copy_from_slice(&data[..n]);
                st.prefix_len += n;
            }
            Keep::Body => st.body.extend_from_slice(data),
            Keep::Skip => {}
        }
    }

    /// Ends a chunk; reports the message when it is complete.
    fn end_chunk(&mut self, i: usize, on: &mut impl FnMut(&Message<'_>)) -> Result<(), BenchError> {
        let st = &mut self.streams[i];
        if st.received < st.len {
            return Ok(());
        }
        st.in_progress = false;
        let st = &self.streams[i];
        let data = st.data();
        match st.type_id {
            SET_CHUNK_SIZE if data.len() >= 4 => {
                let size = be32(data);
                if size == 0 || size & 0x8000_0000 != 0 {
                    return Err(BenchError::ChunkSize(size));
                }
                self.chunk_size = size;
            }
            ABORT if data.len() >= 4 => {
                let csid = be32(data);
                if let Some(j) = self.find(csid) {
                    self.streams[j].in_progress = false;
                    self.streams[j].received = 0;
                }
            }
            _ => {}
        }
        let st = &self.streams[i];
        on(&Message {
            type_id: st.type_id,
            timestamp: st.timestamp,
            stream_id: st.stream_id,
            len: st.len,
            data: st.data(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
