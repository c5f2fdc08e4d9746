//! `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3.1), the payload of
//! an AVC sequence header, and its SPS ([`sps`]).

pub mod sps;

use crate::cursor::Cursor;
use crate::error::{CodecError, Result};
use bytes::Bytes;
pub use sps::AvcSps;

/// An AVC decoder configuration record (ISO/IEC 14496-15 §5.3.3.1).
///
/// Parsing ignores the high-profile chroma/bit-depth extension and anything
/// else after the picture parameter sets; encoding does not write it.
#[derive(Debug, Clone, PartialEq)]
pub struct AvcDecoderConfigurationRecord {
    /// `AVCProfileIndication` (profile_idc of the SPS).
    pub profile_indication: u8,
    /// `profile_compatibility` (the constraint flags byte of the SPS).
    pub profile_compatibility: u8,
    /// `AVCLevelIndication` (level_idc of the SPS).
    pub level_indication: u8,
    /// Size in bytes of the NAL unit length prefix: 1, 2 or 4 (`lengthSizeMinusOne + 1`).
    pub nal_length_size: u8,
    /// Sequence parameter set NAL units.
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units.
    pub pps: Vec<Bytes>,
}

impl AvcDecoderConfigurationRecord {
    /// Parses a record; `configurationVersion` must be 1.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(data);
        if c.u8("AVC configurationVersion")? != 1 {
            return Err(CodecError::Invalid(
                "AVCDecoderConfigurationRecord configurationVersion is not 1",
            ));
        }
        let profile_indication = c.u8("AVCProfileIndication")?;
        let profile_compatibility = c.u8("AVC profile_compatibility")?;
        let level_indication = c.u8("AVCLevelIndication")?;
        // The spec forbids 3, but it is still well defined, so it is not rejected.
        let nal_length_size = (c.u8("AVC lengthSizeMinusOne")? & 0x03) + 1;
        let sps_count = c.u8("AVC numOfSequenceParameterSets")? & 0x1f;
        let sps = read_parameter_sets(&mut c, sps_count, "AVC sequence parameter set")?;
        let pps_count = c.u8("AVC numOfPictureParameterSets")?;
        let pps = read_parameter_sets(&mut c, pps_count, "AVC picture parameter set")?;
        Ok(AvcDecoderConfigurationRecord {
            profile_indication,
            profile_compatibility,
            level_indication,
            nal_length_size,
            sps,
            pps,
        })
    }

    /// Serializes the record (without the high-profile extension).
    ///
    /// At most 31 SPS and 255 PPS are written, each cut to 65535 bytes, as the
    /// count and length fields allow.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![
            1,
            self.profile_indication,
            self.profile_compatibility,
            self.level_indication,
            0xfc | (self.nal_length_size.wrapping_sub(1) & 0x03),
        ];
        let sps = self.sps.get(..self.sps.len().min(31)).unwrap_or_default();
        out.push(0xe0 | sps.len() as u8);
        write_parameter_sets(sps, &mut out);
        let pps = self.pps.get(..self.pps.len().min(255)).unwrap_or_default();
        out.push(pps.len() as u8);
        write_parameter_sets(pps, &mut out);
        out
    }

    /// The first non-empty SPS, parsed.
    pub fn first_sps(&self) -> Result<AvcSps> {
        let nal = self
            .sps
            .iter()
            .find(|s| !s.is_empty())
            .ok_or(CodecError::Invalid(
                "AVC record without a sequence parameter set",
            ))?;
        sps::parse(nal)
    }

    /// RFC 6381 codec string, `avc1.PPCCLL` in upper-case hex.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02X}{:02X}{:02X}",
            self.profile_indication, self.profile_compatibility, self.level_indication
        )
    }
}

fn read_parameter_sets(c: &mut Cursor<'_>, count: u8, what: &'static str) -> Result<Vec<Bytes>> {
    let mut sets = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let len = c.u16(what)?;
        sets.push(Bytes::copy_from_slice(c.take(usize::from(len), what)?));
    }
    Ok(sets)
}

fn write_parameter_sets(sets: &[Bytes], out: &mut Vec<u8>) {
    for set in sets {
        let body = set
            .get(..set.len().min(usize::from(u16::MAX)))
            .unwrap_or_default();
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A High profile 3.1 record as x264 writes it, including the chroma extension.
    const X264_HIGH: &[u8] = &[
        0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x08, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40,
        0x50, 0x01, 0x00, 0x05, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xfd, 0xf8, 0xf8, 0x00,
    ];

    #[test]
    fn parses_known_record_and_ignores_extension() {
        let r = AvcDecoderConfigurationRecord::parse(X264_HIGH);
        let r = match r {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(r.profile_indication, 0x64);
        assert_eq!(r.profile_compatibility, 0x00);
        assert_eq!(r.level_indication, 0x1f);
        assert_eq!(r.nal_length_size, 4);
        assert_eq!(
            r.sps,
            vec![Bytes::from_static(&[
                0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50
            ])]
        );
        assert_eq!(
            r.pps,
            vec![Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb, 0x22])]
        );
        assert_eq!(r.codec_string(), "avc1.64001F");
        // Encoding drops the extension, otherwise matches byte for byte.
        assert_eq!(r.encode(), X264_HIGH.get(..24).unwrap_or_default());
    }

    #[test]
    fn encode_known_bytes() {
        let r = AvcDecoderConfigurationRecord {
            profile_indication: 0x42,
            profile_compatibility: 0xe0,
            level_indication: 0x1e,
            nal_length_size: 2,
            sps: vec![Bytes::from_static(&[0x67, 0x42])],
            pps: vec![
                Bytes::from_static(&[0x68]),
                Bytes::from_static(&[0x68, 0x01]),
            ],
        };
        assert_eq!(
            r.encode(),
            vec![
                1, 0x42, 0xe0, 0x1e, 0xfd, 0xe1, 0, 2, 0x67, 0x42, 2, 0, 1, 0x68, 0, 2, 0x68, 1
            ]
        );
        assert_eq!(r.codec_string(), "avc1.42E01E");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            AvcDecoderConfigurationRecord::parse(&[0x00, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
            Err(CodecError::Invalid(_))
        ));
        assert_eq!(
            AvcDecoderConfigurationRecord::parse(&[0x01, 0x64, 0, 0x1f, 0xfe, 0xe0, 0])
                .map(|r| r.nal_length_size),
            Ok(3)
        );
        for n in 0..24 {
            let r = AvcDecoderConfigurationRecord::parse(X264_HIGH.get(..n).unwrap_or_default());
            assert!(matches!(r, Err(CodecError::Truncated { .. })), "{n}: {r:?}");
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn sets(max: usize) -> impl Strategy<Value = Vec<Bytes>> {
            proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
                0..max,
            )
        }

        proptest! {
            #[test]
            fn round_trip(
                profile in any::<u8>(), compat in any::<u8>(), level in any::<u8>(),
                nal in 1u8..=4,
                sps in sets(4), pps in sets(4),
            ) {
                let r = AvcDecoderConfigurationRecord {
                    profile_indication: profile,
                    profile_compatibility: compat,
                    level_indication: level,
                    nal_length_size: nal,
                    sps,
                    pps,
                };
                prop_assert_eq!(AvcDecoderConfigurationRecord::parse(&r.encode()), Ok(r));
            }

            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..128)) {
                let _ = AvcDecoderConfigurationRecord::parse(&b);
            }
        }
    }
}
