//! FFmpeg 9 publishing a clip, and viewers: a decoder printing framemd5 lines as frames come
//! out.

use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::clip::Clip;
use super::decode::{Decoded, Framemd5Parser};
use super::process::{
    ffmpeg9, register_child, rtmpdump, signal, spawn_line_reader, stop_child, unregister_child,
    wait_child,
};

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
    if input.starts_with("rtmp") && !input_args.contains(&"-rtmp_live") {
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
        Viewer::rtmpdump_with(url, &[])
    }

    /// [`Viewer::rtmpdump`] with extra rtmpdump options (e.g. `-V`: its log then shows the
    /// handshake type the server answered); its log lands in `Decoded::feeder_log`.
    pub fn rtmpdump_with(url: &str, args: &[&str]) -> Viewer {
        let mut feeder = Command::new(rtmpdump())
            .args(["-r", url, "--live", "-o", "-"])
            .args(args)
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
