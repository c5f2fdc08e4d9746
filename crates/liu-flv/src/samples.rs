//! FLV tag bodies as codec samples and decoder configurations (what HLS
//! segments, recording and RTP take): each parsed once (video tag header, E.4.3.1, and audio tag header,
//! E.4.2.1, of the FLV specification; `avcC`, ISO/IEC 14496-15 §5.3.3.1;
//! AudioSpecificConfig, ISO/IEC 14496-3 §1.6.2.1).

use bytes::Bytes;
use liu_codec::aac::AudioSpecificConfig;
use liu_codec::av1::Av1CodecConfigurationRecord;
use liu_codec::avc::AvcDecoderConfigurationRecord;
use liu_codec::hevc::HevcDecoderConfigurationRecord;
use liu_codec::opus::OpusHead;
use liu_codec::sample::{AudioCodecConfig, AudioSample, VideoCodecConfig, VideoSample};

use crate::av::dialect::rewritten;
use crate::av::multitrack::{audio_track, video_track};
use crate::av::{
    AudioCodec, AudioPacket, VideoCodec, VideoPacket, parse_audio_tag_header,
    parse_video_tag_header,
};
use crate::error::FlvError;

/// A video tag body as the sample model has it.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoInput {
    /// An H.264 or H.265 sequence header.
    Config(VideoCodecConfig),
    Frame(VideoSample),
}

/// An audio tag body as the sample model has it.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioInput {
    /// An AAC or Opus sequence header.
    Config(AudioCodecConfig),
    Frame(AudioSample),
}

/// A video tag body at decode time `dts_ms`, legacy or Enhanced; `None` for
/// what the sample model has no place for (codecs other than H.264, H.265 and AV1, end
/// of sequence, metadata, empty frames); of a multitrack body, track 0.
pub fn video_input(dts_ms: u64, body: &Bytes) -> Result<Option<VideoInput>, FlvError> {
    let h = parse_video_tag_header(body)?;
    if h.packet == VideoPacket::MultiTrack {
        // The default rendition, track 0, read as a single-track body.
        return match video_track(body, 0).and_then(|t| rewritten(body, t)) {
            Some(single) => video_input(dts_ms, &Bytes::from(single)),
            None => Ok(None),
        };
    }
    if !matches!(
        h.codec,
        VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Av1
    ) {
        return Ok(None);
    }
    let payload = body.slice(h.header_len.min(body.len())..);
    Ok(match h.packet {
        VideoPacket::SequenceHeader if h.codec == VideoCodec::Av1 => Some(VideoInput::Config(
            VideoCodecConfig::Av1(Av1CodecConfigurationRecord::parse(&payload)?),
        )),
        VideoPacket::SequenceHeader if h.codec == VideoCodec::Hevc => Some(VideoInput::Config(
            VideoCodecConfig::Hevc(HevcDecoderConfigurationRecord::parse(&payload)?),
        )),
        VideoPacket::SequenceHeader => Some(VideoInput::Config(VideoCodecConfig::Avc(
            AvcDecoderConfigurationRecord::parse(&payload)?,
        ))),
        VideoPacket::CodedFrames if !payload.is_empty() => Some(VideoInput::Frame(VideoSample {
            dts: dts_ms,
            cts_offset: h.composition_time,
            keyframe: h.is_keyframe(),
            data: payload,
        })),
        _ => None,
    })
}

/// An audio tag body at time `pts_ms`; `None` for what the sample model has
/// no place for (codecs other than AAC and Opus, empty frames).
pub fn audio_input(pts_ms: u64, body: &Bytes) -> Result<Option<AudioInput>, FlvError> {
    let h = parse_audio_tag_header(body)?;
    if h.packet == AudioPacket::MultiTrack {
        return match audio_track(body, 0).and_then(|t| rewritten(body, t)) {
            Some(single) => audio_input(pts_ms, &Bytes::from(single)),
            None => Ok(None),
        };
    }
    if !matches!(h.codec, AudioCodec::Aac | AudioCodec::Opus) {
        return Ok(None);
    }
    let payload = body.slice(h.header_len.min(body.len())..);
    Ok(if h.is_sequence_header {
        Some(AudioInput::Config(if h.codec == AudioCodec::Opus {
            AudioCodecConfig::Opus(OpusHead::parse(&payload)?)
        } else {
            AudioCodecConfig::Aac(AudioSpecificConfig::parse(&payload)?)
        }))
    } else if payload.is_empty() || h.packet != AudioPacket::CodedFrames {
        None
    } else {
        Some(AudioInput::Frame(AudioSample {
            pts: pts_ms,
            data: payload,
        }))
    })
}
