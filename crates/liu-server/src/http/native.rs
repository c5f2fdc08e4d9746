//! Liu's own HTTP/1.1 loop. A connection's first request head is read
//! here. An HTTP-FLV `GET` is served by this loop, which writes tags
//! straight to the socket and keeps no HTTP buffers while it streams (hyper
//! keeps 16 KiB per connection, more than the rest of a viewer); a
//! WebSocket upgrade on the same path gets its handshake answered here.
//! Any other request hands the connection, with the bytes read so far, to
//! hyper ([`super::service`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info};

use super::context::HttpContext;
use super::flv::{FlvPlayback, stream_native, wait_for_stream};
use super::head::{HeadError, Method, RequestHead, read_head};
use super::play::{flv_stream_key, play_request};
use super::service::serve_with_hyper;
use super::ws;
use crate::access::Protocol;
use crate::context::Context;
use crate::hub::StreamKey;
use crate::repeats::{self, Level};
use crate::viewer::{FlvTags, FlvViewer, Selection};

/// Serves one HTTP/1.1 connection.
pub async fn serve_connection(
    mut socket: TcpStream,
    peer: SocketAddr,
    web: Arc<HttpContext>,
    stop: watch::Receiver<bool>,
) {
    let ctx = web.shared.clone();
    let header_timeout = Duration::from_millis(ctx.config.http.header_timeout_ms);
    let mut buf = Vec::new();
    loop {
        let head =
            match tokio::time::timeout(header_timeout, read_head(&mut socket, &mut buf)).await {
                Err(_) => {
                    debug!("HTTP connection idle for {header_timeout:?} without a request: closed");
                    return;
                }
                Ok(Ok(Some(head))) => head,
                Ok(Ok(None)) => return,
                Ok(Err(e)) => {
                    reject(&mut socket, e).await;
                    return;
                }
            };
        let (key, websocket) = match route(&head) {
            Route::Flv(key) => (key, false),
            Route::WebSocketFlv(key) => (key, true),
            Route::Other => {
                serve_with_hyper(socket, buf, peer, false, web, stop).await;
                return;
            }
        };
        if websocket {
            // Bytes after the handshake would be the client's frames: a
            // viewer sends none before it is answered.
            serve_ws_native(socket, &head, key, peer, &ctx, stop).await;
            return;
        }
        // Pipelined bytes after an endless response have no meaning.
        buf = Vec::new();
        match serve_flv(socket, &head, key, peer, &ctx, &stop).await {
            Some(s) => socket = s,
            None => return,
        }
    }
}

/// Who serves a request, from its method, path and `Upgrade`.
enum Route {
    /// `GET /APP/STREAM.flv`: Liu's own HTTP-FLV loop.
    Flv(StreamKey),
    /// The same path with `Upgrade: websocket`: WebSocket-FLV.
    WebSocketFlv(StreamKey),
    /// Everything else: hyper.
    Other,
}

fn route(head: &RequestHead) -> Route {
    let Some(key) = flv_stream_key(&head.path) else {
        return Route::Other;
    };
    if head.handshake().wants_websocket() {
        Route::WebSocketFlv(key)
    } else if head.method == Method::Get && !head.has_body {
        Route::Flv(key)
    } else {
        Route::Other
    }
}

/// Answers a WebSocket-FLV handshake on a connection of our own: a bad one
/// gets 400 (426 for another version), a good one 101 and the stream.
async fn serve_ws_native(
    mut socket: TcpStream,
    head: &RequestHead,
    key: StreamKey,
    peer: SocketAddr,
    ctx: &Context,
    stop: watch::Receiver<bool>,
) {
    let write_timeout = Duration::from_millis(ctx.config.stream.write_timeout_ms);
    let accept = match head.handshake().accept() {
        Ok(accept) => accept,
        Err(e) => {
            repeats::note(
                "WebSocket handshake refused",
                Level::Warn,
                Some(peer.ip()),
                format_args!("WebSocket handshake from {peer} refused: {e}"),
            );
            let answer = handshake_refusal(&e);
            let _ = write_all(&mut socket, &[answer.as_bytes()], write_timeout).await;
            return;
        }
    };
    let answer = ws::switching_protocols(&accept);
    if !write_all(&mut socket, &[answer.as_bytes()], write_timeout).await {
        return;
    }
    let who = ws::WsViewer {
        key,
        query: head.query.clone(),
        page: head.page.clone(),
        peer,
        tls: false,
    };
    ws::serve(crate::transport::Transport::Tcp(socket), who, ctx, stop).await;
}

/// The answer to a handshake that cannot be taken (RFC 6455 section 4.2.2).
fn handshake_refusal(e: &liu_ws::WsError) -> String {
    let (status, extra) = match e {
        liu_ws::WsError::Version(_) => (
            "426 Upgrade Required",
            format!("Sec-WebSocket-Version: {}\r\n", liu_ws::VERSION),
        ),
        _ => ("400 Bad Request", String::new()),
    };
    let body = format!("{e}\n");
    format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Answers one HTTP-FLV `GET`; returns the socket if the connection may
/// carry another request.
async fn serve_flv(
    mut socket: TcpStream,
    head: &RequestHead,
    key: StreamKey,
    peer: SocketAddr,
    ctx: &Context,
    stop: &watch::Receiver<bool>,
) -> Option<TcpStream> {
    let write_timeout = Duration::from_millis(ctx.config.stream.write_timeout_ms);
    let keep_alive = head.keep_alive;
    let request = play_request(
        Protocol::HttpFlv { tls: false },
        &key,
        head.query.as_deref(),
        peer,
        head.page.clone(),
    );
    if let Err(refusal) = ctx.access.decide(&request).await {
        info!(%peer, stream = %key, "HTTP-FLV play refused: {refusal}");
        let body = format!("{refusal}\n");
        let answer = response_head(
            "403 Forbidden",
            "text/plain; charset=utf-8",
            Framing::Length(body.len()),
            keep_alive,
        );
        let sent = write_all(
            &mut socket,
            &[answer.as_bytes(), body.as_bytes()],
            write_timeout,
        )
        .await;
        return (sent && keep_alive).then_some(socket);
    }
    let viewer = request.viewer();
    let Some(subscriber) = wait_for_stream(ctx, &key, viewer, stop).await else {
        let answer = response_head(
            "404 Not Found",
            "text/plain; charset=utf-8",
            Framing::Length(NOT_FOUND.len()),
            keep_alive,
        );
        let sent = write_all(&mut socket, &[answer.as_bytes(), NOT_FOUND], write_timeout).await;
        return (sent && keep_alive).then_some(socket);
    };
    // A 1.0 client cannot take chunks: the body ends when the connection does.
    let chunked = head.http11;
    let framing = if chunked {
        Framing::Chunked
    } else {
        Framing::Close
    };
    let answer = response_head("200 OK", "video/x-flv", framing, keep_alive && chunked);
    if !write_all(&mut socket, &[answer.as_bytes()], write_timeout).await {
        return None;
    }
    info!(%peer, stream = %key, "HTTP-FLV playing");
    let wait = Duration::from_millis(ctx.config.http.flv_wait_ms);
    let merge_window = ctx.config.merge_window(&key.app);
    let dialect = ctx.config.flv_dialect(&key.app, head.query.as_deref());
    let viewer = FlvViewer::new(
        subscriber,
        FlvTags::new(chunked),
        Selection::all(dialect, ctx.config.timestamps(&key.app)),
        merge_window,
    );
    let playback = FlvPlayback::new(viewer, wait, stop.clone(), "HTTP-FLV");
    let socket = stream_native(socket, playback, chunked, write_timeout).await;
    info!(%peer, stream = %key, "HTTP-FLV stopped");
    socket.filter(|_| keep_alive)
}

const NOT_FOUND: &[u8] = b"stream not found\n";

/// How a response body is delimited (RFC 9112 section 6).
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

fn response_head(status: &str, content_type: &str, framing: Framing, keep_alive: bool) -> String {
    let framing = match framing {
        Framing::Length(n) => format!("Content-Length: {n}\r\n"),
        Framing::Chunked => "Transfer-Encoding: chunked\r\n".to_owned(),
        Framing::Close => String::new(),
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\
         Cache-Control: no-cache, no-store\r\nAccess-Control-Allow-Origin: *\r\n\
         {framing}Connection: {connection}\r\n\r\n"
    )
}

/// Writes `parts` within the write timeout; `false` if that failed.
async fn write_all(socket: &mut TcpStream, parts: &[&[u8]], timeout: Duration) -> bool {
    let mut bufs = parts
        .iter()
        .map(|p| bytes::Bytes::copy_from_slice(p))
        .collect();
    match crate::io::write_all_vectored(socket, &mut bufs, timeout).await {
        Ok(()) => true,
        Err(e) => {
            debug!("HTTP response not sent: {e}");
            false
        }
    }
}

/// Ends a connection whose request head is unusable, with one log line and,
/// where it helps the client, a status.
async fn reject(socket: &mut TcpStream, e: HeadError) {
    let status = match &e {
        HeadError::TooLarge => Some("431 Request Header Fields Too Large"),
        HeadError::Malformed(_) => Some("400 Bad Request"),
        HeadError::Truncated | HeadError::Io(_) => None,
    };
    match status {
        Some(status) => {
            repeats::note(
                "HTTP request rejected",
                Level::Warn,
                None,
                format_args!("HTTP request rejected: {e}"),
            );
            let answer =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            // Best effort, bounded: the connection closes either way.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), socket.write_all(answer.as_bytes()))
                    .await;
        }
        None => debug!("HTTP connection ended: {e}"),
    }
}
