//! HLS over HTTP: which paths are HLS, and the responses (RFC 8216 section
//! 4 for the media types; RFC 9110 sections 14 and 15.3.7 for ranges).
//!
//! - `/APP/STREAM.m3u8`: the media playlist with MPEG-TS segments.
//! - `/APP/STREAM/TOKEN-N.ts`: segment N of the session TOKEN.
//!
//! Playlists change: `no-cache`. Segment names are never reused (the token
//! is new for every session), so segments may be cached for a year.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};

use crate::buf_list::BufList;
use crate::http::Body;
use crate::hub::StreamKey;
use crate::server::Context;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const TS_TYPE: &str = "video/mp2t";
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

/// A request for an HLS resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HlsRequest {
    /// `/APP/STREAM.m3u8`
    TsPlaylist(StreamKey),
    /// `/APP/STREAM/TOKEN-N.ts`
    TsSegment {
        key: StreamKey,
        token: String,
        sequence: u64,
    },
}

impl HlsRequest {
    /// The HLS resource a request path names (percent-decoded), if any.
    pub fn parse(path: &str) -> Option<HlsRequest> {
        let path = percent_decode(path.strip_prefix('/')?)?;
        let (dir, file) = path.rsplit_once('/')?;
        if let Some(name) = file.strip_suffix(".m3u8") {
            return Some(HlsRequest::TsPlaylist(stream_key(dir, name)?));
        }
        if let Some(stem) = file.strip_suffix(".ts") {
            let (app, name) = dir.rsplit_once('/')?;
            let (token, sequence) = stem.rsplit_once('-')?;
            if token.is_empty() || !sequence.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return Some(HlsRequest::TsSegment {
                key: stream_key(app, name)?,
                token: token.to_owned(),
                sequence: sequence.parse().ok()?,
            });
        }
        None
    }
}

fn stream_key(app: &str, name: &str) -> Option<StreamKey> {
    if app.is_empty() || name.is_empty() || app.split('/').any(|s| s.is_empty() || s == "..") {
        return None;
    }
    Some(StreamKey::new(app, name))
}

/// `%XX` escapes decoded; `None` for a bad escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Answers an HLS request (`GET` or `HEAD`).
pub async fn serve(
    request: HlsRequest,
    method: &Method,
    headers: &HeaderMap,
    ctx: &Context,
) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        resp.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return resp;
    }
    let head_only = method == Method::HEAD;
    match request {
        HlsRequest::TsPlaylist(key) => {
            let Some(session) = ctx.hls.session(&key) else {
                return plain(StatusCode::NOT_FOUND, "stream not found\n");
            };
            // The first segment of a new session is a target duration (and
            // the rest of a GOP) away.
            let wait = Duration::from_millis(ctx.config.hls.target_duration_ms * 3)
                .max(Duration::from_secs(6));
            match session.ts_playlist(wait).await {
                Some(text) => media(StatusCode::OK, PLAYLIST_TYPE, "no-cache", text, head_only),
                None => plain(StatusCode::NOT_FOUND, "stream not found\n"),
            }
        }
        HlsRequest::TsSegment {
            key,
            token,
            sequence,
        } => {
            let data = ctx
                .hls
                .session(&key)
                .filter(|s| s.token() == token)
                .and_then(|s| s.ts_segment(sequence));
            match data {
                Some(data) => ranged(TS_TYPE, data, headers, head_only),
                None => plain(StatusCode::NOT_FOUND, "segment not found\n"),
            }
        }
    }
}

/// A segment, whole or the byte range asked for (one range; several are
/// answered with the whole segment, as RFC 9110 section 14.2 allows).
fn ranged(content_type: &str, data: Bytes, headers: &HeaderMap, head_only: bool) -> Response<Body> {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, data.len() as u64));
    let mut resp = match range {
        None | Some(RangeAnswer::Whole) => {
            media(StatusCode::OK, content_type, SEGMENT_CACHE, data, head_only)
        }
        Some(RangeAnswer::Part(start, end)) => {
            let total = data.len();
            let part = data.slice(start as usize..=end as usize);
            let mut resp = media(
                StatusCode::PARTIAL_CONTENT,
                content_type,
                SEGMENT_CACHE,
                part,
                head_only,
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            resp
        }
        Some(RangeAnswer::Unsatisfiable) => {
            let mut resp = plain(StatusCode::RANGE_NOT_SATISFIABLE, "");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", data.len())) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            resp
        }
    };
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAnswer {
    Whole,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

/// A `Range` header against a body of `len` bytes (RFC 9110 section 14.1.2).
fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let (start, end) = match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => return RangeAnswer::Unsatisfiable,
            Some(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            None => return RangeAnswer::Whole,
        },
        (false, true) => match parse(first) {
            Some(s) => (s, len.saturating_sub(1)),
            None => return RangeAnswer::Whole,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(s), Some(e)) if s <= e => (s, e.min(len.saturating_sub(1))),
            _ => return RangeAnswer::Whole,
        },
        (true, true) => return RangeAnswer::Whole,
    };
    if len == 0 || start >= len {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Part(start, end)
}

fn media(
    status: StatusCode,
    content_type: &str,
    cache: &'static str,
    data: Bytes,
    head_only: bool,
) -> Response<Body> {
    let len = data.len();
    let body = if head_only {
        Empty::new().boxed_unsync()
    } else {
        Full::new(BufList::from(data)).boxed_unsync()
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

/// A short text answer; never cached (a missing segment or stream may
/// exist a moment later under a new session).
fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = media(
        status,
        "text/plain; charset=utf-8",
        "no-cache",
        Bytes::from_static(text.as_bytes()),
        false,
    );
    if text.is_empty() {
        resp.headers_mut().remove(header::CONTENT_TYPE);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let key = StreamKey::new("live", "cam");
        assert_eq!(
            HlsRequest::parse("/live/cam.m3u8"),
            Some(HlsRequest::TsPlaylist(key.clone()))
        );
        assert_eq!(
            HlsRequest::parse("/live/cam/k3x9-12.ts"),
            Some(HlsRequest::TsSegment {
                key: key.clone(),
                token: "k3x9".into(),
                sequence: 12
            })
        );
        assert_eq!(
            HlsRequest::parse("/a/b/c%20d.m3u8"),
            Some(HlsRequest::TsPlaylist(StreamKey::new("a/b", "c d")))
        );
        for bad in [
            "/cam.m3u8",
            "/live/.m3u8",
            "//cam.m3u8",
            "/../cam.m3u8",
            "/live/cam/12.ts",
            "/live/cam/x-1a.ts",
            "/cam/x-1.ts",
            "/live/cam.flv",
            "/live/c%zz.m3u8",
            "/live/c%ff.m3u8",
        ] {
            assert_eq!(HlsRequest::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        assert_eq!(parse_range("bytes=0-99", 1000), Part(0, 99));
        assert_eq!(parse_range("bytes=900-", 1000), Part(900, 999));
        assert_eq!(parse_range("bytes=-100", 1000), Part(900, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), Part(0, 999));
        assert_eq!(parse_range("bytes=990-2000", 1000), Part(990, 999));
        assert_eq!(parse_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 1000), Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Whole);
        assert_eq!(parse_range("items=0-1", 1000), Whole);
        assert_eq!(parse_range("bytes=x-1", 1000), Whole);
    }
}
