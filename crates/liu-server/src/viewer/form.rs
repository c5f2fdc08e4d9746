//! How a kind of FLV-family viewer writes the stream's frames, and which
//! of them it takes.

use std::sync::Arc;

use bytes::Bytes;
use liu_flv::av::FlvDialect;

use crate::config::Timestamps;
use crate::dialect::frame_in;
use crate::hub::{DirectBytes, Frame, FrameKind};

/// The form one kind of viewer gets frames in: RTMP messages, FLV tags in
/// an HTTP body, FLV tags in WebSocket messages. Each frame's shared
/// serialization comes from [`Frame::form`]; a form adds only its own
/// small pieces (a patched header, a length prefix) per viewer.
pub trait FlvForm: Clone + Send + 'static {
    /// True for forms that carry an FLV file: they start with the FLV
    /// header (FLV spec E.2).
    const FILE: bool;
    /// Starts one write of one or more frames.
    fn begin(&mut self, _out: &mut DirectBytes) {}
    /// Appends the bytes of `frame`, already in this viewer's dialect, at
    /// `timestamp` on this viewer's timeline.
    fn frame(&mut self, frame: &Frame, timestamp: u32, out: &mut DirectBytes);
    /// Appends bytes of this viewer's own inside the write (the FLV header).
    fn raw(&mut self, bytes: Bytes, out: &mut DirectBytes) {
        out.shared(bytes);
    }
    /// Ends the write begun by [`FlvForm::begin`].
    fn end(&mut self, _out: &mut DirectBytes) {}
}

/// A viewer's timeline: the stream's own, or one that starts at 0 with
/// the first media frame the viewer gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    zero: bool,
    /// The stream time of the viewer's 0, once its first media frame came.
    base: Option<u64>,
}

impl Clock {
    pub fn new(timestamps: Timestamps) -> Self {
        Clock {
            zero: timestamps == Timestamps::Zero,
            base: None,
        }
    }

    /// `frame`'s time on this viewer's timeline (32-bit, wrapping, as RTMP
    /// and FLV carry it). `onMetaData`, and sequence headers before the
    /// first media frame, are at 0; the first audio or video frame sets 0.
    pub fn stamp(&mut self, frame: &Frame) -> u32 {
        if !self.zero {
            return frame.wire_timestamp();
        }
        let media = frame.kind != FrameKind::Data && !frame.config;
        let base = match self.base {
            Some(base) => base,
            None if media => *self.base.insert(frame.timestamp),
            None => return 0,
        };
        if frame.metadata {
            return 0;
        }
        frame.timestamp.saturating_sub(base) as u32
    }
}

/// What a viewer takes of the stream: which tracks, in which FLV dialect,
/// on which timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub audio: bool,
    pub video: bool,
    /// Legacy (H.265 as codec id 12) or Enhanced RTMP (`hvc1`).
    pub dialect: FlvDialect,
    pub clock: Clock,
}

impl Selection {
    /// Every track, in `dialect`, on a timeline of `timestamps`.
    pub fn all(dialect: FlvDialect, timestamps: Timestamps) -> Self {
        Selection {
            audio: true,
            video: true,
            dialect,
            clock: Clock::new(timestamps),
        }
    }

    /// Writes `frames` this viewer takes, in `form`, after `first` (the FLV
    /// header) when given, as one write.
    pub fn write<'a, F: FlvForm>(
        &mut self,
        form: &mut F,
        first: Option<Bytes>,
        frames: impl IntoIterator<Item = &'a Arc<Frame>>,
        out: &mut DirectBytes,
    ) {
        form.begin(out);
        if let Some(first) = first {
            form.raw(first, out);
        }
        for frame in frames {
            let wanted = match frame.kind {
                FrameKind::Audio => self.audio,
                FrameKind::Video => self.video,
                FrameKind::Data => true,
            };
            if !wanted {
                continue;
            }
            if let Some(frame) = frame_in(frame, self.dialect) {
                let timestamp = self.clock.stamp(frame);
                form.frame(frame, timestamp, out);
            }
        }
        form.end(out);
    }
}
