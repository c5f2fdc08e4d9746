//! Stream names with a slash. A client divides `rtmp://HOST/live/a/b` between the application
//! and the stream name as it likes: FFmpeg (and librtmp) send app `live/a` and name `b`, OBS
//! with server `rtmp://HOST/live` and stream key `a/b` sends app `live` and name `a/b`. Both are
//! the stream `live/a/b`, played at `http://HOST/live/a/b.flv` and `rtmp://HOST/live/a/b`.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn names_with_a_slash_are_one_stream_however_split() {
    let _wd = watchdog("stream_names", Duration::from_secs(90));
    let _serial = serial();
    let server = LiuServer::start("");
    // Two clips with different pictures: a viewer of the wrong stream matches nothing.
    let clip_a = clip(&ClipSpec::standard().seconds(5));
    let clip_b = clip(&ClipSpec::standard().seconds(5).other_pattern());
    let a = stream_name("sa"); // published as app "live/{a}", name "b"
    let b = stream_name("sb"); // published as app "live", name "{b}/b" (OBS style)
    let rtmp = |path: &str| format!("rtmp://{}/live/{path}", server.rtmp_addr());
    let flv = |path: &str| format!("http://{}/live/{path}.flv", server.http_addr());

    let viewers = vec![
        (
            Viewer::ffmpeg(&ffmpeg9(), &flv(&format!("{a}/b"))),
            &clip_a,
            &clip_b,
        ),
        (
            Viewer::ffmpeg(&ffmpeg9(), &rtmp(&format!("{a}/b"))),
            &clip_a,
            &clip_b,
        ),
        (
            Viewer::ffmpeg(&ffmpeg9(), &flv(&format!("{b}/b"))),
            &clip_b,
            &clip_a,
        ),
        // FFmpeg plays this as app "live/{b}", name "b": split otherwise than it was published.
        (
            Viewer::ffmpeg(&ffmpeg9(), &rtmp(&format!("{b}/b"))),
            &clip_b,
            &clip_a,
        ),
    ];
    std::thread::sleep(Duration::from_millis(700));

    // FFmpeg splits the URL path at its second slash: app "live/{a}", playpath "b".
    let mut pub_a = Publisher::spawn(&rtmp(&format!("{a}/b")), &clip_a, &[]);
    // OBS style: app "live", stream key "{b}/b".
    let playpath_b = format!("{b}/b");
    let mut pub_b = Publisher::spawn(
        &format!("rtmp://{}/live", server.rtmp_addr()),
        &clip_b,
        &["-rtmp_app", "live", "-rtmp_playpath", &playpath_b],
    );
    for (p, what) in [(&mut pub_a, "FFmpeg-style"), (&mut pub_b, "OBS-style")] {
        let st = p.wait_with_timeout(Duration::from_secs(30));
        assert!(
            st.success(),
            "{what} publisher exited with {st}; stderr:\n{}",
            p.stderr()
        );
    }

    let mut failures = Vec::new();
    for (v, clip, other_clip) in viewers {
        let d = v.finish(Duration::from_secs(3), Duration::from_secs(30));
        eprintln!("{}", d.summary());
        let min = clip.video_frames * 95 / 100;
        let (got, other) = (d.matched_video(clip), d.matched_video(other_clip));
        if got < min || other > 0 || !d.damage().is_empty() {
            failures.push(format!(
                "[{}] {got} of the {} pictures of its stream (want >= {min}), {other} of the other \
                 stream's, damage: {:?}",
                d.label,
                clip.video_frames,
                d.damage()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "viewers of live/<name>/b (published FFmpeg-style as app live/<name> + b, and OBS-style as \
         app live + <name>/b) did not all get their stream:\n  {}\nserver log:\n{}",
        failures.join("\n  "),
        server.log_tail(30)
    );
}
