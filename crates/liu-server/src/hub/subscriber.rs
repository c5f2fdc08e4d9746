//! A viewer's read position in a stream.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::direct::{DirectEntry, DirectSink, DirectTicket, Returned};
use super::{Entry, Frame, FrameKind, Hub, HubConfig, Stream, StreamHeaders, ViewerInfo};

/// What a viewer gets, in order.
#[derive(Debug, Clone)]
pub enum Delivery {
    Frame(Arc<Frame>),
    /// The stream is published (again): codec configuration follows.
    Published,
    /// The publisher left; frames stop until the next [`Delivery::Published`].
    Unpublished,
    /// The viewer fell behind and was moved forward to a keyframe; the
    /// stream's codec configuration follows.
    Skipped,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubscriberError {
    #[error("viewer stayed behind: skipped forward {skips} times in {window_s} s")]
    TooSlow { skips: u32, window_s: u64 },
}

/// A viewer of one stream. Dropping it unsubscribes.
pub struct Subscriber {
    hub: Hub,
    stream: Arc<Stream>,
    /// Next ring sequence number to read.
    cursor: u64,
    /// Send metadata and sequence headers before the next frame.
    need_headers: bool,
    /// Drop frames until a keyframe (after joining without a GOP cache).
    wait_keyframe: bool,
    waiting_publish: bool,
    skips: u32,
    window_start: Instant,
    max_skips: u32,
    window: Duration,
    /// This viewer's id and description, for stream events.
    id: u64,
    viewer: Arc<ViewerInfo>,
}

impl Subscriber {
    pub(super) fn new(
        hub: Hub,
        stream: Arc<Stream>,
        start: Option<u64>,
        config: &HubConfig,
        id: u64,
        viewer: Arc<ViewerInfo>,
    ) -> Self {
        let mut subscriber = Subscriber {
            hub,
            stream,
            cursor: 0,
            need_headers: false,
            wait_keyframe: false,
            waiting_publish: false,
            skips: 0,
            window_start: Instant::now(),
            max_skips: config.max_skips,
            window: Duration::from_millis(config.slow_viewer_window_ms),
            id,
            viewer,
        };
        subscriber.start_at(start);
        subscriber
    }

    fn start_at(&mut self, start: Option<u64>) {
        let state = self.stream.lock();
        let (cursor, waiting_publish) = match start {
            Some(seq) => (seq, false),
            None => (state.ring.head(), true),
        };
        self.wait_keyframe = !waiting_publish
            && state.has_video
            && !matches!(state.ring.get(cursor), Some(Entry::Frame(f)) if f.keyframe);
        self.cursor = cursor;
        self.need_headers = !waiting_publish;
        self.waiting_publish = waiting_publish;
    }

    /// Starts again where a new viewer would (the latest keyframe), as the
    /// same viewer: after a pause.
    pub fn rejoin(&mut self) {
        let start = self.hub.start_of(&self.stream.lock());
        self.start_at(start);
    }

    /// This viewer's id in stream events.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// True while the stream has a live publisher.
    pub fn is_published(&self) -> bool {
        self.stream.is_published()
    }

    /// The stream's current codec configuration.
    pub fn headers(&self) -> StreamHeaders {
        self.stream.headers()
    }

    /// Waits until the stream is published, up to `timeout`.
    pub async fn wait_published(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.stream.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.stream.is_published() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.stream.is_published();
            }
        }
    }

    /// Appends what is ready (at most `max` entries) to `out`, waiting when
    /// nothing is. A viewer behind the queue limits is moved forward to the
    /// latest keyframe; one that keeps falling behind gets `TooSlow`.
    pub async fn next_batch(
        &mut self,
        out: &mut Vec<Delivery>,
        max: usize,
    ) -> Result<(), SubscriberError> {
        let stream = self.stream.clone();
        loop {
            let notified = stream.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.read_ready(out, max)?;
            if !out.is_empty() {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Non-blocking [`Subscriber::next_batch`].
    pub fn read_ready(
        &mut self,
        out: &mut Vec<Delivery>,
        max: usize,
    ) -> Result<(), SubscriberError> {
        let state = self.stream.lock();
        let ring = &state.ring;
        // A cursor inside the current GOP is never behind: the GOP cache
        // keeps it, and there is no later keyframe to move to.
        let in_current_gop = ring.last_keyframe().is_some_and(|k| self.cursor >= k);
        if !in_current_gop && ring.is_lagging(self.cursor) {
            let now = Instant::now();
            if now.duration_since(self.window_start) > self.window {
                self.window_start = now;
                self.skips = 0;
            }
            self.skips += 1;
            if self.skips > self.max_skips {
                return Err(SubscriberError::TooSlow {
                    skips: self.skips,
                    window_s: self.window.as_secs(),
                });
            }
            match ring.last_keyframe().filter(|&k| k > self.cursor) {
                Some(k) => {
                    self.cursor = k;
                    self.wait_keyframe = false;
                }
                None => {
                    self.cursor = ring.head();
                    self.wait_keyframe = true;
                }
            }
            self.need_headers = state.publisher.is_some();
            out.push(Delivery::Skipped);
        }
        if self.need_headers {
            self.need_headers = false;
            let headers = state.headers();
            // Sequence headers go out stamped at the viewer's starting point,
            // so its timeline never steps back to when they were first sent
            // (onMetaData is always at 0).
            let start = match ring.get(self.cursor) {
                Some(Entry::Frame(f)) => f.timestamp,
                _ => ring.last_timestamp(),
            };
            out.extend(
                [headers.metadata, headers.video_config, headers.audio_config]
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        Delivery::Frame(if f.config && f.timestamp < start {
                            Arc::new(f.restamped(start))
                        } else {
                            f
                        })
                    }),
            );
        }
        let head = ring.head();
        while self.cursor < head && out.len() < max {
            let Some(entry) = ring.get(self.cursor) else {
                break;
            };
            self.cursor += 1;
            match entry {
                Entry::Frame(frame) => {
                    if self.wait_keyframe && frame.kind != FrameKind::Data && !frame.config {
                        if frame.keyframe {
                            self.wait_keyframe = false;
                        } else {
                            continue;
                        }
                    }
                    out.push(Delivery::Frame(frame.clone()));
                }
                Entry::Published => {
                    self.waiting_publish = false;
                    self.wait_keyframe = false;
                    out.push(Delivery::Published);
                }
                Entry::Unpublished => out.push(Delivery::Unpublished),
            }
        }
        Ok(())
    }
}

impl Subscriber {
    /// Hands `sink` to the stream if this viewer has read everything there
    /// is (no headers, keyframe or publish change pending): the publisher
    /// then writes new frames to it directly until it hands it back
    /// ([`DirectTicket`]). Otherwise the sink comes back as `Err`.
    pub fn go_direct<T: DirectSink>(&mut self, sink: Box<T>) -> Result<DirectTicket, Box<T>> {
        let mut state = self.stream.lock();
        let caught_up = state.publisher.is_some()
            && !self.need_headers
            && !self.wait_keyframe
            && !self.waiting_publish
            && self.cursor == state.ring.head();
        if !caught_up {
            return Err(sink);
        }
        if !state.direct_ticker {
            if !self.stream.start_ticker() {
                return Err(sink);
            }
            state.direct_ticker = true;
        }
        let (back, rx) = oneshot::channel();
        let recall = Arc::new(AtomicBool::new(false));
        state.next_direct_id += 1;
        let id = state.next_direct_id;
        state.direct.push(DirectEntry {
            id,
            sink,
            cursor: self.cursor,
            back,
            recall: recall.clone(),
        });
        Ok(DirectTicket {
            stream: self.stream.clone(),
            id,
            rx,
            recall,
        })
    }

    /// Continues reading where a sink handed back stopped; returns the sink
    /// as the type it was handed over as.
    pub fn resume<T: DirectSink + 'static>(&mut self, returned: Returned) -> Option<Box<T>> {
        self.cursor = returned.cursor;
        returned.into_sink()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.hub
            .unsubscribe(&self.stream, self.id, self.viewer.clone());
    }
}
