//! One monotonic timeline per stream, whatever the publisher sends.
//!
//! Publishers' timestamps are 32-bit milliseconds that wrap after 49 days,
//! may jump (encoder restarts, clock resets) or step back, and restart near
//! zero when a publisher reconnects. Viewers must never see time go back, so
//! the hub maps every incoming timestamp onto a 64-bit timeline that only
//! moves forward per kind of frame, and keeps audio and video in sync.

use super::FrameKind;

/// A jump larger than this (forward or back) is treated as a discontinuity.
const MAX_JUMP_MS: i64 = 10_000;
/// Gap left on the timeline where a discontinuity or republish happens.
const GAP_MS: i64 = 40;

#[derive(Debug, Default)]
pub struct Timeline {
    /// Last input timestamp and its unwrapped value, in the current publish.
    last_in: Option<(u32, i64)>,
    /// Output = unwrapped input + offset.
    offset: i64,
    /// Highest output so far, and per kind.
    last_out: Option<i64>,
    last_out_kind: [Option<i64>; 3],
}

impl Timeline {
    /// Starts a new publish: its first timestamp continues the timeline.
    pub fn restart(&mut self) {
        self.last_in = None;
    }

    /// Maps an input timestamp to the stream's timeline.
    pub fn map(&mut self, kind: FrameKind, ts: u32) -> u64 {
        let unwrapped = match self.last_in {
            None => {
                let start = self.last_out.map_or(0, |t| t + GAP_MS);
                self.offset = start - i64::from(ts);
                i64::from(ts)
            }
            Some((prev, prev_unwrapped)) => {
                let delta = i64::from(ts.wrapping_sub(prev) as i32);
                let unwrapped = prev_unwrapped + delta;
                if !(-MAX_JUMP_MS..=MAX_JUMP_MS).contains(&delta) {
                    // Discontinuity: continue right after what was sent.
                    let start = self.last_out.map_or(0, |t| t + GAP_MS);
                    self.offset = start - unwrapped;
                }
                unwrapped
            }
        };
        self.last_in = Some((ts, unwrapped));
        let slot = &mut self.last_out_kind[kind as usize];
        let out = (unwrapped + self.offset).max(slot.unwrap_or(0)).max(0);
        *slot = Some(out);
        self.last_out = Some(self.last_out.map_or(out, |t| t.max(out)));
        out as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FrameKind::{Audio, Video};

    #[test]
    fn passes_normal_timestamps_through() {
        let mut t = Timeline::default();
        assert_eq!(t.map(Video, 0), 0);
        assert_eq!(t.map(Audio, 23), 23);
        assert_eq!(t.map(Video, 40), 40);
        assert_eq!(t.map(Audio, 20), 23, "audio never goes back");
        assert_eq!(t.map(Video, 80), 80);
    }

    #[test]
    fn starts_at_zero_whatever_the_first_timestamp() {
        let mut t = Timeline::default();
        assert_eq!(t.map(Video, 5_000_000), 0);
        assert_eq!(t.map(Video, 5_000_040), 40);
    }

    #[test]
    fn crosses_the_32_bit_wrap() {
        let mut t = Timeline::default();
        assert_eq!(t.map(Video, u32::MAX - 20), 0);
        assert_eq!(t.map(Video, 19), 40);
    }

    #[test]
    fn jumps_become_small_gaps() {
        let mut t = Timeline::default();
        t.map(Video, 1000);
        assert_eq!(t.map(Video, 1040), 40);
        assert_eq!(t.map(Video, 900_000), 80);
        assert_eq!(t.map(Video, 900_040), 120);
        assert_eq!(t.map(Video, 10), 160, "backward jump");
    }

    #[test]
    fn republish_continues_the_timeline() {
        let mut t = Timeline::default();
        t.map(Video, 0);
        t.map(Video, 5000);
        t.restart();
        assert_eq!(t.map(Audio, 0), 5040);
        assert_eq!(t.map(Video, 0), 5040);
        assert_eq!(t.map(Video, 40), 5080);
    }
}
