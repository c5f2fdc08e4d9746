//! The HTTP listener: HTTP-FLV playback (`GET /APP/STREAM.flv`), CORS, and
//! proper answers for everything else. Later issues add HLS, the API and
//! the console on the same port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use liu_flv::flv::{TagType, encode_file_header, encode_tag};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::buf_list::BufList;
use crate::hub::{Delivery, FormSlot, Frame, FrameKind, StreamHeaders, StreamKey, Subscriber};
use crate::io::WriteTimeout;
use crate::server::Context;

/// The shared FLV tag form of a frame.
pub const FLV_FORM: FormSlot = FormSlot(1);
/// Largest request head accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;
const BATCH: usize = 128;

/// Response bodies carry lists of shared buffers: an HTTP-FLV body frame
/// is a whole batch of tags.
type Body = UnsyncBoxBody<BufList, Infallible>;

/// Serves one HTTP/1.1 connection with hyper.
pub async fn serve_connection(
    socket: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    stop: watch::Receiver<bool>,
) {
    let service = service_fn(|req| {
        let ctx = ctx.clone();
        let stop = stop.clone();
        async move { Ok::<_, Infallible>(route(req, peer, ctx, stop).await) }
    });
    let write_timeout = Duration::from_millis(ctx.config.stream.write_timeout_ms);
    let io = TokioIo::new(WriteTimeout::new(socket, write_timeout));
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(ctx.config.http.header_timeout_ms))
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .serve_connection(io, service)
        .await;
    if let Err(e) = result {
        debug!("HTTP connection ended: {e}");
    }
}

async fn route(
    req: Request<Incoming>,
    peer: SocketAddr,
    ctx: Arc<Context>,
    stop: watch::Receiver<bool>,
) -> Response<Body> {
    let path = req.uri().path();
    if req.method() == Method::OPTIONS {
        return preflight(&req);
    }
    let Some(key) = flv_stream_key(path) else {
        return if path == "/" {
            text(
                StatusCode::OK,
                "Liu live streaming server. Play: /APP/STREAM.flv\n",
            )
        } else {
            text(StatusCode::NOT_FOUND, "not found\n")
        };
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        resp.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return resp;
    }
    let subscriber = ctx.hub.subscribe(&key);
    let wait = Duration::from_millis(ctx.config.http.flv_wait_ms);
    let mut stopping = stop.clone();
    let published = tokio::select! {
        published = subscriber.wait_published(wait) => published,
        _ = stopping.changed() => false,
    };
    if !published {
        return text(StatusCode::NOT_FOUND, "stream not found\n");
    }
    let mut resp = Response::builder()
        .header(header::CONTENT_TYPE, "video/x-flv")
        .header(header::CACHE_CONTROL, "no-cache, no-store")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    if req.method() == Method::HEAD {
        resp = resp.header(header::CONNECTION, "keep-alive");
        return resp
            .body(empty())
            .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error\n"));
    }
    info!(%peer, stream = %key, "HTTP-FLV playing");
    let body = flv_body(subscriber, wait, ctx.config.merge_window(&key.app), stop);
    resp.body(body)
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error\n"))
}

/// `/APP/STREAM.flv` (APP may have several segments) to a stream key.
fn flv_stream_key(path: &str) -> Option<StreamKey> {
    let path = path.strip_prefix('/')?;
    let (app, file) = path.rsplit_once('/')?;
    let name = file.strip_suffix(".flv")?;
    if app.is_empty() || name.is_empty() || app.split('/').any(|s| s.is_empty() || s == "..") {
        return None;
    }
    Some(StreamKey::new(app, name))
}

struct FlvState {
    subscriber: Subscriber,
    /// Tags ready to send, as one body frame.
    pending: BufList,
    batch: Vec<Delivery>,
    header_sent: bool,
    wait: Duration,
    merge_window: Duration,
    /// Media was delivered already (the merge window applies from then on).
    started: bool,
    stop: watch::Receiver<bool>,
    done: bool,
}

/// The response body: FLV header, then tags as the hub delivers them.
fn flv_body(
    subscriber: Subscriber,
    wait: Duration,
    merge_window: Duration,
    stop: watch::Receiver<bool>,
) -> Body {
    let state = FlvState {
        subscriber,
        pending: BufList::default(),
        batch: Vec::with_capacity(BATCH),
        header_sent: false,
        wait,
        merge_window,
        started: false,
        stop,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if !st.pending.is_empty() {
                let batch = std::mem::take(&mut st.pending);
                return Some((batch, st));
            }
            if st.done {
                return None;
            }
            st.fill().await;
        }
    });
    StreamBody::new(stream.map(|b| Ok(hyper::body::Frame::data(b)))).boxed_unsync()
}

impl FlvState {
    async fn fill(&mut self) {
        if !self.header_sent {
            self.header_sent = true;
            self.send_header().await;
            return;
        }
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
        self.take_batch().await;
    }

    /// Moves delivered frames to `pending` as FLV tags; returns the kinds seen.
    async fn take_batch(&mut self) -> (bool, bool) {
        let (mut audio, mut video) = (false, false);
        let mut batch = std::mem::take(&mut self.batch);
        for delivery in batch.drain(..) {
            match delivery {
                Delivery::Frame(frame) => {
                    audio |= frame.kind == FrameKind::Audio;
                    video |= frame.kind == FrameKind::Video;
                    self.pending.push(frame.form(FLV_FORM, flv_form));
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
        self.batch = batch;
        (audio, video)
    }

    /// The FLV header's audio and video flags must be right from the first
    /// byte (flv.js and mpegts.js wait for every announced track), so hold
    /// the first tags until the stream's tracks are known: from
    /// `onMetaData`, from both tracks' frames, or after `HEADER_WAIT`.
    async fn send_header(&mut self) {
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
                    let (a, v) = self.take_batch().await;
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
        self.pending
            .push_front(Bytes::copy_from_slice(&encode_file_header(audio, video)));
    }
}

/// Longest a new HTTP-FLV response holds its first tags to learn the tracks.
const HEADER_WAIT: Duration = Duration::from_secs(1);

/// The tracks a stream announces: `onMetaData`'s `audiocodecid` and
/// `videocodecid` (FLV spec E.5), else both sequence headers.
fn announced_tracks(h: &StreamHeaders) -> Option<(bool, bool)> {
    if let Some(meta) = &h.metadata
        && let Ok(values) = liu_flv::amf0::decode_all(&meta.payload)
        && let Some(object) = values.get(1)
    {
        let audio = object.get("audiocodecid").is_some();
        let video = object.get("videocodecid").is_some();
        if audio || video {
            return Some((audio, video));
        }
    }
    (h.audio_config.is_some() && h.video_config.is_some()).then_some((true, true))
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

fn preflight(req: &Request<Incoming>) -> Response<Body> {
    let allow_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS")
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers)
        .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
        .body(empty())
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error\n"))
}

fn empty() -> Body {
    Empty::new().boxed_unsync()
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp =
        Response::new(Full::new(BufList::from(Bytes::from_static(body.as_bytes()))).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flv_paths() {
        assert_eq!(
            flv_stream_key("/live/cam.flv"),
            Some(StreamKey::new("live", "cam"))
        );
        assert_eq!(
            flv_stream_key("/a/b/cam.flv"),
            Some(StreamKey::new("a/b", "cam"))
        );
        assert_eq!(flv_stream_key("/cam.flv"), None);
        assert_eq!(flv_stream_key("/live/.flv"), None);
        assert_eq!(flv_stream_key("/live/cam.m3u8"), None);
        assert_eq!(flv_stream_key("//cam.flv"), None);
        assert_eq!(flv_stream_key("/../x/cam.flv"), None);
    }
}
