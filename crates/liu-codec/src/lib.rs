//! Codec knowledge for Liu, shared by every container and protocol (FLV,
//! HLS's MPEG-TS and fMP4, and later RTSP/RTP, WebRTC and recording).
//!
//! Everything here is sans-IO and panic-free on arbitrary input: every parser
//! returns a [`Result`](error::Result) and bounds-checks each read.
//!
//! - [`avc`]: `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3.1) and the H.264 SPS.
//! - [`hevc`]: `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3.1) and the H.265 SPS.
//! - [`av1`]: `AV1CodecConfigurationRecord` and the AV1 sequence header.
//! - [`opus`]: `OpusHead`, its `dOps` form and Opus packet durations.
//! - [`aac`]: `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1).
//! - [`sample`]: the codec sample model: coded frames ([`VideoSample`],
//!   [`AudioSample`]) and decoder configurations, whatever container
//!   carried them.
//! - [`cursor`]: the bounds-checked byte reader the parsers here (and
//!   `liu-flv`'s) are written with.

pub mod aac;
pub mod av1;
pub mod avc;
pub mod cursor;
pub mod error;
pub mod hevc;
pub mod opus;
pub mod sample;

mod bits;

pub use error::CodecError;
pub use sample::{
    AudioCodecConfig, AudioSample, AudioSpecificConfig, VideoCodecConfig, VideoSample,
};
