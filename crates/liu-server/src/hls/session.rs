//! One stream muxed for HLS: a task reads the hub like any viewer and feeds
//! the segmenter; requests read its finished segments and cached playlist.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use liu_flv::samples::{audio_input, video_input};
use liu_hls::cmaf::{CmafConfig, CmafSegmenter};
use liu_hls::segmenter::{SegmenterConfig, TsSegmenter};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{Instrument, debug, info, info_span, warn};

use liu_hls::HlsError;

use super::HlsStreams;
use super::files::StreamFiles;
use crate::hub::{Delivery, Frame, FrameKind, StreamKey, ViewerInfo};
use liu_flv::av::{AudioCodec, VideoCodec, parse_audio_tag_header, parse_video_tag_header};

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
    /// Classic HLS, if the app has it.
    ts: Option<TsSegmenter>,
    /// fMP4 / LL-HLS, if the app has it.
    cmaf: Option<CmafSegmenter>,
    /// The rendered TS playlist, once it lists a segment.
    ts_playlist: Option<Bytes>,
    /// The rendered LL-HLS playlist and its delta update, once a part exists.
    cmaf_playlist: Option<(Bytes, Bytes)>,
    /// What the playlists were rendered at (newest TS segment, newest
    /// part, ended).
    rendered: (Option<u64>, Option<(u64, usize)>, bool),
    /// The session is over: no more segments will come.
    gone: bool,
    bad_frames: u64,
    /// Codecs left out of the segments, each warned about once.
    left_out: Vec<String>,
    /// The copy on disk (`[hls] dir`), if any.
    files: Option<StreamFiles>,
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
        let (with_ts, with_cmaf) = streams.config.hls_forms(&key.app);
        let ts = with_ts.then(|| {
            TsSegmenter::new(config).with_uri_prefix(format!("{}/{token}-", uri_escape(&key.name)))
        });
        let cmaf = with_cmaf.then(|| {
            CmafSegmenter::new(CmafConfig {
                target_duration: config.target_duration,
                part_target: Duration::from_millis(settings.part_target_ms.max(20)),
                window: config.window,
                keep_extra: config.keep_extra,
            })
            .with_uri_prefix(format!("{token}-"))
        });
        let files = settings.dir.as_deref().and_then(|dir| {
            StreamFiles::new(dir, &key.app, &key.name, &token, settings.dir_cleanup)
        });
        let session = Arc::new(HlsSession {
            key,
            token,
            state: Mutex::new(SessionState {
                ts,
                cmaf,
                ts_playlist: None,
                cmaf_playlist: None,
                rendered: (None, None, false),
                gone: false,
                bad_frames: 0,
                left_out: Vec::new(),
                files,
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

    /// Reads the session under its lock.
    pub fn read<T>(&self, f: impl FnOnce(&SessionView<'_>) -> T) -> T {
        f(&SessionView {
            state: &self.lock(),
        })
    }

    /// Waits (up to `wait`) until `ready` answers something other than
    /// `None`, re-asking whenever the session changes; `None` if the session
    /// ended or the time ran out first.
    pub async fn wait_for<T>(
        &self,
        wait: Duration,
        mut ready: impl FnMut(&SessionView<'_>) -> Option<T>,
    ) -> Option<T> {
        let mut changed = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            {
                let state = self.lock();
                if let Some(v) = ready(&SessionView { state: &state }) {
                    return Some(v);
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

    /// Reads the stream until the session ends, then leaves the registry.
    async fn run(self: Arc<Self>, streams: Arc<HlsStreams>) {
        info!("HLS muxing started");
        let mut subscriber = streams
            .hub
            .subscribe(&self.key, ViewerInfo::internal("hls"));
        let mut stop = streams.stop.subscribe();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let grace = Duration::from_millis(streams.settings().grace_ms);
        // An ended playlist stays long enough for every player to see its
        // EXT-X-ENDLIST: players reload about once per target duration
        // (RFC 8216 section 6.3.4), so a shorter grace is not enough.
        let keep_ended =
            grace.max(Duration::from_millis(streams.settings().target_duration_ms) * 3);
        // Without on_demand, muxing lasts as long as the publish.
        let idle = if streams.settings().mux_on_demand() {
            streams.idle_timeout().as_millis() as u64
        } else {
            u64::MAX
        };
        let mut batch = Vec::with_capacity(BATCH);
        let mut left_at: Option<Instant> = None;
        let mut ended_at: Option<Instant> = None;
        let reason = loop {
            tokio::select! {
                read = subscriber.next_batch(&mut batch, BATCH) => {
                    if let Err(e) = read {
                        // Muxing fell behind the queue limits: start over at a keyframe.
                        warn!("HLS muxing restarts: {e}");
                        subscriber = streams.hub.subscribe(&self.key, ViewerInfo::internal("hls"));
                        self.lock().each(|ts| ts.discontinuity(), |c| c.discontinuity());
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
                self.lock().each(|ts| ts.end(), |c| c.end());
                self.refresh();
                ended_at = Some(Instant::now());
            }
            if ended_at.is_some_and(|t| t.elapsed() >= keep_ended) {
                break "stream ended";
            }
        };
        streams.remove(&self);
        {
            let mut state = self.lock();
            state.gone = true;
            if let Some(files) = state.files.as_mut() {
                files.finish();
            }
        }
        self.version.send_modify(|v| *v += 1);
        info!("HLS muxing stopped: {reason}");
    }

    /// Feeds a batch from the hub to the segmenters.
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
                        // Parsed once, for both forms.
                        let pushed = match f.kind {
                            FrameKind::Video => video_input(f.timestamp, &f.payload)
                                .map_err(HlsError::from)
                                .and_then(|i| {
                                    let Some(i) = i else {
                                        state.note_left_out(&f);
                                        return Ok(());
                                    };
                                    state.try_each(
                                        |ts| ts.push_video_input(&i, wall),
                                        |c| c.push_video_input(&i, wall),
                                    )
                                }),
                            FrameKind::Audio => audio_input(f.timestamp, &f.payload)
                                .map_err(HlsError::from)
                                .and_then(|i| {
                                    let Some(i) = i else {
                                        state.note_left_out(&f);
                                        return Ok(());
                                    };
                                    state.try_each(
                                        |ts| ts.push_audio_input(&i, wall),
                                        |c| c.push_audio_input(&i, wall),
                                    )
                                }),
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
                        state.each(|ts| ts.discontinuity(), |c| c.discontinuity());
                        *left_at = Some(Instant::now());
                    }
                    Delivery::Published => *left_at = None,
                    Delivery::Skipped => state.each(|ts| ts.discontinuity(), |c| c.discontinuity()),
                }
            }
        }
        self.refresh();
    }

    /// Re-renders the playlists and wakes waiting requests if they changed.
    fn refresh(&self) {
        let mut state = self.lock();
        let ts = state.ts.as_ref().map(|t| (t.last_sequence(), t.is_ended()));
        let cmaf = state.cmaf.as_ref().map(|c| (c.last_part(), c.is_ended()));
        let now = (
            ts.and_then(|t| t.0),
            cmaf.and_then(|c| c.0),
            ts.is_some_and(|t| t.1) || cmaf.is_some_and(|c| c.1),
        );
        if now == state.rendered {
            return;
        }
        state.rendered = now;
        if let Some(ts) = state.ts.as_ref().filter(|t| t.last_sequence().is_some()) {
            state.ts_playlist = Some(Bytes::from(ts.playlist()));
        }
        if let Some(c) = state.cmaf.as_ref().filter(|c| c.last_part().is_some()) {
            let full = Bytes::from(c.playlist(false));
            let delta = Bytes::from(c.playlist(true));
            state.cmaf_playlist = Some((full, delta));
        }
        let SessionState {
            ts,
            cmaf,
            ts_playlist,
            files,
            ..
        } = &mut *state;
        if let Some(files) = files {
            files.sync(ts.as_ref(), ts_playlist.as_ref(), cmaf.as_ref());
        }
        drop(state);
        self.version.send_modify(|v| *v += 1);
    }
}

impl SessionState {
    /// One warning per session and codec that HLS leaves out (AV1, VP9,
    /// Opus, ... pass through RTMP and HTTP-FLV only).
    fn note_left_out(&mut self, frame: &Frame) {
        let codec = match frame.kind {
            FrameKind::Video => parse_video_tag_header(&frame.payload)
                .ok()
                .filter(|h| {
                    !matches!(
                        h.codec,
                        VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Av1
                    )
                })
                .map(|h| format!("video {:?}", h.codec)),
            FrameKind::Audio => parse_audio_tag_header(&frame.payload)
                .ok()
                .filter(|h| !matches!(h.codec, AudioCodec::Aac | AudioCodec::Opus))
                .map(|h| format!("audio {:?}", h.codec)),
            FrameKind::Data => None,
        };
        if let Some(codec) = codec
            && !self.left_out.contains(&codec)
            && self.left_out.len() < 8
        {
            warn!("HLS: {codec} is not carried in HLS segments: left out");
            self.left_out.push(codec);
        }
    }

    fn each(&mut self, ts: impl FnOnce(&mut TsSegmenter), cmaf: impl FnOnce(&mut CmafSegmenter)) {
        if let Some(t) = self.ts.as_mut() {
            ts(t);
        }
        if let Some(c) = self.cmaf.as_mut() {
            cmaf(c);
        }
    }

    fn try_each(
        &mut self,
        ts: impl FnOnce(&mut TsSegmenter) -> Result<(), HlsError>,
        cmaf: impl FnOnce(&mut CmafSegmenter) -> Result<(), HlsError>,
    ) -> Result<(), HlsError> {
        let a = self.ts.as_mut().map_or(Ok(()), ts);
        let b = self.cmaf.as_mut().map_or(Ok(()), cmaf);
        a.and(b)
    }
}

/// What a request may read of a session, under its lock.
pub struct SessionView<'a> {
    state: &'a SessionState,
}

impl SessionView<'_> {
    pub fn ts_playlist(&self) -> Option<Bytes> {
        self.state.ts_playlist.clone()
    }

    pub fn ts_segment(&self, sequence: u64) -> Option<Bytes> {
        let ts = self.state.ts.as_ref()?;
        ts.segment(sequence).map(|s| s.data.clone())
    }

    pub fn has_ts(&self) -> bool {
        self.state.ts.is_some()
    }

    pub fn cmaf(&self) -> Option<&CmafSegmenter> {
        self.state.cmaf.as_ref()
    }

    /// The LL-HLS playlist, or its delta update.
    pub fn cmaf_playlist(&self, delta: bool) -> Option<Bytes> {
        let (full, d) = self.state.cmaf_playlist.as_ref()?;
        Some(if delta { d.clone() } else { full.clone() })
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
