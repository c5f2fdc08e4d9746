//! Players never hold a connection forever. A player of a stream nobody publishes gets
//! `NetStream.Play.StreamNotFound` after `[rtmp] play_wait_ms` and is closed; meanwhile a real
//! FFmpeg publish and play are untouched. A player whose publisher left is closed after
//! `republish_wait_ms`, unless the publisher comes back within it. A connected client that asks
//! for nothing is closed after the idle timeout even if it keeps sending pings.
mod common;
use common::*;
use std::time::{Duration, Instant};

const GHOSTS: usize = 200;
const PLAY_WAIT_MS: u64 = 5_000;
const REPUBLISH_WAIT_MS: u64 = 3_000;

fn config() -> String {
    format!(
        "[rtmp]\nplay_wait_ms = {PLAY_WAIT_MS}\nrepublish_wait_ms = {REPUBLISH_WAIT_MS}\n\
         idle_timeout_ms = 3000\n"
    )
}

/// A raw player of `name` on the app `live`, its `play` sent: its message stream id.
fn player(addr: &str, name: &str) -> (RawRtmp, u32) {
    let mut p = RawRtmp::connect(addr);
    p.handshake().expect("handshake");
    p.connect_app("live").expect("connect");
    let id = p.create_stream().expect("createStream");
    p.play(id, name).expect("play");
    (p, id)
}

#[test]
fn ghost_players_get_stream_not_found_and_are_closed() {
    let _serial = serial();
    let _wd = watchdog("ghost_players", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let mut server = LiuServer::start(&config());
    let addr = server.rtmp_addr().to_string();
    let started = Instant::now();
    let mut ghosts: Vec<(RawRtmp, u32, Instant)> = (0..GHOSTS)
        .map(|i| {
            let (p, id) = player(&addr, &format!("ghost-{i}"));
            (p, id, Instant::now())
        })
        .collect();
    eprintln!("{GHOSTS} ghost players in {:?}", started.elapsed());

    // A real stream, published and played meanwhile.
    let name = stream_name("real");
    let url = server.rtmp_url(&name);
    let viewer = Viewer::ffmpeg(&ffmpeg9(), &url);
    std::thread::sleep(Duration::from_millis(300));
    let mut publisher = Publisher::spawn(&url, &clip, &[]);

    for (i, (ghost, id, played)) in ghosts.iter_mut().enumerate() {
        ghost
            .wait_status(
                *id,
                "NetStream.Play.StreamNotFound",
                Duration::from_secs(10),
            )
            .unwrap_or_else(|e| panic!("ghost {i}: {e}"));
        let waited = played.elapsed();
        assert!(
            waited >= Duration::from_millis(PLAY_WAIT_MS - 100),
            "ghost {i} got StreamNotFound after {waited:?}, before play_wait_ms ({PLAY_WAIT_MS} ms)"
        );
        ghost
            .expect_closed(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("ghost {i} after StreamNotFound: {e}"));
    }
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {}", publisher.stderr());
    viewer
        .finish(Duration::from_secs(3), Duration::from_secs(60))
        .assert_plays(&clip);
    server.assert_alive("ghost players");
}

#[test]
fn players_wait_for_a_publisher_that_left_only_within_the_grace() {
    let _serial = serial();
    let _wd = watchdog("ghost_players_grace", Duration::from_secs(150));
    let short = clip(&ClipSpec::standard().seconds(3));
    let long = clip(&ClipSpec::standard().seconds(8));
    let mut server = LiuServer::start(&config());
    let addr = server.rtmp_addr().to_string();
    let (left, back) = (stream_name("left"), stream_name("back"));
    let limit = Duration::from_secs(20);

    let (mut left_player, left_id) = player(&addr, &left);
    let (mut back_player, back_id) = player(&addr, &back);
    let mut p1 = Publisher::spawn(&server.rtmp_url(&left), &short, &[]);
    let mut p2 = Publisher::spawn(&server.rtmp_url(&back), &short, &[]);
    left_player.wait_media(left_id, 9, limit).expect("video");
    back_player.wait_media(back_id, 9, limit).expect("video");
    assert!(p1.wait_with_timeout(limit).success(), "{}", p1.stderr());
    assert!(p2.wait_with_timeout(limit).success(), "{}", p2.stderr());
    let ended = Instant::now();

    // `back`'s publisher returns within the grace; its player keeps playing past it.
    let mut p3 = Publisher::spawn(&server.rtmp_url(&back), &long, &[]);
    while ended.elapsed() < Duration::from_millis(REPUBLISH_WAIT_MS + 2_000) {
        back_player
            .wait_media(back_id, 9, Duration::from_secs(3))
            .unwrap_or_else(|e| {
                panic!(
                    "the player of a publisher that came back, {:?} after it left: {e}",
                    ended.elapsed()
                )
            });
    }

    // `left`'s publisher does not: its player is told and closed after the grace.
    left_player
        .wait_status(left_id, "NetStream.Play.UnpublishNotify", limit)
        .expect("UnpublishNotify when the grace ends");
    left_player
        .expect_closed(Duration::from_secs(5))
        .expect("closed after the grace");
    let closed = ended.elapsed();
    assert!(
        closed >= Duration::from_millis(REPUBLISH_WAIT_MS - 500),
        "the player was closed {closed:?} after its publisher left, before the grace"
    );
    assert!(p3.wait_with_timeout(limit).success(), "{}", p3.stderr());
    server.assert_alive("players of publishers that left");
}

#[test]
fn a_client_that_asks_for_nothing_is_closed_despite_pings() {
    let _serial = serial();
    let _wd = watchdog("ghost_players_idle", Duration::from_secs(60));
    let server = LiuServer::start(&config());
    let mut c = RawRtmp::connect(server.rtmp_addr());
    c.handshake().expect("handshake");
    c.connect_app("live").expect("connect");
    let connected = Instant::now();
    // A Ping Response (user control 7) every 500 ms: traffic, but no request.
    let ping = {
        let mut body = vec![0, 7];
        body.extend_from_slice(&0u32.to_be_bytes());
        message_chunks(2, 4, 0, body.len() as u32, &body, 128)
    };
    let closed = loop {
        if c.send(&ping).is_err() {
            break connected.elapsed();
        }
        match c.expect_closed(Duration::from_millis(500)) {
            Ok(_) => break connected.elapsed(),
            Err(_) if connected.elapsed() < Duration::from_secs(20) => {}
            Err(e) => panic!("a pinging client that asks for nothing: {e}"),
        }
    };
    assert!(
        closed >= Duration::from_millis(2_500) && closed < Duration::from_secs(10),
        "closed {closed:?} after connect, with idle_timeout_ms 3000"
    );
}
