//! PES packet headers (ISO/IEC 13818-1 §2.4.3.6, §2.4.3.7) with PTS and DTS.

use super::packet::MASK_33;

/// `stream_id` of the first MPEG video stream, used for H.264/HEVC (Table 2-22).
pub(crate) const STREAM_ID_VIDEO: u8 = 0xe0;
/// `stream_id` of the first MPEG audio stream, used for AAC (Table 2-22).
pub(crate) const STREAM_ID_AUDIO: u8 = 0xc0;
/// Longest header written: 9 bytes plus PTS and DTS.
pub(crate) const MAX_PES_HEADER: usize = 9 + 5 + 5;

/// A PES header in a fixed buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PesHeader {
    buf: [u8; MAX_PES_HEADER],
    len: usize,
}

impl PesHeader {
    /// Builds the header (§2.4.3.6): `stream_id`, `PES_packet_length`, '10',
    /// not scrambled, `data_alignment_indicator` 1, `PTS_DTS_flags` '10' (PTS)
    /// or '11' (PTS and DTS, when `dts` is given and differs), no other fields.
    ///
    /// `payload_len` is the size of the elementary stream data that follows;
    /// `None` writes `PES_packet_length` 0 (unbounded, allowed for video in a
    /// transport stream, §2.4.3.7), and so does a length that does not fit 16 bits.
    pub(crate) fn new(
        stream_id: u8,
        pts: u64,
        dts: Option<u64>,
        payload_len: Option<usize>,
    ) -> Self {
        let dts = dts.filter(|&d| d & MASK_33 != pts & MASK_33);
        let data_len: u8 = if dts.is_some() { 10 } else { 5 };
        let packet_len = payload_len
            .map(|n| n + 3 + usize::from(data_len))
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(0);
        let [len_hi, len_lo] = packet_len.to_be_bytes();
        let flags = if dts.is_some() { 0xc0 } else { 0x80 };
        let mut h = PesHeader {
            buf: [0; MAX_PES_HEADER],
            len: 0,
        };
        // '10', PES_scrambling_control '00', priority 0, data_alignment_indicator 1.
        h.put(&[0, 0, 1, stream_id, len_hi, len_lo, 0x84, flags, data_len]);
        match dts {
            Some(dts) => {
                h.put(&encode_timestamp(0b0011, pts));
                h.put(&encode_timestamp(0b0001, dts));
            }
            None => h.put(&encode_timestamp(0b0010, pts)),
        }
        h
    }

    /// The header bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    fn put(&mut self, data: &[u8]) {
        for &b in data {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }
}

/// Encodes a 33-bit timestamp with its 4-bit prefix and marker bits
/// (§2.4.3.6): `prefix`, bits 32..30, marker, bits 29..15, marker, bits 14..0, marker.
pub(crate) fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    let t = ts & MASK_33;
    [
        (prefix << 4) | (((t >> 30) as u8) << 1) | 1,
        (t >> 22) as u8,
        (((t >> 15) as u8) << 1) | 1,
        (t >> 7) as u8,
        ((t as u8) << 1) | 1,
    ]
}

/// Decodes what [`encode_timestamp`] wrote: `(prefix, timestamp)`.
#[cfg(test)]
pub(crate) fn decode_timestamp(b: [u8; 5]) -> (u8, u64) {
    let [b0, b1, b2, b3, b4] = b.map(u64::from);
    let ts = ((b0 >> 1) & 0x07) << 30 | b1 << 22 | (b2 >> 1) << 15 | b3 << 7 | b4 >> 1;
    ((b0 >> 4) as u8, ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pts_only_audio_header() {
        let h = PesHeader::new(STREAM_ID_AUDIO, 126_000, None, Some(100));
        assert_eq!(
            h.bytes(),
            &[
                0, 0, 1, 0xc0, 0, 108, 0x84, 0x80, 5, // 100 + 3 + 5 = 108
                0x21, 0x00, 0x07, 0xd8, 0x61, // PTS 126000
            ]
        );
    }

    #[test]
    fn pts_and_dts_video_header() {
        let h = PesHeader::new(STREAM_ID_VIDEO, 129_600, Some(126_000), None);
        let b = h.bytes();
        assert_eq!(b.len(), 19);
        assert_eq!(&b[..9], &[0, 0, 1, 0xe0, 0, 0, 0x84, 0xc0, 10]);
        assert_eq!(decode_timestamp(b[9..14].try_into().unwrap()), (3, 129_600));
        assert_eq!(
            decode_timestamp(b[14..19].try_into().unwrap()),
            (1, 126_000)
        );
        // Equal DTS is left out.
        let h = PesHeader::new(STREAM_ID_VIDEO, 5, Some(5), None);
        assert_eq!(h.bytes().len(), 14);
        assert_eq!(h.bytes()[7], 0x80);
        // Too long for 16 bits: unbounded.
        let h = PesHeader::new(STREAM_ID_AUDIO, 0, None, Some(70_000));
        assert_eq!(&h.bytes()[4..6], &[0, 0]);
    }

    #[test]
    fn timestamp_wraps_at_33_bits() {
        let max = (1u64 << 33) - 1;
        assert_eq!(encode_timestamp(2, max), [0x2f, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode_timestamp(encode_timestamp(2, max + 1)), (2, 0));
    }

    proptest! {
        #[test]
        fn timestamp_round_trip(prefix in 0u8..16, ts in any::<u64>()) {
            let b = encode_timestamp(prefix, ts);
            prop_assert_eq!(decode_timestamp(b), (prefix, ts & MASK_33));
            // Marker bits.
            prop_assert_eq!((b[0] & 1, b[2] & 1, b[4] & 1), (1, 1, 1));
        }
    }
}
