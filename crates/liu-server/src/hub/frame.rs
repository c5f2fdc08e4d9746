//! The unit the hub moves: one codec-level frame, shared by every viewer.

use std::sync::OnceLock;

use bytes::Bytes;

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
    forms: [OnceLock<Bytes>; FORM_SLOTS],
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
            forms: Default::default(),
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
            forms: Default::default(),
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
