//! One stream muxed for HLS: a task reads the hub like any viewer and feeds
//! the segmenter; requests read its finished segments and cached playlist.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use liu_hls::segmenter::{SegmenterConfig, TsSegmenter};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{Instrument, debug, info, info_span, warn};

use super::HlsStreams;
use crate::hub::{Delivery, FrameKind, StreamKey};

/// Entries read from the hub at a time.
const BATCH: usize = 512;
/// How often the task checks for idleness and the grace time.
const TICK: Duration = Duration::from_millis(250);

/// One stream's HLS state, shared by its muxing task and the requests.
pub struct HlsSession {
    key: StreamKey,
    /// Unique to this session, part of every segment name: a name is never
    /// reused for other media, so caches in front of Liu stay correct.
    token: String,
    state: Mutex<SessionState>,
    /// Bumped whenever a segment is finished or the playlist ends.
    version: watch::Sender<u64>,
    /// Last request, ms since [`HlsStreams`]' epoch.
    last_request: AtomicU64,
}

struct SessionState {
    ts: TsSegmenter,
    /// The rendered TS playlist, once it lists a segment.
    ts_playlist: Option<Bytes>,
    /// The segmenter's (newest segment, ended) the playlist was rendered at.
    rendered: (Option<u64>, bool),
    /// The session is over: no more segments will come.
    gone: bool,
    bad_frames: u64,
}

impl HlsSession {
    /// A session for `key`, its muxing task spawned.
    pub(super) fn start(streams: Arc<HlsStreams>, key: StreamKey, now_ms: u64) -> Arc<Self> {
        let settings = streams.settings();
        let token = session_token();
        let config = SegmenterConfig {
            target_duration: Duration::from_millis(settings.target_duration_ms.max(100)),
            window: settings.window.max(1),
            keep_extra: settings.keep_extra,
        };
        let ts =
            TsSegmenter::new(config).with_uri_prefix(format!("{}/{token}-", uri_escape(&key.name)));
        let session = Arc::new(HlsSession {
            key,
            token,
            state: Mutex::new(SessionState {
                ts,
                ts_playlist: None,
                rendered: (None, false),
                gone: false,
                bad_frames: 0,
            }),
            version: watch::channel(0).0,
            last_request: AtomicU64::new(now_ms),
        });
        let span = info_span!(parent: None, "hls", stream = %session.key);
        tokio::spawn(session.clone().run(streams).instrument(span));
        session
    }

    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn touch(&self, now_ms: u64) {
        self.last_request.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// The TS playlist, waiting up to `wait` for its first segment.
    pub async fn ts_playlist(&self, wait: Duration) -> Option<Bytes> {
        let mut changed = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            {
                let state = self.lock();
                if let Some(p) = &state.ts_playlist {
                    return Some(p.clone());
                }
                if state.gone {
                    return None;
                }
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// A kept TS segment.
    pub fn ts_segment(&self, sequence: u64) -> Option<Bytes> {
        self.lock().ts.segment(sequence).map(|s| s.data.clone())
    }

    /// Reads the stream until the session ends, then leaves the registry.
    async fn run(self: Arc<Self>, streams: Arc<HlsStreams>) {
        info!("HLS muxing started");
        let mut subscriber = streams.hub.subscribe(&self.key);
        let mut stop = streams.stop.subscribe();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let grace = Duration::from_millis(streams.settings().grace_ms);
        let idle = streams.idle_timeout().as_millis() as u64;
        let mut batch = Vec::with_capacity(BATCH);
        let mut left_at: Option<Instant> = None;
        let mut ended_at: Option<Instant> = None;
        let reason = loop {
            tokio::select! {
                read = subscriber.next_batch(&mut batch, BATCH) => {
                    if let Err(e) = read {
                        // Muxing fell behind the queue limits: start over at a keyframe.
                        warn!("HLS muxing restarts: {e}");
                        subscriber = streams.hub.subscribe(&self.key);
                        self.lock().ts.discontinuity();
                        continue;
                    }
                    if ended_at.is_some() && batch.iter().any(|d| matches!(d, Delivery::Published)) {
                        // Published again after the playlist ended: a new session.
                        streams.remove(&self);
                        streams.published(&self.key);
                        break "republished after the end";
                    }
                    self.absorb(&mut batch, &mut left_at);
                }
                _ = tick.tick() => {}
                _ = stop.changed() => break "server stopping",
            }
            let since_request = streams
                .now_ms()
                .saturating_sub(self.last_request.load(Ordering::Relaxed));
            if since_request > idle {
                break "nobody asked for it";
            }
            if let Some(t) = left_at
                && ended_at.is_none()
                && t.elapsed() >= grace
            {
                self.lock().ts.end();
                self.refresh();
                ended_at = Some(Instant::now());
            }
            if ended_at.is_some_and(|t| t.elapsed() >= grace) {
                break "stream ended";
            }
        };
        streams.remove(&self);
        self.lock().gone = true;
        self.version.send_modify(|v| *v += 1);
        info!("HLS muxing stopped: {reason}");
    }

    /// Feeds a batch from the hub to the segmenter.
    fn absorb(&self, batch: &mut Vec<Delivery>, left_at: &mut Option<Instant>) {
        // Frames of a batch are live up to its newest one (the first batch
        // holds the GOP cache): wall clock for EXT-X-PROGRAM-DATE-TIME.
        let now = unix_ms();
        let newest = batch
            .iter()
            .filter_map(|d| match d {
                Delivery::Frame(f) => Some(f.timestamp),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        {
            let mut state = self.lock();
            for delivery in batch.drain(..) {
                match delivery {
                    Delivery::Frame(f) => {
                        let wall = now.saturating_sub(newest.saturating_sub(f.timestamp));
                        let pushed = match f.kind {
                            FrameKind::Video => state.ts.push_video(f.timestamp, &f.payload, wall),
                            FrameKind::Audio => state.ts.push_audio(f.timestamp, &f.payload, wall),
                            FrameKind::Data => Ok(()),
                        };
                        if let Err(e) = pushed {
                            state.bad_frames += 1;
                            if state.bad_frames == 1 {
                                warn!("HLS: frame left out (later ones only at debug level): {e}");
                            } else {
                                debug!("HLS: frame left out: {e}");
                            }
                        }
                    }
                    Delivery::Unpublished => {
                        state.ts.discontinuity();
                        *left_at = Some(Instant::now());
                    }
                    Delivery::Published => *left_at = None,
                    Delivery::Skipped => state.ts.discontinuity(),
                }
            }
        }
        self.refresh();
    }

    /// Re-renders the playlist and wakes waiting requests if it changed.
    fn refresh(&self) {
        let mut state = self.lock();
        let now = (state.ts.last_sequence(), state.ts.is_ended());
        if now == state.rendered {
            return;
        }
        state.rendered = now;
        state.ts_playlist = Some(Bytes::from(state.ts.playlist()));
        drop(state);
        self.version.send_modify(|v| *v += 1);
    }
}

/// A short name unique to this session within the server's life and, in
/// practice, across restarts: milliseconds since 1970 in base 36, plus a
/// process-wide counter for sessions started in the same millisecond.
fn session_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = unix_ms() * 64 + COUNTER.fetch_add(1, Ordering::Relaxed) % 64;
    let mut digits = Vec::new();
    let mut v = n;
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A stream name as a URI path segment (RFC 3986 section 2.3: unreserved
/// characters as they are, every other byte percent-encoded).
pub(super) fn uri_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_for_uris() {
        assert_eq!(uri_escape("cam-1_a.b~"), "cam-1_a.b~");
        assert_eq!(uri_escape("a b?c#d%"), "a%20b%3Fc%23d%25");
        assert_eq!(uri_escape("流"), "%E6%B5%81");
    }

    #[test]
    fn tokens_differ() {
        let a = session_token();
        let b = session_token();
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
