//! The two FLV forms of the same media: legacy tag headers (FLV spec E.4.2,
//! E.4.3, with the de-facto codec id 12 for HEVC) and Enhanced RTMP ones
//! (FourCC, packet types). A server takes either and gives each viewer the
//! form it understands; [`rewrite_header`] turns one into the other.
//!
//! Only the header changes: the codec payload after it (a configuration
//! record, length-prefixed NAL units, a raw AAC frame) is the same bytes in
//! both forms, so a rewrite is a new header plus a slice of the old body.

use super::multitrack;
use super::rewrite::{CODED_FRAMES, CODED_FRAMES_X, SEQUENCE_END, SEQUENCE_START};
pub use super::rewrite::{Rewrite, rewritten};
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
/// The dialect a video body is written in when it matters: `Some` for
/// H.264 and H.265 in Enhanced form and H.265 as legacy id 12, which the
/// other dialect writes differently; `None` for what every viewer takes as
/// it is (legacy H.264, other codecs, command frames). Multitrack bodies
/// are Enhanced: legacy viewers get their track 0.
pub fn video_dialect(h: &VideoTagHeader) -> Option<FlvDialect> {
    match (h.enhanced, h.codec, h.packet) {
        (_, _, VideoPacket::Command) => None,
        (true, _, VideoPacket::MultiTrack) => Some(FlvDialect::Enhanced),
        (true, VideoCodec::Avc | VideoCodec::Hevc, _) => Some(FlvDialect::Enhanced),
        (false, VideoCodec::Hevc, _) => Some(FlvDialect::Legacy),
        _ => None,
    }
}

/// The dialect an audio body is written in when it matters: Enhanced AAC
/// and MP3 have a legacy form; legacy audio is valid in both. Multitrack
/// bodies are Enhanced: legacy viewers get their track 0.
pub fn audio_dialect(h: &AudioTagHeader) -> Option<FlvDialect> {
    match (h.enhanced, h.codec, h.packet) {
        (true, _, AudioPacket::MultiTrack) => Some(FlvDialect::Enhanced),
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
    if h.packet == VideoPacket::MultiTrack {
        // Enhanced to legacy: the default rendition, track 0.
        let Some(track) = multitrack::video_track(body, 0) else {
            return Rewrite::Drop;
        };
        return legacy_from_track(body, track, |b| match parse_video_tag_header(b) {
            Ok(h) if matches!(h.codec, VideoCodec::Avc | VideoCodec::Hevc) => {
                Some((h.header_len, legacy_video(&h)))
            }
            Ok(_) => None,
            Err(_) => Some((0, None)),
        });
    }
    if to == FlvDialect::Legacy {
        return match legacy_video(&h) {
            Some(head) => Rewrite::slice(head.head(), h.header_len, body.len()),
            None => Rewrite::Drop,
        };
    }
    // Legacy id 12 to Enhanced `hvc1`.
    let first = |packet: u8| 0x80 | frame_type_bits(&h) << 4 | packet;
    let cts = h.composition_time.to_be_bytes();
    let (packet, cts_bytes, payload_start): (u8, &[u8], usize) = match h.packet {
        VideoPacket::SequenceHeader => (SEQUENCE_START, &[], h.header_len),
        VideoPacket::CodedFrames if h.composition_time == 0 => (CODED_FRAMES_X, &[], h.header_len),
        VideoPacket::CodedFrames => (CODED_FRAMES, &cts[1..], h.header_len),
        VideoPacket::EndOfSequence => (SEQUENCE_END, &[], body.len()),
        _ => return Rewrite::Drop,
    };
    let mut head = [0u8; 8];
    head[0] = first(packet);
    head[1..5].copy_from_slice(b"hvc1");
    head[5..5 + cts_bytes.len()].copy_from_slice(cts_bytes);
    Rewrite::slice(&head[..5 + cts_bytes.len()], payload_start, body.len())
}

/// The 3-bit `FrameType` of a header.
fn frame_type_bits(h: &VideoTagHeader) -> u8 {
    match h.frame_type {
        super::VideoFrameType::Key => 1,
        super::VideoFrameType::Inter => 2,
        super::VideoFrameType::DisposableInter => 3,
        super::VideoFrameType::Generated => 4,
        super::VideoFrameType::Command => 5,
        super::VideoFrameType::Reserved(v) => v & 0x07,
    }
}

/// The legacy header (codec id 7 or 12, `AVCPacketType`, composition time)
/// of an Enhanced H.264/H.265 header; `None` for packets legacy FLV has no
/// form of (metadata). The payload after it is the Enhanced one's.
fn legacy_video(h: &VideoTagHeader) -> Option<Rewrite> {
    let id = if h.codec == VideoCodec::Avc {
        LEGACY_AVC
    } else {
        LEGACY_HEVC
    };
    let first = frame_type_bits(h) << 4 | id;
    let cts = h.composition_time.to_be_bytes();
    let head: [u8; 5] = match h.packet {
        VideoPacket::SequenceHeader => [first, 0, 0, 0, 0],
        VideoPacket::CodedFrames => [first, 1, cts[1], cts[2], cts[3]],
        VideoPacket::EndOfSequence => [first, 2, 0, 0, 0],
        _ => return None,
    };
    Some(Rewrite::slice(&head, 0, 0))
}

/// The legacy form of one track of a multitrack body: `legacy` reads the
/// track as a single-track body (given its first bytes) and returns its
/// header length and legacy header (`None` inside: a packet legacy FLV has
/// no form of, or a malformed track: dropped); a codec without a legacy
/// form (`None`) keeps the single-track Enhanced form.
fn legacy_from_track(
    body: &[u8],
    track: Rewrite,
    legacy: impl FnOnce(&[u8]) -> Option<(usize, Option<Rewrite>)>,
) -> Rewrite {
    let Rewrite::Header {
        payload_start,
        payload_end,
        ..
    } = track
    else {
        return Rewrite::Drop;
    };
    // The track's own header: the made-up lead and FourCC, then what the
    // track body starts with (a composition time for H.264/H.265 frames).
    // `find_track` bounds the range by the body.
    let mut first = track.head().to_vec();
    first.extend_from_slice(&body[payload_start..payload_end.min(payload_start + 3)]);
    match legacy(&first) {
        Some((header_len, Some(head))) => {
            let skip = header_len.saturating_sub(track.head().len());
            Rewrite::slice(
                head.head(),
                (payload_start + skip).min(payload_end),
                payload_end,
            )
        }
        Some((_, None)) => Rewrite::Drop,
        None => track,
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
    if h.packet == AudioPacket::MultiTrack {
        let Some(track) = multitrack::audio_track(body, 0) else {
            return Rewrite::Drop;
        };
        return legacy_from_track(body, track, |b| match parse_audio_tag_header(b) {
            Ok(h) if matches!(h.codec, AudioCodec::Aac | AudioCodec::Mp3) => {
                Some((h.header_len, legacy_audio(&h)))
            }
            Ok(_) => None,
            Err(_) => Some((0, None)),
        });
    }
    match legacy_audio(&h) {
        Some(head) => Rewrite::slice(head.head(), h.header_len, body.len()),
        None => Rewrite::Drop,
    }
}

/// The legacy header of Enhanced AAC or MP3 audio.
fn legacy_audio(h: &AudioTagHeader) -> Option<Rewrite> {
    let head: &[u8] = match (h.codec, h.packet) {
        (AudioCodec::Aac, AudioPacket::SequenceHeader) => &[LEGACY_AAC, 0],
        (AudioCodec::Aac, AudioPacket::CodedFrames) => &[LEGACY_AAC, 1],
        (AudioCodec::Mp3, AudioPacket::CodedFrames) => &[LEGACY_MP3],
        _ => return None,
    };
    Some(Rewrite::slice(head, 0, 0))
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
        // Multitrack: legacy viewers get track 0.
        let multi = b"\x96\x01hvc1\x00\x00\x00\x07NAL";
        assert_eq!(
            rewritten(multi, rewrite_video(multi, Legacy)).as_deref(),
            Some(&b"\x1c\x01\x00\x00\x07NAL"[..])
        );
        assert_eq!(rewrite_video(multi, Enhanced), Rewrite::Same);
        let other_track = b"\x96\x10hvc1\x01\x00\x00\x01x";
        assert_eq!(rewrite_video(other_track, Legacy), Rewrite::Drop);
        let av1_track = b"\x96\x03av01\x00OBU";
        assert_eq!(
            rewritten(av1_track, rewrite_video(av1_track, Legacy)).as_deref(),
            Some(&b"\x93av01OBU"[..])
        );
        // AV1 and legacy H.264 are the same for everyone.
        for body in [&b"\x91av01xyz"[..], b"\x17\x01\x00\x00\x00x"] {
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
        let multi = b"\x95\x01mp4a\x00AAC";
        assert_eq!(
            rewritten(multi, rewrite_audio(multi, Legacy)),
            Some(b"\xaf\x01AAC".to_vec())
        );
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
                    for rw in [rewrite_video(&b, to), rewrite_audio(&b, to)] {
                        if let Rewrite::Header { payload_start, payload_end, .. } = rw {
                            prop_assert!(payload_start <= payload_end && payload_end <= b.len());
                        }
                    }
                }
            }
        }
    }
}
