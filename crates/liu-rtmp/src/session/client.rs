//! The client side of an RTMP session (RTMP §7.2): connect, createStream,
//! then publish or play. Used for edge pulls, forwarding, and tests.

use std::collections::VecDeque;

use bytes::Bytes;
use liu_flv::amf0::{Amf0Limits, Amf0Value};

use super::transport::{Transport, command_body, data_values};
use crate::RtmpError;
use crate::chunk::{ChunkLimits, RawMessage};
use crate::command::Command;
use crate::control::{ControlMessage, UserControlEvent, type_id};
use crate::handshake::ClientHandshake;
use crate::media::{MediaKind, serialize_media};

/// What the client session does once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRole {
    Publish { name: String },
    Play { name: String },
}

/// Settings of a client session.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub app: String,
    pub tc_url: String,
    pub flash_ver: String,
    /// Chunk size used for sending (announced after the handshake).
    pub chunk_size: u32,
    /// Send the digest ("complex") C1, as Flash Player, FFmpeg and librtmp do.
    pub digest_handshake: bool,
    pub chunk_limits: ChunkLimits,
    pub amf_limits: Amf0Limits,
}

impl ClientConfig {
    pub fn new(app: &str, tc_url: &str) -> Self {
        ClientConfig {
            app: app.to_string(),
            tc_url: tc_url.to_string(),
            flash_ver: "FMLE/3.0 (compatible; Liu)".to_string(),
            chunk_size: 4096,
            digest_handshake: true,
            chunk_limits: ChunkLimits::default(),
            amf_limits: Amf0Limits::default(),
        }
    }
}

/// What a client session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `connect` succeeded.
    Connected,
    /// Publishing or playing has started on this message stream.
    Started { stream_id: u32 },
    /// The server refused a step; the session is over.
    Rejected { code: String, description: String },
    /// Any other `onStatus` code.
    Status { code: String },
    Media {
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
    /// Stream EOF user control: the publisher left (RTMP §7.1.7).
    StreamEof,
    /// Stream Begin user control.
    StreamBegin,
}

const TX_CONNECT: f64 = 1.0;
const TX_RELEASE: f64 = 2.0;
const TX_FCPUBLISH: f64 = 3.0;
const TX_CREATE: f64 = 4.0;

/// The client side of one RTMP connection.
pub struct ClientSession {
    config: ClientConfig,
    role: ClientRole,
    handshake: Option<Box<ClientHandshake>>,
    transport: Transport,
    events: VecDeque<ClientEvent>,
    stream_id: Option<u32>,
    started: bool,
}

impl ClientSession {
    /// C0+C1 are ready in [`ClientSession::take_output`] right away.
    pub fn new(config: ClientConfig, role: ClientRole, random: [u8; 32], epoch_ms: u32) -> Self {
        let mut transport = Transport::new(config.chunk_limits);
        let mut hs = ClientHandshake::new(random, epoch_ms, config.digest_handshake);
        if let Some(out) = hs.take_output() {
            transport.output.extend_from_slice(&out);
        }
        ClientSession {
            config,
            role,
            handshake: Some(Box::new(hs)),
            transport,
            events: VecDeque::new(),
            stream_id: None,
            started: false,
        }
    }

    pub fn receive(&mut self, mut data: &[u8]) -> Result<(), RtmpError> {
        self.transport.count_received(data.len());
        if let Some(hs) = &mut self.handshake {
            let used = hs.receive(data)?;
            if let Some(out) = hs.take_output() {
                self.transport.output.extend_from_slice(&out);
            }
            if !hs.is_done() {
                return Ok(());
            }
            self.handshake = None;
            data = &data[used.min(data.len())..];
            self.send_connect();
        }
        self.transport.input.extend_from_slice(data);
        while let Some(msg) = self.transport.next_message()? {
            if msg.type_id == type_id::USER_CONTROL {
                match UserControlEvent::parse(&msg.payload)? {
                    UserControlEvent::StreamEof(_) => self.events.push_back(ClientEvent::StreamEof),
                    UserControlEvent::StreamBegin(_) => {
                        self.events.push_back(ClientEvent::StreamBegin)
                    }
                    _ => {}
                }
            }
            if let Some(msg) = self.transport.handle_control(msg)? {
                self.handle_message(msg)?;
            }
        }
        Ok(())
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub fn take_output(&mut self) -> Option<Bytes> {
        self.transport.take_output()
    }

    /// True once publishing or playing has started.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Queues a media message on the publishing stream.
    pub fn send_media(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), RtmpError> {
        let Some(stream_id) = self.stream_id.filter(|_| self.started) else {
            return Err(RtmpError::Protocol(
                "media before publishing started".into(),
            ));
        };
        let chunk_size = self.transport.encoder.chunk_size();
        let bytes = serialize_media(kind, timestamp, stream_id, payload, chunk_size);
        self.transport.output.extend_from_slice(&bytes);
        Ok(())
    }

    /// Queues the goodbye: FCUnpublish (publishers) and deleteStream.
    pub fn close(&mut self) {
        if let Some(stream_id) = self.stream_id.take() {
            if let ClientRole::Publish { name } = &self.role {
                let cmd = Command::new(
                    "FCUnpublish",
                    0.0,
                    Amf0Value::Null,
                    vec![Amf0Value::string(name.clone())],
                );
                self.transport.send_command(0, &cmd);
            }
            let cmd = Command::new(
                "deleteStream",
                0.0,
                Amf0Value::Null,
                vec![Amf0Value::Number(f64::from(stream_id))],
            );
            self.transport.send_command(0, &cmd);
        }
    }

    fn send_connect(&mut self) {
        if self.config.chunk_size != 128 {
            self.transport
                .send_control(ControlMessage::SetChunkSize(self.config.chunk_size));
        }
        let object = Amf0Value::object([
            ("app", Amf0Value::string(self.config.app.clone())),
            ("type", Amf0Value::string("nonprivate")),
            ("flashVer", Amf0Value::string(self.config.flash_ver.clone())),
            ("tcUrl", Amf0Value::string(self.config.tc_url.clone())),
            ("fpad", Amf0Value::Boolean(false)),
            ("capabilities", Amf0Value::Number(15.0)),
            ("audioCodecs", Amf0Value::Number(4071.0)),
            ("videoCodecs", Amf0Value::Number(252.0)),
            ("videoFunction", Amf0Value::Number(1.0)),
        ]);
        self.transport
            .send_command(0, &Command::new("connect", TX_CONNECT, object, vec![]));
    }

    fn handle_message(&mut self, msg: RawMessage) -> Result<(), RtmpError> {
        match msg.type_id {
            type_id::AUDIO | type_id::VIDEO => {
                let kind = if msg.type_id == type_id::AUDIO {
                    MediaKind::Audio
                } else {
                    MediaKind::Video
                };
                self.events.push_back(ClientEvent::Media {
                    kind,
                    timestamp: msg.timestamp,
                    payload: msg.payload,
                });
            }
            type_id::DATA_AMF0 | type_id::DATA_AMF3 => {
                let values = data_values(&msg, &self.config.amf_limits)?;
                if values.first().and_then(Amf0Value::as_str) == Some("onMetaData") {
                    let payload = if msg.type_id == type_id::DATA_AMF0 {
                        msg.payload
                    } else {
                        Bytes::from(liu_flv::amf0::encode_all(&values))
                    };
                    self.events.push_back(ClientEvent::Media {
                        kind: MediaKind::Data,
                        timestamp: msg.timestamp,
                        payload,
                    });
                }
            }
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {
                let cmd = Command::parse(command_body(&msg), &self.config.amf_limits)?;
                self.handle_command(cmd);
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, cmd: Command) {
        let info = cmd.args.first();
        let code = info
            .and_then(|i| i.get("code"))
            .and_then(Amf0Value::as_str)
            .unwrap_or_default()
            .to_string();
        let level = info
            .and_then(|i| i.get("level"))
            .and_then(Amf0Value::as_str)
            .unwrap_or_default();
        let description = info
            .and_then(|i| i.get("description"))
            .and_then(Amf0Value::as_str)
            .unwrap_or_default()
            .to_string();
        match cmd.name.as_str() {
            "_result" if cmd.transaction_id == TX_CONNECT => {
                self.events.push_back(ClientEvent::Connected);
                if let ClientRole::Publish { name } = &self.role {
                    let name = Amf0Value::string(name.clone());
                    self.transport.send_command(
                        0,
                        &Command::new(
                            "releaseStream",
                            TX_RELEASE,
                            Amf0Value::Null,
                            vec![name.clone()],
                        ),
                    );
                    self.transport.send_command(
                        0,
                        &Command::new("FCPublish", TX_FCPUBLISH, Amf0Value::Null, vec![name]),
                    );
                }
                self.transport.send_command(
                    0,
                    &Command::new("createStream", TX_CREATE, Amf0Value::Null, vec![]),
                );
            }
            "_result" if cmd.transaction_id == TX_CREATE => {
                let id = cmd.args.first().and_then(Amf0Value::as_f64).unwrap_or(1.0) as u32;
                self.stream_id = Some(id);
                match self.role.clone() {
                    ClientRole::Publish { name } => {
                        let args = vec![Amf0Value::string(name), Amf0Value::string("live")];
                        self.transport
                            .send_command(id, &Command::new("publish", 5.0, Amf0Value::Null, args));
                    }
                    ClientRole::Play { name } => {
                        self.transport
                            .send_user_control(UserControlEvent::SetBufferLength {
                                stream_id: id,
                                buffer_ms: 1000,
                            });
                        let args = vec![Amf0Value::string(name), Amf0Value::Number(-2.0)];
                        self.transport
                            .send_command(id, &Command::new("play", 5.0, Amf0Value::Null, args));
                    }
                }
            }
            "_error" => {
                self.events
                    .push_back(ClientEvent::Rejected { code, description });
            }
            "onStatus" => {
                if level == "error" {
                    self.events
                        .push_back(ClientEvent::Rejected { code, description });
                } else if matches!(
                    code.as_str(),
                    "NetStream.Publish.Start" | "NetStream.Play.Start"
                ) && !self.started
                {
                    self.started = true;
                    let stream_id = self.stream_id.unwrap_or(0);
                    self.events.push_back(ClientEvent::Started { stream_id });
                } else {
                    self.events.push_back(ClientEvent::Status { code });
                }
            }
            _ => {}
        }
    }
}
