//! H.265 / HEVC: the `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15
//! §8.3.3.1), the payload of an HEVC sequence header in either FLV form,
//! its SPS ([`sps`]) and the RFC 6381 codec string (ISO/IEC 14496-15 Annex E.3).

pub mod sps;

use bytes::Bytes;

use crate::cursor::Cursor;
use crate::error::{CodecError, Result};
pub use sps::{HevcProfile, HevcSps};

/// `nal_unit_type` of a video parameter set (ISO/IEC 23008-2 Table 7-1).
pub const NAL_VPS: u8 = 32;
/// `nal_unit_type` of a picture parameter set.
pub const NAL_PPS: u8 = 34;
/// Size of the record before its NAL unit arrays.
const FIXED_LEN: usize = 23;

/// One NAL unit array of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NalArray {
    /// `array_completeness`: every NAL unit of this type is in the array.
    pub complete: bool,
    /// `NAL_unit_type`.
    pub nal_type: u8,
    /// The NAL units, each with its two-byte header.
    pub units: Vec<Bytes>,
}

/// An HEVC decoder configuration record (ISO/IEC 14496-15 §8.3.3.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcDecoderConfigurationRecord {
    /// `general_profile_space` .. `general_level_idc`, as in the SPS.
    pub profile: HevcProfile,
    /// `min_spatial_segmentation_idc`.
    pub min_spatial_segmentation_idc: u16,
    /// `parallelismType`.
    pub parallelism_type: u8,
    /// `chroma_format_idc`.
    pub chroma_format_idc: u8,
    /// `bitDepthLumaMinus8 + 8`.
    pub bit_depth_luma: u8,
    /// `bitDepthChromaMinus8 + 8`.
    pub bit_depth_chroma: u8,
    /// `avgFrameRate` in frames per 256 s (0: unspecified).
    pub avg_frame_rate: u16,
    /// `constantFrameRate`.
    pub constant_frame_rate: u8,
    /// `numTemporalLayers`.
    pub num_temporal_layers: u8,
    /// `temporalIdNested`.
    pub temporal_id_nested: bool,
    /// Size in bytes of the NAL unit length prefix: 1, 2 or 4.
    pub nal_length_size: u8,
    /// The parameter set (and SEI) arrays, in record order.
    pub arrays: Vec<NalArray>,
}

impl HevcDecoderConfigurationRecord {
    /// Parses a record; `configurationVersion` must be 1 (0 is accepted too,
    /// as some early encoders wrote it).
    pub fn parse(data: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(data);
        if c.u8("HEVC configurationVersion")? > 1 {
            return Err(CodecError::Invalid(
                "HEVCDecoderConfigurationRecord configurationVersion is not 1",
            ));
        }
        let b = c.u8("HEVC general_profile_idc")?;
        let compatibility_flags = c.u32("HEVC general_profile_compatibility_flags")?;
        let constraint = c.take(6, "HEVC general_constraint_indicator_flags")?;
        let constraint_flags = constraint
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        let level_idc = c.u8("HEVC general_level_idc")?;
        let min_spatial_segmentation_idc = c.u16("HEVC min_spatial_segmentation_idc")? & 0x0fff;
        let parallelism_type = c.u8("HEVC parallelismType")? & 0x03;
        let chroma_format_idc = c.u8("HEVC chromaFormat")? & 0x03;
        let bit_depth_luma = (c.u8("HEVC bitDepthLumaMinus8")? & 0x07) + 8;
        let bit_depth_chroma = (c.u8("HEVC bitDepthChromaMinus8")? & 0x07) + 8;
        let avg_frame_rate = c.u16("HEVC avgFrameRate")?;
        let b2 = c.u8("HEVC lengthSizeMinusOne")?;
        let count = c.u8("HEVC numOfArrays")?;
        let mut arrays = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let head = c.u8("HEVC NAL_unit_type")?;
            let units_count = c.u16("HEVC numNalus")?;
            let mut units = Vec::with_capacity(usize::from(units_count).min(c.remaining() / 2));
            for _ in 0..units_count {
                let len = c.u16("HEVC nalUnitLength")?;
                units.push(Bytes::copy_from_slice(
                    c.take(usize::from(len), "HEVC NAL unit")?,
                ));
            }
            arrays.push(NalArray {
                complete: head & 0x80 != 0,
                nal_type: head & 0x3f,
                units,
            });
        }
        Ok(HevcDecoderConfigurationRecord {
            profile: HevcProfile {
                profile_space: b >> 6,
                high_tier: b & 0x20 != 0,
                profile_idc: b & 0x1f,
                compatibility_flags,
                constraint_flags,
                level_idc,
            },
            min_spatial_segmentation_idc,
            parallelism_type,
            chroma_format_idc,
            bit_depth_luma,
            bit_depth_chroma,
            avg_frame_rate,
            constant_frame_rate: b2 >> 6,
            num_temporal_layers: (b2 >> 3) & 0x07,
            temporal_id_nested: b2 & 0x04 != 0,
            nal_length_size: (b2 & 0x03) + 1,
            arrays,
        })
    }

    /// Serializes the record (at most 255 arrays of 65535 NAL units, each
    /// cut to 65535 bytes, as the fields allow).
    pub fn encode(&self) -> Vec<u8> {
        let p = &self.profile;
        let mut out = Vec::with_capacity(FIXED_LEN + 64);
        out.push(1);
        out.push(p.profile_space << 6 | u8::from(p.high_tier) << 5 | (p.profile_idc & 0x1f));
        out.extend_from_slice(&p.compatibility_flags.to_be_bytes());
        out.extend_from_slice(&p.constraint_flags.to_be_bytes()[2..]);
        out.push(p.level_idc);
        out.extend_from_slice(
            &(0xf000 | (self.min_spatial_segmentation_idc & 0x0fff)).to_be_bytes(),
        );
        out.push(0xfc | self.parallelism_type);
        out.push(0xfc | self.chroma_format_idc);
        out.push(0xf8 | (self.bit_depth_luma.saturating_sub(8) & 0x07));
        out.push(0xf8 | (self.bit_depth_chroma.saturating_sub(8) & 0x07));
        out.extend_from_slice(&self.avg_frame_rate.to_be_bytes());
        out.push(
            (self.constant_frame_rate & 0x03) << 6
                | (self.num_temporal_layers & 0x07) << 3
                | u8::from(self.temporal_id_nested) << 2
                | (self.nal_length_size.wrapping_sub(1) & 0x03),
        );
        let arrays = &self.arrays[..self.arrays.len().min(255)];
        out.push(arrays.len() as u8);
        for a in arrays {
            out.push(u8::from(a.complete) << 7 | (a.nal_type & 0x3f));
            let units = &a.units[..a.units.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(units.len() as u16).to_be_bytes());
            for u in units {
                let u = &u[..u.len().min(usize::from(u16::MAX))];
                out.extend_from_slice(&(u.len() as u16).to_be_bytes());
                out.extend_from_slice(u);
            }
        }
        out
    }

    /// The NAL units of one type, in record order.
    pub fn units(&self, nal_type: u8) -> impl Iterator<Item = &Bytes> {
        self.arrays
            .iter()
            .filter(move |a| a.nal_type == nal_type)
            .flat_map(|a| a.units.iter())
    }

    /// The first SPS, parsed.
    pub fn sps(&self) -> Result<HevcSps> {
        let nal = self.units(sps::NAL_SPS).next().ok_or(CodecError::Invalid(
            "HEVC record without a sequence parameter set",
        ))?;
        HevcSps::parse(nal)
    }

    /// RFC 6381 codec string for sample entry `hvc1` (ISO/IEC 14496-15 E.3),
    /// such as `hvc1.1.6.L93.B0`.
    pub fn codec_string(&self) -> String {
        self.profile.codec_string("hvc1")
    }
}

impl HevcProfile {
    /// `ENTRY.[space]profile.compat.tierlevel[.constraints]` (ISO/IEC
    /// 14496-15 E.3): the compatibility flags bit-reversed in hex, trailing
    /// zero constraint bytes left out.
    pub fn codec_string(&self, entry: &str) -> String {
        let space = match self.profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let tier = if self.high_tier { 'H' } else { 'L' };
        let mut s = format!(
            "{entry}.{space}{}.{:X}.{tier}{}",
            self.profile_idc,
            self.compatibility_flags.reverse_bits(),
            self.level_idc
        );
        let bytes = &self.constraint_flags.to_be_bytes()[2..];
        let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        for b in &bytes[..used] {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record FFmpeg 9 (libx265) wrote for 320x240 Main, cut after
    /// VPS, SPS and PPS (its SEI array left out, the count patched to 3).
    fn x265_record() -> Vec<u8> {
        let mut r = vec![
            0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0,
            0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03,
        ];
        let vps: &[u8] = &[
            0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
            0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09,
        ];
        let pps: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];
        for (t, nal) in [
            (NAL_VPS, vps),
            (sps::NAL_SPS, sps::tests::X265_320X240_MAIN),
            (NAL_PPS, pps),
        ] {
            r.push(t);
            r.extend_from_slice(&[0, 1]);
            r.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            r.extend_from_slice(nal);
        }
        r
    }

    #[test]
    fn parses_x265_record() {
        let data = x265_record();
        let r = HevcDecoderConfigurationRecord::parse(&data).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.profile.profile_idc, 1);
        assert_eq!(r.profile.level_idc, 60);
        assert_eq!((r.chroma_format_idc, r.bit_depth_luma), (1, 8));
        assert_eq!((r.nal_length_size, r.num_temporal_layers), (4, 1));
        assert!(r.temporal_id_nested);
        assert_eq!(r.arrays.len(), 3);
        assert_eq!(r.units(NAL_PPS).count(), 1);
        assert_eq!(r.codec_string(), "hvc1.1.6.L60.90");
        let sps = r.sps().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sps.profile, r.profile);
        assert_eq!((sps.width, sps.height), (320, 240));
        assert_eq!(r.encode(), data);
    }

    #[test]
    fn codec_strings() {
        // Examples of ISO/IEC 14496-15 E.3.
        let main = HevcProfile {
            profile_space: 0,
            high_tier: false,
            profile_idc: 1,
            compatibility_flags: 0x6000_0000,
            constraint_flags: 0xb000_0000_0000,
            level_idc: 93,
        };
        assert_eq!(main.codec_string("hvc1"), "hvc1.1.6.L93.B0");
        let main10_high = HevcProfile {
            profile_idc: 2,
            high_tier: true,
            compatibility_flags: 0x2000_0000,
            level_idc: 120,
            constraint_flags: 0x9800_0000_0000,
            ..main
        };
        assert_eq!(main10_high.codec_string("hev1"), "hev1.2.4.H120.98");
        let space = HevcProfile {
            profile_space: 1,
            constraint_flags: 0,
            ..main
        };
        assert_eq!(space.codec_string("hvc1"), "hvc1.A1.6.L93");
    }

    #[test]
    fn truncated_records_fail() {
        let data = x265_record();
        for len in 0..data.len() {
            assert!(
                HevcDecoderConfigurationRecord::parse(&data[..len]).is_err(),
                "{len}"
            );
        }
        assert!(HevcDecoderConfigurationRecord::parse(&[2; 30]).is_err());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..128)) {
                if let Ok(r) = HevcDecoderConfigurationRecord::parse(&b) {
                    let again = HevcDecoderConfigurationRecord::parse(&r.encode());
                    prop_assert_eq!(again.ok(), Some(r));
                }
            }
        }
    }
}
