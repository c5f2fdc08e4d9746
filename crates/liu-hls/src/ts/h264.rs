//! AVCC (length-prefixed, ISO/IEC 14496-15 §5.3.2) to Annex B byte stream
//! (ISO/IEC 14496-10 Annex B) for one access unit, with an access unit
//! delimiter first and SPS/PPS before random access points.

use crate::error::HlsError;
use bytes::Bytes;

/// `nal_unit_type` of a coded slice of an IDR picture (Table 7-1).
const NAL_IDR: u8 = 5;
/// `nal_unit_type` of a sequence parameter set.
const NAL_SPS: u8 = 7;
/// `nal_unit_type` of a picture parameter set.
const NAL_PPS: u8 = 8;
/// `nal_unit_type` of an access unit delimiter.
const NAL_AUD: u8 = 9;
/// Annex B start code, with the `zero_byte` (B.1.1).
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// An access unit delimiter (§7.3.2.4): `primary_pic_type` 7 (any slice
/// type), then the RBSP stop bit.
const AUD: [u8; 2] = [NAL_AUD, 0xf0];

/// The parameter sets of an `avcC` and its NAL unit length size.
#[derive(Debug, Clone)]
pub(crate) struct AvcParams {
    nal_length_size: u8,
    sps: Vec<Bytes>,
    pps: Vec<Bytes>,
}

impl AvcParams {
    /// Takes the fields the conversion needs; `nal_length_size` must be 1 to 4.
    pub(crate) fn new(
        nal_length_size: u8,
        sps: &[Bytes],
        pps: &[Bytes],
    ) -> Result<AvcParams, HlsError> {
        if !(1..=4).contains(&nal_length_size) {
            return Err(HlsError::BadNalLengthSize(nal_length_size));
        }
        let keep = |sets: &[Bytes]| sets.iter().filter(|s| !s.is_empty()).cloned().collect();
        Ok(AvcParams {
            nal_length_size,
            sps: keep(sps),
            pps: keep(pps),
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

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |h| h & 0x1f)
}

/// Appends one access unit in Annex B form to `out`; nothing when an error is returned.
///
/// - Every NAL unit gets a 4-byte start code (B.1.1); the payload is copied
///   as it is, emulation prevention bytes included.
/// - The access unit starts with an access unit delimiter (§7.4.1.2.3 puts it
///   first): the frame's own when its first NAL unit is one, else a generated
///   one. Other delimiters in the frame are dropped, as they would split it.
/// - Before an IDR picture, or any frame flagged `keyframe`, the SPS and PPS
///   of the `avcC` are inserted right after the delimiter, unless the frame
///   carries its own SPS (resp. PPS).
///
/// Errors: empty data, a truncated length prefix, or a NAL unit length of 0
/// or past the end of the data.
pub(crate) fn write_access_unit(
    data: &[u8],
    keyframe: bool,
    params: &AvcParams,
    out: &mut Vec<u8>,
) -> Result<(), HlsError> {
    if data.is_empty() {
        return Err(HlsError::EmptySample("video"));
    }
    let nals = || Nals {
        data,
        pos: 0,
        size: usize::from(params.nal_length_size),
    };
    let (mut has_sps, mut has_pps, mut has_idr, mut first_is_aud) = (false, false, false, false);
    let mut total = 0;
    for (i, nal) in nals().enumerate() {
        let nal = nal?;
        match nal_type(nal) {
            NAL_SPS => has_sps = true,
            NAL_PPS => has_pps = true,
            NAL_IDR => has_idr = true,
            NAL_AUD if i == 0 => first_is_aud = true,
            _ => {}
        }
        total += START_CODE.len() + nal.len();
    }
    let insert_params = has_idr || keyframe;
    let (sps, pps) = (
        missing(insert_params && !has_sps, &params.sps),
        missing(insert_params && !has_pps, &params.pps),
    );
    let extra: usize = sps
        .iter()
        .chain(pps)
        .map(|s| START_CODE.len() + s.len())
        .sum();
    out.reserve(total + extra + START_CODE.len() + AUD.len());
    let mut rest = nals().flatten().peekable();
    if first_is_aud {
        if let Some(aud) = rest.next() {
            put_nal(out, aud);
        }
    } else {
        put_nal(out, &AUD);
    }
    for set in sps.iter().chain(pps) {
        put_nal(out, set);
    }
    for nal in rest {
        if nal_type(nal) != NAL_AUD {
            put_nal(out, nal);
        }
    }
    Ok(())
}

/// `sets` when they are to be inserted, else nothing.
fn missing(insert: bool, sets: &[Bytes]) -> &[Bytes] {
    if insert { sets } else { &[] }
}

fn put_nal(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&START_CODE);
    out.extend_from_slice(nal);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1f];
    const PPS: &[u8] = &[0x68, 0xeb];

    fn params(size: u8) -> AvcParams {
        match AvcParams::new(
            size,
            &[Bytes::from_static(SPS), Bytes::new()],
            &[Bytes::from_static(PPS)],
        ) {
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

    fn convert(data: &[u8], key: bool, p: &AvcParams) -> Result<Vec<u8>, HlsError> {
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
            AvcParams::new(0, &[], &[]).map(|_| ()),
            Err(HlsError::BadNalLengthSize(0))
        );
        assert_eq!(
            AvcParams::new(5, &[], &[]).map(|_| ()),
            Err(HlsError::BadNalLengthSize(5))
        );
    }
}
