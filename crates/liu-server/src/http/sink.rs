//! A playing HTTP-FLV viewer's socket as a [`DirectSink`]: while the viewer
//! is caught up, the publisher writes each new frame's shared FLV tag to it,
//! as one chunk of chunked transfer encoding per flush (RFC 9112 section
//! 7.1), or bare for an HTTP/1.0 client.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::tcp::OwnedWriteHalf;

use liu_flv::av::FlvDialect;

use super::flv::{FLV_FORM, flv_form};
use crate::dialect::frame_in;
use crate::hub::{DirectBytes, DirectSink, Frame};

/// `ffffffff\r\n`: the longest chunk-size line.
pub(super) const MAX_LINE: usize = 10;

pub(super) struct FlvSink {
    pub wr: OwnedWriteHalf,
    chunked: bool,
    dialect: FlvDialect,
    /// What a full socket did not take, to be written before anything else.
    pub pending: Vec<Bytes>,
    /// The write error that ended direct writing.
    pub error: Option<io::Error>,
}

impl FlvSink {
    pub fn new(wr: OwnedWriteHalf, chunked: bool, dialect: FlvDialect) -> Self {
        FlvSink {
            wr,
            chunked,
            dialect,
            pending: Vec::new(),
            error: None,
        }
    }
}

impl DirectSink for FlvSink {
    fn socket(&self) -> RawFd {
        self.wr.as_ref().as_raw_fd()
    }

    fn bytes_for(&mut self, frames: &[Arc<Frame>], out: &mut DirectBytes) {
        if frames.is_empty() {
            return;
        }
        let line = self.chunked.then(|| out.slot());
        let mut len = 0;
        for frame in frames {
            let Some(frame) = frame_in(frame, self.dialect) else {
                continue;
            };
            let tag = frame.form(FLV_FORM, flv_form);
            len += tag.len();
            out.shared(tag);
        }
        if let Some(slot) = line {
            let mut text = [0u8; MAX_LINE];
            let n = hex_line(&mut text, len);
            out.fill(slot, &text[..n]);
            out.shared(Bytes::from_static(b"\r\n"));
        }
    }

    fn keep(&mut self, rest: Vec<Bytes>) {
        self.pending.extend(rest);
    }

    fn fail(&mut self, error: io::Error) {
        self.error = Some(error);
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
