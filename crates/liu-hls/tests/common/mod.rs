//! What the FFmpeg oracle tests share: the FFmpeg 9 binary (`LIU_FFMPEG`), bounded runs of it,
//! a scratch directory, and checks on decoded frames.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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
