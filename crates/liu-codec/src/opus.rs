//! Opus: the identification header (`OpusHead`, RFC 7845 §5.1), the payload
//! of an Enhanced RTMP `Opus` sequence start, its `dOps` form for ISO BMFF
//! (Encapsulation of Opus in ISO BMFF §4.3.2), and packet durations from the
//! TOC byte (RFC 6716 §3.1).

use crate::error::{CodecError, Result};

/// Opus always runs at 48 kHz (RFC 7845 §4).
pub const OPUS_RATE: u32 = 48_000;

/// An `OpusHead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the decoder output at the start.
    pub pre_skip: u16,
    /// The original input rate (informational).
    pub input_sample_rate: u32,
    /// Q7.8 dB.
    pub output_gain: i16,
    pub channel_mapping_family: u8,
    /// Stream count, coupled count and the mapping, for families other than 0.
    pub mapping_table: Vec<u8>,
}

impl OpusHead {
    pub fn parse(data: &[u8]) -> Result<Self> {
        let fixed = data
            .get(..19)
            .ok_or(CodecError::Truncated { what: "OpusHead" })?;
        if &fixed[..8] != b"OpusHead" {
            return Err(CodecError::Invalid(
                "Opus sequence start without OpusHead magic",
            ));
        }
        if fixed[8] >> 4 != 0 {
            return Err(CodecError::Invalid("OpusHead major version is not 0"));
        }
        let channels = fixed[9];
        if channels == 0 {
            return Err(CodecError::Invalid("OpusHead with 0 channels"));
        }
        let family = fixed[18];
        let mapping_table = if family == 0 {
            Vec::new()
        } else {
            data.get(19..21 + usize::from(channels))
                .ok_or(CodecError::Truncated {
                    what: "OpusHead channel mapping table",
                })?
                .to_vec()
        };
        Ok(OpusHead {
            channels,
            pre_skip: u16::from_le_bytes([fixed[10], fixed[11]]),
            input_sample_rate: u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]),
            output_gain: i16::from_le_bytes([fixed[16], fixed[17]]),
            channel_mapping_family: family,
            mapping_table,
        })
    }

    /// The `OpusSpecificBox` content: the same fields, big-endian, version 0.
    pub fn dops(&self) -> Vec<u8> {
        let mut out = vec![0, self.channels];
        out.extend_from_slice(&self.pre_skip.to_be_bytes());
        out.extend_from_slice(&self.input_sample_rate.to_be_bytes());
        out.extend_from_slice(&self.output_gain.to_be_bytes());
        out.push(self.channel_mapping_family);
        out.extend_from_slice(&self.mapping_table);
        out
    }
}

/// Samples (at 48 kHz) in an Opus packet, from its TOC byte and frame count
/// (RFC 6716 §3.1, §3.2.5); `None` for an empty or malformed packet.
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 1/400 s (2.5 ms) units, by configuration (Table 2).
    let units = match config {
        0..=11 => [4, 8, 16, 24][usize::from(config % 4)],
        12..=15 => [4, 8][usize::from(config % 2)],
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(packet.get(1)? & 0x3f),
    };
    // A packet holds 120 ms at most (§3.4, requirement R5).
    let samples = frames * units * 120;
    (frames > 0 && samples <= 5760).then_some(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_opus_head() {
        // What FFmpeg 9 (libopus, mono) sends as the Opus sequence start.
        let head = b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        let h = OpusHead::parse(head).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (h.channels, h.pre_skip, h.input_sample_rate),
            (1, 312, 48_000)
        );
        assert_eq!(h.dops(), [0, 1, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0]);
        assert!(OpusHead::parse(&head[..18]).is_err());
        assert!(OpusHead::parse(b"OpusTags\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00").is_err());
        let mut family1 = head.to_vec();
        family1[18] = 1;
        assert!(OpusHead::parse(&family1).is_err(), "mapping table missing");
        family1.extend_from_slice(&[1, 0, 0]);
        assert_eq!(
            OpusHead::parse(&family1).map(|h| h.mapping_table),
            Ok(vec![1, 0, 0])
        );
    }

    #[test]
    fn packet_durations() {
        // CELT 20 ms (config 31), one frame: 960 samples.
        assert_eq!(packet_samples(&[0xf8, 0xb4]), Some(960));
        // SILK 60 ms (config 3), two frames (code 1).
        assert_eq!(packet_samples(&[0x19]), Some(5760));
        // CELT 2.5 ms (config 16), code 3 with 4 frames.
        assert_eq!(packet_samples(&[0x83, 0x04]), Some(480));
        assert_eq!(packet_samples(&[0x83]), None);
        // Code 3 with 48 frames of 20 ms: over 120 ms.
        assert_eq!(packet_samples(&[0xfb, 48]), None);
        assert_eq!(packet_samples(&[]), None);
    }
}
