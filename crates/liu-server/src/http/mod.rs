//! The HTTP listeners: HTTP-FLV and WebSocket-FLV playback, HLS, RTMPT
//! tunnels, CORS, and proper answers for everything else.
//!
//! - `native`: the first request of a plain-HTTP connection; Liu's own
//!   HTTP-FLV loop and WebSocket handshake, else hands over to hyper.
//! - `service`: everything hyper serves (HTTPS, other paths and methods).
//! - `flv`, `ws`, `hls`: the responses of each playback protocol.
//! - `play`, `reply`, `range`: what those share (the access request of a
//!   viewer, response bodies, byte ranges).

mod context;
pub(crate) mod flv;
mod head;
mod hls;
mod native;
mod play;
mod range;
mod reply;
mod service;
mod ws;

pub use context::HttpContext;

/// What the fuzz targets reach: a request head as Liu's own loop parses it,
/// and a request target as the HTTP-FLV, WebSocket-FLV and HLS routes read it.
pub(crate) fn fuzz_request(head: &[u8], target: &str) {
    if let Ok(Some(head)) = head::parse_head(head) {
        let _ = head.handshake().accept();
        let _ = play::flv_stream_key(&head.path);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let _ = play::flv_stream_key(path);
    let _ = hls::HlsRequest::parse(path, query);
}
pub use native::serve_connection;
pub use service::serve_with_hyper;
