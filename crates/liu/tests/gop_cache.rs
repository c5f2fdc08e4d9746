//! A viewer joining mid-GOP gets the latest keyframe and what followed it at once (GOP cache),
//! so its first picture is decoded quickly, over RTMP and over HTTP-FLV: with 2 s GOPs, and with
//! the 10 s GOPs of FFmpeg's and OBS's default keyframe interval.
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn late_viewer_starts_at_latest_keyframe_quickly() {
    let _wd = watchdog("gop_cache", Duration::from_secs(120));
    let _serial = serial(); // first-picture times are measured: one media test at a time
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("");
    let name = stream_name("gop");
    let url = server.rtmp_url(&name);

    let mut publisher = Publisher::spawn(&url, &clip, &[]);
    // Keyframes are at 0, 2, 4, ... s of the clip. FFmpeg's `-re` first sends a 0.5 s burst
    // (-readrate_initial_burst), so 3 s after the publisher's spawn the stream is at ~3.4 s
    // (less the publisher's startup): mid-GOP, 0.5 s before the next keyframe.
    //
    // The time to the first picture is not only the server's: FFmpeg probes a live FLV input
    // until it has seen ~40 video frames (frame rate guess on a 1 ms time base). The cached GOP
    // (here ~35 pictures) covers most of that; without a GOP cache the viewer would wait ~0.6 s
    // for the keyframe at 4 s and then ~1.6 s more of probing.
    let join_at = publisher.started + Duration::from_millis(3000);
    std::thread::sleep(join_at.saturating_duration_since(Instant::now()));
    assert!(
        publisher.is_running(),
        "publisher already exited: {}",
        publisher.stderr()
    );
    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &url),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
    ];

    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(
        st.success(),
        "publisher exited with {st}; stderr:\n{}",
        publisher.stderr()
    );

    for v in viewers {
        let d = v.finish(Duration::from_secs(3), Duration::from_secs(40));
        eprintln!("{}", d.summary());
        d.assert_h264_640x360_aac();
        d.assert_no_damage();
        let first = d
            .first_video_after()
            .unwrap_or_else(|| panic!("no picture decoded: {}", d.summary()));
        assert!(
            first < Duration::from_secs(1),
            "first picture decoded {first:?} after the viewer started (want < 1 s): {}",
            d.summary()
        );
        // It must be the keyframe at 2 s (picture 50), i.e. cached pictures, not the next
        // keyframe at 4 s.
        let idx = d.first_video_index(&clip);
        assert_eq!(
            idx,
            Some(50),
            "first decoded picture is clip picture {idx:?}; a viewer joining at ~3.4 s should start at the \
             keyframe of 2 s (picture 50): {}",
            d.summary()
        );
        let expected = (clip.video_frames - 50) * 95 / 100;
        assert!(
            d.matched_video(&clip) >= expected,
            "expected >= {expected} pictures from the keyframe at 2 s on, got {}: {}",
            d.matched_video(&clip),
            d.summary()
        );
    }
}

/// FFmpeg's and OBS's default keyframe interval is 10 s (`-g 250` at 25 fps). A viewer joining
/// 7 s into such a GOP must get the whole GOP from its keyframe at once, even though that
/// keyframe is older than `queue_max_ms` (5 s by default): a server that treats such a viewer as
/// lagging skips it forward and it waits ~3 s for the next keyframe.
#[test]
fn late_viewer_starts_at_a_keyframe_10_s_old() {
    let _wd = watchdog("gop_cache long GOP", Duration::from_secs(120));
    let _serial = serial();
    let clip = clip(&ClipSpec::standard().seconds(12).gop(250));
    let mut flv = FlvParser::default();
    flv.push(&std::fs::read(&clip.path).unwrap()).unwrap();
    let keys: Vec<usize> = flv
        .pictures()
        .enumerate()
        .filter(|(_, t)| t.keyframe)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keys, vec![0, 250], "keyframes of the 12 s clip with -g 250");

    let server = LiuServer::start("");
    let name = stream_name("longgop");
    let url = server.rtmp_url(&name);
    let mut publisher = Publisher::spawn(&url, &clip, &[]);
    // 7 s after the spawn the stream is at ~7.5 s (FFmpeg's 0.5 s initial burst, less its
    // startup): the only keyframe so far is the one at 0 s, ~7 s old; the next comes at 10 s.
    let join_at = publisher.started + Duration::from_millis(7000);
    std::thread::sleep(join_at.saturating_duration_since(Instant::now()));
    assert!(
        publisher.is_running(),
        "publisher already exited: {}",
        publisher.stderr()
    );
    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &url),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
    ];

    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(
        st.success(),
        "publisher exited with {st}; stderr:\n{}",
        publisher.stderr()
    );

    let mut failures = Vec::new();
    for v in viewers {
        let d = v.finish(Duration::from_secs(3), Duration::from_secs(40));
        eprintln!("{}", d.summary());
        d.assert_h264_640x360_aac();
        d.assert_no_damage();
        let first = d
            .first_video_after()
            .unwrap_or_else(|| panic!("no picture decoded: {}", d.summary()));
        let idx = d.first_video_index(&clip);
        // Both checked before failing, so the message says where the viewer started.
        if first >= Duration::from_secs(1) || idx != Some(0) {
            failures.push(format!(
                "[{}] first picture decoded {first:?} after the viewer started (want < 1 s) and it is \
                 clip picture {idx:?} (want 0: the keyframe at 0 s, the GOP cache of a 10 s GOP \
                 joined at ~7.5 s; 250 is the next keyframe at 10 s)",
                d.label
            ));
            continue;
        }
        let expected = clip.video_frames * 95 / 100;
        assert!(
            d.matched_video(&clip) >= expected,
            "expected >= {expected} pictures from the keyframe at 0 s on, got {}: {}",
            d.matched_video(&clip),
            d.summary()
        );
    }
    assert!(
        failures.is_empty(),
        "viewers joining a 10 s GOP 7 s in did not start at once on its keyframe:\n  {}",
        failures.join("\n  ")
    );
}
