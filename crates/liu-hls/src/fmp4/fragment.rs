//! Movie fragments: `moof` and its `mdat` (ISO/IEC 14496-12 §8.8.4, §8.1.1).

use super::bmff::{BOX_HEADER_LEN, patch_u32, write_box, write_full_box};
use super::{AUDIO_TRACK_ID, Fmp4Sample, SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC, TrackFragment};
use crate::error::HlsError;
use bytes::{BufMut, BytesMut};

/// `tfhd` flag `default-base-is-moof` (§8.8.7.1): data offsets count from
/// the first byte of the `moof`.
pub(crate) const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flag `data-offset-present` (§8.8.8.1).
pub(crate) const TRUN_DATA_OFFSET: u32 = 0x00_0001;
/// `trun` flag `sample-duration-present`.
pub(crate) const TRUN_SAMPLE_DURATION: u32 = 0x00_0100;
/// `trun` flag `sample-size-present`.
pub(crate) const TRUN_SAMPLE_SIZE: u32 = 0x00_0200;
/// `trun` flag `sample-flags-present`.
pub(crate) const TRUN_SAMPLE_FLAGS: u32 = 0x00_0400;
/// `trun` flag `sample-composition-time-offsets-present`.
pub(crate) const TRUN_SAMPLE_CTS: u32 = 0x00_0800;

/// See [`super::write_fragment`]. The sizes are checked before the first
/// byte is written; on error `out` is left as it was.
pub(crate) fn write_fragment(
    sequence_number: u32,
    tracks: &[TrackFragment<'_>],
    out: &mut BytesMut,
) -> Result<(), HlsError> {
    let mut data_len = 0usize;
    let mut any = false;
    for t in tracks.iter().filter(|t| !t.samples.is_empty()) {
        if t.track_id == 0 {
            return Err(HlsError::BadTrackId(t.track_id));
        }
        u32::try_from(t.samples.len()).map_err(|_| HlsError::TooLarge(t.samples.len()))?;
        for s in t.samples {
            data_len = data_len
                .checked_add(s.data.len())
                .ok_or(HlsError::TooLarge(usize::MAX))?;
        }
        any = true;
    }
    if !any {
        return Err(HlsError::EmptyFragment);
    }
    // Every data_offset is a signed 32-bit distance from the moof start, and
    // the mdat size a 32-bit field: keep the whole fragment below 2 GiB.
    let limit = i32::MAX as usize;
    if data_len > limit {
        return Err(HlsError::TooLarge(data_len));
    }
    let start = out.len();
    let r = write_moof_mdat(sequence_number, tracks, data_len, out);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn write_moof_mdat(
    sequence_number: u32,
    tracks: &[TrackFragment<'_>],
    data_len: usize,
    out: &mut BytesMut,
) -> Result<(), HlsError> {
    let start = out.len();
    let samples: usize = tracks.iter().map(|t| t.samples.len()).sum();
    out.reserve(64 + tracks.len() * 64 + samples * 16 + BOX_HEADER_LEN + data_len);
    // Where each trun's data_offset field is, and the offset of that track's
    // first sample in the mdat payload.
    let mut offsets: Vec<(usize, usize)> = Vec::with_capacity(tracks.len());
    write_box(out, b"moof", |out| {
        write_full_box(out, b"mfhd", 0, 0, |out| {
            out.put_u32(sequence_number);
            Ok(())
        })?;
        let mut in_mdat = 0usize;
        for t in tracks.iter().filter(|t| !t.samples.is_empty()) {
            let field = write_traf(t, out)?;
            offsets.push((field, in_mdat));
            in_mdat += t.samples.iter().map(|s| s.data.len()).sum::<usize>();
        }
        Ok(())
    })?;
    let moof_len = out.len() - start;
    for (field, in_mdat) in offsets {
        let offset = moof_len + BOX_HEADER_LEN + in_mdat;
        let offset = i32::try_from(offset).map_err(|_| HlsError::TooLarge(offset))?;
        patch_u32(out, field, offset as u32);
    }
    let mdat_len = BOX_HEADER_LEN + data_len;
    let mdat_len = u32::try_from(mdat_len).map_err(|_| HlsError::TooLarge(mdat_len))?;
    out.put_u32(mdat_len);
    out.put_slice(b"mdat");
    for t in tracks {
        for s in t.samples {
            out.put_slice(&s.data);
        }
    }
    Ok(())
}

/// The `sample_flags` of a sample (§8.8.3.1).
fn sample_flags(track_id: u32, s: &Fmp4Sample) -> u32 {
    if s.keyframe || track_id == AUDIO_TRACK_ID {
        SAMPLE_FLAGS_SYNC
    } else {
        SAMPLE_FLAGS_NON_SYNC
    }
}

/// Writes a `traf`; returns the position of its `trun` data_offset field.
///
/// - `tfhd` (§8.8.7): only `default-base-is-moof`; no defaults, as the `trun`
///   gives every sample's duration, size and flags.
/// - `tfdt` version 1 (§8.8.12): the 64-bit `baseMediaDecodeTime`.
/// - `trun` version 1 (§8.8.8): signed composition offsets, present only when
///   some sample has a non-zero one.
fn write_traf(t: &TrackFragment<'_>, out: &mut BytesMut) -> Result<usize, HlsError> {
    let mut field = 0;
    write_box(out, b"traf", |out| {
        write_full_box(out, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |out| {
            out.put_u32(t.track_id);
            Ok(())
        })?;
        write_full_box(out, b"tfdt", 1, 0, |out| {
            out.put_u64(t.base_decode_time);
            Ok(())
        })?;
        let cts = t.samples.iter().any(|s| s.cts_offset != 0);
        let flags = TRUN_DATA_OFFSET
            | TRUN_SAMPLE_DURATION
            | TRUN_SAMPLE_SIZE
            | TRUN_SAMPLE_FLAGS
            | if cts { TRUN_SAMPLE_CTS } else { 0 };
        write_full_box(out, b"trun", 1, flags, |out| {
            let count = t.samples.len();
            out.put_u32(u32::try_from(count).map_err(|_| HlsError::TooLarge(count))?);
            field = out.len();
            out.put_i32(0); // data_offset, patched once the moof size is known
            for s in t.samples {
                let size = s.data.len();
                out.put_u32(s.duration);
                out.put_u32(u32::try_from(size).map_err(|_| HlsError::TooLarge(size))?);
                out.put_u32(sample_flags(t.track_id, s));
                if cts {
                    out.put_i32(s.cts_offset);
                }
            }
            Ok(())
        })
    })?;
    Ok(field)
}
