//! HLS for the interop tests: plain HTTP requests (a fresh connection each), playlists read
//! with `m3u8-rs`, TS segments read with `mpeg2ts` (both independent of Liu), and a watcher
//! that follows a live playlist like a player, fetching every segment it lists.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};

use super::{Clip, Decoded};

/// A whole HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD path` on a new connection with `extra` headers and `Connection: close`; the whole
/// answer, read within `limit`.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    limit: Duration,
) -> Result<Reply, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + limit;
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(format!("{method} {path}: no whole answer within {limit:?}"));
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{method} {path}: {e}")),
        }
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: no response head"))?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line in {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = raw[end + 4..].to_vec();
    let reply = Reply {
        status,
        headers,
        body,
    };
    if method != "HEAD"
        && let Some(len) = reply.header("content-length")
        && len.parse::<usize>().ok() != Some(reply.body.len())
    {
        return Err(format!(
            "{method} {path}: Content-Length {len}, body {} bytes",
            reply.body.len()
        ));
    }
    Ok(reply)
}

pub fn http_get(addr: &str, path: &str) -> Result<Reply, String> {
    http_request(addr, "GET", path, &[], Duration::from_secs(15))
}

/// Polls `path` until it answers 200 (a new HLS session answers its first playlist once a
/// segment exists); panics after `limit`.
pub fn wait_for_playlist(addr: &str, path: &str, limit: Duration) -> Reply {
    let deadline = Instant::now() + limit;
    loop {
        match http_get(addr, path) {
            Ok(r) if r.status == 200 => return r,
            other if Instant::now() >= deadline => {
                panic!("{path}: no playlist within {limit:?}: {other:?}")
            }
            _ => thread::sleep(Duration::from_millis(200)),
        }
    }
}

pub fn parse_media_playlist(text: &[u8]) -> Result<m3u8_rs::MediaPlaylist, String> {
    match m3u8_rs::parse_playlist_res(text) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(m)) => Ok(m),
        Ok(other) => Err(format!("not a media playlist: {other:?}")),
        Err(e) => Err(format!(
            "unparsable playlist ({e:?}):\n{}",
            String::from_utf8_lossy(text)
        )),
    }
}

/// What a TS segment holds, as `mpeg2ts` reads it.
#[derive(Debug, Clone, Default)]
pub struct TsSegmentInfo {
    /// The first packet is the PAT and the second the PMT it names.
    pub starts_with_pat_pmt: bool,
    /// The PMT's stream types, e.g. [0x1b, 0x0f].
    pub stream_types: Vec<u8>,
    /// DTS (or PTS) of the first video PES, 90 kHz.
    pub first_video_dts: Option<u64>,
    /// The first video access unit holds an IDR slice (NAL type 5).
    pub first_video_is_idr: bool,
    pub first_audio_pts: Option<u64>,
    pub video_pes: usize,
    pub audio_pes: usize,
}

pub fn ts_segment_info(data: &[u8]) -> Result<TsSegmentInfo, String> {
    if data.is_empty() || !data.len().is_multiple_of(188) {
        return Err(format!("{} bytes: not whole TS packets", data.len()));
    }
    let mut info = TsSegmentInfo::default();
    let mut reader = TsPacketReader::new(data);
    let first = reader.read_ts_packet().map_err(|e| e.to_string())?;
    let second = reader.read_ts_packet().map_err(|e| e.to_string())?;
    if let (Some(a), Some(b)) = (first, second)
        && let (Some(TsPayload::Pat(pat)), Some(TsPayload::Pmt(pmt))) = (a.payload, b.payload)
    {
        info.starts_with_pat_pmt =
            pat.table.first().map(|p| p.program_map_pid.as_u16()) == Some(b.header.pid.as_u16());
        info.stream_types = pmt.es_info.iter().map(|e| e.stream_type as u8).collect();
    }
    let mut reader = PesPacketReader::new(TsPacketReader::new(data));
    loop {
        match reader.read_pes_packet() {
            Ok(Some(p)) if p.header.stream_id.is_video() => {
                if info.video_pes == 0 {
                    let pts = p.header.pts.map(|t| t.as_u64());
                    info.first_video_dts = p.header.dts.map(|t| t.as_u64()).or(pts);
                    info.first_video_is_idr = annex_b_nal_types(&p.data).contains(&5);
                }
                info.video_pes += 1;
            }
            Ok(Some(p)) => {
                if info.audio_pes == 0 {
                    info.first_audio_pts = p.header.pts.map(|t| t.as_u64());
                }
                info.audio_pes += 1;
            }
            Ok(None) => break,
            Err(e) => return Err(format!("mpeg2ts: {e}")),
        }
    }
    Ok(info)
}

/// NAL unit types of an Annex B byte stream.
fn annex_b_nal_types(data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            types.push(data[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

/// One segment as the watcher fetched it.
#[derive(Debug, Clone)]
pub struct WatchedSegment {
    pub uri: String,
    pub duration: f32,
    pub discontinuity: bool,
    pub reply: Reply,
}

/// What following a live playlist saw.
#[derive(Debug, Default)]
pub struct Watched {
    /// Every distinct playlist text, in order.
    pub playlists: Vec<String>,
    /// Every segment listed, by media sequence number.
    pub segments: BTreeMap<u64, WatchedSegment>,
    /// Problems met (bad answers, inconsistent playlists).
    pub errors: Vec<String>,
    pub ended: bool,
}

impl Watched {
    /// The segments' bodies, in sequence order.
    pub fn concatenated(&self) -> Vec<u8> {
        self.segments
            .values()
            .flat_map(|s| s.reply.body.iter().copied())
            .collect()
    }
}

/// Follows `playlist_path` (reloading every `every`) until it ends or `limit` passes,
/// fetching each newly listed segment once and checking the playlist rules a player relies on.
pub fn watch_playlist(
    addr: &str,
    playlist_path: &str,
    every: Duration,
    limit: Duration,
) -> JoinHandle<Watched> {
    let addr = addr.to_string();
    let playlist_path = playlist_path.to_string();
    thread::spawn(move || {
        let mut w = Watched::default();
        let base = &playlist_path[..playlist_path.rfind('/').map_or(0, |i| i + 1)];
        let deadline = Instant::now() + limit;
        let mut last_sequence: Option<u64> = None;
        while Instant::now() < deadline && !w.ended {
            let reply = match http_get(&addr, &playlist_path) {
                Ok(r) if r.status == 200 => r,
                other => {
                    w.errors.push(format!("playlist: {other:?}"));
                    thread::sleep(every);
                    continue;
                }
            };
            if reply.header("content-type") != Some("application/vnd.apple.mpegurl") {
                w.errors.push(format!(
                    "playlist content type {:?}",
                    reply.header("content-type")
                ));
            }
            let text = String::from_utf8_lossy(&reply.body).to_string();
            let p = match parse_media_playlist(&reply.body) {
                Ok(p) => p,
                Err(e) => {
                    w.errors.push(e);
                    break;
                }
            };
            if w.playlists.last() != Some(&text) {
                w.playlists.push(text.clone());
            }
            if let Some(prev) = last_sequence
                && p.media_sequence < prev
            {
                w.errors.push(format!(
                    "media sequence went back from {prev} to {}",
                    p.media_sequence
                ));
            }
            last_sequence = Some(p.media_sequence);
            for (i, s) in p.segments.iter().enumerate() {
                let seq = p.media_sequence + i as u64;
                if (s.duration.round() as u64) > p.target_duration {
                    w.errors.push(format!(
                        "segment {seq} lasts {} s, above EXT-X-TARGETDURATION {}:\n{text}",
                        s.duration, p.target_duration
                    ));
                }
                if s.program_date_time.is_none() {
                    w.errors
                        .push(format!("segment {seq} has no EXT-X-PROGRAM-DATE-TIME"));
                }
                if let Some(known) = w.segments.get(&seq) {
                    if known.uri != s.uri {
                        w.errors.push(format!(
                            "sequence {seq} was {} and is now {}",
                            known.uri, s.uri
                        ));
                    }
                    continue;
                }
                let path = format!("{base}{}", s.uri);
                match http_get(&addr, &path) {
                    Ok(r) if r.status == 200 => {
                        w.segments.insert(
                            seq,
                            WatchedSegment {
                                uri: s.uri.clone(),
                                duration: s.duration,
                                discontinuity: s.discontinuity,
                                reply: r,
                            },
                        );
                    }
                    other => w.errors.push(format!("segment {path}: {other:?}")),
                }
            }
            w.ended = p.end_list;
            if !w.ended {
                thread::sleep(every);
            }
        }
        w
    })
}

/// What an fMP4 media segment (or part) holds, read box by box (ISO/IEC 14496-12 §8.8).
#[derive(Debug, Clone, Default)]
pub struct Fmp4SegmentInfo {
    pub fragments: usize,
    /// `tfdt` of the first video run, 90 kHz.
    pub first_video_tfdt: Option<u64>,
    /// The first video sample's flags say sync (`sample_is_non_sync_sample` 0).
    pub first_video_sync: bool,
    pub video_samples: usize,
    pub audio_samples: usize,
}

/// A box: its type and body.
type BmffBox<'a> = ([u8; 4], &'a [u8]);

fn boxes(mut data: &[u8]) -> Result<Vec<BmffBox<'_>>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 8 {
            return Err(format!("{} stray bytes", data.len()));
        }
        let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        if size < 8 || size > data.len() {
            return Err(format!("box size {size} of {} bytes left", data.len()));
        }
        out.push((data[4..8].try_into().unwrap(), &data[8..size]));
        data = &data[size..];
    }
    Ok(out)
}

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes(s.try_into().unwrap()))
        .ok_or_else(|| "truncated box".to_string())
}

pub fn fmp4_segment_info(data: &[u8], video_track: u32) -> Result<Fmp4SegmentInfo, String> {
    let mut info = Fmp4SegmentInfo::default();
    let top = boxes(data)?;
    if top.first().map(|b| &b.0) != Some(b"moof") {
        return Err("does not start with moof".into());
    }
    for (kind, body) in top {
        if &kind != b"moof" {
            continue;
        }
        info.fragments += 1;
        for (kind, traf) in boxes(body)? {
            if &kind != b"traf" {
                continue;
            }
            let (mut track, mut tfdt, mut count, mut first_flags) = (0, None, 0, None);
            for (kind, b) in boxes(traf)? {
                match &kind {
                    b"tfhd" => track = be32(b, 4)?,
                    b"tfdt" => {
                        tfdt = Some(if b[0] == 1 {
                            u64::from(be32(b, 4)?) << 32 | u64::from(be32(b, 8)?)
                        } else {
                            u64::from(be32(b, 4)?)
                        })
                    }
                    b"trun" => {
                        let flags = be32(b, 0)? & 0xff_ffff;
                        count = be32(b, 4)? as usize;
                        let mut at = 8;
                        if flags & 0x1 != 0 {
                            at += 4;
                        }
                        if flags & 0x4 != 0 {
                            first_flags = Some(be32(b, at)?);
                            at += 4;
                        }
                        if first_flags.is_none() && flags & 0x400 != 0 {
                            at += if flags & 0x100 != 0 { 4 } else { 0 };
                            at += if flags & 0x200 != 0 { 4 } else { 0 };
                            first_flags = Some(be32(b, at)?);
                        }
                    }
                    _ => {}
                }
            }
            if track == video_track {
                if info.first_video_tfdt.is_none() {
                    info.first_video_tfdt = tfdt;
                    info.first_video_sync = first_flags.is_some_and(|f| f & 0x0001_0000 == 0);
                }
                info.video_samples += count;
            } else {
                info.audio_samples += count;
            }
        }
    }
    Ok(info)
}

/// Seconds of a framemd5 time base like "1/25".
pub fn tb_seconds(tb: &Option<String>) -> f64 {
    let tb = tb.as_deref().unwrap_or("1/1");
    let (n, d) = tb.split_once('/').unwrap_or((tb, "1"));
    n.parse::<f64>().unwrap_or(1.0) / d.parse::<f64>().unwrap_or(1.0)
}

/// Start of video minus start of audio, in ms, as the decoder saw them.
pub fn av_start_gap_ms(d: &Decoded) -> Option<f64> {
    let v = d.video.first()?.pts as f64 * tb_seconds(&d.video_tb);
    let a = d.audio.first()?.pts as f64 * tb_seconds(&d.audio_tb);
    Some((v - a) * 1000.0)
}

/// The whole clip decoded: H.264 640x360 + AAC, no damage, >= 95 % of the pictures bit-exact
/// and of the audio frames, timestamps rising, audio and video starting within 100 ms.
pub fn assert_plays_clip(d: &Decoded, clip: &Clip) {
    d.assert_plays(clip);
    let gap = av_start_gap_ms(d).expect("both audio and video");
    assert!(
        gap.abs() <= 100.0,
        "audio and video start {gap:.0} ms apart: {}",
        d.summary()
    );
}
