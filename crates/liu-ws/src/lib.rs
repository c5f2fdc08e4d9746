//! The server side of WebSocket (RFC 6455), sans-IO: the opening
//! handshake's checks and answer (§4.2), frames the server sends (§5.2,
//! never masked), and a decoder for what a client sends (§5.2-§5.5: masked
//! frames, control frames of at most 125 bytes, no extensions).
//!
//! Liu's WebSocket-FLV viewers only receive: a client sends pings and a
//! close, nothing else. The decoder bounds every frame it will take.

use base64::Engine;
use bytes::Bytes;
use sha1::{Digest, Sha1};

/// The GUID a `Sec-WebSocket-Accept` is derived with (§4.2.2 step 5.4).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The only protocol version (§4.1, `Sec-WebSocket-Version`).
pub const VERSION: &str = "13";
/// Longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
pub const MAX_HEADER: usize = 14;
/// Longest control frame payload (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Frame opcodes (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong (§5.5).
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Why a handshake or a client's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("WebSocket handshake: {0}")]
    Handshake(&'static str),
    #[error("WebSocket handshake: version {0:?}, only 13 is spoken")]
    Version(String),
    #[error("client frame not masked (RFC 6455 section 5.1)")]
    Unmasked,
    #[error("client frame with reserved bits set and no extension negotiated")]
    Reserved,
    #[error("client frame with reserved opcode {0:#x}")]
    Opcode(u8),
    #[error("fragmented control frame")]
    FragmentedControl,
    #[error("{opcode:?} frame of {len} bytes, more than the {max} allowed")]
    TooLarge {
        opcode: Opcode,
        len: u64,
        max: usize,
    },
    #[error("close frame with a 1-byte payload")]
    BadClose,
}

/// What a client's opening handshake says (§4.2.1), as read from its request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeRequest<'a> {
    pub get: bool,
    pub http11: bool,
    /// `Upgrade`.
    pub upgrade: Option<&'a str>,
    /// `Connection`.
    pub connection: Option<&'a str>,
    /// `Sec-WebSocket-Key`.
    pub key: Option<&'a str>,
    /// `Sec-WebSocket-Version`.
    pub version: Option<&'a str>,
}

impl HandshakeRequest<'_> {
    /// True when the request asks for a WebSocket at all (`Upgrade:
    /// websocket`); [`HandshakeRequest::accept`] then says whether it may.
    pub fn wants_websocket(&self) -> bool {
        self.upgrade.is_some_and(|u| has_token(u, "websocket"))
    }

    /// The `Sec-WebSocket-Accept` of a valid handshake (§4.2.2).
    pub fn accept(&self) -> Result<String, WsError> {
        if !self.get {
            return Err(WsError::Handshake("not a GET"));
        }
        if !self.http11 {
            return Err(WsError::Handshake("not HTTP/1.1"));
        }
        if !self.wants_websocket() {
            return Err(WsError::Handshake("no Upgrade: websocket"));
        }
        if !self.connection.is_some_and(|c| has_token(c, "upgrade")) {
            return Err(WsError::Handshake("no Connection: Upgrade"));
        }
        let key = self
            .key
            .ok_or(WsError::Handshake("no Sec-WebSocket-Key"))?
            .trim();
        // A base64-encoded 16-byte value (§4.1 item 7).
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| WsError::Handshake("Sec-WebSocket-Key is not base64"))?;
        if decoded.len() != 16 {
            return Err(WsError::Handshake("Sec-WebSocket-Key is not 16 bytes"));
        }
        match self.version.map(str::trim) {
            Some(VERSION) => Ok(accept_key(key)),
            Some(v) => Err(WsError::Version(v.to_string())),
            None => Err(WsError::Version(String::new())),
        }
    }
}

/// True when the comma-separated header value has `token` (any case).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// `Sec-WebSocket-Accept` for `key` (§4.2.2 step 5.4).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Writes the header of an unmasked frame with `len` bytes of payload;
/// returns its length.
pub fn frame_header(opcode: Opcode, len: usize, out: &mut [u8; MAX_HEADER]) -> usize {
    out[0] = 0x80 | opcode.bits();
    if len < 126 {
        out[1] = len as u8;
        2
    } else if len <= usize::from(u16::MAX) {
        out[1] = 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// A whole control frame (at most 125 bytes of `payload` are sent).
pub fn control_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    let mut header = [0u8; MAX_HEADER];
    let n = frame_header(opcode, payload.len(), &mut header);
    let mut frame = Vec::with_capacity(n + payload.len());
    frame.extend_from_slice(&header[..n]);
    frame.extend_from_slice(payload);
    Bytes::from(frame)
}

/// A close frame with a status code (§7.4) and as much of `reason` as fits.
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    control_frame(Opcode::Close, &payload)
}

/// Status codes of close frames (§7.4.1).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

/// One frame a client sent, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    pub fin: bool,
    pub opcode: Opcode,
    pub payload: Vec<u8>,
}

impl ClientFrame {
    /// A close frame's status code (`None` when it has none).
    pub fn close_code(&self) -> Option<u16> {
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Decodes what a client sends into frames, taking none larger than
/// `max_payload` (and no control frame larger than §5.5 allows).
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_payload: usize,
}

impl FrameDecoder {
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            max_payload,
        }
    }

    /// Takes bytes the client sent; [`FrameDecoder::next_frame`] then
    /// returns the frames they complete.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, `None` while more bytes are needed. An
    /// error ends the connection: the client broke the protocol.
    pub fn next_frame(&mut self) -> Result<Option<ClientFrame>, WsError> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        if b[0] & 0x70 != 0 {
            return Err(WsError::Reserved);
        }
        let opcode = Opcode::from_bits(b[0] & 0x0f).ok_or(WsError::Opcode(b[0] & 0x0f))?;
        if b[1] & 0x80 == 0 {
            return Err(WsError::Unmasked);
        }
        if opcode.is_control() && !fin {
            return Err(WsError::FragmentedControl);
        }
        let (len, at) = match b[1] & 0x7f {
            126 if b.len() < 4 => return Ok(None),
            126 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() < 10 => return Ok(None),
            127 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            n => (u64::from(n), 2),
        };
        let max = if opcode.is_control() {
            MAX_CONTROL_PAYLOAD
        } else {
            self.max_payload
        };
        if len > max as u64 {
            return Err(WsError::TooLarge { opcode, len, max });
        }
        let len = len as usize;
        let total = at + 4 + len;
        if b.len() < total {
            return Ok(None);
        }
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        let payload: Vec<u8> = b[at + 4..total]
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ mask[i % 4])
            .collect();
        if opcode == Opcode::Close && payload.len() == 1 {
            return Err(WsError::BadClose);
        }
        self.buf.drain(..total);
        Ok(Some(ClientFrame {
            fin,
            opcode,
            payload,
        }))
    }
}

#[cfg(test)]
mod tests;
