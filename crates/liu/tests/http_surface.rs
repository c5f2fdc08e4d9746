//! The HTTP side apart from decoding: what an HTTP-FLV response starts with,
//! CORS for browser players, HEAD, unknown paths and methods, and the wait
//! for a stream that is not (yet) published.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// Sends a raw request and returns the status line and headers (lowercased names).
fn request(addr: &str, head: &str) -> (u16, Vec<(String, String)>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn http_flv_response_and_http_answers() {
    let _w = watchdog("http_surface", Duration::from_secs(90));
    let _s = serial();
    let server = LiuServer::start("[http]\nflv_wait_ms = 1500\n");
    let addr = server.http_addr().to_string();
    let clip = clip(&ClipSpec::standard());
    let name = stream_name("http");

    // Nothing published: the request waits flv_wait_ms, then 404.
    let started = Instant::now();
    let (status, _) = request(
        &addr,
        &format!("HEAD /live/{name}.flv HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    let waited = started.elapsed();
    assert_eq!(status, 404);
    assert!(
        waited >= Duration::from_millis(1400),
        "answered after {waited:?}, before the configured wait"
    );

    // CORS preflight, as a browser player on another origin sends it.
    let (status, headers) = request(
        &addr,
        &format!(
            "OPTIONS /live/{name}.flv HTTP/1.1\r\nHost: x\r\nOrigin: http://example.test\r\n\
             Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\n\r\n"
        ),
    );
    assert_eq!(status, 204);
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert!(header(&headers, "access-control-allow-methods").is_some_and(|m| m.contains("GET")));
    assert_eq!(
        header(&headers, "access-control-allow-headers"),
        Some("range")
    );

    // Unknown paths and methods.
    assert_eq!(
        request(&addr, "GET /nothing/here HTTP/1.1\r\nHost: x\r\n\r\n").0,
        404
    );
    let (status, headers) = request(
        &addr,
        &format!("POST /live/{name}.flv HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    );
    assert_eq!(status, 405);
    assert!(header(&headers, "allow").is_some_and(|a| a.contains("GET")));
    for target in ["/", "/nothing/here", &format!("/live/{name}.flv")] {
        let (status, _) = request(
            &addr,
            &format!("TRACE {target} HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
        assert_eq!(status, 405, "TRACE {target}");
    }

    // A live stream: HEAD answers 200 at once, GET streams FLV.
    let _publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let mut viewer = RawHttp::send_get(&addr, &format!("/live/{name}.flv?token=abc"));
    viewer.read_head(Duration::from_secs(10)).unwrap();
    assert_eq!(viewer.status, 200);
    assert_eq!(viewer.header("content-type"), Some("video/x-flv"));
    assert_eq!(viewer.header("access-control-allow-origin"), Some("*"));
    assert!(
        viewer
            .header("transfer-encoding")
            .is_some_and(|t| t.contains("chunked"))
    );
    let mut flv = FlvParser::default();
    viewer.read_body(&mut flv, Duration::from_secs(3), Duration::from_secs(3));
    assert_eq!(
        flv.header_flags,
        Some(0x05),
        "FLV header announces audio and video"
    );
    // onMetaData, then both sequence headers, then a keyframe before any other picture.
    assert_eq!(flv.tags.first().map(|t| t.kind), Some(18), "metadata first");
    let seq: Vec<u8> = flv
        .tags
        .iter()
        .filter(|t| t.seq_header)
        .map(|t| t.kind)
        .collect();
    assert!(
        seq.contains(&9) && seq.contains(&8),
        "AVC and AAC sequence headers, got {seq:?}"
    );
    let first_picture = flv
        .tags
        .iter()
        .find(|t| t.picture)
        .expect("pictures within 3 s");
    assert!(first_picture.keyframe, "first picture is a keyframe");
    assert!(
        flv.video().count() > 25,
        "about 3 s of video, got {}",
        flv.video().count()
    );
    let (status, headers) = request(
        &addr,
        &format!("HEAD /live/{name}.flv HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("video/x-flv"));
}

/// The FLV header's flags byte names the tracks the publisher really sends: 0x01 for a
/// video-only publish (FFmpeg `-an`), 0x04 for an audio-only one (`-vn`), for a viewer that was
/// waiting before the publish started as well as for one that comes later. (Players such as
/// mpegts.js/flv.js wait for a track the header announces.)
#[test]
fn flv_header_flags_follow_the_published_tracks() {
    let _w = watchdog("http_surface flags", Duration::from_secs(60));
    let _s = serial();
    let server = LiuServer::start("");
    let addr = server.http_addr().to_string();
    let clip = clip(&ClipSpec::standard());

    struct Case {
        what: &'static str,
        args: [&'static str; 1],
        flags: u8,
        /// FLV tag type of the one track: 9 video, 8 audio.
        kind: u8,
        name: String,
        early: Option<RawHttp>,
        late: Option<RawHttp>,
        publisher: Option<Publisher>,
    }
    let mut cases = vec![
        Case {
            what: "video-only (-an)",
            args: ["-an"],
            flags: 0x01,
            kind: 9,
            name: stream_name("vonly"),
            early: None,
            late: None,
            publisher: None,
        },
        Case {
            what: "audio-only (-vn)",
            args: ["-vn"],
            flags: 0x04,
            kind: 8,
            name: stream_name("aonly"),
            early: None,
            late: None,
            publisher: None,
        },
    ];
    // Viewers waiting before anything is published.
    for c in &mut cases {
        c.early = Some(RawHttp::send_get(&addr, &format!("/live/{}.flv", c.name)));
    }
    std::thread::sleep(Duration::from_millis(500));
    for c in &mut cases {
        c.publisher = Some(Publisher::spawn(&server.rtmp_url(&c.name), &clip, &c.args));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // And viewers coming 1.5 s into the publish. (All four are read one after another below;
    // the socket buffers hold what comes meanwhile.)
    for c in &mut cases {
        c.late = Some(RawHttp::send_get(&addr, &format!("/live/{}.flv", c.name)));
    }

    let mut failures = Vec::new();
    for c in &mut cases {
        for (when, mut viewer) in [
            ("before", c.early.take().unwrap()),
            ("after", c.late.take().unwrap()),
        ] {
            let label = format!("{} publish, viewer connected {when} the publish", c.what);
            if let Err(e) = viewer.read_head(Duration::from_secs(10)) {
                failures.push(format!("{label}: {e}"));
                continue;
            }
            if viewer.status != 200 {
                failures.push(format!("{label}: status {}", viewer.status));
                continue;
            }
            let mut flv = FlvParser::default();
            let ended = viewer.read_body(&mut flv, Duration::from_secs(2), Duration::from_secs(2));
            let kinds: Vec<u8> = flv
                .tags
                .iter()
                .map(|t| t.kind)
                .filter(|k| *k != 18)
                .collect();
            let ours = kinds.iter().filter(|k| **k == c.kind).count();
            let others = kinds.len() - ours;
            eprintln!(
                "{label}: FLV header flags {:?}, {ours} tags of its track, {others} of another, {} bytes, ended: {ended}",
                flv.header_flags.map(|f| format!("{f:#04x}")),
                flv.bytes
            );
            if flv.header_flags != Some(c.flags) {
                failures.push(format!(
                    "{label}: FLV header flags {:?}, want {:#04x}",
                    flv.header_flags.map(|f| format!("{f:#04x}")),
                    c.flags
                ));
            }
            if ours < 10 || others > 0 {
                failures.push(format!(
                    "{label}: {ours} tags of type {} and {others} of the absent track in ~2 s",
                    c.kind
                ));
            }
        }
    }
    for c in &mut cases {
        let p = c.publisher.as_mut().unwrap();
        if !p.is_running() {
            failures.push(format!(
                "the {} publisher ended early: {}",
                c.what,
                p.stderr()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "HTTP-FLV of single-track publishes:\n  {}",
        failures.join("\n  ")
    );
}

/// Checks that `flv` holds a playable start: metadata or sequence headers, then a keyframe
/// before any other picture, and at least `pictures` pictures.
fn check_flv_start(what: &str, flv: &FlvParser, pictures: usize) {
    let first_picture = flv
        .tags
        .iter()
        .find(|t| t.picture)
        .unwrap_or_else(|| panic!("{what}: no picture"));
    assert!(
        first_picture.keyframe,
        "{what}: first picture is not a keyframe"
    );
    assert!(
        flv.tags.iter().any(|t| t.kind == 9 && t.seq_header),
        "{what}: no AVC sequence header"
    );
    let n = flv.pictures().count();
    assert!(
        n >= pictures,
        "{what}: {n} pictures, expected at least {pictures}"
    );
}

/// One connection, several requests, whichever side serves them: Liu's own HTTP-FLV loop
/// (a 404 for a missing stream keeps the connection; a stream that ends is terminated with the
/// last chunk and the connection carries the next request) and hyper (a connection that starts
/// with another request and then asks for HTTP-FLV). An HTTP/1.0 client gets an unchunked body.
#[test]
fn one_connection_carries_several_requests() {
    let _w = watchdog("http_surface reuse", Duration::from_secs(120));
    let _s = serial();
    let server = LiuServer::start("[http]\nflv_wait_ms = 3000\n");
    let addr = server.http_addr().to_string();
    let step = Duration::from_secs(10);

    // A stream that ends: the body ends with the last chunk (flv_wait_ms after the publisher
    // left), then the connection carries another request (one that hyper serves).
    let ending = stream_name("ending");
    let ending_publisher = Publisher::spawn(
        &server.rtmp_url(&ending),
        &clip(&ClipSpec::standard().seconds(4)),
        &[],
    );
    let mut c = RawHttp::connect(&addr);
    c.send(&format!("GET /live/{ending}.flv HTTP/1.1"));
    c.read_head(step).unwrap();
    assert_eq!(c.status, 200);
    let mut flv = FlvParser::default();
    let how = c.read_body(&mut flv, Duration::from_secs(5), Duration::from_secs(20));
    assert_eq!(
        how, "closed",
        "the body of an ended stream ends with the last chunk"
    );
    check_flv_start("a 4 s stream read to its end", &flv, 75);
    c.send("GET / HTTP/1.1");
    c.read_head(step).unwrap();
    assert_eq!(c.status, 200, "a request after an ended HTTP-FLV body");
    assert!(!c.read_sized_body(step).unwrap().is_empty());
    drop(c);
    drop(ending_publisher);

    let name = stream_name("reuse");
    let _publisher = Publisher::spawn(
        &server.rtmp_url(&name),
        &clip(&ClipSpec::standard().seconds(20)),
        &[],
    );

    // Opened by an HTTP-FLV request for a stream that does not exist: 404 after the wait, and
    // the connection stays for the next request, a live stream.
    let mut c = RawHttp::connect(&addr);
    c.send("GET /live/missing.flv HTTP/1.1");
    c.read_head(step).unwrap();
    assert_eq!(c.status, 404);
    assert_eq!(c.read_sized_body(step).unwrap(), b"stream not found\n");
    c.send(&format!("GET /live/{name}.flv HTTP/1.1"));
    c.read_head(step).unwrap();
    assert_eq!(c.status, 200, "HTTP-FLV after a 404 on the same connection");
    assert!(
        c.header("transfer-encoding")
            .is_some_and(|t| t.contains("chunked"))
    );
    let mut flv = FlvParser::default();
    c.read_body(&mut flv, Duration::from_secs(2), Duration::from_secs(2));
    check_flv_start("HTTP-FLV after a 404 on the same connection", &flv, 25);
    drop(c);

    // Opened by a request hyper serves, then HTTP-FLV on the same connection.
    let mut c = RawHttp::connect(&addr);
    c.send("GET /nothing/here HTTP/1.1");
    c.read_head(step).unwrap();
    assert_eq!(c.status, 404);
    c.read_sized_body(step).unwrap();
    c.send(&format!("GET /live/{name}.flv HTTP/1.1"));
    c.read_head(step).unwrap();
    assert_eq!(c.status, 200, "HTTP-FLV after another request");
    assert_eq!(c.header("content-type"), Some("video/x-flv"));
    let mut flv = FlvParser::default();
    c.read_body(&mut flv, Duration::from_secs(2), Duration::from_secs(2));
    check_flv_start("HTTP-FLV on a connection hyper serves", &flv, 25);
    drop(c);

    // HTTP/1.0: no chunked encoding; the body is delimited by the connection's end.
    let mut c = RawHttp::connect(&addr);
    c.send(&format!("GET /live/{name}.flv HTTP/1.0"));
    c.read_head(step).unwrap();
    assert_eq!(c.status, 200);
    assert_eq!(
        c.header("transfer-encoding"),
        None,
        "chunked sent to an HTTP/1.0 client"
    );
    assert_eq!(c.header("connection"), Some("close"));
    let mut flv = FlvParser::default();
    c.read_body(&mut flv, Duration::from_secs(2), Duration::from_secs(2));
    assert_eq!(flv.header_flags, Some(0x05));
    check_flv_start("HTTP/1.0 HTTP-FLV", &flv, 25);
}
