//! A viewer joining mid-GOP gets the latest keyframe and what followed it at once (GOP cache),
//! so its first picture is decoded quickly, over RTMP and over HTTP-FLV.
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn late_viewer_starts_at_latest_keyframe_quickly() {
    let _wd = watchdog("gop_cache", Duration::from_secs(120));
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
