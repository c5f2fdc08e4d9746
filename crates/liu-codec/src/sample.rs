//! The codec sample model: coded frames and decoder configurations, as
//! every container and protocol hands them over.
//!
//! Times are milliseconds on the stream's timeline (from FLV: the tag
//! timestamp and `CompositionTime`, as the server's hub delivers them).

use crate::av1::Av1CodecConfigurationRecord;
use crate::avc::AvcDecoderConfigurationRecord;
use crate::hevc::HevcDecoderConfigurationRecord;
use bytes::Bytes;

pub use crate::aac::AudioSpecificConfig;
use crate::opus::{OPUS_RATE, OpusHead, packet_samples};

/// One coded video frame (access unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSample {
    /// Decoding time in ms (the FLV tag timestamp).
    pub dts: u64,
    /// Presentation minus decoding time in ms (the FLV `CompositionTime`).
    pub cts_offset: i32,
    /// A random access point (FLV frame type 1, key frame).
    pub keyframe: bool,
    /// The frame in length-prefixed form (AVCC: NAL units each preceded by a
    /// big-endian length of `nal_length_size` bytes): the FLV video tag body
    /// after its 5-byte AVC header.
    pub data: Bytes,
}

/// One raw audio access unit (AAC or Opus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSample {
    /// Presentation time in ms (the FLV tag timestamp).
    pub pts: u64,
    /// The raw AAC frame: the FLV AAC body after its 2-byte header.
    pub data: Bytes,
}

/// Video decoder configuration, from the FLV sequence header.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoCodecConfig {
    /// H.264 / AVC (ISO/IEC 14496-15 §5.3.3.1 `avcC`).
    Avc(AvcDecoderConfigurationRecord),
    /// H.265 / HEVC (ISO/IEC 14496-15 §8.3.3.1 `hvcC`).
    Hevc(HevcDecoderConfigurationRecord),
    /// AV1 (AV1-ISOBMFF §2.3 `av1C`): fMP4 only, MPEG-TS has no AV1.
    Av1(Av1CodecConfigurationRecord),
}

impl VideoCodecConfig {
    /// RFC 6381 codec string (`avc1.64001F`, `hvc1.1.6.L93.B0`).
    pub fn codec_string(&self) -> String {
        match self {
            VideoCodecConfig::Avc(r) => r.codec_string(),
            VideoCodecConfig::Hevc(r) => r.codec_string(),
            VideoCodecConfig::Av1(r) => r.codec_string(),
        }
    }
}

/// Audio decoder configuration, from the FLV sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioCodecConfig {
    /// AAC (ISO/IEC 14496-3 §1.6.2.1 AudioSpecificConfig).
    Aac(AudioSpecificConfig),
    /// Opus (RFC 7845 §5.1 `OpusHead`): fMP4 only, HLS has no Opus in MPEG-TS.
    Opus(OpusHead),
}

impl AudioCodecConfig {
    /// The track's sampling rate, its fMP4 timescale.
    pub fn rate(&self) -> u32 {
        match self {
            AudioCodecConfig::Aac(c) => c.sampling_frequency,
            AudioCodecConfig::Opus(_) => OPUS_RATE,
        }
    }

    /// RFC 6381 codec string (`mp4a.40.2`, `opus`).
    pub fn codec_string(&self) -> String {
        match self {
            AudioCodecConfig::Aac(c) => c.codec_string(),
            AudioCodecConfig::Opus(_) => "opus".into(),
        }
    }

    /// Duration of a frame in samples: 1024 for AAC, from the TOC byte for
    /// Opus (20 ms when it cannot be read).
    pub fn frame_samples(&self, frame: &[u8]) -> u32 {
        match self {
            AudioCodecConfig::Aac(_) => 1024,
            AudioCodecConfig::Opus(_) => packet_samples(frame).unwrap_or(960),
        }
    }
}
