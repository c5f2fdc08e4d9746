//! ADTS framing of raw AAC access units (ISO/IEC 14496-3 §1.A.2.2,
//! `adts_fixed_header` and `adts_variable_header`).

use crate::error::HlsError;
use liu_codec::aac::AudioSpecificConfig;

/// Length of an ADTS header without CRC (`protection_absent` 1).
pub(crate) const ADTS_HEADER_LEN: usize = 7;
/// Largest `aac_frame_length` (13 bits), header included.
const MAX_FRAME_LEN: usize = (1 << 13) - 1;

/// The fixed header fields, checked once from the AudioSpecificConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Adts {
    /// `profile_ObjectType`: audio object type - 1.
    profile: u8,
    /// `sampling_frequency_index`.
    frequency_index: u8,
    /// `channel_configuration`.
    channels: u8,
}

impl Adts {
    /// ADTS carries object types 1 to 4 (2 bits of profile), a table sampling
    /// frequency index (not the explicit escape 15) and a channel configuration
    /// of 1 to 7 (0 would need an in-band program config element).
    ///
    /// With explicit SBR/PS signalling the core object type and core frequency
    /// are used, which decoders read as implicitly signalled HE-AAC.
    pub(crate) fn new(config: &AudioSpecificConfig) -> Result<Adts, HlsError> {
        if !(1..=4).contains(&config.object_type) {
            return Err(HlsError::UnsupportedAudioConfig(
                "ADTS carries AAC object types 1 to 4 only",
            ));
        }
        if config.sampling_frequency_index > 12 {
            return Err(HlsError::UnsupportedAudioConfig(
                "ADTS needs a table sampling frequency index (0-12)",
            ));
        }
        if !(1..=7).contains(&config.channel_configuration) {
            return Err(HlsError::UnsupportedAudioConfig(
                "ADTS needs a channel configuration of 1 to 7",
            ));
        }
        Ok(Adts {
            profile: config.object_type - 1,
            frequency_index: config.sampling_frequency_index,
            channels: config.channel_configuration,
        })
    }

    /// The 7-byte header for a raw access unit of `payload_len` bytes:
    /// syncword 0xFFF, ID 0 (MPEG-4), layer 0, `protection_absent` 1, the
    /// fixed fields, `aac_frame_length` (header included),
    /// `adts_buffer_fullness` 0x7FF (variable rate) and one raw data block.
    pub(crate) fn header(&self, payload_len: usize) -> Result<[u8; ADTS_HEADER_LEN], HlsError> {
        let len = payload_len + ADTS_HEADER_LEN;
        if len > MAX_FRAME_LEN {
            return Err(HlsError::AudioFrameTooLarge(payload_len));
        }
        let len = len as u16;
        Ok([
            0xff,
            0xf1,
            (self.profile << 6) | (self.frequency_index << 2) | (self.channels >> 2),
            ((self.channels & 0x03) << 6) | (len >> 11) as u8,
            (len >> 3) as u8,
            (((len & 0x07) as u8) << 5) | 0x1f,
            0xfc,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(object_type: u8, index: u8, channels: u8) -> AudioSpecificConfig {
        AudioSpecificConfig {
            object_type,
            sampling_frequency_index: index,
            sampling_frequency: 44_100,
            channel_configuration: channels,
            extension_object_type: None,
            extension_sampling_frequency: None,
        }
    }

    /// Reads the fields back with the bit layout of §1.A.2.2.
    fn fields(h: [u8; 7]) -> [u32; 9] {
        let v = h.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
        let bits = |from: u32, n: u32| ((v >> (56 - from - n)) & ((1 << n) - 1)) as u32;
        [
            bits(0, 12),  // syncword
            bits(12, 1),  // ID
            bits(13, 2),  // layer
            bits(15, 1),  // protection_absent
            bits(16, 2),  // profile
            bits(18, 4),  // sampling_frequency_index
            bits(23, 3),  // channel_configuration
            bits(30, 13), // aac_frame_length
            bits(43, 11), // adts_buffer_fullness
        ]
    }

    #[test]
    fn lc_44100_stereo() {
        let a = Adts::new(&config(2, 4, 2));
        let h = a.and_then(|a| a.header(371));
        assert_eq!(h, Ok([0xff, 0xf1, 0x50, 0x80, 0x2f, 0x5f, 0xfc]));
        if let Ok(h) = h {
            assert_eq!(fields(h), [0xfff, 0, 0, 1, 1, 4, 2, 378, 0x7ff]);
            assert_eq!(h[6] & 0x03, 0); // number_of_raw_data_blocks_in_frame
        }
    }

    #[test]
    fn field_ranges() {
        let a = Adts::new(&config(4, 12, 7)).and_then(|a| a.header(MAX_FRAME_LEN - 7));
        assert_eq!(a.map(fields), Ok([0xfff, 0, 0, 1, 3, 12, 7, 8191, 0x7ff]));
        assert_eq!(
            Adts::new(&config(2, 3, 1)).and_then(|a| a.header(MAX_FRAME_LEN - 6)),
            Err(HlsError::AudioFrameTooLarge(MAX_FRAME_LEN - 6))
        );
        for bad in [config(5, 4, 2), config(0, 4, 2), config(42, 4, 2)] {
            assert!(matches!(
                Adts::new(&bad),
                Err(HlsError::UnsupportedAudioConfig(_))
            ));
        }
        assert!(Adts::new(&config(2, 15, 2)).is_err());
        assert!(Adts::new(&config(2, 4, 0)).is_err());
        assert!(Adts::new(&config(2, 4, 8)).is_err());
    }

    #[test]
    fn he_aac_uses_core_fields() {
        // Explicit SBR: core AAC LC at 22050 Hz (index 7), output 44100 Hz.
        let mut c = config(2, 7, 2);
        c.extension_object_type = Some(5);
        c.extension_sampling_frequency = Some(44_100);
        let h = Adts::new(&c).and_then(|a| a.header(10)).map(fields);
        assert_eq!(h.map(|f| (f[4], f[5], f[6])), Ok((1, 7, 2)));
    }
}
