//! The RTMP viewer: handshake (plain, or RTMPE type 6 with RC4 on every byte
//! after it), connect, createStream, play, then the chunk stream skimmed,
//! with acknowledgements and ping answers sent back. Over TLS for
//! `rtmps://`.

use std::time::Instant;

use bytes::BytesMut;
use liu_flv::amf0::{Amf0Limits, Amf0Value};
use liu_rtmp::chunk::write_type0_message;
use liu_rtmp::command::Command;
use liu_rtmp::control::{ControlMessage, UserControlEvent, type_id};
use liu_rtmp::handshake::{ClientHandshake, RtmpeCiphers};

use super::{Failure, Link, Phase, Tracker, ViewerConfig, connect, read_setup, write_all};
use crate::skim::{Message, RtmpSkimmer};
use crate::target::Security;

const TX_CONNECT: f64 = 1.0;
const TX_CREATE_STREAM: f64 = 2.0;
const TX_PLAY: f64 = 3.0;
/// Chunk stream of the commands and control messages we send.
const COMMAND_CSID: u32 = 3;
const CONTROL_CSID: u32 = 2;
/// We never change our outgoing chunk size.
const OUT_CHUNK_SIZE: u32 = 128;

pub(super) async fn play(config: &ViewerConfig, t: &mut Tracker) -> Result<(), Failure> {
    let mut sock = connect(config, t).await?;
    t.phase = Phase::Handshake;
    let mut seed = [0u8; 32];
    let _ = getrandom::fill(&mut seed);
    let mut hs = match config.target.security {
        Security::Rtmpe => ClientHandshake::new_encrypted(seed, 0, 6),
        _ => ClientHandshake::new(seed, 0, false),
    };
    let mut conn = Conn::new(config);
    if let Some(c0c1) = hs.take_output() {
        write_all(&mut sock, &c0c1, t.phase).await?;
    }
    while !hs.is_done() {
        let (start, phase) = (t.start, t.phase);
        let step = read_setup(
            config,
            start,
            phase,
            &mut sock,
            |data, now| -> Result<(), Failure> {
                let used = hs
                    .receive(data)
                    .map_err(|e| Failure::new("handshake", e.to_string()));
                let r = used.and_then(|used| {
                    if let Some(c2) = hs.take_output() {
                        conn.out.extend_from_slice(&c2);
                    }
                    if hs.is_done() {
                        conn.ciphers = hs.take_ciphers();
                        conn.send_connect();
                        conn.decrypt(&mut data[used..]);
                        conn.on_bytes(&data[used..], t, now)?;
                    }
                    Ok(())
                });
                t.after_read(data.len(), conn.skim.media_bytes(), now);
                r
            },
        )
        .await?;
        step.ok_or_else(|| Failure::new("handshake", "the server closed the connection"))??;
        conn.flush(&mut sock, t.phase).await?;
    }
    drop(hs); // its buffers are not needed for the rest of the session
    t.phase = Phase::Setup;
    while !conn.started {
        let (start, phase) = (t.start, t.phase);
        let step = read_setup(config, start, phase, &mut sock, |data, now| {
            conn.read(data, t, now)
        })
        .await?;
        step.ok_or_else(|| {
            Failure::new(
                "closed",
                format!("the server closed the connection during {}", t.phase.name()),
            )
        })??;
        conn.flush(&mut sock, t.phase).await?;
    }
    t.phase = Phase::Playing;
    loop {
        let phase = t.phase;
        match sock.read_some(|data, now| conn.read(data, t, now)).await {
            Ok(Some(r)) => r?,
            Ok(None) => return Ok(()),
            Err(e) => return Err(Failure::io(phase, &e)),
        }
        conn.flush(&mut sock, phase).await?;
    }
}

/// The protocol state of one RTMP viewer connection.
struct Conn<'a> {
    config: &'a ViewerConfig,
    skim: RtmpSkimmer,
    ctl: Control,
    out: BytesMut,
    started: bool,
    /// RTMPE: RC4 both ways, after the handshake.
    ciphers: Option<RtmpeCiphers>,
}

/// What reacts to non-media messages: the command dialogue and acks.
struct Control {
    out: BytesMut,
    window: u32,
    received: u64,
    acked: u64,
    started: bool,
    failure: Option<Failure>,
    stream: String,
}

impl<'a> Conn<'a> {
    fn new(config: &'a ViewerConfig) -> Self {
        Conn {
            config,
            skim: RtmpSkimmer::new(),
            ctl: Control {
                out: BytesMut::new(),
                window: 0,
                received: 0,
                acked: 0,
                started: false,
                failure: None,
                stream: config.target.stream.clone(),
            },
            out: BytesMut::new(),
            started: false,
            ciphers: None,
        }
    }

    fn send_connect(&mut self) {
        let target = &self.config.target;
        let object = Amf0Value::object([
            ("app", Amf0Value::string(target.app.clone())),
            ("flashVer", Amf0Value::string("LNX 9,0,124,2")),
            ("tcUrl", Amf0Value::string(target.tc_url.clone())),
            ("fpad", Amf0Value::Boolean(false)),
            ("capabilities", Amf0Value::Number(15.0)),
            ("audioCodecs", Amf0Value::Number(4071.0)),
            ("videoCodecs", Amf0Value::Number(252.0)),
            ("videoFunction", Amf0Value::Number(1.0)),
        ]);
        send_command(
            &mut self.ctl.out,
            0,
            &Command::new("connect", TX_CONNECT, object, vec![]),
        );
    }

    /// RTMPE: deciphers bytes received after the handshake, in place.
    fn decrypt(&mut self, data: &mut [u8]) {
        if let Some(c) = &mut self.ciphers {
            c.incoming.apply(data);
        }
    }

    /// Handles one socket read after the handshake.
    fn read(&mut self, data: &mut [u8], t: &mut Tracker, now: Instant) -> Result<(), Failure> {
        self.decrypt(data);
        let r = self.on_bytes(data, t, now);
        t.after_read(data.len(), self.skim.media_bytes(), now);
        r
    }

    /// Skims bytes received after the handshake.
    fn on_bytes(&mut self, data: &[u8], t: &mut Tracker, now: Instant) -> Result<(), Failure> {
        let ctl = &mut self.ctl;
        ctl.count_received(data.len());
        self.skim
            .feed(data, &mut |m: &Message<'_>| match m.type_id {
                type_id::AUDIO | type_id::VIDEO | type_id::AGGREGATE => t.on_message(m, now),
                _ => ctl.on_message(m),
            })?;
        if let Some(f) = self.ctl.failure.take() {
            return Err(f);
        }
        // Some servers send media without a NetStream.Play.Start.
        self.started = self.ctl.started || self.skim.media_bytes() > 0;
        Ok(())
    }

    /// Sends C2 (in `out`) and then the messages (in `ctl.out`, enciphered
    /// for RTMPE).
    async fn flush(&mut self, sock: &mut Link, phase: Phase) -> Result<(), Failure> {
        if !self.ctl.out.is_empty() {
            if let Some(c) = &mut self.ciphers {
                c.outgoing.apply(&mut self.ctl.out);
            }
            self.out.extend_from_slice(&self.ctl.out);
            self.ctl.out.clear();
        }
        if !self.out.is_empty() {
            write_all(sock, &self.out, phase).await?;
            self.out.clear();
            if self.out.capacity() > 1024 {
                // Setup needed room for C2; acknowledgements need little.
                self.out = BytesMut::new();
            }
        }
        Ok(())
    }
}

impl Control {
    /// Sends an Acknowledgement each time the server's window is reached (RTMP §5.4.3).
    fn count_received(&mut self, n: usize) {
        self.received += n as u64;
        if self.window > 0 && self.received - self.acked >= u64::from(self.window) {
            self.acked = self.received;
            let ack = ControlMessage::Acknowledgement {
                sequence: self.received as u32,
            };
            send_control(&mut self.out, ack.type_id(), &ack.encode());
        }
    }

    fn on_message(&mut self, m: &Message<'_>) {
        match m.type_id {
            type_id::WINDOW_ACK_SIZE => {
                if let Ok(ControlMessage::WindowAckSize(w)) =
                    ControlMessage::parse(m.type_id, m.data)
                {
                    self.window = w;
                }
            }
            type_id::USER_CONTROL => {
                if let Ok(UserControlEvent::PingRequest(time)) = UserControlEvent::parse(m.data) {
                    send_control(
                        &mut self.out,
                        type_id::USER_CONTROL,
                        &UserControlEvent::PingResponse(time).encode(),
                    );
                }
            }
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {
                let body = if m.type_id == type_id::COMMAND_AMF3 {
                    m.data.get(1..).unwrap_or_default()
                } else {
                    m.data
                };
                if m.data.len() as u32 != m.len {
                    return; // too large to keep: not a reply we wait for
                }
                match Command::parse(body, &Amf0Limits::default()) {
                    Ok(cmd) => self.on_command(&cmd),
                    Err(e) => {
                        self.failure = Some(Failure::new(
                            "protocol",
                            format!("bad command from the server: {e}"),
                        ))
                    }
                }
            }
            _ => {}
        }
    }

    fn on_command(&mut self, cmd: &Command) {
        let info = cmd.args.first();
        let field = |k| {
            info.and_then(|i| i.get(k))
                .and_then(Amf0Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match cmd.name.as_str() {
            "_result" if cmd.transaction_id == TX_CONNECT => {
                send_command(
                    &mut self.out,
                    0,
                    &Command::new("createStream", TX_CREATE_STREAM, Amf0Value::Null, vec![]),
                );
            }
            "_result" if cmd.transaction_id == TX_CREATE_STREAM => {
                let id = cmd.args.first().and_then(Amf0Value::as_f64).unwrap_or(1.0) as u32;
                let args = vec![
                    Amf0Value::string(self.stream.clone()),
                    Amf0Value::Number(-1.0),
                ];
                send_command(
                    &mut self.out,
                    id,
                    &Command::new("play", TX_PLAY, Amf0Value::Null, args),
                );
                let buffer = UserControlEvent::SetBufferLength {
                    stream_id: id,
                    buffer_ms: 1000,
                };
                send_control(&mut self.out, type_id::USER_CONTROL, &buffer.encode());
            }
            "_error" => {
                let what = if cmd.transaction_id == TX_CONNECT {
                    "connect"
                } else {
                    "command"
                };
                self.failure = Some(Failure::new(
                    "rejected",
                    format!("{what}: {} {}", field("code"), field("description")),
                ));
            }
            "onStatus" => {
                let code = field("code");
                if field("level") == "error" {
                    self.failure = Some(Failure::new(
                        "rejected",
                        format!("{code} {}", field("description")),
                    ));
                } else if code == "NetStream.Play.Start" {
                    self.started = true;
                }
            }
            _ => {}
        }
    }
}

fn send_command(out: &mut BytesMut, stream_id: u32, cmd: &Command) {
    let mut payload = Vec::with_capacity(256);
    cmd.encode(&mut payload);
    write_type0_message(
        COMMAND_CSID,
        0,
        type_id::COMMAND_AMF0,
        stream_id,
        &payload,
        OUT_CHUNK_SIZE,
        out,
    );
}

fn send_control(out: &mut BytesMut, type_id: u8, payload: &[u8]) {
    write_type0_message(CONTROL_CSID, 0, type_id, 0, payload, OUT_CHUNK_SIZE, out);
}
