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
    // FFmpeg prints "Server error: <description>" of the refusing onStatus: Liu's, not a
    // generic error of FFmpeg's own.
    let refusal = format!("Server error: stream live/{name} is already being published");
    assert!(
        err.contains(&refusal),
        "the second publisher's stderr does not show the server's refusal {refusal:?}:\n{err}"
    );
    // The refusal's code, read by a raw client: NetStream.Publish.BadName (what encoders
    // and SRS / nginx-rtmp use for a name in use), not a generic failure.
    let mut raw = RawRtmp::connect(server.rtmp_addr());
    raw.handshake().unwrap();
    raw.connect_app("live").unwrap();
    let id = raw.create_stream().unwrap();
    raw.send_command(
        id,
        "publish",
        0.0,
        &[AmfValue::Str(name.clone()), AmfValue::Str("live".into())],
    )
    .unwrap();
    let status = raw.wait_message("the publish answer", Duration::from_secs(5), |m| {
        m.stream_id == id && m.status_code().is_some()
    });
    let code = status.as_ref().ok().and_then(|m| m.status_code());
    assert_eq!(
        code.as_deref(),
        Some("NetStream.Publish.BadName"),
        "a publish on a live name was answered {status:?}"
    );
    raw.close();
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
