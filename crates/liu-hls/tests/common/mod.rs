//! What the FFmpeg oracle tests share: the FFmpeg 9 binary (`LIU_FFMPEG`), bounded runs of it,
//! a scratch directory, the test clip read into samples, and checks on decoded frames.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use liu_codec::VideoCodecConfig;
use liu_codec::aac::AudioSpecificConfig;
use liu_codec::{AudioSample, VideoSample};
use liu_flv::flv::{FlvReader, TagType};
use liu_flv::samples::{AudioInput, VideoInput, audio_input, video_input};

/// Decoded frames of one stream: `(pts, md5)` in output order.
pub type Frames = Vec<(i64, String)>;

/// Longest any FFmpeg run may take before it is killed.
pub const FFMPEG_TIMEOUT: Duration = Duration::from_secs(60);
/// Frames in the test clip: 3 s at 25 fps.
pub const VIDEO_FRAMES: usize = 75;

pub fn ffmpeg() -> PathBuf {
    match std::env::var_os("LIU_FFMPEG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "LIU_FFMPEG is not set: it must name the FFmpeg 9 binary \
             (scripts/test.sh exports it; here: \
             .deps/python/imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2)"
        ),
    }
}

/// Runs FFmpeg with `args`; returns (success, stdout, stderr). Killed after [`FFMPEG_TIMEOUT`].
pub fn run_ffmpeg(args: &[&str]) -> (bool, String, String) {
    let mut child = match Command::new(ffmpeg())
        .args(["-hide_banner", "-nostdin"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot start {}: {e}", ffmpeg().display()),
    };
    let drain = |r: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + FFMPEG_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ffmpeg {args:?} did not finish within {FFMPEG_TIMEOUT:?}; killed");
            }
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    (status.success(), out, err)
}

/// A fresh directory for one test's files, named `liu-hls-{label}-PID`.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("liu-hls-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("create {}: {e}", dir.display());
    }
    dir
}

pub fn hashes(frames: &[(i64, String)]) -> Vec<&str> {
    frames.iter().map(|f| f.1.as_str()).collect()
}

pub fn assert_monotonic(frames: &[(i64, String)], what: &str) {
    for w in frames.windows(2) {
        assert!(
            w[0].0 < w[1].0,
            "{what}: pts not increasing: {} then {}",
            w[0].0,
            w[1].0
        );
    }
}

pub enum Sample {
    Video(VideoSample),
    Audio(AudioSample),
}

/// The FLV clip as codec configurations and samples in tag order.
pub struct Clip {
    pub video: VideoCodecConfig,
    pub audio: AudioSpecificConfig,
    pub samples: Vec<Sample>,
}

/// Reads an H.264 + AAC FLV file's bytes into a [`Clip`].
pub fn read_flv(data: &[u8]) -> Clip {
    let mut reader = FlvReader::new(16 << 20);
    reader.push(data);
    let (mut video, mut audio, mut samples) = (None, None, Vec::new());
    loop {
        let tag = match reader.next_tag() {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(e) => panic!("FLV: {e}"),
        };
        let ms = u64::from(tag.timestamp);
        match tag.tag_type {
            TagType::Video => match video_input(ms, &tag.body).unwrap_or_else(|e| panic!("{e}")) {
                Some(VideoInput::Config(c)) => video = Some(c),
                Some(VideoInput::Frame(f)) => samples.push(Sample::Video(f)),
                // The end-of-sequence tag FFmpeg writes last.
                None => {}
            },
            TagType::Audio => match audio_input(ms, &tag.body).unwrap_or_else(|e| panic!("{e}")) {
                Some(AudioInput::Config(liu_codec::AudioCodecConfig::Aac(c))) => audio = Some(c),
                Some(AudioInput::Config(other)) => panic!("not AAC: {other:?}"),
                Some(AudioInput::Frame(f)) => samples.push(Sample::Audio(f)),
                None => {}
            },
            TagType::Script => {}
        }
    }
    Clip {
        video: video.unwrap_or_else(|| panic!("no video sequence header in the FLV")),
        audio: audio.unwrap_or_else(|| panic!("no AAC sequence header in the FLV")),
        samples,
    }
}

/// Encodes the test clip (3 s of 320x240 H.264 with B-frames, a keyframe every 25 frames, and
/// AAC) into `dir/clip.flv` with FFmpeg; returns its path and the clip read back.
pub fn make_clip(dir: &Path) -> (PathBuf, Clip) {
    let flv = dir.join("clip.flv");
    let flv_path = flv.to_string_lossy().into_owned();
    let mut args: Vec<&str> = "-v error -f lavfi -i testsrc2=size=320x240:rate=25 \
        -f lavfi -i sine=frequency=440:sample_rate=44100 -t 3 \
        -c:v libx264 -bf 2 -g 25 -c:a aac -f flv"
        .split_whitespace()
        .collect();
    args.push(&flv_path);
    let (ok, _, err) = run_ffmpeg(&args);
    assert!(
        ok && err.trim().is_empty(),
        "generating the FLV failed: {err}"
    );
    let data = std::fs::read(&flv).unwrap_or_else(|e| panic!("read {flv_path}: {e}"));
    let clip = read_flv(&data);
    assert!(
        clip.samples
            .iter()
            .any(|s| matches!(s, Sample::Video(v) if v.cts_offset > 0)),
        "the clip should have B-frames (composition offsets)"
    );
    (flv, clip)
}

/// Runs FFmpeg on the first video and audio streams of `file` with the input options `input`
/// and the output options `output` (a muxer writing to stdout); returns the fields of each
/// output line, comments left out. Asserts that FFmpeg succeeds without a single error or
/// warning line.
pub fn ffmpeg_lines(file: &Path, input: &str, output: &str) -> Vec<Vec<String>> {
    let path = file.to_string_lossy();
    let mut args = vec!["-v", "warning"];
    args.extend(input.split_whitespace());
    args.extend(["-i", &path, "-map", "0:v:0", "-map", "0:a:0"]);
    args.extend(output.split_whitespace());
    args.push("-");
    let (ok, out, err) = run_ffmpeg(&args);
    assert!(ok, "ffmpeg failed on {path}: {err}");
    assert!(
        err.trim().is_empty(),
        "ffmpeg reported errors on {path}:\n{err}"
    );
    out.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(',').map(|f| f.trim().to_string()).collect())
        .collect()
}

pub fn num(field: &str) -> i64 {
    field.parse().unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// Decodes `file` (input options `input`) into framemd5 lines: (video, audio).
pub fn decode(file: &Path, input: &str) -> (Frames, Frames) {
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for f in ffmpeg_lines(file, input, "-fps_mode passthrough -f framemd5") {
        assert_eq!(f.len(), 6, "framemd5 line: {f:?}");
        let frame = (num(&f[2]), f[5].clone());
        match f[0].as_str() {
            "0" => video.push(frame),
            "1" => audio.push(frame),
            other => panic!("unexpected stream {other}"),
        }
    }
    (video, audio)
}
