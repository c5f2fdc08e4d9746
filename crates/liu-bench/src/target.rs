//! What `liu bench` points at: a URL parsed into a protocol and its parts.

use std::net::SocketAddr;

use crate::error::BenchError;

/// How viewers play. New protocols add a variant here and a viewer
/// module in [`crate::viewer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtmp,
    HttpFlv,
    /// An `http://` URL whose path ends in `.m3u8`.
    Hls,
    /// `ws://` (`wss://`): the HTTP-FLV path upgraded to a WebSocket.
    WsFlv,
}

impl Protocol {
    /// Name used in reports: `rtmp` or `http-flv`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::HttpFlv => "http-flv",
            Protocol::Hls => "hls",
            Protocol::WsFlv => "ws-flv",
        }
    }
}

/// What carries the protocol's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain TCP.
    None,
    /// TLS (`rtmps://`, `https://`); the certificate is not verified.
    Tls,
    /// RTMPE: the encrypted handshake, then RC4 both ways (`rtmpe://`).
    Rtmpe,
}

/// A parsed stream URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub protocol: Protocol,
    pub security: Security,
    pub host: String,
    pub port: u16,
    /// RTMP application (may contain `/`); empty for HTTP.
    pub app: String,
    /// RTMP stream name with its query string, or the HTTP path with its query.
    pub stream: String,
    /// RTMP `tcUrl`: `rtmp://host:port/app`.
    pub tc_url: String,
}

impl Target {
    /// Parses `rtmp://HOST[:PORT]/APP/STREAM[?Q]` (also `rtmps://`, `rtmpe://`) or
    /// `http://HOST[:PORT]/PATH[?Q]` (also `https://`; HLS when the path ends in `.m3u8`).
    pub fn parse(url: &str) -> Result<Target, BenchError> {
        let bad = |why| BenchError::Url {
            url: url.to_string(),
            why,
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            bad("expected rtmp://, rtmps://, rtmpe://, http://, https://, ws:// or wss://")
        })?;
        let (protocol, security, default_port) = match scheme {
            "rtmp" => (Protocol::Rtmp, Security::None, 1935),
            "rtmps" => (Protocol::Rtmp, Security::Tls, 443),
            "rtmpe" => (Protocol::Rtmp, Security::Rtmpe, 1935),
            "http" => (Protocol::HttpFlv, Security::None, 80),
            "https" => (Protocol::HttpFlv, Security::Tls, 443),
            "ws" => (Protocol::WsFlv, Security::None, 80),
            "wss" => (Protocol::WsFlv, Security::Tls, 443),
            _ => {
                return Err(bad(
                    "expected rtmp://, rtmps://, rtmpe://, http://, https://, ws:// or wss://",
                ));
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) =
            split_host_port(authority, default_port).ok_or_else(|| bad("bad host or port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let is_playlist = path.split('?').next().is_some_and(|p| p.ends_with(".m3u8"));
        let protocol = match protocol {
            Protocol::HttpFlv if is_playlist => Protocol::Hls,
            p => p,
        };
        match protocol {
            Protocol::HttpFlv | Protocol::Hls | Protocol::WsFlv => Ok(Target {
                protocol,
                security,
                host,
                port,
                app: String::new(),
                stream: path.to_string(),
                tc_url: String::new(),
            }),
            Protocol::Rtmp => {
                // The stream name is the last path segment; a query in it stays with it.
                let (path_part, query) = match path.find('?') {
                    Some(i) => (&path[..i], &path[i..]),
                    None => (path, ""),
                };
                let trimmed = path_part.trim_start_matches('/');
                let (app, name) = trimmed
                    .rsplit_once('/')
                    .ok_or_else(|| bad("expected /APP/STREAM"))?;
                if app.is_empty() || name.is_empty() {
                    return Err(bad("expected /APP/STREAM"));
                }
                let authority = if port == default_port {
                    host.clone()
                } else {
                    format!("{host}:{port}")
                };
                Ok(Target {
                    protocol,
                    security,
                    tc_url: format!("{scheme}://{authority}/{app}"),
                    host,
                    port,
                    app: app.to_string(),
                    stream: format!("{name}{query}"),
                })
            }
        }
    }

    /// The `i`-th of several streams: `-{i}` appended to the stream name
    /// (before a query; for HTTP before the path's extension), so
    /// `rtmp://h/live/s` gives `s-0`, `s-1`, ... and `http://h/live/s.flv`
    /// gives `s-0.flv`, ...; `http://h/live/s/index.m3u8` gives `s-0/index.m3u8`.
    pub fn numbered(&self, i: u32) -> Target {
        let (name, query) = match self.stream.find('?') {
            Some(q) => self.stream.split_at(q),
            None => (self.stream.as_str(), ""),
        };
        let last_segment = name.rfind('/').map_or(0, |s| s + 1);
        let in_dir = matches!(&name[last_segment..], "index.m3u8" | "master.m3u8");
        let name = match self.protocol {
            Protocol::Hls if in_dir && last_segment > 1 => {
                let (dir, file) = name.split_at(last_segment - 1);
                format!("{dir}-{i}{file}")
            }
            Protocol::HttpFlv | Protocol::Hls | Protocol::WsFlv => {
                match name[last_segment..].rfind('.') {
                    Some(dot) => {
                        let (stem, ext) = name.split_at(last_segment + dot);
                        format!("{stem}-{i}{ext}")
                    }
                    None => format!("{name}-{i}"),
                }
            }
            Protocol::Rtmp => format!("{name}-{i}"),
        };
        Target {
            stream: format!("{name}{query}"),
            ..self.clone()
        }
    }

    /// Name used in reports: `rtmp`, `rtmps`, `rtmpe`, `http-flv`, `https-flv`, `hls`, `hls-tls`.
    pub fn kind(&self) -> &'static str {
        match (self.protocol, self.security) {
            (Protocol::Rtmp, Security::Tls) => "rtmps",
            (Protocol::Rtmp, Security::Rtmpe) => "rtmpe",
            (Protocol::HttpFlv, Security::Tls) => "https-flv",
            (Protocol::Hls, Security::Tls) => "hls-tls",
            (Protocol::WsFlv, Security::Tls) => "wss-flv",
            (p, _) => p.name(),
        }
    }

    /// `host:port` as written in an HTTP Host header.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Resolves the host once (viewers all use the same address).
    pub fn resolve(&self) -> Result<SocketAddr, BenchError> {
        use std::net::ToSocketAddrs;
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| BenchError::Resolve {
                host: self.host.clone(),
                why: e.to_string(),
            })?
            .next()
            .ok_or_else(|| BenchError::Resolve {
                host: self.host.clone(),
                why: "no address".into(),
            })
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_urls() {
        let t = Target::parse("rtmp://127.0.0.1:19350/live/cam?token=1").unwrap();
        assert_eq!(t.protocol, Protocol::Rtmp);
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 19350));
        assert_eq!((t.app.as_str(), t.stream.as_str()), ("live", "cam?token=1"));
        assert_eq!(t.tc_url, "rtmp://127.0.0.1:19350/live");
        let t = Target::parse("rtmp://example/app/inst/s").unwrap();
        assert_eq!(
            (t.port, t.app.as_str(), t.stream.as_str()),
            (1935, "app/inst", "s")
        );
        assert_eq!(t.tc_url, "rtmp://example/app/inst");
        let t = Target::parse("rtmps://example/live/s").unwrap();
        assert_eq!(
            (t.port, t.security, t.kind()),
            (443, Security::Tls, "rtmps")
        );
        assert_eq!(t.tc_url, "rtmps://example/live");
        let t = Target::parse("rtmpe://example:1936/live/s").unwrap();
        assert_eq!((t.security, t.kind()), (Security::Rtmpe, "rtmpe"));
        assert_eq!(t.tc_url, "rtmpe://example:1936/live");
        let t = Target::parse("https://example/live/s.flv").unwrap();
        assert_eq!((t.port, t.kind()), (443, "https-flv"));
        let t = Target::parse("ws://example:8080/live/s.flv").unwrap();
        assert_eq!(
            (t.port, t.kind(), &t.stream[..]),
            (8080, "ws-flv", "/live/s.flv")
        );
        assert_eq!(t.numbered(2).stream, "/live/s-2.flv");
        let t = Target::parse("wss://example/live/s.flv").unwrap();
        assert_eq!((t.port, t.kind()), (443, "wss-flv"));
        assert!(Target::parse("rtmp://host/onlyapp").is_err());
        assert!(Target::parse("rtmp://host:x/a/b").is_err());
        assert!(Target::parse("ftp://host/a/b").is_err());
    }

    #[test]
    fn http_urls() {
        let t = Target::parse("http://[::1]:8080/live/cam.flv?x=2").unwrap();
        assert_eq!(t.protocol, Protocol::HttpFlv);
        assert_eq!(
            (t.host.as_str(), t.port, t.stream.as_str()),
            ("::1", 8080, "/live/cam.flv?x=2")
        );
        assert_eq!(t.authority(), "[::1]:8080");
        let t = Target::parse("http://h/a.flv").unwrap();
        assert_eq!((t.port, t.authority()), (80, "h:80".to_string()));
    }

    #[test]
    fn numbered_streams() {
        let t = Target::parse("rtmp://h/live/cam?k=1").unwrap().numbered(7);
        assert_eq!((t.app.as_str(), t.stream.as_str()), ("live", "cam-7?k=1"));
        let t = Target::parse("http://h/live/cam.flv?k=1")
            .unwrap()
            .numbered(0);
        assert_eq!(t.stream, "/live/cam-0.flv?k=1");
        let t = Target::parse("http://h/live.d/cam").unwrap().numbered(2);
        assert_eq!(t.stream, "/live.d/cam-2");
        let t = Target::parse("http://h/live/cam.m3u8?k=1").unwrap();
        assert_eq!(t.protocol, Protocol::Hls);
        assert_eq!(t.numbered(3).stream, "/live/cam-3.m3u8?k=1");
        let t = Target::parse("http://h/live/cam/index.m3u8").unwrap();
        assert_eq!(t.numbered(1).stream, "/live/cam-1/index.m3u8");
    }
}
