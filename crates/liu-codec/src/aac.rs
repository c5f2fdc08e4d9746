//! `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1), the payload of an AAC
//! sequence header.
//!
//! Only the leading fields are parsed: object type (with the escape of
//! §1.6.2.1.1), sampling frequency, channel configuration and explicit
//! hierarchical SBR/PS signalling (object type 5 or 29 first). The
//! object-type-specific configuration that follows is not interpreted.

use crate::bits::BitReader;
use crate::error::{CodecError, Result};

/// Sampling frequencies by `samplingFrequencyIndex` (ISO/IEC 14496-3 Table 1.18).
pub const SAMPLING_FREQUENCIES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// `samplingFrequencyIndex` value meaning an explicit 24-bit frequency follows.
const EXPLICIT_FREQUENCY: u8 = 0x0f;
/// Audio object type of SBR (HE-AAC).
const AOT_SBR: u8 = 5;
/// Audio object type of PS (HE-AAC v2).
const AOT_PS: u8 = 29;
/// Audio object type of ER BSAC, which carries an extension channel configuration.
const AOT_ER_BSAC: u8 = 22;

/// The leading fields of an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Audio object type of the core codec, e.g. 2 for AAC LC (escape 31 resolved to 32..=95).
    pub object_type: u8,
    /// `samplingFrequencyIndex`; 15 means the frequency was given explicitly.
    pub sampling_frequency_index: u8,
    /// Core sampling frequency in Hz.
    pub sampling_frequency: u32,
    /// `channelConfiguration` (0 = defined by a program config element).
    pub channel_configuration: u8,
    /// SBR/PS explicit signalling when present: `Some(5)` (SBR) or `Some(29)` (SBR + PS).
    pub extension_object_type: Option<u8>,
    /// Output sampling frequency in Hz with explicit SBR/PS signalling.
    pub extension_sampling_frequency: Option<u32>,
}

impl AudioSpecificConfig {
    /// Parses the leading fields of an AudioSpecificConfig.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let mut r = BitReader::new(data);
        let mut object_type = read_object_type(&mut r)?;
        let sampling_frequency_index = r.bits(4, "AudioSpecificConfig")? as u8;
        let sampling_frequency = read_frequency(&mut r, sampling_frequency_index)?;
        let channel_configuration = r.bits(4, "AudioSpecificConfig")? as u8;
        let mut extension_object_type = None;
        let mut extension_sampling_frequency = None;
        if object_type == AOT_SBR || object_type == AOT_PS {
            extension_object_type = Some(object_type);
            let index = r.bits(4, "AudioSpecificConfig")? as u8;
            extension_sampling_frequency = Some(read_frequency(&mut r, index)?);
            object_type = read_object_type(&mut r)?;
            if object_type == AOT_ER_BSAC {
                r.bits(4, "AudioSpecificConfig")?; // extensionChannelConfiguration
            }
        }
        if object_type == 0 {
            return Err(CodecError::Invalid("AAC audio object type 0 (null)"));
        }
        Ok(AudioSpecificConfig {
            object_type,
            sampling_frequency_index,
            sampling_frequency,
            channel_configuration,
            extension_object_type,
            extension_sampling_frequency,
        })
    }

    /// Serializes the fields followed by a GASpecificConfig with every flag zero.
    ///
    /// That tail is right for AAC object types 1-4 with a non-zero channel
    /// configuration; other object types need their own specific configuration.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = BitWriter::default();
        if let Some(ext) = self.extension_object_type {
            write_object_type(&mut w, ext);
        } else {
            write_object_type(&mut w, self.object_type);
        }
        write_frequency(
            &mut w,
            self.sampling_frequency_index,
            self.sampling_frequency,
        );
        w.bits(u32::from(self.channel_configuration), 4);
        if self.extension_object_type.is_some() {
            let freq = self
                .extension_sampling_frequency
                .unwrap_or(self.sampling_frequency);
            write_frequency(&mut w, frequency_index(freq), freq);
            write_object_type(&mut w, self.object_type);
            if self.object_type == AOT_ER_BSAC {
                w.bits(u32::from(self.channel_configuration), 4);
            }
        }
        // GASpecificConfig: frameLengthFlag, dependsOnCoreCoder, extensionFlag.
        w.bits(0, 3);
        w.finish()
    }

    /// RFC 6381 codec string `mp4a.40.N`, N being the first object type of the
    /// config (5 or 29 with explicit SBR/PS signalling).
    pub fn codec_string(&self) -> String {
        format!(
            "mp4a.40.{}",
            self.extension_object_type.unwrap_or(self.object_type)
        )
    }
}

/// The table index of `freq`, or 15 (explicit) when it is not in the table.
fn frequency_index(freq: u32) -> u8 {
    SAMPLING_FREQUENCIES
        .iter()
        .position(|&f| f == freq)
        .map_or(EXPLICIT_FREQUENCY, |i| i as u8)
}

/// GetAudioObjectType() (§1.6.2.1.1): 5 bits, 31 escapes to 32 + 6 bits.
fn read_object_type(r: &mut BitReader<'_>) -> Result<u8> {
    let aot = r.bits(5, "AudioSpecificConfig")? as u8;
    if aot == 31 {
        Ok(32 + r.bits(6, "AudioSpecificConfig")? as u8)
    } else {
        Ok(aot)
    }
}

/// Writes an object type; 31 (the escape itself) cannot be represented and becomes 32.
fn write_object_type(w: &mut BitWriter, aot: u8) {
    if aot >= 31 {
        w.bits(31, 5);
        w.bits(u32::from(aot.saturating_sub(32)), 6);
    } else {
        w.bits(u32::from(aot), 5);
    }
}

/// Resolves a sampling frequency index, reading the 24-bit value for index 15.
fn read_frequency(r: &mut BitReader<'_>, index: u8) -> Result<u32> {
    if index == EXPLICIT_FREQUENCY {
        return r.bits(24, "AudioSpecificConfig");
    }
    SAMPLING_FREQUENCIES
        .get(usize::from(index))
        .copied()
        .ok_or(CodecError::Invalid("reserved AAC sampling frequency index"))
}

fn write_frequency(w: &mut BitWriter, index: u8, freq: u32) {
    w.bits(u32::from(index), 4);
    if index == EXPLICIT_FREQUENCY {
        w.bits(freq, 24);
    }
}

/// MSB-first bit writer, zero-padded to a byte boundary by `finish`.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    used: u32,
}

impl BitWriter {
    /// Writes the low `n` bits of `v`.
    fn bits(&mut self, v: u32, n: u32) {
        for i in (0..n).rev() {
            let shift = 7 - self.used % 8;
            if shift == 7 {
                self.out.push(0);
            }
            let bit = ((v >> i) & 1) as u8;
            if let Some(last) = self.out.last_mut() {
                *last |= bit << shift;
            }
            self.used += 1;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> AudioSpecificConfig {
        match AudioSpecificConfig::parse(b) {
            Ok(c) => c,
            Err(e) => panic!("{b:02x?}: {e}"),
        }
    }

    #[test]
    fn aac_lc_44100_stereo() {
        let c = parse(&[0x12, 0x10]);
        assert_eq!(c.object_type, 2);
        assert_eq!(
            (c.sampling_frequency_index, c.sampling_frequency),
            (4, 44_100)
        );
        assert_eq!(c.channel_configuration, 2);
        assert_eq!(c.extension_object_type, None);
        assert_eq!(c.codec_string(), "mp4a.40.2");
        assert_eq!(c.encode(), vec![0x12, 0x10]);
    }

    #[test]
    fn aac_lc_48000_mono_with_trailing_sync_extension() {
        // Backward-compatible SBR signalling after the GASpecificConfig is ignored.
        let c = parse(&[0x11, 0x88, 0x56, 0xe5, 0x00]);
        assert_eq!(
            (c.object_type, c.sampling_frequency, c.channel_configuration),
            (2, 48_000, 1)
        );
        assert_eq!(c.extension_object_type, None);
    }

    #[test]
    fn explicit_sbr_and_ps() {
        // HE-AAC: AOT 5, 22050 Hz core, stereo, 44100 Hz output, AAC LC.
        let he = [0x2b, 0x92, 0x08, 0x00];
        let c = parse(&he);
        assert_eq!(c.object_type, 2);
        assert_eq!(c.sampling_frequency, 22_050);
        assert_eq!(c.channel_configuration, 2);
        assert_eq!(c.extension_object_type, Some(5));
        assert_eq!(c.extension_sampling_frequency, Some(44_100));
        assert_eq!(c.codec_string(), "mp4a.40.5");
        assert_eq!(c.encode(), he.to_vec());
        // HE-AAC v2: AOT 29, 24000 Hz core, mono, 48000 Hz output, AAC LC.
        let c = parse(&[0xeb, 0x09, 0x88, 0x00]);
        assert_eq!(c.extension_object_type, Some(29));
        assert_eq!(
            (c.object_type, c.sampling_frequency, c.channel_configuration),
            (2, 24_000, 1)
        );
        assert_eq!(c.extension_sampling_frequency, Some(48_000));
        assert_eq!(c.codec_string(), "mp4a.40.29");
    }

    #[test]
    fn object_type_escape() {
        // 31 escape + 6 bits of 10 -> object type 42, 48 kHz, stereo.
        let c = parse(&[0xf9, 0x46, 0x40]);
        assert_eq!(c.object_type, 42);
        assert_eq!(
            (c.sampling_frequency_index, c.channel_configuration),
            (3, 2)
        );
        assert_eq!(c.codec_string(), "mp4a.40.42");
    }

    #[test]
    fn explicit_frequency() {
        // AOT 2, index 15, 0x00bb80 (48000), stereo.
        let bytes = [0x17, 0x80, 0x5d, 0xc0, 0x10];
        let c = parse(&bytes);
        assert_eq!(
            (c.sampling_frequency_index, c.sampling_frequency),
            (15, 48_000)
        );
        assert_eq!(c.channel_configuration, 2);
        assert_eq!(c.encode(), bytes.to_vec());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            AudioSpecificConfig::parse(&[]),
            Err(CodecError::Truncated { .. })
        ));
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x12]),
            Err(CodecError::Truncated { .. })
        ));
        // Index 13 is reserved.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x16, 0x90]),
            Err(CodecError::Invalid(_))
        ));
        // Object type 0.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x02, 0x10]),
            Err(CodecError::Invalid(_))
        ));
        // Explicit SBR cut short.
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x2b, 0x92]),
            Err(CodecError::Truncated { .. })
        ));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn config() -> impl Strategy<Value = AudioSpecificConfig> {
            let aot = (1u8..=95).prop_filter("5/29 are extension types, 31 the escape", |a| {
                !matches!(a, 5 | 29 | 31)
            });
            let freq = prop_oneof![
                (0u8..13).prop_map(|i| (i, SAMPLING_FREQUENCIES[usize::from(i)])),
                (1u32..(1 << 24)).prop_map(|f| (15, f)),
            ];
            let ext = proptest::option::of((
                prop_oneof![Just(5u8), Just(29)],
                prop_oneof![
                    (0usize..13).prop_map(|i| SAMPLING_FREQUENCIES[i]),
                    1u32..(1 << 24),
                ],
            ));
            (aot, freq, 0u8..16, ext).prop_map(|(object_type, (idx, f), ch, ext)| {
                AudioSpecificConfig {
                    object_type,
                    sampling_frequency_index: idx,
                    sampling_frequency: f,
                    channel_configuration: ch,
                    extension_object_type: ext.map(|e| e.0),
                    extension_sampling_frequency: ext.map(|e| e.1),
                }
            })
        }

        proptest! {
            #[test]
            fn round_trip(c in config()) {
                prop_assert_eq!(AudioSpecificConfig::parse(&c.encode()), Ok(c));
            }

            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..16)) {
                if let Ok(c) = AudioSpecificConfig::parse(&b) {
                    prop_assert!(c.codec_string().starts_with("mp4a.40."));
                }
            }
        }
    }
}
