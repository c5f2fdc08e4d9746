//! RTMP over TCP: drives a sans-IO [`ServerSession`] from a socket and
//! connects it to the hub as a publisher or a viewer.
//!
//! A playing viewer reads the stream through the one FLV-family driver
//! ([`FlvViewer`] with [`RtmpMessages`]); once caught up, it hands its
//! socket's write side to the stream (the hub's direct fan-out) and takes
//! it back when the socket fills up, when the client sends a command, or at
//! shutdown.

mod decide;

use decide::{Asked, Deciding};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use liu_rtmp::RtmpError;
use liu_rtmp::chunk::ChunkLimits;
use liu_rtmp::media::MediaKind;
use liu_rtmp::session::{ServerConfig, ServerEvent, ServerSession};
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span};

use crate::access::Action;
use crate::config::RtmpTransport;
use crate::context::Context;
use crate::hub::{DirectTicket, Returned};
use crate::ingest::Ingest;
use crate::io::{random_seed, write_all_vectored};
use crate::repeats::{self, Level};
use crate::transport::{Transport, TransportWrite};
use crate::viewer::{FlvViewer, Next, RtmpMessages};

/// Buffer lists larger than this are released after use.
const SMALL_BATCH: usize = 16;
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error(transparent)]
    Rtmp(#[from] RtmpError),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Closed(String),
    /// A time bound ended the connection, as configured: not a fault.
    #[error("{0}")]
    Ended(String),
}

enum Role {
    Idle,
    Publishing { ingest: Ingest, stream_id: u32 },
    Playing(Box<Playback>),
}

struct Playback {
    viewer: FlvViewer<RtmpMessages>,
    stream_id: u32,
    name: String,
    paused: bool,
    /// The viewer's next bytes, before they join the connection's output.
    out: Vec<Bytes>,
    /// Set while the stream has no publisher: how long the player waits.
    no_publisher: Option<NoPublisher>,
}

/// A player's stream has no publisher: it never had one since the player
/// came (`left` false: `[rtmp] play_wait_ms`), or it left
/// (`republish_wait_ms`). At `until` the player is closed.
#[derive(Debug, Clone, Copy)]
struct NoPublisher {
    until: tokio::time::Instant,
    left: bool,
}

/// Serves one RTMP connection over `transport`; `kind` says which member
/// of the RTMP family it is (RTMPE is found out by the handshake).
pub async fn serve_connection(
    transport: Transport,
    peer: SocketAddr,
    kind: RtmpTransport,
    ctx: Arc<Context>,
    shutdown: watch::Receiver<bool>,
) {
    let span = info_span!(
        "rtmp",
        %peer,
        protocol = kind.name(),
        rtmpe = tracing::field::Empty,
        app = tracing::field::Empty,
        stream = tracing::field::Empty
    );
    async move {
        let mut conn = Connection::new(ctx, kind, peer);
        match conn.run(transport, shutdown).await {
            Ok(()) => debug!("closed"),
            // A TLS peer that closes without close_notify (most players do).
            Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                debug!("closed without TLS close_notify")
            }
            Err(ConnError::Ended(why)) => repeats::note(
                "RTMP connection ended by a time bound",
                Level::Info,
                Some(peer.ip()),
                format_args!("closed: {why}"),
            ),
            Err(e) => repeats::note(
                "RTMP connection closed",
                Level::Warn,
                Some(peer.ip()),
                format_args!("connection closed: {e}"),
            ),
        }
    }
    .instrument(span)
    .await
}

struct Connection {
    ctx: Arc<Context>,
    peer: SocketAddr,
    /// `connect`'s tcUrl and query string, for later access requests.
    tc_url: Option<String>,
    connect_query: Option<String>,
    deciding: Option<Deciding>,
    /// Which member of the RTMP family this connection is.
    kind: RtmpTransport,
    session: ServerSession,
    role: Role,
    app: String,
    /// The client announced in `connect` that it plays Enhanced RTMP `hvc1`.
    plays_enhanced: bool,
    out: Vec<Bytes>,
    started: Instant,
    /// When the client last did something useful: connected, asked to
    /// publish or play, sent media, or a stream ended. Pings and
    /// acknowledgements do not count; idle connections are timed from here.
    useful_at: tokio::time::Instant,
}

impl Connection {
    fn new(ctx: Arc<Context>, kind: RtmpTransport, peer: SocketAddr) -> Self {
        let cfg = &ctx.config.rtmp;
        let session_config = ServerConfig {
            chunk_size: cfg.chunk_size,
            window_ack_size: cfg.window_ack_size,
            peer_bandwidth: cfg.window_ack_size,
            chunk_limits: ChunkLimits {
                max_message_len: cfg.max_message_size,
                max_chunk_size: cfg.max_chunk_size,
                ..ChunkLimits::default()
            },
            ..ServerConfig::default()
        };
        let epoch = ctx.started.elapsed().as_millis() as u32;
        Connection {
            session: ServerSession::new(session_config, random_seed(), epoch),
            ctx,
            peer,
            tc_url: None,
            connect_query: None,
            deciding: None,
            kind,
            role: Role::Idle,
            app: String::new(),
            plays_enhanced: false,
            out: Vec::new(),
            started: Instant::now(),
            useful_at: tokio::time::Instant::now(),
        }
    }

    async fn run(
        &mut self,
        transport: Transport,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ConnError> {
        let (mut rd, wr) = transport.split();
        // The write side is ours, or the stream's while `direct` is set.
        let mut wr = Some(wr);
        let mut direct: Option<DirectTicket> = None;
        let cfg = &self.ctx.config;
        let handshake_deadline =
            self.started + Duration::from_millis(cfg.rtmp.handshake_timeout_ms);
        let idle = Duration::from_millis(cfg.rtmp.idle_timeout_ms);
        loop {
            // While an access decision is pending nothing is read: what
            // the client sent already waits in the session, the rest in
            // the socket. The decision has its own time bound.
            let reading = self.deciding.is_none();
            let read_deadline = match &self.role {
                _ if !reading => None,
                Role::Idle if !self.session.is_connected() => {
                    Some(tokio::time::Instant::from_std(handshake_deadline))
                }
                // Connected, between streams, or publishing: a time without
                // a request or media is bounded, whatever else the client sends.
                Role::Idle | Role::Publishing { .. } => Some(self.useful_at + idle),
                Role::Playing(_) => None,
            };
            let no_publisher = match &self.role {
                Role::Playing(p) => p.no_publisher.map(|n| n.until),
                _ => None,
            };
            let is_direct = direct.is_some();
            tokio::select! {
                read = rd.read_with(|data| self.session.receive(data)), if reading => {
                    match read? {
                        None => return Ok(()),
                        Some(received) => received?,
                    }
                    self.take_session_output();
                    if let Some(cipher) = self.session.take_outgoing_cipher() {
                        // RTMPE: S0+S1+S2 went out plain when C1 came; from
                        // now on every byte written is encrypted.
                        self.kind = self.kind.encrypted();
                        tracing::Span::current().record("rtmpe", true);
                        wr = wr.take().map(|w| w.encrypted(cipher));
                    }
                    // A command (or anything to answer) needs the socket back.
                    if direct.is_some() && (self.session.has_events() || !self.out.is_empty()) {
                        self.undirect(&mut direct, &mut wr).await?;
                    }
                    if let Err(e) = self.handle_events() {
                        // A refusal (_error, onStatus) goes out before the close.
                        if let Some(w) = wr.as_mut() {
                            let _ = self.flush(w).await;
                        }
                        return Err(e);
                    }
                    if let Role::Publishing { ingest, .. } = &self.role {
                        ingest.flush();
                    }
                    self.take_session_output();
                    if let Some(w) = wr.as_mut() {
                        self.flush(w).await?;
                    }
                }
                answer = async {
                    match self.deciding.as_mut() {
                        Some(d) => (&mut d.answer).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.undirect(&mut direct, &mut wr).await?;
                    if let Some(d) = self.deciding.take() {
                        let mut result = self.answer(d.asked, answer);
                        if result.is_ok() {
                            result = self.handle_events();
                        }
                        self.take_session_output();
                        if let Err(e) = result {
                            if let Some(w) = wr.as_mut() {
                                let _ = self.flush(w).await;
                            }
                            return Err(e);
                        }
                        if let Role::Publishing { ingest, .. } = &self.role {
                            ingest.flush();
                        }
                        if let Some(w) = wr.as_mut() {
                            self.flush(w).await?;
                        }
                    }
                }
                returned = async {
                    match direct.as_mut() {
                        Some(ticket) => ticket.returned().await,
                        None => std::future::pending().await,
                    }
                } => {
                    direct = None;
                    self.resume_direct(returned, &mut wr).await?;
                }
                next = async {
                    match &mut self.role {
                        Role::Playing(p) if !p.paused && !is_direct => p.viewer.next(&mut p.out).await,
                        _ => std::future::pending().await,
                    }
                } => {
                    let next = next.map_err(|e| ConnError::Closed(e.to_string()))?;
                    self.delivered(next);
                    if let Some(w) = wr.as_mut() {
                        self.flush(w).await?;
                    }
                    self.try_direct(&mut direct, &mut wr);
                }
                _ = async {
                    match read_deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    return Err(ConnError::Ended(match self.role {
                        Role::Idle if !self.session.is_connected() => "no handshake and connect within the handshake timeout".into(),
                        Role::Publishing { .. } => "the publisher sent no media within the idle timeout".into(),
                        _ => "no request to publish or play within the idle timeout".into(),
                    }));
                }
                _ = async {
                    match no_publisher {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.undirect(&mut direct, &mut wr).await?;
                    if let Some(why) = self.publisher_wait_over() {
                        if let Some(w) = wr.as_mut() {
                            let _ = self.flush(w).await;
                        }
                        return Err(ConnError::Ended(why));
                    }
                }
                _ = shutdown.changed() => {
                    self.undirect(&mut direct, &mut wr).await?;
                    if let Role::Playing(p) = &self.role {
                        let (id, name) = (p.stream_id, p.name.clone());
                        self.session.notify_unpublished(id, &name, true);
                        self.take_session_output();
                        if let Some(w) = wr.as_mut() {
                            let _ = self.flush(w).await;
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Hands the write side to the stream if this viewer is caught up and
    /// can use the shared chunked form.
    fn try_direct(&mut self, direct: &mut Option<DirectTicket>, wr: &mut Option<TransportWrite>) {
        let Role::Playing(p) = &mut self.role else {
            return;
        };
        if direct.is_some() || p.paused || !self.out.is_empty() || !p.viewer.form().shares() {
            return;
        }
        // Only a plain TCP socket: other transports transform bytes per viewer.
        let w = match wr.take() {
            Some(TransportWrite::Tcp(w)) => w,
            other => {
                *wr = other;
                return;
            }
        };
        match p.viewer.go_direct(w) {
            Ok(ticket) => *direct = Some(ticket),
            Err(w) => *wr = Some(TransportWrite::Tcp(w)),
        }
    }

    /// Takes the write side back from the stream (a command came, or
    /// shutdown).
    async fn undirect(
        &mut self,
        direct: &mut Option<DirectTicket>,
        wr: &mut Option<TransportWrite>,
    ) -> Result<(), ConnError> {
        let Some(mut ticket) = direct.take() else {
            return Ok(());
        };
        let returned = ticket.recall().await;
        self.resume_direct(returned, wr).await
    }

    /// The write side is back: the viewer reads the ring where the stream
    /// stopped writing, after what the socket did not take is written.
    async fn resume_direct(
        &mut self,
        returned: Option<Returned>,
        wr: &mut Option<TransportWrite>,
    ) -> Result<(), ConnError> {
        let returned =
            returned.ok_or_else(|| ConnError::Closed("the stream lost the socket".into()))?;
        let (w, pending) = match &mut self.role {
            Role::Playing(p) => p.viewer.resume(returned)?,
            _ => crate::viewer::reclaim::<RtmpMessages>(returned)?,
        };
        let mut w = TransportWrite::Tcp(w);
        // What the socket did not take goes first.
        let before = std::mem::replace(&mut self.out, pending);
        self.out.extend(before);
        self.flush(&mut w).await?;
        *wr = Some(w);
        Ok(())
    }

    /// A player's wait for a publisher ended: unless the stream is
    /// published by now, it is told so in RTMP's terms (never published:
    /// `NetStream.Play.StreamNotFound`; left: Stream EOF and
    /// `NetStream.Play.UnpublishNotify`) and the reason to close is
    /// returned.
    fn publisher_wait_over(&mut self) -> Option<String> {
        let Role::Playing(p) = &mut self.role else {
            return None;
        };
        let wait = p.no_publisher.take()?;
        if p.viewer.is_published() {
            return None;
        }
        let rtmp = &self.ctx.config.rtmp;
        let why = if wait.left {
            self.session.notify_unpublished(p.stream_id, &p.name, true);
            format!(
                "the publisher of {} left and did not come back within {} ms",
                p.name, rtmp.republish_wait_ms
            )
        } else {
            let why = format!(
                "{} was not published within {} ms",
                p.name, rtmp.play_wait_ms
            );
            self.session
                .reject_play(p.stream_id, "NetStream.Play.StreamNotFound", &why);
            why
        };
        self.take_session_output();
        Some(why)
    }

    fn take_session_output(&mut self) {
        if let Some(bytes) = self.session.take_output() {
            self.out.push(bytes);
        }
    }

    async fn flush(&mut self, wr: &mut TransportWrite) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let timeout = Duration::from_millis(self.ctx.config.stream.write_timeout_ms);
        let result = write_all_vectored(wr, &mut self.out, timeout).await;
        if self.out.capacity() > SMALL_BATCH {
            self.out = Vec::new();
        }
        result
    }

    /// Handles the session's events until they run out or one waits for
    /// an access decision.
    fn handle_events(&mut self) -> Result<(), ConnError> {
        let mut useful = false;
        let result = self.handle_events_noting(&mut useful);
        if useful {
            self.useful_at = tokio::time::Instant::now();
        }
        result
    }

    /// [`Connection::handle_events`]; `useful` is set by any request,
    /// media message or end of a stream.
    fn handle_events_noting(&mut self, useful: &mut bool) -> Result<(), ConnError> {
        while self.deciding.is_none() {
            let Some(event) = self.session.poll_event() else {
                break;
            };
            *useful |= !matches!(
                event,
                ServerEvent::Dropped { .. }
                    | ServerEvent::ReceiveAudio { .. }
                    | ServerEvent::ReceiveVideo { .. }
            );
            match event {
                ServerEvent::Connect(req) => {
                    if req.app.is_empty() {
                        self.session
                            .reject_connect("no application name in connect");
                        self.take_session_output();
                        return Err(ConnError::Closed(
                            "connect without an application name".into(),
                        ));
                    }
                    tracing::Span::current().record("app", req.app.as_str());
                    self.tc_url = req.tc_url.clone();
                    self.connect_query = req.query.clone();
                    let request = self.access_request(Action::Connect, &req.app, None, None);
                    self.ask(Asked::Connect(req), request)?;
                }
                ServerEvent::Publish(req) => {
                    if !matches!(self.role, Role::Idle) {
                        self.session.reject_publish(
                            req.stream_id,
                            "NetStream.Publish.BadConnection",
                            "connection is busy",
                        );
                        self.session.resume()?;
                        continue;
                    }
                    if req.name.is_empty() {
                        self.session.reject_publish(
                            req.stream_id,
                            "NetStream.Publish.BadName",
                            "empty stream name",
                        );
                        self.session.resume()?;
                        continue;
                    }
                    let request = self.access_request(
                        Action::Publish,
                        &self.app,
                        Some(&req.name),
                        req.query.as_deref(),
                    );
                    self.ask(Asked::Publish(req), request)?;
                }
                ServerEvent::Play(req) => {
                    if !matches!(self.role, Role::Idle) || req.name.is_empty() {
                        self.session.reject_play(
                            req.stream_id,
                            "NetStream.Play.Failed",
                            "connection is busy or name empty",
                        );
                        self.session.resume()?;
                        continue;
                    }
                    let request = self.access_request(
                        Action::Play,
                        &self.app,
                        Some(&req.name),
                        req.query.as_deref(),
                    );
                    self.ask(Asked::Play(req), request)?;
                }
                ServerEvent::Media {
                    stream_id,
                    kind,
                    timestamp,
                    payload,
                } => {
                    if let Role::Publishing {
                        ingest,
                        stream_id: id,
                    } = &mut self.role
                        && *id == stream_id
                    {
                        match kind {
                            MediaKind::Video => ingest.video(timestamp, payload),
                            MediaKind::Audio => ingest.audio(timestamp, payload),
                            MediaKind::Data => ingest.data(timestamp, payload),
                        }
                    }
                }
                ServerEvent::Metadata {
                    stream_id,
                    timestamp,
                    payload,
                } => {
                    if let Role::Publishing {
                        ingest,
                        stream_id: id,
                    } = &mut self.role
                        && *id == stream_id
                    {
                        ingest.metadata(timestamp, payload);
                    }
                }
                ServerEvent::PublishStopped { stream_id } => {
                    if matches!(&self.role, Role::Publishing { stream_id: id, .. } if *id == stream_id)
                    {
                        info!("unpublished");
                        self.role = Role::Idle;
                    }
                }
                ServerEvent::PlayStopped { stream_id } => {
                    if matches!(&self.role, Role::Playing(p) if p.stream_id == stream_id) {
                        self.role = Role::Idle;
                    }
                }
                ServerEvent::Pause {
                    stream_id, paused, ..
                } => {
                    if let Role::Playing(p) = &mut self.role
                        && p.stream_id == stream_id
                    {
                        if p.paused && !paused {
                            // Resume at the latest keyframe, as a new viewer would.
                            p.viewer.rejoin();
                        }
                        p.paused = paused;
                    }
                }
                ServerEvent::Dropped { reason } => debug!("ignored: {reason}"),
                ServerEvent::ReceiveAudio { enabled, .. } => {
                    if let Role::Playing(p) = &mut self.role {
                        p.viewer.selection.audio = enabled;
                    }
                }
                ServerEvent::ReceiveVideo { enabled, .. } => {
                    if let Role::Playing(p) = &mut self.role {
                        p.viewer.selection.video = enabled;
                    }
                }
            }
        }
        Ok(())
    }

    /// The viewer's bytes join the output, with RTMP's own word on a
    /// publisher that left or came back.
    fn delivered(&mut self, next: Next) {
        let Role::Playing(p) = &mut self.role else {
            return;
        };
        if self.out.is_empty() {
            std::mem::swap(&mut self.out, &mut p.out);
        } else {
            self.out.append(&mut p.out);
        }
        if p.out.capacity() > SMALL_BATCH {
            p.out = Vec::new();
        }
        let notify = self.ctx.config.rtmp.unpublish_notify;
        match next {
            Next::Frames => {}
            Next::Unpublished => {
                let wait = Duration::from_millis(self.ctx.config.rtmp.republish_wait_ms);
                p.no_publisher = Some(NoPublisher {
                    until: tokio::time::Instant::now() + wait,
                    left: true,
                });
                self.session
                    .notify_unpublished(p.stream_id, &p.name, notify);
                self.take_session_output();
            }
            Next::Published => {
                p.no_publisher = None;
                self.session.notify_published(p.stream_id, &p.name, notify);
                self.take_session_output();
            }
            Next::Skipped => debug!("viewer fell behind: skipped to a keyframe"),
        }
    }
}
