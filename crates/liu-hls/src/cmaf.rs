//! Cutting a live stream into fMP4 (CMAF) segments and Low-Latency HLS
//! partial segments (draft-pantos-hls-rfc8216bis section 3.1.2, 4.4.4.9):
//! FLV tag bodies in, init sections, parts, segments and their playlist out.
//!
//! A part is one movie fragment (`moof` + `mdat`) of at most the part
//! target; a segment is its parts back to back, cut on a video keyframe
//! (any audio frame in an audio-only stream) once the target duration is
//! reached. A video frame's duration is known when the next one arrives, so
//! each frame is held until then: a part ends at the first frame that
//! would take it past the part target.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::error::HlsError;
use crate::fmp4::{
    AUDIO_TRACK_ID, Fmp4Sample, TrackFragment, VIDEO_TRACK_ID, cts_ms_to_video_ticks,
    ms_to_audio_ticks, ms_to_video_ticks, write_fragment, write_init,
};
use crate::playlist::{LowLatency, MediaPlaylist, PartEntry, SegmentEntry};
use liu_codec::sample::{AudioCodecConfig, VideoCodecConfig, VideoSample};
use liu_flv::samples::{AudioInput, VideoInput, audio_input, video_input};

/// How segments and parts are cut and kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CmafConfig {
    /// A segment is cut at the first keyframe at or after this duration.
    pub target_duration: Duration,
    /// No part is longer than this (`PART-TARGET`), unless a single frame is.
    pub part_target: Duration,
    /// Segments listed in the playlist.
    pub window: usize,
    /// Segments kept (fetchable) beyond the listed ones.
    pub keep_extra: usize,
}

impl Default for CmafConfig {
    fn default() -> Self {
        CmafConfig {
            target_duration: Duration::from_secs(2),
            part_target: Duration::from_millis(334),
            window: 6,
            keep_extra: 3,
        }
    }
}

/// A finished part.
#[derive(Debug, Clone)]
pub struct Part {
    pub entry: PartEntry,
    pub data: Bytes,
}

/// A segment: finished, or still gaining parts.
#[derive(Debug, Clone)]
pub struct CmafSegment {
    pub sequence: u64,
    /// Which init section its fragments need.
    pub init: u32,
    pub start_ms: u64,
    /// Set when finished.
    pub duration_ms: Option<u64>,
    pub discontinuity: bool,
    pub program_date_time_ms: u64,
    pub parts: Vec<Part>,
    /// The whole segment, once finished.
    pub data: Option<Bytes>,
}

/// The part being filled.
#[derive(Default)]
struct OpenPart {
    start_ms: u64,
    video: Vec<Fmp4Sample>,
    video_base: Option<u64>,
    audio: Vec<Fmp4Sample>,
    audio_base: Option<u64>,
    independent: bool,
}

/// One stream's fMP4 segmenter.
pub struct CmafSegmenter {
    config: CmafConfig,
    video_config: Option<VideoCodecConfig>,
    audio_config: Option<AudioCodecConfig>,
    /// Init sections by id, the newest last.
    inits: VecDeque<(u32, Bytes)>,
    /// The current init section's id, once media flows.
    current_init: Option<u32>,
    next_init: u32,
    segments: VecDeque<CmafSegment>,
    /// The segment being written is `segments.back()` when this is true.
    open: bool,
    part: OpenPart,
    /// A video frame waiting for the next one (which gives its duration).
    held: Option<VideoSample>,
    /// The last video frame duration, for the last frame of a segment.
    last_video_ms: u64,
    next_sequence: u64,
    /// `mfhd` sequence number of the next fragment.
    next_fragment: u32,
    discontinuity_sequence: u64,
    discontinuity: bool,
    ended: bool,
    uri_prefix: String,
}

impl CmafSegmenter {
    pub fn new(config: CmafConfig) -> Self {
        CmafSegmenter {
            config,
            video_config: None,
            audio_config: None,
            inits: VecDeque::new(),
            current_init: None,
            next_init: 0,
            segments: VecDeque::new(),
            open: false,
            part: OpenPart::default(),
            held: None,
            last_video_ms: 40,
            next_sequence: 0,
            next_fragment: 1,
            discontinuity_sequence: 0,
            discontinuity: false,
            ended: false,
            uri_prefix: String::new(),
        }
    }

    /// URIs become `{prefix}{sequence}.m4s`, `{prefix}{sequence}.{part}.m4s`
    /// and `{prefix}init{id}.mp4`, relative to the playlist.
    pub fn with_uri_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.uri_prefix = prefix.into();
        self
    }

    pub fn config(&self) -> &CmafConfig {
        &self.config
    }

    /// A video tag body at decode time `dts_ms`; `now_ms` is the wall clock
    /// (Unix ms). Codecs other than H.264 are left out.
    pub fn push_video(&mut self, dts_ms: u64, body: &Bytes, now_ms: u64) -> Result<(), HlsError> {
        match video_input(dts_ms, body)? {
            Some(input) => self.push_video_input(&input, now_ms),
            None => Ok(()),
        }
    }

    /// [`CmafSegmenter::push_video`] for a tag body already parsed.
    pub fn push_video_input(&mut self, input: &VideoInput, now_ms: u64) -> Result<(), HlsError> {
        let sample = match input {
            VideoInput::Config(record) => {
                if self.video_config.as_ref() != Some(record) {
                    // New parameters need a new init section: a discontinuity.
                    self.restart();
                    self.video_config = Some(record.clone());
                }
                return Ok(());
            }
            VideoInput::Frame(sample) => sample,
        };
        let dts_ms = sample.dts;
        if self.current_init.is_none() && !(sample.keyframe && self.start()?) {
            return Ok(()); // wait for a keyframe with its configuration
        }
        if let Some(held) = self.held.take() {
            let duration = dts_ms.saturating_sub(held.dts);
            if duration > 0 {
                self.last_video_ms = duration;
            }
            self.add_video(held, duration.max(1));
            self.cut(dts_ms, sample.keyframe, now_ms)?;
        } else if !self.open {
            self.open_segment(dts_ms, now_ms);
        }
        self.held = Some(sample.clone());
        Ok(())
    }

    /// An AAC tag body at time `pts_ms`.
    pub fn push_audio(&mut self, pts_ms: u64, body: &Bytes, now_ms: u64) -> Result<(), HlsError> {
        match audio_input(pts_ms, body)? {
            Some(input) => self.push_audio_input(&input, now_ms),
            None => Ok(()),
        }
    }

    /// [`CmafSegmenter::push_audio`] for a tag body already parsed.
    pub fn push_audio_input(&mut self, input: &AudioInput, now_ms: u64) -> Result<(), HlsError> {
        let sample = match input {
            AudioInput::Config(config) => {
                if self.audio_config.as_ref() != Some(config) {
                    self.restart();
                    self.audio_config = Some(config.clone());
                }
                return Ok(());
            }
            AudioInput::Frame(sample) => sample,
        };
        let pts_ms = sample.pts;
        if self.current_init.is_none() && (self.video_config.is_some() || !self.start()?) {
            return Ok(()); // with video, media starts at a keyframe
        }
        let audio_only = self.video_config.is_none();
        if audio_only {
            if self.open {
                self.cut(pts_ms, true, now_ms)?;
            } else {
                self.open_segment(pts_ms, now_ms);
            }
        } else if !self.open {
            return Ok(());
        }
        let Some((rate, duration)) = self
            .audio_config
            .as_ref()
            .map(|c| (c.rate(), c.frame_samples(&sample.data)))
        else {
            return Ok(());
        };
        if self.part.audio_base.is_none() {
            self.part.audio_base = Some(ms_to_audio_ticks(pts_ms, rate));
            if audio_only {
                self.part.independent = true;
            }
        }
        self.part.audio.push(Fmp4Sample {
            duration,
            cts_offset: 0,
            keyframe: true,
            data: sample.data.clone(),
        });
        Ok(())
    }

    /// The publisher left or came back, or the codec changed: what is
    /// pending is finished; the next segment follows a discontinuity and
    /// a new init section.
    pub fn discontinuity(&mut self) {
        self.restart();
        self.video_config = None;
        self.audio_config = None;
    }

    /// Finishes what is pending; media restarts (with a new init section)
    /// at the next keyframe, after a discontinuity.
    fn restart(&mut self) {
        if self.current_init.is_none() {
            return;
        }
        self.finish();
        self.current_init = None;
        self.discontinuity = !self.segments.is_empty();
    }

    /// The stream is over: the last segment closes and the playlist ends.
    pub fn end(&mut self) {
        self.finish();
        self.ended = true;
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The `CODECS` attribute of the current media (RFC 6381 strings, e.g.
    /// `avc1.64001f,mp4a.40.2`), once media flows.
    pub fn codecs(&self) -> Option<String> {
        self.current_init?;
        let codecs: Vec<String> = [
            self.video_config.as_ref().map(|v| v.codec_string()),
            self.audio_config.as_ref().map(|a| a.codec_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!codecs.is_empty()).then(|| codecs.join(","))
    }

    /// Peak bit rate of the kept segments, bits per second.
    pub fn peak_bandwidth(&self) -> u64 {
        self.segments
            .iter()
            .filter_map(|s| Some((s.data.as_ref()?.len() as u64, s.duration_ms?)))
            .filter(|&(_, ms)| ms > 0)
            .map(|(bytes, ms)| bytes * 8 * 1000 / ms)
            .max()
            .unwrap_or(0)
    }

    /// An init section by id.
    pub fn init(&self, id: u32) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, b)| b.clone())
    }

    /// A finished segment.
    pub fn segment(&self, sequence: u64) -> Option<&CmafSegment> {
        let first = self.segments.front()?.sequence;
        self.segments.get(sequence.checked_sub(first)? as usize)
    }

    pub fn segments(&self) -> impl Iterator<Item = &CmafSegment> {
        self.segments.iter()
    }

    /// A finished part.
    pub fn part(&self, sequence: u64, index: usize) -> Option<&Part> {
        self.segment(sequence)?.parts.get(index)
    }

    /// The newest finished part: (segment, part index).
    pub fn last_part(&self) -> Option<(u64, usize)> {
        let s = self.segments.iter().rev().find(|s| !s.parts.is_empty())?;
        Some((s.sequence, s.parts.len() - 1))
    }

    /// The newest finished segment.
    pub fn last_finished(&self) -> Option<u64> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.data.is_some())
            .map(|s| s.sequence)
    }

    /// The part that will come next (the preload hint): (segment, index).
    pub fn next_part(&self) -> Option<(u64, usize)> {
        if self.ended || self.current_init.is_none() {
            return None;
        }
        match self.segments.back() {
            Some(s) if self.open => Some((s.sequence, s.parts.len())),
            _ => Some((self.next_sequence, 0)),
        }
    }

    /// The window: the last `window` finished segments and the open one.
    fn listed(&self) -> Vec<&CmafSegment> {
        let finished = self.segments.iter().filter(|s| s.data.is_some()).count();
        let drop = finished.saturating_sub(self.config.window);
        self.segments.iter().skip(drop).collect()
    }

    fn entry(&self, s: &CmafSegment) -> SegmentEntry {
        SegmentEntry {
            sequence: s.sequence,
            uri: format!("{}{}.m4s", self.uri_prefix, s.sequence),
            duration: s.duration_ms.unwrap_or(0) as f64 / 1000.0,
            discontinuity: s.discontinuity,
            program_date_time_ms: Some(s.program_date_time_ms),
        }
    }

    fn maps(&self, listed: &[&CmafSegment]) -> Vec<(u64, String)> {
        listed
            .iter()
            .map(|s| (s.sequence, format!("{}init{}.mp4", self.uri_prefix, s.init)))
            .collect()
    }

    /// Discontinuities before the first listed segment.
    fn discontinuity_sequence(&self, listed: &[&CmafSegment]) -> u64 {
        self.discontinuity_sequence
            + self
                .segments
                .iter()
                .take_while(|s| listed.first().is_none_or(|l| s.sequence < l.sequence))
                .filter(|s| s.discontinuity)
                .count() as u64
    }

    /// A playlist of the finished segments only, without parts or server
    /// control (RFC 8216 section 4.3): for files served by a plain web
    /// server or CDN, which cannot block.
    pub fn file_playlist(&self) -> String {
        let listed: Vec<&CmafSegment> = self
            .listed()
            .into_iter()
            .filter(|s| s.data.is_some())
            .collect();
        let entries: Vec<SegmentEntry> = listed.iter().map(|s| self.entry(s)).collect();
        MediaPlaylist {
            segments: &entries,
            discontinuity_sequence: self.discontinuity_sequence(&listed),
            maps: &self.maps(&listed),
            ended: self.ended,
        }
        .render()
    }

    /// The media playlist; `skip` asks for a delta update (section 6.2.5.1).
    pub fn playlist(&self, skip: bool) -> String {
        let listed = self.listed();
        let target = self.config.target_duration.as_secs_f64();
        let entries: Vec<SegmentEntry> = listed.iter().map(|s| self.entry(s)).collect();
        let finished: Vec<SegmentEntry> = entries
            .iter()
            .zip(&listed)
            .filter(|(_, s)| s.data.is_some())
            .map(|(e, _)| e.clone())
            .collect();
        let open = listed
            .last()
            .filter(|s| s.data.is_none())
            .map(|s| (entries[entries.len() - 1].clone(), *s));
        // Parts are listed for the last three target durations (section 4.4.4.9).
        let mut parts: Vec<(u64, Vec<PartEntry>)> = Vec::new();
        let mut span = 0.0;
        for s in listed.iter().rev() {
            if span > 3.0 * target {
                break;
            }
            parts.push((
                s.sequence,
                s.parts.iter().map(|p| p.entry.clone()).collect(),
            ));
            span += s.duration_ms.unwrap_or(0) as f64 / 1000.0;
        }
        parts.reverse();
        let maps = self.maps(&listed);
        let discontinuity_sequence = self.discontinuity_sequence(&listed);
        let hint = self
            .next_part()
            .map(|(seq, i)| format!("{}{seq}.{i}.m4s", self.uri_prefix));
        let low_latency = LowLatency {
            min_target_duration: self.config.target_duration.as_secs_f64().round() as u64,
            part_target: self.config.part_target.as_secs_f64(),
            parts: &parts,
            open: open.as_ref().map(|(e, _)| e),
            preload_hint: hint.as_deref(),
            skip,
        };
        MediaPlaylist {
            segments: &finished,
            discontinuity_sequence,
            maps: &maps,
            ended: self.ended,
        }
        .render_low_latency(&low_latency)
    }

    /// Starts media with the current configuration: a new init section.
    fn start(&mut self) -> Result<bool, HlsError> {
        let video = self.video_config.clone();
        if video.is_none() && self.audio_config.is_none() {
            return Ok(false);
        }
        let mut out = BytesMut::new();
        write_init(video.as_ref(), self.audio_config.as_ref(), &mut out)?;
        let id = self.next_init;
        self.next_init += 1;
        self.inits.push_back((id, out.freeze()));
        self.current_init = Some(id);
        Ok(true)
    }

    fn add_video(&mut self, held: VideoSample, duration_ms: u64) {
        if self.part.video_base.is_none() {
            self.part.video_base = Some(ms_to_video_ticks(held.dts));
            self.part.independent = held.keyframe;
        }
        self.part.video.push(Fmp4Sample {
            duration: u32::try_from(ms_to_video_ticks(duration_ms)).unwrap_or(u32::MAX),
            cts_offset: cts_ms_to_video_ticks(held.cts_offset),
            keyframe: held.keyframe,
            data: held.data,
        });
    }

    /// At a frame at `at_ms`: ends the segment (at a keyframe past the
    /// target) or the part (if that frame would take it past the part
    /// target).
    fn cut(&mut self, at_ms: u64, keyframe: bool, now_ms: u64) -> Result<(), HlsError> {
        let Some(open) = self.segments.back().filter(|_| self.open) else {
            return Ok(());
        };
        let target = self.config.target_duration.as_millis() as u64;
        if keyframe && at_ms.saturating_sub(open.start_ms) >= target {
            self.close_part(at_ms)?;
            self.close_segment(at_ms);
            self.open_segment(at_ms, now_ms);
            return Ok(());
        }
        let frame = if self.video_config.is_some() {
            self.last_video_ms
        } else {
            23
        };
        let part_target = self.config.part_target.as_millis() as u64;
        if at_ms.saturating_sub(self.part.start_ms) + frame > part_target {
            self.close_part(at_ms)?;
        }
        Ok(())
    }

    fn open_segment(&mut self, at_ms: u64, now_ms: u64) {
        let Some(init) = self.current_init else {
            return;
        };
        self.segments.push_back(CmafSegment {
            sequence: self.next_sequence,
            init,
            start_ms: at_ms,
            duration_ms: None,
            discontinuity: std::mem::take(&mut self.discontinuity),
            program_date_time_ms: now_ms,
            parts: Vec::new(),
            data: None,
        });
        self.next_sequence += 1;
        self.open = true;
        self.part = OpenPart {
            start_ms: at_ms,
            ..OpenPart::default()
        };
    }

    /// Writes the pending samples as one fragment: the next part.
    fn close_part(&mut self, end_ms: u64) -> Result<(), HlsError> {
        let part = std::mem::replace(
            &mut self.part,
            OpenPart {
                start_ms: end_ms,
                ..OpenPart::default()
            },
        );
        if part.video.is_empty() && part.audio.is_empty() {
            return Ok(());
        }
        let mut tracks = Vec::with_capacity(2);
        if let Some(base) = part.video_base {
            tracks.push(TrackFragment {
                track_id: VIDEO_TRACK_ID,
                base_decode_time: base,
                samples: &part.video,
            });
        }
        if let Some(base) = part.audio_base {
            tracks.push(TrackFragment {
                track_id: AUDIO_TRACK_ID,
                base_decode_time: base,
                samples: &part.audio,
            });
        }
        let mut out = BytesMut::new();
        write_fragment(self.next_fragment, &tracks, &mut out)?;
        self.next_fragment = self.next_fragment.wrapping_add(1).max(1);
        let independent = part.independent || part.video.is_empty();
        let Some(segment) = self.segments.back_mut().filter(|_| self.open) else {
            return Ok(());
        };
        let index = segment.parts.len();
        segment.parts.push(Part {
            entry: PartEntry {
                uri: format!("{}{}.{index}.m4s", self.uri_prefix, segment.sequence),
                duration: end_ms.saturating_sub(part.start_ms) as f64 / 1000.0,
                independent,
            },
            data: out.freeze(),
        });
        Ok(())
    }

    fn close_segment(&mut self, end_ms: u64) {
        let Some(segment) = self.segments.back_mut().filter(|_| self.open) else {
            return;
        };
        self.open = false;
        segment.duration_ms = Some(end_ms.saturating_sub(segment.start_ms));
        let mut data = BytesMut::with_capacity(segment.parts.iter().map(|p| p.data.len()).sum());
        for p in &segment.parts {
            data.extend_from_slice(&p.data);
        }
        segment.data = Some(data.freeze());
        if segment.parts.is_empty() {
            self.segments.pop_back();
        }
        let keep = self.config.window + self.config.keep_extra;
        while self.segments.iter().filter(|s| s.data.is_some()).count() > keep {
            if let Some(gone) = self.segments.pop_front()
                && gone.discontinuity
            {
                self.discontinuity_sequence += 1;
            }
        }
        let oldest_init = self.segments.front().map(|s| s.init);
        while let Some(&(id, _)) = self.inits.front() {
            if oldest_init.is_some_and(|o| id < o) {
                self.inits.pop_front();
            } else {
                break;
            }
        }
    }

    /// Flushes the held frame and closes the part and segment.
    fn finish(&mut self) {
        if !self.open {
            self.held = None;
            return;
        }
        let mut end = self.part.start_ms;
        if let Some(held) = self.held.take() {
            end = held.dts + self.last_video_ms;
            self.add_video(held, self.last_video_ms);
        } else if self.part.audio_base.is_some() {
            let samples: u64 = self.part.audio.iter().map(|s| u64::from(s.duration)).sum();
            let rate = self.audio_config.as_ref().map_or(44_100, |c| c.rate());
            end = end.max(self.part.start_ms + samples * 1000 / u64::from(rate.max(1)));
        }
        // A fragment that cannot be written is dropped; the segment still closes.
        let _ = self.close_part(end);
        self.close_segment(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segmenter::tests::{AAC, ASC, avcc, frame};

    /// `seconds` of 25 fps video (a keyframe every `gop` frames) and AAC
    /// every 23 ms, from `from_ms`.
    fn feed(s: &mut CmafSegmenter, from_ms: u64, seconds: u64, gop: u64) {
        s.push_video(from_ms, &avcc(), 0).unwrap();
        s.push_audio(from_ms, &Bytes::from_static(ASC), 0).unwrap();
        let mut audio_ms = from_ms;
        for i in 0..seconds * 25 {
            let t = from_ms + i * 40;
            while audio_ms <= t {
                s.push_audio(audio_ms, &Bytes::from_static(AAC), t).unwrap();
                audio_ms += 23;
            }
            s.push_video(t, &frame(i % gop == 0), t).unwrap();
        }
    }

    fn parse(text: &str) -> m3u8_rs::MediaPlaylist {
        match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(m)) => m,
            other => panic!("not a media playlist: {other:?}\n{text}"),
        }
    }

    fn box_type(data: &[u8]) -> &[u8] {
        &data[4..8]
    }

    #[test]
    fn segments_are_their_parts_and_parts_stay_under_the_target() {
        let mut s = CmafSegmenter::new(CmafConfig::default());
        feed(&mut s, 0, 10, 25);
        let live = s.playlist(false);
        assert!(
            live.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""),
            "{live}"
        );
        assert!(
            live.contains("#EXT-X-PART-INF:PART-TARGET=0.334\n"),
            "{live}"
        );
        assert!(
            live.contains("CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=1.002"),
            "{live}"
        );
        s.end();
        let segments: Vec<&CmafSegment> = s.segments().collect();
        assert_eq!(segments.len(), 5);
        for seg in &segments {
            assert_eq!(seg.duration_ms, Some(2000));
            let joined: Vec<u8> = seg.parts.iter().flat_map(|p| p.data.to_vec()).collect();
            assert_eq!(seg.data.as_deref(), Some(&joined[..]));
            assert!(seg.parts[0].entry.independent);
            let total: f64 = seg.parts.iter().map(|p| p.entry.duration).sum();
            assert!((total - 2.0).abs() < 1e-9, "{total}");
            for (i, p) in seg.parts.iter().enumerate() {
                assert!(p.entry.duration <= 0.334, "{p:?}");
                // Only a segment's last part may be short.
                assert!(p.entry.duration >= 0.3 || i == seg.parts.len() - 1, "{p:?}");
                assert_eq!(box_type(&p.data), b"moof");
            }
        }
        let init = s.init(0).unwrap();
        assert_eq!(box_type(&init), b"ftyp");
        let text = s.playlist(false);
        let p = parse(&text);
        assert_eq!(
            (p.target_duration, p.media_sequence, p.end_list),
            (2, 0, true)
        );
        assert_eq!(p.segments.len(), 5);
        assert_eq!(p.segments[0].uri, "0.m4s");
        assert!(text.contains("#EXT-X-MAP:URI=\"init0.mp4\"\n"));
        assert!(text.contains("#EXT-X-PART:DURATION=0.320,URI=\"4.0.m4s\",INDEPENDENT=YES\n"));
        assert!(!text.contains("PRELOAD-HINT"), "no hint once ended");
        // Parts only for the last three target durations.
        assert!(!text.contains("URI=\"0.0.m4s\""), "{text}");
    }

    #[test]
    fn delta_updates_skip_old_segments() {
        let config = CmafConfig {
            target_duration: Duration::from_secs(1),
            window: 10,
            ..CmafConfig::default()
        };
        let mut s = CmafSegmenter::new(config);
        feed(&mut s, 0, 12, 25);
        let full = s.playlist(false);
        let delta = s.playlist(true);
        assert!(
            delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n"),
            "{delta}"
        );
        assert!(!full.contains("EXT-X-SKIP"));
        let p = parse(&full);
        assert_eq!(p.segments.len(), 10);
        let (seq, part) = s.last_part().unwrap();
        assert_eq!(s.next_part(), Some((seq, part + 1)));
        assert!(s.part(seq, part).is_some() && s.part(seq, part + 1).is_none());
    }

    #[test]
    fn a_codec_change_starts_a_new_init_section_after_a_discontinuity() {
        let mut s = CmafSegmenter::new(CmafConfig::default());
        feed(&mut s, 0, 4, 25);
        let mut other = avcc().to_vec();
        other[5 + 3] = 40; // another level
        s.push_video(4000, &Bytes::from(other), 0).unwrap();
        for i in 0..75u64 {
            s.push_video(4000 + i * 40, &frame(i % 25 == 0), 0).unwrap();
        }
        s.end();
        let inits: Vec<u32> = s.segments().map(|g| g.init).collect();
        assert_eq!(inits, [0, 0, 1, 1]);
        let text = s.playlist(false);
        assert!(
            text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"),
            "{text}"
        );
        assert!(text.contains("#EXT-X-MAP:URI=\"init1.mp4\"\n"), "{text}");
        assert!(s.init(1).is_some());
        // Audio went on with the same configuration.
        assert!(s.segments().last().unwrap().data.as_ref().unwrap().len() > 100);
    }

    #[test]
    fn audio_only_streams_are_cut_on_any_frame() {
        let mut s = CmafSegmenter::new(CmafConfig::default());
        s.push_audio(0, &Bytes::from_static(ASC), 0).unwrap();
        for i in 0..300u64 {
            s.push_audio(i * 23, &Bytes::from_static(AAC), 0).unwrap();
        }
        s.end();
        assert_eq!(s.segments().count(), 4);
        for seg in s.segments() {
            assert!(seg.parts.iter().all(|p| p.entry.independent));
            assert!(seg.parts.iter().all(|p| p.entry.duration <= 0.334));
        }
    }

    #[test]
    fn garbage_is_an_error_and_nothing_breaks() {
        let mut s = CmafSegmenter::new(CmafConfig::default());
        assert!(
            s.push_video(0, &Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]), 0)
                .is_err()
        );
        assert!(s.push_audio(0, &Bytes::new(), 0).is_err());
        feed(&mut s, 0, 3, 25);
        s.end();
        assert_eq!(s.segments().count(), 2);
    }
}
