//! Minimal HTTP/1.1 client pieces for HTTP-FLV and HLS viewers: the request,
//! the response head, a streaming `Transfer-Encoding: chunked` decoder, and
//! a reader for one response of a kept-alive exchange.
//! Everything is bounded.

use crate::error::BenchError;

/// Largest response head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;

/// A GET request for `path` (with its query) on `host` (`host:port`).
pub fn request(host: &str, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: liu-bench/{}\r\nAccept: */*\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// A WebSocket opening handshake for `path` (RFC 6455 section 4.1).
pub fn websocket_request(host: &str, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: bGl1LWJlbmNoLWtleS0xMg==\r\nSec-WebSocket-Version: 13\r\n\
         User-Agent: liu-bench/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// A server's WebSocket frames (RFC 6455 section 5.2, never masked): the
/// payloads of data frames are passed on as they arrive, without waiting
/// for whole messages; a close frame ends the stream.
#[derive(Debug, Default)]
pub struct Deframer {
    head: Vec<u8>,
    /// Payload bytes left in the current frame.
    left: u64,
    /// The current frame carries data (not control).
    data: bool,
    done: bool,
}

impl Deframer {
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Takes bytes as received; `out` gets the data frames' payload bytes.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        out: &mut impl FnMut(&[u8]) -> Result<(), BenchError>,
    ) -> Result<(), BenchError> {
        while !data.is_empty() && !self.done {
            if self.left > 0 {
                let n = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                if self.data {
                    out(&data[..n])?;
                }
                self.left -= n as u64;
                data = &data[n..];
                continue;
            }
            self.head.push(data[0]);
            data = &data[1..];
            let h = &self.head;
            if h.len() < 2 {
                continue;
            }
            if h[1] & 0x80 != 0 {
                return Err(BenchError::Http("masked WebSocket frame from the server"));
            }
            let need = match h[1] & 0x7f {
                126 => 4,
                127 => 10,
                _ => 2,
            };
            if h.len() < need {
                continue;
            }
            self.left = match need {
                4 => u64::from(u16::from_be_bytes([h[2], h[3]])),
                10 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
                _ => u64::from(h[1] & 0x7f),
            };
            let opcode = h[0] & 0x0f;
            self.data = opcode <= 2;
            self.done = opcode == 8;
            self.head.clear();
        }
        Ok(())
    }
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Chunked,
    Length(u64),
    /// Until the server closes the connection.
    Close,
}

/// The parts of a response head a viewer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub body: BodyKind,
    /// Bytes of the head, blank line included.
    pub len: usize,
    /// The server keeps the connection open after this response.
    pub keep_alive: bool,
}

/// Parses the response head at the start of `buf`; `None` until complete.
pub fn parse_head(buf: &[u8]) -> Result<Option<ResponseHead>, BenchError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(BenchError::Http("response head too long"));
        }
        return Ok(None);
    };
    if end > MAX_HEAD {
        return Err(BenchError::Http("response head too long"));
    }
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| BenchError::Http("response head is not text"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(BenchError::Http("not an HTTP/1.x response"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(BenchError::Http("bad status line"))?;
    let mut body = BodyKind::Close;
    let mut keep_alive = version == "HTTP/1.1";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            body = BodyKind::Chunked;
        } else if name.eq_ignore_ascii_case("content-length") && body != BodyKind::Chunked {
            let n = value
                .parse()
                .map_err(|_| BenchError::Http("bad Content-Length"))?;
            body = BodyKind::Length(n);
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            keep_alive = match value.as_str() {
                "close" => false,
                "keep-alive" => true,
                _ => keep_alive,
            };
        }
    }
    Ok(Some(ResponseHead {
        status,
        body,
        len: end + 4,
        keep_alive: keep_alive && body != BodyKind::Close,
    }))
}

/// Reads one response of a request/response exchange on a kept-alive
/// connection: the head (bounded), then the body, handed on as it arrives.
#[derive(Debug)]
pub struct ResponseReader {
    head: Vec<u8>,
    state: Reading,
}

#[derive(Debug)]
enum Reading {
    Head,
    Body(ResponseHead, BodyLeft),
    Done(ResponseHead),
}

#[derive(Debug)]
enum BodyLeft {
    Chunked(Dechunker),
    Length(u64),
    Close,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseReader {
    pub fn new() -> Self {
        ResponseReader {
            head: Vec::new(),
            state: Reading::Head,
        }
    }

    /// The head, once read.
    pub fn head(&self) -> Option<&ResponseHead> {
        match &self.state {
            Reading::Head => None,
            Reading::Body(h, _) | Reading::Done(h) => Some(h),
        }
    }

    /// Whether the whole response has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, Reading::Done(_))
    }

    /// Takes bytes from the socket, passing body bytes to `on_body`. Bytes
    /// after the end of the response are an error (nothing is pipelined).
    pub fn feed(
        &mut self,
        mut data: &[u8],
        on_body: &mut impl FnMut(&[u8]) -> Result<(), BenchError>,
    ) -> Result<(), BenchError> {
        if let Reading::Head = self.state {
            let before = self.head.len();
            let room = (MAX_HEAD + 4).saturating_sub(before);
            self.head.extend_from_slice(&data[..data.len().min(room)]);
            let Some(head) = parse_head(&self.head)? else {
                return Ok(());
            };
            data = &data[head.len - before..];
            self.head = Vec::new();
            let left = match head.body {
                BodyKind::Chunked => BodyLeft::Chunked(Dechunker::new()),
                BodyKind::Length(n) => BodyLeft::Length(n),
                BodyKind::Close => BodyLeft::Close,
            };
            self.state = Reading::Body(head, left);
        }
        let Reading::Body(head, left) = &mut self.state else {
            return if data.is_empty() {
                Ok(())
            } else {
                Err(BenchError::Http("bytes after the end of the response"))
            };
        };
        let done = match left {
            BodyLeft::Chunked(d) => {
                d.feed(data, on_body)?;
                d.is_done()
            }
            BodyLeft::Length(n) => {
                let take = usize::try_from(*n).unwrap_or(usize::MAX).min(data.len());
                on_body(&data[..take])?;
                *n -= take as u64;
                if take < data.len() {
                    return Err(BenchError::Http("bytes after the end of the response"));
                }
                *n == 0
            }
            BodyLeft::Close => {
                on_body(data)?;
                false
            }
        };
        if done {
            self.state = Reading::Done(head.clone());
        }
        Ok(())
    }

    /// The connection closed: ends a close-delimited body, else an error.
    pub fn closed(&mut self) -> Result<(), BenchError> {
        match &self.state {
            Reading::Body(head, BodyLeft::Close) => {
                self.state = Reading::Done(head.clone());
                Ok(())
            }
            Reading::Done(_) => Ok(()),
            _ => Err(BenchError::Http(
                "the server closed the connection mid-response",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// Reading the hex size; `digits` so far.
    Size {
        digits: u8,
    },
    /// After the size: extensions up to the end of the line.
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines, `line` bytes into the current one.
    Trailer {
        line: usize,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// Streaming decoder of a chunked body (RFC 9112 §7.1).
#[derive(Debug)]
pub struct Dechunker {
    state: Chunked,
    size: u64,
    line: usize,
}

impl Default for Dechunker {
    fn default() -> Self {
        Self::new()
    }
}

impl Dechunker {
    pub fn new() -> Self {
        Dechunker {
            state: Chunked::Size { digits: 0 },
            size: 0,
            line: 0,
        }
    }

    /// Whether the last chunk and the trailer have been read.
    pub fn is_done(&self) -> bool {
        self.state == Chunked::Done
    }

    /// Consumes `input`, passing body data to `on_data` as slices of it.
    pub fn feed(
        &mut self,
        input: &[u8],
        on_data: &mut impl FnMut(&[u8]) -> Result<(), BenchError>,
    ) -> Result<(), BenchError> {
        let mut pos = 0;
        while pos < input.len() {
            if self.state == Chunked::Data {
                let n = usize::try_from(self.size)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - pos);
                on_data(&input[pos..pos + n])?;
                pos += n;
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = Chunked::DataCr;
                }
                continue;
            }
            let b = input[pos];
            pos += 1;
            self.line += 1;
            if self.line > MAX_LINE {
                return Err(BenchError::Http("chunk size line too long"));
            }
            self.state = match self.state {
                Chunked::Size { digits } => match (b as char).to_digit(16) {
                    Some(d) if digits < 15 => {
                        self.size = (self.size << 4) | u64::from(d);
                        Chunked::Size { digits: digits + 1 }
                    }
                    Some(_) => return Err(BenchError::Http("chunk size too large")),
                    None if digits == 0 => return Err(BenchError::Http("bad chunk size")),
                    None => match b {
                        b'\r' => Chunked::SizeLf,
                        b'\n' => self.size_line_done(),
                        b';' | b' ' | b'\t' => Chunked::Ext,
                        _ => return Err(BenchError::Http("bad chunk size")),
                    },
                },
                Chunked::Ext => match b {
                    b'\r' => Chunked::SizeLf,
                    b'\n' => self.size_line_done(),
                    _ => Chunked::Ext,
                },
                Chunked::SizeLf if b == b'\n' => self.size_line_done(),
                Chunked::DataCr if b == b'\r' => Chunked::DataLf,
                Chunked::DataCr | Chunked::DataLf if b == b'\n' => self.next_size(),
                Chunked::Trailer { line } => match b {
                    b'\r' => Chunked::TrailerLf { empty: line == 0 },
                    b'\n' if line == 0 => Chunked::Done,
                    b'\n' => Chunked::Trailer { line: 0 },
                    _ => Chunked::Trailer { line: line + 1 },
                },
                Chunked::TrailerLf { empty } if b == b'\n' => {
                    self.line = 0;
                    if empty {
                        Chunked::Done
                    } else {
                        Chunked::Trailer { line: 0 }
                    }
                }
                Chunked::Done => return Ok(()),
                _ => return Err(BenchError::Http("bad chunked framing")),
            };
        }
        Ok(())
    }

    fn size_line_done(&mut self) -> Chunked {
        self.line = 0;
        if self.size == 0 {
            Chunked::Trailer { line: 0 }
        } else {
            Chunked::Data
        }
    }

    fn next_size(&mut self) -> Chunked {
        self.line = 0;
        self.size = 0;
        Chunked::Size { digits: 0 }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dechunk(bytes: &[u8], cut: usize) -> (Vec<u8>, bool) {
        let mut d = Dechunker::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(cut.max(1)) {
            d.feed(piece, &mut |data| {
                out.extend_from_slice(data);
                Ok(())
            })
            .unwrap();
        }
        (out, d.is_done())
    }

    proptest! {
        #[test]
        fn dechunks_any_split(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..600), 0..20), cut in 1usize..700, upper in any::<bool>(), ext in any::<bool>()) {
            let mut wire = Vec::new();
            for c in &chunks {
                let size = if upper { format!("{:X}", c.len()) } else { format!("{:x}", c.len()) };
                wire.extend_from_slice(size.as_bytes());
                if ext {
                    wire.extend_from_slice(b";name=value");
                }
                wire.extend_from_slice(b"\r\n");
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
            let (out, done) = dechunk(&wire, cut);
            prop_assert_eq!(out, chunks.concat());
            prop_assert!(done);
        }
    }

    #[test]
    fn bad_framing_is_an_error() {
        let mut d = Dechunker::new();
        assert!(d.feed(b"zz\r\n", &mut |_| Ok(())).is_err());
        let mut d = Dechunker::new();
        assert!(d.feed(b"3\r\nabcX", &mut |_| Ok(())).is_err());
        let mut d = Dechunker::new();
        assert!(d.feed(b"1234567890abcdef0\r\n", &mut |_| Ok(())).is_err());
        let mut d = Dechunker::new();
        assert!(d.feed(&[b'1'; 20], &mut |_| Ok(())).is_err());
    }

    #[test]
    fn reads_responses_in_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 1..wire.len() {
            let mut r = ResponseReader::new();
            let mut body = Vec::new();
            for piece in wire.chunks(cut) {
                r.feed(piece, &mut |b| {
                    body.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            }
            assert!(r.is_done(), "cut {cut}");
            assert_eq!(body, b"hello");
            assert!(r.head().unwrap().keep_alive);
        }
        let mut r = ResponseReader::new();
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n";
        r.feed(chunked, &mut |_| Ok(())).unwrap();
        assert!(r.is_done());
        assert_eq!(r.head().unwrap().status, 404);
        let mut r = ResponseReader::new();
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab";
        assert!(r.feed(extra, &mut |_| Ok(())).is_err());
        let mut r = ResponseReader::new();
        r.feed(b"HTTP/1.0 200 OK\r\n\r\nbody", &mut |_| Ok(()))
            .unwrap();
        assert!(!r.is_done() && !r.head().unwrap().keep_alive);
        r.closed().unwrap();
        assert!(r.is_done());
        let mut r = ResponseReader::new();
        r.feed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
            &mut |_| Ok(()),
        )
        .unwrap();
        assert!(r.closed().is_err());
    }

    #[test]
    fn response_heads() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\ntransfer-encoding: chunked\r\n\r\nFLV";
        let h = parse_head(head).unwrap().unwrap();
        assert_eq!(
            (h.status, h.body, h.len),
            (200, BodyKind::Chunked, head.len() - 3)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n").unwrap(),
            None
        );
        let h = parse_head(b"HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.body), (404, BodyKind::Length(10)));
        let h = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyKind::Close);
        assert!(parse_head(b"RTSP/1.0 200 OK\r\n\r\n").is_err());
        assert!(parse_head(&vec![b'a'; MAX_HEAD + 1]).is_err());
        assert!(
            request("127.0.0.1:8080", "/live/a.flv?x=1")
                .starts_with("GET /live/a.flv?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
        );
    }

    #[test]
    fn websocket_frames_in_any_pieces() {
        // A binary frame of 3 bytes, one of 300 (16-bit length), a ping, a close.
        let mut wire = vec![0x82, 3, b'a', b'b', b'c', 0x82, 126, 1, 44];
        wire.extend(std::iter::repeat_n(b'x', 300));
        wire.extend([0x89, 2, b'p', b'p', 0x88, 2, 3, 232, 0x82, 1, b'z']);
        for piece in [1, 2, 7, wire.len()] {
            let mut d = Deframer::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(piece) {
                d.feed(chunk, &mut |p| {
                    got.extend_from_slice(p);
                    Ok(())
                })
                .unwrap();
            }
            assert!(d.is_done());
            assert_eq!(got.len(), 303, "pieces of {piece}");
            assert_eq!(&got[..3], b"abc");
        }
        let mut d = Deframer::default();
        assert!(
            d.feed(&[0x82, 0x81, 0, 0, 0, 0, 1], &mut |_| Ok(()))
                .is_err()
        );
    }
}
