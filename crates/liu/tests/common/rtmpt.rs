//! A small RTMPT client for the tunnel's own tests (sessions, sequence numbers, timeouts,
//! memory): raw HTTP POSTs on one kept-alive connection, with liu-rtmp's client handshake and a
//! hand-built `connect` inside.

use std::time::{Duration, Instant};

use liu_rtmp::handshake::ClientHandshake;

use super::amf::connect_command;
use super::http::RawHttp;
use super::rtmp::message_chunks;

pub struct RtmptClient {
    addr: String,
    pub http: RawHttp,
    pub id: String,
    pub seq: u64,
    /// Server bytes fetched so far (interval bytes stripped).
    pub received: Vec<u8>,
}

impl RtmptClient {
    /// `POST /open/1` on a new connection to `addr`.
    pub fn open(addr: &str) -> Result<RtmptClient, String> {
        let mut http = RawHttp::connect(addr);
        let (status, body) = http.post("/open/1", &[0])?;
        if status != 200 {
            return Err(format!("open: HTTP {status}"));
        }
        let id = String::from_utf8_lossy(&body).trim().to_string();
        Ok(RtmptClient {
            addr: addr.to_string(),
            http,
            id,
            seq: 0,
            received: Vec::new(),
        })
    }

    /// `POST /CMD/ID/SEQ` with the next sequence number; the answer's status and body.
    /// The server closes kept-alive connections idle for its header timeout; like FFmpeg's HTTP
    /// client, this one then connects again.
    pub fn request(&mut self, cmd: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let path = format!("/{cmd}/{}/{}", self.id, self.seq);
        self.seq += 1;
        match self.http.post(&path, body) {
            Err(e) if e.contains("closed before a response head") => {
                self.http = RawHttp::connect(&self.addr);
                self.http.post(&path, body)
            }
            other => other,
        }
    }

    /// A `send` or `idle` whose answer must be 200; keeps the server bytes. Returns the
    /// polling-interval byte.
    pub fn exchange(&mut self, cmd: &str, body: &[u8]) -> Result<u8, String> {
        let (status, answer) = self.request(cmd, body)?;
        if status != 200 || answer.is_empty() {
            return Err(format!("{cmd}: HTTP {status}, {} bytes", answer.len()));
        }
        self.received.extend_from_slice(&answer[1..]);
        Ok(answer[0])
    }

    /// Polls until `received` holds `n` bytes (within `limit`).
    pub fn poll_until(&mut self, n: usize, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        while self.received.len() < n {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} of {n} bytes within {limit:?}",
                    self.received.len()
                ));
            }
            self.exchange("idle", &[0])?;
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The RTMP handshake and `connect` to `app` through the tunnel, up to the server's
    /// `NetConnection.Connect.Success`.
    pub fn handshake_and_connect(&mut self, app: &str) -> Result<(), String> {
        let mut hs = ClientHandshake::new([7; 32], 0, true);
        let c0c1 = hs.take_output().unwrap();
        self.exchange("send", &c0c1)?;
        self.poll_until(1 + 2 * 1536, Duration::from_secs(5))?;
        let s = std::mem::take(&mut self.received);
        let used = hs.receive(&s).map_err(|e| e.to_string())?;
        if !hs.is_done() || used != s.len() {
            return Err("handshake not done".into());
        }
        let mut out = hs.take_output().unwrap().to_vec();
        let connect = connect_command(app, &format!("rtmpt://localhost/{app}"));
        out.extend(message_chunks(
            3,
            20,
            0,
            connect.len() as u32,
            &connect,
            128,
        ));
        self.exchange("send", &out)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while super::http::find(&self.received, b"Connection succeeded.").is_none() {
            if Instant::now() > deadline {
                return Err("no connect success".into());
            }
            self.exchange("idle", &[0])?;
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}
