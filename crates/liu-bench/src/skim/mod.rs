//! Skimmers: read the framing of a media stream (RTMP chunks, FLV tags)
//! without keeping payloads. Audio/video messages yield only their first
//! [`PREFIX_LEN`] bytes; small control and command messages yield their
//! whole payload; everything else is skipped.

pub mod flv;
pub mod rtmp;

pub use flv::FlvSkimmer;
pub use rtmp::RtmpSkimmer;

/// Bytes kept from the start of each audio/video message: the tag header
/// (5 bytes), an optional access unit delimiter and the latency stamp.
pub const PREFIX_LEN: usize = 48;

/// Largest non-media message whose payload an RTMP skimmer keeps.
pub const MAX_BODY: u32 = 16 * 1024;

/// One message (RTMP) or tag (FLV), reported once it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// RTMP message type id, or FLV tag type (8 audio, 9 video, 18 script).
    pub type_id: u8,
    pub timestamp: u32,
    /// RTMP message stream id (0 for FLV).
    pub stream_id: u32,
    /// Full payload length.
    pub len: u32,
    /// The prefix of an audio/video payload, the whole payload of a small
    /// control/command message, or nothing.
    pub data: &'a [u8],
}
