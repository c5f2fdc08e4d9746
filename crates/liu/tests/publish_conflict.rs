//! A second publisher on a live name is refused; the first carries on undisturbed.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn second_publisher_is_refused_and_first_continues() {
    let _wd = watchdog("publish_conflict", Duration::from_secs(120));
    let clip_a = clip(&ClipSpec::standard());
    let clip_b = clip(&ClipSpec::standard().other_pattern());
    let server = LiuServer::start("");
    let name = stream_name("conflict");
    let url = server.rtmp_url(&name);

    let viewer = Viewer::ffmpeg(&ffmpeg9(), &url);
    std::thread::sleep(Duration::from_millis(500));
    let mut first = Publisher::spawn(&url, &clip_a, &[]);
    assert!(
        viewer.wait_video_frames(25, Duration::from_secs(10)),
        "the viewer decoded no second of the first publish within 10 s"
    );

    let mut second = Publisher::spawn(&url, &clip_b, &[]);
    let st = second.wait_with_timeout(Duration::from_secs(15));
    let err = second.stderr();
    assert!(
        !st.success(),
        "the second publisher on a live name exited with success; stderr:\n{err}"
    );
    // FFmpeg prints "Server error: <description, or code when there is none>".
    assert!(
        err.contains("BadName") || err.contains("Server error"),
        "the second publisher's stderr does not show the server's refusal (BadName / Server error):\n{err}"
    );
    assert!(
        first.is_running(),
        "the first publisher stopped when the second was refused: {}",
        first.stderr()
    );

    let st = first.wait_with_timeout(Duration::from_secs(30));
    assert!(
        st.success(),
        "first publisher exited with {st}; stderr:\n{}",
        first.stderr()
    );
    let d = viewer.finish(Duration::from_secs(3), Duration::from_secs(40));
    eprintln!("{}", d.summary());
    d.assert_h264_640x360_aac();
    d.assert_no_damage();
    let min = clip_a.video_frames * 95 / 100;
    assert!(
        d.matched_video(&clip_a) >= min,
        "expected >= {min} of the first publisher's pictures, got {}: {}",
        d.matched_video(&clip_a),
        d.summary()
    );
    assert_eq!(
        d.matched_video(&clip_b),
        0,
        "the viewer decoded pictures of the refused publisher: {}",
        d.summary()
    );
}
