//! RTMPT sessions themselves, with a small tunnel client (liu-rtmp's handshake and a hand-built
//! `connect` inside raw HTTP POSTs): unknown ids, malformed paths, out-of-order sequence numbers
//! and oversized bodies get HTTP errors and harm nothing else; empty polls are held and the
//! polling interval grows while idle; a client that vanishes leaves no
//! session behind after the timeout; 200 idle sessions (handshaken and connected) stay within a
//! stated memory bound.
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn bad_ids_and_sequence_numbers_get_errors() {
    let _wd = watchdog("rtmpt_bad", Duration::from_secs(60));
    let mut server = LiuServer::start("[rtmpt]\nmax_buffered_bytes = 65536\n");
    let addr = server.http_addr().to_string();
    let mut http = RawHttp::connect(&addr);
    for (path, status) in [
        ("/fcs/ident2", 404),
        ("/send/0123456789abcdef/0", 404),
        ("/idle/nosuchsession/3", 404),
        ("/send/abc", 400),
        ("/open/x", 400),
        ("/send/a-b/1", 400),
    ] {
        let (got, _) = http.post(path, &[0]).unwrap();
        assert_eq!(got, status, "{path}");
    }

    // A real session: handshake and connect work, then a skipped sequence number ends it.
    let mut t = RtmptClient::open(&addr).unwrap();
    assert_eq!(t.id.len(), 32, "128-bit hex session id: {}", t.id);
    t.handshake_and_connect("live").unwrap();
    let expected = t.seq;
    t.seq += 3;
    let (status, _) = t.request("idle", &[0]).unwrap();
    assert_eq!(status, 400, "out of order");
    let (status, _) = t.request("idle", &[0]).unwrap();
    assert_eq!(status, 404, "the session is gone");

    // More than max_buffered_bytes in one send: 413, session ended.
    let mut t = RtmptClient::open(&addr).unwrap();
    let (status, _) = t.request("send", &vec![3u8; 70_000]).unwrap();
    assert_eq!(status, 413);
    let (status, _) = t.request("idle", &[0]).unwrap();
    assert_eq!(status, 404);

    // Garbage instead of RTMP inside a tunnel ends that session's RTMP connection only.
    let mut t = RtmptClient::open(&addr).unwrap();
    t.exchange("send", &[0x16, 3, 1, 2, 3]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = t.request("idle", &[0]).unwrap();
        if status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session outlived its connection"
        );
    }
    let mut t = RtmptClient::open(&addr).unwrap();
    t.handshake_and_connect("live").unwrap();
    let (status, body) = t.request("close", &[0]).unwrap();
    assert_eq!((status, body.len()), (200, 1));
    server.assert_alive("bad RTMPT requests");
    let log = server.log_tail(100);
    let out_of_order = format!(
        "RTMPT session ended: sequence number {} out of order (expected {expected})",
        expected + 3
    );
    assert!(log.contains(&out_of_order), "no {out_of_order:?} in\n{log}");
    assert!(log.contains("unsupported RTMP version 0x16"), "{log}");
}

#[test]
fn sessions_past_max_sessions_are_refused_until_one_closes() {
    let _wd = watchdog("rtmpt_max", Duration::from_secs(60));
    let mut server = LiuServer::start("[rtmpt]\nmax_sessions = 3\n");
    let addr = server.http_addr().to_string();
    let mut open: Vec<RtmptClient> = (0..3)
        .map(|i| RtmptClient::open(&addr).unwrap_or_else(|e| panic!("session {i}: {e}")))
        .collect();
    // The fourth is refused with 503, and a refusal takes no slot: still refused.
    for _ in 0..2 {
        let mut http = RawHttp::connect(&addr);
        let (status, _) = http.post("/open/1", &[0]).unwrap();
        assert_eq!(status, 503, "a session past max_sessions = 3");
    }
    // The three that were opened still work: each handshakes and connects.
    for t in open.iter_mut() {
        t.handshake_and_connect("live").unwrap();
    }
    // Closing one frees its slot for a new session.
    let mut closed = open.pop().unwrap();
    let (status, _) = closed.request("close", &[0]).unwrap();
    assert_eq!(status, 200, "close");
    let mut again = RtmptClient::open(&addr).expect("a session once one of three closed");
    again.handshake_and_connect("live").unwrap();
    server.assert_alive("RTMPT sessions past max_sessions");
    let log = server.log_tail(100);
    assert!(
        log.contains("refused: 3 sessions open"),
        "the refusal is logged with the count:\n{log}"
    );
}

#[test]
fn a_vanished_client_leaves_no_session() {
    let _wd = watchdog("rtmpt_timeout", Duration::from_secs(60));
    let server = LiuServer::start("[rtmpt]\nsession_timeout_ms = 1500\nidle_hold_ms = 200\n");
    let addr = server.http_addr().to_string();
    let mut t = RtmptClient::open(&addr).unwrap();
    t.handshake_and_connect("live").unwrap();
    // Empty polls are held (librtmp polls without pause) and the polling-interval byte grows.
    let start = Instant::now();
    let intervals: Vec<u8> = (0..5).map(|_| t.exchange("idle", &[0]).unwrap()).collect();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "5 empty polls answered in {took:?}"
    );
    assert!(
        intervals.windows(2).all(|w| w[0] <= w[1]) && intervals[4] > intervals[0],
        "the interval grows while idle: {intervals:?}"
    );
    let id = t.id.clone();
    let seq = t.seq;
    drop(t);
    std::thread::sleep(Duration::from_millis(3500));
    let mut http = RawHttp::connect(&addr);
    let (status, _) = http.post(&format!("/idle/{id}/{seq}"), &[0]).unwrap();
    assert_eq!(status, 404, "the session timed out");
    let log = server.log_tail(100);
    assert!(
        log.contains("RTMPT session timed out after 1.5s without a request"),
        "{log}"
    );
    // Its RTMP connection ended too (a connection that saw `connect` logs its close).
    assert!(
        log.lines()
            .any(|l| l.contains("rtmpt") && l.contains("closed")),
        "{log}"
    );
}

#[test]
fn two_hundred_idle_sessions_stay_small() {
    let _serial = serial();
    let _wd = watchdog("rtmpt_200", Duration::from_secs(120));
    // Opening 200 takes longer than the default session timeout.
    let server = LiuServer::start("[rtmpt]\nsession_timeout_ms = 90000\n");
    let addr = server.http_addr().to_string();
    // Warm up the allocator and the runtime with a few sessions first.
    let mut warm: Vec<RtmptClient> = (0..5)
        .map(|_| {
            let mut t = RtmptClient::open(&addr).unwrap();
            t.handshake_and_connect("live").unwrap();
            t
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss_kib();
    let mut sessions = Vec::new();
    for _ in 0..200 {
        let mut t = RtmptClient::open(&addr).unwrap();
        t.handshake_and_connect("live").unwrap();
        t.received.clear();
        sessions.push(t);
    }
    // All of them stay alive: one idle poll each, answered 200.
    for t in sessions.iter_mut().chain(warm.iter_mut()) {
        t.exchange("idle", &[0]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = server.rss_kib();
    let per_session = (after.saturating_sub(before)) * 1024 / 200;
    eprintln!("200 idle RTMPT sessions: RSS {before} KiB -> {after} KiB, {per_session} bytes each");
    // Stated bound (docs/performance.md): 64 KiB per idle session, its HTTP connection included.
    assert!(
        per_session <= 64 * 1024,
        "{per_session} bytes per idle RTMPT session"
    );
    for mut t in sessions {
        let (status, _) = t.request("close", &[0]).unwrap();
        assert_eq!(status, 200);
    }
}
