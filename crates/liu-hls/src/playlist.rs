//! Media playlists (RFC 8216 section 4.3; the `draft-pantos-hls-rfc8216bis`
//! tags come with low-latency HLS): a sliding window of segments rendered
//! as text, with the rules a player relies on kept in one place.

use std::fmt::Write as _;

/// One listed media segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentEntry {
    /// Its media sequence number (RFC 8216 section 6.2.1).
    pub sequence: u64,
    /// URI relative to the playlist.
    pub uri: String,
    /// Duration in seconds, from its media timestamps.
    pub duration: f64,
    /// It follows a discontinuity (a republish, a codec change): section 4.3.2.3.
    pub discontinuity: bool,
    /// Wall-clock time of its first sample, Unix milliseconds (section 4.3.2.6).
    pub program_date_time_ms: Option<u64>,
}

/// One partial segment (draft-pantos-hls-rfc8216bis section 4.4.4.9).
#[derive(Debug, Clone, PartialEq)]
pub struct PartEntry {
    pub uri: String,
    /// Seconds.
    pub duration: f64,
    /// Starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
}

/// What a Low-Latency HLS playlist adds to a media playlist
/// (draft-pantos-hls-rfc8216bis sections 4.4.3.7-8, 4.4.4.9, 4.4.5.3).
#[derive(Debug, Clone, PartialEq)]
pub struct LowLatency<'a> {
    /// `EXT-X-TARGETDURATION` is at least this.
    pub min_target_duration: u64,
    /// Seconds; `PART-TARGET` is at least this and at least every listed part.
    pub part_target: f64,
    /// Parts to list, by segment sequence number.
    pub parts: &'a [(u64, Vec<PartEntry>)],
    /// The segment being written, listed by its parts only.
    pub open: Option<&'a SegmentEntry>,
    /// URI of the next part (`EXT-X-PRELOAD-HINT`).
    pub preload_hint: Option<&'a str>,
    /// A delta update: segments older than `CAN-SKIP-UNTIL` are replaced by
    /// `EXT-X-SKIP` (section 6.2.5.1).
    pub skip: bool,
}

/// A media playlist: what [`MediaPlaylist::render`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist<'a> {
    /// The window, oldest first, with consecutive sequence numbers.
    pub segments: &'a [SegmentEntry],
    /// Discontinuities before the first listed segment (section 4.3.3.3).
    pub discontinuity_sequence: u64,
    /// fMP4: each segment's initialization section, (sequence, URI);
    /// `EXT-X-MAP` goes before the first segment of each (section 4.4.4.5).
    pub maps: &'a [(u64, String)],
    /// The stream is over: `EXT-X-ENDLIST` (section 4.3.3.4).
    pub ended: bool,
}

impl MediaPlaylist<'_> {
    /// `EXT-X-TARGETDURATION`: every listed duration, rounded to the nearest
    /// integer, is at most this (section 4.3.3.1); at least 1.
    pub fn target_duration(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.duration.round() as u64)
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// The lowest `EXT-X-VERSION` the features used need (section 7):
    /// 3 for decimal `EXTINF`, 6 for `EXT-X-MAP` in a media playlist.
    pub fn version(&self) -> u8 {
        if self.maps.is_empty() { 3 } else { 6 }
    }

    /// The playlist text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(128 + self.segments.len() * 96);
        let media_sequence = self.segments.first().map_or(0, |s| s.sequence);
        self.write_head(
            &mut out,
            self.version(),
            self.target_duration(),
            media_sequence,
            "",
        );
        let mut map = None;
        for s in self.segments {
            self.write_map(&mut out, s, &mut map);
            write_segment_start(&mut out, s);
            write_extinf(&mut out, s);
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

impl MediaPlaylist<'_> {
    /// The playlist with Low-Latency HLS parts, server control, preload
    /// hint and, on request, as a delta update. `EXT-X-VERSION` is 9 (the
    /// version `EXT-X-SKIP` needs).
    pub fn render_low_latency(&self, ll: &LowLatency<'_>) -> String {
        let mut out = String::with_capacity(512 + self.segments.len() * 160);
        let target = self.target_duration().max(ll.min_target_duration).max(1);
        let part_target = ll
            .parts
            .iter()
            .flat_map(|(_, ps)| ps.iter().map(|p| p.duration))
            .fold(ll.part_target, f64::max);
        // Segments older than six target durations may be skipped (4.4.3.8).
        let skip_until = 6.0 * target as f64;
        let first = self.segments.first().or(ll.open);
        let media_sequence = first.map_or(0, |s| s.sequence);
        let control = format!(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skip_until:.1},PART-HOLD-BACK={:.3}\n\
             #EXT-X-PART-INF:PART-TARGET={part_target:.3}\n",
            3.0 * part_target
        );
        self.write_head(&mut out, 9, target, media_sequence, &control);
        let mut skipped = 0;
        if ll.skip {
            let open_duration: f64 = ll
                .open
                .and_then(|o| ll.parts.iter().find(|(s, _)| *s == o.sequence))
                .map_or(0.0, |(_, ps)| ps.iter().map(|p| p.duration).sum());
            let mut after: f64 =
                self.segments.iter().map(|s| s.duration).sum::<f64>() + open_duration;
            for s in self.segments {
                after -= s.duration;
                if after <= skip_until {
                    break;
                }
                skipped += 1;
            }
            if skipped > 0 {
                let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
            }
        }
        let mut map = None;
        let listed = self.segments[skipped..].iter().map(|s| (s, true));
        for (s, finished) in listed.chain(ll.open.map(|o| (o, false))) {
            self.write_map(&mut out, s, &mut map);
            write_segment_start(&mut out, s);
            if let Some((_, parts)) = ll.parts.iter().find(|(seq, _)| *seq == s.sequence) {
                for p in parts {
                    let _ = write!(
                        out,
                        "#EXT-X-PART:DURATION={:.3},URI=\"{}\"",
                        p.duration, p.uri
                    );
                    out.push_str(if p.independent {
                        ",INDEPENDENT=YES\n"
                    } else {
                        "\n"
                    });
                }
            }
            if finished {
                write_extinf(&mut out, s);
            }
        }
        if let Some(hint) = ll.preload_hint {
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"");
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

impl MediaPlaylist<'_> {
    /// The tags before the first segment; `extra` (whole lines) goes after
    /// the target duration, where LL-HLS puts its server control.
    fn write_head(
        &self,
        out: &mut String,
        version: u8,
        target: u64,
        media_sequence: u64,
        extra: &str,
    ) {
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n{extra}\
             #EXT-X-MEDIA-SEQUENCE:{media_sequence}\n"
        );
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        // Every segment starts with a keyframe (section 4.3.5.1).
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }

    /// `EXT-X-MAP` before `s` if its initialization section differs from
    /// the one in force (`current`).
    fn write_map<'m>(&'m self, out: &mut String, s: &SegmentEntry, current: &mut Option<&'m str>) {
        let uri = self
            .maps
            .iter()
            .find(|(seq, _)| *seq == s.sequence)
            .map(|(_, u)| u.as_str());
        if let Some(u) = uri
            && uri != *current
        {
            *current = uri;
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{u}\"");
        }
    }
}

/// A segment's tags before its parts and `EXTINF`.
fn write_segment_start(out: &mut String, s: &SegmentEntry) {
    if s.discontinuity {
        out.push_str("#EXT-X-DISCONTINUITY\n");
    }
    if let Some(ms) = s.program_date_time_ms {
        out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        write_date_time(out, ms);
        out.push('\n');
    }
}

fn write_extinf(out: &mut String, s: &SegmentEntry) {
    let _ = writeln!(out, "#EXTINF:{:.3},\n{}", s.duration, s.uri);
}

/// Unix milliseconds as an ISO 8601 date-time in UTC with milliseconds
/// (RFC 3339, as section 4.3.2.6 asks), e.g. `2026-11-25T03:50:00.123Z`.
pub fn write_date_time(out: &mut String, unix_ms: u64) {
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    );
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (the well-known era-based conversion).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(sequence: u64, duration: f64) -> SegmentEntry {
        SegmentEntry {
            sequence,
            uri: format!("seg-{sequence}.ts"),
            duration,
            discontinuity: false,
            program_date_time_ms: Some(1_764_042_600_000 + sequence * 2000),
        }
    }

    #[test]
    fn dates() {
        let mut s = String::new();
        write_date_time(&mut s, 0);
        assert_eq!(s, "1970-01-01T00:00:00.000Z");
        s.clear();
        write_date_time(&mut s, 951_782_400_123); // 2000-02-29
        assert_eq!(s, "2000-02-29T00:00:00.123Z");
        s.clear();
        write_date_time(&mut s, 1_795_651_199_999);
        assert_eq!(s, "2026-11-25T23:59:59.999Z");
    }

    #[test]
    fn target_duration_rounds_to_nearest() {
        let segs = [seg(7, 2.0), seg(8, 2.49), seg(9, 1.2)];
        let p = MediaPlaylist {
            segments: &segs,
            discontinuity_sequence: 0,
            maps: &[],
            ended: false,
        };
        assert_eq!(p.target_duration(), 2);
        let long = [seg(1, 2.5), seg(2, 10.04)];
        let p = MediaPlaylist {
            segments: &long,
            ..p
        };
        assert_eq!(p.target_duration(), 10);
    }

    #[test]
    fn an_independent_parser_reads_what_is_rendered() {
        let mut segs = vec![seg(41, 2.002), seg(42, 1.961), seg(43, 4.5)];
        segs[1].discontinuity = true;
        let p = MediaPlaylist {
            segments: &segs,
            discontinuity_sequence: 3,
            maps: &[],
            ended: true,
        };
        let text = p.render();
        let parsed = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(m)) => m,
            other => panic!("not a media playlist: {other:?}\n{text}"),
        };
        assert_eq!(parsed.version, Some(3));
        assert_eq!(parsed.target_duration, 5);
        assert_eq!(parsed.media_sequence, 41);
        assert_eq!(parsed.discontinuity_sequence, 3);
        assert!(parsed.end_list && parsed.independent_segments);
        let uris: Vec<&str> = parsed.segments.iter().map(|s| s.uri.as_str()).collect();
        assert_eq!(uris, ["seg-41.ts", "seg-42.ts", "seg-43.ts"]);
        let discontinuities: Vec<bool> = parsed.segments.iter().map(|s| s.discontinuity).collect();
        assert_eq!(discontinuities, [false, true, false]);
        assert!((parsed.segments[0].duration - 2.002).abs() < 1e-6);
        assert!(
            parsed
                .segments
                .iter()
                .all(|s| s.program_date_time.is_some())
        );
        assert!(
            text.contains("#EXT-X-PROGRAM-DATE-TIME:2025-11-25T03:51:22.000Z\n#EXTINF:2.002,"),
            "{text}"
        );
    }

    #[test]
    fn fmp4_playlists_name_their_init_section() {
        let mut segs = [seg(0, 2.0), seg(1, 2.0), seg(2, 2.0)];
        segs[2].discontinuity = true;
        let maps = [
            (0, "init0.mp4".into()),
            (1, "init0.mp4".into()),
            (2, "init1.mp4".into()),
        ];
        let p = MediaPlaylist {
            segments: &segs,
            discontinuity_sequence: 0,
            maps: &maps,
            ended: false,
        };
        let text = p.render();
        assert!(text.contains("#EXT-X-VERSION:6\n"));
        assert!(text.contains("#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init0.mp4\"\n"));
        assert!(
            text.contains("seg-1.ts\n#EXT-X-MAP:URI=\"init1.mp4\"\n#EXT-X-DISCONTINUITY\n"),
            "{text}"
        );
        assert_eq!(text.matches("EXT-X-MAP").count(), 2);
        assert!(!text.contains("ENDLIST") && !text.contains("DISCONTINUITY-SEQUENCE"));
    }
}
