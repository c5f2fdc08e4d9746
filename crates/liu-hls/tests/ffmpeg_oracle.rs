//! FFmpeg 9 as an oracle for the TS muxer.
//!
//! FFmpeg encodes a test clip to FLV (H.264 with B-frames, AAC); the clip is
//! read with liu-flv, muxed into TS segments cut at key frames, and FFmpeg
//! decodes each segment and their concatenation. The decoded frames must match
//! FFmpeg's decode of the FLV itself, without a single error line.
//!
//! `LIU_FFMPEG` must name the FFmpeg 9 binary (`scripts/test.sh` exports it);
//! the test fails when it is unset.

use bytes::{Bytes, BytesMut};
use liu_hls::ts::{TIMESTAMP_OFFSET_MS, TsMuxer};
use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::TsPacketReader;

mod common;
use common::*;

/// Muxes the clip into segments, cutting before every key frame but the first.
fn mux(clip: &Clip) -> Vec<Bytes> {
    let mut muxer =
        TsMuxer::new(Some(clip.video.clone()), Some(clip.audio)).unwrap_or_else(|e| panic!("{e}"));
    let mut segments = Vec::new();
    let mut seg = BytesMut::new();
    muxer.start_segment(&mut seg);
    let mut seen_video = false;
    for s in &clip.samples {
        match s {
            Sample::Video(v) => {
                if v.keyframe && seen_video {
                    muxer.flush_audio(&mut seg);
                    segments.push(seg.split().freeze());
                    muxer.start_segment(&mut seg);
                }
                seen_video = true;
                muxer
                    .write_video(v, &mut seg)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            Sample::Audio(a) => muxer
                .write_audio(a, &mut seg)
                .unwrap_or_else(|e| panic!("{e}")),
        }
    }
    muxer.flush_audio(&mut seg);
    segments.push(seg.freeze());
    segments
}

#[test]
fn ffmpeg_decodes_muxed_segments_like_the_flv() {
    ffmpeg(); // fails first when LIU_FFMPEG is unset
    let dir = temp_dir("ts");
    let (flv, clip) = make_clip(&dir);
    let video_count = clip
        .samples
        .iter()
        .filter(|s| matches!(s, Sample::Video(_)))
        .count();
    let audio_count = clip.samples.len() - video_count;
    assert_eq!(video_count, VIDEO_FRAMES);

    let (ref_video, ref_audio) = decode(&flv, "");
    assert_eq!(ref_video.len(), VIDEO_FRAMES);
    assert!(!ref_audio.is_empty());

    let segments = mux(&clip);
    assert_eq!(segments.len(), 3, "one segment per 25-frame GOP");
    let (mut seg_video, mut seg_audio, mut first_audio) = (Vec::new(), Vec::new(), Vec::new());
    let mut all = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let path = dir.join(format!("seg{i}.ts"));
        std::fs::write(&path, seg).unwrap_or_else(|e| panic!("write: {e}"));
        let (v, a) = decode(&path, "");
        assert!(
            !v.is_empty() && !a.is_empty(),
            "segment {i}: video {} audio {}",
            v.len(),
            a.len()
        );
        assert_monotonic(&v, "segment video");
        assert_monotonic(&a, "segment audio");
        if i == 0 {
            first_audio = a.clone();
        }
        seg_video.extend(v);
        seg_audio.extend(a);
        all.extend_from_slice(seg);
    }
    // Every segment decodes on its own: together they give every video frame,
    // bit-exact, and every audio frame. A fresh AAC decoder lacks the previous
    // frame's overlap (and PNS noise state), so audio is bit-exact only where
    // the decoder state matches the reference: in the first segment.
    assert_eq!(hashes(&seg_video), hashes(&ref_video));
    assert_eq!(seg_audio.len(), ref_audio.len());
    assert_eq!(
        hashes(&first_audio),
        hashes(&ref_audio[..first_audio.len()])
    );

    let concat = dir.join("all.ts");
    std::fs::write(&concat, &all).unwrap_or_else(|e| panic!("write: {e}"));
    let (video, audio) = decode(&concat, "");
    assert_eq!(hashes(&video), hashes(&ref_video));
    assert_eq!(hashes(&audio), hashes(&ref_audio));
    assert_monotonic(&video, "video");
    assert_monotonic(&audio, "audio");
    println!(
        "FFmpeg decoded {} video and {} audio frames from {} segments ({} AAC frames in the FLV)",
        video.len(),
        audio.len(),
        segments.len(),
        audio_count
    );

    // An independent parser reads back the same DTS/PTS as the FLV gave.
    let mut reader = PesPacketReader::new(TsPacketReader::new(&all[..]));
    let mut times = Vec::new();
    loop {
        match reader.read_pes_packet() {
            Ok(Some(p)) if p.header.stream_id.is_video() => {
                let pts = p.header.pts.map(|t| t.as_u64());
                times.push((pts, p.header.dts.map(|t| t.as_u64()).or(pts)));
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => panic!("mpeg2ts: {e}"),
        }
    }
    let want: Vec<(Option<u64>, Option<u64>)> = clip
        .samples
        .iter()
        .filter_map(|s| match s {
            Sample::Video(v) => {
                let dts = (v.dts + TIMESTAMP_OFFSET_MS) * 90;
                Some((Some(dts + v.cts_offset.max(0) as u64 * 90), Some(dts)))
            }
            Sample::Audio(_) => None,
        })
        .collect();
    assert_eq!(times, want);
    assert_clock(&all);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The PCR never decreases and never passes the DTS (or PTS) of a PES packet
/// that starts after it (ISO/IEC 13818-1 §2.4.2: data arrives before it is decoded).
fn assert_clock(ts: &[u8]) {
    let mut pcr: Option<u64> = None;
    let mut pes = 0;
    for p in ts.chunks(188) {
        assert_eq!(p[0], 0x47);
        let pid = u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
        let mut payload = 4;
        if p[3] & 0x20 != 0 {
            if p[4] > 0 && p[5] & 0x10 != 0 {
                let b: Vec<u64> = p[6..11].iter().map(|&b| u64::from(b)).collect();
                let base = b[0] << 25 | b[1] << 17 | b[2] << 9 | b[3] << 1 | b[4] >> 7;
                assert_eq!(pid, liu_hls::ts::VIDEO_PID, "PCR on the video PID");
                assert!(
                    pcr.is_none_or(|last| last <= base),
                    "PCR went back to {base}"
                );
                pcr = Some(base);
            }
            payload += 1 + usize::from(p[4]);
        }
        let starts_pes = p[1] & 0x40 != 0 && p.get(payload..payload + 3) == Some(&[0, 0, 1]);
        if let (true, Some(h)) = (starts_pes, p.get(payload..payload + 19)) {
            // DTS when PTS_DTS_flags is '11', else PTS.
            let at = if h[7] & 0x40 != 0 { 14 } else { 9 };
            let t: Vec<u64> = h[at..at + 5].iter().map(|&b| u64::from(b)).collect();
            let time =
                (t[0] >> 1 & 7) << 30 | t[1] << 22 | (t[2] >> 1) << 15 | t[3] << 7 | t[4] >> 1;
            let clock = pcr.unwrap_or_else(|| panic!("PES before any PCR"));
            assert!(
                clock <= time,
                "PCR {clock} after the DTS/PTS {time} it precedes"
            );
            pes += 1;
        }
    }
    assert!(pes > 75, "{pes} PES packets");
}
