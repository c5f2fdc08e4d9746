//! What a publisher really sends, read from its sequence headers and
//! timestamps: codec, profile, level, picture size, frame rate, audio
//! format. Logged once per change, and written into the `onMetaData` later
//! viewers get (FLV spec E.5), over whatever the publisher claimed.

use bytes::Bytes;
use liu_codec::aac::AudioSpecificConfig;
use liu_codec::avc::AvcDecoderConfigurationRecord;
use liu_codec::hevc::HevcDecoderConfigurationRecord;
use liu_flv::amf0::{self, Amf0Value};
use liu_flv::av::dialect::rewritten;
use liu_flv::av::{
    AudioCodec, AudioPacket, AudioTagHeader, FlvDialect, VideoCodec, VideoPacket, VideoTagHeader,
    multitrack, parse_audio_tag_header, parse_video_tag_header,
};

/// `videocodecid` of H.264 in `onMetaData` (legacy `CodecID`).
const VIDEOCODECID_AVC: f64 = 7.0;
/// `videocodecid` of H.265 in `onMetaData`: the FourCC `hvc1` as a number,
/// as Enhanced RTMP writers (FFmpeg) put it; legacy viewers get 12.
pub const VIDEOCODECID_HVC1: f64 = 1_752_589_105.0;
/// The legacy `videocodecid` of H.265.
pub const VIDEOCODECID_HEVC_LEGACY: f64 = 12.0;
/// `audiocodecid` of AAC.
const AUDIOCODECID_AAC: f64 = 10.0;
/// Video frames measured before the frame rate is reported.
const RATE_FRAMES: u32 = 50;

/// The video a publisher sends, from its sequence header.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// `onMetaData` `videocodecid`.
    pub codec_id: f64,
    /// RFC 6381 codec string.
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub chroma_format_idc: u8,
    pub bit_depth: u8,
}

/// The audio a publisher sends (AAC), from its AudioSpecificConfig.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u8,
}

/// One publish's stream information, fed by the ingest path.
#[derive(Debug, Default)]
pub struct StreamInfo {
    /// The publisher's `onMetaData` object, as it sent it.
    claimed: Option<Vec<(String, Amf0Value)>>,
    video: Option<VideoInfo>,
    audio: Option<AudioInfo>,
    /// (first timestamp, frames seen) of the frame-rate measurement.
    rate_start: Option<(u32, u32)>,
    frame_rate: Option<f64>,
}

impl StreamInfo {
    /// Takes the publisher's `onMetaData` payload (`["onMetaData", object]`).
    pub fn claimed(&mut self, payload: &[u8]) {
        if let Ok(values) = amf0::decode_all(payload)
            && let Some(props) = values.get(1).and_then(Amf0Value::properties)
        {
            self.claimed = Some(props.to_vec());
        }
    }

    /// A video message (a multitrack one is read through its track 0): a
    /// line to log when it told something new (a codec configuration, the
    /// measured frame rate).
    pub fn video(&mut self, h: &VideoTagHeader, body: &[u8], timestamp: u32) -> Option<String> {
        if h.packet == VideoPacket::MultiTrack {
            let track = multitrack::video_track(body, 0)?;
            if multitrack::is_coded_frames(&track) {
                return self.video_frame(timestamp);
            }
            let single = rewritten(body, track)?;
            let h = parse_video_tag_header(&single).ok()?;
            return self.video(&h, &single, timestamp);
        }
        match h.packet {
            VideoPacket::SequenceHeader => self.video_config(h, body),
            VideoPacket::CodedFrames => self.video_frame(timestamp),
            _ => None,
        }
    }

    /// An audio message (a multitrack one through its track 0): a line to
    /// log when it told something new.
    pub fn audio(&mut self, h: &AudioTagHeader, body: &[u8]) -> Option<String> {
        if h.packet == AudioPacket::MultiTrack {
            let single = rewritten(body, multitrack::audio_track(body, 0)?)?;
            let h = parse_audio_tag_header(&single).ok()?;
            return self.audio(&h, &single);
        }
        if !h.is_sequence_header {
            return None;
        }
        self.audio_config(h, body)
    }

    fn video_config(&mut self, h: &VideoTagHeader, body: &[u8]) -> Option<String> {
        let record = body.get(h.header_len..)?;
        let info = match h.codec {
            VideoCodec::Avc => {
                let r = AvcDecoderConfigurationRecord::parse(record).ok()?;
                let sps = r.first_sps().ok()?;
                VideoInfo {
                    codec_id: VIDEOCODECID_AVC,
                    codec: r.codec_string(),
                    width: u32::from(sps.width),
                    height: u32::from(sps.height),
                    chroma_format_idc: sps.chroma_format_idc,
                    bit_depth: sps.bit_depth_luma_minus8 + 8,
                }
            }
            VideoCodec::Hevc => {
                let r = HevcDecoderConfigurationRecord::parse(record).ok()?;
                let sps = r.sps().ok()?;
                VideoInfo {
                    codec_id: VIDEOCODECID_HVC1,
                    codec: r.codec_string(),
                    width: sps.width,
                    height: sps.height,
                    chroma_format_idc: sps.chroma_format_idc,
                    bit_depth: sps.bit_depth_luma,
                }
            }
            _ => return None,
        };
        if self.video.as_ref() == Some(&info) {
            return None;
        }
        let line = format!(
            "video {} {}x{} {} {}-bit ({})",
            info.codec,
            info.width,
            info.height,
            chroma_name(info.chroma_format_idc),
            info.bit_depth,
            if h.enhanced {
                "Enhanced RTMP"
            } else {
                "legacy FLV"
            },
        );
        self.video = Some(info);
        Some(line)
    }

    fn audio_config(&mut self, h: &AudioTagHeader, body: &[u8]) -> Option<String> {
        if h.codec != AudioCodec::Aac {
            return None;
        }
        let asc = AudioSpecificConfig::parse(body.get(h.header_len..)?).ok()?;
        let info = AudioInfo {
            codec: asc.codec_string(),
            sample_rate: asc
                .extension_sampling_frequency
                .unwrap_or(asc.sampling_frequency),
            channels: asc.channel_configuration,
        };
        if self.audio.as_ref() == Some(&info) {
            return None;
        }
        let line = format!(
            "audio {} {} Hz, {} channels",
            info.codec, info.sample_rate, info.channels
        );
        self.audio = Some(info);
        Some(line)
    }

    /// A coded video frame at `timestamp`: a line when this frame completes
    /// the frame-rate measurement (over the first [`RATE_FRAMES`] frames;
    /// started again after a jump of the timestamps).
    fn video_frame(&mut self, timestamp: u32) -> Option<String> {
        if self.frame_rate.is_some() {
            return None;
        }
        let (first, frames) = self.rate_start.get_or_insert((timestamp, 0));
        *frames += 1;
        let span = timestamp.wrapping_sub(*first);
        if span > 60_000 {
            self.rate_start = Some((timestamp, 1));
            return None;
        }
        if *frames <= RATE_FRAMES || span == 0 {
            return None;
        }
        let rate = f64::from(*frames - 1) * 1000.0 / f64::from(span);
        let rate = (rate * 100.0).round() / 100.0;
        self.frame_rate = Some(rate);
        Some(format!("video {rate} fps"))
    }

    /// `["onMetaData", object]`: the publisher's properties with the fields
    /// Liu measured written over them, as an AMF0 object (AMF0 spec 2.5;
    /// publishers often send an ECMA array, which librtmp does not look
    /// into when it decides its FLV header's flags: nginx-rtmp sends an
    /// object too); `None` while the publisher sent none (an object with only
    /// the fields Liu read could announce fewer tracks than the stream has).
    pub fn metadata(&self) -> Option<Bytes> {
        let mut props = self.claimed.clone()?;
        if self.video.is_none() && self.audio.is_none() && self.frame_rate.is_none() {
            return None;
        }
        let mut set = |key: &str, value: Amf0Value| match props.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => props.push((key.to_string(), value)),
        };
        if let Some(v) = &self.video {
            set("videocodecid", Amf0Value::Number(v.codec_id));
            set("width", Amf0Value::Number(f64::from(v.width)));
            set("height", Amf0Value::Number(f64::from(v.height)));
        }
        if let Some(rate) = self.frame_rate {
            set("framerate", Amf0Value::Number(rate));
        }
        if let Some(a) = &self.audio {
            set("audiocodecid", Amf0Value::Number(AUDIOCODECID_AAC));
            set(
                "audiosamplerate",
                Amf0Value::Number(f64::from(a.sample_rate)),
            );
            set("audiochannels", Amf0Value::Number(f64::from(a.channels)));
            set("stereo", Amf0Value::Boolean(a.channels >= 2));
        }
        Some(Bytes::from(amf0::encode_all(&[
            Amf0Value::string("onMetaData"),
            Amf0Value::Object(props),
        ])))
    }
}

/// `onMetaData` with `videocodecid` of H.265 rewritten for `legacy` (12) or
/// Enhanced (`hvc1`) viewers; `None` when it names no H.265.
pub fn metadata_for(payload: &[u8], legacy: bool) -> Option<Bytes> {
    let mut values = amf0::decode_all(payload).ok()?;
    let props = match values.get_mut(1)? {
        Amf0Value::EcmaArray(p) | Amf0Value::Object(p) => p,
        _ => return None,
    };
    let (_, id) = props.iter_mut().find(|(k, _)| k == "videocodecid")?;
    let (from, to) = if legacy {
        (VIDEOCODECID_HVC1, VIDEOCODECID_HEVC_LEGACY)
    } else {
        (VIDEOCODECID_HEVC_LEGACY, VIDEOCODECID_HVC1)
    };
    if id.as_f64() != Some(from) {
        return None;
    }
    *id = Amf0Value::Number(to);
    Some(Bytes::from(amf0::encode_all(&values)))
}

/// The FLV dialect an `onMetaData` payload is written for, when it names
/// H.265 (`videocodecid` `hvc1` or 12).
pub fn metadata_dialect(payload: &[u8]) -> Option<FlvDialect> {
    let values = amf0::decode_all(payload).ok()?;
    match values.get(1)?.get("videocodecid")?.as_f64()? {
        id if id == VIDEOCODECID_HVC1 => Some(FlvDialect::Enhanced),
        id if id == VIDEOCODECID_HEVC_LEGACY => Some(FlvDialect::Legacy),
        _ => None,
    }
}

fn chroma_name(idc: u8) -> &'static str {
    match idc {
        0 => "4:0:0",
        1 => "4:2:0",
        2 => "4:2:2",
        _ => "4:4:4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liu_flv::av::parse_video_tag_header;

    /// An Enhanced `hvc1` sequence start of a 320x240 Main stream (x265).
    fn hevc_sequence_start() -> Vec<u8> {
        let mut b = b"\x90hvc1".to_vec();
        b.extend_from_slice(&[
            0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0,
            0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x01, 0x21, 0x00, 0x01, 0x00, 42,
        ]);
        b.extend_from_slice(&[
            0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
            0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b,
            0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
        ]);
        b
    }

    #[test]
    fn metadata_corrected_from_the_stream() {
        let mut info = StreamInfo::default();
        assert!(
            info.metadata().is_none(),
            "nothing claimed, nothing made up"
        );
        let claimed = amf0::encode_all(&[
            Amf0Value::string("onMetaData"),
            Amf0Value::EcmaArray(vec![
                ("width".into(), Amf0Value::Number(100.0)),
                ("videocodecid".into(), Amf0Value::Number(7.0)),
                ("encoder".into(), Amf0Value::string("x")),
            ]),
        ]);
        info.claimed(&claimed);
        let seq = hevc_sequence_start();
        let h = parse_video_tag_header(&seq).unwrap_or_else(|e| panic!("{e}"));
        let line = info.video(&h, &seq, 0).unwrap_or_default();
        assert_eq!(
            line,
            "video hvc1.1.6.L60.90 320x240 4:2:0 8-bit (Enhanced RTMP)"
        );
        assert!(info.video(&h, &seq, 0).is_none(), "logged once");
        let frame = b"\x91hvc1\x00\x00\x00NAL";
        let fh = parse_video_tag_header(frame).unwrap_or_else(|e| panic!("{e}"));
        // A jump of the timestamps restarts the measurement.
        assert!(info.video(&fh, frame, 0).is_none());
        assert!(info.video(&fh, frame, 100_000).is_none());
        let lines: Vec<String> = (1..=RATE_FRAMES)
            .filter_map(|i| info.video(&fh, frame, 100_000 + i * 40))
            .collect();
        assert_eq!(lines, ["video 25 fps"]);
        let meta = info.metadata().unwrap_or_default();
        let values = amf0::decode_all(&meta).unwrap_or_default();
        let obj = &values[1];
        assert_eq!(obj.get("width").and_then(Amf0Value::as_f64), Some(320.0));
        assert_eq!(obj.get("height").and_then(Amf0Value::as_f64), Some(240.0));
        assert_eq!(obj.get("framerate").and_then(Amf0Value::as_f64), Some(25.0));
        assert_eq!(
            obj.get("videocodecid").and_then(Amf0Value::as_f64),
            Some(VIDEOCODECID_HVC1)
        );
        assert_eq!(obj.get("encoder").and_then(Amf0Value::as_str), Some("x"));
        // Legacy viewers read 12.
        let legacy = metadata_for(&meta, true).unwrap_or_default();
        let values = amf0::decode_all(&legacy).unwrap_or_default();
        assert_eq!(
            values[1].get("videocodecid").and_then(Amf0Value::as_f64),
            Some(12.0)
        );
        assert!(metadata_for(&meta, false).is_none());
    }
}
