//! Sans-IO incremental FLV reader (FLV spec v10.1, E.2-E.4.1).

use super::{
    FLAG_AUDIO, FLAG_VIDEO, FLV_HEADER_LEN, FlvTag, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN, TagType,
};
use crate::error::{FlvError, Result};
use bytes::{Buf, BytesMut};
use liu_codec::cursor::Cursor;

/// Incremental FLV reader for files and HTTP-FLV streams: push bytes, pull tags.
///
/// - Reads and validates the header first (signature `FLV`; a `DataOffset` larger
///   than 9 is honoured by skipping the extra bytes), then skips `PreviousTagSize0`.
/// - Tags with reserved types are skipped without being buffered (E.4.1).
/// - `PreviousTagSize` values are not checked, as many writers get them wrong.
/// - Tags with the `Filter` bit set are returned as they are.
/// - Errors are final: once one is returned, every later call returns it again.
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    max_tag_size: u32,
    header: Option<(bool, bool)>,
    /// Bytes still to discard before the next structure.
    skip: u64,
    failed: Option<FlvError>,
}

impl FlvReader {
    /// A reader that rejects tags whose body exceeds `max_tag_size` bytes.
    pub fn new(max_tag_size: u32) -> Self {
        FlvReader {
            buf: BytesMut::new(),
            max_tag_size,
            header: None,
            skip: 0,
            failed: None,
        }
    }

    /// Appends input bytes.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.buf.is_empty() && self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            data = data.get(n..).unwrap_or_default();
            self.skip -= n as u64;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next tag; `Ok(None)` means more bytes are needed.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.step();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    /// `(has_audio, has_video)` from the header flags, once the header was read.
    pub fn header(&self) -> Option<(bool, bool)> {
        self.header
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn discard_pending_skip(&mut self) {
        let n = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(self.buf.len());
        self.buf.advance(n);
        self.skip -= n as u64;
    }

    fn step(&mut self) -> Result<Option<FlvTag>> {
        loop {
            self.discard_pending_skip();
            if self.skip > 0 {
                return Ok(None);
            }
            if self.header.is_none() {
                if !self.read_header()? {
                    return Ok(None);
                }
                continue;
            }
            let Some(head) = self.buf.get(..TAG_HEADER_LEN) else {
                return Ok(None);
            };
            let mut c = Cursor::new(head);
            // Reserved UB[2], Filter UB[1], TagType UB[5] (E.4.1).
            let tag_type = c.u8("FLV tag type")? & 0x1f;
            let size = c.u24("FLV tag data size")?;
            let ts_low = c.u24("FLV tag timestamp")?;
            let ts_ext = c.u8("FLV tag timestamp extended")?;
            let timestamp = (u32::from(ts_ext) << 24) | ts_low;
            if size > self.max_tag_size {
                return Err(FlvError::TagTooLarge {
                    size,
                    limit: self.max_tag_size,
                });
            }
            let Some(tag_type) = TagType::from_u8(tag_type) else {
                self.buf.advance(TAG_HEADER_LEN);
                self.skip = u64::from(size) + PREV_TAG_SIZE_LEN as u64;
                continue;
            };
            let body_len = size as usize;
            let need = TAG_HEADER_LEN + body_len + PREV_TAG_SIZE_LEN;
            if self.buf.len() < need {
                self.buf.reserve(need - self.buf.len());
                return Ok(None);
            }
            self.buf.advance(TAG_HEADER_LEN);
            let body = self.buf.split_to(body_len).freeze();
            self.buf.advance(PREV_TAG_SIZE_LEN);
            return Ok(Some(FlvTag {
                tag_type,
                timestamp,
                body,
            }));
        }
    }

    /// Parses the FLV header (E.2); `Ok(false)` when more bytes are needed.
    fn read_header(&mut self) -> Result<bool> {
        let seen = self.buf.len().min(3);
        if self.buf.get(..seen) != b"FLV".get(..seen) {
            return Err(FlvError::NotFlv);
        }
        let Some(head) = self.buf.get(..FLV_HEADER_LEN) else {
            return Ok(false);
        };
        let mut c = Cursor::new(head);
        c.take(4, "FLV signature and version")?;
        let flags = c.u8("FLV header flags")?;
        let data_offset = c.u32("FLV header data offset")?;
        if (data_offset as usize) < FLV_HEADER_LEN {
            return Err(FlvError::Invalid("FLV header DataOffset is smaller than 9"));
        }
        self.header = Some((flags & FLAG_AUDIO != 0, flags & FLAG_VIDEO != 0));
        self.buf.advance(FLV_HEADER_LEN);
        self.skip = u64::from(data_offset) - FLV_HEADER_LEN as u64 + PREV_TAG_SIZE_LEN as u64;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::{encode_file_header, encode_tag};

    fn collect(r: &mut FlvReader) -> Vec<FlvTag> {
        let mut out = Vec::new();
        while let Ok(Some(t)) = r.next_tag() {
            out.push(t);
        }
        out
    }

    #[test]
    fn reads_header_and_tags() {
        let mut data = encode_file_header(true, false).to_vec();
        data.extend_from_slice(&encode_tag(TagType::Script, 0, b"meta"));
        data.extend_from_slice(&encode_tag(TagType::Audio, 0x0100_0000, &[0xaf, 0x00]));
        let mut r = FlvReader::new(1024);
        assert_eq!(r.header(), None);
        r.push(&data);
        let tags = collect(&mut r);
        assert_eq!(r.header(), Some((true, false)));
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].tag_type, TagType::Script);
        assert_eq!(&tags[0].body[..], b"meta");
        assert_eq!(tags[1].timestamp, 0x0100_0000);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn needs_more_then_completes() {
        let mut r = FlvReader::new(1024);
        r.push(b"FL");
        assert_eq!(r.next_tag(), Ok(None));
        r.push(&encode_file_header(false, true)[2..]);
        assert_eq!(r.next_tag(), Ok(None));
        assert_eq!(r.header(), Some((false, true)));
        let tag = encode_tag(TagType::Video, 5, &[0x17, 0x01]);
        r.push(&tag[..12]);
        assert_eq!(r.next_tag(), Ok(None));
        r.push(&tag[12..]);
        assert_eq!(
            r.next_tag(),
            Ok(Some(FlvTag {
                tag_type: TagType::Video,
                timestamp: 5,
                body: bytes::Bytes::from_static(&[0x17, 0x01]),
            }))
        );
    }

    #[test]
    fn rejects_bad_signature_early_and_stays_failed() {
        let mut r = FlvReader::new(1024);
        r.push(b"FX");
        assert_eq!(r.next_tag(), Err(FlvError::NotFlv));
        r.push(b"V\x01\x05\x00\x00\x00\x09");
        assert_eq!(r.next_tag(), Err(FlvError::NotFlv));
    }

    #[test]
    fn rejects_small_data_offset() {
        let mut r = FlvReader::new(1024);
        r.push(b"FLV\x01\x05\x00\x00\x00\x08\x00\x00\x00\x00");
        assert!(matches!(r.next_tag(), Err(FlvError::Invalid(_))));
    }

    #[test]
    fn honours_larger_data_offset() {
        let mut data = b"FLV\x01\x05\x00\x00\x00\x0c\xaa\xbb\xcc\x00\x00\x00\x00".to_vec();
        data.extend_from_slice(&encode_tag(TagType::Script, 7, b"x"));
        let mut r = FlvReader::new(1024);
        r.push(&data);
        let tags = collect(&mut r);
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].timestamp, 7);
    }

    #[test]
    fn skips_unknown_tag_types_and_returns_filtered() {
        let mut data = encode_file_header(true, true).to_vec();
        let mut unknown = encode_tag(TagType::Audio, 1, &[1, 2, 3]).to_vec();
        unknown[0] = 15;
        data.extend_from_slice(&unknown);
        let mut filtered = encode_tag(TagType::Video, 2, &[9]).to_vec();
        filtered[0] |= 0x20;
        data.extend_from_slice(&filtered);
        let mut r = FlvReader::new(1024);
        // Byte by byte, so the skip spans many pushes.
        for b in &data {
            r.push(std::slice::from_ref(b));
        }
        let tags = collect(&mut r);
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].tag_type, TagType::Video);
        assert_eq!(tags[0].timestamp, 2);
    }

    #[test]
    fn oversized_tag_is_an_error() {
        let mut data = encode_file_header(true, true).to_vec();
        data.extend_from_slice(&encode_tag(TagType::Video, 0, &[0; 100]));
        let mut r = FlvReader::new(99);
        r.push(&data);
        assert_eq!(
            r.next_tag(),
            Err(FlvError::TagTooLarge {
                size: 100,
                limit: 99
            })
        );
        // Detected from the header alone, without waiting for the body.
        let mut r = FlvReader::new(10);
        r.push(&encode_file_header(true, true));
        r.push(&[9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(r.next_tag(), Err(FlvError::TagTooLarge { .. })));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn tag() -> impl Strategy<Value = (u8, u32, Vec<u8>)> {
            (
                prop_oneof![Just(8u8), Just(9), Just(18), Just(0), Just(31)],
                any::<u32>(),
                proptest::collection::vec(any::<u8>(), 0..64),
            )
        }

        proptest! {
            #[test]
            fn round_trip_in_random_pieces(
                tags in proptest::collection::vec(tag(), 0..12),
                cuts in proptest::collection::vec(1usize..40, 1..64),
            ) {
                let mut data = encode_file_header(true, true).to_vec();
                let mut want = Vec::new();
                for (ty, ts, body) in &tags {
                    let mut bytes = encode_tag(TagType::Audio, *ts, body).to_vec();
                    bytes[0] = *ty;
                    data.extend_from_slice(&bytes);
                    if let Some(tag_type) = TagType::from_u8(*ty) {
                        want.push(FlvTag { tag_type, timestamp: *ts, body: body.clone().into() });
                    }
                }
                let mut r = FlvReader::new(64);
                let mut got = Vec::new();
                let mut rest = &data[..];
                let mut i = 0;
                while !rest.is_empty() {
                    let n = cuts[i % cuts.len()].min(rest.len());
                    i += 1;
                    r.push(&rest[..n]);
                    rest = &rest[n..];
                    while let Some(t) = r.next_tag().map_err(|e| TestCaseError::fail(e.to_string()))? {
                        got.push(t);
                    }
                }
                prop_assert_eq!(got, want);
                prop_assert_eq!(r.header(), Some((true, true)));
            }

            #[test]
            fn arbitrary_bytes_never_panic(
                data in proptest::collection::vec(any::<u8>(), 0..512),
                prefix in any::<bool>(),
                cut in 1usize..64,
            ) {
                let mut r = FlvReader::new(256);
                if prefix {
                    r.push(&encode_file_header(true, true));
                }
                for chunk in data.chunks(cut) {
                    r.push(chunk);
                    while let Ok(Some(_)) = r.next_tag() {}
                }
            }
        }
    }
}
