//! Audio tag header: legacy `AudioTagHeader` (FLV spec E.4.2.1) and Enhanced RTMP
//! `ExAudioTagHeader` (v2, with ModEx and multitrack).

use super::{MULTITRACK_MANY_CODECS, skip_mod_ex};
use crate::error::Result;
use liu_codec::cursor::Cursor;

/// `SoundFormat` value announcing the Enhanced RTMP ExAudioTagHeader.
const SOUND_FORMAT_EX_HEADER: u8 = 9;
/// Legacy `SoundFormat` of AAC.
const SOUND_FORMAT_AAC: u8 = 10;

/// Audio codec, from the legacy `SoundFormat` or the Enhanced RTMP FourCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// AAC: legacy 10 or FourCC `mp4a`.
    Aac,
    /// MP3: legacy 2 or FourCC `.mp3`.
    Mp3,
    /// Legacy 14: MP3 at 8 kHz.
    Mp3_8k,
    /// Legacy 11.
    Speex,
    /// Legacy 6.
    Nellymoser,
    /// Legacy 4: Nellymoser 16 kHz mono.
    Nellymoser16kMono,
    /// Legacy 5: Nellymoser 8 kHz mono.
    Nellymoser8kMono,
    /// Legacy 7: G.711 A-law.
    G711A,
    /// Legacy 8: G.711 mu-law.
    G711U,
    /// Legacy 0: linear PCM, platform endian.
    LinearPcm,
    /// Legacy 3: linear PCM, little endian.
    LinearPcmLe,
    /// Legacy 1: ADPCM.
    Adpcm,
    /// Legacy 15: device-specific sound.
    DeviceSpecific,
    /// FourCC `Opus`.
    Opus,
    /// FourCC `ac-3`.
    Ac3,
    /// FourCC `ec-3`.
    Eac3,
    /// FourCC `fLaC`.
    Flac,
    /// An enhanced multitrack header with many codecs (no shared FourCC).
    Unspecified,
    /// Legacy 12 or 13 (reserved).
    UnknownLegacy(u8),
    /// Any other FourCC.
    UnknownFourCc([u8; 4]),
}

impl AudioCodec {
    fn from_legacy(format: u8) -> AudioCodec {
        match format {
            0 => AudioCodec::LinearPcm,
            1 => AudioCodec::Adpcm,
            2 => AudioCodec::Mp3,
            3 => AudioCodec::LinearPcmLe,
            4 => AudioCodec::Nellymoser16kMono,
            5 => AudioCodec::Nellymoser8kMono,
            6 => AudioCodec::Nellymoser,
            7 => AudioCodec::G711A,
            8 => AudioCodec::G711U,
            SOUND_FORMAT_AAC => AudioCodec::Aac,
            11 => AudioCodec::Speex,
            14 => AudioCodec::Mp3_8k,
            15 => AudioCodec::DeviceSpecific,
            other => AudioCodec::UnknownLegacy(other),
        }
    }

    /// Maps an Enhanced RTMP `AudioFourCc`.
    pub fn from_fourcc(fourcc: [u8; 4]) -> AudioCodec {
        match &fourcc {
            b"mp4a" => AudioCodec::Aac,
            b".mp3" => AudioCodec::Mp3,
            b"Opus" => AudioCodec::Opus,
            b"ac-3" => AudioCodec::Ac3,
            b"ec-3" => AudioCodec::Eac3,
            b"fLaC" => AudioCodec::Flac,
            _ => AudioCodec::UnknownFourCc(fourcc),
        }
    }
}

/// What the audio packet carries: legacy `AACPacketType` or Enhanced `AudioPacketType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioPacket {
    /// AAC 0 / `SequenceStart`: codec configuration (e.g. AudioSpecificConfig).
    SequenceHeader,
    /// AAC 1 / `CodedFrames`; every non-AAC legacy packet.
    CodedFrames,
    /// Enhanced `SequenceEnd`.
    SequenceEnd,
    /// Enhanced `MultichannelConfig`.
    MultichannelConfig,
    /// Enhanced `Multitrack`; the track list starting at `header_len` is not parsed.
    MultiTrack,
    /// Any other packet type (reserved values).
    Other(u8),
}

/// A parsed audio tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTagHeader {
    /// The codec.
    pub codec: AudioCodec,
    /// Legacy AACPacketType 0 or Enhanced SequenceStart.
    pub is_sequence_header: bool,
    /// True when `SoundFormat` was 9 (Enhanced RTMP ExHeader).
    pub enhanced: bool,
    /// Bytes of the tag body before the codec payload (1 legacy, 2 legacy AAC, 5 enhanced).
    pub header_len: usize,
    /// Legacy `SoundRate` (0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz); 0 when enhanced.
    pub sound_rate: u8,
    /// Legacy `SoundSize` (0 = 8-bit, 1 = 16-bit); 0 when enhanced.
    pub sound_size: u8,
    /// Legacy `SoundType` (0 = mono, 1 = stereo); 0 when enhanced.
    pub sound_type: u8,
    /// The packet type.
    pub packet: AudioPacket,
}

/// Parses the audio tag header at the start of an `AUDIODATA` body.
///
/// Legacy (FLV spec E.4.2.1): one byte of format/rate/size/type, plus the
/// `AACPacketType` byte for AAC. Enhanced (`SoundFormat` 9, Enhanced RTMP v2):
/// the low nibble is the packet type, ModEx prefixes are skipped, then a
/// multitrack header or the FourCC follows.
pub fn parse_audio_tag_header(body: &[u8]) -> Result<AudioTagHeader> {
    let mut c = Cursor::new(body);
    let first = c.u8("audio tag header")?;
    let format = first >> 4;
    if format == SOUND_FORMAT_EX_HEADER {
        return parse_enhanced(c, first);
    }
    let mut header = AudioTagHeader {
        codec: AudioCodec::from_legacy(format),
        is_sequence_header: false,
        enhanced: false,
        header_len: 1,
        sound_rate: (first >> 2) & 0x03,
        sound_size: (first >> 1) & 0x01,
        sound_type: first & 0x01,
        packet: AudioPacket::CodedFrames,
    };
    if format == SOUND_FORMAT_AAC {
        header.packet = match c.u8("AACPacketType")? {
            0 => AudioPacket::SequenceHeader,
            1 => AudioPacket::CodedFrames,
            other => AudioPacket::Other(other),
        };
        header.is_sequence_header = header.packet == AudioPacket::SequenceHeader;
        header.header_len = c.position();
    }
    Ok(header)
}

fn parse_enhanced(mut c: Cursor<'_>, first: u8) -> Result<AudioTagHeader> {
    const MULTITRACK: u8 = 5;
    let packet_type = skip_mod_ex(&mut c, first & 0x0f)?;
    let mut codec = AudioCodec::Unspecified;
    let packet = if packet_type == MULTITRACK {
        let b = c.u8("audio multitrack type")?;
        if b >> 4 != MULTITRACK_MANY_CODECS {
            codec = AudioCodec::from_fourcc(c.fourcc("audio FourCC")?);
        }
        AudioPacket::MultiTrack
    } else {
        codec = AudioCodec::from_fourcc(c.fourcc("audio FourCC")?);
        match packet_type {
            0 => AudioPacket::SequenceHeader,
            1 => AudioPacket::CodedFrames,
            2 => AudioPacket::SequenceEnd,
            4 => AudioPacket::MultichannelConfig,
            other => AudioPacket::Other(other),
        }
    };
    Ok(AudioTagHeader {
        codec,
        is_sequence_header: packet == AudioPacket::SequenceHeader,
        enhanced: true,
        header_len: c.position(),
        sound_rate: 0,
        sound_size: 0,
        sound_type: 0,
        packet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FlvError;

    fn parse(b: &[u8]) -> AudioTagHeader {
        match parse_audio_tag_header(b) {
            Ok(h) => h,
            Err(e) => panic!("{b:02x?}: {e}"),
        }
    }

    #[test]
    fn legacy_aac() {
        let h = parse(&[0xaf, 0x00, 0x12, 0x10]);
        assert_eq!(h.codec, AudioCodec::Aac);
        assert!(h.is_sequence_header && !h.enhanced);
        assert_eq!((h.sound_rate, h.sound_size, h.sound_type), (3, 1, 1));
        assert_eq!((h.header_len, h.packet), (2, AudioPacket::SequenceHeader));
        let h = parse(&[0xaf, 0x01, 0x21]);
        assert!(!h.is_sequence_header);
        assert_eq!((h.header_len, h.packet), (2, AudioPacket::CodedFrames));
        assert_eq!(parse(&[0xae, 0x07]).packet, AudioPacket::Other(7));
        assert!(matches!(
            parse_audio_tag_header(&[0xaf]),
            Err(FlvError::Truncated { .. })
        ));
    }

    #[test]
    fn legacy_formats() {
        let cases = [
            (0x2e, AudioCodec::Mp3, 3, 1, 0),
            (0x72, AudioCodec::G711A, 0, 1, 0),
            (0x82, AudioCodec::G711U, 0, 1, 0),
            (0xb6, AudioCodec::Speex, 1, 1, 0),
            (0x6d, AudioCodec::Nellymoser, 3, 0, 1),
            (0x4a, AudioCodec::Nellymoser16kMono, 2, 1, 0),
            (0x52, AudioCodec::Nellymoser8kMono, 0, 1, 0),
            (0x0f, AudioCodec::LinearPcm, 3, 1, 1),
            (0x3f, AudioCodec::LinearPcmLe, 3, 1, 1),
            (0x1f, AudioCodec::Adpcm, 3, 1, 1),
            (0xe2, AudioCodec::Mp3_8k, 0, 1, 0),
            (0xf0, AudioCodec::DeviceSpecific, 0, 0, 0),
            (0xc0, AudioCodec::UnknownLegacy(12), 0, 0, 0),
        ];
        for (b, codec, rate, size, ty) in cases {
            let h = parse(&[b]);
            assert_eq!(h.codec, codec);
            assert_eq!((h.sound_rate, h.sound_size, h.sound_type), (rate, size, ty));
            assert_eq!((h.header_len, h.is_sequence_header), (1, false));
        }
    }

    #[test]
    fn enhanced_fourccs() {
        let cases: [(&[u8; 4], AudioCodec); 6] = [
            (b"Opus", AudioCodec::Opus),
            (b"fLaC", AudioCodec::Flac),
            (b"ac-3", AudioCodec::Ac3),
            (b"ec-3", AudioCodec::Eac3),
            (b".mp3", AudioCodec::Mp3),
            (b"mp4a", AudioCodec::Aac),
        ];
        for (fourcc, codec) in cases {
            let mut b = vec![0x90];
            b.extend_from_slice(fourcc);
            b.push(0x13);
            let h = parse(&b);
            assert_eq!(h.codec, codec);
            assert!(h.enhanced && h.is_sequence_header);
            assert_eq!(h.header_len, 5);
            b[0] = 0x91;
            let h = parse(&b);
            assert!(!h.is_sequence_header);
            assert_eq!(h.packet, AudioPacket::CodedFrames);
        }
        assert_eq!(parse(b"\x92Opus").packet, AudioPacket::SequenceEnd);
        assert_eq!(parse(b"\x94Opus").packet, AudioPacket::MultichannelConfig);
        assert_eq!(parse(b"\x93Opus").packet, AudioPacket::Other(3));
        assert_eq!(
            parse(b"\x90wxyz").codec,
            AudioCodec::UnknownFourCc(*b"wxyz")
        );
    }

    #[test]
    fn enhanced_mod_ex_and_multitrack() {
        let h = parse(b"\x97\x02\x00\x00\x10\x01Opus\xff");
        assert_eq!(
            (h.codec, h.packet, h.header_len),
            (AudioCodec::Opus, AudioPacket::CodedFrames, 10)
        );
        let h = parse(b"\x95\x11mp4a\x00");
        assert_eq!(
            (h.codec, h.packet, h.header_len),
            (AudioCodec::Aac, AudioPacket::MultiTrack, 6)
        );
        let h = parse(b"\x95\x21Opus");
        assert_eq!(
            (h.codec, h.packet, h.header_len),
            (AudioCodec::Unspecified, AudioPacket::MultiTrack, 2)
        );
        for b in [&b"\x90Opu"[..], b"\x95", b"\x97\x00"] {
            assert!(matches!(
                parse_audio_tag_header(b),
                Err(FlvError::Truncated { .. })
            ));
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                if let Ok(h) = parse_audio_tag_header(&b) {
                    prop_assert!(h.header_len <= b.len());
                }
            }
        }
    }
}
