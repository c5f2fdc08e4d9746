//! The two FLV forms of the same media: legacy tag headers (FLV spec E.4.2,
//! E.4.3, with the de-facto codec id 12 for HEVC) and Enhanced RTMP ones
//! (FourCC, packet types). A server takes either and gives each viewer the
//! form it understands; [`rewrite_header`] turns one into the other.
//!
//! Only the header changes: the codec payload after it (a configuration
//! record, length-prefixed NAL units, a raw AAC frame) is the same bytes in
//! both forms, so a rewrite is a new header plus a slice of the old body.

use super::{
    AudioCodec, AudioPacket, AudioTagHeader, VideoCodec, VideoPacket, VideoTagHeader,
    parse_audio_tag_header, parse_video_tag_header,
};

/// Which form of FLV tag header a body uses, or a viewer wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlvDialect {
    /// `CodecID` 7 for H.264, 12 for H.265; `SoundFormat` 10 for AAC.
    Legacy,
    /// Enhanced RTMP: `IsExHeader`, packet type and FourCC.
    Enhanced,
}

/// Legacy `CodecID` of AVC.
const LEGACY_AVC: u8 = 7;
/// The de-facto legacy `CodecID` of HEVC (SRS, nginx-http-flv-module, mpegts.js).
const LEGACY_HEVC: u8 = 12;
/// Legacy audio header byte of AAC: format 10, 44 kHz, 16 bit, stereo (E.4.2.1).
const LEGACY_AAC: u8 = 0xaf;
/// Legacy audio header byte of MP3: format 2, 44 kHz, 16 bit, stereo.
const LEGACY_MP3: u8 = 0x2f;
/// Enhanced video packet types (Enhanced RTMP, `VideoPacketType`).
const SEQUENCE_START: u8 = 0;
const CODED_FRAMES: u8 = 1;
const SEQUENCE_END: u8 = 2;
const CODED_FRAMES_X: u8 = 3;

/// What a body becomes in the other dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// The body as it is serves both dialects.
    Same,
    /// Nothing in the target dialect carries it (Enhanced `Metadata`,
    /// a legacy viewer's HEVC `colorInfo`): leave it out.
    Drop,
    /// `head[..head_len]` followed by `body[payload_start..]`.
    Header {
        head: [u8; 8],
        head_len: u8,
        payload_start: usize,
    },
}

impl Rewrite {
    /// The new header.
    pub fn head(&self) -> &[u8] {
        match self {
            Rewrite::Header { head, head_len, .. } => &head[..usize::from(*head_len)],
            _ => &[],
        }
    }

    fn header(bytes: &[u8], payload_start: usize) -> Rewrite {
        let mut head = [0u8; 8];
        head[..bytes.len()].copy_from_slice(bytes);
        Rewrite::Header {
            head,
            head_len: bytes.len() as u8,
            payload_start,
        }
    }
}

/// The dialect a video body is written in when it matters: `Some` for
/// H.264 and H.265 in Enhanced form and H.265 as legacy id 12, which the
/// other dialect writes differently; `None` for what every viewer takes as
/// it is (legacy H.264, other codecs, multitrack, command frames).
pub fn video_dialect(h: &VideoTagHeader) -> Option<FlvDialect> {
    match (h.enhanced, h.codec, h.packet) {
        (_, _, VideoPacket::MultiTrack | VideoPacket::Command) => None,
        (true, VideoCodec::Avc | VideoCodec::Hevc, _) => Some(FlvDialect::Enhanced),
        (false, VideoCodec::Hevc, _) => Some(FlvDialect::Legacy),
        _ => None,
    }
}

/// The dialect an audio body is written in when it matters: Enhanced AAC
/// and MP3 have a legacy form; legacy audio is valid in both.
pub fn audio_dialect(h: &AudioTagHeader) -> Option<FlvDialect> {
    match (h.enhanced, h.codec, h.packet) {
        (_, _, AudioPacket::MultiTrack) => None,
        (true, AudioCodec::Aac | AudioCodec::Mp3, _) => Some(FlvDialect::Enhanced),
        _ => None,
    }
}

/// How the video tag body `body` reads in dialect `to`.
pub fn rewrite_video(body: &[u8], to: FlvDialect) -> Rewrite {
    let Ok(h) = parse_video_tag_header(body) else {
        return Rewrite::Same;
    };
    let Some(from) = video_dialect(&h) else {
        return Rewrite::Same;
    };
    if from == to {
        return Rewrite::Same;
    }
    let frame_type = match h.frame_type {
        super::VideoFrameType::Key => 1,
        super::VideoFrameType::Inter => 2,
        super::VideoFrameType::DisposableInter => 3,
        super::VideoFrameType::Generated => 4,
        super::VideoFrameType::Command => 5,
        super::VideoFrameType::Reserved(v) => v & 0x07,
    };
    let start = h.header_len;
    let cts = h.composition_time.to_be_bytes();
    match to {
        FlvDialect::Legacy => {
            let id = if h.codec == VideoCodec::Avc {
                LEGACY_AVC
            } else {
                LEGACY_HEVC
            };
            let first = frame_type << 4 | id;
            match h.packet {
                VideoPacket::SequenceHeader => Rewrite::header(&[first, 0, 0, 0, 0], start),
                VideoPacket::CodedFrames => {
                    Rewrite::header(&[first, 1, cts[1], cts[2], cts[3]], start)
                }
                VideoPacket::EndOfSequence => Rewrite::header(&[first, 2, 0, 0, 0], body.len()),
                _ => Rewrite::Drop,
            }
        }
        FlvDialect::Enhanced => {
            let first = |packet: u8| 0x80 | frame_type << 4 | packet;
            let with_fourcc = |packet: u8, rest: &[u8]| {
                let mut head = [0u8; 8];
                head[0] = first(packet);
                head[1..5].copy_from_slice(b"hvc1");
                head[5..5 + rest.len()].copy_from_slice(rest);
                (head, 5 + rest.len())
            };
            let (head, len, payload_start) = match h.packet {
                VideoPacket::SequenceHeader => {
                    let (h, l) = with_fourcc(SEQUENCE_START, &[]);
                    (h, l, start)
                }
                VideoPacket::CodedFrames if h.composition_time == 0 => {
                    let (h, l) = with_fourcc(CODED_FRAMES_X, &[]);
                    (h, l, start)
                }
                VideoPacket::CodedFrames => {
                    let (h, l) = with_fourcc(CODED_FRAMES, &cts[1..]);
                    (h, l, start)
                }
                VideoPacket::EndOfSequence => {
                    let (h, l) = with_fourcc(SEQUENCE_END, &[]);
                    (h, l, body.len())
                }
                _ => return Rewrite::Drop,
            };
            Rewrite::header(&head[..len], payload_start)
        }
    }
}

/// How the audio tag body `body` reads in dialect `to`.
pub fn rewrite_audio(body: &[u8], to: FlvDialect) -> Rewrite {
    let Ok(h) = parse_audio_tag_header(body) else {
        return Rewrite::Same;
    };
    if audio_dialect(&h) != Some(FlvDialect::Enhanced) || to == FlvDialect::Enhanced {
        return Rewrite::Same;
    }
    match (h.codec, h.packet) {
        (AudioCodec::Aac, AudioPacket::SequenceHeader) => {
            Rewrite::header(&[LEGACY_AAC, 0], h.header_len)
        }
        (AudioCodec::Aac, AudioPacket::CodedFrames) => {
            Rewrite::header(&[LEGACY_AAC, 1], h.header_len)
        }
        (AudioCodec::Mp3, AudioPacket::CodedFrames) => Rewrite::header(&[LEGACY_MP3], h.header_len),
        _ => Rewrite::Drop,
    }
}

/// Applies a rewrite to `body` (for tests and tools; servers build their
/// serialized forms from [`Rewrite::head`] and the payload slice directly).
pub fn rewritten(body: &[u8], rewrite: Rewrite) -> Option<Vec<u8>> {
    match rewrite {
        Rewrite::Same => Some(body.to_vec()),
        Rewrite::Drop => None,
        Rewrite::Header { payload_start, .. } => {
            let mut out = rewrite.head().to_vec();
            out.extend_from_slice(body.get(payload_start..).unwrap_or_default());
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FlvDialect::{Enhanced, Legacy};

    fn both_ways(legacy: &[u8], enhanced: &[u8]) {
        assert_eq!(
            rewritten(legacy, rewrite_video(legacy, Enhanced)).as_deref(),
            Some(enhanced),
            "legacy {legacy:02x?}"
        );
        assert_eq!(
            rewritten(enhanced, rewrite_video(enhanced, Legacy)).as_deref(),
            Some(legacy),
            "enhanced {enhanced:02x?}"
        );
        assert_eq!(rewrite_video(legacy, Legacy), Rewrite::Same);
        assert_eq!(rewrite_video(enhanced, Enhanced), Rewrite::Same);
    }

    #[test]
    fn hevc_sequence_start_frames_and_end() {
        both_ways(b"\x1c\x00\x00\x00\x00REC", b"\x90hvc1REC");
        both_ways(b"\x1c\x01\x00\x00\x28NALS", b"\x91hvc1\x00\x00\x28NALS");
        both_ways(b"\x2c\x01\xff\xff\xd8NALS", b"\xa1hvc1\xff\xff\xd8NALS");
        both_ways(b"\x2c\x01\x00\x00\x00NALS", b"\xa3hvc1NALS");
        both_ways(b"\x1c\x02\x00\x00\x00", b"\x92hvc1");
    }

    #[test]
    fn enhanced_only_packets() {
        // CodedFrames with a ModEx prefix lose it in legacy form.
        let modex = b"\x97\x02\x00\x01\x00\x01hvc1\x00\x00\x05NAL";
        assert_eq!(
            rewritten(modex, rewrite_video(modex, Legacy)).as_deref(),
            Some(&b"\x1c\x01\x00\x00\x05NAL"[..])
        );
        // Metadata (colorInfo) has no legacy form.
        assert_eq!(rewrite_video(b"\x94hvc1\x02", Legacy), Rewrite::Drop);
        // AV1, multitrack and legacy H.264 are the same for everyone.
        for body in [
            &b"\x91av01xyz"[..],
            b"\x96\x01hvc1\x00rest",
            b"\x17\x01\x00\x00\x00x",
        ] {
            assert_eq!(rewrite_video(body, Legacy), Rewrite::Same);
            assert_eq!(rewrite_video(body, Enhanced), Rewrite::Same);
        }
        // Enhanced H.264 becomes id 7.
        assert_eq!(
            rewritten(
                b"\x91avc1\x00\x00\x21x",
                rewrite_video(b"\x91avc1\x00\x00\x21x", Legacy)
            ),
            Some(b"\x17\x01\x00\x00\x21x".to_vec())
        );
    }

    #[test]
    fn enhanced_audio_to_legacy() {
        let seq = b"\x90mp4a\x12\x10";
        assert_eq!(
            rewritten(seq, rewrite_audio(seq, Legacy)),
            Some(b"\xaf\x00\x12\x10".to_vec())
        );
        let frame = b"\x91mp4aAAC";
        assert_eq!(
            rewritten(frame, rewrite_audio(frame, Legacy)),
            Some(b"\xaf\x01AAC".to_vec())
        );
        assert_eq!(rewrite_audio(b"\x91OpusX", Legacy), Rewrite::Same);
        assert_eq!(rewrite_audio(b"\xaf\x01AAC", Enhanced), Rewrite::Same);
        assert_eq!(rewrite_audio(frame, Enhanced), Rewrite::Same);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bodies_never_panic(b in proptest::collection::vec(any::<u8>(), 0..24)) {
                for to in [Legacy, Enhanced] {
                    if let Rewrite::Header { payload_start, .. } = rewrite_video(&b, to) {
                        prop_assert!(payload_start <= b.len());
                    }
                    if let Rewrite::Header { payload_start, .. } = rewrite_audio(&b, to) {
                        prop_assert!(payload_start <= b.len());
                    }
                }
            }
        }
    }
}
