//! A raw WebSocket client for the tests: a hand-written handshake, then server frames read
//! with an independent reading of RFC 6455 section 5.2; frames no library sends are written by
//! hand.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::http::{FlvParser, find};

/// A WebSocket client of our own for what no library sends: raw frames after a raw handshake.
pub struct RawWs {
    pub tcp: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Sends `extra_headers` with a request for `path`; returns the status line and the client.
    pub fn handshake(addr: &str, path: &str, extra_headers: &str) -> (String, RawWs) {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = tcp.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed before an answer to the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        (head, RawWs { tcp, buf })
    }

    /// A masked frame.
    pub fn send(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mut f = vec![first, payload.len() as u8 | if masked { 0x80 } else { 0 }];
        let mask = [0x12, 0x34, 0x56, 0x78];
        if masked {
            f.extend_from_slice(&mask);
        }
        f.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, b)| if masked { b ^ mask[i % 4] } else { *b }),
        );
        self.tcp.write_all(&f).unwrap();
    }

    /// Reads server frames until a close: its code, and whether EOF followed.
    pub fn until_close(&mut self) -> (u16, bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((opcode, payload, used)) = server_frame(&self.buf) {
                self.buf.drain(..used);
                if opcode == 8 {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    let mut rest = [0u8; 1];
                    let eof = matches!(self.tcp.read(&mut rest), Ok(0));
                    return (code, eof);
                }
                continue;
            }
            assert!(Instant::now() < deadline, "no close frame within 20 s");
            let mut chunk = [0u8; 65536];
            let n = self.tcp.read(&mut chunk).unwrap();
            assert!(n > 0, "EOF without a close frame");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One unmasked server frame at the start of `b` (an independent reading of RFC 6455 5.2).
pub fn server_frame(b: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert_eq!(b[1] & 0x80, 0, "server frames are never masked");
    let (len, at) = match b[1] & 0x7f {
        126 => (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = b.get(at..at + len)?.to_vec();
    Some((b[0] & 0x0f, payload, at + len))
}

impl RawWs {
    /// Reads binary messages into `flv` for `limit`, or until the server closes; `true` if
    /// the server ended the connection (a close frame or EOF).
    pub fn read_flv(&mut self, flv: &mut FlvParser, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            while let Some((opcode, payload, used)) = server_frame(&self.buf) {
                self.buf.drain(..used);
                match opcode {
                    2 | 0 => flv.push(&payload).expect("FLV in WebSocket messages"),
                    8 => return true,
                    _ => {}
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.tcp
                .set_read_timeout(Some(left.max(Duration::from_millis(10))))
                .unwrap();
            let mut chunk = [0u8; 65536];
            match self.tcp.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The headers of a valid WebSocket handshake (RFC 6455 section 1.3's key).
pub const WS_HANDSHAKE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
