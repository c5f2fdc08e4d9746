//! HLS for bench viewers, without I/O: the media playlist tags a player acts
//! on (RFC 8216bis §4.4), URI resolution, and a streaming scan for latency
//! stamps in MPEG-TS segments and fMP4 segments or parts.

use crate::stamp::{STAMP_UUID, decode_time};

/// A playlist as far as a polling viewer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playlist {
    /// A multivariant playlist: the URI of its first variant.
    Multivariant(String),
    Media(MediaPlaylist),
}

/// The parts of a media playlist a viewer acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaPlaylist {
    pub target_duration_ms: u64,
    /// `EXT-X-MEDIA-SEQUENCE`: the number of the first segment, skipped ones included.
    pub media_sequence: u64,
    /// Complete segments listed, oldest first.
    pub segments: Vec<Segment>,
    /// Parts of the segment after the last complete one (not finished yet).
    pub open_parts: Vec<Part>,
    /// `EXT-X-PART-INF:PART-TARGET`.
    pub part_target_ms: Option<u64>,
    /// `EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES`.
    pub can_block_reload: bool,
    pub ended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Media sequence number.
    pub msn: u64,
    pub uri: String,
    pub duration_ms: u64,
    /// Its `EXT-X-PART`s (listed for the newest segments of an LL-HLS playlist).
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub uri: String,
    pub duration_ms: u64,
    pub independent: bool,
}

/// Where a part sits: its segment's sequence number and its index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartId {
    pub msn: u64,
    pub index: usize,
}

impl MediaPlaylist {
    /// The sequence number the next segment will get.
    pub fn next_msn(&self) -> u64 {
        self.segments
            .last()
            .map_or(self.media_sequence, |s| s.msn + 1)
    }

    /// Whether it offers Low-Latency HLS parts with blocking reloads.
    pub fn is_low_latency(&self) -> bool {
        self.can_block_reload && self.part_target_ms.is_some()
    }

    /// The part `id`, if listed.
    pub fn part(&self, id: PartId) -> Option<&Part> {
        if id.msn == self.next_msn() {
            return self.open_parts.get(id.index);
        }
        let first = self.segments.first()?.msn;
        let seg = self
            .segments
            .get(usize::try_from(id.msn.checked_sub(first)?).ok()?)?;
        seg.parts.get(id.index)
    }

    /// The part after `id`: the next index, or the first part of the next
    /// segment when `id`'s segment is complete with `id` as its last part.
    pub fn part_after(&self, id: PartId) -> PartId {
        let complete_with = self
            .segments
            .iter()
            .find(|s| s.msn == id.msn)
            .map(|s| s.parts.len());
        match complete_with {
            Some(n) if id.index + 1 >= n => PartId {
                msn: id.msn + 1,
                index: 0,
            },
            _ => PartId {
                msn: id.msn,
                index: id.index + 1,
            },
        }
    }

    /// The newest independent part (where an LL-HLS player joins).
    pub fn newest_independent_part(&self) -> Option<PartId> {
        let open = (self.next_msn(), &self.open_parts);
        let listed = self.segments.iter().map(|s| (s.msn, &s.parts));
        listed
            .chain(std::iter::once(open))
            .rev()
            .find_map(|(msn, parts)| {
                let index = parts.iter().rposition(|p| p.independent)?;
                Some(PartId { msn, index })
            })
    }
}

/// Parses a playlist. `None` if it does not start with `#EXTM3U`.
pub fn parse_playlist(text: &str) -> Option<Playlist> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next()? != "#EXTM3U" {
        return None;
    }
    let mut p = MediaPlaylist::default();
    let mut msn: Option<u64> = None;
    let (mut duration, mut parts, mut variant) = (None, Vec::new(), false);
    for line in lines {
        let Some(tag) = line.strip_prefix('#') else {
            if variant {
                return Some(Playlist::Multivariant(line.to_string()));
            }
            let n = *msn.get_or_insert(p.media_sequence);
            p.segments.push(Segment {
                msn: n,
                uri: line.to_string(),
                duration_ms: duration.take().unwrap_or(0),
                parts: std::mem::take(&mut parts),
            });
            msn = Some(n + 1);
            continue;
        };
        let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
        match name {
            "EXT-X-STREAM-INF" => variant = true,
            "EXT-X-TARGETDURATION" => p.target_duration_ms = value.parse::<u64>().ok()? * 1000,
            "EXT-X-MEDIA-SEQUENCE" => p.media_sequence = value.parse().ok()?,
            "EXTINF" => duration = Some(seconds_ms(value.split(',').next()?)?),
            "EXT-X-ENDLIST" => p.ended = true,
            "EXT-X-PART-INF" => p.part_target_ms = seconds_ms(attribute(value, "PART-TARGET")?),
            "EXT-X-SERVER-CONTROL" => {
                p.can_block_reload = attribute(value, "CAN-BLOCK-RELOAD") == Some("YES");
            }
            "EXT-X-SKIP" => {
                let skipped: u64 = attribute(value, "SKIPPED-SEGMENTS")?.parse().ok()?;
                msn = Some(msn.unwrap_or(p.media_sequence) + skipped);
            }
            "EXT-X-PART" => parts.push(Part {
                uri: attribute(value, "URI")?.to_string(),
                duration_ms: seconds_ms(attribute(value, "DURATION")?)?,
                independent: attribute(value, "INDEPENDENT") == Some("YES"),
            }),
            _ => {}
        }
    }
    p.open_parts = parts;
    Some(Playlist::Media(p))
}

/// Decimal seconds as whole milliseconds.
fn seconds_ms(s: &str) -> Option<u64> {
    let v: f64 = s.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * 1000.0).round() as u64)
}

/// The value of `name` in an attribute list, quotes removed (RFC 8216bis §4.2).
fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            let next = quoted[end + 1..].strip_prefix(',').unwrap_or("");
            (&quoted[..end], next)
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// The request path for `uri` as listed in the playlist at `playlist` (a
/// path with an optional query). Absolute URLs keep only their path: a bench
/// talks to one server.
pub fn resolve(playlist: &str, uri: &str) -> String {
    if let Some(rest) = uri.strip_prefix("http://").or(uri.strip_prefix("https://")) {
        return rest.find('/').map_or("/".into(), |i| rest[i..].to_string());
    }
    if uri.starts_with('/') {
        return uri.to_string();
    }
    let path = playlist.split('?').next().unwrap_or(playlist);
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    format!("{dir}{uri}")
}

/// `path` with `params` added to its query.
pub fn with_query(path: &str, params: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{params}")
}

/// The stamp SEI as it appears in the media: NAL header, payload type and
/// size, the UUID; the 8 time bytes follow.
const STAMP_HEAD: [u8; 19] = {
    let mut h = [0u8; 19];
    h[0] = 6;
    h[1] = 5;
    h[2] = 24;
    let mut i = 0;
    while i < 16 {
        h[3 + i] = STAMP_UUID[i];
        i += 1;
    }
    h
};
const STAMP_LEN: usize = STAMP_HEAD.len() + 8;

/// Finds latency stamps in a segment or part fed in pieces as it arrives.
/// fMP4 carries the stamp SEI whole in `mdat`; MPEG-TS splits it over
/// packets, so TS video payloads are joined first (ISO/IEC 13818-1 §2.4.3).
#[derive(Debug, Default)]
pub struct StampScanner {
    /// The last `STAMP_LEN - 1` bytes scanned, for stamps across pieces.
    carry: Vec<u8>,
    format: Option<Format>,
}

#[derive(Debug)]
enum Format {
    Raw,
    Ts(TsVideo),
}

impl StampScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scans the next piece; `on_stamp` gets each stamp's Unix time in ms.
    pub fn feed(&mut self, data: &[u8], on_stamp: &mut impl FnMut(u64)) {
        let Some(&first) = data.first() else {
            return;
        };
        let format = self.format.get_or_insert_with(|| {
            if first == 0x47 {
                Format::Ts(TsVideo::default())
            } else {
                Format::Raw
            }
        });
        match format {
            Format::Raw => scan(&mut self.carry, data, on_stamp),
            Format::Ts(ts) => {
                let carry = &mut self.carry;
                ts.feed(data, &mut |payload| scan(carry, payload, on_stamp));
            }
        }
    }
}

/// Reports stamps that end in `data`, with `carry` holding the bytes before it.
fn scan(carry: &mut Vec<u8>, data: &[u8], on_stamp: &mut impl FnMut(u64)) {
    let mut report = |bytes: &[u8]| {
        if let Some(time) = bytes[STAMP_HEAD.len()..STAMP_LEN]
            .first_chunk::<8>()
            .and_then(decode_time)
        {
            on_stamp(time);
        }
    };
    if !carry.is_empty() {
        let mut joint = carry.clone();
        joint.extend_from_slice(&data[..data.len().min(STAMP_LEN - 1)]);
        for at in memchr::memmem::find_iter(&joint, &STAMP_HEAD) {
            if at < carry.len() && at + STAMP_LEN <= joint.len() {
                report(&joint[at..at + STAMP_LEN]);
            }
        }
    }
    for at in memchr::memmem::find_iter(data, &STAMP_HEAD) {
        if at + STAMP_LEN <= data.len() {
            report(&data[at..at + STAMP_LEN]);
        }
    }
    let keep = STAMP_LEN - 1;
    if data.len() >= keep {
        carry.clear();
        carry.extend_from_slice(&data[data.len() - keep..]);
    } else {
        carry.extend_from_slice(data);
        let excess = carry.len().saturating_sub(keep);
        carry.drain(..excess);
    }
}

const TS_PACKET: usize = 188;

/// Joins the payloads of the video PID (found through the PAT and PMT).
#[derive(Debug, Default)]
struct TsVideo {
    packet: Vec<u8>,
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
}

impl TsVideo {
    fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(&[u8])) {
        if !self.packet.is_empty() {
            let take = (TS_PACKET - self.packet.len()).min(data.len());
            self.packet.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.packet.len() < TS_PACKET {
                return;
            }
            let packet = std::mem::take(&mut self.packet);
            self.packet_in(&packet, out);
        }
        let mut whole = data.chunks_exact(TS_PACKET);
        for packet in whole.by_ref() {
            self.packet_in(packet, out);
        }
        self.packet.extend_from_slice(whole.remainder());
    }

    fn packet_in(&mut self, p: &[u8], out: &mut impl FnMut(&[u8])) {
        if p[0] != 0x47 {
            return;
        }
        let pid = u16::from_be_bytes([p[1] & 0x1f, p[2]]);
        let control = (p[3] >> 4) & 3;
        if control & 1 == 0 {
            return;
        }
        let start = if control & 2 != 0 {
            5 + usize::from(p[4])
        } else {
            4
        };
        let Some(payload) = p.get(start..) else {
            return;
        };
        if Some(pid) == self.video_pid {
            out(payload);
        } else if pid == 0 {
            self.pmt_pid = section(payload, p[1] & 0x40 != 0).and_then(first_program_pid);
        } else if Some(pid) == self.pmt_pid {
            self.video_pid = section(payload, p[1] & 0x40 != 0).and_then(video_pid);
        }
    }
}

/// A PSI section starting in this payload (after its pointer field).
fn section(payload: &[u8], unit_start: bool) -> Option<&[u8]> {
    if !unit_start {
        return None;
    }
    let s = payload.get(1 + usize::from(*payload.first()?)..)?;
    let len = usize::from(u16::from_be_bytes([*s.get(1)? & 0x0f, *s.get(2)?]));
    // The loop ends before the CRC_32.
    s.get(..(3 + len).checked_sub(4)?)
}

/// The PMT PID of the first program in a PAT section.
fn first_program_pid(pat: &[u8]) -> Option<u16> {
    pat.get(8..)?
        .chunks_exact(4)
        .find(|e| e[0] != 0 || e[1] != 0)
        .map(|e| u16::from_be_bytes([e[2] & 0x1f, e[3]]))
}

/// The PID of the first H.264 (0x1B) or HEVC (0x24) stream in a PMT section.
fn video_pid(pmt: &[u8]) -> Option<u16> {
    let info_len = usize::from(u16::from_be_bytes([*pmt.get(10)? & 0x0f, *pmt.get(11)?]));
    let mut es = pmt.get(12 + info_len..)?;
    while es.len() >= 5 {
        let pid = u16::from_be_bytes([es[1] & 0x1f, es[2]]);
        if matches!(es[0], 0x1b | 0x24) {
            return Some(pid);
        }
        let skip = 5 + usize::from(u16::from_be_bytes([es[3] & 0x0f, es[4]]));
        es = es.get(skip..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::sei_nal;

    const LL: &str = "#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-VERSION:9
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=1.002
#EXT-X-PART-INF:PART-TARGET=0.334
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-MAP:URI=\"t-init0.mp4\"
#EXTINF:2.000,
t-7.m4s
#EXT-X-PART:DURATION=0.320,URI=\"t-8.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.320,URI=\"t-8.1.m4s\"
#EXTINF:0.640,
t-8.m4s
#EXT-X-PART:DURATION=0.334,URI=\"t-9.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.334,URI=\"t-9.1.m4s\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"t-9.2.m4s\"
";

    #[test]
    fn parses_low_latency_playlists() {
        let Some(Playlist::Media(p)) = parse_playlist(LL) else {
            panic!("not a media playlist");
        };
        assert!(p.is_low_latency() && !p.ended);
        assert_eq!((p.target_duration_ms, p.part_target_ms), (2000, Some(334)));
        assert_eq!(p.segments.len(), 2);
        assert_eq!((p.segments[1].msn, p.segments[1].duration_ms), (8, 640));
        assert_eq!(p.segments[1].parts.len(), 2);
        assert_eq!(p.next_msn(), 9);
        let newest = p.newest_independent_part().unwrap();
        assert_eq!(newest, PartId { msn: 9, index: 0 });
        assert_eq!(p.part(newest).unwrap().uri, "t-9.0.m4s");
        let last_of_8 = PartId { msn: 8, index: 1 };
        assert_eq!(p.part_after(last_of_8), PartId { msn: 9, index: 0 });
        assert_eq!(
            p.part_after(PartId { msn: 9, index: 1 }),
            PartId { msn: 9, index: 2 }
        );
        assert_eq!(p.part(PartId { msn: 9, index: 2 }), None);
        assert_eq!(p.part(PartId { msn: 7, index: 0 }), None);
    }

    #[test]
    fn parses_classic_skipped_and_multivariant_playlists() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:4\n#EXTINF:2.5,\na-4.ts\n#EXTINF:2.0,\na-5.ts\n#EXT-X-ENDLIST\n";
        let Some(Playlist::Media(p)) = parse_playlist(text) else {
            panic!("not a media playlist");
        };
        assert!(p.ended && !p.is_low_latency());
        let listed: Vec<_> = p.segments.iter().map(|s| (s.msn, s.duration_ms)).collect();
        assert_eq!(listed, [(4, 2500), (5, 2000)]);
        let delta = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n#EXTINF:2.0,\nx-13.m4s\n";
        let Some(Playlist::Media(p)) = parse_playlist(delta) else {
            panic!("not a media playlist");
        };
        assert_eq!(p.segments[0].msn, 13);
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001e,mp4a.40.2\"\ncam/index.m3u8\n";
        assert_eq!(
            parse_playlist(master),
            Some(Playlist::Multivariant("cam/index.m3u8".into()))
        );
        assert_eq!(parse_playlist("<html>"), None);
        assert_eq!(parse_playlist("#EXTM3U\n#EXTINF:x,\na.ts\n"), None);
    }

    #[test]
    fn resolves_uris() {
        assert_eq!(
            resolve("/live/cam.m3u8?k=1", "cam/t-1.ts"),
            "/live/cam/t-1.ts"
        );
        assert_eq!(
            resolve("/live/cam/index.m3u8", "t-1.m4s"),
            "/live/cam/t-1.m4s"
        );
        assert_eq!(resolve("/live/cam.m3u8", "/x/a.ts"), "/x/a.ts");
        assert_eq!(resolve("/a.m3u8", "http://h:1/s/a.ts"), "/s/a.ts");
        assert_eq!(
            with_query("/a/index.m3u8", "_HLS_msn=1"),
            "/a/index.m3u8?_HLS_msn=1"
        );
        assert_eq!(with_query("/a.m3u8?k=1", "x=2"), "/a.m3u8?k=1&x=2");
    }

    fn stamps(pieces: &[&[u8]]) -> Vec<u64> {
        let mut s = StampScanner::new();
        let mut found = Vec::new();
        for p in pieces {
            s.feed(p, &mut |t| found.push(t));
        }
        found
    }

    #[test]
    fn finds_stamps_in_raw_media_across_any_split() {
        let mut media = vec![0u8, 0, 0, 1];
        media.extend_from_slice(&sei_nal(1_700_000_000_123));
        media.extend_from_slice(&[0x41; 50]);
        media.extend_from_slice(&sei_nal(1_700_000_000_456));
        for cut in 1..media.len() {
            let pieces: Vec<&[u8]> = media.chunks(cut).collect();
            assert_eq!(
                stamps(&pieces),
                [1_700_000_000_123, 1_700_000_000_456],
                "cut {cut}"
            );
        }
    }

    /// A TS packet: `pid`, payload-unit-start, an adaptation field of `stuff` bytes.
    fn ts_packet(pid: u16, start: bool, payload: &[u8]) -> Vec<u8> {
        let stuff = 184 - payload.len();
        let mut p = vec![
            0x47,
            (pid >> 8) as u8 | if start { 0x40 } else { 0 },
            pid as u8,
        ];
        if stuff == 0 {
            p.push(0x10);
        } else {
            p.push(0x30);
            p.push((stuff - 1) as u8);
            p.extend(std::iter::repeat_n(0xff, stuff - 1));
        }
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn finds_stamps_split_over_ts_packets() {
        // PAT: program 1 on PMT PID 0x1000; PMT: AAC on 0x101, H.264 on 0x100.
        let pat = [
            0, 0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x00, 1, 2, 3, 4,
        ];
        let pmt = [
            0, 0x02, 0xb0, 23, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0,
            0x00, 0x1b, 0xe1, 0x00, 0xf0, 0x00, 1, 2, 3, 4,
        ];
        let mut es = vec![0u8; 170];
        es.extend_from_slice(&[0, 0, 0, 1]);
        es.extend_from_slice(&sei_nal(1_700_000_000_789));
        let mut ts = ts_packet(0, true, &pat);
        ts.extend(ts_packet(0x1000, true, &pmt));
        ts.extend(ts_packet(0x100, true, &es[..180]));
        // Audio between the two halves of the stamp.
        ts.extend(ts_packet(0x101, true, &[0x06; 100]));
        ts.extend(ts_packet(0x100, false, &es[180..]));
        for cut in [1, 7, 188, 200, ts.len()] {
            let pieces: Vec<&[u8]> = ts.chunks(cut).collect();
            assert_eq!(stamps(&pieces), [1_700_000_000_789], "cut {cut}");
        }
    }
}
