//! The unit the hub moves: one codec-level frame, shared by every viewer.

use std::sync::OnceLock;

use bytes::Bytes;
use liu_flv::av::FlvDialect;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Audio,
    Video,
    /// Stream metadata (`onMetaData`) or another timed data message.
    Data,
}

/// A serialized form of frames that several viewers share (RTMP chunks,
/// FLV tags, ...). Each output protocol owns one slot; the hub only caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormSlot(pub usize);

/// Number of output forms a frame can cache.
pub const FORM_SLOTS: usize = 4;

/// One frame of a stream, on the stream's own monotonic timeline.
///
/// `payload` is the frame in FLV tag body form (the same bytes RTMP audio,
/// video and data messages carry). Output forms are serialized at most once
/// per frame and shared through [`Frame::form`].
#[derive(Debug)]
pub struct Frame {
    pub kind: FrameKind,
    /// Decode time in ms on the stream's timeline (monotonic per kind).
    pub timestamp: u64,
    /// A video keyframe: a viewer can start here.
    pub keyframe: bool,
    /// A codec configuration (sequence header) rather than media.
    pub config: bool,
    /// `onMetaData`.
    pub metadata: bool,
    pub payload: Bytes,
    /// The FLV dialect the payload is written in, when the other dialect
    /// writes it differently (H.265, Enhanced H.264 and AAC); `None` when
    /// every viewer takes the payload as it is.
    pub dialect: Option<FlvDialect>,
    forms: [OnceLock<Bytes>; FORM_SLOTS],
    /// This frame in the other dialect, built on first use (`None`: that
    /// dialect has no such frame).
    other: OnceLock<Option<Box<Frame>>>,
}

impl Frame {
    pub fn new(kind: FrameKind, timestamp: u64, payload: Bytes) -> Self {
        Frame {
            kind,
            timestamp,
            keyframe: false,
            config: false,
            metadata: false,
            payload,
            dialect: None,
            forms: Default::default(),
            other: OnceLock::new(),
        }
    }

    /// A copy at another time (forms are rebuilt for it).
    pub fn restamped(&self, timestamp: u64) -> Frame {
        Frame {
            kind: self.kind,
            timestamp,
            keyframe: self.keyframe,
            config: self.config,
            metadata: self.metadata,
            payload: self.payload.clone(),
            dialect: self.dialect,
            forms: Default::default(),
            other: OnceLock::new(),
        }
    }

    /// The frame as a viewer of dialect `want` gets it: itself, or its
    /// rewrite built once by `rewrite` and shared by every such viewer
    /// (with its own serialized forms); `None` when it has no such form.
    pub fn in_dialect(
        &self,
        want: FlvDialect,
        rewrite: impl FnOnce(&Frame) -> Option<Frame>,
    ) -> Option<&Frame> {
        match self.dialect {
            Some(d) if d != want => self
                .other
                .get_or_init(|| rewrite(self).map(Box::new))
                .as_deref(),
            _ => Some(self),
        }
    }

    /// The frame's 32-bit wire timestamp (RTMP and FLV wrap at 2^32 ms).
    pub fn wire_timestamp(&self) -> u32 {
        self.timestamp as u32
    }

    /// The frame serialized for an output form, built on first use.
    pub fn form(&self, slot: FormSlot, build: impl FnOnce(&Frame) -> Bytes) -> Bytes {
        self.forms[slot.0].get_or_init(|| build(self)).clone()
    }

    /// Bytes this frame accounts for in queue limits.
    pub fn size(&self) -> usize {
        self.payload.len() + 64
    }
}
