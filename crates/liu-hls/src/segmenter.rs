//! Cutting a live stream into MPEG-TS segments (RFC 8216 section 3, 6.2.1):
//! FLV tag bodies in, a sliding window of segments and its playlist out.
//!
//! A segment starts on a video keyframe (on any audio frame in an
//! audio-only stream) once the current one has reached the target
//! duration, so a long GOP gives a longer segment, never a broken one. The
//! window keeps `window` segments listed and `keep_extra` more fetchable,
//! for a player that read an older playlist.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use liu_codec::aac::AudioSpecificConfig;

use crate::error::HlsError;
use crate::playlist::{MediaPlaylist, SegmentEntry};
use crate::ts::TsMuxer;
use liu_codec::sample::{AudioCodecConfig, VideoCodecConfig};
use liu_flv::samples::{AudioInput, VideoInput, audio_input, video_input};

/// How segments are cut and kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmenterConfig {
    /// A segment is cut at the first keyframe at or after this duration.
    pub target_duration: Duration,
    /// Segments listed in the playlist.
    pub window: usize,
    /// Segments kept (fetchable) beyond the listed ones.
    pub keep_extra: usize,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            target_duration: Duration::from_secs(2),
            window: 6,
            keep_extra: 3,
        }
    }
}

/// A finished segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub entry: SegmentEntry,
    pub data: Bytes,
}

/// The segment being written.
struct Open {
    sequence: u64,
    start_ms: u64,
    last_ms: u64,
    data: BytesMut,
    discontinuity: bool,
    program_date_time_ms: u64,
}

/// One stream's TS segmenter.
pub struct TsSegmenter {
    config: SegmenterConfig,
    video_config: Option<VideoCodecConfig>,
    /// The video is in a codec TS cannot carry (AV1): its frames are dropped.
    video_left_out: bool,
    audio_config: Option<AudioSpecificConfig>,
    /// The audio is in a codec TS segments do not carry (Opus).
    audio_left_out: bool,
    muxer: Option<TsMuxer>,
    /// The muxer before the last discontinuity: the next one continues its
    /// continuity counters.
    previous_muxer: Option<TsMuxer>,
    open: Option<Open>,
    segments: VecDeque<Segment>,
    next_sequence: u64,
    /// Discontinuities before the first listed segment.
    discontinuity_sequence: u64,
    /// The next segment follows a discontinuity.
    discontinuity: bool,
    ended: bool,
    /// Prepended to each segment's file name in the playlist.
    uri_prefix: String,
}

impl TsSegmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        TsSegmenter {
            config,
            video_config: None,
            video_left_out: false,
            audio_config: None,
            audio_left_out: false,
            muxer: None,
            previous_muxer: None,
            open: None,
            segments: VecDeque::new(),
            next_sequence: 0,
            discontinuity_sequence: 0,
            discontinuity: false,
            ended: false,
            uri_prefix: String::new(),
        }
    }

    /// Segment URIs become `{prefix}{sequence}.ts` (relative to the playlist).
    pub fn with_uri_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.uri_prefix = prefix.into();
        self
    }

    /// True once [`TsSegmenter::end`] was called.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The sequence number of the newest finished segment.
    pub fn last_sequence(&self) -> Option<u64> {
        self.segments.back().map(|s| s.entry.sequence)
    }

    /// A video tag body at decode time `dts_ms`; `now_ms` is the wall clock
    /// (Unix ms) for `EXT-X-PROGRAM-DATE-TIME`. Codecs other than H.264 are
    /// left out of the segments.
    pub fn push_video(&mut self, dts_ms: u64, body: &Bytes, now_ms: u64) -> Result<(), HlsError> {
        match video_input(dts_ms, body)? {
            Some(input) => self.push_video_input(&input, now_ms),
            None => Ok(()),
        }
    }

    /// [`TsSegmenter::push_video`] for a tag body already parsed.
    pub fn push_video_input(&mut self, input: &VideoInput, now_ms: u64) -> Result<(), HlsError> {
        match input {
            // MPEG-TS has no AV1: such video is left out of TS segments.
            VideoInput::Config(VideoCodecConfig::Av1(_)) => {
                if self.video_config.take().is_some() {
                    // The muxer's video stream is gone: segments go on without it.
                    self.new_muxer();
                }
                self.video_left_out = true;
                Ok(())
            }
            VideoInput::Config(record) => {
                if let Some(m) = self.muxer.as_mut() {
                    m.set_video_config(record.clone())?;
                }
                self.video_config = Some(record.clone());
                self.video_left_out = false;
                Ok(())
            }
            VideoInput::Frame(_) if self.video_left_out => Ok(()),
            VideoInput::Frame(sample) => {
                if self.muxer.is_none() && !(sample.keyframe && self.start_muxer()?) {
                    return Ok(()); // wait for a keyframe with its configuration
                }
                self.cut_if_due(sample.dts, sample.keyframe, now_ms);
                self.write(sample.dts, |m, out| m.write_video(sample, out))
            }
        }
    }

    /// An audio tag body at time `pts_ms` (AAC only, as TS segments carry).
    pub fn push_audio(&mut self, pts_ms: u64, body: &Bytes, now_ms: u64) -> Result<(), HlsError> {
        match audio_input(pts_ms, body)? {
            Some(input) => self.push_audio_input(&input, now_ms),
            None => Ok(()),
        }
    }

    /// [`TsSegmenter::push_audio`] for a tag body already parsed.
    pub fn push_audio_input(&mut self, input: &AudioInput, now_ms: u64) -> Result<(), HlsError> {
        let sample = match input {
            AudioInput::Config(AudioCodecConfig::Aac(config)) => {
                self.audio_config = Some(*config);
                self.audio_left_out = false;
                return Ok(());
            }
            // HLS has no Opus in MPEG-TS: such audio is left out of TS segments.
            AudioInput::Config(AudioCodecConfig::Opus(_)) => {
                if self.audio_config.take().is_some() {
                    self.new_muxer();
                }
                self.audio_left_out = true;
                return Ok(());
            }
            AudioInput::Frame(_) if self.audio_left_out => return Ok(()),
            AudioInput::Frame(sample) => sample,
        };
        if self.muxer.is_none() {
            // An audio-only stream starts anywhere; with video, at a keyframe.
            if self.video_config.is_some() || !self.start_muxer()? {
                return Ok(());
            }
        }
        if !self.muxer.as_ref().is_some_and(TsMuxer::has_video) {
            self.cut_if_due(sample.pts, true, now_ms);
        }
        self.write(sample.pts, |m, out| m.write_audio(sample, out))
    }

    /// The publisher left or came back: the current segment ends, the next
    /// one starts with `EXT-X-DISCONTINUITY` and fresh codec configuration.
    pub fn discontinuity(&mut self) {
        self.new_muxer();
        self.video_config = None;
        self.audio_config = None;
        self.video_left_out = false;
        self.audio_left_out = false;
    }

    /// Ends the current segment; the next starts a new muxer after an
    /// `EXT-X-DISCONTINUITY`, its continuity counters running on.
    fn new_muxer(&mut self) {
        self.close();
        if let Some(m) = self.muxer.take() {
            self.previous_muxer = Some(m);
        }
        self.discontinuity = !self.segments.is_empty();
    }

    /// The stream is over: the last segment closes and the playlist ends.
    pub fn end(&mut self) {
        self.close();
        self.ended = true;
    }

    /// The media playlist of the window (RFC 8216 section 4.3).
    pub fn playlist(&self) -> String {
        let listed = self.segments.len().saturating_sub(self.config.window);
        let entries: Vec<SegmentEntry> = self
            .segments
            .iter()
            .skip(listed)
            .map(|s| s.entry.clone())
            .collect();
        MediaPlaylist {
            segments: &entries,
            discontinuity_sequence: self.discontinuity_sequence
                + self
                    .segments
                    .iter()
                    .take(listed)
                    .filter(|s| s.entry.discontinuity)
                    .count() as u64,
            maps: &[],
            ended: self.ended,
        }
        .render()
    }

    /// A kept segment by sequence number.
    pub fn segment(&self, sequence: u64) -> Option<&Segment> {
        let first = self.segments.front()?.entry.sequence;
        self.segments.get(sequence.checked_sub(first)? as usize)
    }

    /// Finished segments, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    fn start_muxer(&mut self) -> Result<bool, HlsError> {
        let video = self.video_config.clone();
        if video.is_none() && self.audio_config.is_none() {
            return Ok(false);
        }
        let mut muxer = TsMuxer::new(video, self.audio_config)?;
        if let Some(previous) = self.previous_muxer.take() {
            muxer.continue_from(&previous);
        }
        self.muxer = Some(muxer);
        Ok(true)
    }

    /// Closes the open segment at a keyframe once it is long enough.
    fn cut_if_due(&mut self, at_ms: u64, keyframe: bool, now_ms: u64) {
        let due = match &self.open {
            None => true,
            Some(o) => {
                keyframe
                    && at_ms.saturating_sub(o.start_ms)
                        >= self.config.target_duration.as_millis() as u64
            }
        };
        if !due {
            return;
        }
        self.close_at(Some(at_ms));
        let mut data = BytesMut::with_capacity(64 * 1024);
        if let Some(m) = self.muxer.as_mut() {
            m.start_segment(&mut data);
        }
        self.open = Some(Open {
            sequence: self.next_sequence,
            start_ms: at_ms,
            last_ms: at_ms,
            data,
            discontinuity: std::mem::take(&mut self.discontinuity),
            program_date_time_ms: now_ms,
        });
        self.next_sequence += 1;
    }

    fn write(
        &mut self,
        at_ms: u64,
        f: impl FnOnce(&mut TsMuxer, &mut BytesMut) -> Result<(), HlsError>,
    ) -> Result<(), HlsError> {
        let (Some(m), Some(open)) = (self.muxer.as_mut(), self.open.as_mut()) else {
            return Ok(());
        };
        open.last_ms = open.last_ms.max(at_ms);
        f(m, &mut open.data)
    }

    fn close(&mut self) {
        self.close_at(None);
    }

    /// Ends the open segment: at `next_ms` (the next segment's start), or
    /// at its last sample plus an estimated frame interval.
    fn close_at(&mut self, next_ms: Option<u64>) {
        let Some(mut open) = self.open.take() else {
            return;
        };
        if let Some(m) = self.muxer.as_mut() {
            m.flush_audio(&mut open.data);
        }
        let end_ms = next_ms.unwrap_or(open.last_ms + 40);
        self.segments.push_back(Segment {
            entry: SegmentEntry {
                sequence: open.sequence,
                uri: format!("{}{}.ts", self.uri_prefix, open.sequence),
                duration: end_ms.saturating_sub(open.start_ms) as f64 / 1000.0,
                discontinuity: open.discontinuity,
                program_date_time_ms: Some(open.program_date_time_ms),
            },
            data: open.data.freeze(),
        });
        while self.segments.len() > self.config.window + self.config.keep_extra {
            if let Some(gone) = self.segments.pop_front()
                && gone.entry.discontinuity
            {
                self.discontinuity_sequence += 1;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn avcc() -> Bytes {
        let record = liu_codec::avc::AvcDecoderConfigurationRecord {
            profile_indication: 100,
            profile_compatibility: 0,
            level_indication: 10,
            nal_length_size: 4,
            // x264's for 64x48 High 1.0 (the fMP4 writer reads the size from it).
            sps: vec![Bytes::from_static(&[
                0x67, 0x64, 0x00, 0x0a, 0xac, 0xd9, 0x44, 0x7b, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
                0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x22, 0x59, 0x60,
            ])],
            pps: vec![Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0])],
        };
        let mut body = vec![0x17, 0x00, 0, 0, 0];
        body.extend_from_slice(&record.encode());
        Bytes::from(body)
    }

    pub(crate) fn frame(keyframe: bool) -> Bytes {
        let nal: &[u8] = if keyframe {
            &[0x65, 0x88, 0x84]
        } else {
            &[0x41, 0x9a, 0x02]
        };
        let mut body = vec![if keyframe { 0x17 } else { 0x27 }, 0x01, 0, 0, 0];
        body.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        body.extend_from_slice(nal);
        Bytes::from(body)
    }

    pub(crate) const ASC: &[u8] = &[0xaf, 0x00, 0x12, 0x10];
    pub(crate) const AAC: &[u8] = &[0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c];

    /// `seconds` of 25 fps video (a keyframe every `gop` frames) and AAC
    /// every 23 ms, from `from_ms`.
    fn feed(s: &mut TsSegmenter, from_ms: u64, seconds: u64, gop: u64) {
        s.push_video(from_ms, &avcc(), 0).unwrap();
        s.push_audio(from_ms, &Bytes::from_static(ASC), 0).unwrap();
        let mut audio_ms = from_ms;
        for i in 0..seconds * 25 {
            let t = from_ms + i * 40;
            while audio_ms <= t {
                s.push_audio(audio_ms, &Bytes::from_static(AAC), audio_ms)
                    .unwrap();
                audio_ms += 23;
            }
            s.push_video(t, &frame(i % gop == 0), t).unwrap();
        }
    }

    fn starts_with_pat(data: &[u8]) -> bool {
        data.len() >= 188 && data[0] == 0x47 && u16::from_be_bytes([data[1], data[2]]) & 0x1fff == 0
    }

    fn parse(text: &str) -> m3u8_rs::MediaPlaylist {
        match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(m)) => m,
            other => panic!("not a media playlist: {other:?}\n{text}"),
        }
    }

    #[test]
    fn cuts_on_keyframes_at_the_target() {
        let mut s = TsSegmenter::new(SegmenterConfig::default());
        feed(&mut s, 0, 10, 25);
        s.end();
        let durations: Vec<f64> = s.segments().map(|g| g.entry.duration).collect();
        assert_eq!(durations, [2.0, 2.0, 2.0, 2.0, 2.0]);
        assert!(
            s.segments()
                .all(|g| starts_with_pat(&g.data) && g.data.len() % 188 == 0)
        );
        let p = parse(&s.playlist());
        assert_eq!(
            (p.target_duration, p.media_sequence, p.end_list),
            (2, 0, true)
        );
        assert_eq!(p.segments.len(), 5);
        assert_eq!(p.segments[4].uri, "4.ts");
    }

    #[test]
    fn a_long_gop_makes_long_segments_and_the_window_slides() {
        let config = SegmenterConfig {
            target_duration: Duration::from_secs(2),
            window: 3,
            keep_extra: 1,
        };
        let mut s = TsSegmenter::new(config);
        feed(&mut s, 0, 30, 125); // a keyframe every 5 s
        s.end();
        let durations: Vec<f64> = s.segments().map(|g| g.entry.duration).collect();
        assert_eq!(durations, [5.0, 5.0, 5.0, 5.0], "kept: window + extra");
        let p = parse(&s.playlist());
        assert_eq!(p.target_duration, 5);
        assert_eq!(p.media_sequence, 3);
        assert_eq!(p.segments.len(), 3);
        assert!(s.segment(1).is_none() && s.segment(2).is_some() && s.segment(5).is_some());
        assert!(s.segment(6).is_none());
    }

    #[test]
    fn a_republish_is_a_discontinuity() {
        let mut s = TsSegmenter::new(SegmenterConfig::default());
        feed(&mut s, 0, 4, 25);
        s.discontinuity();
        feed(&mut s, 4000, 4, 25);
        s.end();
        let flags: Vec<bool> = s.segments().map(|g| g.entry.discontinuity).collect();
        assert_eq!(flags, [false, false, true, false]);
        let text = s.playlist();
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
        let p = parse(&text);
        assert!(p.segments[2].discontinuity);
    }

    #[test]
    fn continuity_counters_run_on_across_a_discontinuity() {
        let mut s = TsSegmenter::new(SegmenterConfig::default());
        feed(&mut s, 0, 4, 25);
        s.discontinuity();
        feed(&mut s, 4000, 4, 25);
        s.end();
        let mut last = std::collections::HashMap::new();
        let mut checked = 0;
        for g in s.segments() {
            for p in g.data.chunks(188) {
                let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1fff;
                if p[3] & 0x10 == 0 {
                    continue; // no payload: the counter does not advance
                }
                let cc = p[3] & 0x0f;
                if let Some(prev) = last.insert(pid, cc) {
                    assert_eq!(
                        cc,
                        (prev + 1) & 0x0f,
                        "PID {pid:#x}, segment {}",
                        g.entry.sequence
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn audio_only_streams_are_cut_on_any_frame() {
        let mut s = TsSegmenter::new(SegmenterConfig::default());
        s.push_audio(0, &Bytes::from_static(ASC), 0).unwrap();
        for i in 0..300u64 {
            s.push_audio(i * 23, &Bytes::from_static(AAC), 0).unwrap();
        }
        s.end();
        assert_eq!(s.segments().count(), 4);
        assert!(s.segments().all(|g| starts_with_pat(&g.data)));
        assert!(
            s.segments()
                .take(3)
                .all(|g| (g.entry.duration - 2.0).abs() < 0.03)
        );
    }

    #[test]
    fn frames_before_the_first_keyframe_and_garbage_are_skipped() {
        let mut s = TsSegmenter::new(SegmenterConfig::default());
        s.push_video(0, &avcc(), 0).unwrap();
        s.push_video(0, &frame(false), 0).unwrap();
        assert!(
            s.push_video(
                40,
                &Bytes::from_static(&[0x17, 0x01, 0, 0, 0, 0, 0, 0, 9]),
                0
            )
            .is_err()
        );
        assert!(s.push_video(40, &Bytes::new(), 0).is_err());
        s.push_video(80, &frame(true), 0).unwrap();
        s.end();
        assert_eq!(s.segments().count(), 1);
    }
}
