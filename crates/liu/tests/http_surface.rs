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
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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
    let (status, _) = request(&addr, &format!("HEAD /live/{name}.flv HTTP/1.1\r\nHost: x\r\n\r\n"));
    let waited = started.elapsed();
    assert_eq!(status, 404);
    assert!(waited >= Duration::from_millis(1400), "answered after {waited:?}, before the configured wait");

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
    assert_eq!(header(&headers, "access-control-allow-headers"), Some("range"));

    // Unknown paths and methods.
    assert_eq!(request(&addr, "GET /nothing/here HTTP/1.1\r\nHost: x\r\n\r\n").0, 404);
    let (status, headers) = request(&addr, &format!("POST /live/{name}.flv HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    assert_eq!(status, 405);
    assert!(header(&headers, "allow").is_some_and(|a| a.contains("GET")));

    // A live stream: HEAD answers 200 at once, GET streams FLV.
    let _publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let mut viewer = RawHttp::send_get(&addr, &format!("/live/{name}.flv?token=abc"));
    viewer.read_head(Duration::from_secs(10)).unwrap();
    assert_eq!(viewer.status, 200);
    assert_eq!(viewer.header("content-type"), Some("video/x-flv"));
    assert_eq!(viewer.header("access-control-allow-origin"), Some("*"));
    assert!(viewer.header("transfer-encoding").is_some_and(|t| t.contains("chunked")));
    let mut flv = FlvParser::default();
    viewer.read_body(&mut flv, Duration::from_secs(3), Duration::from_secs(3));
    assert_eq!(flv.header_flags, Some(0x05), "FLV header announces audio and video");
    // onMetaData, then both sequence headers, then a keyframe before any other picture.
    assert_eq!(flv.tags.first().map(|t| t.kind), Some(18), "metadata first");
    let seq: Vec<u8> = flv.tags.iter().filter(|t| t.seq_header).map(|t| t.kind).collect();
    assert!(seq.contains(&9) && seq.contains(&8), "AVC and AAC sequence headers, got {seq:?}");
    let first_picture = flv.tags.iter().find(|t| t.picture).expect("pictures within 3 s");
    assert!(first_picture.keyframe, "first picture is a keyframe");
    assert!(flv.video().count() > 25, "about 3 s of video, got {}", flv.video().count());
    let (status, headers) = request(&addr, &format!("HEAD /live/{name}.flv HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("video/x-flv"));
}
