//! Enhanced RTMP v2 multitrack bodies (`VideoPacketType.Multitrack`,
//! `AudioPacketType.Multitrack`): finding one track and reading it as a
//! single-track body. Track 0 is the default rendition (the spec asks
//! encoders to number tracks by priority, 0 first), which is what viewers
//! and containers that know no multitrack get.
//!
//! Layout after the ModEx prefixes: `AvMultitrackType << 4 | PacketType`,
//! the FourCC unless `ManyTracksManyCodecs`, then per track: the FourCC
//! (`ManyTracksManyCodecs` only), `trackId` (UI8), `sizeOfTrack` (UI24,
//! not for `OneTrack`) and the track's body, laid out as a single-track
//! body after its FourCC.

use super::rewrite::{CODED_FRAMES, CODED_FRAMES_X, Rewrite, SEQUENCE_START};
use super::{MULTITRACK_MANY_CODECS, skip_mod_ex};
use liu_codec::cursor::Cursor;

/// `VideoPacketType.Multitrack`.
const VIDEO_MULTITRACK: u8 = 6;
/// `AudioPacketType.Multitrack`.
const AUDIO_MULTITRACK: u8 = 5;
/// `SoundFormat.ExHeader` in the high nibble.
const AUDIO_EX_HEADER: u8 = 0x90;
/// `AvMultitrackType.OneTrack`.
const ONE_TRACK: u8 = 0;

/// Track `track_id` of a multitrack video body, as the single-track
/// Enhanced body `[IsExHeader | FrameType | PacketType, FourCC]` followed
/// by the track's bytes; `None` when the body is not multitrack, is
/// malformed, or has no such track.
pub fn video_track(body: &[u8], track_id: u8) -> Option<Rewrite> {
    let mut c = Cursor::new(body);
    let first = c.u8("video tag header").ok()?;
    if first & 0x80 == 0 {
        return None;
    }
    let packet = skip_mod_ex(&mut c, first & 0x0f).ok()?;
    (packet == VIDEO_MULTITRACK).then_some(())?;
    let lead = 0x80 | (first & 0x70);
    find_track(c, lead, VIDEO_MULTITRACK, track_id)
}

/// Track `track_id` of a multitrack audio body, as the single-track
/// Enhanced body `[ExHeader | PacketType, FourCC]` followed by the track's
/// bytes.
pub fn audio_track(body: &[u8], track_id: u8) -> Option<Rewrite> {
    let mut c = Cursor::new(body);
    let first = c.u8("audio tag header").ok()?;
    if first & 0xf0 != AUDIO_EX_HEADER {
        return None;
    }
    let packet = skip_mod_ex(&mut c, first & 0x0f).ok()?;
    (packet == AUDIO_MULTITRACK).then_some(())?;
    find_track(c, AUDIO_EX_HEADER, AUDIO_MULTITRACK, track_id)
}

/// Whether a track found by [`video_track`] or [`audio_track`] is a codec
/// configuration (`SequenceStart`).
pub fn is_sequence_start(track: &Rewrite) -> bool {
    track
        .head()
        .first()
        .is_some_and(|b| b & 0x0f == SEQUENCE_START)
}

/// Whether a track found by [`video_track`] carries coded video frames.
pub fn is_coded_frames(track: &Rewrite) -> bool {
    track
        .head()
        .first()
        .is_some_and(|b| matches!(b & 0x0f, CODED_FRAMES | CODED_FRAMES_X))
}

fn find_track(mut c: Cursor<'_>, lead: u8, multitrack: u8, track_id: u8) -> Option<Rewrite> {
    let b = c.u8("multitrack type").ok()?;
    let (kind, inner) = (b >> 4, b & 0x0f);
    if kind > MULTITRACK_MANY_CODECS || inner == multitrack {
        return None;
    }
    let mut fourcc = if kind != MULTITRACK_MANY_CODECS {
        Some(c.fourcc("multitrack FourCC").ok()?)
    } else {
        None
    };
    while !c.is_empty() {
        if kind == MULTITRACK_MANY_CODECS {
            fourcc = Some(c.fourcc("track FourCC").ok()?);
        }
        let id = c.u8("trackId").ok()?;
        let size = if kind == ONE_TRACK {
            c.remaining()
        } else {
            let [a, b, d] = [c.u8("size").ok()?, c.u8("size").ok()?, c.u8("size").ok()?];
            usize::from(a) << 16 | usize::from(b) << 8 | usize::from(d)
        };
        let start = c.position();
        c.take(size, "track body").ok()?;
        if id == track_id {
            let f = fourcc?;
            let head = [lead | inner, f[0], f[1], f[2], f[3]];
            return Some(Rewrite::slice(&head, start, start + size));
        }
        if kind == ONE_TRACK {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::rewrite::rewritten;
    use super::*;

    #[test]
    fn one_track_and_many_tracks() {
        // OneTrack of hvc1 CodedFrames, track 0: cts 0x000005 then data.
        let one = b"\x96\x01hvc1\x00\x00\x00\x05NAL";
        let t = video_track(one, 0).unwrap_or(Rewrite::Drop);
        assert_eq!(
            rewritten(one, t).as_deref(),
            Some(&b"\x91hvc1\x00\x00\x05NAL"[..])
        );
        assert!(video_track(one, 1).is_none());
        // ManyTracks (1) of avc1 SequenceStart: track 1 (3 bytes), then track 0 (2 bytes).
        let many = b"\x96\x10avc1\x01\x00\x00\x03abc\x00\x00\x00\x02xy";
        let t0 = video_track(many, 0).unwrap_or(Rewrite::Drop);
        assert_eq!(rewritten(many, t0).as_deref(), Some(&b"\x90avc1xy"[..]));
        let t1 = video_track(many, 1).unwrap_or(Rewrite::Drop);
        assert_eq!(rewritten(many, t1).as_deref(), Some(&b"\x90avc1abc"[..]));
        // ManyTracksManyCodecs (2), inter frame (0xa6), CodedFramesX (3).
        let codecs = b"\xa6\x23av01\x01\x00\x00\x01aHvc1\x00\x00\x00\x01b";
        let t0 = video_track(codecs, 0).unwrap_or(Rewrite::Drop);
        assert_eq!(rewritten(codecs, t0).as_deref(), Some(&b"\xa3Hvc1b"[..]));
        // Audio: OneTrack of mp4a CodedFrames.
        let audio = b"\x95\x01mp4a\x00AAC";
        let t = audio_track(audio, 0).unwrap_or(Rewrite::Drop);
        assert_eq!(rewritten(audio, t).as_deref(), Some(&b"\x91mp4aAAC"[..]));
    }

    #[test]
    fn malformed_bodies() {
        for body in [
            &b"\x96"[..],
            b"\x96\x01hvc",
            b"\x96\x10avc1\x00\x00\x00\x09short",
            b"\x96\x36avc1\x00x",
            b"\x96\x30avc1\x00x",
            b"\x91hvc1\x00\x00\x00x",
            b"\x17\x01\x00\x00\x00x",
        ] {
            assert!(video_track(body, 0).is_none(), "{body:02x?}");
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn tracks_stay_inside_the_body(b in proptest::collection::vec(any::<u8>(), 0..48), id in 0u8..3) {
                for rw in [video_track(&b, id), audio_track(&b, id)].into_iter().flatten() {
                    if let Rewrite::Header { payload_start, payload_end, .. } = rw {
                        prop_assert!(payload_start <= payload_end && payload_end <= b.len());
                    }
                }
            }
        }
    }
}
