//! HTTP-FLV playback: the FLV file header, then the stream's frames as FLV
//! tags (FLV spec E.2-E.3), each tag serialized once per frame and shared
//! by every viewer.
//!
//! [`FlvPlayback`] decides what a viewer is sent; two sinks carry it: Liu's
//! own streaming loop on the socket ([`stream_native`], for a request that
//! opens a connection, with no per-connection HTTP buffers), and a hyper
//! response body ([`hyper_body`], for a request on a connection hyper
//! already serves).

use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::buf_list::BufList;
use crate::context::Context;
use crate::hub::{DirectTicket, Returned, StreamKey, Subscriber, ViewerInfo};
use crate::io::write_all_vectored;
use crate::viewer::{FlvForm, FlvTags, FlvViewer, Next};

use super::reply::Body;

/// Buffer lists longer than this are released after use, so an idle
/// viewer keeps small ones.
const SMALL_BATCH: usize = 16;
/// Longest a new viewer holds its first tags to learn the stream's tracks.
const HEADER_WAIT: Duration = Duration::from_secs(1);
/// Bytes a playing client may send (pipelined requests, noise) before it
/// is disconnected.
const MAX_IGNORED_INPUT: usize = 64 * 1024;

/// One HTTP-FLV (or WebSocket-FLV) viewer: the FLV file the driver writes,
/// ended at shutdown or when a publisher that left does not come back.
pub struct FlvPlayback<F: FlvForm> {
    viewer: FlvViewer<F>,
    /// How long to wait for a publisher that left to come back.
    wait: Duration,
    /// Until when a publisher that left may come back.
    left_until: Option<tokio::time::Instant>,
    announced: bool,
    stop: watch::Receiver<bool>,
    done: bool,
    /// The protocol, for log lines.
    label: &'static str,
}

impl<F: FlvForm> FlvPlayback<F> {
    pub fn new(
        viewer: FlvViewer<F>,
        wait: Duration,
        stop: watch::Receiver<bool>,
        label: &'static str,
    ) -> Self {
        FlvPlayback {
            viewer,
            wait,
            left_until: None,
            announced: false,
            stop,
            done: false,
            label,
        }
    }

    /// Appends the next bytes to send to `out`, waiting until there are
    /// some; `false` when the playback has ended and nothing was added.
    pub async fn next_bytes(&mut self, out: &mut Vec<Bytes>) -> bool {
        let before = out.len();
        while out.len() == before {
            if self.done {
                return false;
            }
            // Each wait below may be cancelled (a WebSocket viewer's ping):
            // its state is kept so the next call goes on where it was.
            if let Some(until) = self.left_until {
                // Stay connected while the publisher may come back.
                let back = tokio::select! {
                    back = self.viewer.wait_published(until.saturating_duration_since(tokio::time::Instant::now())) => back,
                    _ = self.stop.changed() => false,
                };
                self.left_until = None;
                self.done = !back;
                continue;
            }
            if !self.announced {
                let announced = tokio::select! {
                    r = self.viewer.announce(HEADER_WAIT) => r,
                    _ = self.stop.changed() => {
                        self.done = true;
                        continue;
                    }
                };
                self.announced = true;
                if let Err(e) = announced {
                    warn!("{} viewer dropped: {e}", self.label);
                    self.done = true;
                }
                continue;
            }
            let next = tokio::select! {
                next = self.viewer.next(out) => next,
                _ = self.stop.changed() => {
                    self.done = true;
                    continue;
                }
            };
            match next {
                Err(e) => {
                    warn!("{} viewer dropped: {e}", self.label);
                    self.done = true;
                }
                Ok(Next::Unpublished) => {
                    self.left_until = Some(tokio::time::Instant::now() + self.wait);
                }
                Ok(Next::Frames | Next::Published | Next::Skipped) => {}
            }
        }
        true
    }

    /// Hands the socket's write side to the stream if the viewer has read
    /// all there is and has not ended ([`FlvViewer::go_direct`]).
    pub fn go_direct(
        &mut self,
        wr: tokio::net::tcp::OwnedWriteHalf,
    ) -> Result<DirectTicket, tokio::net::tcp::OwnedWriteHalf> {
        if self.done {
            return Err(wr);
        }
        self.viewer.go_direct(wr)
    }

    /// Waits until the stream hands the socket back, or takes it back at
    /// shutdown (the playback then ends).
    pub async fn wait_direct(&mut self, ticket: &mut DirectTicket) -> Option<Returned> {
        tokio::select! {
            returned = ticket.returned() => returned,
            _ = self.stop.changed() => {
                self.done = true;
                ticket.recall().await
            }
        }
    }

    /// Continues where the stream stopped writing ([`FlvViewer::resume`]).
    pub fn resume(
        &mut self,
        returned: Returned,
    ) -> io::Result<(tokio::net::tcp::OwnedWriteHalf, Vec<Bytes>)> {
        self.viewer.resume(returned)
    }
}

/// A subscription to `key` once it is published, waiting up to
/// `[http] flv_wait_ms` for a publisher; `None` if none came.
pub async fn wait_for_stream(
    ctx: &Context,
    key: &StreamKey,
    viewer: ViewerInfo,
    stop: &watch::Receiver<bool>,
) -> Option<Subscriber> {
    let subscriber = ctx.hub.subscribe(key, viewer);
    let wait = Duration::from_millis(ctx.config.http.flv_wait_ms);
    let mut stopping = stop.clone();
    let published = tokio::select! {
        published = subscriber.wait_published(wait) => published,
        _ = stopping.changed() => false,
    };
    published.then_some(subscriber)
}

/// Streams `playback` on `socket` as the body of a response whose head was
/// already written: one vectored write per batch of tags, framed as one
/// chunk (RFC 9112 section 7.1) when `chunked`, else delimited by closing.
/// While the viewer is caught up (and has no merge window) the stream
/// writes to it directly ([`FlvSink`]). Input from the client is watched
/// only to notice that it left. Returns the socket if the body ended
/// properly and the connection may carry another request.
pub async fn stream_native(
    socket: TcpStream,
    mut playback: FlvPlayback<FlvTags>,
    chunked: bool,
    write_timeout: Duration,
) -> Option<TcpStream> {
    let (rd, wr) = socket.into_split();
    // Ours, or the stream's while `direct` is set.
    let mut wr = Some(wr);
    let writing = async {
        let mut out: Vec<Bytes> = Vec::new();
        let mut direct: Option<DirectTicket> = None;
        loop {
            if let Some(mut ticket) = direct.take() {
                let returned = playback
                    .wait_direct(&mut ticket)
                    .await
                    .ok_or_else(|| io::Error::other("the stream lost the socket"))?;
                let (w, pending) = playback.resume(returned)?;
                let w = wr.insert(w);
                out = pending;
                write_all_vectored(w, &mut out, write_timeout).await?;
                continue;
            }
            let Some(w) = wr.as_mut() else {
                return Ok(false);
            };
            if !playback.next_bytes(&mut out).await {
                if !chunked {
                    return Ok(false);
                }
                out.clear();
                out.push(Bytes::from_static(b"0\r\n\r\n"));
                write_all_vectored(w, &mut out, write_timeout).await?;
                return Ok(true);
            }
            write_all_vectored(w, &mut out, write_timeout).await?;
            if out.capacity() > SMALL_BATCH {
                out = Vec::new();
            }
            if let Some(w) = wr.take() {
                match playback.go_direct(w) {
                    Ok(ticket) => direct = Some(ticket),
                    Err(w) => wr = Some(w),
                }
            }
        }
    };
    let watching = async {
        let mut ignored = 0usize;
        let mut scratch = [0u8; 512];
        loop {
            if rd.readable().await.is_err() {
                return "read error";
            }
            match rd.try_read(&mut scratch) {
                Ok(0) => return "client closed the connection",
                Ok(n) => {
                    ignored += n;
                    if ignored > MAX_IGNORED_INPUT {
                        return "client kept sending while playing";
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return "read error",
            }
        }
    };
    let finished = tokio::select! {
        end = writing => match end {
            Ok(finished) => finished,
            Err::<_, io::Error>(e) => {
                debug!("HTTP-FLV viewer left: {e}");
                false
            }
        },
        why = watching => {
            debug!("HTTP-FLV viewer left: {why}");
            false
        }
    };
    if finished {
        wr.and_then(|w| rd.reunite(w).ok())
    } else {
        None
    }
}

/// The same playback as a hyper response body, one body frame per batch,
/// or per `max_frame` bytes of it. Over TLS hyper copies each frame into its
/// write buffer, which keeps its largest size for the connection's life: a
/// whole GOP-cache batch would make every HTTPS viewer hold that much.
pub fn hyper_body(playback: FlvPlayback<FlvTags>, max_frame: Option<usize>) -> Body {
    let state = (playback, BufList::default());
    let stream =
        futures_util::stream::unfold(state, move |(mut playback, mut pending)| async move {
            if pending.remaining() == 0 {
                let mut tags = Vec::new();
                if !playback.next_bytes(&mut tags).await {
                    return None;
                }
                pending = tags.into_iter().collect();
            }
            let frame = match max_frame {
                Some(max) => pending.split_to(max),
                None => std::mem::take(&mut pending),
            };
            Some((frame, (playback, pending)))
        });
    StreamBody::new(stream.map(|b| Ok(hyper::body::Frame::data(b)))).boxed_unsync()
}
