//! With a merge window, viewers still get every frame intact and in order:
//! merging changes how many writes carry the stream, never what it carries.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn merged_writes_deliver_the_whole_stream() {
    let _w = watchdog("merge_window", Duration::from_secs(120));
    let _s = serial();
    let clip = clip(&ClipSpec::standard());
    let server =
        LiuServer::start("[stream]\nmerge_window_ms = 10\n[app.live]\nmerge_window_ms = 200\n");
    let name = stream_name("merge");
    let viewers = [
        Viewer::ffmpeg(&ffmpeg9(), &server.rtmp_url(&name)),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
    ];
    std::thread::sleep(Duration::from_millis(500));
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    assert!(
        publisher
            .wait_with_timeout(Duration::from_secs(40))
            .success(),
        "{}",
        publisher.stderr()
    );
    for v in viewers {
        let d = v.finish(Duration::from_secs(3), Duration::from_secs(60));
        d.assert_plays(&clip);
    }
}
