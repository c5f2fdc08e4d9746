//! Length-prefixed NAL units (ISO/IEC 14496-15 §5.3.2, §8.3.2) to an Annex B
//! byte stream (ISO/IEC 14496-10 Annex B, ISO/IEC 23008-2 Annex B) for one
//! access unit of H.264 or H.265, with an access unit delimiter first and
//! the parameter sets before random access points (ISO/IEC 13818-1
//! §2.14 for AVC, §2.17 for HEVC).

use crate::error::HlsError;
use bytes::Bytes;

/// Annex B start code, with the `zero_byte` (B.1.1).
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The NAL unit syntax of a codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NalCodec {
    /// H.264: one-byte NAL unit header (ISO/IEC 14496-10 §7.3.1).
    Avc,
    /// H.265: two-byte NAL unit header (ISO/IEC 23008-2 §7.3.1.2).
    Hevc,
}

impl NalCodec {
    fn nal_type(self, nal: &[u8]) -> u8 {
        let h = nal.first().copied().unwrap_or(0);
        match self {
            NalCodec::Avc => h & 0x1f,
            NalCodec::Hevc => (h >> 1) & 0x3f,
        }
    }

    /// A random access picture: an IDR slice (type 5) in H.264, an IRAP
    /// picture (types 16 to 23: BLA, IDR, CRA) in H.265.
    fn is_random_access(self, nal_type: u8) -> bool {
        match self {
            NalCodec::Avc => nal_type == 5,
            NalCodec::Hevc => (16..=23).contains(&nal_type),
        }
    }

    fn aud_type(self) -> u8 {
        match self {
            NalCodec::Avc => 9,
            NalCodec::Hevc => 35,
        }
    }

    /// An access unit delimiter with the RBSP stop bit: H.264
    /// `primary_pic_type` 7 (§7.3.2.4), H.265 `pic_type` 2 (§7.3.2.5), both
    /// meaning any slice type.
    fn aud(self) -> &'static [u8] {
        match self {
            NalCodec::Avc => &[0x09, 0xf0],
            NalCodec::Hevc => &[0x46, 0x01, 0x50],
        }
    }
}

/// The parameter sets of a decoder configuration record, in the order they
/// go before a random access point, and its NAL unit length size.
#[derive(Debug, Clone)]
pub(crate) struct NalParams {
    codec: NalCodec,
    nal_length_size: u8,
    /// (`nal_unit_type`, NAL unit) of each parameter set.
    sets: Vec<(u8, Bytes)>,
}

impl NalParams {
    /// Takes the fields the conversion needs; `nal_length_size` must be 1 to 4.
    pub(crate) fn new<'a>(
        codec: NalCodec,
        nal_length_size: u8,
        sets: impl IntoIterator<Item = &'a Bytes>,
    ) -> Result<NalParams, HlsError> {
        if !(1..=4).contains(&nal_length_size) {
            return Err(HlsError::BadNalLengthSize(nal_length_size));
        }
        let sets = sets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| (codec.nal_type(s), s.clone()))
            .collect();
        Ok(NalParams {
            codec,
            nal_length_size,
            sets,
        })
    }
}

/// Iterates over the NAL units of length-prefixed data, checking each length.
struct Nals<'a> {
    data: &'a [u8],
    pos: usize,
    size: usize,
}

impl<'a> Iterator for Nals<'a> {
    type Item = Result<&'a [u8], HlsError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        let offset = self.pos;
        let Some(prefix) = rest.get(..self.size) else {
            self.pos = self.data.len();
            return Some(Err(HlsError::TruncatedNalLength { offset }));
        };
        let len = prefix
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        let body = rest.get(self.size..).unwrap_or_default();
        match body.get(..len) {
            Some(nal) if len > 0 => {
                self.pos += self.size + len;
                Some(Ok(nal))
            }
            _ => {
                self.pos = self.data.len();
                Some(Err(HlsError::BadNalLength {
                    offset,
                    len,
                    remaining: body.len(),
                }))
            }
        }
    }
}

/// Appends one access unit in Annex B form to `out`; nothing when an error is returned.
///
/// - Every NAL unit gets a 4-byte start code (B.1.1); the payload is copied
///   as it is, emulation prevention bytes included.
/// - The access unit starts with an access unit delimiter (H.264 §7.4.1.2.3,
///   H.265 §7.4.2.4.4 put it first): the frame's own when its first NAL unit
///   is one, else a generated one. Other delimiters in the frame are dropped,
///   as they would split it.
/// - Before a random access picture, or any frame flagged `keyframe`, the
///   record's parameter sets are inserted right after the delimiter, except
///   the types the frame carries itself.
///
/// Errors: empty data, a truncated length prefix, or a NAL unit length of 0
/// or past the end of the data.
pub(crate) fn write_access_unit(
    data: &[u8],
    keyframe: bool,
    params: &NalParams,
    out: &mut Vec<u8>,
) -> Result<(), HlsError> {
    if data.is_empty() {
        return Err(HlsError::EmptySample("video"));
    }
    let codec = params.codec;
    let aud_type = codec.aud_type();
    let nals = || Nals {
        data,
        pos: 0,
        size: usize::from(params.nal_length_size),
    };
    // Parameter set types the frame carries itself (a handful of types).
    let mut own_types: Vec<u8> = Vec::new();
    let (mut random_access, mut first_is_aud) = (false, false);
    let mut total = 0;
    for (i, nal) in nals().enumerate() {
        let nal = nal?;
        let t = codec.nal_type(nal);
        if i == 0 && t == aud_type {
            first_is_aud = true;
        }
        random_access |= codec.is_random_access(t);
        if params.sets.iter().any(|(st, _)| *st == t) && !own_types.contains(&t) {
            own_types.push(t);
        }
        total += START_CODE.len() + nal.len();
    }
    let insert = random_access || keyframe;
    let own = &own_types;
    let inserted = || {
        params
            .sets
            .iter()
            .filter(move |(t, _)| insert && !own.contains(t))
            .map(|(_, s)| s)
    };
    let extra: usize = inserted().map(|s| START_CODE.len() + s.len()).sum();
    out.reserve(total + extra + START_CODE.len() + codec.aud().len());
    let mut rest = nals().flatten().peekable();
    if first_is_aud {
        if let Some(aud) = rest.next() {
            put_nal(out, aud);
        }
    } else {
        put_nal(out, codec.aud());
    }
    for set in inserted() {
        put_nal(out, set);
    }
    for nal in rest {
        if codec.nal_type(nal) != aud_type {
            put_nal(out, nal);
        }
    }
    Ok(())
}

fn put_nal(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&START_CODE);
    out.extend_from_slice(nal);
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: [u8; 2] = [0x09, 0xf0];
    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1f];
    const PPS: &[u8] = &[0x68, 0xeb];

    fn params(size: u8) -> NalParams {
        let sets = [
            Bytes::from_static(SPS),
            Bytes::new(),
            Bytes::from_static(PPS),
        ];
        match NalParams::new(NalCodec::Avc, size, &sets) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn avcc(size: u8, nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            let len = (n.len() as u32).to_be_bytes();
            v.extend_from_slice(&len[4 - usize::from(size)..]);
            v.extend_from_slice(n);
        }
        v
    }

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&START_CODE);
            v.extend_from_slice(n);
        }
        v
    }

    fn convert(data: &[u8], key: bool, p: &NalParams) -> Result<Vec<u8>, HlsError> {
        let mut out = Vec::new();
        write_access_unit(data, key, p, &mut out).map(|()| out)
    }

    #[test]
    fn idr_gets_aud_sps_pps() {
        let idr: &[u8] = &[0x65, 0x88, 0x84];
        let sei: &[u8] = &[0x06, 0x05, 0x01];
        for size in 1..=4 {
            let p = params(size);
            let out = convert(&avcc(size, &[sei, idr]), true, &p);
            assert_eq!(out, Ok(annexb(&[&AUD, SPS, PPS, sei, idr])), "size {size}");
        }
        // An IDR NAL unit inserts the parameter sets even without the keyframe flag.
        let p = params(4);
        assert_eq!(
            convert(&avcc(4, &[idr]), false, &p),
            Ok(annexb(&[&AUD, SPS, PPS, idr]))
        );
    }

    #[test]
    fn inter_frame_gets_only_aud() {
        let p = params(4);
        let slice: &[u8] = &[0x41, 0x9a, 0x00];
        assert_eq!(
            convert(&avcc(4, &[slice, slice]), false, &p),
            Ok(annexb(&[&AUD, slice, slice]))
        );
    }

    #[test]
    fn own_aud_and_parameter_sets_are_kept() {
        let p = params(4);
        let aud: &[u8] = &[0x09, 0x10];
        let own_sps: &[u8] = &[0x67, 0x42];
        let own_pps: &[u8] = &[0x68, 0xce];
        let idr: &[u8] = &[0x65, 0x01];
        // Own AUD first, own SPS and PPS: nothing inserted.
        let d = avcc(4, &[aud, own_sps, own_pps, idr]);
        assert_eq!(
            convert(&d, true, &p),
            Ok(annexb(&[aud, own_sps, own_pps, idr]))
        );
        // Own SPS only: the avcC PPS goes after the delimiter.
        let d = avcc(4, &[aud, own_sps, idr]);
        assert_eq!(convert(&d, true, &p), Ok(annexb(&[aud, PPS, own_sps, idr])));
        // A delimiter that is not first is replaced by one at the start.
        let d = avcc(4, &[idr, aud]);
        assert_eq!(convert(&d, false, &p), Ok(annexb(&[&AUD, SPS, PPS, idr])));
    }

    #[test]
    fn malformed_lengths_are_errors() {
        let p = params(4);
        assert_eq!(convert(&[], true, &p), Err(HlsError::EmptySample("video")));
        assert_eq!(
            convert(&[0, 0, 1], true, &p),
            Err(HlsError::TruncatedNalLength { offset: 0 })
        );
        assert_eq!(
            convert(&[0, 0, 0, 5, 0x65, 1], true, &p),
            Err(HlsError::BadNalLength {
                offset: 0,
                len: 5,
                remaining: 2
            })
        );
        assert_eq!(
            convert(&[0, 0, 0, 1, 0x41, 0, 0, 0, 0], true, &p),
            Err(HlsError::BadNalLength {
                offset: 5,
                len: 0,
                remaining: 0
            })
        );
        // Nothing is written on error.
        let mut out = Vec::new();
        assert!(write_access_unit(&[0, 0, 0, 1, 0x41, 0, 0], false, &p, &mut out).is_err());
        assert!(out.is_empty());
        assert_eq!(
            NalParams::new(NalCodec::Avc, 0, &[]).map(|_| ()),
            Err(HlsError::BadNalLengthSize(0))
        );
        assert_eq!(
            NalParams::new(NalCodec::Avc, 5, &[]).map(|_| ()),
            Err(HlsError::BadNalLengthSize(5))
        );
    }

    #[test]
    fn hevc_irap_gets_aud_vps_sps_pps() {
        const VPS: &[u8] = &[0x40, 0x01, 0x0c];
        const HSPS: &[u8] = &[0x42, 0x01, 0x01];
        const HPPS: &[u8] = &[0x44, 0x01, 0xc1];
        let sets = [VPS, HSPS, HPPS].map(Bytes::from_static);
        let p = NalParams::new(NalCodec::Hevc, 4, &sets).unwrap_or_else(|e| panic!("{e}"));
        // IDR_W_RADL (19) with an SEI (39) before it.
        let idr: &[u8] = &[0x26, 0x01, 0xaf];
        let sei: &[u8] = &[0x4e, 0x01, 0x05];
        let out = convert(&avcc(4, &[sei, idr]), false, &p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out,
            annexb(&[&[0x46, 0x01, 0x50], VPS, HSPS, HPPS, sei, idr])
        );
        // A trailing picture (1) gets only the delimiter; CRA (21) counts as random access.
        let trail: &[u8] = &[0x02, 0x01, 0xd0];
        let out = convert(&avcc(4, &[trail]), false, &p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, annexb(&[&[0x46, 0x01, 0x50], trail]));
        let cra: &[u8] = &[0x2a, 0x01, 0xaf];
        let out = convert(&avcc(4, &[HSPS, cra]), false, &p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, annexb(&[&[0x46, 0x01, 0x50], VPS, HPPS, HSPS, cra]));
    }
}
