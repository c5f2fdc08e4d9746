//! What one viewer measures from the messages it skims: time to first
//! frame, media time delivered, stalls and latency stamps.

use std::rc::Rc;
use std::time::{Duration, Instant};

use liu_flv::av::{VideoCodec, VideoPacket, parse_video_tag_header};

use super::Shared;
use crate::skim::Message;
use crate::stamp::find_stamp;

/// A gap without media bytes longer than this, after the first frame, is a stall.
pub const STALL: Duration = Duration::from_secs(1);

/// Where a viewer is in its life, for failure reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Handshake,
    /// RTMP connect/createStream/play, or the HTTP request.
    Setup,
    Playing,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Connecting => "TCP connect",
            Phase::Handshake => "handshake",
            Phase::Setup => "setup",
            Phase::Playing => "playing",
        }
    }
}

/// Per-viewer measurements.
#[derive(Debug)]
pub struct Tracker {
    pub shared: Rc<Shared>,
    /// When the TCP connect started.
    pub start: Instant,
    pub phase: Phase,
    pub bytes: u64,
    pub first_media_byte: Option<Instant>,
    pub first_keyframe: Option<Instant>,
    first_media_message: Option<Instant>,
    first_ts: Option<u32>,
    last_ts: u32,
    last_media_at: Option<Instant>,
    media_bytes_seen: u64,
    pub stalls: u32,
    pub longest_gap: Duration,
    /// Coded frames whose timestamp went back from the previous one of their track.
    pub backwards: u64,
    /// The last coded frame's timestamp per track: audio, video.
    track_ts: [Option<u32>; 2],
    pub video_frames: u64,
    /// Stamped frames whose latency was recorded.
    pub stamped_frames: u64,
    /// Stamped frames sent before this viewer connected (not in the latency).
    pub cached_frames: u64,
    nal_length_size: u8,
    /// The first audio frame, not a video keyframe, starts playback.
    audio_only: bool,
    /// HTTP requests made (HLS).
    pub requests: u64,
    /// HLS: media arrives in whole segments or parts; see [`Tracker::media_chunk`].
    chunks: Option<ChunkPlayback>,
}

/// A player fed whole segments or parts: playback starts with the first,
/// and stops while the buffer is empty.
#[derive(Debug, Clone, Copy)]
struct ChunkPlayback {
    media_ms: u64,
    /// Time spent with an empty buffer.
    waited: Duration,
}

impl Tracker {
    pub fn new(shared: Rc<Shared>, start: Instant, audio_only: bool) -> Self {
        Tracker {
            shared,
            start,
            phase: Phase::Connecting,
            bytes: 0,
            first_media_byte: None,
            first_keyframe: None,
            first_media_message: None,
            first_ts: None,
            last_ts: 0,
            last_media_at: None,
            media_bytes_seen: 0,
            stalls: 0,
            longest_gap: Duration::ZERO,
            backwards: 0,
            track_ts: [None; 2],
            video_frames: 0,
            stamped_frames: 0,
            cached_frames: 0,
            nal_length_size: 4,
            audio_only,
            requests: 0,
            chunks: None,
        }
    }

    /// Accounts a socket read of `n` bytes at `now`; `media_bytes` is the
    /// skimmer's running count of audio/video payload bytes.
    pub fn after_read(&mut self, n: usize, media_bytes: u64, now: Instant) {
        self.bytes += n as u64;
        self.shared.bytes.set(self.shared.bytes.get() + n as u64);
        if media_bytes > self.media_bytes_seen {
            self.media_bytes_seen = media_bytes;
            self.first_media_byte.get_or_insert(now);
            self.media_arrived(now);
        }
    }

    fn media_arrived(&mut self, now: Instant) {
        if let Some(last) = self.last_media_at
            && self.first_keyframe.is_some_and(|k| k < now)
        {
            self.note_gap(now - last);
        }
        self.last_media_at = Some(now);
    }

    fn note_gap(&mut self, gap: Duration) {
        self.longest_gap = self.longest_gap.max(gap);
        if gap > STALL {
            self.stalls += 1;
            self.shared.stalls.set(self.shared.stalls.get() + 1);
        }
    }

    /// Ends the measurement at `end`: an ongoing gap counts too.
    pub fn finish(&mut self, end: Instant) {
        if let (Some(start), Some(c)) = (self.first_keyframe, self.chunks) {
            let buffered_until = start + Duration::from_millis(c.media_ms) + c.waited;
            if end > buffered_until {
                self.note_gap(end - buffered_until);
            }
        } else if let Some(last) = self.last_media_at
            && self.first_keyframe.is_some()
        {
            self.note_gap(end.saturating_duration_since(last));
        }
    }

    /// HLS: a whole segment or part of `duration_ms` (starting with a
    /// keyframe if it is the first) arrived at `now`. Playback starts with the
    /// first; when one arrives after the buffer ran out, the wait is a gap
    /// (a stall if over [`STALL`]) and playback resumes from there.
    pub fn media_chunk(&mut self, duration_ms: u64, now: Instant) {
        match (self.first_keyframe, self.chunks) {
            (Some(start), Some(mut c)) => {
                let buffered_until = start + Duration::from_millis(c.media_ms) + c.waited;
                if now > buffered_until {
                    let wait = now - buffered_until;
                    c.waited += wait;
                    self.note_gap(wait);
                }
                c.media_ms += duration_ms;
                self.chunks = Some(c);
            }
            _ => {
                self.first_frame(now);
                self.chunks = Some(ChunkPlayback {
                    media_ms: duration_ms,
                    waited: Duration::ZERO,
                });
                self.first_ts = Some(0);
                self.first_media_message = Some(now);
            }
        }
        self.last_ts = self.chunks.map_or(0, |c| c.media_ms as u32);
        self.last_media_at = Some(now);
    }

    /// A latency stamp (sender's Unix time in ms) in media that arrived at `now`.
    pub fn stamp(&mut self, sent_ms: u64, now: Instant) {
        // Frames published before this viewer connected (a GOP cache)
        // say nothing about delivery latency.
        let (sent, clock) = (sent_ms.saturating_mul(1000), &self.shared.clock);
        if sent >= clock.unix_us(self.start) {
            self.stamped_frames += 1;
            self.shared
                .latency
                .borrow_mut()
                .record(clock.unix_us(now).saturating_sub(sent));
        } else {
            self.cached_frames += 1;
        }
    }

    /// Media time delivered (ms) and the wall time it was delivered in.
    pub fn media_span(&self, end: Instant) -> Option<(u64, Duration)> {
        let first = self.first_ts?;
        let since = self.first_media_message?;
        Some((
            u64::from(self.last_ts.wrapping_sub(first)),
            end.saturating_duration_since(since),
        ))
    }

    /// Handles a complete message (RTMP) or tag (FLV) received at `now`.
    /// Media time counts coded frames only: servers stamp sequence headers
    /// in different ways.
    pub fn on_message(&mut self, m: &Message<'_>, now: Instant) {
        match m.type_id {
            8 => {
                let aac_config =
                    m.data.first().is_some_and(|b| b >> 4 == 10) && m.data.get(1) == Some(&0);
                if !aac_config {
                    self.track_time(0, m.timestamp);
                    self.media_time(m.timestamp, now);
                    if self.audio_only && self.first_keyframe.is_none() {
                        self.first_frame(now);
                    }
                }
            }
            22 => self.media_time(m.timestamp, now),
            9 => self.video(m, now),
            _ => {}
        }
    }

    /// Playback starts: a video keyframe, or audio in an audio-only stream.
    fn first_frame(&mut self, now: Instant) {
        self.first_keyframe = Some(now);
        self.shared.playing.set(self.shared.playing.get() + 1);
    }

    /// Counts a coded frame of `track` whose timestamp is before its predecessor's
    /// (RTMP timestamps are 32-bit and wrap: compared as a signed difference).
    fn track_time(&mut self, track: usize, ts: u32) {
        if let Some(last) = self.track_ts[track]
            && (ts.wrapping_sub(last) as i32) < 0
        {
            self.backwards += 1;
            self.shared.backwards.set(self.shared.backwards.get() + 1);
        }
        self.track_ts[track] = Some(ts);
    }

    fn media_time(&mut self, ts: u32, now: Instant) {
        match self.first_ts {
            None => {
                self.first_ts = Some(ts);
                self.last_ts = ts;
                self.first_media_message = Some(now);
            }
            Some(_) if (ts.wrapping_sub(self.last_ts) as i32) > 0 => self.last_ts = ts,
            Some(_) => {}
        }
    }

    fn video(&mut self, m: &Message<'_>, now: Instant) {
        let prefix = m.data;
        let Ok(h) = parse_video_tag_header(prefix) else {
            return;
        };
        if !h.is_sequence_header() {
            self.track_time(1, m.timestamp);
            self.media_time(m.timestamp, now);
        }
        match h.packet {
            VideoPacket::SequenceHeader if h.codec == VideoCodec::Avc => {
                // AVCDecoderConfigurationRecord: lengthSizeMinusOne in byte 4.
                if let Some(b) = prefix.get(h.header_len + 4) {
                    self.nal_length_size = (b & 3) + 1;
                }
            }
            VideoPacket::CodedFrames => {
                self.video_frames += 1;
                if h.is_keyframe() && self.first_keyframe.is_none() {
                    self.first_frame(now);
                }
                if h.codec == VideoCodec::Avc
                    && let Some(stamp_ms) = prefix
                        .get(h.header_len..)
                        .and_then(|n| find_stamp(n, self.nal_length_size))
                {
                    self.stamp(stamp_ms, now);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skim::PREFIX_LEN;
    use crate::stamp::{insert_stamp, set_time};
    use crate::sys::unix_ms;

    fn msg(type_id: u8, timestamp: u32, data: &[u8]) -> Message<'_> {
        let data = &data[..data.len().min(PREFIX_LEN)];
        Message {
            type_id,
            timestamp,
            stream_id: 1,
            len: data.len() as u32,
            data,
        }
    }

    #[test]
    fn measures_first_frame_latency_media_time_and_stalls() {
        let shared = Rc::new(Shared::default());
        let start = Instant::now();
        let mut t = Tracker::new(shared.clone(), start, false);
        let seq = [0x17, 0, 0, 0, 0, 1, 100, 0, 31, 0xfd, 0xe1];
        let frame = |key: bool, sent_ms: u64| {
            let body = [
                if key { 0x17 } else { 0x27 },
                1,
                0,
                0,
                0,
                0,
                0,
                0,
                3,
                0x65,
                0x88,
                0x84,
            ];
            let (mut body, at) = insert_stamp(&body, 5, 2).unwrap();
            set_time(&mut body, at, sent_ms);
            body
        };
        let now = unix_ms();
        // Sequence headers carry odd timestamps on some servers: not media time.
        t.on_message(&msg(9, 0, &seq), start);
        t.on_message(&msg(8, 0, &[0xaf, 0, 0x12, 0x10]), start);
        let old = frame(true, now - 5000); // from a GOP cache: sent before we connected
        t.on_message(&msg(9, 1000, &old), start);
        t.after_read(100, 50, start);
        let at = start + Duration::from_millis(40);
        t.on_message(&msg(9, 1040, &frame(false, now + 1)), at);
        t.after_read(100, 60, at);
        // Two seconds without media: one stall.
        let late = start + Duration::from_millis(2100);
        t.on_message(&msg(8, 3100, &[0xaf, 1, 0x21]), late);
        t.after_read(10, 63, late);
        t.finish(late + Duration::from_millis(10));
        assert_eq!(t.first_keyframe, Some(start));
        assert_eq!(
            (t.video_frames, t.stamped_frames, t.cached_frames),
            (2, 1, 1)
        );
        assert_eq!(t.stalls, 1);
        assert_eq!(t.bytes, 210);
        assert_eq!(shared.latency.borrow().count(), 1);
        assert!(shared.latency.borrow().max().unwrap() < 1_000_000);
        let (media_ms, wall) = t.media_span(late).unwrap();
        assert_eq!((media_ms, wall), (2100, Duration::from_millis(2100)));
        assert_eq!((t.backwards, shared.stalls.get()), (0, 1));
    }

    #[test]
    fn counts_timestamps_that_go_back_per_track() {
        let shared = Rc::new(Shared::default());
        let start = Instant::now();
        let mut t = Tracker::new(shared.clone(), start, false);
        let key = [0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65];
        let audio = [0xaf, 1, 0x21];
        // Tracks interleave out of order with each other: not a step back.
        t.on_message(&msg(9, 1000, &key), start);
        t.on_message(&msg(8, 990, &audio), start);
        t.on_message(&msg(9, 1040, &key), start);
        t.on_message(&msg(8, 1013, &audio), start);
        assert_eq!(t.backwards, 0);
        // A video frame before the previous one, and an audio one.
        t.on_message(&msg(9, 1000, &key), start);
        t.on_message(&msg(8, 1000, &audio), start);
        assert_eq!((t.backwards, shared.backwards.get()), (2, 2));
        // Across the 32-bit wrap is forward.
        let mut t = Tracker::new(shared.clone(), start, false);
        t.on_message(&msg(9, u32::MAX - 10, &key), start);
        t.on_message(&msg(9, 5, &key), start);
        assert_eq!(t.backwards, 0);
    }
}
