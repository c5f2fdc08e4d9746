//! Shared harness of the interop tests: the Liu server as a child process, real clients
//! (FFmpeg 9, FFmpeg 5.1, rtmpdump) with wall-clock bounds, generated test clips, small raw
//! RTMP / HTTP-FLV clients for the bad-input, slow-viewer and session tests (the RTMP one reads
//! whole messages: connect, createStream, play, closeStream, onStatus), and the kernel's TCP
//! socket table (to see which connections the server still holds).
//!
//! Tool paths come from LIU_FFMPEG, LIU_FFMPEG5 and LIU_RTMPDUMP, which `scripts/test.sh` exports.
//! Every child process is killed when its owner is dropped, and a test's [`watchdog`] kills all of
//! them and exits if the test overruns its bound: no test can hang.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Tools, temp dirs, child bookkeeping
// ---------------------------------------------------------------------------------------------

fn tool(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("{var} not set: run scripts/test.sh"),
    }
}

/// FFmpeg 9 (static build from the imageio-ffmpeg wheel).
pub fn ffmpeg9() -> PathBuf {
    tool("LIU_FFMPEG")
}
/// Debian's FFmpeg 5.1.
pub fn ffmpeg5() -> PathBuf {
    tool("LIU_FFMPEG5")
}
/// Debian's rtmpdump 2.4 (librtmp).
pub fn rtmpdump() -> PathBuf {
    tool("LIU_RTMPDUMP")
}

/// A fresh directory under the cargo target tmp dir, unique to this process and call.
pub fn temp_dir(prefix: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("liu-tests")
        .join(format!("{prefix}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create test temp dir");
    dir
}

/// A unique stream name (tests in one process run in parallel threads).
pub fn stream_name(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Serializes the heavy media tests of one test binary (cargo runs binaries one after another).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn children() -> &'static Mutex<HashSet<u32>> {
    static C: OnceLock<Mutex<HashSet<u32>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashSet::new()))
}
fn register_child(pid: u32) {
    children()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pid);
}
fn unregister_child(pid: u32) {
    children()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pid);
}

/// Sends a signal by name ("TERM", "INT", "KILL") to a process.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops a child: `first_signal` (if any) for up to `grace`, then SIGKILL. Always reaps it.
fn stop_child(
    child: &mut Child,
    first_signal: Option<&str>,
    grace: Duration,
) -> Option<ExitStatus> {
    if let Ok(Some(st)) = child.try_wait() {
        unregister_child(child.id());
        return Some(st);
    }
    if let Some(sig) = first_signal {
        // Repeated every 500 ms: FFmpeg 9 blocked on an idle RTMP input sometimes ignores the
        // first SIGTERM and exits cleanly on the second.
        let deadline = Instant::now() + grace;
        let mut next_signal = Instant::now();
        while Instant::now() < deadline {
            if Instant::now() >= next_signal {
                signal(child.id(), sig);
                next_signal += Duration::from_millis(500);
            }
            if let Ok(Some(st)) = child.try_wait() {
                unregister_child(child.id());
                return Some(st);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let st = child.wait().ok();
    unregister_child(child.id());
    st
}

/// Waits for a child to exit by itself, at most `limit`.
fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Hard wall-clock bound of a test: if it is still running after `limit`, every child process
/// this test binary started is killed and the process exits with an error. Disarmed on drop.
pub struct Watchdog(Arc<AtomicBool>);

pub fn watchdog(test: &str, limit: Duration) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let test = test.to_string();
    thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "\n*** {test}: exceeded its wall-clock bound of {limit:?}; killing its children ***"
        );
        for pid in children().lock().unwrap_or_else(|e| e.into_inner()).iter() {
            signal(*pid, "KILL");
        }
        std::process::exit(101);
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Reads `r` on a thread and calls `f` for every line (split at `\n` or `\r`, so progress lines
/// that end in `\r` arrive as they are printed).
fn spawn_line_reader<R, F>(r: R, mut f: F) -> JoinHandle<()>
where
    R: Read + Send + 'static,
    F: FnMut(String) + Send + 'static,
{
    thread::spawn(move || {
        let mut r = r;
        let mut buf = [0u8; 16384];
        let mut line = Vec::new();
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        if b == b'\n' || b == b'\r' {
                            if !line.is_empty() {
                                f(String::from_utf8_lossy(&line).into_owned());
                                line.clear();
                            }
                        } else {
                            line.push(b);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if !line.is_empty() {
            f(String::from_utf8_lossy(&line).into_owned());
        }
    })
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// `liu serve` on ephemeral ports. Its stdout and stderr go to `dir/server.log`; on a failing
/// test (drop while panicking) the tail of that log is printed.
pub struct LiuServer {
    child: Child,
    dir: PathBuf,
    log_path: PathBuf,
    rtmp_addr: String,
    http_addr: String,
    readers: Vec<JoinHandle<()>>,
}

impl LiuServer {
    pub fn start(config_toml: &str) -> LiuServer {
        let dir = temp_dir("server");
        let config = dir.join("liu.toml");
        fs::write(&config, config_toml).expect("write config");
        let log_path = dir.join("server.log");
        let log = Arc::new(Mutex::new(
            File::create(&log_path).expect("create server log"),
        ));

        let mut child = Command::new(env!("CARGO_BIN_EXE_liu"))
            .args([
                "serve",
                "--rtmp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&config)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,liu=debug".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn liu (CARGO_BIN_EXE_liu)");
        register_child(child.id());

        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let log1 = log.clone();
        let out = spawn_line_reader(child.stdout.take().unwrap(), move |l| {
            let _ = writeln!(log1.lock().unwrap(), "{l}");
            let _ = tx.send(l);
        });
        let log2 = log.clone();
        let err = spawn_line_reader(child.stderr.take().unwrap(), move |l| {
            let _ = writeln!(log2.lock().unwrap(), "{l}");
        });

        let mut server = LiuServer {
            child,
            dir,
            log_path,
            rtmp_addr: String::new(),
            http_addr: String::new(),
            readers: vec![out, err],
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while server.rtmp_addr.is_empty() || server.http_addr.is_empty() {
            if let Ok(Some(st)) = server.child.try_wait() {
                panic!(
                    "liu exited during startup ({st}); log:\n{}",
                    server.log_tail(40)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "liu printed no rtmp:// and http:// listen URLs within 15 s; log:\n{}",
                    server.log_tail(40)
                );
            }
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                if server.rtmp_addr.is_empty()
                    && let Some(a) = url_authority(&line, "rtmp://")
                {
                    server.rtmp_addr = a;
                }
                if server.http_addr.is_empty()
                    && let Some(a) = url_authority(&line, "http://")
                {
                    server.http_addr = a;
                }
            }
        }
        server
    }

    /// `host:port` of the RTMP listener.
    pub fn rtmp_addr(&self) -> &str {
        &self.rtmp_addr
    }
    /// `host:port` of the HTTP listener.
    pub fn http_addr(&self) -> &str {
        &self.http_addr
    }
    pub fn rtmp_url(&self, stream: &str) -> String {
        format!("rtmp://{}/live/{}", self.rtmp_addr, stream)
    }
    pub fn flv_url(&self, stream: &str) -> String {
        format!("http://{}/live/{}.flv", self.http_addr, stream)
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size from /proc/PID/status (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_else(|e| panic!("read /proc/{}/status: {e}", self.pid()));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in /proc/{}/status", self.pid()))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail_lines(
            &fs::read_to_string(&self.log_path).unwrap_or_default(),
            lines,
        )
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server process is running and both ports still accept: a fresh RTMP connection
    /// completes the plain handshake and the HTTP port answers (with anything) or accepts.
    pub fn assert_alive(&mut self, after: &str) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("liu died ({st}) after {after}; log:\n{}", self.log_tail(40));
        }
        if let Err(e) = RawRtmp::try_connect(&self.rtmp_addr).and_then(|mut p| p.handshake()) {
            panic!(
                "after {after}: a fresh RTMP handshake with liu failed: {e}; log:\n{}",
                self.log_tail(40)
            );
        }
        if let Err(e) = TcpStream::connect_timeout(
            &self.http_addr.to_socket_addrs().unwrap().next().unwrap(),
            Duration::from_secs(3),
        ) {
            panic!("after {after}: the HTTP port refuses connections: {e}");
        }
    }
}

impl Drop for LiuServer {
    fn drop(&mut self) {
        stop_child(&mut self.child, Some("TERM"), Duration::from_secs(2));
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        if thread::panicking() {
            eprintln!(
                "---- liu server log (tail, full log in {}) ----\n{}\n----",
                self.log_path.display(),
                self.log_tail(60)
            );
        }
    }
}

/// "host:port" of the first `scheme` URL in `line`.
fn url_authority(line: &str, scheme: &str) -> Option<String> {
    let rest = &line[line.find(scheme)? + scheme.len()..];
    let end = rest
        .find(|c: char| c == '/' || c.is_whitespace())
        .unwrap_or(rest.len());
    let auth = &rest[..end];
    auth.contains(':').then(|| auth.to_string())
}

// ---------------------------------------------------------------------------------------------
// Test clips
// ---------------------------------------------------------------------------------------------

/// What to generate: `seconds` of a lavfi video `pattern` (640x360, 25 fps, H.264 High with two
/// B-frames, closed GOPs of `gop` pictures: 2 s by default) plus a sine tone (44.1 kHz stereo AAC),
/// in FLV.
#[derive(Clone, Debug)]
pub struct ClipSpec {
    pub seconds: u32,
    /// lavfi source: "testsrc2" or "testsrc" (both have a moving frame counter, so every frame
    /// of a clip decodes to a distinct picture).
    pub pattern: &'static str,
    pub tone_hz: u32,
    /// Constant video bitrate with temporal noise (e.g. "8M") for the slow-viewer test; None for
    /// x264's default quality (~0.7 Mbit/s).
    pub cbr: Option<&'static str>,
    /// Keyframe interval in pictures (`-g`): 50 (2 s) by default; 250 (10 s) is FFmpeg's and
    /// OBS's default.
    pub gop: u32,
}

impl ClipSpec {
    /// The standard 10 s clip.
    pub fn standard() -> ClipSpec {
        ClipSpec {
            seconds: 10,
            pattern: "testsrc2",
            tone_hz: 1000,
            cbr: None,
            gop: 50,
        }
    }
    pub fn seconds(mut self, s: u32) -> Self {
        self.seconds = s;
        self
    }
    /// A clip distinguishable from the standard one by its pictures and its tone.
    pub fn other_pattern(mut self) -> Self {
        self.pattern = "testsrc";
        self.tone_hz = 500;
        self
    }
    pub fn cbr(mut self, rate: &'static str) -> Self {
        self.cbr = Some(rate);
        self
    }
    /// A keyframe every `pictures` pictures (no scene-cut keyframes in between).
    pub fn gop(mut self, pictures: u32) -> Self {
        self.gop = pictures;
        self
    }
    fn key(&self) -> String {
        format!(
            "v1-{}-{}s-{}hz-{}{}",
            self.pattern,
            self.seconds,
            self.tone_hz,
            self.cbr.unwrap_or("crf"),
            if self.gop == 50 {
                String::new()
            } else {
                format!("-g{}", self.gop)
            }
        )
    }
}

/// A generated clip and its reference decode (FFmpeg 9 framemd5 of the file itself).
#[derive(Debug)]
pub struct Clip {
    pub spec: ClipSpec,
    pub path: PathBuf,
    pub bytes: u64,
    pub video_frames: usize,
    pub audio_frames: usize,
    /// md5 of every decoded picture, in presentation order.
    pub video_md5: Vec<String>,
    pub audio_md5: Vec<String>,
}

impl Clip {
    /// Index of a decoded picture in this clip, by its md5.
    pub fn video_index(&self, md5: &str) -> Option<usize> {
        self.video_md5.iter().position(|m| m == md5)
    }
    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// The clip for `spec`, generated once and cached under CARGO_TARGET_TMPDIR/clips (safe against
/// parallel tests: one generation at a time in a process, atomic renames between processes).
pub fn clip(spec: &ClipSpec) -> Arc<Clip> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Clip>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let key = spec.key();
    if let Some(c) = cache.get(&key) {
        return c.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clips");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{key}.flv"));
    let md5_path = dir.join(format!("{key}.framemd5"));
    if !(path.exists() && md5_path.exists()) {
        generate_clip(spec, &path, &md5_path);
    }
    let reference = fs::read_to_string(&md5_path).unwrap();
    let d = Decoded::from_framemd5(&format!("reference decode of {key}"), &reference);
    let c = Arc::new(Clip {
        spec: spec.clone(),
        bytes: fs::metadata(&path).unwrap().len(),
        path,
        video_frames: d.video_frames(),
        audio_frames: d.audio_frames(),
        video_md5: d.video.iter().map(|f| f.md5.clone()).collect(),
        audio_md5: d.audio.iter().map(|f| f.md5.clone()).collect(),
    });
    assert_eq!(
        c.video_frames,
        spec.seconds as usize * 25,
        "clip {key}: the reference decode has {} video frames",
        c.video_frames
    );
    cache.insert(key, c.clone());
    c
}

fn generate_clip(spec: &ClipSpec, path: &Path, md5_path: &Path) {
    let tmp = path.with_extension(format!("tmp{}.flv", std::process::id()));
    let mut args: Vec<String> = vec![
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    args.push(format!("{}=size=640x360:rate=25", spec.pattern));
    args.extend(["-f", "lavfi", "-i"].map(String::from));
    args.push(format!("sine=frequency={}:sample_rate=44100", spec.tone_hz));
    args.extend(["-t".to_string(), spec.seconds.to_string()]);
    if spec.cbr.is_some() {
        args.extend(["-vf", "noise=alls=24:allf=t+u"].map(String::from));
    }
    args.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-bf",
            "2",
            "-sc_threshold",
            "0",
        ]
        .map(String::from),
    );
    let gop = spec.gop.to_string();
    args.extend(["-g", &gop, "-keyint_min", &gop].map(String::from));
    if let Some(rate) = spec.cbr {
        args.extend(
            [
                "-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", rate,
            ]
            .map(String::from),
        );
        args.extend(["-x264-params", "nal-hrd=cbr:force-cfr=1"].map(String::from));
    }
    args.extend(["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "flv"].map(String::from));
    args.push(tmp.to_str().unwrap().to_string());
    let out = Command::new(ffmpeg9())
        .args(&args)
        .output()
        .expect("run ffmpeg to make a clip");
    assert!(
        out.status.success(),
        "clip generation failed ({}): ffmpeg {}\n{}",
        out.status,
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );

    // The clip must really have B-frames: some video packets have pts != dts.
    let pk = Command::new(ffmpeg9())
        .args([
            "-nostdin",
            "-v",
            "error",
            "-i",
            tmp.to_str().unwrap(),
            "-map",
            "0:v",
            "-c",
            "copy",
            "-f",
            "framemd5",
            "-",
        ])
        .output()
        .unwrap();
    let reordered = String::from_utf8_lossy(&pk.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            f.len() >= 3 && f[1] != f[2]
        })
        .count();
    assert!(
        reordered > 0,
        "generated clip {} has no B-frames (pts == dts everywhere)",
        tmp.display()
    );

    let reference = decode_file(&ffmpeg9(), &tmp);
    assert!(
        reference.damage().is_empty(),
        "reference decode of the generated clip reports damage: {:?}",
        reference.damage()
    );
    let md5_tmp = md5_path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&md5_tmp, &reference.framemd5_text).unwrap();
    fs::rename(&tmp, path).unwrap();
    fs::rename(&md5_tmp, md5_path).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Publisher
// ---------------------------------------------------------------------------------------------

/// FFmpeg 9 publishing a clip in real time: `ffmpeg -re -i CLIP EXTRA -c copy -f flv URL`.
pub struct Publisher {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
    pub started: Instant,
    url: String,
}

impl Publisher {
    pub fn spawn(url: &str, clip: &Clip, extra_args: &[&str]) -> Publisher {
        let mut cmd = Command::new(ffmpeg9());
        cmd.args([
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "level+warning",
            "-re",
            "-i",
        ])
        .arg(&clip.path)
        .args(extra_args)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ffmpeg publisher");
        register_child(child.id());
        let stderr = Arc::new(Mutex::new(String::new()));
        let s = stderr.clone();
        let reader = spawn_line_reader(child.stderr.take().unwrap(), move |l| {
            let mut s = s.lock().unwrap();
            s.push_str(&l);
            s.push('\n');
        });
        Publisher {
            child,
            stderr,
            reader: Some(reader),
            started: Instant::now(),
            url: url.into(),
        }
    }

    /// Waits for the publisher to exit; kills it and panics if it takes longer than `limit`.
    pub fn wait_with_timeout(&mut self, limit: Duration) -> ExitStatus {
        match wait_child(&mut self.child, limit) {
            Some(st) => {
                unregister_child(self.child.id());
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                st
            }
            None => {
                stop_child(&mut self.child, None, Duration::ZERO);
                panic!(
                    "publisher to {} still running after {limit:?}; killed. stderr:\n{}",
                    self.url,
                    self.stderr()
                );
            }
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        stop_child(&mut self.child, None, Duration::ZERO);
    }
}

// ---------------------------------------------------------------------------------------------
// Viewers: a decoder printing framemd5 lines as frames come out
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Frame {
    pub pts: i64,
    pub md5: String,
    /// Wall time from the viewer's spawn to the moment the line was read.
    pub at: Duration,
}

/// What a decoder produced: frames per stream, the input's stream descriptions and every stderr
/// line (FFmpeg runs with `-loglevel level+info`, so each line carries its level).
#[derive(Debug, Default)]
pub struct Decoded {
    pub label: String,
    pub video: Vec<Frame>,
    pub audio: Vec<Frame>,
    /// e.g. "1/25" for video, "1/44100" for audio (the framemd5 output time bases).
    pub video_tb: Option<String>,
    pub audio_tb: Option<String>,
    /// The input's stream lines, e.g. "Video: h264 (High), yuv420p(progressive), 640x360 ...".
    pub input_video: Option<String>,
    pub input_audio: Option<String>,
    /// Input streams other than the video and audio (a server bug when present).
    pub extra_input_streams: Vec<String>,
    pub stderr: Vec<String>,
    /// stderr of a feeding client (rtmpdump), not judged.
    pub feeder_log: Vec<String>,
    pub exit: Option<ExitStatus>,
    /// Whether the harness had to stop the decoder (wall-clock bound or idle).
    pub stopped_by_harness: bool,
    pub wall: Duration,
    pub framemd5_text: String,
}

/// stderr lines that are not about damaged media even at error level.
const BENIGN: &[&str] = &[
    "error during demuxing: input/output error", // the server closed the connection
    "error during demuxing: end of file",
    "immediate exit requested", // we stopped it
    "exiting normally",
    "failed to update header with correct", // flv muxer on a non-seekable output
];

/// Warning-level lines that mean damaged or inconsistent media (H.264, AAC, FLV demuxer,
/// muxer timestamps). Measured with deliberately damaged FLV files.
const DAMAGE_WARNINGS: &[&str] = &[
    "error",
    "corrupt",
    "conceal",
    "missing",
    "non-existing",
    "no frame",
    "invalid",
    "decode_slice_header",
    "reference",
    "mismatch",
    "unavailable",
    "mmco",
    "exceeds max",
    "start code",
    "monoton",
    "out of order",
    "not allocated",
    "overread",
    "truncat",
];

/// Warning-level lines in which a client complains about the server's protocol answers (not
/// damaged media, but just as wrong): FFmpeg's rtmpproto prints "Unexpected reply on
/// getStreamLength()" when `getStreamLength` is not answered with a Number.
const PROTOCOL_WARNINGS: &[&str] = &["unexpected reply"];

impl Decoded {
    pub fn video_frames(&self) -> usize {
        self.video.len()
    }
    pub fn audio_frames(&self) -> usize {
        self.audio.len()
    }
    pub fn first_video_after(&self) -> Option<Duration> {
        self.video.first().map(|f| f.at)
    }

    /// Decoder/demuxer errors, warnings about damaged media, and complaints about the server's
    /// protocol answers ([`PROTOCOL_WARNINGS`]).
    pub fn damage(&self) -> Vec<String> {
        self.stderr
            .iter()
            .filter(|l| is_damage(l))
            .cloned()
            .collect()
    }

    /// Codec name of the input's video stream ("h264").
    pub fn video_codec(&self) -> Option<String> {
        let v = self.input_video.as_deref()?;
        let rest = v.split("Video: ").nth(1)?;
        Some(rest.split([' ', ',']).next()?.to_string())
    }
    pub fn audio_codec(&self) -> Option<String> {
        let a = self.input_audio.as_deref()?;
        let rest = a.split("Audio: ").nth(1)?;
        Some(rest.split([' ', ',']).next()?.to_string())
    }
    /// Width x height of the input's video stream.
    pub fn video_size(&self) -> Option<(u32, u32)> {
        let v = self.input_video.as_deref()?;
        v.split([' ', ',']).find_map(|w| {
            let (a, b) = w.split_once('x')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
    }

    /// Decoded pictures that are bit-exact with pictures of `clip` (distinct clip frames).
    pub fn matched_video(&self, clip: &Clip) -> usize {
        let set: HashSet<&str> = clip.video_md5.iter().map(String::as_str).collect();
        let got: HashSet<&str> = self
            .video
            .iter()
            .map(|f| f.md5.as_str())
            .filter(|m| set.contains(m))
            .collect();
        got.len()
    }
    pub fn matched_audio(&self, clip: &Clip) -> usize {
        let set: HashSet<&str> = clip.audio_md5.iter().map(String::as_str).collect();
        self.audio
            .iter()
            .filter(|f| set.contains(f.md5.as_str()))
            .count()
    }
    /// Index in `clip` of the first decoded picture.
    pub fn first_video_index(&self, clip: &Clip) -> Option<usize> {
        clip.video_index(&self.video.first()?.md5)
    }

    /// The first place where a stream's pts goes back, if any.
    pub fn pts_regression(&self) -> Option<String> {
        for (name, frames) in [("video", &self.video), ("audio", &self.audio)] {
            for (i, w) in frames.windows(2).enumerate() {
                if w[1].pts < w[0].pts {
                    return Some(format!(
                        "{name} pts goes back at frame {}: {} -> {}",
                        i + 1,
                        w[0].pts,
                        w[1].pts
                    ));
                }
            }
        }
        None
    }

    /// One paragraph for assertion messages.
    pub fn summary(&self) -> String {
        let warn: Vec<&String> = self
            .stderr
            .iter()
            .filter(|l| !l.contains("[info]") && !l.contains("[verbose]"))
            .collect();
        format!(
            "[{}] video {} frames, audio {} frames, first video after {:?}, input video: {:?}, input audio: {:?}, \
             exit {:?}{}, wall {:?}; {} warning/error lines{}{}",
            self.label,
            self.video.len(),
            self.audio.len(),
            self.first_video_after(),
            self.input_video,
            self.input_audio,
            self.exit,
            if self.stopped_by_harness {
                " (stopped by the harness)"
            } else {
                ""
            },
            self.wall,
            warn.len(),
            if warn.is_empty() {
                String::new()
            } else {
                format!(
                    ":\n    {}",
                    warn.iter()
                        .take(15)
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("\n    ")
                )
            },
            if self.feeder_log.is_empty() {
                String::new()
            } else {
                format!(
                    "\n  feeder log tail:\n    {}",
                    self.feeder_log[self.feeder_log.len().saturating_sub(8)..].join("\n    ")
                )
            }
        )
    }

    /// Asserts the stream decoded as the standard clip's format: h264 640x360 video + aac audio.
    pub fn assert_h264_640x360_aac(&self) {
        assert_eq!(
            self.video_codec().as_deref(),
            Some("h264"),
            "video codec: {}",
            self.summary()
        );
        assert_eq!(
            self.video_size(),
            Some((640, 360)),
            "video size: {}",
            self.summary()
        );
        assert_eq!(
            self.audio_codec().as_deref(),
            Some("aac"),
            "audio codec: {}",
            self.summary()
        );
    }

    pub fn assert_no_damage(&self) {
        assert!(
            self.extra_input_streams.is_empty(),
            "the input has streams besides video and audio: {:?}\n{}",
            self.extra_input_streams,
            self.summary()
        );
        let d = self.damage();
        assert!(
            d.is_empty(),
            "decoder reported damaged media or a bad protocol answer ({} lines, first ones: {:#?})\n{}",
            d.len(),
            &d[..d.len().min(6)],
            self.summary()
        );
    }

    /// Lines where FFmpeg saw timestamps go back (it then clamps them, so the output pts alone
    /// would not show it).
    pub fn timestamp_complaints(&self) -> Vec<String> {
        self.stderr
            .iter()
            .filter(|l| l.to_ascii_lowercase().contains("monoton"))
            .cloned()
            .collect()
    }

    /// Parses framemd5 text (no timing).
    pub fn from_framemd5(label: &str, text: &str) -> Decoded {
        let mut p = Framemd5Parser::default();
        let mut d = Decoded {
            label: label.into(),
            ..Default::default()
        };
        for l in text.lines() {
            p.line(l, Duration::ZERO, &mut d);
        }
        d.framemd5_text = text.to_string();
        d
    }
}

fn is_damage(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    if BENIGN.iter().any(|b| l.contains(b)) {
        return false;
    }
    if l.contains("[error]") || l.contains("[fatal]") || l.contains("[panic]") {
        return true;
    }
    l.contains("[warning]")
        && (DAMAGE_WARNINGS.iter().any(|p| l.contains(p))
            || PROTOCOL_WARNINGS.iter().any(|p| l.contains(p)))
}

/// framemd5 lines: `#tb 0: 1/25`, `#media_type 0: video`, then
/// `stream, dts, pts, duration, size, md5`.
#[derive(Default)]
struct Framemd5Parser {
    kinds: HashMap<u32, String>,
    tbs: HashMap<u32, String>,
}

impl Framemd5Parser {
    fn line(&mut self, l: &str, at: Duration, d: &mut Decoded) {
        if let Some(rest) = l.strip_prefix('#') {
            let Some((head, value)) = rest.split_once(':') else {
                return;
            };
            let mut h = head.split_whitespace();
            let (Some(key), Some(idx)) = (h.next(), h.next().and_then(|i| i.parse::<u32>().ok()))
            else {
                return;
            };
            match key {
                "tb" => {
                    self.tbs.insert(idx, value.trim().to_string());
                }
                "media_type" => {
                    self.kinds.insert(idx, value.trim().to_string());
                }
                _ => {}
            }
            return;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() < 6 {
            return;
        }
        let (Ok(idx), Ok(pts)) = (f[0].parse::<u32>(), f[2].parse::<i64>()) else {
            return;
        };
        let frame = Frame {
            pts,
            md5: f[5].to_string(),
            at,
        };
        match self.kinds.get(&idx).map(String::as_str) {
            Some("video") => {
                d.video_tb = self.tbs.get(&idx).cloned();
                d.video.push(frame);
            }
            Some("audio") => {
                d.audio_tb = self.tbs.get(&idx).cloned();
                d.audio.push(frame);
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct ViewerState {
    parser: Framemd5Parser,
    decoded: Decoded,
    in_input_section: bool,
    last_frame_at: Option<Instant>,
}

/// A running decoder: FFmpeg reading a URL (or rtmpdump's output) and writing framemd5 lines,
/// read as they come so frames carry their arrival time.
pub struct Viewer {
    label: String,
    child: Child,
    feeder: Option<Child>,
    started: Instant,
    state: Arc<Mutex<ViewerState>>,
    readers: Vec<JoinHandle<()>>,
}

/// FFmpeg decoding `input` to framemd5 on stdout. `input_args` go before `-i` (input and protocol
/// options); an rtmp:// input gets `-rtmp_live live` unless `input_args` set `-rtmp_live` itself.
fn decoder_command(ffmpeg: &Path, input: &str, input_args: &[&str]) -> Command {
    let mut cmd = Command::new(ffmpeg);
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "level+info",
    ]);
    if input.starts_with("rtmp://") && !input_args.contains(&"-rtmp_live") {
        cmd.args(["-rtmp_live", "live"]);
    }
    cmd.args(input_args);
    // One decoding thread: no frame-threading delay, so fewer pictures are held back when a
    // live viewer is stopped (640x360 decodes far faster than real time on one core).
    cmd.args(["-threads", "1", "-i", input])
        .args([
            "-map",
            "0:v?",
            "-map",
            "0:a?",
            "-fps_mode",
            "passthrough",
            "-flush_packets",
            "1",
        ])
        .args(["-f", "framemd5", "-"]);
    cmd
}

impl Viewer {
    /// FFmpeg (`ffmpeg` is a path: FFmpeg 9 or 5.1) playing `url` (rtmp:// gets `-rtmp_live live`).
    pub fn ffmpeg(ffmpeg: &Path, url: &str) -> Viewer {
        Viewer::ffmpeg_with(ffmpeg, url, &[])
    }

    /// FFmpeg playing `url` with extra input options before `-i`, e.g. `["-rtmp_live", "any"]`
    /// (FFmpeg's default: it then asks `getStreamLength`) or `["-recv_buffer_size", "65536"]`.
    pub fn ffmpeg_with(ffmpeg: &Path, url: &str, input_args: &[&str]) -> Viewer {
        let name = match std::env::var_os("LIU_FFMPEG5") {
            Some(p) if Path::new(&p) == ffmpeg => "ffmpeg5",
            _ => "ffmpeg9",
        };
        let mut cmd = decoder_command(ffmpeg, url, input_args);
        cmd.stdin(Stdio::null());
        let label = if input_args.is_empty() {
            format!("{name} {url}")
        } else {
            format!("{name} {} {url}", input_args.join(" "))
        };
        Viewer::start(label, cmd, None)
    }

    /// rtmpdump (librtmp) playing `url` live, its FLV output piped into FFmpeg 9 for decoding.
    pub fn rtmpdump(url: &str) -> Viewer {
        let mut feeder = Command::new(rtmpdump())
            .args(["-r", url, "--live", "-o", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rtmpdump");
        register_child(feeder.id());
        let out: ChildStdout = feeder.stdout.take().unwrap();
        let mut cmd = decoder_command(&ffmpeg9(), "pipe:0", &[]);
        cmd.stdin(Stdio::from(out));
        let mut v = Viewer::start(format!("rtmpdump {url}"), cmd, None);
        let st = v.state.clone();
        v.readers
            .push(spawn_line_reader(feeder.stderr.take().unwrap(), move |l| {
                st.lock().unwrap().decoded.feeder_log.push(l);
            }));
        v.feeder = Some(feeder);
        v
    }

    fn start(label: String, mut cmd: Command, feeder: Option<Child>) -> Viewer {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn decoder for {label}: {e}"));
        register_child(child.id());
        let state = Arc::new(Mutex::new(ViewerState::default()));
        state.lock().unwrap().decoded.label = label.clone();
        let st = state.clone();
        let out = spawn_line_reader(child.stdout.take().unwrap(), move |l| {
            let now = Instant::now();
            let mut s = st.lock().unwrap();
            let s = &mut *s;
            s.decoded.framemd5_text.push_str(&l);
            s.decoded.framemd5_text.push('\n');
            let before = s.decoded.video.len() + s.decoded.audio.len();
            s.parser.line(&l, now - started, &mut s.decoded);
            if s.decoded.video.len() + s.decoded.audio.len() > before {
                s.last_frame_at = Some(now);
            }
        });
        let st = state.clone();
        let err = spawn_line_reader(child.stderr.take().unwrap(), move |l| {
            let mut s = st.lock().unwrap();
            // Remember the input's stream descriptions (before "Stream mapping"/"Output #0").
            if l.contains("Input #0") {
                s.in_input_section = true;
            } else if l.contains("Stream mapping") || l.contains("Output #0") {
                s.in_input_section = false;
            } else if s.in_input_section && l.contains("Stream #0:") {
                if l.contains("Video: ") && s.decoded.input_video.is_none() {
                    s.decoded.input_video = Some(l[l.find("Video: ").unwrap()..].to_string());
                } else if l.contains("Audio: ") && s.decoded.input_audio.is_none() {
                    s.decoded.input_audio = Some(l[l.find("Audio: ").unwrap()..].to_string());
                } else if l.contains("Subtitle: ") || l.contains("Data: ") {
                    // E.g. onMetaData sent at a non-zero time, which FFmpeg's
                    // FLV demuxer turns into a text stream.
                    s.decoded.extra_input_streams.push(l.clone());
                }
            }
            s.decoded.stderr.push(l);
        });
        Viewer {
            label,
            child,
            feeder,
            started,
            state,
            readers: vec![out, err],
        }
    }

    pub fn video_frames(&self) -> usize {
        self.state.lock().unwrap().decoded.video.len()
    }

    /// Process id of the decoder (for rtmpdump viewers: of the FFmpeg behind it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name ("STOP", "CONT", ...) to the decoder process.
    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// Whether the decoder process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for the decoder to exit by itself; true if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        wait_child(&mut self.child, limit).is_some()
    }

    /// Waits until at least `n` video frames were decoded; false after `limit`.
    pub fn wait_video_frames(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.video_frames() >= n {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Lets the viewer run until it exits by itself, or no frame came for `idle` after frames
    /// started (the stream ended: live viewers of Liu stay connected), or `max_wall` from its
    /// spawn passed; then stops it (rtmpdump: SIGINT, FFmpeg: SIGKILL) and returns what was
    /// decoded.
    pub fn finish(mut self, idle: Duration, max_wall: Duration) -> Decoded {
        let mut stopped = false;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            let now = Instant::now();
            if now - self.started >= max_wall {
                stopped = true;
                break;
            }
            let last = self.state.lock().unwrap().last_frame_at;
            if matches!(last, Some(t) if now - t >= idle) {
                stopped = true;
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        if let Some(f) = self.feeder.as_mut() {
            // rtmpdump stops on SIGINT (or is killed): the pipe closes, FFmpeg sees EOF, drains
            // its decoder and exits by itself.
            stop_child(f, Some("INT"), Duration::from_secs(1));
        }
        // An FFmpeg reading a live network input is killed outright: SIGTERM would not get us
        // more frames (FFmpeg 9 then fails writing its output: "Error muxing a packet"), and
        // `-flush_packets 1` means every frame that left the decoder is already in our hands.
        // Only the decoder's last couple of pictures (B-frame reorder delay) are lost.
        let exit = if stopped && self.feeder.is_none() {
            stop_child(&mut self.child, None, Duration::ZERO)
        } else {
            match wait_child(&mut self.child, Duration::from_secs(5)) {
                Some(st) => {
                    unregister_child(self.child.id());
                    Some(st)
                }
                None => stop_child(&mut self.child, None, Duration::ZERO),
            }
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let mut s = self.state.lock().unwrap();
        let mut d = std::mem::take(&mut s.decoded);
        d.exit = exit;
        d.stopped_by_harness = stopped;
        d.wall = self.started.elapsed();
        d
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if let Some(f) = self.feeder.as_mut() {
            stop_child(f, None, Duration::ZERO);
        }
        stop_child(&mut self.child, None, Duration::ZERO);
    }
}

/// FFmpeg playing `url` until the stream has been idle for 3 s or `max_wall` passed.
pub fn play_ffmpeg(ffmpeg: &Path, url: &str, max_wall: Duration) -> Decoded {
    Viewer::ffmpeg(ffmpeg, url).finish(Duration::from_secs(3), max_wall)
}

/// rtmpdump playing `url` until idle for 3 s or `max_secs` passed, decoded by FFmpeg 9.
pub fn play_rtmpdump(url: &str, max_secs: u64) -> Decoded {
    Viewer::rtmpdump(url).finish(Duration::from_secs(3), Duration::from_secs(max_secs))
}

/// Decodes a local file with `ffmpeg` (framemd5), bounded to 120 s.
pub fn decode_file(ffmpeg: &Path, file: &Path) -> Decoded {
    let mut cmd = decoder_command(ffmpeg, file.to_str().unwrap(), &[]);
    cmd.stdin(Stdio::null());
    let d = Viewer::start(format!("decode {}", file.display()), cmd, None)
        .finish(Duration::from_secs(120), Duration::from_secs(120));
    assert!(
        !d.stopped_by_harness,
        "decoding {} took over 120 s",
        file.display()
    );
    d
}

// ---------------------------------------------------------------------------------------------
// TCP sockets as the kernel sees them
// ---------------------------------------------------------------------------------------------

/// One line of /proc/net/tcp or /proc/net/tcp6.
#[derive(Clone, Debug)]
pub struct TcpSocket {
    pub local_port: u16,
    pub remote_port: u16,
    /// Kernel TCP state: 1 ESTABLISHED, 4 FIN_WAIT1, 8 CLOSE_WAIT, ... (include/net/tcp_states.h).
    pub state: u8,
    /// Bytes queued for sending / received and not yet read.
    pub tx_queue: u64,
    pub rx_queue: u64,
    /// 0 once no process holds the socket (closed, kernel finishing it as an orphan).
    pub inode: u64,
}

/// Every TCP socket of this network namespace.
pub fn tcp_sockets() -> Vec<TcpSocket> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let port = |a: &str| {
                a.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    .unwrap_or(0)
            };
            let (tx, rx) = f[4].split_once(':').unwrap_or(("0", "0"));
            out.push(TcpSocket {
                local_port: port(f[1]),
                remote_port: port(f[2]),
                state: u8::from_str_radix(f[3], 16).unwrap_or(0),
                tx_queue: u64::from_str_radix(tx, 16).unwrap_or(0),
                rx_queue: u64::from_str_radix(rx, 16).unwrap_or(0),
                inode: f[9].parse().unwrap_or(0),
            });
        }
    }
    out
}

/// Inodes of the sockets process `pid` holds open (/proc/PID/fd links `socket:[N]`).
pub fn socket_inodes(pid: u32) -> HashSet<u64> {
    let mut out = HashSet::new();
    if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            if let Ok(target) = fs::read_link(e.path()) {
                let t = target.to_string_lossy();
                if let Some(n) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']'))
                    && let Ok(n) = n.parse()
                {
                    out.insert(n);
                }
            }
        }
    }
    out
}

/// Port of `addr` ("host:port").
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr}"))
}

// ---------------------------------------------------------------------------------------------
// HTTP-FLV, raw
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct FlvTag {
    /// 8 audio, 9 video, 18 script.
    pub kind: u8,
    pub timestamp: u32,
    pub size: usize,
    /// Video: frame type 1 (keyframe).
    pub keyframe: bool,
    /// AVC/AAC sequence header (packet type 0) or an enhanced-FLV sequence start.
    pub seq_header: bool,
    /// A coded video picture (not a sequence header / end of sequence / metadata).
    pub picture: bool,
}

/// Parses FLV tags out of a byte stream (header first).
#[derive(Default)]
pub struct FlvParser {
    buf: Vec<u8>,
    header_done: bool,
    pub tags: Vec<FlvTag>,
    pub bytes: usize,
    /// The FLV header's flags byte (0x04 audio, 0x01 video), once read.
    pub header_flags: Option<u8>,
}

impl FlvParser {
    pub fn push(&mut self, data: &[u8]) -> Result<(), String> {
        self.bytes += data.len();
        self.buf.extend_from_slice(data);
        if !self.header_done {
            if self.buf.len() < 13 {
                return Ok(());
            }
            if &self.buf[..3] != b"FLV" {
                return Err(format!(
                    "body does not start with an FLV header: {:02x?}",
                    &self.buf[..13]
                ));
            }
            let hlen = u32::from_be_bytes(self.buf[5..9].try_into().unwrap()) as usize;
            if self.buf.len() < hlen + 4 {
                return Ok(());
            }
            self.header_flags = Some(self.buf[4]);
            self.buf.drain(..hlen + 4);
            self.header_done = true;
        }
        let mut p = 0;
        while self.buf.len() - p >= 11 {
            let h = &self.buf[p..];
            let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
            if self.buf.len() - p < 11 + size + 4 {
                break;
            }
            let kind = h[0] & 0x1f;
            let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
            let body = &h[11..11 + size];
            let (keyframe, seq_header, picture) = match (kind, body) {
                (9, [b0, rest @ ..]) => {
                    let frame_type = (b0 >> 4) & 0x07;
                    // Enhanced FLV: packet type in the low nibble (0 sequence start, 1 coded
                    // frames, 2 sequence end, 3 coded frames without composition time, ...).
                    // Legacy AVC: the byte after the header (0 sequence header, 1 NALUs, 2 end).
                    let packet_type = if b0 & 0x80 != 0 {
                        Some(b0 & 0x0f)
                    } else {
                        rest.first().copied()
                    };
                    let enhanced = b0 & 0x80 != 0;
                    let picture = if enhanced {
                        matches!(packet_type, Some(1 | 3))
                    } else {
                        packet_type == Some(1)
                    };
                    (
                        frame_type == 1,
                        packet_type == Some(0),
                        picture && frame_type != 5,
                    )
                }
                (8, [b0, b1, ..]) => (false, b0 >> 4 == 10 && *b1 == 0, false),
                _ => (false, false, false),
            };
            if ![8, 9, 18].contains(&kind) {
                return Err(format!(
                    "unexpected FLV tag type {kind} after {} tags",
                    self.tags.len()
                ));
            }
            self.tags.push(FlvTag {
                kind,
                timestamp,
                size,
                keyframe,
                seq_header,
                picture,
            });
            p += 11 + size + 4;
        }
        self.buf.drain(..p);
        Ok(())
    }

    pub fn video(&self) -> impl Iterator<Item = &FlvTag> {
        self.tags.iter().filter(|t| t.kind == 9)
    }
    /// Video tags that carry a coded picture.
    pub fn pictures(&self) -> impl Iterator<Item = &FlvTag> {
        self.tags.iter().filter(|t| t.kind == 9 && t.picture)
    }
}

/// An HTTP/1.1 GET over a raw TcpStream, for looking at headers and FLV tags ourselves (and for
/// a viewer that never reads).
pub struct RawHttp {
    pub stream: TcpStream,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    chunked: bool,
    /// Body bytes after dechunking, not yet consumed.
    pending: Vec<u8>,
    raw: Vec<u8>,
    pub closed: bool,
}

impl RawHttp {
    /// Connects and sends the request; does not read anything.
    pub fn send_get(addr: &str, path: &str) -> RawHttp {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut s = &stream;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: liu-tests\r\nAccept: */*\r\n\r\n"
        )
        .unwrap();
        RawHttp {
            stream,
            status: 0,
            headers: vec![],
            chunked: false,
            pending: vec![],
            raw: vec![],
            closed: false,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Reads the status line and headers (within `limit`).
    pub fn read_head(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(end) = find(&self.raw, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
                self.raw.drain(..end + 4);
                let mut lines = head.split("\r\n");
                let status_line = lines.next().unwrap_or("");
                self.status = status_line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad status line {status_line:?}"))?;
                for l in lines {
                    if let Some((k, v)) = l.split_once(':') {
                        self.headers
                            .push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                self.chunked = self
                    .header("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                let raw = std::mem::take(&mut self.raw);
                self.absorb(&raw);
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "no complete HTTP response head within {limit:?} (got {} bytes)",
                    self.raw.len()
                ));
            }
            match self.read_some(deadline - now) {
                Ok(0) => {
                    return Err(format!(
                        "connection closed before a response head ({} bytes)",
                        self.raw.len()
                    ));
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => return Err(format!("read error before a response head: {e}")),
            }
        }
    }

    fn read_some(&mut self, limit: Duration) -> std::io::Result<usize> {
        let mut buf = vec![0u8; 65536];
        self.stream
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))?;
        let n = self.stream.read(&mut buf)?;
        self.raw.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Moves raw bytes into `pending`, dechunking if needed.
    fn absorb(&mut self, data: &[u8]) {
        if !self.chunked {
            self.pending.extend_from_slice(data);
            return;
        }
        self.raw.extend_from_slice(data);
        loop {
            let Some(eol) = find(&self.raw, b"\r\n") else {
                return;
            };
            let size_str = String::from_utf8_lossy(&self.raw[..eol]).into_owned();
            let size =
                usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap_or(0);
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.pending
                .extend_from_slice(&self.raw[eol + 2..eol + 2 + size]);
            self.raw.drain(..eol + 2 + size + 2);
            if size == 0 {
                self.closed = true;
                return;
            }
        }
    }

    /// Reads body bytes into `flv` until the server closes, nothing arrives for `idle`, or
    /// `max` passes. Returns how it ended: "closed", "reset: ...", "idle" or "max".
    pub fn read_body(&mut self, flv: &mut FlvParser, idle: Duration, max: Duration) -> String {
        let deadline = Instant::now() + max;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            if !self.pending.is_empty() {
                let p = std::mem::take(&mut self.pending);
                if let Err(e) = flv.push(&p) {
                    return format!("bad FLV: {e}");
                }
            }
            if self.closed {
                return "closed".into();
            }
            let now = Instant::now();
            if now >= deadline {
                return "max".into();
            }
            self.stream
                .set_read_timeout(Some(idle.min(deadline - now).max(Duration::from_millis(1))))
                .unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                }
                Ok(n) => {
                    let data = buf[..n].to_vec();
                    if self.chunked {
                        self.absorb(&data);
                    } else {
                        self.pending.extend_from_slice(&data);
                    }
                }
                Err(e) if is_timeout(&e) => {
                    if Instant::now() >= deadline {
                        return "max".into();
                    }
                    return "idle".into();
                }
                Err(e) => {
                    self.closed = true;
                    let p = std::mem::take(&mut self.pending);
                    let _ = flv.push(&p);
                    return format!("reset: {e}");
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

// ---------------------------------------------------------------------------------------------
// Raw RTMP client
// ---------------------------------------------------------------------------------------------

/// A deliberately dumb RTMP client: plain handshake and hand-built chunks, plus just enough of a
/// chunk stream reader and AMF0 decoder to follow a session (connect, createStream, play,
/// closeStream) message by message.
pub struct RawRtmp {
    pub stream: TcpStream,
    rng: u64,
    rx: ChunkReader,
    next_tx: f64,
}

impl RawRtmp {
    pub fn connect(addr: &str) -> RawRtmp {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_connect(addr: &str) -> Result<RawRtmp, String> {
        static SEED: AtomicUsize = AtomicUsize::new(1);
        let sa = addr
            .to_socket_addrs()
            .map_err(|e| format!("resolve {addr}: {e}"))?
            .next()
            .unwrap();
        let stream = TcpStream::connect_timeout(&sa, Duration::from_secs(3))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.set_nodelay(true);
        let seed = SEED.fetch_add(1, Ordering::SeqCst) as u64;
        Ok(RawRtmp {
            stream,
            rng: 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d),
            rx: ChunkReader::default(),
            next_tx: 2.0,
        })
    }

    /// Makes [`RawRtmp::random_bytes`] deterministic from here on.
    pub fn seed_rng(&mut self, seed: u64) {
        self.rng = 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
    }

    /// Pseudo-random bytes (xorshift; no crate needed).
    pub fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                (self.rng >> 24) as u8
            })
            .collect()
    }

    /// Writes everything; errors (the server may already have closed) are returned, not fatal.
    pub fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(data)
    }

    /// C0 (version 3) + C1 (time, zero, 1528 random bytes); reads S0 S1 S2; sends C2 = S1.
    pub fn handshake(&mut self) -> Result<(), String> {
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        let r = self.random_bytes(1528);
        c0c1.extend_from_slice(&r);
        self.send(&c0c1).map_err(|e| format!("send C0C1: {e}"))?;
        let mut s = vec![0u8; 1 + 1536 * 2];
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        self.stream
            .read_exact(&mut s)
            .map_err(|e| format!("read S0S1S2: {e}"))?;
        if s[0] != 3 {
            return Err(format!("S0 is {} (expected 3)", s[0]));
        }
        let s1 = s[1..1537].to_vec();
        self.send(&s1).map_err(|e| format!("send C2: {e}"))
    }

    /// Sends a message as a type-0 chunk on `csid` (2..=63) followed by type-3 continuation
    /// chunks of `chunk_size` bytes.
    pub fn send_message(
        &mut self,
        csid: u8,
        type_id: u8,
        msid: u32,
        payload: &[u8],
        chunk_size: usize,
    ) -> std::io::Result<()> {
        self.send(&message_chunks(
            csid,
            type_id,
            msid,
            payload.len() as u32,
            payload,
            chunk_size,
        ))
    }

    /// Sends `connect(1, {app, ...})` and waits (5 s) for its `_result`.
    pub fn connect_app(&mut self, app: &str) -> Result<(), String> {
        let tc_url = format!("rtmp://{}/{}", self.stream.peer_addr().unwrap(), app);
        self.send_message(3, 20, 0, &connect_command(app, &tc_url), 128)
            .map_err(|e| format!("send connect: {e}"))?;
        let answer = self.wait_answer(1.0, Duration::from_secs(5))?;
        match answer.command_name().as_deref() {
            Some("_result") => Ok(()),
            _ => Err(format!("connect answered with {:?}", answer.amf())),
        }
    }

    /// Sends a command message (AMF0, type 20) on chunk stream 3: `name`, `tx`, null, `args`.
    pub fn send_command(
        &mut self,
        msid: u32,
        name: &str,
        tx: f64,
        args: &[AmfValue],
    ) -> std::io::Result<()> {
        let mut p = Vec::new();
        amf0::string(&mut p, name);
        amf0::number(&mut p, tx);
        amf0::null(&mut p);
        for a in args {
            a.encode(&mut p);
        }
        self.send_message(3, 20, msid, &p, 128)
    }

    fn take_tx(&mut self) -> f64 {
        let tx = self.next_tx;
        self.next_tx += 1.0;
        tx
    }

    /// `createStream`; returns the message stream id of its `_result`.
    pub fn create_stream(&mut self) -> Result<u32, String> {
        let tx = self.take_tx();
        self.send_command(0, "createStream", tx, &[])
            .map_err(|e| format!("send createStream: {e}"))?;
        let answer = self.wait_answer(tx, Duration::from_secs(5))?;
        let values = answer.amf();
        match (answer.command_name().as_deref(), values.get(3)) {
            (Some("_result"), Some(AmfValue::Number(id))) => Ok(*id as u32),
            _ => Err(format!("createStream answered with {values:?}")),
        }
    }

    /// `play(name, -2)` on message stream `stream_id` (no wait).
    pub fn play(&mut self, stream_id: u32, name: &str) -> Result<(), String> {
        let tx = self.take_tx();
        self.send_command(
            stream_id,
            "play",
            tx,
            &[AmfValue::Str(name.into()), AmfValue::Number(-2.0)],
        )
        .map_err(|e| format!("send play: {e}"))
    }

    /// `closeStream` on message stream `stream_id` (no answer expected).
    pub fn close_stream(&mut self, stream_id: u32) -> Result<(), String> {
        self.send_command(stream_id, "closeStream", 0.0, &[])
            .map_err(|e| format!("send closeStream: {e}"))
    }

    /// Reads whole messages until one satisfies `pred` (returned), the connection ends or
    /// `limit` passes (Err naming `what` and the commands seen meanwhile).
    pub fn wait_message(
        &mut self,
        what: &str,
        limit: Duration,
        mut pred: impl FnMut(&RtmpMessage) -> bool,
    ) -> Result<RtmpMessage, String> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        let mut media = 0usize;
        loop {
            while let Some(m) = self
                .rx
                .next()
                .map_err(|e| format!("waiting for {what}: {e}"))?
            {
                if pred(&m) {
                    return Ok(m);
                }
                match m.type_id {
                    8 | 9 => media += 1,
                    _ => seen.push(m.describe()),
                }
            }
            let now = Instant::now();
            let ended = if now >= deadline {
                format!("not within {limit:?}")
            } else {
                match self.read_into_rx(deadline - now) {
                    Ok(_) => continue,
                    Err(e) => e,
                }
            };
            return Err(format!(
                "waiting for {what}: {ended}; meanwhile {media} audio/video messages and {seen:?}"
            ));
        }
    }

    /// The `_result`/`_error` with transaction id `tx`.
    pub fn wait_answer(&mut self, tx: f64, limit: Duration) -> Result<RtmpMessage, String> {
        self.wait_message(&format!("the answer to transaction {tx}"), limit, |m| {
            matches!(m.command_name().as_deref(), Some("_result" | "_error"))
                && m.amf().get(1) == Some(&AmfValue::Number(tx))
        })
    }

    /// An `onStatus` on message stream `stream_id` whose info object has `code`.
    pub fn wait_status(
        &mut self,
        stream_id: u32,
        code: &str,
        limit: Duration,
    ) -> Result<RtmpMessage, String> {
        self.wait_message(
            &format!("onStatus {code} on stream {stream_id}"),
            limit,
            |m| m.stream_id == stream_id && m.status_code().as_deref() == Some(code),
        )
    }

    /// An audio (8) or video (9) message on message stream `stream_id`.
    pub fn wait_media(
        &mut self,
        stream_id: u32,
        type_id: u8,
        limit: Duration,
    ) -> Result<RtmpMessage, String> {
        let what = if type_id == 9 { "video" } else { "audio" };
        self.wait_message(
            &format!("a {what} message on stream {stream_id}"),
            limit,
            |m| m.stream_id == stream_id && m.type_id == type_id,
        )
    }

    /// Keeps reading (and parsing) whatever arrives for `duration`; Err if the server closes
    /// the connection meanwhile (with when).
    pub fn stays_open(&mut self, duration: Duration) -> Result<(), String> {
        let start = Instant::now();
        let deadline = start + duration;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            if let Err(e) = self.read_into_rx(deadline - now) {
                if e.starts_with("no data") {
                    return Ok(());
                }
                return Err(format!(
                    "{e} {:?} into a wait of {duration:?}",
                    start.elapsed()
                ));
            }
            // Drop what was read (the caller is not interested), keeping the chunk state.
            while let Some(_m) = self.rx.next()? {}
        }
    }

    /// One read into the chunk reader: Ok(bytes), or Err("closed by the server" / "reset: ..."
    /// / "no data within ...").
    fn read_into_rx(&mut self, limit: Duration) -> Result<usize, String> {
        let mut buf = [0u8; 65536];
        self.stream
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))
            .unwrap();
        match self.stream.read(&mut buf) {
            Ok(0) => Err("connection closed by the server".into()),
            Ok(n) => {
                self.rx.buf.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            Err(e) if is_timeout(&e) => Err(format!("no data within {limit:?}")),
            Err(e) => Err(format!("connection reset ({e})")),
        }
    }

    /// Reads until `needle` shows up in the received bytes (true), the connection ends, or
    /// `limit` passes (false for both).
    pub fn read_until_contains(&mut self, needle: &[u8], limit: Duration) -> Result<bool, String> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            if find(&got, needle).is_some() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            self.stream.set_read_timeout(Some(deadline - now)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if is_timeout(&e) => return Ok(false),
                Err(_) => return Ok(false),
            }
        }
    }

    /// Drains whatever the server sends until it closes the connection (EOF or reset).
    /// Ok(time it took), or Err if it is still open after `limit`.
    pub fn expect_closed(&mut self, limit: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let deadline = start + limit;
        let mut buf = [0u8; 65536];
        let mut drained = 0usize;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "connection still open after {limit:?} ({drained} bytes received)"
                ));
            }
            self.stream.set_read_timeout(Some(deadline - now)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(start.elapsed()),
                Ok(n) => drained += n,
                Err(e) if is_timeout(&e) => {}
                Err(_) => return Ok(start.elapsed()),
            }
        }
    }

    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A whole RTMP message as [`RawRtmp`] received it.
#[derive(Clone, Debug)]
pub struct RtmpMessage {
    pub csid: u32,
    pub type_id: u8,
    pub stream_id: u32,
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

impl RtmpMessage {
    /// The AMF0 values of a command (20) or data (18) message; empty for other types. Values
    /// that do not decode end the list.
    pub fn amf(&self) -> Vec<AmfValue> {
        if !matches!(self.type_id, 18 | 20) {
            return vec![];
        }
        let mut r = &self.payload[..];
        let mut out = Vec::new();
        while !r.is_empty() {
            match AmfValue::decode(&mut r, 0) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    }
    /// Name of a command message.
    pub fn command_name(&self) -> Option<String> {
        if self.type_id != 20 {
            return None;
        }
        match self.amf().into_iter().next() {
            Some(AmfValue::Str(s)) => Some(s),
            _ => None,
        }
    }
    /// `code` of an `onStatus` command's info object.
    pub fn status_code(&self) -> Option<String> {
        if self.command_name().as_deref() != Some("onStatus") {
            return None;
        }
        self.amf().iter().find_map(|v| match v.get("code") {
            Some(AmfValue::Str(c)) => Some(c.clone()),
            _ => None,
        })
    }
    /// Short text for error messages: "onStatus NetStream.Play.Start (stream 1)", "type 4".
    pub fn describe(&self) -> String {
        match (self.command_name(), self.status_code()) {
            (Some(n), Some(c)) => format!("{n} {c} (stream {})", self.stream_id),
            (Some(n), None) => format!("{n} (stream {})", self.stream_id),
            _ => format!("type {} (stream {})", self.type_id, self.stream_id),
        }
    }
}

/// The AMF0 values the raw client writes and reads.
#[derive(Clone, Debug, PartialEq)]
pub enum AmfValue {
    Number(f64),
    Bool(bool),
    Str(String),
    Object(Vec<(String, AmfValue)>),
    Null,
    Undefined,
    Array(Vec<AmfValue>),
}

impl AmfValue {
    pub fn get(&self, key: &str) -> Option<&AmfValue> {
        match self {
            AmfValue::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            AmfValue::Number(n) => amf0::number(out, *n),
            AmfValue::Bool(b) => out.extend_from_slice(&[0x01, *b as u8]),
            AmfValue::Str(s) => amf0::string(out, s),
            AmfValue::Object(props) => {
                amf0::object_start(out);
                for (k, v) in props {
                    amf0::key(out, k);
                    v.encode(out);
                }
                amf0::object_end(out);
            }
            AmfValue::Null => amf0::null(out),
            AmfValue::Undefined => out.push(0x06),
            AmfValue::Array(items) => {
                out.push(0x0a);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
                for v in items {
                    v.encode(out);
                }
            }
        }
    }

    /// Decodes one value (objects and ECMA arrays as `Object`, strict arrays as `Array`, dates as
    /// `Number`); None on anything else or truncated input.
    pub fn decode(r: &mut &[u8], depth: usize) -> Option<AmfValue> {
        fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            if r.len() < n {
                return None;
            }
            let (a, b) = r.split_at(n);
            *r = b;
            Some(a)
        }
        fn short_str(r: &mut &[u8]) -> Option<String> {
            let n = u16::from_be_bytes(take(r, 2)?.try_into().ok()?) as usize;
            Some(String::from_utf8_lossy(take(r, n)?).into_owned())
        }
        fn props(r: &mut &[u8], depth: usize) -> Option<Vec<(String, AmfValue)>> {
            let mut out = Vec::new();
            loop {
                let k = short_str(r)?;
                if k.is_empty() && r.first() == Some(&0x09) {
                    *r = &r[1..];
                    return Some(out);
                }
                out.push((k, AmfValue::decode(r, depth + 1)?));
            }
        }
        if depth > 64 {
            return None;
        }
        let marker = take(r, 1)?[0];
        Some(match marker {
            0x00 => AmfValue::Number(f64::from_be_bytes(take(r, 8)?.try_into().ok()?)),
            0x01 => AmfValue::Bool(take(r, 1)?[0] != 0),
            0x02 => AmfValue::Str(short_str(r)?),
            0x03 => AmfValue::Object(props(r, depth)?),
            0x05 => AmfValue::Null,
            0x06 => AmfValue::Undefined,
            0x08 => {
                take(r, 4)?;
                AmfValue::Object(props(r, depth)?)
            }
            0x0a => {
                let n = u32::from_be_bytes(take(r, 4)?.try_into().ok()?) as usize;
                let mut items = Vec::new();
                for _ in 0..n.min(4096) {
                    items.push(AmfValue::decode(r, depth + 1)?);
                }
                AmfValue::Array(items)
            }
            0x0b => {
                let v = f64::from_be_bytes(take(r, 8)?.try_into().ok()?);
                take(r, 2)?;
                AmfValue::Number(v)
            }
            0x0c => {
                let n = u32::from_be_bytes(take(r, 4)?.try_into().ok()?) as usize;
                AmfValue::Str(String::from_utf8_lossy(take(r, n)?).into_owned())
            }
            _ => return None,
        })
    }
}

/// The receiving half of a chunk stream (RTMP §5.3): all four header formats, extended
/// timestamps, Set Chunk Size and Abort from the peer.
struct ChunkReader {
    buf: Vec<u8>,
    chunk_size: usize,
    streams: HashMap<u32, ChunkStreamState>,
}

impl Default for ChunkReader {
    fn default() -> Self {
        ChunkReader {
            buf: Vec::new(),
            chunk_size: 128,
            streams: HashMap::new(),
        }
    }
}

#[derive(Clone, Default)]
struct ChunkStreamState {
    timestamp: u32,
    delta: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    extended: bool,
    partial: Vec<u8>,
}

impl ChunkReader {
    /// The next complete message, Ok(None) when more bytes are needed.
    fn next(&mut self) -> Result<Option<RtmpMessage>, String> {
        loop {
            let b = &self.buf;
            if b.is_empty() {
                return Ok(None);
            }
            let fmt = b[0] >> 6;
            let (csid, mut p) = match b[0] & 0x3f {
                0 if b.len() >= 2 => (64 + b[1] as u32, 2),
                1 if b.len() >= 3 => (64 + b[1] as u32 + 256 * b[2] as u32, 3),
                0 | 1 => return Ok(None),
                c => (c as u32, 1),
            };
            let hlen = [11, 7, 3, 0][fmt as usize];
            if b.len() < p + hlen {
                return Ok(None);
            }
            let mut st = match self.streams.get(&csid) {
                Some(st) => st.clone(),
                None if fmt == 0 => ChunkStreamState::default(),
                None => {
                    return Err(format!(
                        "the server sent a type-{fmt} chunk on chunk stream {csid} with no header before"
                    ));
                }
            };
            let h = &b[p..p + hlen];
            let u24 = |x: &[u8]| u32::from_be_bytes([0, x[0], x[1], x[2]]);
            let ts_field = (fmt <= 2).then(|| u24(&h[0..3]));
            if fmt <= 1 {
                st.length = u24(&h[3..6]) as usize;
                st.type_id = h[6];
            }
            if fmt == 0 {
                st.stream_id = u32::from_le_bytes(h[7..11].try_into().unwrap());
            }
            p += hlen;
            let extended = match ts_field {
                Some(t) => t == 0xff_ffff,
                None => st.extended,
            };
            let mut ts = ts_field.unwrap_or(0);
            if extended {
                if b.len() < p + 4 {
                    return Ok(None);
                }
                ts = u32::from_be_bytes(b[p..p + 4].try_into().unwrap());
                p += 4;
            }
            st.extended = extended;
            let starting = st.partial.is_empty();
            match fmt {
                0 => st.timestamp = ts,
                1 | 2 => {
                    st.delta = ts;
                    st.timestamp = st.timestamp.wrapping_add(ts);
                }
                _ if starting => st.timestamp = st.timestamp.wrapping_add(st.delta),
                _ => {}
            }
            let want = self.chunk_size.min(st.length - st.partial.len());
            if b.len() < p + want {
                return Ok(None);
            }
            st.partial.extend_from_slice(&b[p..p + want]);
            self.buf.drain(..p + want);
            if st.partial.len() < st.length {
                self.streams.insert(csid, st);
                continue;
            }
            let payload = std::mem::take(&mut st.partial);
            let msg = RtmpMessage {
                csid,
                type_id: st.type_id,
                stream_id: st.stream_id,
                timestamp: st.timestamp,
                payload,
            };
            self.streams.insert(csid, st);
            match (msg.type_id, msg.payload.get(..4)) {
                (1, Some(x)) => {
                    self.chunk_size =
                        (u32::from_be_bytes(x.try_into().unwrap()) & 0x7fff_ffff) as usize;
                }
                (2, Some(x)) => {
                    let aborted = u32::from_be_bytes(x.try_into().unwrap());
                    if let Some(s) = self.streams.get_mut(&aborted) {
                        s.partial.clear();
                    }
                }
                _ => {}
            }
            return Ok(Some(msg));
        }
    }
}

/// Chunks of one message: a type-0 header on `csid`, then type-3 headers every `chunk_size`
/// bytes. `length` is written as given (it may lie about `payload.len()`).
pub fn message_chunks(
    csid: u8,
    type_id: u8,
    msid: u32,
    length: u32,
    payload: &[u8],
    chunk_size: usize,
) -> Vec<u8> {
    assert!((2..=63).contains(&csid));
    let mut out = vec![csid]; // fmt 0
    out.extend_from_slice(&[0, 0, 0]); // timestamp
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&msid.to_le_bytes());
    for (i, c) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            out.push(0xc0 | csid);
        }
        out.extend_from_slice(c);
    }
    out
}

/// Set Chunk Size (protocol control message type 1) on csid 2.
pub fn set_chunk_size(size: u32) -> Vec<u8> {
    message_chunks(2, 1, 0, 4, &size.to_be_bytes(), 128)
}

/// AMF0 writers.
pub mod amf0 {
    pub fn string(out: &mut Vec<u8>, s: &str) {
        out.push(0x02);
        key(out, s);
    }
    /// A property name / bare UTF-8 string (u16 length, bytes).
    pub fn key(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    pub fn number(out: &mut Vec<u8>, n: f64) {
        out.push(0x00);
        out.extend_from_slice(&n.to_be_bytes());
    }
    pub fn null(out: &mut Vec<u8>) {
        out.push(0x05);
    }
    pub fn object_start(out: &mut Vec<u8>) {
        out.push(0x03);
    }
    pub fn object_end(out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 0, 9]);
    }
}

/// `connect(1, {app, type, flashVer, tcUrl})` as AMF0.
pub fn connect_command(app: &str, tc_url: &str) -> Vec<u8> {
    let mut p = Vec::new();
    amf0::string(&mut p, "connect");
    amf0::number(&mut p, 1.0);
    amf0::object_start(&mut p);
    for (k, v) in [
        ("app", app),
        ("type", "nonprivate"),
        ("flashVer", "FMLE/3.0 (compatible; liu-tests)"),
        ("tcUrl", tc_url),
    ] {
        amf0::key(&mut p, k);
        amf0::string(&mut p, v);
    }
    amf0::object_end(&mut p);
    p
}
