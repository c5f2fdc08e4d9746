//! Latency stamps: an H.264 SEI NAL unit (user_data_unregistered) carrying
//! the sender's wall clock, inserted first in every coded video frame.
//!
//! Layout (28 bytes): NAL header 0x06, payload type 5, payload size 24,
//! [`STAMP_UUID`], the Unix time in ms as 8 bytes of 7 bits (top bit set,
//! most significant first, so no emulation prevention is ever needed), then
//! the rbsp trailing bits 0x80. Decoders skip SEI with an unknown UUID.

/// Identifies Liu's bench stamps among user_data_unregistered SEI messages.
pub const STAMP_UUID: [u8; 16] = *b"LiuBenchLatency!";

/// Length of the stamp NAL unit, without its length prefix.
pub const SEI_NAL_LEN: usize = 28;

/// Offset of the 8 time bytes inside the NAL unit.
const TIME_OFFSET: usize = 19;

const NAL_SEI: u8 = 6;
const NAL_AUD: u8 = 9;
const SEI_USER_DATA_UNREGISTERED: u8 = 5;
const SEI_PAYLOAD_LEN: u8 = 24;

/// Encodes the low 56 bits of `unix_ms` as 8 bytes of 7 bits, top bit set.
pub fn encode_time(unix_ms: u64) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (i, b) in out.iter_mut().enumerate() {
        let shift = 7 * (7 - i);
        *b = 0x80 | ((unix_ms >> shift) & 0x7f) as u8;
    }
    out
}

/// The inverse of [`encode_time`]; `None` if a byte lacks its top bit.
pub fn decode_time(bytes: &[u8; 8]) -> Option<u64> {
    bytes.iter().try_fold(0u64, |acc, &b| {
        (b & 0x80 != 0).then_some((acc << 7) | u64::from(b & 0x7f))
    })
}

/// The stamp NAL unit for `unix_ms`.
pub fn sei_nal(unix_ms: u64) -> [u8; SEI_NAL_LEN] {
    let mut nal = [0u8; SEI_NAL_LEN];
    nal[0] = NAL_SEI;
    nal[1] = SEI_USER_DATA_UNREGISTERED;
    nal[2] = SEI_PAYLOAD_LEN;
    nal[3..TIME_OFFSET].copy_from_slice(&STAMP_UUID);
    nal[TIME_OFFSET..TIME_OFFSET + 8].copy_from_slice(&encode_time(unix_ms));
    nal[SEI_NAL_LEN - 1] = 0x80;
    nal
}

/// Reads a `size`-byte big-endian NAL length at `pos`.
fn nal_len(data: &[u8], pos: usize, size: usize) -> Option<usize> {
    let b = data.get(pos..pos.checked_add(size)?)?;
    Some(b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x)))
}

/// A coded frame's body with a stamp inserted as its first NAL unit (after
/// an access unit delimiter, which must stay first). `header_len` is where
/// the NAL units start (5 for legacy AVC), `nal_length_size` comes from the
/// avcC. Returns the new body and the offset of its time bytes.
pub fn insert_stamp(
    body: &[u8],
    header_len: usize,
    nal_length_size: u8,
) -> Option<(Vec<u8>, usize)> {
    let size = usize::from(nal_length_size);
    if !(1..=4).contains(&size) || body.len() < header_len {
        return None;
    }
    let mut at = header_len;
    if let Some(len) = nal_len(body, at, size)
        && body.get(at + size).is_some_and(|h| h & 0x1f == NAL_AUD)
        && at + size + len <= body.len()
    {
        at += size + len;
    }
    let mut out = Vec::with_capacity(body.len() + size + SEI_NAL_LEN);
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(&(SEI_NAL_LEN as u32).to_be_bytes()[4 - size..]);
    let time_at = out.len() + TIME_OFFSET;
    out.extend_from_slice(&sei_nal(0));
    out.extend_from_slice(&body[at..]);
    Some((out, time_at))
}

/// Writes `unix_ms` into a body made by [`insert_stamp`].
pub fn set_time(body: &mut [u8], time_at: usize, unix_ms: u64) {
    if let Some(dst) = body.get_mut(time_at..time_at + 8) {
        dst.copy_from_slice(&encode_time(unix_ms));
    }
}

/// Finds a stamp among the NAL units at the start of `nalus` (possibly
/// only a prefix of the frame): skips access unit delimiters, then expects
/// the stamp NAL unit. Returns the stamped Unix time in ms.
pub fn find_stamp(nalus: &[u8], nal_length_size: u8) -> Option<u64> {
    let size = usize::from(nal_length_size);
    if !(1..=4).contains(&size) {
        return None;
    }
    let mut pos = 0;
    loop {
        let len = nal_len(nalus, pos, size)?;
        let nal = &nalus[pos + size..];
        match nal.first()? & 0x1f {
            NAL_AUD => pos = pos + size + len,
            NAL_SEI if len >= TIME_OFFSET + 8 => {
                let head = nal.get(..TIME_OFFSET + 8)?;
                if head[1] != SEI_USER_DATA_UNREGISTERED
                    || head[2] != SEI_PAYLOAD_LEN
                    || head[3..TIME_OFFSET] != STAMP_UUID
                {
                    return None;
                }
                return decode_time(head[TIME_OFFSET..].first_chunk::<8>()?);
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trip_without_emulation_hazards() {
        for ms in [0u64, 1, 127, 128, 1_700_000_000_123, (1 << 56) - 1] {
            let b = encode_time(ms);
            assert!(b.iter().all(|&x| x >= 0x80));
            assert_eq!(decode_time(&b), Some(ms));
        }
        assert_eq!(
            decode_time(&[0x80, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]),
            None
        );
    }

    #[test]
    fn nal_has_no_start_code_pattern() {
        let nal = sei_nal(1_764_000_000_000);
        assert!(
            nal.windows(3)
                .all(|w| !(w[0] == 0 && w[1] == 0 && w[2] <= 3))
        );
        assert_eq!(nal.len(), 28);
        assert_eq!(nal[27], 0x80);
    }

    fn frame(nal_size: u8, nals: &[&[u8]]) -> Vec<u8> {
        let mut body = vec![0x27, 1, 0, 0, 0x50];
        for n in nals {
            let len = (n.len() as u32).to_be_bytes();
            body.extend_from_slice(&len[4 - usize::from(nal_size)..]);
            body.extend_from_slice(n);
        }
        body
    }

    #[test]
    fn stamp_round_trip_for_every_nal_length_size() {
        let slice: &[u8] = &[0x41, 0x9a, 0x01, 0x02, 0x03];
        for size in [1u8, 2, 4] {
            let body = frame(size, &[slice]);
            let (mut stamped, at) = insert_stamp(&body, 5, size).unwrap();
            set_time(&mut stamped, at, 1_764_000_000_042);
            assert_eq!(stamped.len(), body.len() + usize::from(size) + SEI_NAL_LEN);
            // Only the first ~40 bytes are needed to read it back.
            let prefix = &stamped[5..stamped.len().min(40)];
            assert_eq!(find_stamp(prefix, size), Some(1_764_000_000_042));
            // The original NAL unit follows, untouched.
            assert!(stamped.ends_with(slice));
        }
    }

    #[test]
    fn stamp_goes_after_an_access_unit_delimiter() {
        let aud: &[u8] = &[0x09, 0xf0];
        let body = frame(4, &[aud, &[0x65, 0x88, 0x84]]);
        let (mut stamped, at) = insert_stamp(&body, 5, 4).unwrap();
        set_time(&mut stamped, at, 99);
        assert_eq!(&stamped[5..11], &[0, 0, 0, 2, 0x09, 0xf0]);
        assert_eq!(find_stamp(&stamped[5..48.min(stamped.len())], 4), Some(99));
    }

    #[test]
    fn unstamped_or_foreign_frames_have_no_stamp() {
        assert_eq!(find_stamp(&frame(4, &[&[0x65, 1, 2]])[5..], 4), None);
        let mut other = sei_nal(5).to_vec();
        other[3] ^= 1; // another UUID
        assert_eq!(find_stamp(&frame(4, &[&other])[5..], 4), None);
        assert_eq!(find_stamp(&[0, 0], 4), None);
        assert_eq!(find_stamp(&[], 4), None);
    }
}
