//! Video tag header: legacy `VideoTagHeader` (FLV spec E.4.3.1) and Enhanced RTMP
//! `ExVideoTagHeader` (v1, plus v2 ModEx, command frames and multitrack).

use super::{MULTITRACK_MANY_CODECS, skip_mod_ex};
use crate::error::Result;
use liu_codec::cursor::Cursor;

/// Video codec, from the legacy `CodecID` or the Enhanced RTMP FourCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264: legacy id 7 or FourCC `avc1`.
    Avc,
    /// H.265: non-standard legacy id 12 or FourCC `hvc1`.
    Hevc,
    /// FourCC `av01`.
    Av1,
    /// FourCC `vp09`.
    Vp9,
    /// FourCC `vp08`.
    Vp8,
    /// H.266: FourCC `vvc1` (Enhanced RTMP v2).
    Vvc,
    /// Legacy id 2.
    SorensonH263,
    /// Legacy id 3.
    ScreenVideo,
    /// Legacy id 4 (On2 VP6).
    Vp6,
    /// Legacy id 5 (On2 VP6 with alpha).
    Vp6Alpha,
    /// Legacy id 6.
    ScreenVideo2,
    /// An enhanced header that carries no FourCC (command frames, multitrack with many codecs).
    Unspecified,
    /// Any other legacy `CodecID`.
    UnknownLegacy(u8),
    /// Any other FourCC.
    UnknownFourCc([u8; 4]),
}

impl VideoCodec {
    fn from_legacy(id: u8) -> VideoCodec {
        match id {
            2 => VideoCodec::SorensonH263,
            3 => VideoCodec::ScreenVideo,
            4 => VideoCodec::Vp6,
            5 => VideoCodec::Vp6Alpha,
            6 => VideoCodec::ScreenVideo2,
            7 => VideoCodec::Avc,
            12 => VideoCodec::Hevc,
            other => VideoCodec::UnknownLegacy(other),
        }
    }

    /// Maps an Enhanced RTMP `VideoFourCc`.
    pub fn from_fourcc(fourcc: [u8; 4]) -> VideoCodec {
        match &fourcc {
            b"avc1" => VideoCodec::Avc,
            b"hvc1" => VideoCodec::Hevc,
            b"av01" => VideoCodec::Av1,
            b"vp09" => VideoCodec::Vp9,
            b"vp08" => VideoCodec::Vp8,
            b"vvc1" => VideoCodec::Vvc,
            _ => VideoCodec::UnknownFourCc(fourcc),
        }
    }

    /// Whether coded frames carry an SI24 composition time (AVC, HEVC, VVC).
    fn has_composition_time(self) -> bool {
        matches!(self, VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Vvc)
    }
}

/// `FrameType` (FLV spec E.4.3.1; 3 bits in Enhanced RTMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoFrameType {
    /// 1: key frame (seekable).
    Key,
    /// 2: inter frame.
    Inter,
    /// 3: disposable inter frame (H.263 only).
    DisposableInter,
    /// 4: generated key frame (server use).
    Generated,
    /// 5: video info / command frame.
    Command,
    /// 0 and 6 and up.
    Reserved(u8),
}

impl VideoFrameType {
    fn from_u8(v: u8) -> VideoFrameType {
        match v {
            1 => VideoFrameType::Key,
            2 => VideoFrameType::Inter,
            3 => VideoFrameType::DisposableInter,
            4 => VideoFrameType::Generated,
            5 => VideoFrameType::Command,
            other => VideoFrameType::Reserved(other),
        }
    }
}

/// What the video packet carries: legacy `AVCPacketType` or Enhanced `VideoPacketType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoPacket {
    /// Decoder configuration record (AVC 0 / `SequenceStart`).
    SequenceHeader,
    /// Coded frames (AVC 1 / `CodedFrames` / `CodedFramesX`; every non-AVC legacy frame).
    CodedFrames,
    /// End of sequence (AVC 2 / `SequenceEnd`).
    EndOfSequence,
    /// AMF-encoded metadata such as `colorInfo` (Enhanced `Metadata`).
    Metadata,
    /// Enhanced `Multitrack`; the track list starting at `header_len` is not parsed.
    MultiTrack,
    /// A command frame: the byte at `header_len` is the command (0 start seek, 1 end seek).
    Command,
    /// Any other packet type, e.g. 5 `MPEG2TSSequenceStart` or a reserved value.
    Other(u8),
}

/// A parsed video tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTagHeader {
    /// The codec.
    pub codec: VideoCodec,
    /// The frame type.
    pub frame_type: VideoFrameType,
    /// The packet type.
    pub packet: VideoPacket,
    /// Composition time offset in ms (legacy AVC/HEVC: SI24 after the packet type;
    /// Enhanced: CodedFrames carries SI24 for avc1/hvc1/vvc1, CodedFramesX means 0).
    pub composition_time: i32,
    /// True when the Enhanced RTMP ExHeader bit was set.
    pub enhanced: bool,
    /// Bytes of the tag body before the codec payload (5 for legacy AVC, 5 for hvc1
    /// SequenceStart, 8 for hvc1 CodedFrames, 5 for CodedFramesX; ModEx bytes included).
    pub header_len: usize,
}

impl VideoTagHeader {
    /// Key frame or generated key frame.
    pub fn is_keyframe(&self) -> bool {
        matches!(
            self.frame_type,
            VideoFrameType::Key | VideoFrameType::Generated
        )
    }

    /// A decoder configuration record (legacy AVCPacketType 0 / Enhanced SequenceStart).
    pub fn is_sequence_header(&self) -> bool {
        self.packet == VideoPacket::SequenceHeader
    }
}

/// Parses the video tag header at the start of a `VIDEODATA` body.
///
/// Legacy (FLV spec E.4.3.1): AVC (7) and HEVC (12) read `AVCPacketType` and an
/// SI24 composition time; other codecs have a one-byte header. Enhanced (ExHeader
/// bit 0x80): ModEx prefixes are skipped, then a command byte, a multitrack
/// header or the FourCC follows (Enhanced RTMP v2 `ExVideoTagHeader`).
pub fn parse_video_tag_header(body: &[u8]) -> Result<VideoTagHeader> {
    let mut c = Cursor::new(body);
    let first = c.u8("video tag header")?;
    if first & 0x80 != 0 {
        parse_enhanced(c, first)
    } else {
        parse_legacy(c, first)
    }
}

fn parse_legacy(mut c: Cursor<'_>, first: u8) -> Result<VideoTagHeader> {
    let frame_type = VideoFrameType::from_u8(first >> 4);
    let codec = VideoCodec::from_legacy(first & 0x0f);
    let mut header = VideoTagHeader {
        codec,
        frame_type,
        packet: VideoPacket::CodedFrames,
        composition_time: 0,
        enhanced: false,
        header_len: 1,
    };
    if frame_type == VideoFrameType::Command {
        // Enhanced RTMP v2: a legacy command frame is followed directly by the UI8 command.
        header.packet = VideoPacket::Command;
    } else if matches!(codec, VideoCodec::Avc | VideoCodec::Hevc) {
        header.packet = match c.u8("AVCPacketType")? {
            0 => VideoPacket::SequenceHeader,
            1 => VideoPacket::CodedFrames,
            2 => VideoPacket::EndOfSequence,
            other => VideoPacket::Other(other),
        };
        header.composition_time = c.i24("AVC composition time")?;
        header.header_len = c.position();
    }
    Ok(header)
}

fn parse_enhanced(mut c: Cursor<'_>, first: u8) -> Result<VideoTagHeader> {
    let frame_type = VideoFrameType::from_u8((first >> 4) & 0x07);
    let packet_type = skip_mod_ex(&mut c, first & 0x0f)?;
    let mut header = VideoTagHeader {
        codec: VideoCodec::Unspecified,
        frame_type,
        packet: VideoPacket::Other(packet_type),
        composition_time: 0,
        enhanced: true,
        header_len: 0,
    };
    const METADATA: u8 = 4;
    const MULTITRACK: u8 = 6;
    if packet_type != METADATA && frame_type == VideoFrameType::Command {
        // No FourCC and no payload: just the UI8 command, which must be present.
        header.packet = VideoPacket::Command;
        header.header_len = c.position();
        c.u8("video command")?;
        return Ok(header);
    }
    if packet_type == MULTITRACK {
        let b = c.u8("video multitrack type")?;
        if b >> 4 != MULTITRACK_MANY_CODECS {
            header.codec = VideoCodec::from_fourcc(c.fourcc("video FourCC")?);
        }
        header.packet = VideoPacket::MultiTrack;
        header.header_len = c.position();
        return Ok(header);
    }
    header.codec = VideoCodec::from_fourcc(c.fourcc("video FourCC")?);
    header.packet = match packet_type {
        0 => VideoPacket::SequenceHeader,
        1 => {
            if header.codec.has_composition_time() {
                header.composition_time = c.i24("video composition time")?;
            }
            VideoPacket::CodedFrames
        }
        2 => VideoPacket::EndOfSequence,
        3 => VideoPacket::CodedFrames,
        METADATA => VideoPacket::Metadata,
        other => VideoPacket::Other(other),
    };
    header.header_len = c.position();
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FlvError;

    fn parse(b: &[u8]) -> VideoTagHeader {
        match parse_video_tag_header(b) {
            Ok(h) => h,
            Err(e) => panic!("{b:02x?}: {e}"),
        }
    }

    #[test]
    fn legacy_avc_sequence_header() {
        let h = parse(&[0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64]);
        assert_eq!(h.codec, VideoCodec::Avc);
        assert_eq!(h.frame_type, VideoFrameType::Key);
        assert!(h.is_keyframe() && h.is_sequence_header() && !h.enhanced);
        assert_eq!((h.header_len, h.composition_time), (5, 0));
    }

    #[test]
    fn legacy_avc_frames_with_signed_cts() {
        let h = parse(&[0x27, 0x01, 0xff, 0xff, 0xd8, 0, 0, 0, 1]);
        assert_eq!(h.frame_type, VideoFrameType::Inter);
        assert_eq!(h.packet, VideoPacket::CodedFrames);
        assert_eq!(h.composition_time, -40);
        assert!(!h.is_keyframe());
        let h = parse(&[0x17, 0x01, 0x00, 0x00, 0x50]);
        assert_eq!(h.composition_time, 80);
        assert_eq!(
            parse(&[0x17, 0x02, 0, 0, 0]).packet,
            VideoPacket::EndOfSequence
        );
        assert_eq!(parse(&[0x17, 0x09, 0, 0, 0]).packet, VideoPacket::Other(9));
    }

    #[test]
    fn legacy_hevc_id_12() {
        let h = parse(&[0x1c, 0x00, 0, 0, 0]);
        assert_eq!(h.codec, VideoCodec::Hevc);
        assert!(h.is_sequence_header());
        assert_eq!(h.header_len, 5);
    }

    #[test]
    fn legacy_other_codecs() {
        let cases = [
            (0x22, VideoCodec::SorensonH263, VideoFrameType::Inter),
            (0x13, VideoCodec::ScreenVideo, VideoFrameType::Key),
            (0x34, VideoCodec::Vp6, VideoFrameType::DisposableInter),
            (0x45, VideoCodec::Vp6Alpha, VideoFrameType::Generated),
            (0x16, VideoCodec::ScreenVideo2, VideoFrameType::Key),
            (
                0x01,
                VideoCodec::UnknownLegacy(1),
                VideoFrameType::Reserved(0),
            ),
        ];
        for (b, codec, frame) in cases {
            let h = parse(&[b, 0xaa]);
            assert_eq!((h.codec, h.frame_type), (codec, frame));
            assert_eq!((h.packet, h.header_len), (VideoPacket::CodedFrames, 1));
        }
    }

    #[test]
    fn legacy_command_frame() {
        let h = parse(&[0x57, 0x01]);
        assert_eq!(h.frame_type, VideoFrameType::Command);
        assert_eq!((h.packet, h.header_len), (VideoPacket::Command, 1));
    }

    #[test]
    fn enhanced_hevc_forms() {
        // SequenceStart, key frame.
        let h = parse(b"\x90hvc1\x01\x02");
        assert_eq!(h.codec, VideoCodec::Hevc);
        assert!(h.enhanced && h.is_keyframe() && h.is_sequence_header());
        assert_eq!(h.header_len, 5);
        // CodedFrames with SI24 composition time.
        let h = parse(b"\x91hvc1\xff\xff\xfe\x00");
        assert_eq!(h.packet, VideoPacket::CodedFrames);
        assert_eq!((h.composition_time, h.header_len), (-2, 8));
        // CodedFramesX, inter frame.
        let h = parse(b"\xa3hvc1\x00");
        assert_eq!(h.frame_type, VideoFrameType::Inter);
        assert_eq!(h.packet, VideoPacket::CodedFrames);
        assert_eq!((h.composition_time, h.header_len), (0, 5));
        // SequenceEnd and Metadata.
        assert_eq!(parse(b"\x92hvc1").packet, VideoPacket::EndOfSequence);
        assert_eq!(parse(b"\x94hvc1\x02").packet, VideoPacket::Metadata);
        assert_eq!(parse(b"\x95av01").packet, VideoPacket::Other(5));
        assert_eq!(parse(b"\x9favc1").packet, VideoPacket::Other(15));
    }

    #[test]
    fn enhanced_codecs_without_cts() {
        for (fourcc, codec) in [
            (b"av01", VideoCodec::Av1),
            (b"vp09", VideoCodec::Vp9),
            (b"vp08", VideoCodec::Vp8),
        ] {
            let mut b = vec![0x91];
            b.extend_from_slice(fourcc);
            b.extend_from_slice(&[0x12, 0x34, 0x56]);
            let h = parse(&b);
            assert_eq!((h.codec, h.header_len, h.composition_time), (codec, 5, 0));
        }
        let h = parse(b"\x91avc1\x00\x00\x21");
        assert_eq!(
            (h.codec, h.header_len, h.composition_time),
            (VideoCodec::Avc, 8, 33)
        );
        let h = parse(b"\x91vvc1\x00\x00\x01");
        assert_eq!(
            (h.codec, h.header_len, h.composition_time),
            (VideoCodec::Vvc, 8, 1)
        );
        assert_eq!(
            parse(b"\x90abcd").codec,
            VideoCodec::UnknownFourCc(*b"abcd")
        );
    }

    #[test]
    fn enhanced_mod_ex_prefix() {
        // ModEx with 3 bytes of TimestampOffsetNano, then CodedFrames for hvc1.
        let h = parse(b"\x97\x02\x00\x01\x00\x01hvc1\x00\x00\x05");
        assert_eq!(h.packet, VideoPacket::CodedFrames);
        assert_eq!((h.composition_time, h.header_len), (5, 13));
    }

    #[test]
    fn enhanced_command_and_multitrack() {
        let h = parse(&[0xd0, 0x01]);
        assert_eq!(h.frame_type, VideoFrameType::Command);
        assert_eq!(
            (h.codec, h.packet, h.header_len),
            (VideoCodec::Unspecified, VideoPacket::Command, 1)
        );
        assert!(parse_video_tag_header(&[0xd0]).is_err());
        // Command frame type is ignored for Metadata.
        assert_eq!(parse(b"\xd4hvc1").packet, VideoPacket::Metadata);
        // OneTrack multitrack of av01 coded frames.
        let h = parse(b"\x96\x01av01\x00rest");
        assert_eq!(
            (h.codec, h.packet, h.header_len),
            (VideoCodec::Av1, VideoPacket::MultiTrack, 6)
        );
        // ManyTracksManyCodecs: no shared FourCC.
        let h = parse(b"\x96\x21hvc1");
        assert_eq!(
            (h.codec, h.packet, h.header_len),
            (VideoCodec::Unspecified, VideoPacket::MultiTrack, 2)
        );
    }

    #[test]
    fn truncation() {
        let short: [&[u8]; 6] = [
            b"",
            b"\x17",
            b"\x17\x01\x00",
            b"\x90hvc",
            b"\x91hvc1\x00",
            b"\x97\x05\x00",
        ];
        for b in short {
            assert!(
                matches!(parse_video_tag_header(b), Err(FlvError::Truncated { .. })),
                "{b:02x?}"
            );
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                if let Ok(h) = parse_video_tag_header(&b) {
                    prop_assert!(h.header_len <= b.len());
                }
            }

            #[test]
            fn legacy_avc_cts_round_trip(cts in -(1i32 << 23)..(1i32 << 23), key in any::<bool>()) {
                let [_, a, b, c] = cts.to_be_bytes();
                let first = if key { 0x17 } else { 0x27 };
                let h = parse_video_tag_header(&[first, 1, a, b, c]);
                prop_assert_eq!(h.map(|h| h.composition_time), Ok(cts));
            }
        }
    }
}
