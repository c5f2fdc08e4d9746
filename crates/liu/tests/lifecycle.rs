//! The server's life: startup errors, `--help`, and a clean shutdown on
//! SIGTERM that ends every viewer's stream.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn port_in_use_is_a_one_line_error() {
    let _w = watchdog("port_in_use_is_a_one_line_error", Duration::from_secs(30));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_one_line_startup_error(&addr, "", &format!("cannot listen for RTMP on {addr}"));
}

#[test]
fn bad_config_is_a_clear_error() {
    let _w = watchdog("bad_config_is_a_clear_error", Duration::from_secs(30));
    let stderr = failed_startup("127.0.0.1:0", "[rtmp]\nlisten_port = 1935\n");
    assert!(
        stderr.contains("listen_port"),
        "names the unknown key: {stderr}"
    );
}

/// An HLS directory that cannot be written is one clear line at startup, not lost files later.
#[test]
fn unwritable_hls_dir_is_a_clear_error() {
    let _w = watchdog("unwritable_hls_dir", Duration::from_secs(30));
    let dir = temp_dir("badhlsdir");
    let not_a_dir = dir.join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let config = format!("[hls]\ndir = {:?}\n", not_a_dir.join("hls"));
    assert_one_line_startup_error("127.0.0.1:0", &config, "cannot use the HLS directory");
}

#[test]
fn help_documents_serve() {
    let out = Command::new(env!("CARGO_BIN_EXE_liu"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--rtmp", "--http", "--config"] {
        assert!(text.contains(flag), "serve --help lacks {flag}:\n{text}");
    }
}

#[test]
fn sigterm_ends_viewers_and_exits() {
    let _w = watchdog("sigterm_ends_viewers_and_exits", Duration::from_secs(90));
    let _s = serial();
    let mut server = LiuServer::start("");
    let clip = clip(&ClipSpec::standard().seconds(20));
    let name = stream_name("term");
    let _publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let rtmp_viewer = Viewer::ffmpeg(&ffmpeg9(), &server.rtmp_url(&name));
    let mut http = RawHttp::send_get(server.http_addr(), &format!("/live/{name}.flv"));
    http.read_head(Duration::from_secs(10))
        .expect("HTTP-FLV response head");
    assert_eq!(http.status, 200);
    assert!(
        rtmp_viewer.wait_video_frames(25, Duration::from_secs(15)),
        "RTMP viewer decodes before shutdown"
    );

    signal(server.pid(), "TERM");
    let sent = Instant::now();
    let mut flv = FlvParser::default();
    let ended = http.read_body(&mut flv, Duration::from_secs(6), Duration::from_secs(8));
    while server.is_running() && sent.elapsed() < Duration::from_secs(6) {
        thread::sleep(Duration::from_millis(20));
    }
    let exit_after = sent.elapsed();
    assert!(
        !server.is_running(),
        "liu still running {exit_after:?} after SIGTERM"
    );
    assert!(
        exit_after < Duration::from_secs(5),
        "liu took {exit_after:?} to exit"
    );
    assert!(
        ended == "closed" || ended.starts_with("reset"),
        "HTTP-FLV body ended by the server, got {ended}"
    );
    assert!(
        flv.video().count() > 10,
        "HTTP-FLV viewer got video before the end"
    );

    let decoded = rtmp_viewer.finish(Duration::from_secs(3), Duration::from_secs(10));
    assert!(decoded.video_frames() >= 25, "{}", decoded.summary());
    assert!(
        !decoded.stopped_by_harness,
        "the RTMP viewer ended by itself: {}",
        decoded.summary()
    );
}
