//! Self-test of the harness and the installed clients, independent of Liu: clip generation,
//! framemd5 parsing with both FFmpeg versions, damage detection, the FLV tag parser, and an FFmpeg
//! viewer against FFmpeg's own one-client RTMP server.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn clip_is_h264_with_b_frames_and_aac_and_decodes_identically_with_ffmpeg5() {
    let _wd = watchdog("harness clip", Duration::from_secs(120));
    let c = clip(&ClipSpec::standard());
    assert_eq!(c.video_frames, 250);
    assert!(
        (425..=440).contains(&c.audio_frames),
        "audio frames: {}",
        c.audio_frames
    );
    let distinct: std::collections::HashSet<&String> = c.video_md5.iter().collect();
    assert_eq!(
        distinct.len(),
        250,
        "every picture of the clip must be distinct"
    );

    let d = decode_file(&ffmpeg5(), &c.path);
    d.assert_h264_640x360_aac();
    d.assert_no_damage();
    assert_eq!(
        d.matched_video(&c),
        250,
        "FFmpeg 5.1 decodes the clip differently: {}",
        d.summary()
    );
    assert_eq!(d.video_tb.as_deref(), Some("1/25"));

    let mut flv = FlvParser::default();
    flv.push(&std::fs::read(&c.path).unwrap()).unwrap();
    let pics: Vec<&FlvTag> = flv.pictures().collect();
    assert_eq!(pics.len(), 250);
    let keys: Vec<usize> = pics
        .iter()
        .enumerate()
        .filter(|(_, t)| t.keyframe)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        keys,
        vec![0, 50, 100, 150, 200],
        "keyframes of the clip (2 s GOP)"
    );
    assert!(
        flv.video().any(|t| t.seq_header) && flv.tags.iter().any(|t| t.kind == 8 && t.seq_header)
    );
}

#[test]
fn damaged_media_is_reported() {
    let _wd = watchdog("harness damage", Duration::from_secs(120));
    let c = clip(&ClipSpec::standard());
    let mut bytes = std::fs::read(&c.path).unwrap();
    let mut x: u64 = 12345;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = 20_000 + (x as usize) % (bytes.len() - 20_000);
        bytes[p] ^= 0xff;
    }
    let bad = temp_dir("harness").join("damaged.flv");
    std::fs::write(&bad, bytes).unwrap();
    let d = decode_file(&ffmpeg9(), &bad);
    assert!(
        !d.damage().is_empty(),
        "no damage reported for a damaged file: {}",
        d.summary()
    );
    assert!(d.matched_video(&c) < 250);
}

#[test]
fn ffmpeg_viewer_against_ffmpeg_rtmp_server() {
    let _wd = watchdog("harness rtmp", Duration::from_secs(60));
    let _serial = serial();
    let c = clip(&ClipSpec::standard().seconds(3));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("rtmp://127.0.0.1:{port}/live/selftest");
    // FFmpeg as a one-client RTMP server pushing the clip to whoever connects.
    let mut server = Publisher::spawn(&url, &c, &["-listen", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    let d = play_ffmpeg(&ffmpeg9(), &url, Duration::from_secs(20));
    eprintln!("{}", d.summary());
    let _ = server.wait_with_timeout(Duration::from_secs(10));
    d.assert_h264_640x360_aac();
    d.assert_no_damage();
    assert!(d.matched_video(&c) >= 70, "{}", d.summary());
    assert!(d.pts_regression().is_none());
}

#[test]
fn protocol_complaints_count_as_damage() {
    // What FFmpeg prints when getStreamLength is not answered with a Number.
    let d = Decoded {
        stderr: vec![
            "[rtmp @ 0x55bfa5f17980] [warning] Unexpected reply on getStreamLength()".into(),
        ],
        ..Default::default()
    };
    assert_eq!(d.damage().len(), 1, "{:?}", d.stderr);
}
