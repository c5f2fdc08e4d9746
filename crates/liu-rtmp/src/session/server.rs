//! The server side of an RTMP session (RTMP §7.2, §7.3).
//!
//! Feed it the bytes a client sends with [`ServerSession::receive`], then
//! drain [`ServerSession::poll_event`] and [`ServerSession::take_output`].
//! Requests that need a decision (connect, publish, play) come out as events
//! and are answered with `accept_*` / `reject_*`, so the caller owns policy
//! (stream names, auth) while the session owns the protocol.

use std::collections::VecDeque;

use bytes::Bytes;
use liu_flv::amf0::{Amf0Limits, Amf0Value};

use super::transport::{Transport, command_body, data_values};
use crate::RtmpError;
use crate::chunk::{ChunkLimits, RawMessage};
use crate::command::{Command, split_query, status_info};
use crate::control::{ControlMessage, UserControlEvent, type_id};
use crate::enhanced::EnhancedCaps;
use crate::handshake::{HandshakeKind, RtmpeCipher, ServerHandshake};
use crate::media::{MediaKind, SubMessage, split_aggregate};

/// Settings of a server session.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Chunk size Liu sends with (announced right after `connect`).
    pub chunk_size: u32,
    /// Window Acknowledgement Size announced to the client (RTMP §5.4.4).
    pub window_ack_size: u32,
    /// Set Peer Bandwidth announced to the client (RTMP §5.4.5).
    pub peer_bandwidth: u32,
    pub chunk_limits: ChunkLimits,
    pub amf_limits: Amf0Limits,
    /// Most message bytes held while `connect`, `publish` or `play` waits
    /// for the caller's answer ([`ServerSession::resume`]).
    pub max_held_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            chunk_limits: ChunkLimits::default(),
            amf_limits: Amf0Limits::default(),
            max_held_bytes: 4 << 20,
        }
    }
}

/// A client's `connect` (RTMP §7.2.1.1).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    /// Application name without any query string.
    pub app: String,
    /// Query string found in the app or the tcUrl (for auth), without `?`.
    pub query: Option<String>,
    pub tc_url: Option<String>,
    /// The whole command object (flashVer, fourCcList, capsEx, ...).
    pub object: Amf0Value,
    /// Its Enhanced RTMP announcement.
    pub enhanced: EnhancedCaps,
}

/// A client's `publish` (RTMP §7.2.2.6).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    pub stream_id: u32,
    pub name: String,
    pub query: Option<String>,
    /// "live", "record" or "append".
    pub publish_type: String,
}

/// A client's `play` (RTMP §7.2.2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct PlayRequest {
    pub stream_id: u32,
    pub name: String,
    pub query: Option<String>,
    /// -2 live or recorded, -1 live only, >= 0 a position in ms.
    pub start: f64,
    pub duration: f64,
    pub reset: bool,
}

/// What a server session reports to its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// Answer with [`ServerSession::accept_connect`] or [`ServerSession::reject_connect`].
    Connect(ConnectRequest),
    /// Answer with [`ServerSession::accept_publish`] or [`ServerSession::reject_publish`].
    Publish(PublishRequest),
    /// Answer with [`ServerSession::accept_play`] or [`ServerSession::reject_play`].
    Play(PlayRequest),
    /// Audio, video or a data message from a publishing stream. Data messages
    /// other than `onMetaData` keep their original AMF0 payload.
    Media {
        stream_id: u32,
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
    /// `onMetaData` (also when sent as `@setDataFrame`), re-encoded as the
    /// `["onMetaData", object]` payload viewers expect.
    Metadata {
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    },
    /// The client stopped publishing on this stream (FCUnpublish,
    /// closeStream or deleteStream).
    PublishStopped {
        stream_id: u32,
    },
    /// The client stopped playing on this stream.
    PlayStopped {
        stream_id: u32,
    },
    Pause {
        stream_id: u32,
        paused: bool,
        position_ms: f64,
    },
    ReceiveAudio {
        stream_id: u32,
        enabled: bool,
    },
    ReceiveVideo {
        stream_id: u32,
        enabled: bool,
    },
    /// A message was ignored (for the log); the session goes on.
    Dropped {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetStreamState {
    Created,
    PublishRequested,
    Publishing,
    PlayRequested,
    Playing,
}

enum Phase {
    Handshake(Box<ServerHandshake>),
    Messages,
}

/// The server side of one RTMP connection.
pub struct ServerSession {
    config: ServerConfig,
    phase: Phase,
    handshake_kind: Option<HandshakeKind>,
    /// RTMPE: decrypts what the client sends after C2.
    incoming_cipher: Option<RtmpeCipher>,
    /// RTMPE: encrypts what is sent after S2; handed to the caller, who
    /// owns the byte stream.
    outgoing_cipher: Option<RtmpeCipher>,
    /// Set Chunk Size has gone out (after connect; for RTMPE, before the
    /// first play instead).
    chunk_size_sent: bool,
    transport: Transport,
    events: VecDeque<ServerEvent>,
    connect_transaction: Option<f64>,
    connected: bool,
    /// The client announced Enhanced RTMP in `connect`.
    client_enhanced: bool,
    app: String,
    next_stream_id: u32,
    /// Message streams made by createStream; a handful at most.
    streams: Vec<(u32, NetStreamState)>,
    /// Pending publish/play transaction ids, per stream.
    pending: Vec<(u32, f64)>,
    /// Messages that came while a decision was pending, in order.
    held: VecDeque<RawMessage>,
    held_bytes: usize,
}

/// Most messages held while a decision is pending.
const MAX_HELD_MESSAGES: usize = 1024;

/// Most NetStreams a client may create on one connection.
const MAX_STREAMS: usize = 16;

impl ServerSession {
    /// `random` seeds the handshake's random bytes, `epoch_ms` is its time field.
    pub fn new(config: ServerConfig, random: [u8; 32], epoch_ms: u32) -> Self {
        let transport = Transport::new(config.chunk_limits);
        ServerSession {
            config,
            phase: Phase::Handshake(Box::new(ServerHandshake::new(random, epoch_ms))),
            handshake_kind: None,
            incoming_cipher: None,
            outgoing_cipher: None,
            chunk_size_sent: false,
            transport,
            events: VecDeque::new(),
            connect_transaction: None,
            connected: false,
            client_enhanced: false,
            app: String::new(),
            next_stream_id: 1,
            streams: Vec::new(),
            pending: Vec::new(),
            held: VecDeque::new(),
            held_bytes: 0,
        }
    }

    /// True once the handshake is over.
    pub fn handshake_done(&self) -> bool {
        matches!(self.phase, Phase::Messages)
    }

    /// The handshake form the client used, once known.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.handshake_kind
    }

    /// True for an RTMPE connection.
    pub fn is_encrypted(&self) -> bool {
        self.handshake_kind.is_some_and(HandshakeKind::is_encrypted)
    }

    /// Announces the configured chunk size, once.
    fn send_chunk_size(&mut self) {
        if !self.chunk_size_sent && self.config.chunk_size != 128 {
            self.transport
                .send_control(ControlMessage::SetChunkSize(self.config.chunk_size));
        }
        self.chunk_size_sent = true;
    }

    /// True once `connect` was accepted.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    /// RTMPE: the cipher for every byte sent after the handshake, once the
    /// handshake is over. Output taken before it appears is plain; output
    /// taken after must go through it, in order, with everything else the
    /// caller writes to the client.
    pub fn take_outgoing_cipher(&mut self) -> Option<RtmpeCipher> {
        self.outgoing_cipher.take()
    }

    /// Feeds bytes received from the client.
    pub fn receive(&mut self, mut data: &[u8]) -> Result<(), RtmpError> {
        self.transport.count_received(data.len());
        if let Phase::Handshake(hs) = &mut self.phase {
            let used = hs.receive(data)?;
            if let Some(out) = hs.take_output() {
                self.transport.output.extend_from_slice(&out);
            }
            self.handshake_kind = hs.kind();
            if !hs.is_done() {
                return Ok(());
            }
            if let Some(ciphers) = hs.take_ciphers() {
                self.incoming_cipher = Some(ciphers.incoming);
                self.outgoing_cipher = Some(ciphers.outgoing);
            }
            self.phase = Phase::Messages;
            data = &data[used.min(data.len())..];
        }
        let start = self.transport.input.len();
        self.transport.input.extend_from_slice(data);
        if let Some(cipher) = &mut self.incoming_cipher {
            cipher.apply(&mut self.transport.input[start..]);
        }
        while let Some(msg) = self.transport.next_message()? {
            if let Some(msg) = self.transport.handle_control(msg)? {
                if self.deciding() || !self.held.is_empty() {
                    self.hold(msg)?;
                } else {
                    self.handle_message(msg)?;
                }
            }
        }
        self.transport.compact_input();
        Ok(())
    }

    /// A `connect`, `publish` or `play` waits for the caller's answer.
    /// Messages that come meanwhile (clients send `createStream` right
    /// after `connect`, and media right after `publish`, without waiting)
    /// are held and handled in order once it is given.
    pub fn deciding(&self) -> bool {
        (self.connect_transaction.is_some() && !self.connected)
            || self.streams.iter().any(|(_, s)| {
                matches!(
                    s,
                    NetStreamState::PublishRequested | NetStreamState::PlayRequested
                )
            })
    }

    fn hold(&mut self, msg: RawMessage) -> Result<(), RtmpError> {
        if self.held.len() >= MAX_HELD_MESSAGES
            || self.held_bytes + msg.payload.len() > self.config.max_held_bytes
        {
            return Err(RtmpError::Protocol(format!(
                "more than {MAX_HELD_MESSAGES} messages or {} bytes sent before connect, \
                 publish or play was answered",
                self.config.max_held_bytes
            )));
        }
        self.held_bytes += msg.payload.len();
        self.held.push_back(msg);
        Ok(())
    }

    /// Handles the messages held while a decision was pending, up to the
    /// next one that needs a decision. Call after each answer to a
    /// [`ServerEvent::Connect`], [`ServerEvent::Publish`] or
    /// [`ServerEvent::Play`]; new events may follow.
    pub fn resume(&mut self) -> Result<(), RtmpError> {
        while !self.deciding() {
            let Some(msg) = self.held.pop_front() else {
                break;
            };
            self.held_bytes -= msg.payload.len();
            self.handle_message(msg)?;
        }
        Ok(())
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Events are waiting for [`ServerSession::poll_event`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Bytes to send to the client, if any.
    pub fn take_output(&mut self) -> Option<Bytes> {
        self.transport.take_output()
    }

    /// The chunk size Liu sends with once connected.
    pub fn out_chunk_size(&self) -> u32 {
        self.transport.encoder.chunk_size()
    }

    fn handle_message(&mut self, msg: RawMessage) -> Result<(), RtmpError> {
        match msg.type_id {
            type_id::AUDIO | type_id::VIDEO
                if self.state(msg.stream_id) == Some(NetStreamState::Publishing) =>
            {
                let kind = if msg.type_id == type_id::AUDIO {
                    MediaKind::Audio
                } else {
                    MediaKind::Video
                };
                self.events.push_back(ServerEvent::Media {
                    stream_id: msg.stream_id,
                    kind,
                    timestamp: msg.timestamp,
                    payload: msg.payload,
                });
            }
            type_id::AGGREGATE if self.state(msg.stream_id) == Some(NetStreamState::Publishing) => {
                for SubMessage {
                    type_id,
                    timestamp,
                    payload,
                } in split_aggregate(msg.timestamp, &msg.payload)
                {
                    let sub = RawMessage {
                        csid: msg.csid,
                        timestamp,
                        type_id,
                        stream_id: msg.stream_id,
                        payload,
                    };
                    if matches!(
                        type_id,
                        type_id::AUDIO | type_id::VIDEO | type_id::DATA_AMF0
                    ) {
                        self.handle_message(sub)?;
                    }
                }
            }
            type_id::DATA_AMF0 | type_id::DATA_AMF3 => self.handle_data(msg)?,
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {
                let cmd = Command::parse(command_body(&msg), &self.config.amf_limits)?;
                self.handle_command(msg.stream_id, cmd)?;
            }
            // Shared objects and unknown types are ignored (RTMP §7.1.3).
            _ => {}
        }
        Ok(())
    }

    fn handle_data(&mut self, msg: RawMessage) -> Result<(), RtmpError> {
        if self.state(msg.stream_id) != Some(NetStreamState::Publishing) {
            return Ok(());
        }
        let values = match data_values(&msg, &self.config.amf_limits) {
            Ok(values) => values,
            Err(e) => {
                // One bad data message is not worth the publisher's connection.
                self.events.push_back(ServerEvent::Dropped {
                    reason: format!("data message: {e}"),
                });
                return Ok(());
            }
        };
        let stripped = values.first().and_then(Amf0Value::as_str) == Some("@setDataFrame");
        let mut rest = &values[..];
        if rest.first().and_then(Amf0Value::as_str) == Some("@setDataFrame") {
            rest = &rest[1..];
        }
        if rest.first().and_then(Amf0Value::as_str) == Some("onMetaData") {
            let object = rest
                .get(1)
                .cloned()
                .unwrap_or(Amf0Value::EcmaArray(Vec::new()));
            let payload = liu_flv::amf0::encode_all(&[Amf0Value::string("onMetaData"), object]);
            self.events.push_back(ServerEvent::Metadata {
                stream_id: msg.stream_id,
                timestamp: msg.timestamp,
                payload: Bytes::from(payload),
            });
        } else if !rest.is_empty() {
            let payload = if msg.type_id == type_id::DATA_AMF3 || stripped {
                Bytes::from(liu_flv::amf0::encode_all(rest))
            } else {
                msg.payload
            };
            self.events.push_back(ServerEvent::Media {
                stream_id: msg.stream_id,
                kind: MediaKind::Data,
                timestamp: msg.timestamp,
                payload,
            });
        }
        Ok(())
    }

    fn handle_command(&mut self, stream_id: u32, cmd: Command) -> Result<(), RtmpError> {
        let tx = cmd.transaction_id;
        match cmd.name.as_str() {
            "connect" => self.on_connect(cmd)?,
            _ if !self.connected => {
                return Err(RtmpError::Protocol(format!(
                    "'{}' before connect was accepted",
                    cmd.name
                )));
            }
            "createStream" => {
                if self.streams.len() >= MAX_STREAMS {
                    return Err(RtmpError::Protocol(format!(
                        "more than {MAX_STREAMS} streams"
                    )));
                }
                let id = self.next_stream_id;
                self.next_stream_id += 1;
                self.streams.push((id, NetStreamState::Created));
                self.result(tx, Amf0Value::Null, vec![Amf0Value::Number(f64::from(id))]);
            }
            "releaseStream" | "_checkbw" => {
                self.result(tx, Amf0Value::Null, vec![Amf0Value::Undefined]);
            }
            // A live stream has no length; players expect a number.
            "getStreamLength" => self.result(tx, Amf0Value::Null, vec![Amf0Value::Number(0.0)]),
            "FCPublish" => {
                let name = cmd.arg_str(0).unwrap_or_default().to_string();
                self.result(tx, Amf0Value::Null, vec![Amf0Value::Undefined]);
                let info = status_info("status", "NetStream.Publish.Start", &name);
                self.transport.send_command(
                    0,
                    &Command::new("onFCPublish", 0.0, Amf0Value::Null, vec![info]),
                );
            }
            "FCSubscribe" => {
                let name = cmd.arg_str(0).unwrap_or_default().to_string();
                self.result(tx, Amf0Value::Null, vec![Amf0Value::Undefined]);
                let info = status_info("status", "NetStream.Play.Start", &name);
                self.transport.send_command(
                    0,
                    &Command::new("onFCSubscribe", 0.0, Amf0Value::Null, vec![info]),
                );
            }
            "FCUnsubscribe" => self.result(tx, Amf0Value::Null, vec![Amf0Value::Undefined]),
            "FCUnpublish" => {
                let name = cmd.arg_str(0).unwrap_or_default().to_string();
                self.result(tx, Amf0Value::Null, vec![Amf0Value::Undefined]);
                let info = status_info("status", "NetStream.Unpublish.Success", &name);
                self.transport.send_command(
                    0,
                    &Command::new("onFCUnpublish", 0.0, Amf0Value::Null, vec![info]),
                );
                // FCUnpublish names no message stream: stop every publishing one.
                let publishing: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|(_, s)| *s == NetStreamState::Publishing)
                    .map(|(id, _)| *id)
                    .collect();
                for id in publishing {
                    self.stop_stream(id, true);
                }
            }
            "publish" => {
                if matches!(self.state(stream_id), Some(s) if s != NetStreamState::Created) {
                    let info = "the stream is already publishing or playing";
                    self.transport.send_status(
                        stream_id,
                        "error",
                        "NetStream.Publish.BadConnection",
                        info,
                    );
                    return Ok(());
                }
                let id = self.require_stream(stream_id, &cmd.name)?;
                let (name, query) = split_query(cmd.arg_str(0).unwrap_or_default());
                let publish_type = cmd.arg_str(1).unwrap_or("live").to_string();
                let request = PublishRequest {
                    stream_id: id,
                    name: name.to_string(),
                    query: query.map(str::to_string),
                    publish_type,
                };
                self.set_state(id, NetStreamState::PublishRequested);
                self.pending.push((id, tx));
                self.events.push_back(ServerEvent::Publish(request));
            }
            "play" => {
                // Playing again on a NetStream replaces what it played.
                if matches!(
                    self.state(stream_id),
                    Some(NetStreamState::Playing | NetStreamState::PlayRequested)
                ) {
                    self.take_pending(stream_id);
                    self.stop_stream(stream_id, true);
                }
                let id = self.require_stream(stream_id, &cmd.name)?;
                let (name, query) = split_query(cmd.arg_str(0).unwrap_or_default());
                let request = PlayRequest {
                    stream_id: id,
                    name: name.to_string(),
                    query: query.map(str::to_string),
                    start: cmd.arg_f64(1).unwrap_or(-2.0),
                    duration: cmd.arg_f64(2).unwrap_or(-1.0),
                    reset: cmd.args.get(3).and_then(Amf0Value::as_bool).unwrap_or(true),
                };
                self.set_state(id, NetStreamState::PlayRequested);
                self.pending.push((id, tx));
                self.events.push_back(ServerEvent::Play(request));
            }
            // play2 switches renditions (multi-bitrate); a live server with
            // one rendition per name has nothing to switch to.
            "play2" => {}
            "deleteStream" => {
                let id = cmd.arg_f64(0).map(|n| n as u32).unwrap_or(stream_id);
                self.stop_stream(id, false);
                self.streams.retain(|(s, _)| *s != id);
            }
            "closeStream" => self.stop_stream(stream_id, true),
            "receiveAudio" | "receiveVideo" => {
                let enabled = cmd
                    .args
                    .first()
                    .and_then(Amf0Value::as_bool)
                    .unwrap_or(true);
                self.events.push_back(if cmd.name == "receiveAudio" {
                    ServerEvent::ReceiveAudio { stream_id, enabled }
                } else {
                    ServerEvent::ReceiveVideo { stream_id, enabled }
                });
            }
            "pause" | "pauseRaw" => {
                let paused = cmd
                    .args
                    .first()
                    .and_then(Amf0Value::as_bool)
                    .unwrap_or(true);
                let position_ms = cmd.arg_f64(1).unwrap_or(0.0);
                let code = if paused {
                    "NetStream.Pause.Notify"
                } else {
                    "NetStream.Unpause.Notify"
                };
                self.transport
                    .send_status(stream_id, "status", code, "paused by client");
                self.events.push_back(ServerEvent::Pause {
                    stream_id,
                    paused,
                    position_ms,
                });
            }
            // Answers to our own calls, and notifications without answers.
            "_result" | "_error" | "onStatus" | "onBWDone" | "@setDataFrame" => {}
            other => {
                if tx != 0.0 {
                    let info = status_info(
                        "error",
                        "NetConnection.Call.Failed",
                        &format!("unknown command '{other}'"),
                    );
                    self.transport
                        .send_command(0, &Command::new("_error", tx, Amf0Value::Null, vec![info]));
                }
            }
        }
        Ok(())
    }

    fn on_connect(&mut self, cmd: Command) -> Result<(), RtmpError> {
        if self.connect_transaction.is_some() {
            return Err(RtmpError::Protocol(
                "second connect on one connection".into(),
            ));
        }
        let object = cmd.object;
        let raw_app = object
            .get("app")
            .and_then(Amf0Value::as_str)
            .unwrap_or_default();
        let tc_url = object
            .get("tcUrl")
            .and_then(Amf0Value::as_str)
            .map(str::to_string);
        let (app, mut query) = split_query(raw_app);
        let mut app = app.trim_end_matches('/').to_string();
        let tc_query = tc_url.as_deref().and_then(|u| split_query(u).1);
        if query.is_none() {
            query = tc_query;
        }
        if app.is_empty()
            && let Some(url) = tc_url.as_deref()
        {
            // rtmp://host[:port]/app[/instance]
            let path = split_query(url).0.splitn(4, '/').nth(3).unwrap_or_default();
            app = path.trim_end_matches('/').to_string();
        }
        self.connect_transaction = Some(cmd.transaction_id);
        let enhanced = EnhancedCaps::from_connect(&object);
        self.client_enhanced = enhanced.announced;
        self.events.push_back(ServerEvent::Connect(ConnectRequest {
            app,
            query: query.map(str::to_string),
            tc_url,
            object,
            enhanced,
        }));
        Ok(())
    }

    /// Accepts `connect`: Window Ack Size, Set Peer Bandwidth, Set Chunk Size
    /// and the `_result`, queued together so they leave in one write.
    pub fn accept_connect(&mut self, app: &str) {
        let Some(tx) = self.connect_transaction else {
            return;
        };
        self.connected = true;
        self.app = app.to_string();
        self.transport
            .send_control(ControlMessage::WindowAckSize(self.config.window_ack_size));
        self.transport
            .send_peer_bandwidth(self.config.peer_bandwidth);
        // FFmpeg publishing over RTMPE echoes Set Chunk Size and then reads
        // its own, already encrypted, copy: an RTMPE client learns the chunk
        // size when it plays instead.
        if !self.is_encrypted() {
            self.send_chunk_size();
        }
        let mut properties = Amf0Value::object([
            ("fmsVer", Amf0Value::string("FMS/3,5,3,888")),
            ("capabilities", Amf0Value::Number(127.0)),
            ("mode", Amf0Value::Number(1.0)),
        ]);
        if self.client_enhanced
            && let Amf0Value::Object(props) = &mut properties
        {
            props.extend(
                EnhancedCaps::server_properties()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v)),
            );
        }
        let info = Amf0Value::object([
            ("level", Amf0Value::string("status")),
            ("code", Amf0Value::string("NetConnection.Connect.Success")),
            ("description", Amf0Value::string("Connection succeeded.")),
            ("objectEncoding", Amf0Value::Number(0.0)),
            (
                "data",
                Amf0Value::EcmaArray(vec![("version".into(), Amf0Value::string("3,5,3,888"))]),
            ),
        ]);
        self.result(tx, properties, vec![info]);
    }

    /// Rejects `connect` with `NetConnection.Connect.Rejected`; the caller
    /// closes the connection after sending the output.
    pub fn reject_connect(&mut self, description: &str) {
        let Some(tx) = self.connect_transaction else {
            return;
        };
        let info = status_info("error", "NetConnection.Connect.Rejected", description);
        self.transport
            .send_command(0, &Command::new("_error", tx, Amf0Value::Null, vec![info]));
    }

    /// Accepts a publish: `NetStream.Publish.Start`.
    pub fn accept_publish(&mut self, stream_id: u32, name: &str) {
        self.take_pending(stream_id);
        self.set_state(stream_id, NetStreamState::Publishing);
        self.transport
            .send_user_control(UserControlEvent::StreamBegin(stream_id));
        self.transport.send_status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            &format!("{name} is now published."),
        );
    }

    /// Refuses a publish with the given code, e.g. `NetStream.Publish.BadName`.
    pub fn reject_publish(&mut self, stream_id: u32, code: &str, description: &str) {
        self.take_pending(stream_id);
        self.set_state(stream_id, NetStreamState::Created);
        self.transport
            .send_status(stream_id, "error", code, description);
    }

    /// Accepts a play: Stream Begin, `NetStream.Play.Reset` (when asked),
    /// `NetStream.Play.Start` and `|RtmpSampleAccess`, queued together.
    pub fn accept_play(&mut self, stream_id: u32, name: &str, reset: bool) {
        self.send_chunk_size();
        self.take_pending(stream_id);
        self.set_state(stream_id, NetStreamState::Playing);
        self.transport
            .send_user_control(UserControlEvent::StreamBegin(stream_id));
        if reset {
            self.transport.send_status(
                stream_id,
                "status",
                "NetStream.Play.Reset",
                &format!("Playing and resetting {name}."),
            );
        }
        self.transport.send_status(
            stream_id,
            "status",
            "NetStream.Play.Start",
            &format!("Started playing {name}."),
        );
        self.transport.send_data(
            stream_id,
            &[
                Amf0Value::string("|RtmpSampleAccess"),
                Amf0Value::Boolean(true),
                Amf0Value::Boolean(true),
            ],
        );
    }

    /// Refuses a play, e.g. with `NetStream.Play.StreamNotFound`.
    pub fn reject_play(&mut self, stream_id: u32, code: &str, description: &str) {
        self.take_pending(stream_id);
        self.set_state(stream_id, NetStreamState::Created);
        self.transport
            .send_status(stream_id, "error", code, description);
    }

    /// Tells a playing client its stream's publisher left (Stream EOF user
    /// control, RTMP §7.1.7), and optionally `NetStream.Play.UnpublishNotify`,
    /// which FFmpeg and librtmp treat as the end of playback.
    pub fn notify_unpublished(&mut self, stream_id: u32, name: &str, with_status: bool) {
        self.transport
            .send_user_control(UserControlEvent::StreamEof(stream_id));
        if with_status {
            self.transport.send_status(
                stream_id,
                "status",
                "NetStream.Play.UnpublishNotify",
                &format!("{name} is now unpublished."),
            );
        }
    }

    /// Tells a playing client its stream is published (again).
    pub fn notify_published(&mut self, stream_id: u32, name: &str, with_status: bool) {
        self.transport
            .send_user_control(UserControlEvent::StreamBegin(stream_id));
        if with_status {
            self.transport.send_status(
                stream_id,
                "status",
                "NetStream.Play.PublishNotify",
                &format!("{name} is now published."),
            );
        }
    }

    /// Sends an `onStatus` on a message stream.
    pub fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        self.transport
            .send_status(stream_id, level, code, description);
    }

    fn result(&mut self, tx: f64, object: Amf0Value, args: Vec<Amf0Value>) {
        if tx != 0.0 {
            self.transport
                .send_command(0, &Command::new("_result", tx, object, args));
        }
    }

    fn require_stream(&self, stream_id: u32, what: &str) -> Result<u32, RtmpError> {
        match self.state(stream_id) {
            Some(NetStreamState::Created) => Ok(stream_id),
            Some(_) => Err(RtmpError::Protocol(format!(
                "'{what}' on stream {stream_id}, which is already busy"
            ))),
            None => Err(RtmpError::Protocol(format!(
                "'{what}' on stream {stream_id}, which createStream never made"
            ))),
        }
    }

    fn state(&self, stream_id: u32) -> Option<NetStreamState> {
        self.streams
            .iter()
            .find(|(id, _)| *id == stream_id)
            .map(|(_, s)| *s)
    }

    fn set_state(&mut self, stream_id: u32, state: NetStreamState) {
        if let Some(entry) = self.streams.iter_mut().find(|(id, _)| *id == stream_id) {
            entry.1 = state;
        }
    }

    fn take_pending(&mut self, stream_id: u32) -> Option<f64> {
        let i = self.pending.iter().position(|(id, _)| *id == stream_id)?;
        Some(self.pending.swap_remove(i).1)
    }

    fn stop_stream(&mut self, stream_id: u32, keep: bool) {
        match self.state(stream_id) {
            Some(NetStreamState::Publishing | NetStreamState::PublishRequested) => {
                self.events
                    .push_back(ServerEvent::PublishStopped { stream_id });
            }
            Some(NetStreamState::Playing | NetStreamState::PlayRequested) => {
                self.events
                    .push_back(ServerEvent::PlayStopped { stream_id });
            }
            _ => {}
        }
        if keep {
            self.set_state(stream_id, NetStreamState::Created);
        }
    }
}
