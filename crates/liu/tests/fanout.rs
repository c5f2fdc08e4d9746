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
    let completions_before = io_uring_completions(server.pid()).unwrap_or(0);

    // Query strings are not part of the stream name (publisher and HTTP viewer carry one).
    let mut publisher = Publisher::spawn(&format!("{url}?token=pub"), &clip, &[]);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(
        st.success(),
        "publisher exited with {st}; stderr:\n{}",
        publisher.stderr()
    );
    // Caught-up viewers are written by the direct fan-out, through the worker threads'
    // io_uring rings: the kernel counted their completions (10 s of 25 fps video and 43
    // audio frames a second to five viewers is some 3,400 writes, fewer where frames of one
    // turn are merged; a server that wrote them elsewhere would add none).
    let completions = io_uring_completions(server.pid());
    eprintln!(
        "io_uring completions: {completions_before} before the publish, {completions:?} after"
    );
    match completions {
        Some(after) => assert!(
            after - completions_before >= 500,
            "io_uring completions went from {completions_before} to {after} while five \
             viewers played 10 s"
        ),
        None if std::env::var_os("LIU_IO_URING_REFUSED").is_some() => {
            eprintln!("SKIPPED the io_uring check: LIU_IO_URING_REFUSED is set")
        }
        None => panic!("the server holds no io_uring ring after five viewers played"),
    }

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
