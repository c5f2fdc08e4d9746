//! HTTP-FLV, raw: a GET over a bare TcpStream and a parser for the FLV tags it returns.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct FlvTag {
    /// 8 audio, 9 video, 18 script.
    pub kind: u8,
    pub timestamp: u32,
    pub size: usize,
    /// Video: frame type 1 (keyframe).
    pub keyframe: bool,
    /// AVC/AAC sequence header (packet type 0) or an enhanced-FLV sequence start.
    pub seq_header: bool,
    /// A coded video picture (not a sequence header / end of sequence / metadata).
    pub picture: bool,
    /// An Enhanced RTMP video tag (IsExHeader set).
    pub enhanced: bool,
}

/// Parses FLV tags out of a byte stream (header first).
#[derive(Default)]
pub struct FlvParser {
    buf: Vec<u8>,
    header_done: bool,
    pub tags: Vec<FlvTag>,
    pub bytes: usize,
    /// The FLV header's flags byte (0x04 audio, 0x01 video), once read.
    pub header_flags: Option<u8>,
    /// Keep every byte pushed in `kept` (to decode or parse the body again).
    pub keep: bool,
    pub kept: Vec<u8>,
}

impl FlvParser {
    pub fn push(&mut self, data: &[u8]) -> Result<(), String> {
        self.bytes += data.len();
        if self.keep {
            self.kept.extend_from_slice(data);
        }
        self.buf.extend_from_slice(data);
        if !self.header_done {
            if self.buf.len() < 13 {
                return Ok(());
            }
            if &self.buf[..3] != b"FLV" {
                return Err(format!(
                    "body does not start with an FLV header: {:02x?}",
                    &self.buf[..13]
                ));
            }
            let hlen = u32::from_be_bytes(self.buf[5..9].try_into().unwrap()) as usize;
            if self.buf.len() < hlen + 4 {
                return Ok(());
            }
            self.header_flags = Some(self.buf[4]);
            self.buf.drain(..hlen + 4);
            self.header_done = true;
        }
        let mut p = 0;
        while self.buf.len() - p >= 11 {
            let h = &self.buf[p..];
            let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
            if self.buf.len() - p < 11 + size + 4 {
                break;
            }
            let kind = h[0] & 0x1f;
            let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
            let body = &h[11..11 + size];
            let (keyframe, seq_header, picture) = match (kind, body) {
                (9, [b0, rest @ ..]) => {
                    let frame_type = (b0 >> 4) & 0x07;
                    // Enhanced FLV: packet type in the low nibble (0 sequence start, 1 coded
                    // frames, 2 sequence end, 3 coded frames without composition time, ...).
                    // Legacy AVC: the byte after the header (0 sequence header, 1 NALUs, 2 end).
                    let packet_type = if b0 & 0x80 != 0 {
                        Some(b0 & 0x0f)
                    } else {
                        rest.first().copied()
                    };
                    let enhanced = b0 & 0x80 != 0;
                    let picture = if enhanced {
                        matches!(packet_type, Some(1 | 3))
                    } else {
                        packet_type == Some(1)
                    };
                    (
                        frame_type == 1,
                        packet_type == Some(0),
                        picture && frame_type != 5,
                    )
                }
                (8, [b0, b1, ..]) => (false, b0 >> 4 == 10 && *b1 == 0, false),
                _ => (false, false, false),
            };
            if ![8, 9, 18].contains(&kind) {
                return Err(format!(
                    "unexpected FLV tag type {kind} after {} tags",
                    self.tags.len()
                ));
            }
            self.tags.push(FlvTag {
                kind,
                timestamp,
                size,
                keyframe,
                seq_header,
                picture,
                enhanced: kind == 9 && body.first().is_some_and(|b| b & 0x80 != 0),
            });
            p += 11 + size + 4;
        }
        self.buf.drain(..p);
        Ok(())
    }

    pub fn video(&self) -> impl Iterator<Item = &FlvTag> {
        self.tags.iter().filter(|t| t.kind == 9)
    }
    /// Video tags that carry a coded picture.
    pub fn pictures(&self) -> impl Iterator<Item = &FlvTag> {
        self.tags.iter().filter(|t| t.kind == 9 && t.picture)
    }
    /// The first audio (8) or video (9) tag whose timestamp is before the previous one of its
    /// kind: (kind, previous, this).
    pub fn first_step_back(&self) -> Option<(u8, u32, u32)> {
        [8u8, 9].into_iter().find_map(|kind| {
            let mut stamps = self
                .tags
                .iter()
                .filter(|t| t.kind == kind)
                .map(|t| t.timestamp);
            let mut last = stamps.next()?;
            stamps.find_map(|ts| {
                let back = (ts < last).then_some((kind, last, ts));
                last = ts;
                back
            })
        })
    }
}

/// An HTTP/1.1 GET over a raw TcpStream, for looking at headers and FLV tags ourselves (and for
/// a viewer that never reads).
pub struct RawHttp {
    pub stream: TcpStream,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    chunked: bool,
    /// Body bytes after dechunking, not yet consumed.
    pending: Vec<u8>,
    raw: Vec<u8>,
    pub closed: bool,
}

impl RawHttp {
    /// Connects and sends the request; does not read anything.
    pub fn send_get(addr: &str, path: &str) -> RawHttp {
        let mut c = RawHttp::connect(addr);
        c.send(&format!("GET {path} HTTP/1.1"));
        c
    }

    /// Connects; sends nothing.
    pub fn connect(addr: &str) -> RawHttp {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        RawHttp::over(stream)
    }

    /// A client on a connection made elsewhere (from another source address, say).
    pub fn over(stream: TcpStream) -> RawHttp {
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        RawHttp {
            stream,
            status: 0,
            headers: vec![],
            chunked: false,
            pending: vec![],
            raw: vec![],
            closed: false,
        }
    }

    /// Sends a request (`request_line` like `GET /x HTTP/1.1`) on this connection, after the
    /// previous response was read whole; the next `read_head` reads its answer.
    pub fn send(&mut self, request_line: &str) {
        assert!(
            self.pending.is_empty(),
            "unread body bytes of the previous response"
        );
        let addr = self.stream.peer_addr().unwrap();
        let mut s = &self.stream;
        write!(
            s,
            "{request_line}\r\nHost: {addr}\r\nUser-Agent: liu-tests\r\nAccept: */*\r\n\r\n"
        )
        .unwrap();
        self.status = 0;
        self.headers.clear();
        self.chunked = false;
        self.closed = false;
    }

    /// POSTs `body` (as `application/x-fcs`, RTMPT's type) on this connection and reads the whole
    /// answer: its status and body.
    pub fn post(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        assert!(
            self.pending.is_empty() && self.raw.is_empty(),
            "unread bytes"
        );
        let addr = self.stream.peer_addr().unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-fcs\r\n\
             Content-Length: {}\r\nConnection: keep-alive\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        (&self.stream)
            .write_all(&request)
            .map_err(|e| format!("POST {path}: {e}"))?;
        self.status = 0;
        self.headers.clear();
        self.chunked = false;
        self.read_head(Duration::from_secs(5))?;
        let body = self.read_sized_body(Duration::from_secs(5))?;
        Ok((self.status, body))
    }

    /// Reads a body of `Content-Length` bytes (within `limit`).
    pub fn read_sized_body(&mut self, limit: Duration) -> Result<Vec<u8>, String> {
        let len: usize = self
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or("no Content-Length")?;
        let deadline = Instant::now() + limit;
        while self.pending.len() + self.raw.len() < len {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("body of {len} bytes not read within {limit:?}"));
            }
            if let Ok(0) = self.read_some(deadline - now) {
                return Err("closed inside the body".into());
            }
        }
        let raw = std::mem::take(&mut self.raw);
        self.pending.extend_from_slice(&raw);
        let rest = self.pending.split_off(len);
        let body = std::mem::replace(&mut self.pending, rest);
        self.raw = std::mem::take(&mut self.pending);
        Ok(body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Reads the status line and headers (within `limit`).
    pub fn read_head(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(end) = find(&self.raw, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
                self.raw.drain(..end + 4);
                let mut lines = head.split("\r\n");
                let status_line = lines.next().unwrap_or("");
                self.status = status_line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad status line {status_line:?}"))?;
                for l in lines {
                    if let Some((k, v)) = l.split_once(':') {
                        self.headers
                            .push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                self.chunked = self
                    .header("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                let raw = std::mem::take(&mut self.raw);
                self.absorb(&raw);
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "no complete HTTP response head within {limit:?} (got {} bytes)",
                    self.raw.len()
                ));
            }
            match self.read_some(deadline - now) {
                Ok(0) => {
                    return Err(format!(
                        "connection closed before a response head ({} bytes)",
                        self.raw.len()
                    ));
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => return Err(format!("read error before a response head: {e}")),
            }
        }
    }

    fn read_some(&mut self, limit: Duration) -> std::io::Result<usize> {
        let mut buf = vec![0u8; 65536];
        self.stream
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))?;
        let n = self.stream.read(&mut buf)?;
        self.raw.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Moves raw bytes into `pending`, dechunking if needed.
    fn absorb(&mut self, data: &[u8]) {
        if !self.chunked {
            self.pending.extend_from_slice(data);
            return;
        }
        self.raw.extend_from_slice(data);
        loop {
            let Some(eol) = find(&self.raw, b"\r\n") else {
                return;
            };
            let size_str = String::from_utf8_lossy(&self.raw[..eol]).into_owned();
            let size =
                usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap_or(0);
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.pending
                .extend_from_slice(&self.raw[eol + 2..eol + 2 + size]);
            self.raw.drain(..eol + 2 + size + 2);
            if size == 0 {
                self.closed = true;
                return;
            }
        }
    }

    /// Reads body bytes into `flv` until the server closes, nothing arrives for `idle`, or
    /// `max` passes. Returns how it ended: "closed", "reset: ...", "idle" or "max".
    pub fn read_body(&mut self, flv: &mut FlvParser, idle: Duration, max: Duration) -> String {
        let deadline = Instant::now() + max;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            if !self.pending.is_empty() {
                let p = std::mem::take(&mut self.pending);
                if let Err(e) = flv.push(&p) {
                    return format!("bad FLV: {e}");
                }
            }
            if self.closed {
                return "closed".into();
            }
            let now = Instant::now();
            if now >= deadline {
                return "max".into();
            }
            self.stream
                .set_read_timeout(Some(idle.min(deadline - now).max(Duration::from_millis(1))))
                .unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                }
                Ok(n) => {
                    let data = buf[..n].to_vec();
                    if self.chunked {
                        self.absorb(&data);
                    } else {
                        self.pending.extend_from_slice(&data);
                    }
                }
                Err(e) if is_timeout(&e) => {
                    if Instant::now() >= deadline {
                        return "max".into();
                    }
                    return "idle".into();
                }
                Err(e) => {
                    self.closed = true;
                    let p = std::mem::take(&mut self.pending);
                    let _ = flv.push(&p);
                    return format!("reset: {e}");
                }
            }
        }
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}
