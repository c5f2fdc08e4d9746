//! WebSocket-FLV: `ws://` and `wss://` on the HTTP-FLV path carry the same FLV stream in binary
//! messages. A WebSocket client we did not write (tokio-tungstenite) reads it tag by tag; FFmpeg 9
//! decodes what it received; pings get pongs. Bad handshakes and bad frames each end only their
//! own connection while an FFmpeg viewer plays the stream to the end.
mod common;
use common::*;

use std::io::Write;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What a WebSocket-FLV client received.
struct Received {
    flv: FlvParser,
    pongs: Vec<Vec<u8>>,
    close: Option<(u16, String)>,
}

/// Plays `url` over `io` (a TCP or TLS stream) until the server closes, sending a ping after
/// the first messages.
async fn play<S>(url: &str, io: S, limit: Duration) -> Received
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws, response) = tokio_tungstenite::client_async(url, io)
        .await
        .unwrap_or_else(|e| panic!("WebSocket handshake with {url}: {e}"));
    assert_eq!(response.status(), 101);
    let mut flv = FlvParser::default();
    flv.keep = true;
    let mut got = Received {
        flv,
        pongs: Vec::new(),
        close: None,
    };
    let mut messages = 0;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => panic!("{url}: no close from the server within {limit:?}"),
            Ok(None) => break,
            Ok(Some(Err(e))) => panic!("{url}: {e}"),
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Binary(data) => {
                got.flv
                    .push(&data)
                    .unwrap_or_else(|e| panic!("{url}: bad FLV: {e}"));
                messages += 1;
                if messages == 20 {
                    ws.send(Message::Ping(b"liu-ping".to_vec().into()))
                        .await
                        .unwrap();
                }
            }
            Message::Pong(p) => got.pongs.push(p.to_vec()),
            Message::Close(frame) => {
                got.close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                break;
            }
            other => panic!("{url}: unexpected message {other:?}"),
        }
    }
    got
}

/// The FLV checks every WebSocket-FLV client's stream must pass.
fn check_flv(label: &str, flv: &FlvParser) {
    assert_eq!(
        flv.header_flags,
        Some(0x05),
        "{label}: FLV header flags (audio + video)"
    );
    let first: Vec<u8> = flv.tags.iter().take(3).map(|t| t.kind).collect();
    assert_eq!(
        first[0], 18,
        "{label}: onMetaData first, got tag kinds {first:?}"
    );
    let configs: Vec<(u8, bool)> = flv.tags[1..3]
        .iter()
        .map(|t| (t.kind, t.seq_header))
        .collect();
    assert!(
        configs.contains(&(9, true)) && configs.contains(&(8, true)),
        "{label}: both sequence headers after onMetaData, got {configs:?}"
    );
    let first_picture = flv.pictures().next().expect("pictures");
    assert!(
        first_picture.keyframe,
        "{label}: the first picture is a keyframe"
    );
    if let Some((kind, from, to)) = flv.first_step_back() {
        panic!("{label}: kind {kind} timestamps go back from {from} to {to}");
    }
}

#[test]
fn ws_and_wss_carry_the_flv_stream() {
    let _serial = serial();
    let _wd = watchdog("ws_flv", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let dir = temp_dir("ws-tls");
    let (cert, key) = make_cert(&dir, "ws", 2020, 2040);
    let server = LiuServer::start(&rtmps_config(&cert, &key));
    let name = stream_name("ws");
    let ws_url = format!("ws://{}/live/{name}.flv", server.http_addr());
    let wss_url = format!(
        "wss://localhost:{}/live/{name}.flv",
        server.https_addr().rsplit(':').next().unwrap()
    );
    let https = server.https_addr().to_string();
    let http = server.http_addr().to_string();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Both viewers ask before the publisher starts (Liu waits flv_wait_ms for it).
    let plain = runtime.spawn({
        let url = ws_url.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(http).await.unwrap();
            play(&url, tcp, Duration::from_secs(60)).await
        }
    });
    let secure = runtime.spawn({
        let url = wss_url.clone();
        let connector = tokio_rustls::TlsConnector::from(client_config(&cert));
        async move {
            let tcp = tokio::net::TcpStream::connect(https).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            play(&url, tls, Duration::from_secs(60)).await
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {}", publisher.stderr());

    for (label, task) in [(ws_url, plain), (wss_url, secure)] {
        let got = runtime.block_on(task).unwrap();
        eprintln!(
            "{label}: {} tags, {} bytes, pongs {:?}, close {:?}",
            got.flv.tags.len(),
            got.flv.bytes,
            got.pongs,
            got.close
        );
        check_flv(&label, &got.flv);
        assert_eq!(
            got.pongs,
            vec![b"liu-ping".to_vec()],
            "{label}: one pong with the ping's payload"
        );
        assert_eq!(
            got.close.as_ref().map(|c| c.0),
            Some(u16::from(CloseCode::Normal)),
            "{label}: a normal close once the stream ended"
        );
        let file = dir.join(format!(
            "{}.flv",
            if label.starts_with("wss") {
                "wss"
            } else {
                "ws"
            }
        ));
        std::fs::write(&file, &got.flv.kept).unwrap();
        let d = decode_file(&ffmpeg9(), &file);
        d.assert_plays(&clip);
    }
}

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
const GOOD: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";

#[test]
fn bad_websocket_clients_end_alone() {
    let _serial = serial();
    let _wd = watchdog("ws_flv_bad", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("");
    let name = stream_name("wsbad");
    let url = server.rtmp_url(&name);
    let http = server.http_addr().to_string();
    let path = format!("/live/{name}.flv");
    let viewer = Viewer::ffmpeg(&ffmpeg9(), &url);
    std::thread::sleep(Duration::from_millis(300));
    let mut publisher = Publisher::spawn(&url, &clip, &[]);
    assert!(
        viewer.wait_video_frames(25, Duration::from_secs(20)),
        "the viewer decoded nothing"
    );

    // Bad handshakes: an HTTP answer, no upgrade.
    let (head, _) = RawWs::handshake(&http, &path, GOOD);
    assert!(head.starts_with("HTTP/1.1 400"), "no key: {head}");
    let (head, _) = RawWs::handshake(
        &http,
        &path,
        &format!("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n{KEY}"),
    );
    assert!(
        head.starts_with("HTTP/1.1 426") && head.contains("Sec-WebSocket-Version: 13"),
        "version 8: {head}"
    );
    let (head, _) = RawWs::handshake(
        &http,
        &path,
        &format!("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{KEY}"),
    );
    assert!(
        head.starts_with("HTTP/1.1 400"),
        "no Connection: Upgrade: {head}"
    );

    // Good handshakes, then frames a viewer must not send.
    let good = format!("{GOOD}{KEY}");
    let cases: [(&str, u8, Vec<u8>, bool, u16); 6] = [
        ("a text message", 0x81, b"hello".to_vec(), true, 1003),
        ("an unmasked ping", 0x89, b"x".to_vec(), false, 1002),
        ("a ping of 126 bytes", 0x89, vec![0u8; 126], true, 1002),
        (
            "a binary message of 200 bytes",
            0x82,
            vec![0u8; 200],
            true,
            1009,
        ),
        (
            "a close with code 1005, which is never sent",
            0x88,
            1005u16.to_be_bytes().to_vec(),
            true,
            1002,
        ),
        ("a close", 0x88, 1000u16.to_be_bytes().to_vec(), true, 1000),
    ];
    for (what, first, payload, masked, code) in cases {
        let (head, mut ws) = RawWs::handshake(&http, &path, &good);
        assert!(head.starts_with("HTTP/1.1 101"), "{what}: {head}");
        assert!(
            head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{what}: {head}"
        );
        if payload.len() > 125 {
            // Length 126 means a 16-bit extended length.
            let mut f = vec![first, 0x80 | 126];
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0]);
            f.extend_from_slice(&payload);
            ws.tcp.write_all(&f).unwrap();
        } else {
            ws.send(first, &payload, masked);
        }
        let (got, eof) = ws.until_close();
        assert_eq!(got, code, "{what}: close code");
        assert!(
            eof,
            "{what}: the server closed the connection after its close"
        );
    }

    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {}", publisher.stderr());
    let d = viewer.finish(Duration::from_secs(3), Duration::from_secs(40));
    d.assert_plays(&clip);
}

/// Sends `request` on `tcp` and returns what came back before EOF or `limit` (empty when the
/// server closed without answering).
fn exchange(tcp: &mut std::net::TcpStream, request: &str, limit: Duration) -> String {
    use std::io::Read;
    tcp.set_read_timeout(Some(limit)).unwrap();
    if tcp.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while find(&got, b"\r\n\r\n").is_none() {
        match tcp.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A WebSocket-FLV viewer whose connection began with another request (so hyper serves it and
/// hands the connection over on upgrade) keeps its place in `[http] max_connections` while it
/// lasts: with a limit of 1, a second connection is closed unanswered, and answered once the
/// viewer has gone.
#[test]
fn upgraded_connections_count_against_the_limit() {
    let _serial = serial();
    let _wd = watchdog("ws_flv_limit", Duration::from_secs(60));
    let server = LiuServer::start("[http]\nmax_connections = 1\nflv_wait_ms = 3000\n");
    let http = server.http_addr().to_string();
    let limit = Duration::from_secs(5);
    let mut viewer = std::net::TcpStream::connect(&http).unwrap();
    let head = exchange(
        &mut viewer,
        &format!("OPTIONS / HTTP/1.1\r\nHost: {http}\r\n\r\n"),
        limit,
    );
    assert!(head.starts_with("HTTP/1.1 204"), "OPTIONS: {head}");
    let head = exchange(
        &mut viewer,
        &format!("GET /live/nobody.flv HTTP/1.1\r\nHost: {http}\r\n{WS_HANDSHAKE}\r\n"),
        limit,
    );
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade: {head}");
    // The viewer waits for a publisher for flv_wait_ms (3 s): meanwhile no other connection.
    let mut other = std::net::TcpStream::connect(&http).unwrap();
    let answer = exchange(
        &mut other,
        &format!("GET / HTTP/1.1\r\nHost: {http}\r\n\r\n"),
        Duration::from_secs(2),
    );
    assert!(
        answer.is_empty(),
        "a second connection was answered while the upgraded one held the only slot: {answer}"
    );
    drop(viewer);
    // Once the viewer's wait ended (a 4404 close), its slot is free again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut next = std::net::TcpStream::connect(&http).unwrap();
        let answer = exchange(
            &mut next,
            &format!("GET / HTTP/1.1\r\nHost: {http}\r\n\r\n"),
            limit,
        );
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no connection answered within 10 s after the viewer left: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
