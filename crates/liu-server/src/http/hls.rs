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

use std::sync::Arc;

use super::play::play_request;
use super::range::ranged;
use super::reply::{Body, forbidden, media, plain};
use crate::access::Protocol;
use crate::context::Context;
use crate::hls::HlsStreams;
use crate::hub::StreamKey;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const TS_TYPE: &str = "video/mp2t";
const MP4_TYPE: &str = "video/mp4";
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
    /// `/APP/STREAM/index.m3u8[?_HLS_msn=M[&_HLS_part=P]][&_HLS_skip=YES]`
    CmafPlaylist {
        key: StreamKey,
        block: Option<Block>,
        skip: bool,
    },
    /// `/APP/STREAM/TOKEN-initN.mp4`
    CmafInit {
        key: StreamKey,
        token: String,
        id: u32,
    },
    /// `/APP/STREAM/TOKEN-N.m4s`, or part P of it: `/APP/STREAM/TOKEN-N.P.m4s`
    CmafMedia {
        key: StreamKey,
        token: String,
        sequence: u64,
        part: Option<usize>,
    },
    /// `/APP/STREAM/master.m3u8`: the multivariant playlist.
    Multivariant(StreamKey),
    /// An HLS path with query parameters that make no sense.
    BadQuery(&'static str),
}

/// A blocking playlist reload: answer once segment `msn` (part `part`) exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub msn: u64,
    pub part: Option<usize>,
}

impl HlsRequest {
    /// The HLS resource a request path names (percent-decoded), if any.
    ///
    /// Segment, part and init names must be exactly as Liu writes them (no
    /// percent-encoding, no leading zeros): one resource has one URL, so a
    /// cache in front cannot be filled with copies under other spellings.
    pub fn parse(path: &str, query: Option<&str>) -> Option<HlsRequest> {
        let raw_file = path.rsplit('/').next().unwrap_or_default();
        let path = percent_decode(path.strip_prefix('/')?)?;
        let (dir, file) = path.rsplit_once('/')?;
        let in_stream_dir = || {
            let (app, name) = dir.rsplit_once('/')?;
            stream_key(app, name)
        };
        match file {
            "index.m3u8" => {
                if let Some(key) = in_stream_dir() {
                    return Some(match parse_delivery_directives(query) {
                        Ok((block, skip)) => HlsRequest::CmafPlaylist { key, block, skip },
                        Err(why) => HlsRequest::BadQuery(why),
                    });
                }
            }
            "master.m3u8" => {
                if let Some(key) = in_stream_dir() {
                    return Some(HlsRequest::Multivariant(key));
                }
            }
            _ => {}
        }
        if let Some(name) = file.strip_suffix(".m3u8") {
            return Some(HlsRequest::TsPlaylist(stream_key(dir, name)?));
        }
        if raw_file != file {
            return None;
        }
        let (token, rest) = file.rsplit_once('-')?;
        if token.is_empty() {
            return None;
        }
        let token = token.to_owned();
        let number = |s: &str| {
            let canonical = s == "0" || (!s.starts_with('0') && !s.is_empty());
            (canonical && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        if let Some(n) = rest.strip_suffix(".ts") {
            return Some(HlsRequest::TsSegment {
                key: in_stream_dir()?,
                token,
                sequence: number(n)?,
            });
        }
        if let Some(id) = rest
            .strip_prefix("init")
            .and_then(|r| r.strip_suffix(".mp4"))
        {
            return Some(HlsRequest::CmafInit {
                key: in_stream_dir()?,
                token,
                id: u32::try_from(number(id)?).ok()?,
            });
        }
        let stem = rest.strip_suffix(".m4s")?;
        let (sequence, part) = match stem.split_once('.') {
            Some((s, p)) => (number(s)?, Some(usize::try_from(number(p)?).ok()?)),
            None => (number(stem)?, None),
        };
        Some(HlsRequest::CmafMedia {
            key: in_stream_dir()?,
            token,
            sequence,
            part,
        })
    }
}

/// `_HLS_msn`, `_HLS_part` and `_HLS_skip` (draft-pantos-hls-rfc8216bis
/// section 6.2.5); other query parameters are left alone.
fn parse_delivery_directives(query: Option<&str>) -> Result<(Option<Block>, bool), &'static str> {
    let (mut msn, mut part, mut skip) = (None, None, false);
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "_HLS_msn" => msn = Some(v.parse::<u64>().map_err(|_| "_HLS_msn is not a number\n")?),
            "_HLS_part" => {
                part = Some(
                    v.parse::<usize>()
                        .map_err(|_| "_HLS_part is not a number\n")?,
                )
            }
            "_HLS_skip" => skip = v == "YES" || v == "v2",
            _ => {}
        }
    }
    match (msn, part) {
        (None, Some(_)) => Err("_HLS_part without _HLS_msn\n"),
        (Some(msn), part) => Ok((Some(Block { msn, part }), skip)),
        (None, None) => Ok((None, skip)),
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

/// Who asks for an HLS resource, for the access check.
pub struct Asker<'a> {
    pub peer: std::net::SocketAddr,
    /// Over HTTPS.
    pub tls: bool,
    /// The request target's query, without `?`.
    pub query: Option<&'a str>,
    /// `Origin`, else `Referer`.
    pub page: Option<String>,
}

/// Answers an HLS request (`GET` or `HEAD`). Playlists are what the access
/// check sees: segments and parts belong to the session a playlist named.
pub async fn serve(
    request: HlsRequest,
    method: &Method,
    headers: &HeaderMap,
    asker: Asker<'_>,
    ctx: &Context,
    hls: &Arc<HlsStreams>,
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
    let target = Duration::from_millis(ctx.config.hls.target_duration_ms);
    // The first segment of a new session is a target duration (and the
    // rest of a GOP) away.
    let first_wait = (target * 3).max(Duration::from_secs(6));
    let part_wait = Duration::from_millis(ctx.config.hls.part_target_ms * 3) + target;
    let not_found = || plain(StatusCode::NOT_FOUND, "not found\n");
    let key = match &request {
        HlsRequest::BadQuery(why) => return plain(StatusCode::BAD_REQUEST, why),
        HlsRequest::TsPlaylist(key)
        | HlsRequest::TsSegment { key, .. }
        | HlsRequest::CmafPlaylist { key, .. }
        | HlsRequest::CmafInit { key, .. }
        | HlsRequest::CmafMedia { key, .. }
        | HlsRequest::Multivariant(key) => key,
    };
    let playlist = matches!(
        request,
        HlsRequest::TsPlaylist(_) | HlsRequest::CmafPlaylist { .. } | HlsRequest::Multivariant(_)
    );
    if playlist {
        let request = play_request(
            Protocol::Hls { tls: asker.tls },
            key,
            asker.query,
            asker.peer,
            asker.page,
        );
        if let Err(refusal) = ctx.access.decide(&request).await {
            tracing::info!(peer = %asker.peer, stream = %key, "HLS play refused: {refusal}");
            return forbidden(&refusal);
        }
    }
    let session = if playlist {
        hls.session(key)
    } else {
        hls.existing(key)
    };
    let Some(session) = session else {
        return plain(StatusCode::NOT_FOUND, "stream not found\n");
    };
    let same_session = |token: &str| token == session.token();
    match request {
        HlsRequest::BadQuery(_) => not_found(),
        HlsRequest::TsPlaylist(_) => {
            match session
                .wait_for(first_wait, |v| {
                    if !v.has_ts() {
                        return Some(None);
                    }
                    v.ts_playlist().map(Some)
                })
                .await
            {
                Some(Some(text)) => {
                    media(StatusCode::OK, PLAYLIST_TYPE, "no-cache", text, head_only)
                }
                _ => plain(StatusCode::NOT_FOUND, "stream not found\n"),
            }
        }
        HlsRequest::TsSegment {
            token, sequence, ..
        } => {
            let data = session
                .read(|v| v.ts_segment(sequence))
                .filter(|_| same_session(&token));
            match data {
                Some(data) => ranged(TS_TYPE, SEGMENT_CACHE, data, headers, head_only),
                None => plain(StatusCode::NOT_FOUND, "segment not found\n"),
            }
        }
        HlsRequest::CmafPlaylist { block, skip, .. } => {
            let wait = if block.is_some() {
                target * 3
            } else {
                first_wait
            };
            let answer = session
                .wait_for(wait, |v| {
                    let Some(c) = v.cmaf() else {
                        return Some(Err(StatusCode::NOT_FOUND));
                    };
                    if let Some(b) = block {
                        let newest = c
                            .next_part()
                            .map(|(s, _)| s)
                            .or(c.last_finished())
                            .unwrap_or(0);
                        if b.msn > newest + 2 {
                            return Some(Err(StatusCode::BAD_REQUEST));
                        }
                        let there = c.is_ended()
                            || match b.part {
                                Some(p) => c
                                    .last_part()
                                    .is_some_and(|(s, i)| s > b.msn || (s == b.msn && i >= p)),
                                None => c.last_finished().is_some_and(|s| s >= b.msn),
                            };
                        if !there {
                            return None;
                        }
                    } else if c.last_finished().is_none() && !c.is_ended() {
                        // A playlist of parts only makes classic players give up
                        // ("empty segment"): the first answer waits for a segment.
                        return None;
                    }
                    v.cmaf_playlist(skip).map(Ok)
                })
                .await;
            match answer {
                Some(Ok(text)) => media(StatusCode::OK, PLAYLIST_TYPE, "no-cache", text, head_only),
                Some(Err(StatusCode::BAD_REQUEST)) => plain(
                    StatusCode::BAD_REQUEST,
                    "_HLS_msn is beyond the next two segments\n",
                ),
                None if block.is_some() => plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the segment or part asked for did not come in time\n",
                ),
                _ => plain(StatusCode::NOT_FOUND, "stream not found\n"),
            }
        }
        HlsRequest::CmafInit { token, id, .. } => {
            let data = session
                .read(|v| v.cmaf()?.init(id))
                .filter(|_| same_session(&token));
            match data {
                Some(data) => ranged(MP4_TYPE, SEGMENT_CACHE, data, headers, head_only),
                None => not_found(),
            }
        }
        HlsRequest::CmafMedia {
            token,
            sequence,
            part,
            ..
        } => {
            if !same_session(&token) {
                return not_found();
            }
            // The part a preload hint named is answered once it exists.
            let data = session
                .wait_for(part_wait, |v| {
                    let Some(c) = v.cmaf() else {
                        return Some(None);
                    };
                    let found = match part {
                        Some(p) => c.part(sequence, p).map(|p| p.data.clone()),
                        None => c.segment(sequence).and_then(|s| s.data.clone()),
                    };
                    if found.is_some() {
                        return Some(found);
                    }
                    let coming = part.is_some() && c.next_part() == part.map(|p| (sequence, p));
                    (!coming).then_some(None)
                })
                .await
                .flatten();
            match data {
                Some(data) => ranged(MP4_TYPE, SEGMENT_CACHE, data, headers, head_only),
                None => plain(StatusCode::NOT_FOUND, "segment not found\n"),
            }
        }
        HlsRequest::Multivariant(_) => {
            let text = session
                .wait_for(first_wait, |v| {
                    let Some(c) = v.cmaf() else {
                        return Some(None);
                    };
                    let bandwidth = c.peak_bandwidth();
                    let codecs = c.codecs()?;
                    (bandwidth > 0).then(|| Some(multivariant(bandwidth, &codecs)))
                })
                .await
                .flatten();
            match text {
                Some(text) => media(
                    StatusCode::OK,
                    PLAYLIST_TYPE,
                    "no-cache",
                    Bytes::from(text),
                    head_only,
                ),
                None => plain(StatusCode::NOT_FOUND, "stream not found\n"),
            }
        }
    }
}

/// The multivariant playlist (RFC 8216 section 4.3.4.2): one variant, the
/// LL-HLS media playlist, with the codecs of its media.
fn multivariant(bandwidth: u64, codecs: &str) -> String {
    format!(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS=\"{codecs}\"\nindex.m3u8\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let key = StreamKey::new("live", "cam");
        assert_eq!(
            HlsRequest::parse("/live/cam.m3u8", None),
            Some(HlsRequest::TsPlaylist(key.clone()))
        );
        assert_eq!(
            HlsRequest::parse("/live/cam/k3x9-12.ts", None),
            Some(HlsRequest::TsSegment {
                key: key.clone(),
                token: "k3x9".into(),
                sequence: 12
            })
        );
        assert_eq!(
            HlsRequest::parse("/a/b/c%20d.m3u8", None),
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
            assert_eq!(HlsRequest::parse(bad, None), None, "{bad}");
        }
    }

    #[test]
    fn only_canonical_segment_names() {
        let key = StreamKey::new("live", "cam");
        assert_eq!(
            HlsRequest::parse("/live/cam/ab12-0.ts", None),
            Some(HlsRequest::TsSegment {
                key: key.clone(),
                token: "ab12".into(),
                sequence: 0
            })
        );
        for other in [
            "/live/cam/ab12-00.ts",
            "/live/cam/ab12-07.ts",
            "/live/cam/ab12-%37.ts",
            "/live/cam/ab12%2D7.ts",
            "/live/cam/ab12-+7.ts",
            "/live/cam/ab12-7.m4s%00",
            "/live/cam/ab12-07.m4s",
            "/live/cam/ab12-7.01.m4s",
            "/live/cam/ab12-init01.mp4",
        ] {
            assert_eq!(HlsRequest::parse(other, None), None, "{other}");
        }
        // Stream names may still be percent-encoded.
        assert_eq!(
            HlsRequest::parse("/live/c%61m/ab12-7.ts", None),
            Some(HlsRequest::TsSegment {
                key,
                token: "ab12".into(),
                sequence: 7
            })
        );
    }

    #[test]
    fn cmaf_paths_and_delivery_directives() {
        let key = StreamKey::new("live", "cam");
        let parse = HlsRequest::parse;
        assert_eq!(
            parse(
                "/live/cam/index.m3u8",
                Some("_HLS_msn=7&_HLS_part=2&_HLS_skip=YES&x=1")
            ),
            Some(HlsRequest::CmafPlaylist {
                key: key.clone(),
                block: Some(Block {
                    msn: 7,
                    part: Some(2)
                }),
                skip: true
            })
        );
        assert_eq!(
            parse("/live/cam/index.m3u8", None),
            Some(HlsRequest::CmafPlaylist {
                key: key.clone(),
                block: None,
                skip: false
            })
        );
        assert_eq!(
            parse("/live/cam/index.m3u8", Some("_HLS_part=2")),
            Some(HlsRequest::BadQuery("_HLS_part without _HLS_msn\n"))
        );
        assert!(matches!(
            parse("/live/cam/index.m3u8", Some("_HLS_msn=-1")),
            Some(HlsRequest::BadQuery(_))
        ));
        assert_eq!(
            parse("/live/cam/master.m3u8", None),
            Some(HlsRequest::Multivariant(key.clone()))
        );
        assert_eq!(
            parse("/live/cam/ab1-init3.mp4", None),
            Some(HlsRequest::CmafInit {
                key: key.clone(),
                token: "ab1".into(),
                id: 3
            })
        );
        assert_eq!(
            parse("/live/cam/ab1-12.m4s", None),
            Some(HlsRequest::CmafMedia {
                key: key.clone(),
                token: "ab1".into(),
                sequence: 12,
                part: None
            })
        );
        assert_eq!(
            parse("/live/cam/ab1-12.3.m4s", None),
            Some(HlsRequest::CmafMedia {
                key,
                token: "ab1".into(),
                sequence: 12,
                part: Some(3)
            })
        );
        for bad in [
            "/live/cam/ab1-12.x.m4s",
            "/live/cam/ab1-.m4s",
            "/live/cam/-1.m4s",
            "/cam/a-1.m4s",
            "/live/cam/ab1-initx.mp4",
        ] {
            assert_eq!(parse(bad, None), None, "{bad}");
        }
        // `index.m3u8` directly under an app is the TS playlist of a stream named "index".
        assert_eq!(
            parse("/live/index.m3u8", None),
            Some(HlsRequest::TsPlaylist(StreamKey::new("live", "index")))
        );
    }
}
