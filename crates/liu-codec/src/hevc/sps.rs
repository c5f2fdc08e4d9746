//! The fields of an H.265 sequence parameter set (ISO/IEC 23008-2 §7.3.2.2.1)
//! a server reports and containers need: profile, tier and level
//! (`profile_tier_level`, §7.3.3), chroma format, bit depths and the picture
//! size after the conformance window (§7.4.3.2.1).

use crate::bits::{BitReader, unescape_rbsp};
use crate::error::{CodecError, Result};

/// `nal_unit_type` of a sequence parameter set (Table 7-1).
pub const NAL_SPS: u8 = 33;

/// `general_*` fields of `profile_tier_level` (§7.3.3), as the
/// `HEVCDecoderConfigurationRecord` and codec strings carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HevcProfile {
    /// `general_profile_space` (0 in every profile defined so far).
    pub profile_space: u8,
    /// `general_tier_flag`: false Main tier, true High tier.
    pub high_tier: bool,
    /// `general_profile_idc`: 1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions.
    pub profile_idc: u8,
    /// `general_profile_compatibility_flag[j]`, flag 0 in the most significant bit.
    pub compatibility_flags: u32,
    /// The 48 bits from `general_progressive_source_flag` on, in the low bits.
    pub constraint_flags: u64,
    /// `general_level_idc`: 30 times the level number (93 is level 3.1).
    pub level_idc: u8,
}

/// What Liu uses of an H.265 SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSps {
    pub profile: HevcProfile,
    /// `chroma_format_idc`: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    /// `bit_depth_luma_minus8 + 8`.
    pub bit_depth_luma: u8,
    /// `bit_depth_chroma_minus8 + 8`.
    pub bit_depth_chroma: u8,
    /// Width in luma samples inside the conformance window.
    pub width: u32,
    /// Height in luma samples inside the conformance window.
    pub height: u32,
}

impl HevcSps {
    /// Parses an SPS NAL unit, its two-byte NAL unit header included and
    /// emulation prevention bytes still in.
    pub fn parse(nal: &[u8]) -> Result<Self> {
        let header = nal.first().ok_or(CodecError::Truncated {
            what: "HEVC NAL unit header",
        })?;
        if (header >> 1) & 0x3f != NAL_SPS {
            return Err(CodecError::Invalid("not an HEVC sequence parameter set"));
        }
        let rbsp = unescape_rbsp(nal.get(2..).unwrap_or_default());
        let mut r = BitReader::new(&rbsp);
        r.skip(4, "sps_video_parameter_set_id")?;
        let max_sub_layers_minus1 = r.bits(3, "sps_max_sub_layers_minus1")? as u8;
        r.skip(1, "sps_temporal_id_nesting_flag")?;
        let profile = profile_tier_level(&mut r, max_sub_layers_minus1)?;
        if r.ue("sps_seq_parameter_set_id")? > 15 {
            return Err(CodecError::Invalid("sps_seq_parameter_set_id above 15"));
        }
        let chroma_format_idc = r.ue("chroma_format_idc")?;
        if chroma_format_idc > 3 {
            return Err(CodecError::Invalid("chroma_format_idc above 3"));
        }
        let separate_colour_plane =
            chroma_format_idc == 3 && r.bit("separate_colour_plane_flag")?;
        let pic_width = r.ue("pic_width_in_luma_samples")?;
        let pic_height = r.ue("pic_height_in_luma_samples")?;
        // Table 6-1; ChromaArrayType 0 (monochrome, separate planes) crops in luma units.
        let (sub_width, sub_height) = match (chroma_format_idc, separate_colour_plane) {
            (1, _) => (2, 2),
            (2, _) => (2, 1),
            _ => (1, 1),
        };
        let (mut width, mut height) = (u64::from(pic_width), u64::from(pic_height));
        if r.bit("conformance_window_flag")? {
            let left = u64::from(r.ue("conf_win_left_offset")?);
            let right = u64::from(r.ue("conf_win_right_offset")?);
            let top = u64::from(r.ue("conf_win_top_offset")?);
            let bottom = u64::from(r.ue("conf_win_bottom_offset")?);
            width = width
                .checked_sub(sub_width * (left + right))
                .ok_or(CodecError::Invalid(
                    "conformance window wider than the picture",
                ))?;
            height = height
                .checked_sub(sub_height * (top + bottom))
                .ok_or(CodecError::Invalid(
                    "conformance window taller than the picture",
                ))?;
        }
        if width == 0 || height == 0 {
            return Err(CodecError::Invalid("empty picture"));
        }
        let bit_depth_luma = r.ue("bit_depth_luma_minus8")?;
        let bit_depth_chroma = r.ue("bit_depth_chroma_minus8")?;
        if bit_depth_luma > 8 || bit_depth_chroma > 8 {
            return Err(CodecError::Invalid("bit depth above 16"));
        }
        Ok(HevcSps {
            profile,
            chroma_format_idc: chroma_format_idc as u8,
            bit_depth_luma: bit_depth_luma as u8 + 8,
            bit_depth_chroma: bit_depth_chroma as u8 + 8,
            width: width as u32,
            height: height as u32,
        })
    }
}

/// `profile_tier_level(1, max_sub_layers_minus1)` (§7.3.3): the general
/// fields, then the sub-layer ones skipped.
fn profile_tier_level(r: &mut BitReader<'_>, max_sub_layers_minus1: u8) -> Result<HevcProfile> {
    let profile_space = r.bits(2, "general_profile_space")? as u8;
    let high_tier = r.bit("general_tier_flag")?;
    let profile_idc = r.bits(5, "general_profile_idc")? as u8;
    let compatibility_flags = r.bits(32, "general_profile_compatibility_flag")?;
    let constraint_high = u64::from(r.bits(16, "general constraint flags")?);
    let constraint_low = u64::from(r.bits(32, "general constraint flags")?);
    let level_idc = r.bits(8, "general_level_idc")? as u8;
    let sub_layers = usize::from(max_sub_layers_minus1);
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(sub_layers) {
        *p = (
            r.bit("sub_layer_profile_present_flag")?,
            r.bit("sub_layer_level_present_flag")?,
        );
    }
    if sub_layers > 0 {
        r.skip(2 * (8 - sub_layers), "reserved_zero_2bits")?;
    }
    for &(profile_present, level_present) in present.iter().take(sub_layers) {
        if profile_present {
            r.skip(88, "sub_layer profile")?;
        }
        if level_present {
            r.skip(8, "sub_layer_level_idc")?;
        }
    }
    Ok(HevcProfile {
        profile_space,
        high_tier,
        profile_idc,
        compatibility_flags,
        constraint_flags: constraint_high << 32 | constraint_low,
        level_idc,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// x265's SPS for 320x240 Main 4:2:0 (no cropping needed: 240 = 30 CTUs of 8).
    pub(crate) const X265_320X240_MAIN: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a,
        0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
    ];

    #[test]
    fn x265_main() {
        let sps = HevcSps::parse(X265_320X240_MAIN).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((sps.width, sps.height), (320, 240));
        assert_eq!(sps.chroma_format_idc, 1);
        assert_eq!((sps.bit_depth_luma, sps.bit_depth_chroma), (8, 8));
        let p = sps.profile;
        assert_eq!((p.profile_space, p.high_tier, p.profile_idc), (0, false, 1));
        assert_eq!(p.compatibility_flags, 0x6000_0000);
        assert_eq!(p.constraint_flags, 0x9000_0000_0000);
        assert_eq!(p.level_idc, 60);
    }

    #[test]
    fn rejects_other_nal_units_and_truncation() {
        assert!(HevcSps::parse(&[]).is_err());
        assert!(HevcSps::parse(&[0x40, 0x01, 0x0c]).is_err());
        // A prefix either runs out or already holds every field read.
        let whole = HevcSps::parse(X265_320X240_MAIN);
        let mut failed = 0;
        for len in 0..X265_320X240_MAIN.len() {
            match HevcSps::parse(&X265_320X240_MAIN[..len]) {
                Err(CodecError::Truncated { .. }) => failed += 1,
                other => assert_eq!(other, whole, "{len}"),
            }
        }
        assert!(failed > 20, "{failed}");
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(mut b in proptest::collection::vec(any::<u8>(), 0..96)) {
                if let Some(h) = b.first_mut() {
                    *h = NAL_SPS << 1;
                }
                let _ = HevcSps::parse(&b);
            }
        }
    }
}
