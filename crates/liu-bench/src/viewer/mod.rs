//! Viewers: one task per connection on a single-threaded runtime, each
//! skimming its stream and measuring what it gets.

mod hls;
mod http_flv;
mod link;
pub mod media;
mod rtmp;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::watch;

use link::Link;
pub use link::TlsClient;
pub use media::{Phase, Tracker};

use crate::error::BenchError;
use crate::histogram::Histogram;
use crate::sys::Clock;
use crate::target::{Protocol, Security, Target};

/// Bytes read from a socket at once. One buffer serves every viewer: reads
/// are processed before the next await.
const READ_BUF_LEN: usize = 64 * 1024;

thread_local! {
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; READ_BUF_LEN].into_boxed_slice());
}

/// What every viewer shares (single-threaded: plain cells).
#[derive(Debug, Default)]
pub struct Shared {
    pub clock: Clock,
    /// End-to-end latency of stamped frames, µs.
    pub latency: RefCell<Histogram>,
    /// Bytes read by all viewers.
    pub bytes: Cell<u64>,
    /// Viewers that got their first keyframe.
    pub playing: Cell<u32>,
    /// Viewers that ended with a failure.
    pub failed: Cell<u32>,
    /// Viewers started.
    pub started: Cell<u32>,
    /// Stalls so far, over all viewers (each counted when its gap ends).
    pub stalls: Cell<u32>,
    /// Messages so far whose timestamp went back from the previous one of the same track.
    pub backwards: Cell<u64>,
}

/// Settings common to all viewers of a run.
#[derive(Debug)]
pub struct ViewerConfig {
    pub target: Target,
    pub addr: SocketAddr,
    /// Bound on TCP connect plus protocol setup.
    pub setup_timeout: Duration,
    /// The stream has no video: the first audio frame is the first frame.
    pub audio_only: bool,
    /// For `Security::Tls` targets.
    pub tls: Option<TlsClient>,
}

/// Why a viewer failed: a fixed category and a detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: &'static str,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            detail: detail.into(),
        }
    }

    fn io(phase: Phase, e: &io::Error) -> Self {
        let reason = match phase {
            Phase::Connecting => "connect",
            Phase::Handshake => "handshake",
            _ => "io",
        };
        Failure::new(reason, format!("{} ({})", e, phase.name()))
    }
}

impl From<BenchError> for Failure {
    fn from(e: BenchError) -> Self {
        match e {
            BenchError::Rejected(why) => Failure::new("rejected", why),
            BenchError::Handshake(e) => Failure::new("handshake", e.to_string()),
            other => Failure::new("protocol", other.to_string()),
        }
    }
}

/// What one viewer got.
#[derive(Debug)]
pub struct ViewerResult {
    pub outcome: Result<(), Failure>,
    pub start: Instant,
    pub end: Instant,
    pub bytes: u64,
    pub ttff: Option<Duration>,
    pub first_byte: Option<Duration>,
    /// Media time delivered (ms) and the wall time it took.
    pub media: Option<(u64, Duration)>,
    pub stalls: u32,
    /// Audio or video frames whose timestamp went back from the previous one of their track.
    pub backwards: u64,
    pub longest_gap: Duration,
    pub video_frames: u64,
    pub stamped_frames: u64,
    pub cached_frames: u64,
    /// HTTP requests made (HLS).
    pub requests: u64,
}

/// Plays from `start` (already reached) until `end` or until `stop` turns true.
pub async fn run(
    config: Rc<ViewerConfig>,
    shared: Rc<Shared>,
    start: Instant,
    end: Instant,
    mut stop: watch::Receiver<bool>,
) -> ViewerResult {
    shared.started.set(shared.started.get() + 1);
    let mut t = Tracker::new(shared.clone(), start, config.audio_only);
    let played = {
        let play = async {
            match config.target.protocol {
                Protocol::Rtmp => rtmp::play(&config, &mut t).await,
                Protocol::HttpFlv | Protocol::WsFlv => http_flv::play(&config, &mut t).await,
                Protocol::Hls => hls::play(&config, &mut t).await,
            }
        };
        tokio::select! {
            r = tokio::time::timeout_at(end.into(), play) => r.ok(),
            _ = stop.wait_for(|s| *s) => None,
        }
    };
    let end = Instant::now().min(end);
    let outcome = match played {
        // The time is up (or the run was stopped).
        None => match (t.phase, t.first_keyframe) {
            (_, Some(_)) => Ok(()),
            (Phase::Playing, None) => Err(Failure::new("no_keyframe", "no video keyframe arrived")),
            (phase, None) => Err(Failure::new(
                "timeout",
                format!("still in {} at the end", phase.name()),
            )),
        },
        Some(Ok(())) => {
            let after = end.saturating_duration_since(start).as_secs_f64();
            Err(Failure::new(
                "closed",
                format!("the server closed the connection after {after:.1} s"),
            ))
        }
        Some(Err(f)) => Err(f),
    };
    if outcome.is_err() {
        shared.failed.set(shared.failed.get() + 1);
    }
    if t.first_keyframe.is_some() {
        shared.playing.set(shared.playing.get().saturating_sub(1));
    }
    t.finish(end);
    ViewerResult {
        start,
        end,
        bytes: t.bytes,
        ttff: t.first_keyframe.map(|k| k - start),
        first_byte: t.first_media_byte.map(|k| k - start),
        media: t.media_span(end),
        stalls: t.stalls,
        backwards: t.backwards,
        longest_gap: t.longest_gap,
        video_frames: t.video_frames,
        stamped_frames: t.stamped_frames,
        cached_frames: t.cached_frames,
        requests: t.requests,
        outcome,
    }
}

/// Connects within the setup bound, with TCP_NODELAY, and does the TLS
/// handshake for a TLS target.
async fn connect(config: &ViewerConfig, t: &mut Tracker) -> Result<Link, Failure> {
    t.phase = Phase::Connecting;
    let deadline = t.start + config.setup_timeout;
    let sock = match tokio::time::timeout_at(deadline.into(), TcpStream::connect(config.addr)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Failure::io(Phase::Connecting, &e)),
        Err(_) => return Err(Failure::new("connect", "TCP connect timed out")),
    };
    let _ = sock.set_nodelay(true);
    match (&config.tls, config.target.security) {
        (Some(tls), Security::Tls) => {
            t.phase = Phase::Handshake;
            let host = &config.target.host;
            match tokio::time::timeout_at(deadline.into(), tls.connect(host, sock)).await {
                Ok(Ok(link)) => Ok(link),
                Ok(Err(e)) => Err(Failure::new("handshake", format!("TLS: {e}"))),
                Err(_) => Err(Failure::new("handshake", "TLS handshake timed out")),
            }
        }
        (None, Security::Tls) => Err(Failure::new("protocol", "no TLS client configured")),
        _ => Ok(Link::Tcp(sock)),
    }
}

/// [`Link::read_some`], bounded by the setup deadline.
async fn read_setup<T>(
    config: &ViewerConfig,
    start: Instant,
    phase: Phase,
    link: &mut Link,
    f: impl FnMut(&mut [u8], Instant) -> T,
) -> Result<Option<T>, Failure> {
    let deadline = start + config.setup_timeout;
    match tokio::time::timeout_at(deadline.into(), link.read_some(f)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::io(phase, &e)),
        Err(_) => Err(Failure::new(
            "timeout",
            format!(
                "{} took longer than {:?}",
                phase.name(),
                config.setup_timeout
            ),
        )),
    }
}

async fn write_all(link: &mut Link, data: &[u8], phase: Phase) -> Result<(), Failure> {
    link.write_all(data)
        .await
        .map_err(|e| Failure::io(phase, &e))
}
