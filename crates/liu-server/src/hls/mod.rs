//! HLS playback: every stream muxed once into segments kept in memory, and
//! served on the HTTP port to any number of viewers.
//!
//! - [`HlsStreams`]: the streams being muxed, each an [`HlsSession`] that
//!   reads the hub like any viewer and feeds `liu-hls`'s segmenter.
//! - The HTTP side (playlists, segments, HEAD, Range, caching) is the
//!   HTTP adapter's `http/hls.rs`; this module knows no HTTP.
//! - `files`: the optional copy in a directory (`[hls] dir`).
//!
//! A session starts on the first HLS request for a published stream (or at
//! publish, with `[hls] on_demand = false` or a `dir`) and stops when nobody asked for
//! the stream for `idle_timeout_ms`, or `grace_ms` after the publisher left
//! (and did not come back) plus as long again (at least three target
//! durations) with `EXT-X-ENDLIST`.

mod files;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tracing::warn;

use crate::config::{Config, HlsConfig};
use crate::hub::{Hub, StreamEvent, StreamKey};

pub use session::HlsSession;

/// The streams being muxed for HLS.
pub struct HlsStreams {
    hub: Hub,
    config: Config,
    sessions: Mutex<HashMap<StreamKey, Arc<HlsSession>>>,
    /// When the registry was made: request times are kept as ms since.
    epoch: Instant,
    stop: watch::Sender<bool>,
}

impl HlsStreams {
    pub fn new(hub: Hub, config: Config) -> Self {
        HlsStreams {
            hub,
            config,
            sessions: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            stop: watch::channel(false).0,
        }
    }

    fn settings(&self) -> &HlsConfig {
        &self.config.hls
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<StreamKey, Arc<HlsSession>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The session of `key`, started if the stream is published and its
    /// application serves HLS; marks it as asked for.
    pub fn session(self: &Arc<Self>, key: &StreamKey) -> Option<Arc<HlsSession>> {
        if !self.config.hls_enabled(&key.app) {
            return None;
        }
        let now = self.now_ms();
        let mut sessions = self.sessions();
        if let Some(s) = sessions.get(key) {
            s.touch(now);
            return Some(s.clone());
        }
        if !self.hub.is_published(key) {
            return None;
        }
        let session = HlsSession::start(self.clone(), key.clone(), now);
        sessions.insert(key.clone(), session.clone());
        Some(session)
    }

    /// The session of `key` if one runs (media requests never start one: a
    /// cache asking for an old segment must not restart muxing).
    pub fn existing(&self, key: &StreamKey) -> Option<Arc<HlsSession>> {
        let session = self.sessions().get(key).cloned()?;
        session.touch(self.now_ms());
        Some(session)
    }

    /// A stream was published: with `on_demand` off, start muxing it now.
    pub fn published(self: &Arc<Self>, key: &StreamKey) {
        if !self.settings().mux_on_demand() {
            let _ = self.session(key);
        }
    }

    /// Follows the hub's stream events until the server stops: a publish
    /// starts muxing when streams are muxed from publish on.
    pub async fn follow(self: Arc<Self>, mut events: broadcast::Receiver<StreamEvent>) {
        let mut stop = self.stop.subscribe();
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = stop.changed() => return,
            };
            match event {
                Ok(StreamEvent::Published { key, .. }) => self.published(&key),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // A publish may be among them: look at every stream.
                    warn!("HLS missed {n} stream events (too many at once): rechecking streams");
                    for key in self.hub.published() {
                        self.published(&key);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Ends every session (server shutdown).
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Forgets `session` if it is still the one registered for its stream.
    fn remove(&self, session: &Arc<HlsSession>) {
        let mut sessions = self.sessions();
        if sessions
            .get(session.key())
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            sessions.remove(session.key());
            crate::heap::note_released();
        }
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.settings().idle_timeout_ms)
    }
}
