//! A light FLV tag reader (FLV spec v10.1 E.2-E.4.1) for HTTP-FLV viewers:
//! tag headers are parsed, bodies skipped except their first bytes.

use super::{Message, PREFIX_LEN};
use crate::error::BenchError;

const FILE_HEADER_LEN: usize = 9;
const TAG_HEADER_LEN: usize = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FileHeader,
    /// Bytes to discard: header padding, PreviousTagSize fields.
    Skip(u32),
    TagHeader,
    /// Body bytes left of the current tag.
    Body(u32),
}

/// Reads an FLV byte stream; reports each tag once its body has arrived.
#[derive(Debug)]
pub struct FlvSkimmer {
    state: State,
    head: [u8; TAG_HEADER_LEN],
    head_len: usize,
    tag_type: u8,
    timestamp: u32,
    len: u32,
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    media_bytes: u64,
}

impl Default for FlvSkimmer {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvSkimmer {
    pub fn new() -> Self {
        FlvSkimmer {
            state: State::FileHeader,
            head: [0; TAG_HEADER_LEN],
            head_len: 0,
            tag_type: 0,
            timestamp: 0,
            len: 0,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            media_bytes: 0,
        }
    }

    /// Audio/video tag body bytes read so far.
    pub fn media_bytes(&self) -> u64 {
        self.media_bytes
    }

    /// Whether the FLV header has been read.
    pub fn started(&self) -> bool {
        self.state != State::FileHeader
    }

    /// Consumes `data`, reporting each complete tag to `on`.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        on: &mut impl FnMut(&Message<'_>),
    ) -> Result<(), BenchError> {
        loop {
            match self.state {
                State::FileHeader | State::TagHeader => {
                    let need = if self.state == State::FileHeader {
                        FILE_HEADER_LEN
                    } else {
                        TAG_HEADER_LEN
                    };
                    if self.head_len < need {
                        if data.is_empty() {
                            return Ok(());
                        }
                        let n = (need - self.head_len).min(data.len());
                        self.head[self.head_len..self.head_len + n].copy_from_slice(&data[..n]);
                        self.head_len += n;
                        data = &data[n..];
                        continue;
                    }
                    self.head_len = 0;
                    if self.state == State::FileHeader {
                        self.file_header()?;
                    } else {
                        self.tag_header(on);
                    }
                }
                State::Skip(left) | State::Body(left) => {
                    if left == 0 {
                        self.end_part(on);
                        continue;
                    }
                    if data.is_empty() {
                        return Ok(());
                    }
                    let n = (left as usize).min(data.len());
                    if matches!(self.state, State::Body(_)) {
                        self.take_body(&data[..n]);
                        self.state = State::Body(left - n as u32);
                    } else {
                        self.state = State::Skip(left - n as u32);
                    }
                    data = &data[n..];
                }
            }
        }
    }

    fn file_header(&mut self) -> Result<(), BenchError> {
        let h = &self.head;
        if &h[..3] != b"FLV" {
            return Err(BenchError::Flv("stream does not start with an FLV header"));
        }
        let offset = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        if (offset as usize) < FILE_HEADER_LEN {
            return Err(BenchError::Flv("FLV header DataOffset below 9"));
        }
        // Extra header bytes, then PreviousTagSize0.
        self.state = State::Skip(
            offset
                .saturating_sub(FILE_HEADER_LEN as u32)
                .saturating_add(4),
        );
        Ok(())
    }

    fn tag_header(&mut self, on: &mut impl FnMut(&Message<'_>)) {
        let h = &self.head;
        self.tag_type = h[0] & 0x1f;
        self.len = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        self.timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        self.prefix_len = 0;
        self.state = State::Body(self.len);
        if self.len == 0 {
            self.end_part(on);
        }
    }

    fn take_body(&mut self, data: &[u8]) {
        if matches!(self.tag_type, 8 | 9) {
            self.media_bytes += data.len() as u64;
            let n = (PREFIX_LEN - self.prefix_len).min(data.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&data[..n]);
            self.prefix_len += n;
        }
    }

    /// A body or a skip is over.
    fn end_part(&mut self, on: &mut impl FnMut(&Message<'_>)) {
        match self.state {
            State::Body(_) => {
                on(&Message {
                    type_id: self.tag_type,
                    timestamp: self.timestamp,
                    stream_id: 0,
                    len: self.len,
                    data: &self.prefix[..self.prefix_len],
                });
                self.state = State::Skip(4);
            }
            _ => self.state = State::TagHeader,
        }
    }
}

#[cfg(test)]
mod tests {
    use liu_flv::flv::{FlvReader, TagType, encode_file_header, encode_tag};
    use proptest::prelude::*;

    use super::*;

    fn skim(bytes: &[u8], cuts: &[usize]) -> Vec<(u8, u32, u32, Vec<u8>)> {
        let mut s = FlvSkimmer::new();
        let mut out = Vec::new();
        let (mut pos, mut k) = (0, 0);
        while pos < bytes.len() {
            let n = cuts[k % cuts.len()].max(1).min(bytes.len() - pos);
            k += 1;
            s.feed(&bytes[pos..pos + n], &mut |m: &Message<'_>| {
                out.push((m.type_id, m.timestamp, m.len, m.data.to_vec()))
            })
            .unwrap();
            pos += n;
        }
        out
    }

    fn tag() -> impl Strategy<Value = (u8, u32, Vec<u8>)> {
        (
            prop_oneof![Just(8u8), Just(9), Just(18)],
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..3000),
        )
    }

    proptest! {
        #[test]
        fn skims_like_the_flv_reader(tags in prop::collection::vec(tag(), 0..30), cuts in prop::collection::vec(1usize..500, 1..10)) {
            let mut bytes = encode_file_header(true, true).to_vec();
            for (t, ts, body) in &tags {
                bytes.extend_from_slice(&encode_tag(TagType::from_u8(*t).unwrap(), *ts, body));
            }
            let seen = skim(&bytes, &cuts);
            let mut reader = FlvReader::new(1 << 24);
            reader.push(&bytes);
            let mut expected = Vec::new();
            while let Some(tag) = reader.next_tag().unwrap() {
                let kind = tag.tag_type as u8;
                let prefix = if kind == 18 { Vec::new() } else { tag.body[..tag.body.len().min(PREFIX_LEN)].to_vec() };
                expected.push((kind, tag.timestamp, tag.body.len() as u32, prefix));
            }
            prop_assert_eq!(seen, expected);
        }
    }

    #[test]
    fn counts_media_and_honours_data_offset() {
        let mut bytes = vec![
            b'F', b'L', b'V', 1, 5, 0, 0, 0, 12, 0xee, 0xee, 0xee, 0, 0, 0, 0,
        ];
        bytes.extend_from_slice(&encode_tag(TagType::Video, 40, &[0x17, 1, 0, 0, 0, 9]));
        bytes.extend_from_slice(&encode_tag(TagType::Script, 0, &[2, 0, 1, b'x']));
        bytes.extend_from_slice(&encode_tag(TagType::Audio, 0x0100_0020, &[0xaf, 1]));
        let seen = skim(&bytes, &[3]);
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], (9, 40, 6, vec![0x17, 1, 0, 0, 0, 9]));
        assert_eq!(seen[2].1, 0x0100_0020);
        let mut s = FlvSkimmer::new();
        s.feed(&bytes, &mut |_| {}).unwrap();
        assert_eq!(s.media_bytes(), 8);
        assert!(
            FlvSkimmer::new()
                .feed(b"HTTP/1.1 200 OK", &mut |_| {})
                .is_err()
        );
    }
}
