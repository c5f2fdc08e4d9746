//! A viewer that never reads (HTTP-FLV, WebSocket-FLV, RTMP) must not cost the server unbounded
//! memory nor hurt other viewers:
//! the server skips it to a later keyframe or drops it.
mod common;
use common::*;
use std::time::{Duration, Instant};

const QUEUE_MAX_BYTES: usize = 2 * 1024 * 1024;

/// What a stuck viewer was given, once it reads: fewer pictures than the stream had, and
/// either a close or gaps that each resume at a keyframe.
fn assert_skipped_or_dropped(label: &str, flv: &FlvParser, dropped: bool, clip: &Clip) {
    let frames: Vec<&FlvTag> = flv.pictures().collect();
    let gaps: Vec<(usize, u32, u32, bool)> = frames
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1].timestamp > w[0].timestamp + 200)
        .map(|(i, w)| (i + 1, w[0].timestamp, w[1].timestamp, w[1].keyframe))
        .collect();
    eprintln!(
        "stuck {label} viewer: read {} bytes, {} video frames, ended: {dropped}; gaps (index, from ms, to ms, lands on keyframe): {gaps:?}",
        flv.bytes,
        frames.len()
    );
    assert!(
        frames.len() < clip.video_frames,
        "the stuck {label} viewer was given every one of the {} pictures ({} bytes): nothing was skipped or dropped",
        clip.video_frames,
        flv.bytes
    );
    assert!(
        dropped || !gaps.is_empty(),
        "the stuck {label} viewer got {} of {} pictures with no gap and no close",
        frames.len(),
        clip.video_frames
    );
    for (i, from, to, key) in &gaps {
        assert!(
            key,
            "after a skip ({from} ms -> {to} ms, frame #{i}) the stuck {label} viewer's data does not resume at a keyframe"
        );
    }
}

/// An HTTP-FLV and a WebSocket-FLV viewer that never read, beside normal viewers.
#[test]
fn never_reading_http_and_ws_viewers_are_bounded() {
    let _serial = serial();
    let _wd = watchdog("slow_viewer", Duration::from_secs(180));
    // 15 s at a constant 8 Mbit/s: 15 MB, far more than the kernel can buffer for a client
    // that never reads (loopback: ~4 MiB send buffer at most, tcp_wmem max, plus a ~128 KiB
    // receive window) plus the 2 MiB queue bound. So a correct server must skip or drop.
    // A normal viewer may lag 2 MiB = 2 s before it would be skipped itself: plenty.
    let clip = clip(&ClipSpec::standard().seconds(15).cbr("8M"));
    assert!(
        clip.bytes > 12_000_000,
        "the high-bitrate clip is only {} bytes",
        clip.bytes
    );
    let server = LiuServer::start(&format!("[stream]\nqueue_max_bytes = {QUEUE_MAX_BYTES}\n"));
    let name = stream_name("slow");
    let url = server.rtmp_url(&name);
    let rss0 = server.rss_kib();

    let mut slow = RawHttp::send_get(server.http_addr(), &format!("/live/{name}.flv"));
    let (ws_head, mut slow_ws) = RawWs::handshake(
        server.http_addr(),
        &format!("/live/{name}.flv"),
        WS_HANDSHAKE,
    );
    assert!(ws_head.starts_with("HTTP/1.1 101"), "{ws_head}");
    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &url),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
    ];
    std::thread::sleep(Duration::from_millis(700));

    let mut publisher = Publisher::spawn(&url, &clip, &[]);
    let mut rss_peak = rss0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while publisher.is_running() && Instant::now() < deadline {
        rss_peak = rss_peak.max(server.rss_kib());
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = publisher.wait_with_timeout(Duration::from_secs(5));
    assert!(
        st.success(),
        "publisher exited with {st}; stderr:\n{}",
        publisher.stderr()
    );
    rss_peak = rss_peak.max(server.rss_kib());

    let min = clip.video_frames * 95 / 100;
    for v in viewers {
        let d = v.finish(Duration::from_secs(3), Duration::from_secs(60));
        eprintln!("{}", d.summary());
        d.assert_no_damage();
        assert!(
            d.matched_video(&clip) >= min,
            "a normal viewer next to a stuck one decoded {} of {} pictures (want >= {min}): {}",
            d.matched_video(&clip),
            clip.video_frames,
            d.summary()
        );
    }

    // Bound on the server's growth: the stuck viewer's queue (2 MiB) + the normal viewers'
    // queues (near empty, 2 MiB at worst each) + the GOP cache (one or two 2 s GOPs at 8 Mbit/s:
    // 2-4 MiB) + the publisher's read buffers, allocator slack and per-connection task state.
    // Socket buffers are kernel memory, not in VmRSS. Something like 16 MiB is expected;
    // 48 MiB leaves room for allocator behaviour and still fails a server that keeps the whole
    // 15 MB stream per stuck viewer... only together with the skip check below, which is the
    // precise observation.
    let grown = rss_peak.saturating_sub(rss0);
    eprintln!("server RSS: {rss0} KiB at start, peak {rss_peak} KiB (+{grown} KiB)");
    assert!(
        grown < 48 * 1024,
        "server RSS grew by {grown} KiB (from {rss0} to {rss_peak}); bound 48 MiB"
    );

    // Now read what the stuck viewer was given.
    slow.read_head(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("stuck viewer's response: {e}"));
    assert_eq!(slow.status, 200, "stuck viewer got status {}", slow.status);
    let mut flv = FlvParser::default();
    slow.read_body(&mut flv, Duration::from_secs(2), Duration::from_secs(30));
    assert_skipped_or_dropped("HTTP-FLV", &flv, slow.closed, &clip);
    let mut flv = FlvParser::default();
    let dropped = slow_ws.read_flv(&mut flv, Duration::from_secs(30));
    assert_skipped_or_dropped("WebSocket-FLV", &flv, dropped, &clip);
}

/// An RTMP viewer that stops reading: FFmpeg 9, SIGSTOPped once it decodes, so its socket takes
/// nothing more (its receive buffer pinned to 128 KiB with `-recv_buffer_size`, so the kernel
/// cannot soak up the stream either). The server must drop it after `write_timeout_ms`, keep
/// its memory bounded, and not delay a normal RTMP viewer of the same stream.
///
/// The drop is observed in the kernel's socket table, which does not depend on log wording or
/// on what a stopped client does: the server-side socket of the stuck connection (local port =
/// the RTMP port, remote port = the stuck FFmpeg's) stops being held by a process (inode 0, or
/// gone). After SIGCONT the stuck FFmpeg must then reach the end of its input and exit by itself,
/// which a viewer still connected to a live stream never does.
#[test]
fn stopped_rtmp_viewer_is_dropped_and_bounded() {
    let _serial = serial();
    let _wd = watchdog("slow_viewer rtmp", Duration::from_secs(180));
    const WRITE_TIMEOUT_MS: u64 = 3000;
    let clip = clip(&ClipSpec::standard().seconds(15).cbr("8M"));
    let server = LiuServer::start(&format!(
        "[stream]\nqueue_max_bytes = {QUEUE_MAX_BYTES}\nwrite_timeout_ms = {WRITE_TIMEOUT_MS}\n"
    ));
    let name = stream_name("slowrtmp");
    let url = server.rtmp_url(&name);
    let rtmp_port = port_of(server.rtmp_addr());
    let rss0 = server.rss_kib();

    let mut stuck = Viewer::ffmpeg_with(&ffmpeg9(), &url, &["-recv_buffer_size", "65536"]);
    let normal = Viewer::ffmpeg(&ffmpeg9(), &url);
    std::thread::sleep(Duration::from_millis(700));
    let mut publisher = Publisher::spawn(&url, &clip, &[]);

    assert!(
        stuck.wait_video_frames(10, Duration::from_secs(15)),
        "the viewer to be stopped decoded nothing within 15 s"
    );
    // Its connection to the server, found before it stops (it does not matter: a stopped
    // process keeps its sockets).
    let inodes = socket_inodes(stuck.pid());
    let client_ports: Vec<u16> = tcp_sockets()
        .iter()
        .filter(|s| s.remote_port == rtmp_port && inodes.contains(&s.inode))
        .map(|s| s.local_port)
        .collect();
    assert_eq!(
        client_ports.len(),
        1,
        "the stuck FFmpeg should hold exactly one connection to the RTMP port {rtmp_port}: {client_ports:?}"
    );
    let client_port = client_ports[0];
    stuck.signal("STOP");
    let stopped = Instant::now();
    let decoded_before_stop = stuck.video_frames();

    // The server's side of that connection, while a process (the server) holds it.
    let server_side = || {
        tcp_sockets()
            .into_iter()
            .find(|s| s.local_port == rtmp_port && s.remote_port == client_port && s.inode != 0)
    };
    let mut rss_peak = rss0;
    let mut dropped_after = None;
    let mut last_seen = None;
    // Watch until the publish is over and the drop was seen, or 30 s after the stop.
    while stopped.elapsed() < Duration::from_secs(30)
        && (publisher.is_running() || dropped_after.is_none())
    {
        rss_peak = rss_peak.max(server.rss_kib());
        match server_side() {
            Some(s) => last_seen = Some(s),
            None if dropped_after.is_none() => dropped_after = Some(stopped.elapsed()),
            None => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = publisher.wait_with_timeout(Duration::from_secs(30));
    assert!(
        st.success(),
        "publisher exited with {st}; stderr:\n{}",
        publisher.stderr()
    );
    rss_peak = rss_peak.max(server.rss_kib());
    eprintln!(
        "stuck RTMP viewer: stopped after {decoded_before_stop} pictures; server side of its \
         connection (port {client_port}) last seen held: {last_seen:?}; no longer held {dropped_after:?} after the stop"
    );

    let min = clip.video_frames * 95 / 100;
    let d = normal.finish(Duration::from_secs(3), Duration::from_secs(60));
    eprintln!("{}", d.summary());
    d.assert_no_damage();
    assert!(
        d.matched_video(&clip) >= min,
        "a normal RTMP viewer next to a stopped one decoded {} of {} pictures (want >= {min}): {}",
        d.matched_video(&clip),
        clip.video_frames,
        d.summary()
    );

    // Same bound as for the stuck HTTP-FLV viewer above.
    let grown = rss_peak.saturating_sub(rss0);
    eprintln!("server RSS: {rss0} KiB at start, peak {rss_peak} KiB (+{grown} KiB)");
    assert!(
        grown < 48 * 1024,
        "server RSS grew by {grown} KiB (from {rss0} to {rss_peak}) with a stopped RTMP viewer; bound 48 MiB"
    );

    let Some(dropped_after) = dropped_after else {
        stuck.signal("CONT");
        panic!(
            "the server still holds the connection of an RTMP viewer that has read nothing for \
             {:?} (write_timeout_ms = {WRITE_TIMEOUT_MS}); its socket: {last_seen:?}; server log:\n{}",
            stopped.elapsed(),
            server.log_tail(20)
        );
    };
    // Its socket accepts nothing once the kernel buffers are full (~4 MiB of send buffer at
    // 1 MB/s), then write_timeout_ms: well under 15 s.
    assert!(
        dropped_after < Duration::from_secs(15),
        "the stopped RTMP viewer was dropped only {dropped_after:?} after it stopped reading \
         (write_timeout_ms = {WRITE_TIMEOUT_MS})"
    );
    stuck.signal("CONT");
    let exited = stuck.wait_exit(Duration::from_secs(15));
    let d = stuck.finish(Duration::from_secs(1), Duration::from_secs(1));
    eprintln!("{}", d.summary());
    assert!(
        exited,
        "after SIGCONT the stuck FFmpeg read on for 15 s without reaching the end of its \
         connection, although the server no longer held it: {}",
        d.summary()
    );
}
