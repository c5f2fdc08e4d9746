//! What an HTTP play request names and who makes it: the stream an FLV
//! path names, the page it came from, and the access request built from
//! them (for HTTP-FLV, WebSocket-FLV and HLS alike).

use std::net::SocketAddr;

use http::header;

use crate::access::{AccessRequest, Action, Protocol};
use crate::hub::StreamKey;

/// `/APP/STREAM.flv` (APP may have several segments) to a stream key.
pub fn flv_stream_key(path: &str) -> Option<StreamKey> {
    let path = path.strip_prefix('/')?;
    let (app, file) = path.rsplit_once('/')?;
    let name = file.strip_suffix(".flv")?;
    if app.is_empty() || name.is_empty() || app.split('/').any(|s| s.is_empty() || s == "..") {
        return None;
    }
    Some(StreamKey::new(app, name))
}

/// The page a request came from: `Origin`, else `Referer`.
pub fn page_of(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The access request of a viewer of `key` over an HTTP protocol.
pub fn play_request(
    protocol: Protocol,
    key: &StreamKey,
    query: Option<&str>,
    peer: SocketAddr,
    page: Option<String>,
) -> AccessRequest {
    AccessRequest {
        action: Action::Play,
        protocol,
        app: key.app.clone(),
        stream: Some(key.name.clone()),
        query: query.map(str::to_string),
        peer,
        url: page,
    }
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
