//! A playing RTMP viewer's socket as a [`DirectSink`]: while the viewer is
//! caught up, the publisher writes each new frame's shared chunked form to
//! it (with a patched first header for a message stream id other than 1).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::tcp::OwnedWriteHalf;

use super::{MSID_OFFSET, RTMP_FORM, SHARED_STREAM_ID, TYPE0_HEADER_LEN, rtmp_form};
use liu_flv::av::FlvDialect;

use crate::dialect::frame_in;
use crate::hub::{DirectBytes, DirectSink, Frame, FrameKind};

pub(super) struct RtmpSink {
    pub wr: OwnedWriteHalf,
    stream_id: u32,
    audio: bool,
    video: bool,
    dialect: FlvDialect,
    chunk_size: u32,
    /// What a full socket did not take, to be written before anything else.
    pub pending: Vec<Bytes>,
    /// The write error that ended direct writing.
    pub error: Option<io::Error>,
}

impl RtmpSink {
    pub fn new(
        wr: OwnedWriteHalf,
        stream_id: u32,
        (audio, video): (bool, bool),
        dialect: FlvDialect,
        chunk_size: u32,
    ) -> Self {
        RtmpSink {
            wr,
            stream_id,
            audio,
            video,
            dialect,
            chunk_size,
            pending: Vec::new(),
            error: None,
        }
    }
}

impl DirectSink for RtmpSink {
    fn socket(&self) -> RawFd {
        self.wr.as_ref().as_raw_fd()
    }

    fn bytes_for(&mut self, frames: &[Arc<Frame>], out: &mut DirectBytes) {
        let chunk_size = self.chunk_size;
        for frame in frames {
            let wanted = match frame.kind {
                FrameKind::Audio => self.audio,
                FrameKind::Video => self.video,
                FrameKind::Data => true,
            };
            if !wanted {
                continue;
            }
            let Some(frame) = frame_in(frame, self.dialect) else {
                continue;
            };
            let form = frame.form(RTMP_FORM, |f| rtmp_form(f, SHARED_STREAM_ID, chunk_size));
            if self.stream_id == SHARED_STREAM_ID {
                out.shared(form);
            } else {
                // Only the first chunk's header names the message stream.
                let mut head = [0u8; TYPE0_HEADER_LEN];
                head.copy_from_slice(&form[..TYPE0_HEADER_LEN]);
                head[MSID_OFFSET..].copy_from_slice(&self.stream_id.to_le_bytes());
                out.copy(&head);
                out.shared(form.slice(TYPE0_HEADER_LEN..));
            }
        }
    }

    fn keep(&mut self, rest: Vec<Bytes>) {
        self.pending.extend(rest);
    }

    fn fail(&mut self, error: io::Error) {
        self.error = Some(error);
    }
}
