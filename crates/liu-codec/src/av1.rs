//! AV1: the `AV1CodecConfigurationRecord` (AV1 Codec ISO Media File Format
//! Binding §2.3), the payload of an Enhanced RTMP `av01` sequence start, the
//! maximum picture size from its sequence header OBU (AV1 spec §5.5) and the
//! codec string (§A.3 of the binding).

use bytes::Bytes;

use crate::bits::BitReader;
use crate::error::{CodecError, Result};

/// `obu_type` of a sequence header (AV1 spec §6.2.2).
const OBU_SEQUENCE_HEADER: u8 = 1;

/// An AV1 codec configuration record (`av1C`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1CodecConfigurationRecord {
    pub seq_profile: u8,
    pub seq_level_idx_0: u8,
    pub seq_tier_0: bool,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub monochrome: bool,
    /// The whole record as received (written back as it is).
    pub raw: Bytes,
}

/// What Liu uses of a sequence header OBU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1SequenceHeader {
    /// `max_frame_width_minus_1 + 1`.
    pub max_width: u32,
    /// `max_frame_height_minus_1 + 1`.
    pub max_height: u32,
}

impl Av1CodecConfigurationRecord {
    /// Parses a record: `marker` 1, `version` 1, then the fields.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let head = data
            .get(..4)
            .ok_or(CodecError::Truncated { what: "av1C" })?;
        if head[0] != 0x81 {
            return Err(CodecError::Invalid("av1C marker or version is not 1"));
        }
        Ok(Av1CodecConfigurationRecord {
            seq_profile: head[1] >> 5,
            seq_level_idx_0: head[1] & 0x1f,
            seq_tier_0: head[2] & 0x80 != 0,
            high_bitdepth: head[2] & 0x40 != 0,
            twelve_bit: head[2] & 0x20 != 0,
            monochrome: head[2] & 0x10 != 0,
            raw: Bytes::copy_from_slice(data),
        })
    }

    /// Bits per sample: 8, 10 or 12.
    pub fn bit_depth(&self) -> u8 {
        match (self.high_bitdepth, self.twelve_bit) {
            (true, true) => 12,
            (true, false) => 10,
            _ => 8,
        }
    }

    /// The sequence header among `configOBUs`, parsed.
    pub fn sequence_header(&self) -> Result<Av1SequenceHeader> {
        let mut obus = self.raw.get(4..).unwrap_or_default();
        while let Some((&header, rest)) = obus.split_first() {
            let obu_type = (header >> 3) & 0x0f;
            let extension = header & 0x04 != 0;
            if header & 0x02 == 0 {
                return Err(CodecError::Invalid("av1C configOBUs without obu_size"));
            }
            let rest = if extension {
                rest.get(1..).unwrap_or_default()
            } else {
                rest
            };
            let (size, len) = leb128(rest)?;
            let payload = rest
                .get(len..len.saturating_add(size))
                .ok_or(CodecError::Truncated { what: "AV1 OBU" })?;
            if obu_type == OBU_SEQUENCE_HEADER {
                return parse_sequence_header(payload);
            }
            obus = &rest[len + size..];
        }
        Err(CodecError::Invalid("av1C without a sequence header OBU"))
    }

    /// `av01.P.LLT.DD` (AV1-ISOBMFF §A.3), e.g. `av01.0.04M.08`.
    pub fn codec_string(&self) -> String {
        format!(
            "av01.{}.{:02}{}.{:02}",
            self.seq_profile,
            self.seq_level_idx_0,
            if self.seq_tier_0 { 'H' } else { 'M' },
            self.bit_depth()
        )
    }
}

/// `leb128()` (AV1 spec §4.10.5): value and bytes read.
fn leb128(data: &[u8]) -> Result<(usize, usize)> {
    let mut value = 0u64;
    for i in 0..8 {
        let b = *data.get(i).ok_or(CodecError::Truncated {
            what: "AV1 obu_size",
        })?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(value)
                .map(|v| (v, i + 1))
                .map_err(|_| CodecError::Invalid("AV1 obu_size too large"));
        }
    }
    Err(CodecError::Invalid("AV1 leb128 longer than 8 bytes"))
}

/// `sequence_header_obu()` (AV1 spec §5.5.1) up to the maximum frame size.
fn parse_sequence_header(payload: &[u8]) -> Result<Av1SequenceHeader> {
    let mut r = BitReader::new(payload);
    r.skip(3, "seq_profile")?;
    r.skip(1, "still_picture")?;
    let reduced = r.bit("reduced_still_picture_header")?;
    if reduced {
        r.skip(5, "seq_level_idx")?;
    } else {
        let mut decoder_model_info = false;
        let mut buffer_delay_length = 0;
        if r.bit("timing_info_present_flag")? {
            // timing_info() (§5.5.3)
            r.skip(64, "num_units_in_display_tick, time_scale")?;
            if r.bit("equal_picture_interval")? {
                uvlc(&mut r)?;
            }
            decoder_model_info = r.bit("decoder_model_info_present_flag")?;
            if decoder_model_info {
                // decoder_model_info() (§5.5.4)
                buffer_delay_length = r.bits(5, "buffer_delay_length_minus_1")? as usize + 1;
                r.skip(32 + 5 + 5, "decoder model info")?;
            }
        }
        let initial_display_delay = r.bit("initial_display_delay_present_flag")?;
        let points = r.bits(5, "operating_points_cnt_minus_1")? + 1;
        for _ in 0..points {
            r.skip(12, "operating_point_idc")?;
            if r.bits(5, "seq_level_idx")? > 7 {
                r.skip(1, "seq_tier")?;
            }
            if decoder_model_info && r.bit("decoder_model_present_for_this_op")? {
                // operating_parameters_info() (§5.5.5)
                r.skip(2 * buffer_delay_length + 1, "operating parameters")?;
            }
            if initial_display_delay && r.bit("initial_display_delay_present_for_this_op")? {
                r.skip(4, "initial_display_delay_minus_1")?;
            }
        }
    }
    let width_bits = r.bits(4, "frame_width_bits_minus_1")? + 1;
    let height_bits = r.bits(4, "frame_height_bits_minus_1")? + 1;
    let max_width = r.bits(width_bits, "max_frame_width_minus_1")? + 1;
    let max_height = r.bits(height_bits, "max_frame_height_minus_1")? + 1;
    Ok(Av1SequenceHeader {
        max_width,
        max_height,
    })
}

/// `uvlc()` (AV1 spec §4.10.3), skipped: the leading zeros up to the 1
/// bit, then as many value bits, none from 32 zeros on.
fn uvlc(r: &mut BitReader<'_>) -> Result<()> {
    let mut zeros = 0;
    while !r.bit("uvlc")? {
        zeros += 1;
    }
    if zeros >= 32 {
        return Ok(());
    }
    r.skip(zeros, "uvlc value")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What FFmpeg 9's libsvtav1 wrote for 318x178, Main 4:2:0 8-bit.
    const SVT_318X178: &[u8] = &[
        0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x21, 0xe7, 0xb6, 0x20, 0x17,
        0xc0, 0x02,
    ];

    #[test]
    fn svt_record() {
        let r = Av1CodecConfigurationRecord::parse(SVT_318X178).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.seq_profile, r.seq_level_idx_0, r.bit_depth()), (0, 0, 8));
        assert_eq!(r.codec_string(), "av01.0.00M.08");
        let sh = r.sequence_header().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((sh.max_width, sh.max_height), (318, 178));
        for len in 0..SVT_318X178.len() {
            let cut = Av1CodecConfigurationRecord::parse(&SVT_318X178[..len]);
            assert!(cut.and_then(|r| r.sequence_header()).is_err(), "{len}");
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                if let Ok(r) = Av1CodecConfigurationRecord::parse(&b) {
                    let _ = r.sequence_header();
                    let _ = r.codec_string();
                }
            }
        }
    }
}
