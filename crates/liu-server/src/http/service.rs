//! Requests served by hyper: everything but a connection's opening
//! HTTP-FLV request (CORS preflights, HEAD, unknown paths and methods, and
//! HTTP-FLV on a connection that began with another request).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use liu_rtmp::tunnel::TunnelRequest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use super::context::HttpContext;
use super::flv::{FlvPlayback, hyper_body, wait_for_stream};
use super::head::MAX_HEAD_BYTES;
use super::hls::{self, Asker, HlsRequest};
use super::play::{flv_stream_key, page_of, play_request};
use super::reply::{Body, empty, forbidden, text};
use crate::access::Protocol;
use crate::config::RtmpTransport;
use crate::context::Context;
use crate::hub::StreamKey;
use crate::io::{Prefixed, WriteTimeout};
use crate::viewer::{FlvTags, FlvViewer, Selection};

/// Serves the rest of an HTTP/1.1 connection with hyper; `read` holds
/// bytes already read from it. `tls` says it came over HTTPS.
pub async fn serve_with_hyper<S>(
    socket: S,
    read: Vec<u8>,
    peer: SocketAddr,
    tls: bool,
    web: Arc<HttpContext>,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // An upgraded connection (WebSocket-FLV) is served by a task of its
    // own once hyper lets go of it; each such task holds a clone of
    // `upgraded`, and this function waits for them, so the connection keeps
    // its place in the listener's connection limit while it streams.
    let (upgraded, mut upgrades_done) = mpsc::channel::<()>(1);
    let service = service_fn(|req| {
        let web = web.clone();
        let stop = stop.clone();
        let upgraded = upgraded.clone();
        async move { Ok::<_, Infallible>(route(req, peer, tls, web, stop, upgraded).await) }
    });
    let ctx = &web.shared;
    let write_timeout = Duration::from_millis(ctx.config.stream.write_timeout_ms);
    let io = TokioIo::new(WriteTimeout::new(
        Prefixed::new(read, socket),
        write_timeout,
    ));
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // librtmp's RTMPT looks for "Content-Length:" as written.
        .title_case_headers(true)
        // Over TLS, head and body in one record: librtmp's RTMPTS reads an
        // answer whole from one record.
        .writev(!tls)
        .header_read_timeout(Duration::from_millis(ctx.config.http.header_timeout_ms))
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .serve_connection(io, service)
        .with_upgrades()
        .await;
    if let Err(e) = result {
        debug!("HTTP connection ended: {e}");
    }
    drop(upgraded);
    let _ = upgrades_done.recv().await;
}

async fn route(
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    web: Arc<HttpContext>,
    stop: watch::Receiver<bool>,
    upgraded: mpsc::Sender<()>,
) -> Response<Body> {
    let ctx = web.shared.clone();
    let path = req.uri().path();
    if req.method() == Method::OPTIONS {
        return preflight(&req);
    }
    if req.method() == Method::TRACE || req.method() == Method::CONNECT {
        return method_not_allowed();
    }
    if req.method() == Method::POST
        && ctx.config.rtmpt.enabled
        && TunnelRequest::parse(path).is_some()
    {
        return tunnel(req, peer, tls, &web, &stop).await;
    }
    let page = page_of(req.headers());
    if let Some(hls) = HlsRequest::parse(path, req.uri().query()) {
        let asker = Asker {
            peer,
            tls,
            query: req.uri().query(),
            page,
        };
        return hls::serve(hls, req.method(), req.headers(), asker, &ctx, &web.hls).await;
    }
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok());
    if let Some(key) = flv_stream_key(path)
        && upgrade.is_some_and(|u| {
            u.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
        })
    {
        return websocket(req, key, peer, tls, ctx, stop, upgraded);
    }
    let Some(key) = flv_stream_key(path) else {
        return if req.method() != Method::GET && req.method() != Method::HEAD {
            method_not_allowed()
        } else if path == "/" {
            text(
                StatusCode::OK,
                "Liu live streaming server. Play: /APP/STREAM.flv, /APP/STREAM.m3u8\n",
            )
        } else {
            text(StatusCode::NOT_FOUND, "not found\n")
        };
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed();
    }
    let request = play_request(
        Protocol::HttpFlv { tls },
        &key,
        req.uri().query(),
        peer,
        page,
    );
    if let Err(refusal) = ctx.access.decide(&request).await {
        info!(%peer, stream = %key, "HTTP-FLV play refused: {refusal}");
        return forbidden(&refusal);
    }
    let Some(subscriber) = wait_for_stream(&ctx, &key, request.viewer(), &stop).await else {
        return text(StatusCode::NOT_FOUND, "stream not found\n");
    };
    let wait = Duration::from_millis(ctx.config.http.flv_wait_ms);
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
    let dialect = ctx.config.flv_dialect(&key.app, req.uri().query());
    let viewer = FlvViewer::new(
        subscriber,
        FlvTags::new(false),
        Selection::all(dialect, ctx.config.timestamps(&key.app)),
        ctx.config.merge_window(&key.app),
    );
    let playback = FlvPlayback::new(viewer, wait, stop, "HTTPS-FLV");
    // Over TLS hyper flattens body frames into one buffer (`writev(false)`
    // above): frames of at most its own limit keep that buffer small.
    let body = hyper_body(playback, tls.then_some(MAX_HEAD_BYTES));
    resp.body(body)
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error\n"))
}

/// A WebSocket-FLV handshake on a connection hyper serves (`wss://`, or a
/// connection that began with another request): `101`, then the stream on
/// the upgraded connection.
fn websocket(
    mut req: Request<Incoming>,
    key: StreamKey,
    peer: SocketAddr,
    tls: bool,
    ctx: Arc<Context>,
    stop: watch::Receiver<bool>,
    upgraded: mpsc::Sender<()>,
) -> Response<Body> {
    let header_text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (upgrade, connection) = (
        header_text(header::UPGRADE),
        header_text(header::CONNECTION),
    );
    let (ws_key, version) = (
        header_text(header::SEC_WEBSOCKET_KEY),
        header_text(header::SEC_WEBSOCKET_VERSION),
    );
    let handshake = liu_ws::HandshakeRequest {
        get: req.method() == Method::GET,
        http11: req.version() == http::Version::HTTP_11,
        upgrade: upgrade.as_deref(),
        connection: connection.as_deref(),
        key: ws_key.as_deref(),
        version: version.as_deref(),
    };
    let accept = match handshake.accept() {
        Ok(accept) => accept,
        Err(e) => {
            crate::repeats::note(
                "WebSocket handshake refused",
                crate::repeats::Level::Warn,
                Some(peer.ip()),
                format_args!("WebSocket handshake from {peer} refused: {e}"),
            );
            let mut resp = text(StatusCode::BAD_REQUEST, "bad WebSocket handshake\n");
            if let liu_ws::WsError::Version(_) = e {
                *resp.status_mut() = StatusCode::UPGRADE_REQUIRED;
                resp.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static(liu_ws::VERSION),
                );
            }
            return resp;
        }
    };
    let who = super::ws::WsViewer {
        key,
        query: req.uri().query().map(str::to_string),
        page: page_of(req.headers()),
        peer,
        tls,
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let _connection_slot = upgraded;
        match upgrade.await {
            Ok(io) => {
                let transport = crate::transport::Transport::Stream(Box::new(TokioIo::new(io)));
                super::ws::serve(transport, who, &ctx, stop).await;
            }
            Err(e) => debug!(%peer, "WebSocket upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(empty())
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error\n"))
}

/// One RTMPT request: its body goes to the tunnel, the tunnel's bytes come
/// back.
async fn tunnel(
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    web: &HttpContext,
    stop: &watch::Receiver<bool>,
) -> Response<Body> {
    let ctx = &web.shared;
    let (parts, body) = req.into_parts();
    let limit = ctx.config.rtmpt.max_buffered_bytes;
    let body = match Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            info!(%peer, "RTMPT request body refused: {e}");
            if let Some(Ok(request)) = TunnelRequest::parse(parts.uri.path()) {
                web.tunnels.end(request.session);
            }
            return text(StatusCode::PAYLOAD_TOO_LARGE, "RTMPT body too large\n");
        }
    };
    let kind = if tls {
        RtmpTransport::Rtmpts
    } else {
        RtmpTransport::Rtmpt
    };
    let Some(request) = TunnelRequest::parse(parts.uri.path()) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let answer = web
        .tunnels
        .handle(request, body, peer, kind, ctx, stop)
        .await;
    let content_type = if answer.fcs {
        liu_rtmp::tunnel::CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    Response::builder()
        .status(answer.status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::CONNECTION, "keep-alive")
        .body(Full::new(answer.body).boxed_unsync())
        .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "error\n"))
}

/// 405, naming the methods every path takes.
fn method_not_allowed() -> Response<Body> {
    let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    resp.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    resp
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
