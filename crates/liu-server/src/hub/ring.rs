//! The shared backlog of a stream: one queue of entries that every viewer
//! reads at its own cursor.
//!
//! Viewers hold a sequence number, not a copy, so a viewer costs a cursor
//! and memory is bounded by the ring whatever the number or speed of
//! viewers. The ring keeps the GOP cache (everything from the latest
//! keyframe on) and the queue window (what a viewer may lag behind).

use std::collections::VecDeque;
use std::sync::Arc;

use super::Frame;

/// What a viewer reads from a stream, in order.
#[derive(Debug, Clone)]
pub enum Entry {
    Frame(Arc<Frame>),
    /// A publisher started publishing.
    Published,
    /// The publisher left.
    Unpublished,
}

struct Slot {
    entry: Entry,
    /// Cumulative bytes pushed before this entry.
    bytes_before: u64,
    /// Timeline position when it was pushed.
    timestamp: u64,
}

/// Retention limits of a ring.
#[derive(Debug, Clone, Copy)]
pub struct RingLimits {
    pub gop_cache: bool,
    pub gop_cache_max_bytes: u64,
    pub queue_max_bytes: u64,
    pub queue_max_ms: u64,
}

pub struct Ring {
    slots: VecDeque<Slot>,
    first_seq: u64,
    total_bytes: u64,
    last_timestamp: u64,
    last_keyframe: Option<u64>,
    limits: RingLimits,
}

impl Ring {
    pub fn new(limits: RingLimits) -> Self {
        Ring {
            slots: VecDeque::new(),
            first_seq: 0,
            total_bytes: 0,
            last_timestamp: 0,
            last_keyframe: None,
            limits,
        }
    }

    /// Sequence number the next entry will get.
    pub fn head(&self) -> u64 {
        self.first_seq + self.slots.len() as u64
    }

    #[cfg(test)]
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Timeline position of the newest entry.
    pub fn last_timestamp(&self) -> u64 {
        self.last_timestamp
    }

    /// Sequence number of the latest keyframe still held, if any.
    pub fn last_keyframe(&self) -> Option<u64> {
        self.last_keyframe.filter(|&k| k >= self.first_seq)
    }

    /// Forgets the GOP cache (the publisher left or changed).
    pub fn clear_keyframe(&mut self) {
        self.last_keyframe = None;
        self.trim();
    }

    pub fn get(&self, seq: u64) -> Option<&Entry> {
        let i = seq.checked_sub(self.first_seq)?;
        self.slots.get(usize::try_from(i).ok()?).map(|s| &s.entry)
    }

    pub fn push(&mut self, entry: Entry) {
        // Slots are placed on the timeline no earlier than their predecessor
        // (metadata is stamped 0, audio may trail video a little).
        let (size, timestamp, keyframe) = match &entry {
            Entry::Frame(f) => (
                f.size() as u64,
                f.timestamp.max(self.last_timestamp),
                f.keyframe,
            ),
            _ => (0, self.last_timestamp, false),
        };
        if keyframe {
            self.last_keyframe = Some(self.head());
        }
        self.last_timestamp = self.last_timestamp.max(timestamp);
        self.slots.push_back(Slot {
            entry,
            bytes_before: self.total_bytes,
            timestamp,
        });
        self.total_bytes += size;
        self.trim();
    }

    /// How far behind the head a cursor is, in bytes and in ms.
    pub fn lag(&self, seq: u64) -> (u64, u64) {
        match seq
            .checked_sub(self.first_seq)
            .and_then(|i| self.slots.get(i as usize))
        {
            Some(slot) => (
                self.total_bytes - slot.bytes_before,
                self.last_timestamp.saturating_sub(slot.timestamp),
            ),
            None if seq >= self.head() => (0, 0),
            None => (u64::MAX, u64::MAX),
        }
    }

    /// True when a cursor is further behind than the queue limits allow.
    pub fn is_lagging(&self, seq: u64) -> bool {
        let (bytes, ms) = self.lag(seq);
        bytes > self.limits.queue_max_bytes || ms > self.limits.queue_max_ms
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn held_bytes(&self) -> u64 {
        self.slots
            .front()
            .map_or(0, |s| self.total_bytes - s.bytes_before)
    }

    fn trim(&mut self) {
        let hard_cap = self.limits.queue_max_bytes.max(if self.limits.gop_cache {
            self.limits.gop_cache_max_bytes
        } else {
            0
        });
        while let Some(front) = self.slots.front() {
            let held = self.total_bytes - front.bytes_before;
            let in_queue = held <= self.limits.queue_max_bytes
                && self.last_timestamp.saturating_sub(front.timestamp) <= self.limits.queue_max_ms;
            let in_gop = self.limits.gop_cache
                && self.last_keyframe.is_some_and(|k| self.first_seq >= k)
                && held <= self.limits.gop_cache_max_bytes;
            if (in_queue || in_gop) && held <= hard_cap {
                break;
            }
            self.slots.pop_front();
            self.first_seq += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::FrameKind;
    use bytes::Bytes;

    fn frame(ts: u64, len: usize, keyframe: bool) -> Entry {
        let mut f = Frame::new(FrameKind::Video, ts, Bytes::from(vec![0u8; len]));
        f.keyframe = keyframe;
        Entry::Frame(Arc::new(f))
    }

    fn limits() -> RingLimits {
        RingLimits {
            gop_cache: true,
            gop_cache_max_bytes: 100_000,
            queue_max_bytes: 10_000,
            queue_max_ms: 1000,
        }
    }

    #[test]
    fn keeps_the_gop_from_the_latest_keyframe() {
        let mut ring = Ring::new(limits());
        for i in 0..100u64 {
            ring.push(frame(i * 40, 936, i % 50 == 0));
        }
        // Keyframe at seq 50 and everything after it are kept.
        assert_eq!(ring.last_keyframe(), Some(50));
        assert_eq!(ring.first_seq(), 50);
        assert!(matches!(ring.get(50), Some(Entry::Frame(f)) if f.keyframe));
    }

    #[test]
    fn is_bounded_when_no_keyframe_comes() {
        let mut ring = Ring::new(limits());
        ring.push(frame(0, 936, true));
        for i in 1..10_000u64 {
            ring.push(frame(i * 40, 936, false));
        }
        assert!(ring.held_bytes() <= 100_000, "held {}", ring.held_bytes());
        assert_eq!(ring.last_keyframe(), None);
    }

    #[test]
    fn lag_is_measured_from_the_head() {
        let mut ring = Ring::new(RingLimits {
            gop_cache: false,
            ..limits()
        });
        for i in 0..5u64 {
            ring.push(frame(i * 100, 936, false));
        }
        assert_eq!(ring.lag(ring.head()), (0, 0));
        assert_eq!(ring.lag(ring.head() - 1), (1000, 0));
        assert_eq!(ring.lag(ring.head() - 2), (2000, 100));
        assert!(!ring.is_lagging(ring.first_seq()));
        for i in 5..40u64 {
            ring.push(frame(i * 100, 936, false));
        }
        assert!(ring.is_lagging(0), "trimmed cursor is lagging");
    }
}
