//! HTTP-FLV viewers' form: an FLV file (FLV spec E.2-E.3), each frame one
//! tag serialized once and shared; each write one chunk of chunked
//! transfer encoding (RFC 9112 section 7.1), or bare (HTTP/1.0, or a body
//! hyper frames).

use bytes::Bytes;
use liu_flv::flv::{TAG_HEADER_LEN, TagType, encode_tag};

use super::form::FlvForm;
use crate::hub::{DirectBytes, FormSlot, Frame, FrameKind};

/// The shared FLV tag form of a frame.
pub const FLV_FORM: FormSlot = FormSlot(1);

/// `ffffffff\r\n`: the longest chunk-size line.
pub const MAX_LINE: usize = 10;

/// One HTTP-FLV viewer's body.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlvTags {
    /// Each write is one chunk (RFC 9112 section 7.1).
    chunked: bool,
    /// Where the current write's chunk-size line goes.
    line: Option<usize>,
}

impl FlvTags {
    pub fn new(chunked: bool) -> Self {
        FlvTags {
            chunked,
            line: None,
        }
    }
}

impl FlvForm for FlvTags {
    const FILE: bool = true;

    fn begin(&mut self, out: &mut DirectBytes) {
        self.line = self.chunked.then(|| out.slot());
    }

    fn frame(&mut self, frame: &Frame, timestamp: u32, out: &mut DirectBytes) {
        tag_at(frame, timestamp, out);
    }

    fn end(&mut self, out: &mut DirectBytes) {
        let Some(slot) = self.line.take() else {
            return;
        };
        // Nothing written: no chunk (an empty one would end the body).
        if out.fill_prefix::<MAX_LINE>(slot, hex_line) > 0 {
            out.shared(Bytes::from_static(b"\r\n"));
        }
    }
}

/// The shared FLV tag of `frame`, at `timestamp`: when that is not the
/// stream's own, a copy of the 11-byte tag header with it (E.4.1:
/// `Timestamp` and `TimestampExtended`), the rest shared.
pub fn tag_at(frame: &Frame, timestamp: u32, out: &mut DirectBytes) {
    let tag = frame.form(FLV_FORM, flv_tag);
    if timestamp == frame.wire_timestamp() || tag.len() < TAG_HEADER_LEN {
        out.shared(tag);
        return;
    }
    let mut head = [0u8; TAG_HEADER_LEN];
    head.copy_from_slice(&tag[..TAG_HEADER_LEN]);
    let [ext, t2, t1, t0] = timestamp.to_be_bytes();
    head[4..8].copy_from_slice(&[t2, t1, t0, ext]);
    out.copy(&head);
    out.shared(tag.slice(TAG_HEADER_LEN..));
}

/// A frame as one FLV tag with its trailing PreviousTagSize (FLV spec E.3).
pub fn flv_tag(frame: &Frame) -> Bytes {
    let tag_type = match frame.kind {
        FrameKind::Audio => TagType::Audio,
        FrameKind::Video => TagType::Video,
        FrameKind::Data => TagType::Script,
    };
    encode_tag(tag_type, frame.wire_timestamp(), &frame.payload)
}

/// Writes `{len:x}\r\n` into `buf`; returns its length.
pub fn hex_line(buf: &mut [u8; MAX_LINE], len: usize) -> usize {
    let len = len.min(u32::MAX as usize);
    let digits = ((usize::BITS - len.leading_zeros()).div_ceil(4).max(1)) as usize;
    for (i, digit) in buf[..digits].iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(len >> ((digits - 1 - i) * 4)) & 0xf];
    }
    buf[digits] = b'\r';
    buf[digits + 1] = b'\n';
    digits + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines() {
        let mut buf = [0u8; MAX_LINE];
        for (len, line) in [
            (0, "0\r\n"),
            (10, "a\r\n"),
            (4096, "1000\r\n"),
            (0x1f3a9, "1f3a9\r\n"),
        ] {
            let n = hex_line(&mut buf, len);
            assert_eq!(&buf[..n], line.as_bytes());
        }
    }
}
