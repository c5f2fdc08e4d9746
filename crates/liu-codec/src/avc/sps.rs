//! The fields of an H.264 sequence parameter set (ISO/IEC 14496-10
//! §7.3.2.1.1) a server reports and containers need: profile and level, the
//! cropped picture size (for `onMetaData`, `tkhd` and `avc1`), and the
//! chroma format and bit depths (for the `avcC` extension of the high
//! profiles, ISO/IEC 14496-15 §5.3.3.1.2).
//!
//! The parsing is h264-reader's; this module adapts it. Two deliberate
//! departures from a plain `SeqParameterSet::from_bits`:
//! - The VUI and the trailing bits are not read ([`WithoutVui`]): nothing
//!   here needs them, and a stream whose VUI is truncated, out of range or
//!   followed by junk (as from some cameras, scottlamb/retina#102) still
//!   gets an init segment.
//! - h264-reader 0.8 reads `chroma_format_idc` and the bit depths only for
//!   profiles 100, 110, 122, 244, 44, 83 and 86; §7.3.2.1.1 also lists the
//!   multiview ones, whose SPS is otherwise misread (see [`parse`]).

use h264_reader::nal::sps::{
    ChromaFormat, PicOrderCntError, ScalingMatrixError, SeqParameterSet, SpsError,
};
use h264_reader::rbsp::{self, BitRead, BitReaderError, Numeric, Primitive};

use crate::error::CodecError;

/// `nal_unit_type` of a sequence parameter set (Table 7-1).
const NAL_SPS: u8 = 7;
/// Profiles with chroma info in §7.3.2.1.1 that h264-reader 0.8 does not
/// know as such (the multiview and MVC-depth profiles).
const CHROMA_INFO_PROFILES_MISSING: [u8; 6] = [118, 128, 134, 135, 138, 139];
/// A `profile_idc` h264-reader reads the same syntax for (High).
const HIGH_PROFILE: u8 = 100;

/// What Liu uses of an H.264 SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvcSps {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High, ...).
    pub profile_idc: u8,
    /// The `constraint_set*_flag` byte.
    pub constraint_flags: u8,
    /// `level_idc`: ten times the level number.
    pub level_idc: u8,
    /// Width in luma samples after the frame cropping rectangle (§7.4.2.1.1).
    pub width: u16,
    /// Height in luma samples after the frame cropping rectangle.
    pub height: u16,
    /// `chroma_format_idc` (1, 4:2:0, when the profile has no such field).
    pub chroma_format_idc: u8,
    /// `bit_depth_luma_minus8` (0 when absent).
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8` (0 when absent).
    pub bit_depth_chroma_minus8: u8,
}

/// Parses an SPS NAL unit (header byte included, emulation prevention bytes
/// still in). Errors name the field where the data ran out or went wrong.
pub fn parse(nal: &[u8]) -> Result<AvcSps, CodecError> {
    let header = nal.first().ok_or(CodecError::Invalid("empty NAL unit"))?;
    if header & 0x1f != NAL_SPS {
        return Err(CodecError::Invalid("not a sequence parameter set NAL unit"));
    }
    let mut rbsp = rbsp::decode_nal(nal)
        .map_err(|_| CodecError::Invalid("invalid emulation prevention in the NAL unit"))?;
    // `profile_idc` only selects whether the chroma fields are present
    // (§7.3.2.1.1), so a profile h264-reader misses can be read as High.
    if rbsp
        .first()
        .is_some_and(|p| CHROMA_INFO_PROFILES_MISSING.contains(p))
    {
        rbsp.to_mut()[0] = HIGH_PROFILE;
    }
    let sps = SeqParameterSet::from_bits(WithoutVui(rbsp::BitReader::new(&*rbsp)))
        .map_err(|e| CodecError::Invalid(describe(e)))?;
    let chroma = &sps.chroma_info;
    let chroma_format_idc = match chroma.chroma_format {
        ChromaFormat::Monochrome => 0,
        ChromaFormat::YUV420 => 1,
        ChromaFormat::YUV422 => 2,
        ChromaFormat::YUV444 => 3,
        ChromaFormat::Invalid(_) => return Err(CodecError::Invalid("chroma_format_idc above 3")),
    };
    let (width, height) = sps
        .pixel_dimensions()
        .map_err(|e| CodecError::Invalid(describe(e)))?;
    let size = |v: u32| {
        u16::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or(CodecError::Invalid(
                "picture size out of range after cropping",
            ))
    };
    let profile = |i: usize| nal.get(i).copied().unwrap_or(0);
    Ok(AvcSps {
        profile_idc: profile(1),
        constraint_flags: profile(2),
        level_idc: profile(3),
        width: size(width)?,
        height: size(height)?,
        chroma_format_idc,
        bit_depth_luma_minus8: chroma.bit_depth_luma_minus8,
        bit_depth_chroma_minus8: chroma.bit_depth_chroma_minus8,
    })
}

/// The field an h264-reader error is about, or what went wrong.
fn describe(e: SpsError) -> &'static str {
    match e {
        SpsError::RbspReaderError(e)
        | SpsError::PicOrderCnt(PicOrderCntError::ReaderError(e))
        | SpsError::ScalingMatrix(ScalingMatrixError::ReaderError(e)) => match e {
            BitReaderError::ReaderErrorFor(field, _) => field,
            BitReaderError::ExpGolombTooLarge(_) => "Exp-Golomb code too long",
            BitReaderError::RemainingData | BitReaderError::Unaligned => "trailing data",
        },
        SpsError::BitDepthOutOfRange(_) => "bit depth above 14",
        SpsError::PicOrderCnt(PicOrderCntError::InvalidPicOrderCountType(_)) => {
            "pic_order_cnt_type above 2"
        }
        SpsError::PicOrderCnt(PicOrderCntError::Log2MaxPicOrderCntLsbMinus4OutOfRange(_)) => {
            "log2_max_pic_order_cnt_lsb_minus4 above 12"
        }
        SpsError::PicOrderCnt(PicOrderCntError::NumRefFramesInPicOrderCntCycleOutOfRange(_)) => {
            "num_ref_frames_in_pic_order_cnt_cycle above 255"
        }
        SpsError::ScalingMatrix(ScalingMatrixError::DeltaScaleOutOfRange(_)) => {
            "delta_scale out of range"
        }
        SpsError::Log2MaxFrameNumMinus4OutOfRange(_) => "log2_max_frame_num_minus4 above 12",
        SpsError::BadSeqParamSetId(_) | SpsError::UnknownSeqParamSetId(_) => {
            "seq_parameter_set_id above 31"
        }
        SpsError::FieldValueTooLarge { name, .. } | SpsError::FieldValueTooSmall { name, .. } => {
            name
        }
        SpsError::CroppingError(_) => "picture size out of range after cropping",
        SpsError::CpbCountOutOfRange(_) => "cpb_cnt_minus1 above 31",
    }
}

/// An RBSP reader that reports `vui_parameters_present_flag` as 0 without
/// reading it and accepts whatever follows, so that `from_bits` stops after
/// the frame cropping fields. Everything else is the inner reader's.
struct WithoutVui<R>(R);

impl<R: BitRead> BitRead for WithoutVui<R> {
    fn read_ue(&mut self, name: &'static str) -> Result<u32, BitReaderError> {
        self.0.read_ue(name)
    }

    fn read_se(&mut self, name: &'static str) -> Result<i32, BitReaderError> {
        self.0.read_se(name)
    }

    fn read_bool(&mut self, name: &'static str) -> Result<bool, BitReaderError> {
        if name == "vui_parameters_present_flag" {
            return Ok(false);
        }
        self.0.read_bool(name)
    }

    fn read<U: Numeric>(
        &mut self,
        bit_count: u32,
        name: &'static str,
    ) -> Result<U, BitReaderError> {
        self.0.read(bit_count, name)
    }

    fn read_to<V: Primitive>(&mut self, name: &'static str) -> Result<V, BitReaderError> {
        self.0.read_to(name)
    }

    fn skip(&mut self, bit_count: u32, name: &'static str) -> Result<(), BitReaderError> {
        self.0.skip(bit_count, name)
    }

    fn has_more_rbsp_data(&mut self, name: &'static str) -> Result<bool, BitReaderError> {
        self.0.has_more_rbsp_data(name)
    }

    fn finish_rbsp(self) -> Result<(), BitReaderError> {
        Ok(())
    }

    fn finish_sei_payload(self) -> Result<(), BitReaderError> {
        self.0.finish_sei_payload()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPS NAL units written by FFmpeg 9's libx264 for testsrc2 at the given
    /// sizes (and options).
    const X264_1080P: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc6, 0x58,
    ];
    const X264_320X240: &[u8] = &[
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
    ];
    const X264_318X238: &[u8] = &[
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfe, 0xab, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
    ];
    /// `-x264-params interlaced=1`: `frame_mbs_only_flag` 0.
    const X264_640X480_INTERLACED: &[u8] = &[
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x7b, 0x60, 0x22, 0x00, 0x00, 0x03, 0x00,
        0x02, 0x00, 0x00, 0x03, 0x00, 0x64, 0x3e, 0x28, 0x53, 0x2c,
    ];
    /// `-pix_fmt yuv444p -x264-params cqm=jvt`: High 4:4:4, scaling matrix flag set.
    const X264_352X288_444: &[u8] = &[
        0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x2c, 0x12, 0xd8, 0x08, 0x80, 0x00, 0x00, 0x03,
        0x00, 0x80, 0x00, 0x00, 0x19, 0x07, 0x8a, 0x14, 0xcb,
    ];
    /// `-profile:v baseline`: no chroma format fields.
    const X264_176X144_BASELINE: &[u8] = &[
        0x67, 0x42, 0xc0, 0x0b, 0xd9, 0x02, 0xc4, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40,
        0x00, 0x00, 0x0c, 0x83, 0xc5, 0x0a, 0x92,
    ];
    /// `-pix_fmt yuv422p`: High 4:2:2, cropped 200x100.
    const X264_200X100_422: &[u8] = &[
        0x67, 0x7a, 0x00, 0x0b, 0xbc, 0xd9, 0x43, 0x4f, 0xe5, 0x8d, 0xc0, 0x44, 0x00, 0x00, 0x03,
        0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x50, 0xa6, 0x58,
    ];

    fn info(nal: &[u8]) -> AvcSps {
        parse(nal).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An SPS NAL unit: header 0x67, `profile_idc`, constraint flags 0,
    /// `level_idc` 30, then `bits` ('0' and '1', spaces ignored) padded with
    /// zeros, with emulation prevention bytes inserted (§7.4.1).
    fn sps_nal(profile_idc: u8, bits: &str) -> Vec<u8> {
        let bits: Vec<u8> = bits.bytes().filter(|b| *b != b' ').collect();
        let mut rbsp = vec![profile_idc, 0, 30];
        for chunk in bits.chunks(8) {
            let mut b = 0u8;
            for (i, &c) in chunk.iter().enumerate() {
                b |= u8::from(c == b'1') << (7 - i);
            }
            rbsp.push(b);
        }
        let mut nal = vec![0x67];
        let mut zeros = 0;
        for b in rbsp {
            if zeros >= 2 && b <= 3 {
                nal.push(3);
                zeros = 0;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            nal.push(b);
        }
        nal
    }

    /// High profile, 64x64, scaling matrix with list 0 present (deltas -8
    /// then a 0 terminating delta):
    /// sps_id ue(0)=1; chroma_format_idc ue(1)=010; depths ue(0)=1,1;
    /// bypass 0; matrix 1; list0 present 1: delta se(-8)=ue(16)=000010001
    /// -> next=0, stop; lists 1-7 absent 0000000; log2_max_frame_num
    /// ue(0)=1; poc type ue(2)=011; max_num_ref ue(1)=010; gaps 0;
    /// width_mbs-1 ue(3)=00100; height-1 ue(3)=00100; frame_mbs_only 1;
    /// direct8x8 1; cropping 0; vui 0; stop bit 1.
    const HIGH_64X64_SCALING: &str =
        "1 010 1 1 0 1 1 000010001 0000000 1 011 010 0 00100 00100 1 1 0 0 1";

    #[test]
    fn sizes_of_x264_parameter_sets() {
        for (nal, w, h, chroma) in [
            (X264_1080P, 1920, 1080, 1),
            (X264_320X240, 320, 240, 1),
            (X264_318X238, 318, 238, 1),
            (X264_640X480_INTERLACED, 640, 480, 1),
            (X264_352X288_444, 352, 288, 3),
            (X264_176X144_BASELINE, 176, 144, 1),
            (X264_200X100_422, 200, 100, 2),
        ] {
            let i = info(nal);
            assert_eq!(
                (i.width, i.height, i.chroma_format_idc),
                (w, h, chroma),
                "{nal:02x?}"
            );
            assert_eq!((i.bit_depth_luma_minus8, i.bit_depth_chroma_minus8), (0, 0));
        }
    }

    #[test]
    fn scaling_lists_are_skipped() {
        let i = info(&sps_nal(100, HIGH_64X64_SCALING));
        assert_eq!((i.width, i.height, i.chroma_format_idc), (64, 64, 1));
    }

    #[test]
    fn multiview_profiles_carry_chroma_info() {
        for profile in CHROMA_INFO_PROFILES_MISSING {
            let i = info(&sps_nal(profile, HIGH_64X64_SCALING));
            assert_eq!((i.width, i.height, i.chroma_format_idc), (64, 64, 1));
        }
        // 4:2:2, 10-bit luma and 9-bit chroma: chroma_format_idc ue(2)=011,
        // depths ue(2)=011, ue(1)=010, no bypass, no matrix; then as above.
        let bits = "1 011 011 010 0 0 1 011 010 0 00100 00100 1 1 0 0 1";
        let i = info(&sps_nal(118, bits));
        assert_eq!(
            (
                i.chroma_format_idc,
                i.bit_depth_luma_minus8,
                i.bit_depth_chroma_minus8
            ),
            (2, 2, 1)
        );
    }

    #[test]
    fn emulation_prevention_bytes_are_removed() {
        // Baseline, 64x64, with max_num_ref_frames ue(2^25 - 1): 25 leading
        // zeros from bit 5, so the RBSP has 00 00 followed by 02.
        let bits = format!(
            "1 1 011 {}1{} 0 00100 00100 1 1 0 0 1",
            "0".repeat(25),
            "0".repeat(25)
        );
        let nal = sps_nal(66, &bits);
        assert!(nal.windows(4).any(|w| w == [0, 0, 3, 2]), "{nal:02x?}");
        let i = info(&nal);
        assert_eq!((i.width, i.height), (64, 64));
    }

    #[test]
    fn the_vui_and_trailing_data_are_not_read() {
        // The cropping fields end in byte 10, the VUI follows.
        for n in 11..X264_1080P.len() {
            let i = info(&X264_1080P[..n]);
            assert_eq!((i.width, i.height), (1920, 1080), "truncated to {n}");
        }
        let mut junk = X264_1080P.to_vec();
        junk.extend_from_slice(&[0xff, 0x12]);
        assert_eq!(info(&junk).height, 1080);
    }

    #[test]
    fn rejects_bad_parameter_sets() {
        assert!(parse(&[]).is_err());
        assert!(parse(&[0x68, 0xeb]).is_err(), "a PPS");
        for n in 1..11 {
            assert!(parse(&X264_1080P[..n]).is_err(), "truncated to {n}");
        }
        // 40 zero bits: an Exp-Golomb code that would overflow.
        assert!(matches!(
            parse(&[0x67, 66, 0, 30, 0, 0, 3, 0, 0, 3, 0, 0x80]),
            Err(CodecError::Invalid("Exp-Golomb code too long"))
        ));
        // Three zero bytes cannot occur in a NAL unit.
        assert!(parse(&[0x67, 66, 0, 30, 0, 0, 0, 0x80]).is_err());
        // chroma_format_idc ue(4)=00101.
        assert!(matches!(
            parse(&sps_nal(
                100,
                "1 00101 1 1 0 0 1 011 010 0 00100 00100 1 1 0 0 1"
            )),
            Err(CodecError::Invalid("chroma_format_idc above 3"))
        ));
        // Cropping 64 (right ue(32), in 2-sample units) or 66 (ue(33)) of 64.
        for right in ["00000100001", "00000100010"] {
            let bits = format!("1 1 011 010 0 00100 00100 1 1 1 1 {right} 1 1 0 1");
            assert!(matches!(
                parse(&sps_nal(66, &bits)),
                Err(CodecError::Invalid(
                    "picture size out of range after cropping"
                ))
            ));
        }
        // 4096 macroblocks (65536 samples) wide.
        assert!(matches!(
            parse(&sps_nal(
                66,
                "1 1 011 010 0 0000000000001000000000000 00100 1 1 0 0 1"
            )),
            Err(CodecError::Invalid(
                "picture size out of range after cropping"
            ))
        ));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                let mut nal = vec![0x67];
                nal.extend(b);
                let _ = parse(&nal);
            }
        }
    }
}
