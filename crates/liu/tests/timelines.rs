//! Each viewer's timeline starts at zero (`[stream] timestamps = "zero"`, the default, as SRS
//! does): a viewer joining a stream late gets `onMetaData` and both sequence headers at 0 and
//! its first keyframe at 0, over RTMP (FFmpeg 9 and 5.1, rtmpdump), HTTP-FLV and
//! WebSocket-FLV. rtmpdump's recording then announces both tracks in its FLV header (librtmp
//! decides the flags from media at timestamp 0). `timestamps = "source"` keeps the stream's
//! own timeline for every viewer; rtmpdump's recording still announces both tracks there,
//! because the corrected `onMetaData` is an AMF0 object (librtmp does not look into ECMA
//! arrays, what FFmpeg publishes).
mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How far into the stream the late viewers join (ms of the stream's timeline).
const JOIN_MS: u32 = 6_000;
/// The first keyframe of a late viewer on its own timeline: at 0 (its GOP-cache keyframe),
/// allowing 100 ms for an audio frame the encoder put just before it. On the source timeline
/// it would be >= 4 s (the clip's 2 s GOPs), an order of magnitude away.
const FIRST_KEYFRAME_MAX_MS: u32 = 100;

/// What a viewer's FLV says about its timeline.
fn timeline(label: &str, flv: &FlvParser) -> (u32, Vec<String>) {
    let mut problems = Vec::new();
    let meta = flv.tags.iter().find(|t| t.kind == 18);
    if meta.map(|t| t.timestamp) != Some(0) {
        problems.push(format!(
            "{label}: onMetaData at {:?}, not 0",
            meta.map(|t| t.timestamp)
        ));
    }
    for t in flv.tags.iter().filter(|t| t.seq_header) {
        if t.timestamp != 0 {
            problems.push(format!(
                "{label}: a sequence header (kind {}) at {}",
                t.kind, t.timestamp
            ));
        }
    }
    let first = flv.pictures().next();
    if !first.is_some_and(|t| t.keyframe) {
        problems.push(format!("{label}: the first picture is not a keyframe"));
    }
    if let Some((kind, from, to)) = flv.first_step_back() {
        problems.push(format!(
            "{label}: kind {kind} goes back from {from} to {to}"
        ));
    }
    (first.map_or(u32::MAX, |t| t.timestamp), problems)
}

/// FLV written by `cmd` (an RTMP client) into `file` within `limit`, parsed.
fn recorded(mut cmd: Command, file: &Path, limit: Duration) -> FlvParser {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn recorder");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut flv = FlvParser::default();
    let data = std::fs::read(file).unwrap_or_default();
    // A recording cut off mid-tag parses up to the cut.
    let _ = flv.push(&data);
    flv
}

/// Waits until an HTTP-FLV viewer from the start has seen `ms` of the stream.
fn wait_until_stream_time(viewer: &mut RawHttp, ms: u32) {
    let mut flv = FlvParser::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while flv.tags.last().is_none_or(|t| t.timestamp < ms) {
        assert!(
            Instant::now() < deadline,
            "the stream did not reach {ms} ms"
        );
        viewer.read_body(
            &mut flv,
            Duration::from_millis(200),
            Duration::from_millis(200),
        );
    }
}

fn ffmpeg_recorder(ffmpeg: &Path, url: &str, file: &Path) -> Command {
    let mut cmd = Command::new(ffmpeg);
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-rtmp_live",
        "live",
        "-i",
        url,
    ])
    .args(["-t", "2", "-c", "copy", "-copyts", "-f", "flv", "-y"])
    .arg(file);
    cmd
}

#[test]
fn late_viewers_start_at_zero_on_every_flv_protocol() {
    let _serial = serial();
    let _wd = watchdog("timelines", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard().seconds(20));
    let dir = temp_dir("timelines");
    let server = LiuServer::start("");
    let name = stream_name("zero");
    let url = server.rtmp_url(&name);
    let http = server.http_addr().to_string();
    let path = format!("/live/{name}.flv");
    let mut early = RawHttp::send_get(&http, &path);
    let mut publisher = Publisher::spawn(&url, &clip, &[]);
    early
        .read_head(Duration::from_secs(10))
        .expect("early viewer's head");
    wait_until_stream_time(&mut early, JOIN_MS);

    // The late viewers, all at once.
    let rtmpdump_file = dir.join("rtmpdump.flv");
    let mut rtmpdump = Command::new(rtmpdump());
    rtmpdump
        .args(["-r", &url, "--live", "-o"])
        .arg(&rtmpdump_file);
    let files = [dir.join("ffmpeg9.flv"), dir.join("ffmpeg5.flv")];
    let recorders = [
        ("rtmpdump", rtmpdump, rtmpdump_file.clone()),
        (
            "FFmpeg 9 (RTMP)",
            ffmpeg_recorder(&ffmpeg9(), &url, &files[0]),
            files[0].clone(),
        ),
        (
            "FFmpeg 5.1 (RTMP)",
            ffmpeg_recorder(&ffmpeg5(), &url, &files[1]),
            files[1].clone(),
        ),
    ];
    let threads: Vec<_> = recorders
        .into_iter()
        .map(|(label, cmd, file)| {
            std::thread::spawn(move || (label, recorded(cmd, &file, Duration::from_secs(4))))
        })
        .collect();
    let mut late_http = RawHttp::send_get(&http, &path);
    let (head, mut ws) = RawWs::handshake(&http, &path, WS_HANDSHAKE);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    late_http
        .read_head(Duration::from_secs(10))
        .expect("late HTTP-FLV head");
    let mut http_flv = FlvParser::default();
    late_http.read_body(
        &mut http_flv,
        Duration::from_secs(3),
        Duration::from_secs(3),
    );
    let mut ws_flv = FlvParser::default();
    ws.read_flv(&mut ws_flv, Duration::from_secs(1));

    let mut problems = Vec::new();
    let mut results: Vec<(&str, FlvParser)> =
        vec![("HTTP-FLV", http_flv), ("WebSocket-FLV", ws_flv)];
    results.extend(threads.into_iter().map(|t| t.join().unwrap()));
    for (label, flv) in &results {
        let (first_keyframe, mut p) = timeline(label, flv);
        eprintln!(
            "{label}: {} tags, header flags {:?}, first keyframe at {first_keyframe} ms",
            flv.tags.len(),
            flv.header_flags
        );
        if first_keyframe > FIRST_KEYFRAME_MAX_MS {
            p.push(format!("{label}: first keyframe at {first_keyframe} ms, not within {FIRST_KEYFRAME_MAX_MS} ms of 0"));
        }
        problems.extend(p);
    }
    let (_, dump) = results.iter().find(|(l, _)| *l == "rtmpdump").unwrap();
    if dump.header_flags != Some(0x05) {
        problems.push(format!(
            "rtmpdump's FLV header flags {:?}, not 0x05 (audio + video)",
            dump.header_flags
        ));
    }
    assert!(
        publisher.is_running(),
        "the publisher ended early: {}",
        publisher.stderr()
    );
    assert!(
        problems.is_empty(),
        "late viewers' timelines:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn source_timestamps_keep_the_streams_timeline() {
    let _serial = serial();
    let _wd = watchdog("timelines_source", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("[app.src]\ntimestamps = \"source\"\n");
    let name = stream_name("source");
    let url = server.rtmp_url(&name).replace("/live/", "/src/");
    let http = server.http_addr().to_string();
    let path = format!("/src/{name}.flv");
    let mut early = RawHttp::send_get(&http, &path);
    let _publisher = Publisher::spawn(&url, &clip, &[]);
    early
        .read_head(Duration::from_secs(10))
        .expect("early viewer's head");
    wait_until_stream_time(&mut early, JOIN_MS);
    let dump_file = temp_dir("timelines_source").join("rtmpdump.flv");
    let mut rtmpdump = Command::new(rtmpdump());
    rtmpdump.args(["-r", &url, "--live", "-o"]).arg(&dump_file);
    let dump = std::thread::spawn(move || recorded(rtmpdump, &dump_file, Duration::from_secs(4)));
    let mut late = RawHttp::send_get(&http, &path);
    late.read_head(Duration::from_secs(10)).expect("late head");
    let mut flv = FlvParser::default();
    late.read_body(&mut flv, Duration::from_secs(2), Duration::from_secs(2));
    let first = flv.pictures().next().expect("pictures");
    assert!(first.keyframe);
    // The GOP-cache keyframe of a viewer joining 6 s in is at least 4 s into the stream (2 s GOPs).
    assert!(
        first.timestamp >= JOIN_MS - 2_000,
        "first keyframe at {} ms: not the stream's own timeline",
        first.timestamp
    );
    let dump = dump.join().unwrap();
    let (first_keyframe, _) = timeline("rtmpdump (source)", &dump);
    assert!(
        first_keyframe >= JOIN_MS - 2_000 && first_keyframe != u32::MAX,
        "rtmpdump's first keyframe at {first_keyframe} ms: not the stream's own timeline"
    );
    assert_eq!(
        dump.header_flags,
        Some(0x05),
        "rtmpdump's FLV header on the source timeline: not audio + video"
    );
}
