//! The pieces of hyper responses every HTTP route shares: the body type and
//! the plain-text answers.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

use crate::access::Refusal;
use crate::buf_list::BufList;

/// Response bodies carry lists of shared buffers: an HTTP-FLV body frame
/// is a whole batch of tags.
pub type Body = UnsyncBoxBody<BufList, Infallible>;

/// 403 with the refusal's reason.
pub(crate) fn forbidden(refusal: &Refusal) -> Response<Body> {
    let mut resp = text(StatusCode::FORBIDDEN, "");
    *resp.body_mut() = Full::new(BufList::from(Bytes::from(format!("{refusal}\n")))).boxed_unsync();
    resp
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().boxed_unsync()
}

/// A plain-text answer any origin may read.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
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

/// A stored body with its length and caching, for `GET` or `HEAD`.
pub fn media(
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
pub fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
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
