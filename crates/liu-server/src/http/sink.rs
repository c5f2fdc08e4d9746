//! A playing HTTP-FLV viewer's socket as a [`DirectSink`]: while the viewer
//! is caught up, the publisher writes each new frame's shared FLV tag to it
//! (as one chunk of chunked transfer encoding per flush, RFC 9112 section
//! 7.1, or bare for an HTTP/1.0 client) with one non-blocking vectored write.

use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::tcp::OwnedWriteHalf;

use super::flv::{FLV_FORM, flv_form};
use crate::hub::{DirectSink, Frame};

/// Frames written by one direct write at most; a larger batch goes back to
/// the viewer's task.
const MAX_FRAMES: usize = 32;
/// `ffffffff\r\n`: the longest chunk-size line of a write.
pub(super) const MAX_LINE: usize = 10;

pub(super) struct FlvSink {
    pub wr: OwnedWriteHalf,
    chunked: bool,
    /// What a full socket did not take, to be written before anything else.
    pub pending: Vec<Bytes>,
    /// The write error that ended direct writing.
    pub error: Option<io::Error>,
}

impl FlvSink {
    pub fn new(wr: OwnedWriteHalf, chunked: bool) -> Self {
        FlvSink {
            wr,
            chunked,
            pending: Vec::new(),
            error: None,
        }
    }

    /// Keeps the parts after the first `skip` written bytes.
    fn keep(&mut self, parts: &[&[u8]], tags: &[Bytes], skip: usize) {
        // parts are: [line?] tags.. [crlf?]; tags are the shared buffers.
        let mut skip = skip;
        let mut tag = 0;
        for (i, part) in parts.iter().enumerate() {
            let is_tag = !(self.chunked && (i == 0 || i == parts.len() - 1));
            if skip >= part.len() {
                skip -= part.len();
                tag += usize::from(is_tag);
                continue;
            }
            if is_tag {
                self.pending.push(tags[tag].slice(skip..));
                tag += 1;
            } else {
                self.pending.push(Bytes::copy_from_slice(&part[skip..]));
            }
            skip = 0;
        }
    }
}

impl DirectSink for FlvSink {
    fn write_now(&mut self, frames: &[Arc<Frame>]) -> bool {
        let mut tags: [Bytes; MAX_FRAMES] = std::array::from_fn(|_| Bytes::new());
        if frames.len() > MAX_FRAMES {
            // Too many for one write: the task takes over, whole tags first.
            let len: usize = frames
                .iter()
                .map(|f| f.form(FLV_FORM, flv_form).len())
                .sum();
            if self.chunked {
                self.pending.push(Bytes::from(format!("{len:x}\r\n")));
            }
            self.pending
                .extend(frames.iter().map(|f| f.form(FLV_FORM, flv_form)));
            if self.chunked {
                self.pending.push(Bytes::from_static(b"\r\n"));
            }
            return false;
        }
        let n = frames.len();
        let mut total = 0;
        for (slot, frame) in tags.iter_mut().zip(frames) {
            *slot = frame.form(FLV_FORM, flv_form);
            total += slot.len();
        }
        let mut line = [0u8; MAX_LINE];
        let line_len = hex_line(&mut line, total);
        let mut parts: [&[u8]; MAX_FRAMES + 2] = [&[]; MAX_FRAMES + 2];
        let mut k = 0;
        if self.chunked {
            parts[k] = &line[..line_len];
            k += 1;
        }
        for tag in &tags[..n] {
            parts[k] = tag;
            k += 1;
        }
        if self.chunked {
            parts[k] = b"\r\n";
            k += 1;
        }
        let wire: usize = parts[..k].iter().map(|p| p.len()).sum();
        let mut slices = [IoSlice::new(&[]); MAX_FRAMES + 2];
        for (s, p) in slices.iter_mut().zip(&parts[..k]) {
            *s = IoSlice::new(p);
        }
        match self.wr.try_write_vectored(&slices[..k]) {
            Ok(written) if written == wire => true,
            Ok(written) => {
                self.keep(&parts[..k], &tags[..n], written);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.keep(&parts[..k], &tags[..n], 0);
                false
            }
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }
}

/// Writes `{len:x}\r\n` into `buf`; returns its length.
pub(super) fn hex_line(buf: &mut [u8; MAX_LINE], len: usize) -> usize {
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

#[cfg(test)]
mod keep_tests {
    use super::*;

    /// What `keep` leaves after `skip` bytes equals the rest of the wire bytes.
    #[tokio::test]
    async fn partial_writes_keep_exactly_the_rest() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (_rd, wr) = client.into_split();
        let mut sink = FlvSink::new(wr, true);
        let tags = [Bytes::from_static(b"tag-one"), Bytes::from_static(b"tag-2")];
        for chunked in [true, false] {
            sink.chunked = chunked;
            let mut parts: Vec<&[u8]> = Vec::new();
            if chunked {
                parts.push(b"c\r\n");
            }
            parts.extend(tags.iter().map(|t| &t[..]));
            if chunked {
                parts.push(b"\r\n");
            }
            let wire: Vec<u8> = parts.concat();
            for skip in 0..=wire.len() {
                sink.pending.clear();
                sink.keep(&parts, &tags, skip);
                let kept: Vec<u8> = sink.pending.iter().flat_map(|b| b.to_vec()).collect();
                assert_eq!(kept, &wire[skip..], "chunked {chunked}, skip {skip}");
            }
        }
    }
}
