//! Fragmented MP4 (ISO/IEC 14496-12 §8.8) for HLS fMP4 segments (RFC 8216
//! §3.3) in the CMAF layout (ISO/IEC 23000-19): an initialization section
//! ([`write_init`], the `EXT-X-MAP`) and movie fragments
//! ([`write_fragment`]), H.264 and AAC.
//!
//! Layout:
//! - Initialization section: `ftyp`, then `moov` with `mvhd`, one `trak` per
//!   track (`tkhd`, `mdia` with `mdhd`, `hdlr`, `minf` holding `vmhd` or
//!   `smhd`, `dinf`/`dref` and an `stbl` whose only content is the sample
//!   entry: `avc1` with `avcC` or `mp4a` with `esds`) and `mvex` with a `trex`
//!   per track. Video is track [`VIDEO_TRACK_ID`], audio [`AUDIO_TRACK_ID`].
//! - Fragment: `moof` (`mfhd`, then per track a `traf` with `tfhd`, `tfdt`
//!   and one `trun`), then a single `mdat` with the samples of every track,
//!   track after track in the order given. A CMAF segment or LL-HLS part is
//!   one or more fragments; no `styp` is written.
//!
//! Brands (`ftyp`, ISO/IEC 14496-12 §4.3): major brand `iso6`, compatible
//! `iso6`, `cmfc` and `mp41`. `iso6` is the ISO BMFF brand whose
//! requirements cover everything used here (`default-base-is-moof`, `tfdt`,
//! version 1 `trun` with signed composition offsets, Annex E) and the one
//! CMAF builds on. `cmfc` (CMAF structural constraints,
//! ISO/IEC 23000-19 §7.2) is listed only when the movie has a single track:
//! a CMAF track is alone in its header and fragments, so a movie with audio
//! and video multiplexed, which HLS allows, is not a CMAF track. `mp41`
//! declares the MP4 file format (ISO/IEC 14496-14) that `esds` comes from.
//!
//! Time: each track counts in its own timescale, [`VIDEO_TIMESCALE`] (90 kHz,
//! as HLS timestamps) for video and the AAC sampling frequency for audio (one
//! AAC frame is [`AAC_FRAME_SAMPLES`] ticks). There is no edit list: a
//! sample's presentation time is its decoding time plus its composition
//! offset, written as a signed offset in a version 1 `trun`. With the FLV
//! timeline (`tfdt` = the first DTS, offsets = FLV `CompositionTime`) video
//! starts being presented a B-frame delay after its first DTS, exactly as in
//! the FLV and the TS muxer, so audio and video stay in sync without an edit.
//!
//! Like the rest of the crate this is sans-IO and never panics: bad input
//! comes back as an [`HlsError`], and `out` is left as it was.

mod bmff;
mod fragment;
mod init;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod walk;

use crate::error::HlsError;
use bytes::{Bytes, BytesMut};
use liu_codec::sample::{AudioCodecConfig, VideoCodecConfig};

/// `track_ID` of the video track.
pub const VIDEO_TRACK_ID: u32 = 1;
/// `track_ID` of the audio track.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Video media timescale (90 kHz); the audio track's timescale is the AAC
/// sampling frequency.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// `mvhd` timescale (ms); the movie has no duration, so it only matters to
/// edit lists, which are not written.
pub const MOVIE_TIMESCALE: u32 = 1_000;
/// Duration of one AAC frame in audio ticks (ISO/IEC 14496-3: 1024 samples
/// per frame at the core sampling frequency, the audio timescale).
pub const AAC_FRAME_SAMPLES: u32 = 1_024;
/// `sample_flags` of a sync sample (ISO/IEC 14496-12 §8.8.3.1):
/// `sample_depends_on` 2 (depends on no other sample),
/// `sample_is_non_sync_sample` 0.
pub const SAMPLE_FLAGS_SYNC: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample: `sample_depends_on` 1 (depends on
/// others), `sample_is_non_sync_sample` 1.
pub const SAMPLE_FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// One sample of a fragment, in its track's timescale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmp4Sample {
    /// Decoding duration: the next sample's decoding time minus this one's.
    pub duration: u32,
    /// Presentation minus decoding time; may be negative.
    pub cts_offset: i32,
    /// A sync sample (random access point). Ignored on the audio track,
    /// where every sample is sync.
    pub keyframe: bool,
    /// The sample, written to the `mdat` as it is: for video an AVCC access
    /// unit (length prefixes of the `avcC`'s size), for audio a raw AAC frame.
    /// May be empty (a zero-size sample is valid ISO BMFF).
    pub data: Bytes,
}

/// One track's run in a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackFragment<'a> {
    /// [`VIDEO_TRACK_ID`] or [`AUDIO_TRACK_ID`] (any non-zero ID is written).
    pub track_id: u32,
    /// Decoding time of the first sample (`tfdt`), in the track's timescale:
    /// the previous fragment's `base_decode_time` plus its durations.
    pub base_decode_time: u64,
    /// The samples in decoding order.
    pub samples: &'a [Fmp4Sample],
}

/// Appends the initialization section (the `EXT-X-MAP`): `ftyp` + `moov`.
///
/// `moov` holds `mvhd`; a `trak` per configured track with `tkhd`,
/// `mdia`/`mdhd`/`hdlr`/`minf` (`vmhd` or `smhd`, `dinf`/`dref`, and an
/// `stbl` with `stsd` holding `avc1`+`avcC` or `mp4a`+`esds`, and empty
/// `stts`/`stsc`/`stsz`/`stco`); and `mvex` with a `trex` per track. Video is
/// track 1, audio track 2.
///
/// The `avcC` is the record as given, plus the chroma format and bit depth
/// extension for the High profiles (ISO/IEC 14496-15 §5.3.3.1.2), filled in
/// from the SPS. Width and height (in `tkhd` and `avc1`) are the cropped
/// picture size of the first SPS.
///
/// Errors, with nothing written: no track ([`HlsError::NoStreams`]); a NAL
/// length size other than 1-4; no SPS, or an SPS that does not parse or gives
/// a size of 0 or above 65535 ([`HlsError::Sps`]; the dimensions would be
/// wrong, and players size their view from them); AAC other than object types
/// 1-4, a sampling frequency of 0, or channel configuration 0 or reserved
/// ([`HlsError::UnsupportedAudioConfig`]; the AudioSpecificConfig is rebuilt
/// from its fields, see [`AudioSpecificConfig::encode`]).
pub fn write_init(
    video: Option<&VideoCodecConfig>,
    audio: Option<&AudioCodecConfig>,
    out: &mut BytesMut,
) -> Result<(), HlsError> {
    init::write_init(video, audio, out)
}

/// Appends one movie fragment: `moof` then one `mdat`.
///
/// The `moof` holds `mfhd` with `sequence_number` (start at 1 and count up,
/// §8.8.5), then a `traf` per track with samples, in the order given (tracks
/// without samples are left out): `tfhd` (`default-base-is-moof`), `tfdt`
/// version 1 (`base_decode_time`), and a version 1 `trun` with `data_offset`
/// and each sample's duration, size, flags ([`SAMPLE_FLAGS_SYNC`] for key
/// frames and every audio sample, else [`SAMPLE_FLAGS_NON_SYNC`]) and, when
/// any is non-zero, signed composition time offsets. The `mdat` holds the
/// samples of all tracks in the same order.
///
/// Errors, with nothing written: no track has a sample
/// ([`HlsError::EmptyFragment`]: such a fragment could not start a segment
/// or part); track ID 0 ([`HlsError::BadTrackId`]); a fragment of 2 GiB or
/// more ([`HlsError::TooLarge`], as `data_offset` is a signed 32-bit field).
pub fn write_fragment(
    sequence_number: u32,
    tracks: &[TrackFragment<'_>],
    out: &mut BytesMut,
) -> Result<(), HlsError> {
    fragment::write_fragment(sequence_number, tracks, out)
}

/// Milliseconds on the stream timeline to video ticks (× 90), saturating.
pub fn ms_to_video_ticks(ms: u64) -> u64 {
    ms.saturating_mul(u64::from(VIDEO_TIMESCALE / 1_000))
}

/// A composition offset in ms (FLV `CompositionTime`) to video ticks, saturating.
pub fn cts_ms_to_video_ticks(ms: i32) -> i32 {
    ms.saturating_mul((VIDEO_TIMESCALE / 1_000) as i32)
}

/// Milliseconds to ticks of an audio track at `rate` Hz (× rate / 1000,
/// rounded down), saturating.
pub fn ms_to_audio_ticks(ms: u64, rate: u32) -> u64 {
    let ticks = u128::from(ms) * u128::from(rate) / 1_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}
