//! Byte ranges of a stored response (RFC 9110 section 14): HLS segments
//! and parts are answered whole or in the one range asked for.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::reply::{Body, media, plain};

/// A segment, whole or the byte range asked for (one range; several are
/// answered with the whole segment, as RFC 9110 section 14.2 allows).
pub fn ranged(
    content_type: &str,
    cache: &'static str,
    data: Bytes,
    headers: &HeaderMap,
    head_only: bool,
) -> Response<Body> {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, data.len() as u64));
    let mut resp = match range {
        None | Some(RangeAnswer::Whole) => {
            media(StatusCode::OK, content_type, cache, data, head_only)
        }
        Some(RangeAnswer::Part(start, end)) => {
            let total = data.len();
            let part = data.slice(start as usize..=end as usize);
            let mut resp = media(
                StatusCode::PARTIAL_CONTENT,
                content_type,
                cache,
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

#[cfg(test)]
mod tests {
    use super::*;

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
