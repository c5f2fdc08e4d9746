//! The hub: maps `app/stream` to a stream with one publisher and any number
//! of subscribers, and moves frames from the one to the many.
//!
//! It knows no protocol. Ingest adapters push [`Frame`]s through a
//! [`Publisher`]; output adapters read them through a [`Subscriber`] and
//! serialize each frame once per output form ([`Frame::form`]).

mod direct;
mod events;
mod frame;
mod ring;
mod subscriber;
mod timeline;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, broadcast};

pub use direct::{DirectBytes, DirectSink, DirectTicket, Returned};
pub use events::{EVENT_QUEUE, SourceInfo, StreamEvent, ViewerInfo};
pub use frame::{FORM_SLOTS, FormSlot, Frame, FrameKind};
pub use ring::{Entry, RingLimits};
pub use subscriber::{Delivery, Subscriber, SubscriberError};

use direct::DirectEntry;
use ring::Ring;
use timeline::Timeline;

/// Hub-wide settings (see docs/configuration.md, `[stream]`).
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub ring: RingLimits,
    /// A viewer skipped forward more than this many times in
    /// `slow_viewer_window_ms` is disconnected.
    pub max_skips: u32,
    pub slow_viewer_window_ms: u64,
    /// Direct fan-out writes go through io_uring where the kernel allows.
    pub io_uring: bool,
    /// How long viewers' writes are held to carry several messages
    /// (`[stream] merge_window_ms`), and per application.
    pub merge_window: Duration,
    pub app_merge_windows: HashMap<String, Duration>,
}

impl HubConfig {
    /// The merge window of streams of `app`.
    pub fn merge_window_for(&self, app: &str) -> Duration {
        self.app_merge_windows
            .get(app)
            .copied()
            .unwrap_or(self.merge_window)
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            ring: RingLimits {
                gop_cache: true,
                gop_cache_max_bytes: 32 << 20,
                queue_max_bytes: 8 << 20,
                queue_max_ms: 5000,
            },
            max_skips: 3,
            slow_viewer_window_ms: 60_000,
            io_uring: true,
            merge_window: Duration::ZERO,
            app_merge_windows: HashMap::new(),
        }
    }
}

/// The name of a stream: application and stream name, no query string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub app: String,
    pub name: String,
}

impl StreamKey {
    /// The key of `app/name`, split at the last `/`: `("live", "a/b")` and
    /// `("live/a", "b")` name the same stream, however a client divided
    /// its URL between the application and the stream name.
    pub fn new(app: &str, name: &str) -> Self {
        let app = app.trim_matches('/');
        let name = name.trim_matches('/');
        match name.rsplit_once('/') {
            Some((prefix, last)) if app.is_empty() => StreamKey {
                app: prefix.to_string(),
                name: last.to_string(),
            },
            Some((prefix, last)) => StreamKey {
                app: format!("{app}/{prefix}"),
                name: last.to_string(),
            },
            None => StreamKey {
                app: app.to_string(),
                name: name.to_string(),
            },
        }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.name)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    #[error("stream {0} is already being published")]
    AlreadyPublishing(StreamKey),
}

/// What a frame is, as the ingest adapter classified it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameFlags {
    pub keyframe: bool,
    /// A sequence header (codec configuration).
    pub config: bool,
    /// `onMetaData`.
    pub metadata: bool,
    /// The FLV dialect of the payload when the other one differs ([`Frame::dialect`]).
    pub dialect: Option<liu_flv::av::FlvDialect>,
}

/// The hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    streams: Mutex<HashMap<StreamKey, Arc<Stream>>>,
    config: HubConfig,
    next_publisher: AtomicU64,
    next_viewer: AtomicU64,
    events: broadcast::Sender<StreamEvent>,
}

/// One named stream.
pub struct Stream {
    key: StreamKey,
    state: Mutex<StreamState>,
    notify: Notify,
    use_io_uring: bool,
    /// Direct writes happen every this long (0: at each publisher flush).
    merge_window: Duration,
    /// Wakes the direct writer (a publisher flushed).
    direct_wake: Notify,
}

struct StreamState {
    ring: Ring,
    publisher: Option<u64>,
    metadata: Option<Arc<Frame>>,
    video_config: Option<Arc<Frame>>,
    audio_config: Option<Arc<Frame>>,
    /// Video seen in the current publish: keyframes gate viewers' start.
    has_video: bool,
    has_audio: bool,
    timeline: Timeline,
    subscribers: usize,
    /// Publishes this stream has had (while it kept viewers between them).
    publishes: u64,
    /// Caught-up viewers the publisher writes to itself ([`direct`]).
    direct: Vec<DirectEntry>,
    next_direct_id: u64,
    /// The direct writer task is running.
    direct_ticker: bool,
}

/// The current codec configuration of a stream, sent to a viewer before
/// its first frame.
#[derive(Debug, Clone, Default)]
pub struct StreamHeaders {
    pub metadata: Option<Arc<Frame>>,
    pub video_config: Option<Arc<Frame>>,
    pub audio_config: Option<Arc<Frame>>,
    pub has_audio: bool,
    pub has_video: bool,
}

impl Stream {
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while a publisher is live.
    pub fn is_published(&self) -> bool {
        self.lock().publisher.is_some()
    }

    pub fn headers(&self) -> StreamHeaders {
        self.lock().headers()
    }
}

impl StreamState {
    fn headers(&self) -> StreamHeaders {
        StreamHeaders {
            metadata: self.metadata.clone(),
            video_config: self.video_config.clone(),
            audio_config: self.audio_config.clone(),
            has_audio: self.has_audio || self.audio_config.is_some(),
            has_video: self.has_video || self.video_config.is_some(),
        }
    }
}

impl Hub {
    pub fn new(config: HubConfig) -> Self {
        Hub {
            inner: Arc::new(HubInner {
                streams: Mutex::new(HashMap::new()),
                config,
                next_publisher: AtomicU64::new(1),
                next_viewer: AtomicU64::new(1),
                events: broadcast::channel(EVENT_QUEUE).0,
            }),
        }
    }

    /// Stream events from now on ([`StreamEvent`]).
    pub fn events(&self) -> broadcast::Receiver<StreamEvent> {
        self.inner.events.subscribe()
    }

    /// Tells the listeners, if any; never waits.
    fn emit(&self, event: StreamEvent) {
        let _ = self.inner.events.send(event);
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<StreamKey, Arc<Stream>>> {
        self.inner.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stream(&self, key: &StreamKey) -> Arc<Stream> {
        let mut streams = self.streams();
        streams
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Stream {
                    key: key.clone(),
                    state: Mutex::new(StreamState {
                        ring: Ring::new(self.inner.config.ring),
                        publisher: None,
                        metadata: None,
                        video_config: None,
                        audio_config: None,
                        has_video: false,
                        has_audio: false,
                        timeline: Timeline::default(),
                        subscribers: 0,
                        publishes: 0,
                        direct: Vec::new(),
                        next_direct_id: 0,
                        direct_ticker: false,
                    }),
                    notify: Notify::new(),
                    use_io_uring: self.inner.config.io_uring,
                    merge_window: self.inner.config.merge_window_for(&key.app),
                    direct_wake: Notify::new(),
                })
            })
            .clone()
    }

    /// Drops a stream nobody publishes or watches.
    fn release(&self, key: &StreamKey) {
        let mut streams = self.streams();
        let unused = streams.get(key).is_some_and(|stream| {
            let state = stream.lock();
            state.publisher.is_none() && state.subscribers == 0
        });
        if unused {
            streams.remove(key);
            // A map keeps its largest table: once a load of many streams has mostly ended,
            // give the table back (half empty after, so not a shrink per removal).
            let len = streams.len();
            if streams.capacity() > 64 && len * 4 < streams.capacity() {
                streams.shrink_to(len * 2);
            }
        }
    }

    /// Starts publishing `key` for `source`. A second publisher on a live
    /// name is refused.
    pub fn publish(&self, key: &StreamKey, source: SourceInfo) -> Result<Publisher, HubError> {
        let stream = self.stream(key);
        let id = self.inner.next_publisher.fetch_add(1, Ordering::Relaxed);
        let republished = {
            let mut state = stream.lock();
            if state.publisher.is_some() {
                drop(state);
                self.release(key);
                return Err(HubError::AlreadyPublishing(key.clone()));
            }
            state.publisher = Some(id);
            state.timeline.restart();
            state.metadata = None;
            state.video_config = None;
            state.audio_config = None;
            state.has_video = false;
            state.has_audio = false;
            state.ring.clear_keyframe();
            state.ring.push(Entry::Published);
            state.publishes += 1;
            state.publishes > 1
        };
        stream.return_direct();
        stream.notify.notify_waiters();
        self.emit(StreamEvent::Published {
            key: key.clone(),
            source: Arc::new(source),
            republished,
        });
        Ok(Publisher {
            hub: self.clone(),
            stream,
            id,
        })
    }

    /// Subscribes `viewer` to `key`, published or not yet.
    pub fn subscribe(&self, key: &StreamKey, viewer: ViewerInfo) -> Subscriber {
        let stream = self.stream(key);
        let (start, first) = {
            let mut state = stream.lock();
            state.subscribers += 1;
            (self.start_of(&state), state.subscribers == 1)
        };
        let id = self.inner.next_viewer.fetch_add(1, Ordering::Relaxed);
        let viewer = Arc::new(viewer);
        if first {
            self.emit(StreamEvent::FirstViewer { key: key.clone() });
        }
        self.emit(StreamEvent::ViewerJoined {
            key: key.clone(),
            id,
            viewer: viewer.clone(),
        });
        Subscriber::new(self.clone(), stream, start, &self.inner.config, id, viewer)
    }

    /// Where a new viewer starts reading: the latest keyframe (with a GOP
    /// cache) or what comes next; `None` while nobody publishes.
    fn start_of(&self, state: &StreamState) -> Option<u64> {
        state.publisher.as_ref()?;
        let cached = if self.inner.config.ring.gop_cache {
            state.ring.last_keyframe()
        } else {
            None
        };
        Some(cached.unwrap_or(state.ring.head()))
    }

    /// True while `key` has a live publisher.
    pub fn is_published(&self, key: &StreamKey) -> bool {
        let stream = self.streams().get(key).cloned();
        stream.is_some_and(|s| s.is_published())
    }

    /// Names of the streams currently published.
    pub fn published(&self) -> Vec<StreamKey> {
        let streams: Vec<Arc<Stream>> = self.streams().values().cloned().collect();
        streams
            .iter()
            .filter(|s| s.is_published())
            .map(|s| s.key.clone())
            .collect()
    }

    fn unsubscribe(&self, stream: &Stream, id: u64, viewer: Arc<ViewerInfo>) {
        let last = {
            let mut state = stream.lock();
            state.subscribers = state.subscribers.saturating_sub(1);
            state.subscribers == 0
        };
        self.release(&stream.key);
        self.emit(StreamEvent::ViewerLeft {
            key: stream.key.clone(),
            id,
            viewer,
        });
        if last {
            self.emit(StreamEvent::LastViewerLeft {
                key: stream.key.clone(),
            });
        }
    }
}

/// The right to push frames into a stream; dropping it unpublishes.
pub struct Publisher {
    hub: Hub,
    stream: Arc<Stream>,
    id: u64,
}

impl Publisher {
    pub fn key(&self) -> &StreamKey {
        &self.stream.key
    }

    /// Pushes a frame. `timestamp` is the publisher's own 32-bit time in ms;
    /// the hub maps it onto the stream's monotonic timeline. Viewers are
    /// woken by [`Publisher::flush`], once per batch of frames, so frames
    /// that arrived together leave together.
    pub fn push(&self, kind: FrameKind, timestamp: u32, payload: Bytes, flags: FrameFlags) {
        {
            let mut state = self.stream.lock();
            // onMetaData goes out at time 0, where players expect it (FFmpeg
            // turns a later one into a data stream); it moves no timeline.
            let timestamp = if flags.metadata {
                0
            } else {
                state.timeline.map(kind, timestamp)
            };
            let mut frame = Frame::new(kind, timestamp, payload);
            frame.config = flags.config;
            frame.metadata = flags.metadata;
            frame.dialect = flags.dialect;
            match kind {
                FrameKind::Video => state.has_video = true,
                FrameKind::Audio => state.has_audio = true,
                FrameKind::Data => {}
            }
            // Audio-only streams start anywhere; with video, at keyframes.
            frame.keyframe = !flags.config
                && match kind {
                    FrameKind::Video => flags.keyframe,
                    FrameKind::Audio => !state.has_video,
                    FrameKind::Data => false,
                };
            let frame = Arc::new(frame);
            if flags.metadata {
                state.metadata = Some(frame.clone());
            } else if flags.config {
                match kind {
                    FrameKind::Video => state.video_config = Some(frame.clone()),
                    FrameKind::Audio => state.audio_config = Some(frame.clone()),
                    FrameKind::Data => {}
                }
            }
            state.ring.push(Entry::Frame(frame));
        }
    }

    /// Replaces the `onMetaData` new viewers get first, without sending it
    /// to the viewers already playing (FFmpeg turns a second one into a data
    /// stream): for metadata corrected from the stream itself.
    pub fn set_metadata(&self, payload: Bytes, dialect: Option<liu_flv::av::FlvDialect>) {
        let mut frame = Frame::new(FrameKind::Data, 0, payload);
        frame.metadata = true;
        frame.dialect = dialect;
        self.stream.lock().metadata = Some(Arc::new(frame));
    }

    /// Sends the frames pushed since the last flush: the stream's direct
    /// writer writes them to the viewers that are caught up ([`DirectSink`]),
    /// and the others' tasks are woken. Frames that arrived together leave
    /// together.
    pub fn flush(&self) {
        self.stream.direct_wake.notify_one();
        self.stream.notify.notify_waiters();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let left = {
            let mut state = self.stream.lock();
            let left = state.publisher == Some(self.id);
            if left {
                state.publisher = None;
                state.metadata = None;
                state.video_config = None;
                state.audio_config = None;
                state.ring.clear_keyframe();
                state.ring.push(Entry::Unpublished);
            }
            left
        };
        self.stream.return_direct();
        self.stream.notify.notify_waiters();
        self.hub.release(&self.stream.key);
        if left {
            self.hub.emit(StreamEvent::Unpublished {
                key: self.stream.key.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
