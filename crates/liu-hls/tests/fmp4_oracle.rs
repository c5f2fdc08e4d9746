//! FFmpeg 9 as an oracle for the fMP4 writer.
//!
//! FFmpeg encodes a test clip to FLV (H.264 with B-frames, AAC); the clip is
//! read with liu-flv and written as an initialization section plus one movie
//! fragment per GOP. FFmpeg decodes the concatenation, and each fragment alone
//! behind the initialization section (a CMAF segment must decode on its own).
//! The decoded video frames must match FFmpeg's decode of the FLV itself, at
//! the FLV's presentation times, without a single error or warning line.
//!
//! `LIU_FFMPEG` must name the FFmpeg 9 binary (`scripts/test.sh` exports it);
//! the test fails when it is unset.

use bytes::BytesMut;
use liu_hls::fmp4::{
    AAC_FRAME_SAMPLES, AUDIO_TRACK_ID, Fmp4Sample, TrackFragment, VIDEO_TRACK_ID,
    cts_ms_to_video_ticks, ms_to_audio_ticks, ms_to_video_ticks, write_fragment, write_init,
};
use std::path::Path;

mod common;
use common::*;

/// Frames per GOP (`-g 25`), so per fragment.
const GOP: usize = 25;

/// One GOP's worth of samples in the tracks' timescales.
struct Gop {
    video_base: u64,
    video: Vec<Fmp4Sample>,
    audio_base: u64,
    audio: Vec<Fmp4Sample>,
}

/// Splits the clip before every key frame but the first. Video durations are
/// the DTS differences (the last frame repeats the one before); audio frames
/// are 1024 ticks each from the first frame's time.
fn gops(clip: &Clip) -> Vec<Gop> {
    let dts: Vec<u64> = clip
        .samples
        .iter()
        .filter_map(|t| match t {
            Sample::Video(v) => Some(ms_to_video_ticks(v.dts)),
            Sample::Audio(_) => None,
        })
        .collect();
    let duration = |i: usize| -> u32 {
        let d = match (dts.get(i), dts.get(i + 1)) {
            (Some(a), Some(b)) => b - a,
            _ if i > 0 => dts[i] - dts[i - 1],
            _ => 3_600,
        };
        u32::try_from(d).unwrap_or_else(|e| panic!("{e}"))
    };
    let rate = clip.audio.sampling_frequency;
    let audio_start = clip.samples.iter().find_map(|t| match t {
        Sample::Audio(a) => Some(ms_to_audio_ticks(a.pts, rate)),
        Sample::Video(_) => None,
    });
    let audio_start = audio_start.unwrap_or_else(|| panic!("no audio"));
    let (mut gops, mut video_index, mut audio_index) = (Vec::<Gop>::new(), 0, 0u64);
    for sample in &clip.samples {
        let key = matches!(sample, Sample::Video(v) if v.keyframe);
        let cut = gops.last().is_none_or(|g| key && !g.video.is_empty());
        if cut {
            gops.push(Gop {
                video_base: dts.get(video_index).copied().unwrap_or(0),
                video: Vec::new(),
                audio_base: audio_start + audio_index * u64::from(AAC_FRAME_SAMPLES),
                audio: Vec::new(),
            });
        }
        let Some(gop) = gops.last_mut() else { continue };
        match sample {
            Sample::Video(v) => {
                gop.video.push(Fmp4Sample {
                    duration: duration(video_index),
                    cts_offset: cts_ms_to_video_ticks(v.cts_offset),
                    keyframe: v.keyframe,
                    data: v.data.clone(),
                });
                video_index += 1;
            }
            Sample::Audio(a) => {
                gop.audio.push(Fmp4Sample {
                    duration: AAC_FRAME_SAMPLES,
                    cts_offset: 0,
                    keyframe: true,
                    data: a.data.clone(),
                });
                audio_index += 1;
            }
        }
    }
    gops
}

/// One demuxed packet, from FFmpeg's framecrc (times in the stream time base).
struct Packet {
    dts: i64,
    pts: i64,
    duration: i64,
    size: i64,
    crc: String,
}

/// Demuxes `file` without decoding (`-c copy`) into framecrc lines: (video, audio).
fn demux(file: &Path) -> (Vec<Packet>, Vec<Packet>) {
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for f in ffmpeg_lines(file, "-copyts", "-c copy -f framecrc") {
        assert!(f.len() >= 6, "framecrc line: {f:?}");
        let p = Packet {
            dts: num(&f[1]),
            pts: num(&f[2]),
            duration: num(&f[3]),
            size: num(&f[4]),
            crc: f[5].clone(),
        };
        match f[0].as_str() {
            "0" => video.push(p),
            "1" => audio.push(p),
            other => panic!("unexpected stream {other}"),
        }
    }
    (video, audio)
}

fn pts(frames: &[(i64, String)]) -> Vec<i64> {
    frames.iter().map(|f| f.0).collect()
}

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn ffmpeg_decodes_fragments_like_the_flv() {
    ffmpeg(); // fails first when LIU_FFMPEG is unset
    let dir = temp_dir("fmp4");
    let (flv, clip) = make_clip(&dir);
    let (ref_video, ref_audio) = decode(&flv, "-copyts");
    assert_eq!(ref_video.len(), VIDEO_FRAMES);
    assert!(!ref_audio.is_empty());

    let mut init = BytesMut::new();
    let video_config = clip.video.clone();
    write_init(
        Some(&video_config),
        Some(&liu_codec::AudioCodecConfig::Aac(clip.audio)),
        &mut init,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gops = gops(&clip);
    assert_eq!(
        gops.len(),
        VIDEO_FRAMES / GOP,
        "one fragment per 25-frame GOP"
    );
    let mut all = init.to_vec();
    let (mut frag_video, mut frag_audio, mut first_audio) = (Vec::new(), Vec::new(), Vec::new());
    for (i, gop) in gops.iter().enumerate() {
        assert_eq!(gop.video.len(), GOP);
        assert!(gop.video[0].keyframe);
        let mut fragment = BytesMut::new();
        let tracks = [
            TrackFragment {
                track_id: VIDEO_TRACK_ID,
                base_decode_time: gop.video_base,
                samples: &gop.video,
            },
            TrackFragment {
                track_id: AUDIO_TRACK_ID,
                base_decode_time: gop.audio_base,
                samples: &gop.audio,
            },
        ];
        let sequence = u32::try_from(i + 1).unwrap_or(u32::MAX);
        write_fragment(sequence, &tracks, &mut fragment).unwrap_or_else(|e| panic!("{e}"));
        all.extend_from_slice(&fragment);

        // The fragment alone behind the initialization section.
        let path = dir.join(format!("frag{i}.mp4"));
        write(&path, &[&init[..], &fragment[..]].concat());
        let (v, a) = decode(&path, "-copyts");
        assert_eq!(v.len(), GOP, "fragment {i}: video frames");
        assert!(!a.is_empty(), "fragment {i}: no audio decoded");
        assert_monotonic(&v, "fragment video");
        assert_monotonic(&a, "fragment audio");
        if i == 0 {
            first_audio = a.clone();
        }
        frag_video.extend(v);
        frag_audio.extend(a);
    }
    // Every fragment decodes on its own: together they give every video frame,
    // bit-exact and at the FLV's presentation times, and every audio frame.
    // A fresh AAC decoder lacks the previous frame's overlap, so audio is
    // bit-exact only in the first fragment.
    assert_eq!(hashes(&frag_video), hashes(&ref_video));
    assert_eq!(pts(&frag_video), pts(&ref_video));
    assert_eq!(frag_audio.len(), ref_audio.len());
    assert_eq!(
        hashes(&first_audio),
        hashes(&ref_audio[..first_audio.len()])
    );

    let concat = dir.join("all.mp4");
    write(&concat, &all);
    let (video, audio) = decode(&concat, "-copyts");
    assert_eq!(video.len(), VIDEO_FRAMES);
    assert_eq!(hashes(&video), hashes(&ref_video));
    assert_eq!(pts(&video), pts(&ref_video));
    assert_eq!(hashes(&audio), hashes(&ref_audio));
    assert_monotonic(&video, "video");
    assert_monotonic(&audio, "audio");
    println!(
        "FFmpeg decoded {} video and {} audio frames from {} fragments ({} bytes)",
        video.len(),
        audio.len(),
        gops.len(),
        all.len()
    );

    // Demuxed without decoding, every packet is the FLV's, byte for byte, at
    // the FLV's times: video in 90 kHz ticks, audio 1024 ticks apart.
    let (flv_v, flv_a) = demux(&flv);
    let (mp4_v, mp4_a) = demux(&concat);
    let payload = |p: &[Packet]| -> Vec<(i64, String)> {
        p.iter().map(|p| (p.size, p.crc.clone())).collect()
    };
    assert_eq!(payload(&mp4_v), payload(&flv_v));
    assert_eq!(payload(&mp4_a), payload(&flv_a));
    let times = |p: &[Packet], scale: i64| -> Vec<(i64, i64)> {
        p.iter().map(|p| (p.dts * scale, p.pts * scale)).collect()
    };
    assert_eq!(times(&mp4_v, 1), times(&flv_v, 90));
    let want_durations: Vec<i64> = gops
        .iter()
        .flat_map(|g| g.video.iter().map(|s| i64::from(s.duration)))
        .collect();
    assert_eq!(
        mp4_v.iter().map(|p| p.duration).collect::<Vec<_>>(),
        want_durations
    );
    let first = gops[0].audio_base as i64;
    for (k, p) in mp4_a.iter().enumerate() {
        let t = first + k as i64 * i64::from(AAC_FRAME_SAMPLES);
        assert_eq!((p.dts, p.pts, p.duration), (t, t, 1024), "audio packet {k}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
