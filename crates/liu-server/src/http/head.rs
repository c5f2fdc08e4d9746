//! Reading one HTTP/1.1 request head (RFC 9112 section 2-3) off a socket,
//! before deciding who serves the request: Liu's own streaming loop for
//! HTTP-FLV, or hyper for everything else.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest request head accepted.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header fields in one head.
const MAX_HEADERS: usize = 64;
/// First read buffer; grows up to [`MAX_HEAD_BYTES`] for longer heads.
const FIRST_READ: usize = 1024;

/// Why no request head could be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("request head longer than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("malformed request head: {0}")]
    Malformed(httparse::Error),
    #[error("connection closed inside a request head")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Anything else: served by hyper.
    Other,
}

/// What Liu needs of a request to route it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The path of the request target, without the query.
    pub path: String,
    /// The query of the request target, without `?`.
    pub query: Option<String>,
    /// HTTP/1.1 (or later) rather than HTTP/1.0.
    pub http11: bool,
    /// The client wants the connection kept after the response
    /// (RFC 9112 section 9.3: the default in 1.1, opt-in in 1.0).
    pub keep_alive: bool,
    /// A request body follows (Content-Length > 0 or Transfer-Encoding).
    pub has_body: bool,
    /// The page the request came from: `Origin`, else `Referer`.
    pub page: Option<String>,
    /// The WebSocket opening handshake's fields (RFC 6455 section 4.1):
    /// `Upgrade`, `Connection`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version`.
    pub upgrade: Option<String>,
    pub connection: Option<String>,
    pub ws_key: Option<String>,
    pub ws_version: Option<String>,
    /// Length of the head in the buffer it was parsed from.
    pub len: usize,
}

/// Parses a complete head at the front of `buf`; `None` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HeadError::Malformed(e)),
    };
    if len > MAX_HEAD_BYTES {
        return Err(HeadError::TooLarge);
    }
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => Method::Other,
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let http11 = req.version == Some(1);
    let mut keep_alive = http11;
    let mut has_body = false;
    let (mut origin, mut referer) = (None, None);
    let (mut upgrade, mut connection, mut ws_key, mut ws_version) = (None, None, None, None);
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    for h in req.headers.iter() {
        // A field sent on several lines is one comma-separated list
        // (RFC 9110 section 5.3).
        let joined = |field: &mut Option<String>, v: &[u8]| {
            *field = Some(match field.take() {
                Some(before) => format!("{before}, {}", text(v)),
                None => text(v),
            });
        };
        if h.name.eq_ignore_ascii_case("upgrade") {
            joined(&mut upgrade, h.value);
        } else if h.name.eq_ignore_ascii_case("sec-websocket-key") {
            ws_key = Some(text(h.value));
        } else if h.name.eq_ignore_ascii_case("sec-websocket-version") {
            ws_version = Some(text(h.value));
        }
        if h.name.eq_ignore_ascii_case("origin") {
            origin = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if h.name.eq_ignore_ascii_case("referer") {
            referer = Some(String::from_utf8_lossy(h.value).into_owned());
        }
        if h.name.eq_ignore_ascii_case("connection") {
            joined(&mut connection, h.value);
            for token in String::from_utf8_lossy(h.value).split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            has_body |= std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                != Some(0);
        }
    }
    Ok(Some(RequestHead {
        method,
        path,
        query,
        http11,
        keep_alive,
        has_body,
        page: origin.or(referer),
        upgrade,
        connection,
        ws_key,
        ws_version,
        len,
    }))
}

impl RequestHead {
    /// The request as a WebSocket opening handshake.
    pub fn handshake(&self) -> liu_ws::HandshakeRequest<'_> {
        liu_ws::HandshakeRequest {
            get: self.method == Method::Get,
            http11: self.http11,
            upgrade: self.upgrade.as_deref(),
            connection: self.connection.as_deref(),
            key: self.ws_key.as_deref(),
            version: self.ws_version.as_deref(),
        }
    }
}

/// Reads until `buf` starts with a complete head. `Ok(None)`: the peer
/// closed the connection cleanly before sending anything. Bytes after the
/// head stay in `buf`.
pub async fn read_head<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Option<RequestHead>, HeadError> {
    loop {
        if !buf.is_empty()
            && let Some(head) = parse_head(buf)?
        {
            return Ok(Some(head));
        }
        if buf.len() == buf.capacity() {
            // parse_head failed any head of MAX_HEAD_BYTES, so there is room.
            let target = (buf.capacity() * 2).clamp(FIRST_READ, MAX_HEAD_BYTES);
            buf.reserve_exact(target - buf.len());
        }
        let n = r.read_buf(buf).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(HeadError::Truncated)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> RequestHead {
        parse_head(s.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn routes_need_method_path_version_and_body() {
        let h = head("GET /live/cam.flv?token=1 HTTP/1.1\r\nHost: x\r\n\r\nrest");
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.path, "/live/cam.flv");
        assert_eq!(h.query.as_deref(), Some("token=1"));
        assert!(h.http11 && h.keep_alive && !h.has_body);
        assert_eq!(
            h.len,
            "GET /live/cam.flv?token=1 HTTP/1.1\r\nHost: x\r\n\r\n".len()
        );

        let h = head("HEAD /a.flv HTTP/1.0\r\n\r\n");
        assert_eq!(h.method, Method::Head);
        assert!(!h.http11 && !h.keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n").keep_alive);

        assert_eq!(
            head("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").method,
            Method::Other
        );
        assert!(head("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n").has_body);
        assert!(!head("POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n").has_body);
        assert!(head("POST /x HTTP/1.1\r\nContent-Length: x\r\n\r\n").has_body);
        assert!(head("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").has_body);
    }

    #[test]
    fn partial_malformed_and_oversized_heads() {
        assert!(
            parse_head(b"GET /live/cam.flv HTTP/1.1\r\nHost")
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            parse_head(b"\x03\x00\x00\x00 not http\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let mut long = b"GET /".to_vec();
        long.resize(MAX_HEAD_BYTES + 10, b'a');
        assert!(matches!(parse_head(&long), Err(HeadError::TooLarge)));
    }

    #[tokio::test]
    async fn reads_across_segments_and_keeps_what_follows() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            client
                .write_all(b"GET /live/a.flv HTTP/1.1\r\n")
                .await
                .unwrap();
            client.write_all(b"Host: x\r\n\r\nGET /").await.unwrap();
            client
        });
        let mut buf = Vec::new();
        let h = read_head(&mut server, &mut buf).await.unwrap().unwrap();
        assert_eq!(h.path, "/live/a.flv");
        assert_eq!(h.query, None);
        let _client = writer.await.unwrap();
        assert_eq!(&buf[h.len..], b"GET /");
    }

    #[tokio::test]
    async fn clean_and_unclean_ends() {
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert!(
            read_head(&mut server, &mut Vec::new())
                .await
                .unwrap()
                .is_none()
        );

        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HT")
            .await
            .unwrap();
        drop(client);
        assert!(matches!(
            read_head(&mut server, &mut Vec::new()).await,
            Err(HeadError::Truncated)
        ));
    }
}
