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

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use liu_flv::av::FlvDialect;
use liu_flv::flv::{TagType, encode_file_header, encode_tag};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::buf_list::BufList;
use crate::dialect::frame_in;
use crate::hub::{
    Delivery, DirectTicket, FormSlot, Frame, FrameKind, Returned, StreamHeaders, StreamKey,
    Subscriber, ViewerInfo,
};
use crate::io::write_all_vectored;
use crate::server::Context;

use super::service::Body;
use super::sink::{FlvSink, MAX_LINE, hex_line};

/// The shared FLV tag form of a frame.
pub const FLV_FORM: FormSlot = FormSlot(1);
/// Most deliveries taken from the hub at once.
const BATCH: usize = 128;
/// Buffer lists longer than this are released after use, so an idle
/// viewer keeps small ones.
const SMALL_BATCH: usize = 16;
/// Longest a new viewer holds its first tags to learn the stream's tracks.
const HEADER_WAIT: Duration = Duration::from_secs(1);
/// Bytes a playing client may send (pipelined requests, noise) before it
/// is disconnected.
const MAX_IGNORED_INPUT: usize = 64 * 1024;

/// One viewer's position in a stream and what it is due next.
pub struct FlvPlayback {
    subscriber: Subscriber,
    batch: Vec<Delivery>,
    header_sent: bool,
    /// How long to wait for a publisher that left to come back.
    wait: Duration,
    merge_window: Duration,
    /// Media was delivered already (the merge window applies from then on).
    started: bool,
    /// Legacy (H.265 as codec id 12) or Enhanced RTMP tags.
    dialect: FlvDialect,
    stop: watch::Receiver<bool>,
    done: bool,
}

impl FlvPlayback {
    pub fn new(
        subscriber: Subscriber,
        wait: Duration,
        merge_window: Duration,
        dialect: FlvDialect,
        stop: watch::Receiver<bool>,
    ) -> Self {
        FlvPlayback {
            subscriber,
            batch: Vec::new(),
            header_sent: false,
            wait,
            merge_window,
            started: false,
            dialect,
            stop,
            done: false,
        }
    }

    /// Appends the next bytes to send to `out`, waiting until there are
    /// some; `false` when the playback has ended and nothing was added.
    pub async fn next_tags(&mut self, out: &mut Vec<Bytes>) -> bool {
        let before = out.len();
        while out.len() == before {
            if self.done {
                return false;
            }
            if self.header_sent {
                self.fill(out).await;
            } else {
                self.header_sent = true;
                self.send_header(out).await;
            }
        }
        true
    }

    async fn fill(&mut self, out: &mut Vec<Bytes>) {
        let result = tokio::select! {
            r = self.subscriber.next_batch(&mut self.batch, BATCH) => r,
            _ = self.stop.changed() => {
                self.done = true;
                return;
            }
        };
        let result = match result {
            // The first batch (the GOP cache) leaves at once.
            Ok(())
                if !self.merge_window.is_zero() && std::mem::replace(&mut self.started, true) =>
            {
                // Let more messages arrive so one write carries them all.
                tokio::time::sleep(self.merge_window).await;
                self.subscriber.read_ready(&mut self.batch, BATCH)
            }
            other => other,
        };
        if let Err(e) = result {
            warn!("HTTP-FLV viewer dropped: {e}");
            self.done = true;
            return;
        }
        self.take_batch(out).await;
    }

    /// Moves delivered frames to `out` as FLV tags; returns the kinds seen.
    async fn take_batch(&mut self, out: &mut Vec<Bytes>) -> (bool, bool) {
        let (mut audio, mut video) = (false, false);
        let mut batch = std::mem::take(&mut self.batch);
        for delivery in batch.drain(..) {
            match delivery {
                Delivery::Frame(frame) => {
                    audio |= frame.kind == FrameKind::Audio;
                    video |= frame.kind == FrameKind::Video;
                    if let Some(frame) = frame_in(&frame, self.dialect) {
                        out.push(frame.form(FLV_FORM, flv_form));
                    }
                }
                Delivery::Unpublished => {
                    // Stay connected while the publisher may come back.
                    let back = tokio::select! {
                        back = self.subscriber.wait_published(self.wait) => back,
                        _ = self.stop.changed() => false,
                    };
                    if !back {
                        self.done = true;
                        break;
                    }
                }
                Delivery::Published | Delivery::Skipped => {}
            }
        }
        if batch.capacity() <= SMALL_BATCH {
            self.batch = batch;
        }
        (audio, video)
    }

    /// The viewer may hand its socket to the stream: its header and first
    /// tags are out, and it has not ended.
    pub fn may_go_direct(&self) -> bool {
        self.header_sent && !self.done
    }

    /// See [`Subscriber::go_direct`].
    pub(super) fn go_direct(&mut self, sink: Box<FlvSink>) -> Result<DirectTicket, Box<FlvSink>> {
        self.subscriber.go_direct(sink)
    }

    /// Waits until the stream hands the socket back, or takes it back at
    /// shutdown (the playback then ends).
    pub(super) async fn wait_direct(&mut self, ticket: &mut DirectTicket) -> Option<Returned> {
        tokio::select! {
            returned = ticket.returned() => returned,
            _ = self.stop.changed() => {
                self.done = true;
                ticket.recall().await
            }
        }
    }

    /// Continues where the stream stopped writing.
    pub(super) fn resume(&mut self, returned: Returned) -> Option<Box<FlvSink>> {
        self.subscriber.resume(returned)
    }

    /// The FLV header's audio and video flags must be right from the first
    /// byte (flv.js and mpegts.js wait for every announced track), so hold
    /// the first tags until the stream's tracks are known: from
    /// `onMetaData`, from both tracks' frames, or after `HEADER_WAIT`.
    async fn send_header(&mut self, out: &mut Vec<Bytes>) {
        let first = out.len();
        let deadline = tokio::time::Instant::now() + HEADER_WAIT;
        let (mut saw_audio, mut saw_video) = (false, false);
        let (audio, video) = loop {
            if let Some(tracks) = announced_tracks(&self.subscriber.headers()) {
                break tracks;
            }
            if saw_audio && saw_video {
                break (true, true);
            }
            let more = tokio::select! {
                r = tokio::time::timeout_at(deadline, self.subscriber.next_batch(&mut self.batch, BATCH)) => r,
                _ = self.stop.changed() => {
                    self.done = true;
                    return;
                }
            };
            match more {
                Ok(Ok(())) => {
                    let (a, v) = self.take_batch(out).await;
                    saw_audio |= a;
                    saw_video |= v;
                    if self.done {
                        return;
                    }
                }
                Ok(Err(e)) => {
                    warn!("HTTP-FLV viewer dropped: {e}");
                    self.done = true;
                    return;
                }
                Err(_) if saw_audio || saw_video => break (saw_audio, saw_video),
                Err(_) => break (true, true),
            }
        };
        out.insert(
            first,
            Bytes::copy_from_slice(&encode_file_header(audio, video)),
        );
    }
}

/// The tracks a stream announces: `onMetaData`'s `audiocodecid` and
/// `videocodecid` (FLV spec E.5) and the sequence headers seen, else both
/// sequence headers.
fn announced_tracks(h: &StreamHeaders) -> Option<(bool, bool)> {
    if let Some(meta) = &h.metadata
        && let Ok(values) = liu_flv::amf0::decode_all(&meta.payload)
        && let Some(object) = values.get(1)
    {
        let audio = object.get("audiocodecid").is_some() || h.audio_config.is_some();
        let video = object.get("videocodecid").is_some() || h.video_config.is_some();
        if audio || video {
            return Some((audio, video));
        }
    }
    (h.audio_config.is_some() && h.video_config.is_some()).then_some((true, true))
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

/// A frame as one FLV tag with its trailing PreviousTagSize (FLV spec E.3).
pub(crate) fn flv_form(frame: &Frame) -> Bytes {
    let tag_type = match frame.kind {
        FrameKind::Audio => TagType::Audio,
        FrameKind::Video => TagType::Video,
        FrameKind::Data => TagType::Script,
    };
    encode_tag(tag_type, frame.wire_timestamp(), &frame.payload)
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
    mut playback: FlvPlayback,
    chunked: bool,
    write_timeout: Duration,
) -> Option<TcpStream> {
    let (rd, wr) = socket.into_split();
    // Ours, or the stream's while `direct` is set.
    let mut wr = Some(wr);
    let writing = async {
        let mut out: Vec<Bytes> = Vec::new();
        // Chunk-size lines, each split off one reused buffer.
        let mut lines = BytesMut::new();
        let mut direct: Option<DirectTicket> = None;
        loop {
            if let Some(mut ticket) = direct.take() {
                let returned = playback.wait_direct(&mut ticket).await;
                let sink = returned
                    .and_then(|r| playback.resume(r))
                    .ok_or_else(|| io::Error::other("the stream lost the socket"))?;
                let FlvSink {
                    wr: w,
                    pending,
                    error,
                    ..
                } = *sink;
                let w = wr.insert(w);
                if let Some(e) = error {
                    return Err(e);
                }
                out = pending;
                write_all_vectored(w, &mut out, write_timeout).await?;
                continue;
            }
            let Some(w) = wr.as_mut() else {
                return Ok(false);
            };
            if chunked {
                out.push(Bytes::new()); // the chunk-size line, set below
            }
            if !playback.next_tags(&mut out).await {
                if !chunked {
                    return Ok(false);
                }
                out.clear();
                out.push(Bytes::from_static(b"0\r\n\r\n"));
                write_all_vectored(w, &mut out, write_timeout).await?;
                return Ok(true);
            }
            if chunked {
                let len: usize = out[1..].iter().map(Bytes::len).sum();
                let mut line = [0u8; MAX_LINE];
                let n = hex_line(&mut line, len);
                lines.reserve(MAX_LINE);
                lines.extend_from_slice(&line[..n]);
                out[0] = lines.split().freeze();
                out.push(Bytes::from_static(b"\r\n"));
            }
            write_all_vectored(w, &mut out, write_timeout).await?;
            if out.capacity() > SMALL_BATCH {
                out = Vec::new();
            }
            if playback.may_go_direct()
                && let Some(w) = wr.take()
            {
                let sink = FlvSink::new(w, chunked, playback.dialect);
                match playback.go_direct(Box::new(sink)) {
                    Ok(ticket) => direct = Some(ticket),
                    Err(sink) => wr = Some(sink.wr),
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
pub fn hyper_body(playback: FlvPlayback, max_frame: Option<usize>) -> Body {
    let state = (playback, BufList::default());
    let stream =
        futures_util::stream::unfold(state, move |(mut playback, mut pending)| async move {
            if pending.remaining() == 0 {
                let mut tags = Vec::new();
                if !playback.next_tags(&mut tags).await {
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
