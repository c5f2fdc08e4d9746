//! Box writing primitives (ISO/IEC 14496-12 §4.2): a box is a 32-bit size
//! covering the whole box, a four-character type, then its content; a full
//! box adds an 8-bit version and 24 bits of flags.
//!
//! Boxes are written in place: the size field is reserved when a box starts
//! and filled in when its content is done, so nesting costs no copies.

use crate::error::HlsError;
use bytes::{BufMut, BytesMut};

/// Length of a box header without `largesize` (§4.2): size and type.
pub(crate) const BOX_HEADER_LEN: usize = 8;

/// The unity transformation matrix of `mvhd` and `tkhd` (§8.2.2.3): 16.16
/// fixed point for a, b, c, d, x, y and 2.30 for u, v, w.
pub(crate) const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Writes a box of type `kind` whose content `body` appends to `out`, then
/// fills in its size. Errors from `body` are passed on; a box reaching
/// 4 GiB (no `largesize` is written) is [`HlsError::TooLarge`].
pub(crate) fn write_box(
    out: &mut BytesMut,
    kind: &[u8; 4],
    body: impl FnOnce(&mut BytesMut) -> Result<(), HlsError>,
) -> Result<(), HlsError> {
    let start = out.len();
    out.put_u32(0);
    out.put_slice(kind);
    body(out)?;
    let size = out.len().saturating_sub(start);
    let size = u32::try_from(size).map_err(|_| HlsError::TooLarge(size))?;
    patch_u32(out, start, size);
    Ok(())
}

/// Writes a full box (§4.2): like [`write_box`] with `version` and the low 24
/// bits of `flags` before the content.
pub(crate) fn write_full_box(
    out: &mut BytesMut,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut BytesMut) -> Result<(), HlsError>,
) -> Result<(), HlsError> {
    write_box(out, kind, |out| {
        out.put_u32(u32::from(version) << 24 | (flags & 0x00ff_ffff));
        body(out)
    })
}

/// Overwrites the big-endian `u32` at `at`; nothing if `out` is too short.
pub(crate) fn patch_u32(out: &mut BytesMut, at: usize, value: u32) {
    if let Some(field) = at.checked_add(4).and_then(|end| out.get_mut(at..end)) {
        field.copy_from_slice(&value.to_be_bytes());
    }
}

/// Appends the unity matrix.
pub(crate) fn put_matrix(out: &mut BytesMut) {
    for v in UNITY_MATRIX {
        out.put_u32(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_get_their_sizes() {
        let mut out = BytesMut::new();
        let r = write_box(&mut out, b"moov", |out| {
            write_full_box(out, b"mvhd", 1, 0xab_cdef, |out| {
                out.put_u8(7);
                Ok(())
            })
        });
        assert_eq!(r, Ok(()));
        assert_eq!(
            &out[..],
            &[
                0, 0, 0, 21, b'm', b'o', b'o', b'v', 0, 0, 0, 13, b'm', b'v', b'h', b'd', 1, 0xab,
                0xcd, 0xef, 7
            ]
        );
    }

    #[test]
    fn flags_are_cut_to_24_bits_and_errors_pass_through() {
        let mut out = BytesMut::new();
        let r = write_full_box(&mut out, b"tfhd", 0, 0xff02_0000, |_| Ok(()));
        assert_eq!(r, Ok(()));
        assert_eq!(&out[8..12], &[0, 2, 0, 0]);
        let r = write_box(&mut out, b"free", |_| Err(HlsError::NoStreams));
        assert_eq!(r, Err(HlsError::NoStreams));
    }

    #[test]
    fn patch_out_of_range_is_ignored() {
        let mut out = BytesMut::from(&[1u8, 2, 3][..]);
        patch_u32(&mut out, 0, 0xdead_beef);
        patch_u32(&mut out, usize::MAX - 1, 0);
        assert_eq!(&out[..], &[1, 2, 3]);
    }
}
