//! Movie fragment tests.

use super::*;
use crate::fmp4::fragment::{TFHD_DEFAULT_BASE_IS_MOOF, TRUN_SAMPLE_CTS};
use crate::fmp4::walk::{Trun, TrunEntry, parse_trun, u64_at};

fn sample(duration: u32, cts: i32, key: bool, data: &[u8]) -> Fmp4Sample {
    Fmp4Sample {
        duration,
        cts_offset: cts,
        keyframe: key,
        data: Bytes::copy_from_slice(data),
    }
}

fn fragment(seq: u32, tracks: &[TrackFragment<'_>]) -> BytesMut {
    let mut out = BytesMut::new();
    write_fragment(seq, tracks, &mut out).unwrap_or_else(|e| panic!("{e}"));
    out
}

#[test]
fn fragment_exact_bytes() {
    let samples = [sample(1024, 0, true, &[0xaa, 0xbb])];
    let out = fragment(
        7,
        &[TrackFragment {
            track_id: 2,
            base_decode_time: 0x1_0000_0002,
            samples: &samples,
        }],
    );
    #[rustfmt::skip]
    let want: &[u8] = &[
        0, 0, 0, 100, b'm', b'o', b'o', b'f',
        0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 7,
        0, 0, 0, 76, b't', b'r', b'a', b'f',
        0, 0, 0, 16, b't', b'f', b'h', b'd', 0, 2, 0, 0, 0, 0, 0, 2,
        0, 0, 0, 20, b't', b'f', b'd', b't', 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2,
        0, 0, 0, 32, b't', b'r', b'u', b'n', 1, 0, 7, 1, 0, 0, 0, 1, 0, 0, 0, 108,
        0, 0, 4, 0, 0, 0, 0, 2, 2, 0, 0, 0,
        0, 0, 0, 10, b'm', b'd', b'a', b't', 0xaa, 0xbb,
    ];
    assert_eq!(&out[..], want);
}

/// Checks a fragment against its input with the walker; returns the trun of each traf.
fn check_fragment(out: &[u8], seq: u32, tracks: &[TrackFragment<'_>]) -> Vec<Trun> {
    let top = boxes(out);
    let kinds: Vec<String> = top.iter().map(|n| fourcc(&n.kind)).collect();
    assert_eq!(kinds, ["moof", "mdat"]);
    let (moof, mdat) = (&top[0], &top[1]);
    assert_eq!(moof.children[0].kind, *b"mfhd");
    assert_eq!(
        moof.children[0].content(out),
        [&[0u8; 4][..], &seq.to_be_bytes()].concat()
    );
    let used: Vec<&TrackFragment<'_>> = tracks.iter().filter(|t| !t.samples.is_empty()).collect();
    assert_eq!(moof.children.len(), 1 + used.len());
    let mut all = Vec::new();
    let mut runs = Vec::new();
    for (traf, t) in moof.children[1..].iter().zip(&used) {
        assert_eq!(traf.kinds(), ["tfhd", "tfdt", "trun"]);
        let tfhd = traf.child(b"tfhd").content(out);
        assert_eq!(u32_at(tfhd, 0), TFHD_DEFAULT_BASE_IS_MOOF);
        assert_eq!(u32_at(tfhd, 4), t.track_id);
        assert_eq!(tfhd.len(), 8);
        let tfdt = traf.child(b"tfdt").content(out);
        assert_eq!(tfdt.len(), 12);
        assert_eq!(u32_at(tfdt, 0), 1 << 24, "tfdt version 1");
        assert_eq!(u64_at(tfdt, 4), t.base_decode_time);
        let trun = parse_trun(traf.child(b"trun").content(out));
        assert_eq!(trun.version, 1);
        let has_cts = t.samples.iter().any(|s| s.cts_offset != 0);
        assert_eq!(trun.flags & TRUN_SAMPLE_CTS != 0, has_cts);
        let want: Vec<TrunEntry> = t
            .samples
            .iter()
            .map(|s| TrunEntry {
                duration: s.duration,
                size: s.data.len() as u32,
                flags: if s.keyframe || t.track_id == AUDIO_TRACK_ID {
                    SAMPLE_FLAGS_SYNC
                } else {
                    SAMPLE_FLAGS_NON_SYNC
                },
                cts: s.cts_offset,
            })
            .collect();
        assert_eq!(trun.entries, want);
        // data_offset counts from the moof's first byte to the track's first sample.
        let mut at = moof.start + trun.data_offset as usize;
        assert!(at >= mdat.body && at <= mdat.end);
        for s in t.samples {
            assert_eq!(&out[at..at + s.data.len()], &s.data[..]);
            at += s.data.len();
            all.extend_from_slice(&s.data);
        }
        runs.push(trun);
    }
    assert_eq!(mdat.content(out), &all[..]);
    runs
}

#[test]
fn fragment_with_video_and_audio() {
    let video = [
        sample(3600, 7200, true, &[0, 0, 0, 2, 0x65, 1]),
        sample(3600, -3600, false, &[0, 0, 0, 1, 0x41]),
        sample(3600, 0, false, &[0, 0, 0, 3, 0x01, 2, 3]),
    ];
    let audio = [
        sample(1024, 0, false, &[0x21; 9]),
        sample(1024, 0, true, &[0x22; 4]),
    ];
    let tracks = [
        TrackFragment {
            track_id: VIDEO_TRACK_ID,
            base_decode_time: 900_000,
            samples: &video,
        },
        TrackFragment {
            track_id: AUDIO_TRACK_ID,
            base_decode_time: 441_000,
            samples: &audio,
        },
    ];
    let out = fragment(3, &tracks);
    let runs = check_fragment(&out, 3, &tracks);
    assert_eq!(runs[0].flags, 0x000f01);
    assert_eq!(runs[1].flags, 0x000701, "no composition offsets for audio");
    assert_eq!(
        runs[0].entries.iter().map(|e| e.flags).collect::<Vec<_>>(),
        [0x0200_0000, 0x0101_0000, 0x0101_0000]
    );
    assert_eq!(
        runs[1].entries.iter().map(|e| e.flags).collect::<Vec<_>>(),
        [0x0200_0000, 0x0200_0000],
        "every audio sample is sync"
    );
    // moof: header, mfhd, and each traf: header, tfhd, tfdt, trun (20 bytes
    // plus 16 per sample with composition offsets, 12 without).
    let moof_len = 8 + 16 + (8 + 16 + 20 + 20 + 3 * 16) + (8 + 16 + 20 + 20 + 2 * 12);
    assert_eq!(runs[0].data_offset, moof_len + 8);
    assert_eq!(runs[1].data_offset, moof_len + 8 + 6 + 5 + 7);
    // The negative offset is written in two's complement.
    let trun_at = out.windows(4).position(|w| w == b"trun").unwrap_or(0);
    assert_eq!(
        &out[trun_at + 16 + 16 + 12..][..4],
        (-3600i32).to_be_bytes()
    );
}

#[test]
fn fragment_leaves_out_empty_tracks() {
    let audio = [sample(1024, 0, true, &[1, 2, 3])];
    let tracks = [
        TrackFragment {
            track_id: VIDEO_TRACK_ID,
            base_decode_time: 5,
            samples: &[],
        },
        TrackFragment {
            track_id: AUDIO_TRACK_ID,
            base_decode_time: 0,
            samples: &audio,
        },
    ];
    let out = fragment(1, &tracks);
    let runs = check_fragment(&out, 1, &tracks);
    assert_eq!(runs.len(), 1);
    // Zero-size samples are valid; appending keeps what the buffer held.
    let empty = [sample(0, 0, true, &[]), sample(10, 0, false, &[9])];
    let mut out = BytesMut::from(&b"xy"[..]);
    let tracks = [TrackFragment {
        track_id: 9,
        base_decode_time: u64::MAX,
        samples: &empty,
    }];
    assert_eq!(write_fragment(u32::MAX, &tracks, &mut out), Ok(()));
    assert_eq!(&out[..2], b"xy");
    check_fragment(&out[2..], u32::MAX, &tracks);
}

#[test]
fn fragment_errors_write_nothing() {
    let one = [sample(1, 0, true, &[1])];
    for (tracks, want) in [
        (vec![], HlsError::EmptyFragment),
        (
            vec![TrackFragment {
                track_id: 1,
                base_decode_time: 0,
                samples: &[],
            }],
            HlsError::EmptyFragment,
        ),
        (
            vec![TrackFragment {
                track_id: 0,
                base_decode_time: 0,
                samples: &one,
            }],
            HlsError::BadTrackId(0),
        ),
    ] {
        let mut out = BytesMut::from(&b"keep"[..]);
        assert_eq!(write_fragment(1, &tracks, &mut out), Err(want));
        assert_eq!(&out[..], b"keep");
    }
}

#[test]
fn timeline_conversions() {
    assert_eq!(ms_to_video_ticks(0), 0);
    assert_eq!(ms_to_video_ticks(40), 3_600);
    assert_eq!(ms_to_video_ticks(u64::MAX), u64::MAX);
    assert_eq!(cts_ms_to_video_ticks(-80), -7_200);
    assert_eq!(cts_ms_to_video_ticks(i32::MAX), i32::MAX);
    assert_eq!(cts_ms_to_video_ticks(i32::MIN), i32::MIN);
    assert_eq!(ms_to_audio_ticks(1_000, 44_100), 44_100);
    assert_eq!(ms_to_audio_ticks(23, 44_100), 1_014);
    assert_eq!(ms_to_audio_ticks(u64::MAX, 48_000), u64::MAX);
}

fn arb_sample() -> impl Strategy<Value = Fmp4Sample> {
    (
        any::<u32>(),
        any::<i32>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(duration, cts, keyframe, data)| Fmp4Sample {
            duration,
            cts_offset: if cts % 3 == 0 { 0 } else { cts },
            keyframe,
            data: Bytes::from(data),
        })
}

fn arb_track() -> impl Strategy<Value = (u32, u64, Vec<Fmp4Sample>)> {
    (
        0u32..4,
        any::<u64>(),
        proptest::collection::vec(arb_sample(), 0..12),
    )
}

proptest! {
    #[test]
    fn arbitrary_fragments_walk_and_match(
        seq in any::<u32>(),
        tracks in proptest::collection::vec(arb_track(), 0..4),
    ) {
        let tracks: Vec<TrackFragment<'_>> = tracks
            .iter()
            .map(|(id, base, samples)| TrackFragment {
                track_id: *id,
                base_decode_time: *base,
                samples,
            })
            .collect();
        let mut out = BytesMut::new();
        let r = write_fragment(seq, &tracks, &mut out);
        let used: Vec<_> = tracks.iter().filter(|t| !t.samples.is_empty()).collect();
        if used.is_empty() {
            prop_assert_eq!(r, Err(HlsError::EmptyFragment));
            prop_assert!(out.is_empty());
        } else if used.iter().any(|t| t.track_id == 0) {
            prop_assert_eq!(r, Err(HlsError::BadTrackId(0)));
            prop_assert!(out.is_empty());
        } else {
            prop_assert_eq!(r, Ok(()));
            check_fragment(&out, seq, &tracks);
        }
    }
}
