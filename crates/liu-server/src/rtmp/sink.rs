//! A playing RTMP viewer's socket as a [`DirectSink`]: while the viewer is
//! caught up, the publisher writes each new frame's shared chunked form to
//! it with one non-blocking vectored write per flush.

use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::tcp::OwnedWriteHalf;

use super::{MSID_OFFSET, RTMP_FORM, SHARED_STREAM_ID, TYPE0_HEADER_LEN, rtmp_form};
use crate::hub::{DirectSink, Frame, FrameKind};

/// Frames written by one direct write at most; a larger batch goes back to
/// the viewer's task.
const MAX_FRAMES: usize = 32;

pub(super) struct RtmpSink {
    pub wr: OwnedWriteHalf,
    stream_id: u32,
    audio: bool,
    video: bool,
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
        audio: bool,
        video: bool,
        chunk_size: u32,
    ) -> Self {
        RtmpSink {
            wr,
            stream_id,
            audio,
            video,
            chunk_size,
            pending: Vec::new(),
            error: None,
        }
    }

    fn wanted(&self, frame: &Frame) -> bool {
        match frame.kind {
            FrameKind::Audio => self.audio,
            FrameKind::Video => self.video,
            FrameKind::Data => true,
        }
    }
}

impl DirectSink for RtmpSink {
    fn write_now(&mut self, frames: &[Arc<Frame>]) -> bool {
        let chunk_size = self.chunk_size;
        let patch = self.stream_id != SHARED_STREAM_ID;
        let mut forms: [Bytes; MAX_FRAMES] = std::array::from_fn(|_| Bytes::new());
        let mut heads = [[0u8; TYPE0_HEADER_LEN]; MAX_FRAMES];
        let mut n = 0;
        for frame in frames.iter().filter(|f| self.wanted(f)) {
            let form = frame.form(RTMP_FORM, |f| rtmp_form(f, SHARED_STREAM_ID, chunk_size));
            if n == MAX_FRAMES {
                // Too many for one write: the task takes over.
                self.keep(&forms[..n], &heads[..n], patch, 0);
                self.keep_frames(frames, n);
                return false;
            }
            if patch {
                heads[n].copy_from_slice(&form[..TYPE0_HEADER_LEN]);
                heads[n][MSID_OFFSET..TYPE0_HEADER_LEN]
                    .copy_from_slice(&self.stream_id.to_le_bytes());
            }
            forms[n] = form;
            n += 1;
        }
        if n == 0 {
            return true;
        }
        let mut slices = [IoSlice::new(&[]); 2 * MAX_FRAMES];
        let mut k = 0;
        let mut total = 0;
        for i in 0..n {
            if patch {
                slices[k] = IoSlice::new(&heads[i]);
                slices[k + 1] = IoSlice::new(&forms[i][TYPE0_HEADER_LEN..]);
                k += 2;
            } else {
                slices[k] = IoSlice::new(&forms[i]);
                k += 1;
            }
            total += forms[i].len();
        }
        match self.wr.try_write_vectored(&slices[..k]) {
            Ok(written) if written == total => true,
            Ok(written) => {
                self.keep(&forms[..n], &heads[..n], patch, written);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.keep(&forms[..n], &heads[..n], patch, 0);
                false
            }
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }
}

impl RtmpSink {
    /// Keeps the bytes of `forms` after the first `skip` written ones.
    fn keep(
        &mut self,
        forms: &[Bytes],
        heads: &[[u8; TYPE0_HEADER_LEN]],
        patch: bool,
        skip: usize,
    ) {
        let mut skip = skip;
        for (form, head) in forms.iter().zip(heads) {
            if patch {
                let rest = form.slice(TYPE0_HEADER_LEN..);
                if skip < TYPE0_HEADER_LEN {
                    self.pending.push(Bytes::copy_from_slice(&head[skip..]));
                    self.pending.push(rest);
                } else if skip - TYPE0_HEADER_LEN < rest.len() {
                    self.pending.push(rest.slice(skip - TYPE0_HEADER_LEN..));
                }
                skip = skip.saturating_sub(form.len());
            } else {
                if skip < form.len() {
                    self.pending.push(form.slice(skip..));
                }
                skip = skip.saturating_sub(form.len());
            }
        }
    }

    /// Keeps whole frames, from the `from`-th wanted one on.
    fn keep_frames(&mut self, frames: &[Arc<Frame>], from: usize) {
        let chunk_size = self.chunk_size;
        let wanted: Vec<&Arc<Frame>> = frames.iter().filter(|f| self.wanted(f)).collect();
        for frame in &wanted[from..] {
            let form = frame.form(RTMP_FORM, |f| rtmp_form(f, SHARED_STREAM_ID, chunk_size));
            if self.stream_id == SHARED_STREAM_ID {
                self.pending.push(form);
            } else {
                let mut head = bytes::BytesMut::from(&form[..TYPE0_HEADER_LEN]);
                head[MSID_OFFSET..TYPE0_HEADER_LEN].copy_from_slice(&self.stream_id.to_le_bytes());
                self.pending.push(head.freeze());
                self.pending.push(form.slice(TYPE0_HEADER_LEN..));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `keep` leaves after `skip` written bytes equals the rest of the
    /// wire bytes, with the message stream id patched or not.
    #[tokio::test]
    async fn partial_writes_keep_exactly_the_rest() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (_rd, wr) = client.into_split();
        let forms: Vec<Bytes> = (0..2u8)
            .map(|i| Bytes::from((0..20).map(|b| b + i * 100).collect::<Vec<u8>>()))
            .collect();
        let mut sink = RtmpSink::new(wr, SHARED_STREAM_ID, true, true, 4096);
        for stream_id in [SHARED_STREAM_ID, 5] {
            sink.stream_id = stream_id;
            let patch = stream_id != SHARED_STREAM_ID;
            let mut heads = [[0u8; TYPE0_HEADER_LEN]; 2];
            let mut wire = Vec::new();
            for (form, head) in forms.iter().zip(heads.iter_mut()) {
                head.copy_from_slice(&form[..TYPE0_HEADER_LEN]);
                if patch {
                    head[MSID_OFFSET..].copy_from_slice(&stream_id.to_le_bytes());
                    wire.extend_from_slice(head);
                    wire.extend_from_slice(&form[TYPE0_HEADER_LEN..]);
                } else {
                    wire.extend_from_slice(form);
                }
            }
            for skip in 0..=wire.len() {
                sink.pending.clear();
                sink.keep(&forms, &heads, patch, skip);
                let kept: Vec<u8> = sink.pending.iter().flat_map(|b| b.to_vec()).collect();
                assert_eq!(kept, &wire[skip..], "stream {stream_id}, skip {skip}");
            }
        }
    }
}
