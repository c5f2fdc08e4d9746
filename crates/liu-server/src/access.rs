//! One access check for every protocol.
//!
//! Each adapter builds an [`AccessRequest`] (who asks to do what, over
//! which protocol, with which query string) before any media flows, and
//! asks [`Access::check`]. Rules answer at once or later (a callback is a
//! network round trip): a pending answer holds up only the connection that
//! asked, and is bounded by `[access] timeout_ms`. A refusal reaches each
//! client in its own terms (RTMP `_error` or `onStatus`, HTTP 403).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, RtmpTransport};

/// What a client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open an RTMPT tunnel session (only the peer is known yet).
    Open,
    /// RTMP `connect` to an application (no stream yet).
    Connect,
    Publish,
    Play,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Connect => "connect",
            Action::Publish => "publish",
            Action::Play => "play",
        }
    }
}

/// The protocol a request came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A member of the RTMP family.
    Rtmp(RtmpTransport),
    /// HTTP-FLV (`https` when over TLS).
    HttpFlv { tls: bool },
    /// WebSocket-FLV (`wss` when over TLS).
    WsFlv { tls: bool },
    /// HLS playlists (`https` when over TLS).
    Hls { tls: bool },
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Rtmp(t) => t.name(),
            Protocol::HttpFlv { tls: false } => "http-flv",
            Protocol::HttpFlv { tls: true } => "https-flv",
            Protocol::WsFlv { tls: false } => "ws-flv",
            Protocol::WsFlv { tls: true } => "wss-flv",
            Protocol::Hls { tls: false } => "hls",
            Protocol::Hls { tls: true } => "hlss",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One question to the access check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub action: Action,
    pub protocol: Protocol,
    /// The application; empty for [`Action::Open`].
    pub app: String,
    /// The stream name, for publish and play.
    pub stream: Option<String>,
    /// The query string the client sent (stream name's, else `connect`'s
    /// app or `tcUrl`'s, else the HTTP request target's), without `?`.
    pub query: Option<String>,
    pub peer: SocketAddr,
    /// The RTMP `tcUrl`, or the page an HTTP request came from (`Origin`,
    /// else `Referer`), where known.
    pub url: Option<String>,
}

impl AccessRequest {
    /// The first value of query parameter `name`, as sent (not decoded).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

impl AccessRequest {
    /// The viewer this play request makes, for stream events.
    pub fn viewer(&self) -> crate::hub::ViewerInfo {
        crate::hub::ViewerInfo {
            protocol: self.protocol.name(),
            peer: Some(self.peer),
            query: self.query.clone(),
        }
    }
}

impl fmt::Display for AccessRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} over {} to {}",
            self.action.name(),
            self.protocol,
            self.app
        )?;
        if let Some(stream) = &self.stream {
            write!(f, "/{stream}")?;
        }
        Ok(())
    }
}

/// Why a request was refused, as told to the client and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
}

impl Refusal {
    pub fn new(reason: impl Into<String>) -> Self {
        Refusal {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// An answer that comes later.
pub type PendingAnswer = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// A rule's answer.
pub enum Verdict {
    Allow,
    Deny(Refusal),
    /// Decided later; the connection waits (alone) for it.
    Pending(PendingAnswer),
}

impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Allow => f.write_str("Allow"),
            Verdict::Deny(r) => write!(f, "Deny({r})"),
            Verdict::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// One access rule. Rules are asked in order; the first refusal wins.
pub trait AccessRule: Send + Sync + 'static {
    fn check(&self, request: &AccessRequest) -> Verdict;
}

/// The access check every adapter asks: the configured rules in order.
#[derive(Clone)]
pub struct Access {
    rules: Arc<[Arc<dyn AccessRule>]>,
    timeout: Duration,
}

impl Access {
    /// The rules the configuration sets, then `extra`.
    pub fn new(config: &Config, extra: Vec<Arc<dyn AccessRule>>) -> Self {
        let mut rules: Vec<Arc<dyn AccessRule>> = vec![Arc::new(TransportRule {
            config: config.clone(),
        })];
        rules.extend(extra);
        Access {
            rules: rules.into(),
            timeout: Duration::from_millis(config.access.timeout_ms),
        }
    }

    /// Asks every rule in order. Rules after one that answers later are
    /// asked once it has allowed; the whole answer is refused if it takes
    /// longer than `[access] timeout_ms`.
    pub fn check(&self, request: &AccessRequest) -> Verdict {
        for (i, rule) in self.rules.iter().enumerate() {
            match rule.check(request) {
                Verdict::Allow => {}
                Verdict::Deny(refusal) => return Verdict::Deny(refusal),
                Verdict::Pending(answer) => {
                    let rest = self.rules[i + 1..].to_vec();
                    let request = request.clone();
                    let timeout = self.timeout;
                    let all = async move {
                        answer.await?;
                        for rule in rest {
                            match rule.check(&request) {
                                Verdict::Allow => {}
                                Verdict::Deny(refusal) => return Err(refusal),
                                Verdict::Pending(answer) => answer.await?,
                            }
                        }
                        Ok(())
                    };
                    return Verdict::Pending(Box::pin(async move {
                        tokio::time::timeout(timeout, all)
                            .await
                            .unwrap_or_else(|_| {
                                Err(Refusal::new(format!(
                                    "no access decision within {} ms",
                                    timeout.as_millis()
                                )))
                            })
                    }));
                }
            }
        }
        Verdict::Allow
    }

    /// [`Access::check`], waited for.
    pub async fn decide(&self, request: &AccessRequest) -> Result<(), Refusal> {
        match self.check(request) {
            Verdict::Allow => Ok(()),
            Verdict::Deny(refusal) => Err(refusal),
            Verdict::Pending(answer) => answer.await,
        }
    }
}

/// Per-application RTMP transports (`[app.NAME] transports`,
/// `publish_transports`): the first rule.
struct TransportRule {
    config: Config,
}

impl AccessRule for TransportRule {
    fn check(&self, request: &AccessRequest) -> Verdict {
        let Protocol::Rtmp(transport) = request.protocol else {
            return Verdict::Allow;
        };
        let why = match request.action {
            Action::Connect => self.config.refuses_connect(&request.app, transport),
            Action::Publish => self.config.refuses_publish(&request.app, transport),
            Action::Open | Action::Play => None,
        };
        match why {
            Some(why) => Verdict::Deny(Refusal::new(why)),
            None => Verdict::Allow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(action: Action, protocol: Protocol, app: &str) -> AccessRequest {
        AccessRequest {
            action,
            protocol,
            app: app.into(),
            stream: (action == Action::Publish || action == Action::Play).then(|| "cam".into()),
            query: Some("token=abc&x&hevc=legacy".into()),
            peer: "127.0.0.1:5000".parse().unwrap(),
            url: Some("rtmp://127.0.0.1/live".into()),
        }
    }

    fn allowed(access: &Access, r: &AccessRequest) -> bool {
        match access.check(r) {
            Verdict::Allow => true,
            Verdict::Deny(_) => false,
            Verdict::Pending(_) => panic!("the transport rule answers at once"),
        }
    }

    #[test]
    fn query_parameters() {
        let r = request(Action::Play, Protocol::HttpFlv { tls: false }, "live");
        assert_eq!(r.param("token"), Some("abc"));
        assert_eq!(r.param("x"), Some(""));
        assert_eq!(r.param("hevc"), Some("legacy"));
        assert_eq!(r.param("tok"), None);
        assert_eq!(r.to_string(), "play over http-flv to live/cam");
    }

    #[test]
    fn transports_per_app_for_each_protocol() {
        let config: Config = toml::from_str(
            "[app.secure]\ntransports = [\"rtmps\", \"rtmpe\"]\n\
             [app.ingest]\npublish_transports = [\"rtmps\"]\n",
        )
        .unwrap();
        let access = Access::new(&config, Vec::new());
        let rtmp = Protocol::Rtmp(RtmpTransport::Rtmp);
        let rtmps = Protocol::Rtmp(RtmpTransport::Rtmps);
        assert!(!allowed(&access, &request(Action::Connect, rtmp, "secure")));
        assert!(allowed(&access, &request(Action::Connect, rtmps, "secure")));
        assert!(allowed(&access, &request(Action::Connect, rtmp, "ingest")));
        assert!(!allowed(&access, &request(Action::Publish, rtmp, "ingest")));
        assert!(allowed(&access, &request(Action::Publish, rtmps, "ingest")));
        assert!(allowed(&access, &request(Action::Play, rtmp, "ingest")));
        // Other protocols are not RTMP transports: the rule lets them be.
        for protocol in [
            Protocol::HttpFlv { tls: false },
            Protocol::WsFlv { tls: true },
            Protocol::Hls { tls: false },
        ] {
            assert!(allowed(&access, &request(Action::Play, protocol, "secure")));
        }
        assert!(allowed(
            &access,
            &request(Action::Open, Protocol::Rtmp(RtmpTransport::Rtmpt), "")
        ));
        match access.check(&request(Action::Connect, rtmp, "secure")) {
            Verdict::Deny(r) => assert_eq!(
                r.reason,
                "application 'secure' accepts connections over rtmps, rtmpe only, not rtmp"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// Refuses stream `cam` after `delay`; asks nothing else.
    struct Slow {
        delay: Duration,
        asked: std::sync::atomic::AtomicUsize,
    }

    impl AccessRule for Slow {
        fn check(&self, request: &AccessRequest) -> Verdict {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if request.stream.as_deref() != Some("cam") {
                return Verdict::Allow;
            }
            let delay = self.delay;
            Verdict::Pending(Box::pin(async move {
                tokio::time::sleep(delay).await;
                Err(Refusal::new("slow no"))
            }))
        }
    }

    struct Count(std::sync::atomic::AtomicUsize);

    impl AccessRule for Count {
        fn check(&self, _: &AccessRequest) -> Verdict {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Verdict::Allow
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_answer_is_waited_for_then_the_next_rule_is_asked() {
        let config = Config::default();
        let slow = Arc::new(Slow {
            delay: Duration::from_secs(2),
            asked: Default::default(),
        });
        let count = Arc::new(Count(Default::default()));
        let access = Access::new(&config, vec![slow.clone(), count.clone()]);
        let other = request(Action::Play, Protocol::Hls { tls: false }, "live");
        let mut cam = other.clone();
        cam.stream = Some("cam".into());
        assert!(allowed(
            &access,
            &AccessRequest {
                stream: Some("dog".into()),
                ..other
            }
        ));
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        let Verdict::Pending(answer) = access.check(&cam) else {
            panic!("pending expected")
        };
        let started = tokio::time::Instant::now();
        assert_eq!(answer.await, Err(Refusal::new("slow no")));
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        // A refusal stops the chain: the last rule was not asked.
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_never_comes_is_a_refusal() {
        let config: Config = toml::from_str("[access]\ntimeout_ms = 300\n").unwrap();
        let slow = Arc::new(Slow {
            delay: Duration::from_secs(3600),
            asked: Default::default(),
        });
        let access = Access::new(&config, vec![slow]);
        let mut cam = request(Action::Publish, Protocol::Rtmp(RtmpTransport::Rtmp), "live");
        cam.stream = Some("cam".into());
        let refusal = access.decide(&cam).await.unwrap_err();
        assert_eq!(refusal.reason, "no access decision within 300 ms");
    }
}
