//! One publish, five viewers at once, all started before the publish:
//! FFmpeg 9 over RTMP, rtmpdump (librtmp) over RTMP, FFmpeg 9 over HTTP-FLV,
//! and Debian's FFmpeg 5.1 over RTMP and over HTTP-FLV.
//!
//! Query strings (`?token=...`) ride on the publish URL and on the FFmpeg 9 RTMP, rtmpdump and
//! FFmpeg 9 HTTP-FLV play URLs: they are never part of the stream name. The FFmpeg 5.1 RTMP
//! viewer runs with FFmpeg's default `-rtmp_live any`, so it asks `getStreamLength` before
//! `play` and complains ("Unexpected reply on getStreamLength()") unless the answer is a Number.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn fanout_to_ffmpeg9_ffmpeg5_rtmpdump_over_rtmp_and_http_flv() {
    let _wd = watchdog("fanout", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("");
    let name = stream_name("fanout");
    let url = server.rtmp_url(&name);

    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &format!("{url}?token=ff9")),
        Viewer::rtmpdump(&format!("{url}?token=dump")),
        Viewer::ffmpeg(
            &ffmpeg9(),
            &format!("{}?token=fanout", server.flv_url(&name)),
        ),
        Viewer::ffmpeg_with(&ffmpeg5(), &url, &["-rtmp_live", "any"]),
        Viewer::ffmpeg(&ffmpeg5(), &server.flv_url(&name)),
    ];
    std::thread::sleep(Duration::from_millis(700)); // let them connect and wait for the stream

    // Query strings are not part of the stream name (publisher and HTTP viewer carry one).
    let mut publisher = Publisher::spawn(&format!("{url}?token=pub"), &clip, &[]);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(
        st.success(),
        "publisher exited with {st}; stderr:\n{}",
        publisher.stderr()
    );

    for v in viewers {
        let d = v.finish(Duration::from_secs(3), Duration::from_secs(60));
        let complaints: Vec<&String> = d
            .stderr
            .iter()
            .filter(|l| l.contains("getStreamLength"))
            .collect();
        assert!(
            complaints.is_empty(),
            "the client did not like the answer to getStreamLength (it wants a Number): {complaints:?}: {}",
            d.summary()
        );
        d.assert_plays(&clip);
    }
}
