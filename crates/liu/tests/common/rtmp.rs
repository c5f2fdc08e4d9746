//! Raw RTMP client: a plain handshake, hand-built chunks and a chunk stream reader.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::amf::{AmfValue, amf0, connect_command};
use super::http::{find, is_timeout};

/// Reproducible pseudo-random bytes for hostile inputs (xorshift64; no crate needed).
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

/// A deliberately dumb RTMP client: plain handshake and hand-built chunks, plus just enough of a
/// chunk stream reader and AMF0 decoder to follow a session (connect, createStream, play,
/// closeStream) message by message.
pub struct RawRtmp {
    pub stream: TcpStream,
    rng: XorShift,
    rx: ChunkReader,
    next_tx: f64,
}

impl RawRtmp {
    pub fn connect(addr: &str) -> RawRtmp {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_connect(addr: &str) -> Result<RawRtmp, String> {
        static SEED: AtomicUsize = AtomicUsize::new(1);
        let sa = addr
            .to_socket_addrs()
            .map_err(|e| format!("resolve {addr}: {e}"))?
            .next()
            .unwrap();
        let stream = TcpStream::connect_timeout(&sa, Duration::from_secs(3))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.set_nodelay(true);
        let seed = SEED.fetch_add(1, Ordering::SeqCst) as u64;
        Ok(RawRtmp {
            stream,
            rng: XorShift::new(seed),
            rx: ChunkReader::default(),
            next_tx: 2.0,
        })
    }

    /// Makes [`RawRtmp::random_bytes`] deterministic from here on.
    pub fn seed_rng(&mut self, seed: u64) {
        self.rng = XorShift::new(seed);
    }

    /// Pseudo-random bytes.
    pub fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        self.rng.bytes(n)
    }

    /// Writes everything; errors (the server may already have closed) are returned, not fatal.
    pub fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(data)
    }

    /// C0 (version 3) + C1 (time, zero, 1528 random bytes); reads S0 S1 S2; sends C2 = S1.
    pub fn handshake(&mut self) -> Result<(), String> {
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        let r = self.random_bytes(1528);
        c0c1.extend_from_slice(&r);
        self.send(&c0c1).map_err(|e| format!("send C0C1: {e}"))?;
        let mut s = vec![0u8; 1 + 1536 * 2];
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        self.stream
            .read_exact(&mut s)
            .map_err(|e| format!("read S0S1S2: {e}"))?;
        if s[0] != 3 {
            return Err(format!("S0 is {} (expected 3)", s[0]));
        }
        let s1 = s[1..1537].to_vec();
        self.send(&s1).map_err(|e| format!("send C2: {e}"))
    }

    /// Sends a message as a type-0 chunk on `csid` (2..=63) followed by type-3 continuation
    /// chunks of `chunk_size` bytes.
    pub fn send_message(
        &mut self,
        csid: u8,
        type_id: u8,
        msid: u32,
        payload: &[u8],
        chunk_size: usize,
    ) -> std::io::Result<()> {
        self.send(&message_chunks(
            csid,
            type_id,
            msid,
            payload.len() as u32,
            payload,
            chunk_size,
        ))
    }

    /// Sends `connect(1, {app, ...})` and waits (5 s) for its `_result`.
    pub fn connect_app(&mut self, app: &str) -> Result<(), String> {
        let tc_url = format!("rtmp://{}/{}", self.stream.peer_addr().unwrap(), app);
        self.send_message(3, 20, 0, &connect_command(app, &tc_url), 128)
            .map_err(|e| format!("send connect: {e}"))?;
        let answer = self.wait_answer(1.0, Duration::from_secs(5))?;
        match answer.command_name().as_deref() {
            Some("_result") => Ok(()),
            _ => Err(format!("connect answered with {:?}", answer.amf())),
        }
    }

    /// Sends `connect(1, {app, tcUrl, ...extra})` (e.g. Enhanced RTMP's `fourCcList`) and waits
    /// (5 s) for its `_result`, which it returns.
    pub fn connect_app_with(
        &mut self,
        app: &str,
        extra: Vec<(String, AmfValue)>,
    ) -> Result<RtmpMessage, String> {
        let tc_url = format!("rtmp://{}/{}", self.stream.peer_addr().unwrap(), app);
        let mut props = vec![
            ("app".to_string(), AmfValue::Str(app.into())),
            ("tcUrl".to_string(), AmfValue::Str(tc_url)),
        ];
        props.extend(extra);
        let mut p = Vec::new();
        amf0::string(&mut p, "connect");
        amf0::number(&mut p, 1.0);
        AmfValue::Object(props).encode(&mut p);
        self.send_message(3, 20, 0, &p, 128)
            .map_err(|e| format!("send connect: {e}"))?;
        let answer = self.wait_answer(1.0, Duration::from_secs(5))?;
        match answer.command_name().as_deref() {
            Some("_result") => Ok(answer),
            _ => Err(format!("connect answered with {:?}", answer.amf())),
        }
    }

    /// Sends a command message (AMF0, type 20) on chunk stream 3: `name`, `tx`, null, `args`.
    pub fn send_command(
        &mut self,
        msid: u32,
        name: &str,
        tx: f64,
        args: &[AmfValue],
    ) -> std::io::Result<()> {
        self.send_message(3, 20, msid, &command_payload(name, tx, args), 128)
    }

    fn take_tx(&mut self) -> f64 {
        let tx = self.next_tx;
        self.next_tx += 1.0;
        tx
    }

    /// `createStream`; returns the message stream id of its `_result`.
    pub fn create_stream(&mut self) -> Result<u32, String> {
        let tx = self.take_tx();
        self.send_command(0, "createStream", tx, &[])
            .map_err(|e| format!("send createStream: {e}"))?;
        let answer = self.wait_answer(tx, Duration::from_secs(5))?;
        let values = answer.amf();
        match (answer.command_name().as_deref(), values.get(3)) {
            (Some("_result"), Some(AmfValue::Number(id))) => Ok(*id as u32),
            _ => Err(format!("createStream answered with {values:?}")),
        }
    }

    /// `play(name, -2)` on message stream `stream_id` (no wait).
    pub fn play(&mut self, stream_id: u32, name: &str) -> Result<(), String> {
        let tx = self.take_tx();
        self.send_command(
            stream_id,
            "play",
            tx,
            &[AmfValue::Str(name.into()), AmfValue::Number(-2.0)],
        )
        .map_err(|e| format!("send play: {e}"))
    }

    /// `closeStream` on message stream `stream_id` (no answer expected).
    pub fn close_stream(&mut self, stream_id: u32) -> Result<(), String> {
        self.send_command(stream_id, "closeStream", 0.0, &[])
            .map_err(|e| format!("send closeStream: {e}"))
    }

    /// Reads whole messages until one satisfies `pred` (returned), the connection ends or
    /// `limit` passes (Err naming `what` and the commands seen meanwhile).
    pub fn wait_message(
        &mut self,
        what: &str,
        limit: Duration,
        mut pred: impl FnMut(&RtmpMessage) -> bool,
    ) -> Result<RtmpMessage, String> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        let mut media = 0usize;
        loop {
            while let Some(m) = self
                .rx
                .next()
                .map_err(|e| format!("waiting for {what}: {e}"))?
            {
                if pred(&m) {
                    return Ok(m);
                }
                match m.type_id {
                    8 | 9 => media += 1,
                    _ => seen.push(m.describe()),
                }
            }
            let now = Instant::now();
            let ended = if now >= deadline {
                format!("not within {limit:?}")
            } else {
                match self.read_into_rx(deadline - now) {
                    Ok(_) => continue,
                    Err(e) => e,
                }
            };
            return Err(format!(
                "waiting for {what}: {ended}; meanwhile {media} audio/video messages and {seen:?}"
            ));
        }
    }

    /// The `_result`/`_error` with transaction id `tx`.
    pub fn wait_answer(&mut self, tx: f64, limit: Duration) -> Result<RtmpMessage, String> {
        self.wait_message(&format!("the answer to transaction {tx}"), limit, |m| {
            matches!(m.command_name().as_deref(), Some("_result" | "_error"))
                && m.amf().get(1) == Some(&AmfValue::Number(tx))
        })
    }

    /// An `onStatus` on message stream `stream_id` whose info object has `code`.
    pub fn wait_status(
        &mut self,
        stream_id: u32,
        code: &str,
        limit: Duration,
    ) -> Result<RtmpMessage, String> {
        self.wait_message(
            &format!("onStatus {code} on stream {stream_id}"),
            limit,
            |m| m.stream_id == stream_id && m.status_code().as_deref() == Some(code),
        )
    }

    /// An audio (8) or video (9) message on message stream `stream_id`.
    pub fn wait_media(
        &mut self,
        stream_id: u32,
        type_id: u8,
        limit: Duration,
    ) -> Result<RtmpMessage, String> {
        let what = if type_id == 9 { "video" } else { "audio" };
        self.wait_message(
            &format!("a {what} message on stream {stream_id}"),
            limit,
            |m| m.stream_id == stream_id && m.type_id == type_id,
        )
    }

    /// Keeps reading (and parsing) whatever arrives for `duration`; Err if the server closes
    /// the connection meanwhile (with when).
    pub fn stays_open(&mut self, duration: Duration) -> Result<(), String> {
        let start = Instant::now();
        let deadline = start + duration;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            if let Err(e) = self.read_into_rx(deadline - now) {
                if e.starts_with("no data") {
                    return Ok(());
                }
                return Err(format!(
                    "{e} {:?} into a wait of {duration:?}",
                    start.elapsed()
                ));
            }
            // Drop what was read (the caller is not interested), keeping the chunk state.
            while let Some(_m) = self.rx.next()? {}
        }
    }

    /// One read into the chunk reader: Ok(bytes), or Err("closed by the server" / "reset: ..."
    /// / "no data within ...").
    fn read_into_rx(&mut self, limit: Duration) -> Result<usize, String> {
        let mut buf = [0u8; 65536];
        self.stream
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))
            .unwrap();
        match self.stream.read(&mut buf) {
            Ok(0) => Err("connection closed by the server".into()),
            Ok(n) => {
                self.rx.buf.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            Err(e) if is_timeout(&e) => Err(format!("no data within {limit:?}")),
            Err(e) => Err(format!("connection reset ({e})")),
        }
    }

    /// Reads until `needle` shows up in the received bytes (true), the connection ends, or
    /// `limit` passes (false for both).
    pub fn read_until_contains(&mut self, needle: &[u8], limit: Duration) -> Result<bool, String> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            if find(&got, needle).is_some() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            self.stream.set_read_timeout(Some(deadline - now)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if is_timeout(&e) => return Ok(false),
                Err(_) => return Ok(false),
            }
        }
    }

    /// Drains whatever the server sends until it closes the connection (EOF or reset).
    /// Ok(time it took), or Err if it is still open after `limit`.
    pub fn expect_closed(&mut self, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let deadline = start + limit;
        let mut buf = [0u8; 65536];
        let mut drained = 0usize;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "connection still open after {limit:?} ({drained} bytes received)"
                ));
            }
            self.stream.set_read_timeout(Some(deadline - now)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(start.elapsed()),
                Ok(n) => drained += n,
                Err(e) if is_timeout(&e) => {}
                Err(_) => return Ok(start.elapsed()),
            }
        }
    }

    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A whole RTMP message as [`RawRtmp`] received it.
#[derive(Clone, Debug)]
pub struct RtmpMessage {
    pub csid: u32,
    pub type_id: u8,
    pub stream_id: u32,
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

impl RtmpMessage {
    /// The AMF0 values of a command (20) or data (18) message; empty for other types. Values
    /// that do not decode end the list.
    pub fn amf(&self) -> Vec<AmfValue> {
        if !matches!(self.type_id, 18 | 20) {
            return vec![];
        }
        let mut r = &self.payload[..];
        let mut out = Vec::new();
        while !r.is_empty() {
            match AmfValue::decode(&mut r, 0) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    }
    /// Name of a command message.
    pub fn command_name(&self) -> Option<String> {
        if self.type_id != 20 {
            return None;
        }
        match self.amf().into_iter().next() {
            Some(AmfValue::Str(s)) => Some(s),
            _ => None,
        }
    }
    /// `code` of an `onStatus` command's info object.
    pub fn status_code(&self) -> Option<String> {
        if self.command_name().as_deref() != Some("onStatus") {
            return None;
        }
        self.amf().iter().find_map(|v| match v.get("code") {
            Some(AmfValue::Str(c)) => Some(c.clone()),
            _ => None,
        })
    }
    /// Short text for error messages: "onStatus NetStream.Play.Start (stream 1)", "type 4".
    pub fn describe(&self) -> String {
        match (self.command_name(), self.status_code()) {
            (Some(n), Some(c)) => format!("{n} {c} (stream {})", self.stream_id),
            (Some(n), None) => format!("{n} (stream {})", self.stream_id),
            _ => format!("type {} (stream {})", self.type_id, self.stream_id),
        }
    }
}

/// The receiving half of a chunk stream (RTMP §5.3): all four header formats, extended
/// timestamps, Set Chunk Size and Abort from the peer.
struct ChunkReader {
    buf: Vec<u8>,
    chunk_size: usize,
    streams: HashMap<u32, ChunkStreamState>,
}

impl Default for ChunkReader {
    fn default() -> Self {
        ChunkReader {
            buf: Vec::new(),
            chunk_size: 128,
            streams: HashMap::new(),
        }
    }
}

#[derive(Clone, Default)]
struct ChunkStreamState {
    timestamp: u32,
    delta: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    extended: bool,
    partial: Vec<u8>,
}

impl ChunkReader {
    /// The next complete message, Ok(None) when more bytes are needed.
    fn next(&mut self) -> Result<Option<RtmpMessage>, String> {
        loop {
            let b = &self.buf;
            if b.is_empty() {
                return Ok(None);
            }
            let fmt = b[0] >> 6;
            let (csid, mut p) = match b[0] & 0x3f {
                0 if b.len() >= 2 => (64 + b[1] as u32, 2),
                1 if b.len() >= 3 => (64 + b[1] as u32 + 256 * b[2] as u32, 3),
                0 | 1 => return Ok(None),
                c => (c as u32, 1),
            };
            let hlen = [11, 7, 3, 0][fmt as usize];
            if b.len() < p + hlen {
                return Ok(None);
            }
            let mut st = match self.streams.get(&csid) {
                Some(st) => st.clone(),
                None if fmt == 0 => ChunkStreamState::default(),
                None => {
                    return Err(format!(
                        "the server sent a type-{fmt} chunk on chunk stream {csid} with no header before"
                    ));
                }
            };
            let h = &b[p..p + hlen];
            let u24 = |x: &[u8]| u32::from_be_bytes([0, x[0], x[1], x[2]]);
            let ts_field = (fmt <= 2).then(|| u24(&h[0..3]));
            if fmt <= 1 {
                st.length = u24(&h[3..6]) as usize;
                st.type_id = h[6];
            }
            if fmt == 0 {
                st.stream_id = u32::from_le_bytes(h[7..11].try_into().unwrap());
            }
            p += hlen;
            let extended = match ts_field {
                Some(t) => t == 0xff_ffff,
                None => st.extended,
            };
            let mut ts = ts_field.unwrap_or(0);
            if extended {
                if b.len() < p + 4 {
                    return Ok(None);
                }
                ts = u32::from_be_bytes(b[p..p + 4].try_into().unwrap());
                p += 4;
            }
            st.extended = extended;
            let starting = st.partial.is_empty();
            match fmt {
                0 => st.timestamp = ts,
                1 | 2 => {
                    st.delta = ts;
                    st.timestamp = st.timestamp.wrapping_add(ts);
                }
                _ if starting => st.timestamp = st.timestamp.wrapping_add(st.delta),
                _ => {}
            }
            let want = self.chunk_size.min(st.length - st.partial.len());
            if b.len() < p + want {
                return Ok(None);
            }
            st.partial.extend_from_slice(&b[p..p + want]);
            self.buf.drain(..p + want);
            if st.partial.len() < st.length {
                self.streams.insert(csid, st);
                continue;
            }
            let payload = std::mem::take(&mut st.partial);
            let msg = RtmpMessage {
                csid,
                type_id: st.type_id,
                stream_id: st.stream_id,
                timestamp: st.timestamp,
                payload,
            };
            self.streams.insert(csid, st);
            match (msg.type_id, msg.payload.get(..4)) {
                (1, Some(x)) => {
                    self.chunk_size =
                        (u32::from_be_bytes(x.try_into().unwrap()) & 0x7fff_ffff) as usize;
                }
                (2, Some(x)) => {
                    let aborted = u32::from_be_bytes(x.try_into().unwrap());
                    if let Some(s) = self.streams.get_mut(&aborted) {
                        s.partial.clear();
                    }
                }
                _ => {}
            }
            return Ok(Some(msg));
        }
    }
}

/// Chunks of one message: a type-0 header on `csid`, then type-3 headers every `chunk_size`
/// bytes. `length` is written as given (it may lie about `payload.len()`).
pub fn message_chunks(
    csid: u8,
    type_id: u8,
    msid: u32,
    length: u32,
    payload: &[u8],
    chunk_size: usize,
) -> Vec<u8> {
    assert!((2..=63).contains(&csid));
    let mut out = vec![csid]; // fmt 0
    out.extend_from_slice(&[0, 0, 0]); // timestamp
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&msid.to_le_bytes());
    for (i, c) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            out.push(0xc0 | csid);
        }
        out.extend_from_slice(c);
    }
    out
}

/// An AMF0 command message's payload: `name`, `tx`, null, `args`.
pub fn command_payload(name: &str, tx: f64, args: &[AmfValue]) -> Vec<u8> {
    let mut p = Vec::new();
    amf0::string(&mut p, name);
    amf0::number(&mut p, tx);
    amf0::null(&mut p);
    for a in args {
        a.encode(&mut p);
    }
    p
}

/// Set Chunk Size (protocol control message type 1) on csid 2.
pub fn set_chunk_size(size: u32) -> Vec<u8> {
    message_chunks(2, 1, 0, 4, &size.to_be_bytes(), 128)
}
