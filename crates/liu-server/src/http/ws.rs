//! WebSocket-FLV: `ws://HOST/APP/STREAM.flv` (and `wss://` on the HTTPS
//! listener) upgrades the HTTP-FLV path to a WebSocket (RFC 6455) whose
//! binary messages carry the same FLV file HTTP-FLV does, written by the
//! one FLV-family driver ([`WsMessages`]). Over plain TCP a caught-up
//! viewer is written by the stream's direct fan-out, like HTTP-FLV.
//!
//! A viewer only listens: a ping is answered with a pong and a close with a
//! close; any other message, a frame that breaks RFC 6455 or one larger
//! than a control frame ends the connection with a close and one log line.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use liu_ws::{ClientFrame, FrameDecoder, MAX_CONTROL_PAYLOAD, Opcode, WsError, close, close_frame};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::flv::{FlvPlayback, wait_for_stream};
use crate::access::Protocol;
use crate::context::Context;
use crate::hub::{DirectTicket, StreamKey};
use crate::io::write_all_vectored;
use crate::transport::{Transport, TransportRead, TransportWrite};
use crate::viewer::{FlvViewer, Selection, WsMessages};

/// Close code when the stream is not published (an application code,
/// RFC 6455 section 7.4.2).
pub const CLOSE_NOT_FOUND: u16 = 4404;

/// The `101 Switching Protocols` answer to a handshake (section 4.2.2).
pub fn switching_protocols(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

/// Who asks, for the access check and the log.
pub struct WsViewer {
    pub key: StreamKey,
    pub query: Option<String>,
    pub page: Option<String>,
    pub peer: SocketAddr,
    pub tls: bool,
}

/// Serves one WebSocket-FLV viewer on `transport`, after the `101` went
/// out: the access check, the wait for a publisher, then the stream.
pub async fn serve(
    transport: Transport,
    who: WsViewer,
    ctx: &Context,
    stop: watch::Receiver<bool>,
) {
    let write_timeout = Duration::from_millis(ctx.config.stream.write_timeout_ms);
    let (mut rd, mut wr) = transport.split();
    let label = if who.tls { "WSS-FLV" } else { "WS-FLV" };
    let request = super::play::play_request(
        Protocol::WsFlv { tls: who.tls },
        &who.key,
        who.query.as_deref(),
        who.peer,
        who.page.clone(),
    );
    if let Err(refusal) = ctx.access.decide(&request).await {
        info!(peer = %who.peer, stream = %who.key, "{label} play refused: {refusal}");
        let mut out = vec![close_frame(close::POLICY_VIOLATION, &refusal.reason)];
        let _ = write_all_vectored(&mut wr, &mut out, write_timeout).await;
        linger(&mut rd, &mut wr).await;
        return;
    }
    let key = who.key.clone();
    let Some(subscriber) = wait_for_stream(ctx, &key, request.viewer(), &stop).await else {
        let mut out = vec![close_frame(CLOSE_NOT_FOUND, "stream not found")];
        let _ = write_all_vectored(&mut wr, &mut out, write_timeout).await;
        linger(&mut rd, &mut wr).await;
        return;
    };
    info!(peer = %who.peer, stream = %key, "{label} playing");
    let dialect = ctx.config.flv_dialect(&key.app, who.query.as_deref());
    let viewer = FlvViewer::new(
        subscriber,
        WsMessages::default(),
        Selection::all(dialect, ctx.config.timestamps(&key.app)),
        ctx.config.merge_window(&key.app),
    );
    let wait = Duration::from_millis(ctx.config.http.flv_wait_ms);
    let playback = FlvPlayback::new(viewer, wait, stop, label);
    let session = Session {
        playback,
        wr: Some(wr),
        direct: None,
        out: Vec::new(),
        write_timeout,
        label,
    };
    match session.run(rd).await {
        Ok(why) => info!(peer = %who.peer, stream = %key, "{label} stopped: {why}"),
        Err(e) => debug!(peer = %who.peer, stream = %key, "{label} viewer left: {e}"),
    }
}

/// One playing WebSocket-FLV connection.
struct Session {
    playback: FlvPlayback<WsMessages>,
    /// Ours, or the stream's while `direct` is set.
    wr: Option<TransportWrite>,
    direct: Option<DirectTicket>,
    out: Vec<Bytes>,
    write_timeout: Duration,
    label: &'static str,
}

/// What the stream did for the session.
enum Step {
    /// The stream handed the socket back.
    Returned(Option<crate::hub::Returned>),
    /// Bytes were added to `out` (`false`: the playback ended).
    More(bool),
}

/// What the client's frames ask for.
enum Asked {
    Nothing,
    Pongs(Vec<Bytes>),
    /// Close with this frame, logged with this reason (`None`: the client
    /// closed).
    Close(Bytes, Option<String>),
}

impl Session {
    async fn run(mut self, mut rd: TransportRead) -> std::io::Result<String> {
        let mut decoder = FrameDecoder::new(MAX_CONTROL_PAYLOAD);
        loop {
            tokio::select! {
                read = rd.read_with(|data| {
                    decoder.push(data);
                    client_frames(&mut decoder)
                }) => {
                    let asked = match read? {
                        None => return Ok("client closed the connection".into()),
                        Some(asked) => asked,
                    };
                    match asked {
                        Asked::Nothing => {}
                        Asked::Pongs(pongs) => {
                            self.take_back().await?;
                            self.out.extend(pongs);
                            self.write().await?;
                        }
                        Asked::Close(frame, why) => {
                            self.take_back().await?;
                            self.out.push(frame);
                            // Best effort: the connection ends either way.
                            let _ = self.write().await;
                            self.linger(&mut rd).await;
                            return Ok(match why {
                                None => "client sent close".into(),
                                Some(why) => {
                                    warn!("{} connection closed: {why}", self.label);
                                    why
                                }
                            });
                        }
                    }
                }
                step = async {
                    match self.direct.as_mut() {
                        Some(ticket) => Step::Returned(self.playback.wait_direct(ticket).await),
                        None => Step::More(self.playback.next_bytes(&mut self.out).await),
                    }
                } => match step {
                    Step::Returned(returned) => {
                        self.direct = None;
                        self.resume(returned)?;
                        self.write().await?;
                    }
                    Step::More(false) => {
                        self.out.clear();
                        self.out.push(close_frame(close::NORMAL, "stream ended"));
                        let _ = self.write().await;
                        self.linger(&mut rd).await;
                        return Ok("stream ended".into());
                    }
                    Step::More(true) => {
                        self.write().await?;
                        self.try_direct();
                    }
                },
            }
        }
    }

    async fn write(&mut self) -> std::io::Result<()> {
        let Some(w) = self.wr.as_mut() else {
            return Err(std::io::Error::other("the stream lost the socket"));
        };
        let result = write_all_vectored(w, &mut self.out, self.write_timeout).await;
        if self.out.capacity() > 16 {
            self.out = Vec::new();
        }
        result
    }

    async fn linger(&mut self, rd: &mut TransportRead) {
        if let Some(wr) = self.wr.as_mut() {
            linger(rd, wr).await;
        }
    }

    /// Hands the write side to the stream if it is a plain TCP socket and
    /// the viewer has caught up.
    fn try_direct(&mut self) {
        match self.wr.take() {
            Some(TransportWrite::Tcp(w)) => match self.playback.go_direct(w) {
                Ok(ticket) => self.direct = Some(ticket),
                Err(w) => self.wr = Some(TransportWrite::Tcp(w)),
            },
            other => self.wr = other,
        }
    }

    /// Takes the write side back from the stream, to write frames of our own.
    async fn take_back(&mut self) -> std::io::Result<()> {
        let Some(mut ticket) = self.direct.take() else {
            return Ok(());
        };
        let returned = ticket.recall().await;
        self.resume(returned)
    }

    fn resume(&mut self, returned: Option<crate::hub::Returned>) -> std::io::Result<()> {
        let returned =
            returned.ok_or_else(|| std::io::Error::other("the stream lost the socket"))?;
        let (w, pending) = self.playback.resume(returned)?;
        self.wr = Some(TransportWrite::Tcp(w));
        // What the socket did not take goes first.
        let later = std::mem::replace(&mut self.out, pending);
        self.out.extend(later);
        Ok(())
    }
}

/// After a close frame: the end of our side, then what the client still
/// sends is read and dropped, briefly, so its close frame (or data in
/// flight) does not make the kernel answer with a reset that could lose ours.
async fn linger(rd: &mut TransportRead, wr: &mut TransportWrite) {
    let _ = tokio::time::timeout(LINGER, async {
        let _ = wr.shutdown().await;
        while let Ok(Some(())) = rd.read_with(|_| ()).await {}
    })
    .await;
}

/// How long a closing connection waits for the client's side to end.
const LINGER: Duration = Duration::from_secs(1);

/// Reads the complete frames the client sent.
fn client_frames(decoder: &mut FrameDecoder) -> Asked {
    let mut pongs = Vec::new();
    loop {
        match decoder.next_frame() {
            Ok(None) => break,
            Ok(Some(frame)) => match answer(frame) {
                Ok(Some(pong)) => pongs.push(pong),
                Ok(None) => {}
                Err(close) => return close,
            },
            Err(e) => {
                let code = match e {
                    WsError::TooLarge { opcode, .. } if !opcode.is_control() => close::TOO_BIG,
                    _ => close::PROTOCOL_ERROR,
                };
                let frame = close_frame(code, &e.to_string());
                return Asked::Close(frame, Some(e.to_string()));
            }
        }
    }
    if pongs.is_empty() {
        Asked::Nothing
    } else {
        Asked::Pongs(pongs)
    }
}

/// A pong for a ping; a close for a close or a message a viewer must not send.
fn answer(frame: ClientFrame) -> Result<Option<Bytes>, Asked> {
    match frame.opcode {
        Opcode::Ping => Ok(Some(liu_ws::control_frame(Opcode::Pong, &frame.payload))),
        Opcode::Pong => Ok(None),
        Opcode::Close => match frame.close_code() {
            // Echo the status code (RFC 6455 section 5.5.1).
            None => Err(Asked::Close(close_frame(close::NORMAL, ""), None)),
            Some(code) if valid_close_code(code) => Err(Asked::Close(close_frame(code, ""), None)),
            Some(code) => {
                let why = format!("client closed with status code {code}, which is not sent");
                Err(Asked::Close(
                    close_frame(close::PROTOCOL_ERROR, &why),
                    Some(why),
                ))
            }
        },
        Opcode::Text | Opcode::Binary | Opcode::Continuation => {
            let why = "a WebSocket-FLV viewer sends no messages";
            Err(Asked::Close(
                close_frame(close::UNSUPPORTED_DATA, why),
                Some(format!("client sent a {:?} message: {why}", frame.opcode)),
            ))
        }
    }
}

/// Status codes a close frame may carry (RFC 6455 section 7.4): the
/// defined ones an endpoint sends, and those of libraries and applications.
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
