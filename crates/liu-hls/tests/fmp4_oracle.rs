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

use bytes::{Bytes, BytesMut};
use liu_flv::aac::AudioSpecificConfig;
use liu_flv::av::{
    AudioCodec, VideoCodec, VideoPacket, parse_audio_tag_header, parse_video_tag_header,
};
use liu_flv::avc::AvcDecoderConfigurationRecord;
use liu_flv::flv::{FlvReader, TagType};
use liu_hls::VideoCodecConfig;
use liu_hls::fmp4::{
    AAC_FRAME_SAMPLES, AUDIO_TRACK_ID, Fmp4Sample, TrackFragment, VIDEO_TRACK_ID,
    cts_ms_to_video_ticks, ms_to_audio_ticks, ms_to_video_ticks, write_fragment, write_init,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// Frames per GOP (`-g 25`), so per fragment.
const GOP: usize = 25;

fn ffmpeg() -> PathBuf {
    match std::env::var_os("LIU_FFMPEG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "LIU_FFMPEG is not set: it must name the FFmpeg 9 binary \
             (scripts/test.sh exports it; here: \
             .deps/python/imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2)"
        ),
    }
}

/// Runs FFmpeg with `args`; returns (success, stdout, stderr). Killed after [`FFMPEG_TIMEOUT`].
fn run_ffmpeg(args: &[&str]) -> (bool, String, String) {
    let mut child = match Command::new(ffmpeg())
        .args(["-hide_banner", "-nostdin"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot start {}: {e}", ffmpeg().display()),
    };
    let drain = |r: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + FFMPEG_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ffmpeg {args:?} did not finish within {FFMPEG_TIMEOUT:?}; killed");
            }
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    (status.success(), out, err)
}

/// A coded frame from the FLV: times in ms.
struct Video {
    dts: u64,
    cts: i32,
    keyframe: bool,
    data: Bytes,
}

/// A raw AAC frame from the FLV.
struct Audio {
    pts: u64,
    data: Bytes,
}

enum Tag {
    Video(Video),
    Audio(Audio),
}

/// The FLV clip as codec configurations and frames in tag order.
struct Clip {
    video: AvcDecoderConfigurationRecord,
    audio: AudioSpecificConfig,
    tags: Vec<Tag>,
}

fn read_flv(data: &[u8]) -> Clip {
    let mut reader = FlvReader::new(16 << 20);
    reader.push(data);
    let (mut video, mut audio, mut tags) = (None, None, Vec::new());
    loop {
        let tag = match reader.next_tag() {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(e) => panic!("FLV: {e}"),
        };
        let ms = u64::from(tag.timestamp);
        match tag.tag_type {
            TagType::Video => {
                let h = parse_video_tag_header(&tag.body).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(h.codec, VideoCodec::Avc);
                let payload = tag.body.slice(h.header_len..);
                match h.packet {
                    VideoPacket::SequenceHeader => {
                        video = Some(
                            AvcDecoderConfigurationRecord::parse(&payload)
                                .unwrap_or_else(|e| panic!("{e}")),
                        );
                    }
                    VideoPacket::CodedFrames => tags.push(Tag::Video(Video {
                        dts: ms,
                        cts: h.composition_time,
                        keyframe: h.is_keyframe(),
                        data: payload,
                    })),
                    _ => {}
                }
            }
            TagType::Audio => {
                let h = parse_audio_tag_header(&tag.body).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(h.codec, AudioCodec::Aac);
                let payload = tag.body.slice(h.header_len..);
                if h.is_sequence_header {
                    audio = Some(
                        AudioSpecificConfig::parse(&payload).unwrap_or_else(|e| panic!("{e}")),
                    );
                } else {
                    tags.push(Tag::Audio(Audio {
                        pts: ms,
                        data: payload,
                    }));
                }
            }
            TagType::Script => {}
        }
    }
    Clip {
        video: video.unwrap_or_else(|| panic!("no AVC sequence header in the FLV")),
        audio: audio.unwrap_or_else(|| panic!("no AAC sequence header in the FLV")),
        tags,
    }
}

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
        .tags
        .iter()
        .filter_map(|t| match t {
            Tag::Video(v) => Some(ms_to_video_ticks(v.dts)),
            Tag::Audio(_) => None,
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
    let audio_start = clip.tags.iter().find_map(|t| match t {
        Tag::Audio(a) => Some(ms_to_audio_ticks(a.pts, rate)),
        Tag::Video(_) => None,
    });
    let audio_start = audio_start.unwrap_or_else(|| panic!("no audio"));
    let (mut gops, mut video_index, mut audio_index) = (Vec::<Gop>::new(), 0, 0u64);
    for tag in &clip.tags {
        let key = matches!(tag, Tag::Video(v) if v.keyframe);
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
        match tag {
            Tag::Video(v) => {
                gop.video.push(Fmp4Sample {
                    duration: duration(video_index),
                    cts_offset: cts_ms_to_video_ticks(v.cts),
                    keyframe: v.keyframe,
                    data: v.data.clone(),
                });
                video_index += 1;
            }
            Tag::Audio(a) => {
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

/// Runs FFmpeg on the first video and audio streams of `file` with `-copyts`
/// and the output options `output` (a muxer writing to stdout); returns the
/// fields of each output line, comments left out. Asserts that FFmpeg
/// succeeds without a single error or warning line.
fn ffmpeg_lines(file: &Path, output: &str) -> Vec<Vec<String>> {
    let path = file.to_string_lossy();
    let mut args = vec!["-v", "warning", "-copyts", "-i", &path];
    args.extend("-map 0:v:0 -map 0:a:0".split(' '));
    args.extend(output.split(' '));
    args.push("-");
    let (ok, out, err) = run_ffmpeg(&args);
    assert!(ok, "ffmpeg failed on {path}: {err}");
    assert!(
        err.trim().is_empty(),
        "ffmpeg reported errors on {path}:\n{err}"
    );
    out.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(',').map(|f| f.trim().to_string()).collect())
        .collect()
}

fn num(field: &str) -> i64 {
    field.parse().unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// Decodes `file` into framemd5 lines: (video, audio).
fn decode(file: &Path) -> (Frames, Frames) {
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for f in ffmpeg_lines(file, "-fps_mode passthrough -f framemd5") {
        assert_eq!(f.len(), 6, "framemd5 line: {f:?}");
        let frame = (num(&f[2]), f[5].clone());
        match f[0].as_str() {
            "0" => video.push(frame),
            "1" => audio.push(frame),
            other => panic!("unexpected stream {other}"),
        }
    }
    (video, audio)
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
    for f in ffmpeg_lines(file, "-c copy -f framecrc") {
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
    let flv = dir.join("clip.flv");
    let flv_path = flv.to_string_lossy().into_owned();
    let mut args: Vec<&str> = "-v error -f lavfi -i testsrc2=size=320x240:rate=25 \
        -f lavfi -i sine=frequency=440:sample_rate=44100 -t 3 \
        -c:v libx264 -bf 2 -g 25 -c:a aac -f flv"
        .split_whitespace()
        .collect();
    args.push(&flv_path);
    let (ok, _, err) = run_ffmpeg(&args);
    assert!(
        ok && err.trim().is_empty(),
        "generating the FLV failed: {err}"
    );
    let data = std::fs::read(&flv).unwrap_or_else(|e| panic!("read {flv_path}: {e}"));
    let clip = read_flv(&data);
    assert!(
        clip.tags
            .iter()
            .any(|t| matches!(t, Tag::Video(v) if v.cts > 0)),
        "the clip should have B-frames (composition offsets)"
    );
    let (ref_video, ref_audio) = decode(&flv);
    assert_eq!(ref_video.len(), VIDEO_FRAMES);
    assert!(!ref_audio.is_empty());

    let mut init = BytesMut::new();
    let video_config = VideoCodecConfig::Avc(clip.video.clone());
    write_init(Some(&video_config), Some(&clip.audio), &mut init).unwrap_or_else(|e| panic!("{e}"));
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
        let (v, a) = decode(&path);
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
    let (video, audio) = decode(&concat);
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
