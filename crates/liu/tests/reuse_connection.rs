//! One RTMP connection, several plays: a client that stops playing (closeStream) and stays
//! connected is not closed by the handshake timeout, and `play` works again on the same
//! NetStream, after closeStream and also while it is playing (a new play replaces the old).
mod common;
use common::*;
use std::time::Duration;

/// Short, so the test need not wait 10 s to get past the default.
const HANDSHAKE_TIMEOUT_MS: u64 = 3000;

#[test]
fn connection_and_netstream_are_reused_for_more_plays() {
    let _wd = watchdog("reuse_connection", Duration::from_secs(60));
    let _serial = serial();
    let server = LiuServer::start(&format!(
        "[rtmp]\nhandshake_timeout_ms = {HANDSHAKE_TIMEOUT_MS}\n"
    ));
    let clip = clip(&ClipSpec::standard().seconds(20));
    let name = stream_name("reuse");
    let _publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let step = Duration::from_secs(5);

    let mut c = RawRtmp::connect(server.rtmp_addr());
    c.handshake().unwrap_or_else(|e| panic!("handshake: {e}"));
    c.connect_app("live")
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let id = c
        .create_stream()
        .unwrap_or_else(|e| panic!("createStream: {e}"));

    // 1. play: Play.Start and media.
    c.play(id, &name).unwrap();
    c.wait_status(id, "NetStream.Play.Start", step)
        .unwrap_or_else(|e| panic!("first play: {e}"));
    c.wait_media(id, 9, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("first play: {e}"));

    // 2. play again on the same NetStream while it plays: it replaces the first play.
    c.play(id, &name).unwrap();
    c.wait_status(id, "NetStream.Play.Start", step)
        .unwrap_or_else(|e| {
            panic!("a second play on the same NetStream, while it plays, is not started: {e}")
        });
    c.wait_media(id, 9, step)
        .unwrap_or_else(|e| panic!("second play on the same NetStream: {e}"));

    // 3. closeStream, then the connection idles past the handshake timeout: it is connected,
    // so only the idle timeout (30 s by default) may end it.
    c.close_stream(id).unwrap();
    let idle = Duration::from_millis(HANDSHAKE_TIMEOUT_MS + 2000);
    c.stays_open(idle).unwrap_or_else(|e| {
        panic!(
            "after closeStream the server closed the connected client: {e} \
             (handshake_timeout_ms = {HANDSHAKE_TIMEOUT_MS}; a connected client between streams \
             is bounded by the idle timeout, not the handshake timeout)"
        )
    });

    // 4. play again on the same NetStream after closeStream.
    c.play(id, &name).unwrap();
    c.wait_status(id, "NetStream.Play.Start", step)
        .unwrap_or_else(|e| {
            panic!("play after closeStream and {idle:?} of idling, on the same connection: {e}")
        });
    c.wait_media(id, 9, step)
        .unwrap_or_else(|e| panic!("play after closeStream: {e}"));
    c.stays_open(Duration::from_millis(500))
        .unwrap_or_else(|e| panic!("after the play following closeStream: {e}"));
}
